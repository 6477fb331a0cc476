/* The AVX-512 target: the same loops with AVX-512's mask registers.  The plain
 * loops the compiler vectorises use 256-bit vectors (GCC's default for its
 * Intel AVX-512 tunings too): on the development machine's AMD EPYC, 512-bit
 * float32 loops were slower than the avx2 target's, the backward by 10-25%
 * (4 MiB, in and out of cache; benchmarks/RESULTS.md, issue 22 item 4), and
 * with 256 bits the two targets time alike.  The intrinsics below (streaming
 * stores, 16-bit conversions) keep 512 bits. */
#include "kernels.h"

#ifdef LEAKY_X86_TARGETS
LEAKY_TARGET_BEGIN(LEAKY_ISA_avx512)
#if defined(__GNUC__) && !defined(__clang__)  /* (clang: no such pragma) */
#pragma GCC target("prefer-vector-width=256")
#endif
#include <immintrin.h>

#define LEAKY_HAS_STREAM 1
#define V_f32 __m512
#define LANES_f32 16
#define LOAD_f32 _mm512_loadu_ps
#define SET1_f32 _mm512_set1_ps
#define MUL_f32 _mm512_mul_ps
#define STREAM_f32 _mm512_stream_ps
#define STOREU_f32 _mm512_storeu_ps
#define SELECT_GT0_f32(c, t, f) \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask((c), _mm512_setzero_ps(), _CMP_GT_OQ), (f), (t))
#define V_f64 __m512d
#define LANES_f64 8
#define LOAD_f64 _mm512_loadu_pd
#define SET1_f64 _mm512_set1_pd
#define MUL_f64 _mm512_mul_pd
#define STREAM_f64 _mm512_stream_pd
#define STOREU_f64 _mm512_storeu_pd
#define SELECT_GT0_f64(c, t, f) \
    _mm512_mask_blend_pd(_mm512_cmp_pd_mask((c), _mm512_setzero_pd(), _CMP_GT_OQ), (f), (t))
#define STREAM_FENCE _mm_sfence
/* 16-bit floats: 16 lanes at a time.  float16 through F16C; bfloat16 is the
 * top half of a float32, rounded to nearest-even with integer arithmetic
 * (not vcvtneps2bf16, which flushes subnormals; see half.h). */
#define LOAD_H16(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE_H16(p, h) _mm256_storeu_si256((__m256i *)(p), (h))
#define SELECT16_GT0(c, t, f) \
    _mm256_mask_blend_epi16(_mm512_cmp_ps_mask((c), _mm512_setzero_ps(), _CMP_GT_OQ), (f), (t))
#define LOADV_f16(p) _mm512_cvtph_ps(LOAD_H16(p))
#define CVTV_f16(v) _mm512_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define LOADV_bf16(p) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(LOAD_H16(p)), 16))
static inline __m256i cvtv_bf16(__m512 v)
{
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __m512i nan = _mm512_or_si512(
        _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x8000)),
        _mm512_set1_epi32(0x7fc0));
    const __mmask16 is_nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(is_nan, rounded, nan));
}
#define CVTV_bf16 cvtv_bf16

#define LEAKY_TABLE leaky_kernels_avx512
#include "kernels_template.h"

LEAKY_TARGET_END
#endif
