/* depthwise_layers.c - time per depthwise layer: forward and backward
 * (input and weight gradients) of the portable body and of the best one
 * this CPU runs (libnn/depthwise_isa.h), on the depthwise shapes of a
 * MobileNet-style network for 32x32 inputs (16x16 down to 4x4 planes,
 * strides 1 and 2) and MNIST's 28x28, one thread, IMGS images per call (as
 * the executor calls them with its slice of the batch), best of 5
 * repetitions of >= 0.2 s, in CPU time of the process.
 *
 *   build/bench/depthwise_layers
 * Prints ms per image, million multiply-adds per second and the speed-up
 * of the best body over the portable one. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_util.h"
#include "libnn/depthwise_isa.h"

typedef struct {
    const char *name;
    nn_conv_dims d;
} shape;

#define DW(nm, c, h, k, s, p)                                                                      \
    {nm, {c, h, h, c, (h + 2 * p - k) / s + 1, (h + 2 * p - k) / s + 1, k, s, p}}

static const shape SHAPES[] = {
    DW("24ch 32x32 3x3/2", 24, 32, 3, 2, 1),  DW("48ch 16x16 3x3", 48, 16, 3, 1, 1),
    DW("96ch 16x16 3x3/2", 96, 16, 3, 2, 1),  DW("192ch 8x8 3x3", 192, 8, 3, 1, 1),
    DW("192ch 8x8 3x3/2", 192, 8, 3, 2, 1),   DW("384ch 4x4 3x3", 384, 4, 3, 1, 1),
    DW("32ch 28x28 5x5", 32, 28, 5, 1, 2),    DW("64ch 14x14 3x3", 64, 14, 3, 1, 1),
};

enum { IMGS = 32 };

typedef struct {
    const nn_conv_dims *d;
    nn_isa isa;
    float *in, *out, *w, *din, *dw, *scratch;
} ctx;

static void run_fwd(void *p, int n)
{
    ctx *c = p;
    nn_depthwise_forward_isa(c->out, c->scratch, c->in, c->w, NULL, n, c->d, c->isa);
}

static void run_bwd(void *p, int n)
{
    ctx *c = p;
    nn_depthwise_backward_isa(c->din, c->dw, NULL, c->scratch, c->out, c->in, c->w, n, c->d, c->isa);
}

/* Best CPU seconds per image of 5 repetitions of >= 0.2 s. */
static double best(bench_fn fn, void *c)
{
    return bench_best_cpu(fn, c, IMGS, 5, 0.2) / IMGS;
}

int main(void)
{
    uint64_t rng = 1;
    const nn_isa isa = nn_isa_best();
    printf("depthwise layers, one thread, %d images per call; portable body vs %s\n", IMGS,
           nn_isa_name(isa));
    printf("%-20s %9s %7s %9s %7s %6s %9s %7s %9s %7s %6s\n", "layer", "fwd ms", "M/s", "best ms",
           "M/s", "gain", "bwd ms", "M/s", "best ms", "M/s", "gain");
    for (size_t l = 0; l < sizeof SHAPES / sizeof SHAPES[0]; l++) {
        const nn_conv_dims *d = &SHAPES[l].d;
        size_t is = (size_t)d->in_c * d->in_h * d->in_w, os = (size_t)d->in_c * d->out_h * d->out_w;
        size_t wn = (size_t)d->in_c * d->k * d->k;
        ctx c = {.d = d};
        c.in = bench_rand_floats(is * IMGS, &rng), c.din = bench_rand_floats(is * IMGS, &rng);
        c.out = bench_rand_floats(os * IMGS, &rng);
        c.w = bench_rand_floats(wn, &rng), c.dw = bench_rand_floats(wn, &rng);
        c.scratch = bench_rand_floats(nn_depthwise_scratch_floats(d), &rng);
        double macs = (double)wn * d->out_h * d->out_w, t[4];
        for (int b = 0; b < 2; b++) {
            c.isa = b ? isa : NN_ISA_SCALAR;
            t[b] = best(run_fwd, &c);
            t[2 + b] = best(run_bwd, &c);
        }
        printf("%-20s %9.4f %7.0f %9.4f %7.0f %5.2fx %9.4f %7.0f %9.4f %7.0f %5.2fx\n",
               SHAPES[l].name, t[0] * 1e3, macs / t[0] * 1e-6, t[1] * 1e3, macs / t[1] * 1e-6,
               t[0] / t[1], t[2] * 1e3, 2 * macs / t[2] * 1e-6, t[3] * 1e3, 2 * macs / t[3] * 1e-6,
               t[2] / t[3]);
        free(c.in), free(c.din), free(c.out), free(c.w), free(c.dw), free(c.scratch);
    }
    return 0;
}
