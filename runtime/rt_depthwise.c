/* rt_depthwise.c - the depthwise convolution (rt.h, rt_image.h): a C body,
 * the reference (the hosts' RT_ISA_C and the Cortex-M cores without the DSP
 * extension run it), and an AVX2 body for x86-64 hosts.
 *
 * All compute, per output pixel and channel c,
 *   acc = bias[c] + sum over the k x k taps of w[tap][c] * x(tap, c)
 * with x = in_zero where the tap falls into the padding (the bias has
 * -in_zero * sum w folded in, so padding then adds exactly 0), modulo 2^32
 * as every runtime accumulator, then rt_requant. The sum is exact in both
 * (int8 products, int32 sums the builder checked cannot overflow), so the
 * bytes are equal whatever order the terms are added in.
 *
 * The Cortex-M builds with the DSP extension run rt_depthwise_dsp
 * (rt_dsp.c: four channels per step) instead of the C body.
 *
 * The AVX2 body takes 16 channels per step: 16 input bytes and the 16
 * weights of the tap (contiguous in the tap-major layout) widened to int16,
 * multiplied exactly (|w * x| <= 127 * 128 < 2^15) and widened again into
 * two int32 accumulators; the last in_c % 16 channels and the
 * requantization go through the C code. */
#include "rt_internal.h"

#if RT_WITH_DEPTHWISE

#if !RT_DSP /* a DSP build runs rt_depthwise_dsp (rt_dsp.c) */

/* Channels [c0, C) of output pixel (oy, ox) in C. */
static void pixel_c(const rt_window *win, int32_t in_zero, const rt_quant *q, const rt_dims *in,
                    const int8_t *x, const int8_t *w, uint32_t oy, uint32_t ox, uint32_t c0,
                    int8_t *yp)
{
    const uint32_t k = win->kernel, C = in->c;
    const int32_t iy0 = (int32_t)(oy * win->stride) - win->pad;
    const int32_t ix0 = (int32_t)(ox * win->stride) - win->pad;
    for (uint32_t c = c0; c < C; c++) {
        uint32_t acc = (uint32_t)q->bias[c];
        for (uint32_t ky = 0; ky < k; ky++) {
            const int32_t iy = iy0 + (int32_t)ky;
            const int rin = iy >= 0 && iy < (int32_t)in->h;
            for (uint32_t kx = 0; kx < k; kx++) {
                const int32_t ix = ix0 + (int32_t)kx;
                const int32_t v = rin && ix >= 0 && ix < (int32_t)in->w
                                      ? x[((uint32_t)iy * in->w + (uint32_t)ix) * C + c]
                                      : in_zero;
                acc += (uint32_t)((int32_t)w[(ky * k + kx) * C + c] * v);
            }
        }
        yp[c] = rt_requant(rt_s32(acc), q->mult[c], q->shift[c], q->out_zero, q->lo, q->hi);
    }
}

static void depthwise_c(const rt_window *win, int32_t in_zero, const rt_quant *q,
                        const rt_dims *in, const int8_t *x, const int8_t *w, const rt_dims *out,
                        int8_t *y)
{
    for (uint32_t oy = 0; oy < out->h; oy++)
        for (uint32_t ox = 0; ox < out->w; ox++)
            pixel_c(win, in_zero, q, in, x, w, oy, ox, 0, y + ((size_t)oy * out->w + ox) * out->c);
}

#endif

#if RT_X86
#include <immintrin.h>

#define TGT __attribute__((target("avx2")))

/* Output pixel (oy, ox): channels in blocks of 16, then the rest in C. */
TGT static void pixel_avx2(const rt_window *win, int32_t in_zero, const rt_quant *q,
                           const rt_dims *in, const int8_t *x, const int8_t *w, uint32_t oy,
                           uint32_t ox, int8_t *yp)
{
    const uint32_t k = win->kernel, C = in->c;
    const int32_t iy0 = (int32_t)(oy * win->stride) - win->pad;
    const int32_t ix0 = (int32_t)(ox * win->stride) - win->pad;
    uint32_t ky0, ky1, kx0, kx1;
    rt_taps_inside((int32_t)oy, win->stride, win->pad, k, in->h, &ky0, &ky1);
    rt_taps_inside((int32_t)ox, win->stride, win->pad, k, in->w, &kx0, &kx1);
    const __m256i zero16 = _mm256_set1_epi16((int16_t)in_zero);
    uint32_t c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) {
        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
        for (uint32_t ky = 0; ky < k; ky++)
            for (uint32_t kx = 0; kx < k; kx++) {
                const int8_t *wt = w + (ky * k + kx) * C + c0;
                const __m256i wv =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)wt));
                __m256i xv = zero16;
                if (ky >= ky0 && ky < ky1 && kx >= kx0 && kx < kx1) {
                    const int8_t *xt =
                        x + ((uint32_t)(iy0 + (int32_t)ky) * in->w + (uint32_t)(ix0 + (int32_t)kx)) * C +
                        c0;
                    xv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)xt));
                }
                const __m256i p = _mm256_mullo_epi16(wv, xv); /* exact: |p| < 2^15 */
                lo = _mm256_add_epi32(lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(p)));
                hi = _mm256_add_epi32(hi, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(p, 1)));
            }
        int32_t acc[16];
        _mm256_storeu_si256((__m256i *)(void *)acc, lo);
        _mm256_storeu_si256((__m256i *)(void *)(acc + 8), hi);
        for (uint32_t j = 0; j < 16; j++) {
            const uint32_t c = c0 + j;
            const uint32_t a = (uint32_t)q->bias[c] + (uint32_t)acc[j];
            yp[c] = rt_requant(rt_s32(a), q->mult[c], q->shift[c], q->out_zero, q->lo, q->hi);
        }
    }
    if (c0 < C)
        pixel_c(win, in_zero, q, in, x, w, oy, ox, c0, yp);
}

TGT static void depthwise_avx2(const rt_window *win, int32_t in_zero, const rt_quant *q,
                               const rt_dims *in, const int8_t *x, const int8_t *w,
                               const rt_dims *out, int8_t *y)
{
    for (uint32_t oy = 0; oy < out->h; oy++)
        for (uint32_t ox = 0; ox < out->w; ox++)
            pixel_avx2(win, in_zero, q, in, x, w, oy, ox, y + ((size_t)oy * out->w + ox) * out->c);
}
#endif

rt_status rt_depthwise(const rt_context *ctx, const rt_window *win, int8_t in_zero,
                       const rt_quant *q, const rt_dims *in, const int8_t *x,
                       const rt_weights *w, const rt_dims *out, int8_t *y)
{
    if (!ctx || !win || !q || !in || !x || !w || !out || !y || !w->data)
        return RT_E_ARG;
    if (w->fmt != RT_WF_S8 || out->c != in->c)
        return RT_E_UNSUPPORTED;
    const int8_t *wd = (const int8_t *)w->data;
#if RT_X86
    rt_isa isa = ctx->isa;
    if (isa == RT_ISA_AUTO)
        isa = rt_isa_best();
    else if (!rt_isa_supported(isa))
        return RT_E_UNSUPPORTED;
    if (isa == RT_ISA_AVX2 || isa == RT_ISA_AVX512_VNNI) { /* AVX-512 cores run AVX2 too */
        depthwise_avx2(win, in_zero, q, in, x, wd, out, y);
        return RT_OK;
    }
#endif
#if RT_DSP
    rt_depthwise_dsp(win, in_zero, q, in, x, wd, out, y);
#else
    depthwise_c(win, in_zero, q, in, x, wd, out, y);
#endif
    return RT_OK;
}

#else

rt_status rt_depthwise(const rt_context *ctx, const rt_window *win, int8_t in_zero,
                       const rt_quant *q, const rt_dims *in, const int8_t *x,
                       const rt_weights *w, const rt_dims *out, int8_t *y)
{
    (void)ctx, (void)win, (void)in_zero, (void)q, (void)in, (void)x, (void)w, (void)out, (void)y;
    return RT_E_UNSUPPORTED;
}

#endif
