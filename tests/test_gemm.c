/* test_gemm.c - libnn's fixed-order product (libnn/nn_gemm.h) on every
 * instruction set: each body against the defining chain of fused
 * multiply-adds written out here (bit for bit), the chain against a
 * double-precision product (the definition is a product at all), strided
 * and transposed A, accumulation, K past the driver's block, columns and
 * rows that are not multiples of a tile; and nn_transpose.
 *
 * A body the CPU lacks is skipped (cr_skip_test), not passed; so is one
 * that IOTCNN_TEST_DISABLE_ISA names (tests/isa_env.h). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isa_env.h"
#include "libnn/nn_gemm.h"
#include "libnn/nn_rng.h"

typedef struct {
    int M, N, K, trans_a, accumulate;
} shape;

/* The configs' own dense and col2im shapes, then edges: single rows and
 * columns, N one past a vector or a tile, K past the block (256). */
static const shape SHAPES[] = {
    {64, 256, 3136, 0, 0}, {256, 3136, 64, 1, 1}, {64, 3136, 256, 0, 1}, {128, 10, 128, 0, 1},
    {10, 128, 128, 1, 1},  {144, 256, 32, 1, 0},  {1, 1, 1, 0, 0},       {1, 17, 5, 0, 1},
    {7, 1, 300, 1, 0},     {5, 65, 513, 0, 1},    {13, 23, 9, 1, 1},     {6, 64, 257, 0, 0},
    {4, 24, 1, 1, 0},      {3, 25, 0, 0, 1},      {11, 49, 256, 1, 0},   {2, 15, 77, 0, 1},
};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0] };

typedef struct {
    shape s;
    float *a, *b, *c0; /* A as stored, B (K, ldb), C's starting values */
    size_t rsa, csa, ldb, ldc;
} gcase;

static void fill(float *v, size_t n, nn_rng *r)
{
    for (size_t i = 0; i < n; i++)
        v[i] = 2.0f * nn_rng_uniform(r) - 1.0f;
}

/* A is stored (M, K) or, trans_a, (K, M); B and C have 3 spare columns. */
static gcase make_case(const shape *s, nn_rng *r)
{
    gcase g = {*s, NULL, NULL, NULL, 0, 0, 0, 0};
    const size_t an = (size_t)s->M * (size_t)(s->K > 0 ? s->K : 1);
    g.rsa = s->trans_a ? 1 : (size_t)s->K;
    g.csa = s->trans_a ? (size_t)s->M : 1;
    g.ldb = (size_t)s->N + 3;
    g.ldc = (size_t)s->N + 3;
    g.a = malloc(an * sizeof(float));
    g.b = malloc(((size_t)(s->K > 0 ? s->K : 1) * g.ldb) * sizeof(float));
    g.c0 = malloc((size_t)s->M * g.ldc * sizeof(float));
    cr_assert(g.a && g.b && g.c0);
    fill(g.a, an, r);
    fill(g.b, (size_t)(s->K > 0 ? s->K : 1) * g.ldb, r);
    fill(g.c0, (size_t)s->M * g.ldc, r);
    return g;
}

static float a_at(const gcase *g, int m, int k)
{
    return g->a[(size_t)m * g->rsa + (size_t)k * g->csa];
}

/* The definition, one chain per element, k in order. */
static void chain(float *c, const gcase *g)
{
    memcpy(c, g->c0, (size_t)g->s.M * g->ldc * sizeof(float));
    for (int m = 0; m < g->s.M; m++)
        for (int n = 0; n < g->s.N; n++) {
            float acc = g->s.accumulate ? c[(size_t)m * g->ldc + n] : 0.0f;
            for (int k = 0; k < g->s.K; k++)
                acc = fmaf(a_at(g, m, k), g->b[(size_t)k * g->ldb + n], acc);
            c[(size_t)m * g->ldc + n] = acc;
        }
}

static void run(float *c, const gcase *g, nn_isa isa)
{
    memcpy(c, g->c0, (size_t)g->s.M * g->ldc * sizeof(float));
    nn_gemm_args args = {c, g->ldc, g->a, g->rsa, g->csa, g->b, g->ldb,
                         g->s.M, g->s.N, g->s.K, g->s.accumulate};
    nn_gemm(&args, isa);
}

static void check_isa(nn_isa isa)
{
    TEST_REQUIRE_NN_ISA(isa);
    nn_rng r;
    nn_rng_seed(&r, 7);
    for (int t = 0; t < N_SHAPES; t++) {
        gcase g = make_case(&SHAPES[t], &r);
        const size_t cn = (size_t)g.s.M * g.ldc;
        float *want = malloc(cn * sizeof(float)), *got = malloc(cn * sizeof(float));
        cr_assert(want && got);
        chain(want, &g);
        run(got, &g, isa);
        for (size_t i = 0; i < cn; i++) {
            const int col = (int)(i % g.ldc);
            /* written columns: the chain's bits; the spare ones: untouched */
            cr_assert_eq(memcmp(&got[i], &want[i], sizeof(float)), 0,
                         "%s, shape %d (%dx%dx%d, trans %d, acc %d): C[%zu][%d] = %.9g, the chain "
                         "gives %.9g",
                         nn_isa_name(isa), t, g.s.M, g.s.N, g.s.K, g.s.trans_a, g.s.accumulate,
                         i / g.ldc, col, (double)got[i], (double)want[i]);
        }
        free(want), free(got), free(g.a), free(g.b), free(g.c0);
    }
}

Test(gemm, scalar_is_the_chain)
{
    check_isa(NN_ISA_SCALAR);
}

Test(gemm, avx2_is_the_chain_bit_for_bit)
{
    check_isa(NN_ISA_AVX2);
}

Test(gemm, avx512_is_the_chain_bit_for_bit)
{
    check_isa(NN_ISA_AVX512);
}

/* The chain is a product: within float rounding of the double-precision sum. */
Test(gemm, chain_is_the_product)
{
    nn_rng r;
    nn_rng_seed(&r, 3);
    for (int t = 0; t < N_SHAPES; t++) {
        gcase g = make_case(&SHAPES[t], &r);
        float *c = malloc((size_t)g.s.M * g.ldc * sizeof(float));
        cr_assert(c);
        run(c, &g, nn_isa_best());
        for (int m = 0; m < g.s.M; m++)
            for (int n = 0; n < g.s.N; n++) {
                double want = g.s.accumulate ? g.c0[(size_t)m * g.ldc + n] : 0.0, mag = fabs(want);
                for (int k = 0; k < g.s.K; k++) {
                    double p = (double)a_at(&g, m, k) * g.b[(size_t)k * g.ldb + n];
                    want += p;
                    mag += fabs(p);
                }
                cr_assert_float_eq(c[(size_t)m * g.ldc + n], want, 1e-6 * mag + 1e-30,
                                   "shape %d: C[%d][%d]", t, m, n);
            }
        free(c), free(g.a), free(g.b), free(g.c0);
    }
}

Test(gemm, golden_two_by_two)
{
    /* A = [[1 2 3] [4 5 6]] stored transposed, B = [[1 0] [0 1] [1 1]], C starts at 10. */
    const float at[] = {1, 4, 2, 5, 3, 6}, b[] = {1, 0, 0, 1, 1, 1};
    float c[4] = {10, 10, 10, 10};
    nn_gemm_args g = {c, 2, at, 1, 2, b, 2, 2, 2, 3, 1};
    nn_gemm(&g, nn_isa_best());
    const float want[] = {14, 15, 20, 21};
    cr_assert_arr_eq(c, want, sizeof want);
    g.accumulate = 0;
    nn_gemm(&g, nn_isa_best());
    const float fresh[] = {4, 5, 10, 11};
    cr_assert_arr_eq(c, fresh, sizeof fresh);
}

Test(gemm, transpose)
{
    for (int rows = 1; rows < 70; rows += 23)
        for (int cols = 1; cols < 70; cols += 17) {
            float *src = malloc((size_t)rows * cols * sizeof(float));
            float *dst = malloc((size_t)rows * cols * sizeof(float));
            cr_assert(src && dst);
            for (int i = 0; i < rows * cols; i++)
                src[i] = (float)i;
            nn_transpose(dst, src, rows, cols);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    cr_assert_eq(dst[(size_t)c * rows + r], src[(size_t)r * cols + c],
                                 "%dx%d: [%d][%d]", rows, cols, r, c);
            free(src), free(dst);
        }
}
