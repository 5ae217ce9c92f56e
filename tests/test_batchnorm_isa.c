/* test_batchnorm_isa.c - batch normalization's per-ISA bodies
 * (libnn/batchnorm_body.h): every phase against a double-precision
 * reference written here, and bit for bit against the reference body, on
 * random shapes whose planes are not multiples of a vector (tails) and on
 * in-place and out-of-place use. A body the CPU lacks is skipped. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isa_env.h"
#include "libnn/batchnorm_isa.h"
#include "libnn/nn_rng.h"

enum { N_SHAPES = 12 };

typedef struct {
    int n, c, hw;
    float *x, *g, *mean, *invstd, *gamma, *beta;
} bn_case;

static float *rand_floats(nn_rng *r, size_t n, float lo, float hi)
{
    float *p = malloc(n * sizeof *p);
    cr_assert(p);
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * nn_rng_uniform(r);
    return p;
}

static bn_case make_case(nn_rng *r, int t)
{
    bn_case k;
    k.n = 1 + (int)nn_rng_below(r, 3);
    k.c = 1 + (int)nn_rng_below(r, 5);
    /* plane sizes with every tail length of 16, and the configs' 784 and 196 */
    k.hw = t == 0 ? 784 : t == 1 ? 196 : 1 + (int)nn_rng_below(r, 70);
    const size_t all = (size_t)k.n * k.c * k.hw;
    k.x = rand_floats(r, all, -3.0f, 5.0f);
    k.g = rand_floats(r, all, -1.0f, 1.0f);
    k.mean = rand_floats(r, (size_t)k.c, -1.0f, 1.0f);
    k.invstd = rand_floats(r, (size_t)k.c, 0.2f, 3.0f);
    k.gamma = rand_floats(r, (size_t)k.c, 0.5f, 1.5f);
    k.beta = rand_floats(r, (size_t)k.c, -0.5f, 0.5f);
    return k;
}

static void free_case(bn_case *k)
{
    free(k->x), free(k->g), free(k->mean), free(k->invstd), free(k->gamma), free(k->beta);
}

typedef struct {
    double sum[8], sumsq[8], dg[8], db[8];
    float *out, *xhat, *io, *eval, *din;
} bn_result;

static bn_result run_body(const bn_case *k, nn_bn_bodies b)
{
    const size_t all = (size_t)k->n * k->c * k->hw;
    bn_result r;
    memset(&r, 0, sizeof r);
    r.out = calloc(all, sizeof(float)), r.xhat = calloc(all, sizeof(float));
    r.io = malloc(all * sizeof(float)), r.eval = calloc(all, sizeof(float));
    r.din = malloc(all * sizeof(float));
    cr_assert(r.out && r.xhat && r.io && r.eval && r.din);
    b.sums(r.sum, r.sumsq, k->x, k->n, k->c, k->hw);
    b.apply(r.out, r.xhat, k->x, k->mean, k->invstd, k->gamma, k->beta, k->n, k->c, k->hw);
    memcpy(r.io, k->x, all * sizeof(float)); /* in place, no gamma and beta */
    float *xh2 = calloc(all, sizeof(float));
    cr_assert(xh2);
    b.apply(r.io, xh2, r.io, k->mean, k->invstd, NULL, NULL, k->n, k->c, k->hw);
    free(xh2);
    b.apply(r.eval, NULL, k->x, k->mean, k->invstd, k->gamma, k->beta, k->n, k->c, k->hw);
    b.backward_sums(r.dg, r.db, k->g, r.xhat, k->n, k->c, k->hw);
    memcpy(r.din, k->g, all * sizeof(float)); /* an accumulating gradient */
    for (size_t p = 0; p < (size_t)k->n * k->c; p++)
        b.backward_plane(r.din + p * k->hw, k->x + p * k->hw, r.xhat + p * k->hw, 0.7f, 0.1f,
                         -0.3f, k->hw);
    return r;
}

static void free_result(bn_result *r)
{
    free(r->out), free(r->xhat), free(r->io), free(r->eval), free(r->din);
}

static void close_to(double got, double want, double scale, const char *what, int t)
{
    cr_assert(fabs(got - want) <= 1e-5 * scale + 1e-6, "shape %d: %s %.9g, want %.9g", t, what,
              got, want);
}

/* Each phase against double arithmetic written out here. */
static void check_values(const bn_case *k, const bn_result *r, int t)
{
    for (int ch = 0; ch < k->c; ch++) {
        double s = 0, q = 0, ab = 0, dg = 0, db = 0, adg = 0;
        for (int i = 0; i < k->n; i++)
            for (int j = 0; j < k->hw; j++) {
                const size_t at = ((size_t)i * k->c + ch) * k->hw + j;
                const double x = k->x[at], xh = (x - k->mean[ch]) * k->invstd[ch];
                s += x, q += x * x, ab += fabs(x);
                db += k->g[at], dg += k->g[at] * (double)r->xhat[at];
                adg += fabs(k->g[at]) * (1.0 + fabs(xh));
                close_to(r->xhat[at], xh, fabs(xh) + 1, "xhat", t);
                close_to(r->out[at], k->gamma[ch] * xh + k->beta[ch], fabs(xh) + 1, "out", t);
                close_to(r->io[at], xh, fabs(xh) + 1, "in-place out", t);
                close_to(r->eval[at], k->gamma[ch] * xh + k->beta[ch], fabs(xh) + 1, "eval", t);
                close_to(r->din[at], k->g[at] + 0.7 * x - 0.1 + 0.3 * r->xhat[at],
                         fabs(x) + fabs(xh) + 1, "din", t);
            }
        close_to(r->sum[ch], s, ab, "sum", t);
        close_to(r->sumsq[ch], q, q, "sum of squares", t);
        close_to(r->db[ch], db, adg, "dbeta", t);
        close_to(r->dg[ch], dg, adg, "dgamma", t);
    }
}

static void same_bits(const void *a, const void *b, size_t bytes, const char *what, int t,
                      nn_isa isa)
{
    cr_assert_eq(memcmp(a, b, bytes), 0, "shape %d: %s %s differs from the reference body", t,
                 nn_isa_name(isa), what);
}

static void check_isa(nn_isa isa)
{
    if (isa != NN_ISA_SCALAR)
        TEST_REQUIRE_NN_ISA(isa);
    nn_rng r;
    nn_rng_seed(&r, 77);
    for (int t = 0; t < N_SHAPES; t++) {
        bn_case k = make_case(&r, t);
        bn_result got = run_body(&k, nn_bn_bodies_for(isa));
        check_values(&k, &got, t);
        bn_result ref = run_body(&k, nn_bn_bodies_for(NN_ISA_SCALAR));
        const size_t all = (size_t)k.n * k.c * k.hw * sizeof(float), cs = (size_t)k.c * 8;
        same_bits(got.sum, ref.sum, cs, "sum", t, isa);
        same_bits(got.sumsq, ref.sumsq, cs, "sum of squares", t, isa);
        same_bits(got.dg, ref.dg, cs, "dgamma", t, isa);
        same_bits(got.db, ref.db, cs, "dbeta", t, isa);
        same_bits(got.out, ref.out, all, "out", t, isa);
        same_bits(got.xhat, ref.xhat, all, "xhat", t, isa);
        same_bits(got.io, ref.io, all, "in-place out", t, isa);
        same_bits(got.eval, ref.eval, all, "eval", t, isa);
        same_bits(got.din, ref.din, all, "din", t, isa);
        free_result(&got), free_result(&ref), free_case(&k);
    }
}

Test(batchnorm_isa, reference_body_matches_double_arithmetic)
{
    check_isa(NN_ISA_SCALAR);
}

Test(batchnorm_isa, avx2_body_matches_the_reference_bit_for_bit)
{
    check_isa(NN_ISA_AVX2);
}

Test(batchnorm_isa, avx512_body_matches_the_reference_bit_for_bit)
{
    check_isa(NN_ISA_AVX512);
}
