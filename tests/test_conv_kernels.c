/* test_conv_kernels.c - the wide-plane convolution kernels (libnn/conv_wide.h)
 * on every instruction set: against a naive double-precision convolution on
 * random shapes (odd sizes, padding 0-2, strides 1 and 2, 1x1 and 3x3,
 * channel counts that are not multiples of a vector), bit for bit against
 * the scalar reference body, finite-difference gradients through each body,
 * and a two-thread training run repeated bit for bit.
 *
 * A body the CPU lacks is skipped (cr_skip_test), not passed; so is one
 * that IOTCNN_TEST_DISABLE_ISA names (tests/isa_env.h). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "fixtures.h"
#include "isa_env.h"
#include "layer_check.h"
#include "layer_specs.h"
#include "libnn/conv_wide.h"
#include "libnn/nn_train.h"

enum { N_RANDOM = 40, BATCH = 2 };

static nn_conv_dims dims(int c, int h, int w, int m, int k, int s, int p)
{
    nn_conv_dims d = {c, h, w, m, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1, k, s, p};
    return d;
}

static int rnd(nn_rng *r, int n)
{
    return (int)(nn_rng_uniform(r) * (float)n) % n;
}

/* Shape t: the configs' own shapes first (MNIST reference, ResNet-8), then
 * random ones. */
static nn_conv_dims shape(int t)
{
    static const int fixed[][7] = {
        {32, 28, 28, 32, 3, 1, 1}, {32, 14, 14, 64, 3, 1, 1}, {16, 32, 32, 32, 3, 2, 1},
        {16, 32, 32, 32, 1, 2, 0}, {32, 16, 16, 64, 3, 2, 1}, {3, 32, 32, 16, 3, 1, 1},
    };
    const int n_fixed = (int)(sizeof fixed / sizeof fixed[0]);
    if (t < n_fixed)
        return dims(fixed[t][0], fixed[t][1], fixed[t][2], fixed[t][3], fixed[t][4], fixed[t][5],
                    fixed[t][6]);
    nn_rng r;
    nn_rng_seed(&r, 7000 + (uint64_t)t);
    for (;;) {
        const int k = rnd(&r, 3) ? 3 : 1, s = 1 + rnd(&r, 2), p = rnd(&r, k == 3 ? 3 : 2);
        const int c = 1 + rnd(&r, 19), m = 1 + rnd(&r, 37);
        const int h = 1 + rnd(&r, 13), w = 1 + rnd(&r, 13);
        if (h + 2 * p >= k && w + 2 * p >= k)
            return dims(c, h, w, m, k, s, p);
    }
}

static int n_shapes(void)
{
    return 6 + N_RANDOM;
}

typedef struct {
    nn_conv_dims d;
    size_t in_n, out_n, w_n;
    float *in, *w, *b, *g, *scratch;
} kcase;

static void kcase_init(kcase *c, const nn_conv_dims *d, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    c->d = *d;
    c->in_n = (size_t)BATCH * d->in_c * d->in_h * d->in_w;
    c->out_n = (size_t)BATCH * d->out_c * d->out_h * d->out_w;
    c->w_n = (size_t)d->out_c * d->in_c * d->k * d->k;
    c->in = lc_falloc(c->in_n), c->w = lc_falloc(c->w_n), c->b = lc_falloc((size_t)d->out_c);
    c->g = lc_falloc(c->out_n);
    c->scratch = lc_falloc(nn_conv_wide_scratch_floats(d));
    lc_fill(c->in, c->in_n, &r, -1, 1), lc_fill(c->w, c->w_n, &r, -1, 1);
    lc_fill(c->b, (size_t)d->out_c, &r, -1, 1), lc_fill(c->g, c->out_n, &r, -1, 1);
}

static void kcase_free(kcase *c)
{
    free(c->in), free(c->w), free(c->b), free(c->g), free(c->scratch);
}

/* The scratch is poisoned before every call: no result may depend on it. */
static void poison(kcase *c)
{
    for (size_t j = 0; j < nn_conv_wide_scratch_floats(&c->d); j++)
        c->scratch[j] = NAN;
}

typedef struct {
    float *out, *din, *dw, *db;
    int din_done;
} kresult;

static kresult run(kcase *c, nn_isa isa)
{
    kresult k = {lc_falloc(c->out_n), lc_falloc(c->in_n), lc_falloc(c->w_n),
                 lc_falloc((size_t)c->d.out_c), 0};
    poison(c);
    nn_conv_wide_forward(k.out, c->scratch, c->in, c->w, c->b, BATCH, &c->d, isa);
    poison(c);
    k.din_done = nn_conv_wide_backward(k.din, k.dw, k.db, c->scratch, c->g, c->in, c->w, BATCH,
                                       &c->d, isa);
    return k;
}

static void kresult_free(kresult *k)
{
    free(k->out), free(k->din), free(k->dw), free(k->db);
}

/* Naive convolution in double; *_abs receive the sums of |terms| (the
 * scale a float result's rounding error is measured against). */
static void naive(const kcase *c, double *out, double *out_abs, double *din, double *din_abs,
                  double *dw, double *dw_abs)
{
    const nn_conv_dims *d = &c->d;
    const int k = d->k;
    for (int n = 0; n < BATCH; n++)
        for (int m = 0; m < d->out_c; m++)
            for (int oy = 0; oy < d->out_h; oy++)
                for (int ox = 0; ox < d->out_w; ox++) {
                    const size_t o = (((size_t)n * d->out_c + m) * d->out_h + oy) * d->out_w + ox;
                    out[o] = c->b[m], out_abs[o] = fabs(c->b[m]);
                    for (int ch = 0; ch < d->in_c; ch++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                const int iy = oy * d->stride - d->pad + ki;
                                const int ix = ox * d->stride - d->pad + kj;
                                if (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w)
                                    continue;
                                const size_t i =
                                    (((size_t)n * d->in_c + ch) * d->in_h + iy) * d->in_w + ix;
                                const size_t wi = (((size_t)m * d->in_c + ch) * k + ki) * k + kj;
                                const double x = c->in[i], w = c->w[wi], g = c->g[o];
                                out[o] += w * x, out_abs[o] += fabs(w * x);
                                din[i] += w * g, din_abs[i] += fabs(w * g);
                                dw[wi] += g * x, dw_abs[wi] += fabs(g * x);
                            }
                }
}

/* |a - ref| <= 1e-5 * scale + 1e-6 everywhere (float rounding of a sum of
 * |terms| = scale is a few 1e-7 * scale). */
static void expect_close(const char *what, int t, const float *a, const double *ref,
                         const double *scale, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const double tol = 1e-5 * scale[i] + 1e-6;
        cr_assert(fabs((double)a[i] - ref[i]) <= tol, "shape %d %s[%zu]: %.9g vs %.9g (tol %g)",
                  t, what, i, (double)a[i], ref[i], tol);
    }
}

static void check_isa(nn_isa isa)
{
    TEST_REQUIRE_NN_ISA(isa);
    for (int t = 0; t < n_shapes(); t++) {
        const nn_conv_dims d = shape(t);
        kcase c;
        kcase_init(&c, &d, 100 + (uint64_t)t);
        kresult k = run(&c, isa);
        double *out = lc_dalloc(c.out_n), *out_abs = lc_dalloc(c.out_n);
        double *din = lc_dalloc(c.in_n), *din_abs = lc_dalloc(c.in_n);
        double *dw = lc_dalloc(c.w_n), *dw_abs = lc_dalloc(c.w_n);
        naive(&c, out, out_abs, din, din_abs, dw, dw_abs);
        expect_close("out", t, k.out, out, out_abs, c.out_n);
        expect_close("dw", t, k.dw, dw, dw_abs, c.w_n);
        cr_assert_eq(k.din_done, nn_conv_wide_din_ok(&d), "shape %d: din taken", t);
        if (k.din_done)
            expect_close("din", t, k.din, din, din_abs, c.in_n);
        const size_t hw = (size_t)d.out_h * d.out_w;
        for (int m = 0; m < d.out_c; m++) {
            double s = 0, sa = 0;
            for (int n = 0; n < BATCH; n++)
                for (size_t q = 0; q < hw; q++) {
                    const float g = c.g[((size_t)n * d.out_c + m) * hw + q];
                    s += g, sa += fabs(g);
                }
            expect_close("db", t, k.db + m, &s, &sa, 1);
        }
        /* The same bits as the scalar reference. */
        if (isa != NN_ISA_SCALAR) {
            kresult ref = run(&c, NN_ISA_SCALAR);
            cr_assert_eq(memcmp(k.out, ref.out, c.out_n * sizeof(float)), 0,
                         "shape %d: %s forward differs from scalar", t, nn_isa_name(isa));
            cr_assert_eq(memcmp(k.dw, ref.dw, c.w_n * sizeof(float)), 0,
                         "shape %d: %s dw differs from scalar", t, nn_isa_name(isa));
            cr_assert_eq(memcmp(k.din, ref.din, c.in_n * sizeof(float)), 0,
                         "shape %d: %s din differs from scalar", t, nn_isa_name(isa));
            cr_assert_eq(memcmp(k.db, ref.db, (size_t)d.out_c * sizeof(float)), 0,
                         "shape %d: %s db differs from scalar", t, nn_isa_name(isa));
            kresult_free(&ref);
        }
        free(out), free(out_abs), free(din), free(din_abs), free(dw), free(dw_abs);
        kresult_free(&k);
        kcase_free(&c);
    }
}

Test(conv_kernels, scalar_matches_naive_convolution)
{
    check_isa(NN_ISA_SCALAR);
}

Test(conv_kernels, avx2_matches_naive_and_scalar_bit_for_bit)
{
    check_isa(NN_ISA_AVX2);
}

Test(conv_kernels, avx512_matches_naive_and_scalar_bit_for_bit)
{
    check_isa(NN_ISA_AVX512);
}

/* ---- finite differences through each body ------------------------------ */

typedef struct {
    kcase *c;
    nn_isa isa;
    float *out;
} fd_ctx;

/* L = sum(out * g): dL/dout = g, what backward receives. */
static double fd_objective(void *p)
{
    fd_ctx *f = p;
    nn_conv_wide_forward(f->out, f->c->scratch, f->c->in, f->c->w, f->c->b, BATCH, &f->c->d,
                         f->isa);
    return lc_dot(f->out, f->c->g, f->c->out_n);
}

static void check_fd(nn_isa isa)
{
    TEST_REQUIRE_NN_ISA(isa);
    const nn_conv_dims ds[] = {dims(3, 7, 5, 18, 3, 1, 1), dims(5, 9, 8, 17, 3, 2, 1),
                               dims(4, 6, 7, 20, 1, 2, 0), dims(2, 5, 5, 33, 3, 1, 2)};
    for (int t = 0; t < (int)(sizeof ds / sizeof ds[0]); t++) {
        kcase c;
        kcase_init(&c, &ds[t], 900 + (uint64_t)t);
        kresult k = run(&c, isa);
        fd_ctx f = {&c, isa, lc_falloc(c.out_n)};
        double *num = lc_dalloc(c.in_n > c.w_n ? c.in_n : c.w_n);
        char what[80];
        const float eps = 0.25f; /* L is linear in in, w and b */
        lc_numeric_grad(num, c.w, c.w_n, eps, fd_objective, &f);
        snprintf(what, sizeof what, "%s shape %d dw", nn_isa_name(isa), t);
        LC_CHECK_GRAD(what, k.dw, num, c.w_n, 5e-4);
        lc_numeric_grad(num, c.b, (size_t)c.d.out_c, eps, fd_objective, &f);
        snprintf(what, sizeof what, "%s shape %d db", nn_isa_name(isa), t);
        LC_CHECK_GRAD(what, k.db, num, (size_t)c.d.out_c, 5e-4);
        if (k.din_done) {
            lc_numeric_grad(num, c.in, c.in_n, eps, fd_objective, &f);
            snprintf(what, sizeof what, "%s shape %d din", nn_isa_name(isa), t);
            LC_CHECK_GRAD(what, k.din, num, c.in_n, 5e-4);
        }
        free(num), free(f.out);
        kresult_free(&k);
        kcase_free(&c);
    }
}

Test(conv_kernels, scalar_gradients_match_finite_differences)
{
    check_fd(NN_ISA_SCALAR);
}

Test(conv_kernels, avx2_gradients_match_finite_differences)
{
    check_fd(NN_ISA_AVX2);
}

Test(conv_kernels, avx512_gradients_match_finite_differences)
{
    check_fd(NN_ISA_AVX512);
}

/* ---- reproducibility ----------------------------------------------------- */

/* Two optimizer steps on 2 threads, twice from the same seed: the same
 * parameter bytes. Convolutions wide enough for full register tiles and
 * their tails (20 and 36 channels), strides 1 and 2, a 1x1. */
Test(conv_kernels, two_thread_training_steps_are_bitwise_repeatable)
{
    enum { N = 64, C = 3, H = 12, W = 12, K = 5 };
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = C, s.in_h = H, s.in_w = W, s.num_classes = K;
    s.layers[s.n_layers++] = ls_conv(20, 3, 1, 1);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_RELU);
    nn_layer_spec c2 = ls_conv(36, 3, 1, 1);
    c2.stride = 2;
    s.layers[s.n_layers++] = c2;
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_RELU);
    s.layers[s.n_layers++] = ls_conv(17, 1, 0, 0);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[s.n_layers++] = ls_dense(K);
    uint8_t *images = malloc((size_t)N * C * H * W), *labels = malloc(N);
    nn_rng r;
    nn_rng_seed(&r, 5);
    for (size_t i = 0; i < (size_t)N * C * H * W; i++)
        images[i] = (uint8_t)rnd(&r, 256);
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)rnd(&r, K);
    nn_images img = {images, labels, N};
    nn_train_config tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = 1, tc.batch_size = N / 2, tc.eval_batch = N, tc.threads = 2, tc.seed = 3;
    tc.schedule = (nn_schedule_config){.kind = NN_SCHED_COSINE, .base_lr = 0.05f};
    float *first = NULL;
    for (int run_i = 0; run_i < 2; run_i++) {
        nn_model m;
        nn_optim o;
        nn_error err;
        cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
        nn_model_init_params(&m, NN_INIT_HE, 11);
        nn_optim_config oc = {.kind = NN_OPT_SGD, .momentum = 0.9f, .nesterov = 1};
        cr_assert_eq(nn_optim_init(&o, &oc, m.n_params, &err), NN_OK);
        nn_train_state ts = {3, 0, 1, 0};
        cr_assert_eq(nn_train(&m, &o, &ts, &tc, &img, NULL, NULL, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(ts.step, 2);
        fx_expect_same_run(&first, m.params, m.n_params, "two identical 2-thread runs differ");
        nn_optim_free(&o);
        nn_model_free(&m);
    }
    free(first), free(images), free(labels);
}
