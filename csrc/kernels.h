/* The kernel table each CPU target fills in, and the targets that exist. */
#ifndef LEAKY_KERNELS_H
#define LEAKY_KERNELS_H

#include <stdatomic.h>
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
};

/* Targets are only compiled where the compiler can target them per function. */
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define LEAKY_X86_TARGETS 1
#endif

/* Each x86 target's instruction sets, declared once: its target_*.c compiles
 * the loops for them (LEAKY_TARGET_BEGIN), and dispatch.c runs the target only
 * where the CPU has every one (names as in cpu.h, lower case, no underscores). */
#define LEAKY_ISA_avx2 "avx2,f16c"
#define LEAKY_ISA_avx512 "avx512f,avx512bw,avx512vl,f16c"

#define LEAKY_PRAGMA(...) _Pragma(#__VA_ARGS__)
#if defined(__clang__)
#define LEAKY_TARGET_BEGIN(isa) \
    LEAKY_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define LEAKY_TARGET_END LEAKY_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define LEAKY_TARGET_BEGIN(isa) LEAKY_PRAGMA(GCC target(isa))
#define LEAKY_TARGET_END
#else  /* MSVC (which would warn C4068 at GCC's pragma): each target file is
        * compiled with its own /arch flag instead (leaky_c/_build.py) */
#define LEAKY_TARGET_BEGIN(isa)
#define LEAKY_TARGET_END
#endif

/* The table of the target that serves calls now (dispatch.c).  Atomic, as
 * leaky_set_target may run while other threads compute; every target gives
 * the same bits, so a call may even mix them.  Read with LEAKY_ACTIVE. */
extern _Atomic(const struct leaky_kernels *) leaky_active;
#define LEAKY_ACTIVE (atomic_load_explicit(&leaky_active, memory_order_relaxed))

extern const struct leaky_kernels leaky_kernels_baseline;
#ifdef LEAKY_X86_TARGETS
extern const struct leaky_kernels leaky_kernels_avx2;
extern const struct leaky_kernels leaky_kernels_avx512;
#endif

/* A loop is safe to vectorise without a runtime alias check: an output is
 * either the same array as an input (element i only touches index i) or
 * disjoint from it; _api.py sends partial overlaps through a temporary. */
/* Clang folds `x > 0 ? g : g * a` into `g * (x > 0 ? 1 : a)`, which quietens a
 * signalling-NaN gradient that the backward must pass through as stored.  An
 * empty asm makes the product opaque, so nothing can be folded into it.  It
 * also stops Clang vectorising the plain loop, so on x86 Clang builds run the
 * backward over explicit vectors (bwd_vector in kernels_template.h); elsewhere
 * a Clang build keeps the bits with a scalar backward. */
#if defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define LEAKY_OPAQUE(v) __asm__("" : "+v"(v))
#elif defined(__clang__) && defined(__aarch64__)
#define LEAKY_OPAQUE(v) __asm__("" : "+w"(v))
#else
#define LEAKY_OPAQUE(v) ((void)0)
#define LEAKY_IVDEP_UNLESS_OPAQUE LEAKY_IVDEP
#endif
#ifndef LEAKY_IVDEP_UNLESS_OPAQUE
#define LEAKY_IVDEP_UNLESS_OPAQUE
#endif
#if defined(__clang__)
#define LEAKY_IF_CLANG(...) __VA_ARGS__
#else
#define LEAKY_IF_CLANG(...)
#endif

#if defined(__clang__)
#define LEAKY_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define LEAKY_IVDEP _Pragma("GCC ivdep")
#else
#define LEAKY_IVDEP
#endif

#endif
