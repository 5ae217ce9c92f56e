/* test_layers_pool.c - pooling, element-wise and dropout kernels: golden
 * values on a hand-written 4x4 image, finite-difference gradients,
 * accumulation, and the dropout mask's independence from slicing. */
#include "layer_check.h"

#include "libnn/nn_layers.h"

/* The hand-written 4x4 image used by the golden tests. */
static const float IMG4[16] = {
    1, 5, 2, 0,  /* */
    3, 4, 8, 6,  /* */
    7, 0, 1, 2,  /* */
    9, 3, 4, -1, /* */
};

static nn_pool_dims pool_dims(int c, int h, int w, int k, int s)
{
    nn_pool_dims d = {c, h, w, (h - k) / s + 1, (w - k) / s + 1, k, s};
    return d;
}

/* ---- golden values -------------------------------------------------------- */

/* Max pooling of IMG4 with d gives want and the argmax want_am (4 outputs);
 * backward adds dout {1, 2, 3, 4} at the argmax onto din (0.5 or 0
 * everywhere before, din0) and must give want_din; with din NULL it is a
 * no-op. */
static void check_maxpool_golden(const nn_pool_dims *d, const float want[4],
                                 const int32_t want_am[4], float din0, const float want_din[16])
{
    float out[4];
    int32_t am[4];
    nn_maxpool_forward(out, am, IMG4, 1, d);
    for (int j = 0; j < 4; j++) {
        cr_assert_eq(out[j], want[j], "out[%d] = %g, want %g", j, (double)out[j], (double)want[j]);
        cr_assert_eq(am[j], want_am[j], "argmax[%d] = %d, want %d", j, am[j], want_am[j]);
    }
    float din[16];
    for (int j = 0; j < 16; j++)
        din[j] = din0;
    const float dout[4] = {1, 2, 3, 4};
    nn_maxpool_backward(din, dout, am, 1, d);
    for (int j = 0; j < 16; j++)
        cr_assert_eq(din[j], want_din[j], "din[%d] = %g, want %g", j, (double)din[j],
                     (double)want_din[j]);
    nn_maxpool_backward(NULL, dout, am, 1, d); /* din NULL: no-op */
}

Test(pool, maxpool_golden_2x2_fast_path)
{
    const nn_pool_dims d = pool_dims(1, 4, 4, 2, 2);
    /* backward scatters dout to the argmax (1, 6, 12, 14) and accumulates */
    const float want_din[16] = {0.5f, 1.5f, 0.5f, 0.5f, 0.5f, 0.5f, 2.5f, 0.5f,
                                0.5f, 0.5f, 0.5f, 0.5f, 3.5f, 0.5f, 4.5f, 0.5f};
    check_maxpool_golden(&d, (const float[]){5, 8, 9, 4}, (const int32_t[]){1, 6, 12, 14}, 0.5f,
                         want_din);
}

Test(pool, maxpool_golden_3x3_overlapping)
{
    const nn_pool_dims d = pool_dims(1, 4, 4, 3, 1);
    /* overlapping windows add: 1 + 2 + 4 at 6, 3 at 12 */
    const float want_din[16] = {[6] = 7.0f, [12] = 3.0f};
    check_maxpool_golden(&d, (const float[]){8, 8, 9, 8}, (const int32_t[]){6, 6, 12, 6}, 0.0f,
                         want_din);
}

Test(pool, maxpool_ties_pick_first_in_both_paths)
{
    float in[36];
    for (int j = 0; j < 36; j++)
        in[j] = 1.0f;
    for (int fast = 0; fast < 2; fast++) {
        /* k2 s2 takes the fast path; k2 s1 is the general loop */
        const nn_pool_dims d = pool_dims(1, 6, 6, 2, fast ? 2 : 1);
        float out[25];
        int32_t am[25];
        nn_maxpool_forward(out, am, in, 1, &d);
        for (int oy = 0; oy < d.out_h; oy++)
            for (int ox = 0; ox < d.out_w; ox++)
                cr_assert_eq(am[oy * d.out_w + ox], oy * d.stride * 6 + ox * d.stride,
                             "fast %d (%d,%d)", fast, oy, ox);
    }
}

Test(pool, avgpool_and_global_avgpool_golden)
{
    const nn_pool_dims d = pool_dims(1, 4, 4, 2, 2);
    float out[4];
    nn_avgpool_forward(out, IMG4, 1, &d);
    const float want[4] = {3.25f, 4.0f, 4.75f, 1.5f};
    for (int j = 0; j < 4; j++)
        cr_assert_float_eq(out[j], want[j], 1e-6, "avg out[%d] = %g", j, (double)out[j]);

    const nn_pool_dims d3 = pool_dims(1, 4, 4, 3, 1);
    nn_avgpool_forward(out, IMG4, 1, &d3);
    const float want3[4] = {31.0f / 9, 28.0f / 9, 39.0f / 9, 27.0f / 9};
    for (int j = 0; j < 4; j++)
        cr_assert_float_eq(out[j], want3[j], 1e-6, "avg3 out[%d] = %g", j, (double)out[j]);
    /* backward of the overlapping 3x3: din[j] = sum over windows holding j of dout/9 */
    float din[16] = {0};
    const float dout[4] = {9, 18, 27, 36};
    nn_avgpool_backward(din, dout, 1, &d3);
    const float want_din[16] = {1, 3, 3, 2, 4, 10, 10, 6, 4, 10, 10, 6, 3, 7, 7, 4};
    for (int j = 0; j < 16; j++)
        cr_assert_float_eq(din[j], want_din[j], 1e-5, "avg3 din[%d] = %g", j, (double)din[j]);

    /* GAP over two channels: IMG4 and -IMG4 */
    float in2[32];
    for (int j = 0; j < 16; j++) {
        in2[j] = IMG4[j];
        in2[16 + j] = -IMG4[j];
    }
    float g[2];
    nn_global_avgpool_forward(g, in2, 1, 2, 16);
    cr_assert_float_eq(g[0], 3.375f, 1e-6, "gap %g", (double)g[0]);
    cr_assert_float_eq(g[1], -3.375f, 1e-6, "gap %g", (double)g[1]);
    float dg[32];
    for (int j = 0; j < 32; j++)
        dg[j] = 1.0f;
    const float gout[2] = {16, -32};
    nn_global_avgpool_backward(dg, gout, 1, 2, 16);
    for (int j = 0; j < 32; j++)
        cr_assert_float_eq(dg[j], j < 16 ? 2.0f : -1.0f, 1e-6, "gap din[%d] = %g", j, (double)dg[j]);
}

/* ---- gradient checks -------------------------------------------------------- */

enum { P_MAX, P_AVG, P_GAP };

typedef struct {
    int kind, n;
    nn_pool_dims d;
    size_t in_n, out_n;
    float *in, *out, *R;
    int32_t *am;
} pool_ctx;

static double pool_objective(void *p)
{
    pool_ctx *c = p;
    if (c->kind == P_MAX)
        nn_maxpool_forward(c->out, c->am, c->in, c->n, &c->d);
    else if (c->kind == P_AVG)
        nn_avgpool_forward(c->out, c->in, c->n, &c->d);
    else
        nn_global_avgpool_forward(c->out, c->in, c->n, c->d.c, c->d.in_h * c->d.in_w);
    return lc_dot(c->out, c->R, c->out_n);
}

static void pool_gradcheck(int kind, int n, nn_pool_dims d, uint64_t seed)
{
    pool_ctx c = {kind, n, d, 0, 0, NULL, NULL, NULL, NULL};
    nn_rng r;
    nn_rng_seed(&r, seed);
    c.in_n = (size_t)n * d.c * d.in_h * d.in_w;
    c.out_n = kind == P_GAP ? (size_t)n * d.c : (size_t)n * d.c * d.out_h * d.out_w;
    c.in = lc_falloc(c.in_n);
    c.out = lc_falloc(c.out_n);
    c.R = lc_falloc(c.out_n);
    c.am = calloc(c.out_n, sizeof(int32_t));
    /* Max: distinct inputs 0.1 apart in shuffled order, so a +-eps step
     * never changes which element of a window wins, and the output is the
     * input itself (exact differences). Average pools are linear: small
     * inputs and a large step keep float rounding of L negligible. */
    uint32_t *perm = malloc(c.in_n * sizeof(uint32_t));
    cr_assert(c.am && perm);
    for (size_t j = 0; j < c.in_n; j++)
        perm[j] = (uint32_t)j;
    nn_rng_shuffle_u32(&r, perm, (uint32_t)c.in_n);
    for (size_t j = 0; j < c.in_n; j++)
        c.in[j] = 0.1f * (float)perm[j] - 0.05f * (float)c.in_n;
    if (kind != P_MAX)
        lc_fill(c.in, c.in_n, &r, -1, 1);
    const float eps = kind == P_MAX ? 0.01f : 0.25f;
    lc_fill(c.R, c.out_n, &r, -1, 1);

    pool_objective(&c); /* argmax for backward */
    float *din = lc_falloc(c.in_n);
    if (kind == P_MAX)
        nn_maxpool_backward(din, c.R, c.am, n, &d);
    else if (kind == P_AVG)
        nn_avgpool_backward(din, c.R, n, &d);
    else
        nn_global_avgpool_backward(din, c.R, n, d.c, d.in_h * d.in_w);
    double *num = lc_dalloc(c.in_n);
    lc_numeric_grad(num, c.in, c.in_n, eps, pool_objective, &c);
    char what[80];
    snprintf(what, sizeof what, "pool kind %d k%d s%d %dx%d din", kind, d.k, d.stride, d.in_h,
             d.in_w);
    LC_CHECK_GRAD(what, din, num, c.in_n, 1e-4);
    free(perm);
    free(din);
    free(num);
    free(c.in);
    free(c.out);
    free(c.R);
    free(c.am);
}

Test(pool, gradients_match_finite_differences)
{
    pool_gradcheck(P_MAX, 2, pool_dims(3, 5, 7, 2, 2), 1);  /* fast path, odd size */
    pool_gradcheck(P_MAX, 3, pool_dims(2, 7, 6, 3, 2), 2);  /* overlapping, general */
    pool_gradcheck(P_MAX, 2, pool_dims(2, 5, 4, 2, 1), 3);  /* stride 1 */
    pool_gradcheck(P_AVG, 2, pool_dims(3, 5, 7, 2, 2), 4);
    pool_gradcheck(P_AVG, 3, pool_dims(2, 7, 6, 3, 2), 5);
    pool_gradcheck(P_GAP, 3, pool_dims(4, 5, 4, 1, 1), 6);  /* hw 20 > lane block */
}

/* The k2 s2 fast path against a brute-force max over each window. */
Test(pool, maxpool_fast_path_matches_brute_force)
{
    const int n = 2, c = 3, h = 9, w = 37; /* w odd and > 2*16 for the lane blocks */
    const nn_pool_dims d = pool_dims(c, h, w, 2, 2);
    const size_t in_n = (size_t)n * c * h * w, out_n = (size_t)n * c * d.out_h * d.out_w;
    nn_rng r;
    nn_rng_seed(&r, 9);
    float *in = lc_falloc(in_n), *out = lc_falloc(out_n);
    int32_t *am = calloc(out_n, sizeof(int32_t));
    cr_assert_not_null(am);
    lc_fill(in, in_n, &r, -1, 1);
    nn_maxpool_forward(out, am, in, n, &d);
    for (int p = 0; p < n * c; p++)
        for (int oy = 0; oy < d.out_h; oy++)
            for (int ox = 0; ox < d.out_w; ox++) {
                const float *x = in + (size_t)p * h * w;
                int best = 2 * oy * w + 2 * ox;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        if (x[(2 * oy + a) * w + 2 * ox + b] > x[best])
                            best = (2 * oy + a) * w + 2 * ox + b;
                const size_t o = ((size_t)p * d.out_h + oy) * d.out_w + ox;
                cr_assert_eq(am[o], best, "plane %d (%d,%d): argmax %d want %d", p, oy, ox, am[o], best);
                cr_assert_eq(out[o], x[best]);
            }
    free(in);
    free(out);
    free(am);
}

/* ---- element-wise ----------------------------------------------------------- */

Test(elementwise, relu_golden_gradient_and_in_place)
{
    enum { N = 37 }; /* > 2 lane blocks plus a tail */
    nn_rng r;
    nn_rng_seed(&r, 21);
    float in[N], out[N], R[N], din[N], io[N];
    for (int j = 0; j < N; j++) {
        /* |x| >= 0.1: a +-eps step never crosses the kink at 0 */
        const float u = nn_rng_uniform(&r);
        in[j] = (j % 3 == 0 ? -1.0f : 1.0f) * (0.1f + u);
        R[j] = nn_rng_uniform(&r) - 0.5f;
        din[j] = 1.0f;
    }
    nn_relu_forward(out, in, N);
    for (int j = 0; j < N; j++)
        cr_assert_eq(out[j], in[j] > 0 ? in[j] : 0.0f, "relu[%d]", j);
    memcpy(io, in, sizeof in);
    nn_relu_forward(io, io, N);
    cr_assert_arr_eq(io, out, sizeof out, "in-place relu differs");

    /* din starts at 1: backward must add, gated by out > 0 */
    nn_relu_backward(din, R, out, N);
    for (int j = 0; j < N; j++)
        cr_assert_eq(din[j], 1.0f + (in[j] > 0 ? R[j] : 0.0f), "relu din[%d]", j);
    nn_relu_backward(NULL, R, out, N);

    /* and as a finite-difference check on the objective sum(relu(x) * R) */
    double num[N];
    for (int j = 0; j < N; j++) {
        const float e = 0.01f, xp = in[j] + e, xm = in[j] - e;
        const double fp = (xp > 0 ? xp : 0) * (double)R[j], fm = (xm > 0 ? xm : 0) * (double)R[j];
        num[j] = (fp - fm) / ((double)xp - (double)xm);
        din[j] -= 1.0f;
    }
    LC_CHECK_GRAD("relu din", din, num, (size_t)N, 1e-4);
}

Test(elementwise, add_and_accumulate)
{
    enum { N = 41 };
    float a[N], b[N], out[N], acc[N];
    for (int j = 0; j < N; j++) {
        a[j] = (float)j;
        b[j] = 0.5f * (float)(N - j);
        acc[j] = 2.0f;
    }
    nn_add_forward(out, a, b, N);
    for (int j = 0; j < N; j++)
        cr_assert_eq(out[j], a[j] + b[j], "add[%d]", j);
    float ia[N], ib[N];
    memcpy(ia, a, sizeof a);
    memcpy(ib, b, sizeof b);
    nn_add_forward(ia, ia, b, N); /* out == a */
    nn_add_forward(ib, a, ib, N); /* out == b */
    cr_assert_arr_eq(ia, out, sizeof out);
    cr_assert_arr_eq(ib, out, sizeof out);
    nn_accumulate(acc, out, N);
    nn_accumulate(acc, a, N);
    for (int j = 0; j < N; j++)
        cr_assert_eq(acc[j], 2.0f + out[j] + a[j], "acc[%d]", j);
}

/* ---- dropout ---------------------------------------------------------------- */

Test(dropout, deterministic_fraction_and_scale)
{
    const int n = 4;
    const size_t per = 25000;
    const float rate = 0.3f;
    const size_t total = (size_t)n * per;
    float *in = lc_falloc(total), *out = lc_falloc(total), *out2 = lc_falloc(total);
    uint8_t *m = malloc(total), *m2 = malloc(total);
    cr_assert(m && m2);
    for (size_t j = 0; j < total; j++)
        in[j] = 1.0f + (float)(j % 7);
    nn_dropout_forward(out, m, in, n, per, rate, 1234, 17, 2, 0);
    nn_dropout_forward(out2, m2, in, n, per, rate, 1234, 17, 2, 0);
    cr_assert_arr_eq(m, m2, total, "same key, different mask");
    cr_assert_arr_eq(out, out2, total * sizeof(float));

    size_t kept = 0;
    const float scale = 1.0f / (1.0f - rate);
    for (size_t j = 0; j < total; j++) {
        cr_assert(m[j] == 0 || m[j] == 1);
        kept += m[j];
        cr_assert_eq(out[j], m[j] ? in[j] * scale : 0.0f, "out[%zu]", j);
    }
    /* 100000 Bernoulli(0.7): sd of the fraction ~0.0015; allow > 6 sd */
    const double frac = (double)kept / (double)total;
    cr_assert(fabs(frac - (1.0 - rate)) < 0.01, "kept fraction %g, want ~%g", frac, 1.0 - rate);

    /* each image gets its own mask, and step / layer / seed change masks */
    cr_assert(memcmp(m, m + per, per) != 0, "images 0 and 1 share a mask");
    nn_dropout_forward(out2, m2, in, n, per, rate, 1234, 18, 2, 0);
    cr_assert(memcmp(m, m2, total) != 0, "step does not change the mask");
    nn_dropout_forward(out2, m2, in, n, per, rate, 1234, 17, 3, 0);
    cr_assert(memcmp(m, m2, total) != 0, "layer does not change the mask");
    nn_dropout_forward(out2, m2, in, n, per, rate, 1235, 17, 2, 0);
    cr_assert(memcmp(m, m2, total) != 0, "seed does not change the mask");

    /* the documented key: image i's mask is the stream (seed, DROPOUT, step,
     * layer << 32 | i) with one nn_rng_uniform per unit, kept when >= rate */
    nn_rng r;
    nn_rng_seed_key(&r, 1234, NN_STREAM_DROPOUT, 17, ((uint64_t)2 << 32) | 3);
    for (size_t j = 0; j < per; j++)
        cr_assert_eq(m[3 * per + j], nn_rng_uniform(&r) >= rate, "key of image 3, unit %zu", j);

    free(in);
    free(out);
    free(out2);
    free(m);
    free(m2);
}

Test(dropout, mask_independent_of_slicing)
{
    const int n = 4;
    const size_t per = 333;
    const size_t total = (size_t)n * per;
    nn_rng r;
    nn_rng_seed(&r, 5);
    float *in = lc_falloc(total), *a = lc_falloc(total), *b = lc_falloc(total);
    uint8_t *ma = malloc(total), *mb = malloc(total);
    cr_assert(ma && mb);
    lc_fill(in, total, &r, -1, 1);
    /* the batch starts at image 8 of the step */
    nn_dropout_forward(a, ma, in, n, per, 0.5f, 99, 3, 1, 8);
    nn_dropout_forward(b, mb, in, 2, per, 0.5f, 99, 3, 1, 8);
    nn_dropout_forward(b + 2 * per, mb + 2 * per, in + 2 * per, 2, per, 0.5f, 99, 3, 1, 10);
    cr_assert_arr_eq(ma, mb, total, "mask depends on slicing");
    cr_assert_arr_eq(a, b, total * sizeof(float));
    /* and the slice offset matters: image 10 is not image 8 */
    nn_dropout_forward(b, mb, in + 2 * per, 2, per, 0.5f, 99, 3, 1, 8);
    cr_assert(memcmp(ma + 2 * per, mb, 2 * per) != 0, "first_image_index ignored");
    free(in);
    free(a);
    free(b);
    free(ma);
    free(mb);
}

Test(dropout, backward_gradient_and_edge_rates)
{
    const int n = 3;
    const size_t per = 50, total = (size_t)n * per;
    const float rate = 0.4f;
    nn_rng r;
    nn_rng_seed(&r, 8);
    float *in = lc_falloc(total), *out = lc_falloc(total), *R = lc_falloc(total);
    float *din = lc_falloc(total);
    uint8_t *m = malloc(total);
    cr_assert_not_null(m);
    lc_fill(in, total, &r, -1, 1);
    lc_fill(R, total, &r, -1, 1);
    nn_dropout_forward(out, m, in, n, per, rate, 1, 2, 3, 0);
    /* with a fixed mask dropout is linear: d sum(out*R)/d in = R*mask/(1-rate) */
    for (size_t j = 0; j < total; j++)
        din[j] = 0.25f;
    nn_dropout_backward(din, R, m, n, per, rate);
    nn_dropout_backward(din, R, m, n, per, rate);
    for (size_t j = 0; j < total; j++)
        cr_assert_float_eq(din[j], 0.25f + 2.0f * (m[j] ? R[j] / (1.0f - rate) : 0.0f), 1e-6,
                           "din[%zu]", j);
    nn_dropout_backward(NULL, R, m, n, per, rate);

    /* rate 0: identity, all kept; rate 1: all dropped, no inf/NaN */
    nn_dropout_forward(out, m, in, n, per, 0.0f, 1, 2, 3, 0);
    for (size_t j = 0; j < total; j++)
        cr_assert(m[j] == 1 && out[j] == in[j], "rate 0 at %zu", j);
    nn_dropout_forward(out, m, in, n, per, 1.0f, 1, 2, 3, 0);
    memset(din, 0, total * sizeof(float));
    nn_dropout_backward(din, R, m, n, per, 1.0f);
    for (size_t j = 0; j < total; j++)
        cr_assert(m[j] == 0 && out[j] == 0.0f && din[j] == 0.0f, "rate 1 at %zu", j);
    free(in);
    free(out);
    free(R);
    free(din);
    free(m);
}
