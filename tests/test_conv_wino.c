/* test_conv_wino.c - the Winograd F(4x4, 3x3) convolution
 * (libnn/conv_wino.h) on every instruction set: the forward pass and the
 * input gradient against a naive double-precision convolution on the
 * configs' 3x3 shapes and random ones (odd sizes, padding 0-2, channel
 * counts off the vector width, batches that end inside a chunk), the
 * weight gradient likewise (added to what dw held), bit for
 * bit against the scalar body, the fused activations against separate
 * ones, accumulation, the shapes it takes, and finite-difference gradients
 * through nn_conv2d_forward / nn_conv2d_backward (which route here).
 *
 * Winograd's transforms multiply rounding errors by their coefficients
 * (up to 8 in A^T, 5 in B^T), so the bound is WINO_TOL times the sum of
 * |terms|, against 1e-5 for the direct kernels: measured worst case on
 * these shapes 4.7e-6 (forward) and 3.8e-6 (input gradient). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "isa_env.h"
#include "layer_check.h"
#include "libnn/conv_wino.h"

#define WINO_TOL 2e-5

static nn_conv_dims dims(int c, int h, int w, int m, int p)
{
    nn_conv_dims d = {c, h, w, m, h + 2 * p - 2, w + 2 * p - 2, 3, 1, p};
    return d;
}

static int rnd(nn_rng *r, int n)
{
    return (int)(nn_rng_uniform(r) * (float)n) % n;
}

enum { N_FIXED = 7, N_RANDOM = 30 };

/* Shape t and its batch: the configs' own 3x3 stride-1 shapes (MNIST
 * reference, ResNet-8), then random ones with 1 to 7 images. */
static nn_conv_dims shape(int t, int *n)
{
    static const int fixed[N_FIXED][5] = {
        {32, 28, 28, 32, 1}, {32, 14, 14, 64, 1}, {64, 14, 14, 64, 1}, {16, 32, 32, 16, 1},
        {32, 16, 16, 32, 1}, {64, 8, 8, 64, 1},   {8, 5, 7, 9, 0},
    };
    if (t < N_FIXED) {
        *n = t == 0 ? 3 : 2;
        return dims(fixed[t][0], fixed[t][1], fixed[t][2], fixed[t][3], fixed[t][4]);
    }
    nn_rng r;
    nn_rng_seed(&r, 9100 + (uint64_t)t);
    for (;;) {
        const int p = rnd(&r, 3), c = 8 + rnd(&r, 33), m = 8 + rnd(&r, 33);
        const int h = 1 + rnd(&r, 21), w = 1 + rnd(&r, 21);
        *n = 1 + rnd(&r, 7);
        if (h + 2 * p >= 3 && w + 2 * p >= 3)
            return dims(c, h, w, m, p);
    }
}

typedef struct {
    nn_conv_dims d;
    int n;
    size_t in_n, out_n, w_n, scratch_n;
    float *in, *w, *b, *g, *scratch;
} wcase;

static void wcase_init_dims(wcase *c, const nn_conv_dims *dd, int n, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    c->d = *dd;
    c->n = n;
    const nn_conv_dims *d = &c->d;
    c->in_n = (size_t)c->n * d->in_c * d->in_h * d->in_w;
    c->out_n = (size_t)c->n * d->out_c * d->out_h * d->out_w;
    c->w_n = (size_t)d->out_c * d->in_c * 9;
    c->scratch_n = nn_wino_scratch_floats(d);
    c->in = lc_falloc(c->in_n), c->w = lc_falloc(c->w_n), c->b = lc_falloc((size_t)d->out_c);
    c->g = lc_falloc(c->out_n), c->scratch = lc_falloc(c->scratch_n);
    lc_fill(c->in, c->in_n, &r, -1, 1), lc_fill(c->w, c->w_n, &r, -1, 1);
    lc_fill(c->b, (size_t)d->out_c, &r, -1, 1), lc_fill(c->g, c->out_n, &r, -1, 1);
}

static void wcase_init(wcase *c, int t)
{
    int n;
    const nn_conv_dims d = shape(t, &n);
    wcase_init_dims(c, &d, n, 500 + (uint64_t)t);
}

static void wcase_free(wcase *c)
{
    free(c->in), free(c->w), free(c->b), free(c->g), free(c->scratch);
}

/* The scratch is poisoned before every call: no result may depend on it. */
static void poison(wcase *c)
{
    for (size_t j = 0; j < c->scratch_n; j++)
        c->scratch[j] = NAN;
}

/* out = forward with act; din = the input gradient added to din0. */
static void run(wcase *c, nn_isa isa, nn_act act, float *out, float *din, const float *din0)
{
    poison(c);
    for (size_t j = 0; j < c->out_n; j++)
        out[j] = NAN;
    nn_wino_forward(out, c->scratch, c->in, c->w, c->b, c->n, &c->d, act, isa);
    memcpy(din, din0, c->in_n * sizeof(float));
    poison(c);
    nn_wino_input_grad(din, c->scratch, c->g, c->w, c->n, &c->d, isa);
}

/* Naive convolution in double, and the sums of |terms|. */
static void naive(const wcase *c, double *out, double *out_abs, double *din, double *din_abs)
{
    const nn_conv_dims *d = &c->d;
    for (int n = 0; n < c->n; n++)
        for (int m = 0; m < d->out_c; m++)
            for (int oy = 0; oy < d->out_h; oy++)
                for (int ox = 0; ox < d->out_w; ox++) {
                    const size_t o = (((size_t)n * d->out_c + m) * d->out_h + oy) * d->out_w + ox;
                    out[o] = c->b[m], out_abs[o] = fabs(c->b[m]);
                    for (int ch = 0; ch < d->in_c; ch++)
                        for (int ki = 0; ki < 3; ki++)
                            for (int kj = 0; kj < 3; kj++) {
                                const int iy = oy - d->pad + ki, ix = ox - d->pad + kj;
                                if (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w)
                                    continue;
                                const size_t i =
                                    (((size_t)n * d->in_c + ch) * d->in_h + iy) * d->in_w + ix;
                                const size_t wi = (((size_t)m * d->in_c + ch) * 3 + ki) * 3 + kj;
                                const double x = c->in[i], w = c->w[wi], g = c->g[o];
                                out[o] += w * x, out_abs[o] += fabs(w * x);
                                din[i] += w * g, din_abs[i] += fabs(w * g);
                            }
                }
}

/* |a - ref| <= WINO_TOL * scale + 1e-6; returns the largest error / scale. */
static double expect_close(const char *what, int t, const float *a, const double *ref,
                           const double *scale, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)a[i] - ref[i]), tol = WINO_TOL * scale[i] + 1e-6;
        cr_assert(err <= tol, "shape %d %s[%zu]: %.9g vs %.9g (tol %g)", t, what, i, (double)a[i],
                  ref[i], tol);
        if (scale[i] > 0 && err / scale[i] > worst)
            worst = err / scale[i];
    }
    return worst;
}

static void check_isa(nn_isa isa)
{
    TEST_REQUIRE_NN_ISA(isa);
    double worst_out = 0, worst_din = 0;
    for (int t = 0; t < N_FIXED + N_RANDOM; t++) {
        wcase c;
        wcase_init(&c, t);
        /* the input gradient is added to what din holds: start from values */
        float *out = lc_falloc(c.out_n), *din = lc_falloc(c.in_n), *din0 = lc_falloc(c.in_n);
        nn_rng r;
        nn_rng_seed(&r, 4000 + (uint64_t)t);
        lc_fill(din0, c.in_n, &r, -1, 1);
        run(&c, isa, NN_ACT_NONE, out, din, din0);
        double *ro = lc_dalloc(c.out_n), *ro_abs = lc_dalloc(c.out_n);
        double *rd = lc_dalloc(c.in_n), *rd_abs = lc_dalloc(c.in_n);
        naive(&c, ro, ro_abs, rd, rd_abs);
        for (size_t j = 0; j < c.in_n; j++)
            rd[j] += din0[j], rd_abs[j] += fabs(din0[j]);
        double w = expect_close("out", t, out, ro, ro_abs, c.out_n);
        worst_out = w > worst_out ? w : worst_out;
        w = expect_close("din", t, din, rd, rd_abs, c.in_n);
        worst_din = w > worst_din ? w : worst_din;
        if (isa != NN_ISA_SCALAR) { /* the same bits as the scalar body */
            float *out_s = lc_falloc(c.out_n), *din_s = lc_falloc(c.in_n);
            run(&c, NN_ISA_SCALAR, NN_ACT_NONE, out_s, din_s, din0);
            cr_assert_eq(memcmp(out, out_s, c.out_n * sizeof(float)), 0,
                         "shape %d: %s forward differs from scalar", t, nn_isa_name(isa));
            cr_assert_eq(memcmp(din, din_s, c.in_n * sizeof(float)), 0,
                         "shape %d: %s input gradient differs from scalar", t, nn_isa_name(isa));
            free(out_s), free(din_s);
        }
        free(out), free(din), free(din0), free(ro), free(ro_abs), free(rd), free(rd_abs);
        wcase_free(&c);
    }
    cr_log_info("%s: worst error / sum|terms|: forward %.2g, input gradient %.2g",
                nn_isa_name(isa), worst_out, worst_din);
}

/* dw = dw0 + the weight gradient (all of it on the Winograd path). */
static void run_dw(wcase *c, nn_isa isa, float *dw, const float *dw0)
{
    memcpy(dw, dw0, c->w_n * sizeof(float));
    poison(c);
    nn_wino_weight_grad(dw, c->scratch, c->g, c->in, c->n, &c->d, isa);
}

/* The weight gradient in double, and the sums of |terms|. */
static void naive_dw(const wcase *c, double *dw, double *dw_abs)
{
    const nn_conv_dims *d = &c->d;
    for (int n = 0; n < c->n; n++)
        for (int m = 0; m < d->out_c; m++)
            for (int ch = 0; ch < d->in_c; ch++)
                for (int ki = 0; ki < 3; ki++)
                    for (int kj = 0; kj < 3; kj++) {
                        const size_t wi = (((size_t)m * d->in_c + ch) * 3 + ki) * 3 + kj;
                        for (int oy = 0; oy < d->out_h; oy++)
                            for (int ox = 0; ox < d->out_w; ox++) {
                                const int iy = oy - d->pad + ki, ix = ox - d->pad + kj;
                                if (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w)
                                    continue;
                                const size_t i =
                                    (((size_t)n * d->in_c + ch) * d->in_h + iy) * d->in_w + ix;
                                const size_t o =
                                    (((size_t)n * d->out_c + m) * d->out_h + oy) * d->out_w + ox;
                                const double t = (double)c->g[o] * c->in[i];
                                dw[wi] += t, dw_abs[wi] += fabs(t);
                            }
                    }
}

/* The weight gradient against the naive one (added to random values
 * already in dw) and, on a vector ISA, bit for bit against scalar. Its
 * sums run over every tile of the batch, so the bound is the same
 * multiple of the sum of |terms| as for the other passes. */
static void check_dw_isa(nn_isa isa)
{
    TEST_REQUIRE_NN_ISA(isa);
    double worst = 0;
    for (int t = 0; t < N_FIXED + N_RANDOM; t++) {
        wcase c;
        wcase_init(&c, t);
        float *dw = lc_falloc(c.w_n), *dw0 = lc_falloc(c.w_n);
        nn_rng r;
        nn_rng_seed(&r, 6000 + (uint64_t)t);
        lc_fill(dw0, c.w_n, &r, -1, 1);
        run_dw(&c, isa, dw, dw0);
        double *ref = lc_dalloc(c.w_n), *ref_abs = lc_dalloc(c.w_n);
        naive_dw(&c, ref, ref_abs);
        for (size_t j = 0; j < c.w_n; j++)
            ref[j] += dw0[j], ref_abs[j] += fabs(dw0[j]);
        const double w = expect_close("dw", t, dw, ref, ref_abs, c.w_n);
        worst = w > worst ? w : worst;
        if (isa != NN_ISA_SCALAR) {
            float *dw_s = lc_falloc(c.w_n);
            run_dw(&c, NN_ISA_SCALAR, dw_s, dw0);
            cr_assert_eq(memcmp(dw, dw_s, c.w_n * sizeof(float)), 0,
                         "shape %d: %s weight gradient differs from scalar", t, nn_isa_name(isa));
            free(dw_s);
        }
        free(dw), free(dw0), free(ref), free(ref_abs);
        wcase_free(&c);
    }
    cr_log_info("%s: worst weight-gradient error / sum|terms|: %.2g", nn_isa_name(isa), worst);
}

Test(conv_wino, scalar_matches_naive_convolution)
{
    check_isa(NN_ISA_SCALAR);
}

Test(conv_wino, weight_grad_scalar_matches_naive)
{
    check_dw_isa(NN_ISA_SCALAR);
}

Test(conv_wino, weight_grad_avx2_matches_naive_and_scalar_bit_for_bit)
{
    check_dw_isa(NN_ISA_AVX2);
}

Test(conv_wino, weight_grad_avx512_matches_naive_and_scalar_bit_for_bit)
{
    check_dw_isa(NN_ISA_AVX512);
}

Test(conv_wino, avx2_matches_naive_and_scalar_bit_for_bit)
{
    check_isa(NN_ISA_AVX2);
}

Test(conv_wino, avx512_matches_naive_and_scalar_bit_for_bit)
{
    check_isa(NN_ISA_AVX512);
}

/* ReLU and ReLU6 applied as the outputs are stored equal the activation
 * run afterwards, bit for bit; the input gradient adds to what din held. */
Test(conv_wino, fused_activation_and_accumulation)
{
    const nn_isa isa = nn_isa_best();
    for (int t = 0; t < 4; t++) {
        wcase c;
        wcase_init(&c, t == 3 ? N_FIXED + 5 : t);
        float *plain = lc_falloc(c.out_n), *fused = lc_falloc(c.out_n);
        float *din1 = lc_falloc(c.in_n), *din2 = lc_falloc(c.in_n), *seed = lc_falloc(c.in_n);
        nn_rng r;
        nn_rng_seed(&r, 77);
        lc_fill(seed, c.in_n, &r, -1, 1);
        run(&c, isa, NN_ACT_NONE, plain, din1, seed);
        for (int a = 1; a <= 2; a++) {
            const nn_act act = a == 1 ? NN_ACT_RELU : NN_ACT_RELU6;
            run(&c, isa, act, fused, din2, seed);
            float *sep = lc_falloc(c.out_n);
            if (act == NN_ACT_RELU)
                nn_relu_forward(sep, plain, c.out_n);
            else
                nn_relu6_forward(sep, plain, c.out_n);
            cr_assert_eq(memcmp(fused, sep, c.out_n * sizeof(float)), 0,
                         "shape %d: fused activation %d differs", t, a);
            free(sep);
        }
        /* din2 = seed + g twice in a row = din1 + g again */
        nn_wino_input_grad(din2, c.scratch, c.g, c.w, c.n, &c.d, isa);
        float *zero = lc_falloc(c.in_n), *gonly = lc_falloc(c.in_n);
        run(&c, isa, NN_ACT_NONE, plain, gonly, zero);
        for (size_t j = 0; j < c.in_n; j++) {
            const float want = (seed[j] + gonly[j]) + gonly[j];
            cr_assert(din2[j] == want, "shape %d din[%zu]: %g, want %g", t, j, (double)din2[j],
                      (double)want);
        }
        free(plain), free(fused), free(din1), free(din2), free(seed), free(zero), free(gonly);
        wcase_free(&c);
    }
}

/* Which shapes nn_conv2d sends down the path: 3x3, stride 1, pad <= 2,
 * 32+ channels on both sides of the pass, rows of 13 or more. */
Test(conv_wino, takes_only_its_shapes)
{
    const nn_conv_dims yes = dims(32, 13, 13, 32, 1);
    cr_assert(nn_wino_fwd_ok(&yes) && nn_wino_din_ok(&yes) && nn_wino_dw_ok(&yes));
    nn_conv_dims no = dims(16, 32, 32, 16, 1); /* ResNet-8's first stack */
    cr_assert(!nn_wino_dw_ok(&no));
    nn_conv_dims d = dims(31, 13, 13, 64, 1); /* too few input channels */
    cr_assert(!nn_wino_fwd_ok(&d) && !nn_wino_din_ok(&d));
    d = dims(64, 13, 13, 31, 1); /* too few output channels */
    cr_assert(!nn_wino_fwd_ok(&d) && !nn_wino_din_ok(&d));
    d = dims(32, 9, 12, 32, 1); /* rows of 12 */
    cr_assert(!nn_wino_fwd_ok(&d) && !nn_wino_din_ok(&d));
    d = dims(32, 9, 13, 32, 0); /* output rows of 11, input rows of 13 */
    cr_assert(!nn_wino_fwd_ok(&d) && nn_wino_din_ok(&d));
    d = (nn_conv_dims){16, 9, 9, 16, 4, 4, 3, 2, 0}; /* strided */
    cr_assert(!nn_wino_fwd_ok(&d) && !nn_wino_din_ok(&d));
    d = (nn_conv_dims){16, 9, 9, 16, 9, 9, 1, 1, 0}; /* 1x1 */
    cr_assert(!nn_wino_fwd_ok(&d));
    d = (nn_conv_dims){16, 9, 9, 16, 13, 13, 3, 1, 3}; /* pad 3 */
    cr_assert(!nn_wino_fwd_ok(&d));
    cr_assert_eq(nn_wino_scratch_floats(&d), 0);
}

/* Finite-difference gradients of L = sum(R .* conv(in, w)) through the
 * public layer functions, on shapes they send down the Winograd path, for
 * FD_SAMPLES elements of in and of w spread over each (every element would
 * take minutes at 32+ channels). L is
 * linear in in and w, so a large step has no truncation error. Both sides
 * carry the transforms' rounding (a few 1e-6 of the sum of |terms| per
 * output, against 1e-7 for the direct kernels), which on the smallest
 * gradient elements is some 1e-4 of their value: hence FD_TOL, 10x the
 * direct kernels' 5e-4. A wrong gradient is off by O(1). */
#define FD_STEP 2.0f
#define FD_TOL 5e-3
#define FD_SAMPLES 96

/* Checks the analytic gradient a of x (n elements) at FD_SAMPLES evenly
 * spread indices against central differences of the objective. */
static void check_sampled(const char *what, const float *a, float *x, size_t n, lc_objective f,
                          void *ctx)
{
    double num[FD_SAMPLES];
    float got[FD_SAMPLES];
    const size_t k = n < FD_SAMPLES ? n : FD_SAMPLES;
    for (size_t j = 0; j < k; j++) {
        const size_t i = j * n / k + (n / k) / 2;
        lc_numeric_grad(num + j, x + i, 1, FD_STEP, f, ctx);
        got[j] = a[i];
    }
    LC_CHECK_GRAD(what, got, num, k, FD_TOL);
}
typedef struct {
    wcase *c;
    float *out;
} fd_ctx;


static double objective(void *p)
{
    fd_ctx *f = p;
    wcase *c = f->c;
    nn_conv2d_forward(f->out, c->scratch, c->in, c->w, c->b, c->n, &c->d);
    return lc_dot(f->out, c->g, c->out_n);
}

Test(conv_wino, layer_gradients_match_finite_differences)
{
    static const int small[][6] = {
        /* c, h, w, m, pad, images */
        {32, 4, 13, 33, 1, 2}, {33, 3, 15, 32, 0, 1}, {32, 2, 13, 40, 2, 3}, {40, 5, 14, 32, 1, 2},
    };
    for (int t = 0; t < (int)(sizeof small / sizeof small[0]); t++) {
        const int *s = small[t];
        const nn_conv_dims d = dims(s[0], s[1], s[2], s[3], s[4]);
        cr_assert(nn_wino_fwd_ok(&d) && nn_wino_din_ok(&d));
        wcase c;
        wcase_init_dims(&c, &d, s[5], 800 + (uint64_t)t);
        free(c.scratch);
        c.scratch = lc_falloc(nn_conv2d_scratch_floats(&c.d));
        fd_ctx f = {&c, lc_falloc(c.out_n)};
        float *din = lc_falloc(c.in_n), *dw = lc_falloc(c.w_n), *db = lc_falloc(c.d.out_c);
        nn_conv2d_backward(din, dw, db, c.scratch, c.g, c.in, c.w, c.n, &c.d);
        char what[64];
        snprintf(what, sizeof what, "wino shape %d din", t);
        check_sampled(what, din, c.in, c.in_n, objective, &f);
        snprintf(what, sizeof what, "wino shape %d dw", t);
        check_sampled(what, dw, c.w, c.w_n, objective, &f);
        free(din), free(dw), free(db), free(f.out);
        wcase_free(&c);
    }
}
