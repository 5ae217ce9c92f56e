/* test_pool_isa.c - 2x2 stride-2 max pooling through nn_maxpool_forward
 * (the AVX-512 body where the CPU has it) against a naive reference
 * written here: outputs bit for bit and the same argmax, including ties
 * (the first in row-major window order wins), NaN inputs, odd input sizes
 * (the last row and column dropped), rows wider than one vector of
 * outputs and the buffer's very end (masked loads). Also the AVX-512 body
 * called directly, skipped where the CPU lacks it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isa_env.h"
#include "libnn/nn_isa.h"
#include "libnn/nn_layers.h"
#include "libnn/nn_rng.h"
#include "libnn/pool_isa.h"

typedef void (*pool_fn)(float *out, int32_t *am, const float *in, int n, const nn_pool_dims *d);

static void naive(float *out, int32_t *am, const float *in, int n, const nn_pool_dims *d)
{
    const size_t ip = (size_t)d->in_h * d->in_w, op = (size_t)d->out_h * d->out_w;
    for (size_t p = 0; p < (size_t)n * d->c; p++)
        for (int oy = 0; oy < d->out_h; oy++)
            for (int ox = 0; ox < d->out_w; ox++) {
                int32_t best = 2 * oy * d->in_w + 2 * ox;
                for (int ki = 0; ki < 2; ki++)
                    for (int kj = 0; kj < 2; kj++) {
                        const int32_t at = (2 * oy + ki) * d->in_w + 2 * ox + kj;
                        if (in[p * ip + (size_t)at] > in[p * ip + (size_t)best])
                            best = at;
                    }
                out[p * op + (size_t)oy * d->out_w + ox] = in[p * ip + (size_t)best];
                am[p * op + (size_t)oy * d->out_w + ox] = best;
            }
}

static void public_fn(float *out, int32_t *am, const float *in, int n, const nn_pool_dims *d)
{
    nn_maxpool_forward(out, am, in, n, d);
}

#if defined(__x86_64__)
static void avx512_fn(float *out, int32_t *am, const float *in, int n, const nn_pool_dims *d)
{
    nn_maxpool2x2_avx512(out, am, in, (size_t)n * d->c, d);
}
#endif

static void check(pool_fn fn)
{
    nn_rng r;
    nn_rng_seed(&r, 5);
    /* MNIST's 28 and 14, ResNet-like 32, odd sizes, rows of more than 16 outputs */
    const int sizes[][2] = {{28, 28}, {14, 14}, {32, 32}, {7, 9},
                            {5, 3},   {2, 2},   {45, 41}, {3, 70}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        const int h = sizes[t][0], w = sizes[t][1], n = 1 + (int)nn_rng_below(&r, 3);
        const int c = 1 + (int)nn_rng_below(&r, 4);
        const nn_pool_dims d = {c, h, w, h / 2, w / 2, 2, 2};
        const size_t in_n = (size_t)n * c * h * w, out_n = (size_t)n * c * (h / 2) * (w / 2);
        /* exactly in_n floats: a read past the end is caught by ASan */
        float *in = malloc(in_n * sizeof *in), *o1 = malloc(out_n * sizeof *o1);
        float *o2 = malloc(out_n * sizeof *o2);
        int32_t *a1 = malloc(out_n * sizeof *a1), *a2 = malloc(out_n * sizeof *a2);
        cr_assert(in && o1 && o2 && a1 && a2);
        for (size_t i = 0; i < in_n; i++) /* few levels: many ties; some NaN */
            in[i] = nn_rng_below(&r, 50) == 0 ? NAN : (float)nn_rng_below(&r, 4) - 1.0f;
        naive(o1, a1, in, n, &d);
        fn(o2, a2, in, n, &d);
        cr_assert_eq(memcmp(a1, a2, out_n * sizeof *a1), 0, "%dx%d: argmax differs", h, w);
        cr_assert_eq(memcmp(o1, o2, out_n * sizeof *o1), 0, "%dx%d: outputs differ", h, w);
        free(in), free(o1), free(o2), free(a1), free(a2);
    }
}

Test(pool_isa, maxpool_2x2_matches_the_naive_reference)
{
    check(public_fn);
}

Test(pool_isa, avx512_maxpool_2x2_matches_the_naive_reference)
{
    TEST_REQUIRE_NN_ISA(NN_ISA_AVX512);
#if defined(__x86_64__)
    check(avx512_fn);
#endif
}
