/* rt_dense.c - dense (fully connected) layers, one image: y[o] =
 * requant(bias'[o] + sum_k w[o][k] * x[k]) in every weight format. The
 * portable bodies serve every target: a dense layer runs each weight once
 * per image, so it is a few percent of a CNN's time; the DSP build adds
 * only the 8-bit pair loop. The x86 layouts (X8, X4) run as a 1x1 conv
 * (rt_x.c). */
#include "rt_internal.h"

#define ACC_ADD(acc, v) ((acc) += (uint32_t)(int32_t)(v))

#if RT_WITH_DENSE_S8
static uint32_t dot_s8(const int8_t *w, const int8_t *x, uint32_t K)
{
#if RT_DSP
    return rt_dot_s8_dsp(w, x, K);
#else
    uint32_t acc = 0;
    for (uint32_t k = 0; k < K; k++)
        ACC_ADD(acc, (int32_t)w[k] * x[k]);
    return acc;
#endif
}
#endif

rt_status rt_dense(const rt_context *ctx, const rt_quant *q, const rt_dims *in, const int8_t *x,
                   const rt_weights *w, const rt_dims *out, int8_t *y)
{
    if (!q || !in || !x || !w || !out || !y || !w->data)
        return RT_E_ARG;
    const uint32_t K = (uint32_t)in->h * in->w * in->c;
#if RT_WITH_X /* the x86 layouts need scratch; the other formats none */
    const uint32_t need = rt_dense_scratch_bytes(in, out, w->fmt);
    if (need && (!ctx || !ctx->buf || ctx->size < need || ((uintptr_t)ctx->buf & 7)))
        return RT_E_ARG;
#else
    (void)ctx;
#endif
    const uint8_t *p = (const uint8_t *)w->data;
    const int O = out->c;
    (void)K, (void)p, (void)O; /* unused when rt_config.h leaves every format out */
    switch (w->fmt) {
#if RT_WITH_DENSE_S8
    case RT_WF_S8: {
        const uint32_t row = rt_s8_row_bytes(K);
        for (int o = 0; o < O; o++) {
            uint32_t acc = (uint32_t)q->bias[o] + dot_s8((const int8_t *)p + (size_t)o * row, x, K);
            y[o] = rt_requant(rt_s32(acc), q->mult[o], q->shift[o], q->out_zero, q->lo, q->hi);
        }
        return RT_OK;
    }
#endif
#if RT_WITH_DENSE_S4
    case RT_WF_S4: {
        const uint32_t words = (K + 7) / 8;
        for (int o = 0; o < O; o++) {
            const uint8_t *r = p + (size_t)o * words * 4;
            uint32_t acc = (uint32_t)q->bias[o];
            for (uint32_t k0 = 0; k0 < K; k0 += 8) {
                uint32_t wd = rt_rd32(r + k0 / 2);
                uint32_t n = K - k0 < 8 ? K - k0 : 8;
                for (uint32_t i = 0; i < n; i++, wd >>= 4)
                    ACC_ADD(acc, ((int32_t)((wd & 15) ^ 8) - 8) * x[k0 + i]);
            }
            y[o] = rt_requant(rt_s32(acc), q->mult[o], q->shift[o], q->out_zero, q->lo, q->hi);
        }
        return RT_OK;
    }
#endif
#if RT_WITH_DENSE_SP4
    case RT_WF_SP4: {
        const uint16_t *sp = (const uint16_t *)(const void *)p; /* 4-aligned payload */
        for (int o = 0; o < O; o++) {
            uint32_t acc = (uint32_t)q->bias[o], nb = *sp++;
            const int8_t *xa = x;
            for (uint32_t b = 0; b < nb; b++)
                for (uint32_t m = *sp++; m > 0; m--) {
                    const uint32_t e = *sp++;
                    xa += e >> 4;
                    ACC_ADD(acc, ((int32_t)((e & 15) ^ 8) - 8) * *xa);
                }
            y[o] = rt_requant(rt_s32(acc), q->mult[o], q->shift[o], q->out_zero, q->lo, q->hi);
        }
        return RT_OK;
    }
#endif
#if RT_WITH_DENSE_SP8
    case RT_WF_SP8: {
        for (int o = 0; o < O; o++) {
            uint32_t n = rt_rd16(p), acc = (uint32_t)q->bias[o], k = 0;
            const uint8_t *d = p + 2, *wv = d + 2 * n;
            for (uint32_t i = 0; i < n; i++) {
                k += rt_rd16(d + 2 * i);
                ACC_ADD(acc, (int32_t)(int8_t)wv[i] * x[k]);
            }
            y[o] = rt_requant(rt_s32(acc), q->mult[o], q->shift[o], q->out_zero, q->lo, q->hi);
            p = wv + n + (n & 1);
        }
        return RT_OK;
    }
#endif
#if RT_WITH_DENSE_X8
    case RT_WF_X8:
#endif
#if RT_WITH_DENSE_X4
    case RT_WF_X4:
#endif
#if RT_WITH_DENSE_X8 || RT_WITH_DENSE_X4
    {
        const rt_x_job xj = {1, 1, K, 1, 1, 0, 1, 1, (uint32_t)O, 0, w->fmt, q, x, p, y, ctx->buf};
        return rt_x_run(&xj, ctx->isa);
    }
#endif
    default: return RT_E_UNSUPPORTED;
    }
}

uint32_t rt_dense_scratch_bytes(const rt_dims *in, const rt_dims *out, uint8_t fmt)
{
    (void)in, (void)out, (void)fmt;
#if RT_WITH_X
    if (fmt == RT_WF_X8 || fmt == RT_WF_X4)
        return rt_x_scratch_bytes(1, 1, (uint32_t)in->h * in->w * in->c, 0, fmt);
#endif
    return 0;
}
