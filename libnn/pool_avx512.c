/* pool_avx512.c - 2x2 stride-2 max pooling with AVX-512 (pool_isa.h).
 *
 * Per output row, 16 outputs at a time: the 32 inputs of each of the two
 * window rows are split into even and odd columns by two-source permutes,
 * then the four window elements are taken in row-major order with strict
 * compares and masked moves, exactly the selects of pool.c's MAX2X2. The
 * portable body left 2x2 pooling at 6% of a step of configs/mnist.json on
 * Zen 5 (2026-12-05): its stride-2 loads do not vectorize at SSE2. */
#include "pool_isa.h"

#include "nn_target.h"

#if defined(__x86_64__)
#include <immintrin.h>

NN_TARGET_AVX512_BEGIN

#include "nn_avx512_lanes.h"

/* The 32 floats at p (p[0..count) needed); plain loads where the whole
 * vector lies before end, masked ones past it. */
static void load32(__m512 *a, __m512 *b, const float *p, int count, const float *end)
{
    if (p + 32 <= end) {
        *a = _mm512_loadu_ps(p);
        *b = _mm512_loadu_ps(p + 16);
        return;
    }
    *a = _mm512_maskz_loadu_ps(nn_lanes_first(count), p);
    *b = _mm512_maskz_loadu_ps(nn_lanes_first(count - 16), p + 16);
}

void nn_maxpool2x2_avx512(float *out, int32_t *argmax, const float *in, size_t planes,
                          const nn_pool_dims *d)
{
    /* even: lanes 0, 2, .., 30 of two sources, also 2 * lane; odd: 1, 3, .., 31 */
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const int iw = d->in_w, ow = d->out_w, oh = d->out_h;
    const size_t in_plane = (size_t)d->in_h * iw, out_plane = (size_t)oh * ow;
    const float *end = in + planes * in_plane;
    const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32(iw);
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * in_plane;
        float *o = out + p * out_plane;
        int32_t *am = argmax + p * out_plane;
        for (int oy = 0; oy < oh; oy++) {
            const float *r0 = x + (size_t)(2 * oy) * iw, *r1 = r0 + iw;
            for (int ox = 0; ox < ow; ox += 16) {
                const int n = ow - ox < 16 ? ow - ox : 16;
                __m512 a0, a1, b0, b1;
                load32(&a0, &a1, r0 + 2 * ox, 2 * n, end);
                load32(&b0, &b1, r1 + 2 * ox, 2 * n, end);
                const __m512 v0 = _mm512_permutex2var_ps(a0, even, a1);
                const __m512 v1 = _mm512_permutex2var_ps(a0, odd, a1);
                const __m512 v2 = _mm512_permutex2var_ps(b0, even, b1);
                const __m512 v3 = _mm512_permutex2var_ps(b0, odd, b1);
                /* index of v0: 2*oy*iw + 2*(ox + lane) */
                const __m512i i0 =
                    _mm512_add_epi32(_mm512_set1_epi32(2 * oy * iw + 2 * ox), even);
                __m512 m = v0;
                __m512i i = i0;
                __mmask16 k = _mm512_cmp_ps_mask(v1, m, _CMP_GT_OQ);
                i = _mm512_mask_mov_epi32(i, k, _mm512_add_epi32(i0, one));
                m = _mm512_mask_mov_ps(m, k, v1);
                k = _mm512_cmp_ps_mask(v2, m, _CMP_GT_OQ);
                i = _mm512_mask_mov_epi32(i, k, _mm512_add_epi32(i0, down));
                m = _mm512_mask_mov_ps(m, k, v2);
                k = _mm512_cmp_ps_mask(v3, m, _CMP_GT_OQ);
                i = _mm512_mask_mov_epi32(i, k,
                                          _mm512_add_epi32(_mm512_add_epi32(i0, down), one));
                m = _mm512_mask_mov_ps(m, k, v3);
                const __mmask16 st = nn_lanes_first(n);
                _mm512_mask_storeu_ps(o + (size_t)oy * ow + ox, st, m);
                _mm512_mask_storeu_epi32(am + (size_t)oy * ow + ox, st, i);
            }
        }
    }
}

NN_TARGET_END
#endif
