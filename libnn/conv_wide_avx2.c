/* conv_wide_avx2.c - the AVX2+FMA bodies of the wide-plane kernels
 * (conv_wide.h), compiled for AVX2 whatever the build's -march and called
 * only when nn_isa_supported(NN_ISA_AVX2). 16 ymm registers:
 *
 * Forward: a tile of 4 output channels x 3 vectors of 8 positions (12
 *   accumulators); per tap 3 loads, 4 broadcasts, 12 FMAs.
 * Weight gradient: a tile of 16 output channels (2 vectors of 8) x 6
 *   taps; per wide position 2 loads, 6 broadcasts, 12 FMAs. */
#include "conv_wide.h"
#include "nn_target.h"

#if defined(__x86_64__)
NN_TARGET_AVX2_BEGIN
#include <immintrin.h>

#define INL static inline __attribute__((always_inline))
/* Keeps a loaded vector in its register (GCC would fold the load into
 * every FMA that uses it). */
#define PIN(v) __asm__("" : "+x"(v))

INL void fwd_tile(float *y, size_t ldy, const float *x, const ptrdiff_t *off,
                  const float *const wr[4], const float *b4, int K, const int nr)
{
    __m256 acc[4][3];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const __m256 b = b4 ? _mm256_set1_ps(b4[i]) : _mm256_setzero_ps();
#pragma GCC unroll 3
        for (int j = 0; j < nr; j++)
            acc[i][j] = b;
    }
    for (int r = 0; r < K; r++) {
        const float *xr = x + off[r];
        __m256 xv[3];
#pragma GCC unroll 3
        for (int j = 0; j < nr; j++)
            xv[j] = _mm256_loadu_ps(xr + 8 * j);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const __m256 wv = _mm256_broadcast_ss(wr[i] + r);
#pragma GCC unroll 3
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 3
        for (int j = 0; j < nr; j++)
            _mm256_storeu_ps(y + (size_t)i * ldy + 8 * j, acc[i][j]);
}

void nn_cwk_fwd_avx2(float *y, size_t ldy, const float *x, const ptrdiff_t *off, const float *w,
                     size_t ldw, const float *bias, int M, int K, int qp)
{
    const int nv = qp / 8;
    for (int v0 = 0; v0 < nv; v0 += 3) {
        const int nr = nv - v0 < 3 ? nv - v0 : 3;
        const float *xq = x + 8 * v0;
        for (int m0 = 0; m0 < M; m0 += 4) {
            const float *wr[4];
            float b4[4];
            for (int i = 0; i < 4; i++) {
                const int m = m0 + i < M ? m0 + i : M - 1;
                wr[i] = w + (size_t)m * ldw;
                b4[i] = bias ? bias[m] : 0.0f;
            }
            float *yt = y + (size_t)m0 * ldy + 8 * v0;
            const float *bp = bias ? b4 : NULL;
            switch (nr) {
            case 3: fwd_tile(yt, ldy, xq, off, wr, bp, K, 3); break;
            case 2: fwd_tile(yt, ldy, xq, off, wr, bp, K, 2); break;
            default: fwd_tile(yt, ldy, xq, off, wr, bp, K, 1); break;
            }
        }
    }
}

/* Weight gradient tile: MV vectors of 8 channels x NR taps. */
INL void bwdw_tile(float *dw, int K, int M, int m0, const float *gt, size_t ldg, const float *x,
                   const ptrdiff_t *off, int r0, int qp, const int mv, const int nr)
{
    __m256 acc[2][6];
    const float *xr[6];
#pragma GCC unroll 6
    for (int j = 0; j < nr; j++)
        xr[j] = x + off[r0 + j];
#pragma GCC unroll 2
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm256_setzero_ps();
    const float *gq = gt + m0;
    for (int q = 0; q < qp; q++, gq += ldg) {
        __m256 gv[2];
#pragma GCC unroll 2
        for (int i = 0; i < mv; i++) {
            gv[i] = _mm256_loadu_ps(gq + 8 * i);
            PIN(gv[i]);
        }
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++) {
            const __m256 xv = _mm256_broadcast_ss(xr[j] + q);
#pragma GCC unroll 2
            for (int i = 0; i < mv; i++)
                acc[i][j] = _mm256_fmadd_ps(gv[i], xv, acc[i][j]);
        }
    }
    float buf[6][16];
#pragma GCC unroll 6
    for (int j = 0; j < nr; j++)
#pragma GCC unroll 2
        for (int i = 0; i < mv; i++)
            _mm256_storeu_ps(buf[j] + 8 * i, acc[i][j]);
    const int mn = M - m0 < 8 * mv ? M - m0 : 8 * mv;
    const int rn = K - r0 < nr ? K - r0 : nr;
    for (int m = 0; m < mn; m++)
        for (int j = 0; j < rn; j++)
            dw[(size_t)(m0 + m) * K + r0 + j] += buf[j][m];
}

void nn_cwk_bwdw_avx2(float *dw, const float *gt, size_t ldg, const float *x, const ptrdiff_t *off,
                      int M, int K, int qp)
{
    for (int m0 = 0; m0 < M; m0 += 16) {
        if (M - m0 > 8)
            for (int r0 = 0; r0 < K; r0 += 6)
                bwdw_tile(dw, K, M, m0, gt, ldg, x, off, r0, qp, 2, 6);
        else
            for (int r0 = 0; r0 < K; r0 += 6)
                bwdw_tile(dw, K, M, m0, gt, ldg, x, off, r0, qp, 1, 6);
    }
}

/* One gather of 8 channels per wide position (channels past M masked to
 * 0); rows that are not outputs are zeroed. */
void nn_cwk_widen_avx2(float *gt, size_t ldg, const float *g, int M, int oh, int ow, int wq,
                       int qp)
{
    const int plane = oh * ow;
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(plane));
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 zero = _mm256_setzero_ps();
    for (int q = 0; q < qp; q++) {
        const int oy = q / wq, ox = q % wq;
        float *dst = gt + (size_t)q * ldg;
        if (oy >= oh || ox >= ow) {
            for (size_t m = 0; m < ldg; m += 8)
                _mm256_storeu_ps(dst + m, zero);
            continue;
        }
        const float *src = g + (size_t)oy * ow + ox;
        for (int m = 0; m < (int)ldg; m += 8) {
            /* lanes l < M - m gather, the others give 0 */
            const __m256 k = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(M - m), lane));
            const __m256 v = _mm256_mask_i32gather_ps(zero, src + (size_t)m * plane, idx, k, 4);
            _mm256_storeu_ps(dst + m, v);
        }
    }
}

NN_TARGET_END
#else
/* Not x86: never selected (nn_isa_supported says 0); the reference. */
void nn_cwk_widen_avx2(float *gt, size_t ldg, const float *g, int M, int oh, int ow, int wq,
                       int qp)
{
    nn_cwk_widen_scalar(gt, ldg, g, M, oh, ow, wq, qp);
}

void nn_cwk_fwd_avx2(float *y, size_t ldy, const float *x, const ptrdiff_t *off, const float *w,
                     size_t ldw, const float *bias, int M, int K, int qp)
{
    nn_cwk_fwd_scalar(y, ldy, x, off, w, ldw, bias, M, K, qp);
}

void nn_cwk_bwdw_avx2(float *dw, const float *g, size_t ldg, const float *x, const ptrdiff_t *off,
                      int M, int K, int qp)
{
    nn_cwk_bwdw_scalar(dw, g, ldg, x, off, M, K, qp);
}
#endif
