/* Run-time dispatch: which compiled target serves the kernels.
 *
 * Python (leaky_c/_backend.py) picks the best target the CPU supports, minus
 * any the user disabled, and calls leaky_set_target once at import.  Each
 * public kernel is then one indirect call through the active table. */
#include <stddef.h>
#include <stdint.h>
#include "kernels.h"
#include "leaky_c_api.h"

struct leaky_target {
    const char *name;
    const struct leaky_kernels *kernels; /* NULL: not compiled on this platform */
    int (*cpu_can_run)(void);
};

static int always(void) { return 1; }

#ifdef LEAKY_X86_TARGETS
static int cpu_avx2(void)
{
    static const int need[] = {LEAKY_FEATURE_AVX2, LEAKY_FEATURE_F16C};
    return leaky_cpu_has_all(need, 2);
}
static int cpu_avx512(void)
{
    static const int need[] = {LEAKY_FEATURE_AVX512F, LEAKY_FEATURE_AVX512BW,
                               LEAKY_FEATURE_AVX512VL, LEAKY_FEATURE_F16C};
    return leaky_cpu_has_all(need, 4);
}
#endif

static const struct leaky_target targets[] = {
    {"baseline", &leaky_kernels_baseline, always},
#ifdef LEAKY_X86_TARGETS
    {"avx2", &leaky_kernels_avx2, cpu_avx2},
    {"avx512", &leaky_kernels_avx512, cpu_avx512},
#endif
};
#define N_TARGETS ((int)(sizeof(targets) / sizeof(targets[0])))

static int active_target = 0;
const struct leaky_kernels *leaky_active = &leaky_kernels_baseline;

int leaky_target_count(void) { return N_TARGETS; }

const char *leaky_target_name(int target)
{
    return (target >= 0 && target < N_TARGETS) ? targets[target].name : "";
}

int leaky_target_supported(int target)
{
    return target >= 0 && target < N_TARGETS && targets[target].cpu_can_run();
}

int leaky_get_target(void) { return active_target; }

int leaky_set_target(int target)
{
    if (!leaky_target_supported(target))
        return -1;
    active_target = target;
    leaky_active = targets[target].kernels;
    return 0;
}

void leaky_fwd_f32(const float *x, float *y, size_t n, float a, int stream)
{
    leaky_active->fwd_f32(x, y, n, a, stream);
}

void leaky_fwd_f64(const double *x, double *y, size_t n, double a, int stream)
{
    leaky_active->fwd_f64(x, y, n, a, stream);
}

void leaky_bwd_f32(const float *g, const float *x, float *out, size_t n, float a, int stream)
{
    leaky_active->bwd_f32(g, x, out, n, a, stream);
}

void leaky_bwd_f64(const double *g, const double *x, double *out, size_t n, double a, int stream)
{
    leaky_active->bwd_f64(g, x, out, n, a, stream);
}

void leaky_fwd_f16(const uint16_t *x, uint16_t *y, size_t n, float a, int stream)
{
    leaky_active->fwd_f16(x, y, n, a, stream);
}

void leaky_bwd_f16(const uint16_t *g, const uint16_t *x, uint16_t *out, size_t n, float a, int stream)
{
    leaky_active->bwd_f16(g, x, out, n, a, stream);
}

void leaky_fwd_bf16(const uint16_t *x, uint16_t *y, size_t n, float a, int stream)
{
    leaky_active->fwd_bf16(x, y, n, a, stream);
}

void leaky_bwd_bf16(const uint16_t *g, const uint16_t *x, uint16_t *out, size_t n, float a, int stream)
{
    leaky_active->bwd_bf16(g, x, out, n, a, stream);
}

void leaky_bound_copy(const unsigned char *src, unsigned char *dst, size_t nbytes, int stream)
{
    leaky_active->copy(src, dst, nbytes, stream);
}

void leaky_bound_copy2(const unsigned char *a, const unsigned char *b, unsigned char *dst,
                       size_t nbytes, int stream)
{
    leaky_active->copy2(a, b, dst, nbytes, stream);
}
