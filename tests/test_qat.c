/* Tests of quantization-aware training (quantize/qz_fake.h, pl_qat):
 * the fake-quantized weights are exactly on the grid the quantizer then
 * uses (through batch-norm folding, at 8 and 4 bits), the
 * straight-through step moves the float masters by the optimizer's change
 * and holds pruned zeros, and the bits follow the quantize block. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/qparams.h"
#include "libnn/nn_exec.h"
#include "quantize/qz_fake.h"
#include "quantize/quantize.h"
#include "qfixtures.h"

/* The grid of one channel: every value is k * s for an integer |k| <= qmax
 * with one s, and the largest |k| is qmax at 8 bits. */
Test(qat_fake, channel_values_lie_on_the_per_channel_grid)
{
    float w[37], q[37], qq[37], scratch[37];
    nn_rng r;
    nn_rng_seed(&r, 5);
    for (int bits = 4; bits <= 8; bits += 4) {
        for (int k = 0; k < 37; k++)
            w[k] = 0.3f * (nn_rng_uniform(&r) - 0.5f) + (k == 11 ? 0.4f : 0.0f);
        qz_fake_channel(w, 37, 1.0, bits, scratch, q);
        const int qmax = bits == 8 ? 127 : 7;
        double wmax = 0;
        for (int k = 0; k < 37; k++)
            wmax = fmax(wmax, fabs((double)w[k]));
        const double s = qp_round_scale_up((float)qz_weight_scale(w, 37, wmax, bits)) *
                         (1.0 - 1.0 / 262144.0); /* qz_fake.h: a hair below the grid */
        int kmax = 0;
        for (int k = 0; k < 37; k++) {
            double steps = (double)q[k] / s;
            cr_expect(fabs(steps - round(steps)) < 1e-4, "bits %d: %g is not on the grid", bits,
                      (double)q[k]);
            cr_expect_leq(fabs(round(steps)), qmax);
            cr_expect_leq(fabs((double)q[k] - w[k]), 0.5 * s + 1e-7 + (bits == 4 ? wmax : 0),
                          "bits %d: weight %d moved by more than half a step", bits, k);
            kmax = (int)fmax(kmax, fabs(round(steps)));
        }
        if (bits == 8)
            cr_expect_eq(kmax, 127, "the largest weight must map to the end of the grid");
        qz_fake_channel(q, 37, 1.0, bits, scratch, qq); /* the grid of the grid: itself */
        for (int k = 0; k < 37; k++)
            cr_expect(fabs((double)qq[k] - q[k]) <= 1e-6 * s, "bits %d: not idempotent", bits);
    }
    float z[5] = {0};
    qz_fake_channel(z, 5, 1.0, 8, scratch, z);
    for (int k = 0; k < 5; k++)
        cr_expect_eq(z[k], 0.0f);
}

/* Quantizes m with its weights shown on the QAT grid (first layer at 8
 * bits, the others at `bits`) and checks that every weighted op's folded
 * weights are exactly the int8 integers times their scales. */
static void expect_grid_is_the_quantizers(nn_model *m, int bits, int spans, int in_c, int hw)
{
    qz_config cfg;
    qz_config_defaults(&cfg);
    cfg.weight_bits = bits;
    cfg.override_layer[0] = 0, cfg.override_bits[0] = 8, cfg.n_overrides = 1;
    nn_error err;
    int lb[NN_MAX_LAYERS];
    cr_assert_eq(qz_layer_bits(lb, m, &cfg, &err), NN_OK, "%s", err.msg);
    qz_fake fk;
    cr_assert_eq(qz_fake_init(&fk, m, lb, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(fk.n_spans, spans);
    uint8_t *px = qf_pixels(64, in_c, hw, hw, 3);
    qz_data data = {px, NULL, NULL, 64, NULL, NULL, NULL, 0};
    qm_model q;
    qz_result res;
    cr_assert_eq(qz_quantize_model(&q, &res, m, &cfg, &data, 1, &err), NN_OK, "%s", err.msg);
    qz_net net;
    cr_assert_eq(qz_lower(&net, m, &err), NN_OK, "%s", err.msg);
    int checked = 0;
    for (int i = 0; i < net.n_ops; i++) {
        const qz_fop *f = &net.ops[i];
        const qm_op *op = &q.ops[i];
        if (f->from_bn || !qm_is_weighted(f->type))
            continue;
        cr_expect_eq(op->weight_bits, i == 0 ? 8 : bits);
        const size_t per = f->n_weights / (size_t)f->out_c;
        for (size_t k = 0; k < f->n_weights; k++) {
            /* in steps of the grid: the shown weights sit 2^-18 below it */
            double steps = (double)f->w[k] / op->w_scale[k / per];
            cr_assert(fabs(steps - op->weights[k]) <= 1e-3,
                      "bits %d, op %d, weight %zu: folded %.9g, int8 %d * %.9g", bits, i, k,
                      (double)f->w[k], op->weights[k], (double)op->w_scale[k / per]);
        }
        checked++;
    }
    cr_expect_eq(checked, spans);
    qz_net_free(&net);
    qm_model_free(&q);
    free(px);
    qz_fake_free(&fk);
}

/* The weights QAT shows (folded with batch norm, negative gammas too) are
 * exactly the integers times the scales of the int8 model quantized from
 * them, at 8 bits and with 4-bit layers: QAT trains the deployed grid. */
Test(qat_fake, shown_weights_are_the_quantizers_grid_through_folding)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    for (int bits = 4; bits <= 8; bits += 4) {
        nn_model m;
        qf_build(&m, &s, 9, 1);
        qz_config cfg;
        qz_config_defaults(&cfg);
        cfg.weight_bits = bits;
        cfg.override_layer[0] = 0, cfg.override_bits[0] = 8, cfg.n_overrides = 1;
        nn_error err;
        int lb[NN_MAX_LAYERS];
        cr_assert_eq(qz_layer_bits(lb, &m, &cfg, &err), NN_OK, "%s", err.msg);
        cr_expect(lb[0] == 8 && lb[3] == bits && lb[8] == bits && lb[12] == bits);
        cr_expect(lb[1] == 0 && lb[2] == 0 && lb[4] == 0, "layers without weights get 0 bits");
        expect_grid_is_the_quantizers(&m, bits, 4, 1, 12);
        nn_model_free(&m);
    }
}

/* The same through a depthwise conv with batch norm and ReLU6. */
Test(qat_fake, depthwise_weights_too)
{
    nn_model_spec s;
    const nn_layer_spec bn = ls_layer(NN_LAYER_BATCHNORM), r6 = ls_layer(NN_LAYER_RELU6);
    nn_layer_spec dw = ls_layer(NN_LAYER_DEPTHWISE_CONV2D);
    dw.kernel = 3, dw.pad = 1, dw.bias = 0;
    LS_SPEC(&s, 2, 8, 8, 4, ls_conv(8, 3, 1, 0), bn, r6, dw, bn, r6, ls_conv(6, 1, 0, 0), bn,
            r6, ls_layer(NN_LAYER_FLATTEN), ls_dense(4));
    for (int i = 0; i < s.n_layers; i++)
        s.layers[i].input = i - 1;
    for (int bits = 4; bits <= 8; bits += 4) {
        nn_model m;
        qf_build(&m, &s, 11, 1);
        expect_grid_is_the_quantizers(&m, bits, 4, 2, 8);
        nn_model_free(&m);
    }
}

/* The straight-through step: the masters move by exactly what the
 * optimizer did to the shown weights, the shown weights are the masters'
 * grid, pruned zeros stay zero, and the other parameters keep the
 * optimizer's values. */
Test(qat_fake, step_moves_masters_by_the_optimizers_change)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 4, 0);
    const nn_node *c0 = &m.nodes[0], *bn = &m.nodes[1];
    m.params[c0->w.off + 5] = 0.0f; /* a pruned weight */
    float *master0 = malloc(m.n_params * sizeof(float));
    memcpy(master0, m.params, m.n_params * sizeof(float));
    int lb[NN_MAX_LAYERS] = {0};
    lb[0] = 8, lb[3] = 4;
    qz_fake fk;
    nn_error err;
    cr_assert_eq(qz_fake_init(&fk, &m, lb, &err), NN_OK, "%s", err.msg);
    const size_t per = c0->w.n / 8;
    float grid[64], scratch[64];
    qz_fake_channel(master0 + c0->w.off, per, fk.span[0].fold[0], 8, scratch, grid);
    cr_assert_arr_eq(m.params + c0->w.off, grid, per * sizeof(float), "not shown on the grid");
    float *shown = malloc(m.n_params * sizeof(float));
    memcpy(shown, m.params, m.n_params * sizeof(float));
    for (size_t k = 0; k < m.n_params; k++) /* an "optimizer step" */
        m.params[k] -= 0.01f * (float)((k % 7) + 1);
    float *after_opt = malloc(m.n_params * sizeof(float));
    memcpy(after_opt, m.params, m.n_params * sizeof(float));
    qz_fake_step(&fk, &m);
    for (size_t k = c0->w.off; k < c0->w.off + c0->w.n; k++) {
        float want = k == c0->w.off + 5 ? 0.0f : master0[k] + (after_opt[k] - shown[k]);
        cr_assert_eq(fk.master[k], want, "master %zu: %.9g, want %.9g", k, (double)fk.master[k],
                     (double)want);
    }
    cr_expect_eq(m.params[c0->w.off + 5], 0.0f, "a pruned weight came back");
    for (int o = 0; o < 8; o++) {
        qz_fake_channel(fk.master + c0->w.off + o * per, per, fk.span[0].fold[o], 8, scratch,
                        grid);
        cr_expect_arr_eq(m.params + c0->w.off + o * per, grid, per * sizeof(float),
                         "channel %d is not the masters' grid after the step", o);
    }
    for (size_t k = bn->w.off; k < bn->w.off + bn->w.n; k++)
        cr_expect_eq(m.params[k], after_opt[k], "batch norm gamma %zu changed", k);
    const nn_node *d = &m.nodes[8]; /* 0 bits: not fake-quantized */
    cr_expect_arr_eq(m.params + d->w.off, after_opt + d->w.off, d->w.n * sizeof(float));
    free(master0), free(shown), free(after_opt);
    qz_fake_free(&fk);
    nn_model_free(&m);
}

Test(qat_fake, auto_bits_are_refused)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 4, 0);
    qz_config cfg;
    qz_config_defaults(&cfg);
    cfg.auto_bits = 1;
    int lb[NN_MAX_LAYERS];
    nn_error err;
    cr_expect_eq(qz_layer_bits(lb, &m, &cfg, &err), NN_ERR_ARG);
    cr_expect(strstr(err.msg, "auto") != NULL, "%s", err.msg);
    nn_model_free(&m);
}
