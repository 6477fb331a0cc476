/* Arrays with any strides, without copies, and PReLU.
 *
 * Both walk rows: the innermost axis is a row, the outer axes are an odometer.
 * A row whose strides are all one element runs the active target's
 * contiguous kernel (vectorised); any other row runs the plain strided loop
 * here.  Element loads and stores go through one macro per dtype. */
#include <stddef.h>
#include <stdint.h>
#include "half.h"
#include "kernels.h"
#include "leaky_c_api.h"

#define LOAD_f32(p) (*(const float *)(p))
#define STORE_f32(p, v) (*(float *)(p) = (v))
#define LOAD_f64(p) (*(const double *)(p))
#define STORE_f64(p, v) (*(double *)(p) = (v))
#define LOAD_f16(p) leaky_f16_to_f32(*(const uint16_t *)(p))
#define STORE_f16(p, v) (*(uint16_t *)(p) = leaky_f32_to_f16(v))
#define LOAD_bf16(p) leaky_bf16_to_f32(*(const uint16_t *)(p))
#define STORE_bf16(p, v) (*(uint16_t *)(p) = leaky_f32_to_bf16(v))
/* The stored form of a computed value. */
#define STORE_VALUE_f32(v) (v)
#define STORE_VALUE_f64(v) (v)
#define STORE_VALUE_f16(v) leaky_f32_to_f16(v)
#define STORE_VALUE_bf16(v) leaky_f32_to_bf16(v)

/* Row functions: p[k] is operand k's row start, s[k] its stride in bytes. */
typedef void (*leaky_row_fn)(char *const *p, const ptrdiff_t *s, size_t n, double a);

#define LEAKY_DEFINE_ROWS(T, C, SFX)                                            \
static void fwd_row_##SFX(char *const *p, const ptrdiff_t *s, size_t n, double slope) \
{                                                                               \
    const C a = (C)slope;                                                       \
    if (s[0] == (ptrdiff_t)sizeof(T) && s[1] == (ptrdiff_t)sizeof(T)) {         \
        leaky_active->fwd_##SFX((const T *)p[0], (T *)p[1], n, a, 0);           \
        return;                                                                 \
    }                                                                           \
    for (size_t i = 0; i < n; i++) {                                            \
        const C v = LOAD_##SFX(p[0] + (ptrdiff_t)i * s[0]), scaled = v * a;     \
        STORE_##SFX(p[1] + (ptrdiff_t)i * s[1], v > 0 ? v : scaled);            \
    }                                                                           \
}                                                                               \
static void bwd_row_##SFX(char *const *p, const ptrdiff_t *s, size_t n, double slope) \
{                                                                               \
    const C a = (C)slope;                                                       \
    if (s[0] == (ptrdiff_t)sizeof(T) && s[1] == (ptrdiff_t)sizeof(T)            \
            && s[2] == (ptrdiff_t)sizeof(T)) {                                  \
        leaky_active->bwd_##SFX((const T *)p[0], (const T *)p[1], (T *)p[2], n, a, 0); \
        return;                                                                 \
    }                                                                           \
    for (size_t i = 0; i < n; i++) {  /* the gradient passes through as stored */ \
        const T *grad = (const T *)(p[0] + (ptrdiff_t)i * s[0]);               \
        const C scaled = LOAD_##SFX(grad) * a;                                  \
        *(T *)(p[2] + (ptrdiff_t)i * s[2]) =                                    \
            LOAD_##SFX(p[1] + (ptrdiff_t)i * s[1]) > 0 ? *grad : STORE_VALUE_##SFX(scaled); \
    }                                                                           \
}

LEAKY_DEFINE_ROWS(float, float, f32)
LEAKY_DEFINE_ROWS(double, double, f64)
LEAKY_DEFINE_ROWS(uint16_t, float, f16)
LEAKY_DEFINE_ROWS(uint16_t, float, bf16)

static const leaky_row_fn fwd_rows[] = {fwd_row_f32, fwd_row_f64, fwd_row_f16, fwd_row_bf16};
static const leaky_row_fn bwd_rows[] = {bwd_row_f32, bwd_row_f64, bwd_row_f16, bwd_row_bf16};

#define LEAKY_MAX_OPERANDS 3

/* Call row() once per row of an ndim-axis iteration over nops operands. */
static void for_each_row(int ndim, const size_t *shape, int nops, const char *const *base,
                         const ptrdiff_t *const *strides, leaky_row_fn row, double a)
{
    size_t index[64] = {0};
    char *p[LEAKY_MAX_OPERANDS];
    ptrdiff_t inner[LEAKY_MAX_OPERANDS];
    if (ndim < 1 || ndim > 64)
        return;
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0)
            return;
    for (int k = 0; k < nops; k++) {
        p[k] = (char *)base[k];
        inner[k] = strides[k][ndim - 1];
    }
    for (;;) {
        row(p, inner, shape[ndim - 1], a);
        /* Advance the odometer over the outer axes. */
        int d = ndim - 2;
        for (; d >= 0; d--) {
            for (int k = 0; k < nops; k++)
                p[k] += strides[k][d];
            if (++index[d] < shape[d])
                break;
            for (int k = 0; k < nops; k++)
                p[k] -= (ptrdiff_t)shape[d] * strides[k][d];
            index[d] = 0;
        }
        if (d < 0)
            return;
    }
}

void leaky_fwd_strided(int dtype, int ndim, const size_t *shape,
                       const char *x, const ptrdiff_t *x_strides,
                       char *y, const ptrdiff_t *y_strides, double a)
{
    const char *base[2] = {x, y};
    const ptrdiff_t *strides[2] = {x_strides, y_strides};
    for_each_row(ndim, shape, 2, base, strides, fwd_rows[dtype], a);
}

void leaky_bwd_strided(int dtype, int ndim, const size_t *shape,
                       const char *g, const ptrdiff_t *g_strides,
                       const char *x, const ptrdiff_t *x_strides,
                       char *out, const ptrdiff_t *out_strides, double a)
{
    const char *base[3] = {g, x, out};
    const ptrdiff_t *strides[3] = {g_strides, x_strides, out_strides};
    for_each_row(ndim, shape, 3, base, strides, bwd_rows[dtype], a);
}

/* PReLU: (outer, channels, inner) contiguous; rows of `inner` elements share a
 * slope.  Long rows reuse the contiguous kernels; channels-last (inner == 1)
 * loops over channels with the weight vector, which vectorises directly. */
#define LEAKY_DEFINE_PRELU(T, C, SFX)                                           \
static void prelu_fwd_##SFX(const char *x8, const char *w8, char *y8,           \
                            size_t outer, size_t channels, size_t inner)        \
{                                                                               \
    const T *x = (const T *)x8, *w = (const T *)w8;                             \
    T *y = (T *)y8;                                                             \
    for (size_t o = 0; o < outer; o++) {                                        \
        if (inner == 1) {                                                       \
            for (size_t c = 0; c < channels; c++) {                             \
                const C v = LOAD_##SFX(x + c), scaled = v * LOAD_##SFX(w + c);  \
                STORE_##SFX(y + c, v > 0 ? v : scaled);                         \
            }                                                                   \
        } else {                                                                \
            for (size_t c = 0; c < channels; c++)                               \
                leaky_active->fwd_##SFX(x + c * inner, y + c * inner, inner,    \
                                        LOAD_##SFX(w + c), 0);                  \
        }                                                                       \
        x += channels * inner;                                                  \
        y += channels * inner;                                                  \
    }                                                                           \
}                                                                               \
/* grad_input row by row with the contiguous kernels, and grad_weight from   \
 * the active target's neg_dot (see kernels_template.h); channels-last rows   \
 * (inner == 1) are single elements, done here. */                            \
static void prelu_bwd_##SFX(const char *g8, const char *x8, const char *w8, char *gi8, \
                            double *gw, size_t outer, size_t channels, size_t inner) \
{                                                                               \
    const T *g = (const T *)g8, *x = (const T *)x8, *w = (const T *)w8;         \
    T *gi = (T *)gi8;                                                           \
    for (size_t o = 0; o < outer; o++) {                                        \
        for (size_t c = 0; c < channels; c++) {                                 \
            const T *gr = g + c * inner, *xr = x + c * inner;                   \
            if (inner == 1) {                                                   \
                const C xv = LOAD_##SFX(xr), grad = LOAD_##SFX(gr);             \
                const C scaled = grad * LOAD_##SFX(w + c);                      \
                gi[c] = xv > 0 ? *gr : STORE_VALUE_##SFX(scaled);               \
                gw[c] += xv > 0 ? 0.0 : (double)xv * (double)grad;              \
            } else {                                                            \
                leaky_active->bwd_##SFX(gr, xr, gi + c * inner, inner, LOAD_##SFX(w + c), 0); \
                gw[c] += leaky_active->neg_dot_##SFX(xr, gr, inner);            \
            }                                                                   \
        }                                                                       \
        g += channels * inner;                                                  \
        x += channels * inner;                                                  \
        gi += channels * inner;                                                 \
    }                                                                           \
}

LEAKY_DEFINE_PRELU(float, float, f32)
LEAKY_DEFINE_PRELU(double, double, f64)
LEAKY_DEFINE_PRELU(uint16_t, float, f16)
LEAKY_DEFINE_PRELU(uint16_t, float, bf16)

typedef void (*leaky_prelu_fwd_fn)(const char *, const char *, char *, size_t, size_t, size_t);
typedef void (*leaky_prelu_bwd_fn)(const char *, const char *, const char *, char *, double *,
                                   size_t, size_t, size_t);
static const leaky_prelu_fwd_fn prelu_fwds[] = {prelu_fwd_f32, prelu_fwd_f64, prelu_fwd_f16,
                                                prelu_fwd_bf16};
static const leaky_prelu_bwd_fn prelu_bwds[] = {prelu_bwd_f32, prelu_bwd_f64, prelu_bwd_f16,
                                                prelu_bwd_bf16};

void leaky_prelu_fwd(int dtype, const char *x, const char *weight, char *y,
                     size_t outer, size_t channels, size_t inner)
{
    prelu_fwds[dtype](x, weight, y, outer, channels, inner);
}

void leaky_prelu_bwd(int dtype, const char *grad_output, const char *x, const char *weight,
                     char *grad_input, double *grad_weight,
                     size_t outer, size_t channels, size_t inner)
{
    prelu_bwds[dtype](grad_output, x, weight, grad_input, grad_weight, outer, channels, inner);
}
