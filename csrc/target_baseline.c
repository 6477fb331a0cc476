/* The portable target: what the compiler's default flags allow (SSE2 on
 * x86-64, NEON on arm64, plain C elsewhere).  Always built, always runnable. */
#include "kernels.h"

#ifdef LEAKY_X86_TARGETS
#include <emmintrin.h>
#define LEAKY_HAS_STREAM 1
#define V_f32 __m128
#define LANES_f32 4
#define LOAD_f32 _mm_loadu_ps
#define SET1_f32 _mm_set1_ps
#define MUL_f32 _mm_mul_ps
#define STREAM_f32 _mm_stream_ps
#define STOREU_f32 _mm_storeu_ps
#define V_f64 __m128d
#define LANES_f64 2
#define LOAD_f64 _mm_loadu_pd
#define SET1_f64 _mm_set1_pd
#define MUL_f64 _mm_mul_pd
#define STREAM_f64 _mm_stream_pd
#define STOREU_f64 _mm_storeu_pd
#define STREAM_FENCE _mm_sfence
/* SSE2 has no blend: select with and/andnot/or on the comparison mask. */
static inline __m128 select_gt0_f32(__m128 c, __m128 t, __m128 f)
{
    __m128 m = _mm_cmpgt_ps(c, _mm_setzero_ps());
    return _mm_or_ps(_mm_and_ps(m, t), _mm_andnot_ps(m, f));
}
static inline __m128d select_gt0_f64(__m128d c, __m128d t, __m128d f)
{
    __m128d m = _mm_cmpgt_pd(c, _mm_setzero_pd());
    return _mm_or_pd(_mm_and_pd(m, t), _mm_andnot_pd(m, f));
}
#define SELECT_GT0_f32 select_gt0_f32
#define SELECT_GT0_f64 select_gt0_f64
#endif

#define LEAKY_TABLE leaky_kernels_baseline
#include "kernels_template.h"
