/* A bounded cache of large output blocks, behind the allocating calls
 * (leaky_c/_blocks.py makes arrays of them).
 *
 * A fresh NumPy array above glibc's largest mmap threshold (32 MiB) is a new
 * mapping every time, faulted in page by page by the kernel that writes it:
 * an allocating call in a steady loop took 2.5-3x the time of the same call
 * into out= (benchmarks/RESULTS.md).  Here a block whose array has died waits,
 * mapped, for the next call that needs its size.
 *
 *   - A block is its own mapping: a header page (its capacity), then the
 *     caller's bytes on a 2 MiB boundary.  Capacities are whole multiples of
 *     2 MiB, advised for transparent huge pages where the system has them:
 *     sizes that round to the same capacity share blocks, and one page fault
 *     maps 2 MiB.
 *   - leaky_block_take(n) hands out the most recently returned idle block of
 *     the capacity n needs, else a new one (SPARE bytes follow every block);
 *     leaky_block_give(p) takes a block back (the array's owner calls it once
 *     nothing refers to the array).
 *   - Idle blocks hold at most the limit (leaky_set_block_cache_bytes): the
 *     oldest are freed to make room, a block larger than the limit is freed
 *     at once, and a limit of 0 frees every block as it comes back.  Blocks in
 *     use do not count: they are the caller's arrays.
 *   - One spin lock guards the idle list; nothing is allocated or freed while
 *     it is held.  fork(): the prepare handler takes it, so the child's list
 *     is consistent; the child owns copies of the idle blocks and uses them.
 */
#define _DEFAULT_SOURCE  /* mmap's MAP_ANONYMOUS and madvise under -std=c11 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "leaky_c_api.h"
#if defined(_WIN32)
#include <malloc.h>
#else
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#define HEADER 64u  /* Windows: the header before a block */
#define CLASS ((size_t)2 << 20)  /* capacities are multiples of a 2 MiB huge page */
/* Bytes past its capacity that every block also has: the caller may start its data
 * up to 4080 bytes into a block (leaky_c/_blocks.py puts a result at its input's
 * address modulo 4096), so a result of a whole number of 2 MiB still fits its class. */
#define SPARE ((size_t)4096)
#define MAX_IDLE 32

static atomic_flag lock = ATOMIC_FLAG_INIT;
static void *idle[MAX_IDLE];            /* oldest first; under lock */
static int idle_count;
static size_t idle_bytes;
static atomic_size_t limit = 0;         /* Python sets it at import */

static void acquire(void)
{
    while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
        ;  /* held for a few loads and stores */
}
static void release(void) { atomic_flag_clear_explicit(&lock, memory_order_release); }

#if !defined(_WIN32)
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(acquire, release, release); }
#endif

/* A block is the caller's pointer; its capacity is stored just before it. */
static size_t capacity_of(const void *block) { return ((const size_t *)block)[-1]; }

#if defined(_WIN32)
/* A 64-byte header, then the block and its spare bytes. */
static void *allocate(size_t capacity)
{
    char *base = _aligned_malloc(capacity + HEADER + SPARE, HEADER);
    if (base == NULL)
        return NULL;
    ((size_t *)(base + HEADER))[-1] = capacity;
    return base + HEADER;
}
static void deallocate(void *block) { _aligned_free((char *)block - HEADER); }
#else
/* The pages past the capacity that hold the spare bytes. */
static size_t tail_bytes(size_t page) { return (SPARE + page - 1) / page * page; }

/* One page for the header, then the block on a 2 MiB boundary and its spare
 * bytes: map 2 MiB more than needed and unmap what lies outside. */
static void *allocate(size_t capacity)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), tail = tail_bytes(page);
    const size_t mapped = capacity + CLASS + tail;
    char *base = mmap(NULL, mapped, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    char *block = (char *)(((uintptr_t)base + page + CLASS - 1) / CLASS * CLASS);
    char *end = block + capacity + tail;
    if (block - page > base)
        munmap(base, (size_t)(block - page - base));
    if (end < base + mapped)
        munmap(end, (size_t)(base + mapped - end));
#if defined(MADV_HUGEPAGE)
    madvise(block, capacity, MADV_HUGEPAGE);  /* advice: failure changes nothing */
#endif
    ((size_t *)block)[-1] = capacity;
    return block;
}
static void deallocate(void *block)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    munmap((char *)block - page, page + capacity_of(block) + tail_bytes(page));
}
#endif

/* Remove the oldest idle blocks until `room` more bytes fit under `cap` (and
 * a slot is free, for a block to come); they go to `out`, for the caller to
 * free after the lock. */
static int evict(size_t room, size_t cap, int slot, void **out)
{
    int k = 0;
    while (idle_count > 0 && (idle_bytes + room > cap || (slot && idle_count == MAX_IDLE))) {
        out[k] = idle[0];
        idle_bytes -= capacity_of(idle[0]);
        for (int m = 1; m < idle_count; m++)
            idle[m - 1] = idle[m];
        idle_count--;
        k++;
    }
    return k;
}

void *leaky_block_take(size_t nbytes)
{
#if !defined(_WIN32)
    pthread_once(&atfork_once, register_atfork);
#endif
    if (nbytes == 0 || nbytes > SIZE_MAX / 2)
        return NULL;
    const size_t capacity = (nbytes + CLASS - 1) / CLASS * CLASS;
    void *block = NULL;
    acquire();
    for (int k = idle_count - 1; k >= 0; k--)
        if (capacity_of(idle[k]) == capacity) {
            block = idle[k];
            idle_bytes -= capacity;
            for (int m = k + 1; m < idle_count; m++)
                idle[m - 1] = idle[m];
            idle_count--;
            break;
        }
    release();
    return block != NULL ? block : allocate(capacity);
}

void leaky_block_give(void *p)
{
    if (p == NULL)
        return;
    void *block = p, *freed[MAX_IDLE + 1];
    const size_t capacity = capacity_of(block), cap = atomic_load(&limit);
    int k = 0;
    acquire();
    if (capacity <= cap) {
        k = evict(capacity, cap, 1, freed);
        idle[idle_count++] = block;
        idle_bytes += capacity;
    } else {
        freed[k++] = block;
    }
    release();
    while (k > 0)
        deallocate(freed[--k]);
}

/* Free idle blocks until they hold at most `cap` bytes; returns the bytes freed. */
static size_t trim(size_t cap)
{
    void *freed[MAX_IDLE];
    acquire();
    size_t before = idle_bytes;
    int k = evict(0, cap, 0, freed);
    size_t after = idle_bytes;
    release();
    while (k > 0)
        deallocate(freed[--k]);
    return before - after;
}

void leaky_set_block_cache_bytes(size_t bytes)
{
    atomic_store(&limit, bytes);
    trim(bytes);
}

size_t leaky_block_cache_release(void) { return trim(0); }

size_t leaky_get_block_cache_bytes(void) { return atomic_load(&limit); }

size_t leaky_block_cache_held(void)
{
    acquire();
    size_t held = idle_bytes;
    release();
    return held;
}
