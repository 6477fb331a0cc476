/* The C interface of leaky_c, read verbatim by cffi's cdef (leaky_c/_build.py)
 * and included by the C sources.  cdef cannot parse preprocessor directives,
 * so this file has none: no include guard, and it is included exactly once
 * per translation unit.
 *
 * Kernels take pointers, a count and the slope, and never fail.  Python
 * validates everything before calling them (leaky_c/_api.py).
 *   - Counts and strides are 64-bit (size_t / ptrdiff_t).
 *   - An output may be the same array as an input (in place).  Partial
 *     overlap is the caller's job: leaky_c/_api.py routes it via a temporary.
 *   - stream != 0 asks for non-temporal stores (for outputs larger than the
 *     last-level cache); targets without them ignore it.
 */

enum leaky_feature {
    LEAKY_FEATURE_SSE2,
    LEAKY_FEATURE_AVX2,
    LEAKY_FEATURE_FMA,
    LEAKY_FEATURE_F16C,
    LEAKY_FEATURE_AVX512F,
    LEAKY_FEATURE_AVX512BW,
    LEAKY_FEATURE_AVX512VL,
    LEAKY_FEATURE_AVX512_BF16,
    LEAKY_FEATURE_AVX512_FP16,
    LEAKY_FEATURE_NEON,
    LEAKY_FEATURE_COUNT
};

/* Forward: y = x > 0 ? x : negative_slope * x. */
void leaky_fwd_f32(const float *x, float *y, size_t n, float negative_slope, int stream);
void leaky_fwd_f64(const double *x, double *y, size_t n, double negative_slope, int stream);

/* Backward: grad_input = x > 0 ? grad_output : negative_slope * grad_output. */
void leaky_bwd_f32(const float *grad_output, const float *x, float *grad_input,
                   size_t n, float negative_slope, int stream);
void leaky_bwd_f64(const double *grad_output, const double *x, double *grad_input,
                   size_t n, double negative_slope, int stream);

/* Memory-bandwidth bounds, for the benchmark suite: copy nbytes from src to
 * dst, and write a | b (two input streams), the way the kernels move memory. */
void leaky_bound_copy(const unsigned char *src, unsigned char *dst, size_t nbytes, int stream);
void leaky_bound_copy2(const unsigned char *a, const unsigned char *b, unsigned char *dst,
                       size_t nbytes, int stream);

/* CPU targets: the same loops compiled for several instruction sets. */
int leaky_target_count(void);
const char *leaky_target_name(int target);
int leaky_target_supported(int target);
int leaky_get_target(void);
int leaky_set_target(int target);

/* CPU features found at run time (enum leaky_feature), and their names. */
int leaky_cpu_has(int feature);
const char *leaky_feature_name(int feature);
