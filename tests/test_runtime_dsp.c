/* test_runtime_dsp.c - the Cortex-M DSP kernel bodies (runtime/rt_dsp.c),
 * compiled here with portable emulations of the DSP instructions
 * (RT_DSP_EMULATE), against the portable C bodies (rt_conv.c) on random
 * shapes and extreme values: the bodies' logic (panel with slot reuse,
 * two-lane blocks and flushes, passes, the SMMLA requantization, the im2col
 * order of SMLAD) is checked on the host; `make device-test` checks the
 * real instructions under QEMU. */
#define RT_DSP_EMULATE 1
#include "runtime/rt_dsp.c"
#include "runtime/rt_wino.c"

#include <criterion/criterion.h>

#include "rt_models.h"

/* The Winograd body on job j (y0 its direct result): blocks of one band,
 * two and all of them, each with exactly the scratch rt_conv2d_wino_bytes
 * gives (poisoned), which rt_conv_wino_fits accepts and one byte less does
 * not; with a fused add also in place over the residual. */
static void wino_check(const rt_conv_job *j, const rt_window *win, int fmt, int fused,
                       const int8_t *y0, size_t ysz, const char *what)
{
    const uint32_t nty = (j->out->h + 1u) / 2u, bands[3] = {1, 2, nty};
    int8_t *y = malloc(ysz);
    cr_assert_not_null(y);
    for (int b = 0; b < 3; b++) {
        const uint32_t need = rt_conv2d_wino_bytes(win, j->in, j->out, (uint8_t)fmt, fused, bands[b]);
        if (b == 0) {
            cr_assert(rt_conv_wino_fits(win, j->in, j->out, (uint8_t)fmt, fused, need), "%s", what);
            cr_assert_not(rt_conv_wino_fits(win, j->in, j->out, (uint8_t)fmt, fused, need - 1),
                          "%s", what);
        }
        uint8_t *sc = aligned_alloc(8, (need + 8) & ~7u);
        cr_assert_not_null(sc);
        for (int place = 0; place <= fused; place++) {
            rt_conv_job w = *j;
            w.scratch = sc, w.scratch_bytes = need, w.y = y;
            memset(sc, 0xa5, need);
            memset(y, 0x11, ysz);
            if (place) /* y is the residual */
                memcpy(y, j->res, ysz), w.res = y;
            rt_conv_wino_dsp(&w, fmt == RT_WF_S4);
            char tag[160];
            snprintf(tag, sizeof tag, "%s, Winograd, %u band(s)%s", what, bands[b],
                     place ? ", in place" : "");
            rtm_same(y, y0, ysz, tag);
        }
        free(sc);
    }
    free(y);
}

/* Runs op op_i of m (a conv after a 1x1 conv that spreads the input)
 * through both bodies on the tensor qref computed for its input; when the
 * image fused the next op (an add) into it, with that add's residual, and
 * both must give the add's tensor (and again in place over the residual). */
static int compare_bodies(const qm_model *m, int op_i, uint64_t seed, const char *what)
{
    const rtb_options opt = {RT_TARGET_CORTEX_M4, RTB_SPARSE_AUTO, 0, RT_ISA_AUTO, 0, 0};
    rtb_image img;
    nn_error err;
    cr_assert_eq(rtb_build(&img, m, &opt, &err), NN_OK, "%s", err.msg);
    const uint8_t *r = img.data + rt_rd32(img.data + RT_H_OPS_OFF) + RT_OP_BYTES * op_i;
    const int fmt = r[RT_O_WFMT];
    const rt_window win = {r[RT_O_KERNEL], r[RT_O_STRIDE], r[RT_O_PAD]};
    const rt_dims in = {(uint16_t)rt_rd16(r + RT_O_IN_H), (uint16_t)rt_rd16(r + RT_O_IN_W),
                        (uint16_t)rt_rd16(r + RT_O_IN_C)};
    const rt_dims out = {(uint16_t)rt_rd16(r + RT_O_OUT_H), (uint16_t)rt_rd16(r + RT_O_OUT_W),
                         (uint16_t)rt_rd16(r + RT_O_OUT_C)};
    const uint32_t O = out.c, q_off = rt_rd32(r + RT_O_Q_OFF);
    const rt_quant q = {(const int32_t *)(const void *)(img.data + q_off),
                        (const int32_t *)(const void *)(img.data + q_off + 4 * O),
                        img.data + q_off + 8 * O, (int8_t)r[RT_O_OUT_ZERO], (int8_t)r[RT_O_LO],
                        (int8_t)r[RT_O_HI]};
    /* the input: what qref computes for the op's input on random pixels */
    uint8_t *pix = rtm_pixels(m, 1, seed);
    int8_t *s = malloc(qm_ref_scratch_bytes(m));
    cr_assert_not_null(s);
    qm_ref_run(m, pix, s);
    const int8_t *x = qm_ref_tensor(m, s, m->ops[op_i].input);
    const size_t ysz = (size_t)out.h * out.w * out.c;
    int8_t *y0 = malloc(ysz), *y1 = malloc(ysz);
    const int fused = (r[RT_O_FLAGS] & RT_OPF_ADD) != 0;
    uint32_t sc = fused ? rt_conv2d_add_scratch_bytes(&win, &in, &out, (uint8_t)fmt)
                        : rt_conv2d_scratch_bytes(&win, &in, &out, (uint8_t)fmt);
    /* an S4 layer with in_c % 8 == 0 takes the S8 passes when given more */
    const uint32_t best = rt_conv2d_scratch_best(&win, &in, &out, (uint8_t)fmt, fused);
    cr_assert_geq(best, sc, "%s", what);
    uint8_t *scratch = aligned_alloc(8, (best + 8) & ~7u);
    cr_assert(y0 && y1 && scratch);
    rt_conv_job j = {&win, (int8_t)r[RT_O_IN_ZERO], &q, &in, &out, x,
                     img.data + rt_rd32(r + RT_O_W_OFF), y0, scratch, NULL, NULL, sc};
    rt_add_params ap;
    if (fused) {
        const uint8_t *ab = img.data + rt_rd32(r + RT_O_AUX1);
        const qm_op *add = &m->ops[op_i + 1];
        ap = (rt_add_params){q.out_zero, (int8_t)r[RT_O_IN2_ZERO], (int8_t)ab[RT_A_OUT_ZERO],
                             (int8_t)ab[RT_A_LO], (int8_t)ab[RT_A_HI],
                             rt_s32(rt_rd32(ab + RT_A_MULT)), rt_s32(rt_rd32(ab + RT_A_MULT2)),
                             ab[RT_A_SHIFT]};
        j.add = &ap;
        j.res = qm_ref_tensor(m, s, add->input == op_i ? add->input2 : add->input);
    }
    if (fmt == RT_WF_S4 && in.c % 8)
        cr_assert(!rt_conv_s4_passes_fit(&win, &in, &out, fused, best), "%s", what);
    memset(scratch, 0x5a, best);
    switch (fmt) {
    case RT_WF_S8: rt_conv_s8_c(&j); break;
    case RT_WF_S4: rt_conv_s4_c(&j); break;
    case RT_WF_SP4: rt_conv_sp4_c(&j); break;
    default: cr_assert_fail("%s: format %d has no DSP body", what, fmt);
    }
    j.y = y1;
    memset(scratch, 0xa5, best);
    switch (fmt) {
    case RT_WF_S8: rt_conv_s8_dsp(&j); break;
    case RT_WF_S4: rt_conv_s4_dsp(&j); break;
    case RT_WF_SP4: rt_conv_sp4_dsp(&j); break;
    }
    /* and both equal the reference interpreter */
    rtm_same(y0, qm_ref_tensor(m, s, op_i + fused), ysz, what);
    rtm_same(y1, y0, ysz, what);
    if (best > sc && !fused) {
        cr_assert_eq(fmt, RT_WF_S4, "%s: only S4 asks for more", what);
        cr_assert_eq(in.c % 8, 0, "%s", what);
        /* the export's rule for the S4 bodies it keeps (rt_config.h) */
        cr_assert(rt_conv_s4_passes_fit(&win, &in, &out, 0, best), "%s", what);
        cr_assert(!rt_conv_s4_passes_fit(&win, &in, &out, 0, sc), "%s", what);
        memset(y1, 0x11, ysz);
        memset(scratch, 0xa5, best);
        j.scratch_bytes = best;
        rt_conv_s4_dsp(&j);
        rtm_same(y1, y0, ysz, what);
        int used = 0; /* the passes ran: they use scratch past the panel */
        for (uint32_t i = sc; i < best && !used; i++)
            used = scratch[i] != 0xa5;
        cr_assert(used, "%s: the S8 passes did not run", what);
    }
    if (rt_conv2d_wino_bytes(&win, &in, &out, (uint8_t)fmt, fused, 1))
        wino_check(&j, &win, fmt, fused, y0, ysz, what);
    if (fused && fmt == RT_WF_S8) { /* in place: y is the residual */
        memcpy(y1, j.res, ysz);
        j.res = j.y = y1;
        rt_conv_s8_dsp(&j);
        rtm_same(y1, y0, ysz, what);
    }
    free(y0), free(y1), free(scratch), free(s), free(pix);
    rtb_free(&img);
    return fused;
}

typedef struct {
    int c, h, w, oc, k, stride, pad, relu, bits;
    double sparsity;
    int small;
} dcase;

/* The add shifts of the fused cases: the prepared SMLAD add (16-31) and
 * rt_add (the rest). */
static const int ADD_SHIFTS[] = {16, 17, 24, 31, 32, 9, 40, 62};

/* Each case as op 1 after a 1x1 conv spreading the input; fused: op 2,
 * with a conv of the input of the same window as op 1 and an add of the
 * two (either order) after it, which the image fuses into op 2. */
static void run_cases(const dcase *cases, size_t n, uint64_t seed0, int fused)
{
    for (size_t i = 0; i < n; i++) {
        const dcase *d = &cases[i];
        rtm *t = rtm_new(1, d->h, d->w);
        int x = rtm_conv(t, QM_INPUT, d->c, 1, 1, 0, 0, 8, 0);
        int res = fused ? rtm_conv(t, QM_INPUT, d->oc, d->k, d->stride, d->pad, 0, 8, 0) : -1;
        int y = rtm_conv(t, x, d->oc, d->k, d->stride, d->pad, d->relu, d->bits, d->sparsity);
        t->small_w[y] = d->small;
        if (fused)
            rtm_add(t, i % 2 ? res : y, i % 2 ? y : res, (int)(i % 3 == 0));
        rtm_finish(t, seed0 + i);
        if (fused)
            t->m.ops[3].add_shift = ADD_SHIFTS[i % (sizeof ADD_SHIFTS / sizeof *ADD_SHIFTS)];
        char what[80];
        snprintf(what, sizeof what, "case %zu (%dx%dx%d -> %d, k%d s%d p%d, %d-bit, %.2f)%s", i, d->h,
                 d->w, d->c, d->oc, d->k, d->stride, d->pad, d->bits, d->sparsity,
                 fused ? " + add" : "");
        cr_assert_eq(compare_bodies(&t->m, y, seed0 + 100 + i, what), fused, "%s", what);
        rtm_free(t);
    }
}

Test(runtime_dsp, sp4_and_s4_bodies)
{
    const dcase cases[] = {
        {32, 28, 28, 8, 3, 1, 1, 1, 4, 0.62, 0}, {32, 14, 14, 16, 3, 1, 1, 1, 4, 0.7, 0},
        {5, 7, 7, 6, 3, 1, 1, 0, 4, 0.5, 0},     {3, 9, 11, 5, 5, 2, 2, 1, 4, 0.4, 0},
        {17, 6, 13, 7, 3, 2, 1, 0, 4, 0.3, 1},   {4, 5, 3, 9, 1, 1, 0, 1, 4, 0.2, 0},
        {64, 4, 4, 5, 3, 1, 1, 0, 4, 0.0, 0},    {8, 10, 2, 3, 3, 3, 2, 1, 4, 0.5, 0},
        {2, 1, 9, 4, 1, 1, 0, 0, 4, 0.5, 0},     {6, 11, 1, 4, 3, 1, 1, 0, 4, 0.5, 0},
        {40, 7, 16, 4, 3, 1, 1, 1, 4, 0.9, 0},   {12, 5, 21, 3, 2, 1, 0, 0, 4, 0.6, 1},
    };
    run_cases(cases, sizeof cases / sizeof *cases, 10, 0);
    /* dense 4-bit (S4) on the same shapes: density above the threshold */
    dcase dense[sizeof cases / sizeof *cases];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        dense[i] = cases[i], dense[i].sparsity = 0.1;
    run_cases(dense, sizeof dense / sizeof *dense, 40, 0);
}

/* S4 layers whose in_c is a multiple of 8 through the S8 passes (given
 * rt_conv2d_scratch_best): ResNet-8's stack-3 shapes shrunk, a 1x1 stride-2
 * shortcut, odd word counts (K = 8, 72: the leftover word), widths that
 * leave a partial pass, a ReLU floor, strides 2 and 3. */
Test(runtime_dsp, s4_passes)
{
    const dcase cases[] = {
        {32, 16, 16, 12, 3, 2, 1, 1, 4, 0.1, 0}, {64, 8, 8, 10, 3, 1, 1, 0, 4, 0.1, 0},
        {32, 16, 16, 9, 1, 2, 0, 0, 4, 0.1, 0},  {8, 5, 7, 5, 1, 1, 0, 1, 4, 0.1, 0},
        {8, 9, 6, 7, 3, 1, 1, 0, 4, 0.1, 0},     {16, 7, 11, 6, 3, 3, 2, 1, 4, 0.1, 0},
        {24, 6, 5, 4, 2, 1, 0, 1, 4, 0.1, 0},    {48, 3, 9, 3, 5, 2, 2, 0, 4, 0.1, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases, 300, 0);
}

Test(runtime_dsp, s8_body)
{
    const dcase cases[] = {
        {1, 28, 28, 32, 3, 1, 1, 1, 8, 0, 0}, {3, 7, 9, 5, 3, 2, 1, 0, 8, 0, 0},
        {5, 6, 5, 7, 5, 1, 2, 1, 8, 0.2, 0},  {4, 3, 3, 1, 1, 1, 0, 0, 8, 0, 0},
        {7, 9, 4, 3, 2, 2, 0, 1, 8, 0.5, 0},  {2, 1, 1, 2, 1, 1, 0, 0, 8, 0, 0},
        /* whole groups of four channels (the word-wise pass buffer), the
         * ResNet-8 shapes shrunk, widths that leave a partial pass */
        {16, 8, 8, 16, 3, 1, 1, 1, 8, 0, 0},  {16, 9, 10, 32, 3, 2, 1, 1, 8, 0, 0},
        {32, 5, 7, 6, 3, 1, 1, 0, 8, 0.1, 0}, {16, 9, 9, 32, 1, 2, 0, 0, 8, 0, 0},
        {32, 6, 5, 64, 1, 2, 0, 0, 8, 0, 0},  {8, 4, 3, 5, 2, 1, 1, 1, 8, 0, 0},
        {12, 3, 13, 9, 5, 1, 2, 1, 8, 0, 0},  {4, 7, 6, 3, 3, 3, 0, 0, 8, 0, 0},
        /* any C beyond K = 10: the first layer of a colour network */
        {3, 9, 11, 16, 3, 1, 1, 1, 8, 0, 0},  {3, 6, 5, 7, 5, 2, 2, 0, 8, 0, 0},
        /* the 3x3x3 window read as words: stride 2, no padding */
        {3, 10, 13, 8, 3, 2, 1, 0, 8, 0, 0},  {3, 7, 9, 6, 3, 1, 0, 1, 8, 0, 0},
        /* configs/mnist_tiny.json's first two convs (the C body's window:
         * K = 25 leaves a tail of one tap, K = 72 none) */
        {1, 28, 28, 8, 5, 1, 0, 1, 8, 0, 0},  {8, 12, 12, 16, 3, 1, 1, 1, 8, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases, 70, 0);
    /* the same with a residual add in the epilogue (by output rows, the
     * prepared SMLAD add for shifts 16-31, rt_add otherwise) */
    run_cases(cases, sizeof cases / sizeof *cases, 900, 1);
}

Test(runtime_dsp, extreme_requantization)
{
    /* shifts across the fast path's edges (32/33, 54/55), zero points at
     * the ends, ties, a ReLU floor above -128 */
    const int shifts[] = {1, 31, 32, 33, 34, 40, 53, 54, 55, 62};
    const int32_t mults[] = {1 << 30, 0x7fffffff, 1610612736};
    for (int v = 0; v < 8; v++) { /* 6, 7: 16 channels, S4 through the passes */
        rtm *t = rtm_new(1, 6, 7);
        int x = rtm_conv(t, QM_INPUT, v < 6 ? 9 : 16, 1, 1, 0, 0, 8, 0);
        rtm_conv(t, x, 10, 3, 1, 1, v & 1, v < 2 ? 8 : 4, v < 4 ? 0.6 : 0.1);
        /* (v 6 and 7 are dense 4-bit: S4) */
        rtm_finish(t, 600 + v);
        qm_op *op = &t->m.ops[1];
        op->out.zero = v % 3 == 0 ? -128 : v % 3 == 1 ? 127 : 5;
        for (int o = 0; o < op->out_c; o++)
            op->mult[o] = mults[o % 3], op->shift[o] = (int8_t)shifts[o];
        char what[32];
        snprintf(what, sizeof what, "extremes %d", v);
        compare_bodies(&t->m, 1, 900 + v, what);
        rtm_free(t);
    }
}

/* The fast entry of a channel with shift > 54 (a channel training left
 * nearly dead): taken exactly when its output is one value over every
 * accumulator the layer can produce, and then that value. */
Test(runtime_dsp, fast_entry_of_a_dead_channel)
{
    const int32_t bias[3] = {-3000000, (1 << 24) + 500, 2147483000};
    const int32_t mult[3] = {1 << 30, 1 << 30, 1 << 30};
    const uint8_t shift[3] = {57, 55, 57};
    const rt_quant q = {bias, mult, shift, 5, -128, 127};
    const int64_t reach = 27 << 14; /* a 3x3x3 conv's */
    int32_t e[4];
    /* channel 0: M = 2^-27, every acc in [bias - reach, bias + reach] gives
     * out_zero + round(bias * M) = 5 + 0 */
    cr_assert(rt_fast_entry(&q, 0, reach, e));
    cr_assert_eq(e[1], 0);
    for (int64_t a = bias[0] - reach; a <= bias[0] + reach; a += 997) {
        const int32_t y = rt_ssat8(rt_smmla((int32_t)a, e[1], e[2]) >> e[3]);
        cr_assert_eq(y, rt_requant((int32_t)a, mult[0], shift[0], q.out_zero, q.lo, q.hi),
                     "acc %lld", (long long)a);
    }
    cr_assert_eq(rt_ssat8(e[2] >> e[3]), 5);
    /* channel 1: M = 2^-25, a rounding step (acc = 2^24) inside the range */
    cr_assert_not(rt_fast_entry(&q, 1, reach, e));
    cr_assert(rt_fast_entry(&q, 1, 400, e), "the step is 500 away");
    cr_assert_eq(rt_ssat8(e[2] >> e[3]), 6);
    /* channel 2: bias + reach beyond int32 (the sum would wrap) */
    cr_assert_not(rt_fast_entry(&q, 2, reach, e));
    /* the usual shift keeps the multiplier; hi != 127 never takes it */
    const uint8_t usual[3] = {40, 40, 40};
    const rt_quant u = {bias, mult, usual, 5, -128, 127}, h = {bias, mult, shift, 5, -128, 100};
    cr_assert(rt_fast_entry(&u, 0, reach, e));
    cr_assert(e[1] == 1 << 30 && e[3] == 8 && e[2] == (1 << 7) + (5 << 8));
    cr_assert_not(rt_fast_entry(&h, 0, reach, e));
}

/* A first layer of 3 -> 16 channels with one dead channel (shift 57):
 * the whole layer keeps the fast table (one slow channel used to send
 * every channel to the 64-bit rule), and the bodies equal the reference. */
Test(runtime_dsp, dead_channel_keeps_the_fast_table)
{
    rtm *t = rtm_new(3, 9, 11);
    int x = rtm_conv(t, QM_INPUT, 3, 1, 1, 0, 0, 8, 0);
    rtm_conv(t, x, 16, 3, 1, 1, 1, 8, 0);
    rtm_finish(t, 31);
    qm_op *op = &t->m.ops[1];
    op->shift[12] = 57;
    compare_bodies(&t->m, 1, 77, "dead channel");
    const rt_window win = {3, 1, 1};
    const rt_dims in = {9, 11, 3}, out = {9, 11, 16};
    const rt_quant q = {op->bias, op->mult, (const uint8_t *)op->shift, (int8_t)op->out.zero,
                        -128, 127};
    rt_conv_job j = {&win, 0, &q, &in, &out, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    int32_t tab[4 * 16];
    cr_assert(rt_rq_table(&j, tab), "a dead channel left the fast table");
    cr_assert_eq(tab[4 * 12 + 1], 0, "the dead channel's entry is a constant");
    rtm_free(t);
}

/* ARMv6-M's requantization without a 64-bit multiply (rt_requant_hi, and
 * its high word rt_mulhi) against the 64-bit rule, which rt_requant is on
 * this host: the extremes of acc and mult, every shift it serves (33..62),
 * clamps at both ends, then random values. */
Test(runtime_dsp, requant_halves)
{
    const int32_t accs[] = {0, 1, -1, 2, -2, 0x7fffffff, -0x7fffffff - 1, 0x40000000, -0x40000000,
                            0xffff, -0xffff, 0x10000, -0x10000, 0x12345678, -0x12345678};
    const int32_t mults[] = {0, 1, 0xffff, 0x10000, 1 << 30, 0x7fffffff, 1610612736, 0x5a5a5a5a};
    nn_rng r;
    nn_rng_seed(&r, 19);
    for (int n = 0; n < 200000; n++) {
        const int32_t acc = n < 15 * 8 ? accs[n / 8] : (int32_t)(uint32_t)nn_rng_u64(&r);
        const int32_t mult = n < 15 * 8 ? mults[n % 8] : (int32_t)(nn_rng_u64(&r) & 0x7fffffffu);
        cr_assert_eq(rt_mulhi(acc, mult), (int32_t)(((int64_t)acc * mult) >> 32), "mulhi %d %d",
                     acc, mult);
        for (int shift = 33; shift <= 62; shift += n < 15 * 8 ? 1 : 7) {
            const int32_t zero = (int32_t)nn_rng_below(&r, 256) - 128;
            const int32_t lo = n % 3 ? -128 : zero, hi = 127;
            cr_assert_eq(rt_requant_hi(acc, mult, shift, zero, lo, hi),
                         rt_requant(acc, mult, shift, zero, lo, hi), "acc %d mult %d shift %d", acc,
                         mult, shift);
        }
    }
}

Test(runtime_dsp, dot_and_maxpool)
{
    nn_rng r;
    nn_rng_seed(&r, 3);
    int8_t w[70], x[70];
    for (int K = 0; K <= 70; K++) {
        for (int i = 0; i < 70; i++)
            w[i] = (int8_t)((int)nn_rng_below(&r, 256) - 128),
            x[i] = (int8_t)((int)nn_rng_below(&r, 256) - 128);
        if (K == 70)
            memset(w, -128, sizeof w), memset(x, -128, sizeof x);
        uint32_t want = 0;
        for (int i = 0; i < K; i++)
            want += (uint32_t)((int32_t)w[i] * x[i]);
        cr_assert_eq(rt_dot_s8_dsp(w, x, (uint32_t)K), want, "K %d", K);
    }
    /* the 2x2 pool body against the generic C loop (strides 1 and 2) */
    for (int st = 1; st <= 2; st++) {
        const int C = 12, H = 7, W = 9, oh = (H - 2) / st + 1, ow = (W - 2) / st + 1;
        int8_t xin[7 * 9 * 12], yd[8 * 8 * 12], yc[8 * 8 * 12];
        for (size_t i = 0; i < sizeof xin; i++)
            xin[i] = (int8_t)((int)nn_rng_below(&r, 256) - 128);
        rt_max2x2_dsp(xin, yd, C, W, st, oh, ow);
        const rt_window win = {2, (uint8_t)st, 0};
        const rt_dims din = {H, W, C}, dout = {(uint16_t)oh, (uint16_t)ow, C};
        cr_assert_eq(rt_maxpool(&win, -128, &din, xin, &dout, yc), RT_OK);
        rtm_same(yd, yc, (size_t)oh * ow * C, "2x2 maxpool");
    }
    int8_t in[4 * 5 * 11], o[11];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (int8_t)((int)nn_rng_below(&r, 256) - 128);
    for (int lo = -128; lo <= 100; lo += 76) {
        int done = rt_max4_dsp(in, o, 11, 5, 3, (int8_t)lo);
        cr_assert_eq(done, 8);
        for (int c = 0; c < done; c++) {
            int m = lo;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    m = in[(ky * 5 + kx) * 11 + c] > m ? in[(ky * 5 + kx) * 11 + c] : m;
            cr_assert_eq(o[c], m, "channel %d lo %d", c, lo);
        }
    }
}

/* Global average pooling four channels at a time (int16 lanes flushed
 * every 256 pixels) against the rule written out here: every pixel count
 * around the flush (1, 255-257, 600), inputs at both ends (600 pixels of
 * 127 overflow an unflushed lane), zero points at the ends, a ReLU floor,
 * in place; C % 4 != 0 is left to the portable loop. */
Test(runtime_dsp, global_avgpool_body)
{
    nn_rng r;
    nn_rng_seed(&r, 11);
    enum { MAXP = 600, C = 12 };
    static int8_t x[MAXP * C], y[MAXP * C];
    const int pixels[] = {1, 7, 255, 256, 257, 600};
    int ran = 0;
    for (size_t pi = 0; pi < sizeof pixels / sizeof *pixels; pi++)
        for (int v = 0; v < 5; v++) {
            const int hw = pixels[pi];
            for (int i = 0; i < hw * C; i++)
                x[i] = v == 0 ? 127 : v == 1 ? -128 : (int8_t)((int)nn_rng_below(&r, 256) - 128);
            const int8_t zero =
                v == 0 ? -128 : v == 1 ? 127 : (int8_t)((int)nn_rng_below(&r, 256) - 128);
            const int8_t lo = v == 3 ? zero : -128;
            const rt_dims in = {1, (uint16_t)hw, C};
            int8_t *out = v == 4 ? x : y; /* in place */
            int8_t want[C];
            for (int c = 0; c < C; c++) {
                int64_t sum = 0;
                for (int p = 0; p < hw; p++)
                    sum += x[p * C + c] - zero;
                const int64_t a = sum < 0 ? -sum : sum, q = (a + hw / 2) / hw;
                const int64_t m = zero + (sum < 0 ? -q : q);
                want[c] = (int8_t)(m < lo ? lo : m > 127 ? 127 : m);
            }
            cr_assert_eq(rt_global_avgpool_dsp(zero, lo, &in, x, out), 1);
            for (int c = 0; c < C; c++)
                cr_assert_eq(out[c], want[c], "%d pixels, case %d, channel %d: %d, want %d", hw,
                             v, c, out[c], want[c]);
            ran++;
        }
    cr_assert_eq(ran, 30);
    const rt_dims odd = {2, 3, 6};
    cr_assert_eq(rt_global_avgpool_dsp(0, -128, &odd, x, y), 0, "C = 6 is the portable loop's");
}

Test(runtime_dsp, add_body)
{
    /* the SMLAL add against the portable rule (rt_add without DSP) on
     * every shift, zero points at the ends, a ReLU floor */
    nn_rng r;
    nn_rng_seed(&r, 5);
    enum { N = 303 }; /* not a multiple of 4: the tail too */
    int8_t a[N], b[N], y[N];
    for (int i = 0; i < N; i++)
        a[i] = (int8_t)((int)nn_rng_below(&r, 256) - 128),
        b[i] = (int8_t)((int)nn_rng_below(&r, 256) - 128);
    a[0] = b[0] = -128, a[1] = b[1] = 127, a[2] = -128, b[2] = 127;
    int ran = 0;
    for (int sh = 1; sh <= 62; sh++)
        for (int v = 0; v < 6; v++) {
            const int8_t zs[3] = {-128, 127, (int8_t)((int)nn_rng_below(&r, 256) - 128)};
            rt_add_params p = {zs[v % 3], zs[(v + 1) % 3], zs[(v + 2) % 3], -128, 127,
                               (int32_t)nn_rng_below(&r, 1u << 31), (int32_t)nn_rng_below(&r, 1u << 31),
                               (uint8_t)sh};
            if (v == 1)
                p.a_mult = 0x7fffffff, p.b_mult = 0x7fffffff;
            if (v >= 3)
                p.lo = p.out_zero;
            if (v == 5)
                p.hi = 100; /* not the fast path's */
            if (!rt_add_dsp(&p, a, b, y, N))
                continue;
            ran++;
            const int64_t rnd = (int64_t)1 << (sh - 1);
            for (int i = 0; i < N; i++) {
                int64_t t = (int64_t)(a[i] - p.a_zero) * p.a_mult + (int64_t)(b[i] - p.b_zero) * p.b_mult + rnd;
                int64_t q = p.out_zero + (t >> sh);
                int8_t want = (int8_t)(q < p.lo ? p.lo : q > p.hi ? p.hi : q);
                cr_assert_eq(y[i], want, "shift %d case %d value %d: %d, want %d", sh, v, i, y[i], want);
            }
        }
    cr_assert_eq(ran, 46 * 5, "the fast path ran %d times", ran);
}

/* The depthwise DSP body (four channels a step, SMLABB/SMLATT) against the
 * C body (rt_depthwise on RT_ISA_C) and the reference interpreter: channel
 * counts with and without a partial group of four, kernels 1/3/5 (the tap
 * table) and 9 (beyond it: row by row), strides 1/2, padding up to k - 1
 * (windows with a single inside tap), the ReLU6 clamp, 4-bit weights,
 * extreme zero points. */
Test(runtime_dsp, depthwise_body)
{
    const struct {
        int c, h, w, k, s, pad, act, bits;
    } cases[] = {
        {4, 6, 6, 3, 1, 1, 0, 8},  {7, 5, 9, 3, 2, 1, 2, 8},  {16, 8, 8, 5, 1, 2, 1, 8},
        {3, 7, 4, 5, 2, 2, 2, 4},  {33, 4, 4, 3, 1, 0, 0, 8}, {1, 9, 9, 3, 1, 2, 1, 8},
        {12, 3, 3, 1, 1, 0, 2, 4}, {20, 11, 6, 3, 2, 0, 0, 8}, {8, 12, 10, 9, 1, 4, 1, 8},
        {6, 3, 3, 5, 2, 4, 0, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rtm *t = rtm_new(1, cases[i].h, cases[i].w);
        int x = rtm_conv(t, QM_INPUT, cases[i].c, 1, 1, 0, 0, 8, 0);
        int d = rtm_depthwise(t, x, cases[i].k, cases[i].s, cases[i].pad, cases[i].act,
                              cases[i].bits);
        rtm_finish(t, 500 + i);
        if (i % 3 == 2) /* zero points at the ends: padding and clamps at the edges */
            t->m.ops[x].out.zero = i % 2 ? 127 : -128;
        const qm_model *m = &t->m;
        const rtb_options opt = {RT_TARGET_CORTEX_M4, RTB_SPARSE_AUTO, 0, RT_ISA_AUTO, 0, 0};
        rtb_image img;
        nn_error err;
        cr_assert_eq(rtb_build(&img, m, &opt, &err), NN_OK, "%s", err.msg);
        const uint8_t *r = img.data + rt_rd32(img.data + RT_H_OPS_OFF) + RT_OP_BYTES * d;
        cr_assert_eq(r[RT_O_TYPE], RT_OP_DEPTHWISE);
        const rt_window win = {r[RT_O_KERNEL], r[RT_O_STRIDE], r[RT_O_PAD]};
        const rt_dims in = {(uint16_t)rt_rd16(r + RT_O_IN_H), (uint16_t)rt_rd16(r + RT_O_IN_W),
                            (uint16_t)rt_rd16(r + RT_O_IN_C)};
        const rt_dims out = {(uint16_t)rt_rd16(r + RT_O_OUT_H), (uint16_t)rt_rd16(r + RT_O_OUT_W),
                             (uint16_t)rt_rd16(r + RT_O_OUT_C)};
        const uint32_t O = out.c, q_off = rt_rd32(r + RT_O_Q_OFF);
        const rt_quant q = {(const int32_t *)(const void *)(img.data + q_off),
                            (const int32_t *)(const void *)(img.data + q_off + 4 * O),
                            img.data + q_off + 8 * O, (int8_t)r[RT_O_OUT_ZERO],
                            (int8_t)r[RT_O_LO], (int8_t)r[RT_O_HI]};
        const rt_weights w = {img.data + rt_rd32(r + RT_O_W_OFF), rt_rd32(r + RT_O_W_BYTES),
                              r[RT_O_WFMT]};
        uint8_t *pix = rtm_pixels(m, 1, 60 + i);
        int8_t *s = malloc(qm_ref_scratch_bytes(m));
        const size_t ysz = (size_t)out.h * out.w * out.c;
        int8_t *y0 = malloc(ysz), *y1 = malloc(ysz);
        cr_assert(s && y0 && y1);
        qm_ref_run(m, pix, s);
        const int8_t *xin = qm_ref_tensor(m, s, x);
        const rt_context ctx = {NULL, 0, RT_ISA_C};
        cr_assert_eq(rt_depthwise(&ctx, &win, (int8_t)r[RT_O_IN_ZERO], &q, &in, xin, &w, &out, y0),
                     RT_OK);
        rt_depthwise_dsp(&win, (int8_t)r[RT_O_IN_ZERO], &q, &in, xin, (const int8_t *)w.data, &out,
                         y1);
        char what[48];
        snprintf(what, sizeof what, "depthwise case %zu", i);
        rtm_same(y0, qm_ref_tensor(m, s, d), ysz, what);
        rtm_same(y1, y0, ysz, what);
        free(pix), free(s), free(y0), free(y1);
        rtb_free(&img);
        rtm_free(t);
    }
}

/* rt_widen_s4: S4 rows of every K shape (a multiple of 8, an odd word
 * count, a last word half padding) to S8 rows equal to the nibbles, the
 * padding zero; the scratch rule counts those rows. */
Test(runtime_dsp, widen_s4)
{
    nn_rng r;
    nn_rng_seed(&r, 5);
    const uint32_t ks[] = {8, 12, 27, 36, 72, 117, 144, 9 * 64};
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (uint32_t O = 1; O <= 3; O += 2) {
            const uint32_t K = ks[ki], words = (K + 7) / 8, row = rt_s8_row_bytes(K);
            uint8_t w4[4 * 72 * 3];
            int8_t w8[4 * 144 * 3 + 8];
            memset(w4, 0, sizeof w4);
            int8_t want[4 * 144 * 3];
            memset(want, 0, sizeof want);
            for (uint32_t o = 0; o < O; o++)
                for (uint32_t t = 0; t < K; t++) { /* -8 and 7 among them */
                    const int v = t % 5 == 0 ? -8 : t % 7 == 0 ? 7 : (int)nn_rng_below(&r, 16) - 8;
                    w4[o * 4 * words + t / 2] |= (uint8_t)((v & 15) << (4 * (t & 1)));
                    want[o * row + t] = (int8_t)v;
                }
            memset(w8, 0x5a, sizeof w8);
            rt_widen_s4(w4, K, O, w8);
            for (uint32_t i = 0; i < O * row; i++)
                cr_assert_eq(w8[i], want[i], "K %u, O %u, byte %u: %d, want %d", K, O, i, w8[i],
                             want[i]);
            cr_assert_eq(w8[O * row], 0x5a, "K %u: wrote past the rows", K);
            const rt_window win = {1, 1, 0};
            const rt_dims in = {4, 4, (uint16_t)K}, out = {4, 4, (uint16_t)O};
            cr_assert_eq(rt_conv2d_widen_bytes(&win, &in, &out), (O * row + 7) / 8 * 8);
        }
}

/* rt_conv_s4_widen_fits: the widened rows plus the S8 body's minimum
 * (fused: with its stage), not a byte less. */
Test(runtime_dsp, widen_fits)
{
    const rt_window win = {3, 2, 1};
    const rt_dims in = {16, 16, 16}, out = {8, 8, 32};
    for (int fused = 0; fused <= 1; fused++) {
        const uint32_t need =
            rt_conv2d_widen_bytes(&win, &in, &out) +
            (fused ? rt_conv2d_add_scratch_bytes(&win, &in, &out, RT_WF_S8)
                   : rt_conv2d_scratch_bytes(&win, &in, &out, RT_WF_S8));
        cr_assert_eq(rt_conv2d_widen_bytes(&win, &in, &out), 32 * 144);
        cr_assert(rt_conv_s4_widen_fits(&win, &in, &out, fused, need));
        cr_assert_not(rt_conv_s4_widen_fits(&win, &in, &out, fused, need - 1));
    }
}

/* rt_gap_mean beyond 32 bits (more than 2^24 pixels): the shift-and-subtract
 * division rounds half away from zero like the 32-bit one. */
Test(runtime_dsp, gap_mean_of_a_64_bit_sum)
{
    const uint32_t hw = 50000000u; /* sums up to 255 hw > 2^32 */
    const int64_t s = (int64_t)100 * hw;
    cr_assert_eq(rt_gap_mean(s, hw, 0, -128), 100);
    cr_assert_eq(rt_gap_mean(s + hw / 2 - 1, hw, 0, -128), 100);
    cr_assert_eq(rt_gap_mean(s + hw / 2, hw, 0, -128), 101);
    cr_assert_eq(rt_gap_mean(-s - hw / 2, hw, 3, -128), -98);
    cr_assert_eq(rt_gap_mean((int64_t)255 * hw, hw, 0, -128), 127);
    cr_assert_eq(rt_gap_mean(-(int64_t)255 * hw, hw, 0, -100), -100);
}
