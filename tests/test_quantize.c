/* Tests of the quantizer (quantize/quantize.h): the folded float net
 * equals the float model for every folding rule; the int8 model (run by
 * the reference interpreter) follows the float model within stated bounds
 * and agrees with its float simulation; automatic 4-bit layers keep
 * accuracy. The arithmetic is in test_quantize_math.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/qparams.h"
#include "libnn/nn_layers.h"
#include "quantize/qref.h"
#include "quantize/quantize.h"
#include "qfixtures.h"

/* ---- folding: the folded net computes the float model's function ----- */

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
    LS_SPEC(&s, 2, 8, 8, 4,
            ls_conv(6, 3, 1, 1),
            ls_layer(NN_LAYER_MAXPOOL),
            ls_layer(NN_LAYER_BATCHNORM),
            ls_layer(NN_LAYER_RELU),
            ls_layer(NN_LAYER_FLATTEN),
            ls_dense(4));
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
    s.layers[n++] = ls_layer(NN_LAYER_RELU); /* 0 */
    nn_layer_spec c = ls_conv(4, 3, 1, 1);
    strcpy(c.name, "c");
    s.layers[n++] = c;                            /* 1 */
    s.layers[n++] = ls_layer(NN_LAYER_BATCHNORM); /* 2 */
    s.layers[n++] = ls_layer(NN_LAYER_RELU);      /* 3 */
    s.layers[n++] = ls_conv(4, 1, 0, 1);          /* 4 */
    nn_layer_spec add = ls_layer(NN_LAYER_ADD);
    add.input2 = 1;
    s.layers[n++] = add;                               /* 5 */
    s.layers[n++] = ls_layer(NN_LAYER_RELU);           /* 6 */
    s.layers[n++] = ls_layer(NN_LAYER_RELU);           /* 7 */
    s.layers[n++] = ls_layer(NN_LAYER_AVGPOOL);        /* 8 -> 4x4x4 */
    s.layers[n++] = ls_layer(NN_LAYER_BATCHNORM);      /* 9 */
    s.layers[n++] = ls_layer(NN_LAYER_GLOBAL_AVGPOOL); /* 10 */
    s.layers[n++] = ls_dense(3);                       /* 11 */
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
    s.layers[n++] = ls_conv(4, 3, 1, 1);                       /* 0 */
    s.layers[n++] = ls_layer(NN_LAYER_AVGPOOL);                /* 1 -> 4x3x3 */
    s.layers[n++] = ls_layer(NN_LAYER_BATCHNORM);              /* 2 */
    s.layers[n++] = ls_dense(5);                               /* 3: dead */
    s.layers[n++] = qf_reading(ls_layer(NN_LAYER_FLATTEN), 2); /* 4 */
    s.layers[n++] = ls_conv(7, 1, 0, 1);                       /* 5 on (36,1,1) */
    s.layers[n++] = ls_layer(NN_LAYER_RELU);                   /* 6 */
    s.layers[n++] = ls_dense(2);                               /* 7 */
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
    LS_SPEC(&s, 2, 5, 4, 3,
            ls_conv(3, 3, 1, 1),
            ls_dense(3));
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
    s.layers[0] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[1] = ls_layer(NN_LAYER_BATCHNORM); /* over the flattened vector */
    s.n_layers = 2;
    nn_model m;
    qf_build(&m, &s, 1, 0);
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "layer 1 (batchnorm)"), "%s", err.msg);
    nn_model_free(&m);
}

/* ---- int8 against float ---------------------------------------------- */

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
    const qz_data data = {.images = t->train_x, .labels = t->train_y, .index = idx, .n = 200};
    cr_assert_eq(qz_quantize_model(&q, NULL, &t->m, cfg, &data, 2, &err), NN_OK, "%s", err.msg);
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
        int a = qm_ref_argmax(&q, scratch), b = nn_argmax(fl, k);
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
