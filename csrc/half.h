/* Portable, bit-exact conversions between float32 and the 16-bit floats.
 *
 * Branch-free integer code (selects, no calls) so loops using them vectorise
 * on every target, SSE2 included.  Both round to nearest, ties to even, and
 * keep subnormals (no flush to zero).  NaN stays NaN with its sign:
 *   - float16 keeps the top payload bits and sets the quiet bit, as F16C's
 *     vcvtps2ph and NumPy do;
 *   - bfloat16 becomes sign | 0x7fc0, as ml_dtypes does.
 * AVX-512's vcvtneps2bf16 is deliberately not used: it flushes subnormal
 * inputs to zero (0x000ae398 becomes 0x0000, not 0x000b).
 */
#ifndef LEAKY_HALF_H
#define LEAKY_HALF_H

#include <stdint.h>
#include <string.h>

static inline float leaky_bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t leaky_f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float leaky_bf16_to_f32(uint16_t h) { return leaky_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t leaky_f32_to_bf16(float f)
{
    uint32_t u = leaky_f32_to_bits(f);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = ((u >> 16) & 0x8000u) | 0x7fc0u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

static inline float leaky_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = (uint32_t)(h & 0x7fffu) << 13;         /* exponent and mantissa in place */
    uint32_t exp = em & (0x7c00u << 13);
    uint32_t normal = em + ((127u - 15u) << 23);          /* rebias the exponent */
    uint32_t infnan = em + ((255u - 31u) << 23);
    /* Subnormal: 2^-14 * (1 + m/1024) - 2^-14 = m * 2^-24, exactly. */
    uint32_t subnormal = leaky_f32_to_bits(leaky_bits_to_f32(em + (113u << 23)) - 6.103515625e-05f);
    uint32_t u = exp == (0x7c00u << 13) ? infnan : exp == 0 ? subnormal : normal;
    return leaky_bits_to_f32(u | sign);
}

static inline uint16_t leaky_f32_to_f16(float f)
{
    uint32_t u = leaky_f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    /* Below 2^-14 the result is subnormal: adding 0.5 aligns the value to a
     * quantum of 2^-24, so the FP adder does the round-to-nearest-even. */
    uint32_t subnormal = leaky_f32_to_bits(leaky_bits_to_f32(a) + 0.5f) - 0x3f000000u;
    uint32_t normal = (a + ((uint32_t)(15 - 127) << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
    uint32_t big = a > 0x7f800000u ? (0x7e00u | ((a >> 13) & 0x3ffu)) : 0x7c00u;
    uint32_t r = a >= 0x47800000u ? big : a < 0x38800000u ? subnormal : normal;
    return (uint16_t)(r | sign);
}

#endif
