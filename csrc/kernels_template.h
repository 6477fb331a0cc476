/* The Leaky ReLU loops, written once and compiled once per CPU target.
 *
 * A target_*.c file selects an instruction set (#pragma GCC target), may define
 * LEAKY_HAS_STREAM and vector macros for non-temporal stores (V_f32, LOAD_f32,
 * ...), names the table with LEAKY_TABLE, and includes this file.  Everything here is static,
 * so each target gets its own copy of the loops built for its instruction set.
 *
 * Why the plain loops vectorise: no calls, the product is computed
 * unconditionally and then selected (if-converted to a compare and a blend;
 * GCC needs -fno-trapping-math for that, see leaky_c/_build.py), and
 * LEAKY_IVDEP removes the runtime alias check.  CI runs
 * tools/check_vectorized.py, which fails unless GCC reports these loops
 * vectorised; its HOT_LOOPS list names them, and a new hot loop goes there.
 * Never -ffast-math: NaN, -0.0 and inf follow IEEE exactly as PyTorch does.
 */
#include <stdint.h>
#include "half.h"
#include "kernels.h"

#define LEAKY_DEFINE_LOOPS(T, SFX)                                              \
static void fwd_loop_##SFX(const T *x, T *y, size_t n, T a)                     \
{                                                                               \
    LEAKY_IVDEP                                                                 \
    for (size_t i = 0; i < n; i++) {                                            \
        const T v = x[i], scaled = v * a;                                       \
        y[i] = v > 0 ? v : scaled;                                              \
    }                                                                           \
}                                                                               \
static void bwd_loop_##SFX(const T *g, const T *x, T *out, size_t n, T a)       \
{                                                                               \
    LEAKY_IVDEP_UNLESS_OPAQUE                                                   \
    for (size_t i = 0; i < n; i++) {                                            \
        const T grad = g[i];                                                    \
        T scaled = grad * a;                                                    \
        LEAKY_OPAQUE(scaled);                                                   \
        out[i] = x[i] > 0 ? grad : scaled;                                      \
    }                                                                           \
}

LEAKY_DEFINE_LOOPS(float, f32)
LEAKY_DEFINE_LOOPS(double, f64)

/* Bytes of a cache line: outputs are aligned to it, see LEAKY_DEFINE_ENTRY. */
#define LEAKY_LINE 64

/* Elements before p reaches a multiple of `align` bytes (at most n). */
static size_t leaky_head(const void *p, size_t itemsize, size_t align, size_t n)
{
    size_t misalign = (size_t)((uintptr_t)p % align);
    size_t head = misalign ? (align - misalign) / itemsize : 0;
    return head < n ? head : n;
}

/* Non-temporal variants: a scalar head until the output is vector aligned,
 * whole vectors written with streaming stores, the tail by the plain loop. */
#ifdef LEAKY_HAS_STREAM
#define LEAKY_DEFINE_STREAM(T, SFX)                                             \
static void fwd_stream_##SFX(const T *x, T *y, size_t n, T a)                   \
{                                                                               \
    size_t head = leaky_head(y, sizeof(T), sizeof(V_##SFX), n);                 \
    fwd_loop_##SFX(x, y, head, a);                                              \
    const V_##SFX va = SET1_##SFX(a);                                           \
    size_t i = head;                                                            \
    for (; i + LANES_##SFX <= n; i += LANES_##SFX) {                            \
        V_##SFX v = LOAD_##SFX(x + i);                                          \
        STREAM_##SFX(y + i, SELECT_GT0_##SFX(v, v, MUL_##SFX(v, va)));          \
    }                                                                           \
    fwd_loop_##SFX(x + i, y + i, n - i, a);                                     \
    STREAM_FENCE();                                                             \
}                                                                               \
LEAKY_DEFINE_BWD_VECTOR(T, SFX, bwd_stream, STREAM_##SFX, STREAM_FENCE(), sizeof(V_##SFX)) \
LEAKY_IF_CLANG(LEAKY_DEFINE_BWD_VECTOR(T, SFX, bwd_vector, STOREU_##SFX, (void)0, LEAKY_LINE))
/* The backward over whole vectors with the given store; the scaled gradient
 * is opaque to the compiler (LEAKY_OPAQUE), see kernels.h. */
#define LEAKY_DEFINE_BWD_VECTOR(T, SFX, NAME, STORE, FENCE, ALIGN)              \
static void NAME##_##SFX(const T *g, const T *x, T *out, size_t n, T a)         \
{                                                                               \
    size_t head = leaky_head(out, sizeof(T), ALIGN, n);                         \
    bwd_loop_##SFX(g, x, out, head, a);                                         \
    const V_##SFX va = SET1_##SFX(a);                                           \
    size_t i = head;                                                            \
    for (; i + LANES_##SFX <= n; i += LANES_##SFX) {                            \
        V_##SFX vg = LOAD_##SFX(g + i), scaled = MUL_##SFX(vg, va);             \
        LEAKY_OPAQUE(scaled);                                                   \
        STORE(out + i, SELECT_GT0_##SFX(LOAD_##SFX(x + i), vg, scaled));        \
    }                                                                           \
    bwd_loop_##SFX(g + i, x + i, out + i, n - i, a);                            \
    FENCE;                                                                      \
}
LEAKY_DEFINE_STREAM(float, f32)
LEAKY_DEFINE_STREAM(double, f64)
/* In place the lines are already owned by the cache: plain stores are best. */
#define LEAKY_STREAMS(stream, out, in) ((stream) && (const void *)(out) != (const void *)(in))
#if defined(__clang__)
#define LEAKY_BWD_VECTOR(SFX, ...) (bwd_vector_##SFX(__VA_ARGS__), 1)
#else
#define LEAKY_BWD_VECTOR(SFX, ...) 0
#endif
#else
#define LEAKY_BWD_VECTOR(SFX, ...) 0
#define LEAKY_STREAMS(stream, out, in) ((void)(stream), 0)
#define fwd_stream_f32(x, y, n, a) ((void)0)
#define fwd_stream_f64(x, y, n, a) ((void)0)
#define bwd_stream_f32(g, x, o, n, a) ((void)0)
#define bwd_stream_f64(g, x, o, n, a) ((void)0)
#endif

/* Plain stores: a short head first, so that the vector stores of the loop
 * are aligned to a cache line; on an unaligned output a vector store can
 * straddle two lines, which halves the store throughput in cache (NumPy only
 * guarantees 16-byte alignment). */
#define LEAKY_DEFINE_ENTRY(T, SFX)                                              \
static void fwd_##SFX(const T *x, T *y, size_t n, T a, int stream)              \
{                                                                               \
    if (LEAKY_STREAMS(stream, y, x)) {                                          \
        fwd_stream_##SFX(x, y, n, a);                                           \
        return;                                                                 \
    }                                                                           \
    size_t head = leaky_head(y, sizeof(T), LEAKY_LINE, n);                      \
    fwd_loop_##SFX(x, y, head, a);                                              \
    fwd_loop_##SFX(x + head, y + head, n - head, a);                            \
}                                                                               \
static void bwd_##SFX(const T *g, const T *x, T *out, size_t n, T a, int stream) \
{                                                                               \
    if (LEAKY_STREAMS(stream, out, g) && (const void *)out != (const void *)x) { \
        bwd_stream_##SFX(g, x, out, n, a);                                      \
        return;                                                                 \
    }                                                                           \
    size_t head = leaky_head(out, sizeof(T), LEAKY_LINE, n);                    \
    if (LEAKY_BWD_VECTOR(SFX, g, x, out, n, a))                                 \
        return;                                                                 \
    bwd_loop_##SFX(g, x, out, head, a);                                         \
    bwd_loop_##SFX(g + head, x + head, out + head, n - head, a);                \
}

LEAKY_DEFINE_ENTRY(float, f32)
LEAKY_DEFINE_ENTRY(double, f64)

/* float16 and bfloat16: computed in float32, rounded once (as PyTorch does).
 * The portable conversions in half.h vectorise on every target.  Where a
 * target defines LOADV_<type> and CVTV_<type> (F16C for float16, integer
 * shifts and rounding for bfloat16), whole vectors use those instead and the
 * portable loop does the tail.  In the backward the gradient passes through as
 * stored (a 16-bit select), so even a NaN payload survives.  No streaming
 * stores here: the conversions, not memory, bound these loops. */
#ifdef LOADV_f16
#define IF_VECTOR_f16(...) __VA_ARGS__
#else
#define IF_VECTOR_f16(...)
#endif
#ifdef LOADV_bf16
#define IF_VECTOR_bf16(...) __VA_ARGS__
#else
#define IF_VECTOR_bf16(...)
#endif

#define LEAKY_DEFINE_HALF(SFX)                                                  \
static void fwd_scalar_##SFX(const uint16_t *x, uint16_t *y, size_t n, float a)   \
{                                                                               \
    LEAKY_IVDEP                                                                 \
    for (size_t i = 0; i < n; i++) {                                            \
        const float v = leaky_##SFX##_to_f32(x[i]), scaled = v * a;             \
        y[i] = leaky_f32_to_##SFX(v > 0 ? v : scaled);                          \
    }                                                                           \
}                                                                               \
static void bwd_scalar_##SFX(const uint16_t *g, const uint16_t *x, uint16_t *out, \
                             size_t n, float a)                                 \
{                                                                               \
    LEAKY_IVDEP                                                                 \
    for (size_t i = 0; i < n; i++) {                                            \
        const uint16_t scaled = leaky_f32_to_##SFX(leaky_##SFX##_to_f32(g[i]) * a); \
        out[i] = leaky_##SFX##_to_f32(x[i]) > 0 ? g[i] : scaled;                \
    }                                                                           \
}                                                                               \
static void fwd_##SFX(const uint16_t *x, uint16_t *y, size_t n, float a, int stream) \
{                                                                               \
    size_t i = leaky_head(y, sizeof(uint16_t), LEAKY_LINE, n);                  \
    (void)stream;                                                               \
    fwd_scalar_##SFX(x, y, i, a);                                               \
    IF_VECTOR_##SFX(                                                            \
    for (const V_f32 va = SET1_f32(a); i + LANES_f32 <= n; i += LANES_f32) {    \
        V_f32 v = LOADV_##SFX(x + i);                                           \
        STORE_H16(y + i, CVTV_##SFX(SELECT_GT0_f32(v, v, MUL_f32(v, va))));     \
    })                                                                          \
    fwd_scalar_##SFX(x + i, y + i, n - i, a);                                   \
}                                                                               \
static void bwd_##SFX(const uint16_t *g, const uint16_t *x, uint16_t *out, size_t n, \
                      float a, int stream)                                      \
{                                                                               \
    size_t i = leaky_head(out, sizeof(uint16_t), LEAKY_LINE, n);                \
    (void)stream;                                                               \
    bwd_scalar_##SFX(g, x, out, i, a);                                          \
    IF_VECTOR_##SFX(                                                            \
    for (const V_f32 va = SET1_f32(a); i + LANES_f32 <= n; i += LANES_f32) {    \
        STORE_H16(out + i, SELECT16_GT0(LOADV_##SFX(x + i), LOAD_H16(g + i),    \
                                        CVTV_##SFX(MUL_f32(LOADV_##SFX(g + i), va)))); \
    })                                                                          \
    bwd_scalar_##SFX(g + i, x + i, out + i, n - i, a);                          \
}

LEAKY_DEFINE_HALF(f16)
LEAKY_DEFINE_HALF(bf16)

/* PReLU's weight gradient over one row: the sum of x * g where x <= 0.
 * Products are formed in double (exact for float32 and the 16-bit types) and
 * summed in double over eight interleaved lanes, a fixed order that the
 * compiler vectorises without reassociating anything. */
#define LEAKY_F32_LOAD(v) (v)
#define LEAKY_DEFINE_NEG_DOT(T, SFX, LOAD)                                      \
static double neg_dot_##SFX(const T *x, const T *g, size_t n)                   \
{                                                                               \
    double lane[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};                  \
    size_t i = 0;                                                               \
    for (; i + 8 <= n; i += 8)                                                  \
        for (int k = 0; k < 8; k++) {                                           \
            const double xv = LOAD(x[i + k]), product = xv * LOAD(g[i + k]);    \
            lane[k] += xv > 0 ? 0.0 : product;                                  \
        }                                                                       \
    for (int k = 0; i < n; i++, k++) {                                          \
        const double xv = LOAD(x[i]), product = xv * LOAD(g[i]);                \
        lane[k] += xv > 0 ? 0.0 : product;                                      \
    }                                                                           \
    return ((lane[0] + lane[1]) + (lane[2] + lane[3]))                          \
         + ((lane[4] + lane[5]) + (lane[6] + lane[7]));                         \
}

LEAKY_DEFINE_NEG_DOT(float, f32, LEAKY_F32_LOAD)
LEAKY_DEFINE_NEG_DOT(double, f64, LEAKY_F32_LOAD)
LEAKY_DEFINE_NEG_DOT(uint16_t, f16, leaky_f16_to_f32)
LEAKY_DEFINE_NEG_DOT(uint16_t, bf16, leaky_bf16_to_f32)

const struct leaky_kernels LEAKY_TABLE = {
    fwd_f32, fwd_f64, bwd_f32, bwd_f64, fwd_f16, bwd_f16, fwd_bf16, bwd_bf16,
    neg_dot_f32, neg_dot_f64, neg_dot_f16, neg_dot_bf16,
};
