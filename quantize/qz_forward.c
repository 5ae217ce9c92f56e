/* qz_forward.c - the folded net in float, HWC (see quantize.h).
 *
 * Convolutions are im2col (one row of k*k*C values per output pixel, in the
 * weights' (ky, kx, c) order) times the weight matrix transposed, one
 * single-threaded product per image (libnn's fixed-order nn_gemm: the same
 * calibration on every CPU); callers parallelize over images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_gemm.h"
#include "quantize.h"

/* The fused activation (QM_ACT_*) of one value. */
static float act(int relu, float v)
{
    if (relu && v < 0.0f)
        return 0.0f;
    return relu == QM_ACT_RELU6 && v > 6.0f ? 6.0f : v;
}

static void bias_relu(float *y, const float *b, int relu, size_t pixels, int C)
{
    for (size_t p = 0; p < pixels; p++) {
        float *row = y + p * C;
        for (int c = 0; c < C; c++)
            row[c] = act(relu, row[c] + b[c]);
    }
}

/* depthwise: w (c, k, k); x, y HWC; padding reads 0. */
static void depthwise_forward(const qz_fop *op, const float *x, float *y)
{
    const int k = op->kernel, C = op->in_c;
    for (int oy = 0; oy < op->out_h; oy++)
        for (int ox = 0; ox < op->out_w; ox++) {
            float *row = y + ((size_t)oy * op->out_w + ox) * C;
            for (int c = 0; c < C; c++)
                row[c] = 0.0f;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * op->stride - op->pad + ky;
                if (iy < 0 || iy >= op->in_h)
                    continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * op->stride - op->pad + kx;
                    if (ix < 0 || ix >= op->in_w)
                        continue;
                    const float *xp = x + ((size_t)iy * op->in_w + ix) * C;
                    for (int c = 0; c < C; c++)
                        row[c] += op->w[((size_t)c * k + ky) * k + kx] * xp[c];
                }
            }
        }
    bias_relu(y, op->b, op->relu, (size_t)op->out_h * op->out_w, C);
}

static size_t im2col_floats(const qz_fop *op)
{
    return op->type == QM_CONV2D
               ? (size_t)op->out_h * op->out_w * op->kernel * op->kernel * op->in_c
               : 0;
}

size_t qz_col_floats(const qz_fop *op)
{
    if (op->type != QM_CONV2D && op->type != QM_DENSE)
        return 0;
    const size_t K = op->type == QM_CONV2D ? (size_t)op->kernel * op->kernel * op->in_c
                                           : (size_t)op->in_c * op->in_h * op->in_w;
    return im2col_floats(op) + K * (size_t)op->out_c;
}

/* y (M, out_c) = a (M, K) x w^T, w (out_c, K) transposed into wt first. */
static void product(float *y, const float *a, int M, int K, const qz_fop *op, float *wt)
{
    nn_transpose(wt, op->w, op->out_c, K);
    nn_gemm_args g = {.c = y, .ldc = (size_t)op->out_c, .a = a, .rsa = (size_t)K, .csa = 1,
                      .b = wt, .ldb = (size_t)op->out_c, .M = M, .N = op->out_c, .K = K,
                      .accumulate = 0};
    nn_gemm(&g, nn_isa_best());
}

static void conv_forward(const qz_fop *op, const float *x, float *y, float *col)
{
    const int k = op->kernel, C = op->in_c, OW = op->out_w;
    const int M = op->out_h * OW, K = k * k * C;
    const float *a = x;
    if (!(k == 1 && op->stride == 1 && op->pad == 0)) {
        for (int oy = 0; oy < op->out_h; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float *row = col + ((size_t)oy * OW + ox) * K;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * op->stride - op->pad + ky;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * op->stride - op->pad + kx;
                        float *dst = row + ((size_t)ky * k + kx) * C;
                        if (iy < 0 || iy >= op->in_h || ix < 0 || ix >= op->in_w)
                            memset(dst, 0, (size_t)C * sizeof(float));
                        else
                            memcpy(dst, x + ((size_t)iy * op->in_w + ix) * C,
                                   (size_t)C * sizeof(float));
                    }
                }
            }
        a = col;
    }
    product(y, a, M, K, op, col + im2col_floats(op));
    bias_relu(y, op->b, op->relu, (size_t)M, op->out_c);
}

static void dense_forward(const qz_fop *op, const float *x, float *y, float *col)
{
    product(y, x, 1, op->in_c * op->in_h * op->in_w, op, col);
    bias_relu(y, op->b, op->relu, 1, op->out_c);
}

static void pool_forward(const qz_fop *op, const float *x, float *y)
{
    const int k = op->kernel, C = op->in_c;
    const float inv = 1.0f / (float)(k * k);
    for (int oy = 0; oy < op->out_h; oy++)
        for (int ox = 0; ox < op->out_w; ox++)
            for (int c = 0; c < C; c++) {
                float best = -INFINITY, sum = 0.0f;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        float v =
                            x[((size_t)(oy * op->stride + ky) * op->in_w + (ox * op->stride + kx)) *
                                  C +
                              c];
                        best = v > best ? v : best;
                        sum += v;
                    }
                y[((size_t)oy * op->out_w + ox) * C + c] =
                    op->type == QM_MAXPOOL ? best : sum * inv;
            }
}

static void global_avgpool_forward(const qz_fop *op, const float *x, float *y)
{
    const size_t hw = (size_t)op->in_h * op->in_w;
    for (int c = 0; c < op->in_c; c++) {
        double s = 0;
        for (size_t p = 0; p < hw; p++)
            s += x[p * op->in_c + c];
        y[c] = (float)(s / (double)hw);
    }
}

/* Rounds v[0..n) to the grid of q (clamped below at the zero point when
 * relu), as the int8 model stores them. */
static void fake_quant(float *v, size_t n, qm_qparams q, int relu)
{
    const float lo = relu ? (float)q.zero : -128.0f, hi = (float)qm_act_hi(relu, q);
    for (size_t i = 0; i < n; i++) {
        float t = roundf(v[i] / q.scale) + (float)q.zero;
        t = t < lo ? lo : t > hi ? hi : t;
        v[i] = q.scale * (t - (float)q.zero);
    }
}

void qz_net_forward(const qz_net *net, const qm_model *fq, const uint8_t *pixels, float *tensors,
                    float *col)
{
    const int C = net->in_c;
    const size_t hw = (size_t)net->in_h * net->in_w;
    for (int c = 0; c < C; c++) {
        const float scale = 1.0f / (255.0f * net->std[c]), shift = -net->mean[c] / net->std[c];
        for (size_t p = 0; p < hw; p++) {
            uint8_t px = pixels[c * hw + p];
            tensors[p * C + c] =
                fq ? fq->in.scale * (float)(fq->input_lut[c * 256 + px] - fq->in.zero)
                   : (float)px * scale + shift;
        }
    }
    for (int i = 0; i < net->n_ops; i++) {
        const qz_fop *op = &net->ops[i];
        const float *x = tensors + net->tensor_off[op->input + 1];
        float *y = tensors + net->tensor_off[i + 1];
        size_t n = (size_t)op->out_c * op->out_h * op->out_w;
        switch (op->type) {
        case QM_CONV2D: conv_forward(op, x, y, col); break;
        case QM_DENSE: dense_forward(op, x, y, col); break;
        case QM_DEPTHWISE: depthwise_forward(op, x, y); break;
        case QM_MAXPOOL:
        case QM_AVGPOOL: pool_forward(op, x, y); break;
        case QM_GLOBAL_AVGPOOL: global_avgpool_forward(op, x, y); break;
        case QM_ADD: {
            const float *x2 = tensors + net->tensor_off[op->input2 + 1];
            for (size_t k = 0; k < n; k++) {
                y[k] = act(op->relu, x[k] + x2[k]);
            }
            break;
        }
        }
        if (fq)
            fake_quant(y, n, fq->ops[i].out, fq->ops[i].relu);
    }
}

int qz_scratch_alloc(qz_scratch *s, const qz_net *net, int T)
{
    s->T = T;
    s->tens = calloc((size_t)T, sizeof *s->tens);
    s->col = calloc((size_t)T, sizeof *s->col);
    if (!s->tens || !s->col)
        return -1;
    for (int t = 0; t < T; t++) {
        s->tens[t] = malloc(net->tensor_floats * sizeof(float));
        s->col[t] = malloc((net->col_floats ? net->col_floats : 1) * sizeof(float));
        if (!s->tens[t] || !s->col[t])
            return -1;
    }
    return 0;
}

void qz_scratch_free(qz_scratch *s)
{
    for (int t = 0; t < s->T && s->tens; t++)
        free(s->tens[t]);
    for (int t = 0; t < s->T && s->col; t++)
        free(s->col[t]);
    free(s->tens), free(s->col);
    s->tens = s->col = NULL;
}
