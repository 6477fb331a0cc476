/* A small persistent thread pool: one entry point, parallel_for over a range.
 *
 * Kernels never see threads: they are range functions fn(ctx, begin, end), so
 * the serial path is the same code with one range.  The calling thread runs
 * the first chunk, and any other it claims, itself.  Modelled on pthreadpool's parallelize_1d_tile and
 * ATen's parallel_for. */
#ifndef LEAKY_THREADPOOL_H
#define LEAKY_THREADPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef void (*leaky_range_fn)(void *ctx, size_t begin, size_t end);

/* Run fn over [0, n) units of unit_bytes bytes each.  A call of at least two
 * grains of bytes (smaller ones run inline on the caller) uses up to
 * num_threads threads: the range is cut into chunks of at least grain bytes,
 * a few per thread, which the caller and the workers claim one at a time.
 * out, if not NULL, is the output the units are written to, unit_bytes
 * apart: every chunk but the first then starts on one of its 64-byte lines
 * (NumPy aligns large arrays to 16 bytes only), so no line is written by two
 * threads.  When the pool is already serving another caller, fn runs on the
 * caller over the whole range: calls never wait for each other. */
void leaky_parallel_for(size_t n, size_t unit_bytes, const void *out, leaky_range_fn fn, void *ctx);

/* Cutting [0, n) for `pieces` threads (leaky_parallel_for's chunks): chunk 0
 * is [0, *first), chunk k > 0 starts at *first + (k - 1) * *step (clipped to
 * n); returns the number of chunks.  leaky_chunk_range gives chunk k's range. */
size_t leaky_plan(size_t n, size_t unit_bytes, const void *out, size_t pieces,
                  size_t *first, size_t *step);
void leaky_chunk_range(size_t k, size_t n, size_t first, size_t step, size_t *begin, size_t *end);

/* A monotonic clock, in nanoseconds. */
uint64_t leaky_now_ns(void);

/* Idle workers sleep at once, until the pool's next call, instead of spinning. */
void leaky_pool_hush(void);
/* Whether a thread id (Linux's gettid) is one of the pool's workers (not
 * before the worker has started running; never off Linux).  Under the pool's
 * lock: from leaky_openmp_run only. */
int leaky_pool_has_thread(long tid);

/* Run the call, cut for `pieces` threads, on PyTorch's OpenMP team if its
 * workers are awake (openmp.c): 1 if it did, 0 if the pool must run it, -1 if
 * the caller must run it alone: the team is awake but shares a core, which
 * leaky_c's worker would only crowd further (its idle workers then sleep:
 * leaky_pool_hush). */
int leaky_openmp_run(size_t n, size_t unit_bytes, const void *out, leaky_range_fn fn, void *ctx,
                     size_t pieces);
/* A call that leaky_openmp_run looked at has ended: the team's next check
 * looks back to here, not over the call itself. */
void leaky_openmp_done(void);

#endif
