/* test_rt_host.c - the runtime as the host runs it (runtime/rt.h on images
 * built by export/rt_build.h, export/rt_host.h): every kernel body (the
 * portable C one, AVX2, AVX-512 VNNI) on every layout the host and the
 * devices use, against a naive reference written here directly from
 * qmodel.h's rules (HWC tensors, int64 accumulators checked to fit int32,
 * rshift_round as a floor division, round-half-away means), on small
 * random models with awkward shapes and extreme quantization parameters.
 * Every ISA this CPU has must match the reference bit for bit; the arena is
 * guarded and poisoned; images do not depend on each other; sparse equals
 * dense; errors are reported; the evaluation harness agrees with the
 * reference.
 *
 * The kernel tests are ISA_TESTs: one test per ISA, skipped (the Criterion
 * way, so the run's summary counts it) when this CPU lacks the ISA. To see
 * that path on a CPU that has them, name ISAs to treat as missing:
 *     IOTCNN_TEST_DISABLE_ISA=avx512 make test      (a name or its prefix;
 *     several separated by commas, e.g. avx2,avx512-vnni) */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/qmodel.h"
#include "export/rt_build.h"
#include "export/rt_host.h"
#include "isa_env.h"
#include "libnn/nn_rng.h"
#include "runtime/rt.h"
#include "runtime/rt_image.h"
#include "rt_models.h"

/* ---- reference --------------------------------------------------------------------- */

/* floor(v / 2^s) without relying on >> of negative numbers. */
static int64_t floor_shift(int64_t v, int s)
{
    int64_t d = (int64_t)1 << s;
    int64_t q = v / d;
    return (v % d != 0 && v < 0) ? q - 1 : q;
}

static int8_t ref_clamp(int64_t y, int64_t lo, int64_t hi)
{
    return (int8_t)(y < lo ? lo : y > hi ? hi : y);
}

/* rshift_round(acc * mult, shift), then zero and clamp (qmodel.h). */
static int8_t ref_requant(int64_t acc, int32_t mult, int shift, int32_t zero, int32_t lo,
                          int32_t hi)
{
    cr_assert(acc >= INT32_MIN && acc <= INT32_MAX, "reference accumulator %lld leaves int32",
              (long long)acc);
    int64_t v = floor_shift(acc * mult + ((int64_t)1 << (shift - 1)), shift);
    return ref_clamp(zero + v, lo, hi);
}

/* zero + round_half_away(sum / n). */
static int8_t ref_mean(int64_t sum, int64_t n, int32_t zero, int32_t lo, int32_t hi)
{
    int64_t q = sum / n, rem = sum % n; /* truncating */
    if (2 * (rem < 0 ? -rem : rem) >= n)
        q += sum < 0 ? -1 : 1;
    return ref_clamp(zero + q, lo, hi);
}

/* The top of the clamp: 127, or for a fused ReLU6 the grid point of a
 * real 6, round(6 / scale) steps above the zero point (qmodel.h). */
static int32_t ref_hi(const qm_op *op)
{
    if (op->relu != QM_ACT_RELU6)
        return 127;
    int64_t top = op->out.zero + (int64_t)floor(6.0 / op->out.scale + 0.5);
    return top > 127 ? 127 : (int32_t)top;
}

/* One image: pixels (C, H, W) -> logits (num_classes). */
static void ref_image(const qm_model *m, const uint8_t *pix, int8_t *logits)
{
    int8_t *t[QM_MAX_OPS + 1];
    size_t hw = (size_t)m->in_h * m->in_w;
    t[0] = malloc(hw * m->in_c);
    cr_assert_not_null(t[0]);
    for (int y = 0; y < m->in_h; y++)
        for (int x = 0; x < m->in_w; x++)
            for (int c = 0; c < m->in_c; c++)
                t[0][((size_t)y * m->in_w + x) * m->in_c + c] =
                    m->input_lut[c * 256 + pix[((size_t)c * m->in_h + y) * m->in_w + x]];
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        const int8_t *in = t[op->input + 1];
        const int32_t zin = rtm_zero(m, op->input), zout = op->out.zero;
        const int32_t lo = op->relu ? zout : -128, hi = ref_hi(op);
        const int C = op->in_c, H = op->in_h, W = op->in_w;
        int8_t *out = malloc((size_t)op->out_c * op->out_h * op->out_w);
        cr_assert_not_null(out);
        t[i + 1] = out;
        switch (op->type) {
        case QM_CONV2D: {
            const int k = op->kernel;
            for (int oy = 0; oy < op->out_h; oy++)
                for (int ox = 0; ox < op->out_w; ox++)
                    for (int o = 0; o < op->out_c; o++) {
                        int64_t acc = op->bias[o];
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++)
                                for (int c = 0; c < C; c++) {
                                    int iy = oy * op->stride - op->pad + ky;
                                    int ix = ox * op->stride - op->pad + kx;
                                    int32_t v = (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                                    ? zin
                                                    : in[((size_t)iy * W + ix) * C + c];
                                    size_t wi = (((size_t)o * k + ky) * k + kx) * C + c;
                                    acc += (int64_t)op->weights[wi] * (v - zin);
                                }
                        out[((size_t)oy * op->out_w + ox) * op->out_c + o] =
                            ref_requant(acc, op->mult[o], op->shift[o], zout, lo, hi);
                    }
            break;
        }
        case QM_DEPTHWISE: {
            const int k = op->kernel; /* w (c, k, k) */
            for (int oy = 0; oy < op->out_h; oy++)
                for (int ox = 0; ox < op->out_w; ox++)
                    for (int c = 0; c < C; c++) {
                        int64_t acc = op->bias[c];
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * op->stride - op->pad + ky;
                                int ix = ox * op->stride - op->pad + kx;
                                int32_t v = (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                                ? zin
                                                : in[((size_t)iy * W + ix) * C + c];
                                acc += (int64_t)op->weights[((size_t)c * k + ky) * k + kx] *
                                       (v - zin);
                            }
                        out[((size_t)oy * op->out_w + ox) * C + c] =
                            ref_requant(acc, op->mult[c], op->shift[c], zout, lo, hi);
                    }
            break;
        }
        case QM_DENSE: {
            size_t K = (size_t)C * H * W;
            for (int o = 0; o < op->out_c; o++) {
                int64_t acc = op->bias[o];
                for (size_t k = 0; k < K; k++)
                    acc += (int64_t)op->weights[o * K + k] * (in[k] - zin);
                out[o] = ref_requant(acc, op->mult[o], op->shift[o], zout, lo, hi);
            }
            break;
        }
        case QM_MAXPOOL:
        case QM_AVGPOOL:
            for (int oy = 0; oy < op->out_h; oy++)
                for (int ox = 0; ox < op->out_w; ox++)
                    for (int c = 0; c < C; c++) {
                        int best = -129;
                        int64_t sum = 0;
                        for (int ky = 0; ky < op->kernel; ky++)
                            for (int kx = 0; kx < op->kernel; kx++) {
                                size_t at = (size_t)(oy * op->stride + ky) * W;
                                int v = in[(at + ox * op->stride + kx) * C + c];
                                best = v > best ? v : best;
                                sum += v - zin;
                            }
                        int64_t n = (int64_t)op->kernel * op->kernel;
                        out[((size_t)oy * op->out_w + ox) * C + c] =
                            op->type == QM_MAXPOOL ? ref_clamp(best, lo, hi)
                                                   : ref_mean(sum, n, zin, lo, hi);
                    }
            break;
        case QM_GLOBAL_AVGPOOL:
            for (int c = 0; c < C; c++) {
                int64_t sum = 0;
                for (size_t p = 0; p < (size_t)H * W; p++)
                    sum += in[p * C + c] - zin;
                out[c] = ref_mean(sum, (int64_t)H * W, zin, lo, hi);
            }
            break;
        case QM_ADD: {
            const int8_t *b = t[op->input2 + 1];
            const int32_t zb = rtm_zero(m, op->input2);
            for (size_t j = 0; j < (size_t)C * H * W; j++) {
                int64_t v = (int64_t)(in[j] - zin) * op->add_mult[0] +
                            (int64_t)(b[j] - zb) * op->add_mult[1];
                v = floor_shift(v + ((int64_t)1 << (op->add_shift - 1)), op->add_shift);
                out[j] = ref_clamp(zout + v, lo, hi);
            }
            break;
        }
        }
    }
    memcpy(logits, t[m->n_ops], (size_t)m->num_classes);
    for (int i = 0; i <= m->n_ops; i++)
        free(t[i]);
}

/* ---- helpers ------------------------------------------------------------------------ */

static const rt_isa ALL_ISAS[] = {RT_ISA_C, RT_ISA_AVX2, RT_ISA_AVX512_VNNI};
#define N_ISAS 3

/* The ISA a test runs on; the test is skipped when this CPU lacks it. */
static rt_isa require_isa(rt_isa isa)
{
    if (!rt_isa_supported(isa))
        cr_skip_test("this CPU lacks %s: its kernels are not tested here", rt_isa_name(isa));
    if (test_isa_disabled(rt_isa_name(isa)))
        cr_skip_test("%s treated as missing (IOTCNN_TEST_DISABLE_ISA)", rt_isa_name(isa));
    return isa;
}

/* Test(rt_host, name) run once per ISA, the ISA in `isa`: three tests in
 * the summary, each skipped on a CPU without its ISA. */
#define ISA_TEST(name)                                                                       \
    ParameterizedTestParameters(rt_host, name)                                               \
    {                                                                                        \
        return cr_make_param_array(rt_isa, (rt_isa *)ALL_ISAS, N_ISAS);                      \
    }                                                                                        \
    static void name##_body(rt_isa isa);                                                     \
    ParameterizedTest(const rt_isa *isa_param, rt_host, name)                                \
    {                                                                                        \
        name##_body(require_isa(*isa_param));                                                \
    }                                                                                        \
    static void name##_body(rt_isa isa)

static int8_t *ref_batch(const qm_model *m, const uint8_t *pix, int n)
{
    int8_t *l = malloc((size_t)n * m->num_classes);
    cr_assert_not_null(l);
    size_t in_size = (size_t)m->in_c * m->in_h * m->in_w;
    for (int i = 0; i < n; i++)
        ref_image(m, pix + i * in_size, l + (size_t)i * m->num_classes);
    return l;
}

/* The image of m for opt (the tests build models beyond the accumulator
 * bound too: allow_overflow), checked. */
static rtb_image build_image(const qm_model *m, rtb_options opt)
{
    rtb_image img;
    nn_error err;
    opt.allow_overflow = 1;
    cr_assert_eq(rtb_build(&img, m, &opt, &err), NN_OK, "%s", err.msg);
    rt_info info;
    cr_assert_eq(rt_image_check(img.data, img.bytes, &info), RT_OK, "op %d offset %u",
                 info.bad_op, info.bad_offset);
    return img;
}

/* Runs n images (one arena, poisoned first) on a fresh image; returns
 * malloc'd logits. */
static int8_t *runtime_batch(const qm_model *m, const rtb_options *opt, const uint8_t *pix, int n)
{
    rtb_image img = build_image(m, *opt);
    const size_t in_size = (size_t)m->in_c * m->in_h * m->in_w, ab = img.arena_bytes + 8;
    void *arena = aligned_alloc(8, ab);
    int8_t *l = malloc((size_t)n * m->num_classes);
    cr_assert(arena && l);
    memset(arena, 0xA5, ab);
    for (int i = 0; i < n; i++)
        cr_assert_eq(rt_run_isa(img.data, arena, ab, pix + i * in_size, l + (size_t)i * m->num_classes,
                                opt->isa),
                     RT_OK);
    free(arena);
    rtb_free(&img);
    return l;
}

static void assert_same(const int8_t *got, const int8_t *want, size_t count, const char *what)
{
    for (size_t j = 0; j < count; j++)
        if (got[j] != want[j])
            cr_assert_fail("%s: value %zu is %d, the reference says %d", what, j, got[j], want[j]);
}

/* Image variant v: the host's layouts (x86-64: X8/X4) with the sparse
 * policy AUTO / NEVER / ALWAYS, or the generic (device) ones. */
static rtb_options image_variant(int v, rt_isa isa)
{
    const rtb_options o = {v == 3 ? RT_TARGET_GENERIC : rtb_host_target(),
                           v == 3 ? RTB_SPARSE_AUTO : (rtb_sparse)v, 0, isa, 0, 0};
    return o;
}

/* The ISA's bodies on every image variant against the reference on n
 * images. */
static void check_isa(rt_isa isa, const qm_model *m, int n, uint64_t seed, const char *what)
{
    uint8_t *pix = rtm_pixels(m, n, seed);
    int8_t *want = ref_batch(m, pix, n);
    for (int v = 0; v < 4; v++) {
        const rtb_options opt = image_variant(v, isa);
        int8_t *got = runtime_batch(m, &opt, pix, n);
        char msg[160];
        snprintf(msg, sizeof msg, "%s, %s, variant %d", what, rt_isa_name(isa), v);
        assert_same(got, want, (size_t)n * m->num_classes, msg);
        free(got);
    }
    free(pix);
    free(want);
}

/* The outputs must not be constant (a test whose outputs are all clamped
 * would prove little). */
static void assert_varied(const qm_model *m, int n, uint64_t seed)
{
    uint8_t *pix = rtm_pixels(m, n, seed);
    int8_t *l = ref_batch(m, pix, n);
    int distinct = 0, seen[256] = {0};
    for (size_t j = 0; j < (size_t)n * m->num_classes; j++)
        if (!seen[l[j] + 128]++)
            distinct++;
    cr_assert_geq(distinct, 4, "only %d distinct output values", distinct);
    free(pix);
    free(l);
}

/* ---- ops, one by one ------------------------------------------------------------------ */

typedef struct {
    int c, h, w, oc, k, stride, pad, relu, bits;
} conv_case;

ISA_TEST(conv2d_awkward_shapes)
{
    const conv_case cases[] = {
        {1, 5, 7, 3, 3, 1, 1, 0, 8},   {3, 9, 8, 17, 3, 2, 0, 1, 8},  {5, 6, 6, 33, 5, 1, 2, 0, 8},
        {7, 4, 5, 65, 1, 1, 0, 1, 8},  {16, 8, 8, 16, 3, 1, 1, 1, 4}, {2, 11, 3, 1, 3, 2, 2, 0, 8},
        {4, 7, 7, 20, 5, 2, 1, 0, 4},  {1, 28, 28, 32, 3, 1, 1, 1, 8}, {33, 5, 4, 9, 3, 1, 1, 0, 8},
        {3, 3, 3, 70, 3, 1, 2, 1, 8},  {12, 6, 9, 48, 2, 2, 0, 0, 8},
        {64, 3, 3, 130, 3, 1, 1, 1, 8},
        {8, 6, 5, 20, 3, 2, 2, 0, 8},  {4, 9, 7, 24, 3, 2, 2, 1, 8},  {20, 7, 6, 17, 5, 1, 2, 1, 4},
        /* kernel rows of a length AVX2 pads (to 2 values for 8-bit weights, 4 for 4-bit) */
        {3, 9, 7, 10, 3, 1, 1, 0, 4},  {5, 6, 7, 11, 5, 2, 2, 1, 4},  {1, 10, 9, 8, 3, 2, 0, 1, 4},
        {1, 8, 9, 12, 5, 1, 2, 0, 8},  {3, 5, 6, 9, 1, 1, 0, 1, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *cc = &cases[i];
        rtm *t = rtm_new(cc->c > 4 ? 4 : cc->c, cc->h, cc->w);
        int x = QM_INPUT;
        if (cc->c > 4) /* more input channels than an image has: a 1x1 conv first */
            x = rtm_conv(t, x, cc->c, 1, 1, 0, 0, 8, 0.0);
        rtm_conv(t, x, cc->oc, cc->k, cc->stride, cc->pad, cc->relu, cc->bits, 0.0);
        rtm_finish(t, 100 + i);
        char what[64];
        snprintf(what, sizeof what, "conv case %zu", i);
        assert_varied(&t->m, 2, 7 + i);
        check_isa(isa, &t->m, 3, 7 + i, what);
        rtm_free(t);
    }
}

/* Depthwise: channel counts around the AVX2 body's 16 (1, 3, 16, 17, 33,
 * 48), kernels 3 and 5, strides 1 and 2, padding 0 to 2, no activation,
 * ReLU and ReLU6 (hi inside the range), 8- and 4-bit weights; a 1x1 conv
 * first makes the channels. Every image variant against the reference. */
ISA_TEST(depthwise_awkward_shapes)
{
    const struct {
        int c, h, w, k, s, pad, act, bits;
    } cases[] = {
        {1, 5, 7, 3, 1, 1, 0, 8},   {3, 9, 8, 3, 2, 0, 1, 8},   {16, 6, 6, 5, 1, 2, 2, 8},
        {17, 7, 5, 3, 2, 1, 2, 8},  {33, 5, 4, 3, 1, 1, 0, 4},  {48, 8, 8, 5, 2, 2, 1, 8},
        {16, 3, 3, 3, 1, 2, 0, 8},  {20, 9, 7, 5, 2, 1, 2, 4},  {32, 4, 4, 1, 1, 0, 2, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rtm *t = rtm_new(cases[i].c > 4 ? 4 : cases[i].c, cases[i].h, cases[i].w);
        int x = QM_INPUT;
        if (cases[i].c > 4)
            x = rtm_conv(t, x, cases[i].c, 1, 1, 0, 0, 8, 0.0);
        rtm_depthwise(t, x, cases[i].k, cases[i].s, cases[i].pad, cases[i].act, cases[i].bits);
        rtm_finish(t, 300 + i);
        char what[64];
        snprintf(what, sizeof what, "depthwise case %zu", i);
        assert_varied(&t->m, 2, 30 + i);
        check_isa(isa, &t->m, 3, 30 + i, what);
        rtm_free(t);
    }
}

/* A MobileNet block: conv 1x1 (ReLU6) - depthwise 3x3 (ReLU6) - conv 1x1 -
 * add, then a ReLU6 on a dense head, through every layout. */
ISA_TEST(mobilenet_block_with_relu6)
{
    rtm *t = rtm_new(3, 8, 8);
    int a = rtm_conv(t, QM_INPUT, 24, 3, 1, 1, QM_ACT_RELU6, 8, 0.0);
    t->m.ops[a].out.scale = 0.08f;
    int b = rtm_conv(t, a, 48, 1, 1, 0, QM_ACT_RELU6, 8, 0.0);
    t->m.ops[b].out.scale = 0.08f;
    int c = rtm_depthwise(t, b, 3, 1, 1, QM_ACT_RELU6, 8);
    int d = rtm_conv(t, c, 24, 1, 1, 0, 0, 8, 0.0);
    int e = rtm_add(t, d, a, QM_ACT_RELU6);
    t->m.ops[e].out.scale = 0.08f;
    int f = rtm_depthwise(t, e, 5, 2, 2, QM_ACT_RELU, 4);
    int g = rtm_pool(t, QM_GLOBAL_AVGPOOL, f, 0, 0, 0);
    rtm_dense(t, g, 7, 0, 8, 0.0);
    rtm_finish(t, 77);
    assert_varied(&t->m, 3, 5);
    check_isa(isa, &t->m, 4, 5, "mobilenet block");
    rtm_free(t);
}

ISA_TEST(dense_after_conv_and_dense_chain)
{
    rtm *t = rtm_new(3, 7, 6);
    int a = rtm_conv(t, QM_INPUT, 10, 3, 2, 1, 1, 8, 0.0);
    int b = rtm_dense(t, a, 37, 1, 8, 0.0);
    int c = rtm_dense(t, b, 19, 0, 4, 0.0);
    rtm_dense(t, c, 5, 0, 8, 0.0);
    rtm_finish(t, 11);
    assert_varied(&t->m, 4, 3);
    check_isa(isa, &t->m, 5, 3, "conv-dense-dense-dense");
    rtm_free(t);
}

ISA_TEST(dense_on_input_and_odd_sizes)
{
    const int sizes[][4] = {{1, 1, 1, 1}, {2, 3, 5, 17}, {4, 4, 4, 64}, {3, 1, 13, 129}};
    for (int i = 0; i < 4; i++) {
        rtm *t = rtm_new(sizes[i][0], sizes[i][1], sizes[i][2]);
        rtm_dense(t, QM_INPUT, sizes[i][3], i & 1, i == 2 ? 4 : 8, 0.0);
        rtm_finish(t, 20 + i);
        check_isa(isa, &t->m, 6, 30 + i, "dense on the input");
        rtm_free(t);
    }
}

/* Ops after the first dense layer run on the whole batch, image by image
 * for the non-dense ones: a conv, an add, pools and a dense on batched
 * tensors. */
ISA_TEST(ops_after_the_first_dense_layer)
{
    rtm *t = rtm_new(2, 6, 6);
    int a = rtm_conv(t, QM_INPUT, 8, 3, 2, 1, 1, 8, 0.0);
    int d = rtm_dense(t, a, 12, 1, 8, 0.0);          /* 1x1x12 */
    int c = rtm_conv(t, d, 12, 1, 1, 0, 0, 4, 0.0);   /* a conv in the batched part */
    int e = rtm_add(t, c, d, 1);
    int m = rtm_pool(t, QM_MAXPOOL, e, 1, 1, 0);
    int g = rtm_pool(t, QM_GLOBAL_AVGPOOL, m, 0, 0, 0);
    int f = rtm_dense(t, g, 9, 0, 8, 0.0);
    rtm_add(t, f, f, 0);
    rtm_finish(t, 33);
    assert_varied(&t->m, 6, 7);
    check_isa(isa, &t->m, 6, 7, "ops after the first dense");
    check_isa(isa, &t->m, 1, 8, "ops after the first dense, one image");
    rtm_free(t);
}

ISA_TEST(pools)
{
    rtm *t = rtm_new(3, 13, 11);
    int a = rtm_conv(t, QM_INPUT, 21, 3, 1, 1, 0, 8, 0.0);
    int b = rtm_pool(t, QM_MAXPOOL, a, 2, 2, 0);
    int c = rtm_pool(t, QM_MAXPOOL, a, 3, 1, 1);
    int d = rtm_pool(t, QM_AVGPOOL, c, 3, 2, 0);
    int e = rtm_pool(t, QM_AVGPOOL, b, 2, 1, 1);
    int f = rtm_pool(t, QM_GLOBAL_AVGPOOL, d, 0, 0, 0);
    int g = rtm_pool(t, QM_GLOBAL_AVGPOOL, e, 0, 0, 1);
    rtm_add(t, f, g, 0);
    rtm_finish(t, 41);
    assert_varied(&t->m, 3, 5);
    check_isa(isa, &t->m, 3, 5, "pools");
    rtm_free(t);
}

Test(rt_host, avgpool_rounds_half_away_from_zero)
{
    /* 2x2 windows over a 2x8 image, identity table (q = pixel - 128) */
    rtm *t;
    qm_model *m;
    t = rtm_new(1, 2, 8);
    rtm_pool(t, QM_AVGPOOL, QM_INPUT, 2, 2, 0);
    rtm_finish(t, 2);
    m = &t->m;
    m->in.zero = 0;
    m->ops[0].out.zero = 0;
    /* identity table: q = pixel - 128 */
    for (int v = 0; v < 256; v++)
        m->input_lut[v] = (int8_t)(v - 128);
    /* 2x2 windows: sums 2 (0.5 -> 1), -2 (-0.5 -> -1), 6 (1.5 -> 2), -6 (-1.5 -> -2) */
    const int top[8] = {1, 1, -1, -1, 3, 3, -3, -3}, bottom[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t pix[16];
    for (int x = 0; x < 8; x++)
        pix[x] = (uint8_t)(top[x] + 128), pix[8 + x] = (uint8_t)(bottom[x] + 128);
    const int8_t want[4] = {1, -1, 2, -2};
    const rtb_options opt = {RT_TARGET_GENERIC, RTB_SPARSE_AUTO, 0, RT_ISA_C, 0, 0};
    int8_t *got = runtime_batch(m, &opt, pix, 1);
    for (int j = 0; j < 4; j++)
        cr_assert_eq(got[j], want[j], "mean %d: got %d, want %d", j, got[j], want[j]);
    int8_t ref[4];
    ref_image(m, pix, ref);
    assert_same(ref, want, 4, "reference");
    free(got);
    rtm_free(t);
}

ISA_TEST(add_with_relu_and_residual)
{
    rtm *t = rtm_new(2, 6, 5);
    int a = rtm_conv(t, QM_INPUT, 19, 3, 1, 1, 1, 8, 0.0);
    int b = rtm_conv(t, a, 19, 3, 1, 1, 1, 8, 0.0);
    int c = rtm_conv(t, b, 19, 3, 1, 1, 0, 8, 0.0);
    int d = rtm_add(t, c, a, 1);
    int e = rtm_add(t, d, d, 0); /* both operands the same tensor */
    int f = rtm_add(t, QM_INPUT, QM_INPUT, 1);
    int g = rtm_conv(t, f, 19, 1, 1, 0, 0, 8, 0.0);
    rtm_add(t, e, g, 0);
    rtm_finish(t, 51);
    assert_varied(&t->m, 3, 9);
    check_isa(isa, &t->m, 3, 9, "adds");
    rtm_free(t);
}

ISA_TEST(add_extreme_parameters)
{
    const int32_t mults[][2] = {{INT32_MAX, INT32_MAX}, {0, 1}, {INT32_MAX, 0}, {1 << 30, 3}};
    const int shifts[] = {1, 62, 31, 40};
    const int32_t zeros[] = {-128, 127};
    int n = 0;
    for (int mi = 0; mi < 4; mi++)
        for (int si = 0; si < 4; si++)
            for (int zi = 0; zi < 2; zi++) {
                rtm *t = rtm_new(3, 5, 7);
                int a = rtm_conv(t, QM_INPUT, 3, 3, 1, 1, 0, 8, 0.0);
                rtm_add(t, a, QM_INPUT, (si + zi) & 1); /* 105 elements: a masked tail */
                rtm_finish(t, 200 + n);
                qm_model *m = &t->m;
                qm_op *op = &m->ops[1];
                op->add_mult[0] = mults[mi][0], op->add_mult[1] = mults[mi][1];
                op->add_shift = shifts[si];
                op->out.zero = zeros[zi];
                m->ops[0].out.zero = zeros[1 - zi];
                m->in.zero = zeros[zi];
                nn_error err;
                cr_assert_eq(qm_model_validate(m, &err), NN_OK, "%s", err.msg);
                check_isa(isa, m, 2, 300 + n, "add, extreme parameters");
                rtm_free(t);
                n++;
            }
}

/* ---- extreme parameters ---------------------------------------------------------------- */

ISA_TEST(extreme_zero_points_multipliers_and_shifts)
{
    const int32_t zeros[] = {-128, 127};
    const int32_t mults[] = {1 << 30, INT32_MAX};
    /* 32 and 62 keep every shift of the layer >= 32, which AVX2 requantizes
     * in 32-bit lanes; the others take its 64-bit rule */
    const int shifts[] = {1, 62, 20, 31, 32};
    int n = 0;
    for (int zi = 0; zi < 2; zi++)
        for (int zo = 0; zo < 2; zo++)
            for (int mi = 0; mi < 2; mi++)
                for (int si = 0; si < 5; si++) {
                    rtm *t = rtm_new(3, 5, 6);
                    int a = rtm_conv(t, QM_INPUT, 18, 3, 1, 1, si & 1, 8, 0.0);
                    rtm_dense(t, a, 7, 0, 8, 0.0);
                    rtm_finish(t, 60 + n);
                    qm_model *m = &t->m;
                    m->in.zero = zeros[zi];
                    m->ops[0].out.zero = zeros[zo];
                    m->ops[1].out.zero = zeros[1 - zo];
                    for (int k = 0; k < 2; k++)
                        for (int o = 0; o < m->ops[k].out_c; o++) {
                            /* every other channel extreme, the others as built */
                            if (o % 2 == 0) {
                                m->ops[k].mult[o] = mults[mi];
                                m->ops[k].shift[o] = (int8_t)shifts[si];
                            }
                        }
                    nn_error err;
                    cr_assert_eq(qm_model_validate(m, &err), NN_OK, "%s", err.msg);
                    check_isa(isa, m, 2, 70 + n, "extreme parameters");
                    rtm_free(t);
                    n++;
                }
}

/* Multipliers 1/2, 1/4, 1/8 (mult 2^30, shift 31..33), then 1/4, 1/8,
 * 1/16 (shift 32..34: all >= 32, AVX2's 32-bit rule) on small
 * accumulators: many exact ties, which rshift_round sends up (-2.5 -> -2,
 * 2.5 -> 3). */
static void ties_at_shifts(rt_isa isa, int base)
{
    rtm *t = rtm_new(1, 2, 3);
    rtm_dense(t, QM_INPUT, 45, 0, 4, 0.0);
    rtm_finish(t, 12);
    qm_model *m = &t->m;
    m->in.zero = 0;
    for (int v = 0; v < 256; v++)
        m->input_lut[v] = (int8_t)(v % 11 - 5);
    qm_op *op = &m->ops[0];
    op->out.zero = -7;
    int ties = 0;
    for (int o = 0; o < op->out_c; o++) {
        op->mult[o] = 1 << 30;
        op->shift[o] = (int8_t)(base + o % 3);
        op->bias[o] = o - 22;
    }
    uint8_t *pix = rtm_pixels(m, 8, 13);
    /* count the ties the reference meets: acc * 2^30 = (2k + 1) 2^(s-1) */
    for (int i = 0; i < 8; i++)
        for (int o = 0; o < op->out_c; o++) {
            int64_t acc = op->bias[o];
            for (int k = 0; k < 6; k++)
                acc += op->weights[o * 6 + k] * m->input_lut[pix[i * 6 + k]];
            int s = op->shift[o] - 30; /* acc / 2^s */
            const int64_t half = (int64_t)1 << s; /* 2 * remainder = +-2^s: a tie */
            ties += (acc % half) * 2 == (acc < 0 ? -half : half);
        }
    cr_assert_geq(ties, 30, "only %d ties", ties);
    free(pix);
    check_isa(isa, m, 8, 13, "ties");
    rtm_free(t);
}

ISA_TEST(requantization_ties_round_half_up)
{
    for (int base = 31; base <= 32; base++)
        ties_at_shifts(isa, base);
}

/* Accumulators exactly at INT32_MAX and INT32_MIN: K = 60000 products of
 * +-127 * 255 (input 127 with zero -128, or -128 with zero 127) and a bias
 * that brings the sum to the limit. Also checks that the kernels' folded
 * biases may wrap on the way. */
ISA_TEST(accumulators_at_int32_limits)
{
    const int H = 250, W = 240, K = H * W;
    for (int variant = 0; variant < 4; variant++) {
        rtm *t = rtm_new(1, H, W);
        rtm_dense(t, QM_INPUT, 3, 0, 8, 0.0);
        rtm_finish(t, 80 + variant);
        qm_model *m = &t->m;
        qm_op *op = &m->ops[0];
        int up = variant & 1;          /* 1: x = 127, zero -128; 0: x = -128, zero 127 */
        int8_t x = up ? 127 : -128;
        m->in.zero = up ? -128 : 127;
        for (int v = 0; v < 256; v++)
            m->input_lut[v] = x;
        int64_t d = (int64_t)x - m->in.zero; /* +-255 */
        for (int o = 0; o < 3; o++) {
            int64_t target = ((o == 1) ^ (variant >> 1)) ? INT32_MIN : INT32_MAX;
            if (o == 2)
                target = (int64_t)INT32_MAX - 5;
            /* the products' sign is the target's: the bias fits int32 */
            int8_t w = (int8_t)((target > 0) == (d > 0) ? 127 : -127);
            for (int k = 0; k < K; k++)
                op->weights[(size_t)o * K + k] = w;
            int64_t sum = (int64_t)K * w * d;
            op->bias[o] = (int32_t)(target - sum);
            cr_assert(target - sum >= INT32_MIN && target - sum <= INT32_MAX);
            /* acc * mult >> shift lands inside the int8 range: 2^31 * 2^30 / 2^56 = 32 */
            op->mult[o] = 1 << 30;
            op->shift[o] = 56;
        }
        m->ops[0].out.zero = 3;
        nn_error err;
        cr_assert_eq(qm_model_validate(m, &err), NN_OK, "%s", err.msg);
        uint8_t *pix = rtm_pixels(m, 2, 5);
        int8_t want[6];
        ref_image(m, pix, want);
        ref_image(m, pix + K, want + 3);
        cr_assert(want[0] == 35 || want[0] == -29, "reference %d", want[0]);
        for (int v = 0; v < 4; v++) {
            const rtb_options opt = image_variant(v, isa);
            int8_t *got = runtime_batch(m, &opt, pix, 2);
            assert_same(got, want, 6, rt_isa_name(isa));
            free(got);
        }
        free(pix);
        rtm_free(t);
    }
}

/* ---- whole networks ------------------------------------------------------------------------ */

/* The MNIST recipe's shapes: conv3x3(32)-conv3x3(32)-maxpool-conv3x3(64)-
 * conv3x3(64)-maxpool-dense(3136->256)-dense(10), the dense layers sparse. */
static rtm *mnist_model(double sparsity, uint64_t seed)
{
    return rtm_mnist(32, 64, 256, (const int[6]){8, 8, 8, 8, 8, 8},
                     (const double[6]){0, 0, 0, 0, sparsity, sparsity}, seed);
}

/* configs/cifar10.json's shapes, BN folded, ReLUs fused. */
static rtm *cifar_model(int bits, uint64_t seed)
{
    rtm *t = rtm_new(3, 32, 32);
    int x = rtm_conv(t, QM_INPUT, 32, 3, 1, 1, 1, bits, 0.0);
    x = rtm_conv(t, x, 64, 3, 1, 1, 0, bits, 0.0);
    int s1 = rtm_pool(t, QM_MAXPOOL, x, 2, 2, 1);
    x = rtm_conv(t, s1, 64, 3, 1, 1, 1, bits, 0.0);
    x = rtm_conv(t, x, 64, 3, 1, 1, 0, bits, 0.0);
    x = rtm_add(t, x, s1, 1);
    x = rtm_conv(t, x, 128, 3, 1, 1, 0, bits, 0.0);
    int s2 = rtm_pool(t, QM_MAXPOOL, x, 2, 2, 1);
    x = rtm_conv(t, s2, 128, 3, 1, 1, 1, bits, 0.0);
    x = rtm_conv(t, x, 128, 3, 1, 1, 0, bits, 0.0);
    x = rtm_add(t, x, s2, 1);
    x = rtm_pool(t, QM_GLOBAL_AVGPOOL, x, 0, 0, 0);
    rtm_dense(t, x, 10, 0, 8, 0.0);
    rtm_finish(t, seed);
    return t;
}

/* The format of op i in m's host image for isa. */
static int host_format(const qm_model *m, rt_isa isa, rtb_sparse sparse, int i)
{
    rtb_image img = build_image(m, (rtb_options){rtb_host_target(), sparse, 0, isa, 0, 0});
    const int f = img.ops[i].fmt;
    rtb_free(&img);
    return f;
}

ISA_TEST(mnist_shaped_network_all_isas)
{
    rtm *t = mnist_model(0.95, 90);
    if (rtb_host_target() == RT_TARGET_X86_64) /* the x86 layouts are what runs */
        for (int i = 0; i < 4; i += 3)
            cr_assert_eq(host_format(&t->m, isa, RTB_SPARSE_AUTO, i), RT_WF_X8, "op %d", i);
    assert_varied(&t->m, 3, 1);
    check_isa(isa, &t->m, 3, 1, "mnist-shaped");
    rtm_free(t);
}

ISA_TEST(cifar_shaped_network_all_isas)
{
    rtm *t = cifar_model(8, 91);
    assert_varied(&t->m, 2, 2);
    check_isa(isa, &t->m, 2, 2, "cifar-shaped");
    rtm_free(t);
    t = cifar_model(4, 92);
    if (rtb_host_target() == RT_TARGET_X86_64) { /* 4-bit layers: X4 (AVX2's vpmaddubsw) */
        cr_assert_eq(host_format(&t->m, isa, RTB_SPARSE_AUTO, 1), RT_WF_X4);
        cr_assert_eq(host_format(&t->m, isa, RTB_SPARSE_AUTO, 12), RT_WF_X8);
    }
    check_isa(isa, &t->m, 2, 3, "cifar-shaped, 4-bit");
    rtm_free(t);
}

/* Random shapes and extreme values: each x86 body against the C body and
 * the reference, conv2d and dense, 8- and 4-bit, every output channel
 * count around the blocks of 8 and 16, windows 1-5, strides 1-3. */
ISA_TEST(random_shapes_against_the_c_body)
{
    nn_rng r;
    nn_rng_seed(&r, 4242);
    for (int i = 0; i < 30; i++) {
        const int c = 1 + (int)nn_rng_below(&r, 20), k = 1 + (int)nn_rng_below(&r, 5);
        const int s = 1 + (int)nn_rng_below(&r, 3), pad = (int)nn_rng_below(&r, (uint64_t)k);
        const int h = k + (int)nn_rng_below(&r, 9), w = k + (int)nn_rng_below(&r, 9);
        const int oc = 1 + (int)nn_rng_below(&r, 40), bits = nn_rng_below(&r, 2) ? 4 : 8;
        rtm *t = rtm_new(c > 4 ? 4 : c, h, w);
        int x = QM_INPUT;
        if (c > 4)
            x = rtm_conv(t, x, c, 1, 1, 0, 0, 8, 0.0);
        x = rtm_conv(t, x, oc, k, s, pad, (int)nn_rng_below(&r, 2), bits, 0.0);
        rtm_dense(t, x, 1 + (int)nn_rng_below(&r, 33), 0, bits, 0.0);
        rtm_finish(t, 500 + i);
        qm_model *m = &t->m;
        if (i % 3 == 0) { /* extremes: zero points, multipliers, shifts */
            m->in.zero = i % 2 ? 127 : -128;
            for (int o = 0; o < m->ops[m->n_ops - 2].out_c; o += 2) {
                m->ops[m->n_ops - 2].mult[o] = INT32_MAX;
                m->ops[m->n_ops - 2].shift[o] = (int8_t)(o % 4 ? 62 : 33);
            }
        }
        nn_error err;
        cr_assert_eq(qm_model_validate(m, &err), NN_OK, "%s", err.msg);
        uint8_t *pix = rtm_pixels(m, 2, 600 + i);
        for (int v = 0; v < 3; v++) {
            rtb_options oc_ = image_variant(v, RT_ISA_C), ox = image_variant(v, isa);
            int8_t *want = runtime_batch(m, &oc_, pix, 2), *got = runtime_batch(m, &ox, pix, 2);
            char what[96];
            snprintf(what, sizeof what, "case %d (%dx%dx%d k%d s%d p%d -> %d, %d-bit) variant %d",
                     i, h, w, c, k, s, pad, oc, bits, v);
            assert_same(got, want, 2 * (size_t)m->num_classes, what);
            free(want), free(got);
        }
        check_isa(isa, m, 2, 600 + i, "random shapes");
        free(pix);
        rtm_free(t);
    }
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The kernels' own entry (rt_conv2d, rt_dense): the ISA comes from the
 * context, every supported one gives the C body's bytes, an unsupported
 * one is refused, and so is short scratch. */
Test(rt_host, kernel_context_picks_the_isa)
{
    if (rtb_host_target() != RT_TARGET_X86_64)
        cr_skip_test("this build has no x86 layouts");
    rtm *t = rtm_new(1, 6, 6);
    int x = rtm_conv(t, QM_INPUT, 21, 3, 1, 1, 0, 4, 0.0);
    rtm_dense(t, x, 9, 0, 8, 0.0);
    rtm_finish(t, 7);
    rtb_image img = build_image(&t->m, (rtb_options){RT_TARGET_X86_64, RTB_SPARSE_NEVER, 0, 0, 0, 0});
    nn_rng g;
    nn_rng_seed(&g, 3);
    int8_t xin[6 * 6 * 21], want[6 * 6 * 21], got[6 * 6 * 21];
    for (size_t i = 0; i < sizeof xin; i++)
        xin[i] = (int8_t)(nn_rng_below(&g, 256) - 128);
    for (int op = 0; op < 2; op++) {
        const uint8_t *r = img.data + rd32(img.data + RT_H_OPS_OFF) + (size_t)op * RT_OP_BYTES;
        cr_assert_eq(r[RT_O_WFMT], op ? RT_WF_X8 : RT_WF_X4);
        const uint32_t O = op ? 9 : 21, q_off = rd32(r + RT_O_Q_OFF);
        const rt_quant q = {(const int32_t *)(const void *)(img.data + q_off),
                            (const int32_t *)(const void *)(img.data + q_off + 4 * O),
                            img.data + q_off + 8 * O, (int8_t)r[RT_O_OUT_ZERO], (int8_t)r[RT_O_LO],
                            (int8_t)r[RT_O_HI]};
        const rt_weights w = {img.data + rd32(r + RT_O_W_OFF), rd32(r + RT_O_W_BYTES),
                              r[RT_O_WFMT]};
        const rt_window win = {3, 1, 1};
        const rt_dims in = op ? (rt_dims){6, 6, 21} : (rt_dims){6, 6, 1};
        const rt_dims out = op ? (rt_dims){1, 1, 9} : (rt_dims){6, 6, 21};
        const uint32_t sc = op ? rt_dense_scratch_bytes(&in, &out, w.fmt)
                               : rt_conv2d_scratch_bytes(&win, &in, &out, w.fmt);
        void *buf = aligned_alloc(8, sc);
        cr_assert_not_null(buf);
#define KERNEL(ctx, y)                                                                             \
    (op ? rt_dense((ctx), &q, &in, xin, &w, &out, (y))                                             \
        : rt_conv2d((ctx), &win, (int8_t)r[RT_O_IN_ZERO], &q, &in, xin, &w, &out, (y)))
        const size_t n = (size_t)out.h * out.w * out.c;
        cr_assert_eq(KERNEL((&(rt_context){buf, sc, RT_ISA_C}), want), RT_OK);
        for (int i = 0; i < N_ISAS; i++) {
            memset(got, 0x11, sizeof got);
            const rt_status st = KERNEL((&(rt_context){buf, sc, ALL_ISAS[i]}), got);
            if (!rt_isa_supported(ALL_ISAS[i])) {
                cr_assert_eq(st, RT_E_UNSUPPORTED);
                continue;
            }
            cr_assert_eq(st, RT_OK);
            assert_same(got, want, n, rt_isa_name(ALL_ISAS[i]));
        }
        cr_assert_eq(KERNEL((&(rt_context){buf, sc, (rt_isa)99}), got), RT_E_UNSUPPORTED);
        cr_assert_eq(KERNEL((&(rt_context){buf, sc - 8, RT_ISA_AUTO}), got), RT_E_ARG);
#undef KERNEL
        free(buf);
    }
    rtb_free(&img);
    rtm_free(t);
}

/* ---- the arena ---------------------------------------------------------------------------- */

#define GUARD 256

/* Runs with the arena at several 8-aligned offsets in a few poison
 * patterns; the guard bytes around the arena and the logits stay intact
 * and the logits never change. */
static void check_arena(const qm_model *m, rt_isa isa, int n)
{
    rtb_image img = build_image(m, image_variant(0, isa));
    const size_t bytes = img.arena_bytes, nl = (size_t)n * m->num_classes;
    const size_t in_size = (size_t)m->in_c * m->in_h * m->in_w;
    uint8_t *buf = aligned_alloc(8, bytes + 2 * GUARD + 64);
    int8_t *lbuf = malloc(nl + 2 * GUARD), *first = malloc(nl);
    cr_assert(buf && lbuf && first);
    uint8_t *pix = rtm_pixels(m, n, 99);
    const uint8_t poison[] = {0x00, 0xFF, 0x80, 0x7F, 0x5A};
    int runs = 0;
    for (int off = 0; off < 64; off += 24)
        for (size_t pi = 0; pi < sizeof poison; pi++) {
            uint8_t *arena = buf + GUARD + off;
            memset(buf, 0xC3, bytes + 2 * GUARD + 64);
            memset(arena, poison[pi], bytes);
            memset(lbuf, 0xC3, nl + 2 * GUARD);
            for (int i = 0; i < n; i++)
                cr_assert_eq(rt_run_isa(img.data, arena, bytes, pix + i * in_size,
                                        lbuf + GUARD + (size_t)i * m->num_classes, isa),
                             RT_OK);
            for (size_t j = 0; j < GUARD + (size_t)off; j++)
                cr_assert_eq(buf[j], 0xC3, "%s: byte %zu before the arena written",
                             rt_isa_name(isa), GUARD + off - j);
            for (size_t j = GUARD + off + bytes; j < bytes + 2 * GUARD + 64; j++)
                cr_assert_eq(buf[j], 0xC3, "%s: byte %zu after the arena written", rt_isa_name(isa),
                             j - (GUARD + off + bytes));
            for (size_t j = 0; j < GUARD; j++) {
                cr_assert_eq((uint8_t)lbuf[j], 0xC3, "byte before the logits written");
                cr_assert_eq((uint8_t)lbuf[GUARD + nl + j], 0xC3, "byte after the logits written");
            }
            if (runs++ == 0)
                memcpy(first, lbuf + GUARD, nl);
            else
                assert_same(lbuf + GUARD, first, nl, "a run depends on the arena's contents");
        }
    int8_t *want = ref_batch(m, pix, n);
    assert_same(first, want, nl, "guarded run");
    free(want);
    free(pix);
    free(buf), free(lbuf), free(first);
    rtb_free(&img);
}

ISA_TEST(arena_guard_bytes_and_poison)
{
    rtm *t = mnist_model(0.9, 93);
    rtm *r = rtm_new(2, 9, 7);
    int a = rtm_conv(r, QM_INPUT, 6, 3, 1, 1, 1, 8, 0.0);
    int b = rtm_conv(r, a, 6, 3, 1, 1, 0, 8, 0.0);
    int c = rtm_add(r, b, a, 1);
    int d = rtm_pool(r, QM_AVGPOOL, c, 2, 2, 0);
    rtm_conv(r, d, 5, 1, 1, 0, 0, 8, 0.0); /* the last op is a conv: logits (n, 4*3*5) */
    rtm_finish(r, 94);
    check_arena(&t->m, isa, 2);
    check_arena(&r->m, isa, 3);
    rtm_free(t);
    rtm_free(r);
}

static size_t chain_arena(int depth)
{
    rtm *t = rtm_conv_chain(1, 16, depth, 32, 8, 0.0, 4, 95);
    rtb_image img = build_image(&t->m, image_variant(0, RT_ISA_AUTO));
    size_t bytes = img.arena_bytes;
    rtb_free(&img);
    rtm_free(t);
    return bytes;
}

Test(rt_host, arena_reuses_dead_tensors)
{
    /* chains of 16x16x32 convs: at most two activations (and one scratch)
     * are live at once, so ten layers need no more arena than three */
    size_t a3 = chain_arena(3), a10 = chain_arena(10);
    cr_assert_eq(a10, a3, "10 layers: %zu bytes, 3 layers: %zu bytes", a10, a3);
    cr_assert_geq(a3, 16 * 16 * 32);
}

/* ---- images, sparsity, ownership ------------------------------------------------------- */

/* An image's logits do not depend on the images run before it in the same
 * arena. */
ISA_TEST(images_are_independent)
{
    rtm *t = mnist_model(0.5, 96);
    const int n = 7;
    uint8_t *pix = rtm_pixels(&t->m, n, 17);
    const size_t in_size = 28 * 28;
    const rtb_options opt = image_variant(0, isa);
    int8_t *all = runtime_batch(&t->m, &opt, pix, n);
    for (int j = 0; j < n; j++) {
        int8_t *one = runtime_batch(&t->m, &opt, pix + j * in_size, 1);
        assert_same(one, all + j * 10, 10, "after other images vs alone");
        free(one);
    }
    free(all);
    free(pix);
    rtm_free(t);
}

ISA_TEST(sparse_formats_chosen_and_bit_exact)
{
    /* the policies pick the formats they promise */
    rtm *t = mnist_model(0.97, 97);
    rtm *vs = mnist_model(0.999, 99); /* below every ISA's threshold */
    rtm *d = mnist_model(0.0, 98);    /* above every ISA's threshold */
    const int dense = rtb_host_target() == RT_TARGET_X86_64 ? RT_WF_X8 : RT_WF_S8;
    const struct {
        const qm_model *m;
        rtb_sparse policy;
        int want;
    } cases[] = {{&t->m, RTB_SPARSE_NEVER, dense},   {&t->m, RTB_SPARSE_ALWAYS, RT_WF_SP8},
                 {&d->m, RTB_SPARSE_ALWAYS, RT_WF_SP8}, {&vs->m, RTB_SPARSE_AUTO, RT_WF_SP8},
                 {&d->m, RTB_SPARSE_AUTO, dense},     {&vs->m, RTB_SPARSE_NEVER, dense}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int f = host_format(cases[k].m, isa, cases[k].policy, 6);
        cr_assert_eq(f, cases[k].want, "%s case %zu: op 6 in format %d", rt_isa_name(isa), k, f);
        if (cases[k].policy != RTB_SPARSE_ALWAYS)
            cr_assert_eq(host_format(cases[k].m, isa, cases[k].policy, 0), dense,
                         "convs stay dense");
    }
    check_isa(isa, &t->m, 3, 4, "sparse mnist");
    check_isa(isa, &vs->m, 2, 6, "very sparse mnist");
    rtm_free(vs);
    rtm_free(d);
    rtm_free(t);
}

Test(rt_host, image_does_not_keep_the_model)
{
    rtm *t = cifar_model(8, 77);
    uint8_t *pix = rtm_pixels(&t->m, 2, 8);
    int8_t *want = ref_batch(&t->m, pix, 2);
    rth_model h;
    nn_error err;
    cr_assert_eq(rth_open(&h, &t->m, RT_ISA_AUTO, &err), NN_OK, "%s", err.msg);
    memset(t->m.blob, 0x55, 64); /* scribble over the model, then free it */
    rtm_free(t);
    void *arena = aligned_alloc(8, rth_arena_bytes(&h) + 8);
    int8_t got[20];
    cr_assert_eq(rth_run(&h, arena, pix, 2, got), NN_OK);
    assert_same(got, want, 20, "after the model was freed");
    free(arena), free(pix), free(want);
    rth_close(&h);
}

typedef struct {
    const rth_model *h;
    const uint8_t *pix;
    int n, classes;
    int8_t *out;
} thread_job;

static void *run_job(void *arg)
{
    thread_job *j = arg;
    void *arena = aligned_alloc(8, rth_arena_bytes(j->h) + 8);
    for (int rep = 0; rep < 20 && arena; rep++)
        rth_run(j->h, arena, j->pix, j->n, j->out);
    free(arena);
    return NULL;
}

Test(rt_host, threads_share_one_image)
{
    rtm *t = mnist_model(0.9, 44);
    const int n = 3;
    uint8_t *pix = rtm_pixels(&t->m, 2 * n, 45);
    int8_t *want = ref_batch(&t->m, pix, 2 * n);
    rth_model h;
    nn_error err;
    cr_assert_eq(rth_open(&h, &t->m, RT_ISA_AUTO, &err), NN_OK, "%s", err.msg);
    int8_t got[2][3 * 10];
    thread_job jobs[2] = {{&h, pix, n, 10, got[0]}, {&h, pix + (size_t)n * 784, n, 10, got[1]}};
    pthread_t th[2];
    for (int k = 0; k < 2; k++)
        cr_assert_eq(pthread_create(&th[k], NULL, run_job, &jobs[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    assert_same(got[0], want, (size_t)n * 10, "thread 0");
    assert_same(got[1], want + n * 10, (size_t)n * 10, "thread 1");
    rth_close(&h);
    free(pix), free(want);
    rtm_free(t);
}

/* ---- errors and helpers ----------------------------------------------------------------- */

Test(rt_host, errors)
{
    rtm *t = rtm_new(1, 4, 4);
    rtm_conv(t, QM_INPUT, 4, 3, 1, 1, 0, 8, 0.0);
    rtm_pool(t, QM_MAXPOOL, 0, 2, 2, 0);
    rtm_finish(t, 5);
    qm_model *m = &t->m;
    rth_model h;
    nn_error err;

    cr_assert_eq(rth_open(&h, m, (rt_isa)99, &err), NN_ERR_ARG);
    cr_assert(strstr(err.msg, "unknown instruction set"), "%s", err.msg);
    for (int i = 0; i < N_ISAS; i++)
        if (!rt_isa_supported(ALL_ISAS[i])) {
            cr_assert_eq(rth_open(&h, m, ALL_ISAS[i], &err), NN_ERR_ARG);
            cr_assert(strstr(err.msg, "not supported"), "%s", err.msg);
            cr_assert_null(h.img.data);
        }

    /* invalid model: validation's error comes through */
    int8_t keep = m->ops[0].shift[1];
    m->ops[0].shift[1] = 0;
    cr_assert_eq(rth_open(&h, m, RT_ISA_C, &err), NN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "op 0"), "%s", err.msg);
    cr_assert_null(h.img.data);
    m->ops[0].shift[1] = keep;
    m->ops[0].weights[3] = -128;
    cr_assert_eq(rth_open(&h, m, RT_ISA_C, &err), NN_ERR_FORMAT);
    m->ops[0].weights[3] = 1;

    /* a pool that changes the zero point */
    m->ops[1].out.zero = m->ops[0].out.zero + 1;
    cr_assert_eq(rth_open(&h, m, RT_ISA_C, &err), NN_ERR_FORMAT);
    cr_assert(strstr(err.msg, "op 1 (maxpool)"), "%s", err.msg);
    m->ops[1].out.zero = m->ops[0].out.zero;

    cr_assert_eq(rth_open(&h, m, RT_ISA_C, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(h.isa, RT_ISA_C);
    cr_assert_eq(h.num_classes, 16);
    cr_assert_eq(h.out_q.zero, m->ops[1].out.zero);
    void *arena = aligned_alloc(8, rth_arena_bytes(&h) + 8);
    uint8_t pix[32] = {0};
    int8_t l[32];
    cr_assert_eq(rth_run(&h, NULL, pix, 1, l), NN_ERR_ARG);
    cr_assert_eq(rth_run(&h, arena, NULL, 1, l), NN_ERR_ARG);
    cr_assert_eq(rth_run(&h, arena, pix, 1, NULL), NN_ERR_ARG);
    cr_assert_eq(rth_run(&h, (uint8_t *)arena + 4, pix, 1, l), NN_ERR_ARG); /* misaligned */
    cr_assert_eq(rth_run(&h, arena, pix, 2, l), NN_OK);
    cr_assert_eq(rt_run_isa(h.img.data, arena, rth_arena_bytes(&h), pix, l, (rt_isa)99),
                 RT_E_UNSUPPORTED);
    free(arena);
    rth_close(&h);
    rtm_free(t);
}

Test(rt_host, isa_names_and_auto)
{
    cr_assert_str_eq(rt_isa_name(RT_ISA_AUTO), "auto");
    cr_assert_str_eq(rt_isa_name(RT_ISA_C), "c");
    cr_assert_str_eq(rt_isa_name(RT_ISA_AVX2), "avx2");
    cr_assert_str_eq(rt_isa_name(RT_ISA_AVX512_VNNI), "avx512-vnni");
    cr_assert_null(rt_isa_name((rt_isa)42));
    for (int i = RT_ISA_AUTO; i <= RT_ISA_AVX512_VNNI; i++)
        cr_assert_eq(rth_isa_parse(rt_isa_name((rt_isa)i)), i);
    cr_assert_eq(rth_isa_parse("avx3"), -1);
    cr_assert(rt_isa_supported(RT_ISA_C));
    cr_assert(!rt_isa_supported((rt_isa)42));
    rt_isa best = rt_isa_best();
    cr_assert(rt_isa_supported(best));
    if (rt_isa_supported(RT_ISA_AVX512_VNNI))
        cr_assert_eq(best, RT_ISA_AVX512_VNNI);
    else if (rt_isa_supported(RT_ISA_AVX2))
        cr_assert_eq(best, RT_ISA_AVX2);
    /* A CPU without an ISA skips that ISA's ISA_TESTs (counted as skipped). */

    rtm *t = rtm_new(1, 3, 3);
    rtm_dense(t, QM_INPUT, 2, 0, 8, 0.0);
    rtm_finish(t, 6);
    rth_model h;
    nn_error err;
    cr_assert_eq(rth_open(&h, &t->m, RT_ISA_AUTO, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(h.isa, best);
    rth_close(&h);
    rtm_free(t);
}

Test(rt_host, argmax)
{
    const int8_t l[] = {3, 9, 9, -1, /* */ -128, -128, -128, -128, /* */ 0, 1, 2, 127};
    int lab[3];
    rth_argmax(l, 3, 4, lab);
    cr_assert_eq(lab[0], 1); /* first of the tie */
    cr_assert_eq(lab[1], 0);
    cr_assert_eq(lab[2], 3);
}

/* ---- rth_evaluate ---------------------------------------------------------------- */

/* What rth_evaluate must report, computed from the reference's logits:
 * confusion (k*k), correct and mean cross-entropy of the dequantized
 * logits, averaged with the mirrored images' when flip. */
static double expected_eval(const qm_model *m, const uint8_t *pix, const uint8_t *labels, int n,
                            int flip, int *confusion)
{
    const int k = m->num_classes, C = m->in_c, H = m->in_h, W = m->in_w;
    const qm_qparams q = m->ops[m->n_ops - 1].out;
    int8_t *l = ref_batch(m, pix, n);
    uint8_t *mir = malloc((size_t)n * C * H * W);
    cr_assert_not_null(mir);
    for (int i = 0; i < n * C * H; i++)
        for (int x = 0; x < W; x++)
            mir[i * W + x] = pix[i * W + W - 1 - x];
    int8_t *lm = ref_batch(m, mir, n);
    double loss = 0;
    memset(confusion, 0, (size_t)k * k * sizeof *confusion);
    for (int i = 0; i < n; i++) {
        double z[16], zmax = -1e30, sum = 0;
        int best = 0;
        for (int c = 0; c < k; c++) {
            z[c] = q.scale * (l[i * k + c] - q.zero);
            if (flip)
                z[c] = 0.5 * (z[c] + q.scale * (lm[i * k + c] - q.zero));
            if (z[c] > zmax)
                zmax = z[c], best = c;
        }
        for (int c = 0; c < k; c++)
            sum += exp(z[c] - zmax);
        loss += log(sum) - (z[labels[i]] - zmax);
        confusion[labels[i] * k + best]++;
    }
    free(l), free(lm), free(mir);
    return loss / n;
}

Test(rt_host, evaluate_matches_the_reference)
{
    rtm *t = rtm_new(2, 9, 7);
    int x = rtm_conv(t, QM_INPUT, 6, 3, 1, 1, 1, 8, 0.0);
    x = rtm_pool(t, QM_MAXPOOL, x, 2, 2, 0);
    rtm_dense(t, x, 5, 0, 8, 0.0);
    rtm_finish(t, 77);
    qm_model *m = &t->m;
    m->ops[m->n_ops - 1].out.scale = 0.125f;
    const int n = 37, k = 5;
    uint8_t *pix = rtm_pixels(m, n, 5), labels[37];
    for (int i = 0; i < n; i++)
        labels[i] = (uint8_t)((i * 7) % k);
    const nn_images data = {pix, labels, n};
    for (int flip = 0; flip <= 1; flip++) {
        int want[25];
        double want_loss = expected_eval(m, pix, labels, n, flip, want);
        int want_correct = 0;
        for (int c = 0; c < k; c++)
            want_correct += want[c * k + c];
        const int batches[] = {1, 4, 37}, threads[] = {1, 2, 3};
        rth_model h;
        nn_error err;
        cr_assert_eq(rth_open(&h, m, RT_ISA_AUTO, &err), NN_OK, "%s", err.msg);
        for (int b = 0; b < 3; b++) {
            nn_eval_result r;
            cr_assert_eq(rth_evaluate(&h, &data, &(nn_eval_config){.batch = batches[b], .threads = threads[b], .test_flip = flip},
                                      &r, &err),
                         NN_OK, "%s", err.msg);
            cr_expect_eq(r.n, n);
            cr_expect_eq(r.num_classes, k);
            cr_expect_eq(r.correct, want_correct, "flip %d batch %d", flip, batches[b]);
            cr_expect_arr_eq(r.confusion, want, sizeof want, "flip %d batch %d", flip,
                             batches[b]);
            cr_expect_float_eq(r.loss, want_loss, 1e-5, "flip %d: %g vs %g", flip, r.loss,
                               want_loss);
            nn_eval_result_free(&r);
            /* A batch below 1, or a label past the classes. */
            cr_expect_eq(rth_evaluate(&h, &data, &(nn_eval_config){.batch = 0, .threads = 1, .test_flip = flip}, &r, &err),
                         NN_ERR_ARG);
            labels[3] = k;
            cr_expect_eq(rth_evaluate(&h, &data, &(nn_eval_config){.batch = 1, .threads = 1, .test_flip = flip}, &r, &err),
                         NN_ERR_ARG);
            cr_expect_not_null(strstr(err.msg, "label"), "%s", err.msg);
            labels[3] = 3 * 7 % k;
        }
        rth_close(&h);
    }
    free(pix);
    rtm_free(t);
}
