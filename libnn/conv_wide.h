/* conv_wide.h - the convolution kernels on "wide" planes (private to libnn
 * and its tests).
 *
 * A channel of the zero-padded input is split into stride*stride phase
 * planes (one for stride 1) of width wq; output pixel (oy, ox) becomes wide
 * position q = oy*wq + ox, and kernel tap r = (c, ki, kj) reads every
 * output position from one fixed offset:
 *     x[off[r] + q],  off[r] = plane(c, ki%s, kj%s) + (ki/s)*wq + kj/s.
 * A convolution is then a matrix product over contiguous rows with no
 * im2col copy; the columns ox >= out_w of the wide output are discarded
 * (forward) or multiplied by zero gradients (weight gradient). q runs to qp,
 * a multiple of 16.
 *
 *   fwd:  y[m][q]   = bias[m] + sum_r w[m][r] * x[off[r] + q]
 *         (one fused multiply-add chain per output, r = 0, 1, ... in order)
 *   bwdw: dw[m][r] += sum_q gt[q][m] * x[off[r] + q]
 *         (one fused multiply-add chain per weight from 0 in q order, then
 *         one addition to dw; gt is the gradient transposed, channels
 *         contiguous, so a vector holds 16 (or 8) channels of one tap and
 *         no horizontal sum is needed)
 *
 * Every ISA body computes exactly these operations in this order, so all
 * give the same bits (tests/test_conv_kernels.c). The forward body writes
 * rows [M, round4(M)) of y too (copies of row M-1); y needs those rows.
 * The weight gradient reads channels [M, round16(M)) of gt (zeros) and
 * taps [K, round12(K)) of off (any valid offsets), and writes neither. */
#ifndef CONV_WIDE_H
#define CONV_WIDE_H

#include <stddef.h>
#include <stdint.h>

#include "nn_isa.h"
#include "nn_layers.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*nn_cwk_fwd_fn)(float *y,            /* (round4(M), ldy) written        */
                              size_t ldy,
                              const float *x,      /* planes, read at off[r] + q      */
                              const ptrdiff_t *off,  /* (K)                             */
                              const float *w,      /* (M, ldw): w[m*ldw + r]          */
                              size_t ldw,
                              const float *bias,   /* (M) or NULL                     */
                              int M, int K, int qp);

typedef void (*nn_cwk_bwdw_fn)(float *dw,          /* (M, K) +=                      */
                               const float *gt,    /* (qp, ldg), 0 where q is not an output */
                               size_t ldg,         /* >= round16(M)                  */
                               const float *x, const ptrdiff_t *off, int M, int K, int qp);

/* gt (qp, ldg) <- the gradient g (M, oh, ow) transposed onto the wide grid
 * of width wq: gt[(oy*wq + ox)*ldg + m] = g[m][oy][ox]; every other entry
 * of gt's rows [0, qp) x columns [0, ldg) is 0. Data movement only. */
typedef void (*nn_cwk_widen_fn)(float *gt, size_t ldg, const float *g, int M, int oh, int ow,
                                int wq, int qp);
void nn_cwk_widen_scalar(float *gt, size_t ldg, const float *g, int M, int oh, int ow, int wq,
                         int qp);
void nn_cwk_widen_avx2(float *gt, size_t ldg, const float *g, int M, int oh, int ow, int wq,
                       int qp);
void nn_cwk_widen_avx512(float *gt, size_t ldg, const float *g, int M, int oh, int ow, int wq,
                         int qp);

void nn_cwk_fwd_scalar(float *y, size_t ldy, const float *x, const ptrdiff_t *off, const float *w,
                       size_t ldw, const float *bias, int M, int K, int qp);
void nn_cwk_bwdw_scalar(float *dw, const float *g, size_t ldg, const float *x, const ptrdiff_t *off,
                        int M, int K, int qp);
void nn_cwk_fwd_avx2(float *y, size_t ldy, const float *x, const ptrdiff_t *off, const float *w,
                     size_t ldw, const float *bias, int M, int K, int qp);
void nn_cwk_bwdw_avx2(float *dw, const float *g, size_t ldg, const float *x, const ptrdiff_t *off,
                      int M, int K, int qp);
void nn_cwk_fwd_avx512(float *y, size_t ldy, const float *x, const ptrdiff_t *off, const float *w,
                       size_t ldw, const float *bias, int M, int K, int qp);
void nn_cwk_bwdw_avx512(float *dw, const float *g, size_t ldg, const float *x,
                        const ptrdiff_t *off, int M, int K, int qp);

/* The whole convolution through the wide kernels of one ISA (conv2d.c
 * calls these with nn_isa_best(); tests with every supported ISA).
 * Backward takes the input gradient the wide way for stride 1 and
 * pad <= k-1 (a stride-1 convolution of the padded gradient with the
 * flipped, transposed kernel) and returns 0 if it left din untouched
 * because the shape needs another method (then the caller does it).
 * din, dw and db may each be NULL: that part is not computed. */

/* The bodies of one ISA (the Winograd passes use them too). */
nn_cwk_fwd_fn nn_cwk_fwd_for(nn_isa isa);
nn_cwk_bwdw_fn nn_cwk_bwdw_for(nn_isa isa);
nn_cwk_widen_fn nn_cwk_widen_for(nn_isa isa);

size_t nn_conv_wide_scratch_floats(const nn_conv_dims *d);
int nn_conv_wide_din_ok(const nn_conv_dims *d);
void nn_conv_wide_forward(float *out, float *scratch, const float *in, const float *w,
                          const float *b, int n, const nn_conv_dims *d, nn_isa isa);
int nn_conv_wide_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                          const float *in, const float *w, int n, const nn_conv_dims *d,
                          nn_isa isa);

#ifdef __cplusplus
}
#endif

#endif
