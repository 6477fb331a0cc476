/* The kernels' own C test driver: every compiled target's table (csrc/kernels.h)
 * and the strided entry points, against a scalar reference written here.
 *
 *   - float16 and bfloat16: every one of the 65536 bit patterns, forward and
 *     backward (as the gradient against special inputs, and as the input
 *     against special gradients), at several slopes;
 *   - float32 and float64: special values (zeros, subnormals, extremes, inf,
 *     quiet and signalling NaNs with payloads) and random bit patterns, every
 *     (gradient, input) pair, lengths 0-70 at misaligned starts, with and
 *     without streaming stores, in place;
 *   - leaky_fwd_strided / leaky_bwd_strided: positive, negative and unit
 *     strides, every dtype;
 *   - the thread pool's split: its chunks cover [0, n) once, and every
 *     boundary is on a 64-byte line of the output, at every start offset.
 * Results must match bit for bit.  The reference converts with exact
 * arithmetic (frexp, ldexp, nearbyint), not with csrc/half.h, and multiplies
 * with the same scalar float or double product the kernels define.
 *
 * tools/check_aarch64.sh builds it with every .c file in csrc/ and runs it,
 * natively and for aarch64 under qemu. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu.h"
#include "kernels.h"
#include "leaky_c_api.h"
#include "threadpool.h"

/* ---- the reference ------------------------------------------------------ */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint64_t f64_bits(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }
static double bits_f64(uint64_t u) { double f; memcpy(&f, &u, 8); return f; }

/* The products, as the kernels form them (volatile: no folding, no contraction). */
static float mul_f32(float v, float a) { volatile float p = v * a; return p; }
static double mul_f64(double v, double a) { volatile double p = v * a; return p; }

static float ref_f16_to_f32(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 1023;
    if (e == 31) /* inf, or NaN with its payload */
        return bits_f32(((uint32_t)(h & 0x8000) << 16) | 0x7f800000u | ((uint32_t)m << 13));
    const float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m + 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static float ref_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

/* Round |f| to `mant` fraction bits, exponent at least emin, to nearest-even;
 * the result's bits (exponent biased by `bias`) before the sign, capped at inf. */
static uint32_t ref_round(double a, int mant, int emin, int bias, uint32_t inf)
{
    int e;
    frexp(a, &e);
    e = e - 1 < emin ? emin : e - 1;                  /* a = 1.m * 2^e, or subnormal */
    const double m = nearbyint(ldexp(a, mant - e));   /* exact scaling, one rounding */
    const double r = ldexp((double)(e + bias), mant) + m - ldexp(1.0, mant);
    return r >= (double)inf ? inf : (uint32_t)r;
}

static uint16_t ref_f32_to_f16(float f)
{
    const uint32_t u = f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if (isnan(f)) /* quiet, top payload bits kept (F16C, NumPy) */
        return (uint16_t)(sign | 0x7e00 | ((u >> 13) & 0x3ff));
    if (isinf(f) || f == 0)
        return (uint16_t)(sign | (isinf(f) ? 0x7c00 : 0));
    return (uint16_t)(sign | ref_round(fabs((double)f), 10, -14, 15, 0x7c00));
}

static uint16_t ref_f32_to_bf16(float f)
{
    const uint32_t u = f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if (isnan(f)) /* sign | 0x7fc0, as ml_dtypes */
        return (uint16_t)(sign | 0x7fc0);
    if (isinf(f) || f == 0)
        return (uint16_t)(sign | (isinf(f) ? 0x7f80 : 0));
    return (uint16_t)(sign | ref_round(fabs((double)f), 7, -126, 127, 0x7f80));
}

/* float32 and float64 on their bits: what passes through is never a value in a
 * floating-point register (x87 would quieten a signalling NaN on the way). */
static uint32_t ref_fwd_f32(uint32_t x, float a)
{
    return bits_f32(x) > 0 ? x : f32_bits(mul_f32(bits_f32(x), a));
}
static uint64_t ref_fwd_f64(uint64_t x, double a)
{
    return bits_f64(x) > 0 ? x : f64_bits(mul_f64(bits_f64(x), a));
}
static uint32_t ref_bwd_f32(uint32_t g, uint32_t x, float a)
{
    return bits_f32(x) > 0 ? g : f32_bits(mul_f32(bits_f32(g), a));
}
static uint64_t ref_bwd_f64(uint64_t g, uint64_t x, double a)
{
    return bits_f64(x) > 0 ? g : f64_bits(mul_f64(bits_f64(g), a));
}

typedef float (*to_f32_fn)(uint16_t);
typedef uint16_t (*from_f32_fn)(float);
static uint16_t ref_fwd_h(uint16_t x, float a, to_f32_fn to, from_f32_fn from)
{
    const float v = to(x);
    return from(v > 0 ? v : mul_f32(v, a));
}
/* The gradient passes through as stored. */
static uint16_t ref_bwd_h(uint16_t g, uint16_t x, float a, to_f32_fn to, from_f32_fn from)
{
    return to(x) > 0 ? g : from(mul_f32(to(g), a));
}

/* ---- bookkeeping ---------------------------------------------------------- */

static long checks, failures;

static void mismatch(const char *what, size_t i, uint64_t in1, uint64_t in2, uint64_t got,
                     uint64_t want)
{
    if (++failures <= 20)
        fprintf(stderr, "FAIL %s [%zu]: inputs 0x%llx 0x%llx: got 0x%llx, want 0x%llx\n", what, i,
                (unsigned long long)in1, (unsigned long long)in2, (unsigned long long)got,
                (unsigned long long)want);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        perror("malloc");
        exit(2);
    }
    return p;
}

static const float slopes[] = {0.01f, 0.2f, 1.0f, 0.0f, -0.5f, 3.0f, 1e-30f, 1e30f};
#define N_SLOPES (sizeof(slopes) / sizeof(slopes[0]))

/* ---- float16 and bfloat16: every pattern ---------------------------------- */

typedef void (*fwd_h_fn)(const uint16_t *, uint16_t *, size_t, float, int);
typedef void (*bwd_h_fn)(const uint16_t *, const uint16_t *, uint16_t *, size_t, float, int);

#define ALL16 65536u

/* bwd over ALL16 elements into out, checked against the reference. */
static void check_bwd_h(const char *what, bwd_h_fn bwd, const uint16_t *g, const uint16_t *x,
                        uint16_t *out, float a, to_f32_fn to, from_f32_fn from)
{
    bwd(g, x, out, ALL16, a, 0);
    for (size_t i = 0; i < ALL16; i++) {
        const uint16_t want = ref_bwd_h(g[i], x[i], a, to, from);
        checks++;
        if (out[i] != want)
            mismatch(what, i, g[i], x[i], out[i], want);
    }
}

static void test_half(const char *name, fwd_h_fn fwd, bwd_h_fn bwd, to_f32_fn to,
                      from_f32_fn from, const uint16_t *specials, size_t n_specials)
{
    /* +3 elements: starts at 0..3 elements past the allocation, misaligned. */
    uint16_t *xb = xmalloc((ALL16 + 3) * 2), *yb = xmalloc((ALL16 + 3) * 2),
             *cb = xmalloc((ALL16 + 3) * 2);
    char what[96];
    for (size_t s = 0; s < N_SLOPES; s++) {
        const float a = slopes[s];
        const size_t off = s % 4;
        uint16_t *x = xb + off, *y = yb + off, *c = cb + off;
        for (size_t i = 0; i < ALL16; i++)
            x[i] = (uint16_t)i;
        /* Forward, out of place and in place. */
        snprintf(what, sizeof what, "%s fwd a=%g", name, a);
        fwd(x, y, ALL16, a, (int)(s & 1));
        memcpy(c, x, ALL16 * 2);
        fwd(c, c, ALL16, a, 0);
        for (size_t i = 0; i < ALL16; i++) {
            const uint16_t want = ref_fwd_h(x[i], a, to, from);
            checks += 2;
            if (y[i] != want)
                mismatch(what, i, x[i], 0, y[i], want);
            if (c[i] != want)
                mismatch(what, i, x[i], 1, c[i], want);
        }
        /* Backward: every gradient against each special input, then every
         * input against each special gradient. */
        snprintf(what, sizeof what, "%s bwd a=%g", name, a);
        for (size_t k = 0; k < n_specials; k++) {
            for (size_t i = 0; i < ALL16; i++)
                c[i] = specials[k];
            check_bwd_h(what, bwd, x, c, y, a, to, from); /* g = every pattern */
            check_bwd_h(what, bwd, c, x, y, a, to, from); /* x = every pattern */
        }
        /* In place over the gradient. */
        for (size_t i = 0; i < ALL16; i++)
            c[i] = (uint16_t)i;
        bwd(c, x, c, ALL16, a, 0); /* x == g: every pattern against itself */
        for (size_t i = 0; i < ALL16; i++) {
            const uint16_t want = ref_bwd_h((uint16_t)i, (uint16_t)i, a, to, from);
            checks++;
            if (c[i] != want)
                mismatch(what, i, i, i, c[i], want);
        }
    }
    free(xb);
    free(yb);
    free(cb);
}

/* ---- float32 and float64: special values and random patterns -------------- */

/* The bits stored at p, read as a U (never as a floating-point value). */
#define BITS_AT(U, p) bits_at_##U(p)
static uint32_t bits_at_uint32_t(const void *p) { uint32_t u; memcpy(&u, p, 4); return u; }
static uint64_t bits_at_uint64_t(const void *p) { uint64_t u; memcpy(&u, p, 8); return u; }

#define N_RANDOM 256
#define MAX_LEN 70

#define DEFINE_TEST_FLOAT(T, U, SFX, SPECIALS)                                  \
static void test_##SFX(const char *name, const struct leaky_kernels *k)          \
{                                                                               \
    const size_t ns = sizeof(SPECIALS) / sizeof(SPECIALS[0]);                   \
    const size_t nv = ns + N_RANDOM, npairs = nv * nv;                          \
    U *v = xmalloc(nv * sizeof(U));                                             \
    T *g = xmalloc((npairs + 3) * sizeof(T)), *x = xmalloc((npairs + 3) * sizeof(T)); \
    T *y = xmalloc((npairs + 3) * sizeof(T));                                   \
    char what[96];                                                              \
    for (size_t i = 0; i < nv; i++)                                             \
        v[i] = i < ns ? SPECIALS[i] : (U)rng();                                 \
    for (size_t s = 0; s < N_SLOPES; s++) {                                     \
        const T a = (T)slopes[s];                                               \
        /* Forward: every value, lengths 0..MAX_LEN at starts 0..3 elements     \
         * in, with and without streaming stores, and in place. */              \
        snprintf(what, sizeof what, "%s %s fwd a=%g", name, #SFX, (double)a);  \
        for (size_t off = 0; off < 4; off++)                                    \
            for (size_t n = 0; n <= MAX_LEN; n++)                               \
                for (int stream = 0; stream < 3; stream++) {                    \
                    T *xs = x + off, *ys = stream == 2 ? xs : y + (3 - off);    \
                    for (size_t i = 0; i < n; i++)                              \
                        memcpy(xs + i, v + (i + n * 7 + off) % nv, sizeof(T));  \
                    k->fwd_##SFX(xs, ys, n, a, stream == 1);                    \
                    for (size_t i = 0; i < n; i++) {                            \
                        const U in = v[(i + n * 7 + off) % nv];                 \
                        const U want = ref_fwd_##SFX(in, a), got = BITS_AT(U, ys + i); \
                        checks++;                                               \
                        if (got != want)                                        \
                            mismatch(what, i, in, (U)stream, got, want);        \
                    }                                                           \
                }                                                               \
        /* Backward: every (gradient, input) pair in one long call, streaming   \
         * or not, then in place over the gradient and over the input. */       \
        snprintf(what, sizeof what, "%s %s bwd a=%g", name, #SFX, (double)a);  \
        for (int mode = 0; mode < 4; mode++) {                                  \
            const size_t off = s % 4;                                           \
            T *gs = g + off, *xs = x + (3 - off);                               \
            T *out = mode == 2 ? gs : mode == 3 ? xs : y + off;                 \
            for (size_t i = 0; i < npairs; i++) {                               \
                memcpy(gs + i, v + i / nv, sizeof(T));                          \
                memcpy(xs + i, v + i % nv, sizeof(T));                          \
            }                                                                   \
            k->bwd_##SFX(gs, xs, out, npairs, a, mode == 1);                    \
            for (size_t i = 0; i < npairs; i++) {                               \
                const U want = ref_bwd_##SFX(v[i / nv], v[i % nv], a);          \
                const U got = BITS_AT(U, out + i);                              \
                checks++;                                                       \
                if (got != want)                                                \
                    mismatch(what, i, v[i / nv], v[i % nv], got, want);         \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    free(v);                                                                    \
    free(g);                                                                    \
    free(x);                                                                    \
    free(y);                                                                    \
}

static const uint32_t specials_f32[] = {
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000,
    0x80800000, 0x3f800000, 0xbf800000, 0x3f7fffff, 0xbf800001, 0x7f7fffff, 0xff7fffff,
    0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fc12345, 0xffd00001, 0x7f800001,
    0xff800001, 0x7fa00000, 0xffbfffff, 0x40490fdb, 0xc2c80000, 0x33d6bf95, 0xb3d6bf95,
};
static const uint64_t specials_f64[] = {
    0x0000000000000000u, 0x8000000000000000u, 0x0000000000000001u, 0x8000000000000001u,
    0x000fffffffffffffu, 0x800fffffffffffffu, 0x0010000000000000u, 0x8010000000000000u,
    0x3ff0000000000000u, 0xbff0000000000000u, 0x3fefffffffffffffu, 0xbff0000000000001u,
    0x7fefffffffffffffu, 0xffefffffffffffffu, 0x7ff0000000000000u, 0xfff0000000000000u,
    0x7ff8000000000000u, 0xfff8000000000000u, 0x7ff8000000012345u, 0xfffc000000000001u,
    0x7ff0000000000001u, 0xfff0000000000001u, 0x7ff4000000000000u, 0xfff7ffffffffffffu,
    0x400921fb54442d18u, 0xc059000000000000u, 0x3e7ad7f29abcaf48u, 0x36a0000000000000u,
};

DEFINE_TEST_FLOAT(float, uint32_t, f32, specials_f32)
DEFINE_TEST_FLOAT(double, uint64_t, f64, specials_f64)

/* 16-bit special inputs and gradients: zeros, smallest and largest subnormal
 * and normal, one, inf, quiet and signalling NaNs of both signs. */
static const uint16_t specials_f16[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00,
                                        0xbc00, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0xfe01,
                                        0x7c01, 0xfd55};
static const uint16_t specials_bf16[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x0080,
                                         0x3f80, 0xbf80, 0x7f7f, 0xff7f, 0x7f80, 0xff80,
                                         0x7fc0, 0xffc1, 0x7f81, 0xffa5};

/* ---- the strided entry points --------------------------------------------- */

static const size_t itemsize[] = {4, 8, 2, 2};

/* The bits of the element at p. */
static uint64_t load_bits(int dtype, const char *p)
{
    uint16_t h;
    switch (itemsize[dtype]) {
    case 2: memcpy(&h, p, 2); return h;
    case 4: return bits_at_uint32_t(p);
    default: return bits_at_uint64_t(p);
    }
}

static uint64_t ref_fwd_bits(int dtype, const char *x, double a)
{
    switch (dtype) {
    case LEAKY_F32: return ref_fwd_f32(bits_at_uint32_t(x), (float)a);
    case LEAKY_F64: return ref_fwd_f64(bits_at_uint64_t(x), a);
    case LEAKY_F16: return ref_fwd_h((uint16_t)load_bits(dtype, x), (float)a, ref_f16_to_f32, ref_f32_to_f16);
    default: return ref_fwd_h((uint16_t)load_bits(dtype, x), (float)a, ref_bf16_to_f32, ref_f32_to_bf16);
    }
}

static uint64_t ref_bwd_bits(int dtype, const char *g, const char *x, double a)
{
    switch (dtype) {
    case LEAKY_F32: return ref_bwd_f32(bits_at_uint32_t(g), bits_at_uint32_t(x), (float)a);
    case LEAKY_F64: return ref_bwd_f64(bits_at_uint64_t(g), bits_at_uint64_t(x), a);
    case LEAKY_F16:
        return ref_bwd_h((uint16_t)load_bits(dtype, g), (uint16_t)load_bits(dtype, x), (float)a,
                         ref_f16_to_f32, ref_f32_to_f16);
    default:
        return ref_bwd_h((uint16_t)load_bits(dtype, g), (uint16_t)load_bits(dtype, x), (float)a,
                         ref_bf16_to_f32, ref_f32_to_bf16);
    }
}

/* One 2-d layout: shape (rows, cols); each operand's strides in elements, and
 * where it starts (in elements from its buffer's start) so negative strides
 * stay inside. */
struct layout { size_t rows, cols; ptrdiff_t s[3][2]; };

static void test_strided(const char *name)
{
    static const struct layout layouts[] = {
        {5, 37, {{37, 1}, {37, 1}, {37, 1}}},        /* contiguous rows: the table's kernels */
        {4, 19, {{40, 2}, {-19, 1}, {1, 4}}},        /* stepped, flipped, transposed */
        {6, 11, {{-3, -33}, {11, 1}, {-1, 6}}},      /* negative in both axes */
        {3, 64, {{64, 1}, {128, 2}, {-64, -1}}},
        {1, 1, {{0, 0}, {1, 1}, {1, 1}}},            /* a broadcast input */
    };
    enum { POOL = 4096 };
    char *buf[3];
    char what[96];
    for (int k = 0; k < 3; k++)
        buf[k] = xmalloc(POOL * 8);
    for (int dtype = LEAKY_F32; dtype <= LEAKY_BF16; dtype++) {
        const ptrdiff_t is = (ptrdiff_t)itemsize[dtype];
        for (size_t l = 0; l < sizeof(layouts) / sizeof(layouts[0]); l++) {
            const struct layout *L = &layouts[l];
            const size_t shape[2] = {L->rows, L->cols};
            ptrdiff_t bytes[3][2];
            char *start[3];
            for (int k = 0; k < 3; k++) {
                ptrdiff_t lo = 0;
                for (int d = 0; d < 2; d++) {
                    bytes[k][d] = L->s[k][d] * is;
                    if (L->s[k][d] < 0)
                        lo += L->s[k][d] * (ptrdiff_t)(shape[d] - 1);
                }
                start[k] = buf[k] + (-lo + 1) * is;           /* +1: misaligned */
            }
            for (int pass = 0; pass < 2; pass++) {
                const double a = pass ? -0.375 : 0.01;
                for (int k = 0; k < 3; k++)
                    for (size_t i = 0; i < POOL * 8; i++)
                        buf[k][i] = (char)rng();
                /* Forward: x is operand 1, y operand 2. */
                snprintf(what, sizeof what, "%s strided fwd dtype %d layout %zu", name, dtype, l);
                leaky_fwd_strided(dtype, 2, shape, start[1], bytes[1], start[2], bytes[2], a);
                for (size_t r = 0; r < L->rows; r++)
                    for (size_t c = 0; c < L->cols; c++) {
                        const char *xp = start[1] + (ptrdiff_t)r * bytes[1][0] + (ptrdiff_t)c * bytes[1][1];
                        const char *yp = start[2] + (ptrdiff_t)r * bytes[2][0] + (ptrdiff_t)c * bytes[2][1];
                        const uint64_t want = ref_fwd_bits(dtype, xp, a), got = load_bits(dtype, yp);
                        checks++;
                        if (got != want)
                            mismatch(what, r * L->cols + c, load_bits(dtype, xp), 0, got, want);
                    }
                /* Backward: g is operand 0, x operand 1, out operand 2. */
                snprintf(what, sizeof what, "%s strided bwd dtype %d layout %zu", name, dtype, l);
                leaky_bwd_strided(dtype, 2, shape, start[0], bytes[0], start[1], bytes[1],
                                  start[2], bytes[2], a);
                for (size_t r = 0; r < L->rows; r++)
                    for (size_t c = 0; c < L->cols; c++) {
                        const char *gp = start[0] + (ptrdiff_t)r * bytes[0][0] + (ptrdiff_t)c * bytes[0][1];
                        const char *xp = start[1] + (ptrdiff_t)r * bytes[1][0] + (ptrdiff_t)c * bytes[1][1];
                        const char *op = start[2] + (ptrdiff_t)r * bytes[2][0] + (ptrdiff_t)c * bytes[2][1];
                        const uint64_t want = ref_bwd_bits(dtype, gp, xp, a), got = load_bits(dtype, op);
                        checks++;
                        if (got != want)
                            mismatch(what, r * L->cols + c, load_bits(dtype, gp),
                                     load_bits(dtype, xp), got, want);
                    }
            }
        }
    }
    /* An empty axis writes nothing. */
    {
        const size_t shape[3] = {3, 0, 5};
        const ptrdiff_t st[3] = {0, 0, 4};
        memset(buf[2], 0x5a, 64);
        leaky_fwd_strided(LEAKY_F32, 3, shape, buf[1], st, buf[2], st, 0.5);
        leaky_bwd_strided(LEAKY_F32, 3, shape, buf[0], st, buf[1], st, buf[2], st, 0.5);
        for (int i = 0; i < 64; i++) {
            checks++;
            if ((unsigned char)buf[2][i] != 0x5a)
                mismatch("strided empty axis", (size_t)i, 0, 0, (unsigned char)buf[2][i], 0x5a);
        }
    }
    for (int k = 0; k < 3; k++)
        free(buf[k]);
}

/* ---- the reference itself, against values known by heart ------------------ */

static void test_reference(void)
{
    static const struct { float f; uint16_t f16, bf16; } known[] = {
        {1.0f, 0x3c00, 0x3f80},          {65504.0f, 0x7bff, 0x4780},
        {65520.0f, 0x7c00, 0x4780},      {5.9604645e-08f, 0x0001, 0x3380},
        {2.9802322e-08f, 0x0000, 0x3300}, /* a tie: to even, zero */
        {8.940697e-08f, 0x0002, 0x33c0}, /* 1.5 quanta: to even, two */
        {-0.0f, 0x8000, 0x8000},         {3.0e38f, 0x7c00, 0x7f62},
        {1.00390625f, 0x3c04, 0x3f80},   /* bfloat16 tie to even */
        {1.01171875f, 0x3c0c, 0x3f82},   /* bfloat16 tie, rounds up to even */
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        checks += 2;
        if (ref_f32_to_f16(known[i].f) != known[i].f16)
            mismatch("reference f32->f16", i, f32_bits(known[i].f), 0, ref_f32_to_f16(known[i].f), known[i].f16);
        if (ref_f32_to_bf16(known[i].f) != known[i].bf16)
            mismatch("reference f32->bf16", i, f32_bits(known[i].f), 0, ref_f32_to_bf16(known[i].f), known[i].bf16);
    }
    /* Every finite float16 survives the round trip. */
    for (uint32_t h = 0; h < ALL16; h++)
        if ((h & 0x7c00) != 0x7c00) {
            checks++;
            if (ref_f32_to_f16(ref_f16_to_f32((uint16_t)h)) != h)
                mismatch("reference f16 round trip", h, h, 0, ref_f32_to_f16(ref_f16_to_f32((uint16_t)h)), h);
        }
}

/* ---- the thread pool's ranges ------------------------------------------- */

#define MAX_RANGES 64  /* chunks: a few per thread */
struct ranges {
    _Atomic int count;
    size_t begin[MAX_RANGES], end[MAX_RANGES];
};

static void record_range(void *ctx, size_t begin, size_t end)
{
    struct ranges *r = ctx;
    int k = r->count++;
    if (k < MAX_RANGES) {
        r->begin[k] = begin;
        r->end[k] = end;
    }
}

static void test_pool_ranges(void)
{
    static const size_t sizes[] = {2, 15, 16, 17, 63, 64, 65, 1000, 4097, 100003};
    static const size_t itemsizes[] = {2, 4, 8};
    const size_t grain = leaky_get_grain_bytes();
    leaky_set_grain_bytes(8);
    for (int threads = 2; threads <= 7; threads += 5)
        for (size_t z = 0; z < 3; z++)
            for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
                for (size_t offset = 0; offset < 64; offset += itemsizes[z]) {
                    const size_t item = itemsizes[z], n = sizes[s];
                    const uintptr_t out = 4096 + offset;  /* never dereferenced */
                    struct ranges r = {0};
                    leaky_set_num_threads(threads);
                    leaky_parallel_for(n, item, (const void *)out, record_range, &r);
                    int bad = r.count < 1 || r.count > MAX_RANGES;
                    size_t covered = 0;
                    for (int k = 0; !bad && k < r.count; k++) {
                        covered += r.end[k] - r.begin[k];
                        bad |= r.begin[k] >= r.end[k] && n > 0;
                        bad |= r.begin[k] != 0 && (out + r.begin[k] * item) % 64 != 0;
                        for (int m = 0; m < k; m++)  /* disjoint */
                            bad |= r.begin[k] < r.end[m] && r.begin[m] < r.end[k];
                    }
                    bad |= covered != n;
                    checks++;
                    if (bad) {
                        failures++;
                        if (failures < 20)
                            printf("MISMATCH pool ranges: n=%zu item=%zu offset=%zu threads=%d "
                                   "(%d ranges)\n", n, item, offset, threads, r.count);
                    }
                }
    leaky_set_num_threads(1);
    leaky_set_grain_bytes(grain);
}

/* ---- every compiled target ----------------------------------------------- */

static const struct { const char *name; const struct leaky_kernels *table; } tables[] = {
    {"baseline", &leaky_kernels_baseline},
#ifdef LEAKY_X86_TARGETS
    {"avx2", &leaky_kernels_avx2},
    {"avx512", &leaky_kernels_avx512},
#endif
};

int main(void)
{
    int tested = 0;
    test_reference();
    printf("reference conversions: %ld checks, %ld failures\n", checks, failures);
    test_pool_ranges();
    printf("thread pool ranges: %ld checks, %ld failures so far\n", checks, failures);
    for (int t = 0; t < leaky_target_count(); t++) {
        const char *name = leaky_target_name(t);
        const struct leaky_kernels *k = NULL;
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
            if (strcmp(tables[i].name, name) == 0)
                k = tables[i].table;
        if (k == NULL) {
            printf("target %-8s compiled, but this driver has no table for it\n", name);
            failures++;
            continue;
        }
        if (!leaky_target_supported(t)) {
            printf("target %-8s skipped: this CPU cannot run it\n", name);
            continue;
        }
        const long before_checks = checks, before_failures = failures;
        test_half("f16", k->fwd_f16, k->bwd_f16, ref_f16_to_f32, ref_f32_to_f16, specials_f16,
                  sizeof(specials_f16) / sizeof(specials_f16[0]));
        test_half("bf16", k->fwd_bf16, k->bwd_bf16, ref_bf16_to_f32, ref_f32_to_bf16,
                  specials_bf16, sizeof(specials_bf16) / sizeof(specials_bf16[0]));
        test_f32(name, k);
        test_f64(name, k);
        if (leaky_set_target(t) != 0) {
            printf("target %-8s cannot be made active\n", name);
            failures++;
        }
        test_strided(name);
        printf("target %-8s %ld checks, %ld failures\n", name, checks - before_checks,
               failures - before_failures);
        tested++;
    }
    /* CPU features, as show_config() reports them. */
    printf("CPU features:");
    for (int f = 0; f < LEAKY_FEATURE_COUNT; f++)
        if (leaky_cpu_has(f))
            printf(" %s", leaky_feature_name(f));
    printf("\n%s: %d targets, %ld checks, %ld failures\n", failures ? "FAILED" : "OK", tested,
           checks, failures);
    return failures || tested == 0;
}
