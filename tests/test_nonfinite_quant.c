/* Extreme values through the quantizer: calibration, range rules, scales,
 * multipliers and batch-norm folding with +-3e38, infinity, NaN, denormals
 * and all-zero tensors. Each case either gives a correct result or a clear
 * status naming the layer; none may crash or reach undefined behaviour
 * (make asan runs these with -fsanitize=float-cast-overflow). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "export/rt_host.h"
#include "format/qparams.h"
#include "quantize/quantize.h"
#include "layer_specs.h"

#define DENORMAL 1e-45f /* the smallest positive float, 2^-149 */

/* 1x4x4 input (normalization mean 0, std 1: x = pixel / 255) ->
 *   0 conv2d 'big' (2 filters, 3x3, pad 1, bias) [-> 1 batchnorm 'bn' when bn]
 *   -> flatten -> dense 'fc' (3 units).
 * Every parameter is `w`, biases 0; batch norm gamma 1, beta 0, mean 0,
 * var 1. */
static void build(nn_model *m, int bn, float w)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 1, s.in_h = 4, s.in_w = 4, s.num_classes = 3;
    int n = 0;
    s.layers[n] = ls_conv(2, 3, 1, 1);
    strcpy(s.layers[n++].name, "big");
    if (bn) {
        s.layers[n] = ls_layer(NN_LAYER_BATCHNORM);
        strcpy(s.layers[n++].name, "bn");
    }
    s.layers[n++] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[n] = ls_dense(3);
    strcpy(s.layers[n++].name, "fc");
    s.n_layers = n;
    for (int i = 0; i < n; i++)
        s.layers[i].input = i - 1;
    nn_error err;
    cr_assert_eq(nn_model_build(m, &s, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        int is_bn = nd->spec.type == NN_LAYER_BATCHNORM;
        for (size_t k = 0; k < nd->w.n; k++)
            m->params[nd->w.off + k] = is_bn ? 1.0f : w;
        for (size_t k = 0; k < nd->b.n; k++)
            m->params[nd->b.off + k] = 0.0f;
        for (size_t k = 0; k < nd->stat.n; k++)
            m->state[nd->stat.off + k] = k < nd->stat.n / 2 ? 0.0f : 1.0f;
    }
    m->mean[0] = 0.0f, m->std[0] = 1.0f;
}

static const nn_node *node(const nn_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].spec.name, name) == 0)
            return &m->nodes[i];
    cr_assert_fail("no layer %s", name);
    return NULL;
}

/* n images: image i has every pixel (i * 37) % 256, the first all 255. */
static uint8_t *pixels(int n)
{
    uint8_t *p = malloc((size_t)n * 16);
    for (int i = 0; i < n; i++)
        memset(p + (size_t)i * 16, i == 0 ? 255 : (i * 37) % 256, 16);
    return p;
}

static nn_status calibrate(const nn_model *m, qz_method method, double *lo, double *hi,
                           qz_net *net, nn_error *err)
{
    nn_status st = qz_lower(net, m, err);
    cr_assert_eq(st, NN_OK, "%s", err->msg);
    uint8_t *px = pixels(8);
    st = qz_calibrate(lo, hi, net, px, NULL, 8, method, 99.9, 2, err);
    free(px);
    return st;
}

Test(nonfinite_calib, huge_finite_activations_calibrate_and_quantize)
{
    /* conv outputs up to 9e37, logits up to 18 * 9e37 * 1e-2: finite */
    nn_model m;
    build(&m, 0, 1e37f);
    for (size_t k = 0; k < node(&m, "fc")->w.n; k++)
        m.params[node(&m, "fc")->w.off + k] = 1e-2f;
    for (qz_method method = QZ_MINMAX; method <= QZ_MSE; method++) {
        qz_net net;
        double lo[QM_MAX_OPS], hi[QM_MAX_OPS];
        nn_error err;
        cr_assert_eq(calibrate(&m, method, lo, hi, &net, &err), NN_OK, "%s", err.msg);
        for (int o = 0; o < net.n_ops; o++)
            cr_expect(isfinite(lo[o]) && isfinite(hi[o]) && lo[o] <= 0 && hi[o] >= 0,
                      "method %d op %d: [%g, %g]", method, o, lo[o], hi[o]);
        if (method == QZ_MINMAX) /* the all-255 image: 9 taps of 1e37 inside */
            cr_expect(hi[0] > 8.99e37 && hi[0] < 9.01e37, "%g", hi[0]);
        int bits[QM_MAX_OPS] = {8, 8};
        qm_model q;
        cr_assert_eq(qz_build(&q, &net, lo, hi, bits, &err), NN_OK, "%s", err.msg);
        /* The simulated int8 logits follow the float ones. */
        float *t = malloc(net.tensor_floats * sizeof *t), *col = malloc(net.col_floats * 4 + 4);
        float *t8 = malloc(net.tensor_floats * sizeof *t8);
        uint8_t *px = pixels(1);
        qz_net_forward(&net, NULL, px, t, col);
        qz_net_forward(&net, &q, px, t8, col);
        const float *a = qz_net_logits(&net, t), *b = qz_net_logits(&net, t8);
        for (int c = 0; c < 3; c++)
            cr_expect(fabs((double)a[c] - (double)b[c]) <= 0.02 * fabs((double)a[c]),
                      "method %d logit %d: float %g, int8 %g", method, c, (double)a[c],
                      (double)b[c]);
        free(t), free(t8), free(col), free(px);
        qm_model_free(&q);
        qz_net_free(&net);
    }
    nn_model_free(&m);
}

Test(nonfinite_calib, overflow_to_infinity_names_the_layer_image_and_element)
{
    nn_model m;
    build(&m, 0, 3e38f); /* 4 taps of 3e38 on the all-255 image: inf */
    qz_net net;
    double lo[QM_MAX_OPS], hi[QM_MAX_OPS];
    nn_error err;
    for (qz_method method = QZ_MINMAX; method <= QZ_MSE; method++) {
        cr_assert_eq(calibrate(&m, method, lo, hi, &net, &err), NN_ERR_NUMERIC);
        cr_expect(strstr(err.msg, "layer 0 (conv2d 'big'): activation range is not finite: "
                                  "calibration image 0 (data image 0) gives output element 0 "
                                  "= inf"),
                  "%s", err.msg);
        qz_net_free(&net);
    }
    nn_model_free(&m);
}

Test(nonfinite_calib, nan_weights_and_bad_normalization_are_errors)
{
    nn_model m;
    build(&m, 0, 0.5f);
    m.params[node(&m, "fc")->w.off + 40] = NAN; /* unit 1, input 8 */
    qz_net net;
    double lo[QM_MAX_OPS], hi[QM_MAX_OPS];
    nn_error err;
    cr_assert_eq(calibrate(&m, QZ_MSE, lo, hi, &net, &err), NN_ERR_NUMERIC);
    cr_expect(strstr(err.msg, "layer 2 (dense 'fc'): activation range is not finite: calibration "
                              "image 0 (data image 0) gives output element 1 = nan"),
              "%s", err.msg);
    qz_net_free(&net);
    /* std = a denormal: 1 / (255 * std) overflows before any layer runs */
    m.params[node(&m, "fc")->w.off + 40] = 0.5f;
    m.std[0] = DENORMAL;
    cr_assert_eq(calibrate(&m, QZ_MSE, lo, hi, &net, &err), NN_ERR_NUMERIC);
    cr_expect(strstr(err.msg, "input normalization: channel 0: (pixel / 255 - mean 0) / std "
                              "1.4013e-45 is beyond the float range"),
              "%s", err.msg);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* Denormal and all-zero weights: tiny or empty ranges, still a valid model. */
Test(nonfinite_calib, denormal_and_all_zero_weights_quantize)
{
    const float ws[] = {DENORMAL, -DENORMAL, 0.0f, FLT_MIN};
    for (size_t c = 0; c < sizeof ws / sizeof ws[0]; c++) {
        nn_model m;
        build(&m, 1, ws[c]);
        for (qz_method method = QZ_MINMAX; method <= QZ_MSE; method++) {
            qz_net net;
            double lo[QM_MAX_OPS], hi[QM_MAX_OPS];
            nn_error err;
            cr_assert_eq(calibrate(&m, method, lo, hi, &net, &err), NN_OK, "%s", err.msg);
            int bits[QM_MAX_OPS] = {4, 4};
            qm_model q;
            cr_assert_eq(qz_build(&q, &net, lo, hi, bits, &err), NN_OK, "w %g: %s",
                         (double)ws[c], err.msg);
            cr_expect_eq(qm_model_validate(&q, &err), NN_OK, "%s", err.msg);
            qm_model_free(&q);
            qz_net_free(&net);
        }
        nn_model_free(&m);
    }
}

Test(nonfinite_calib, range_rules_on_extreme_histograms)
{
    uint64_t count[8] = {5, 0, 0, 1, 0, 0, 0, 9};
    const double nan = NAN, inf = INFINITY;
    struct {
        double lo, hi;
        int finite; /* 0: the bounds are not finite */
    } cases[] = {
        {-inf, inf, 0},      {nan, 1.0, 0},           {-1.0, nan, 0},
        {-3e38, 3e38, 1},    {-FLT_MAX, FLT_MAX, 1},  {0.0, 1e-45, 1},
        {-1e-45, 0.0, 1},    {-1e308, 1e308, 1}, /* width overflows a double */
        {2.0, 2.0, 1},       {0.0, 0.0, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        qz_hist h = {cases[c].lo, cases[c].hi, 8, count, 3};
        double lo, hi, plo, phi;
        qz_range_mse(&h, &lo, &hi);
        qz_range_percentile(&h, 99.0, &plo, &phi);
        if (!cases[c].finite) {
            cr_expect(lo == 0 && hi == 0 && plo == 0 && phi == 0, "case %zu", c);
            continue;
        }
        const double L = fmin(cases[c].lo, 0), H = fmax(cases[c].hi, 0);
        cr_expect(lo >= L && lo <= 0 && hi <= H && hi >= 0, "case %zu: mse [%g, %g]", c, lo, hi);
        cr_expect(plo >= L && plo <= 0 && phi <= H && phi >= 0, "case %zu: pct [%g, %g]", c, plo,
                  phi);
    }
    /* +-3e38 with most values at the top: both keep the top. */
    qz_hist h = {-3e38, 3e38, 8, count, 0};
    double lo, hi;
    qz_range_percentile(&h, 100.0, &lo, &hi);
    cr_expect(lo == -3e38 && hi == 3e38, "[%g, %g]", lo, hi);
    qz_range_mse(&h, &lo, &hi); /* the top bin's centre at least */
    cr_expect(hi >= 2.625e38 && hi <= 3e38, "%g", hi);
}

Test(nonfinite_calib, activation_qparams_of_extreme_ranges)
{
    const double r[][2] = {{-3e38, 3e38}, {-1e308, 1e308}, {0, 1e-45},   {-1e-45, 0},
                           {NAN, INFINITY}, {-INFINITY, 0}, {0, FLT_MAX}, {-FLT_MAX, FLT_MAX}};
    for (size_t c = 0; c < sizeof r / sizeof r[0]; c++) {
        qm_qparams q = qp_from_range(r[c][0], r[c][1]);
        cr_expect(isfinite(q.scale) && q.scale >= FLT_MIN && q.zero >= -128 && q.zero <= 127,
                  "[%g, %g] -> scale %g zero %d", r[c][0], r[c][1], (double)q.scale, q.zero);
    }
}

/* A huge weight where the output range is small: the multiplier would pass
 * 2^30. A data error naming the layer and channel (it was NN_ERR_ARG, so
 * `quantize` exited 2). */
Test(nonfinite_quant, multiplier_beyond_2_30_is_a_numeric_error)
{
    nn_model m;
    build(&m, 0, 0.25f);
    m.params[node(&m, "big")->w.off + 9 + 4] = 3e38f; /* filter 1, centre tap */
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_OK, "%s", err.msg);
    double lo[QM_MAX_OPS] = {-1, -1}, hi[QM_MAX_OPS] = {1, 1}; /* conv, dense */
    int bits[QM_MAX_OPS] = {8, 8};
    qm_model q;
    cr_assert_eq(qz_build(&q, &net, lo, hi, bits, &err), NN_ERR_NUMERIC);
    cr_expect(strstr(err.msg, "layer 0 (conv2d 'big'): channel 1: requantization multiplier ") &&
                  strstr(err.msg, "is beyond 2^30"),
              "%s", err.msg);
    /* The same weight with an output range to match quantizes. */
    lo[0] = lo[1] = -3e38, hi[0] = hi[1] = 3e38;
    cr_assert_eq(qz_build(&q, &net, lo, hi, bits, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(q.ops[0].weights[9 * 1 + 4], 127); /* HWC: filter 1, tap (1, 1) */
    cr_expect_eq(q.ops[0].weights[0], 0);           /* 0.25 vs 2.4e36 per step */
    qm_model_free(&q);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* A channel too weak to move its output gets w_scale = out_s / in_s / 2^10;
 * with a FLT_MIN input scale and a 2e36 output scale that ratio is 1e71,
 * beyond a float: a clear error, no out-of-range conversion. */
Test(nonfinite_quant, zero_channel_scale_beyond_float_is_a_numeric_error)
{
    nn_model m;
    build(&m, 0, 1.0f);
    for (size_t k = 0; k < node(&m, "big")->w.n; k++) /* a multiplier of 2.6e8 into 1e-40 */
        m.params[node(&m, "big")->w.off + k] = 1e-25f;
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_OK, "%s", err.msg);
    double lo[QM_MAX_OPS] = {0, -3e38}, hi[QM_MAX_OPS] = {1e-40, 3e38};
    int bits[QM_MAX_OPS] = {8, 8};
    qm_model q;
    cr_assert_eq(qz_build(&q, &net, lo, hi, bits, &err), NN_ERR_NUMERIC);
    cr_expect(strstr(err.msg, "layer 2 (dense 'fc'): channel 0: no weight scale gives the "
                              "multiplier 2^-10 between input scale 1.17549e-38 and output scale "),
              "%s", err.msg);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* Logits near FLT_MAX (a scale of 2.7e36): the mean of an image's and its
 * mirror's overflowed a float, which made the int8 evaluation's loss NaN. */
Test(nonfinite_quant, int8_evaluation_of_a_huge_logit_scale_has_a_finite_loss)
{
    nn_model m;
    build(&m, 0, 0.25f);
    m.params[node(&m, "fc")->b.off] = 3.3e38f; /* class 0: the top of the range */
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_OK, "%s", err.msg);
    double lo[QM_MAX_OPS] = {-3, -FLT_MAX}, hi[QM_MAX_OPS] = {3, FLT_MAX};
    int bits[QM_MAX_OPS] = {8, 8};
    qm_model q;
    cr_assert_eq(qz_build(&q, &net, lo, hi, bits, &err), NN_OK, "%s", err.msg);
    rth_model h;
    cr_assert_eq(rth_open(&h, &q, RT_ISA_AUTO, &err), NN_OK, "%s", err.msg);
    uint8_t *px = pixels(4), labels[4] = {0, 1, 2, 1};
    nn_images img = {px, labels, 4};
    nn_eval_result r;
    cr_assert_eq(rth_evaluate(&h, &img, &(nn_eval_config){.batch = 4, .threads = 1, .test_flip = 1}, &r, &err), NN_OK, "%s",
                 err.msg);
    cr_expect(isfinite(r.loss), "loss %g", r.loss);
    nn_eval_result_free(&r);
    rth_close(&h);
    free(px);
    qm_model_free(&q);
    qz_net_free(&net);
    nn_model_free(&m);
}

/* ---- batch-norm folding ------------------------------------------------ */

static void set_bn(nn_model *m, int c, float gamma, float beta, float mean, float var)
{
    const nn_node *bn = node(m, "bn");
    m->params[bn->w.off + c] = gamma, m->params[bn->b.off + c] = beta;
    m->state[bn->stat.off + c] = mean, m->state[bn->stat.off + 2 + c] = var;
}

static void expect_fold_error(const nn_model *m, const char *needle)
{
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, m, &err), NN_ERR_NUMERIC, "no error for: %s", needle);
    cr_expect(strstr(err.msg, needle), "%s", err.msg);
}

Test(nonfinite_fold, scales_and_products_beyond_float_are_errors)
{
    nn_model m;
    build(&m, 1, 0.5f);
    set_bn(&m, 1, 3e38f, 0.0f, 0.0f, 0.0f); /* 3e38 / sqrt(1e-5): 9.5e40 */
    expect_fold_error(&m, "layer 1 (batchnorm 'bn'): channel 1: cannot fold: scale gamma / "
                          "sqrt(running_var + eps) = 9.48683e+40");
    set_bn(&m, 1, 1.0f, 0.0f, 3e38f, 0.25f); /* shift 0 - 3e38 * 2 */
    expect_fold_error(&m, "layer 1 (batchnorm 'bn'): channel 1: cannot fold: ");
    set_bn(&m, 1, 1.0f, 0.0f, 0.0f, -1.0f); /* an in-memory model: sqrt(-1) */
    expect_fold_error(&m, "running_var -1");
    set_bn(&m, 1, 2.0f, 0.0f, 0.0f, 1.0f - 1e-5f);
    m.params[node(&m, "big")->w.off + 9] = 3e38f; /* filter 1 times ~2 */
    expect_fold_error(&m, "layer 1 (batchnorm 'bn'): folding into layer 0 (conv2d 'big'): "
                          "channel 1: weight 3e+38 * scale 2 = 6e+38 is beyond the float range");
    nn_model_free(&m);
}

Test(nonfinite_fold, extreme_values_that_fit_fold_exactly)
{
    nn_model m;
    build(&m, 1, 1e38f);
    set_bn(&m, 0, 1e-30f, DENORMAL, 0.0f, 3e38f); /* a tiny scale, a denormal shift */
    set_bn(&m, 1, 0.0f, -3e38f, 3e38f, 0.0f);     /* gamma 0: the constant beta */
    qz_net net;
    nn_error err;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_OK, "%s", err.msg);
    const qz_fop *op = &net.ops[0];
    /* 1e38 * 5.8e-50: the scale is below the float range, the product not */
    const double s0 = (double)1e-30f * (1.0 / sqrt((double)3e38f + (double)1e-5f));
    cr_expect_eq(op->w[0], (float)((double)1e38f * s0), "%g", (double)op->w[0]);
    cr_expect(op->w[0] > 5.7e-12f && op->w[0] < 5.8e-12f, "%g", (double)op->w[0]);
    cr_expect_eq(op->b[0], DENORMAL);
    cr_expect_eq(op->w[9], 0.0f); /* (o, ky, kx, c): channel 1 starts at 9 */
    cr_expect_eq(op->b[1], -3e38f);
    qz_net_free(&net);
    nn_model_free(&m);
}
