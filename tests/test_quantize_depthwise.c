/* test_quantize_depthwise.c - depthwise convolutions and ReLU6 through the
 * int8 path: lowering (batch norms fold into a depthwise conv, ReLU6 fuses
 * into its producer's clamp, through a max pool, or becomes a 1x1 identity
 * conv; a ReLU6 on values already in [0, 6] vanishes), the folded net
 * computing the float model's function, the int8 model following the
 * float one, the .iotc round trip, corrupt files rejected, and the
 * runtime on every ISA and image layout giving the reference's bytes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "libnn/nn_layers.h"
#include "quantize/qref.h"
#include "quantize/quantize.h"
#include "qfixtures.h"
#include "rt_models.h"

/* Input 2x8x8, 4 classes:
 *  0 relu6 on the input (nothing to fuse into: a 1x1 identity conv)
 *  1 conv 8 (3x3 pad 1, no bias) - 2 bn - 3 relu6
 *  4 depthwise 3x3 pad 1 (no bias) - 5 bn - 6 relu6
 *  7 conv 12 (1x1) - 8 bn - 9 relu - 10 relu6 (the ReLU's clamp becomes ReLU6)
 *  11 depthwise 5x5 stride 2 pad 2 - 12 maxpool 2 - 13 relu6 (onto 11
 *  through the pool) - 14 relu6 (already in [0, 6]: gone)
 *  15 global_avgpool - 16 flatten - 17 dense 4 */
static void mobile_spec(nn_model_spec *s)
{
    const nn_layer_spec bn = ls_layer(NN_LAYER_BATCHNORM), r6 = ls_layer(NN_LAYER_RELU6);
    nn_layer_spec c1 = ls_conv(8, 3, 1, 0), dw1 = ls_layer(NN_LAYER_DEPTHWISE_CONV2D);
    c1.bias = 0;
    dw1.kernel = 3, dw1.pad = 1, dw1.bias = 0;
    nn_layer_spec dw2 = ls_layer(NN_LAYER_DEPTHWISE_CONV2D);
    dw2.kernel = 5, dw2.stride = 2, dw2.pad = 2;
    LS_SPEC(s, 2, 8, 8, 4, r6, c1, bn, r6,                      /* 0-3   */
            dw1, bn, r6,                                        /* 4-6   */
            ls_conv(12, 1, 0, 1), bn, ls_layer(NN_LAYER_RELU), r6, /* 7-10  */
            dw2, ls_layer(NN_LAYER_MAXPOOL), r6, r6,            /* 11-14 */
            ls_layer(NN_LAYER_GLOBAL_AVGPOOL), ls_layer(NN_LAYER_FLATTEN), ls_dense(4));
    for (int i = 0; i < s->n_layers; i++)
        s->layers[i].input = i - 1;
}

/* The spec with He weights scaled by `gain` (large activations, so that
 * the ReLU6 clamps at 6 matter), random batch norms. */
static void mobile_model(nn_model *m, uint64_t seed, float gain)
{
    nn_model_spec s;
    mobile_spec(&s);
    qf_build(m, &s, seed, 0);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (nd->spec.type != NN_LAYER_BATCHNORM)
            for (size_t k = 0; k < nd->w.n; k++)
                m->params[nd->w.off + k] *= gain;
    }
}

Test(quantize_depthwise, folds_fuses_and_computes_the_float_function)
{
    nn_model m;
    mobile_model(&m, 3, 3.0f);
    nn_error err;
    qz_net net;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_OK, "%s", err.msg);
    const struct {
        qm_op_type type;
        int relu, src;
    } want[] = {
        {QM_CONV2D, QM_ACT_RELU6, 0},    /* the input's ReLU6: identity conv */
        {QM_CONV2D, QM_ACT_RELU6, 1},    /* bn 2 folded, relu6 3 fused */
        {QM_DEPTHWISE, QM_ACT_RELU6, 4}, /* bn 5 folded, relu6 6 fused */
        {QM_CONV2D, QM_ACT_RELU6, 7},    /* bn, relu, relu6 */
        {QM_DEPTHWISE, QM_ACT_RELU6, 11}, /* relu6 13 through the max pool */
        {QM_MAXPOOL, QM_ACT_NONE, 12},
        {QM_GLOBAL_AVGPOOL, QM_ACT_NONE, 15},
        {QM_DENSE, QM_ACT_NONE, 17},
    };
    cr_assert_eq(net.n_ops, 8);
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(net.ops[i].type, want[i].type, "op %d", i);
        cr_expect_eq(net.ops[i].relu, want[i].relu, "op %d", i);
        cr_expect_eq(net.ops[i].src_layer, want[i].src, "op %d", i);
    }
    cr_expect_eq(net.ops[0].from_bn, 2);
    /* The folded net computes the float model's function (folding is
     * exact algebra: float rounding only), and the clamps at 6 are hit. */
    enum { N = 8 };
    uint8_t *px = qf_pixels(N, 2, 8, 8, 9);
    float *want_l = qf_float_logits(&m, px, N);
    float *tens = malloc(net.tensor_floats * sizeof(float));
    float *col = malloc((net.col_floats + 1) * sizeof(float));
    size_t at6 = 0;
    for (int i = 0; i < N; i++) {
        qz_net_forward(&net, NULL, px + i * 128, tens, col);
        const float *got = qz_net_logits(&net, tens);
        for (int k = 0; k < 4; k++) {
            float w = want_l[i * 4 + k];
            cr_expect(fabsf(got[k] - w) <= 1e-4f * (1.0f + fabsf(w)), "image %d logit %d: %g vs %g",
                      i, k, (double)got[k], (double)w);
        }
        const qz_fop *dw = &net.ops[2];
        const float *y = tens + net.tensor_off[3];
        for (int j = 0; j < dw->out_c * dw->out_h * dw->out_w; j++)
            at6 += y[j] == 6.0f;
    }
    cr_expect_gt(at6, 10, "the depthwise ReLU6 never clamped at 6: a vacuous test");
    free(px), free(want_l), free(tens), free(col);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* The quantized model: qm_model ops with the relu6 clamp inside the range. */
static void quantize_mobile(iotc_model *f, nn_model *m, uint64_t seed)
{
    mobile_model(m, seed, 3.0f);
    uint8_t *px = qf_pixels(60, 2, 8, 8, seed + 1);
    qz_config cfg;
    qz_config_defaults(&cfg);
    cfg.method = QZ_MINMAX;
    nn_error err;
    iotc_init(f);
    const qz_data data = {.images = px, .n = 60};
    cr_assert_eq(qz_quantize_model(&f->m, NULL, m, &cfg, &data, 1, &err), NN_OK, "%s", err.msg);
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        f->mean[c] = m->mean[c], f->std[c] = m->std[c];
    free(px);
}

/* int8 against float on random images: the same class for most, logits
 * within a few output steps; the runtime on every ISA and image variant
 * gives the reference interpreter's bytes. */
Test(quantize_depthwise, int8_follows_float_and_runtime_equals_reference)
{
    iotc_model *f = malloc(sizeof *f);
    nn_model m;
    quantize_mobile(f, &m, 5);
    const qm_model *q = &f->m;
    cr_assert_eq(q->ops[2].type, QM_DEPTHWISE);
    /* Calibration sees the float ReLU6 outputs, never above 6: each ReLU6
     * op's range ends at 6 at most, so its clamp is the range's top. */
    int n6 = 0;
    for (int i = 0; i < q->n_ops; i++) {
        const qm_op *op = &q->ops[i];
        if (op->relu != QM_ACT_RELU6)
            continue;
        n6++;
        cr_expect_leq(op->out.scale * (float)(127 - op->out.zero), 6.0f + op->out.scale, "op %d", i);
        cr_expect_eq(qm_op_hi(op), 127, "op %d", i);
    }
    cr_expect_eq(n6, 5, "relu6 ops: %d", n6);

    enum { N = 40 };
    uint8_t *px = qf_pixels(N, 2, 8, 8, 99);
    float *fl = qf_float_logits(&m, px, N);
    int8_t *ref = rtm_qref(q, px, N);
    const qm_op *last = &q->ops[q->n_ops - 1];
    int agree = 0;
    double worst = 0;
    for (int i = 0; i < N; i++) {
        float lg[4];
        for (int k = 0; k < 4; k++) {
            lg[k] = last->out.scale * (float)(ref[i * 4 + k] - last->out.zero);
            double steps = fabs((double)lg[k] - fl[i * 4 + k]) / last->out.scale;
            worst = steps > worst ? steps : worst;
        }
        agree += nn_argmax(lg, 4) == nn_argmax(fl + i * 4, 4);
    }
    cr_log_info("int8 vs float: %d of %d agree, worst %.2f steps", agree, N, worst);
    cr_expect_geq(agree, N * 9 / 10);
    cr_expect_leq(worst, 8.0);

    const rt_isa isas[] = {RT_ISA_C, RT_ISA_AVX2, RT_ISA_AVX512_VNNI};
    const int targets[] = {RT_TARGET_GENERIC, RT_TARGET_CORTEX_M4, rtb_host_target()};
    for (int a = 0; a < 3; a++) {
        if (!rt_isa_supported(isas[a]))
            continue;
        for (int t = 0; t < 3; t++) {
            const rtb_options opt = {targets[t], RTB_SPARSE_AUTO, 0, isas[a], 0, 0};
            size_t bytes;
            uint8_t *im = rtm_image(q, &opt, &bytes, NULL);
            cr_assert_eq(rt_image_check(im, bytes, NULL), RT_OK);
            const size_t ab = rt_arena_bytes(im) + 8;
            uint8_t *arena = aligned_alloc(8, ab);
            int8_t got[N * 4];
            for (int i = 0; i < N; i++) {
                memset(arena, 0x5a, ab);
                cr_assert_eq(rt_run_isa(im, arena, ab, px + i * 128, got + i * 4, isas[a]), RT_OK);
            }
            char what[64];
            snprintf(what, sizeof what, "%s, target %d", rt_isa_name(isas[a]), targets[t]);
            rtm_same(got, ref, N * 4, what);
            free(arena), free(im);
        }
    }
    free(px), free(fl), free(ref);
    qm_model_free(&f->m);
    free(f);
    nn_model_free(&m);
}

/* Encoded and decoded: the same ops, clamps, weights and quantization, so
 * the same bytes from the reference. */
Test(quantize_depthwise, iotc_round_trip)
{
    iotc_model *f = malloc(sizeof *f), *g = malloc(sizeof *g);
    nn_model m;
    quantize_mobile(f, &m, 7);
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_error err;
    cr_assert_eq(iotc_encode(f, &w, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(iotc_decode(g, w.data, w.len, "dw.iotc", &err), NN_OK, "%s", err.msg);
    cr_assert_eq(g->m.n_ops, f->m.n_ops);
    for (int i = 0; i < f->m.n_ops; i++) {
        const qm_op *a = &f->m.ops[i], *b = &g->m.ops[i];
        cr_expect(a->type == b->type && a->relu == b->relu && a->kernel == b->kernel &&
                      a->stride == b->stride && a->pad == b->pad,
                  "op %d", i);
        cr_expect(memcmp(&a->out, &b->out, sizeof a->out) == 0, "op %d", i);
        if (!qm_is_weighted(a->type))
            continue;
        cr_expect_eq(a->n_weights, b->n_weights, "op %d", i);
        cr_expect_eq(memcmp(a->weights, b->weights, a->n_weights), 0, "op %d", i);
        cr_expect_eq(memcmp(a->bias, b->bias, 4 * (size_t)a->out_c), 0, "op %d", i);
        cr_expect_eq(memcmp(a->mult, b->mult, 4 * (size_t)a->out_c), 0, "op %d", i);
        cr_expect_eq(memcmp(a->shift, b->shift, (size_t)a->out_c), 0, "op %d", i);
    }
    uint8_t *px = qf_pixels(10, 2, 8, 8, 3);
    int8_t *la = rtm_qref(&f->m, px, 10), *lb = rtm_qref(&g->m, px, 10);
    rtm_same(lb, la, 40, "decoded model");
    free(px), free(la), free(lb), free(w.data);
    iotc_free(f), iotc_free(g);
    free(f), free(g);
    nn_model_free(&m);
}

static uint32_t rt_rd32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Corrupt files: every truncation and every single-byte change of a file
 * with depthwise ops and ReLU6 clamps is a format error naming an offset;
 * and the model checks refuse an activation code 3, a depthwise op whose
 * output channels differ from its input's and a ReLU6 on a pool (whose
 * kernels clamp below only), the image check a pool whose hi is not 127. */
Test(quantize_depthwise, corrupt_files_and_models_are_rejected)
{
    iotc_model *f = malloc(sizeof *f);
    nn_model m;
    quantize_mobile(f, &m, 11);
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_error err;
    cr_assert_eq(iotc_encode(f, &w, &err), NN_OK, "%s", err.msg);
    iotc_model *g = malloc(sizeof *g);
    for (size_t n = 0; n < w.len; n++) {
        nn_status st = iotc_decode(g, w.data, n, "c.iotc", &err);
        cr_expect_eq(st, NN_ERR_FORMAT, "truncated to %zu", n);
        if (st == NN_OK)
            iotc_free(g);
    }
    for (size_t i = 0; i < w.len; i++) {
        const uint8_t keep = w.data[i];
        for (int v = 0; v < 256; v += 17) {
            if (v == keep)
                continue;
            w.data[i] = (uint8_t)v;
            nn_status st = iotc_decode(g, w.data, w.len, "c.iotc", &err);
            if (st == NN_OK) {
                cr_expect_fail("byte %zu = %d: corrupt file loaded", i, v);
                iotc_free(g);
            } else if (!strstr(err.msg, "offset ")) {
                cr_expect_fail("byte %zu = %d: no offset in %s", i, v, err.msg);
            }
        }
        w.data[i] = keep;
    }
    qm_op *dw = &f->m.ops[2];
    cr_assert_eq(dw->type, QM_DEPTHWISE);
    dw->relu = 3;
    cr_expect_eq(qm_model_validate(&f->m, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "op 2 (depthwise_conv2d): activation 3"), "%s", err.msg);
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_FORMAT, "an invalid model was written");
    dw->relu = QM_ACT_RELU6;
    dw->out_c += 1;
    cr_expect_eq(qm_model_validate(&f->m, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "op 2 (depthwise_conv2d): output shape"), "%s", err.msg);
    dw->out_c -= 1;
    qm_op *pool = &f->m.ops[5];
    cr_assert_eq(pool->type, QM_MAXPOOL);
    pool->relu = QM_ACT_RELU6; /* the pool kernels have no upper clamp */
    cr_expect_eq(qm_model_validate(&f->m, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "op 5 (maxpool): relu6 is fused only into"), "%s", err.msg);
    pool->relu = QM_ACT_NONE;
    cr_expect_eq(qm_model_validate(&f->m, &err), NN_OK, "%s", err.msg);
    /* and in a deploy image a pool's hi byte must be 127 */
    const rtb_options opt = {RT_TARGET_CORTEX_M4, RTB_SPARSE_AUTO, 0, RT_ISA_AUTO, 0, 0};
    size_t bytes;
    uint8_t *im = rtm_image(&f->m, &opt, &bytes, NULL);
    uint8_t *r = im + rt_rd32le(im + RT_H_OPS_OFF) + RT_OP_BYTES * 5;
    cr_assert_eq(r[RT_O_TYPE], RT_OP_MAXPOOL);
    r[RT_O_HI] = 100;
    const uint32_t crc = nn_crc32(im + 16, bytes - 16);
    im[RT_H_CRC] = (uint8_t)crc, im[RT_H_CRC + 1] = (uint8_t)(crc >> 8);
    im[RT_H_CRC + 2] = (uint8_t)(crc >> 16), im[RT_H_CRC + 3] = (uint8_t)(crc >> 24);
    rt_info info;
    cr_expect_eq(rt_image_check(im, bytes, &info), RT_E_FORMAT);
    cr_expect_eq(info.bad_op, 5);
    free(im);
    free(w.data);
    iotc_free(f);
    free(f), free(g);
    nn_model_free(&m);
}
