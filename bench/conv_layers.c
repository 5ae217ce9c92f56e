/* conv_layers.c - time per conv layer: forward and backward of
 * nn_conv2d_* on the conv shapes of configs/mnist_ref.json and
 * configs/cifar10_resnet8.json, one thread, a batch of IMGS images per
 * call (as the executor calls them with its slice of the batch), best of 5
 * repetitions of >= 0.2 s, in CPU time of the process (the machine may be
 * shared: CPU time is what other processes disturb least). The 3x3
 * stride-1 layers with 32+ channels run Winograd F(4x4, 3x3) in all three
 * passes (libnn/conv_wino.c); columns "direct" time the same forward pass
 * and weight gradient through the direct wide kernels, for comparison.
 *
 *   build/bench/conv_layers          all layers
 * dw: backward without the input gradient (the weight gradient alone).
 * Prints ms per image and GFLOP/s (2 flops per MAC of the direct
 * convolution, so Winograd's are effective rates; backward counts the
 * weight gradient and, when the layer has one, the input gradient). */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_util.h"
#include "libnn/conv_wide.h"
#include "libnn/nn_layers.h"

typedef struct {
    const char *name;
    nn_conv_dims d;
    int din; /* 0: the network input (no input gradient) */
} shape;

#define SH(nm, c, h, oc, k, s, p, g)                                                              \
    {nm, {c, h, h, oc, (h + 2 * p - k) / s + 1, (h + 2 * p - k) / s + 1, k, s, p}, g}

static const shape SHAPES[] = {
    SH("mnist conv1  1->32 28 3x3", 1, 28, 32, 3, 1, 1, 0),
    SH("mnist conv2 32->32 28 3x3", 32, 28, 32, 3, 1, 1, 1),
    SH("mnist conv3 32->64 14 3x3", 32, 14, 64, 3, 1, 1, 1),
    SH("mnist conv4 64->64 14 3x3", 64, 14, 64, 3, 1, 1, 1),
    SH("rn8 conv0  3->16 32 3x3", 3, 32, 16, 3, 1, 1, 0),
    SH("rn8 s1    16->16 32 3x3", 16, 32, 16, 3, 1, 1, 1),
    SH("rn8 s2a   16->32 32 3x3/2", 16, 32, 32, 3, 2, 1, 1),
    SH("rn8 s2b   32->32 16 3x3", 32, 16, 32, 3, 1, 1, 1),
    SH("rn8 s2p   16->32 32 1x1/2", 16, 32, 32, 1, 2, 0, 1),
    SH("rn8 s3a   32->64 16 3x3/2", 32, 16, 64, 3, 2, 1, 1),
    SH("rn8 s3b   64->64 8 3x3", 64, 8, 64, 3, 1, 1, 1),
    SH("rn8 s3p   32->64 16 1x1/2", 32, 16, 64, 1, 2, 0, 1),
};

enum { IMGS = 32 };

typedef struct {
    const shape *s;
    float *in, *out, *w, *b, *din, *dw, *db, *scratch;
    size_t is, os;
} ctx;

static void run_fwd(void *p, int n)
{
    ctx *c = p;
    nn_conv2d_forward(c->out, c->scratch, c->in, c->w, c->b, n, &c->s->d);
}

static void run_direct(void *p, int n)
{
    ctx *c = p;
    nn_conv_wide_forward(c->out, c->scratch, c->in, c->w, c->b, n, &c->s->d, nn_isa_best());
}

static void run_bwd(void *p, int n)
{
    ctx *c = p;
    nn_conv2d_backward(c->s->din ? c->din : NULL, c->dw, c->db, c->scratch, c->out, c->in, c->w, n,
                       &c->s->d);
}

static void run_bwdw(void *p, int n)
{
    ctx *c = p;
    nn_conv2d_backward(NULL, c->dw, c->db, c->scratch, c->out, c->in, c->w, n, &c->s->d);
}

static void run_direct_dw(void *p, int n)
{
    ctx *c = p;
    nn_conv_wide_backward(NULL, c->dw, c->db, c->scratch, c->out, c->in, c->w, n, &c->s->d,
                          nn_isa_best());
}

/* Best CPU seconds per image of 5 repetitions of >= 0.2 s. */
static double best(bench_fn fn, void *c)
{
    return bench_best_cpu(fn, c, IMGS, 5, 0.2) / IMGS;
}

int main(void)
{
    uint64_t rng = 1;
    double tf = 0, tb = 0;
    printf("%-28s %8s %7s %8s %7s %8s %7s %8s %7s %8s %7s\n", "layer", "fwd ms", "GFLOP/s",
           "direct", "GFLOP/s", "bwd ms", "GFLOP/s", "dw ms", "GFLOP/s", "direct", "GFLOP/s");
    for (size_t l = 0; l < sizeof SHAPES / sizeof SHAPES[0]; l++) {
        const shape *s = &SHAPES[l];
        const nn_conv_dims *d = &s->d;
        ctx c = {.s = s};
        c.is = (size_t)d->in_c * d->in_h * d->in_w;
        c.os = (size_t)d->out_c * d->out_h * d->out_w;
        size_t wn = (size_t)d->out_c * d->in_c * d->k * d->k;
        c.in = bench_rand_floats(c.is * IMGS, &rng);
        c.din = bench_rand_floats(c.is * IMGS, &rng);
        c.out = bench_rand_floats(c.os * IMGS, &rng);
        c.w = bench_rand_floats(wn, &rng), c.dw = bench_rand_floats(wn, &rng);
        c.b = bench_rand_floats((size_t)d->out_c, &rng);
        c.db = bench_rand_floats((size_t)d->out_c, &rng);
        c.scratch = bench_rand_floats(nn_conv2d_scratch_floats(d), &rng);
        double macs = (double)wn * d->out_h * d->out_w;
        double f = best(run_fwd, &c), fd = best(run_direct, &c);
        double b = best(run_bwd, &c), bw = best(run_bwdw, &c), bwd = best(run_direct_dw, &c);
        double bflops = 2 * macs * (s->din ? 2 : 1);
        printf("%-28s %8.4f %7.1f %8.4f %7.1f %8.4f %7.1f %8.4f %7.1f %8.4f %7.1f\n", s->name,
               f * 1e3, 2 * macs / f * 1e-9, fd * 1e3, 2 * macs / fd * 1e-9, b * 1e3,
               bflops / b * 1e-9, bw * 1e3, 2 * macs / bw * 1e-9, bwd * 1e3,
               2 * macs / bwd * 1e-9);
        if (l < 4)
            tf += f, tb += b;
        free(c.in), free(c.din), free(c.out), free(c.w), free(c.dw), free(c.b), free(c.db);
        free(c.scratch);
    }
    printf("mnist convs per image: fwd %.3f ms, bwd %.3f ms (one thread)\n", tf * 1e3, tb * 1e3);
    return 0;
}
