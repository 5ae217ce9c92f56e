/* test_depthwise_isa.c - the depthwise convolution's AVX-512 body
 * (libnn/depthwise_isa.h) bit for bit against the portable one on random
 * shapes: kernels 1, 3 and 5, strides 1 to 3, padding 0 to 2, planes from
 * 1x1 to 23x21 (one vector holding several rows, rows wider than a
 * vector), channel counts on both sides of 16 and 32 (the weight
 * gradient's lanes), with and without bias; the backward pass adding into
 * gradients that already hold values, and without an input gradient.
 * (test_layers_depthwise.c checks the entry points, which take the best
 * body, against a naive loop and finite differences.)
 *
 * Skipped (cr_skip_test) where the CPU lacks AVX-512 or
 * IOTCNN_TEST_DISABLE_ISA names it (tests/isa_env.h). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "isa_env.h"
#include "layer_check.h"
#include "libnn/depthwise_isa.h"
#include "libnn/nn_rng.h"

enum { N_RANDOM = 60, BATCH = 2 };

typedef struct {
    nn_conv_dims d;
    size_t in_n, out_n, w_n;
    float *in, *w, *b, *g;
} dcase;

static int rnd(nn_rng *r, int n)
{
    return (int)nn_rng_below(r, (uint32_t)n);
}

/* Shape t: a few fixed edges, then random ones. */
static nn_conv_dims shape(int t, nn_rng *r)
{
    static const int fixed[][6] = {
        /* c, h, w, k, stride, pad */
        {16, 4, 4, 3, 1, 1},  /* a plane is one vector */
        {17, 8, 8, 3, 2, 1},  /* a lane past the first channel block */
        {33, 16, 16, 3, 1, 1}, {24, 16, 16, 3, 2, 1}, {5, 23, 21, 5, 1, 2},
        {3, 1, 1, 3, 1, 1},   /* one pixel: only the centre tap */
        {2, 9, 7, 1, 1, 0},   {4, 11, 13, 5, 3, 2}, {1, 6, 5, 3, 1, 0},
    };
    const int n_fixed = (int)(sizeof fixed / sizeof fixed[0]);
    int c, h, w, k, s, p;
    if (t < n_fixed) {
        c = fixed[t][0], h = fixed[t][1], w = fixed[t][2];
        k = fixed[t][3], s = fixed[t][4], p = fixed[t][5];
    } else {
        static const int ks[] = {1, 3, 3, 5};
        k = ks[rnd(r, 4)], s = 1 + rnd(r, 3), p = rnd(r, 3);
        c = 1 + rnd(r, 40), h = 1 + rnd(r, 20), w = 1 + rnd(r, 20);
        if (h + 2 * p < k)
            h = k;
        if (w + 2 * p < k)
            w = k;
    }
    nn_conv_dims d = {c, h, w, c, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1, k, s, p};
    return d;
}

static void dcase_init(dcase *c, const nn_conv_dims *d, nn_rng *r)
{
    c->d = *d;
    c->in_n = (size_t)BATCH * d->in_c * d->in_h * d->in_w;
    c->out_n = (size_t)BATCH * d->in_c * d->out_h * d->out_w;
    c->w_n = (size_t)d->in_c * d->k * d->k;
    c->in = lc_falloc(c->in_n), c->w = lc_falloc(c->w_n), c->b = lc_falloc((size_t)d->in_c);
    c->g = lc_falloc(c->out_n);
    lc_fill(c->in, c->in_n, r, -1.0f, 1.0f);
    lc_fill(c->w, c->w_n, r, -1.0f, 1.0f);
    lc_fill(c->b, (size_t)d->in_c, r, -0.5f, 0.5f);
    lc_fill(c->g, c->out_n, r, -1.0f, 1.0f);
}

static void dcase_free(dcase *c)
{
    free(c->in), free(c->w), free(c->b), free(c->g);
}

static void expect_same(const char *what, int t, const float *a, const float *b, size_t n,
                        const nn_conv_dims *d)
{
    cr_assert_eq(memcmp(a, b, n * sizeof(float)), 0,
                 "shape %d (c %d, %dx%d, k %d, stride %d, pad %d): avx512 %s differs from the "
                 "portable body",
                 t, d->in_c, d->in_h, d->in_w, d->k, d->stride, d->pad, what);
}

/* A copy of src (n floats) to start a gradient from. */
static float *copy_of(const float *src, size_t n)
{
    float *p = lc_falloc(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}

Test(depthwise_isa, avx512_same_bits_as_portable)
{
    TEST_REQUIRE_NN_ISA(NN_ISA_AVX512);
    nn_rng r;
    nn_rng_seed(&r, 77);
    for (int t = 0; t < N_RANDOM; t++) {
        nn_conv_dims d = shape(t, &r);
        dcase c;
        dcase_init(&c, &d, &r);
        float *ref = lc_falloc(c.out_n), *got = lc_falloc(c.out_n);
        float *scratch = lc_falloc(nn_depthwise_scratch_floats(&d));
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const float *b = with_bias ? c.b : NULL;
            nn_depthwise_forward_isa(ref, scratch, c.in, c.w, b, BATCH, &d, NN_ISA_SCALAR);
            nn_depthwise_forward_isa(got, scratch, c.in, c.w, b, BATCH, &d, NN_ISA_AVX512);
            expect_same(with_bias ? "forward (bias)" : "forward", t, got, ref, c.out_n, &d);
        }
        /* Gradients that already hold values: the bodies add to them. */
        float *din0 = lc_falloc(c.in_n), *dw0 = lc_falloc(c.w_n), *db0 = lc_falloc((size_t)d.in_c);
        lc_fill(din0, c.in_n, &r, -1.0f, 1.0f);
        lc_fill(dw0, c.w_n, &r, -1.0f, 1.0f);
        lc_fill(db0, (size_t)d.in_c, &r, -1.0f, 1.0f);
        float *din_r = copy_of(din0, c.in_n), *dw_r = copy_of(dw0, c.w_n);
        float *db_r = copy_of(db0, (size_t)d.in_c);
        float *din_a = copy_of(din0, c.in_n), *dw_a = copy_of(dw0, c.w_n);
        float *db_a = copy_of(db0, (size_t)d.in_c);
        nn_depthwise_backward_isa(din_r, dw_r, db_r, scratch, c.g, c.in, c.w, BATCH, &d, NN_ISA_SCALAR);
        nn_depthwise_backward_isa(din_a, dw_a, db_a, scratch, c.g, c.in, c.w, BATCH, &d, NN_ISA_AVX512);
        expect_same("din", t, din_a, din_r, c.in_n, &d);
        expect_same("dw", t, dw_a, dw_r, c.w_n, &d);
        expect_same("db", t, db_a, db_r, (size_t)d.in_c, &d);
        /* No input gradient: the weight gradient alone, the same bits. */
        memcpy(dw_a, dw0, c.w_n * sizeof(float));
        nn_depthwise_backward_isa(NULL, dw_a, NULL, scratch, c.g, c.in, c.w, BATCH, &d, NN_ISA_AVX512);
        expect_same("dw without din", t, dw_a, dw_r, c.w_n, &d);
        free(din0), free(dw0), free(db0), free(din_r), free(dw_r), free(db_r);
        free(din_a), free(dw_a), free(db_a), free(ref), free(got), free(scratch);
        dcase_free(&c);
    }
}

/* A tap outside the image is skipped, not added as a product with a zero:
 * on an input of -0 with weights of +1 and a bias of -0, every in-image
 * product is -0 and the sum stays -0, where a zero-padded border would add
 * (+1)(+0) = +0 and turn it +0. */
Test(depthwise_isa, avx512_skips_taps_outside_the_image)
{
    TEST_REQUIRE_NN_ISA(NN_ISA_AVX512);
    const nn_conv_dims d = {1, 3, 3, 1, 3, 3, 3, 1, 1};
    float in[9], w[9], b[1] = {-0.0f}, ref[9], got[9];
    float *scratch = lc_falloc(nn_depthwise_scratch_floats(&d));
    for (int t = 0; t < 9; t++)
        in[t] = -0.0f, w[t] = 1.0f;
    nn_depthwise_forward_isa(ref, scratch, in, w, b, 1, &d, NN_ISA_SCALAR);
    nn_depthwise_forward_isa(got, scratch, in, w, b, 1, &d, NN_ISA_AVX512);
    for (int t = 0; t < 9; t++) {
        cr_assert(signbit(ref[t]) && ref[t] == 0.0f, "portable out[%d] = %g, want -0", t,
                  (double)ref[t]);
        cr_assert(signbit(got[t]) && got[t] == 0.0f, "avx512 out[%d] = %g, want -0", t,
                  (double)got[t]);
    }
    free(scratch);
}
