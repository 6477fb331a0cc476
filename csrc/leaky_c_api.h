/* The C interface of leaky_c, read verbatim by cffi's cdef (leaky_c/_build.py)
 * and included by the C sources.  cdef cannot parse preprocessor directives,
 * so this file has none: no include guard, and it is included exactly once
 * per translation unit.
 *
 * Python validates arguments before calling (leaky_c/_validate.py); the
 * contiguous entry points also refuse, without writing anything, the few
 * cases their caller may send them on purpose (leaky_c/_api.py's fast path):
 *   - counts and strides are 64-bit (size_t / ptrdiff_t);
 *   - an output may be the same array as an input (in place); a partial
 *     overlap returns LEAKY_OVERLAP and the caller goes through a copy;
 *   - large calls run on the native thread pool (threadpool.c), with the
 *     GIL released by cffi for the whole call.
 */

enum leaky_status { LEAKY_OK, LEAKY_OVERLAP, LEAKY_BAD_SLOPE, LEAKY_UNALIGNED };
/* LEAKY_FRESH_OUTPUT: the output was just allocated, so its pages may not be
 * mapped yet; streaming stores are used only if they are. */
enum leaky_flags { LEAKY_FRESH_OUTPUT = 1 };

/* Forward: y = x > 0 ? x : negative_slope * x.  Backward: grad_input =
 * x > 0 ? grad_output : negative_slope * grad_output.  float32 and the 16-bit
 * floats use the slope rounded to float32; float16 and bfloat16 travel as
 * their bit patterns, are computed in float32 and rounded once. */
int leaky_fwd_f32(const float *x, float *y, size_t n, double negative_slope, int flags);
int leaky_fwd_f64(const double *x, double *y, size_t n, double negative_slope, int flags);
int leaky_fwd_f16(const uint16_t *x, uint16_t *y, size_t n, double negative_slope, int flags);
int leaky_fwd_bf16(const uint16_t *x, uint16_t *y, size_t n, double negative_slope, int flags);
int leaky_bwd_f32(const float *grad_output, const float *x, float *grad_input,
                  size_t n, double negative_slope, int flags);
int leaky_bwd_f64(const double *grad_output, const double *x, double *grad_input,
                  size_t n, double negative_slope, int flags);
int leaky_bwd_f16(const uint16_t *grad_output, const uint16_t *x, uint16_t *grad_input,
                  size_t n, double negative_slope, int flags);
int leaky_bwd_bf16(const uint16_t *grad_output, const uint16_t *x, uint16_t *grad_input,
                   size_t n, double negative_slope, int flags);

/* Any strides, no copies: ndim axes of the given shape, one stride per axis and
 * array, in bytes, of any sign.  dtype is an enum leaky_dtype.  Rows whose
 * strides are all one element run the contiguous kernels; others a strided
 * loop.  The caller orders and merges the axes, and sends outputs that
 * overlap themselves or an input through a temporary (leaky_c/_layout.py). */
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
 * uses weight[c] as its slope.  The backward writes grad_input and, per
 * channel, the sum of grad_output * x over x <= 0 into grad_weight (double),
 * using `partials`, leaky_prelu_blocks(...) * channels doubles of scratch. */
void leaky_prelu_fwd(int dtype, const char *x, const char *weight, char *y,
                     size_t outer, size_t channels, size_t inner);
size_t leaky_prelu_blocks(size_t outer, size_t channels, size_t inner);
void leaky_prelu_bwd(int dtype, const char *grad_output, const char *x, const char *weight,
                     char *grad_input, double *partials, double *grad_weight,
                     size_t outer, size_t channels, size_t inner);

/* The thread pool and the store policy: threads for large calls, the bytes of
 * output each thread must get (the grain), and the output size from which
 * warm outputs get non-temporal stores. */
void leaky_set_num_threads(int n);
int leaky_get_num_threads(void);
void leaky_set_grain_bytes(size_t bytes);
size_t leaky_get_grain_bytes(void);
void leaky_set_stream_threshold(size_t bytes);
size_t leaky_get_stream_threshold(void);
int leaky_pool_workers(void);
/* Large calls from the main thread run on PyTorch's OpenMP team while its
 * workers are awake (csrc/openmp.c).  set/get: allowed (1, the default) or
 * not; status: 0 not used (not allowed, not Linux, or a forked child), 1
 * allowed but PyTorch's libgomp is not loaded, 2 it is, 3 and a worker of its
 * team is watched; calls: how many calls ran on the team. */
void leaky_set_openmp(int allow);
int leaky_get_openmp(void);
int leaky_openmp_status(void);
size_t leaky_openmp_calls(void);

/* Large outputs (csrc/blocks.c): a block of at least nbytes, 64-byte aligned and
 * followed by 4096 spare bytes the caller may also use (so that its data can start
 * up to 4080 bytes in), from the idle blocks or new (NULL if memory is short); give it back once
 * nothing uses it.  Idle blocks hold at most the limit in bytes (0: none);
 * release frees them all and returns how many bytes that was. */
void *leaky_block_take(size_t nbytes);
void leaky_block_give(void *block);
void leaky_set_block_cache_bytes(size_t bytes);
size_t leaky_get_block_cache_bytes(void);
size_t leaky_block_cache_held(void);
size_t leaky_block_cache_release(void);

/* CPU targets: the same loops compiled for several instruction sets.  A target
 * requires some CPU features (leaky_target_requires) and can run where the CPU
 * has them all. */
int leaky_target_count(void);
const char *leaky_target_name(int target);
int leaky_target_requires(int target, int feature);
int leaky_target_supported(int target);
int leaky_get_target(void);
int leaky_set_target(int target);

/* CPU features (csrc/cpu.h): their names, and which this CPU has. */
int leaky_feature_count(void);
const char *leaky_feature_name(int feature);
int leaky_cpu_has(int feature);

/* The compiler that built this module ("GCC 12.2.0", "Clang 14.0.6", ...). */
const char *leaky_compiler(void);
