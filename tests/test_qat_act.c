/* Tests of fake-quantized activations (libnn/nn_act_grid.h, the executor's
 * grids, qz_act_grids, quantize.qat.activations): the rounding and clamp
 * rule, the clipped straight-through gradient through a fused ReLU, which
 * float layer carries each int8 op's grid, and that the float model on the
 * grids computes what the int8 model computes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_act_grid.h"
#include "libnn/nn_exec.h"
#include "quantize/qref.h"
#include "quantize/qz_fake.h"
#include "quantize/quantize.h"
#include "qfixtures.h"

/* Half steps round up (as the runtime's requantization), the clamp cuts
 * on both sides and the mask says where; NaN stays NaN and is cut. */
Test(act_grid, rounds_half_up_clamps_and_masks)
{
    const nn_act_grid g = {0.5f, -10, -12, 0}; /* grid points -1.0 .. 5.0 */
    float x[] = {1.2f, 0.25f, -0.25f, -0.26f, 4.74f, 5.3f, 100.0f, -1.3f, -1.0f, NAN};
    const float want[] = {1.0f, 0.5f, 0.0f, -0.5f, 4.5f, 5.0f, 5.0f, -1.0f, -1.0f, NAN};
    const uint8_t want_mask[] = {1, 1, 1, 1, 1, 0, 0, 0, 1, 0};
    uint8_t mask[10];
    memset(mask, 7, sizeof mask);
    nn_act_grid_forward(x, mask, 10, &g);
    for (int k = 0; k < 10; k++) {
        if (isnan(want[k]))
            cr_expect(isnan(x[k]), "element %d: %g", k, (double)x[k]);
        else
            cr_expect_eq(x[k], want[k], "element %d: %g, want %g", k, (double)x[k],
                         (double)want[k]);
        cr_expect_eq(mask[k], want_mask[k], "mask %d", k);
    }
    float grad[10];
    for (int k = 0; k < 10; k++)
        grad[k] = (float)(k + 1);
    nn_act_grid_backward(grad, mask, 10);
    for (int k = 0; k < 10; k++)
        cr_expect_eq(grad[k], want_mask[k] ? (float)(k + 1) : 0.0f, "gradient %d", k);
    float y[] = {2.6f, -3.0f};
    nn_act_grid_forward(y, NULL, 2, &g); /* evaluation: no mask */
    cr_expect(y[0] == 2.5f && y[1] == -1.0f);
}

/* dense(4 -> 3), ReLU (fused into the dense), a grid on the ReLU, dense(3
 * -> 2): the consumer reads the grid values, in training and evaluation;
 * backward, the gradient of a unit the clamp cut (or the ReLU zeroed) is 0
 * and the others pass straight through. Every figure is worked out by hand. */
Test(act_grid, executor_rounds_fused_outputs_and_clips_gradients)
{
    nn_model_spec s;
    LS_SPEC(&s, 4, 1, 1, 2, ls_dense(3), ls_layer(NN_LAYER_RELU), ls_dense(2));
    for (int i = 0; i < s.n_layers; i++)
        s.layers[i].input = i - 1;
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
    const nn_node *d1 = &m.nodes[0], *d2 = &m.nodes[2];
    const float x[4] = {1.0f, 0.5f, -1.0f, 2.0f};
    /* rows: 5.0 (beyond the clamp at 2.0), 0.3 (-> 0.25), -0.6 (ReLU -> 0) */
    const float w1[12] = {1, 0, 0, 2, 0.3f, 0, 0, 0, 0, 0, 0.6f, 0};
    const float w2[6] = {1, 2, 3, -1, 0.5f, 4};
    memcpy(m.params + d1->w.off, w1, sizeof w1);
    memcpy(m.params + d2->w.off, w2, sizeof w2);
    if (d1->b.n)
        memset(m.params + d1->b.off, 0, d1->b.n * sizeof(float));
    if (d2->b.n)
        memset(m.params + d2->b.off, 0, d2->b.n * sizeof(float));
    nn_act_grid grid[3];
    memset(grid, 0, sizeof grid);
    grid[1] = (nn_act_grid){0.25f, -128, -128, -120}; /* 0 .. 2.0 */
    m.act_grid = grid;
    for (int training = 0; training <= 1; training++) {
        nn_exec *ex;
        cr_assert_eq(nn_exec_create(&ex, &m, 1, 1, training, &err), NN_OK, "%s", err.msg);
        memcpy(nn_exec_input(ex), x, sizeof x);
        const float *lg = nn_exec_forward(ex, 1, training, 1, 0);
        const float *h = nn_exec_output(ex, 1);
        cr_expect(h[0] == 2.0f && h[1] == 0.25f && h[2] == 0.0f, "hidden %g %g %g", (double)h[0],
                  (double)h[1], (double)h[2]);
        cr_expect(lg[0] == 2.5f && lg[1] == -1.875f, "logits %g %g", (double)lg[0], (double)lg[1]);
        if (training) {
            const float dl[2] = {1.0f, -2.0f};
            nn_exec_backward(ex, dl, 1);
            const float *g = nn_exec_grads(ex);
            /* dh = W2^T dl = (1 - 2 * -1, 2 - 2 * 0.5, 3 - 2 * 4) = (3, 1, -5);
             * unit 0 cut by the clamp, unit 2 by the ReLU: only unit 1 flows. */
            for (int c = 0; c < 4; c++) {
                cr_expect_eq(g[d1->w.off + c], 0.0f, "clamped unit, input %d", c);
                cr_expect_eq(g[d1->w.off + 4 + c], 1.0f * x[c], "passing unit, input %d", c);
                cr_expect_eq(g[d1->w.off + 8 + c], 0.0f, "ReLU-zeroed unit, input %d", c);
            }
            /* the second layer's gradient is taken at the grid values */
            const float want2[6] = {2.0f, 0.25f, 0.0f, -4.0f, -0.5f, 0.0f};
            for (int k = 0; k < 6; k++)
                cr_expect_eq(g[d2->w.off + k], want2[k], "dense 2 weight %d: %g", k,
                             (double)g[d2->w.off + k]);
        }
        nn_exec_free(ex);
    }
    /* Without grids the same executor passes the raw values. */
    m.act_grid = NULL;
    nn_exec *ex;
    cr_assert_eq(nn_exec_create(&ex, &m, 1, 1, 0, &err), NN_OK, "%s", err.msg);
    memcpy(nn_exec_input(ex), x, sizeof x);
    nn_exec_forward(ex, 1, 0, 1, 0);
    const float *h = nn_exec_output(ex, 1);
    cr_expect(h[0] == 5.0f && fabsf(h[1] - 0.3f) < 1e-6f && h[2] == 0.0f);
    nn_exec_free(ex);
    nn_model_free(&m);
}

/* The plain fixture (conv-bn-relu, conv-maxpool-bn-relu, flatten,
 * dense-bn-relu, dropout, dense): which float layer outputs each op's
 * value. The second conv's batch norm and ReLU fold into it through the
 * max-pool, so no float layer outputs the conv op's value (-1), and the
 * pool op's value is the ReLU's; the logits get no grid; a pool's grid is
 * its input's quantization. */
Test(act_grid, each_op_is_gridded_at_the_layer_that_outputs_its_value)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 4, 0);
    nn_error err;
    qz_net net;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(net.n_ops, 5);
    const int want[5] = {2, -1, 6, 10, 12};
    for (int k = 0; k < 5; k++)
        cr_expect_eq(net.ops[k].value_layer, want[k], "op %d (%s): value layer %d, want %d", k,
                     net.ops[k].label, net.ops[k].value_layer, want[k]);
    uint8_t *px = qf_pixels(64, 1, 12, 12, 2);
    qz_config cfg;
    qz_config_defaults(&cfg);
    qz_data data = {px, NULL, NULL, 64, NULL, NULL, NULL, 0};
    qm_model q;
    cr_assert_eq(qz_quantize_model(&q, NULL, &m, &cfg, &data, 1, &err), NN_OK, "%s", err.msg);
    nn_act_grid grid[NN_MAX_LAYERS];
    float values[256];
    cr_assert_eq(qz_act_grids(grid, values, &m, &q, &err), NN_OK, "%s", err.msg);
    for (int p = 0; p < 256; p++) /* the input's table: the int8 input's values */
        cr_expect_eq(values[p], q.in.scale * (float)(q.input_lut[p] - q.in.zero), "pixel %d", p);
    for (int i = 0; i < m.n_nodes; i++) {
        int op = i == 2 ? 0 : i == 6 ? 2 : i == 10 ? 3 : -1;
        if (op < 0) {
            cr_expect_eq(grid[i].scale, 0.0f, "layer %d has a grid", i);
            continue;
        }
        cr_expect_eq(grid[i].scale, q.ops[op].out.scale, "layer %d", i);
        cr_expect_eq(grid[i].zero, q.ops[op].out.zero, "layer %d", i);
        cr_expect_eq(grid[i].lo, qm_op_lo(&q.ops[op]), "layer %d", i);
        cr_expect_eq(grid[i].hi, qm_op_hi(&q.ops[op]), "layer %d", i);
    }
    cr_expect_eq(grid[6].scale, q.ops[1].out.scale, "the pool keeps the conv's quantization");
    qm_model_free(&q);
    qz_net_free(&net);
    free(px);
    nn_model_free(&m);
}

/* A trained fixture model, quantized: with the int8 model's grids, the
 * float executor's activations are on the grid and equal the reference
 * int8 interpreter's integers (99.9% of them here; the rest a step away:
 * the int8 model rounds its biases, and a float sum can land on the other
 * side of a half step), and the two agree on the classes. Without the
 * grids the float values are off the grid. */
Test(act_grid, float_model_on_the_grids_computes_the_int8_model, .timeout = 60)
{
    enum { N = 400, NT = 64 };
    fx_set set = fx_stripe_set(N, 1, 12, 12, 10, 21);
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 8, 0);
    qf_train(&m, set.images, set.labels, N, 2);
    nn_error err;
    qz_config cfg;
    qz_config_defaults(&cfg);
    int bits[NN_MAX_LAYERS];
    cr_assert_eq(qz_layer_bits(bits, &m, &cfg, &err), NN_OK, "%s", err.msg);
    qz_fake fk; /* the weights on their grid, as QAT shows them */
    cr_assert_eq(qz_fake_init(&fk, &m, bits, &err), NN_OK, "%s", err.msg);
    qz_data data = {set.images, NULL, NULL, 200, NULL, NULL, NULL, 0};
    qm_model q;
    cr_assert_eq(qz_quantize_model(&q, NULL, &m, &cfg, &data, 1, &err), NN_OK, "%s", err.msg);
    nn_act_grid grid[NN_MAX_LAYERS];
    float values[256];
    cr_assert_eq(qz_act_grids(grid, values, &m, &q, &err), NN_OK, "%s", err.msg);
    const uint8_t *test = set.images + (size_t)200 * 144;
    int8_t *scratch = malloc(qm_ref_scratch_bytes(&q));
    for (int with = 1; with >= 0; with--) {
        m.act_grid = with ? grid : NULL;
        m.input_values = with ? values : NULL;
        nn_exec *ex;
        cr_assert_eq(nn_exec_create(&ex, &m, NT, 1, 0, &err), NN_OK, "%s", err.msg);
        nn_exec_load_images(ex, test, NULL, NT, NULL, NULL, 0);
        const float *lg = nn_exec_forward(ex, NT, 0, 0, 0);
        long same = 0, near = 0, total = 0, on_grid = 0;
        int agree = 0;
        for (int i = 0; i < NT; i++) {
            qm_ref_run(&q, test + (size_t)i * 144, scratch);
            const float *row = lg + (size_t)i * 10;
            int best = 0;
            for (int k = 1; k < 10; k++)
                best = row[k] > row[best] ? k : best;
            agree += best == qm_ref_argmax(&q, scratch);
            /* op 0 (node 2, 8x12x12) and op 3 (node 10, 16 values) */
            for (int pass = 0; pass < 2; pass++) {
                int op = pass ? 3 : 0, node = pass ? 10 : 2;
                const nn_node *nd = &m.nodes[node];
                const float *f = nn_exec_output(ex, node) + (size_t)i * nd->out_size;
                const int8_t *t = qm_ref_tensor(&q, scratch, op);
                const double sc = q.ops[op].out.scale, z = q.ops[op].out.zero;
                const int hw = nd->out_h * nd->out_w;
                for (int c = 0; c < nd->out_c; c++)
                    for (int p = 0; p < hw; p++) {
                        double steps = f[(size_t)c * hw + p] / sc + z;
                        int v = t[(size_t)p * nd->out_c + c];
                        on_grid += fabs(steps - round(steps)) < 1e-3;
                        same += fabs(steps - v) < 1e-3;
                        near += fabs(steps - v) < 1.0 + 1e-3;
                        total++;
                    }
            }
        }
        if (with) {
            cr_expect_eq(on_grid, total, "%ld of %ld values off the grid", total - on_grid, total);
            cr_expect_geq(same * 1000, total * 995, "only %ld of %ld values equal the int8 ones",
                          same, total);
            cr_expect_geq(near * 1000, total * 998, "%ld of %ld values more than a step away",
                          total - near, total);
            cr_expect_geq(agree, NT - 2, "classes agree on only %d of %d images", agree, NT);
        } else {
            cr_expect_lt(on_grid * 2, total, "without grids %ld of %ld values on the grid", on_grid,
                         total);
        }
        nn_exec_free(ex);
    }
    m.act_grid = NULL;
    m.input_values = NULL;
    qz_fake_free(&fk);
    free(scratch);
    qm_model_free(&q);
    nn_model_free(&m);
    free(set.images), free(set.labels);
}
