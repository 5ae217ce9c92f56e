/* conv2d.c - 2-D convolution: the wide-plane kernels of conv_wide.c on the
 * fastest instruction set this CPU runs (nn_isa_best), and im2col + sgemm
 * for the one case they do not take: the input gradient of a strided
 * convolution (or one padded by k or more).
 *
 * The im2col + sgemm path, one image at a time:
 *
 * Forward, per image:
 *   col (K, HW) = im2col(in)            K = in_c*k*k, HW = out_h*out_w
 *   out (out_c, HW) = W (out_c, K) x col (+ bias per row)
 * Backward, per image:
 *   dW^T (K, out_c) += col x dout^T   (dout is (out_c, HW); added to dW
 *                                      once per call, see the backward)
 *   db (out_c)    += row sums of dout
 *   dcol (K, HW)   = W^T x dout, then col2im adds dcol into din.
 * A 1x1 convolution with stride 1 and no padding needs no im2col: the input
 * image (in_c, H*W) already is the column matrix, and dcol is din itself.
 *
 * Row r = (c*k + ki)*k + kj of col holds, for every output pixel (oy, ox),
 * the input pixel (oy*stride - pad + ki, ox*stride - pad + kj) of channel c,
 * or 0 where that falls into the padding. The valid output range in each
 * direction is computed once per (ki, kj), so the inner loops over ox are
 * branch-free copies/adds over contiguous memory. */
#include "conv_wide.h"
#include "nn_layers.h"
#include "nn_vec.h"

#include <cblas.h>
#include <stddef.h>
#include <string.h>

static int conv_pointwise(const nn_conv_dims *d)
{
    return d->k == 1 && d->stride == 1 && d->pad == 0;
}

/* The im2col path's scratch: [dwt: (K, out_c)][col: (K, HW)]. dwt is used
 * by backward only (see there); forward uses col. */
static size_t gemm_scratch_floats(const nn_conv_dims *d)
{
    const size_t K = (size_t)d->in_c * (size_t)d->k * (size_t)d->k;
    return K * (size_t)d->out_c + K * (size_t)d->out_h * (size_t)d->out_w;
}

/* The larger of the two paths' needs (they run one after the other). */
size_t nn_conv2d_scratch_floats(const nn_conv_dims *d)
{
    size_t wide = nn_conv_wide_scratch_floats(d);
    if (nn_conv_wide_din_ok(d))
        return wide;
    size_t gemm = gemm_scratch_floats(d);
    return gemm > wide ? gemm : wide;
}

/* Output positions o in [*lo, *hi) whose input coordinate
 * o*stride - pad + kk lies inside [0, in). */
static void valid_range(int *lo, int *hi, int kk, int pad, int stride, int in, int out)
{
    int off = pad - kk; /* input coordinate = o*stride - off */
    int l = off > 0 ? (off + stride - 1) / stride : 0;
    int top = in - 1 + off; /* need o*stride <= top */
    int h = top >= 0 ? top / stride + 1 : 0;
    if (h > out)
        h = out;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* Strided gather dst[t] = src[t*s] (s > 1); s == 1 goes to nn_vec_copy. */
static inline void gather(float *restrict dst, const float *restrict src, int n, int s)
{
    if (s == 1) {
        nn_vec_copy(dst, src, (size_t)n);
        return;
    }
    for (int t = 0; t < n; t++)
        dst[t] = src[(size_t)t * s];
}

/* Strided scatter-add dst[t*s] += src[t] (s > 1); s == 1 is nn_vec_add. */
static inline void scatter_add(float *restrict dst, const float *restrict src, int n, int s)
{
    if (s == 1) {
        nn_vec_add(dst, src, (size_t)n);
        return;
    }
    for (int t = 0; t < n; t++)
        dst[(size_t)t * s] += src[t];
}

/* Stride 1 with out_w == in_w (a "same" convolution, 2*pad == k-1, the
 * common case): col row (c, ki, kj) at q = oy*ow + ox reads the input plane
 * at q + shift, shift = (ki-pad)*in_w + (kj-pad), so the whole valid span
 * [q0, q1) of the row is ONE contiguous copy. The span also covers the
 * out-of-range columns of its inner rows, which picked up neighbouring
 * pixels through the wrap-around; zero_wrapped() clears them. */
static int conv_same_width(const nn_conv_dims *d)
{
    return d->stride == 1 && d->out_w == d->in_w;
}

/* Zero columns [0, xlo) and [xhi, ow) of rows [ylo, yhi) of one col row. */
static void zero_wrapped(float *row, int ylo, int yhi, int xlo, int xhi, int ow)
{
    for (int oy = ylo; oy < yhi; oy++) {
        float *r = row + (size_t)oy * ow;
        for (int ox = 0; ox < xlo; ox++)
            r[ox] = 0.0f;
        for (int ox = xhi; ox < ow; ox++)
            r[ox] = 0.0f;
    }
}

static void im2col(float *restrict col,       /* (in_c*k*k, out_h*out_w) */
                   const float *restrict img, /* (in_c, in_h, in_w)      */
                   const nn_conv_dims *d)
{
    const int k = d->k, s = d->stride, p = d->pad;
    const int ih = d->in_h, iw = d->in_w, oh = d->out_h, ow = d->out_w;
    const size_t hw = (size_t)oh * ow;
    const int same = conv_same_width(d);
    for (int c = 0; c < d->in_c; c++) {
        const float *plane = img + (size_t)c * ih * iw;
        for (int ki = 0; ki < k; ki++) {
            int ylo, yhi;
            valid_range(&ylo, &yhi, ki, p, s, ih, oh);
            for (int kj = 0; kj < k; kj++) {
                int xlo, xhi;
                valid_range(&xlo, &xhi, kj, p, s, iw, ow);
                float *row = col + ((size_t)(c * k + ki) * k + kj) * hw;
                if (ylo >= yhi || xlo >= xhi) { /* kernel tap only sees padding */
                    memset(row, 0, hw * sizeof(float));
                    continue;
                }
                if (same) {
                    const size_t q0 = (size_t)ylo * ow + xlo, q1 = (size_t)(yhi - 1) * ow + xhi;
                    const ptrdiff_t shift = (ptrdiff_t)(ki - p) * iw + (kj - p);
                    memset(row, 0, q0 * sizeof(float));
                    memcpy(row + q0, plane + (ptrdiff_t)q0 + shift, (q1 - q0) * sizeof(float));
                    memset(row + q1, 0, (hw - q1) * sizeof(float));
                    zero_wrapped(row, ylo, yhi, xlo, xhi, ow);
                    continue;
                }
                memset(row, 0, (size_t)ylo * ow * sizeof(float));
                for (int oy = ylo; oy < yhi; oy++) {
                    float *dst = row + (size_t)oy * ow;
                    for (int ox = 0; ox < xlo; ox++)
                        dst[ox] = 0.0f;
                    gather(dst + xlo, plane + (size_t)(oy * s - p + ki) * iw + (xlo * s - p + kj),
                           xhi - xlo, s);
                    for (int ox = xhi; ox < ow; ox++)
                        dst[ox] = 0.0f;
                }
                memset(row + (size_t)yhi * ow, 0, (size_t)(oh - yhi) * ow * sizeof(float));
            }
        }
    }
}

/* img += col2im(col): the adjoint of im2col (padding entries dropped).
 * col is scratch and gets clobbered (wrapped columns zeroed). */
static void col2im_add(float *restrict img, /* (in_c, in_h, in_w) +=   */
                       float *restrict col, /* (in_c*k*k, out_h*out_w) */
                       const nn_conv_dims *d)
{
    const int k = d->k, s = d->stride, p = d->pad;
    const int ih = d->in_h, iw = d->in_w, oh = d->out_h, ow = d->out_w;
    const size_t hw = (size_t)oh * ow;
    const int same = conv_same_width(d);
    for (int c = 0; c < d->in_c; c++) {
        float *plane = img + (size_t)c * ih * iw;
        for (int ki = 0; ki < k; ki++) {
            int ylo, yhi;
            valid_range(&ylo, &yhi, ki, p, s, ih, oh);
            for (int kj = 0; kj < k; kj++) {
                int xlo, xhi;
                valid_range(&xlo, &xhi, kj, p, s, iw, ow);
                float *row = col + ((size_t)(c * k + ki) * k + kj) * hw;
                if (ylo >= yhi || xlo >= xhi)
                    continue;
                if (same) {
                    /* Wrapped entries are padding taps: zero them, then one
                     * contiguous add (they add 0 to an in-range pixel). */
                    const size_t q0 = (size_t)ylo * ow + xlo, q1 = (size_t)(yhi - 1) * ow + xhi;
                    const ptrdiff_t shift = (ptrdiff_t)(ki - p) * iw + (kj - p);
                    zero_wrapped(row, ylo, yhi, xlo, xhi, ow);
                    nn_vec_add(plane + (ptrdiff_t)q0 + shift, row + q0, q1 - q0);
                    continue;
                }
                for (int oy = ylo; oy < yhi; oy++) {
                    float *dst = plane + (size_t)(oy * s - p + ki) * iw + (xlo * s - p + kj);
                    scatter_add(dst, row + (size_t)oy * ow + xlo, xhi - xlo, s);
                }
            }
        }
    }
}

/* Backward through im2col + sgemm: din always (when not NULL), dw and db
 * only when want_dw. */
static void gemm_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                          const float *in, const float *w, int n, const nn_conv_dims *d,
                          int want_dw)
{
    const int M = d->out_c, K = d->in_c * d->k * d->k, HW = d->out_h * d->out_w;
    const size_t in_size = (size_t)d->in_c * d->in_h * d->in_w;
    const size_t out_size = (size_t)M * HW;
    const int pointwise = conv_pointwise(d);
    float *dwt = scratch;                 /* (K, M) */
    float *col = scratch + (size_t)K * M; /* (K, HW) */
    if (M <= 0 || HW <= 0 || n <= 0)
        return;
    /* The weight gradient is accumulated transposed, dW^T (K, M) += col x g^T,
     * over the whole slice and added to dw once at the end: OpenBLAS runs
     * this tall (K x M) shape ~25% faster than g x col^T (M x K) (measured
     * 131 vs 104 GFLOP/s, 32x288x784, one thread). */
    if (want_dw)
        memset(dwt, 0, (size_t)K * M * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *x = in + (size_t)i * in_size;
        const float *g = dout + (size_t)i * out_size; /* (out_c, HW) */
        const float *colm = x;                        /* (K, HW) */
        if (!pointwise && want_dw) {
            im2col(col, x, d);
            colm = col;
        }
        /* dW^T (K, M) += col (K, HW) x g^T (HW, M) */
        if (want_dw)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, M, HW, 1.0f, colm, HW, g, HW,
                        1.0f, dwt, M);
        if (want_dw && db)
            for (int m = 0; m < M; m++)
                db[m] += nn_vec_sum(g + (size_t)m * HW, (size_t)HW);
        if (!din)
            continue;
        float *dx = din + (size_t)i * in_size;
        if (pointwise) {
            /* din (in_c, HW) += W^T (in_c, M) x g (M, HW) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, HW, M, 1.0f, w, K, g, HW,
                        1.0f, dx, HW);
        } else {
            /* dcol (K, HW) = W^T x g; col is no longer needed, reuse it. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, HW, M, 1.0f, w, K, g, HW,
                        0.0f, col, HW);
            col2im_add(dx, col, d);
        }
    }
    if (!want_dw)
        return;
    for (int m = 0; m < M; m++)
        for (int r = 0; r < K; r++)
            dw[(size_t)m * K + r] += dwt[(size_t)r * M + m];
}

void nn_conv2d_forward(float *out, float *scratch, const float *in, const float *w,
                       const float *b, int n, const nn_conv_dims *d)
{
    nn_conv_wide_forward(out, scratch, in, w, b, n, d, nn_isa_best());
}

void nn_conv2d_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                        const float *in, const float *w, int n, const nn_conv_dims *d)
{
    if (!nn_conv_wide_backward(din, dw, db, scratch, dout, in, w, n, d, nn_isa_best()))
        gemm_backward(din, dw, db, scratch, dout, in, w, n, d, 0);
}
