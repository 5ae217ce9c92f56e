/* test_layers_bn_loss.c - batch norm (all phases, as the executor runs
 * them on batch slices) and softmax cross-entropy with label smoothing. */
#include "layer_check.h"

#include "libnn/nn_layers.h"

/* ---- batch norm ------------------------------------------------------------ */

#define BN_MAXC 8

/* Runs the training phases the way the executor does, on the slices
 * [0, split) and [split, n): partial sums, one reduction, stats, apply. */
typedef struct {
    int n, c, hw, split;
    float eps;
    float *in, *gamma, *beta, *out, *xhat, *R;
    float mean[BN_MAXC], invstd[BN_MAXC];
} bn_ctx;

static void bn_train_forward(bn_ctx *b)
{
    double sum[BN_MAXC] = {0}, sumsq[BN_MAXC] = {0};
    const size_t img = (size_t)b->c * b->hw;
    nn_batchnorm_sums(sum, sumsq, b->in, b->split, b->c, b->hw);
    nn_batchnorm_sums(sum, sumsq, b->in + b->split * img, b->n - b->split, b->c, b->hw);
    nn_batchnorm_stats(b->mean, b->invstd, NULL, NULL, sum, sumsq, (double)b->n * b->hw, b->c,
                       b->eps, 0.1f);
    nn_batchnorm_apply(b->out, b->xhat, b->in, b->mean, b->invstd, b->gamma, b->beta, b->split,
                       b->c, b->hw);
    nn_batchnorm_apply(b->out + b->split * img, b->xhat + b->split * img, b->in + b->split * img,
                       b->mean, b->invstd, b->gamma, b->beta, b->n - b->split, b->c, b->hw);
}

static double bn_objective(void *p)
{
    bn_ctx *b = p;
    bn_train_forward(b);
    return lc_dot(b->out, b->R, (size_t)b->n * b->c * b->hw);
}

/* dgamma/dbeta (double, reduced over slices) and din += ..., per slice. */
static void bn_train_backward(float *din, double *dgamma, double *dbeta, bn_ctx *b)
{
    const size_t img = (size_t)b->c * b->hw;
    const double count = (double)b->n * b->hw;
    nn_batchnorm_backward_sums(dgamma, dbeta, b->R, b->xhat, b->split, b->c, b->hw);
    nn_batchnorm_backward_sums(dgamma, dbeta, b->R + b->split * img, b->xhat + b->split * img,
                               b->n - b->split, b->c, b->hw);
    nn_batchnorm_backward_apply(din, b->R, b->xhat, b->gamma, b->invstd, dgamma, dbeta, count,
                                b->split, b->c, b->hw);
    nn_batchnorm_backward_apply(din ? din + b->split * img : NULL, b->R + b->split * img,
                                b->xhat + b->split * img, b->gamma, b->invstd, dgamma, dbeta,
                                count, b->n - b->split, b->c, b->hw);
}

static void bn_alloc(bn_ctx *b, int n, int c, int hw, int split, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    const size_t total = (size_t)n * c * hw;
    b->n = n;
    b->c = c;
    b->hw = hw;
    b->split = split;
    b->eps = 1e-5f;
    b->in = lc_falloc(total);
    b->out = lc_falloc(total);
    b->xhat = lc_falloc(total);
    b->R = lc_falloc(total);
    b->gamma = lc_falloc((size_t)c);
    b->beta = lc_falloc((size_t)c);
    /* per-channel offsets and scales, so the mean really matters */
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < hw; j++)
                b->in[((size_t)i * c + ch) * hw + j] = (float)ch - 1.0f + (1.0f + 0.5f * ch) *
                                                       (2.0f * nn_rng_uniform(&r) - 1.0f);
    lc_fill(b->R, total, &r, -1, 1);
    lc_fill(b->gamma, (size_t)c, &r, 0.5f, 1.5f);
    lc_fill(b->beta, (size_t)c, &r, -1, 1);
}

static void bn_free(bn_ctx *b)
{
    free(b->in);
    free(b->out);
    free(b->xhat);
    free(b->R);
    free(b->gamma);
    free(b->beta);
}

/* *sum and *sumsq of channel ch of x (n, c, hw), in double. */
static void channel_sums(double *sum, double *sumsq, const float *x, int n, int c, int hw, int ch)
{
    *sum = 0, *sumsq = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < hw; j++) {
            const double v = x[((size_t)i * c + ch) * hw + j];
            *sum += v;
            *sumsq += v * v;
        }
}

Test(batchnorm, train_output_has_zero_mean_unit_variance)
{
    bn_ctx b;
    bn_alloc(&b, 4, 3, 50, 1, 31);
    for (size_t j = 0; j < (size_t)4 * 3 * 50; j++)
        b.in[j] = 3.0f + 2.0f * b.in[j]; /* mean ~ 3 + 2*(ch-1), not 0 */
    float *gamma = b.gamma, *beta = b.beta;
    b.gamma = NULL; /* NULL gamma / beta mean 1 / 0 */
    b.beta = NULL;
    bn_train_forward(&b);
    /* xhat cache equals the output when gamma = 1, beta = 0 */
    for (size_t j = 0; j < (size_t)4 * 3 * 50; j++)
        cr_assert_eq(b.xhat[j], b.out[j], "xhat[%zu]", j);
    for (int ch = 0; ch < 3; ch++) {
        double s, s2;
        channel_sums(&s, &s2, b.out, 4, 3, 50, ch);
        const double mean = s / 200, var = s2 / 200 - mean * mean;
        cr_assert(fabs(mean) < 1e-5, "channel %d mean %g", ch, mean);
        cr_assert(fabs(var - 1.0) < 1e-4, "channel %d var %g", ch, var);
    }
    /* with gamma and beta: out = gamma * xhat + beta */
    b.gamma = gamma;
    b.beta = beta;
    bn_train_forward(&b);
    for (size_t j = 0; j < (size_t)4 * 3 * 50; j++) {
        const int ch = (int)(j / 50 % 3);
        cr_assert_float_eq(b.out[j], gamma[ch] * b.xhat[j] + beta[ch], 1e-6, "out[%zu]", j);
    }
    bn_free(&b);
}

Test(batchnorm, gradients_through_all_phases)
{
    /* batch 3 split 2 + 1, 3 channels, 2x5 images (wider than a lane block) */
    bn_ctx b;
    bn_alloc(&b, 3, 3, 10, 2, 41);
    const size_t total = (size_t)b.n * b.c * b.hw;
    bn_train_forward(&b);
    float *din = lc_falloc(total);
    double dgamma[BN_MAXC] = {0}, dbeta[BN_MAXC] = {0};
    bn_train_backward(din, dgamma, dbeta, &b);
    float dg[BN_MAXC], dbt[BN_MAXC];
    for (int ch = 0; ch < b.c; ch++) {
        dg[ch] = (float)dgamma[ch];
        dbt[ch] = (float)dbeta[ch];
    }

    double *num = lc_dalloc(total);
    /* BN is nonlinear in x, and the float forward's rounding of L (~1e-6)
     * swamps a small step: Richardson differences (error ~eps^4) allow a
     * step of 0.12 (measured worst error ~1e-4; plain eps = 1e-2 gives ~7e-4).
     * gamma and beta enter linearly. */
    lc_numeric_grad_rich(num, b.in, total, 0.12f, bn_objective, &b);
    LC_CHECK_GRAD("batchnorm din", din, num, total, 1e-3);
    lc_numeric_grad(num, b.gamma, (size_t)b.c, 0.25f, bn_objective, &b);
    LC_CHECK_GRAD("batchnorm dgamma", dg, num, (size_t)b.c, 1e-4);
    lc_numeric_grad(num, b.beta, (size_t)b.c, 0.25f, bn_objective, &b);
    LC_CHECK_GRAD("batchnorm dbeta", dbt, num, (size_t)b.c, 1e-4);

    /* backward_apply accumulates; NULL din is a no-op */
    bn_train_forward(&b);
    float *din2 = lc_falloc(total);
    memcpy(din2, din, total * sizeof(float));
    nn_batchnorm_backward_apply(din2, b.R, b.xhat, b.gamma, b.invstd, dgamma, dbeta,
                                (double)b.n * b.hw, b.n, b.c, b.hw);
    for (size_t j = 0; j < total; j++)
        cr_assert_float_eq(din2[j], 2 * din[j], 1e-5, "din2[%zu]", j);
    nn_batchnorm_backward_apply(NULL, b.R, b.xhat, b.gamma, b.invstd, dgamma, dbeta,
                                (double)b.n * b.hw, b.n, b.c, b.hw);
    free(din);
    free(din2);
    free(num);
    bn_free(&b);
}

Test(batchnorm, running_stats_golden_and_eval)
{
    /* n = 2, c = 2, hw = 2. Channel 0: {1,2},{3,4}: mean 2.5, biased var
     * 1.25, unbiased 5/3. Channel 1: {0,0},{2,-2}: mean 0, var 2, unbiased 8/3. */
    const float in[8] = {1, 2, 0, 0, 3, 4, 2, -2};
    double sum[2] = {0}, sumsq[2] = {0};
    nn_batchnorm_sums(sum, sumsq, in, 2, 2, 2);
    cr_assert_eq(sum[0], 10.0);
    cr_assert_eq(sumsq[0], 30.0);
    cr_assert_eq(sum[1], 0.0);
    cr_assert_eq(sumsq[1], 8.0);
    float mean[2], invstd[2], rm[2] = {0.0f, 1.0f}, rv[2] = {1.0f, 1.0f};
    const float eps = 1e-5f;
    nn_batchnorm_stats(mean, invstd, rm, rv, sum, sumsq, 4.0, 2, eps, 0.1f);
    cr_assert_float_eq(mean[0], 2.5f, 1e-7);
    cr_assert_float_eq(mean[1], 0.0f, 1e-7);
    cr_assert_float_eq(invstd[0], (float)(1.0 / sqrt(1.25 + 1e-5)), 1e-6);
    cr_assert_float_eq(invstd[1], (float)(1.0 / sqrt(2.0 + 1e-5)), 1e-6);
    /* PyTorch: running = (1 - momentum) * running + momentum * batch */
    cr_assert_float_eq(rm[0], 0.25f, 1e-7, "rm0 %g", (double)rm[0]);
    cr_assert_float_eq(rm[1], 0.9f, 1e-7, "rm1 %g", (double)rm[1]);
    cr_assert_float_eq(rv[0], 0.9f + 0.1f * 5.0f / 3.0f, 1e-6, "rv0 %g", (double)rv[0]);
    cr_assert_float_eq(rv[1], 0.9f + 0.1f * 8.0f / 3.0f, 1e-6, "rv1 %g", (double)rv[1]);

    /* NULL running stats are skipped */
    nn_batchnorm_stats(mean, invstd, NULL, NULL, sum, sumsq, 4.0, 2, eps, 0.1f);
    cr_assert_float_eq(rm[0], 0.25f, 1e-7);

    /* evaluation: invstd from the running variance, apply without cache */
    float einv[2], out[8], out_cached[8], xh[8], io[8];
    const float gamma[2] = {2.0f, 0.5f}, beta[2] = {1.0f, -1.0f};
    nn_batchnorm_invstd(einv, rv, 2, eps);
    cr_assert_float_eq(einv[0], (float)(1.0 / sqrt((double)rv[0] + 1e-5)), 1e-6);
    nn_batchnorm_apply(out, NULL, in, rm, einv, gamma, beta, 2, 2, 2);
    nn_batchnorm_apply(out_cached, xh, in, rm, einv, gamma, beta, 2, 2, 2);
    memcpy(io, in, sizeof io);
    nn_batchnorm_apply(io, NULL, io, rm, einv, gamma, beta, 2, 2, 2); /* in place */
    for (int j = 0; j < 8; j++) {
        const int ch = j / 2 % 2;
        const double want = gamma[ch] * ((double)in[j] - rm[ch]) / sqrt((double)rv[ch] + 1e-5) +
                            beta[ch];
        cr_assert(fabs(out[j] - want) < 1e-5, "eval out[%d] = %g want %g", j, (double)out[j], want);
        cr_assert(fabs(out_cached[j] - want) < 1e-5, "cached out[%d]", j);
        cr_assert(fabs(io[j] - want) < 1e-5, "in-place out[%d]", j);
    }
    memcpy(io, in, sizeof io);
    nn_batchnorm_apply(io, xh, io, rm, einv, gamma, beta, 2, 2, 2); /* in place with cache */
    cr_assert_arr_eq(io, out_cached, sizeof io);
}

/* Evaluation-mode apply (no cache) in place and out of place against the
 * cached training-mode apply, on planes wider than a lane block. */
Test(batchnorm, apply_variants_agree)
{
    bn_ctx b;
    bn_alloc(&b, 2, 3, 29, 1, 71);
    const size_t total = (size_t)2 * 3 * 29;
    const float mean[3] = {0.5f, -1.0f, 2.0f}, invstd[3] = {2.0f, 0.25f, 1.0f};
    float *plain = lc_falloc(total), *io = lc_falloc(total);
    nn_batchnorm_apply(b.out, b.xhat, b.in, mean, invstd, b.gamma, b.beta, 2, 3, 29);
    nn_batchnorm_apply(plain, NULL, b.in, mean, invstd, b.gamma, b.beta, 2, 3, 29);
    memcpy(io, b.in, total * sizeof(float));
    nn_batchnorm_apply(io, NULL, io, mean, invstd, b.gamma, b.beta, 2, 3, 29);
    for (size_t j = 0; j < total; j++) {
        const int ch = (int)(j / 29 % 3);
        const double want = b.gamma[ch] * ((double)b.in[j] - mean[ch]) * invstd[ch] + b.beta[ch];
        cr_assert(fabs(b.out[j] - want) < 1e-5, "cached out[%zu] = %g want %g", j,
                  (double)b.out[j], want);
        cr_assert(fabs(b.xhat[j] - ((double)b.in[j] - mean[ch]) * invstd[ch]) < 1e-5, "xhat[%zu]", j);
        cr_assert(fabs(plain[j] - want) < 1e-5, "eval out[%zu] = %g want %g", j, (double)plain[j], want);
        cr_assert(fabs(io[j] - want) < 1e-5, "in-place out[%zu] = %g want %g", j, (double)io[j], want);
    }
    memcpy(io, b.in, total * sizeof(float));
    nn_batchnorm_apply(io, b.xhat, io, mean, invstd, b.gamma, b.beta, 2, 3, 29);
    cr_assert_arr_eq(io, b.out, total * sizeof(float), "in-place cached apply differs");
    free(plain);
    free(io);
    bn_free(&b);
}

Test(batchnorm, slice_sums_match_whole_batch)
{
    bn_ctx b;
    bn_alloc(&b, 5, 2, 37, 3, 51);
    double s1[2] = {0}, q1[2] = {0}, s2[2] = {0}, q2[2] = {0};
    nn_batchnorm_sums(s1, q1, b.in, 5, 2, 37);
    for (int i = 0; i < 5; i++) /* one image at a time, still += */
        nn_batchnorm_sums(s2, q2, b.in + (size_t)i * 2 * 37, 1, 2, 37);
    for (int ch = 0; ch < 2; ch++) {
        double rs, rq;
        channel_sums(&rs, &rq, b.in, 5, 2, 37, ch);
        cr_assert(fabs(s1[ch] - rs) < 1e-9 && fabs(s2[ch] - rs) < 1e-9, "sum ch %d", ch);
        cr_assert(fabs(q1[ch] - rq) < 1e-9 && fabs(q2[ch] - rq) < 1e-9, "sumsq ch %d", ch);
    }
    bn_free(&b);
}

/* ---- softmax cross-entropy ------------------------------------------------- */

Test(loss, golden_three_classes_with_and_without_smoothing)
{
    /* logits (1, 2, 3), label 2: lse = 3 + log(e^-2 + e^-1 + 1)
     *   no smoothing: lse - 3                             = 0.40760596444438
     *   s = 0.1:      lse - 0.9*3 - (0.1/3)*(1 + 2 + 3)   = 0.50760596444438
     * softmax = (0.0900305732, 0.2447284711, 0.6652409558) */
    const float z[3] = {1, 2, 3};
    const uint8_t y[1] = {2};
    const double p[3] = {0.09003057317038043, 0.24472847105479759, 0.6652409557748217};
    float dz[3];
    int correct = 0;
    double l = nn_softmax_xent(dz, z, y, 1, 3, 0.0f, 1.0f, &correct);
    cr_assert(fabs(l - 0.4076059644443806) < 1e-6, "loss %.10f", l);
    cr_assert_eq(correct, 1);
    for (int j = 0; j < 3; j++)
        cr_assert(fabs(dz[j] - (p[j] - (j == 2))) < 1e-6, "dz[%d] = %g", j, (double)dz[j]);

    l = nn_softmax_xent(dz, z, y, 1, 3, 0.1f, 0.5f, &correct);
    cr_assert(fabs(l - 0.5076059644443804) < 1e-6, "smoothed loss %.10f", l);
    cr_assert_eq(correct, 2, "correct must accumulate");
    for (int j = 0; j < 3; j++) {
        const double t = 0.1 / 3 + (j == 2 ? 0.9 : 0.0);
        cr_assert(fabs(dz[j] - 0.5 * (p[j] - t)) < 1e-6, "smoothed dz[%d] = %g", j, (double)dz[j]);
    }

    float pr[3];
    nn_softmax(pr, z, 1, 3);
    for (int j = 0; j < 3; j++)
        cr_assert(fabs(pr[j] - p[j]) < 1e-6, "softmax[%d] = %g", j, (double)pr[j]);
}

Test(loss, sum_over_rows_and_correct_count)
{
    const float z[9] = {1, 2, 3, /* label 2: right */
                        2, -1, 0.5f, /* label 0: right */
                        0.3f, 0.1f, 0.2f /* label 1: wrong */};
    const uint8_t y[3] = {2, 0, 1};
    int correct = 5;
    double total = nn_softmax_xent(NULL, z, y, 3, 3, 0.2f, 1.0f, &correct);
    cr_assert_eq(correct, 7);
    double rows = 0;
    for (int i = 0; i < 3; i++) {
        const float *r = z + 3 * i;
        const double lse = log(exp(r[0]) + exp(r[1]) + exp(r[2]));
        /* -sum_j t_j log p_j with t = 0.8*onehot + 0.2/3 */
        for (int j = 0; j < 3; j++)
            rows -= (0.2 / 3 + (j == y[i] ? 0.8 : 0.0)) * (r[j] - lse);
    }
    cr_assert(fabs(total - rows) < 1e-6, "sum %g vs %g", total, rows);
    nn_softmax_xent(NULL, z, y, 3, 3, 0.2f, 1.0f, NULL); /* correct may be NULL */
}

Test(loss, stable_for_huge_logits)
{
    const float z[6] = {1000, 0, -1000, -1000, 0, 1000};
    const uint8_t y[2] = {0, 0};
    float dz[6], p[6];
    int correct = 0;
    const double l = nn_softmax_xent(dz, z, y, 2, 3, 0.0f, 1.0f, &correct);
    cr_assert(isfinite(l), "loss not finite");
    cr_assert(fabs(l - 2000.0) < 1e-3, "loss %g, want 0 + 2000", l); /* row 1: 1000 - (-1000) */
    cr_assert_eq(correct, 1);
    for (int j = 0; j < 6; j++)
        cr_assert(isfinite(dz[j]));
    cr_assert_float_eq(dz[3], -1.0f, 1e-6); /* p = 0, target 1 */
    cr_assert_float_eq(dz[5], 1.0f, 1e-6);
    nn_softmax(p, z, 2, 3);
    cr_assert_float_eq(p[0], 1.0f, 1e-6);
    cr_assert_float_eq(p[5], 1.0f, 1e-6);
    cr_assert_eq(p[2], 0.0f);
}

typedef struct {
    int n, k;
    float s;
    float *z;
    const uint8_t *y;
} xent_ctx;

static double xent_objective(void *p)
{
    xent_ctx *c = p;
    return nn_softmax_xent(NULL, c->z, c->y, c->n, c->k, c->s, 1.0f, NULL);
}

Test(loss, gradient_matches_finite_differences)
{
    enum { N = 3, K = 5 };
    const uint8_t y[N] = {4, 0, 2};
    float z[N * K], dz[N * K], dz2[N * K];
    nn_rng r;
    nn_rng_seed(&r, 61);
    lc_fill(z, N * K, &r, -3, 3);
    for (int smooth = 0; smooth < 2; smooth++) {
        xent_ctx c = {N, K, smooth ? 0.1f : 0.0f, z, y};
        nn_softmax_xent(dz, z, y, N, K, c.s, 1.0f, NULL);
        double num[N * K];
        lc_numeric_grad(num, z, N * K, 1e-3f, xent_objective, &c);
        LC_CHECK_GRAD(smooth ? "xent dlogits smoothed" : "xent dlogits", dz, num, (size_t)N * K,
                      1e-4);
        /* dlogits is scaled by `scale`, the loss is not */
        const double l1 = nn_softmax_xent(dz, z, y, N, K, c.s, 1.0f, NULL);
        const double l2 = nn_softmax_xent(dz2, z, y, N, K, c.s, 0.25f, NULL);
        cr_assert_eq(l1, l2);
        for (int j = 0; j < N * K; j++)
            cr_assert_float_eq(dz2[j], 0.25f * dz[j], 1e-7, "scale at %d", j);
    }
}
