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

/* float16 and bfloat16 (as their bit patterns): computed in float32 with the
 * slope rounded to float32, then rounded once to nearest-even. */
void leaky_fwd_f16(const uint16_t *x, uint16_t *y, size_t n, float negative_slope, int stream);
void leaky_bwd_f16(const uint16_t *grad_output, const uint16_t *x, uint16_t *grad_input,
                   size_t n, float negative_slope, int stream);
void leaky_fwd_bf16(const uint16_t *x, uint16_t *y, size_t n, float negative_slope, int stream);
void leaky_bwd_bf16(const uint16_t *grad_output, const uint16_t *x, uint16_t *grad_input,
                    size_t n, float negative_slope, int stream);

/* Any strides, no copies: ndim axes of the given shape, one stride per axis and
 * array, in bytes, of any sign.  dtype is an enum leaky_dtype.  Rows whose
 * strides are all one element run the contiguous kernels above; others a
 * strided loop.  The caller orders and merges the axes (leaky_c/_api.py). */
enum leaky_dtype { LEAKY_F32, LEAKY_F64, LEAKY_F16, LEAKY_BF16 };
void leaky_fwd_strided(int dtype, int ndim, const size_t *shape,
                       const char *x, const ptrdiff_t *x_strides,
                       char *y, const ptrdiff_t *y_strides, double negative_slope);
void leaky_bwd_strided(int dtype, int ndim, const size_t *shape,
                       const char *grad_output, const ptrdiff_t *grad_output_strides,
                       const char *x, const ptrdiff_t *x_strides,
                       char *grad_input, const ptrdiff_t *grad_input_strides,
                       double negative_slope);

/* PReLU on C-contiguous arrays viewed as (outer, channels, inner): channel c
 * uses weight[c] as its slope.  The backward writes grad_input and adds, per
 * channel, the sum of grad_output * x over x <= 0 into grad_weight (double). */
void leaky_prelu_fwd(int dtype, const char *x, const char *weight, char *y,
                     size_t outer, size_t channels, size_t inner);
void leaky_prelu_bwd(int dtype, const char *grad_output, const char *x, const char *weight,
                     char *grad_input, double *grad_weight,
                     size_t outer, size_t channels, size_t inner);

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
/* 1 if the CPU has every one of count features (csrc/cpu.c). */
int leaky_cpu_has_all(const int *features, int count);
