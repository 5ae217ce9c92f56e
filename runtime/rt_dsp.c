/* rt_dsp.c - conv2d bodies for cores with the DSP extension (Cortex-M4,
 * M7, M33, M55); the same bytes as the portable bodies in rt_conv.c.
 *
 * SP4 and S4: two 16-bit lanes per 32-bit multiply. The panel (rt_image.h)
 * holds, per tap and output column, the word x(oy) + 65536 * x(oy + 1): the
 * inputs of two output rows. One MLA `A += w * word` then adds w * x(oy) to
 * the low lane and w * x(oy + 1) to the high lane, two MACs per
 * instruction. The lanes stay exact while |sum| <= 32767: with |x| <= 128
 * that holds for a run of taps whose sum of |w| is at most 255, which is
 * what an SP4 block guarantees (and 32 taps of 4-bit weights for S4). After
 * each block the lanes are added to int32 accumulators:
 *     lo = (int16) A,   hi = (A + 0x8000) >> 16   (arithmetic)
 * exact because A = lo + 65536 * hi with lo, hi in [-32640, 32640].
 *
 * The SP4 inner loop, per non-zero weight, five words (ten outputs):
 *     ldrh e, [p], #2 ; cbz e ; add addr, addr, e, lsr #4 ; sbfx w, e, #0, #4
 *     ldm addr, {x0-x4} ; 5 x mla                 = 10 instructions, 10 MACs
 * An output row is cut into passes of at most five columns (28 = 5+5+5+5+4+4).
 *
 * S8: im2col of two pixels into int16 and SMLAD over pairs of taps, two
 * output channels at a time (the CMSIS-NN scheme). Taps are stored in the
 * order (0, 2), (1, 3) of each group of four, which is what SXTB16 makes of
 * a word of four int8 weights.
 *
 * Requantization, when 33 <= shift <= 54 (the usual case): with
 * t = shift - 32, (acc * mult + 2^(shift-1)) >> shift equals
 * (hi32(acc * mult) + 2^(t-1)) >> t, since the low word's bits cannot carry
 * across a 2^t boundary; out_zero * 2^t joins the rounding constant, so
 *     y = ssat8(smmla(acc, mult, 2^(t-1) + out_zero * 2^t) >> t), max lo.
 * Other shifts take rt_requant. */
#include "rt_dsp.h"

#if (RT_DSP || defined(RT_DSP_EMULATE)) && (RT_WITH_CONV_S8 || RT_WITH_CONV_S4 || RT_WITH_CONV_SP4)

/* ---- requantization ---------------------------------------------------------------------- */

typedef struct {
    int32_t bias, mult, k, t, lo;
    int fast;
    const rt_quant *q;
    int o;
} rq;

RT_INLINE void rq_init(rq *r, const rt_quant *q, int o)
{
    const int sh = q->shift[o];
    r->bias = q->bias[o], r->mult = q->mult[o], r->lo = q->lo;
    r->q = q, r->o = o;
    r->fast = sh >= 33 && sh <= 54 && q->hi == 127;
    r->t = sh - 32;
    r->k = r->fast ? (int32_t)((1u << (r->t - 1)) + ((uint32_t)(int32_t)q->out_zero << r->t)) : 0;
}

RT_INLINE int8_t rq_apply(const rq *r, int32_t acc)
{
    if (r->fast) {
        int32_t v = rt_ssat8(rt_smmla(acc, r->mult, r->k) >> r->t);
        return (int8_t)(v < r->lo ? r->lo : v);
    }
    return rt_requant(acc, r->mult, r->q->shift[r->o], r->q->out_zero, r->q->lo, r->q->hi);
}

#endif

#if (RT_DSP || defined(RT_DSP_EMULATE)) && (RT_WITH_CONV_S4 || RT_WITH_CONV_SP4)

/* ---- the panel ------------------------------------------------------------------------------ */

/* x(ra) + 65536 * x(rb) for four channels from two words of four int8. */
RT_INLINE void pair4(uint32_t a, uint32_t b, uint32_t *w0, uint32_t *w1, uint32_t *w2, uint32_t *w3)
{
    *w0 = ((uint32_t)(int32_t)(int8_t)b << 16) + (uint32_t)(int32_t)(int8_t)a;
    *w1 = ((uint32_t)(int32_t)(int8_t)(b >> 8) << 16) + (uint32_t)(int32_t)(int8_t)(a >> 8);
    *w2 = ((uint32_t)(int32_t)(int8_t)(b >> 16) << 16) + (uint32_t)(int32_t)(int8_t)(a >> 16);
    *w3 = ((uint32_t)(int32_t)(int8_t)(b >> 24) << 16) + (uint32_t)(int32_t)(int8_t)(a >> 24);
}

/* Builds slots ky0..k-1 of the panel for the output rows (oy, oy + 1). */
static void panel_dsp(const rt_conv_job *j, int oy, uint32_t *pn, const rt_panel_geom *g, int ky0)
{
    const rt_dims *in = j->in;
    const int s = j->win->stride, pad = j->win->pad, k = j->win->kernel;
    const int C = in->c, W = in->w;
    const uint32_t cw = g->chan_b / 4; /* words per channel */
    const int32_t z = j->in_zero;
    const uint32_t zz = ((uint32_t)z << 16) + (uint32_t)z;
    const uint32_t z4 = (uint8_t)z * 0x01010101u;
    for (int ky = ky0; ky < k; ky++) {
        const int r0 = oy * s - pad + ky, r1 = r0 + s;
        const int8_t *ra = r0 >= 0 && r0 < in->h ? j->x + (size_t)r0 * W * C : NULL;
        const int8_t *rb = r1 >= 0 && r1 < in->h ? j->x + (size_t)r1 * W * C : NULL;
        uint32_t *slot = pn + (size_t)ky * (g->slot_b / 4);
        for (int f = 0; f < s; f++)
            for (uint32_t i = 0; i < g->wq; i++) {
                const int col = (int)i * s + f - pad;
                uint32_t *d = slot + (uint32_t)f * g->wq + i;
                if (col < 0 || col >= W || (!ra && !rb)) {
                    for (int c = 0; c < C; c++, d += cw)
                        *d = zz;
                    continue;
                }
                const int8_t *pa = ra ? ra + (size_t)col * C : NULL;
                const int8_t *pb = rb ? rb + (size_t)col * C : NULL;
                int c = 0;
                for (; c + 4 <= C; c += 4, d += 4 * cw) {
                    uint32_t a = z4, b = z4;
                    if (pa)
                        memcpy(&a, pa + c, 4);
                    if (pb)
                        memcpy(&b, pb + c, 4);
                    pair4(a, b, d, d + cw, d + 2 * cw, d + 3 * cw);
                }
                for (; c < C; c++, d += cw) {
                    int32_t va = pa ? pa[c] : z, vb = pb ? pb[c] : z;
                    *d = ((uint32_t)vb << 16) + (uint32_t)va;
                }
            }
    }
}

/* Builds the panel for pair oy, reusing the slots the previous pair built
 * when they hold the same rows (slot ky of pair oy is slot ky + 2s of pair
 * oy - 2). */
static void panel_next(const rt_conv_job *j, int oy, uint32_t *pn, const rt_panel_geom *g)
{
    const int k = j->win->kernel, step = 2 * j->win->stride;
    int ky0 = 0;
    if (oy > 0)
        for (; ky0 + step < k; ky0++)
            memcpy(pn + (size_t)ky0 * (g->slot_b / 4), pn + (size_t)(ky0 + step) * (g->slot_b / 4),
                   g->slot_b);
    panel_dsp(j, oy, pn, g, ky0);
}

/* Passes: an output row in chunks of at most 5 columns, as even as can be. */
#define GMAX 5
RT_INLINE int pass_count(int ow) { return (ow + GMAX - 1) / GMAX; }
RT_INLINE int pass_width(int ow, int np, int p) { return ow / np + (p < ow % np); }

/* Adds the two lanes of each packed accumulator to lo/hi (see the top). */
RT_INLINE void flush(int32_t *lo, int32_t *hi, const uint32_t *A, int G)
{
    for (int g = 0; g < G; g++) {
        lo[g] += (int16_t)(A[g] & 0xffff);
        hi[g] += rt_s32(A[g] + 0x8000u) >> 16;
    }
}

/* Requantizes and stores a pass: rows oy (lo) and oy + 1 (hi). */
RT_INLINE void store_pass(const rt_conv_job *j, const rq *r, int oy, int ox0, int G, int o,
                          const int32_t *lo, const int32_t *hi)
{
    const rt_dims *out = j->out;
    int8_t *y = j->y + ((size_t)oy * out->w + ox0) * out->c + o;
    for (int g = 0; g < G; g++, y += out->c)
        *y = rq_apply(r, lo[g]);
    if (oy + 1 < out->h) {
        y = j->y + ((size_t)(oy + 1) * out->w + ox0) * out->c + o;
        for (int g = 0; g < G; g++, y += out->c)
            *y = rq_apply(r, hi[g]);
    }
}

#endif

/* ---- SP4 ---------------------------------------------------------------------------------------- */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_CONV_SP4

#if RT_DSP
/* One block: entries until the terminator; G of the five accumulators. */
#define SP4_ENTRY(LDM, MLA)                                                                         \
    "ldrh %[e], [%[p]], #2\n\t"                                                                    \
    "cbz %[e], 2f\n\t"                                                                             \
    "add %[ad], %[ad], %[e], lsr #4\n\t"                                                           \
    "sbfx %[e], %[e], #0, #4\n\t"                                                                  \
    "ldm %[ad], {" LDM "}\n\t" MLA
#define SP4_BLOCK(LDM, MLA)                                                                        \
    __asm__ volatile("1:\n\t" SP4_ENTRY(LDM, MLA) SP4_ENTRY(LDM, MLA) "b 1b\n\t"                   \
                     "2:\n\t"                                                                      \
                     : [e] "=&l"(e), [p] "+r"(p), [ad] "+r"(ad), [a0] "+r"(a0), [a1] "+r"(a1),     \
                       [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4)                                 \
                     :                                                                             \
                     : "r4", "r5", "r6", "r8", "r9", "memory")
#define M0 "mla %[a0], %[e], r4, %[a0]\n\t"
#define M1 M0 "mla %[a1], %[e], r5, %[a1]\n\t"
#define M2 M1 "mla %[a2], %[e], r6, %[a2]\n\t"
#define M3 M2 "mla %[a3], %[e], r8, %[a3]\n\t"
#define M4 M3 "mla %[a4], %[e], r9, %[a4]\n\t"

/* Runs one block from p; returns the position after its terminator. */
static const uint16_t *sp4_block(const uint16_t *p, const uint8_t **addr, uint32_t *A, int G)
{
    uint32_t e, a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0;
    const uint8_t *ad = *addr;
    switch (G) {
    case 5: SP4_BLOCK("r4, r5, r6, r8, r9", M4); break;
    case 4: SP4_BLOCK("r4, r5, r6, r8", M3); break;
    case 3: SP4_BLOCK("r4, r5, r6", M2); break;
    case 2: SP4_BLOCK("r4, r5", M1); break;
    default: SP4_BLOCK("r4", M0); break;
    }
    (void)e;
    A[0] = a0, A[1] = a1, A[2] = a2, A[3] = a3, A[4] = a4;
    *addr = ad;
    return p;
}
#else
static const uint16_t *sp4_block(const uint16_t *p, const uint8_t **addr, uint32_t *A, int G)
{
    const uint8_t *ad = *addr;
    for (int g = 0; g < GMAX; g++)
        A[g] = 0;
    uint32_t e;
    while ((e = *p++) != 0) {
        ad += e >> 4;
        uint32_t w = (uint32_t)(((int32_t)((e & 15) ^ 8)) - 8);
        for (int g = 0; g < G; g++) {
            uint32_t x;
            memcpy(&x, ad + 4 * g, 4);
            A[g] += w * x; /* the MLA: modulo 2^32 */
        }
    }
    *addr = ad;
    return p;
}
#endif

void rt_conv_sp4_dsp(const rt_conv_job *j)
{
    const rt_dims *out = j->out;
    const rt_panel_geom g = rt_panel(j->win, j->in);
    uint32_t *pn = (uint32_t *)j->scratch;
    const int np = pass_count(out->w);
    for (int oy = 0; oy < out->h; oy += 2) {
        panel_next(j, oy, pn, &g);
        const uint16_t *sp = (const uint16_t *)(const void *)j->w;
        for (int o = 0; o < out->c; o++) {
            rq r;
            rq_init(&r, j->q, o);
            const uint16_t *p = sp;
            for (int pi = 0, ox0 = 0; pi < np; ox0 += pass_width(out->w, np, pi), pi++) {
                const int G = pass_width(out->w, np, pi);
                int32_t lo[GMAX], hi[GMAX];
                for (int q = 0; q < G; q++)
                    lo[q] = hi[q] = r.bias;
                const uint8_t *ad = (const uint8_t *)pn + 4 * ox0;
                uint32_t nb = *sp;
                p = sp + 1;
                for (uint32_t b = 0; b < nb; b++) {
                    uint32_t A[GMAX];
                    p = sp4_block(p, &ad, A, G);
                    flush(lo, hi, A, G);
                }
                store_pass(j, &r, oy, ox0, G, o, lo, hi);
            }
            sp = p;
        }
    }
}
#endif

/* ---- S4 ------------------------------------------------------------------------------------------ */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_CONV_S4

/* Five panel words at ad. */
#if RT_DSP
#define LOAD5(ad, x0, x1, x2, x3, x4)                                                              \
    do {                                                                                           \
        register uint32_t r4_ __asm__("r4"), r5_ __asm__("r5"), r6_ __asm__("r6"),                 \
            r8_ __asm__("r8"), r9_ __asm__("r9");                                                  \
        __asm__ volatile("ldm %5, {r4, r5, r6, r8, r9}"                                            \
                         : "=r"(r4_), "=r"(r5_), "=r"(r6_), "=r"(r8_), "=r"(r9_)                   \
                         : "r"(ad)                                                                 \
                         : "memory");                                                              \
        x0 = r4_, x1 = r5_, x2 = r6_, x3 = r8_, x4 = r9_;                                          \
    } while (0)
#else
#define LOAD5(ad, x0, x1, x2, x3, x4)                                                              \
    do {                                                                                           \
        uint32_t v_[5];                                                                            \
        memcpy(v_, (ad), sizeof v_);                                                               \
        x0 = v_[0], x1 = v_[1], x2 = v_[2], x3 = v_[3], x4 = v_[4];                                \
    } while (0)
#endif

void rt_conv_s4_dsp(const rt_conv_job *j)
{
    const rt_dims *out = j->out, *in = j->in;
    const rt_panel_geom g = rt_panel(j->win, in);
    uint32_t *pn = (uint32_t *)j->scratch;
    const int k = j->win->kernel, s = j->win->stride, C = in->c;
    const uint32_t K = (uint32_t)k * k * C, row = (K + 7) / 8 * 4;
    const int np = pass_count(out->w);
    for (int oy = 0; oy < out->h; oy += 2) {
        panel_next(j, oy, pn, &g);
        for (int o = 0; o < out->c; o++) {
            rq r;
            rq_init(&r, j->q, o);
            const uint8_t *wrow = j->w + (size_t)o * row;
            for (int pi = 0, ox0 = 0; pi < np; ox0 += pass_width(out->w, np, pi), pi++) {
                const int G = pass_width(out->w, np, pi);
                int32_t lo[GMAX], hi[GMAX];
                for (int q = 0; q < G; q++)
                    lo[q] = hi[q] = r.bias;
                uint32_t A[GMAX] = {0, 0, 0, 0, 0};
                uint32_t t = 0, run = 0; /* tap index; taps since the last flush */
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const uint8_t *ad = (const uint8_t *)pn + (size_t)ky * g.slot_b +
                                            (uint32_t)(kx % s) * g.wq * 4 + (uint32_t)(kx / s) * 4 +
                                            4u * (uint32_t)ox0;
                        for (int c = 0; c < C; c++, t++, ad += g.chan_b) {
                            uint32_t wd;
                            memcpy(&wd, wrow + 4 * (t >> 3), 4);
                            uint32_t w = (uint32_t)((int32_t)(wd << (28 - 4 * (t & 7))) >> 28);
                            if (w) {
                                uint32_t x0, x1 = 0, x2 = 0, x3 = 0, x4 = 0;
                                if (G == 5) {
                                    LOAD5(ad, x0, x1, x2, x3, x4);
                                } else { /* only the pass's words: the panel may end here */
                                    memcpy(&x0, ad, 4);
                                    if (G > 1)
                                        memcpy(&x1, ad + 4, 4);
                                    if (G > 2)
                                        memcpy(&x2, ad + 8, 4);
                                    if (G > 3)
                                        memcpy(&x3, ad + 12, 4);
                                }
                                A[0] += w * x0, A[1] += w * x1, A[2] += w * x2;
                                A[3] += w * x3, A[4] += w * x4;
                            }
                            if (++run == 32) { /* 32 taps of |w| <= 7: sum <= 224 */
                                flush(lo, hi, A, G);
                                A[0] = A[1] = A[2] = A[3] = A[4] = 0;
                                run = 0;
                            }
                        }
                    }
                flush(lo, hi, A, G);
                store_pass(j, &r, oy, ox0, G, o, lo, hi);
            }
        }
    }
}
#endif

/* ---- S8 --------------------------------------------------------------------------------------------- */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_CONV_S8

/* Pixel p's taps as int16, in the order (0, 2), (1, 3) of each group of
 * four, zero beyond K. */
static void im2col_s8(const rt_conv_job *j, int p, int16_t *col, uint32_t kp)
{
    const rt_dims *in = j->in;
    const int k = j->win->kernel, C = in->c;
    const int oy = p / j->out->w, ox = p % j->out->w;
    uint32_t t = 0;
    for (int ky = 0; ky < k; ky++) {
        const int iy = oy * j->win->stride - j->win->pad + ky;
        for (int kx = 0; kx < k; kx++) {
            const int ix = ox * j->win->stride - j->win->pad + kx;
            const int inside = iy >= 0 && iy < in->h && ix >= 0 && ix < in->w;
            const int8_t *xp = j->x + ((size_t)(inside ? iy : 0) * in->w + (inside ? ix : 0)) * C;
            for (int c = 0; c < C; c++, t++) {
                /* position of tap t: group t/4, slot (0,2,1,3)[t%4] */
                static const uint8_t slot[4] = {0, 2, 1, 3};
                col[(t & ~3u) + slot[t & 3]] = (int16_t)(inside ? xp[c] : j->in_zero);
            }
        }
    }
    for (; t < kp; t++)
        col[(t & ~3u) + (t & 1 ? 2 : 0) + (t & 2 ? 1 : 0)] = 0;
}

void rt_conv_s8_dsp(const rt_conv_job *j)
{
    const rt_dims *out = j->out;
    const int k = j->win->kernel;
    const uint32_t K = (uint32_t)k * k * j->in->c, kp = rt_s8_row_bytes(K);
    int16_t *c0 = (int16_t *)j->scratch, *c1 = c0 + kp;
    const int P = out->h * out->w, O = out->c;
    for (int p = 0; p < P; p += 2) {
        const int two = p + 1 < P;
        im2col_s8(j, p, c0, kp);
        if (two)
            im2col_s8(j, p + 1, c1, kp);
        int8_t *y0 = j->y + (size_t)p * O, *y1 = y0 + O;
        for (int o = 0; o < O; o += 2) {
            const int both = o + 1 < O;
            const uint8_t *w0 = j->w + (size_t)o * kp, *w1 = both ? w0 + kp : w0;
            int32_t a00 = j->q->bias[o], a01 = a00;
            int32_t a10 = both ? j->q->bias[o + 1] : 0, a11 = a10;
            const uint32_t *x0 = (const uint32_t *)(const void *)c0;
            const uint32_t *x1 = (const uint32_t *)(const void *)c1;
            for (uint32_t t = 0; t < kp; t += 4, x0 += 2, x1 += 2) {
                uint32_t wa, wb;
                memcpy(&wa, w0 + t, 4);
                memcpy(&wb, w1 + t, 4);
                const int32_t wa02 = rt_sxtb16(wa), wa13 = rt_sxtb16(rt_ror(wa, 8));
                const int32_t wb02 = rt_sxtb16(wb), wb13 = rt_sxtb16(rt_ror(wb, 8));
                const int32_t xa = (int32_t)x0[0], xb = (int32_t)x0[1];
                a00 = rt_smlad(wa02, xa, a00), a00 = rt_smlad(wa13, xb, a00);
                a10 = rt_smlad(wb02, xa, a10), a10 = rt_smlad(wb13, xb, a10);
                if (two) {
                    const int32_t ya = (int32_t)x1[0], yb = (int32_t)x1[1];
                    a01 = rt_smlad(wa02, ya, a01), a01 = rt_smlad(wa13, yb, a01);
                    a11 = rt_smlad(wb02, ya, a11), a11 = rt_smlad(wb13, yb, a11);
                }
            }
            rq r;
            rq_init(&r, j->q, o);
            y0[o] = rq_apply(&r, a00);
            if (two)
                y1[o] = rq_apply(&r, a01);
            if (both) {
                rq_init(&r, j->q, o + 1);
                y0[o + 1] = rq_apply(&r, a10);
                if (two)
                    y1[o + 1] = rq_apply(&r, a11);
            }
        }
    }
}
#endif

/* ---- dense rows and max pooling ------------------------------------------------------------------- */

#if RT_DSP || defined(RT_DSP_EMULATE)
uint32_t rt_dot_s8_dsp(const int8_t *w, const int8_t *x, uint32_t K)
{
    /* the k pairs (0, 2) and (1, 3) of each group of four: the same sum in
     * another order, modulo 2^32 */
    int32_t a = 0;
    uint32_t k = 0;
    for (; k + 4 <= K; k += 4) {
        uint32_t wv, xv;
        memcpy(&wv, w + k, 4);
        memcpy(&xv, x + k, 4);
        a = rt_smlad(rt_sxtb16(wv), rt_sxtb16(xv), a);
        a = rt_smlad(rt_sxtb16(rt_ror(wv, 8)), rt_sxtb16(rt_ror(xv, 8)), a);
    }
    uint32_t acc = (uint32_t)a;
    for (; k < K; k++)
        acc += (uint32_t)((int32_t)w[k] * x[k]);
    return acc;
}

int rt_max4_dsp(const int8_t *x0, int8_t *o, int C, int W, int k, int8_t lo)
{
    const uint32_t lo4 = (uint8_t)lo * 0x01010101u;
    int c = 0;
    for (; c + 4 <= C; c += 4) {
        uint32_t m = lo4;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                uint32_t v;
                memcpy(&v, x0 + ((size_t)ky * W + kx) * C + c, 4);
                m = rt_max_s8x4(v, m);
            }
        memcpy(o + c, &m, 4);
    }
    return c;
}
#endif
