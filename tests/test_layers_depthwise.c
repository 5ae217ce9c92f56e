/* test_layers_depthwise.c - the depthwise convolution and ReLU6 kernels:
 * forward against a naive double-precision loop, backward against central
 * differences of L = sum(out * R), accumulation, NULL gradients. */
#include <criterion/criterion.h>

#include "layer_check.h"
#include "libnn/nn_layers.h"

/* (c, in_h, in_w, k, stride, pad): kernels 3 and 5, strides 1 and 2,
 * with and without padding, non-square images, a 1x1 filter. */
static const int DW_CASES[][6] = {
    {3, 6, 7, 3, 1, 1}, {2, 7, 6, 3, 2, 1}, {4, 9, 8, 5, 1, 2}, {3, 9, 11, 5, 2, 2},
    {2, 5, 5, 3, 1, 0}, {2, 8, 7, 5, 2, 0}, {3, 4, 5, 1, 1, 0}, {1, 3, 3, 3, 2, 2},
};
#define N_DW_CASES (sizeof DW_CASES / sizeof DW_CASES[0])

typedef struct {
    nn_conv_dims d;
    int n;
    size_t in_n, out_n, w_n;
    float *in, *w, *b, *out, *R, *scratch;
} dw_ctx;

static void dw_init(dw_ctx *c, const int *cs, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    int C = cs[0], h = cs[1], w = cs[2], k = cs[3], s = cs[4], p = cs[5];
    c->d = (nn_conv_dims){C, h, w, C, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1, k, s, p};
    c->n = 2;
    c->in_n = (size_t)c->n * C * h * w;
    c->out_n = (size_t)c->n * C * c->d.out_h * c->d.out_w;
    c->w_n = (size_t)C * k * k;
    c->in = lc_falloc(c->in_n), c->w = lc_falloc(c->w_n), c->b = lc_falloc((size_t)C);
    c->out = lc_falloc(c->out_n), c->R = lc_falloc(c->out_n);
    c->scratch = lc_falloc(nn_depthwise_scratch_floats(&c->d));
    nn_rng r;
    nn_rng_seed(&r, seed);
    lc_fill(c->in, c->in_n, &r, -1.0f, 1.0f);
    lc_fill(c->w, c->w_n, &r, -1.0f, 1.0f);
    lc_fill(c->b, (size_t)C, &r, -0.5f, 0.5f);
    lc_fill(c->R, c->out_n, &r, -1.0f, 1.0f);
}

static void dw_free(dw_ctx *c)
{
    free(c->in), free(c->w), free(c->b), free(c->out), free(c->R), free(c->scratch);
}

static void dw_naive(double *out, const dw_ctx *c, const float *b)
{
    const nn_conv_dims *d = &c->d;
    for (int i = 0; i < c->n; i++)
        for (int ch = 0; ch < d->in_c; ch++)
            for (int oy = 0; oy < d->out_h; oy++)
                for (int ox = 0; ox < d->out_w; ox++) {
                    double acc = b ? b[ch] : 0.0;
                    for (int ki = 0; ki < d->k; ki++)
                        for (int kj = 0; kj < d->k; kj++) {
                            int iy = oy * d->stride - d->pad + ki, ix = ox * d->stride - d->pad + kj;
                            if (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w)
                                continue;
                            acc += (double)c->in[((i * d->in_c + ch) * d->in_h + iy) * d->in_w + ix] *
                                   c->w[(ch * d->k + ki) * d->k + kj];
                        }
                    out[((i * d->in_c + ch) * d->out_h + oy) * d->out_w + ox] = acc;
                }
}

static double dw_objective(void *ctx)
{
    dw_ctx *c = ctx;
    nn_depthwise_forward(c->out, c->scratch, c->in, c->w, c->b, c->n, &c->d);
    return lc_dot(c->out, c->R, c->out_n);
}

Test(depthwise, forward_matches_naive)
{
    for (size_t t = 0; t < N_DW_CASES; t++) {
        dw_ctx c;
        dw_init(&c, DW_CASES[t], 10 + t);
        double *ref = lc_dalloc(c.out_n);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const float *b = with_bias ? c.b : NULL;
            for (size_t j = 0; j < c.out_n; j++)
                c.out[j] = NAN; /* the kernel must write every output */
            nn_depthwise_forward(c.out, c.scratch, c.in, c.w, b, c.n, &c.d);
            dw_naive(ref, &c, b);
            for (size_t j = 0; j < c.out_n; j++)
                cr_assert(fabs(c.out[j] - ref[j]) <= 1e-5 * (1.0 + fabs(ref[j])),
                          "case %zu bias %d: out[%zu] = %g, naive %g", t, with_bias, j,
                          (double)c.out[j], ref[j]);
        }
        free(ref);
        dw_free(&c);
    }
}

Test(depthwise, gradients_match_finite_differences)
{
    for (size_t t = 0; t < N_DW_CASES; t++) {
        dw_ctx c;
        dw_init(&c, DW_CASES[t], 20 + t);
        const size_t C = (size_t)c.d.in_c;
        float *din = lc_falloc(c.in_n), *dw = lc_falloc(c.w_n), *db = lc_falloc(C);
        nn_depthwise_backward(din, dw, db, c.scratch, c.R, c.in, c.w, c.n, &c.d);
        double *num = lc_dalloc(c.in_n > c.w_n ? c.in_n : c.w_n);
        char what[64];
        const float eps = 0.25f; /* L is linear in in, w and b */
        lc_numeric_grad(num, c.in, c.in_n, eps, dw_objective, &c);
        snprintf(what, sizeof what, "depthwise case %zu din", t);
        LC_CHECK_GRAD(what, din, num, c.in_n, 5e-4);
        lc_numeric_grad(num, c.w, c.w_n, eps, dw_objective, &c);
        snprintf(what, sizeof what, "depthwise case %zu dw", t);
        LC_CHECK_GRAD(what, dw, num, c.w_n, 5e-4);
        lc_numeric_grad(num, c.b, C, eps, dw_objective, &c);
        snprintf(what, sizeof what, "depthwise case %zu db", t);
        LC_CHECK_GRAD(what, db, num, C, 5e-4);
        free(num), free(din), free(dw), free(db);
        dw_free(&c);
    }
}

Test(depthwise, backward_accumulates_and_din_null)
{
    dw_ctx c;
    dw_init(&c, DW_CASES[3], 30);
    const size_t C = (size_t)c.d.in_c;
    float *din1 = lc_falloc(c.in_n), *dw1 = lc_falloc(c.w_n), *db1 = lc_falloc(C);
    float *din2 = lc_falloc(c.in_n), *dw2 = lc_falloc(c.w_n), *db2 = lc_falloc(C);
    float *dw3 = lc_falloc(c.w_n);
    nn_depthwise_backward(din1, dw1, db1, c.scratch, c.R, c.in, c.w, c.n, &c.d);
    nn_depthwise_backward(din2, dw2, db2, c.scratch, c.R, c.in, c.w, c.n, &c.d);
    nn_depthwise_backward(din2, dw2, db2, c.scratch, c.R, c.in, c.w, c.n, &c.d);
    /* Twice is 2x up to rounding (each call adds per image and tap). */
    for (size_t j = 0; j < c.in_n; j++)
        din1[j] *= 2.0f;
    for (size_t j = 0; j < c.w_n; j++)
        dw1[j] *= 2.0f;
    for (size_t j = 0; j < C; j++)
        db1[j] *= 2.0f;
    cr_assert_lt(lc_max_diff(din2, din1, c.in_n), 1e-6, "din not accumulated");
    cr_assert_lt(lc_max_diff(dw2, dw1, c.w_n), 1e-6, "dw not accumulated");
    cr_assert_lt(lc_max_diff(db2, db1, C), 1e-6, "db not accumulated");
    nn_depthwise_backward(NULL, dw3, NULL, c.scratch, c.R, c.in, c.w, c.n, &c.d);
    for (size_t j = 0; j < c.w_n; j++)
        cr_assert_eq(2.0f * dw3[j], dw1[j], "dw[%zu] differs with din NULL", j);
    free(din1), free(dw1), free(db1), free(din2), free(dw2), free(db2), free(dw3);
    dw_free(&c);
}

/* ReLU6: the clamp at both ends, in place and copying (a tail longer than a
 * vector block), and its gradient zero outside (0, 6). */
Test(relu6, forward_clamps_and_backward_masks)
{
    enum { N = 21 };
    float in[N], out[N], same[N], din[N], g[N];
    for (int i = 0; i < N; i++) {
        in[i] = -3.0f + 0.5f * (float)i; /* -3 ... 7 */
        same[i] = in[i];
        din[i] = 1.0f;
        g[i] = 2.0f + (float)i;
    }
    nn_relu6_forward(out, in, N);
    nn_relu6_forward(same, same, N);
    for (int i = 0; i < N; i++) {
        float want = in[i] < 0.0f ? 0.0f : in[i] > 6.0f ? 6.0f : in[i];
        cr_assert_eq(out[i], want, "out[%d] = %g for %g", i, (double)out[i], (double)in[i]);
        cr_assert_eq(same[i], want, "in place [%d]", i);
    }
    nn_relu6_backward(din, g, out, N);
    nn_relu6_backward(NULL, g, out, N); /* the network input: nothing to do */
    for (int i = 0; i < N; i++) {
        int slope = out[i] > 0.0f && out[i] < 6.0f;
        cr_assert_eq(din[i], 1.0f + (slope ? g[i] : 0.0f), "din[%d]", i);
    }
    nn_relu6_mask(g, out, N);
    for (int i = 0; i < N; i++) {
        int slope = out[i] > 0.0f && out[i] < 6.0f;
        cr_assert_eq(g[i], slope ? 2.0f + (float)i : 0.0f, "mask[%d]", i);
    }
}
