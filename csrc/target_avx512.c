/* The AVX-512 target: the same loops on 512-bit vectors with mask registers. */
#include "kernels.h"

#ifdef LEAKY_X86_TARGETS
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,f16c")
#endif
#include <immintrin.h>

#define LEAKY_HAS_STREAM 1
#define V_f32 __m512
#define LANES_f32 16
#define LOAD_f32 _mm512_loadu_ps
#define SET1_f32 _mm512_set1_ps
#define MUL_f32 _mm512_mul_ps
#define OR_f32 _mm512_or_ps
#define STREAM_f32 _mm512_stream_ps
#define SELECT_GT0_f32(c, t, f) \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask((c), _mm512_setzero_ps(), _CMP_GT_OQ), (f), (t))
#define V_f64 __m512d
#define LANES_f64 8
#define LOAD_f64 _mm512_loadu_pd
#define SET1_f64 _mm512_set1_pd
#define MUL_f64 _mm512_mul_pd
#define STREAM_f64 _mm512_stream_pd
#define SELECT_GT0_f64(c, t, f) \
    _mm512_mask_blend_pd(_mm512_cmp_pd_mask((c), _mm512_setzero_pd(), _CMP_GT_OQ), (f), (t))
#define STREAM_FENCE _mm_sfence
#define LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define CVT_F16(v) _mm512_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define STORE_F16(p, v) STORE_H16((p), CVT_F16(v))
#define LOAD_H16(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE_H16(p, h) _mm256_storeu_si256((__m256i *)(p), (h))
#define SELECT16_GT0(c, t, f) \
    _mm256_mask_blend_epi16(_mm512_cmp_ps_mask((c), _mm512_setzero_ps(), _CMP_GT_OQ), (f), (t))

#define LEAKY_TABLE leaky_kernels_avx512
#include "kernels_template.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
