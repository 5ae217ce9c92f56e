/* test_conv_backward_set.c - nn_conv2d_backward_set (din = the input
 * gradient) against nn_conv2d_backward into a zeroed din, bit for bit, on
 * shapes that take the Winograd input gradient (its store path) and on
 * shapes that do not (zeroed, then added to): din starts as NaN, so any
 * element the set path fails to write, or reads before writing, shows.
 * The weight and bias gradients must be the same too. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/conv_wino.h"
#include "libnn/nn_layers.h"
#include "libnn/nn_rng.h"

static float *rnd(nn_rng *r, size_t n)
{
    float *p = malloc(n * sizeof *p);
    cr_assert(p);
    for (size_t i = 0; i < n; i++)
        p[i] = 2.0f * nn_rng_uniform(r) - 1.0f;
    return p;
}

static void check(int c, int h, int w, int m, int k, int s, int p, int n, int want_wino)
{
    const nn_conv_dims d = {c, h, w, m, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1, k, s, p};
    cr_assert_eq(nn_wino_din_ok(&d), want_wino, "%d->%d %dx%d: Winograd input gradient %d", c, m,
                 h, w, nn_wino_din_ok(&d));
    nn_rng r;
    nn_rng_seed(&r, (uint64_t)(c * 131 + h * 7 + m));
    const size_t is = (size_t)n * c * h * w, os = (size_t)n * m * d.out_h * d.out_w;
    const size_t ws = (size_t)m * c * k * k;
    float *in = rnd(&r, is), *dout = rnd(&r, os), *wt = rnd(&r, ws);
    float *din_add = calloc(is, sizeof(float)), *din_set = malloc(is * sizeof(float));
    float *dw_add = calloc(ws, sizeof(float)), *dw_set = calloc(ws, sizeof(float));
    float *db_add = calloc((size_t)m, sizeof(float)), *db_set = calloc((size_t)m, sizeof(float));
    float *scratch = malloc(nn_conv2d_scratch_floats(&d) * sizeof(float));
    cr_assert(din_add && din_set && dw_add && dw_set && db_add && db_set && scratch);
    for (size_t i = 0; i < is; i++)
        din_set[i] = NAN;
    nn_conv2d_backward(din_add, dw_add, db_add, scratch, dout, in, wt, n, &d);
    nn_conv2d_backward_set(din_set, dw_set, db_set, scratch, dout, in, wt, n, &d);
    cr_assert_eq(memcmp(din_add, din_set, is * sizeof(float)), 0, "%d->%d %dx%d s%d p%d: din", c,
                 m, h, w, s, p);
    cr_assert_eq(memcmp(dw_add, dw_set, ws * sizeof(float)), 0, "dw");
    cr_assert_eq(memcmp(db_add, db_set, (size_t)m * sizeof(float)), 0, "db");
    free(in), free(dout), free(wt), free(din_add), free(din_set), free(dw_add), free(dw_set);
    free(db_add), free(db_set), free(scratch);
}

Test(conv_backward_set, winograd_shapes_equal_adding_to_zero)
{
    check(32, 28, 28, 32, 3, 1, 1, 3, 1); /* MNIST conv2 */
    check(64, 14, 14, 64, 3, 1, 1, 2, 1); /* MNIST conv4 */
    check(33, 17, 19, 40, 3, 1, 0, 2, 1); /* odd sizes, no padding */
    check(32, 15, 13, 36, 3, 1, 2, 1, 1); /* pad 2 */
}

Test(conv_backward_set, other_shapes_equal_adding_to_zero)
{
    check(16, 32, 32, 16, 3, 1, 1, 2, 0); /* ResNet-8 stage 1: direct */
    check(16, 32, 32, 32, 3, 2, 1, 2, 0); /* stride 2: sgemm + col2im */
    check(3, 9, 11, 8, 1, 1, 0, 2, 0);    /* 1x1 */
}
