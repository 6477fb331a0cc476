/* The memory-copy bound of the benchmark suite: moving the bytes Leaky ReLU
 * moves with nothing computed.  copy moves src to dst (one read stream, one
 * write: the forward's traffic); copy2 writes a | b (two reads, one write: the
 * backward's).  Built on demand by _bounds_build.py, never part of leaky_c.
 *
 * Large outputs use non-temporal stores (a write that does not first read the
 * destination line into the cache), small ones plain stores, which keep the
 * output in cache for the next call as a real kernel's output is.  x86-64
 * always has SSE2 (_mm_stream_si128); AVX2 (_mm256_stream_si256) is used where
 * the CPU has it, chosen at run time.  Elsewhere the plain loop serves.
 *
 * The threaded entry points split the bytes into one contiguous range per
 * thread, on 64-byte boundaries of the output, and run them on pthreads the
 * call starts (the calling thread takes the first range).  Starting a thread
 * costs tens of microseconds, more on a loaded machine where another runtime's
 * workers (PyTorch's OpenMP, numexpr) still spin on the other cores, so ranges
 * are never smaller than MIN_BYTES_PER_THREAD: below that the copy runs on the
 * calling thread, as a good copy would.  The caller (cffi) has released the GIL. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define BOUNDS_X86 1
#endif

#if !defined(_WIN32)
#include <pthread.h>
#define BOUNDS_PTHREADS 1
#endif

#define MIN_BYTES_PER_THREAD ((size_t)4 << 20)

static void or_loop(const unsigned char *a, const unsigned char *b, unsigned char *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = a[i] | b[i];
}

/* Bytes before dst + i is 'align'-aligned (at most n). */
static size_t head(const unsigned char *dst, size_t align, size_t n)
{
    size_t misalign = (size_t)((uintptr_t)dst & (align - 1));
    size_t h = misalign ? align - misalign : 0;
    return h < n ? h : n;
}

#ifdef BOUNDS_X86
/* One streaming loop per vector width: VEC-sized unaligned loads, a | b or a
 * plain copy, non-temporal stores from the first WIDTH-aligned byte of dst.
 * Returns the bytes done; the caller finishes the tail with plain stores. */
#define DEFINE_STREAM(name, attribute, WIDTH, VEC, LOAD, OR, STREAM)               \
attribute static size_t name(const unsigned char *a, const unsigned char *b,      \
                             unsigned char *dst, size_t n)                         \
{                                                                                  \
    size_t i = head(dst, WIDTH, n);                                                \
    if (b) {                                                                       \
        or_loop(a, b, dst, i);                                                     \
        for (; i + WIDTH <= n; i += WIDTH)                                         \
            STREAM((VEC *)(dst + i), OR(LOAD((const VEC *)(a + i)),               \
                                        LOAD((const VEC *)(b + i))));              \
    } else {                                                                       \
        memcpy(dst, a, i);                                                         \
        for (; i + WIDTH <= n; i += WIDTH)                                         \
            STREAM((VEC *)(dst + i), LOAD((const VEC *)(a + i)));                 \
    }                                                                              \
    _mm_sfence();                                                                  \
    return i;                                                                      \
}

DEFINE_STREAM(stream_avx2, __attribute__((target("avx2"))), 32, __m256i, _mm256_loadu_si256,
              _mm256_or_si256, _mm256_stream_si256)
DEFINE_STREAM(stream_sse2, , 16, __m128i, _mm_loadu_si128, _mm_or_si128, _mm_stream_si128)
#endif

/* One range: b == NULL copies a, else writes a | b. Returns nothing, never fails. */
static void range(const unsigned char *a, const unsigned char *b, unsigned char *dst, size_t n,
                  int stream)
{
    size_t i = 0;
#ifdef BOUNDS_X86
    if (stream)
        i = __builtin_cpu_supports("avx2") ? stream_avx2(a, b, dst, n)
                                           : stream_sse2(a, b, dst, n);
#else
    (void)stream;
#endif
    if (b)
        or_loop(a + i, b + i, dst + i, n - i);
    else
        memcpy(dst + i, a + i, n - i);
}

/* 1 where this build streams (x86-64), 0 where non-temporal stores are not compiled in. */
int bounds_streaming(void)
{
#ifdef BOUNDS_X86
    return 1;
#else
    return 0;
#endif
}

struct job {
    const unsigned char *a, *b;
    unsigned char *dst;
    size_t n;
    int stream;
};

#ifdef BOUNDS_PTHREADS
static void *worker(void *arg)
{
    struct job *j = (struct job *)arg;
    range(j->a, j->b, j->dst, j->n, j->stream);
    return NULL;
}
#endif

#define MAX_THREADS 256

static void split(const unsigned char *a, const unsigned char *b, unsigned char *dst, size_t n,
                  int stream, int threads)
{
    size_t most = n / MIN_BYTES_PER_THREAD;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > most)
        threads = (int)most;
#ifdef BOUNDS_PTHREADS
    if (threads >= 2) {
        struct job jobs[MAX_THREADS];
        pthread_t ids[MAX_THREADS];
        int started[MAX_THREADS] = {0};
        size_t step = (n / (size_t)threads + 63) & ~(size_t)63, start = 0;
        int t;
        for (t = 0; t < threads && start < n; t++, start += step) {
            size_t count = n - start < step ? n - start : step;
            jobs[t].a = a + start;
            jobs[t].b = b ? b + start : NULL;
            jobs[t].dst = dst + start;
            jobs[t].n = count;
            jobs[t].stream = stream;
        }
        int used = t;
        for (t = 1; t < used; t++)
            started[t] = pthread_create(&ids[t], NULL, worker, &jobs[t]) == 0;
        range(jobs[0].a, jobs[0].b, jobs[0].dst, jobs[0].n, stream);
        for (t = 1; t < used; t++) {
            if (started[t])
                pthread_join(ids[t], NULL);
            else  /* no thread: do its share here, the result is the same */
                range(jobs[t].a, jobs[t].b, jobs[t].dst, jobs[t].n, stream);
        }
        return;
    }
#endif
    range(a, b, dst, n, stream);
}

void bounds_copy(const unsigned char *src, unsigned char *dst, size_t nbytes, int stream,
                 int threads)
{
    split(src, NULL, dst, nbytes, stream, threads);
}

void bounds_copy2(const unsigned char *a, const unsigned char *b, unsigned char *dst,
                  size_t nbytes, int stream, int threads)
{
    split(a, b, dst, nbytes, stream, threads);
}
