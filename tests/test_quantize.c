/* Tests of the quantizer (compress/quantize.h): the folded float net
 * equals the float model for every folding rule; the int8 model (run by
 * the reference interpreter) follows the float model within stated bounds
 * and agrees with its float simulation; weight and bias quantization on
 * edge cases (all-zero channels, tiny multipliers, 4-bit clipping). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../compress/qparams.h"
#include "../compress/qref.h"
#include "../compress/quantize.h"
#include "qfixtures.h"

/* ---- 1. folding: the folded net computes the float model's function ----- */

/* Lowers m, runs both on n random images and checks every logit agrees to
 * 1e-4 relative (float rounding only: folding is exact algebra). */
static void expect_same_function(nn_model *m, qz_net *net, int n, uint64_t seed)
{
    nn_error err;
    cr_assert_eq(qz_lower(net, m, &err), NN_OK, "%s", err.msg);
    const nn_model_spec *s = &m->spec;
    uint8_t *px = qf_pixels(n, s->in_c, s->in_h, s->in_w, seed);
    float *want = qf_float_logits(m, px, n);
    float *tens = malloc(net->tensor_floats * sizeof(float));
    float *col = malloc((net->col_floats + 1) * sizeof(float));
    size_t img = (size_t)s->in_c * s->in_h * s->in_w;
    for (int i = 0; i < n; i++) {
        qz_net_forward(net, NULL, px + i * img, tens, col);
        const float *got = qz_net_logits(net, tens);
        for (int k = 0; k < s->num_classes; k++) {
            float w = want[i * s->num_classes + k];
            cr_expect(fabsf(got[k] - w) <= 1e-4f * (1.0f + fabsf(w)),
                      "image %d logit %d: folded %.7g, float %.7g", i, k, (double)got[k],
                      (double)w);
        }
    }
    free(px), free(want), free(tens), free(col);
}

static void expect_op(const qz_net *net, int i, qm_op_type type, int relu, int from_bn)
{
    cr_assert_lt(i, net->n_ops);
    const qz_fop *op = &net->ops[i];
    cr_expect_eq(op->type, type, "op %d: type %d, want %d", i, op->type, type);
    cr_expect_eq(op->relu, relu, "op %d: relu %d, want %d", i, op->relu, relu);
    cr_expect_eq(op->from_bn, from_bn, "op %d: from_bn %d, want %d", i, op->from_bn, from_bn);
}

Test(quantize_fold, conv_bn_relu_through_maxpool_and_dense_bn)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 3, 0);
    qz_net net;
    expect_same_function(&m, &net, 8, 1);
    /* Every batch norm folded, every ReLU fused, dropout and flatten gone. */
    cr_assert_eq(net.n_ops, 5);
    expect_op(&net, 0, QM_CONV2D, 1, 0);
    expect_op(&net, 1, QM_CONV2D, 1, 0); /* BN folded through the max-pool */
    expect_op(&net, 2, QM_MAXPOOL, 0, 0);
    expect_op(&net, 3, QM_DENSE, 1, 0); /* dense-bn-relu */
    expect_op(&net, 4, QM_DENSE, 0, 0);
    cr_expect_eq(net.ops[3].src_layer, 8);
    cr_expect_eq(net.num_classes, 10);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* conv - maxpool - bn (negative gammas) - relu: the batch norm cannot pass
 * the max-pool, so it becomes a 1x1 diagonal conv with the ReLU fused. */
Test(quantize_fold, negative_scale_behind_maxpool_becomes_a_diagonal_conv)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 2, s.in_h = 8, s.in_w = 8, s.num_classes = 4;
    s.layers[0] = qf_conv(6, 3, 1, 1);
    s.layers[1] = qf_layer(NN_LAYER_MAXPOOL);
    s.layers[2] = qf_layer(NN_LAYER_BATCHNORM);
    s.layers[3] = qf_layer(NN_LAYER_RELU);
    s.layers[4] = qf_layer(NN_LAYER_FLATTEN);
    s.layers[5] = qf_dense(4);
    s.n_layers = 6;
    nn_model m;
    qf_build(&m, &s, 5, 1);
    qz_net net;
    expect_same_function(&m, &net, 8, 2);
    cr_assert_eq(net.n_ops, 4);
    expect_op(&net, 0, QM_CONV2D, 0, 0);
    expect_op(&net, 1, QM_MAXPOOL, 0, 0);
    expect_op(&net, 2, QM_CONV2D, 1, 1);
    expect_op(&net, 3, QM_DENSE, 0, 0);
    /* Diagonal: only w[c][c] is non-zero. */
    const qz_fop *d = &net.ops[2];
    cr_assert_eq(d->kernel, 1);
    for (int o = 0; o < 6; o++)
        for (int c = 0; c < 6; c++)
            cr_expect((d->w[o * 6 + c] != 0.0f) == (o == c), "w[%d][%d] = %g", o, c,
                      (double)d->w[o * 6 + c]);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* A ReLU on the input, a conv read twice (its value is shared, so the batch
 * norm after it cannot fold), a residual add with its ReLU fused, a second
 * ReLU that vanishes, an average pool and a batch norm after an add (no
 * conv to fold into), global average pooling, a dense layer. */
Test(quantize_fold, shared_values_residual_add_pools_and_lone_relus)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 2, s.in_h = 8, s.in_w = 8, s.num_classes = 3;
    int n = 0;
    s.layers[n++] = qf_layer(NN_LAYER_RELU); /* 0 */
    nn_layer_spec c = qf_conv(4, 3, 1, 1);
    strcpy(c.name, "c");
    s.layers[n++] = c;                            /* 1 */
    s.layers[n++] = qf_layer(NN_LAYER_BATCHNORM); /* 2 */
    s.layers[n++] = qf_layer(NN_LAYER_RELU);      /* 3 */
    s.layers[n++] = qf_conv(4, 1, 0, 1);          /* 4 */
    nn_layer_spec add = qf_layer(NN_LAYER_ADD);
    add.input2 = 1;
    s.layers[n++] = add;                               /* 5 */
    s.layers[n++] = qf_layer(NN_LAYER_RELU);           /* 6 */
    s.layers[n++] = qf_layer(NN_LAYER_RELU);           /* 7 */
    s.layers[n++] = qf_layer(NN_LAYER_AVGPOOL);        /* 8 -> 4x4x4 */
    s.layers[n++] = qf_layer(NN_LAYER_BATCHNORM);      /* 9 */
    s.layers[n++] = qf_layer(NN_LAYER_GLOBAL_AVGPOOL); /* 10 */
    s.layers[n++] = qf_dense(3);                       /* 11 */
    s.n_layers = n;
    nn_model m;
    qf_build(&m, &s, 11, 0);
    qz_net net;
    expect_same_function(&m, &net, 8, 3);
    cr_assert_eq(net.n_ops, 9);
    expect_op(&net, 0, QM_CONV2D, 1, 2); /* identity 1x1 conv with ReLU */
    expect_op(&net, 1, QM_CONV2D, 0, 0); /* "c": shared, nothing folds in */
    expect_op(&net, 2, QM_CONV2D, 1, 1); /* its batch norm, ReLU fused */
    expect_op(&net, 3, QM_CONV2D, 0, 0);
    expect_op(&net, 4, QM_ADD, 1, 0); /* both ReLUs: one fused, one gone */
    expect_op(&net, 5, QM_AVGPOOL, 0, 0);
    expect_op(&net, 6, QM_CONV2D, 0, 1); /* batch norm after an add: diagonal */
    expect_op(&net, 7, QM_GLOBAL_AVGPOOL, 0, 0);
    expect_op(&net, 8, QM_DENSE, 0, 0);
    cr_expect_eq(net.ops[4].input, 3);
    cr_expect_eq(net.ops[4].input2, 1);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* A batch norm folds through an average pool whatever its sign (the pool
 * is linear); a dead branch is dropped; a dense layer reading a conv
 * output directly and a 1x1 conv after flatten both read the NCHW flatten
 * order, which the lowering permutes to HWC. */
Test(quantize_fold, avgpool_fold_dead_branch_and_flatten_orders)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 3, s.in_h = 6, s.in_w = 6, s.num_classes = 2;
    int n = 0;
    s.layers[n++] = qf_conv(4, 3, 1, 1);                       /* 0 */
    s.layers[n++] = qf_layer(NN_LAYER_AVGPOOL);                /* 1 -> 4x3x3 */
    s.layers[n++] = qf_layer(NN_LAYER_BATCHNORM);              /* 2 */
    s.layers[n++] = qf_dense(5);                               /* 3: dead */
    s.layers[n++] = qf_reading(qf_layer(NN_LAYER_FLATTEN), 2); /* 4 */
    s.layers[n++] = qf_conv(7, 1, 0, 1);                       /* 5 on (36,1,1) */
    s.layers[n++] = qf_layer(NN_LAYER_RELU);                   /* 6 */
    s.layers[n++] = qf_dense(2);                               /* 7 */
    s.n_layers = n;
    nn_model m;
    qf_build(&m, &s, 13, 1);
    qz_net net;
    expect_same_function(&m, &net, 8, 4);
    cr_assert_eq(net.n_ops, 4);
    expect_op(&net, 0, QM_CONV2D, 0, 0);
    expect_op(&net, 1, QM_AVGPOOL, 0, 0);
    expect_op(&net, 2, QM_DENSE, 1, 0); /* the 1x1 conv on the flattened view */
    expect_op(&net, 3, QM_DENSE, 0, 0);
    cr_expect_eq(net.ops[2].src_layer, 5);
    qz_net_free(&net);

    /* And a dense reading a conv output with no flatten in between. */
    memset(&s, 0, sizeof s);
    s.in_c = 2, s.in_h = 5, s.in_w = 4, s.num_classes = 3;
    s.layers[0] = qf_conv(3, 3, 1, 1);
    s.layers[1] = qf_dense(3);
    s.n_layers = 2;
    nn_model m2;
    qf_build(&m2, &s, 17, 0);
    expect_same_function(&m2, &net, 6, 5);
    cr_assert_eq(net.n_ops, 2);
    qz_net_free(&net);
    nn_model_free(&m2);
    nn_model_free(&m);
}

Test(quantize_fold, unsupported_layouts_are_errors_naming_the_layer)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 1, s.in_h = 6, s.in_w = 6, s.num_classes = 36;
    s.layers[0] = qf_layer(NN_LAYER_FLATTEN);
    s.layers[1] = qf_layer(NN_LAYER_BATCHNORM); /* over the flattened vector */
    s.n_layers = 2;
    nn_model m;
    qf_build(&m, &s, 1, 0);
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_ERR_ARG);
    cr_expect(strstr(err.msg, "layer 1 (batchnorm)"), "%s", err.msg);
    nn_model_free(&m);
}

/* ---- 2. int8 against float ---------------------------------------------- */

typedef struct {
    nn_model m;
    uint8_t *train_x, *train_y, *test_x, *test_y;
    int n_train, n_test;
} trained;

/* The plain model trained for 3 epochs on 400 stripes images; 200 others
 * to test on. */
static void train_plain(trained *t)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    qf_build(&t->m, &s, 21, 0);
    t->n_train = 400, t->n_test = 200;
    t->train_x = malloc(400 * 144), t->train_y = malloc(400);
    t->test_x = malloc(200 * 144), t->test_y = malloc(200);
    fx_stripes(t->train_x, t->train_y, 400, 1, 12, 12, 10, 31);
    fx_stripes(t->test_x, t->test_y, 200, 1, 12, 12, 10, 32);
    qf_train(&t->m, t->train_x, t->train_y, 400, 3);
}

static void free_trained(trained *t)
{
    nn_model_free(&t->m);
    free(t->train_x), free(t->train_y), free(t->test_x), free(t->test_y);
}

static int argmax(const float *v, int k)
{
    int a = 0;
    for (int i = 1; i < k; i++)
        if (v[i] > v[a])
            a = i;
    return a;
}

typedef struct {
    double max_steps_fq; /* int8 vs float simulation, in output steps   */
    double mean_steps_fq;
    double max_steps_float; /* int8 vs float model, in output steps         */
    double mean_steps_float;
    double agree_float; /* argmax agreement with the float model        */
    double acc_float, acc_int8;
} comparison;

/* Quantizes t's model with cfg and compares on the test images. */
static void compare(trained *t, const qz_config *cfg, comparison *c)
{
    nn_error err;
    uint32_t idx[200];
    qz_pick_calibration(idx, 200, t->n_train, cfg->seed);
    qm_model q;
    cr_assert_eq(qz_quantize_model(&q, &t->m, cfg, t->train_x, t->train_y, idx, 200, 2, &err),
                 NN_OK, "%s", err.msg);
    qz_net net, deq;
    cr_assert_eq(qz_lower(&net, &t->m, &err), NN_OK);
    cr_assert_eq(qz_net_dequantize(&deq, &net, &q, &err), NN_OK);
    float *want = qf_float_logits(&t->m, t->test_x, t->n_test);
    int8_t *scratch = malloc(qm_ref_scratch_bytes(&q));
    float *tens = malloc(net.tensor_floats * sizeof(float));
    float *col = malloc((net.col_floats + 1) * sizeof(float));
    const float step = q.ops[q.n_ops - 1].out.scale;
    memset(c, 0, sizeof *c);
    int agree = 0, ok_f = 0, ok_q = 0, k = 10;
    for (int i = 0; i < t->n_test; i++) {
        qm_ref_run(&q, t->test_x + i * 144, scratch);
        float got[10];
        qm_ref_logits(&q, scratch, got);
        qz_net_forward(&deq, &q, t->test_x + i * 144, tens, col);
        const float *fq = qz_net_logits(&deq, tens), *fl = want + i * k;
        for (int j = 0; j < k; j++) {
            double dq = fabs((double)got[j] - fq[j]) / step,
                   df = fabs((double)got[j] - fl[j]) / step;
            c->max_steps_fq = dq > c->max_steps_fq ? dq : c->max_steps_fq;
            c->max_steps_float = df > c->max_steps_float ? df : c->max_steps_float;
            c->mean_steps_fq += dq / (t->n_test * k);
            c->mean_steps_float += df / (t->n_test * k);
        }
        int a = qm_ref_argmax(&q, scratch), b = argmax(fl, k);
        agree += a == b;
        ok_q += a == t->test_y[i];
        ok_f += b == t->test_y[i];
    }
    c->agree_float = (double)agree / t->n_test;
    c->acc_float = (double)ok_f / t->n_test;
    c->acc_int8 = (double)ok_q / t->n_test;
    free(want), free(scratch), free(tens), free(col);
    qz_net_free(&deq);
    qz_net_free(&net);
    qm_model_free(&q);
}

/* Bounds (8-bit weights, each calibration method):
 *  - int8 vs its float simulation (same integers, float arithmetic): at
 *    most 2 output steps on any logit, 0.1 on average (the simulation
 *    differs only in the rounding of multipliers and ties);
 *  - int8 vs the float model: at most 4 steps, 0.6 on average, and the
 *    same class for at least 98% of the images (measured: 1.6, 0.31, 100%). */
Test(quantize_int8, follows_the_float_model_within_bounds)
{
    trained t;
    train_plain(&t);
    qz_config cfg;
    qz_config_defaults(&cfg);
    for (int method = QZ_MINMAX; method <= QZ_MSE; method++) {
        cfg.method = (qz_method)method;
        comparison c;
        compare(&t, &cfg, &c);
        cr_log_info(
            "%s: fq max %.2f mean %.3f; float max %.2f mean %.3f; agree %.3f; acc %.3f/%.3f",
            qz_method_name(cfg.method), c.max_steps_fq, c.mean_steps_fq, c.max_steps_float,
            c.mean_steps_float, c.agree_float, c.acc_float, c.acc_int8);
        cr_expect_gt(c.acc_float, 0.8, "the float model did not learn (%.3f)", c.acc_float);
        cr_expect_leq(c.max_steps_fq, 2.0, "%s", qz_method_name(cfg.method));
        cr_expect_leq(c.mean_steps_fq, 0.1, "%s", qz_method_name(cfg.method));
        cr_expect_leq(c.max_steps_float, 4.0, "%s", qz_method_name(cfg.method));
        cr_expect_leq(c.mean_steps_float, 0.6, "%s", qz_method_name(cfg.method));
        cr_expect_geq(c.agree_float, 0.98, "%s", qz_method_name(cfg.method));
    }
    /* 4-bit weights: coarser (measured: max 11 steps, mean 3.3), still the
     * same class for 90%. */
    cfg.method = QZ_MSE;
    cfg.weight_bits = 4;
    comparison c;
    compare(&t, &cfg, &c);
    cr_log_info("4-bit: float max %.2f mean %.3f agree %.3f", c.max_steps_float, c.mean_steps_float,
                c.agree_float);
    cr_expect_leq(c.max_steps_fq, 2.0);
    cr_expect_leq(c.mean_steps_float, 6.0);
    cr_expect_geq(c.agree_float, 0.9);
    free_trained(&t);
}

/* Lower bits where accuracy allows: with no accuracy to spare the kept
 * 4-bit layers cost nothing on the calibration images; with all of it to
 * spare every layer goes to 4 bits; the choice does not depend on the
 * thread count; and the simulated accuracy is that of the integer model. */
Test(quantize_int8, auto_bits_keep_accuracy)
{
    trained t;
    train_plain(&t);
    nn_error err;
    qz_net net;
    cr_assert_eq(qz_lower(&net, &t.m, &err), NN_OK);
    uint32_t idx[200];
    qz_pick_calibration(idx, 200, t.n_train, 1);
    double lo[8], hi[8], a0, a1;
    cr_assert_eq(qz_calibrate(lo, hi, &net, t.train_x, idx, 200, QZ_MSE, 0, 2, &err), NN_OK);
    int fixed[8] = {0}, bits[8], bits1[8];
    const int eight[8] = {8, 8, 0, 8, 8, 0, 0, 0};
    memcpy(bits, eight, sizeof bits);
    cr_assert_eq(qz_auto_bits(bits, fixed, &net, lo, hi, t.train_x, t.train_y, idx, 200, 0.0, 2,
                              &a0, &a1, &err),
                 NN_OK, "%s", err.msg);
    cr_expect_geq(a1, a0, "no drop allowed: %.3f -> %.3f", a0, a1);
    memcpy(bits1, eight, sizeof bits1);
    cr_assert_eq(qz_auto_bits(bits1, fixed, &net, lo, hi, t.train_x, t.train_y, idx, 200, 0.0, 1,
                              &a0, &a1, &err),
                 NN_OK);
    cr_expect_eq(memcmp(bits, bits1, sizeof bits), 0, "thread count changed the choice");
    memcpy(bits, eight, sizeof bits);
    fixed[4] = 1; /* an override keeps the last dense at 8 bits */
    cr_assert_eq(qz_auto_bits(bits, fixed, &net, lo, hi, t.train_x, t.train_y, idx, 200, 100.0, 2,
                              &a0, &a1, &err),
                 NN_OK);
    const int want[5] = {4, 4, 0, 4, 8};
    for (int i = 0; i < 5; i++)
        cr_expect_eq(bits[i], want[i], "op %d", i);
    /* Simulated accuracy vs the integer model's on the test images. */
    qm_model q;
    cr_assert_eq(qz_build(&q, &net, lo, hi, bits, &err), NN_OK);
    double sim;
    cr_assert_eq(qz_simulated_accuracy(&sim, &net, &q, t.test_x, t.test_y, NULL, 200, 2, &err),
                 NN_OK);
    int correct;
    cr_assert_eq(qm_ref_classify(&q, t.test_x, t.test_y, 200, 2, NULL, &correct, &err), NN_OK);
    cr_expect(fabs(sim - correct / 200.0) <= 0.01, "simulated %.3f, integer %.3f", sim,
              correct / 200.0);
    qm_model_free(&q);
    qz_net_free(&net);
    free_trained(&t);
}

/* ---- 3. weights, biases, multipliers -------------------------------------- */

/* A one-conv net whose weights and ranges the test sets by hand. */
static void one_conv_net(qz_net *net, int out_c, int in_c, int k)
{
    memset(net, 0, sizeof *net);
    net->in_c = in_c, net->in_h = 4, net->in_w = 4;
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        net->mean[c] = 0.5f, net->std[c] = 0.25f;
    net->n_ops = 1;
    qz_fop *op = &net->ops[0];
    op->type = QM_CONV2D;
    op->input = QM_INPUT;
    op->in_c = in_c, op->in_h = 4, op->in_w = 4;
    op->out_c = out_c, op->out_h = 4 - k + 1, op->out_w = 4 - k + 1;
    op->kernel = k, op->stride = 1;
    op->n_weights = (size_t)out_c * k * k * in_c;
    op->w = calloc(op->n_weights, sizeof(float));
    op->b = calloc((size_t)out_c, sizeof(float));
    net->num_classes = out_c * op->out_h * op->out_w;
}

Test(quantize_weights, per_channel_scales_zero_channels_and_tiny_multipliers)
{
    qz_net net;
    one_conv_net(&net, 4, 2, 1);
    float *w = net.ops[0].w, *b = net.ops[0].b;
    w[0] = 0.5f, w[1] = -0.25f; /* channel 0: max 0.5                   */
    w[2] = 0.0f, w[3] = 0.0f;   /* channel 1: all zero, bias 0.75       */
    b[1] = 0.75f;
    w[4] = 1e-30f, w[5] = 0.0f; /* channel 2: a multiplier below 2^-32  */
    b[2] = -0.5f;
    w[6] = -2.0f, w[7] = 1.0f; /* channel 3: max 2                     */
    double lo = -4, hi = 4;
    int bits = 8;
    qm_model q;
    nn_error err;
    cr_assert_eq(qz_build(&q, &net, &lo, &hi, &bits, &err), NN_OK, "%s", err.msg);
    const qm_op *op = &q.ops[0];
    /* The largest weight maps to +-127 (the scale rounded up by at most
     * 2^-8 relative, so it may land on 126 or 127). */
    cr_expect(op->weights[0] >= 126 && op->weights[0] <= 127, "%d", op->weights[0]);
    cr_expect(op->weights[6] <= -126 && op->weights[6] >= -127, "%d", op->weights[6]);
    cr_expect_float_eq(op->w_scale[0], 0.5f / 127, 0.5f / 127 / 128);
    /* Zero and tiny channels: no weights, and the bias alone gives the
     * output: bias * in_scale * w_scale is the float bias. */
    for (int o = 1; o <= 2; o++) {
        cr_expect_eq(op->weights[2 * o], 0);
        cr_expect_eq(op->weights[2 * o + 1], 0);
        double real = (double)op->bias[o] * q.in.scale * op->w_scale[o];
        cr_expect(fabs(real - b[o]) <= 1e-3, "channel %d: bias %g, want %g", o, real, (double)b[o]);
        cr_expect_geq(op->mult[o], 1 << 30);
    }
    /* Every channel's multiplier is in_scale * w_scale / out_scale. */
    for (int o = 0; o < 4; o++) {
        double real = (double)q.in.scale * op->w_scale[o] / op->out.scale;
        double got = op->mult[o] * ldexp(1.0, -op->shift[o]);
        cr_expect(fabs(got - real) <= real * ldexp(1.0, -30), "channel %d: %g vs %g", o, got, real);
    }
    qm_model_free(&q);
    qz_net_free(&net);
}

/* 4-bit: the clip minimizing the squared error is below the maximum when
 * one weight stands out among many small ones; for weights already on a
 * 7-level grid it stays at the maximum (error 0). */
Test(quantize_weights, four_bit_scale_clips_an_outlier)
{
    /* A dense layer on a 1x16x18 input: 288 weights per channel. */
    qz_net net;
    one_conv_net(&net, 2, 1, 1);
    qz_fop *d = &net.ops[0];
    net.in_h = 16, net.in_w = 18, net.num_classes = 2;
    d->type = QM_DENSE, d->in_h = 16, d->in_w = 18, d->out_h = 1, d->out_w = 1, d->kernel = 0;
    d->n_weights = 2 * 288;
    free(d->w);
    d->w = calloc(d->n_weights, sizeof(float));
    float *w = net.ops[0].w;
    nn_rng r;
    nn_rng_seed(&r, 4);
    for (int k = 0; k < 288; k++) {
        w[k] = 0.2f * (nn_rng_uniform(&r) - 0.5f); /* small, +-0.1       */
        w[288 + k] = (float)(k % 15 - 7) / 7.0f;   /* on the 4-bit grid  */
    }
    w[100] = 1.0f; /* channel 0: one outlier */
    double lo = -4, hi = 4;
    int bits = 4;
    qm_model q;
    nn_error err;
    cr_assert_eq(qz_build(&q, &net, &lo, &hi, &bits, &err), NN_OK, "%s", err.msg);
    const qm_op *op = &q.ops[0];
    cr_expect_lt(op->w_scale[0], 0.9f / 7.0f, "outlier channel not clipped: %g",
                 (double)op->w_scale[0]);
    cr_expect_geq(op->w_scale[1], 1.0f / 7.0f, "grid channel clipped: %g", (double)op->w_scale[1]);
    cr_expect_eq(op->weights[100], 7, "the outlier saturates at +7");
    for (size_t k = 0; k < op->n_weights; k++)
        cr_expect(op->weights[k] >= -7 && op->weights[k] <= 7);
    qm_model_free(&q);
    qz_net_free(&net);
}

Test(quantize_weights, overrides_pick_bits_per_layer)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 3, 0);
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_OK);
    qz_config cfg;
    qz_config_defaults(&cfg);
    cfg.n_overrides = 1;
    cfg.override_layer[0] = 8, cfg.override_bits[0] = 4; /* the first dense */
    int bits[QM_MAX_OPS];
    cr_assert_eq(qz_op_bits(bits, &net, &m, &cfg, &err), NN_OK);
    int want[5] = {8, 8, 0, 4, 8};
    for (int i = 0; i < 5; i++)
        cr_expect_eq(bits[i], want[i], "op %d", i);
    cfg.override_layer[0] = 2; /* a relu */
    cr_expect_eq(qz_op_bits(bits, &net, &m, &cfg, &err), NN_ERR_ARG);
    cr_expect(strstr(err.msg, "relu"), "%s", err.msg);
    cfg.override_layer[0] = 99;
    cr_expect_eq(qz_op_bits(bits, &net, &m, &cfg, &err), NN_ERR_ARG);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* ---- 4. requantization ------------------------------------------------------ */

/* round(acc * mult / 2^shift), halves up, clamped: computed as an exact
 * rational with 128-bit floor division (not with the shift the kernels use). */
static int64_t exact_requant(int64_t acc, int64_t mult, int shift, int64_t zero, int64_t lo,
                             int64_t hi)
{
    __int128 num = (__int128)acc * mult * 2 + ((__int128)1 << shift);
    __int128 den = (__int128)1 << (shift + 1);
    __int128 q = num / den;
    if (num % den != 0 && num < 0)
        q -= 1; /* floor */
    __int128 y = zero + q;
    return y < lo ? lo : y > hi ? hi : (int64_t)y;
}

Test(quantize_requant, matches_exact_rounding_on_edge_values)
{
    const int32_t accs[] = {INT32_MIN, INT32_MIN + 1, -65536, -257,          -1,       0, 1,
                            2,         255,           65535,  INT32_MAX - 1, INT32_MAX};
    const int32_t mults[] = {1 << 30, (1 << 30) + 1, 1518500250, INT32_MAX};
    const int shifts[] = {1, 2, 15, 30, 31, 32, 40, 61, 62};
    const int32_t zeros[] = {-128, -1, 0, 127};
    long checked = 0;
    for (size_t a = 0; a < sizeof accs / sizeof *accs; a++)
        for (size_t m = 0; m < sizeof mults / sizeof *mults; m++)
            for (size_t s = 0; s < sizeof shifts / sizeof *shifts; s++)
                for (size_t z = 0; z < sizeof zeros / sizeof *zeros; z++)
                    for (int relu = 0; relu < 2; relu++) {
                        int32_t lo = relu ? zeros[z] : -128;
                        int got = qm_requantize(accs[a], mults[m], shifts[s], zeros[z], lo, 127);
                        int64_t want =
                            exact_requant(accs[a], mults[m], shifts[s], zeros[z], lo, 127);
                        cr_expect_eq(got, want,
                                     "acc %d mult %d shift %d zero %d relu %d: %d vs %lld", accs[a],
                                     mults[m], shifts[s], zeros[z], relu, got, (long long)want);
                        checked++;
                    }
    /* Exact ties: acc * mult / 2^shift = k + 1/2 rounds up (towards +inf). */
    cr_expect_eq(qm_requantize(3, 1 << 30, 31, 0, -128, 127), 2);   /* 1.5 -> 2   */
    cr_expect_eq(qm_requantize(-3, 1 << 30, 31, 0, -128, 127), -1); /* -1.5 -> -1 */
    cr_expect_eq(qm_requantize(-1, 1 << 30, 31, 0, -128, 127), 0);  /* -0.5 -> 0  */
    /* A random sweep. */
    nn_rng r;
    nn_rng_seed(&r, 99);
    for (int i = 0; i < 100000; i++) {
        int32_t acc = (int32_t)nn_rng_u32(&r);
        int32_t mult = (int32_t)((1u << 30) | (nn_rng_u32(&r) >> 2));
        int shift = 1 + (int)nn_rng_below(&r, 62);
        int32_t zero = (int32_t)nn_rng_below(&r, 256) - 128;
        int got = qm_requantize(acc, mult, shift, zero, -128, 127);
        int64_t want = exact_requant(acc, mult, shift, zero, -128, 127);
        if (got != want)
            cr_expect_fail("acc %d mult %d shift %d zero %d: %d vs %lld", acc, mult, shift, zero,
                           got, (long long)want);
    }
    cr_expect_gt(checked, 1000);
}

Test(quantize_requant, multipliers_round_trip)
{
    int32_t mult, shift;
    /* Exactly representable reals come back unchanged. */
    const double exact[] = {1.0,
                            0.5,
                            0.75,
                            ldexp(1.0, -31),
                            ldexp(1.0, -32),
                            ldexp(3.0, -33),
                            ldexp(1.0, 29),
                            1.0 - ldexp(1.0, -31)};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++) {
        cr_assert_eq(qm_quantize_multiplier(exact[i], &mult, &shift), NN_OK, "%g", exact[i]);
        cr_expect_eq(mult * ldexp(1.0, -shift), exact[i], "%g -> %d, %d", exact[i], mult, shift);
        cr_expect(mult >= (1 << 30) && shift >= 1 && shift <= 62);
    }
    /* A real just below a power of two rounds up to it without leaving the
     * mantissa range. */
    cr_assert_eq(qm_quantize_multiplier(1.0 - ldexp(1.0, -40), &mult, &shift), NN_OK);
    cr_expect_eq(mult, 1 << 30);
    cr_expect_eq(shift, 30);
    /* Relative error at most 2^-31 over a sweep. */
    for (int e = -32; e < 30; e++)
        for (int k = 0; k < 50; k++) {
            double real = ldexp(1.0 + k / 50.0 + 1e-9 * k, e);
            cr_assert_eq(qm_quantize_multiplier(real, &mult, &shift), NN_OK, "%g", real);
            double got = mult * ldexp(1.0, -shift);
            cr_expect(fabs(got - real) <= real * ldexp(1.0, -31), "%g -> %g", real, got);
        }
    /* Out of range. */
    cr_expect_eq(qm_quantize_multiplier(0.0, &mult, &shift), NN_ERR_ARG);
    cr_expect_eq(qm_quantize_multiplier(ldexp(1.0, -34), &mult, &shift), NN_ERR_ARG);
    cr_expect_eq(qm_quantize_multiplier(ldexp(1.0, 31), &mult, &shift), NN_ERR_ARG);
    cr_expect_eq(qm_quantize_multiplier(NAN, &mult, &shift), NN_ERR_ARG);
    /* Add: one shared shift, both multipliers within 2^30. */
    int32_t am[2], as;
    cr_assert_eq(qp_add_requant(0.02f, 0.5f, 0.1f, am, &as), NN_OK);
    cr_expect_leq(am[1], 1 << 30);
    const double r0 = (double)0.02f / (double)0.1f, r1 = (double)0.5f / (double)0.1f;
    cr_expect(fabs(am[0] * ldexp(1.0, -as) - r0) <= ldexp(1.0, -as), "%d %d", am[0], as);
    cr_expect(fabs(am[1] * ldexp(1.0, -as) - r1) <= ldexp(1.0, -as), "%d %d", am[1], as);
    cr_assert_eq(qp_add_requant(1e-30f, 1e-30f, 1.0f, am, &as), NN_OK);
    cr_expect_eq(am[0], 0);
    cr_expect_eq(as, 62);
}

Test(quantize_requant, ranges_keep_zero_exact)
{
    qm_qparams q = qp_from_range(0.0, 6.0);
    cr_expect_eq(q.zero, -128);
    cr_expect_float_eq(q.scale, 6.0f / 255, 1e-9);
    q = qp_from_range(-1.0, 3.0);
    double lo, hi;
    qp_range(q, &lo, &hi);
    cr_expect(lo <= -1.0 + q.scale / 2 && hi >= 3.0 - q.scale / 2, "[%g, %g]", lo, hi);
    cr_expect(q.zero > -128 && q.zero < 127);
    q = qp_from_range(2.0, 3.0); /* widened to contain 0 */
    cr_expect_eq(q.zero, -128);
    q = qp_from_range(-5.0, -1.0);
    cr_expect_eq(q.zero, 127);
    q = qp_from_range(0.0, 0.0);
    cr_expect(q.scale > 0 && q.zero == -128);
    q = qp_from_range(NAN, INFINITY);
    cr_expect(q.scale > 0 && isfinite(q.scale));
    /* bf16-style rounding up. */
    float s = 0.0123456f, r = qp_round_scale_up(s);
    uint32_t bits;
    memcpy(&bits, &r, 4);
    cr_expect_eq(bits & 0xffff, 0u);
    cr_expect(r >= s && r <= s * (1.0f + 1.0f / 128));
    cr_expect_eq(qp_round_scale_up(0.5f), 0.5f);
}

/* ---- 5. calibration ----------------------------------------------------------- */

Test(quantize_calib, percentile_of_a_known_histogram)
{
    uint64_t count[1000];
    for (int b = 0; b < 1000; b++)
        count[b] = 1;
    qz_hist h = {0.0, 1000.0, 1000, count, 0};
    double lo, hi;
    /* 1000 values, 1% (10) may lie above hi: the 11th from the top is in
     * bin 989, whose upper edge is 990. */
    qz_range_percentile(&h, 99.0, &lo, &hi);
    cr_expect_float_eq(hi, 990.0, 1e-9);
    cr_expect_eq(lo, 0.0); /* widened to contain 0 */
    qz_range_percentile(&h, 100.0, &lo, &hi);
    cr_expect_float_eq(hi, 1000.0, 1e-9);
    /* Symmetric: [-500, 500], 99% keeps [-490, 490]. */
    qz_hist s = {-500.0, 500.0, 1000, count, 0};
    qz_range_percentile(&s, 99.0, &lo, &hi);
    cr_expect_float_eq(lo, -490.0, 1e-9);
    cr_expect_float_eq(hi, 490.0, 1e-9);
    /* Exact zeros count: with 9000 zeros (ReLU output) the top 1% is 100
     * values, bins 900..999. */
    h.zeros = 9000;
    qz_range_percentile(&h, 99.0, &lo, &hi);
    cr_expect_float_eq(hi, 900.0, 1e-9);
}

static void fill_hist(uint64_t *count, int bins, double lo, double hi, const double *v, int n)
{
    memset(count, 0, (size_t)bins * sizeof *count);
    for (int i = 0; i < n; i++) {
        int b = (int)((v[i] - lo) / (hi - lo) * bins);
        count[b < 0 ? 0 : b >= bins ? bins - 1 : b]++;
    }
}

Test(quantize_calib, mse_clips_heavy_tails_but_not_uniform_data)
{
    enum { N = 200000 };
    double *v = malloc(N * sizeof *v);
    uint64_t count[QZ_HIST_BINS];
    nn_rng r;
    nn_rng_seed(&r, 5);
    /* Uniform on [-1, 1]: no clipping pays. */
    for (int i = 0; i < N; i++)
        v[i] = 2.0 * nn_rng_uniform(&r) - 1.0;
    fill_hist(count, QZ_HIST_BINS, -1, 1, v, N);
    qz_hist h = {-1, 1, QZ_HIST_BINS, count, 0};
    double lo, hi;
    qz_range_mse(&h, &lo, &hi);
    cr_expect(hi >= 0.98 && lo <= -0.98, "uniform clipped to [%g, %g]", lo, hi);
    /* Ten million Gaussian values (counts from the density) and one far
     * outlier. The rounding noise of all values grows with the square of
     * the range; clipping costs only the outlier's squared distance. So
     * the best clip is near the Gaussian's own tail, far inside the max. */
    const double mn = -5.0, mx = 40.0, width = (mx - mn) / QZ_HIST_BINS;
    for (int b = 0; b < QZ_HIST_BINS; b++) {
        double c = mn + (b + 0.5) * width;
        count[b] = (uint64_t)(1e7 * exp(-0.5 * c * c) / sqrt(2 * M_PI) * width + 0.5);
    }
    count[QZ_HIST_BINS - 1] += 1;
    qz_hist g = {mn, mx, QZ_HIST_BINS, count, 0};
    qz_range_mse(&g, &lo, &hi);
    cr_log_info("outlier: mse [%g, %g] of [%g, %g]", lo, hi, mn, mx);
    cr_expect(hi < 0.25 * mx && hi > 2.5, "mse: hi %g of max %g", hi, mx);
    /* ... and so does the percentile rule. */
    qz_range_percentile(&g, 99.99, &lo, &hi);
    cr_expect(hi < 0.25 * mx && hi > 2.5, "percentile: hi %g of max %g", hi, mx);
    free(v);
}

Test(quantize_calib, minmax_is_exact_and_independent_of_threads)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 3, 0);
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_OK);
    uint8_t *px = qf_pixels(30, 1, 12, 12, 8);
    double lo1[8], hi1[8], lo3[8], hi3[8];
    for (int method = QZ_MINMAX; method <= QZ_MSE; method++) {
        cr_assert_eq(qz_calibrate(lo1, hi1, &net, px, NULL, 30, method, 99.9, 1, &err), NN_OK);
        cr_assert_eq(qz_calibrate(lo3, hi3, &net, px, NULL, 30, method, 99.9, 3, &err), NN_OK);
        for (int i = 0; i < net.n_ops; i++)
            cr_expect(lo1[i] == lo3[i] && hi1[i] == hi3[i], "method %d op %d", method, i);
    }
    /* Min/max by hand for the last op (always min/max). */
    float *tens = malloc(net.tensor_floats * sizeof(float));
    float *col = malloc((net.col_floats + 1) * sizeof(float));
    double mn = 0, mx = 0;
    for (int i = 0; i < 30; i++) {
        qz_net_forward(&net, NULL, px + i * 144, tens, col);
        const float *l = qz_net_logits(&net, tens);
        for (int k = 0; k < 10; k++)
            mn = l[k] < mn ? l[k] : mn, mx = l[k] > mx ? l[k] : mx;
    }
    cr_expect_eq(lo1[4], mn);
    cr_expect_eq(hi1[4], mx);
    free(tens), free(col), free(px);
    qz_net_free(&net);
    nn_model_free(&m);
}

Test(quantize_calib, calibration_images_are_distinct_sorted_and_seeded)
{
    uint32_t a[100], b[100], c[100];
    qz_pick_calibration(a, 100, 1000, 1);
    qz_pick_calibration(b, 100, 1000, 1);
    qz_pick_calibration(c, 100, 1000, 2);
    cr_expect_eq(memcmp(a, b, sizeof a), 0);
    cr_expect_neq(memcmp(a, c, sizeof a), 0);
    for (int i = 0; i < 100; i++) {
        cr_expect_lt(a[i], 1000u);
        if (i)
            cr_expect_lt(a[i - 1], a[i]);
    }
    qz_pick_calibration(a, 10, 10, 3); /* all of them */
    for (uint32_t i = 0; i < 10; i++)
        cr_expect_eq(a[i], i);
}
