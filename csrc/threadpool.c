/* The native thread pool behind every parallel kernel (see threadpool.h).
 *
 * Design:
 *   - Started lazily: the first call that needs n threads starts n - 1
 *     workers; they persist.  set_num_threads stops the ones beyond its count.
 *   - One slot per worker, on its own cache line.  A caller wakes a worker by
 *     bumping the slot's generation, so a caller can use fewer workers than
 *     exist.
 *   - The range is cut into chunks (several per thread, each but the first
 *     starting on a 64-byte line of the output), which whichever thread is
 *     running claims, one at a time, from one atomic word; the caller claims
 *     them too.  The caller then waits only for chunks a worker has claimed:
 *     a worker that has not got a core (another library's pool spinning, a
 *     busy machine) costs nothing, and one descheduled while it computes
 *     costs at most its chunk.  The word also holds the call's epoch and its
 *     chunk count, so a worker that wakes late, after its call has ended,
 *     claims nothing of it (the job it reads is only valid after a claim).
 *   - Idle workers spin for LEAKY_SPIN_NS, then sleep on their condition
 *     variable: back-to-back calls find them awake, an idle process uses no CPU.
 *     A worker on the caller's core yields it (caller_cpu).  A sleeping worker is
 *     woken only for calls of LEAKY_WAKE_BYTES or more, or in a run of calls.
 *   - Right after PyTorch's parallel ops, a call runs on PyTorch's OpenMP team
 *     instead, whose workers still spin there (openmp.c says when).
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
#if defined(__linux__)
#define _GNU_SOURCE  /* sched_getcpu, syscall */
#include <sys/syscall.h>
#include <unistd.h>
#endif
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
#define lk_cpu() ((int)GetCurrentProcessorNumber())
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
uint64_t leaky_now_ns(void)
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
#if defined(__linux__)
#define lk_cpu() sched_getcpu()
#else
#define lk_cpu() (-1)  /* unknown: workers never yield to the caller */
#endif
static void *lk_trampoline(void *arg);
static int lk_start(lk_thread *t, void *arg) { return pthread_create(t, NULL, lk_trampoline, arg); }
#define lk_join(t) pthread_join((t), NULL)
uint64_t leaky_now_ns(void)
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
/* How long a caller spins for chunks that workers claimed before it
 * yields its core: several chunks' time (a chunk is at most 1 MiB). */
#define LEAKY_CLAIMED_NS 50000u
/* A call of fewer bytes than this does not wake a sleeping worker: the
 * wake-up (a system call, then the scheduler finding the worker a core) took
 * 5-40 us here (benchmarks/RESULTS.md), more than such a call's own time. */
#define LEAKY_WAKE_BYTES ((size_t)1 << 20)
/* Threads beyond this are not started (set_num_threads still reports the
 * requested count). */
#define LEAKY_MAX_THREADS 256

/* Chunks per thread a call is cut into (each at least the grain, at most
 * LEAKY_CHUNK_BYTES unless that makes more than LEAKY_MAX_CHUNKS). */
#define LEAKY_CHUNKS_PER_THREAD 4
#define LEAKY_CHUNK_BYTES ((size_t)1 << 20)
#define LEAKY_MAX_CHUNKS 0xffffu

struct slot {
    _Alignas(64) atomic_uint gen;  /* bumped by the caller: work to claim, or stop */
    atomic_uint seen;              /* the generation the worker last woke for */
    atomic_int sleeping;           /* the worker waits on cond */
    atomic_int stop;               /* set before gen is bumped */
    atomic_long tid;               /* the worker's thread id (Linux; else 0) */
    lk_cond cond;
    lk_thread thread;
};

/* The call being run (one at a time: its caller holds busy).  Chunk k is
 * [0, first) for k = 0, else [first + (k - 1) * step, ...), clipped to n.
 * Written by the caller before it publishes the call in `claim`; read by a
 * worker only after it has claimed a chunk, which the caller waits for. */
static struct {
    leaky_range_fn fn;
    void *ctx;
    size_t n, first, step;
} job;
/* epoch << 32 | chunks << 16 | next chunk to claim */
static _Alignas(64) _Atomic uint64_t claim;
static _Alignas(64) atomic_size_t completed;  /* chunks of this call finished */

static struct slot slots[LEAKY_MAX_THREADS - 1];
static int workers;                      /* started and alive; under busy */
static lk_mutex busy = LK_MUTEX_INIT;    /* held by the one caller using the pool */
static lk_mutex sleep_lock = LK_MUTEX_INIT;
static atomic_int num_threads = 1;
static atomic_size_t grain_bytes = 1u << 15;  /* Python sets it at import */
static uint32_t epoch;                   /* calls made; under busy */
static uint64_t last_call_ns;            /* when the last call ended; under busy */

/* The core the last caller ran on (-1: unknown).  The scheduler may wake a
 * worker on the caller's core (when the other cores run another pool's
 * spinning threads), where it would keep the caller off its core while it
 * spins; there it yields instead.  Anywhere else it spins without yielding,
 * so it keeps a core that another pool's spinning thread would take. */
static atomic_int caller_cpu = -1;

/* Set while PyTorch's OpenMP team is awake (openmp.c): idle workers sleep at
 * once instead of spinning on a core that team needs. */
static atomic_int hushed;

void leaky_pool_hush(void) { atomic_store_explicit(&hushed, 1, memory_order_relaxed); }

int leaky_pool_has_thread(long tid)
{
    for (int k = 0; k < workers; k++)  /* (the caller holds busy: workers is stable) */
        if (atomic_load_explicit(&slots[k].tid, memory_order_relaxed) == tid)
            return 1;
    return 0;
}

static void yield_to_caller(void)
{
    int cpu = atomic_load_explicit(&caller_cpu, memory_order_relaxed);
    if (cpu >= 0 && lk_cpu() == cpu)
        lk_yield();
}

/* Wait until s->gen differs from seen; returns the new generation. */
static unsigned wait_for_work(struct slot *s, unsigned seen)
{
    uint64_t start = leaky_now_ns();
    for (unsigned spins = 1;; spins++) {
        unsigned g = atomic_load(&s->gen);
        if (g != seen)
            return g;
        lk_pause();
        if (spins % 64 == 0) {
            if (leaky_now_ns() - start > LEAKY_SPIN_NS || atomic_load(&hushed))
                break;
            yield_to_caller();
        }
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

size_t leaky_plan(size_t n, size_t unit_bytes, const void *out, size_t pieces,
                  size_t *first, size_t *step_out)
{
    /* Boundaries at phase + a multiple of align units: out's 64-byte lines. */
    size_t align = 1, phase = 0;
    if (out != NULL && 64 % unit_bytes == 0 && (uintptr_t)out % unit_bytes == 0) {
        align = 64 / unit_bytes;
        phase = (size_t)((64 - (uintptr_t)out % 64) % 64) / unit_bytes;
    }
    size_t grain_units = atomic_load(&grain_bytes) / unit_bytes;
    size_t step = n / (pieces * LEAKY_CHUNKS_PER_THREAD);
    size_t most = LEAKY_CHUNK_BYTES / unit_bytes;
    if (most < n / (LEAKY_MAX_CHUNKS - 2) + 1)
        most = n / (LEAKY_MAX_CHUNKS - 2) + 1;
    step = step > most ? most : step;
    step = step < grain_units ? grain_units : step;
    step = step ? (step + align - 1) / align * align : align;
    *step_out = step;
    *first = step + phase;  /* chunk 0, the caller's first */
    return *first >= n ? 1 : 2 + (n - *first - 1) / step;
}

void leaky_chunk_range(size_t k, size_t n, size_t first, size_t step, size_t *begin, size_t *end)
{
    *begin = k ? first + (k - 1) * step : 0;
    *end = k ? (n - *begin > step ? *begin + step : n) : (first < n ? first : n);
}

/* Claim and run chunks of the current call until none is left. */
static void run_chunks(void)
{
    for (;;) {
        uint64_t c = atomic_load(&claim);
        const size_t chunks = (size_t)(c >> 16 & 0xffffu), k = (size_t)(c & 0xffffu);
        if (k >= chunks)
            return;
        if (!atomic_compare_exchange_weak(&claim, &c, c + 1))
            continue;
        size_t begin, end;
        leaky_chunk_range(k, job.n, job.first, job.step, &begin, &end);
        job.fn(job.ctx, begin, end);
        atomic_fetch_add(&completed, 1);
    }
}

static void worker_loop(struct slot *s)
{
#if defined(__linux__)
    atomic_store(&s->tid, (long)syscall(SYS_gettid));
#endif
    /* Not gen: the first call may be posted before this thread runs. */
    unsigned seen = atomic_load(&s->seen);
    for (;;) {
        unsigned g = wait_for_work(s, seen);
        if (atomic_load(&s->stop))
            return;
        run_chunks();
        yield_to_caller();
        atomic_store(&s->seen, g);
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
        atomic_store(&slots[k].seen, 0u);
        atomic_store(&slots[k].sleeping, 0);
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
        atomic_store(&s->seen, 0u);
        atomic_store(&s->tid, 0L);
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
    const int team = pieces >= 2 ? leaky_openmp_run(n, unit_bytes, out, fn, ctx, pieces) : 0;
    if (team != 0) {
        if (team < 0) {  /* PyTorch's team is awake but not alone: a worker would add to that */
            fn(ctx, 0, n);
            leaky_openmp_done();
        }
        lk_unlock(&busy);
        return;
    }
    if (pieces >= 2)
        pieces = (size_t)start_workers((int)pieces - 1) + 1;
    if (pieces < 2) {
        lk_unlock(&busy);
        fn(ctx, 0, n);
        return;
    }
    atomic_store_explicit(&caller_cpu, lk_cpu(), memory_order_relaxed);
    atomic_store_explicit(&hushed, 0, memory_order_relaxed);
    job.fn = fn;
    job.ctx = ctx;
    job.n = n;
    const size_t chunks = leaky_plan(n, unit_bytes, out, pieces, &job.first, &job.step);
    atomic_store(&completed, 0);
    epoch++;
    atomic_store(&claim, (uint64_t)epoch << 32 | (uint64_t)chunks << 16);
    /* Workers spinning for work start at once; a sleeping one is woken only
     * for a call long enough to pay for its wake-up, or in a run of calls
     * (the previous one ended less than a spin ago), which it then serves
     * awake. */
    const int wake = n >= LEAKY_WAKE_BYTES / unit_bytes
                     || leaky_now_ns() - last_call_ns < LEAKY_SPIN_NS;
    for (size_t k = 0; k + 1 < pieces && k + 1 < chunks; k++)
        if (wake || !atomic_load(&slots[k].sleeping))
            post(&slots[k]);
    run_chunks();
    /* Only chunks a worker claimed are left: wait for them.  A chunk takes
     * microseconds, so spin; past LEAKY_CLAIMED_NS the worker has lost its
     * core (maybe to this thread), so yield now and then.  Not sooner: a
     * yield on a loaded core gives it away for a whole time slice. */
    uint64_t start = 0;
    for (unsigned spins = 1; atomic_load(&completed) != chunks; spins++) {
        lk_pause();
        if (spins % 64 == 0) {
            if (start == 0)
                start = leaky_now_ns();
            else if (leaky_now_ns() - start > LEAKY_CLAIMED_NS)
                lk_yield();
        }
    }
    last_call_ns = leaky_now_ns();
    leaky_openmp_done();
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
