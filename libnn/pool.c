/* pool.c - max, average and global average pooling (no padding).
 *
 * Max pooling records, per output, the index of the winning input inside
 * the image's channel plane (iy*in_w + ix); backward scatters dout there.
 * Ties go to the first element in row-major window order, in both the
 * general loop and the k=2, s=2 fast path, so both give identical argmax. */
#include "nn_isa.h"
#include "nn_layers.h"
#include "nn_vec.h"
#include "pool_isa.h"

/* One output of a 2x2 window at (x, row r0/r1): branch-free selects in
 * row-major window order (strict > keeps the first of equal values). */
#define MAX2X2(o, a, x, base)                                                   \
    do {                                                                        \
        const float v0 = r0[(x)], v1 = r0[(x) + 1], v2 = r1[(x)], v3 = r1[(x) + 1]; \
        float m_ = v0;                                                          \
        int32_t i_ = (base) + (x);                                              \
        i_ = v1 > m_ ? (base) + (x) + 1 : i_;                                   \
        m_ = v1 > m_ ? v1 : m_;                                                 \
        i_ = v2 > m_ ? (base) + iw + (x) : i_;                                  \
        m_ = v2 > m_ ? v2 : m_;                                                 \
        i_ = v3 > m_ ? (base) + iw + (x) + 1 : i_;                              \
        m_ = v3 > m_ ? v3 : m_;                                                 \
        (o) = m_;                                                               \
        (a) = i_;                                                               \
    } while (0)

static void maxpool_plane_2x2(float *restrict out, int32_t *restrict am,
                              const float *restrict in, const nn_pool_dims *d)
{
    const int iw = d->in_w, ow = d->out_w;
    for (int oy = 0; oy < d->out_h; oy++) {
        const float *r0 = in + (size_t)(2 * oy) * iw;
        const float *r1 = r0 + iw;
        float *o = out + (size_t)oy * ow;
        int32_t *a = am + (size_t)oy * ow;
        const int32_t base = 2 * oy * iw;
        int ox = 0;
        for (; ox + 8 <= ow; ox += 8)
            for (int l = 0; l < 8; l++)
                MAX2X2(o[ox + l], a[ox + l], 2 * (ox + l), base);
        for (; ox < ow; ox++)
            MAX2X2(o[ox], a[ox], 2 * ox, base);
    }
}

static void maxpool_plane(float *restrict out, int32_t *restrict am, const float *restrict in,
                          const nn_pool_dims *d)
{
    const int iw = d->in_w, k = d->k, s = d->stride;
    for (int oy = 0; oy < d->out_h; oy++) {
        for (int ox = 0; ox < d->out_w; ox++) {
            int32_t idx = (oy * s) * iw + ox * s;
            float m = in[idx];
            for (int ki = 0; ki < k; ki++) {
                const int32_t rowi = (oy * s + ki) * iw + ox * s;
                for (int kj = 0; kj < k; kj++) {
                    if (in[rowi + kj] > m) {
                        m = in[rowi + kj];
                        idx = rowi + kj;
                    }
                }
            }
            out[(size_t)oy * d->out_w + ox] = m;
            am[(size_t)oy * d->out_w + ox] = idx;
        }
    }
}

void nn_maxpool_forward(float *out, int32_t *argmax, const float *in, int n,
                        const nn_pool_dims *d)
{
    const size_t in_plane = (size_t)d->in_h * d->in_w;
    const size_t out_plane = (size_t)d->out_h * d->out_w;
    const size_t planes = (size_t)n * d->c;
    const int fast = d->k == 2 && d->stride == 2;
#if defined(__x86_64__)
    if (fast && nn_isa_best() == NN_ISA_AVX512) {
        nn_maxpool2x2_avx512(out, argmax, in, planes, d);
        return;
    }
#endif
    for (size_t p = 0; p < planes; p++) {
        if (fast)
            maxpool_plane_2x2(out + p * out_plane, argmax + p * out_plane, in + p * in_plane, d);
        else
            maxpool_plane(out + p * out_plane, argmax + p * out_plane, in + p * in_plane, d);
    }
}

void nn_maxpool_backward(float *din, const float *dout, const int32_t *argmax, int n,
                         const nn_pool_dims *d)
{
    if (!din)
        return;
    const size_t in_plane = (size_t)d->in_h * d->in_w;
    const size_t out_plane = (size_t)d->out_h * d->out_w;
    const size_t planes = (size_t)n * d->c;
    for (size_t p = 0; p < planes; p++) {
        float *dx = din + p * in_plane;
        const float *g = dout + p * out_plane;
        const int32_t *a = argmax + p * out_plane;
        for (size_t j = 0; j < out_plane; j++)
            dx[a[j]] += g[j];
    }
}

void nn_avgpool_forward(float *out, const float *in, int n, const nn_pool_dims *d)
{
    const int iw = d->in_w, k = d->k, s = d->stride;
    const size_t in_plane = (size_t)d->in_h * iw;
    const size_t planes = (size_t)n * d->c;
    const float inv = 1.0f / (float)(k * k);
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * in_plane;
        for (int oy = 0; oy < d->out_h; oy++) {
            float *o = out + (p * d->out_h + oy) * d->out_w;
            for (int ox = 0; ox < d->out_w; ox++) {
                float acc = 0.0f;
                for (int ki = 0; ki < k; ki++) {
                    const float *r = x + (size_t)(oy * s + ki) * iw + ox * s;
                    for (int kj = 0; kj < k; kj++)
                        acc += r[kj];
                }
                o[ox] = acc * inv;
            }
        }
    }
}

void nn_avgpool_backward(float *din, const float *dout, int n, const nn_pool_dims *d)
{
    if (!din)
        return;
    const int iw = d->in_w, k = d->k, s = d->stride;
    const size_t in_plane = (size_t)d->in_h * iw;
    const size_t planes = (size_t)n * d->c;
    const float inv = 1.0f / (float)(k * k);
    for (size_t p = 0; p < planes; p++) {
        float *dx = din + p * in_plane;
        for (int oy = 0; oy < d->out_h; oy++) {
            const float *g = dout + (p * d->out_h + oy) * d->out_w;
            for (int ox = 0; ox < d->out_w; ox++) {
                const float v = g[ox] * inv;
                for (int ki = 0; ki < k; ki++) {
                    float *r = dx + (size_t)(oy * s + ki) * iw + ox * s;
                    for (int kj = 0; kj < k; kj++)
                        r[kj] += v;
                }
            }
        }
    }
}

void nn_global_avgpool_forward(float *out, const float *in, int n, int c, int hw)
{
    const size_t planes = (size_t)n * c;
    const float inv = 1.0f / (float)hw;
    for (size_t p = 0; p < planes; p++)
        out[p] = nn_vec_sum(in + p * hw, (size_t)hw) * inv;
}

void nn_global_avgpool_backward(float *din, const float *dout, int n, int c, int hw)
{
    if (!din)
        return;
    const size_t planes = (size_t)n * c;
    const float inv = 1.0f / (float)hw;
    for (size_t p = 0; p < planes; p++) {
        float *dx = din + p * hw;
        nn_vec_add_scalar(dx, dout[p] * inv, (size_t)hw);
    }
}
