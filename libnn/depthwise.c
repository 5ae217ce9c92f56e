/* depthwise.c - depthwise 2-D convolution (depth multiplier 1): channel c
 * of the output is channel c of the input convolved with its own k x k
 * filter. The portable body, which needs no scratch: for each tap (ki, kj)
 * the output positions whose input pixel lies inside the image are
 * computed once (nn_tap_range), so the inner loops over a row are branch-free
 * multiply-adds (contiguous at stride 1, where they vectorize). The
 * AVX-512 body (depthwise_avx512.c, depthwise_isa.h) gives the same bits
 * and uses the scratch. */
#include "depthwise_isa.h"
#include "nn_layers.h"

#include <string.h>

/* The valid output rectangle of tap (ki, kj) and the input offset of its
 * first element. */
typedef struct {
    int ylo, yhi, xlo, xhi;
} dw_tap;

static dw_tap tap_of(const nn_conv_dims *d, int ki, int kj)
{
    dw_tap t;
    nn_tap_range(&t.ylo, &t.yhi, ki, d->pad, d->stride, d->in_h, d->out_h);
    nn_tap_range(&t.xlo, &t.xhi, kj, d->pad, d->stride, d->in_w, d->out_w);
    return t;
}

/* Input pixel of output (oy, ox) under tap (ki, kj). */
static size_t in_at(const nn_conv_dims *d, int oy, int ox, int ki, int kj)
{
    return (size_t)(oy * d->stride - d->pad + ki) * d->in_w + (size_t)(ox * d->stride - d->pad + kj);
}

/* dst[t] += w * src[t * s] */
static inline void axpy_strided(float *restrict dst, const float *restrict src, float w, int n,
                                int s)
{
    if (s == 1)
        for (int t = 0; t < n; t++)
            dst[t] += w * src[t];
    else
        for (int t = 0; t < n; t++)
            dst[t] += w * src[(size_t)t * s];
}

static void forward_portable(float *out, const float *in, const float *w, const float *b, int n,
                             const nn_conv_dims *d)
{
    const int k = d->k, s = d->stride, C = d->in_c;
    const size_t ohw = (size_t)d->out_h * d->out_w, ihw = (size_t)d->in_h * d->in_w;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            float *o = out + ((size_t)i * C + c) * ohw;       /* (out_h, out_w) */
            const float *x = in + ((size_t)i * C + c) * ihw;  /* (in_h, in_w)   */
            const float *f = w + (size_t)c * k * k;           /* (k, k)         */
            float bias = b ? b[c] : 0.0f;
            for (size_t p = 0; p < ohw; p++)
                o[p] = bias;
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) {
                    dw_tap t = tap_of(d, ki, kj);
                    if (t.xlo >= t.xhi)
                        continue;
                    for (int oy = t.ylo; oy < t.yhi; oy++)
                        axpy_strided(o + (size_t)oy * d->out_w + t.xlo, x + in_at(d, oy, t.xlo, ki, kj),
                                     f[ki * k + kj], t.xhi - t.xlo, s);
                }
        }
}

/* db[c] += the sum of channel c's gradient over each image, in double. */
static void bias_grad(float *db, const float *dout, int n, const nn_conv_dims *d)
{
    const int C = d->in_c;
    const size_t ohw = (size_t)d->out_h * d->out_w;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            const float *g = dout + ((size_t)i * C + c) * ohw;
            double sum = 0.0;
            for (size_t p = 0; p < ohw; p++)
                sum += g[p];
            db[c] += (float)sum;
        }
}

/* The input and weight gradients (the bias's is bias_grad's). */
static void backward_portable(float *din, float *dw, const float *dout, const float *in,
                              const float *w, int n, const nn_conv_dims *d)
{
    const int k = d->k, s = d->stride, C = d->in_c;
    const size_t ohw = (size_t)d->out_h * d->out_w, ihw = (size_t)d->in_h * d->in_w;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) {
            const float *g = dout + ((size_t)i * C + c) * ohw; /* (out_h, out_w) */
            const float *x = in + ((size_t)i * C + c) * ihw;   /* (in_h, in_w)   */
            float *dx = din ? din + ((size_t)i * C + c) * ihw : NULL;
            const float *f = w + (size_t)c * k * k;
            float *df = dw + (size_t)c * k * k;
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) {
                    dw_tap t = tap_of(d, ki, kj);
                    if (t.xlo >= t.xhi)
                        continue;
                    double acc = 0.0;
                    const float wv = f[ki * k + kj];
                    for (int oy = t.ylo; oy < t.yhi; oy++) {
                        const float *gr = g + (size_t)oy * d->out_w + t.xlo;
                        size_t at = in_at(d, oy, t.xlo, ki, kj);
                        float row = 0.0f;
                        for (int q = 0; q < t.xhi - t.xlo; q++)
                            row += gr[q] * x[at + (size_t)q * s];
                        acc += row;
                        if (dx)
                            for (int q = 0; q < t.xhi - t.xlo; q++)
                                dx[at + (size_t)q * s] += wv * gr[q];
                    }
                    df[ki * k + kj] += (float)acc;
                }
        }
}

size_t nn_depthwise_scratch_floats(const nn_conv_dims *d)
{
    return nn_depthwise_avx512_scratch_floats(d);
}

void nn_depthwise_forward_isa(float *out, float *scratch, const float *in, const float *w,
                              const float *b, int n, const nn_conv_dims *d, nn_isa isa)
{
    if (isa == NN_ISA_AVX512 && nn_depthwise_forward_avx512(out, scratch, in, w, b, n, d))
        return;
    forward_portable(out, in, w, b, n, d);
}

void nn_depthwise_backward_isa(float *din, float *dw, float *db, float *scratch,
                               const float *dout, const float *in, const float *w, int n,
                               const nn_conv_dims *d, nn_isa isa)
{
    if (db)
        bias_grad(db, dout, n, d);
    if (isa == NN_ISA_AVX512 && nn_depthwise_backward_avx512(din, dw, scratch, dout, in, w, n, d))
        return;
    backward_portable(din, dw, dout, in, w, n, d);
}

void nn_depthwise_forward(float *out, float *scratch, const float *in, const float *w,
                          const float *b, int n, const nn_conv_dims *d)
{
    nn_depthwise_forward_isa(out, scratch, in, w, b, n, d, nn_isa_best());
}

void nn_depthwise_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                           const float *in, const float *w, int n, const nn_conv_dims *d)
{
    nn_depthwise_backward_isa(din, dw, db, scratch, dout, in, w, n, d, nn_isa_best());
}
