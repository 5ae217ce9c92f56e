/* rt_mve.c - Helium (MVE, Armv8.1-M: Cortex-M55) bodies of the S8 conv and
 * the add; the same bytes as the portable bodies in rt_conv.c and rt_pool.c
 * (and as the DSP bodies in rt_dsp.c, which an MVE core runs for the other
 * formats). Built where the compiler offers MVE (__ARM_FEATURE_MVE: GCC
 * needs -mfloat-abi=softfp or hard for arm_mve.h; the runtime itself uses
 * no floating point) unless RT_NO_MVE; elsewhere this file is empty.
 *
 * S8 conv: im2col. The k input rows an output row reads are kept as padded
 * rows (in_zero in the padding columns) in a ring, each copied in once. A
 * pass is four output columns of one output row; each column's window is
 * copied from the ring into scratch in the weights' (ky, kx, c) order (one
 * copy of k * C bytes per kernel row; 0 past K up to the row's multiple of
 * 4), one weight row of `row` bytes apart. Per output channel the weight
 * row is read once, 16 bytes at a time, and VMLADAVA (a 16-lane int8 dot
 * product added to a 32-bit scalar) runs it against the four columns:
 *     vldrb w ; 4 x (vldrb x ; vmladava acc, w, x)   per 64 MACs
 * the last part of a row (row % 16 bytes) with predicated loads (the
 * inactive lanes read as 0 and read nothing). The sum is modulo 2^32 like
 * the C body's: VMLADAVA adds 32-bit products and wraps. Then rt_dsp.c's
 * fast requantization on the four columns as one vector (VMULH, the high
 * word of the product like SMMLA; add, shift, clamp; a scatter store of
 * the four bytes, O apart), or rt_requant per value.
 *
 * When k * C is a multiple of 16 (and the fast rule applies) the four
 * columns are interleaved by 16 bytes instead (columns_il): the same loop
 * on four pointers 64 bytes apart, with fewer registers live per channel
 * (no spills: about 35 instructions per channel and pass around the loop,
 * against about 70).
 *
 * Scratch (rt_s8_scratch_bytes, what the DSP body is given): the four
 * columns take 4 * row bytes of its 8 * row for the pass buffer, the
 * requantization table 16 bytes per channel after them, and the padded
 * rows (k rows of rt_s8_flat_bytes) the ring's place, which holds them in
 * either of its layouts. A fused add stages an output row after that, then
 * adds it.
 *
 * add: four values per step in 32-bit lanes (VLDRB.S32 widens four int8),
 * on the DSP body's exact decomposition (rt_add_prep_dsp): with the pair
 * (a, b) and the multipliers split in 16-bit halves,
 *     S = ch + a * mah + b * mbh,  L = cl + a * mal + b * mbl,
 *     y = max(lo, min(127, (S + (L >> 16)) >> t))   (>= -128 already)
 * where the DSP body's SSAT is a min and a max here. */
#include "rt_dsp.h"

#if RT_MVE
#include <arm_mve.h>

/* ---- the add ------------------------------------------------------------------------------- */

#if RT_WITH_ADD
/* Four values of (a, b) in 32-bit lanes (the constants of rt_add_k). */
RT_INLINE int32x4_t add4(int32x4_t va, int32x4_t vb, int32_t mah, int32_t mbh, int32_t mal,
                         int32_t mbl, int32x4_t ch, int32x4_t cl, int32x4_t nt, int32x4_t lo)
{
    const int32x4_t S = vmlaq_n_s32(vmlaq_n_s32(ch, va, mah), vb, mbh);
    const int32x4_t L = vmlaq_n_s32(vmlaq_n_s32(cl, va, mal), vb, mbl);
    const int32x4_t r = vshlq_s32(vaddq_s32(S, vshrq_n_s32(L, 16)), nt); /* >> t */
    return vmaxq_s32(vminq_s32(r, vdupq_n_s32(127)), lo);
}

void rt_add_run_mve(const rt_add_k *k, const int8_t *a, const int8_t *b, int8_t *y,
                    uint32_t count)
{
    const int32_t mah = (int16_t)(k->mh & 0xffff), mbh = (int16_t)(k->mh >> 16);
    const int32_t mal = (int16_t)(k->ml & 0xffff), mbl = (int16_t)(k->ml >> 16);
    const int32x4_t ch = vdupq_n_s32(k->ch), cl = vdupq_n_s32(k->cl);
    const int32x4_t nt = vdupq_n_s32(-k->t), lo = vdupq_n_s32(k->lo);
    for (uint32_t n = count / 4; n > 0; n--, a += 4, b += 4, y += 4)
        vstrbq_s32(y, add4(vldrbq_s32(a), vldrbq_s32(b), mah, mbh, mal, mbl, ch, cl, nt, lo));
    if (count % 4) { /* the rest, predicated */
        const mve_pred16_t p = vctp32q(count % 4);
        vstrbq_p_s32(y, add4(vldrbq_z_s32(a, p), vldrbq_z_s32(b, p), mah, mbh, mal, mbl, ch, cl, nt, lo), p);
    }
}

int rt_add_mve(const rt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y,
               uint32_t count)
{
    rt_add_k k;
    if (!rt_add_prep_dsp(p, &k))
        return 0;
    rt_add_run_mve(&k, a, b, y, count);
    return 1;
}
#endif

/* ---- S8 conv ------------------------------------------------------------------------------- */

#if RT_WITH_CONV_S8

/* n bytes from s to d, 16 at a time (the last part predicated). */
RT_INLINE void vcopy(int8_t *d, const int8_t *s, int32_t n)
{
    for (int32_t i = n / 16; i > 0; i--, d += 16, s += 16)
        vstrbq_s8(d, vldrbq_s8(s));
    if (n % 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(n % 16));
        vstrbq_p_s8(d, vldrbq_z_s8(s, p), p);
    }
}

/* n bytes of v at d. */
RT_INLINE void vfill(int8_t *d, int8x16_t v, int32_t n)
{
    for (; n > 0; n -= 16, d += 16)
        vstrbq_p_s8(d, v, vctp8q((uint32_t)n));
}

/* Input row r as a padded row at d: pad columns of in_zero on each side
 * (a row outside the input: all in_zero). */
static void pad_row(const rt_conv_job *j, int r, int8_t *d)
{
    const rt_dims *in = j->in;
    const int32_t C = in->c, p = j->win->pad * C, wc = in->w * C;
    const int8x16_t z = vdupq_n_s8((int8_t)j->in_zero);
    if (r < 0 || r >= in->h) {
        vfill(d, z, wc + 2 * p);
        return;
    }
    vfill(d, z, p);
    vcopy(d + p, j->x + (size_t)r * wc, wc);
    vfill(d + p + wc, z, p);
}

/* {bias, mult, rounding constant, shift - 32} per channel when every
 * channel takes the fast requantization (rt_dsp.c), else 0. */
static int rq_table_mve(const rt_conv_job *j, int32_t *tab)
{
    for (int o = 0; o < j->out->c; o++, tab += 4)
        if (!rt_fast_entry(j->q, o, RT_REACH(j), tab))
            return 0;
    return 1;
}

/* What the passes of a layer share. */
typedef struct {
    const rt_conv_job *j;
    int8_t *buf;        /* the four columns, row bytes apart    */
    const int8_t *ring; /* k padded input rows, fb bytes each   */
    const int32_t *tab; /* the fast requantization's table      */
    uint32_t fb, row;   /* ring row bytes, weight row bytes      */
    int32_t k, kc;      /* kernel, bytes of a kernel row (k * C) */
    int32_t O, lo;
    int fast;
} mve_layer;

/* The pass's four windows into the column buffer: column g's kernel row ky
 * is kc bytes from byte off[g] of the padded row in ring slot
 * (s0 + ky) % k; the row's padding past K is zeros. */
static void columns(const mve_layer *L, const uint32_t *off, int s0)
{
    const int8_t *const rend = L->ring + (size_t)L->k * L->fb;
    const int32_t kc = L->kc, skip = (int32_t)L->row - L->k * kc;
    for (int g = 0; g < RT_S8_PASS; g++) {
        int8_t *d = L->buf + (size_t)g * L->row;
        const int8_t *rp = L->ring + (size_t)s0 * L->fb;
        for (int ky = 0; ky < L->k; ky++, d += kc) {
            vcopy(d, rp + off[g], kc);
            rp += L->fb;
            if (rp == rend)
                rp = L->ring;
        }
        vfill(d, vdupq_n_s8(0), skip);
    }
}

/* All output channels of one pass (its columns built) into y: G columns,
 * O apart. The fast requantization runs on the four columns at once:
 * VMULH is SMMLA's high word (floor), then the constant, the shift, the
 * clamp, and a scatter store of the four bytes (the first G). */
static RT_NOINLINE void s8_channels_mve(const mve_layer *L, int G, int8_t *y)
{
    const uint32_t row = L->row, nfull = row / 16, tail = row % 16;
    const int O = L->O;
    const int8_t *w = (const int8_t *)L->j->w;
    const int32_t *t = L->tab;
    const mve_pred16_t pt = vctp8q(tail), pg = vctp32q((uint32_t)G);
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)O);
    const int32x4_t hi = vdupq_n_s32(127), lo = vdupq_n_s32(L->lo);
    for (int o = 0; o < O; o++, t += 4) {
        int32_t a0 = L->fast ? t[0] : L->j->q->bias[o], a1 = a0, a2 = a0, a3 = a0;
        const int8_t *x0 = L->buf, *x1 = x0 + row, *x2 = x1 + row, *x3 = x2 + row;
        for (uint32_t n = nfull; n > 0; n--) {
            const int8x16_t wv = vldrbq_s8(w);
            a0 = vmladavaq_s8(a0, wv, vldrbq_s8(x0));
            a1 = vmladavaq_s8(a1, wv, vldrbq_s8(x1));
            a2 = vmladavaq_s8(a2, wv, vldrbq_s8(x2));
            a3 = vmladavaq_s8(a3, wv, vldrbq_s8(x3));
            w += 16, x0 += 16, x1 += 16, x2 += 16, x3 += 16;
        }
        if (tail) {
            const int8x16_t wv = vldrbq_z_s8(w, pt);
            a0 = vmladavaq_s8(a0, wv, vldrbq_z_s8(x0, pt));
            a1 = vmladavaq_s8(a1, wv, vldrbq_z_s8(x1, pt));
            a2 = vmladavaq_s8(a2, wv, vldrbq_z_s8(x2, pt));
            a3 = vmladavaq_s8(a3, wv, vldrbq_z_s8(x3, pt));
            w += tail;
        }
        if (L->fast) {
            int32x4_t v = vdupq_n_s32(a0);
            v = vsetq_lane_s32(a1, v, 1);
            v = vsetq_lane_s32(a2, v, 2);
            v = vsetq_lane_s32(a3, v, 3);
            v = vaddq_n_s32(vmulhq_s32(v, vdupq_n_s32(t[1])), t[2]);
            v = vmaxq_s32(vminq_s32(vshlq_r_s32(v, -t[3]), hi), lo);
            vstrbq_scatter_offset_p_s32(y + o, offs, v, pg);
        } else {
            const rt_quant *q = L->j->q;
            const int32_t acc[RT_S8_PASS] = {a0, a1, a2, a3};
            int8_t *yo = y + o;
            for (int g = 0; g < G; g++, yo += O)
                *yo = rt_requant(acc[g], q->mult[o], q->shift[o], q->out_zero, q->lo, q->hi);
        }
    }
}

/* When k * C is a multiple of 16 (every conv of ResNet-8 but the first) and
 * the fast requantization applies: the columns interleaved by 16 bytes,
 * chunk i of column g at (4 * i + g) * 16, so that one pointer runs over
 * the four (fewer registers live per channel: no spills). */
static void columns_il(const mve_layer *L, const uint32_t *off, int s0)
{
    const int8_t *const rend = L->ring + (size_t)L->k * L->fb;
    const uint32_t nk = (uint32_t)L->kc / 16;
    for (int g = 0; g < RT_S8_PASS; g++) {
        int8_t *d = L->buf + 16 * g;
        const int8_t *rp = L->ring + (size_t)s0 * L->fb;
        for (int ky = 0; ky < L->k; ky++) {
            const int8_t *src = rp + off[g];
            for (uint32_t i = nk; i > 0; i--, d += 64, src += 16)
                vstrbq_s8(d, vldrbq_s8(src));
            rp += L->fb;
            if (rp == rend)
                rp = L->ring;
        }
    }
}

static RT_NOINLINE void s8_channels_il(const mve_layer *L, int G, int8_t *y)
{
    const uint32_t nfull = L->row / 16;
    const uint32_t O = (uint32_t)L->O;
    const int8_t *w = (const int8_t *)L->j->w, *const buf = L->buf;
    const int32_t *t = L->tab;
    const mve_pred16_t pg = vctp32q((uint32_t)G);
    const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), O);
    const int32x4_t hi = vdupq_n_s32(127), lo = vdupq_n_s32(L->lo);
    for (int8_t *yo = y, *const yend = y + O; yo < yend; yo++, t += 4) {
        int32_t a0 = t[0], a1 = a0, a2 = a0, a3 = a0;
        const int8_t *x0 = buf, *x1 = buf + 16, *x2 = buf + 32, *x3 = buf + 48;
        /* four pointers, each a post-incremented load: hidden from GCC,
         * which would otherwise fold them into one and add two
         * instructions to the loop */
        __asm__("" : "+r"(x1), "+r"(x2), "+r"(x3));
        for (uint32_t n = nfull; n > 0; n--) {
            const int8x16_t wv = vldrbq_s8(w);
            a0 = vmladavaq_s8(a0, wv, vldrbq_s8(x0));
            a1 = vmladavaq_s8(a1, wv, vldrbq_s8(x1));
            a2 = vmladavaq_s8(a2, wv, vldrbq_s8(x2));
            a3 = vmladavaq_s8(a3, wv, vldrbq_s8(x3));
            w += 16, x0 += 64, x1 += 64, x2 += 64, x3 += 64;
        }
        int32x4_t v = vdupq_n_s32(a0);
        v = vsetq_lane_s32(a1, v, 1);
        v = vsetq_lane_s32(a2, v, 2);
        v = vsetq_lane_s32(a3, v, 3);
        v = vaddq_n_s32(vmulhq_s32(v, vdupq_n_s32(t[1])), t[2]);
        v = vmaxq_s32(vminq_s32(vshlq_r_s32(v, -t[3]), hi), lo);
        vstrbq_scatter_offset_p_s32(yo, offs, v, pg);
    }
}

void rt_conv_s8_mve(const rt_conv_job *j)
{
    const rt_dims *out = j->out, *in = j->in;
    const int k = j->win->kernel, s = j->win->stride, pad = j->win->pad, O = out->c;
    const uint32_t K = (uint32_t)k * k * in->c, row = rt_s8_row_bytes(K);
    /* where the DSP body has its table and ring: the padded rows fit the
     * ring's bytes (rt_s8_scratch_bytes) in either of its layouts */
    int8_t *buf = (int8_t *)j->scratch;
    int32_t *tab = (int32_t *)(void *)(buf + 8 * row);
    int8_t *ring = (int8_t *)(tab + 4 * O);
    const uint32_t fb = rt_s8_flat_bytes(j->win, in);
    const mve_layer L = {j,         buf, ring, tab, fb, row, k, k * in->c, O, j->q->lo,
                         rq_table_mve(j, tab)};
    const int il = L.fast && L.kc % 16 == 0; /* the interleaved columns */
    const rt_add_params *add = rt_job_add(j);
    /* fused add: an output row's conv outputs go to the stage (same
     * layout), then the add with the residual into y, in element order */
    int8_t *stage = add ? (int8_t *)j->scratch + rt_stage_off(rt_s8_scratch_bytes(j->win, in, out))
                        : NULL;
#if RT_WITH_ADD
    rt_add_k ak;
    const int ak_ok = stage && rt_add_prep_dsp(add, &ak);
#endif
    int have = -0x7fffffff; /* the ring holds padded rows [have, have + k) */
    for (int oy = 0; oy < out->h; oy++) {
        const int r0 = oy * s - pad;
        for (int r = r0; r < r0 + k; r++)
            if (r >= have + k || r < have)
                pad_row(j, r, ring + (size_t)(((r % k) + k) % k) * fb);
        have = r0;
        for (int ox0 = 0; ox0 < out->w; ox0 += RT_S8_PASS) {
            const int G = out->w - ox0 < RT_S8_PASS ? out->w - ox0 : RT_S8_PASS;
            uint32_t off[RT_S8_PASS];
            for (int g = 0; g < RT_S8_PASS; g++) /* a short pass repeats its last column */
                off[g] = (uint32_t)((ox0 + (g < G ? g : G - 1)) * s * in->c);
            const size_t at = ((size_t)oy * out->w + ox0) * O;
            int8_t *yp = stage ? stage + (size_t)ox0 * O : j->y + at;
            if (il) {
                columns_il(&L, off, ((r0 % k) + k) % k);
                s8_channels_il(&L, G, yp);
            } else {
                columns(&L, off, ((r0 % k) + k) % k);
                s8_channels_mve(&L, G, yp);
            }
        }
#if RT_WITH_ADD
        const size_t at = (size_t)oy * out->w * O;
        if (ak_ok)
            rt_add_run_mve(&ak, stage, j->res + at, j->y + at, (uint32_t)out->w * (uint32_t)O);
        else if (stage)
            rt_add(add, stage, j->res + at, j->y + at, (uint32_t)out->w * (uint32_t)O);
#endif
    }
}
#endif

#else
typedef int rt_mve_empty; /* ISO C: a translation unit is not empty */
#endif
