/* test_runtime.c - the freestanding runtime (runtime/) on deploy images
 * built by export/rt_build.c: bit for bit equal to the reference
 * interpreter (quantize/qref.c) and, for models beyond the accumulator
 * bound, to the host's image run by the C bodies, for every op, weight
 * format and target, on awkward shapes, every sparsity, extreme
 * quantization parameters and accumulators at the int32 limits; the image
 * validator against every truncation and single-byte mutation (with and
 * without a repaired CRC: a clear status, never an access outside the
 * image or the arena); the arena planner; argument errors. */
#include <criterion/criterion.h>
#include <math.h>

#include "export/rt_plan.h"
#include "libnn/nn_io.h"
#include "qgolden.h"
#include "rt_models.h"

static const rtb_sparse POLICIES[] = {RTB_SPARSE_AUTO, RTB_SPARSE_NEVER, RTB_SPARSE_ALWAYS};
static const int TARGETS[] = {RT_TARGET_GENERIC, RT_TARGET_CORTEX_M4, RT_TARGET_CORTEX_M0PLUS};

/* Every policy and target against qref (against the host's image on the C
 * bodies when overflow is tested) on n random images, the arena poisoned
 * differently each time. */
static void check_model(const qm_model *m, int n, uint64_t seed, const char *what, int overflow)
{
    uint8_t *pix = rtm_pixels(m, n, seed);
    int8_t *want = overflow ? rtm_host(m, pix, n) : rtm_qref(m, pix, n);
    /* and the host's target (x86-64 on x86-64 builds: rt_run's best ISA) */
    const int targets[4] = {TARGETS[0], TARGETS[1], TARGETS[2], rtb_host_target()};
    for (size_t p = 0; p < sizeof POLICIES / sizeof *POLICIES; p++)
        for (size_t t = 0; t < 4; t++) {
            const rtb_options opt = {targets[t], POLICIES[p], overflow, RT_ISA_AUTO, 0, 0};
            size_t bytes;
            uint8_t *im = rtm_image(m, &opt, &bytes, NULL);
            int8_t *got = rtm_run(im, bytes, pix, n, (int)(p * 3 + t) * 37);
            char msg[200];
            snprintf(msg, sizeof msg, "%s, policy %d, target %s", what, (int)POLICIES[p],
                     rtb_target_name(targets[t]));
            rtm_same(got, want, (size_t)n * m->num_classes, msg);
            free(got);
            free(im);
        }
    free(pix);
    free(want);
}

/* check_model on t's model, named "KIND K" ("conv case 3"); frees t. */
static void check_named(rtm *t, int n, uint64_t seed, const char *kind, int k)
{
    char what[64];
    snprintf(what, sizeof what, "%s %d", kind, k);
    check_model(&t->m, n, seed, what, 0);
    rtm_free(t);
}

/* The formats the builder chose for each weighted op of m under opt. */
static int formats_used(const qm_model *m, const rtb_options *opt)
{
    rtb_image img;
    nn_error err;
    cr_assert_eq(rtb_build(&img, m, opt, &err), NN_OK, "%s", err.msg);
    int mask = 0;
    for (int i = 0; i < img.n_ops; i++)
        mask |= 1 << img.ops[i].fmt;
    rtb_free(&img);
    return mask;
}

/* ---- ops ----------------------------------------------------------------------------- */

typedef struct {
    int c, h, w, oc, k, stride, pad, relu, bits;
    double sparsity;
} conv_case;

Test(runtime, conv2d_every_format)
{
    const conv_case cases[] = {
        {1, 5, 7, 3, 3, 1, 1, 0, 8, 0},       {3, 9, 8, 17, 3, 2, 0, 1, 8, 0.5},
        {5, 6, 6, 33, 5, 1, 2, 0, 8, 0.9},    {7, 4, 5, 65, 1, 1, 0, 1, 8, 0},
        {16, 8, 8, 16, 3, 1, 1, 1, 4, 0.6},   {2, 11, 3, 1, 3, 2, 2, 0, 8, 0.3},
        {4, 7, 7, 20, 5, 2, 1, 0, 4, 0.8},    {1, 28, 28, 32, 3, 1, 1, 1, 8, 0},
        {33, 5, 4, 9, 3, 1, 1, 0, 4, 0.97},   {3, 3, 3, 70, 3, 1, 2, 1, 8, 0.2},
        {12, 6, 9, 48, 2, 2, 0, 0, 4, 0.5},   {64, 3, 3, 130, 3, 1, 1, 1, 4, 0.7},
        {8, 6, 5, 20, 3, 2, 2, 0, 8, 0.95},   {4, 9, 7, 24, 3, 3, 2, 1, 4, 0.4},
        {20, 7, 6, 17, 5, 1, 2, 1, 4, 0.99},  {3, 9, 7, 10, 3, 1, 1, 0, 4, 1.0},
        {32, 14, 14, 24, 3, 1, 1, 1, 4, 0.66}, {1, 10, 9, 8, 3, 2, 0, 1, 4, 0},
        {1, 8, 9, 12, 5, 1, 2, 0, 8, 0.5},    {3, 5, 6, 9, 1, 1, 0, 1, 4, 0.1},
        {2, 1, 1, 5, 1, 1, 0, 0, 4, 0.2},     {2, 3, 40, 6, 3, 1, 1, 0, 4, 0.5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *cc = &cases[i];
        rtm *t = rtm_new(cc->c > 4 ? 4 : cc->c, cc->h, cc->w);
        int x = QM_INPUT;
        if (cc->c > 4) /* more channels than an image has: a 1x1 conv first */
            x = rtm_conv(t, x, cc->c, 1, 1, 0, 0, 8, 0);
        rtm_conv(t, x, cc->oc, cc->k, cc->stride, cc->pad, cc->relu, cc->bits, cc->sparsity);
        rtm_finish(t, 100 + i);
        check_named(t, 3, 7 + i, "conv case", (int)i);
    }
}

Test(runtime, conv2d_sp4_blocks_and_skips)
{
    /* wide rows (deltas beyond one entry, skip entries), many taps of
     * large weights (several blocks per channel), and small weights (one
     * block); all three kernels against the host */
    const int shapes[][6] = {{48, 5, 200, 4, 3, 1}, {64, 6, 30, 7, 3, 1}, {100, 4, 9, 3, 5, 2}};
    for (int i = 0; i < 3; i++) {
        for (int small = 0; small < 2; small++) {
            rtm *t = rtm_new(1, shapes[i][1], shapes[i][2]);
            int x = rtm_conv(t, QM_INPUT, shapes[i][0], 1, 1, 0, 1, 8, 0);
            rtm_conv(t, x, shapes[i][3], shapes[i][4], shapes[i][5], 1, 0, 4, 0.3);
            t->small_w[1] = small;
            rtm_finish(t, 300 + i * 2 + small);
            const rtb_options opt = {RT_TARGET_CORTEX_M4, RTB_SPARSE_ALWAYS, 0, RT_ISA_AUTO, 0, 0};
            cr_assert(formats_used(&t->m, &opt) & (1 << RT_WF_SP4), "shape %d: SP4 not used", i);
            char what[64];
            snprintf(what, sizeof what, "sp4 shape %d small %d", i, small);
            check_model(&t->m, 2, 11 + i, what, 0);
            rtm_free(t);
        }
    }
}

Test(runtime, dense_every_format)
{
    const struct {
        int c, h, w, oc, relu, bits;
        double sp;
    } cases[] = {{1, 1, 7, 3, 0, 8, 0},     {3, 5, 5, 10, 1, 8, 0.5},  {2, 9, 9, 17, 0, 4, 0.9},
                 {4, 30, 40, 9, 1, 4, 0.98}, {1, 1, 1, 1, 0, 8, 0},     {4, 8, 8, 64, 1, 8, 0.95},
                 {3, 7, 7, 33, 0, 4, 0.2},   {1, 70, 70, 5, 0, 4, 0.999}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rtm *t = rtm_new(cases[i].c, cases[i].h, cases[i].w);
        int x = rtm_dense(t, QM_INPUT, cases[i].oc, cases[i].relu, cases[i].bits, cases[i].sp);
        rtm_dense(t, x, 7, 0, cases[i].bits, cases[i].sp / 2);
        rtm_finish(t, 500 + i);
        check_named(t, 3, 21 + i, "dense case", (int)i);
    }
}

Test(runtime, pools_add_and_graphs)
{
    rtm *t = rtm_new(3, 12, 11);
    int a = rtm_conv(t, QM_INPUT, 10, 3, 1, 1, 1, 8, 0);
    int b = rtm_conv(t, a, 10, 3, 1, 1, 0, 4, 0.6);
    int s = rtm_add(t, a, b, 1);             /* residual: a lives across b   */
    int s2 = rtm_add(t, s, s, 0);            /* a + a                        */
    int mp = rtm_pool(t, QM_MAXPOOL, s2, 2, 2, 0);
    int ap = rtm_pool(t, QM_AVGPOOL, mp, 3, 1, 1);
    int c3 = rtm_conv(t, ap, 12, 2, 2, 0, 1, 4, 0.5);
    int g = rtm_pool(t, QM_GLOBAL_AVGPOOL, c3, 0, 0, 0);
    int d = rtm_dense(t, g, 9, 1, 8, 0.3);
    int e = rtm_add(t, d, d, 1);
    rtm_dense(t, e, 4, 0, 4, 0);
    rtm_finish(t, 42);
    check_model(&t->m, 4, 5, "mixed graph", 0);
    rtm_free(t);

    /* each op as the last one, so its output is what rt_run returns */
    for (int last = 0; last < 5; last++) {
        rtm *u = rtm_new(2, 9, 8);
        int c = rtm_conv(u, QM_INPUT, 6, 3, 1, 1, last & 1, 8, 0);
        switch (last) {
        case 0: rtm_pool(u, QM_MAXPOOL, c, 3, 2, 1); break;
        case 1: rtm_pool(u, QM_AVGPOOL, c, 2, 1, 0); break;
        case 2: rtm_pool(u, QM_GLOBAL_AVGPOOL, c, 0, 0, 1); break;
        case 3: rtm_add(u, c, QM_INPUT == c ? c : c, 1); break;
        default: rtm_add(u, c, rtm_conv(u, c, 6, 1, 1, 0, 0, 4, 0.5), 0); break;
        }
        rtm_finish(u, 60 + last);
        check_named(u, 3, 70 + last, "last op", last);
    }
}

/* The MNIST recipe's shapes at reduced width, pruned like the recipe. */
Test(runtime, mnist_shaped)
{
    rtm *t = rtm_mnist(8, 16, 64, (const int[6]){8, 4, 4, 4, 4, 4},
                       (const double[6]){0, 0.62, 0.66, 0.77, 0.98, 0.5}, 7);
    check_model(&t->m, 4, 9, "mnist-shaped", 0);
    /* the cortex-m4 image uses the sparse formats */
    const rtb_options opt = {RT_TARGET_CORTEX_M4, RTB_SPARSE_AUTO, 0, RT_ISA_AUTO, 0, 0};
    int f = formats_used(&t->m, &opt);
    cr_assert(f & (1 << RT_WF_SP4) && f & (1 << RT_WF_S8), "formats 0x%x", f);
    rtm_free(t);
}

/* ---- extreme quantization --------------------------------------------------------------- */

Test(runtime, extreme_parameters)
{
    const int32_t mults[] = {1 << 30, 0x7fffffff, 1610612736, 1 << 30};
    const int shifts[] = {1, 20, 31, 32, 33, 40, 54, 62};
    const int zeros[] = {-128, 127, 0, -1};
    for (int v = 0; v < 8; v++) {
        rtm *t = rtm_new(2, 7, 6);
        int a = rtm_conv(t, QM_INPUT, 5, 3, 1, 1, v & 1, v & 2 ? 4 : 8, v & 4 ? 0.5 : 0);
        int b = rtm_conv(t, a, 6, 3, 2, 1, 1, 4, 0.4);
        rtm_dense(t, b, 5, v & 1, 8, 0.3);
        rtm_finish(t, 900 + v);
        qm_model *m = &t->m;
        m->in.zero = zeros[v % 4];
        m->ops[0].out.zero = zeros[(v + 1) % 4];
        m->ops[1].out.zero = zeros[(v + 2) % 4];
        for (int i = 0; i < m->n_ops; i++)
            for (int o = 0; o < m->ops[i].out_c; o++) {
                m->ops[i].mult[o] = mults[(o + v) % 4];
                m->ops[i].shift[o] = (int8_t)shifts[(o + i + v) % 8];
            }
        /* ties: acc * mult exactly half way (mult 2^30, shift 31: acc / 2) */
        m->ops[2].mult[0] = 1 << 30, m->ops[2].shift[0] = 31;
        char what[32];
        snprintf(what, sizeof what, "extremes %d", v);
        check_model(m, 5, 31 + v, what, 0);
        rtm_free(t);
    }
}

Test(runtime, accumulators_at_int32_limits)
{
    /* biases that put the accumulator at INT32_MAX / INT32_MIN and beyond:
     * the runtime wraps modulo 2^32 in every body and layout */
    for (int v = 0; v < 4; v++) {
        rtm *t = rtm_new(1, 5, 5);
        int a = rtm_conv(t, QM_INPUT, 4, 3, 1, 1, 0, 8, 0.5);
        rtm_dense(t, a, 6, 0, v & 1 ? 4 : 8, 0.5);
        rtm_finish(t, 77 + v);
        qm_model *m = &t->m;
        for (int i = 0; i < m->n_ops; i++)
            for (int o = 0; o < m->ops[i].out_c; o++) {
                m->ops[i].bias[o] = o % 2 ? INT32_MAX - 100 * o : INT32_MIN + 100 * o;
                m->ops[i].mult[o] = 0x7fffffff, m->ops[i].shift[o] = 62;
            }
        check_model(m, 4, 3 + v, "int32 limits", 1);
        rtm_free(t);
    }
}

/* ---- the golden model ---------------------------------------------------------------------- */

Test(runtime, golden_model)
{
    qm_model m;
    golden_model(&m);
    uint8_t px[32];
    golden_pixels(px);
    for (size_t p = 0; p < 3; p++) {
        const rtb_options opt = {RT_TARGET_CORTEX_M4, POLICIES[p], 0, RT_ISA_AUTO, 0, 0};
        size_t bytes;
        uint8_t *im = rtm_image(&m, &opt, &bytes, NULL);
        int8_t *got = rtm_run(im, bytes, px, 1, 0x5a);
        rtm_same(got, gold_t6, 2, "golden logits");
        free(got);
        free(im);
    }
    qm_model_free(&m);
}

/* ---- the validator --------------------------------------------------------------------------- */

/* A small model using every op and weight format. */
static rtm *every_format_model(void)
{
    rtm *t = rtm_new(2, 6, 5);
    int a = rtm_conv(t, QM_INPUT, 4, 3, 1, 1, 1, 8, 0);        /* S8  */
    int b = rtm_conv(t, a, 4, 3, 1, 1, 1, 4, 0.6);              /* SP4 */
    int c = rtm_add(t, a, b, 0);
    int d = rtm_conv(t, c, 5, 3, 2, 1, 1, 8, 0.9);              /* SP8 */
    int e = rtm_pool(t, QM_MAXPOOL, d, 2, 1, 0);
    int f = rtm_pool(t, QM_AVGPOOL, e, 1, 1, 0);
    int g = rtm_conv(t, f, 6, 1, 1, 0, 1, 4, 0);                /* S4  */
    int h = rtm_pool(t, QM_GLOBAL_AVGPOOL, g, 0, 0, 0);
    int i = rtm_dense(t, h, 8, 1, 4, 0.7);                      /* SP4 */
    int j = rtm_dense(t, i, 6, 1, 8, 0.8);                      /* SP8 */
    int k = rtm_dense(t, j, 5, 1, 4, 0);                        /* S4  */
    rtm_dense(t, k, 3, 0, 8, 0);                                /* S8  */
    rtm_finish(t, 1234);
    return t;
}

static const rtb_options EVERY = {RT_TARGET_CORTEX_M4, RTB_SPARSE_AUTO, 0, RT_ISA_AUTO, 0, 0};

/* every_format_model's image (EVERY), n bytes, without the model. */
static uint8_t *every_format_image(size_t *n)
{
    rtm *t = every_format_model();
    uint8_t *im = rtm_image(&t->m, &EVERY, n, NULL);
    rtm_free(t);
    return im;
}

Test(runtime, every_format_model_uses_every_format)
{
    rtm *t = every_format_model();
    /* AUTO on this model picks S8 for the 8-bit 90% conv (DSP target): force
     * the sparse 8-bit conv with ALWAYS on a copy of the check below */
    int f = formats_used(&t->m, &EVERY) | formats_used(&t->m, &(rtb_options){0, RTB_SPARSE_ALWAYS, 0, RT_ISA_AUTO, 0, 0});
    cr_assert_eq(f & 0x1e, 0x1e, "formats 0x%x", f);
    check_model(&t->m, 3, 99, "every format", 0);
    rtm_free(t);
}

static void set_crc(uint8_t *im, size_t n)
{
    uint32_t c = nn_crc32(im + 16, n - 16);
    memcpy(im + RT_H_CRC, &c, 4);
}

/* Runs an accepted image once: must not touch memory outside the exactly
 * sized image and arena (ASan) and must return a status. */
static void run_accepted(const uint8_t *im, size_t n, const uint8_t *pix)
{
    rt_info info;
    if (rt_image_check(im, n, &info) != RT_OK)
        return;
    size_t ab = (info.arena_bytes + 7) & ~(size_t)7;
    uint8_t *arena = aligned_alloc(8, ab ? ab : 8);
    int8_t *logits = malloc(info.num_classes);
    cr_assert(arena && logits);
    uint8_t *px = malloc((size_t)info.in_c * info.in_h * info.in_w);
    cr_assert_not_null(px);
    for (size_t i = 0; i < (size_t)info.in_c * info.in_h * info.in_w; i++)
        px[i] = pix[i % 60];
    rt_status st = rt_run(im, arena, info.arena_bytes, px, logits);
    cr_assert(st == RT_OK || st == RT_E_UNSUPPORTED, "rt_run: status %d", st);
    free(px);
    free(logits);
    free(arena);
}

Test(runtime, validator_truncations)
{
    size_t n;
    uint8_t *im = every_format_image(&n);
    cr_assert_eq(rt_image_check(im, n, NULL), RT_OK);
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = aligned_alloc(8, len ? (len + 7) & ~(size_t)7 : 8);
        memcpy(cut, im, len);
        rt_info info;
        rt_status st = rt_image_check(cut, len, &info);
        cr_assert(st == RT_E_TRUNCATED, "length %zu of %zu: status %d (%s)", len, n, st,
                  rt_status_str(st));
        free(cut);
    }
    /* a buffer longer than the image is fine */
    uint8_t *big = aligned_alloc(8, n + 64);
    memcpy(big, im, n);
    cr_assert_eq(rt_image_check(big, n + 64, NULL), RT_OK);
    free(big);
    free(im);
}

Test(runtime, validator_mutations, .timeout = 600)
{
    rtm *t = every_format_model();
    size_t n;
    uint8_t *im = rtm_image(&t->m, &EVERY, &n, NULL);
    uint8_t *pix = rtm_pixels(&t->m, 1, 5);
    uint8_t *mut = aligned_alloc(8, n);
    const uint8_t masks[] = {0x01, 0x80, 0xff, 0x10};
    int accepted = 0, crc_caught = 0, field_caught = 0;
    for (size_t pos = 0; pos < n; pos++)
        for (size_t mi = 0; mi < sizeof masks; mi++) {
            memcpy(mut, im, n);
            mut[pos] ^= masks[mi];
            /* as is: the CRC (or an earlier header check) must catch it */
            rt_info info;
            rt_status st = rt_image_check(mut, n, &info);
            cr_assert_neq(st, RT_OK, "byte %zu ^ 0x%02x accepted with a stale CRC", pos, masks[mi]);
            crc_caught += st == RT_E_CRC;
            /* forged: CRC repaired; accepted or refused with a clear
             * status, and if accepted it must run within bounds */
            if (pos >= 16) {
                set_crc(mut, n);
                st = rt_image_check(mut, n, &info);
                cr_assert(st >= RT_OK && st <= RT_E_UNSUPPORTED, "status %d", st);
                if (st == RT_OK) {
                    accepted++;
                    run_accepted(mut, n, pix);
                } else {
                    field_caught++;
                    cr_assert(info.bad_offset < n || st == RT_E_TRUNCATED,
                              "byte %zu: bad offset %u", pos, info.bad_offset);
                }
            }
        }
    cr_log_info("validator: %zu bytes, %d CRC failures, %d forged refused, %d forged accepted",
                n, crc_caught, field_caught, accepted);
    cr_assert_gt(field_caught, 0);
    free(mut);
    free(pix);
    free(im);
    rtm_free(t);
}

Test(runtime, validator_header_errors)
{
    size_t n;
    uint8_t *im = every_format_image(&n);
    uint8_t *m = aligned_alloc(8, n + 8);
    cr_assert_eq(rt_image_check(NULL, n, NULL), RT_E_ARG);
    memcpy(m + 1, im, n - 1);
    cr_assert_eq(rt_image_check(m + 1, n, NULL), RT_E_ARG); /* misaligned */
    memcpy(m, im, n);
    m[0] ^= 1;
    cr_assert_eq(rt_image_check(m, n, NULL), RT_E_MAGIC);
    memcpy(m, im, n);
    m[RT_H_VERSION] = RT_VERSION + 1;
    cr_assert_eq(rt_image_check(m, n, NULL), RT_E_VERSION);
    m[RT_H_VERSION] = RT_VERSION_MIN - 1;
    cr_assert_eq(rt_image_check(m, n, NULL), RT_E_VERSION);
    memcpy(m, im, n);
    m[40] ^= 0x55;
    cr_assert_eq(rt_image_check(m, n, NULL), RT_E_CRC);
    memcpy(m, im, n);
    m[RT_H_N_OPS] = 0, m[RT_H_N_OPS + 1] = 0;
    set_crc(m, n);
    rt_info info;
    cr_assert_eq(rt_image_check(m, n, &info), RT_E_FORMAT);
    cr_assert_eq(info.bad_offset, RT_H_N_OPS);
    /* an image that needs more arena than given */
    memcpy(m, im, n);
    cr_assert_eq(rt_image_check(m, n, &info), RT_OK);
    uint8_t *arena = aligned_alloc(8, info.arena_bytes + 8);
    uint8_t px[60] = {0};
    int8_t lg[8];
    cr_assert_eq(rt_run(m, arena, info.arena_bytes - 1, px, lg), RT_E_ARG);
    cr_assert_eq(rt_run(m, arena + 4, info.arena_bytes, px, lg), RT_E_ARG);
    cr_assert_eq(rt_run(m, arena, info.arena_bytes, NULL, lg), RT_E_ARG);
    cr_assert_eq(rt_run(m, arena, info.arena_bytes, px, NULL), RT_E_ARG);
    cr_assert_eq(rt_run(m, arena, info.arena_bytes, px, lg), RT_OK);
    cr_assert_str_eq(rt_status_str(RT_E_CRC), "image checksum mismatch");
    free(arena);
    free(m);
    free(im);
}

/* The input table as rules (RT_HF_INPUT_RULE): an affine table (three
 * channels, slopes below, at and above one, clamped at both ends) becomes
 * in_c rules, 248 bytes a channel smaller, and runs exactly as the table on
 * every target; a table that is not affine stays a table; the validator
 * refuses a rule out of its range and an unknown header flag. */
Test(runtime, input_rules)
{
    rtm *t = rtm_new(3, 5, 5);
    int x = rtm_conv(t, QM_INPUT, 8, 3, 1, 1, 1, 8, 0);
    rtm_dense(t, x, 6, 0, 8, 0);
    rtm_finish(t, 21);
    qm_model *m = &t->m;
    const rtb_options opt = {RT_TARGET_CORTEX_M4, RTB_SPARSE_AUTO, 0, RT_ISA_AUTO, 0, 0};
    size_t table_bytes, rule_bytes;
    uint8_t *im = rtm_image(m, &opt, &table_bytes, NULL); /* random: a table */
    cr_assert_eq(im[RT_H_FLAGS], 0);
    free(im);
    const double slope[3] = {0.93, 1.0, 1.37}, off[3] = {-131.2, -128, -170.5};
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 256; p++) {
            const long v = lround(slope[c] * p + off[c]);
            m->input_lut[c * 256 + p] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
    im = rtm_image(m, &opt, &rule_bytes, NULL);
    cr_assert_eq(im[RT_H_FLAGS], RT_HF_INPUT_RULE);
    cr_assert_eq(table_bytes - rule_bytes, 3 * 248, "%zu -> %zu bytes", table_bytes, rule_bytes);
    check_model(m, 6, 5, "input rules", 0);
    /* the validator: |a| < 2^22, |b| < 2^30, flags other than bit 0 */
    const uint32_t lut = (uint32_t)im[RT_H_LUT_OFF] | (uint32_t)im[RT_H_LUT_OFF + 1] << 8;
    uint8_t *mut = aligned_alloc(8, rule_bytes);
    const struct {
        uint32_t at, v, bad;
    } cases[] = {{lut + 8, 1u << 22, lut + 8}, {lut + 8, (uint32_t)-(1 << 22), lut + 8},
                 {lut + 20, 1u << 30, lut + 16}, {RT_H_FLAGS, 3, RT_H_FLAGS}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(mut, im, rule_bytes);
        if (cases[i].at == RT_H_FLAGS)
            mut[RT_H_FLAGS] = (uint8_t)cases[i].v;
        else
            for (int b = 0; b < 4; b++)
                mut[cases[i].at + b] = (uint8_t)(cases[i].v >> (8 * b));
        set_crc(mut, rule_bytes);
        rt_info info;
        cr_assert_eq(rt_image_check(mut, rule_bytes, &info), RT_E_FORMAT, "case %zu", i);
        cr_assert_eq(info.bad_offset, cases[i].bad, "case %zu: offset %u", i, info.bad_offset);
    }
    free(mut);
    free(im);
    rtm_free(t);
}

/* ---- the arena planner ------------------------------------------------------------------------- */

static uint64_t arena_of(const qm_model *m, const rtb_options *opt, uint64_t *lb)
{
    rtb_image img;
    nn_error err;
    cr_assert_eq(rtb_build(&img, m, opt, &err), NN_OK, "%s", err.msg);
    uint64_t a = img.arena_bytes;
    *lb = img.arena_lower_bound;
    rtb_free(&img);
    return a;
}

Test(runtime, arena_chain_and_bounds)
{
    /* a chain of same-shape convs: an output may start only a row below
     * the input it overwrites, so a chain drifts down a row per conv until
     * a jump to a disjoint slot is cheaper: the arena is bounded by two
     * tensors plus the panel however long the chain, and a short chain
     * is within a row (256 bytes) per conv of the per-op lower bound */
    for (int len = 3; len <= 30; len = len == 3 ? 10 : len == 10 ? 30 : 31) {
        rtm *t = rtm_conv_chain(3, 16, len, 16, 4, 0.5, 10, 5);
        uint64_t lb, a = arena_of(&t->m, &EVERY, &lb);
        cr_assert_geq(a, lb);
        cr_assert_leq(a, 2 * 4096 + 3 * 16 * 18 * 4, "chain of %d: arena %llu, lower bound %llu",
                      len, (unsigned long long)a, (unsigned long long)lb);
        if (len == 3)
            cr_assert_leq(a, lb + 3 * 256, "arena %llu, lower bound %llu", (unsigned long long)a,
                          (unsigned long long)lb);
        rtm_free(t);
    }

    /* the MNIST recipe's shapes: the conv output overlaps its input, so
     * the arena is far below the sum of a layer's input and output */
    rtm *t = rtm_new(1, 28, 28);
    int x = rtm_conv(t, QM_INPUT, 32, 3, 1, 1, 1, 8, 0);
    x = rtm_conv(t, x, 32, 3, 1, 1, 1, 4, 0.62);
    x = rtm_pool(t, QM_MAXPOOL, x, 2, 2, 0);
    x = rtm_conv(t, x, 64, 3, 1, 1, 1, 4, 0.66);
    x = rtm_conv(t, x, 64, 3, 1, 1, 1, 4, 0.77);
    x = rtm_pool(t, QM_MAXPOOL, x, 2, 2, 0);
    x = rtm_dense(t, x, 256, 1, 4, 0.98);
    rtm_dense(t, x, 10, 0, 4, 0.5);
    rtm_finish(t, 8);
    uint64_t lb, a = arena_of(&t->m, &EVERY, &lb);
    cr_log_info("mnist-shaped arena %llu bytes, lower bound %llu", (unsigned long long)a,
                (unsigned long long)lb);
    cr_assert_lt(a, 28 * 28 * 32 * 2, "arena %llu", (unsigned long long)a);
    cr_assert_leq(a, lb + 64);
    check_model(&t->m, 2, 3, "mnist recipe shapes", 0);
    rtm_free(t);
}

Test(runtime, plan_rules)
{
    /* a conv 3x3 pad 1 on rows of 100 bytes, row by row: output row 1 is
     * written while input row 0 is still read, so two rows of slack */
    cr_assert_eq(rt_plan_delta_rows(10, 10, 1, 1, 1, 100, 100), -200);
    /* pairs: rows 0-1 are written after reading up to row 2; the next pair
     * starts at row 1 */
    cr_assert_eq(rt_plan_delta_rows(10, 10, 1, 1, 2, 100, 100), -100);
    /* a 2x2/2 pool halving rows of 200 bytes into 50-byte rows */
    cr_assert_eq(rt_plan_delta_rows(5, 10, 2, 0, 1, 200, 50), -50);
    /* a single pair reads everything before writing */
    cr_assert_gt(rt_plan_delta_rows(2, 4, 1, 1, 2, 10, 10), 1000000);
}
