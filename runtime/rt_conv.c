/* rt_conv.c - conv2d: the public entry, the scratch sizes and the portable C
 * bodies of every weight format (the reference the DSP bodies must equal).
 *
 * Arithmetic (rt_image.h): acc = bias'[o] + sum_k w[o][k] * x_k over every
 * tap, with x_k = in_zero at padding taps (bias' has the zero point folded
 * in), summed modulo 2^32, then qmodel.h's requantization.
 *
 * Order of work, which the arena planner relies on (docs/deploy.md):
 *   S8, S4     output rows in order (the C bodies pixel by pixel, all
 *              channels of a pixel before the next; the DSP S8 body in
 *              passes of four columns after reading the row's input rows);
 *              output row oy is written while input rows from
 *              oy * stride - pad on are still read.
 *   SP4, SP8   output rows in pairs (oy, oy + 1): the pair's panel is built
 *              from the input before any output of the pair is written.
 *   X8, X4     the whole input is copied into scratch (padded) before any
 *              output is written, by every body (rt_x.c). */
#include "rt_internal.h"

/* Wrapping int32 accumulation without signed overflow. */
#define ACC_ADD(acc, v) ((acc) += (uint32_t)(int32_t)(v))

RT_INLINE int32_t nibble(uint32_t word, uint32_t k)
{
    int32_t n = (int32_t)((word >> (4 * (k & 7))) & 15);
    return (n ^ 8) - 8;
}

/* rt_fast_entry's constant channel (out of line: the bodies inline
 * rt_fast_entry at every channel loop, and this part is rare). */
int rt_fast_entry_constant(const rt_quant *q, int o, int64_t reach, int32_t e[4])
{
    const int64_t a = (int64_t)q->bias[o] - reach, b = (int64_t)q->bias[o] + reach;
    const int sh = q->shift[o];
    if (q->mult[o] < 0 || a < INT32_MIN || b > INT32_MAX)
        return 0;
    const int8_t ya = rt_requant((int32_t)a, q->mult[o], sh, q->out_zero, q->lo, q->hi);
    if (ya != rt_requant((int32_t)b, q->mult[o], sh, q->out_zero, q->lo, q->hi))
        return 0;
    e[0] = q->bias[o], e[1] = 0, e[2] = 2 * (int32_t)ya, e[3] = 1;
    return 1;
}

/* ---- S8 and S4: direct loops ------------------------------------------------------ */

#if RT_WITH_CONV_S4
/* acc of output (oy, ox, o); wrow is the channel's weight row. */
static uint32_t conv_direct_acc(const rt_conv_job *j, int oy, int ox, const uint8_t *wrow, int four)
{
    const rt_dims *in = j->in;
    const int k = j->win->kernel, C = in->c;
    uint32_t acc = 0;
    uint32_t t = 0; /* tap index (ky, kx, c) */
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * j->win->stride - j->win->pad + ky;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * j->win->stride - j->win->pad + kx;
            int inside = iy >= 0 && iy < in->h && ix >= 0 && ix < in->w;
            const int8_t *xp = j->x + ((size_t)(inside ? iy : 0) * in->w + (inside ? ix : 0)) * C;
            for (int c = 0; c < C; c++, t++) {
                int32_t xv = inside ? xp[c] : j->in_zero;
                int32_t wv = four ? nibble(rt_rd32(wrow + 4 * (t >> 3)), t) : (int8_t)wrow[t];
                ACC_ADD(acc, wv * xv);
            }
        }
    }
    return acc;
}

static void conv_direct(const rt_conv_job *j, int four)
{
    const rt_dims *out = j->out;
    const uint32_t K = (uint32_t)j->win->kernel * j->win->kernel * j->in->c;
    const uint32_t row = four ? ((K + 7) / 8) * 4 : rt_s8_row_bytes(K);
    const rt_quant *q = j->q;
    const rt_add_params *add = rt_job_add(j);
    for (int oy = 0; oy < out->h; oy++)
        for (int ox = 0; ox < out->w; ox++) {
            const size_t at = ((size_t)oy * out->w + ox) * out->c;
            int8_t *y = j->y + at;
            for (int o = 0; o < out->c; o++) {
                uint32_t acc = (uint32_t)q->bias[o] +
                               conv_direct_acc(j, oy, ox, j->w + (size_t)o * row, four);
                int8_t v = rt_requant(rt_s32(acc), q->mult[o], q->shift[o], q->out_zero, q->lo, q->hi);
                /* fused add (S8): residual element at + o is read, then y's */
                y[o] = add ? rt_add_one(add, v, j->res[at + o]) : v;
            }
        }
}
#endif

#if RT_WITH_CONV_S8
/* The S8 C body (the one an ARMv6-M core runs): each output pixel's window
 * is gathered once into scratch as offset bytes x + 128 (uint8, K of them in
 * the weights' (ky, kx, c) order, in_zero + 128 at padding taps), then each
 * output channel is one dot product over contiguous bytes, four taps a step
 * with the four weights read as one word; the offset comes back out of the
 * bias: sum w * x = sum w * (x + 128) - 128 * sum w, modulo 2^32 like every
 * body. Scratch: the window (K rounded up to 4) and the adjusted biases
 * (out.c words), within rt_s8_scratch_bytes (>= 8 * row + 16 * out.c). A
 * pixel's window is read before any of its outputs is written, in the order
 * of work above. */
static void gather_window(const rt_conv_job *j, int oy, int ox, uint8_t *p)
{
    const rt_dims *in = j->in;
    const int k = j->win->kernel, C = in->c;
    const int iy0 = oy * j->win->stride - j->win->pad, ix0 = ox * j->win->stride - j->win->pad;
    const uint8_t pad = (uint8_t)(j->in_zero ^ 0x80);
    for (int ky = 0; ky < k; ky++) {
        const int iy = iy0 + ky;
        const int8_t *row = j->x + (size_t)(iy < 0 ? 0 : iy) * in->w * C;
        if (iy >= 0 && iy < in->h && ix0 >= 0 && ix0 + k <= in->w) { /* all inside */
            const int8_t *xs = row + (size_t)ix0 * C;
            for (const uint8_t *e = p + (size_t)k * C; p < e; p++, xs++)
                *p = (uint8_t)(*xs ^ 0x80);
            continue;
        }
        for (int kx = 0, ix = ix0; kx < k; kx++, ix++, p += C) {
            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
                memset(p, pad, (size_t)C);
                continue;
            }
            const int8_t *xs = row + (size_t)ix * C;
            for (int c = 0; c < C; c++)
                p[c] = (uint8_t)(xs[c] ^ 0x80);
        }
    }
}

/* sum w[i] * xu[i] over n taps, modulo 2^32; w 4-byte aligned */
static uint32_t dot_s8u8(const int8_t *w, const uint8_t *xu, uint32_t n)
{
    uint32_t acc = 0;
    const uint8_t *end4 = xu + (n & ~3u), *end = xu + n;
    for (; xu < end4; xu += 4, w += 4) {
        uint32_t ww; /* one aligned load: the row starts 4-aligned, 4 apart */
        rt_memcpy(&ww, __builtin_assume_aligned(w, 4), 4);
        const int32_t w0 = rt_s32(ww << 24) >> 24, w1 = rt_s32(ww << 16) >> 24;
        const int32_t w2 = rt_s32(ww << 8) >> 24, w3 = rt_s32(ww) >> 24;
        acc += (uint32_t)(w0 * xu[0] + w1 * xu[1] + w2 * xu[2] + w3 * xu[3]);
    }
    for (; xu < end; xu++, w++)
        ACC_ADD(acc, *w * *xu);
    return acc;
}

void rt_conv_s8_c(const rt_conv_job *j)
{
    const rt_dims *out = j->out;
    const uint32_t K = (uint32_t)j->win->kernel * j->win->kernel * j->in->c;
    const uint32_t row = rt_s8_row_bytes(K);
    const rt_quant *q = j->q;
    const rt_add_params *add = rt_job_add(j);
    uint8_t *win = (uint8_t *)j->scratch;             /* (row)   */
    uint32_t *bias = (uint32_t *)((uint8_t *)j->scratch + row); /* (out.c) */
    for (int o = 0; o < out->c; o++) {
        const int8_t *w = (const int8_t *)j->w + (size_t)o * row;
        uint32_t sw = 0;
        for (uint32_t i = 0; i < K; i++)
            ACC_ADD(sw, w[i]);
        bias[o] = (uint32_t)q->bias[o] - (sw << 7);
    }
    for (int oy = 0; oy < out->h; oy++)
        for (int ox = 0; ox < out->w; ox++) {
            gather_window(j, oy, ox, win);
            const size_t at = ((size_t)oy * out->w + ox) * out->c;
            int8_t *y = j->y + at;
            const int8_t *w = (const int8_t *)j->w;
            for (int o = 0; o < out->c; o++, w += row) {
                uint32_t acc = bias[o] + dot_s8u8(w, win, K);
                int8_t v = rt_requant(rt_s32(acc), q->mult[o], q->shift[o], q->out_zero, q->lo, q->hi);
                /* fused add: residual element at + o is read, then y's */
                y[o] = add ? rt_add_one(add, v, j->res[at + o]) : v;
            }
        }
}
#endif
#if RT_WITH_CONV_S4
void rt_conv_s4_c(const rt_conv_job *j) { conv_direct(j, 1); }
#endif

/* ---- S4 widened to S8 ------------------------------------------------------------- */

RT_NOINLINE uint32_t rt_conv2d_widen_bytes(const rt_window *win, const rt_dims *in,
                                           const rt_dims *out)
{
    const uint64_t K = (uint64_t)win->kernel * win->kernel * in->c;
    const uint64_t n = ((uint64_t)out->c * ((K + 3) & ~3ull) + 7) & ~7ull;
    return n > 0x7ffffff8u ? 0xffffffffu : (uint32_t)n;
}

/* ---- SP4 and SP8: the panel ------------------------------------------------------- */

#if RT_WITH_CONV_SP4 || RT_WITH_CONV_SP8
/* The C bodies keep each panel word as two int16 (lo, hi) in memory order;
 * the addresses of the format are the same (4 bytes per word). */
static void panel_c(const rt_conv_job *j, int oy, int16_t *pn)
{
    const rt_dims *in = j->in;
    const int s = j->win->stride, pad = j->win->pad, k = j->win->kernel;
    const rt_panel_geom g = rt_panel(j->win, in);
    for (int ky = 0; ky < k; ky++) {
        int r0 = oy * s - pad + ky, r1 = r0 + s;
        for (int c = 0; c < in->c; c++)
            for (int f = 0; f < s; f++)
                for (uint32_t i = 0; i < g.wq; i++) {
                    int col = (int)i * s + f - pad;
                    int okc = col >= 0 && col < in->w;
                    int16_t lo = (int16_t)j->in_zero, hi = (int16_t)j->in_zero;
                    if (okc && r0 >= 0 && r0 < in->h)
                        lo = j->x[((size_t)r0 * in->w + col) * in->c + c];
                    if (okc && r1 >= 0 && r1 < in->h)
                        hi = j->x[((size_t)r1 * in->w + col) * in->c + c];
                    size_t wi = ((size_t)ky * g.slot_b + c * g.chan_b + f * g.wq * 4) / 4 + i;
                    pn[2 * wi] = lo, pn[2 * wi + 1] = hi;
                }
    }
}

#define PIX 8 /* output columns per pass of the C bodies */

/* Requantizes a pass: rows oy and oy + 1 (if it exists), columns ox0..+n. */
static void store_pass(const rt_conv_job *j, int oy, int ox0, int n, int o, const uint32_t *lo,
                       const uint32_t *hi)
{
    const rt_dims *out = j->out;
    const rt_quant *q = j->q;
    for (int r = 0; r < 2 && oy + r < out->h; r++)
        for (int i = 0; i < n; i++) {
            uint32_t acc = (uint32_t)q->bias[o] + (r ? hi[i] : lo[i]);
            j->y[(((size_t)(oy + r) * out->w) + ox0 + i) * out->c + o] =
                rt_requant(rt_s32(acc), q->mult[o], q->shift[o], q->out_zero, q->lo, q->hi);
        }
}

RT_INLINE void mac_pass(uint32_t *lo, uint32_t *hi, const int16_t *pn, uint32_t addr, int32_t w,
                        int n)
{
    const int16_t *p = pn + addr / 2; /* addr is in bytes, 4 per word */
    for (int i = 0; i < n; i++) {
        ACC_ADD(lo[i], w * p[2 * i]);
        ACC_ADD(hi[i], w * p[2 * i + 1]);
    }
}
#endif

#if RT_WITH_CONV_SP4
/* Accumulates channel o's stream (starting at its block count) over one
 * pass; returns the position after the channel. */
static const uint8_t *sp4_pass(const uint8_t *sp, const int16_t *pn, int ox0, int n, uint32_t *lo,
                               uint32_t *hi)
{
    uint32_t nb = rt_rd16(sp), addr = 4u * (uint32_t)ox0;
    sp += 2;
    for (uint32_t b = 0; b < nb; b++) {
        const uint32_t m = rt_rd16(sp);
        sp += 2;
        for (uint32_t q = 0; q < m; q++, sp += 2) {
            const uint32_t e = rt_rd16(sp);
            addr += e >> 4;
            int32_t w = (int32_t)((e & 15) ^ 8) - 8;
            if (w)
                mac_pass(lo, hi, pn, addr, w, n);
        }
    }
    return sp;
}

void rt_conv_sp4_c(const rt_conv_job *j)
{
    const rt_dims *out = j->out;
    int16_t *pn = (int16_t *)j->scratch;
    for (int oy = 0; oy < out->h; oy += 2) {
        panel_c(j, oy, pn);
        const uint8_t *sp = j->w;
        for (int o = 0; o < out->c; o++) {
            const uint8_t *next = sp;
            for (int ox0 = 0; ox0 < out->w; ox0 += PIX) {
                int n = out->w - ox0 < PIX ? out->w - ox0 : PIX;
                uint32_t lo[PIX] = {0}, hi[PIX] = {0};
                next = sp4_pass(sp, pn, ox0, n, lo, hi);
                store_pass(j, oy, ox0, n, o, lo, hi);
            }
            sp = next;
        }
    }
}
#endif

#if RT_WITH_CONV_SP8
void rt_conv_sp8_c(const rt_conv_job *j)
{
    const rt_dims *out = j->out;
    int16_t *pn = (int16_t *)j->scratch;
    for (int oy = 0; oy < out->h; oy += 2) {
        panel_c(j, oy, pn);
        const uint8_t *sp = j->w;
        for (int o = 0; o < out->c; o++) {
            uint32_t n = rt_rd16(sp);
            const uint8_t *d = sp + 2, *wv = d + 2 * n;
            for (int ox0 = 0; ox0 < out->w; ox0 += PIX) {
                int np = out->w - ox0 < PIX ? out->w - ox0 : PIX;
                uint32_t lo[PIX] = {0}, hi[PIX] = {0}, addr = 4u * (uint32_t)ox0;
                for (uint32_t i = 0; i < n; i++) {
                    addr += rt_rd16(d + 2 * i);
                    mac_pass(lo, hi, pn, addr, (int8_t)wv[i], np);
                }
                store_pass(j, oy, ox0, np, o, lo, hi);
            }
            sp = wv + n + (n & 1);
        }
    }
}
#endif

/* ---- public entry ------------------------------------------------------------------ */

RT_NOINLINE uint32_t rt_conv2d_scratch_bytes(const rt_window *win, const rt_dims *in,
                                             const rt_dims *out, uint8_t fmt)
{
    switch (fmt) {
    case RT_WF_S8: /* DSP: the pass buffer, the ring of input rows */
        return rt_s8_scratch_bytes(win, in, out);
    case RT_WF_S4: /* DSP: the panel */
    case RT_WF_SP4:
    case RT_WF_SP8: return rt_panel(win, in).bytes;
#if RT_WITH_X
    case RT_WF_X8:
    case RT_WF_X4: return rt_x_scratch_bytes(in->h, in->w, in->c, win->pad, fmt);
#endif
    default: return 0;
    }
}

/* A fused conv2d's scratch for a body that needs `base` bytes: S8 stages an
 * output row (its DSP body; the C body adds value by value), the other
 * formats the whole output, after the body's own. */
static RT_NOINLINE uint32_t add_scratch(uint32_t base, const rt_dims *out, uint8_t fmt)
{
    const uint64_t stage = fmt == RT_WF_S8 ? (uint64_t)out->w * out->c
                                           : (uint64_t)out->h * out->w * out->c;
    const uint64_t n = (uint64_t)rt_stage_off(base) + ((stage + 7u) & ~7ull);
    return base == 0xffffffffu || n > 0x7ffffff8u ? 0xffffffffu : (uint32_t)n;
}

uint32_t rt_conv2d_add_scratch_bytes(const rt_window *win, const rt_dims *in, const rt_dims *out,
                                     uint8_t fmt)
{
    return add_scratch(rt_conv2d_scratch_bytes(win, in, out, fmt), out, fmt);
}

int rt_conv_s4_passes_fit(const rt_window *win, const rt_dims *in, const rt_dims *out, int fused,
                          uint32_t scratch_bytes)
{
    const uint32_t need = rt_s4_pass_scratch_bytes(win, in, out);
    return need && scratch_bytes >= (fused ? add_scratch(need, out, RT_WF_S4) : need);
}

RT_NOINLINE int rt_conv_s4_widen_fits(const rt_window *win, const rt_dims *in,
                                      const rt_dims *out, int fused, uint32_t scratch_bytes)
{
    const uint32_t wb = rt_conv2d_widen_bytes(win, in, out);
    const uint32_t s8 = fused ? rt_conv2d_add_scratch_bytes(win, in, out, RT_WF_S8)
                              : rt_conv2d_scratch_bytes(win, in, out, RT_WF_S8);
    return wb != 0xffffffffu && s8 != 0xffffffffu && (uint64_t)wb + s8 <= scratch_bytes;
}

RT_NOINLINE int rt_conv_wino_fits(const rt_window *win, const rt_dims *in, const rt_dims *out,
                                  uint8_t fmt, int fused, uint32_t scratch_bytes)
{
    return rt_wino_takes(win, in, out, fmt) &&
           scratch_bytes >= rt_wino_bytes(in, out, fused, 1, fmt == RT_WF_S4);
}

/* What the fastest body needs before a fused add's stage. */
static RT_NOINLINE uint32_t best_base(const rt_window *win, const rt_dims *in, const rt_dims *out,
                                      uint8_t fmt)
{
    const uint32_t base = rt_conv2d_scratch_bytes(win, in, out, fmt);
    const uint32_t pass = fmt == RT_WF_S4 ? rt_s4_pass_scratch_bytes(win, in, out) : 0;
    return base != 0xffffffffu && pass > base ? pass : base;
}

uint32_t rt_conv2d_scratch_best(const rt_window *win, const rt_dims *in, const rt_dims *out,
                                uint8_t fmt, int fused)
{
    const uint32_t base = best_base(win, in, out, fmt);
    return fused ? add_scratch(base, out, fmt) : base;
}

uint32_t rt_conv2d_wino_bytes(const rt_window *win, const rt_dims *in, const rt_dims *out,
                              uint8_t fmt, int fused, uint32_t bands)
{
    if (!rt_wino_takes(win, in, out, fmt))
        return 0;
    const uint32_t nty = (out->h + 1u) / 2u;
    const uint64_t n =
        rt_wino_bytes(in, out, fused, bands < 1 ? 1 : bands > nty ? nty : bands, fmt == RT_WF_S4);
    return n > 0x7ffffff8u ? 0xffffffffu : (uint32_t)n;
}

/* The body of j's format (j->y may be a staging area). */
static rt_status conv_body(const rt_context *ctx, const rt_conv_job *j, uint8_t fmt)
{
    switch (fmt) {
#if RT_WITH_CONV_S8
    case RT_WF_S8:
#if RT_MVE
        rt_conv_s8_mve(j);
#elif RT_DSP
        rt_conv_s8_dsp(j);
#else
        rt_conv_s8_c(j);
#endif
        return RT_OK;
#endif
#if RT_WITH_CONV_S4
    case RT_WF_S4:
#if RT_DSP
        rt_conv_s4_dsp(j);
#else
        rt_conv_s4_c(j);
#endif
        return RT_OK;
#endif
#if RT_WITH_CONV_SP4
    case RT_WF_SP4:
#if RT_DSP
        rt_conv_sp4_dsp(j);
#else
        rt_conv_sp4_c(j);
#endif
        return RT_OK;
#endif
#if RT_WITH_CONV_SP8
    case RT_WF_SP8: rt_conv_sp8_c(j); return RT_OK;
#endif
#if RT_WITH_CONV_X8
    case RT_WF_X8:
#endif
#if RT_WITH_CONV_X4
    case RT_WF_X4:
#endif
#if RT_WITH_CONV_X8 || RT_WITH_CONV_X4
    {
        const rt_window *win = j->win;
        const rt_x_job xj = {j->in->h,  j->in->w,  j->in->c,  win->kernel, win->stride, win->pad,
                             j->out->h, j->out->w, j->out->c, j->in_zero,  fmt,         j->q,
                             j->x,      j->w,      j->y,      j->scratch};
        return rt_x_run(&xj, ctx->isa);
    }
#endif
    default: (void)ctx, (void)j; return RT_E_UNSUPPORTED;
    }
}

static rt_status conv_run(const rt_context *ctx, const rt_window *win, int8_t in_zero,
                          const rt_quant *q, const rt_dims *in, const int8_t *x,
                          const rt_weights *w, const rt_dims *out, const rt_add_params *add,
                          const int8_t *res, int8_t *y)
{
    if (!RT_WITH_ADD) /* the fused paths compile out */
        add = NULL;
    if (!ctx || !win || !q || !in || !x || !w || !out || !y || !w->data || (add && !res))
        return RT_E_ARG;
#if RT_WIDEN
    /* S4 weights widened at the start of the scratch, the S8 bodies in the
     * rest (conv_run again, with the S8 format); not where Winograd takes
     * the layer (it widens a row at a time, in less scratch) */
    if (w->fmt == RT_WF_S4 && ctx->buf && !((uintptr_t)ctx->buf & 7) &&
        rt_conv_s4_widen_fits(win, in, out, add != NULL, ctx->size) &&
        !(RT_WINO_S4 && rt_conv_wino_fits(win, in, out, RT_WF_S4, add != NULL, ctx->size))) {
        const uint32_t wb = rt_conv2d_widen_bytes(win, in, out);
        rt_widen_s4((const uint8_t *)w->data, (uint32_t)win->kernel * win->kernel * in->c, out->c,
                    (int8_t *)ctx->buf);
        const rt_context rest = {(uint8_t *)ctx->buf + wb, ctx->size - wb, ctx->isa};
        const rt_weights w8 = {ctx->buf, wb, RT_WF_S8};
        return conv_run(&rest, win, in_zero, q, in, x, &w8, out, add, res, y);
    }
#endif
    uint32_t base = rt_conv2d_scratch_bytes(win, in, out, w->fmt);
    uint32_t need = add ? add_scratch(base, out, w->fmt) : base;
    if (need && (!ctx->buf || ctx->size < need || ((uintptr_t)ctx->buf & 7)))
        return RT_E_ARG;
    /* room for the fastest body (rt_conv2d_scratch_best)? */
    const uint32_t best = best_base(win, in, out, w->fmt);
    if (best > base && ctx->size >= (add ? add_scratch(best, out, w->fmt) : best))
        base = best;
#if RT_DSP && RT_WITH_CONV_S4 && !RT_WITH_CONV_S4_PANEL /* only the passes' S4 layers */
    if (w->fmt == RT_WF_S4 && !rt_conv_s4_passes_fit(win, in, out, add != NULL, ctx->size))
        return RT_E_UNSUPPORTED;
#endif
    rt_conv_job j = {win, in_zero, q,   in,  out,  x, (const uint8_t *)w->data,
                     y,   ctx->buf, add, res, base};
#if (RT_DSP && RT_WITH_WINO)
    /* Winograd when the scratch holds a block of one band (not on an MVE
     * core: rt_mve.c's S8 body and the S4 passes are faster than the
     * portable C of its loops there) */
    if (!RT_MVE && (w->fmt != RT_WF_S4 || RT_WITH_WINO_S4) &&
        rt_conv_wino_fits(win, in, out, w->fmt, add != NULL, ctx->size)) {
        j.scratch_bytes = ctx->size;
        rt_conv_wino_dsp(&j, w->fmt == RT_WF_S4);
        return RT_OK;
    }
#endif
    if (!add || w->fmt == RT_WF_S8) /* S8 adds in its epilogue */
        return conv_body(ctx, &j, w->fmt);
#if RT_WITH_ADD
    /* the other formats: the conv's output staged whole, then rt_add */
    j.y = (int8_t *)ctx->buf + rt_stage_off(base);
    j.add = NULL, j.res = NULL;
    rt_status st = conv_body(ctx, &j, w->fmt);
    return st != RT_OK ? st : rt_add(add, j.y, res, y, (uint32_t)out->h * out->w * out->c);
#else
    return RT_E_UNSUPPORTED;
#endif
}

rt_status rt_conv2d(const rt_context *ctx, const rt_window *win, int8_t in_zero, const rt_quant *q,
                    const rt_dims *in, const int8_t *x, const rt_weights *w, const rt_dims *out,
                    int8_t *y)
{
    return conv_run(ctx, win, in_zero, q, in, x, w, out, NULL, NULL, y);
}

rt_status rt_conv2d_add(const rt_context *ctx, const rt_window *win, int8_t in_zero,
                        const rt_quant *q, const rt_dims *in, const int8_t *x,
                        const rt_weights *w, const rt_dims *out, const rt_add_params *add,
                        const int8_t *res, int8_t *y)
{
#if RT_WITH_ADD
    if (!add)
        return RT_E_ARG;
    return conv_run(ctx, win, in_zero, q, in, x, w, out, add, res, y);
#else
    (void)ctx, (void)win, (void)in_zero, (void)q, (void)in, (void)x, (void)w, (void)out, (void)add;
    (void)res, (void)y;
    return RT_E_UNSUPPORTED;
#endif
}
