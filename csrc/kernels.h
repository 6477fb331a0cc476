/* The kernel table each CPU target fills in, and the targets that exist. */
#ifndef LEAKY_KERNELS_H
#define LEAKY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

struct leaky_kernels {
    void (*fwd_f32)(const float *x, float *y, size_t n, float a, int stream);
    void (*fwd_f64)(const double *x, double *y, size_t n, double a, int stream);
    void (*bwd_f32)(const float *g, const float *x, float *out, size_t n, float a, int stream);
    void (*bwd_f64)(const double *g, const double *x, double *out, size_t n, double a, int stream);
    void (*fwd_f16)(const uint16_t *x, uint16_t *y, size_t n, float a, int stream);
    void (*bwd_f16)(const uint16_t *g, const uint16_t *x, uint16_t *out, size_t n, float a, int stream);
    void (*fwd_bf16)(const uint16_t *x, uint16_t *y, size_t n, float a, int stream);
    void (*bwd_bf16)(const uint16_t *g, const uint16_t *x, uint16_t *out, size_t n, float a, int stream);
    double (*neg_dot_f32)(const float *x, const float *g, size_t n);
    double (*neg_dot_f64)(const double *x, const double *g, size_t n);
    double (*neg_dot_f16)(const uint16_t *x, const uint16_t *g, size_t n);
    double (*neg_dot_bf16)(const uint16_t *x, const uint16_t *g, size_t n);
    void (*copy)(const unsigned char *src, unsigned char *dst, size_t nbytes, int stream);
    void (*copy2)(const unsigned char *a, const unsigned char *b, unsigned char *dst,
                  size_t nbytes, int stream);
};

/* Targets are only compiled where the compiler can target them per function. */
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define LEAKY_X86_TARGETS 1
#endif

/* The table of the target that serves calls now (dispatch.c). */
extern const struct leaky_kernels *leaky_active;

extern const struct leaky_kernels leaky_kernels_baseline;
#ifdef LEAKY_X86_TARGETS
extern const struct leaky_kernels leaky_kernels_avx2;
extern const struct leaky_kernels leaky_kernels_avx512;
#endif

/* A loop is safe to vectorise without a runtime alias check: an output is
 * either the same array as an input (element i only touches index i) or
 * disjoint from it; _api.py sends partial overlaps through a temporary. */
#if defined(__clang__)
#define LEAKY_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define LEAKY_IVDEP _Pragma("GCC ivdep")
#else
#define LEAKY_IVDEP
#endif

#endif
