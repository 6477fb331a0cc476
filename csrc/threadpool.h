/* A small persistent thread pool: one entry point, parallel_for over a range.
 *
 * Kernels never see threads: they are range functions fn(ctx, begin, end), so
 * the serial path is the same code with one range.  The calling thread runs
 * the first range itself.  Modelled on pthreadpool's parallelize_1d_tile and
 * ATen's parallel_for. */
#ifndef LEAKY_THREADPOOL_H
#define LEAKY_THREADPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef void (*leaky_range_fn)(void *ctx, size_t begin, size_t end);

/* Run fn over [0, n) units of unit_bytes bytes each.  The range is split into
 * at most num_threads contiguous pieces, each at least grain bytes (so small
 * calls run inline on the caller); every piece but the first starts at
 * phase + a multiple of align units.  When the pool is already serving
 * another caller, fn runs on the caller over the whole range: calls never
 * wait for each other. */
void leaky_parallel_for(size_t n, size_t unit_bytes, size_t align, size_t phase,
                        leaky_range_fn fn, void *ctx);

/* The phase that puts every range boundary on a 64-byte line of out, whose
 * elements are itemsize bytes apart (align = 64 / itemsize): the index of
 * the first element that starts a line.  NumPy aligns large arrays to 16
 * bytes only, so without it two threads would share a line at each boundary. */
static inline size_t leaky_line_phase(const void *out, size_t itemsize)
{
    uintptr_t p = (uintptr_t)out;
    return p % itemsize ? 0 : (size_t)((64 - p % 64) % 64) / itemsize;
}

#endif
