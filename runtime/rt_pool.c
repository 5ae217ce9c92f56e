/* rt_pool.c - maxpool, avgpool, global average pooling and add (qmodel.h
 * rules). Pools write output rows in order and read input rows from
 * oy * stride on, so an output may start a little below its input in the
 * arena (docs/deploy.md). */
#include "rt_internal.h"

/* zero + round_half_away(sum / n), clamped to [lo, 127]. */
RT_INLINE int8_t mean_round(int32_t sum, int32_t n, int32_t zero, int32_t lo)
{
    int32_t a = sum < 0 ? -sum : sum;
    int32_t q = (a + n / 2) / n;
    int32_t y = zero + (sum < 0 ? -q : q);
    return (int8_t)(y < lo ? lo : y > 127 ? 127 : y);
}

#if RT_WITH_MAXPOOL
#if RT_X86
/* x86 hosts: 16 channels at a time in GNU C generic vectors (SSE2, or
 * whatever the build's -march allows); a pixel's channels before the next
 * pixel, as the scalar loop. Returns the channels done. */
typedef int8_t rt_v16 __attribute__((vector_size(16)));
static int max16(const int8_t *x0, int8_t *o, int C, int W, int k, int8_t lo)
{
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        rt_v16 m, v;
        memset(&m, lo, sizeof m);
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                rt_memcpy(&v, x0 + ((size_t)ky * W + kx) * C + c, 16);
                const rt_v16 gt = v > m;
                m = (v & gt) | (m & ~gt);
            }
        rt_memcpy(o + c, &m, 16);
    }
    return c;
}
#endif

rt_status rt_maxpool(const rt_window *win, int8_t lo, const rt_dims *in, const int8_t *x,
                     const rt_dims *out, int8_t *y)
{
    if (!win || !in || !x || !out || !y)
        return RT_E_ARG;
    const int C = in->c, W = in->w, k = win->kernel, s = win->stride;
#if RT_DSP
    if (k == 2 && C % 4 == 0 && lo == -128) { /* the common 2x2 pool */
        rt_max2x2_dsp(x, y, C, W, s, out->h, out->w);
        return RT_OK;
    }
#endif
    for (int oy = 0; oy < out->h; oy++)
        for (int ox = 0; ox < out->w; ox++) {
            int8_t *o = y + ((size_t)oy * out->w + ox) * C;
            const int8_t *x0 = x + ((size_t)oy * s * W + (size_t)ox * s) * C;
            int c = 0;
#if RT_DSP
            c = rt_max4_dsp(x0, o, C, W, k, lo);
#elif RT_X86
            c = max16(x0, o, C, W, k, lo);
#endif
            for (; c < C; c++) {
                int8_t m = lo;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int8_t v = x0[((size_t)ky * W + kx) * C + c];
                        m = v > m ? v : m;
                    }
                o[c] = m;
            }
        }
    return RT_OK;
}
#endif

#if RT_WITH_AVGPOOL
rt_status rt_avgpool(const rt_window *win, int8_t zero, int8_t lo, const rt_dims *in,
                     const int8_t *x, const rt_dims *out, int8_t *y)
{
    if (!win || !in || !x || !out || !y)
        return RT_E_ARG;
    const int C = in->c, W = in->w, k = win->kernel, s = win->stride;
    const int32_t n = k * k;
    for (int oy = 0; oy < out->h; oy++)
        for (int ox = 0; ox < out->w; ox++)
            for (int c = 0; c < C; c++) {
                int32_t sum = 0; /* |sum| <= 255 * 64 * 64 */
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        sum += x[((size_t)(oy * s + ky) * W + ox * s + kx) * C + c] - zero;
                y[((size_t)oy * out->w + ox) * C + c] = mean_round(sum, n, zero, lo);
            }
    return RT_OK;
}
#endif

#if RT_WITH_GLOBAL_AVGPOOL
/* a / d by shifts and subtractions: a 32-bit core's 64-bit divide would
 * bring libgcc's (700 bytes of flash) for a case that needs 2^24 pixels */
static uint64_t div64(uint64_t a, uint32_t d)
{
    uint64_t q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = r << 1 | ((a >> i) & 1);
        if (r >= d)
            r -= d, q |= (uint64_t)1 << i;
    }
    return q;
}

int8_t rt_gap_mean(int64_t sum, uint32_t hw, int8_t zero, int8_t lo)
{
    const uint64_t a = (uint64_t)(sum < 0 ? -sum : sum) + hw / 2;
    const int64_t q = (int64_t)(a >> 32 ? div64(a, hw) : (uint32_t)a / hw);
    const int64_t v = zero + (sum < 0 ? -q : q);
    return (int8_t)(v < lo ? lo : v > 127 ? 127 : v);
}

rt_status rt_global_avgpool(int8_t zero, int8_t lo, const rt_dims *in, const int8_t *x, int8_t *y)
{
    if (!in || !x || !y)
        return RT_E_ARG;
#if RT_DSP
    if (rt_global_avgpool_dsp(zero, lo, in, x, y))
        return RT_OK;
#endif
    const uint32_t hw = (uint32_t)in->h * in->w;
    const int C = in->c;
    /* channel by channel, y[c] after every read of channel c: y may be x */
    for (int c = 0; c < C; c++) {
        int64_t sum = 0; /* up to 2^32 pixels of +-255 */
        for (uint32_t p = 0; p < hw; p++)
            sum += x[(size_t)p * C + c] - zero;
        y[c] = rt_gap_mean(sum, hw, zero, lo);
    }
    return RT_OK;
}
#endif

#if RT_WITH_ADD
rt_status rt_add(const rt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y,
                 uint32_t count)
{
    if (!p || !a || !b || !y)
        return RT_E_ARG;
#if RT_MVE
    if (rt_add_mve(p, a, b, y, count))
        return RT_OK;
#endif
#if RT_DSP
    if (rt_add_dsp(p, a, b, y, count))
        return RT_OK;
#endif
    for (uint32_t i = 0; i < count; i++)
        y[i] = rt_add_one(p, a[i], b[i]);
    return RT_OK;
}
#endif
