/* test_layers.c - conv2d and dense kernels: golden forward values against
 * a naive direct convolution, finite-difference gradients, accumulation
 * (+=) semantics and din == NULL. Pooling, element-wise and dropout are in
 * test_layers_pool.c; batch norm and the loss in test_layers_bn_loss.c. */
#include "layer_check.h"

#include "libnn/nn_layers.h"

/* ---- conv2d ------------------------------------------------------------ */

typedef struct {
    int in_c, in_h, in_w, out_c, k, stride, pad, n;
} conv_case;

/* Odd shapes: non-square, stride 2, pad 0/1/2/3, k = 1/3/5, batch 2-3.
 * Everything runs the wide kernels (libnn/conv_wide.c) except the input
 * gradient of strided layers and of layers padded by k or more, which is
 * sgemm + col2im; the pad-3 case has kernel taps that see only padding. */
static const conv_case CONV_CASES[] = {
    {3, 7, 5, 4, 3, 1, 1, 2}, /* same conv, non-square                 */
    {2, 9, 6, 3, 3, 2, 0, 3}, /* stride 2, no pad                      */
    {2, 8, 7, 3, 5, 2, 2, 2}, /* k5 stride 2 pad 2                     */
    {3, 5, 6, 2, 1, 1, 0, 2}, /* 1x1 fast path                         */
    {2, 6, 5, 3, 1, 2, 0, 2}, /* 1x1 stride 2: general path            */
    {2, 4, 3, 2, 3, 2, 3, 2}, /* pad 3 > k-1: empty valid ranges       */
    {1, 6, 7, 2, 5, 1, 2, 3}, /* k5 same conv, batch 3                 */
    {2, 5, 21, 3, 3, 1, 1, 2}, /* rows wider than a 16-float lane block */
    {2, 6, 41, 2, 3, 2, 1, 2}, /* stride 2, wide rows                  */
    {2, 7, 6, 3, 3, 1, 0, 2}, /* stride 1, out_w != in_w: row by row  */
    {1, 5, 19, 2, 3, 1, 2, 2}, /* stride 1, pad 2 > (k-1)/2, wide     */
    {2, 5, 4, 3, 1, 1, 1, 2}, /* 1x1 stride 1 pad 1: col2im input grad */
    {2, 4, 5, 3, 3, 1, 3, 2}, /* 3x3 stride 1 pad 3: col2im input grad */
};
#define N_CONV_CASES (sizeof CONV_CASES / sizeof CONV_CASES[0])

static nn_conv_dims conv_dims(const conv_case *c)
{
    nn_conv_dims d = {c->in_c, c->in_h, c->in_w, c->out_c, 0, 0, c->k, c->stride, c->pad};
    d.out_h = (c->in_h + 2 * c->pad - c->k) / c->stride + 1;
    d.out_w = (c->in_w + 2 * c->pad - c->k) / c->stride + 1;
    return d;
}

typedef struct {
    nn_conv_dims d;
    int n;
    size_t in_n, w_n, out_n;
    float *in, *w, *b, *out, *scratch, *R;
    float *din, *dw, *db; /* gradients, zeroed */
} conv_ctx;

static void conv_ctx_init(conv_ctx *c, const conv_case *cc, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    c->d = conv_dims(cc);
    c->n = cc->n;
    c->in_n = (size_t)cc->n * cc->in_c * cc->in_h * cc->in_w;
    c->w_n = (size_t)cc->out_c * cc->in_c * cc->k * cc->k;
    c->out_n = (size_t)cc->n * cc->out_c * c->d.out_h * c->d.out_w;
    c->in = lc_falloc(c->in_n);
    c->w = lc_falloc(c->w_n);
    c->b = lc_falloc((size_t)cc->out_c);
    c->out = lc_falloc(c->out_n);
    c->scratch = lc_falloc(nn_conv2d_scratch_floats(&c->d));
    c->R = lc_falloc(c->out_n);
    c->din = lc_falloc(c->in_n);
    c->dw = lc_falloc(c->w_n);
    c->db = lc_falloc((size_t)cc->out_c);
    lc_fill(c->in, c->in_n, &r, -1.0f, 1.0f);
    lc_fill(c->w, c->w_n, &r, -1.0f, 1.0f);
    lc_fill(c->b, (size_t)cc->out_c, &r, -1.0f, 1.0f);
    lc_fill(c->R, c->out_n, &r, -1.0f, 1.0f);
}

static void conv_ctx_free(conv_ctx *c)
{
    float *const bufs[] = {c->in, c->w, c->b, c->out, c->scratch, c->R, c->din, c->dw, c->db};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

static double conv_objective(void *p)
{
    conv_ctx *c = p;
    nn_conv2d_forward(c->out, c->scratch, c->in, c->w, c->b, c->n, &c->d);
    return lc_dot(c->out, c->R, c->out_n);
}

/* Direct convolution in double, straight from the definition. */
static void conv_naive(double *out, const float *in, const float *w, const float *b, int n,
                       const nn_conv_dims *d)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < d->out_c; o++)
            for (int oy = 0; oy < d->out_h; oy++)
                for (int ox = 0; ox < d->out_w; ox++) {
                    double acc = b ? b[o] : 0.0;
                    for (int c = 0; c < d->in_c; c++)
                        for (int ki = 0; ki < d->k; ki++)
                            for (int kj = 0; kj < d->k; kj++) {
                                const int iy = oy * d->stride - d->pad + ki;
                                const int ix = ox * d->stride - d->pad + kj;
                                if (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w)
                                    continue;
                                acc += (double)in[((i * d->in_c + c) * d->in_h + iy) * d->in_w + ix] *
                                       w[((o * d->in_c + c) * d->k + ki) * d->k + kj];
                            }
                    out[((i * d->out_c + o) * d->out_h + oy) * d->out_w + ox] = acc;
                }
}

/* Runs check on every conv case, its context seeded with seed0 + case. */
static void each_conv_case(uint64_t seed0, void (*check)(conv_ctx *c, size_t t))
{
    for (size_t t = 0; t < N_CONV_CASES; t++) {
        conv_ctx c;
        conv_ctx_init(&c, &CONV_CASES[t], seed0 + t);
        check(&c, t);
        conv_ctx_free(&c);
    }
}

static void forward_vs_naive(conv_ctx *c, size_t t)
{
    double *ref = lc_dalloc(c->out_n);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        const float *b = with_bias ? c->b : NULL;
        /* Poison the output and scratch: the kernel must overwrite both. */
        for (size_t j = 0; j < c->out_n; j++)
            c->out[j] = NAN;
        for (size_t j = 0; j < nn_conv2d_scratch_floats(&c->d); j++)
            c->scratch[j] = NAN;
        nn_conv2d_forward(c->out, c->scratch, c->in, c->w, b, c->n, &c->d);
        conv_naive(ref, c->in, c->w, b, c->n, &c->d);
        for (size_t j = 0; j < c->out_n; j++)
            cr_assert(fabs(c->out[j] - ref[j]) <= 1e-5 * (1.0 + fabs(ref[j])),
                      "case %zu bias %d: out[%zu] = %g, naive %g", t, with_bias, j,
                      (double)c->out[j], ref[j]);
    }
    free(ref);
}

Test(conv2d, forward_matches_naive)
{
    each_conv_case(100, forward_vs_naive);
}

static void gradients_vs_finite_differences(conv_ctx *c, size_t t)
{
    const int oc = c->d.out_c;
    float *din = c->din, *dw = c->dw, *db = c->db;
    /* The scratch is poisoned: backward must not depend on forward's. */
    for (size_t j = 0; j < nn_conv2d_scratch_floats(&c->d); j++)
        c->scratch[j] = NAN;
    nn_conv2d_backward(din, dw, db, c->scratch, c->R, c->in, c->w, c->n, &c->d);

    double *num = lc_dalloc(c->in_n > c->w_n ? c->in_n : c->w_n);
    char what[64];
    /* L is linear in each of in, w, b: a large step has no truncation
     * error and keeps float rounding of L small relative to it. */
    const float eps = 0.25f;
    lc_numeric_grad(num, c->in, c->in_n, eps, conv_objective, c);
    snprintf(what, sizeof what, "conv case %zu din", t);
    LC_CHECK_GRAD(what, din, num, c->in_n, 5e-4);
    lc_numeric_grad(num, c->w, c->w_n, eps, conv_objective, c);
    snprintf(what, sizeof what, "conv case %zu dw", t);
    LC_CHECK_GRAD(what, dw, num, c->w_n, 5e-4);
    lc_numeric_grad(num, c->b, (size_t)oc, eps, conv_objective, c);
    snprintf(what, sizeof what, "conv case %zu db", t);
    LC_CHECK_GRAD(what, db, num, (size_t)oc, 5e-4);

    free(num);
}

Test(conv2d, gradients_match_finite_differences)
{
    each_conv_case(200, gradients_vs_finite_differences);
}

static void accumulation_and_null_grads(conv_ctx *c, size_t t)
{
    const size_t oc = (size_t)c->d.out_c;
    float *din = c->din, *dw = c->dw, *db = c->db;
    float *din1 = lc_falloc(c->in_n), *dw1 = lc_falloc(c->w_n), *db1 = lc_falloc(oc);
    float *dw2 = lc_falloc(c->w_n), *db2 = lc_falloc(oc);
    nn_conv2d_backward(din1, dw1, db1, c->scratch, c->R, c->in, c->w, c->n, &c->d);

    /* Twice into the same buffers: exactly the sum of two single calls
     * up to sgemm's summation order. */
    nn_conv2d_backward(din, dw, db, c->scratch, c->R, c->in, c->w, c->n, &c->d);
    nn_conv2d_backward(din, dw, db, c->scratch, c->R, c->in, c->w, c->n, &c->d);
    for (size_t j = 0; j < c->in_n; j++)
        din1[j] *= 2.0f;
    for (size_t j = 0; j < c->w_n; j++)
        dw1[j] *= 2.0f;
    for (size_t j = 0; j < oc; j++)
        db1[j] *= 2.0f;
    cr_assert_lt(lc_max_diff(din, din1, c->in_n), 1e-5, "case %zu: din not accumulated", t);
    cr_assert_lt(lc_max_diff(dw, dw1, c->w_n), 1e-5, "case %zu: dw not accumulated", t);
    cr_assert_lt(lc_max_diff(db, db1, oc), 1e-5, "case %zu: db not accumulated", t);

    /* din = NULL and db = NULL: dw is the same as with din given. */
    nn_conv2d_backward(NULL, dw2, NULL, c->scratch, c->R, c->in, c->w, c->n, &c->d);
    nn_conv2d_backward(NULL, dw2, db2, c->scratch, c->R, c->in, c->w, c->n, &c->d);
    cr_assert_lt(lc_max_diff(dw2, dw, c->w_n), 1e-5, "case %zu: dw differs with din NULL", t);
    for (size_t j = 0; j < oc; j++)
        db2[j] *= 2.0f;
    cr_assert_lt(lc_max_diff(db2, db, oc), 1e-5, "case %zu: db differs with din NULL", t);

    free(din1);
    free(dw1);
    free(db1);
    free(dw2);
    free(db2);
}

Test(conv2d, backward_accumulates_and_din_null)
{
    each_conv_case(300, accumulation_and_null_grads);
}

/* The 1x1 / stride 1 / pad 0 fast path (no im2col) against the general
 * im2col path, reached through the same convolution with pad 1: its output
 * is the fast one with a border of bias-only pixels. Backward with dout
 * zero on that border must give the same din, dw and db. */
Test(conv2d, pointwise_fast_path_matches_general_path)
{
    const int n = 3, ic = 5, h = 4, wd = 7, oc = 6;
    const nn_conv_dims fast = {ic, h, wd, oc, h, wd, 1, 1, 0};
    const nn_conv_dims padded = {ic, h, wd, oc, h + 2, wd + 2, 1, 1, 1};
    const size_t in_n = (size_t)n * ic * h * wd, w_n = (size_t)oc * ic;
    const size_t of_n = (size_t)n * oc * h * wd, op_n = (size_t)n * oc * (h + 2) * (wd + 2);
    nn_rng r;
    nn_rng_seed(&r, 7);
    float *in = lc_falloc(in_n), *w = lc_falloc(w_n), *b = lc_falloc((size_t)oc);
    float *outf = lc_falloc(of_n), *outp = lc_falloc(op_n), *R = lc_falloc(of_n);
    float *Rp = lc_falloc(op_n);
    float *scr = lc_falloc(nn_conv2d_scratch_floats(&padded));
    lc_fill(in, in_n, &r, -1, 1);
    lc_fill(w, w_n, &r, -1, 1);
    lc_fill(b, (size_t)oc, &r, -1, 1);
    lc_fill(R, of_n, &r, -1, 1);

    nn_conv2d_forward(outf, scr, in, w, b, n, &fast);
    nn_conv2d_forward(outp, scr, in, w, b, n, &padded);
    for (int i = 0; i < n * oc; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < wd; x++) {
                const float a = outf[((size_t)i * h + y) * wd + x];
                const float e = outp[((size_t)i * (h + 2) + y + 1) * (wd + 2) + x + 1];
                cr_assert(fabsf(a - e) <= 1e-5f * (1 + fabsf(e)), "plane %d (%d,%d): %g vs %g",
                          i, y, x, (double)a, (double)e);
                Rp[((size_t)i * (h + 2) + y + 1) * (wd + 2) + x + 1] = R[((size_t)i * h + y) * wd + x];
            }

    float *dinf = lc_falloc(in_n), *dwf = lc_falloc(w_n), *dbf = lc_falloc((size_t)oc);
    float *dinp = lc_falloc(in_n), *dwp = lc_falloc(w_n), *dbp = lc_falloc((size_t)oc);
    nn_conv2d_backward(dinf, dwf, dbf, scr, R, in, w, n, &fast);
    nn_conv2d_backward(dinp, dwp, dbp, scr, Rp, in, w, n, &padded);
    cr_assert_lt(lc_max_diff(dinf, dinp, in_n), 1e-5);
    cr_assert_lt(lc_max_diff(dwf, dwp, w_n), 1e-5);
    cr_assert_lt(lc_max_diff(dbf, dbp, (size_t)oc), 1e-5);
    cr_assert_gt(fabsf(dinf[0]) + fabsf(dwf[0]), 0.0f);

    free(in);
    free(w);
    free(b);
    free(outf);
    free(outp);
    free(R);
    free(Rp);
    free(scr);
    free(dinf);
    free(dwf);
    free(dbf);
    free(dinp);
    free(dwp);
    free(dbp);
}

/* ---- dense --------------------------------------------------------------- */

Test(dense, forward_golden)
{
    /* in (2,3), w (2,3), b (2) */
    const float in[] = {1, 2, 3, -1, 0.5f, 2};
    const float w[] = {0.5f, -1, 2, 1, 1, -0.25f};
    const float b[] = {0.25f, -1};
    /* row 0: 0.5-2+6 = 4.5 +0.25 = 4.75 ; 1+2-0.75 = 2.25 -1 = 1.25
     * row 1: -0.5-0.5+4 = 3 +0.25 = 3.25 ; -1+0.5-0.5 = -1 -1 = -2 */
    const float want[] = {4.75f, 1.25f, 3.25f, -2.0f};
    const float want_nob[] = {4.5f, 2.25f, 3.0f, -1.0f};
    float out[4] = {NAN, NAN, NAN, NAN};
    float scratch[6];
    cr_assert_eq(nn_dense_scratch_floats(3, 2), 6);
    nn_dense_forward(out, scratch, in, w, b, 2, 3, 2);
    for (int j = 0; j < 4; j++)
        cr_assert_float_eq(out[j], want[j], 1e-6, "out[%d] = %g", j, (double)out[j]);
    nn_dense_forward(out, scratch, in, w, NULL, 2, 3, 2);
    for (int j = 0; j < 4; j++)
        cr_assert_float_eq(out[j], want_nob[j], 1e-6, "no bias out[%d] = %g", j, (double)out[j]);
}

typedef struct {
    int n, in_size, units;
    float *in, *w, *b, *out, *R, *scratch;
} dense_ctx;

static double dense_objective(void *p)
{
    dense_ctx *c = p;
    nn_dense_forward(c->out, c->scratch, c->in, c->w, c->b, c->n, c->in_size, c->units);
    return lc_dot(c->out, c->R, (size_t)c->n * c->units);
}

Test(dense, gradients_accumulate_and_din_null)
{
    dense_ctx c = {3, 19, 17, NULL, NULL, NULL, NULL, NULL, NULL}; /* units > 16-float lane block */
    const size_t in_n = (size_t)c.n * c.in_size, w_n = (size_t)c.units * c.in_size;
    const size_t out_n = (size_t)c.n * c.units, un = (size_t)c.units;
    nn_rng r;
    nn_rng_seed(&r, 11);
    c.in = lc_falloc(in_n);
    c.w = lc_falloc(w_n);
    c.b = lc_falloc(un);
    c.out = lc_falloc(out_n);
    c.R = lc_falloc(out_n);
    c.scratch = lc_falloc(nn_dense_scratch_floats(c.in_size, c.units));
    lc_fill(c.in, in_n, &r, -1, 1);
    lc_fill(c.w, w_n, &r, -1, 1);
    lc_fill(c.b, un, &r, -1, 1);
    lc_fill(c.R, out_n, &r, -1, 1);
    float *din = lc_falloc(in_n), *dw = lc_falloc(w_n), *db = lc_falloc(un);
    nn_dense_backward(din, dw, db, c.R, c.in, c.w, c.n, c.in_size, c.units);

    double *num = lc_dalloc(w_n);
    lc_numeric_grad(num, c.in, in_n, 0.25f, dense_objective, &c);
    LC_CHECK_GRAD("dense din", din, num, in_n, 5e-4);
    lc_numeric_grad(num, c.w, w_n, 0.25f, dense_objective, &c);
    LC_CHECK_GRAD("dense dw", dw, num, w_n, 5e-4);
    lc_numeric_grad(num, c.b, un, 0.25f, dense_objective, &c);
    LC_CHECK_GRAD("dense db", db, num, un, 5e-4);

    /* Second call doubles; din = NULL / db = NULL leave them alone. */
    float *din2 = lc_falloc(in_n), *dw2 = lc_falloc(w_n), *db2 = lc_falloc(un);
    memcpy(din2, din, in_n * sizeof(float));
    memcpy(dw2, dw, w_n * sizeof(float));
    memcpy(db2, db, un * sizeof(float));
    nn_dense_backward(din2, dw2, db2, c.R, c.in, c.w, c.n, c.in_size, c.units);
    for (size_t j = 0; j < in_n; j++)
        cr_assert_float_eq(din2[j], 2 * din[j], 1e-5);
    for (size_t j = 0; j < w_n; j++)
        cr_assert_float_eq(dw2[j], 2 * dw[j], 1e-5);
    for (size_t j = 0; j < un; j++)
        cr_assert_float_eq(db2[j], 2 * db[j], 1e-5);
    nn_dense_backward(NULL, dw2, NULL, c.R, c.in, c.w, c.n, c.in_size, c.units);
    for (size_t j = 0; j < w_n; j++)
        cr_assert_float_eq(dw2[j], 3 * dw[j], 1e-5);
    for (size_t j = 0; j < un; j++)
        cr_assert_float_eq(db2[j], 2 * db[j], 1e-6);

    free(num);
    free(din);
    free(dw);
    free(db);
    free(din2);
    free(dw2);
    free(db2);
    free(c.in);
    free(c.w);
    free(c.b);
    free(c.out);
    free(c.R);
    free(c.scratch);
}

/* The forward pass takes one of two routes (W transposed for a big slice,
 * the slice transposed for a small one): both give the same bits, so a
 * model's outputs do not depend on how the batch was sliced. */
Test(dense, both_routes_give_the_same_bits)
{
    enum { N = 40, IN = 19, UNITS = 17 }; /* 40 rows: W's route; 1 row: the slice's */
    nn_rng r;
    nn_rng_seed(&r, 5);
    float *in = lc_falloc((size_t)N * IN), *w = lc_falloc((size_t)UNITS * IN);
    float *b = lc_falloc(UNITS), *scratch = lc_falloc(nn_dense_scratch_floats(IN, UNITS));
    float *all = lc_falloc((size_t)N * UNITS), *one = lc_falloc(UNITS);
    lc_fill(in, (size_t)N * IN, &r, -1, 1);
    lc_fill(w, (size_t)UNITS * IN, &r, -1, 1);
    lc_fill(b, UNITS, &r, -1, 1);
    cr_assert_gt((size_t)N * (IN + UNITS), (size_t)IN * UNITS, "the batch must take W's route");
    for (int bias = 0; bias < 2; bias++) {
        nn_dense_forward(all, scratch, in, w, bias ? b : NULL, N, IN, UNITS);
        for (int i = 0; i < N; i++) {
            nn_dense_forward(one, scratch, in + (size_t)i * IN, w, bias ? b : NULL, 1, IN, UNITS);
            cr_assert_eq(memcmp(one, all + (size_t)i * UNITS, sizeof(float) * UNITS), 0,
                         "row %d (bias %d): one row alone differs from the batch", i, bias);
        }
    }
    free(in), free(w), free(b), free(scratch), free(all), free(one);
}

/* The in-place ReLU backward: zero where the (post-ReLU) output is not
 * positive, keep elsewhere; a tail longer than one vector block. */
Test(relu, mask_keeps_gradient_only_where_output_is_positive)
{
    float out[19], g[19];
    for (int i = 0; i < 19; i++) {
        out[i] = (i % 3 == 0) ? 0.0f : (float)i;
        g[i] = 1.5f + (float)i;
    }
    nn_relu_mask(g, out, 19);
    for (int i = 0; i < 19; i++)
        cr_assert_eq(g[i], (i % 3 == 0) ? 0.0f : 1.5f + (float)i, "element %d", i);
}
