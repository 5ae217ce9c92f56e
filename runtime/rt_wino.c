/* rt_wino.c - stride-1 3x3 convolutions with padding 1 by Winograd's
 * F(2x2, 3x3) on cores with the DSP extension: the same bytes as the direct
 * bodies (rt_conv.c, rt_dsp.c).
 *
 * A tile of 2x2 outputs comes from its 4x4 input patch d and, per input
 * channel, the 3x3 kernel g:
 *     4 Y = A^T [ sum over channels of U (.) V ] A,   U = G g G^T,   V = B^T d B
 * with integer matrices (the halves of the usual G moved into A as a 2):
 *     G = [1 0 0; 1 1 1; 1 -1 1; 0 0 1]      A^T = [2 1 1 0; 0 1 -1 -2]
 *     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 * 16 products per channel and tile instead of 36. All of it is exact integer
 * arithmetic: |V| <= 510 and |U| <= 9 * 128 fit int16 lanes, so one SMLAD
 * adds the products of two channels, and 4 Y is four times the direct
 * body's sum while that fits int32, which in_c <= RT_WINO_MAX_C guarantees;
 * the sums in between may wrap (modulo 2^32, as every body computes).
 *
 * Layout in scratch (rt_wino_bytes): the requantization table (4 words per
 * output channel), U of one output channel (16 x P words, P = in_c / 2
 * channel pairs: word xi * P + p), M (16 x 4 words: xi, tile), V of a block
 * of bands (tile rows) in groups of four tiles (word ((g * 16 + xi) * P + p)
 * * 4 + tile), a row of in_c zero points (the patch outside the image), for
 * S4 weights one output channel's row widened to S8 (9 in_c bytes:
 * rt_widen_s4, so S4 takes S8's transform and scale), and with a fused add
 * a stage of the block's output rows. The channel pairs are SXTB16's,
 * (c, c + 2) and (c + 1, c + 3) of each group of four channels.
 * `iotcnn export` gives a conv this scratch only where the arena allows it
 * and an estimate of the instructions says it pays (export/rt_build.c).
 * Per output channel and group the inner loop is, per pair of channel pairs,
 *     ldrd u0, u1 ; ldm v, {4 tiles} ; 4 x smlad ; ldm v, {4 tiles} ; 4 x smlad
 * = 11 instructions for 16 products (36 MACs of the direct body). */
#include "rt_dsp.h"

/* Not on an MVE core (the M55): its Helium S8 body and the S4 passes are
 * faster than this file's portable C there (rt_conv.c never calls it). */
#if (RT_DSP || defined(RT_DSP_EMULATE)) && !RT_MVE && RT_WITH_WINO &&                              \
    (RT_WITH_CONV_S8 || RT_WITH_CONV_S4 || RT_WITH_WINO_S4)

/* ---- V: the input transform ------------------------------------------------------------------- */

/* B^T's row applied to four pairs */
#define BT4(e0, e1, e2, e3, t0, t1, t2, t3)                                                        \
    (t0 = rt_ssub16(e0, e2), t1 = rt_sadd16(e1, e2), t2 = rt_ssub16(e2, e1), t3 = rt_ssub16(e1, e3))

/* V of one channel pair whose 16 patch pairs (row-major) E(0)..E(15)
 * give: the 16 words in xi order from v on, step words apart. */
#define V_PLANE(E)                                                                                 \
    do {                                                                                           \
        uint32_t a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3;                                   \
        BT4(E(4), E(5), E(6), E(7), a0, a1, a2, a3);     /* patch row 1 */                         \
        BT4(E(8), E(9), E(10), E(11), b0, b1, b2, b3);   /* row 2 */                               \
        BT4(E(0), E(1), E(2), E(3), c0, c1, c2, c3);     /* row 0 */                               \
        uint32_t *q = v;                                                                           \
        *q = rt_ssub16(c0, b0), q += step, *q = rt_ssub16(c1, b1), q += step;                      \
        *q = rt_ssub16(c2, b2), q += step, *q = rt_ssub16(c3, b3), q += step;                      \
        *q = rt_sadd16(a0, b0), q += step, *q = rt_sadd16(a1, b1), q += step;                      \
        *q = rt_sadd16(a2, b2), q += step, *q = rt_sadd16(a3, b3), q += step;                      \
        *q = rt_ssub16(b0, a0), q += step, *q = rt_ssub16(b1, a1), q += step;                      \
        *q = rt_ssub16(b2, a2), q += step, *q = rt_ssub16(b3, a3), q += step;                      \
        BT4(E(12), E(13), E(14), E(15), c0, c1, c2, c3); /* row 3 */                               \
        *q = rt_ssub16(a0, c0), q += step, *q = rt_ssub16(a1, c1), q += step;                      \
        *q = rt_ssub16(a2, c2), q += step, *q = rt_ssub16(a3, c3);                                 \
    } while (0)

#if RT_DSP
#ifndef RT_UNUSED
#define RT_UNUSED __attribute__((unused)) /* naked: the asm reads them in r0-r3 */
#endif
/* V of a tile, S8 (ncg groups of four channels, two channel pairs each):
 * px the patch's 16 pixel pointers, v as tile_input's, step P * 16 bytes.
 * Per group, B^T over each patch row first (both pairs of a word, 23
 * instructions a row, into 32 words on the stack), then over the columns
 * (45 instructions a pair). Registers: r0 px, r1 v, r2 step, r8 the group's
 * byte offset, r10 the row buffer; in the second phase r0 and lr hold
 * 2 step and 3 step, r3 the value being stored. */
#define VROW(ROR)                                                                                  \
    "sxtb16 r3, r4" ROR "\n\t"                                                                     \
    "sxtb16 lr, r5" ROR "\n\t"                                                                     \
    "sxtb16 r11, r6" ROR "\n\t"                                                                    \
    "sxtb16 r12, r7" ROR "\n\t"                                                                    \
    "ssub16 r3, r3, r11\n\t"                                                                       \
    "ssub16 r12, lr, r12\n\t"                                                                      \
    "sadd16 r9, lr, r11\n\t"                                                                       \
    "ssub16 r11, r11, lr\n\t"                                                                      \
    "stm r10!, {r3, r9, r11, r12}\n\t"
#define VPIX                                                                                       \
    "ldm r0!, {r4, r5, r6, r7}\n\t"                                                                \
    "ldr r4, [r4, r8]\n\t"                                                                         \
    "ldr r5, [r5, r8]\n\t"                                                                         \
    "ldr r6, [r6, r8]\n\t"                                                                         \
    "ldr r7, [r7, r8]\n\t" VROW("") VROW(", ror #8")
/* four values of V's row (OP of two rows) to v, step, 2 step, 3 step */
#define VOUT(OP, A0, A1, A2, A3, B0, B1, B2, B3)                                                   \
    OP " r3, " A0 ", " B0 "\n\tstr r3, [r1]\n\t" OP " r3, " A1 ", " B1 "\n\tstr r3, [r1, r2]\n\t"  \
    OP " r3, " A2 ", " B2 "\n\tstr r3, [r1, r0]\n\t" OP " r3, " A3 ", " B3 "\n\t"                 \
    "str r3, [r1, lr]\n\tadd r1, r1, r2, lsl #2\n\t"
/* one channel pair: its rows at r10 + H, + 32 + H, ... */
#define VPAIR(H)                                                                                   \
    "add r3, r10, #" #H " + 64\n\tldm r3, {r4, r5, r6, r7}\n\t"        /* row 2 */               \
    "add r3, r10, #" #H "\n\tldm r3, {r8, r9, r11, r12}\n\t"           /* row 0 */               \
    VOUT("ssub16", "r8", "r9", "r11", "r12", "r4", "r5", "r6", "r7")                               \
    "add r3, r10, #" #H " + 32\n\tldm r3, {r8, r9, r11, r12}\n\t"      /* row 1 */               \
    VOUT("sadd16", "r8", "r9", "r11", "r12", "r4", "r5", "r6", "r7")                               \
    VOUT("ssub16", "r4", "r5", "r6", "r7", "r8", "r9", "r11", "r12")                               \
    "add r3, r10, #" #H " + 96\n\tldm r3, {r4, r5, r6, r7}\n\t"        /* row 3 */               \
    VOUT("ssub16", "r8", "r9", "r11", "r12", "r4", "r5", "r6", "r7")                               \
    "sub r1, r1, r2, lsl #4\n\t"                                                                   \
    "add r1, r1, #16\n\t"
__attribute__((naked, noinline)) static void tile_v_s8(const int8_t *const *px RT_UNUSED,
                                                       uint32_t *v RT_UNUSED,
                                                       uint32_t step RT_UNUSED,
                                                       uint32_t ncg RT_UNUSED)
{
    __asm__ volatile("push {r4-r11, lr}\n\t"
                     "sub sp, sp, #144\n\t"
                     "lsl r3, r3, #2\n\t"
                     "str r3, [sp, #128]\n\t" /* the groups' end offset */
                     "mov r8, #0\n\t"
                     "1:\n\t"
                     "mov r10, sp\n\t" VPIX VPIX VPIX VPIX
                     "sub r0, r0, #64\n\t"
                     "strd r0, r8, [sp, #128 + 4]\n\t" /* (r0 saved at 132, r8 at 136) */
                     "mov r10, sp\n\t"
                     "add r0, r2, r2\n\t"
                     "add lr, r2, r2, lsl #1\n\t" VPAIR(0) VPAIR(16)
                     "ldrd r0, r8, [sp, #128 + 4]\n\t"
                     "add r8, r8, #4\n\t"
                     "ldr r3, [sp, #128]\n\t"
                     "cmp r8, r3\n\t"
                     "bne 1b\n\t"
                     "add sp, sp, #144\n\t"
                     "pop {r4-r11, pc}\n\t");
}
#endif

/* V of the tile (ty, tx) into v (its group's V plus the tile's index in the
 * group): channel pair p at v + 4 p, its 16 words 4 P apart. zrow: in_c
 * bytes of the input's zero point, read for the pixels outside the image. */
static RT_NOINLINE void tile_input(const rt_conv_job *j, int ty, int tx, uint32_t *v, uint32_t P,
                                   const int8_t *zrow)
{
    const rt_dims *in = j->in;
    const int H = in->h, W = in->w, C = in->c, iy0 = 2 * ty - 1, ix0 = 2 * tx - 1;
    const int8_t *px[16];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            const int iy = iy0 + r, ix = ix0 + c;
            px[4 * r + c] =
                iy >= 0 && iy < H && ix >= 0 && ix < W ? j->x + ((size_t)iy * W + ix) * C : zrow;
        }
    /* groups of four channels: pairs (c, c + 2), (c + 1, c + 3), S4 too */
#if RT_DSP
    tile_v_s8(px, v, 16 * P, (uint32_t)C / 4);
#else
    const uint32_t step = 4 * P;
    uint32_t d[16];
    for (int cg = 0; cg < C / 4; cg++, v += 8) {
        for (int i = 0; i < 16; i++)
            rt_memcpy(&d[i], px[i] + 4 * cg, 4);
#define E_LO(i) (uint32_t)rt_sxtb16(d[i])
#define E_HI(i) (uint32_t)rt_sxtb16_r8(d[i])
        V_PLANE(E_LO);
        v += 4;
        V_PLANE(E_HI);
        v -= 4;
    }
#endif
}

/* ---- U: the weight transform ------------------------------------------------------------------ */

#if RT_DSP
/* U of both channel pairs of a group of four channels, S8 (naked): r0 the
 * group's first weight (taps C bytes apart), r1 U's word of the pair
 * (c, c + 2), r2 P * 4, r3 C. Per pair the nine taps in r4-r12 (SXTB16 or
 * SXTB16 ROR #8 of the loaded words), u_plane's 21 additions with r0, r3,
 * lr free, and the 16 stores two at a time (`str; str [r1, r2]; add r1, r1,
 * r2, lsl #1`): about 70 instructions a pair. */
#define U_ST2(A, B) "str " A ", [r1]\n\tstr " B ", [r1, r2]\n\tadd r1, r1, r2, lsl #1\n\t"
/* a row of U from (A, B, C) in r0, r3, lr: A, A + C + B, A + C - B, C */
#define U_MID                                                                                      \
    "str r0, [r1]\n\t"                                                                             \
    "sadd16 r0, r0, lr\n\t"                                                                        \
    "sadd16 r3, r0, r3\n\t"                                                                        \
    "str r3, [r1, r2]\n\t"                                                                         \
    "add r1, r1, r2, lsl #1\n\t"                                                                   \
    "ssub16 r3, r0, r3\n\t"                                                                        \
    "sadd16 r3, r0, r3\n\t" U_ST2("r3", "lr")
#define U_PAIR(ROR)                                                                                \
    "add r12, r0, r3, lsl #1\n\t"                                                                  \
    "ldr r4, [r0]\n\tldr r5, [r0, r3]\n\tldr r6, [r12]\n\tldr r7, [r12, r3]\n\t"                 \
    "add r12, r12, r3, lsl #1\n\t"                                                                 \
    "ldr r8, [r12]\n\tldr r9, [r12, r3]\n\t"                                                       \
    "add r12, r12, r3, lsl #1\n\t"                                                                 \
    "ldr r10, [r12]\n\tldr r11, [r12, r3]\n\t"                                                     \
    "add r12, r12, r3, lsl #1\n\t"                                                                 \
    "ldr r12, [r12]\n\t"                                                                           \
    "sxtb16 r4, r4" ROR "\n\tsxtb16 r5, r5" ROR "\n\tsxtb16 r6, r6" ROR "\n\t"                     \
    "sxtb16 r7, r7" ROR "\n\tsxtb16 r8, r8" ROR "\n\tsxtb16 r9, r9" ROR "\n\t"                     \
    "sxtb16 r10, r10" ROR "\n\tsxtb16 r11, r11" ROR "\n\tsxtb16 r12, r12" ROR "\n\t"               \
    "sadd16 r0, r4, r6\n\tsadd16 r3, r0, r5\n\tssub16 lr, r0, r5\n\t" U_ST2("r4", "r3")           \
    U_ST2("lr", "r6")                                                                              \
    "sadd16 r4, r4, r10\n\tsadd16 r5, r5, r11\n\tsadd16 r6, r6, r12\n\t"                          \
    "sadd16 r0, r4, r7\n\tsadd16 r3, r5, r8\n\tsadd16 lr, r6, r9\n\t" U_MID                       \
    "ssub16 r0, r4, r7\n\tssub16 r3, r5, r8\n\tssub16 lr, r6, r9\n\t" U_MID                       \
    "sadd16 r0, r10, r12\n\tsadd16 r3, r0, r11\n\tssub16 lr, r0, r11\n\t" U_ST2("r10", "r3")      \
    U_ST2("lr", "r12")
__attribute__((naked, noinline)) static void u_group_s8(const uint8_t *w RT_UNUSED,
                                                        uint32_t *u RT_UNUSED,
                                                        uint32_t pbytes RT_UNUSED,
                                                        uint32_t C RT_UNUSED)
{
    __asm__ volatile("push {r4-r11, lr}\n\t"
                     "push {r0-r3}\n\t" U_PAIR("") "ldm sp, {r0-r3}\n\t"
                     "add r1, r1, #4\n\t" U_PAIR(", ror #8") "add sp, sp, #16\n\t"
                     "pop {r4-r11, pc}\n\t");
}
#endif

/* A row of U from G over kx: a, a + b + c, a - b + c, c, P apart. */
RT_INLINE void u_row(uint32_t a, uint32_t b, uint32_t c, uint32_t *u, uint32_t P)
{
    const uint32_t s = rt_sadd16(a, c);
    u[0] = a, u[P] = rt_sadd16(s, b), u[2 * P] = rt_ssub16(s, b), u[3 * P] = c;
}

/* U of one channel pair from its nine taps g (ky, kx): the 16 words in xi
 * order from u on, P apart. G's rows 1 and 2 over ky first (s: the sums
 * g0k + g2k), then over kx per row of U (the host's emulation: the DSP
 * cores take u_group_s8). */
static RT_NOINLINE __attribute__((unused)) void u_plane(const uint32_t *g, uint32_t *u, uint32_t P)
{
    const uint32_t s0 = rt_sadd16(g[0], g[6]), s1 = rt_sadd16(g[1], g[7]), s2 = rt_sadd16(g[2], g[8]);
    u_row(g[0], g[1], g[2], u, P);
    u_row(rt_sadd16(s0, g[3]), rt_sadd16(s1, g[4]), rt_sadd16(s2, g[5]), u + 4 * P, P);
    u_row(rt_ssub16(s0, g[3]), rt_ssub16(s1, g[4]), rt_ssub16(s2, g[5]), u + 8 * P, P);
    u_row(g[6], g[7], g[8], u + 12 * P, P);
}

/* U of one output channel from its S8 weight row w; an S4 row is widened
 * into wrow first (rt_widen_s4, 2 instructions a weight), so S4 layers take
 * the same transform, and their products the same scale, as S8. */
static RT_NOINLINE void channel_weights(const uint8_t *w, int C, int8_t *wrow, uint32_t *u,
                                        uint32_t P)
{
#if RT_WITH_WINO_S4
    if (wrow) {
        rt_widen_s4(w, 9u * (uint32_t)C, 1, wrow);
        w = (const uint8_t *)wrow;
    }
#else
    (void)wrow;
#endif
    for (int cg = 0; cg < C / 4; cg++, u += 2) {
#if RT_DSP
        u_group_s8(w + 4 * cg, u, 4 * P, (uint32_t)C);
#else
        uint32_t tw[9], g[9];
        for (int k = 0; k < 9; k++)
            rt_memcpy(&tw[k], w + k * C + 4 * cg, 4);
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 9; k++)
                g[k] = (uint32_t)(h ? rt_sxtb16_r8(tw[k]) : rt_sxtb16(tw[k]));
            u_plane(g, u + h, P);
        }
#endif
    }
}

/* ---- M: the products, one output channel and one group of four tiles ---------------------------- */

/* m[4 xi + t] = sum over p of u[xi * P + p] * v[(xi * P + p) * 4 + t]
 * (int16 pairs); P is even. U and V are read in order: xi's pairs follow
 * xi - 1's. */
#if RT_DSP
/* P % 4 == 0: a naked loop over xi, per xi four channel pairs first (SMUAD
 * starts the sums), then four a step:
 *     ldrd u0, u1 ; ldm v, {4 tiles} ; 4 x smlad ; ldm ; 4 x smlad
 * Registers: r0 U, r1 V, r2 the end of xi's U, r3 M, r4-r7 the sums, r8 r9
 * two U words, r10-r12 lr four V words; on the stack P * 4 and M's end. */
#define WG_HALF(U, OP, A)                                                                          \
    "ldm r1!, {r10, r11, r12, lr}\n\t" OP " r4, " U ", r10" A("r4") "\n\t" OP " r5, " U           \
    ", r11" A("r5") "\n\t" OP " r6, " U ", r12" A("r6") "\n\t" OP " r7, " U ", lr" A("r7") "\n\t"
#define WG_ACC(R) ", " R
#define WG_NONE(R) ""
#define WG_PAIR                                                                                    \
    "ldrd r8, r9, [r0], #8\n\t" WG_HALF("r8", "smlad", WG_ACC) WG_HALF("r9", "smlad", WG_ACC)
__attribute__((naked, noinline)) static void group_products4(const uint32_t *u RT_UNUSED,
                                                             const uint32_t *v RT_UNUSED,
                                                             uint32_t *m RT_UNUSED,
                                                             uint32_t pbytes RT_UNUSED)
{
    __asm__ volatile("push {r4-r11, lr}\n\t"
                     "add r4, r2, #256\n\t"
                     "push {r3, r4}\n\t"
                     "mov r3, r2\n\t"
                     "1:\n\t"
                     "ldr r2, [sp]\n\t"
                     "add r2, r0, r2\n\t"
                     "ldrd r8, r9, [r0], #8\n\t" WG_HALF("r8", "smuad", WG_NONE)
                         WG_HALF("r9", "smlad", WG_ACC) WG_PAIR "cmp r0, r2\n\t"
                     "beq 3f\n\t"
                     "2:\n\t" WG_PAIR WG_PAIR "cmp r0, r2\n\t"
                     "bne 2b\n\t"
                     "3:\n\t"
                     "stm r3!, {r4, r5, r6, r7}\n\t"
                     "ldr r4, [sp, #4]\n\t"
                     "cmp r3, r4\n\t"
                     "bne 1b\n\t"
                     "add sp, sp, #8\n\t"
                     "pop {r4-r11, pc}\n\t");
}

/* P == 8 (16 input channels): each xi's eight pairs straight through, the
 * loop over xi on M's end in r2: 47 instructions per xi against 54. */
__attribute__((naked, noinline)) static void group_products8(const uint32_t *u RT_UNUSED,
                                                             const uint32_t *v RT_UNUSED,
                                                             uint32_t *m RT_UNUSED)
{
    __asm__ volatile("push {r4-r11, lr}\n\t"
                     "mov r3, r2\n\t"
                     "add r2, r2, #256\n\t"
                     "1:\n\t"
                     "ldrd r8, r9, [r0], #8\n\t" WG_HALF("r8", "smuad", WG_NONE)
                         WG_HALF("r9", "smlad", WG_ACC) WG_PAIR WG_PAIR WG_PAIR
                     "stm r3!, {r4, r5, r6, r7}\n\t"
                     "cmp r3, r2\n\t"
                     "bne 1b\n\t"
                     "pop {r4-r11, pc}\n\t");
}
#endif

static RT_NOINLINE void group_products(const uint32_t *u, const uint32_t *v, uint32_t P,
                                       uint32_t *m)
{
#if RT_DSP
    if (P == 8) {
        group_products8(u, v, m);
        return;
    }
    if (P % 4 == 0) {
        group_products4(u, v, m, 4 * P);
        return;
    }
#endif
    for (int xi = 0; xi < 16; xi++, m += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (uint32_t p = 0; p < P; p++, v += 4) {
            const int32_t w = (int32_t)*u++;
            a0 = rt_smlad(w, (int32_t)v[0], a0), a1 = rt_smlad(w, (int32_t)v[1], a1);
            a2 = rt_smlad(w, (int32_t)v[2], a2), a3 = rt_smlad(w, (int32_t)v[3], a3);
        }
        m[0] = (uint32_t)a0, m[1] = (uint32_t)a1, m[2] = (uint32_t)a2, m[3] = (uint32_t)a3;
    }
}

/* ---- Y: the output transform ------------------------------------------------------------------ */

/* y[2 r + c] = 4 Y (r, c) of a tile, mt its group's M plus its index in the
 * group (modulo 2^32): A^T over each row of M, then over the columns. */
RT_INLINE void tile_output(const uint32_t *mt, uint32_t *y)
{
#define A_ROW(a, z0, z1)                                                                           \
    (z0 = 2 * mt[16 * a] + mt[16 * a + 4] + mt[16 * a + 8],                                       \
     z1 = mt[16 * a + 4] - mt[16 * a + 8] - 2 * mt[16 * a + 12])
    uint32_t z00, z01, z10, z11, z20, z21, z30, z31;
    A_ROW(0, z00, z01);
    A_ROW(1, z10, z11);
    A_ROW(2, z20, z21);
    A_ROW(3, z30, z31);
#undef A_ROW
    y[0] = 2 * z00 + z10 + z20, y[1] = 2 * z01 + z11 + z21;
    y[2] = z10 - z20 - 2 * z30, y[3] = z11 - z21 - 2 * z31;
}

/* Whole tiles with the fast requantization: what a group's stores share
 * (the offsets are the asm's). */
typedef struct {
    int32_t bias, mult, k, t; /*  0 the channel's table entry              */
    int32_t lo, O, rs;        /* 16 the clamp's floor, column and row strides */
    int8_t *dst[4];           /* 28 each tile's first output, or NULL       */
} wino_store;

#if RT_DSP
/* A naked loop over the four tiles of a group (r0 M, r1 the args): per tile
 * A^T over the rows of M (16 loads, 16 instructions), then over the columns
 * (8), the requantization of four outputs (16, with CLAMP 28) and four
 * stores. Registers: r2 the next dst, r3 this one, r4-r7 M's row, then the
 * table entry; r8-r11 the outputs, r12 lr the sums of rows 2 and 3. */
#define M_ROW(A, Z0, Z1)                                                                           \
    "ldr r4, [r0, #64 * " #A "]\n\tldr r5, [r0, #64 * " #A " + 16]\n\t"                          \
    "ldr r6, [r0, #64 * " #A " + 32]\n\tldr r7, [r0, #64 * " #A " + 48]\n\t"                     \
    "add " Z0 ", r5, r6\n\tsub " Z1 ", r5, r6\n\t"                                                \
    "add " Z0 ", " Z0 ", r4, lsl #1\n\tsub " Z1 ", " Z1 ", r7, lsl #1\n\t"
#define RQ(R, SH)                                                                                  \
    "add " R ", r4, " R ", asr #" #SH "\n\tsmmla " R ", " R ", r5, r6\n\t"                        \
    "asr " R ", " R ", r7\n\tssat " R ", #8, " R "\n\t"
#define CLAMP1(R) "cmp " R ", r12\n\tit lt\n\tmovlt " R ", r12\n\t"
#define CLAMP_LO "ldr r12, [r1, #16]\n\t" CLAMP1("r8") CLAMP1("r9") CLAMP1("r10") CLAMP1("r11")
#define TILES_STORE(NAME, SH, CLAMP)                                                               \
    __attribute__((naked, noinline)) static void NAME(const uint32_t *m RT_UNUSED,                \
                                                      const wino_store *a RT_UNUSED)              \
    {                                                                                              \
        __asm__ volatile("push {r4-r11, lr}\n\t"                                                   \
                         "add r2, r1, #28\n\t"                                                     \
                         "1:\n\t"                                                                  \
                         "ldr r3, [r2], #4\n\t"                                                    \
                         "cmp r3, #0\n\t"                                                          \
                         "beq 2f\n\t" M_ROW(0, "r8", "r9") M_ROW(1, "r10", "r11")                 \
                             M_ROW(2, "r12", "lr") "add r4, r10, r12\n\t"                          \
                         "add r8, r4, r8, lsl #1\n\t"                                              \
                         "add r4, r11, lr\n\t"                                                     \
                         "add r9, r4, r9, lsl #1\n\t"                                              \
                         "sub r10, r10, r12\n\t"                                                   \
                         "sub r11, r11, lr\n\t" M_ROW(3, "r12", "lr")                              \
                         "sub r10, r10, r12, lsl #1\n\t"                                           \
                         "sub r11, r11, lr, lsl #1\n\t"                                            \
                         "ldm r1, {r4, r5, r6, r7}\n\t" RQ("r8", SH) RQ("r9", SH) RQ("r10", SH)   \
                             RQ("r11", SH) CLAMP "ldrd r12, lr, [r1, #20]\n\t"                     \
                         "strb r8, [r3]\n\t"                                                       \
                         "strb r9, [r3, r12]\n\t"                                                  \
                         "add r3, r3, lr\n\t"                                                      \
                         "strb r10, [r3]\n\t"                                                      \
                         "strb r11, [r3, r12]\n\t"                                                 \
                         "2:\n\t"                                                                  \
                         "add r0, r0, #4\n\t"                                                      \
                         "sub r3, r2, r1\n\t"                                                      \
                         "cmp r3, #44\n\t"                                                         \
                         "bne 1b\n\t"                                                              \
                         "pop {r4-r11, pc}\n\t");                                                  \
    }
TILES_STORE(tiles_s8, 2, "")
#if RT_WITH_CONV_LO
TILES_STORE(tiles_s8_lo, 2, CLAMP_LO)
#endif
#endif

/* What the blocks of a layer share. */
typedef struct {
    const rt_conv_job *j;
    uint32_t P, ntx, row;
    int8_t *wrow; /* S4: the widened row of one output channel, else NULL */
    uint32_t *u, *m, *v;
    const int32_t *tab; /* NULL: no fast table */
} wino_layer;

/* The outputs of a tile (mt: its group's M plus its index) that are inside:
 * p its first output, n_r and n_c how many rows and columns are inside; the
 * fast rule (a's entry) when the layer has a table, else rt_rq_apply(r). */
static RT_NOINLINE void tile_store(const wino_layer *L, const uint32_t *mt, int8_t *p, int n_r,
                                   int n_c, const wino_store *a, const rt_rq *r)
{
    uint32_t y[4];
    tile_output(mt, y);
    for (int i = 0; i < 4; i++) {
        if (i / 2 >= n_r || i % 2 >= n_c)
            continue;
        const int32_t acc =
            rt_s32((uint32_t)a->bias + (uint32_t)(rt_s32(y[i]) >> 2));
        int32_t v;
        if (L->tab) {
            v = rt_ssat8(rt_smmla(acc, a->mult, a->k) >> a->t);
            v = v < a->lo ? a->lo : v;
        } else {
            v = rt_rq_apply(r, acc);
        }
        p[(i / 2) * a->rs + (i % 2) * a->O] = (int8_t)v;
    }
}

/* Requantizes and stores the four outputs of each tile of the group (M at
 * m) whose a->dst is not NULL (the fast rule). */
static void tiles_store(const wino_layer *L, const uint32_t *m, const wino_store *a)
{
#if RT_DSP && RT_WITH_CONV_LO
    (void)L;
    (a->lo > -128 ? tiles_s8_lo : tiles_s8)(m, a);
#elif RT_DSP /* without the clamp's asm (RT_WITH_CONV_LO 0): lo = -128 only */
    if (a->lo == -128) {
        tiles_s8(m, a);
        return;
    }
    for (int i = 0; i < 4; i++)
        if (a->dst[i])
            tile_store(L, m + i, a->dst[i], 2, 2, a, NULL);
#else
    for (int i = 0; i < 4; i++)
        if (a->dst[i])
            tile_store(L, m + i, a->dst[i], 2, 2, a, NULL);
#endif
}

/* Output channel o of the block's nt tiles (V built): y is the block's
 * first output row (channel 0), rows_left the output rows from there. */
static RT_NOINLINE void block_channel(const wino_layer *L, int o, uint32_t nt, int8_t *y, int rows_left)
{
    const rt_conv_job *j = L->j;
    const int W = j->out->w, O = j->out->c;
    const int32_t rs = W * O; /* output row stride */
    wino_store a = {0, 0, 0, 0, j->q->lo, O, rs, {NULL, NULL, NULL, NULL}};
    rt_rq r = {0, 0, 0, 0, 0, 0, NULL, 0};
    if (L->tab) {
        const int32_t *e = L->tab + 4 * o;
        a.bias = e[0], a.mult = e[1], a.k = e[2], a.t = e[3];
    } else {
        rt_rq_init(&r, j->q, o, RT_REACH(j));
        a.bias = r.bias;
    }
    channel_weights(j->w + (size_t)o * L->row, j->in->c, L->wrow, L->u, L->P);
    uint32_t tx = 0;
    int8_t *yr = y + o; /* the tile row's first output */
    /* groups of four whole tiles in one tile row: W a multiple of 8 */
    const int rows4 = L->tab && W % 8 == 0;
    for (uint32_t g = 0; g < nt; g += 4) {
        group_products(L->u, L->v + g * 16 * L->P, L->P, L->m);
        if (rows4 && rows_left >= 2) {
            int8_t *p = yr + (size_t)2 * tx * O;
            a.dst[0] = p, a.dst[1] = p + 2 * O, a.dst[2] = p + 4 * O, a.dst[3] = p + 6 * O;
            if ((tx += 4) == L->ntx)
                tx = 0, yr += 2 * rs, rows_left -= 2;
            tiles_store(L, L->m, &a);
            continue;
        }
        a.dst[0] = a.dst[1] = a.dst[2] = a.dst[3] = NULL;
        for (uint32_t t = 0; t < 4 && g + t < nt; t++) {
            int8_t *p = yr + (size_t)2 * tx * O;
            const int n_c = W - 2 * (int)tx < 2 ? 1 : 2, n_r = rows_left < 2 ? 1 : 2;
            if (n_r == 2 && n_c == 2 && L->tab)
                a.dst[t] = p;
            else
                tile_store(L, L->m + t, p, n_r, n_c, &a, &r);
            if (++tx == L->ntx)
                tx = 0, yr += 2 * rs, rows_left -= 2;
        }
        tiles_store(L, L->m, &a);
    }
}

void rt_conv_wino_dsp(const rt_conv_job *j, int s4)
{
    const rt_dims *in = j->in, *out = j->out;
    const int H = out->h, W = out->w, O = out->c;
    const uint32_t P = (uint32_t)in->c / 2, ntx = ((uint32_t)W + 1) / 2, nty = ((uint32_t)H + 1) / 2;
    const rt_add_params *add = rt_job_add(j);
    uint32_t bands = nty; /* per block: as many as the scratch holds */
    while (bands > 1 && rt_wino_bytes(in, out, add != NULL, bands, s4) > j->scratch_bytes)
        bands--;
    uint8_t *sc = (uint8_t *)j->scratch;
    int32_t *tab = (int32_t *)(void *)sc;
    uint32_t *u = (uint32_t *)(void *)(sc + 16u * (uint32_t)O), *m = u + 16 * P, *v = m + 64;
    int8_t *stage =
        add ? (int8_t *)sc + rt_stage_off((uint32_t)rt_wino_stage_at(in, out, bands, s4)) : NULL;
    int8_t *zrow = (int8_t *)(v + (bands * ntx + 3) / 4 * 64 * P);
    for (int c = 0; c < in->c; c++)
        zrow[c] = j->in_zero;
    const uint32_t K = 9u * in->c;
    int8_t *wrow = s4 ? zrow + ((in->c + 3) & ~3) : NULL; /* K bytes (in_c % 8 == 0) */
    const wino_layer L = {j, P, ntx, s4 ? K / 2 : rt_s8_row_bytes(K), wrow, u, m, v,
                          rt_rq_table(j, tab) ? tab : NULL};
#if RT_WITH_ADD
    rt_add_k ak;
    const int ak_ok = add && rt_add_prep_dsp(add, &ak);
#endif
    for (uint32_t ty0 = 0; ty0 < nty; ty0 += bands) {
        const uint32_t nb = nty - ty0 < bands ? nty - ty0 : bands, nt = nb * ntx;
        for (uint32_t t = 0; t < (nt + 3) / 4 * 4; t++) {
            uint32_t *vt = v + (t / 4) * 64 * P + t % 4;
            if (t < nt) {
                tile_input(j, (int)(ty0 + t / ntx), (int)(t % ntx), vt, P, zrow);
                continue;
            }
            for (uint32_t i = 0; i < 16 * P; i++) /* the group's missing tiles */
                vt[4 * i] = 0;
        }
        int8_t *yb = stage ? stage : j->y + (size_t)2 * ty0 * W * O;
        for (int o = 0; o < O; o++)
            block_channel(&L, o, nt, yb, H - 2 * (int)ty0);
#if RT_WITH_ADD
        if (stage) /* the block's rows, in element order */
            for (uint32_t yy = 0; yy < 2 * nb && 2 * ty0 + yy < (uint32_t)H; yy++) {
                const size_t at = (size_t)(2 * ty0 + yy) * W * O, n = (size_t)W * O;
                if (ak_ok)
                    rt_add_run_dsp(&ak, stage + yy * n, j->res + at, j->y + at, (uint32_t)n);
                else
                    rt_add(add, stage + yy * n, j->res + at, j->y + at, (uint32_t)n);
            }
#endif
    }
}

#endif
