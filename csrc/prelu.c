/* PReLU on C-contiguous arrays viewed as (outer, channels, inner): the
 * elements of row r = (o, c) share the slope weight[c].
 *
 * Both passes split the flattened array over the thread pool.  Long rows run
 * the active target's contiguous kernels; channels-last rows (inner == 1) loop
 * over the channels with the weight vector, which vectorises directly.
 *
 * grad_weight is a reduction, made independent of the thread count: the array
 * is cut into fixed blocks (their size depends on the shape only), each block
 * sums its rows' contributions per channel into its own row of partials, and
 * the partials are added in block order.  Same bits at any thread count. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "elements.h"
#include "kernels.h"
#include "leaky_c_api.h"
#include "threadpool.h"

/* Elements per grad_weight block: at least 64 Ki, and at least 64 elements per
 * channel so the partials stay under 1/8 of a float64 per element. */
static size_t block_elements(size_t channels)
{
    size_t b = 64 * channels > (1u << 16) ? 64 * channels : (1u << 16);
    return (b + 63) / 64 * 64;
}

size_t leaky_prelu_blocks(size_t outer, size_t channels, size_t inner)
{
    size_t total = outer * channels * inner, b = block_elements(channels);
    return (total + b - 1) / b;
}

struct prelu_job {
    const char *g, *x, *w;
    char *out;
    double *partials;
    size_t total, channels, inner, block;
};

/* T: the stored type, C: the compute type. */
#define LEAKY_DEFINE_PRELU(T, C, SFX)                                           \
static void fwd_range_##SFX(void *ctx, size_t begin, size_t end)                \
{                                                                               \
    const struct prelu_job *j = ctx;                                            \
    const T *x = (const T *)j->x, *w = (const T *)j->w;                         \
    T *y = (T *)j->out;                                                         \
    for (size_t p = begin; p < end;) {                                          \
        size_t row = p / j->inner, c = row % j->channels;                       \
        if (j->inner == 1) {  /* a run of channels */                           \
            size_t n = j->channels - c < end - p ? j->channels - c : end - p;   \
            for (size_t k = 0; k < n; k++) {                                    \
                const C v = LOAD_##SFX(x + p + k), scaled = v * LOAD_##SFX(w + c + k); \
                STORE_##SFX(y + p + k, v > 0 ? v : scaled);                     \
            }                                                                   \
            p += n;                                                             \
        } else {                                                                \
            size_t stop = (row + 1) * j->inner < end ? (row + 1) * j->inner : end; \
            LEAKY_ACTIVE->fwd_##SFX(x + p, y + p, stop - p, LOAD_##SFX(w + c), 0); \
            p = stop;                                                           \
        }                                                                       \
    }                                                                           \
}                                                                               \
/* Blocks [begin, end): grad_input, and each block's partial sums. */          \
static void bwd_range_##SFX(void *ctx, size_t begin, size_t end)                \
{                                                                               \
    const struct prelu_job *j = ctx;                                            \
    const T *g = (const T *)j->g, *x = (const T *)j->x, *w = (const T *)j->w;   \
    T *gi = (T *)j->out;                                                        \
    for (size_t b = begin; b < end; b++) {                                      \
        double *sums = j->partials + b * j->channels;                           \
        memset(sums, 0, j->channels * sizeof(double));                          \
        size_t stop_block = (b + 1) * j->block < j->total ? (b + 1) * j->block : j->total; \
        for (size_t p = b * j->block; p < stop_block;) {                        \
            size_t row = p / j->inner, c = row % j->channels;                   \
            if (j->inner == 1) {                                                \
                size_t n = j->channels - c < stop_block - p ? j->channels - c : stop_block - p; \
                for (size_t k = 0; k < n; k++) {                                \
                    const C xv = LOAD_##SFX(x + p + k), grad = LOAD_##SFX(g + p + k); \
                    C scaled = grad * LOAD_##SFX(w + c + k);                    \
                    LEAKY_OPAQUE(scaled);  /* see kernels.h */                  \
                    gi[p + k] = xv > 0 ? g[p + k] : STORE_VALUE_##SFX(scaled);  \
                    sums[c + k] += xv > 0 ? 0.0 : (double)xv * (double)grad;   \
                }                                                               \
                p += n;                                                         \
            } else {                                                            \
                size_t stop = (row + 1) * j->inner < stop_block ? (row + 1) * j->inner : stop_block; \
                LEAKY_ACTIVE->bwd_##SFX(g + p, x + p, gi + p, stop - p, LOAD_##SFX(w + c), 0); \
                sums[c] += LEAKY_ACTIVE->neg_dot_##SFX(x + p, g + p, stop - p); \
                p = stop;                                                       \
            }                                                                   \
        }                                                                       \
    }                                                                           \
}

LEAKY_DEFINE_PRELU(float, float, f32)
LEAKY_DEFINE_PRELU(double, double, f64)
LEAKY_DEFINE_PRELU(uint16_t, float, f16)
LEAKY_DEFINE_PRELU(uint16_t, float, bf16)

struct prelu_fns {
    leaky_range_fn fwd, bwd;
    size_t itemsize;
};
static const struct prelu_fns prelu_fns[] = {
    {fwd_range_f32, bwd_range_f32, sizeof(float)},
    {fwd_range_f64, bwd_range_f64, sizeof(double)},
    {fwd_range_f16, bwd_range_f16, sizeof(uint16_t)},
    {fwd_range_bf16, bwd_range_bf16, sizeof(uint16_t)},
};

void leaky_prelu_fwd(int dtype, const char *x, const char *weight, char *y,
                     size_t outer, size_t channels, size_t inner)
{
    struct prelu_job j = {NULL, x, weight, y, NULL, outer * channels * inner, channels, inner, 0};
    size_t itemsize = prelu_fns[dtype].itemsize;
    leaky_parallel_for(j.total, itemsize, y, prelu_fns[dtype].fwd, &j);
}

void leaky_prelu_bwd(int dtype, const char *grad_output, const char *x, const char *weight,
                     char *grad_input, double *partials, double *grad_weight,
                     size_t outer, size_t channels, size_t inner)
{
    size_t block = block_elements(channels), blocks = leaky_prelu_blocks(outer, channels, inner);
    struct prelu_job j = {grad_output, x, weight, grad_input, partials,
                          outer * channels * inner, channels, inner, block};
    /* Whole blocks: a boundary's line may be shared; blocks are large. */
    leaky_parallel_for(blocks, block * prelu_fns[dtype].itemsize, NULL, prelu_fns[dtype].bwd, &j);
    for (size_t c = 0; c < channels; c++) {
        double sum = 0.0;
        for (size_t b = 0; b < blocks; b++)
            sum += partials[b * channels + c];
        grad_weight[c] = sum;
    }
}
