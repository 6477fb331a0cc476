/* The contiguous entry points: checks that cost nothing, the store policy,
 * and the split over the thread pool.  One macro makes them for every dtype.
 *
 * Each thread gets one contiguous range starting on a 64-byte line of the
 * output (leaky_line_phase), so no line is written by two threads. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "kernels.h"
#include "leaky_c_api.h"
#include "threadpool.h"

/* Atomic: it may be set while other threads compute. */
static atomic_size_t stream_threshold = SIZE_MAX;

void leaky_set_stream_threshold(size_t bytes) { atomic_store(&stream_threshold, bytes); }
size_t leaky_get_stream_threshold(void) { return atomic_load(&stream_threshold); }

/* Non-temporal stores pay only for a large output that is not also an input
 * and whose pages are already mapped: into a fresh allocation the page faults
 * dominate and ordinary stores are faster (benchmarks/RESULTS.md). */
static int streams(const void *out, const void *in, size_t nbytes, int flags)
{
    return !(flags & LEAKY_FRESH_OUTPUT) && out != in
        && nbytes >= atomic_load_explicit(&stream_threshold, memory_order_relaxed);
}

/* A partial overlap of two n-byte arrays (being the same array is fine). */
static int overlap(const void *a, const void *b, size_t nbytes)
{
    const char *p = a, *q = b;
    return p != q && p < q + nbytes && q < p + nbytes;
}

struct job {
    const void *in0, *in1;
    void *out;
    double slope;
    int stream;
};

#define LEAKY_CHECKS(T, out, in, nbytes, slope)                                 \
    if (!((slope) - (slope) == 0.0))                                            \
        return LEAKY_BAD_SLOPE;                                                 \
    if ((uintptr_t)(out) % sizeof(T) || (uintptr_t)(in) % sizeof(T))            \
        return LEAKY_UNALIGNED;                                                 \
    if (overlap((out), (in), (nbytes)))                                         \
        return LEAKY_OVERLAP

/* T: the stored type; S: the slope's type in the kernel table. */
#define LEAKY_DEFINE_CONTIGUOUS(T, S, SFX)                                      \
static void fwd_range_##SFX(void *ctx, size_t begin, size_t end)                \
{                                                                               \
    const struct job *j = ctx;                                                  \
    leaky_active->fwd_##SFX((const T *)j->in0 + begin, (T *)j->out + begin,     \
                            end - begin, (S)j->slope, j->stream);               \
}                                                                               \
static void bwd_range_##SFX(void *ctx, size_t begin, size_t end)                \
{                                                                               \
    const struct job *j = ctx;                                                  \
    leaky_active->bwd_##SFX((const T *)j->in0 + begin, (const T *)j->in1 + begin, \
                            (T *)j->out + begin, end - begin, (S)j->slope, j->stream); \
}                                                                               \
int leaky_fwd_##SFX(const T *x, T *y, size_t n, double slope, int flags)        \
{                                                                               \
    LEAKY_CHECKS(T, y, x, n * sizeof(T), slope);                                \
    struct job j = {x, NULL, y, slope, streams(y, x, n * sizeof(T), flags)};    \
    leaky_parallel_for(n, sizeof(T), 64 / sizeof(T), leaky_line_phase(y, sizeof(T)), \
                       fwd_range_##SFX, &j);                                    \
    return LEAKY_OK;                                                            \
}                                                                               \
int leaky_bwd_##SFX(const T *g, const T *x, T *out, size_t n, double slope, int flags) \
{                                                                               \
    LEAKY_CHECKS(T, out, g, n * sizeof(T), slope);                              \
    LEAKY_CHECKS(T, out, x, n * sizeof(T), slope);                              \
    /* the kernel itself keeps plain stores when out is x */                   \
    struct job j = {g, x, out, slope, streams(out, g, n * sizeof(T), flags)};   \
    leaky_parallel_for(n, sizeof(T), 64 / sizeof(T), leaky_line_phase(out, sizeof(T)), \
                       bwd_range_##SFX, &j);                                    \
    return LEAKY_OK;                                                            \
}

LEAKY_DEFINE_CONTIGUOUS(float, float, f32)
LEAKY_DEFINE_CONTIGUOUS(double, double, f64)
LEAKY_DEFINE_CONTIGUOUS(uint16_t, float, f16)
LEAKY_DEFINE_CONTIGUOUS(uint16_t, float, bf16)
