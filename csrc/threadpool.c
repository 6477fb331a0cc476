/* The native thread pool behind every parallel kernel (see threadpool.h).
 *
 * Design:
 *   - Started lazily: the first call that needs n threads starts n - 1
 *     workers; they persist.  set_num_threads stops the ones beyond its count.
 *   - One slot per worker, on its own cache line.  A caller hands a worker its
 *     range by filling the slot and bumping the slot's generation; the worker
 *     stores the generation into `done` when its range is finished.  No state
 *     is shared between workers, so a caller can use fewer workers than exist.
 *   - Whoever claims a range first runs it (`taken`): after its own range the
 *     caller runs every range no worker has started, so a worker whose core is
 *     busy elsewhere delays a call by at most the serial time.
 *   - Idle workers spin for LEAKY_SPIN_NS, then sleep on their condition
 *     variable: back-to-back calls find them awake, an idle process uses no CPU.
 *   - One caller at a time: a caller that finds the pool busy (another thread
 *     is in a parallel call) runs its whole range itself instead of queueing.
 *     N callers then use at most N + threads - 1 threads and never wait on
 *     each other, and nothing can deadlock on the pool.
 *   - fork(): the prepare handler takes the pool's locks, so the child starts
 *     from a consistent state with no workers; its first parallel call starts
 *     its own.  Nothing joins workers at exit: they sleep, and exit ends them.
 *
 * Windows: the same code on SRW locks and condition variables behind the
 * small shim below, and the performance counter as the spin clock.  CI builds
 * it with MinGW-w64 and runs it under wine (tools/check_windows.sh).
 */
#define _POSIX_C_SOURCE 200809L  /* clock_gettime under -std=c11 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "threadpool.h"
#include "leaky_c_api.h"

#if defined(_WIN32)
#include <windows.h>
typedef SRWLOCK lk_mutex;
typedef CONDITION_VARIABLE lk_cond;
typedef HANDLE lk_thread;
#define LK_MUTEX_INIT SRWLOCK_INIT
#define lk_lock(m) AcquireSRWLockExclusive(m)
#define lk_trylock(m) (TryAcquireSRWLockExclusive(m) ? 0 : 1)
#define lk_unlock(m) ReleaseSRWLockExclusive(m)
#define lk_cond_init(c) InitializeConditionVariable(c)
#define lk_cond_destroy(c) ((void)(c))  /* nothing to free */
#define lk_cond_wait(c, m) SleepConditionVariableSRW((c), (m), INFINITE, 0)
#define lk_cond_signal(c) WakeConditionVariable(c)
#define lk_yield() SwitchToThread()
static DWORD WINAPI lk_trampoline(LPVOID arg);
static int lk_start(lk_thread *t, void *arg)
{
    *t = CreateThread(NULL, 0, lk_trampoline, arg, 0, NULL);
    return *t == NULL;
}
#define lk_join(t) (WaitForSingleObject((t), INFINITE), CloseHandle(t))
/* The spin clock must resolve LEAKY_SPIN_NS: GetTickCount64 moves in steps of
 * about 16 ms, so workers spun 0-16 ms after every call.  The performance
 * counter's frequency is fixed at boot; it is read once (a race between two
 * first readers stores the same value). */
static atomic_uint_least64_t lk_ticks_per_s;
static uint64_t lk_now_ns(void)
{
    LARGE_INTEGER now, freq;
    uint64_t f = atomic_load_explicit(&lk_ticks_per_s, memory_order_relaxed);
    if (f == 0) {
        QueryPerformanceFrequency(&freq);
        f = (uint64_t)freq.QuadPart;
        atomic_store_explicit(&lk_ticks_per_s, f, memory_order_relaxed);
    }
    QueryPerformanceCounter(&now);
    const uint64_t t = (uint64_t)now.QuadPart;
    return t / f * 1000000000u + t % f * 1000000000u / f;  /* no overflow for f < 18 GHz */
}
#else
#include <pthread.h>
#include <sched.h>
#include <time.h>
typedef pthread_mutex_t lk_mutex;
typedef pthread_cond_t lk_cond;
typedef pthread_t lk_thread;
#define LK_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#define lk_lock(m) pthread_mutex_lock(m)
#define lk_trylock(m) pthread_mutex_trylock(m)
#define lk_unlock(m) pthread_mutex_unlock(m)
#define lk_cond_init(c) pthread_cond_init((c), NULL)
#define lk_cond_destroy(c) pthread_cond_destroy(c)
#define lk_cond_wait(c, m) pthread_cond_wait((c), (m))
#define lk_cond_signal(c) pthread_cond_signal(c)
#define lk_yield() sched_yield()
static void *lk_trampoline(void *arg);
static int lk_start(lk_thread *t, void *arg) { return pthread_create(t, NULL, lk_trampoline, arg); }
#define lk_join(t) pthread_join((t), NULL)
static uint64_t lk_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#define lk_pause() _mm_pause()
#elif defined(__aarch64__)
#define lk_pause() __asm__ __volatile__("yield")
#elif defined(_M_ARM64)  /* MSVC on Windows on ARM */
#include <intrin.h>
#define lk_pause() __yield()
#else
#define lk_pause() ((void)0)
#endif

/* How long an idle worker, and a caller waiting for its workers, spin before
 * sleeping (yielding, for the caller): long enough to bridge the Python code
 * between two calls, short enough that an idle process goes quiet at once. */
#define LEAKY_SPIN_NS 200000u
/* Threads beyond this are not started (set_num_threads still reports the
 * requested count). */
#define LEAKY_MAX_THREADS 256

struct slot {
    _Alignas(64) atomic_uint gen;  /* bumped by the caller: a new range, or stop */
    atomic_uint done;              /* the generation whose range is finished */
    atomic_int sleeping;           /* the worker waits on cond */
    atomic_int taken;              /* the range was claimed, by the worker or the caller */
    atomic_int stop;               /* set before gen is bumped; atomic because a
                                    * worker may read it for a range the caller took */
    leaky_range_fn fn;
    void *ctx;
    size_t begin, end;
    lk_cond cond;
    lk_thread thread;
};

static struct slot slots[LEAKY_MAX_THREADS - 1];
static int workers;                      /* started and alive; under busy */
static lk_mutex busy = LK_MUTEX_INIT;    /* held by the one caller using the pool */
static lk_mutex sleep_lock = LK_MUTEX_INIT;
static atomic_int num_threads = 1;
static atomic_size_t grain_bytes = 1u << 15;  /* Python sets it at import */

/* Wait until s->gen differs from seen; returns the new generation. */
static unsigned wait_for_work(struct slot *s, unsigned seen)
{
    uint64_t start = lk_now_ns();
    for (unsigned spins = 1;; spins++) {
        unsigned g = atomic_load(&s->gen);
        if (g != seen)
            return g;
        lk_pause();
        if (spins % 64 == 0 && lk_now_ns() - start > LEAKY_SPIN_NS)
            break;
    }
    lk_lock(&sleep_lock);
    /* sleeping is stored before gen is read again, and the caller stores gen
     * before it reads sleeping (both sequentially consistent), so either the
     * worker sees the new gen here or the caller sees sleeping and signals
     * under sleep_lock, which it can only take once this thread waits. */
    atomic_store(&s->sleeping, 1);
    while (atomic_load(&s->gen) == seen)
        lk_cond_wait(&s->cond, &sleep_lock);
    atomic_store(&s->sleeping, 0);
    lk_unlock(&sleep_lock);
    return atomic_load(&s->gen);
}

static void worker_loop(struct slot *s)
{
    /* Not gen: the first range may be posted before this thread runs. */
    unsigned seen = atomic_load(&s->done);
    for (;;) {
        unsigned g = wait_for_work(s, seen);
        if (atomic_load(&s->stop))
            return;
        if (!atomic_exchange(&s->taken, 1))
            s->fn(s->ctx, s->begin, s->end);
        atomic_store(&s->done, g);
        seen = g;
    }
}

#if defined(_WIN32)
static DWORD WINAPI lk_trampoline(LPVOID arg) { worker_loop(arg); return 0; }
#else
static void *lk_trampoline(void *arg) { worker_loop(arg); return NULL; }
#endif

static void post(struct slot *s)
{
    atomic_store(&s->gen, atomic_load(&s->gen) + 1u);
    if (atomic_load(&s->sleeping)) {
        lk_lock(&sleep_lock);
        lk_cond_signal(&s->cond);
        lk_unlock(&sleep_lock);
    }
}

#if !defined(_WIN32)
static void before_fork(void) { lk_lock(&busy); lk_lock(&sleep_lock); }
static void after_fork_parent(void) { lk_unlock(&sleep_lock); lk_unlock(&busy); }
static void after_fork_child(void)
{
    /* Only the forking thread exists here: forget the workers. */
    for (int k = 0; k < workers; k++) {
        atomic_store(&slots[k].gen, 0u);
        atomic_store(&slots[k].done, 0u);
        atomic_store(&slots[k].sleeping, 0);
        atomic_store(&slots[k].taken, 1);
    }
    workers = 0;
    lk_unlock(&sleep_lock);
    lk_unlock(&busy);
}
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }
#endif

/* Start workers until `want` exist (under busy); returns how many exist. */
static int start_workers(int want)
{
#if !defined(_WIN32)
    pthread_once(&atfork_once, register_atfork);
#endif
    while (workers < want) {
        struct slot *s = &slots[workers];
        atomic_store(&s->stop, 0);
        atomic_store(&s->gen, 0u);
        atomic_store(&s->done, 0u);
        atomic_store(&s->taken, 1);
        lk_cond_init(&s->cond);
        if (lk_start(&s->thread, s) != 0)
            break;  /* out of threads: run with those there are */
        workers++;
    }
    return workers;
}

/* Stop workers until at most `keep` remain (under busy). */
static void stop_workers(int keep)
{
    while (workers > keep) {
        struct slot *s = &slots[--workers];
        atomic_store(&s->stop, 1);
        post(s);
        lk_join(s->thread);
        lk_cond_destroy(&s->cond);  /* start_workers inits it again */
    }
}

/* Pieces of at least grain bytes, at most threads of them. */
static size_t pieces_for(size_t n, size_t unit_bytes, int threads)
{
    size_t grain_units = atomic_load(&grain_bytes) / unit_bytes;
    size_t by_size = n / (grain_units ? grain_units : 1);
    return by_size < (size_t)threads ? by_size : (size_t)threads;
}

void leaky_parallel_for(size_t n, size_t unit_bytes, const void *out, leaky_range_fn fn, void *ctx)
{
    if (pieces_for(n, unit_bytes, atomic_load(&num_threads)) < 2 || lk_trylock(&busy) != 0) {
        fn(ctx, 0, n);
        return;
    }
    /* The thread count is read again under the lock: set_num_threads may
     * have changed it, and it changes the workers only under this lock. */
    int threads = atomic_load(&num_threads);
    if (threads > LEAKY_MAX_THREADS)
        threads = LEAKY_MAX_THREADS;
    size_t pieces = pieces_for(n, unit_bytes, threads);
    if (pieces >= 2)
        pieces = (size_t)start_workers((int)pieces - 1) + 1;
    if (pieces < 2) {
        lk_unlock(&busy);
        fn(ctx, 0, n);
        return;
    }
    /* Boundaries at phase + a multiple of align units: out's 64-byte lines. */
    size_t align = 1, phase = 0;
    if (out != NULL && 64 % unit_bytes == 0 && (uintptr_t)out % unit_bytes == 0) {
        align = 64 / unit_bytes;
        phase = (size_t)((64 - (uintptr_t)out % 64) % 64) / unit_bytes;
    }
    size_t step = (n + pieces - 1) / pieces;
    step = (step + align - 1) / align * align;
    size_t first = step + phase;  /* the caller's range is [0, first) */
    size_t used = 0;  /* workers given a range */
    for (size_t begin = first; begin < n && used + 1 < pieces; begin += step, used++) {
        struct slot *s = &slots[used];
        s->fn = fn;
        s->ctx = ctx;
        s->begin = begin;
        s->end = n - begin < step ? n : begin + step;
        atomic_store(&s->taken, 0);
        post(s);
    }
    fn(ctx, 0, first < n ? first : n);
    /* Ranges no worker has started yet (its core is busy elsewhere, or it is
     * still waking up) are run here, so a loaded machine costs at most the
     * serial time; only ranges a worker took are waited for. */
    unsigned char stolen[LEAKY_MAX_THREADS];
    for (size_t k = 0; k < used; k++) {
        stolen[k] = !atomic_exchange(&slots[k].taken, 1);
        if (stolen[k])
            slots[k].fn(slots[k].ctx, slots[k].begin, slots[k].end);
    }
    for (size_t k = 0; k < used; k++) {
        uint64_t start = 0;
        if (stolen[k])
            continue;
        for (unsigned spins = 1; atomic_load(&slots[k].done) != atomic_load(&slots[k].gen); spins++) {
            lk_pause();
            if (spins % 64 == 0) {
                if (start == 0)
                    start = lk_now_ns();
                else if (lk_now_ns() - start > LEAKY_SPIN_NS)
                    lk_yield();
            }
        }
    }
    lk_unlock(&busy);
}

void leaky_set_num_threads(int n)
{
    atomic_store(&num_threads, n < 1 ? 1 : n);
    lk_lock(&busy);
    stop_workers(n - 1 < 0 ? 0 : n - 1);
    lk_unlock(&busy);
}

int leaky_get_num_threads(void) { return atomic_load(&num_threads); }

void leaky_set_grain_bytes(size_t bytes) { atomic_store(&grain_bytes, bytes ? bytes : 1); }

size_t leaky_get_grain_bytes(void) { return atomic_load(&grain_bytes); }

int leaky_pool_workers(void)
{
    lk_lock(&busy);
    int n = workers;
    lk_unlock(&busy);
    return n;
}
