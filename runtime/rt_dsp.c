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
 *     ldrh e, [p], #2 ; add addr, addr, e, lsr #4 ; sbfx w, e, #0, #4
 *     ldm addr, {x0-x4} ; 5 x mla                  = 9 instructions, 10 MACs
 * four entries per iteration of a count-driven loop (a naked function: it
 * needs all fourteen registers). An output row is cut into passes of at
 * most five columns (28 = 5+5+5+5+4+4).
 *
 * S8: first layers (K <= 10) pixel by pixel with the window in registers
 * and a per-channel table, 13 instructions per output; other layers pair
 * channels: SXTB16 and SXTB16 ROR #8 of a word of four weights are two
 * int16 pairs that SMLAD multiplies with the same pairs of the input,
 * taken from a per-pass buffer of four output columns (13 instructions
 * per 16 MACs; see "The general S8 body" below).
 *
 * add: two SMLAD per value over 16-bit halves of the multipliers (or two
 * SMLAL), four values per step.
 *
 * Requantization, when 33 <= shift <= 54 (the usual case): with
 * t = shift - 32, (acc * mult + 2^(shift-1)) >> shift equals
 * (hi32(acc * mult) + 2^(t-1)) >> t, since the low word's bits cannot carry
 * across a 2^t boundary; out_zero * 2^t joins the rounding constant, so
 *     y = ssat8(smmla(acc, mult, 2^(t-1) + out_zero * 2^t) >> t), max lo.
 * Other shifts take rt_requant. */
#include "rt_dsp.h"

/* GCC 12 vectorizes cheap loops at -O2; on a core with MVE (the M55 built
 * with -mfloat-abi=softfp) that took the registers conv_s8_small's asm
 * needs ("impossible constraints"). These bodies stay scalar. */
#if defined(__ARM_FEATURE_MVE) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-vectorize")
#endif

/* S4 layers with in_c % 8 == 0 run through the S8 body's passes (below,
 * with the S8 body) when their scratch holds the passes'; the S4 bodies
 * for the others (the panel, conv_s4_c8) compile out when the exported
 * model has none (rt_config.h's RT_WITH_CONV_S4_PANEL 0; rt_image_check
 * then refuses images that need them). */
#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_CONV_S8
#define RT_S4_PASSES 1
#else
#define RT_S4_PASSES 0
#endif
#define RT_S4_PANEL (RT_WITH_CONV_S4 && (RT_WITH_CONV_S4_PANEL || !RT_S4_PASSES))

/* two int16 lanes: a low, b high */
#define PK16(a, b) ((uint32_t)(uint16_t)(int16_t)(a) | (uint32_t)(uint16_t)(int16_t)(b) << 16)

#if (RT_DSP || defined(RT_DSP_EMULATE)) && (RT_WITH_CONV_S8 || RT_WITH_CONV_S4 || RT_WITH_CONV_SP4)

/* Passes: an output row in chunks of at most 5 columns, as even as can be. */
#define GMAX 5
RT_INLINE int pass_count(int ow) { return (ow + GMAX - 1) / GMAX; }
RT_INLINE int pass_width(int ow, int np, int p) { return ow / np + (p < ow % np); }

/* ---- requantization ---------------------------------------------------------------------- */

/* rt_rq (rt_dsp.h). Out of line: one copy for every body (inlined at its
 * call sites, the dead-channel test cost 920 bytes of M4 code, out of line
 * 424; unused where rt_mve.c takes every S8 layer). */
RT_NOINLINE void rt_rq_init(rt_rq *r, const rt_quant *q, int o, int64_t reach)
{
    int32_t e[4];
    r->fast = rt_fast_entry(q, o, reach, e);
    r->bias = q->bias[o], r->lo = q->lo;
    r->q = q, r->o = o;
    r->mult = r->fast ? e[1] : q->mult[o];
    r->k = r->fast ? e[2] : 0;
    r->t = r->fast ? e[3] : 0;
}

int rt_rq_table(const rt_conv_job *j, int32_t *tab)
{
    if (j->q->hi != 127)
        return 0;
    for (int o = 0; o < j->out->c; o++, tab += 4) {
        rt_rq r;
        rt_rq_init(&r, j->q, o, RT_REACH(j));
        if (!r.fast)
            return 0;
        tab[0] = r.bias, tab[1] = r.mult, tab[2] = r.k, tab[3] = r.t;
    }
    return 1;
}

#endif

#if (RT_DSP || defined(RT_DSP_EMULATE)) && (RT_S4_PANEL || RT_WITH_CONV_SP4)

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
                        rt_memcpy(&a, pa + c, 4);
                    if (pb)
                        rt_memcpy(&b, pb + c, 4);
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


/* Adds the two lanes of each packed accumulator to lo/hi (see the top). */
RT_INLINE void flush(int32_t *lo, int32_t *hi, const uint32_t *A, int G)
{
    for (int g = 0; g < G; g++) {
        lo[g] += (int16_t)(A[g] & 0xffff);
        hi[g] += rt_s32(A[g] + 0x8000u) >> 16;
    }
}

/* The common pass: five columns of two rows, the plain requantization. */
RT_INLINE void store5(int8_t *y, size_t step, size_t row, const rt_rq *r, const int32_t *acc)
{
    const int32_t m = r->mult, k = r->k, t = r->t;
    int8_t *z = y + row;
#define ST(g)                                                                                      \
    y[(g)*step] = (int8_t)rt_ssat8(rt_smmla(acc[g], m, k) >> t);                                   \
    z[(g)*step] = (int8_t)rt_ssat8(rt_smmla(acc[GMAX + (g)], m, k) >> t)
    ST(0);
    ST(1);
    ST(2);
    ST(3);
    ST(4);
#undef ST
}

/* Requantizes and stores a pass: rows oy (lo) and oy + 1 (hi, if two). */
RT_INLINE void store_pass(const rt_conv_job *j, const rt_rq *r, int oy, int ox0, int G, int o,
                          const int32_t *lo, const int32_t *hi, int two)
{
    const rt_dims *out = j->out;
    const size_t row = (size_t)out->w * out->c;
    int8_t *y = j->y + ((size_t)oy * out->w + ox0) * out->c + o;
    if (r->fast && r->lo == -128) { /* ssat is the whole clamp */
        for (int g = 0; g < G; g++, y += out->c) {
            y[0] = (int8_t)rt_ssat8(rt_smmla(lo[g], r->mult, r->k) >> r->t);
            if (two)
                y[row] = (int8_t)rt_ssat8(rt_smmla(hi[g], r->mult, r->k) >> r->t);
        }
        return;
    }
    for (int g = 0; g < G; g++, y += out->c) {
        y[0] = rt_rq_apply(r, lo[g]);
        if (two)
            y[row] = rt_rq_apply(r, hi[g]);
    }
}

#endif

/* ---- SP4 ---------------------------------------------------------------------------------------- */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_CONV_SP4

#if RT_DSP
/* The blocks of one channel for one pass of G columns, as a naked
 * function (all fourteen registers; nb and acc wait on its own stack):
 * per block, zero the lane accumulators, run count entries four at a time
 * (no per-entry test: 9 instructions per entry, 9.5 with the loop), then
 * add the lanes to acc (lo[0..5), hi[5..10)). AAPCS: r0 p, r1 nb, r2 ad,
 * r3 acc; returns p after the blocks. Registers: r1 entry, r2 address,
 * r3 count, r4-r6 r8 r9 panel words, r7 r10 r11 r12 lr the lanes. */
#define SP4_E(LDM, MLA)                                                                            \
    "ldrh r1, [r0], #2\n\t"                                                                        \
    "add r2, r2, r1, lsr #4\n\t"                                                                   \
    "sbfx r1, r1, #0, #4\n\t"                                                                      \
    "ldm r2, {" LDM "}\n\t" MLA
#define RT_UNUSED __attribute__((unused)) /* naked: the asm reads them in r0-r3 */
#define SP4_FN(NAME, LDM, MLA, LO, HI)                                                             \
    __attribute__((naked, noinline)) static const uint16_t *NAME(                                  \
        const uint16_t *p RT_UNUSED, uint32_t nb RT_UNUSED, const uint8_t *ad RT_UNUSED,          \
        int32_t *acc RT_UNUSED)                                                                    \
    {                                                                                              \
        __asm__ volatile("push {r4-r11, lr}\n\t"                                                   \
                         "push {r1, r3}\n\t"                                                       \
                         "1:\n\t"                                                                  \
                         "ldr r3, [sp]\n\t"                                                        \
                         "subs r3, r3, #1\n\t"                                                     \
                         "bmi 9f\n\t"                                                              \
                         "str r3, [sp]\n\t"                                                        \
                         "ldrh r3, [r0], #2\n\t"                                                   \
                         "mov r7, #0\n\tmov r10, #0\n\tmov r11, #0\n\tmov r12, #0\n\tmov lr, #0\n\t" \
                         "subs r3, r3, #4\n\t"                                                     \
                         "blt 3f\n\t"                                                              \
                         "2:\n\t" SP4_E(LDM, MLA) SP4_E(LDM, MLA) SP4_E(LDM, MLA) SP4_E(LDM, MLA) \
                         "subs r3, r3, #4\n\t"                                                     \
                         "bge 2b\n\t"                                                              \
                         "3:\n\t"                                                                  \
                         "adds r3, r3, #4\n\t"                                                     \
                         "beq 5f\n\t"                                                              \
                         "4:\n\t" SP4_E(LDM, MLA)                                                  \
                         "subs r3, r3, #1\n\t"                                                     \
                         "bne 4b\n\t"                                                              \
                         "5:\n\t"                                                                  \
                         "ldr r3, [sp, #4]\n\t"                                                    \
                         "ldm r3, {" LDM "}\n\t" LO "stm r3, {" LDM "}\n\t"                        \
                         "add r3, r3, #20\n\t"                                                     \
                         "ldm r3, {" LDM "}\n\t" HI "stm r3, {" LDM "}\n\t"                        \
                         "b 1b\n\t"                                                                \
                         "9:\n\t"                                                                  \
                         "add sp, sp, #8\n\t"                                                      \
                         "pop {r4-r11, pc}\n\t");                                                  \
    }
#define M0 "mla r7, r1, r4, r7\n\t"
#define M1 M0 "mla r10, r1, r5, r10\n\t"
#define M2 M1 "mla r11, r1, r6, r11\n\t"
#define M3 M2 "mla r12, r1, r8, r12\n\t"
#define M4 M3 "mla lr, r1, r9, lr\n\t"
#define L0 "sxtah r4, r4, r7\n\t"
#define L1 L0 "sxtah r5, r5, r10\n\t"
#define L2 L1 "sxtah r6, r6, r11\n\t"
#define L3 L2 "sxtah r8, r8, r12\n\t"
#define L4 L3 "sxtah r9, r9, lr\n\t"
#define H0 "add r7, r7, #0x8000\n\tadd r4, r4, r7, asr #16\n\t"
#define H1 H0 "add r10, r10, #0x8000\n\tadd r5, r5, r10, asr #16\n\t"
#define H2 H1 "add r11, r11, #0x8000\n\tadd r6, r6, r11, asr #16\n\t"
#define H3 H2 "add r12, r12, #0x8000\n\tadd r8, r8, r12, asr #16\n\t"
#define H4 H3 "add lr, lr, #0x8000\n\tadd r9, r9, lr, asr #16\n\t"
SP4_FN(sp4_g5, "r4, r5, r6, r8, r9", M4, L4, H4)
SP4_FN(sp4_g4, "r4, r5, r6, r8", M3, L3, H3)
SP4_FN(sp4_g3, "r4, r5, r6", M2, L2, H2)
SP4_FN(sp4_g2, "r4, r5", M1, L1, H1)
SP4_FN(sp4_g1, "r4", M0, L0, H0)

static const uint16_t *sp4_blocks(const uint16_t *p, uint32_t nb, const uint8_t *ad, int32_t *acc,
                                  int G)
{
    switch (G) {
    case 5: return sp4_g5(p, nb, ad, acc);
    case 4: return sp4_g4(p, nb, ad, acc);
    case 3: return sp4_g3(p, nb, ad, acc);
    case 2: return sp4_g2(p, nb, ad, acc);
    default: return sp4_g1(p, nb, ad, acc);
    }
}
#else
static const uint16_t *sp4_blocks(const uint16_t *p, uint32_t nb, const uint8_t *ad, int32_t *acc,
                                  int G)
{
    for (uint32_t b = 0; b < nb; b++) {
        uint32_t A[GMAX] = {0, 0, 0, 0, 0};
        for (uint32_t m = *p++; m > 0; m--) {
            const uint32_t e = *p++;
            ad += e >> 4;
            uint32_t w = (uint32_t)(((int32_t)((e & 15) ^ 8)) - 8);
            for (int g = 0; g < G; g++) {
                uint32_t x;
                rt_memcpy(&x, ad + 4 * g, 4);
                A[g] += w * x; /* the MLA: modulo 2^32 */
            }
        }
        flush(acc, acc + GMAX, A, G);
    }
    return p;
}
#endif

void rt_conv_sp4_dsp(const rt_conv_job *j)
{
    const rt_dims *out = j->out;
    const rt_panel_geom g = rt_panel(j->win, j->in);
    uint32_t *pn = (uint32_t *)j->scratch;
    const int np = pass_count(out->w), base = out->w / np, rem = out->w % np;
    for (int oy = 0; oy < out->h; oy += 2) {
        panel_next(j, oy, pn, &g);
        const uint16_t *sp = (const uint16_t *)(const void *)j->w;
        const int two = oy + 1 < out->h;
        for (int o = 0; o < out->c; o++) {
            rt_rq r;
            rt_rq_init(&r, j->q, o, RT_REACH(j));
            const uint16_t *p = sp;
            const uint32_t nb = *sp;
            for (int pi = 0, ox0 = 0; pi < np; pi++) {
                const int G = base + (pi < rem);
                const int32_t b0 = r.bias;
                int32_t acc[2 * GMAX] = {b0, b0, b0, b0, b0, b0, b0, b0, b0, b0};
                p = sp4_blocks(sp + 1, nb, (const uint8_t *)pn + 4 * ox0, acc, G);
                if (r.fast && r.lo == -128 && two && G == GMAX)
                    store5(j->y + ((size_t)oy * out->w + ox0) * out->c + o, out->c,
                           (size_t)out->w * out->c, &r, acc);
                else
                    store_pass(j, &r, oy, ox0, G, o, acc, acc + GMAX, two);
                ox0 += G;
            }
            sp = p;
        }
    }
}
#endif

/* ---- S4 ------------------------------------------------------------------------------------------ */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_CONV_S4
#if RT_S4_PANEL

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
        rt_memcpy(v_, (ad), sizeof v_);                                                               \
        x0 = v_[0], x1 = v_[1], x2 = v_[2], x3 = v_[3], x4 = v_[4];                                \
    } while (0)
#endif

#if RT_DSP
/* Eight taps of one weight word (channels c..c+7 of one kernel position):
 * per tap sbfx + ldm + G mla + add (the next channel's words). */
#define S4_TAP(POS, LDM, MLA)                                                                      \
    "sbfx %[w], %[wd], #" POS ", #4\n\t"                                                            \
    "ldm %[ad], {" LDM "}\n\t" MLA "add %[ad], %[ad], %[cb]\n\t"
#define S4_GROUP(LDM, MLA)                                                                         \
    __asm__ volatile(S4_TAP("0", LDM, MLA) S4_TAP("4", LDM, MLA) S4_TAP("8", LDM, MLA)            \
                         S4_TAP("12", LDM, MLA) S4_TAP("16", LDM, MLA) S4_TAP("20", LDM, MLA)     \
                             S4_TAP("24", LDM, MLA) S4_TAP("28", LDM, MLA)                        \
                     : [w] "=&r"(w), [ad] "+r"(ad), [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2),   \
                       [a3] "+r"(a3), [a4] "+r"(a4)                                                \
                     : [wd] "r"(wd), [cb] "r"(cb)                                                  \
                     : "r4", "r5", "r6", "r8", "r9", "memory")
#define W0 "mla %[a0], %[w], r4, %[a0]\n\t"
#define W1 W0 "mla %[a1], %[w], r5, %[a1]\n\t"
#define W2 W1 "mla %[a2], %[w], r6, %[a2]\n\t"
#define W3 W2 "mla %[a3], %[w], r8, %[a3]\n\t"
#define W4 W3 "mla %[a4], %[w], r9, %[a4]\n\t"

/* One kernel position: C/8 weight words from wp, panel words from ad. */
static void s4_position(const uint8_t *wp, uint32_t words, const uint8_t *ad, uint32_t cb, int G,
                        uint32_t *A)
{
    uint32_t a0 = A[0], a1 = A[1], a2 = A[2], a3 = A[3], a4 = A[4], w;
    for (uint32_t q = 0; q < words; q++) {
        uint32_t wd;
        rt_memcpy(&wd, wp + 4 * q, 4);
        switch (G) {
        case 5: S4_GROUP("r4, r5, r6, r8, r9", W4); break;
        case 4: S4_GROUP("r4, r5, r6, r8", W3); break;
        case 3: S4_GROUP("r4, r5, r6", W2); break;
        case 2: S4_GROUP("r4, r5", W1); break;
        default: S4_GROUP("r4", W0); break;
        }
    }
    (void)w;
    A[0] = a0, A[1] = a1, A[2] = a2, A[3] = a3, A[4] = a4;
}
#else
static void s4_position(const uint8_t *wp, uint32_t words, const uint8_t *ad, uint32_t cb, int G,
                        uint32_t *A)
{
    for (uint32_t q = 0; q < words; q++) {
        uint32_t wd;
        rt_memcpy(&wd, wp + 4 * q, 4);
        for (int i = 0; i < 8; i++, ad += cb) {
            uint32_t w = (uint32_t)((int32_t)(wd << (28 - 4 * i)) >> 28);
            for (int g = 0; g < G; g++) {
                uint32_t x;
                rt_memcpy(&x, ad + 4 * g, 4);
                A[g] += w * x;
            }
        }
    }
}
#endif

/* in_c a multiple of 8: whole weight words per kernel position; a flush
 * every 4 words (32 taps of |w| <= 7). */
static void conv_s4_c8(const rt_conv_job *j)
{
    const rt_dims *out = j->out, *in = j->in;
    const rt_panel_geom g = rt_panel(j->win, in);
    uint32_t *pn = (uint32_t *)j->scratch;
    const int k = j->win->kernel, s = j->win->stride, C = in->c;
    const uint32_t K = (uint32_t)k * k * C, row = (K + 7) / 8 * 4, wpp = (uint32_t)C / 8;
    const int np = pass_count(out->w), base = out->w / np, rem = out->w % np;
    for (int oy = 0; oy < out->h; oy += 2) {
        panel_next(j, oy, pn, &g);
        const int two = oy + 1 < out->h;
        for (int o = 0; o < out->c; o++) {
            rt_rq r;
            rt_rq_init(&r, j->q, o, RT_REACH(j));
            const uint8_t *wrow = j->w + (size_t)o * row;
            for (int pi = 0, ox0 = 0; pi < np; pi++) {
                const int G = base + (pi < rem);
                const int32_t b0 = r.bias;
                int32_t lo[GMAX] = {b0, b0, b0, b0, b0}, hi[GMAX] = {b0, b0, b0, b0, b0};
                uint32_t A[GMAX] = {0, 0, 0, 0, 0};
                const uint8_t *wp = wrow;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const uint8_t *ad = (const uint8_t *)pn + (size_t)ky * g.slot_b +
                                            (uint32_t)(kx % s) * g.wq * 4 + (uint32_t)(kx / s) * 4 +
                                            4u * (uint32_t)ox0;
                        for (uint32_t q0 = 0; q0 < wpp; q0 += 4) {
                            const uint32_t n = wpp - q0 < 4 ? wpp - q0 : 4;
                            s4_position(wp + 4 * q0, n, ad + (size_t)q0 * 8 * g.chan_b, g.chan_b, G, A);
                            flush(lo, hi, A, G); /* at most 32 taps since the last */
                            A[0] = A[1] = A[2] = A[3] = A[4] = 0;
                        }
                        wp += 4 * wpp;
                    }
                store_pass(j, &r, oy, ox0, G, o, lo, hi, two);
                ox0 += G;
            }
        }
    }
}

#endif /* RT_S4_PANEL */

/* The S8 body's passes with 4-bit weights (below, with the S8 body): 1 when
 * it ran, 0 when the layer or its scratch does not suit it. */
#if RT_S4_PASSES
static int s4_passes(const rt_conv_job *j);
#endif

void rt_conv_s4_dsp(const rt_conv_job *j)
{
#if RT_S4_PASSES
    if (s4_passes(j))
        return;
#endif
#if !RT_S4_PANEL
    (void)j; /* conv_run refused the layer (rt_conv_s4_passes_fit) */
#else
    if (j->in->c % 8 == 0) {
        conv_s4_c8(j);
        return;
    }

    const rt_dims *out = j->out, *in = j->in;
    const rt_panel_geom g = rt_panel(j->win, in);
    uint32_t *pn = (uint32_t *)j->scratch;
    const int k = j->win->kernel, s = j->win->stride, C = in->c;
    const uint32_t K = (uint32_t)k * k * C, row = (K + 7) / 8 * 4;
    const int np = pass_count(out->w);
    for (int oy = 0; oy < out->h; oy += 2) {
        panel_next(j, oy, pn, &g);
        for (int o = 0; o < out->c; o++) {
            rt_rq r;
            rt_rq_init(&r, j->q, o, RT_REACH(j));
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
                            rt_memcpy(&wd, wrow + 4 * (t >> 3), 4);
                            uint32_t w = (uint32_t)((int32_t)(wd << (28 - 4 * (t & 7))) >> 28);
                            if (w) {
                                uint32_t x0, x1 = 0, x2 = 0, x3 = 0, x4 = 0;
                                if (G == 5) {
                                    LOAD5(ad, x0, x1, x2, x3, x4);
                                } else { /* only the pass's words: the panel may end here */
                                    rt_memcpy(&x0, ad, 4);
                                    if (G > 1)
                                        rt_memcpy(&x1, ad + 4, 4);
                                    if (G > 2)
                                        rt_memcpy(&x2, ad + 8, 4);
                                    if (G > 3)
                                        rt_memcpy(&x3, ad + 12, 4);
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
                store_pass(j, &r, oy, ox0, G, o, lo, hi, oy + 1 < out->h);
            }
        }
    }
#endif
}
#endif

/* ---- S4 widened to S8 (rt_conv2d_widen_bytes) ----------------------------------------------------- */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && !RT_MVE &&                                              \
    ((RT_WITH_CONV_S4_WIDEN && RT_WITH_CONV_S8) || (RT_WITH_WINO && RT_WITH_WINO_S4))
/* (also Winograd's S4 rows, rt_wino.c) Per word of eight nibbles n0..n7 (n0 the lowest): each offset by 8 (n ^ 8
 * is 0..15), UXTB16's halves spread to bytes (n0 n1 n4 n5) and (n2 n3 n6
 * n7), PKHBT / PKHTB to (n0 n1 n2 n3) and (n4 n5 n6 n7), the offset taken
 * back byte by byte (USUB8): 14 instructions for eight weights. */
RT_INLINE void widen8(uint32_t v, uint32_t *lo, uint32_t *hi)
{
    v ^= 0x88888888u;
    uint32_t p = rt_uxtb16(v), q = rt_uxtb16_r8(v);
    p = (p | p << 4) & 0x0f0f0f0fu;
    q = (q | q << 4) & 0x0f0f0f0fu;
    *lo = rt_usub8(rt_pkhbt(p, q), 0x08080808u);
    *hi = rt_usub8(rt_pkhtb(q, p), 0x08080808u);
}

/* n words to 2 n (w4 4-aligned, d 8-aligned), two a step */
static void widen_run(const uint8_t *w4, uint32_t n, uint32_t *d)
{
    uint32_t a, b, c, e;
    for (const uint8_t *end = w4 + 4 * (n & ~1u); w4 < end; w4 += 8, d += 4) {
        widen8(rt_rd32(w4), &a, &b);
        widen8(rt_rd32(w4 + 4), &c, &e);
        d[0] = a, d[1] = b, d[2] = c, d[3] = e;
    }
    if (n & 1)
        widen8(rt_rd32(w4), &d[0], &d[1]);
}

void rt_widen_s4(const uint8_t *w4, uint32_t K, uint32_t O, int8_t *w8)
{
    const uint32_t words = (K + 7) / 8, row = rt_s8_row_bytes(K);
    uint32_t *d = (uint32_t *)(void *)w8; /* rows 4-aligned */
    if (row % 8 == 0) { /* K % 8 == 0: one stream, nothing padded */
        widen_run(w4, O * words, d);
        return;
    }
    for (uint32_t o = 0; o < O; o++, w4 += 4 * words, d += row / 4) {
        uint32_t lo, hi;
        widen_run(w4, words - 1, d);
        widen8(rt_rd32(w4 + 4 * (words - 1)), &lo, &hi);
        d[row / 4 - 1] = lo; /* the last word's high half is padding */
    }
}
#endif

/* ---- S8 ------------------------------------------------------------------------------------------- */

/* An MVE build (Cortex-M55 with arm_mve.h) runs rt_mve.c's S8 body instead;
 * there only the passes of S4 layers use this code (the linker drops the
 * rest). */
#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_CONV_S8 && (!RT_MVE || RT_WITH_CONV_S4)

/* The general S8 body (K > 10): channel pairs, not kernel-row pairs.
 *
 * SXTB16 of a word of four int8 (v0, v1, v2, v3) is the int16 pair
 * (v0, v2), SXTB16 ROR #8 is (v1, v3). A weight row of S8 is K int8 in the
 * order (ky, kx, c), padded to a multiple of 4: group q of four weights
 * becomes the two pairs (w[4q], w[4q+2]) and (w[4q+1], w[4q+3]) with two
 * instructions, and SMLAD of each with the input's pairs in the same lanes
 * adds the group's four products.
 *
 * A pass is SG = 4 consecutive output columns of one output row. Before
 * its channels run, the pass's input is copied into scratch in the order
 * the weights are read (an im2col in int16 pairs): for each group q, the
 * SG words (x[4q], x[4q+2]) of the SG columns, then the SG words
 * (x[4q+1], x[4q+3]). Every address is then the previous one plus a
 * constant, so the inner loop needs no offsets: per group of four weights
 *     ldr w ; ldm {4 words} ; sxtb16 ; 4 x smlad ; ldm ; sxtb16 ror ; 4 x smlad
 * = 13 instructions for 16 MACs (two weight words per LDRD, four groups per
 * loop iteration). The copy is amortized over the layer's output channels.
 * Columns past the row's end compute garbage from zeros and are not
 * stored. */
#define SG RT_S8_PASS

#if RT_DSP
#define I2C_HALF(W, ROR)                                                                           \
    "ldm %[px]!, {r4, r5, r6, r8}\n\t"                                                             \
    "sxtb16 %[w], %[" W "]" ROR "\n\t"                                                             \
    "smlad %[a0], %[w], r4, %[a0]\n\t"                                                             \
    "smlad %[a1], %[w], r5, %[a1]\n\t"                                                             \
    "smlad %[a2], %[w], r6, %[a2]\n\t"                                                             \
    "smlad %[a3], %[w], r8, %[a3]\n\t"
#define I2C_PAIR                                                                                   \
    "ldrd %[t0], %[t1], [%[pw]], #8\n\t" I2C_HALF("t0", "") I2C_HALF("t0", ", ror #8")            \
        I2C_HALF("t1", "") I2C_HALF("t1", ", ror #8")
#define I2C_ASM(CODE)                                                                              \
    __asm__ volatile(CODE                                                                          \
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [px] "+r"(px),  \
                       [pw] "+r"(pw), [t0] "=&r"(t0_), [t1] "=&r"(t1_), [w] "=&r"(w_)              \
                     : [end] "r"(end_)                                                             \
                     : "r4", "r5", "r6", "r8", "cc", "memory")

/* a0..a3 += the channel's nq groups of weights (pw) times the pass
 * buffer (px); pw and px move on. */
#define I2C_CHANNEL(pw, px, nq)                                                                    \
    do {                                                                                           \
        uint32_t t0_, t1_, w_; /* names that shadow nothing (-Wshadow) */                        \
        const uint8_t *end_ = pw + 16 * (nq / 4);                                                  \
        if (nq >= 4)                                                                               \
            I2C_ASM("1:\n\t" I2C_PAIR I2C_PAIR "cmp %[pw], %[end]\n\t"                             \
                    "bne 1b\n\t");                                                                \
        if (nq & 2)                                                                                \
            I2C_ASM(I2C_PAIR);                                                                     \
        if (nq & 1)                                                                                \
            I2C_ASM("ldr %[t0], [%[pw]], #4\n\t" I2C_HALF("t0", "") I2C_HALF("t0", ", ror #8"));  \
        (void)t0_, (void)t1_, (void)w_, (void)end_;                                                \
    } while (0)
#else
static void i2c_channel(const uint8_t *pw, const uint32_t *px, uint32_t nq, int32_t *acc)
{
    for (uint32_t q = 0; q < nq; q++, pw += 4, px += 2 * SG) {
        uint32_t t;
        rt_memcpy(&t, pw, 4);
        const int32_t w02 = rt_sxtb16(t), w13 = rt_sxtb16(rt_ror(t, 8));
        for (int g = 0; g < SG; g++)
            acc[g] = rt_smlad(w02, (int32_t)px[g], rt_smlad(w13, (int32_t)px[SG + g], acc[g]));
    }
}
#define I2C_CHANNEL(pw, px, nq)                                                                    \
    do {                                                                                           \
        int32_t acc_[SG] = {a0, a1, a2, a3};                                                       \
        i2c_channel(pw, px, nq, acc_);                                                             \
        a0 = acc_[0], a1 = acc_[1], a2 = acc_[2], a3 = acc_[3];                                    \
    } while (0)
#endif

/* in_c % 4 == 0: the input rows the passes read, converted once each into
 * a ring of k slots (row r in slot r mod k). A slot holds per plane
 * p = 2 cg + h (channel group cg, h = 0 for the SXTB16 pair (c, c + 2),
 * 1 for the ROR #8 pair (c + 1, c + 3)), per column phase f < s and index
 * i < wr the pair of column i * s + f - pad (in_zero outside the image):
 * a pass's four columns of a tap are then four consecutive words, and its
 * buffer is copied from the ring with LDM/STM, 4 words at a time. */
/* Converts input row r into slot d: S8's planes, or S4's (s4 = 1: per
 * group of eight channels c..c+7 the planes (c, c + 4), (c + 2, c + 6),
 * (c + 1, c + 5), (c + 3, c + 7), the pairs of the S4 passes below). */
static void ring_row(const rt_conv_job *j, int r, uint32_t *d, const rt_s8_ring *rg, int s4)
{
    const rt_dims *in = j->in;
    const int s = j->win->stride, pad = j->win->pad, C = in->c, W = in->w, ncg = C / 4;
    const int8_t *row = r >= 0 && r < in->h ? j->x + (size_t)r * W * C : NULL;
    const uint32_t zz = (uint32_t)rt_sxtb16((uint8_t)j->in_zero * 0x01010101u), cw = rg->cw;
    for (int f = 0; f < s; f++)
        for (uint32_t i = 0; i < rg->wr; i++) {
            const int col = (int)i * s + f - pad;
            uint32_t *dp = d + (uint32_t)f * rg->wr + i;
            if (!row || col < 0 || col >= W) {
                for (int p = 0; p < 2 * ncg; p++, dp += cw)
                    *dp = zz;
                continue;
            }
            const int8_t *src = row + (size_t)col * C;
            if (s4) { /* per group of eight: planes (c0, c4), (c2, c6), (c1, c5), (c3, c7) */
                for (int g8 = 0; g8 < ncg / 2; g8++, dp += 4 * cw, src += 8) {
                    uint32_t a, b;
                    rt_memcpy(&a, src, 4);
                    rt_memcpy(&b, src + 4, 4);
                    const uint32_t a02 = (uint32_t)rt_sxtb16(a), b02 = (uint32_t)rt_sxtb16(b);
                    const uint32_t a13 = (uint32_t)rt_sxtb16_r8(a), b13 = (uint32_t)rt_sxtb16_r8(b);
                    dp[0] = rt_pkhbt(a02, b02), dp[cw] = rt_pkhtb(b02, a02);
                    dp[2 * cw] = rt_pkhbt(a13, b13), dp[3 * cw] = rt_pkhtb(b13, a13);
                }
                continue;
            }
            for (int cg = 0; cg < ncg; cg++, dp += 2 * cw, src += 4) {
                uint32_t v;
                rt_memcpy(&v, src, 4);
                dp[0] = (uint32_t)rt_sxtb16(v);
                dp[cw] = (uint32_t)rt_sxtb16_r8(v);
            }
        }
}

/* 4 words from s to d (LDM, STM); returns d + 4. */
RT_INLINE uint32_t *copy4(uint32_t *d, const uint32_t *s)
{
#if RT_DSP
    __asm__ volatile("ldm %[s], {r4, r5, r6, r8}\n\t"
                     "stm %[d]!, {r4, r5, r6, r8}\n\t"
                     : [d] "+r"(d)
                     : [s] "r"(s)
                     : "r4", "r5", "r6", "r8", "memory");
    return d;
#else
    d[0] = s[0], d[1] = s[1], d[2] = s[2], d[3] = s[3];
    return d + 4;
#endif
}

/* A 3x3 stride-1 kernel row's three taps for np planes: the six words
 * s[0..6) of each plane (planes cw words apart) hold what the taps read,
 * s[0..4) for kx = 0 to s[2..6) for kx = 2; one LDM, three STM into the
 * taps' buffers a, b, c (4 words per plane each). np is even. */
static RT_NOINLINE void copy_taps3(const uint32_t *s, uint32_t cw, uint32_t np, uint32_t *a,
                                   uint32_t *b, uint32_t *c)
{
#if RT_DSP
    const uint32_t cwb = 4 * cw;
    uint32_t n = np / 2;
#define TAPS3_PLANE                                                                                \
    "ldm %[s], {r4, r5, r6, r8, r9, r10}\n\t"                                                    \
    "add %[s], %[s], %[cwb]\n\t"                                                                  \
    "stm %[a]!, {r4, r5, r6, r8}\n\t"                                                              \
    "stm %[b]!, {r5, r6, r8, r9}\n\t"                                                              \
    "stm %[c]!, {r6, r8, r9, r10}\n\t"
    __asm__ volatile("1:\n\t" TAPS3_PLANE TAPS3_PLANE "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [s] "+r"(s), [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [n] "+r"(n)
                     : [cwb] "r"(cwb)
                     : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
#undef TAPS3_PLANE
#else
    for (uint32_t p = 0; p < np; p++, s += cw, a += 4, b += 4, c += 4)
        for (int i = 0; i < 4; i++)
            a[i] = s[i], b[i] = s[i + 1], c[i] = s[i + 2];
#endif
}

/* The same for stride 2: a plane's even columns (phase 0) s[0..5) hold
 * what kx = 0 (s[0..4)) and kx = 2 (s[1..5)) read, its odd columns
 * s[wr..wr+4) what kx = 1 reads. */
static RT_NOINLINE void copy_taps3_s2(const uint32_t *s, uint32_t cw, uint32_t wr, uint32_t np,
                                      uint32_t *a, uint32_t *b, uint32_t *c)
{
#if RT_DSP
    const uint32_t cwb = 4 * cw, wrb = 4 * wr;
    uint32_t n = np;
    __asm__ volatile("1:\n\t"
                     "ldm %[s], {r4, r5, r6, r8, r9}\n\t"
                     "stm %[a]!, {r4, r5, r6, r8}\n\t"
                     "stm %[c]!, {r5, r6, r8, r9}\n\t"
                     "add r10, %[s], %[wrb]\n\t"
                     "ldm r10, {r4, r5, r6, r8}\n\t"
                     "stm %[b]!, {r4, r5, r6, r8}\n\t"
                     "add %[s], %[s], %[cwb]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [s] "+r"(s), [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [n] "+r"(n)
                     : [cwb] "r"(cwb), [wrb] "r"(wrb)
                     : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
#else
    for (uint32_t p = 0; p < np; p++, s += cw, a += 4, b += 4, c += 4)
        for (int i = 0; i < 4; i++)
            a[i] = s[i], b[i] = s[wr + i], c[i] = s[i + 1];
#endif
}

/* The pass buffer of output row oy (whose input rows are in the ring),
 * columns ox0..ox0+SG. */
static void ring_pass(const rt_conv_job *j, int oy, int ox0, const uint32_t *ring,
                      const rt_s8_ring *rg, uint32_t *d)
{
    const int k = j->win->kernel, s = j->win->stride, np = j->in->c / 2;
    const uint32_t cw = rg->cw;
    if (k == 3 && s <= 2) { /* each kernel row's planes read once for its three taps */
        const uint32_t tap = 4u * (uint32_t)np, *sp = ring + (uint32_t)ox0;
        const int r0 = oy * s - j->win->pad; /* row r in slot r mod 3 */
        for (uint32_t ky = 0, sl = (uint32_t)(r0 % 3 + 3) % 3; ky < 3;
             ky++, d += 3 * tap, sl = sl == 2 ? 0 : sl + 1) {
            const uint32_t *row = sp + sl * rg->slot;
            if (s == 1)
                copy_taps3(row, cw, (uint32_t)np, d, d + tap, d + 2 * tap);
            else
                copy_taps3_s2(row, cw, rg->wr, (uint32_t)np, d, d + tap, d + 2 * tap);
        }
        return;
    }
    for (int ky = 0; ky < k; ky++) {
        const int r = oy * s - j->win->pad + ky;
        const uint32_t *slot = ring + (uint32_t)(((r % k) + k) % k) * rg->slot;
        for (int kx = 0; kx < k; kx++) {
            const uint32_t *sp = slot + (uint32_t)(kx % s) * rg->wr + (uint32_t)(kx / s + ox0);
            for (int p = 0; p < np; p += 2, sp += 2 * cw) {
                d = copy4(d, sp);
                d = copy4(d, sp + cw);
            }
        }
    }
}

/* in_c % 4 != 0 (a colour first layer, K = 27): the kernel's input rows as
 * int8 with their padding columns (in_zero), a ring of k rows of
 * rt_s8_flat_bytes each (row r in slot r mod k). Column ox's window starts
 * at byte ox * s * in_c of a row, and its kernel row ky is the k * in_c
 * bytes from there in the weights' (kx, c) order (flat_pass below). */
static void flat_row(const rt_conv_job *j, int r, int8_t *d)
{
    const rt_dims *in = j->in;
    const size_t pc = (size_t)j->win->pad * in->c, wc = (size_t)in->w * in->c;
    if (r < 0 || r >= in->h) {
        memset(d, j->in_zero, 2 * pc + wc);
        return;
    }
    memset(d, j->in_zero, pc);
    memcpy(d + pc, j->x + (size_t)r * wc, wc);
    memset(d + pc + wc, j->in_zero, pc);
}

/* A window of at most FLAT_WIN bytes (the weight row: a colour first
 * layer's 3x3x3 is 28) is first copied contiguous, its k kernel rows a word
 * at a time, so that each group of four is one aligned word; a longer one
 * is gathered group by group from the rows. */
#define FLAT_WIN 64

/* Column ox's window (kernel rows from ring slot sl0 on) into win, zeros
 * from K to the row's end. */
static void flat_window(const rt_conv_job *j, int ox, const int8_t *ring, uint32_t fb, int sl0,
                        uint32_t row, uint32_t *win)
{
    const int k = j->win->kernel, kc = k * j->in->c;
    const size_t base = (size_t)ox * j->win->stride * j->in->c;
    int8_t *d = (int8_t *)win;
    for (int ky = 0, sl = sl0; ky < k; ky++, sl = sl + 1 == k ? 0 : sl + 1) {
        const int8_t *src = ring + (size_t)sl * fb + base;
        int n = kc;
        for (; n >= 4; n -= 4, src += 4, d += 4) {
            uint32_t v;
            rt_memcpy(&v, src, 4);
            rt_memcpy(d, &v, 4);
        }
        while (n-- > 0)
            *d++ = *src++;
    }
    while (d < (int8_t *)win + row)
        *d++ = 0;
}

/* A word of four int8 from any address (LDR: the DSP cores allow it). */
RT_INLINE uint32_t ld4(const int8_t *p)
{
    uint32_t v;
    rt_memcpy(&v, p, 4);
    return v;
}

/* The colour first layer's window (3x3x3: nine bytes from each of the
 * kernel rows p0, p1, p2, then one zero) as its seven groups of four for n
 * columns, step bytes apart. Groups 2 and 4 straddle two kernel rows and
 * group 6 holds the pad: each is read as unaligned words and merged, never
 * reading outside the window; then its two int16-pair words go to the pass
 * buffer (dg) as flat_pass's general path puts them. */
static void flat_pass_333(const int8_t *p0, const int8_t *p1, const int8_t *p2, uint32_t step,
                          int n, uint32_t *dg)
{
#define PUT(q, v)                                                                                  \
    do {                                                                                           \
        const uint32_t v_ = (v);                                                                   \
        dg[2 * SG * (q)] = (uint32_t)rt_sxtb16(v_);                                                \
        dg[2 * SG * (q) + SG] = (uint32_t)rt_sxtb16_r8(v_);                                        \
    } while (0)
    for (int g = 0; g < n; g++, p0 += step, p1 += step, p2 += step, dg++) {
        PUT(0, ld4(p0));
        PUT(1, ld4(p0 + 4));
        PUT(2, (uint32_t)(uint8_t)p0[8] | ld4(p1) << 8); /* r0[8] r1[0..2]      */
        PUT(3, ld4(p1 + 3));                             /* r1[3..6]            */
        PUT(4, ld4(p1 + 5) >> 16 | ld4(p2) << 16);       /* r1[7..8] r2[0..1]   */
        PUT(5, ld4(p2 + 2));                             /* r2[2..5]            */
        PUT(6, ld4(p2 + 5) >> 8);                        /* r2[6..8], the pad 0 */
    }
#undef PUT
}

/* The pass buffer of output row oy (whose input rows are in the flat
 * ring), columns ox0..ox0+SG; columns past the row's end get zeros. */
static RT_NOINLINE void flat_pass(const rt_conv_job *j, int oy, int ox0, const int8_t *ring,
                                  uint32_t fb, uint32_t *buf, uint32_t nq)
{
    const int k = j->win->kernel, s = j->win->stride, C = j->in->c, kc = k * C;
    const int r0 = oy * s - j->win->pad, sl0 = ((r0 % k) + k) % k;
    uint32_t win[FLAT_WIN / 4];
#define FLAT_ROW(ky) (ring + (size_t)((((r0 + (ky)) % k) + k) % k) * fb + base)
    if (kc == 9 && k == 3) {
        const int n = j->out->w - ox0 < SG ? j->out->w - ox0 : SG;
        const size_t base = (size_t)ox0 * s * C;
        flat_pass_333(FLAT_ROW(0), FLAT_ROW(1), FLAT_ROW(2), (uint32_t)(s * C), n, buf);
        for (int g = n; g < SG; g++)
            for (uint32_t q = 0; q < nq; q++)
                buf[2 * SG * q + g] = 0, buf[2 * SG * q + SG + g] = 0;
        return;
    }
    for (int g = 0; g < SG; g++) {
        uint32_t *dg = buf + g;
        const int ox = ox0 + g;
        if (ox >= j->out->w) {
            for (uint32_t q = 0; q < nq; q++, dg += 2 * SG)
                dg[0] = 0, dg[SG] = 0;
            continue;
        }
        if (4 * nq <= FLAT_WIN) {
            flat_window(j, ox, ring, fb, sl0, 4 * nq, win);
            for (uint32_t q = 0; q < nq; q++, dg += 2 * SG)
                dg[0] = (uint32_t)rt_sxtb16(win[q]), dg[SG] = (uint32_t)rt_sxtb16_r8(win[q]);
            continue;
        }
        const size_t base = (size_t)ox * s * C;
        int ky = 0, t0 = 0;
        const int8_t *rp = FLAT_ROW(0);
        for (uint32_t q = 0; q < nq; q++, dg += 2 * SG) {
            uint32_t v = 0;
            if (t0 + 4 <= kc) { /* the group within kernel row ky */
                rt_memcpy(&v, rp + t0, 4);
                if ((t0 += 4) == kc && ++ky < k)
                    t0 = 0, rp = FLAT_ROW(ky);
            } else {
                for (int i = 0; i < 4 && ky < k; i++) {
                    v |= (uint32_t)(uint8_t)rp[t0] << 8 * i;
                    if (++t0 == kc && ++ky < k)
                        t0 = 0, rp = FLAT_ROW(ky);
                }
            }
            dg[0] = (uint32_t)rt_sxtb16(v);
            dg[SG] = (uint32_t)rt_sxtb16_r8(v);
        }
    }
#undef FLAT_ROW
}


#if !RT_MVE /* the M55 runs rt_mve.c's S8 body: this asm has no registers there */
/* K <= 10 (a first layer: 3x3x1, 2x2x2, 1x1x3...): pixel by pixel, the
 * window as five int16-pair words, and per output channel nine words
 * {bias, five weight pairs, mult, rounding + zero constant, t}: 13
 * instructions per output. Only when every channel takes the fast
 * requantization with lo = -128 (the usual first layer: ReLU to zero point
 * -128, or no ReLU); otherwise returns 0. */
static int conv_s8_small(const rt_conv_job *j)
{
    const rt_dims *out = j->out, *in = j->in;
    const int k = j->win->kernel, s = j->win->stride, pad = j->win->pad, C = in->c;
    const uint32_t K = (uint32_t)k * k * C;
    if (K > 10 || j->q->lo != -128)
        return 0;
    uint32_t *tab = (uint32_t *)j->scratch;
    const uint32_t row = rt_s8_row_bytes(K);
    for (int o = 0; o < out->c; o++) {
        rt_rq r;
        rt_rq_init(&r, j->q, o, RT_REACH(j));
        if (!r.fast)
            return 0;
        const int8_t *w = (const int8_t *)j->w + (size_t)o * row;
        uint32_t *t = tab + 9 * o;
        t[0] = (uint32_t)r.bias;
        for (uint32_t q = 0; q < 5; q++) {
            int16_t lo = 2 * q < K ? w[2 * q] : 0, hi = 2 * q + 1 < K ? w[2 * q + 1] : 0;
            t[1 + q] = (uint16_t)lo | (uint32_t)(uint16_t)hi << 16;
        }
        t[6] = (uint32_t)r.mult, t[7] = (uint32_t)r.k, t[8] = (uint32_t)r.t;
    }
    const uint32_t *tend = tab + 9 * out->c;
    /* tap t's offset from the window's corner: interior pixels need no
     * bounds checks */
    int32_t toff[10];
    int nt = 0;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++)
            for (int c = 0; c < C; c++)
                toff[nt++] = (ky * in->w + kx) * C + c;
    for (int oy = 0; oy < out->h; oy++)
        for (int ox = 0; ox < out->w; ox++) {
            const int iy0 = oy * s - pad, ix0 = ox * s - pad;
            uint32_t x[5] = {0, 0, 0, 0, 0};
            if (iy0 >= 0 && ix0 >= 0 && iy0 + k <= in->h && ix0 + k <= in->w) {
                const int8_t *b = j->x + ((size_t)iy0 * in->w + ix0) * C;
                if (nt == 9 && C == 1) { /* 3x3x1, the grayscale first layer */
                    const int W = in->w;
                    x[0] = PK16(b[0], b[1]), x[1] = PK16(b[2], b[W]);
                    x[2] = PK16(b[W + 1], b[W + 2]), x[3] = PK16(b[2 * W], b[2 * W + 1]);
                    x[4] = PK16(b[2 * W + 2], 0);
                } else {
                    for (int q = 0; q < 5; q++)
                        x[q] = PK16(2 * q < nt ? b[toff[2 * q]] : 0,
                                    2 * q + 1 < nt ? b[toff[2 * q + 1]] : 0);
                }
            } else {
                int n = 0;
                for (int ky = 0; ky < k; ky++) {
                    const int iy = iy0 + ky;
                    for (int kx = 0; kx < k; kx++) {
                        const int ix = ix0 + kx;
                        const int ok = iy >= 0 && iy < in->h && ix >= 0 && ix < in->w;
                        const int8_t *xp = ok ? j->x + ((size_t)iy * in->w + ix) * C : NULL;
                        for (int c = 0; c < C; c++, n++)
                            x[n >> 1] |= (uint32_t)(uint16_t)(int16_t)(ok ? xp[c] : j->in_zero)
                                         << (16 * (n & 1));
                    }
                }
            }
            int8_t *y = j->y + ((size_t)oy * out->w + ox) * out->c;
#if RT_DSP
            const uint32_t *t = tab;
            __asm__ volatile("1:\n\t"
                             "ldm %[t]!, {r4, r5, r6, r8, r9, r10}\n\t"
                             "smlad r4, r5, %[x0], r4\n\t"
                             "smlad r4, r6, %[x1], r4\n\t"
                             "smlad r4, r8, %[x2], r4\n\t"
                             "smlad r4, r9, %[x3], r4\n\t"
                             "smlad r4, r10, %[x4], r4\n\t"
                             "ldm %[t]!, {r5, r6, r8}\n\t"
                             "smmla r4, r4, r5, r6\n\t"
                             "asr r4, r4, r8\n\t"
                             "ssat r4, #8, r4\n\t"
                             "strb r4, [%[y]], #1\n\t"
                             "cmp %[t], %[end]\n\t"
                             "bne 1b\n\t"
                             : [t] "+r"(t), [y] "+r"(y)
                             : [x0] "r"(x[0]), [x1] "r"(x[1]), [x2] "r"(x[2]), [x3] "r"(x[3]),
                               [x4] "r"(x[4]), [end] "r"(tend)
                             : "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
#else
            for (const uint32_t *t = tab; t < tend; t += 9) {
                int32_t a = (int32_t)t[0];
                for (int q = 0; q < 5; q++)
                    a = rt_smlad((int32_t)t[1 + q], (int32_t)x[q], a);
                *y++ = (int8_t)rt_ssat8(rt_smmla(a, (int32_t)t[6], (int32_t)t[7]) >> t[8]);
            }
#endif
        }
    return 1;
}
#endif

/* What every channel of a pass shares. */
typedef struct {
    const uint32_t *buf; /* the pass buffer              */
    uint32_t nq;         /* groups of four weights        */
    int32_t O;           /* output channels: store stride */
    int32_t lo;          /* the clamp's floor             */
} i2c_pass;

#if !RT_MVE && (!RT_DSP || RT_WITH_CONV_LO)
/* One output channel of a full pass (SG columns) with the fast
 * requantization (t: its {bias, mult, k, shift - 32}); outputs O apart
 * from y. (The naked functions below do most layers' channels.) */
static RT_NOINLINE void i2c_fast(const i2c_pass *ps, const uint8_t *pw, const int32_t *t, int8_t *y)
{
    const uint32_t *px = ps->buf, nq = ps->nq;
    int32_t a0 = t[0], a1 = a0, a2 = a0, a3 = a0;
    I2C_CHANNEL(pw, px, nq);
    const int32_t m = t[1], k = t[2], sh = t[3], O = ps->O, lo = ps->lo;
    int32_t v0 = rt_ssat8(rt_smmla(a0, m, k) >> sh), v1 = rt_ssat8(rt_smmla(a1, m, k) >> sh);
    int32_t v2 = rt_ssat8(rt_smmla(a2, m, k) >> sh), v3 = rt_ssat8(rt_smmla(a3, m, k) >> sh);
    if (lo > -128) {
        v0 = v0 < lo ? lo : v0, v1 = v1 < lo ? lo : v1;
        v2 = v2 < lo ? lo : v2, v3 = v3 < lo ? lo : v3;
    }
    y[0] = (int8_t)v0, y[O] = (int8_t)v1, y[2 * O] = (int8_t)v2, y[3 * O] = (int8_t)v3;
}
#endif

#if RT_DSP
#ifndef RT_UNUSED
#define RT_UNUSED __attribute__((unused)) /* naked: the asm reads it in r0 */
#endif
/* Every output channel of a full pass in one naked function (the fast
 * requantization, nq % 4 == 0): the channel loop keeps the weight pointer
 * in a register (the rows follow each other), the rest in r's struct on its
 * own stack, so a channel costs the inner loop plus ~33 instructions.
 * Registers: r0 weights, r1 pass buffer, r2 end, r3 r12 weight words, lr
 * the weight pair, r4-r6 r8 inputs, r7 r9-r11 the four accumulators;
 * between channels r3 is the args and (I2C_RUN) r12 the next channel's
 * table entry, left there by RUN_TABLE's LDM. */
typedef struct {
    const uint32_t *buf; /*  0 the pass buffer                       */
    uint32_t qbytes;     /*  4 bytes of the whole groups of four: 16 (nq / 4) */
    const int32_t *t;    /*  8 the table, moving                      */
    int8_t *y;           /* 12 the first channel's output, moving      */
    int32_t O;           /* 16 store stride                           */
    const int32_t *tend; /* 20 the table's end                        */
    const uint8_t *w;    /* 24 the weights                            */
    int32_t lo;          /* 28 the clamp's floor                      */
    uint32_t rem;        /* 32 nq % 4 (the _rem variant)              */
} i2c_run_args;

#define RUN_HALF(W, ROR)                                                                           \
    "ldm r1!, {r4, r5, r6, r8}\n\t"                                                                \
    "sxtb16 lr, " W ROR "\n\t"                                                                     \
    "smlad r7, lr, r4, r7\n\t"                                                                     \
    "smlad r9, lr, r5, r9\n\t"                                                                     \
    "smlad r10, lr, r6, r10\n\t"                                                                   \
    "smlad r11, lr, r8, r11\n\t"
#define RUN_PAIR                                                                                   \
    "ldrd r3, r12, [r0], #8\n\t" RUN_HALF("r3", "") RUN_HALF("r3", ", ror #8") RUN_HALF("r12", "") \
        RUN_HALF("r12", ", ror #8")
#define RUN_CLAMP1(R) "cmp " R ", r4\n\tit lt\n\tmovlt " R ", r4\n\t"
#define RUN_CLAMP                                                                                  \
    "ldr r4, [r3, #28]\n\t" RUN_CLAMP1("r7") RUN_CLAMP1("r9") RUN_CLAMP1("r10") RUN_CLAMP1("r11")
/* nq % 4 != 0: the loop may run zero times; then a pair of groups (bit 1
 * of rem, into C by the shift) and a single one (bit 0, into N); the
 * inner instructions leave the flags alone. */
#define RUN_SKIP "cmp r0, r2\n\tbeq 5f\n\t"
#define RUN_REM                                                                                    \
    "5:\n\t"                                                                                       \
    "ldr r3, [sp]\n\t"                                                                            \
    "ldr r12, [r3, #32]\n\t"                                                                      \
    "lsls r12, r12, #31\n\t"                                                                      \
    "bcc 3f\n\t" RUN_PAIR "3:\n\t"                                                                \
    "bpl 4f\n\t"                                                                                  \
    "ldr r3, [r0], #4\n\t" RUN_HALF("r3", "") RUN_HALF("r3", ", ror #8") "4:\n\t"
/* What the naked channel loops share: the head of a channel (r0 weights,
 * r1 the pass buffer, r2 the end of the whole groups), the table of its
 * requantization (r4 bias, r5 mult, r6 rounding, r8 shift), and the tail
 * (requantize, clamp, store four bytes O apart, next channel). */
/* r3 holds the args from the entry on, and again after each tail; FIRST
 * runs once, before the first channel. */
#define RUN_HEAD(FIRST)                                                                            \
    "push {r4-r11, lr}\n\t"                                                                        \
    "push {r0}\n\t"                                                                                \
    "mov r3, r0\n\t"                                                                               \
    "ldr r0, [r0, #24]\n\t" FIRST "1:\n\t"                                                         \
    "ldr r1, [r3]\n\t"                                                                             \
    "ldr r2, [r3, #4]\n\t"                                                                         \
    "add r2, r0, r2\n\t"
#define RUN_TABLE                                                                                  \
    "ldr r3, [sp]\n\t"                                                                              \
    "ldr r12, [r3, #8]\n\t"                                                                         \
    "ldm r12!, {r4, r5, r6, r8}\n\t"                                                                \
    "str r12, [r3, #8]\n\t"
#define RUN_TAIL(CLAMP)                                                                            \
    "smmla r7, r7, r5, r6\n\t"                                                                      \
    "smmla r9, r9, r5, r6\n\t"                                                                      \
    "smmla r10, r10, r5, r6\n\t"                                                                    \
    "smmla r11, r11, r5, r6\n\t"                                                                    \
    "asr r7, r7, r8\n\t"                                                                            \
    "asr r9, r9, r8\n\t"                                                                            \
    "asr r10, r10, r8\n\t"                                                                          \
    "asr r11, r11, r8\n\t"                                                                          \
    "ssat r7, #8, r7\n\t"                                                                           \
    "ssat r9, #8, r9\n\t"                                                                           \
    "ssat r10, #8, r10\n\t"                                                                         \
    "ssat r11, #8, r11\n\t" CLAMP "ldr r1, [r3, #12]\n\t"                                           \
    "ldr r2, [r3, #16]\n\t"                                                                         \
    "strb r9, [r1, r2]\n\t"                                                                        \
    "add r4, r1, r2, lsl #1\n\t"                                                                   \
    "strb r10, [r4]\n\t"                                                                           \
    "strb r11, [r4, r2]\n\t"                                                                       \
    "strb r7, [r1], #1\n\t"                                                                        \
    "str r1, [r3, #12]\n\t"                                                                        \
    "ldr r2, [r3, #20]\n\t"                                                                         \
    "cmp r12, r2\n\t"                                                                               \
    "bne 1b\n\t"                                                                                    \
    "add sp, sp, #4\n\t"                                                                            \
    "pop {r4-r11, pc}\n\t"
#define I2C_RUN(NAME, CLAMP, SKIP, REM)                                                            \
    __attribute__((naked, noinline)) static void NAME(i2c_run_args *a RT_UNUSED)             \
    {                                                                                              \
        __asm__ volatile(RUN_HEAD("ldr r12, [r3, #8]\n\t")                                          \
                                  "ldr r7, [r12]\n\t"                                              \
                                  "mov r9, r7\n\tmov r10, r7\n\tmov r11, r7\n\t" SKIP               \
                                  "2:\n\t" RUN_PAIR RUN_PAIR "cmp r0, r2\n\t"                      \
                                  "bne 2b\n\t" REM RUN_TABLE RUN_TAIL(CLAMP));                      \
    }
#if !RT_MVE
I2C_RUN(i2c_run, "", "", "")
#if RT_WITH_CONV_LO
I2C_RUN(i2c_run_lo, RUN_CLAMP, "", "")
#endif
I2C_RUN(i2c_run_rem, "", RUN_SKIP, RUN_REM)
#endif
#endif

/* What the passes of a layer share. */
typedef struct {
    const rt_conv_job *j;
    const uint32_t *buf; /* the pass buffer                     */
    const int32_t *tab;  /* the fast requantization's table     */
    uint32_t row, nq;    /* weight row bytes, groups of four    */
    int32_t O, lo;
    int fast;
} s8_layer;

#if !RT_MVE
/* The channels of one pass (its buffer built) into y: SG columns, or G at
 * the row's end, O apart. */
static void s8_channels(const s8_layer *L, int G, int8_t *y)
{
    const int O = L->O;
    const uint32_t row = L->row, nq = L->nq;
    const int32_t lo = L->lo;
    const uint8_t *w = L->j->w;
#if RT_DSP
    if (L->fast && G == SG && (nq % 4 == 0 || lo == -128) && (RT_WITH_CONV_LO || lo == -128)) {
        i2c_run_args ra = {L->buf, 16 * (nq / 4), L->tab, y, O, L->tab + 4 * O, w, lo, nq % 4};
        if (nq % 4) /* ra.t and ra.y move */
            i2c_run_rem(&ra);
        else if (lo == -128)
            i2c_run(&ra);
#if RT_WITH_CONV_LO
        else
            i2c_run_lo(&ra);
#endif
        return;
    }
#endif
#if !RT_DSP || RT_WITH_CONV_LO /* (else the loop below takes them) */
    if (L->fast && G == SG) {
        const i2c_pass ps = {L->buf, nq, O, lo};
        const int32_t *t = L->tab;
        for (int o = 0; o < O; o++, w += row, t += 4)
            i2c_fast(&ps, w, t, y + o);
        return;
    }
#endif
    for (int o = 0; o < O; o++, w += row) {
        rt_rq r;
        rt_rq_init(&r, L->j->q, o, RT_REACH(L->j));
        int32_t a0 = r.bias, a1 = a0, a2 = a0, a3 = a0;
        const uint8_t *pw = w;
        const uint32_t *px = L->buf;
        I2C_CHANNEL(pw, px, nq);
        const int32_t acc[SG] = {a0, a1, a2, a3};
        int8_t *yo = y + o;
        for (int q = 0; q < G; q++, yo += O)
            *yo = rt_rq_apply(&r, acc[q]);
    }
}
#endif

/* ---- S4 through the S8 passes (in_c % 8 == 0) ---------------------------------------------------- */

#if RT_WITH_CONV_S4
/* An S4 weight word holds eight weights w0..w7 of eight consecutive
 * channels, weight i in bits 4i..4i+3: byte b is w(2b) low, w(2b+1) high.
 * With the high nibbles masked (AND 0xF0F0F0F0), SXTB16 gives the pair
 * (16 w1, 16 w5) and SXTB16 ROR #8 (16 w3, 16 w7); the word shifted left by
 * 4 first gives (16 w0, 16 w4) and (16 w2, 16 w6). So the ring's planes
 * pair the channels of each group of eight as (c, c+4), (c+2, c+6),
 * (c+1, c+5), (c+3, c+7), the pass buffer follows, and SMLAD adds sixteen
 * times the products: per weight word
 *     ldr ; lsl ; and ; 2 x (ldm ; sxtb16 ; 4 x smlad) ; and ; 2 x (the same)
 * = 28 instructions for 32 MACs. The accumulators start at 0 and end as
 * bias + (sum >> 4), exact: 16 |sum| <= 16 * 7 * 128 * K < 2^31 for the
 * K <= 65536 that rt_s4_pass_scratch_bytes admits. */

#if RT_DSP
/* The four pairs of the weight word in r3 (r12 the masked word, lr the
 * pair): per pair ldm of the pass's four columns, four SMLAD. */
#define S4_WORD                                                                                    \
    "ldr r3, [r0], #4\n\t"                                                                         \
    "lsl r12, r3, #4\n\t"                                                                          \
    "and r12, r12, #0xf0f0f0f0\n\t" RUN_HALF("r12", "") RUN_HALF("r12", ", ror #8")                \
    "and r12, r3, #0xf0f0f0f0\n\t" RUN_HALF("r12", "") RUN_HALF("r12", ", ror #8")
/* Every output channel of a full pass (the fast requantization), as
 * I2C_RUN: a's qbytes are the bytes of the whole pairs of words, rem 1
 * when one word is left over. */
#define S4_RUN(NAME, CLAMP)                                                                        \
    __attribute__((naked, noinline)) static void NAME(i2c_run_args *a RT_UNUSED)             \
    {                                                                                              \
        __asm__ volatile(RUN_HEAD("") "mov r7, #0\n\tmov r9, #0\n\tmov r10, #0\n\tmov r11, #0\n\t"     \
                                  "cmp r0, r2\n\t"                                                 \
                                  "beq 5f\n\t"                                                     \
                                  "2:\n\t" S4_WORD S4_WORD "cmp r0, r2\n\t"                        \
                                  "bne 2b\n\t"                                                     \
                                  "5:\n\t"                                                         \
                                  "ldr r3, [sp]\n\t"                                               \
                                  "ldr r12, [r3, #32]\n\t"                                         \
                                  "cmp r12, #0\n\t"                                                \
                                  "beq 4f\n\t" S4_WORD "4:\n\t" RUN_TABLE                          \
                                  "add r7, r4, r7, asr #4\n\t"                                     \
                                  "add r9, r4, r9, asr #4\n\t"                                     \
                                  "add r10, r4, r10, asr #4\n\t"                                   \
                                  "add r11, r4, r11, asr #4\n\t" RUN_TAIL(CLAMP));                  \
    }
S4_RUN(s4_run, "")
S4_RUN(s4_run_lo, RUN_CLAMP)
#endif

/* acc[0..SG) += 16 times the products of nw weight words (pw) and the pass
 * buffer (px), as S4_WORD does (modulo 2^32): for partial passes and the
 * channels the naked loops do not take. */
#if RT_DSP
#define S4_HALF(ROR)                                                                               \
    "ldm %[px]!, {r4, r5, r6, r8}\n\t"                                                             \
    "sxtb16 %[w], %[m]" ROR "\n\t"                                                                 \
    "smlad %[a0], %[w], r4, %[a0]\n\t"                                                             \
    "smlad %[a1], %[w], r5, %[a1]\n\t"                                                             \
    "smlad %[a2], %[w], r6, %[a2]\n\t"                                                             \
    "smlad %[a3], %[w], r8, %[a3]\n\t"
static void s4_channel(const uint8_t *pw, const uint32_t *px, uint32_t nw, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (uint32_t q = 0; q < nw; q++) {
        uint32_t t, m, w;
        __asm__ volatile("ldr %[t], [%[pw]], #4\n\t"
                         "lsl %[m], %[t], #4\n\t"
                         "and %[m], %[m], #0xf0f0f0f0\n\t" S4_HALF("") S4_HALF(", ror #8")
                         "and %[m], %[t], #0xf0f0f0f0\n\t" S4_HALF("") S4_HALF(", ror #8")
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                           [px] "+r"(px), [pw] "+r"(pw), [t] "=&r"(t), [m] "=&r"(m), [w] "=&r"(w)
                         :
                         : "r4", "r5", "r6", "r8", "memory");
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}
#else
static void s4_channel(const uint8_t *pw, const uint32_t *px, uint32_t nw, int32_t *acc)
{
    for (uint32_t q = 0; q < nw; q++, pw += 4) {
        uint32_t t;
        rt_memcpy(&t, pw, 4);
        const uint32_t m[2] = {(t << 4) & 0xf0f0f0f0u, t & 0xf0f0f0f0u};
        for (int h = 0; h < 4; h++, px += SG) {
            const int32_t w = rt_sxtb16(h & 1 ? rt_ror(m[h >> 1], 8) : m[h >> 1]);
            for (int g = 0; g < SG; g++)
                acc[g] = rt_smlad(w, (int32_t)px[g], acc[g]);
        }
    }
}
#endif

/* The channels of one pass into y: SG columns, or G at the row's end. */
static void s4_channels(const s8_layer *L, int G, int8_t *y)
{
    const int O = L->O;
    const uint32_t row = L->row, nw = row / 4;
    const uint8_t *w = L->j->w;
#if RT_DSP
    if (L->fast && G == SG) {
        i2c_run_args ra = {L->buf, 8 * (nw / 2), L->tab, y, O, L->tab + 4 * O, w, L->lo, nw % 2};
        if (L->lo == -128)
            s4_run(&ra);
        else
            s4_run_lo(&ra);
        return;
    }
#endif
    for (int o = 0; o < O; o++, w += row) {
        rt_rq r;
        rt_rq_init(&r, L->j->q, o, RT_REACH(L->j));
        int32_t acc[SG] = {0, 0, 0, 0};
        s4_channel(w, L->buf, nw, acc);
        int8_t *yo = y + o;
        for (int q = 0; q < G; q++, yo += O)
            *yo = rt_rq_apply(&r, rt_s32((uint32_t)r.bias + (uint32_t)(acc[q] >> 4)));
    }
}
#endif

/* The passes of a layer: S8 (s4 = 0; in_c % 4 == 0 through the ring, else
 * the flat rows) or S4 (in_c % 8 == 0, the ring in S4's plane order). */
static RT_NOINLINE void conv_passes(const rt_conv_job *j, int s4)
{
    const rt_add_params *add = rt_job_add(j);
    const rt_dims *out = j->out, *in = j->in;
    const int k = j->win->kernel, s = j->win->stride, pad = j->win->pad, O = out->c;
    const uint32_t K = (uint32_t)k * k * in->c, row = s4 ? K / 2 : rt_s8_row_bytes(K);
    const uint32_t nq = rt_s8_row_bytes(K) / 4; /* the pass buffer's groups of four */
    const int four = in->c % 4 == 0;
    uint32_t *buf = (uint32_t *)j->scratch;
    int32_t *tab = (int32_t *)(buf + 2 * rt_s8_row_bytes(K));
    uint32_t *ring = (uint32_t *)(tab + 4 * O);
    const uint32_t fb = rt_s8_flat_bytes(j->win, in);
    const rt_s8_ring rg = rt_s8_ring_of(j->win, in, out);
    const s8_layer L = {j, buf, tab, row, nq, O, j->q->lo, rt_rq_table(j, tab)};
    /* fused add (S8): an output row's conv outputs go to the stage (same
     * layout), then the add with the residual into y, in element order */
    int8_t *stage = add ? (int8_t *)j->scratch + rt_stage_off(rt_s8_scratch_bytes(j->win, in, out))
                        : NULL;
#if RT_WITH_ADD
    rt_add_k ak;
    const int ak_ok = stage && rt_add_prep_dsp(add, &ak);
#endif
    int have = -0x7fffffff; /* the ring holds rows [have, have + k) */
    for (int oy = 0; oy < out->h; oy++) {
        const int r0 = oy * s - pad;
        for (int r = r0; r < r0 + k; r++)
            if (r >= have + k || r < have) {
                const uint32_t slot = (uint32_t)(((r % k) + k) % k);
                if (four)
                    ring_row(j, r, ring + slot * rg.slot, &rg, s4);
                else
                    flat_row(j, r, (int8_t *)ring + slot * fb);
            }
        have = r0;
        for (int ox0 = 0; ox0 < out->w; ox0 += SG) {
            const int G = out->w - ox0 < SG ? out->w - ox0 : SG;
            if (four)
                ring_pass(j, oy, ox0, ring, &rg, buf);
            else
                flat_pass(j, oy, ox0, (const int8_t *)ring, fb, buf, nq);
            const size_t at = ((size_t)oy * out->w + ox0) * O;
            int8_t *y = stage ? stage + (size_t)ox0 * O : j->y + at;
#if RT_WITH_CONV_S4
            if (s4)
                s4_channels(&L, G, y);
#endif
#if !RT_MVE
            if (!s4)
                s8_channels(&L, G, y);
#endif
        }
#if RT_WITH_ADD
        const size_t at = (size_t)oy * out->w * O;
        if (ak_ok)
            rt_add_run_dsp(&ak, stage, j->res + at, j->y + at, (uint32_t)out->w * (uint32_t)O);
        else if (stage)
            rt_add(add, stage, j->res + at, j->y + at, (uint32_t)out->w * (uint32_t)O);
#endif
    }
}

#if !RT_MVE
void rt_conv_s8_dsp(const rt_conv_job *j)
{
    if (!rt_job_add(j) && conv_s8_small(j))
        return;
    conv_passes(j, 0);
}
#endif

#if RT_WITH_CONV_S4
static int s4_passes(const rt_conv_job *j)
{
    const uint32_t need = rt_s4_pass_scratch_bytes(j->win, j->in, j->out);
    if (!need || j->scratch_bytes < need || rt_job_add(j))
        return 0;
    conv_passes(j, 1);
    return 1;
}
#endif
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
        rt_memcpy(&wv, w + k, 4);
        rt_memcpy(&xv, x + k, 4);
        a = rt_smlad(rt_sxtb16(wv), rt_sxtb16(xv), a);
        a = rt_smlad(rt_sxtb16(rt_ror(wv, 8)), rt_sxtb16(rt_ror(xv, 8)), a);
    }
    uint32_t acc = (uint32_t)a;
    for (; k < K; k++)
        acc += (uint32_t)((int32_t)w[k] * x[k]);
    return acc;
}

void rt_max2x2_dsp(const int8_t *x, int8_t *y, int C, int W, int s, int oh, int ow)
{
    const size_t row = (size_t)W * C;
    for (int oy = 0; oy < oh; oy++) {
        const int8_t *r0 = x + (size_t)oy * s * row, *r1 = r0 + row;
        for (int ox = 0; ox < ow; ox++, r0 += (size_t)s * C, r1 += (size_t)s * C)
            for (int c = 0; c < C; c += 4, y += 4) {
                uint32_t a, b, d, e;
                rt_memcpy(&a, r0 + c, 4);
                rt_memcpy(&b, r0 + C + c, 4);
                rt_memcpy(&d, r1 + c, 4);
                rt_memcpy(&e, r1 + C + c, 4);
                uint32_t m = rt_max_s8x4(rt_max_s8x4(a, b), rt_max_s8x4(d, e));
                rt_memcpy(y, &m, 4);
            }
    }
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
                rt_memcpy(&v, x0 + ((size_t)ky * W + kx) * C + c, 4);
                m = rt_max_s8x4(v, m);
            }
        rt_memcpy(o + c, &m, 4);
    }
    return c;
}
#endif

/* ---- global average pooling ----------------------------------------------------------------- */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_GLOBAL_AVGPOOL
/* Blocks of at most 256 pixels keep each int16 lane's sum of int8 within
 * [-32768, 32512]. */
#define GAP_BLOCK 256u

int rt_global_avgpool_dsp(int8_t zero, int8_t lo, const rt_dims *in, const int8_t *x, int8_t *y)
{
    const uint32_t hw = (uint32_t)in->h * in->w, C = (uint32_t)in->c;
    if (C % 4 || hw > (1u << 24)) /* |sum of x| < 2^31 */
        return 0;
    const int64_t z = (int64_t)hw * zero;
    for (uint32_t c = 0; c < C; c += 4) { /* y[c..c+3] after their reads: y may be x */
        int32_t sum[4] = {0, 0, 0, 0}; /* channels c..c+3 */
        const int8_t *p = x + c;
        for (uint32_t left = hw; left > 0;) {
            const uint32_t n = left < GAP_BLOCK ? left : GAP_BLOCK;
            uint32_t e = 0, o = 0; /* int16 lanes: (c, c + 2) and (c + 1, c + 3) */
            for (const int8_t *end = p + (size_t)n * C; p < end; p += C) {
                uint32_t v;
                rt_memcpy(&v, p, 4);
                e = rt_sxtab16(e, v), o = rt_sxtab16_r8(o, v);
            }
            sum[0] += (int16_t)(e & 0xffff), sum[2] += (int16_t)(e >> 16);
            sum[1] += (int16_t)(o & 0xffff), sum[3] += (int16_t)(o >> 16);
            left -= n;
        }
        for (int i = 0; i < 4; i++)
            y[c + (uint32_t)i] = rt_gap_mean(sum[i] - z, hw, zero, lo);
    }
    return 1;
}
#endif

/* ---- add ------------------------------------------------------------------------------------------ */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_ADD
/* When 9 <= shift <= 54 and hi = 127, with u = max(0, 32 - shift) and
 * t = max(0, shift - 32): the zero points, the rounding and
 * out_zero * 2^shift fold into one 64-bit constant c (times 2^u), so that
 *     y = max(lo, ssat8(hi32(c + (a << u) * ma + (b << u) * mb) >> t))
 * two SMLAL per value. Exact: the 64-bit sum is v * 2^u, v the portable
 * rule's sum plus out_zero * 2^shift, and floor(v * 2^u / 2^32) >> t =
 * floor(v / 2^shift) (the low word cannot reach the next multiple). The
 * bounds: |a << u| <= 2^30, and every term stays below 2^62 for shift >= 9
 * (|c| <= 2^(71 - shift) + 2^39 + 2^31 after the scaling). Returns 0
 * (nothing done) otherwise. */
/* 16 <= shift <= 31 (the usual case): with each multiplier split as
 * m = mh * 2^16 + ml (ml the signed low half, mh <= 2^15 - 1), the
 * constant c = ch * 2^16 + cl (0 <= cl < 2^16) and x = the int16 pair
 * (a, b), the sum is v = S * 2^16 + L with S = ch + SMLAD(x, (mah, mbh))
 * and L = cl + SMLAD(x, (mal, mbl)), so
 *     floor(v / 2^shift) = (S + (L >> 16)) >> (shift - 16)
 * exactly, all in 32 bits (|c| < 2^40, |S|, |L| < 2^25). Four values per
 * step: two word loads, four SXTB16 and four PKH make the four pairs. */
RT_INLINE int32_t add_one(uint32_t x, uint32_t mh, uint32_t ml, int32_t ch, int32_t cl, int t)
{
    return rt_ssat8((rt_smlad((int32_t)x, (int32_t)mh, ch) +
                     (rt_smlad((int32_t)x, (int32_t)ml, cl) >> 16)) >> t);
}

int rt_add_prep_dsp(const rt_add_params *p, rt_add_k *k)
{
    const int sh = p->shift;
    if (sh < 16 || sh > 31 || p->hi != 127)
        return 0;
    const int64_t c = ((int64_t)1 << (sh - 1)) + (int64_t)p->out_zero * ((int64_t)1 << sh) -
                      (int64_t)p->a_zero * p->a_mult - (int64_t)p->b_zero * p->b_mult;
    const int32_t mal = (int16_t)(p->a_mult & 0xffff), mbl = (int16_t)(p->b_mult & 0xffff);
    const int32_t mah = (int32_t)(((int64_t)p->a_mult - mal) >> 16);
    const int32_t mbh = (int32_t)(((int64_t)p->b_mult - mbl) >> 16);
    if (mah > 32767 || mbh > 32767)
        return 0;
    k->mh = PK16(mah, mbh), k->ml = PK16(mal, mbl);
    k->ch = (int32_t)(c >> 16), k->cl = (int32_t)(c & 0xffff);
    k->t = sh - 16, k->lo = p->lo;
    return 1;
}

void rt_add_run_dsp(const rt_add_k *k, const int8_t *a, const int8_t *b, int8_t *y,
                    uint32_t count)
{
    const uint32_t mh = k->mh, ml = k->ml;
    const int32_t ch = k->ch, cl = k->cl, t = k->t;
    const uint32_t lo4 = (uint8_t)k->lo * 0x01010101u;
    for (const int8_t *end = a + (count & ~3u); a < end; a += 4, b += 4, y += 4) {
        uint32_t A, B;
        rt_memcpy(&A, a, 4);
        rt_memcpy(&B, b, 4);
        const uint32_t a02 = (uint32_t)rt_sxtb16(A), b02 = (uint32_t)rt_sxtb16(B);
        const uint32_t x0 = rt_pkhbt(a02, b02), x2 = rt_pkhtb(b02, a02);
        uint32_t r = (uint32_t)add_one(x0, mh, ml, ch, cl, t);
        rt_bfi8(r, add_one(x2, mh, ml, ch, cl, t), 16);
        const uint32_t a13 = (uint32_t)rt_sxtb16_r8(A), b13 = (uint32_t)rt_sxtb16_r8(B);
        const uint32_t x1 = rt_pkhbt(a13, b13), x3 = rt_pkhtb(b13, a13);
        rt_bfi8(r, add_one(x1, mh, ml, ch, cl, t), 8);
        rt_bfi8(r, add_one(x3, mh, ml, ch, cl, t), 24);
        r = rt_max_s8x4(r, lo4);
        rt_memcpy(y, &r, 4);
    }
    for (uint32_t i = 0; i < (count & 3u); i++) {
        const int32_t r = add_one(PK16(a[i], b[i]), mh, ml, ch, cl, t);
        y[i] = (int8_t)(r < k->lo ? k->lo : r);
    }
}

int rt_add_dsp(const rt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y,
               uint32_t count)
{
    const int sh = p->shift;
    if (sh < 9 || sh > 54 || p->hi != 127)
        return 0;
    rt_add_k k;
    if (rt_add_prep_dsp(p, &k)) {
        rt_add_run_dsp(&k, a, b, y, count);
        return 1;
    }
    const int u = sh < 32 ? 32 - sh : 0, t = sh < 32 ? 0 : sh - 32;
    const int32_t ma = p->a_mult, mb = p->b_mult, lo = p->lo, m = (int32_t)1 << u;
    const int64_t c = (((int64_t)1 << (sh - 1)) + (int64_t)p->out_zero * ((int64_t)1 << sh) -
                       (int64_t)p->a_zero * ma - (int64_t)p->b_zero * mb) *
                      ((int64_t)1 << u);
    for (const int8_t *end = a + count; a < end; a++, b++, y++) {
        const int64_t v = c + (int64_t)(*a * m) * ma + (int64_t)(*b * m) * mb;
        const int32_t r = rt_ssat8((int32_t)(v >> 32) >> t);
        *y = (int8_t)(r < lo ? lo : r);
    }
    return 1;
}
#endif

/* ---- depthwise ------------------------------------------------------------------------ */

#if (RT_DSP || defined(RT_DSP_EMULATE)) && RT_WITH_DEPTHWISE

/* a word of four int8 from any address */
RT_INLINE uint32_t load4(const int8_t *p)
{
    uint32_t v;
    rt_memcpy(&v, p, 4);
    return v;
}

/* The requantization of one accumulator: SMMLA when 33 <= shift <= 54 (the
 * rule at the top of this file, clamped to [lo, hi] after SSAT, so a
 * ReLU6's hi takes it too), else rt_requant. */
RT_INLINE int8_t dw_requant(int32_t acc, int32_t mult, int sh, int32_t zero, int32_t lo,
                            int32_t hi)
{
    if (sh >= 33 && sh <= 54) {
        const int t = sh - 32;
        const int32_t k = (int32_t)((1u << (t - 1)) + ((uint32_t)zero << t));
        const int32_t v = rt_ssat8(rt_smmla(acc, mult, k) >> t);
        return (int8_t)(v < lo ? lo : v > hi ? hi : v);
    }
    return rt_requant(acc, mult, sh, zero, lo, hi);
}

/* One tap of four channels: SXTB16 splits channels 0/2 and (rotated) 1/3
 * of the input word xv and the weight word wv into int16 halves; SMLABB and
 * SMLATT add each product to its channel's accumulator (modulo 2^32). */
#define DW_TAP4(xv, wv)                                                                        \
    do {                                                                                       \
        const int32_t x02 = rt_sxtb16(xv), x13 = rt_sxtb16_r8(xv);                             \
        const int32_t w02 = rt_sxtb16(wv), w13 = rt_sxtb16_r8(wv);                             \
        a0 = rt_smlabb(x02, w02, a0), a2 = rt_smlatt(x02, w02, a2);                            \
        a1 = rt_smlabb(x13, w13, a1), a3 = rt_smlatt(x13, w13, a3);                            \
    } while (0)

/* The int16 lane sums of weight words wp, wp + C, ... (n of them) into
 * *s02 (channels 0 and 2) and *s13 (1 and 3): at most 25 int8 each, exact. */
RT_INLINE void dw_wsum(const int8_t *wp, uint32_t n, uint32_t C, uint32_t *s02, uint32_t *s13)
{
    for (uint32_t t = 0; t < n; t++, wp += C) {
        const uint32_t wv = load4(wp);
        *s02 = rt_sadd16(*s02, (uint32_t)rt_sxtb16(wv));
        *s13 = rt_sadd16(*s13, (uint32_t)rt_sxtb16_r8(wv));
    }
}

/* Kernels up to DW_TAB_K x DW_TAB_K walk their inside taps by a table. */
#define DW_TAB_K 7

/* The (input, weight) byte offsets of an nx x ny rectangle of taps from its
 * first tap, input rows `row` bytes apart and weight rows kC, taps C: the
 * count of taps. */
static uint32_t dw_table(int32_t *tab, uint32_t nx, uint32_t ny, uint32_t C, uint32_t row,
                         uint32_t kC)
{
    uint32_t n = 0;
    for (uint32_t r = 0; r < ny; r++)
        for (uint32_t t = 0; t < nx; t++, n++) {
            tab[2 * n] = (int32_t)(r * row + t * C);
            tab[2 * n + 1] = (int32_t)(r * kC + t * C);
        }
    return n;
}

/* Per output pixel, channels in groups of four. The taps inside the image
 * form a rectangle [ky0, ky1) x [kx0, kx1): a pointer walk over it, one
 * word of input and one of weights per tap (the tap-major payload),
 * DW_TAP4, with no test per tap. The taps in the padding (border pixels
 * only) add in_zero times the sum of their weights, summed per row segment
 * (SADD16) and multiplied once. Four outputs are stored as one word. The
 * last in_c % 4 channels one by one, as the C body. */
void rt_depthwise_dsp(const rt_window *win, int32_t in_zero, const rt_quant *q,
                      const rt_dims *in, const int8_t *x, const int8_t *w, const rt_dims *out,
                      int8_t *y)
{
    const uint32_t k = win->kernel, C = in->c, C4 = C & ~3u, row = (uint32_t)in->w * C;
    const uint32_t kC = k * C, stride = win->stride, pad = win->pad;
    const uint32_t ih = in->h, iw = in->w, oh = out->h, ow = out->w;
    const int32_t *bias = q->bias, *mult = q->mult;
    const uint8_t *shift = q->shift;
    const int32_t zero = q->out_zero, lo = q->lo, hi = q->hi;
    const int32_t z2 = rt_sxtb16((uint32_t)(uint8_t)in_zero * 0x01010101u); /* both halves */
    int32_t tab[2 * DW_TAB_K * DW_TAB_K]; /* (input, weight) byte offsets of the inside taps */
    uint32_t nt = 0, tab_nx = ~0u, tab_ny = ~0u;
    for (uint32_t oy = 0; oy < oh; oy++) {
        uint32_t ky0, ky1;
        rt_taps_inside((int32_t)oy, stride, pad, k, ih, &ky0, &ky1);
        const int32_t iy0 = (int32_t)(oy * stride) - (int32_t)pad;
        for (uint32_t ox = 0; ox < ow; ox++) {
            uint32_t kx0, kx1;
            rt_taps_inside((int32_t)ox, stride, pad, k, iw, &kx0, &kx1);
            const int32_t ix0 = (int32_t)(ox * stride) - (int32_t)pad;
            const uint32_t nx = kx1 - kx0, ny = nx ? ky1 - ky0 : 0;
            const int padded = ny < k || nx < k;
            /* the first inside tap's input (x itself when there is none) */
            const int8_t *x0 = ny ? x + ((uint32_t)(iy0 + (int32_t)ky0) * iw +
                                         (uint32_t)(ix0 + (int32_t)kx0)) * C
                                  : x;
            const int8_t *w0 = w + ky0 * kC + kx0 * C;
            int8_t *yp = y + ((size_t)oy * ow + ox) * C;
            if (k <= DW_TAB_K && (nx != tab_nx || ny != tab_ny)) /* a new rectangle's offsets */
                nt = dw_table(tab, nx, ny, C, row, kC), tab_nx = nx, tab_ny = ny;
            for (uint32_t c = 0; c < C4; c += 4) {
                int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
                if (padded) {
                    uint32_t s02 = 0, s13 = 0;
                    for (uint32_t ky = 0; ky < k; ky++) {
                        const int8_t *wr = w + ky * kC + c;
                        if (ky < ky0 || ky >= ky1 || !ny) {
                            dw_wsum(wr, k, C, &s02, &s13);
                        } else {
                            dw_wsum(wr, kx0, C, &s02, &s13);
                            dw_wsum(wr + kx1 * C, k - kx1, C, &s02, &s13);
                        }
                    }
                    a0 = rt_smlabb(z2, (int32_t)s02, a0), a2 = rt_smlatt(z2, (int32_t)s02, a2);
                    a1 = rt_smlabb(z2, (int32_t)s13, a1), a3 = rt_smlatt(z2, (int32_t)s13, a3);
                }
                if (nt) { /* the inside taps by table: one flat loop */
                    const int8_t *xb = x0 + c, *wb = w0 + c;
                    const int32_t *tp = tab;
                    uint32_t n = nt;
                    for (; n >= 2; n -= 2, tp += 4) { /* two taps a step */
                        const uint32_t xv = load4(xb + tp[0]), wv = load4(wb + tp[1]);
                        DW_TAP4(xv, wv);
                        const uint32_t xu = load4(xb + tp[2]), wu = load4(wb + tp[3]);
                        DW_TAP4(xu, wu);
                    }
                    if (n) {
                        const uint32_t xv = load4(xb + tp[0]), wv = load4(wb + tp[1]);
                        DW_TAP4(xv, wv);
                    }
                } else { /* a kernel beyond the table: row by row */
                    const int8_t *xr = x0 + c, *wr = w0 + c;
                    for (uint32_t r = 0; r < ny; r++, xr += row, wr += kC) {
                        const int8_t *xp = xr, *wp = wr;
                        for (uint32_t t = 0; t < nx; t++, xp += C, wp += C) {
                            const uint32_t xv = load4(xp), wv = load4(wp);
                            DW_TAP4(xv, wv);
                        }
                    }
                }
                const uint32_t o =
                    (uint32_t)(uint8_t)dw_requant(a0, mult[c], shift[c], zero, lo, hi) |
                    (uint32_t)(uint8_t)dw_requant(a1, mult[c + 1], shift[c + 1], zero, lo, hi) << 8 |
                    (uint32_t)(uint8_t)dw_requant(a2, mult[c + 2], shift[c + 2], zero, lo, hi) << 16 |
                    (uint32_t)(uint8_t)dw_requant(a3, mult[c + 3], shift[c + 3], zero, lo, hi) << 24;
                rt_memcpy(yp + c, &o, 4);
            }
            for (uint32_t c = C4; c < C; c++) {
                uint32_t acc = (uint32_t)bias[c];
                for (uint32_t ky = 0; ky < k; ky++) {
                    const int32_t iy = iy0 + (int32_t)ky;
                    const int rin = iy >= 0 && iy < (int32_t)ih;
                    for (uint32_t kx = 0; kx < k; kx++) {
                        const int32_t ix = ix0 + (int32_t)kx;
                        const int32_t v = rin && ix >= 0 && ix < (int32_t)iw
                                              ? x[((uint32_t)iy * iw + (uint32_t)ix) * C + c]
                                              : in_zero;
                        acc += (uint32_t)(v * w[ky * kC + kx * C + c]);
                    }
                }
                yp[c] = dw_requant(rt_s32(acc), mult[c], shift[c], zero, lo, hi);
            }
        }
    }
}

#endif
