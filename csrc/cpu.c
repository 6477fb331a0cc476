/* CPU features found at run time, read with cpuid and xgetbv directly.
 *
 * Not __builtin_cpu_supports: Clang <= 17 rejects feature strings such as
 * "f16c" and "avx512fp16" at compile time, and MSVC has no such builtin.
 * A feature counts only if the CPU has it AND the OS saves its registers on a
 * context switch (XCR0, read with xgetbv once OSXSAVE says it may be):
 *   - AVX, AVX2, FMA, F16C need the SSE and AVX state (XCR0 bits 1, 2);
 *   - AVX-512 also needs the opmask and both ZMM states (bits 5, 6, 7).
 * (macOS on Intel enables the AVX-512 state lazily, on first use, so XCR0
 * under-reports it there: the avx512 target is then simply not chosen.)
 * 32-bit x86 (GCC, Clang, MSVC) is detected the same way; arm64 always has
 * NEON; anything else reports no features. */
#include <stddef.h>
#include <stdint.h>
#include "cpu.h"
#include "leaky_c_api.h"

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#define LEAKY_CPU_X86 1
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static void raw_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int k = 0; k < 4; k++)
        r[k] = (uint32_t)v[k];
}
static uint64_t xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void raw_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    if (__get_cpuid_max(0, NULL) == 0) { /* a 32-bit CPU without cpuid */
        r[0] = r[1] = r[2] = r[3] = 0;
        return;
    }
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
/* xgetbv as bytes: older assemblers lack the mnemonic, and the _xgetbv
 * intrinsic needs -mxsave on GCC. */
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* Leaves above the CPU's maximum return another leaf's data: zeros instead. */
static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    uint32_t max[4];
    raw_cpuid(leaf & 0x80000000u, 0, max);
    if (leaf > max[0]) {
        r[0] = r[1] = r[2] = r[3] = 0;
        return;
    }
    raw_cpuid(leaf, sub, r);
}

#define BIT(r, n) (((r) >> (n)) & 1u)
#define XCR0_AVX 0x06u    /* SSE and AVX (YMM) state */
#define XCR0_AVX512 0xe0u /* opmask, ZMM0-15 upper halves, ZMM16-31 */

/* Every feature's answer, into detected[LEAKY_FEATURE_COUNT].  Not cached:
 * callers ask a few times per process, and no cache means no race. */
static void detect(int *detected)
{
    uint32_t l1[4], l7[4], l7s1[4] = {0, 0, 0, 0};
    cpuid(1, 0, l1);
    cpuid(7, 0, l7);
    if (l7[0] >= 1) /* the highest sub-leaf of leaf 7 */
        cpuid(7, 1, l7s1);
    const uint64_t xcr0 = BIT(l1[2], 27) ? xgetbv0() : 0; /* OSXSAVE */
    const int avx_os = (xcr0 & XCR0_AVX) == XCR0_AVX && BIT(l1[2], 28); /* and AVX */
    const int avx512_os = avx_os && (xcr0 & XCR0_AVX512) == XCR0_AVX512;
    const int avx512f = avx512_os && BIT(l7[1], 16);

    detected[LEAKY_FEATURE_SSE2] = (int)BIT(l1[3], 26);
    detected[LEAKY_FEATURE_AVX2] = avx_os && BIT(l7[1], 5);
    detected[LEAKY_FEATURE_FMA] = avx_os && BIT(l1[2], 12);
    detected[LEAKY_FEATURE_F16C] = avx_os && BIT(l1[2], 29);
    detected[LEAKY_FEATURE_AVX512F] = avx512f;
    detected[LEAKY_FEATURE_AVX512BW] = avx512f && BIT(l7[1], 30);
    detected[LEAKY_FEATURE_AVX512VL] = avx512f && BIT(l7[1], 31);
    detected[LEAKY_FEATURE_AVX512_BF16] = avx512f && BIT(l7s1[0], 5);
    detected[LEAKY_FEATURE_AVX512_FP16] = avx512f && BIT(l7[3], 23);
}
#endif

int leaky_cpu_has(int feature)
{
    if (feature < 0 || feature >= LEAKY_FEATURE_COUNT)
        return 0;
#if defined(LEAKY_CPU_X86)
    int detected[LEAKY_FEATURE_COUNT] = {0}; /* NEON stays 0 */
    detect(detected);
    return detected[feature];
#elif defined(__aarch64__) || defined(_M_ARM64)
    return feature == LEAKY_FEATURE_NEON;
#else
    return 0;
#endif
}
