/* conv_wide_avx512.c - the AVX-512 bodies of the wide-plane kernels
 * (conv_wide.h), compiled for AVX-512 whatever the build's -march and
 * called only when nn_isa_supported(NN_ISA_AVX512).
 *
 * Forward: a register tile of 4 output channels x 6 vectors of 16 wide
 *   positions (24 accumulators); per tap 6 loads, 4 broadcasts, 24 FMAs.
 *   Position tiles outside, channel tiles inside, so a tile's input rows
 *   stay in L1 while every channel group passes over them.
 * Weight gradient: a tile of up to 64 output channels (4 vectors of 16)
 *   x 6 taps (8 taps for 3 vectors, 12 for 1 or 2); per wide position
 *   the transposed gradient's channel vectors are loaded once, each tap's
 *   input value broadcast, 24 FMAs. No horizontal sums. */
#include "conv_wide.h"
#include "nn_target.h"

#if defined(__x86_64__)
NN_TARGET_AVX512_BEGIN
#include <immintrin.h>

#define INL static inline __attribute__((always_inline))
/* Keeps a loaded vector in its register: without it GCC folds the load
 * into every FMA that uses it, one 512-bit load per FMA. */
#define PIN(v) __asm__("" : "+v"(v))

INL void fwd_tile(float *y, size_t ldy, const float *x, const ptrdiff_t *off,
                  const float *const wr[4], const float *b4, int K, const int nr)
{
    __m512 acc[4][6];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const __m512 b = b4 ? _mm512_set1_ps(b4[i]) : _mm512_setzero_ps();
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++)
            acc[i][j] = b;
    }
    for (int r = 0; r < K; r++) {
        const float *xr = x + off[r];
        __m512 xv[6];
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++)
            xv[j] = _mm512_loadu_ps(xr + 16 * j);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const __m512 wv = _mm512_set1_ps(wr[i][r]);
#pragma GCC unroll 6
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 6
        for (int j = 0; j < nr; j++)
            _mm512_storeu_ps(y + (size_t)i * ldy + 16 * j, acc[i][j]);
}

void nn_cwk_fwd_avx512(float *y, size_t ldy, const float *x, const ptrdiff_t *off, const float *w,
                       size_t ldw, const float *bias, int M, int K, int qp)
{
    const int nv = qp / 16;
    for (int v0 = 0; v0 < nv; v0 += 6) {
        const int nr = nv - v0 < 6 ? nv - v0 : 6;
        const float *xq = x + 16 * v0;
        for (int m0 = 0; m0 < M; m0 += 4) {
            const float *wr[4];
            float b4[4];
            for (int i = 0; i < 4; i++) {
                const int m = m0 + i < M ? m0 + i : M - 1;
                wr[i] = w + (size_t)m * ldw;
                b4[i] = bias ? bias[m] : 0.0f;
            }
            float *yt = y + (size_t)m0 * ldy + 16 * v0;
            const float *bp = bias ? b4 : NULL;
            switch (nr) {
            case 6: fwd_tile(yt, ldy, xq, off, wr, bp, K, 6); break;
            case 5: fwd_tile(yt, ldy, xq, off, wr, bp, K, 5); break;
            case 4: fwd_tile(yt, ldy, xq, off, wr, bp, K, 4); break;
            case 3: fwd_tile(yt, ldy, xq, off, wr, bp, K, 3); break;
            case 2: fwd_tile(yt, ldy, xq, off, wr, bp, K, 2); break;
            default: fwd_tile(yt, ldy, xq, off, wr, bp, K, 1); break;
            }
        }
    }
}

/* Weight gradient tile: MV vectors of 16 channels x NR taps. */
INL void bwdw_tile(float *dw, int K, int M, int m0, const float *gt, size_t ldg, const float *x,
                   const ptrdiff_t *off, int r0, int qp, const int mv, const int nr)
{
    __m512 acc[4][12];
    const float *xr[12];
#pragma GCC unroll 12
    for (int j = 0; j < nr; j++)
        xr[j] = x + off[r0 + j];
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 12
        for (int j = 0; j < nr; j++)
            acc[i][j] = _mm512_setzero_ps();
    const float *gq = gt + m0;
    for (int q = 0; q < qp; q++, gq += ldg) {
        __m512 gv[4];
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++) {
            gv[i] = _mm512_loadu_ps(gq + 16 * i);
            PIN(gv[i]);
        }
#pragma GCC unroll 12
        for (int j = 0; j < nr; j++) {
            const __m512 xv = _mm512_set1_ps(xr[j][q]);
#pragma GCC unroll 4
            for (int i = 0; i < mv; i++)
                acc[i][j] = _mm512_fmadd_ps(gv[i], xv, acc[i][j]);
        }
    }
    /* dw[m][r] += lane m of acc: through a small transposed buffer. */
    float buf[12][64];
#pragma GCC unroll 12
    for (int j = 0; j < nr; j++)
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++)
            _mm512_storeu_ps(buf[j] + 16 * i, acc[i][j]);
    const int mn = M - m0 < 16 * mv ? M - m0 : 16 * mv;
    const int rn = K - r0 < nr ? K - r0 : nr;
    for (int m = 0; m < mn; m++)
        for (int j = 0; j < rn; j++)
            dw[(size_t)(m0 + m) * K + r0 + j] += buf[j][m];
}

void nn_cwk_bwdw_avx512(float *dw, const float *gt, size_t ldg, const float *x,
                        const ptrdiff_t *off, int M, int K, int qp)
{
    for (int m0 = 0; m0 < M; m0 += 64) {
        const int mv = (M - m0 + 15) / 16 < 4 ? (M - m0 + 15) / 16 : 4;
        switch (mv) {
        case 4:
            for (int r0 = 0; r0 < K; r0 += 6)
                bwdw_tile(dw, K, M, m0, gt, ldg, x, off, r0, qp, 4, 6);
            break;
        case 3:
            for (int r0 = 0; r0 < K; r0 += 8)
                bwdw_tile(dw, K, M, m0, gt, ldg, x, off, r0, qp, 3, 8);
            break;
        case 2:
            for (int r0 = 0; r0 < K; r0 += 12)
                bwdw_tile(dw, K, M, m0, gt, ldg, x, off, r0, qp, 2, 12);
            break;
        default:
            for (int r0 = 0; r0 < K; r0 += 12)
                bwdw_tile(dw, K, M, m0, gt, ldg, x, off, r0, qp, 1, 12);
            break;
        }
    }
}

/* One gather of 16 channels per wide position (channels past M masked to
 * 0); rows that are not outputs are zeroed. */
void nn_cwk_widen_avx512(float *gt, size_t ldg, const float *g, int M, int oh, int ow, int wq,
                         int qp)
{
    const int plane = oh * ow;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                             11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(plane));
    const __m512 zero = _mm512_setzero_ps();
    for (int q = 0; q < qp; q++) {
        const int oy = q / wq, ox = q % wq;
        float *dst = gt + (size_t)q * ldg;
        if (oy >= oh || ox >= ow) {
            for (size_t m = 0; m < ldg; m += 16)
                _mm512_storeu_ps(dst + m, zero);
            continue;
        }
        const float *src = g + (size_t)oy * ow + ox;
        for (int m = 0; m < (int)ldg; m += 16) {
            const int left = M - m;
            const __mmask16 k = left >= 16 ? (__mmask16)0xFFFF
                                : left > 0 ? (__mmask16)((1u << left) - 1)
                                           : (__mmask16)0;
            const __m512 v = _mm512_mask_i32gather_ps(zero, k, idx, src + (size_t)m * plane, 4);
            _mm512_storeu_ps(dst + m, v);
        }
    }
}

NN_TARGET_END
#else
/* Not x86: never selected (nn_isa_supported says 0); the reference. */
void nn_cwk_widen_avx512(float *gt, size_t ldg, const float *g, int M, int oh, int ow, int wq,
                         int qp)
{
    nn_cwk_widen_scalar(gt, ldg, g, M, oh, ow, wq, qp);
}

void nn_cwk_fwd_avx512(float *y, size_t ldy, const float *x, const ptrdiff_t *off, const float *w,
                       size_t ldw, const float *bias, int M, int K, int qp)
{
    nn_cwk_fwd_scalar(y, ldy, x, off, w, ldw, bias, M, K, qp);
}

void nn_cwk_bwdw_avx512(float *dw, const float *g, size_t ldg, const float *x,
                        const ptrdiff_t *off, int M, int K, int qp)
{
    nn_cwk_bwdw_scalar(dw, g, ldg, x, off, M, K, qp);
}
#endif
