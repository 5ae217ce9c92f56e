/* Tests of the quantizer's arithmetic: weight scales, zero channels and
 * tiny multipliers, 4-bit clipping, bit overrides; requantization against
 * exact rational rounding and multiplier round trips; calibration rules
 * on known distributions, thread independence, image selection. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/qparams.h"
#include "quantize/quantize.h"
#include "qfixtures.h"

/* ---- weights, biases, multipliers -------------------------------------- */

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

/* q: net's one op quantized for inputs in [-4, 4], with `bits`-bit weights. */
static void build_in_pm4(qm_model *q, const qz_net *net, int bits)
{
    double lo = -4, hi = 4;
    nn_error err;
    cr_assert_eq(qz_build(q, net, &lo, &hi, &bits, &err), NN_OK, "%s", err.msg);
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
    qm_model q;
    build_in_pm4(&q, &net, 8);
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
    qm_model q;
    build_in_pm4(&q, &net, 4);
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

/* m: qfixtures' plain network (parameters from seed 3), lowered into net. */
static void lowered_plain(nn_model *m, qz_net *net)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    qf_build(m, &s, 3, 0);
    nn_error err;
    cr_assert_eq(qz_lower(net, m, &err), NN_OK, "%s", err.msg);
}

Test(quantize_weights, overrides_pick_bits_per_layer)
{
    nn_model m;
    qz_net net;
    lowered_plain(&m, &net);
    nn_error err;
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

/* ---- requantization ------------------------------------------------------ */

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

/* ---- calibration ----------------------------------------------------------- */

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
    nn_model m;
    qz_net net;
    lowered_plain(&m, &net);
    nn_error err;
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
