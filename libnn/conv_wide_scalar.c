/* conv_wide_scalar.c - the reference bodies of the wide-plane kernels
 * (conv_wide.h): the defining order of operations, one output at a time.
 * fmaf is one rounding, as the vector fused multiply-adds are; the ISO C
 * build (-std=c11) does not contract the tree's additions. */
#include "conv_wide.h"

#include <math.h>
#include <string.h>

void nn_cwk_widen_scalar(float *gt, size_t ldg, const float *g, int M, int oh, int ow, int wq,
                         int qp)
{
    const size_t plane = (size_t)oh * ow;
    memset(gt, 0, (size_t)qp * ldg * sizeof(float));
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            float *dst = gt + ((size_t)oy * wq + ox) * ldg;
            const float *src = g + (size_t)oy * ow + ox;
            for (int m = 0; m < M; m++)
                dst[m] = src[m * plane];
        }
}

void nn_cwk_fwd_scalar(float *y, size_t ldy, const float *x, const ptrdiff_t *off, const float *w,
                       size_t ldw, const float *bias, int M, int K, int qp)
{
    const int mp = (M + 3) & ~3;
    for (int m = 0; m < mp; m++) {
        const int mw = m < M ? m : M - 1; /* rows past M repeat row M-1 */
        const float *wm = w + (size_t)mw * ldw;
        for (int q = 0; q < qp; q++) {
            float acc = bias ? bias[mw] : 0.0f;
            for (int r = 0; r < K; r++)
                acc = fmaf(wm[r], x[off[r] + q], acc);
            y[(size_t)m * ldy + q] = acc;
        }
    }
}

void nn_cwk_bwdw_scalar(float *dw, const float *gt, size_t ldg, const float *x, const ptrdiff_t *off,
                        int M, int K, int qp)
{
    for (int m = 0; m < M; m++)
        for (int r = 0; r < K; r++) {
            const float *xr = x + off[r];
            float acc = 0.0f;
            for (int q = 0; q < qp; q++)
                acc = fmaf(gt[(size_t)q * ldg + m], xr[q], acc);
            dw[(size_t)m * K + r] += acc;
        }
}
