/* The contiguous entry points: checks that cost nothing, the store policy,
 * and the split over the thread pool.  One macro makes them for every dtype.
 *
 * Each thread gets one contiguous range starting on a 64-byte line of the
 * output (threadpool.h), so no line is written by two threads. */
#define _DEFAULT_SOURCE  /* mincore under -std=c11 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__)
#include <sys/mman.h>
#include <unistd.h>
#define LEAKY_HAVE_MINCORE 1
#elif defined(_WIN32)
#include <windows.h>
#include <psapi.h>  /* QueryWorkingSetEx: K32QueryWorkingSetEx in kernel32 */
#endif
#include "kernels.h"
#include "leaky_c_api.h"
#include "threadpool.h"

/* Atomic: it may be set while other threads compute. */
static atomic_size_t stream_threshold = SIZE_MAX;

void leaky_set_stream_threshold(size_t bytes) { atomic_store(&stream_threshold, bytes); }
size_t leaky_get_stream_threshold(void) { return atomic_load(&stream_threshold); }

/* Whether a fresh allocation's pages are mapped already (malloc handed back
 * memory it had used before): its first, middle and last pages are resident
 * (mincore; on Windows, in the process's working set: QueryWorkingSetEx).
 * Made only for outputs of tens of MiB. */
static int mapped(const void *out, size_t nbytes)
{
    const uintptr_t probes[3] = {(uintptr_t)out, (uintptr_t)out + nbytes / 2,
                                 (uintptr_t)out + nbytes - 1};
#ifdef LEAKY_HAVE_MINCORE
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int k = 0; k < 3; k++) {
        unsigned char resident = 0;
        if (mincore((void *)(probes[k] / page * page), 1, (void *)&resident) != 0
                || !(resident & 1))
            return 0;
    }
    return 1;
#elif defined(_WIN32)
    SYSTEM_INFO system;
    PSAPI_WORKING_SET_EX_INFORMATION pages[3];
    GetSystemInfo(&system);
    for (int k = 0; k < 3; k++)
        pages[k].VirtualAddress = (PVOID)(probes[k] / system.dwPageSize * system.dwPageSize);
    if (!QueryWorkingSetEx(GetCurrentProcess(), pages, sizeof(pages)))
        return 0;
    for (int k = 0; k < 3; k++)
        if (!pages[k].VirtualAttributes.Valid)
            return 0;
    return 1;
#else
    (void)probes;
    return 0;
#endif
}

/* Non-temporal stores pay for a large output that is not also an input and
 * whose pages are mapped.  Into a fresh allocation that still has to be
 * faulted in, the page faults dominate and ordinary stores are as fast or
 * faster; a fresh allocation that malloc recycled is like an existing array
 * (benchmarks/RESULTS.md). */
static int streams(const void *out, const void *in, size_t nbytes, int flags)
{
    return out != in && nbytes >= atomic_load_explicit(&stream_threshold, memory_order_relaxed)
        && (!(flags & LEAKY_FRESH_OUTPUT) || mapped(out, nbytes));
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
    LEAKY_ACTIVE->fwd_##SFX((const T *)j->in0 + begin, (T *)j->out + begin,     \
                            end - begin, (S)j->slope, j->stream);               \
}                                                                               \
static void bwd_range_##SFX(void *ctx, size_t begin, size_t end)                \
{                                                                               \
    const struct job *j = ctx;                                                  \
    LEAKY_ACTIVE->bwd_##SFX((const T *)j->in0 + begin, (const T *)j->in1 + begin, \
                            (T *)j->out + begin, end - begin, (S)j->slope, j->stream); \
}                                                                               \
int leaky_fwd_##SFX(const T *x, T *y, size_t n, double slope, int flags)        \
{                                                                               \
    LEAKY_CHECKS(T, y, x, n * sizeof(T), slope);                                \
    struct job j = {x, NULL, y, slope, streams(y, x, n * sizeof(T), flags)};    \
    leaky_parallel_for(n, sizeof(T), y, fwd_range_##SFX, &j);                   \
    return LEAKY_OK;                                                            \
}                                                                               \
int leaky_bwd_##SFX(const T *g, const T *x, T *out, size_t n, double slope, int flags) \
{                                                                               \
    LEAKY_CHECKS(T, out, g, n * sizeof(T), slope);                              \
    LEAKY_CHECKS(T, out, x, n * sizeof(T), slope);                              \
    /* the kernel itself keeps plain stores when out is x */                   \
    struct job j = {g, x, out, slope, streams(out, g, n * sizeof(T), flags)};   \
    leaky_parallel_for(n, sizeof(T), out, bwd_range_##SFX, &j);                 \
    return LEAKY_OK;                                                            \
}

LEAKY_DEFINE_CONTIGUOUS(float, float, f32)
LEAKY_DEFINE_CONTIGUOUS(double, double, f64)
LEAKY_DEFINE_CONTIGUOUS(uint16_t, float, f16)
LEAKY_DEFINE_CONTIGUOUS(uint16_t, float, bf16)
