/* The thread pool (csrc/threadpool.c) on its own, on Windows (under wine, by
 * tools/check_windows.sh) and natively:
 *
 *   - every index of [0, n) is run exactly once, the split over 1-16 threads
 *     at a grain of one byte (so every call splits as far as it can);
 *   - 4 OS threads call at once, each checking its own ranges, while a fifth
 *     changes the thread count between 1 and 16;
 *   - a watchdog turns a hang (a lost wake-up, a deadlock) into a failure;
 *   - the CPU time the process spends after a parallel call while its caller
 *     sleeps, that is the workers spinning before they sleep: at most
 *     MAX_SPIN_MS per call (LEAKY_SPIN_NS is 0.2 ms a worker; a coarse clock,
 *     such as Windows' GetTickCount64 with its 16 ms steps, spins far longer);
 *   - mapped(), the streaming-store policy's residency probe (mincore, or
 *     QueryWorkingSetEx on Windows): 0 for fresh pages, 1 once written.
 *
 * It includes csrc/elementwise.c to reach the static mapped(), so it is built
 * with every other csrc/ file.  Exit status 0 only when every check passed. */
#include "../../csrc/elementwise.c"  /* first: its _DEFAULT_SOURCE; mapped() */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <windows.h>
typedef HANDLE thread_t;
static DWORD WINAPI trampoline(LPVOID arg);
static void start(thread_t *t, void *arg)
{
    *t = CreateThread(NULL, 0, trampoline, arg, 0, NULL);
    if (*t == NULL) { printf("CreateThread failed\n"); exit(2); }
}
static void join(thread_t t) { WaitForSingleObject(t, INFINITE); CloseHandle(t); }
static void sleep_ms(unsigned ms) { Sleep(ms); }
static double cpu_seconds(void)  /* the whole process: user + kernel */
{
    FILETIME created, exited, kernel, user;
    GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user);
    uint64_t k = ((uint64_t)kernel.dwHighDateTime << 32) | kernel.dwLowDateTime;
    uint64_t u = ((uint64_t)user.dwHighDateTime << 32) | user.dwLowDateTime;
    return (double)(k + u) * 1e-7;
}
static void *fresh_pages(size_t n)
{
    return VirtualAlloc(NULL, n, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}
#else
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>
static void *fresh_pages(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
typedef pthread_t thread_t;
static void *trampoline(void *arg);
static void start(thread_t *t, void *arg)
{
    if (pthread_create(t, NULL, trampoline, arg) != 0) { printf("pthread_create failed\n"); exit(2); }
}
static void join(thread_t t) { pthread_join(t, NULL); }
static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
#endif

#define MAX_SPIN_MS 2.0
#define WATCHDOG_S 120
#define CALLERS 4

static atomic_long checks, failures;

static void fail(const char *what, size_t n, int threads)
{
    if (atomic_fetch_add(&failures, 1) < 20)
        printf("FAIL %s: n=%zu threads=%d\n", what, n, threads);
}

/* ---- every index once ------------------------------------------------------ */

struct marks {
    atomic_uchar *seen;
};

static void mark(void *ctx, size_t begin, size_t end)
{
    struct marks *m = ctx;
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add_explicit(&m->seen[i], 1, memory_order_relaxed);
}

/* One call over n units of item bytes; whether every index ran once. */
static int covers_once(size_t n, size_t item, atomic_uchar *seen)
{
    struct marks m = {seen};
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&seen[i], 0, memory_order_relaxed);
    static const char out[64 * 1024 * 8 + 64];  /* a pointer to align against, never written */
    leaky_parallel_for(n, item, out + 3 * item % 64, mark, &m);
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&seen[i], memory_order_relaxed) != 1)
            return 0;
    return 1;
}

static const size_t sizes[] = {0, 1, 2, 7, 63, 64, 65, 1000, 4097, 65537};
#define MAX_N 65537

static void test_split(void)
{
    atomic_uchar *seen = malloc(MAX_N);
    for (int threads = 1; threads <= 16; threads++) {
        leaky_set_num_threads(threads);
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            for (size_t item = 1; item <= 8; item *= 2) {
                atomic_fetch_add(&checks, 1);
                if (!covers_once(sizes[s], item, seen))
                    fail("split: an index ran other than once", sizes[s], threads);
            }
    }
    free(seen);
}

/* ---- concurrent callers while the thread count changes --------------------- */

static atomic_int stop_callers;

struct caller {
    int id;
    long calls;
};

static void caller_loop(struct caller *c)
{
    atomic_uchar *seen = malloc(MAX_N);
    for (unsigned k = (unsigned)c->id; !atomic_load(&stop_callers); k++) {
        size_t n = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];
        atomic_fetch_add(&checks, 1);
        if (!covers_once(n, (size_t)1 << (k % 4), seen))
            fail("concurrent callers: an index ran other than once", n, leaky_get_num_threads());
        c->calls++;
    }
    free(seen);
}

static void changer_loop(void)
{
    for (int k = 0; !atomic_load(&stop_callers); k++) {
        leaky_set_num_threads(1 + k % 16);
        if (k % 7 == 0)
            sleep_ms(1);
    }
}

enum role { CALLER, CHANGER, WATCHDOG };
struct task {
    enum role role;
    struct caller caller;
};

static atomic_int finished;

static void watchdog(void)
{
    for (int ms = 0; ms < WATCHDOG_S * 1000; ms += 10) {
        if (atomic_load(&finished))
            return;
        sleep_ms(10);
    }
    printf("FAIL: no progress for %d s: the pool hangs\n", WATCHDOG_S);
    fflush(stdout);
    _Exit(3);
}

#if defined(_WIN32)
static DWORD WINAPI trampoline(LPVOID arg)
#else
static void *trampoline(void *arg)
#endif
{
    struct task *j = arg;
    if (j->role == CALLER)
        caller_loop(&j->caller);
    else if (j->role == CHANGER)
        changer_loop();
    else
        watchdog();
    return 0;
}

static void test_concurrent(unsigned ms)
{
    struct task jobs[CALLERS + 1];
    thread_t threads[CALLERS + 1];
    for (int k = 0; k <= CALLERS; k++) {
        jobs[k].role = k < CALLERS ? CALLER : CHANGER;
        jobs[k].caller.id = k;
        jobs[k].caller.calls = 0;
        start(&threads[k], &jobs[k]);
    }
    sleep_ms(ms);
    atomic_store(&stop_callers, 1);
    long calls = 0;
    for (int k = 0; k <= CALLERS; k++) {
        join(threads[k]);
        calls += jobs[k].caller.calls;
    }
    printf("concurrent: %d callers, %ld calls in %u ms while the thread count changed\n",
           CALLERS, calls, ms);
    if (calls < CALLERS)
        fail("concurrent callers made no calls", 0, 0);
}

/* ---- CPU spent spinning after a call ------------------------------------- */

static void nothing(void *ctx, size_t begin, size_t end) { (void)ctx, (void)begin, (void)end; }

/* Milliseconds of CPU per cycle of (a call on `threads` threads, then the
 * caller sleeping pause_ms): what the workers burn before they sleep. */
static double spin_ms_per_call(int threads, int cycles, unsigned pause_ms)
{
    static const char out[4096];
    leaky_set_num_threads(threads);
    leaky_parallel_for(4096, 1, out, nothing, NULL);  /* the workers exist */
    sleep_ms(50);
    double before = cpu_seconds();
    for (int k = 0; k < cycles; k++) {
        leaky_parallel_for(4096, 1, out, nothing, NULL);
        sleep_ms(pause_ms);
    }
    return (cpu_seconds() - before) * 1e3 / cycles;
}

/* ---- mapped() ------------------------------------------------------------ */

static void test_mapped(void)
{
    const size_t n = (size_t)64 << 20;
    char *p = fresh_pages(n);
    if (p == NULL) { fail("no memory for the mapped() test", n, 0); return; }
    const int before = mapped(p, n);
    memset(p, 1, n);
    const int after = mapped(p, n);
    printf("mapped(): %d for fresh pages, %d once written (want 0, 1)\n", before, after);
    atomic_fetch_add(&checks, 2);
    if (before != 0)
        fail("mapped() says fresh pages are resident", n, 0);
    if (after != 1)
        fail("mapped() says written pages are not resident", n, 0);
}

int main(int argc, char **argv)
{
    unsigned concurrent_ms = argc > 1 ? (unsigned)atoi(argv[1]) : 2000;
    struct task dog = {WATCHDOG, {0, 0}};
    thread_t dog_thread;
    start(&dog_thread, &dog);
    leaky_set_grain_bytes(1);
    test_split();
    printf("split over 1-16 threads at a 1-byte grain: %ld checks, %ld failures\n",
           (long)atomic_load(&checks), (long)atomic_load(&failures));
    test_concurrent(concurrent_ms);
    test_mapped();
    double spin = spin_ms_per_call(4, 40, 25);
    atomic_fetch_add(&checks, 1);
    printf("CPU after a 4-thread call, while the caller sleeps: %.3f ms a call (at most %.1f)\n",
           spin, MAX_SPIN_MS);
    if (spin > MAX_SPIN_MS)
        fail("workers spin too long after a call", 4096, 4);
    atomic_store(&finished, 1);
    join(dog_thread);
    long c = atomic_load(&checks), f = atomic_load(&failures);
    printf("%s: %ld checks, %ld failures\n", f ? "FAILED" : "OK", c, f);
    return f != 0;
}
