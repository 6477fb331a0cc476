/* The AVX2 target (with F16C): the same loops on 256-bit vectors. */
#include "kernels.h"

#ifdef LEAKY_X86_TARGETS
LEAKY_TARGET_BEGIN(LEAKY_ISA_avx2)
#include <immintrin.h>

#define LEAKY_HAS_STREAM 1
#define V_f32 __m256
#define LANES_f32 8
#define LOAD_f32 _mm256_loadu_ps
#define SET1_f32 _mm256_set1_ps
#define MUL_f32 _mm256_mul_ps
#define STREAM_f32 _mm256_stream_ps
#define STOREU_f32 _mm256_storeu_ps
#define SELECT_GT0_f32(c, t, f) \
    _mm256_blendv_ps((f), (t), _mm256_cmp_ps((c), _mm256_setzero_ps(), _CMP_GT_OQ))
#define V_f64 __m256d
#define LANES_f64 4
#define LOAD_f64 _mm256_loadu_pd
#define SET1_f64 _mm256_set1_pd
#define MUL_f64 _mm256_mul_pd
#define STREAM_f64 _mm256_stream_pd
#define STOREU_f64 _mm256_storeu_pd
#define SELECT_GT0_f64(c, t, f) \
    _mm256_blendv_pd((f), (t), _mm256_cmp_pd((c), _mm256_setzero_pd(), _CMP_GT_OQ))
#define STREAM_FENCE _mm_sfence
/* float16: 8 lanes at a time through F16C. */
#define LOAD_H16(p) _mm_loadu_si128((const __m128i *)(p))
#define STORE_H16(p, h) _mm_storeu_si128((__m128i *)(p), (h))
#define LOADV_f16(p) _mm256_cvtph_ps(LOAD_H16(p))
#define CVTV_f16(v) _mm256_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/* The 8 x 32-bit comparison mask, narrowed to 8 x 16 bits, picks 16-bit lanes. */
static inline __m128i select16_gt0(__m256 c, __m128i t, __m128i f)
{
    __m256i m = _mm256_castps_si256(_mm256_cmp_ps(c, _mm256_setzero_ps(), _CMP_GT_OQ));
    __m128i m16 = _mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    return _mm_blendv_epi8(f, t, m16);
}
#define SELECT16_GT0 select16_gt0

#define LEAKY_TABLE leaky_kernels_avx2
#include "kernels_template.h"

LEAKY_TARGET_END
#endif
