/* A small persistent thread pool: one entry point, parallel_for over a range.
 *
 * Kernels never see threads: they are range functions fn(ctx, begin, end), so
 * the serial path is the same code with one range.  The calling thread runs
 * the first chunk, and any other it claims, itself.  Modelled on pthreadpool's parallelize_1d_tile and
 * ATen's parallel_for. */
#ifndef LEAKY_THREADPOOL_H
#define LEAKY_THREADPOOL_H

#include <stddef.h>

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

/* The same split over the OpenMP runtime given to leaky_set_openmp, at its
 * thread count (omp_get_max_threads): each thread of the team claims chunks
 * until none is left.  Without a runtime, leaky_parallel_for. */
void leaky_parallel_for_openmp(size_t n, size_t unit_bytes, const void *out, leaky_range_fn fn,
                               void *ctx);

#endif
