/* conv2d.c - 2-D convolution: Winograd F(4x4, 3x3) (conv_wino.c) for the
 * forward pass, input gradient and weight gradient of 3x3 stride-1 layers
 * with 32 or more channels on both sides and rows of 13 or more, the
 * wide-plane kernels of conv_wide.c for everything else, each on the fastest
 * instruction set this CPU runs (nn_isa_best), and, for the one case
 * neither takes - the input gradient of a strided convolution (or
 * of one padded by k or more) - libnn's fixed-order product (nn_gemm.h)
 * + col2im, one image at a time:
 *
 *   dcol (K, HW) = W^T (K, out_c) x dout (out_c, HW)   K = in_c*k*k,
 *                                                      HW = out_h*out_w
 *   din += col2im(dcol)
 *
 * Row r = (c*k + ki)*k + kj of dcol holds, for every output pixel (oy, ox),
 * the gradient of input pixel (oy*stride - pad + ki, ox*stride - pad + kj)
 * of channel c, dropped where that falls into the padding. The valid output
 * range in each direction is computed once per (ki, kj), so the inner loops
 * over ox are branch-free adds over contiguous memory. */
#include "conv_wide.h"
#include "conv_wino.h"
#include "nn_gemm.h"
#include "nn_layers.h"
#include "nn_vec.h"
#include "nn_window.h"

#include <stddef.h>
#include <string.h>

/* The col2im path's scratch: dcol (K, HW). */
static size_t gemm_scratch_floats(const nn_conv_dims *d)
{
    const size_t K = (size_t)d->in_c * (size_t)d->k * (size_t)d->k;
    return K * (size_t)d->out_h * (size_t)d->out_w;
}

/* The largest of the paths' needs (they run one after the other). */
size_t nn_conv2d_scratch_floats(const nn_conv_dims *d)
{
    size_t wide = nn_conv_wide_scratch_floats(d);
    size_t wino = nn_wino_fwd_ok(d) || nn_wino_din_ok(d) || nn_wino_dw_ok(d)
                      ? nn_wino_scratch_floats(d)
                      : 0;
    size_t gemm = nn_conv_wide_din_ok(d) ? 0 : gemm_scratch_floats(d);
    size_t most = wide > wino ? wide : wino;
    return gemm > most ? gemm : most;
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

/* img += col2im(col): each tap's row added back onto the input pixels it
 * came from (padding entries dropped). */
static void col2im_add(float *restrict img,       /* (in_c, in_h, in_w) +=   */
                       const float *restrict col, /* (in_c*k*k, out_h*out_w) */
                       const nn_conv_dims *d)
{
    const int k = d->k, s = d->stride, p = d->pad;
    const int ih = d->in_h, iw = d->in_w, oh = d->out_h, ow = d->out_w;
    const size_t hw = (size_t)oh * ow;
    for (int c = 0; c < d->in_c; c++) {
        float *plane = img + (size_t)c * ih * iw;
        for (int ki = 0; ki < k; ki++) {
            int ylo, yhi;
            nn_tap_range(&ylo, &yhi, ki, p, s, ih, oh);
            for (int kj = 0; kj < k; kj++) {
                int xlo, xhi;
                nn_tap_range(&xlo, &xhi, kj, p, s, iw, ow);
                const float *row = col + ((size_t)(c * k + ki) * k + kj) * hw;
                if (ylo >= yhi || xlo >= xhi)
                    continue;
                for (int oy = ylo; oy < yhi; oy++) {
                    float *dst = plane + (size_t)(oy * s - p + ki) * iw + (xlo * s - p + kj);
                    scatter_add(dst, row + (size_t)oy * ow + xlo, xhi - xlo, s);
                }
            }
        }
    }
}

/* din += the input gradient, through the product + col2im. */
static void gemm_input_grad(float *din, float *scratch, const float *dout, const float *w, int n,
                            const nn_conv_dims *d, nn_isa isa)
{
    const int M = d->out_c, K = d->in_c * d->k * d->k, HW = d->out_h * d->out_w;
    const size_t in_size = (size_t)d->in_c * d->in_h * d->in_w;
    const size_t out_size = (size_t)M * HW;
    float *col = scratch; /* (K, HW) */
    if (M <= 0 || HW <= 0 || n <= 0)
        return;
    for (int i = 0; i < n; i++) {
        const float *g = dout + (size_t)i * out_size; /* (out_c, HW) */
        /* dcol (K, HW) = W^T x g, then added into din. */
        nn_gemm_args p = {.c = col, .ldc = (size_t)HW, .a = w, .rsa = 1, .csa = (size_t)K, .b = g,
                          .ldb = (size_t)HW, .M = K, .N = HW, .K = M, .accumulate = 0};
        nn_gemm(&p, isa);
        col2im_add(din + (size_t)i * in_size, col, d);
    }
}

void nn_conv2d_forward_act(float *out, float *scratch, const float *in, const float *w,
                           const float *b, int n, const nn_conv_dims *d, nn_act act)
{
    const nn_isa isa = nn_isa_best();
    if (nn_wino_fwd_ok(d)) {
        nn_wino_forward(out, scratch, in, w, b, n, d, act, isa);
        return;
    }
    const size_t os = (size_t)d->out_c * d->out_h * d->out_w;
    const size_t is = (size_t)d->in_c * d->in_h * d->in_w;
    for (int i = 0; i < n; i++) { /* per image: the activation finds it in cache */
        float *o = out + (size_t)i * os;
        nn_conv_wide_forward(o, scratch, in + (size_t)i * is, w, b, 1, d, isa);
        if (act == NN_ACT_RELU)
            nn_relu_forward(o, o, os);
        else if (act == NN_ACT_RELU6)
            nn_relu6_forward(o, o, os);
    }
}

void nn_conv2d_forward(float *out, float *scratch, const float *in, const float *w,
                       const float *b, int n, const nn_conv_dims *d)
{
    nn_conv2d_forward_act(out, scratch, in, w, b, n, d, NN_ACT_NONE);
}

int nn_conv2d_batched(const nn_conv_dims *d)
{
    return nn_wino_din_ok(d) || nn_wino_dw_ok(d);
}

static void backward(float *din, int din_set, float *dw, float *db, float *scratch,
                     const float *dout, const float *in, const float *w, int n,
                     const nn_conv_dims *d)
{
    const nn_isa isa = nn_isa_best();
    const int wino_din = din && nn_wino_din_ok(d), wino_dw = dw && nn_wino_dw_ok(d);
    if (din && din_set && !wino_din)
        memset(din, 0, (size_t)n * d->in_c * d->in_h * d->in_w * sizeof(float));
    /* what Winograd leaves (the bias gradient at least) the wide way */
    if (!nn_conv_wide_backward(wino_din ? NULL : din, wino_dw ? NULL : dw, db, scratch, dout, in,
                               w, n, d, isa))
        gemm_input_grad(din, scratch, dout, w, n, d, isa);
    if (wino_dw)
        nn_wino_weight_grad(dw, scratch, dout, in, n, d, isa);
    if (wino_din && din_set)
        nn_wino_input_grad_set(din, scratch, dout, w, n, d, isa);
    else if (wino_din)
        nn_wino_input_grad(din, scratch, dout, w, n, d, isa);
}

void nn_conv2d_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                        const float *in, const float *w, int n, const nn_conv_dims *d)
{
    backward(din, 0, dw, db, scratch, dout, in, w, n, d);
}

void nn_conv2d_backward_set(float *din, float *dw, float *db, float *scratch, const float *dout,
                            const float *in, const float *w, int n, const nn_conv_dims *d)
{
    backward(din, 1, dw, db, scratch, dout, in, w, n, d);
}
