/* Arrays with any strides, without copies.
 *
 * The iteration walks rows: the innermost axis is a row, the outer axes are an
 * odometer.  A row whose strides are all one element runs the active target's
 * contiguous kernel (vectorised); any other row runs the plain strided loop
 * here.  Threads split the flattened iteration space (whole and partial rows),
 * in the output's memory order, so a contiguous output gets contiguous ranges. */
#include <stddef.h>
#include <stdint.h>
#include "elements.h"
#include "kernels.h"
#include "leaky_c_api.h"
#include "threadpool.h"

/* Row functions: p[k] is operand k's row start, s[k] its stride in bytes. */
typedef void (*leaky_row_fn)(char *const *p, const ptrdiff_t *s, size_t n, double a);

#define LEAKY_DEFINE_ROWS(T, C, SFX)                                            \
static void fwd_row_##SFX(char *const *p, const ptrdiff_t *s, size_t n, double slope) \
{                                                                               \
    const C a = (C)slope;                                                       \
    if (s[0] == (ptrdiff_t)sizeof(T) && s[1] == (ptrdiff_t)sizeof(T)) {         \
        LEAKY_ACTIVE->fwd_##SFX((const T *)p[0], (T *)p[1], n, a, 0);           \
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
        LEAKY_ACTIVE->bwd_##SFX((const T *)p[0], (const T *)p[1], (T *)p[2], n, a, 0); \
        return;                                                                 \
    }                                                                           \
    for (size_t i = 0; i < n; i++) {  /* the gradient passes through as stored */ \
        const T *grad = (const T *)(p[0] + (ptrdiff_t)i * s[0]);               \
        C scaled = LOAD_##SFX(grad) * a;                                        \
        LEAKY_OPAQUE(scaled);  /* see kernels.h */                              \
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
#define LEAKY_MAX_DIMS 64

struct strided_job {
    int ndim, nops;
    const size_t *shape;
    const char *base[LEAKY_MAX_OPERANDS];
    const ptrdiff_t *strides[LEAKY_MAX_OPERANDS];
    leaky_row_fn row;
    double slope;
};

/* Call row() over elements [begin, end) of the flattened iteration. */
static void strided_range(void *ctx, size_t begin, size_t end)
{
    const struct strided_job *j = ctx;
    const int last = j->ndim - 1;
    const size_t row_len = j->shape[last];
    size_t index[LEAKY_MAX_DIMS];
    char *p[LEAKY_MAX_OPERANDS];
    ptrdiff_t inner[LEAKY_MAX_OPERANDS];
    size_t rest = begin / row_len, col = begin % row_len;
    for (int d = last - 1; d >= 0; d--) {
        index[d] = rest % j->shape[d];
        rest /= j->shape[d];
    }
    for (int k = 0; k < j->nops; k++) {
        inner[k] = j->strides[k][last];
        p[k] = (char *)j->base[k] + (ptrdiff_t)col * inner[k];
        for (int d = 0; d < last; d++)
            p[k] += (ptrdiff_t)index[d] * j->strides[k][d];
    }
    for (size_t done = begin; done < end;) {
        size_t count = row_len - col < end - done ? row_len - col : end - done;
        j->row(p, inner, count, j->slope);
        done += count;
        /* To the start of the next row: back over this row, then the odometer. */
        for (int k = 0; k < j->nops; k++)
            p[k] -= (ptrdiff_t)col * inner[k];
        col = 0;
        for (int d = last - 1; d >= 0; d--) {
            for (int k = 0; k < j->nops; k++)
                p[k] += j->strides[k][d];
            if (++index[d] < j->shape[d])
                break;
            for (int k = 0; k < j->nops; k++)
                p[k] -= (ptrdiff_t)j->shape[d] * j->strides[k][d];
            index[d] = 0;
        }
    }
}

static void run_strided(struct strided_job *j, size_t itemsize)
{
    size_t total = 1;
    if (j->ndim < 1 || j->ndim > LEAKY_MAX_DIMS)
        return;
    for (int d = 0; d < j->ndim; d++)
        total *= j->shape[d];
    if (total)
        leaky_parallel_for(total, itemsize, j->base[j->nops - 1], strided_range, j);
}

static const size_t itemsizes[] = {sizeof(float), sizeof(double), sizeof(uint16_t), sizeof(uint16_t)};

void leaky_fwd_strided(int dtype, int ndim, const size_t *shape,
                       const char *x, const ptrdiff_t *x_strides,
                       char *y, const ptrdiff_t *y_strides, double a)
{
    struct strided_job j = {ndim, 2, shape, {x, y}, {x_strides, y_strides}, fwd_rows[dtype], a};
    run_strided(&j, itemsizes[dtype]);
}

void leaky_bwd_strided(int dtype, int ndim, const size_t *shape,
                       const char *g, const ptrdiff_t *g_strides,
                       const char *x, const ptrdiff_t *x_strides,
                       char *out, const ptrdiff_t *out_strides, double a)
{
    struct strided_job j = {ndim, 3, shape, {g, x, out}, {g_strides, x_strides, out_strides},
                            bwd_rows[dtype], a};
    run_strided(&j, itemsizes[dtype]);
}
