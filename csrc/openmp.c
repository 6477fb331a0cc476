/* Large calls on PyTorch's OpenMP team, while its workers are awake.
 *
 * Why: right after PyTorch's parallel ops, its GNU OpenMP (libgomp) workers
 * keep spinning for about 10 ms and hold the other cores.  leaky_c's own
 * worker then has to win a core from them (its 2-thread call ran at the
 * 1-thread speed), while the spinning workers, given the call through
 * GOMP_parallel, take it at once.  But GOMP_parallel returns only once every
 * thread of its team has arrived: a sleeping worker costs a wake-up, one
 * without a core a time slice (3 ms measured after a NumPy matmul, whose
 * OpenBLAS threads spin on that core).  So a call of 1 MiB or more goes to
 * the team only while a worker of the team is on a core and has had one to
 * itself lately (team_state).  Every other call runs on
 * leaky_c's pool (threadpool.c), whose caller never waits for a worker
 * without a core; while the team is awake but shares a core, the call runs on
 * the caller alone and the pool's idle workers sleep instead of spinning
 * against it (leaky_pool_hush), so that the next call finds the team's worker
 * alone on its core (under ThreadSanitizer, whose calls last long, a pool call
 * there kept the team's worker sharing call after call).
 *
 * Where: Linux (per-thread CPU clocks), once libtorch_cpu and a libgomp are
 * loaded (dl_iterate_phdr, looked at again only when objects were loaded
 * since; the libgomp beside libtorch_cpu first); on the main thread only
 * (libgomp gives each thread that opens a parallel region its own team, and
 * PyTorch's ops run on the main thread's); never in a process forked after
 * this module was loaded (libgomp's team does not survive fork(): PyTorch's
 * own parallel ops hang there), nor in one whose parent maps the same
 * libgomp at the same address (forked_from_parent: a fork that loaded
 * leaky_c only after it).  The worker watched is one found asleep in
 * libgomp's code (sleeping_worker), or, where none sleeps but as many other
 * threads as the team has workers are running, the one of those that answers
 * an empty region (roll_call: a team that never sleeps, as in a training
 * loop).  (Not proof against everything: in a fork that imported leaky_c only
 * after it and whose parent cannot be compared (an orphan; see also
 * roll_call), where another thread opened a team of its own, that team's
 * sleeping worker would be taken for the main thread's, and the main
 * thread's region would never end.)
 * The call is cut for at most the team's size (omp_get_max_threads:
 * torch.set_num_threads) and leaky_c's thread count, and runs on the whole
 * team.
 */
#if defined(__linux__)
#define _GNU_SOURCE  /* dl_iterate_phdr, RTLD_NOLOAD, syscall */
#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "threadpool.h"
#include "leaky_c_api.h"

/* Calls of fewer bytes stay on leaky_c's pool: the check (two reads of a
 * clock) and the region cost 2-3 us, which a 400 KB call did not win back
 * (10^5 float32 after a torch matmul: 1.13-1.42x the 1-thread time on the
 * team, 1.01-1.02x on leaky_c's pool; at 10^6, 0.54-0.81x against 0.70-0.73x;
 * benchmarks/RESULTS.md). */
#define LEAKY_TEAM_BYTES ((size_t)1 << 20)

static atomic_int allowed = 1;
static atomic_size_t team_calls;  /* calls run on the team */

void leaky_set_openmp(int allow) { atomic_store(&allowed, allow != 0); }

int leaky_get_openmp(void) { return atomic_load(&allowed); }

size_t leaky_openmp_calls(void) { return atomic_load(&team_calls); }

#if defined(__linux__)

typedef void (*gomp_parallel_fn)(void (*fn)(void *), void *data, unsigned threads, unsigned flags);
typedef int (*omp_int_fn)(void);

/* The runtime's entry points and where its code lies: written once, before
 * `found` is set. */
static gomp_parallel_fn gomp_parallel;
static omp_int_fn omp_max_threads, omp_level;
static uintptr_t gomp_text_begin, gomp_text_end;
static atomic_int found;
static atomic_int forked;

static void after_fork_child(void) { atomic_store(&forked, 1); }

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

/* What a scan of the loaded objects saw (under scan_lock). */
#define GOMP_PATHS 16
static struct {
    unsigned long long adds;  /* objects loaded so far, at the last scan */
    int first;
    char torch_dir[PATH_MAX];
    struct { char path[PATH_MAX]; uintptr_t begin, end; } gomp[GOMP_PATHS];
    int gomps;
} scan;
static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;
/* 1 if no parent of this process shares its libgomp (forked_from_parent):
 * only then may a region find the team (roll_call). */
static int own_runtime;

static int scan_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)data;
    if (scan.first) {
        scan.first = 0;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs)) {
            if (info->dlpi_adds == scan.adds)
                return 1;  /* nothing loaded since the last scan */
            scan.adds = info->dlpi_adds;
        }
    }
    const char *name = info->dlpi_name, *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    if (strncmp(base, "libtorch_cpu.", 13) == 0 && (size_t)(base - name) < PATH_MAX) {
        memcpy(scan.torch_dir, name, (size_t)(base - name));
        scan.torch_dir[base - name] = '\0';
    } else if (strncmp(base, "libgomp", 7) == 0 && scan.gomps < GOMP_PATHS
               && strlen(name) < PATH_MAX) {
        uintptr_t begin = UINTPTR_MAX, end = 0;  /* its executable segments */
        for (int k = 0; k < info->dlpi_phnum; k++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
            if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
                const uintptr_t at = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
                begin = at < begin ? at : begin;
                end = at + ph->p_memsz > end ? at + ph->p_memsz : end;
            }
        }
        strcpy(scan.gomp[scan.gomps].path, name);
        scan.gomp[scan.gomps].begin = begin;
        scan.gomp[scan.gomps++].end = end;
    }
    return 0;
}

/* The line of a /proc/<pid>/maps file whose range holds `at`: 1 found, 0
 * not, -1 unreadable.  Only whole lines are matched (a longer one is skipped). */
static int mapping_at(const char *file, uintptr_t at, char *line, int size)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return -1;
    int hit = 0;
    for (int start = 1; !hit && fgets(line, size, f) != NULL;) {
        unsigned long long begin, end;
        const int whole = strchr(line, '\n') != NULL;
        hit = start && whole && sscanf(line, "%llx-%llx", &begin, &end) == 2
              && begin <= at && at < end;
        start = whole;
    }
    fclose(f);
    return hit;
}

/* Whether address space layout randomisation is on for this process. */
static int randomised(void)
{
    FILE *f = fopen("/proc/sys/kernel/randomize_va_space", "r");
    int level = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &level) != 1)
            level = 0;
        fclose(f);
    }
    return level > 0 && !(personality(0xffffffff) & ADDR_NO_RANDOMIZE);
}

/* Whether this process is a fork() of its parent that kept the parent's
 * libgomp: the parent maps the same file at the same address (an exec'd
 * process loads it elsewhere: ASLR).  libgomp's team does not survive fork(),
 * and a child that imported leaky_c after the fork has no fork handler of
 * ours to say so: its region would wait for threads that are not there.
 * 1 yes, 0 no, -1 unknown: the parent's map unreadable, the same map without
 * ASLR (an exec'd child there looks the same), or a parent that may not be
 * the one that forked (init, for an orphan; a subreaper is not told apart,
 * see roll_call). */
static int forked_from_parent(void)
{
    static char mine[PATH_MAX + 256], theirs[PATH_MAX + 256];
    char file[64];
    if (getpid() == 1)  /* a namespace's first process: exec'd, not forked */
        return 0;
    const pid_t parent = getppid();
    if (parent <= 1)
        return -1;
    snprintf(file, sizeof file, "/proc/%d/maps", (int)parent);
    const int own = mapping_at("/proc/self/maps", gomp_text_begin, mine, (int)sizeof mine);
    const int other = mapping_at(file, gomp_text_begin, theirs, (int)sizeof theirs);
    if (own != 1 || other < 0)
        return -1;
    if (other == 0 || strcmp(mine, theirs) != 0)
        return 0;
    return randomised() ? 1 : -1;
}

/* Whether PyTorch's libgomp is loaded, looking again if objects were loaded. */
static int runtime_found(void)
{
    if (atomic_load_explicit(&found, memory_order_acquire))
        return 1;
    pthread_mutex_lock(&scan_lock);
    scan.first = 1;
    scan.torch_dir[0] = '\0';
    scan.gomps = 0;
    dl_iterate_phdr(scan_object, NULL);
    int pick = -1;  /* the libgomp beside libtorch_cpu, else the first */
    for (int k = 0; k < scan.gomps && scan.torch_dir[0]; k++)
        if (pick < 0 || strncmp(scan.gomp[k].path, scan.torch_dir, strlen(scan.torch_dir)) == 0)
            pick = k;
    void *gomp = pick >= 0 ? dlopen(scan.gomp[pick].path, RTLD_NOW | RTLD_NOLOAD) : NULL;
    if (gomp != NULL) {  /* kept open */
        void *parallel = dlsym(gomp, "GOMP_parallel"), *max = dlsym(gomp, "omp_get_max_threads");
        void *level = dlsym(gomp, "omp_get_level");
        if (parallel && max && level && !atomic_load(&found)) {
            /* Object pointers to function pointers: POSIX guarantees dlsym's. */
            memcpy(&gomp_parallel, &parallel, sizeof parallel);
            memcpy(&omp_max_threads, &max, sizeof max);
            memcpy(&omp_level, &level, sizeof level);
            gomp_text_begin = scan.gomp[pick].begin;
            gomp_text_end = scan.gomp[pick].end;
            const int from_parent = forked_from_parent();
            if (from_parent == 1)
                atomic_store(&forked, 1);
            own_runtime = from_parent == 0;
            atomic_store_explicit(&found, 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&scan_lock);
    return atomic_load(&found);
}

static int main_thread(void)
{
    static _Thread_local int is_main = -1;
    if (is_main < 0)
        is_main = syscall(SYS_gettid) == getpid();
    return is_main;
}

static uint64_t ns(const struct timespec *t)
{
    return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

/* ThreadSanitizer does not see libgomp's own synchronisation (libgomp is not
 * instrumented): the region's start and end are told to it, so that it still
 * checks everything else the team's threads do. */
#if defined(__SANITIZE_THREAD__)
#define LEAKY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LEAKY_TSAN 1
#endif
#endif
#ifdef LEAKY_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_acquire(addr) __tsan_acquire(addr)
#define tsan_release(addr) __tsan_release(addr)
#else
#define tsan_acquire(addr) ((void)(addr))
#define tsan_release(addr) ((void)(addr))
#endif

/* A worker of the team, and its CPU clock and the wall clock at the last
 * check (main thread only). */
static pid_t team_tid;
static atomic_int watching;  /* team_tid != 0, for leaky_openmp_status from any thread */
static uint64_t last_cpu, last_wall, last_active, next_search;
static int checked;  /* this call's state was checked: leaky_openmp_done re-reads the clocks */
#define LEAKY_SEARCH_NS 50000000u
/* A worker asleep this long is dropped, and the next search picks the busiest
 * worker again (it may have been another thread's team's). */
#define LEAKY_REWATCH_NS 1000000000u

/* Linux's clock id for one thread's CPU time (what glibc's
 * pthread_getcpuclockid builds: CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD). */
static clockid_t thread_clock(pid_t tid) { return (clockid_t)(~(unsigned)tid << 3 | 6u); }

static void watch(pid_t tid)
{
    team_tid = tid;
    atomic_store_explicit(&watching, tid != 0, memory_order_relaxed);
}

/* The thread of this process, asleep in libgomp's code, that has used the
 * most CPU time: a worker of a team that exists, most likely the main
 * thread's, which runs PyTorch's ops (another thread's team, mostly idle,
 * would be watched in vain).  /proc/self/task/<tid>/syscall ends with the
 * program counter of a thread blocked in a system call, and libgomp's futex
 * waits are its own instructions on x86-64.  0 if none: no team yet, its
 * workers all running, or a forked child, where the threads libgomp believes
 * it has are gone (a region there never ends).  running: the threads seen
 * running (not in a system call), but for the caller and leaky_c's pool
 * (their number, and the first LEAKY_RUNNING of them).
 * Reads one small /proc file per thread (about 20 us each), of at most
 * LEAKY_SEARCH_THREADS threads. */
#define LEAKY_SEARCH_THREADS 256
#define LEAKY_RUNNING 64
struct running { int count; pid_t tids[LEAKY_RUNNING]; };
static pid_t sleeping_worker(struct running *running)
{
    DIR *tasks = opendir("/proc/self/task");
    running->count = 0;
    if (tasks == NULL)
        return 0;
    pid_t best = 0;
    uint64_t best_cpu = 0;
    const pid_t self = (pid_t)syscall(SYS_gettid);
    int looked = 0;
    for (struct dirent *e; looked < LEAKY_SEARCH_THREADS && (e = readdir(tasks)) != NULL;) {
        const pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
        char path[64], text[256];
        struct timespec cpu;
        if (tid <= 0 || tid == self)
            continue;
        looked++;
        snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        const size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = '\0';
        if (strncmp(text, "running", 7) == 0 && !leaky_pool_has_thread((long)tid)) {
            if (running->count < LEAKY_RUNNING)
                running->tids[running->count] = tid;
            running->count++;
        }
        const char *last = strrchr(text, ' ');
        const uintptr_t pc = last ? (uintptr_t)strtoull(last + 1, NULL, 16) : 0;
        if (pc >= gomp_text_begin && pc < gomp_text_end
                && clock_gettime(thread_clock(tid), &cpu) == 0 && (best == 0 || ns(&cpu) > best_cpu)) {
            best = tid;
            best_cpu = ns(&cpu);
        }
    }
    closedir(tasks);
    return best;
}

/* Where the team's worker is (each read of its CPU clock takes about 0.7
 * us): ASLEEP (it has not run since the last call ended: one read), ON_CORE
 * (its clock moved between two reads, and it ran 3/4 of the time since the
 * last call ended: leaky_openmp_done; sharing a core with one other spinning
 * thread gives it about half, and under ThreadSanitizer PyTorch's own op gave
 * it 0.89-0.92) or SHARING (on a core now, but not that much of the time
 * since: it shared one with another pool's spinning thread or with leaky_c's,
 * or slept part of that time, which costs a call on the caller alone, not a
 * wait).  A version
 * that looked back only 2 ms was not kept: its one models run gave the CNN
 * step's activation 0.22x torch.nn's (5177 us against 1151; 0.72x with
 * LEAKY_C_OPENMP=0 right after), on a noisy host, and nothing showed it
 * faster. */
enum { ASLEEP, SHARING, ON_CORE };
static int team_state(void)
{
    const clockid_t clock = thread_clock(team_tid);
    struct timespec t;
    if (clock_gettime(clock, &t) != 0) {
        watch(0);  /* it ended: look for another */
        return ASLEEP;
    }
    const uint64_t before = ns(&t), w = leaky_now_ns(), since = w - last_wall;
    if (before == last_cpu) {
        last_wall = w;
        if (w - last_active > LEAKY_REWATCH_NS)
            watch(0);
        return ASLEEP;
    }
    last_active = w;
    clock_gettime(clock, &t);
    const int moved = ns(&t) != before;
    const int alone = (ns(&t) - last_cpu) * 4 >= since * 3;
    last_cpu = ns(&t);
    last_wall = w;
    return !moved ? ASLEEP : alone ? ON_CORE : SHARING;
}

/* A worker of the main thread's team, from inside: an empty region in which
 * the first thread other than the caller gives its id.  For a team that
 * never sleeps (a training loop: PyTorch's ops follow each other within
 * libgomp's spin), which sleeping_worker never sees.  know_worker runs it
 * only where no libgomp thread sleeps and as many other threads as the team
 * has workers are running, which a spinning team is, and keeps the answer
 * only if it came from one of those.  The running threads may be another
 * pool's (OpenBLAS's after a NumPy matmul) while the team sleeps: the region
 * then costs a wake-up, and after each such miss the next waits four times
 * longer (1 s to about a minute); where PyTorch has run no parallel op yet,
 * it starts the team (once), as PyTorch's first one would, and a process
 * forked after that inherits a team that does not survive fork, as after
 * any PyTorch parallel op.  Never in a process known to be a fork (the fork
 * handler) or not known not to be one (own_runtime: forked_from_parent).
 * Not proof against everything: an orphan fork whose parent exited and
 * that a subreaper (not init) adopted looks exec'd, and its region would
 * never end (as PyTorch's own parallel ops there). */
struct roll { pid_t caller; _Atomic pid_t worker; };

static void answer(void *arg)
{
    struct roll *r = arg;
    tsan_acquire(r);
    pid_t none = 0;
    const pid_t tid = (pid_t)syscall(SYS_gettid);
    if (tid != r->caller)
        atomic_compare_exchange_strong(&r->worker, &none, tid);
    tsan_release(&r->worker);
}

static pid_t roll_call(int team)
{
    struct roll r = {.caller = (pid_t)syscall(SYS_gettid)};
    atomic_init(&r.worker, 0);
    tsan_release(&r);
    gomp_parallel(answer, &r, (unsigned)team, 0);
    tsan_acquire(&r.worker);
    return atomic_load(&r.worker);
}

static int among(pid_t tid, const struct running *r)
{
    for (int k = 0; k < r->count && k < LEAKY_RUNNING; k++)
        if (r->tids[k] == tid)
            return 1;
    return 0;
}

/* Find the team's worker.  A search that finds none waits twice as long as
 * the last before the next (50 ms, doubling up to 3.2 s): code where no
 * worker can be found costs a search now and then, not one per call.  1 if a
 * worker is watched. */
#define LEAKY_ROLL_NS 1000000000u
static uint64_t search_gap = LEAKY_SEARCH_NS, roll_gap = LEAKY_ROLL_NS, next_roll;
static int know_worker(int team)
{
    if (team_tid != 0)
        return 1;
    const uint64_t w = leaky_now_ns();
    if (w < next_search)
        return 0;
    struct running running;
    pid_t tid = sleeping_worker(&running);
    if (tid == 0 && own_runtime && running.count >= team - 1 && w >= next_roll) {
        tid = roll_call(team);
        if (!among(tid, &running)) {  /* the team was not the one running */
            tid = 0;
            next_roll = w + roll_gap;
            roll_gap = roll_gap < 64 * (uint64_t)LEAKY_ROLL_NS ? 4 * roll_gap : roll_gap;
        }
    }
    struct timespec t;
    if (tid == 0 || clock_gettime(thread_clock(tid), &t) != 0) {
        next_search = w + search_gap;
        search_gap = search_gap < 64 * (uint64_t)LEAKY_SEARCH_NS ? 2 * search_gap : search_gap;
        return 0;
    }
    watch(tid);
    search_gap = LEAKY_SEARCH_NS;
    next_search = w + LEAKY_SEARCH_NS;
    last_cpu = ns(&t);
    last_wall = last_active = w;
    return 1;
}

struct omp_call {
    leaky_range_fn fn;
    void *ctx;
    size_t n, first, step, chunks;
    atomic_size_t next;
};

static void omp_body(void *arg)
{
    struct omp_call *c = arg;
    tsan_acquire(c);
    for (;;) {
        const size_t k = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (k >= c->chunks) {
            tsan_release(&c->next);
            return;
        }
        size_t begin, end;
        leaky_chunk_range(k, c->n, c->first, c->step, &begin, &end);
        c->fn(c->ctx, begin, end);
    }
}

int leaky_openmp_run(size_t n, size_t unit_bytes, const void *out, leaky_range_fn fn, void *ctx,
                     size_t pieces)
{
    if (n < LEAKY_TEAM_BYTES / unit_bytes || !atomic_load_explicit(&allowed, memory_order_relaxed)
            || atomic_load(&forked) || !main_thread() || !runtime_found())
        return 0;
    /* (inside a region of its own, the main thread's next region is a nested one) */
    const int team = omp_level() == 0 ? omp_max_threads() : 1;
    if (team < 2 || !know_worker(team))
        return 0;
    const int state = team_state();
    checked = 1;
    if (state == SHARING)
        leaky_pool_hush();
    if (state != ON_CORE)
        return state == SHARING ? -1 : 0;
    struct omp_call c = {.fn = fn, .ctx = ctx, .n = n};
    /* Cut for at most `pieces` threads, but run on the whole team: libgomp
     * ends the workers beyond a smaller team, and PyTorch's next op would
     * start them again. */
    c.chunks = leaky_plan(n, unit_bytes, out, pieces < (size_t)team ? pieces : (size_t)team,
                          &c.first, &c.step);
    atomic_init(&c.next, 0);
    leaky_pool_hush();
    tsan_release(&c);
    gomp_parallel(omp_body, &c, (unsigned)team, 0);
    tsan_acquire(&c.next);
    atomic_fetch_add_explicit(&team_calls, 1, memory_order_relaxed);
    leaky_openmp_done();
    return 1;
}

void leaky_openmp_done(void)
{
    struct timespec t;
    if (!main_thread() || !checked)
        return;
    checked = 0;
    if (team_tid == 0 || clock_gettime(thread_clock(team_tid), &t) != 0)
        return;
    last_cpu = ns(&t);
    last_wall = leaky_now_ns();
}

int leaky_openmp_status(void)
{
    if (!atomic_load(&allowed) || atomic_load(&forked))
        return 0;
    return !runtime_found() ? 1 : atomic_load_explicit(&watching, memory_order_relaxed) ? 3 : 2;
}

#else  /* no per-thread CPU clocks or dl_iterate_phdr here: leaky_c's pool only */

int leaky_openmp_run(size_t n, size_t unit_bytes, const void *out, leaky_range_fn fn, void *ctx,
                     size_t pieces)
{
    (void)n, (void)unit_bytes, (void)out, (void)fn, (void)ctx, (void)pieces;
    return 0;
}

void leaky_openmp_done(void) {}

int leaky_openmp_status(void) { return 0; }

#endif
