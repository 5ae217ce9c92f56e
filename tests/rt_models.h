/* rt_models.h - random quantized models for the runtime tests, and the
 * yardsticks they are compared with: quantize/qref.c (the reference
 * interpreter) and the host's image run by the portable C bodies. */
#ifndef RT_MODELS_H
#define RT_MODELS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/qmodel.h"
#include "quantize/qref.h"
#include "export/rt_build.h"
#include "libnn/nn_rng.h"
#include "runtime/rt.h"
#include "runtime/rt_image.h"

typedef struct {
    qm_model m;
    double sparsity[QM_MAX_OPS]; /* fraction of zero weights per op */
    int small_w[QM_MAX_OPS];     /* 1: weights drawn from +-3 only  */
} rtm;

static inline rtm *rtm_new(int c, int h, int w)
{
    rtm *t = calloc(1, sizeof *t);
    cr_assert_not_null(t);
    t->m.in_c = c, t->m.in_h = h, t->m.in_w = w;
    t->m.in.scale = 0.02f;
    return t;
}

static inline void rtm_shape(const qm_model *m, int id, int *c, int *h, int *w)
{
    if (id == QM_INPUT)
        *c = m->in_c, *h = m->in_h, *w = m->in_w;
    else
        *c = m->ops[id].out_c, *h = m->ops[id].out_h, *w = m->ops[id].out_w;
}

static inline qm_op *rtm_op(rtm *t, qm_op_type type, int input)
{
    cr_assert_lt(t->m.n_ops, QM_MAX_OPS);
    qm_op *op = &t->m.ops[t->m.n_ops++];
    memset(op, 0, sizeof *op);
    op->type = type, op->input = input, op->input2 = QM_INPUT;
    rtm_shape(&t->m, input, &op->in_c, &op->in_h, &op->in_w);
    op->out.scale = 0.05f;
    op->weight_bits = 8;
    return op;
}

static inline int rtm_conv(rtm *t, int in, int oc, int k, int s, int pad, int relu, int bits,
                           double sparsity)
{
    qm_op *op = rtm_op(t, QM_CONV2D, in);
    op->kernel = k, op->stride = s, op->pad = pad, op->relu = relu, op->weight_bits = bits;
    op->out_c = oc;
    op->out_h = (op->in_h + 2 * pad - k) / s + 1;
    op->out_w = (op->in_w + 2 * pad - k) / s + 1;
    t->sparsity[t->m.n_ops - 1] = sparsity;
    return t->m.n_ops - 1;
}

/* A depthwise conv (out_c = in_c); relu a QM_ACT_* (a ReLU6 gets an
 * output scale that puts its clamp inside the int8 range). */
static inline int rtm_depthwise(rtm *t, int in, int k, int s, int pad, int relu, int bits)
{
    qm_op *op = rtm_op(t, QM_DEPTHWISE, in);
    op->kernel = k, op->stride = s, op->pad = pad, op->relu = relu, op->weight_bits = bits;
    op->out_c = op->in_c;
    op->out_h = (op->in_h + 2 * pad - k) / s + 1;
    op->out_w = (op->in_w + 2 * pad - k) / s + 1;
    if (relu == QM_ACT_RELU6)
        op->out.scale = 0.08f;
    return t->m.n_ops - 1;
}

static inline int rtm_dense(rtm *t, int in, int oc, int relu, int bits, double sparsity)
{
    qm_op *op = rtm_op(t, QM_DENSE, in);
    op->out_c = oc, op->out_h = op->out_w = 1, op->relu = relu, op->weight_bits = bits;
    t->sparsity[t->m.n_ops - 1] = sparsity;
    return t->m.n_ops - 1;
}

static inline int rtm_pool(rtm *t, qm_op_type type, int in, int k, int s, int relu)
{
    qm_op *op = rtm_op(t, type, in);
    op->relu = relu, op->out_c = op->in_c;
    if (type == QM_GLOBAL_AVGPOOL) {
        op->out_h = op->out_w = 1;
    } else {
        op->kernel = k, op->stride = s;
        op->out_h = (op->in_h - k) / s + 1;
        op->out_w = (op->in_w - k) / s + 1;
    }
    return t->m.n_ops - 1;
}

static inline int rtm_add(rtm *t, int a, int b, int relu)
{
    qm_op *op = rtm_op(t, QM_ADD, a);
    op->input2 = b, op->relu = relu;
    op->out_c = op->in_c, op->out_h = op->in_h, op->out_w = op->in_w;
    return t->m.n_ops - 1;
}

static inline int32_t rtm_zero(const qm_model *m, int id)
{
    return id == QM_INPUT ? m->in.zero : m->ops[id].out.zero;
}

/* Allocates and fills everything at random: zero points, input table,
 * weights (sparsity as asked), biases, multipliers scaled so outputs spread
 * over the int8 range. Pools keep their input's zero point. */
static inline void rtm_finish(rtm *t, uint64_t seed)
{
    qm_model *m = &t->m;
    nn_rng r;
    nn_rng_seed(&r, seed);
    const qm_op *last = &m->ops[m->n_ops - 1];
    m->num_classes = last->out_c * last->out_h * last->out_w;
    m->in.zero = (int32_t)nn_rng_below(&r, 256) - 128;
    for (int i = 0; i < m->n_ops; i++) {
        qm_op *op = &m->ops[i];
        op->out.zero = (int32_t)nn_rng_below(&r, 200) - 100;
        if (op->type == QM_MAXPOOL || op->type == QM_AVGPOOL || op->type == QM_GLOBAL_AVGPOOL)
            op->out.zero = rtm_zero(m, op->input);
    }
    nn_error err;
    cr_assert_eq(qm_model_alloc(m, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < m->in_c * 256; i++)
        m->input_lut[i] = (int8_t)((int)nn_rng_below(&r, 256) - 128);
    for (int i = 0; i < m->n_ops; i++) {
        qm_op *op = &m->ops[i];
        if (op->type == QM_ADD) {
            op->add_shift = 31 + (int)nn_rng_below(&r, 3);
            op->add_mult[0] = (int32_t)((0.3 + 0.4 * nn_rng_uniform(&r)) * 2147483648.0);
            op->add_mult[1] = (int32_t)((0.3 + 0.4 * nn_rng_uniform(&r)) * 2147483648.0);
            continue;
        }
        if (!qm_is_weighted(op->type))
            continue;
        int wmax = op->weight_bits == 8 ? 127 : 7;
        if (t->small_w[i])
            wmax = 3;
        size_t K = op->n_weights / (size_t)op->out_c;
        for (size_t k = 0; k < op->n_weights; k++) {
            if (t->sparsity[i] > 0 && nn_rng_uniform(&r) < t->sparsity[i])
                op->weights[k] = 0;
            else
                op->weights[k] = (int8_t)((int)nn_rng_below(&r, 2 * wmax + 1) - wmax);
        }
        double wstd = wmax * 0.58 * sqrt(1.0 - t->sparsity[i]) + 0.1;
        for (int o = 0; o < op->out_c; o++) {
            op->bias[o] = (int32_t)nn_rng_below(&r, 20001) - 10000;
            op->w_scale[o] = 0.01f;
            double real = 40.0 / (sqrt((double)K) * wstd * 70.0) * (0.5 + nn_rng_uniform(&r));
            int32_t mu, sh;
            cr_assert_eq(qm_quantize_multiplier(real, &mu, &sh), NN_OK);
            op->mult[o] = mu, op->shift[o] = (int8_t)sh;
        }
    }
    cr_assert_eq(qm_model_validate(m, &err), NN_OK, "%s", err.msg);
}

/* The MNIST recipe's shapes on 1x28x28: conv3x3(c1)-conv3x3(c1)-maxpool-
 * conv3x3(c2)-conv3x3(c2)-maxpool-dense(hidden)-dense(10), a ReLU after
 * every weighted layer but the last; bits[k] and sparsity[k] of weighted
 * layer k. Finished with seed. */
static inline rtm *rtm_mnist(int c1, int c2, int hidden, const int bits[6],
                             const double sparsity[6], uint64_t seed)
{
    rtm *t = rtm_new(1, 28, 28);
    int x = QM_INPUT;
    for (int k = 0; k < 4; k++) {
        x = rtm_conv(t, x, k < 2 ? c1 : c2, 3, 1, 1, 1, bits[k], sparsity[k]);
        if (k & 1)
            x = rtm_pool(t, QM_MAXPOOL, x, 2, 2, 0);
    }
    x = rtm_dense(t, x, hidden, 1, bits[4], sparsity[4]);
    rtm_dense(t, x, 10, 0, bits[5], sparsity[5]);
    rtm_finish(t, seed);
    return t;
}

/* A c x side x side input, a chain of `depth` same-shape 3x3 convs (pad 1,
 * ReLU; filters, bits, sparsity) and an 8-bit dense layer of `classes`.
 * Finished with seed. */
static inline rtm *rtm_conv_chain(int c, int side, int depth, int filters, int bits,
                                  double sparsity, int classes, uint64_t seed)
{
    rtm *t = rtm_new(c, side, side);
    int x = QM_INPUT;
    for (int i = 0; i < depth; i++)
        x = rtm_conv(t, x, filters, 3, 1, 1, 1, bits, sparsity);
    rtm_dense(t, x, classes, 0, 8, 0.0);
    rtm_finish(t, seed);
    return t;
}

static inline void rtm_free(rtm *t)
{
    qm_model_free(&t->m);
    free(t);
}

static inline uint8_t *rtm_pixels(const qm_model *m, int n, uint64_t seed)
{
    size_t sz = (size_t)n * m->in_c * m->in_h * m->in_w;
    uint8_t *p = malloc(sz);
    cr_assert_not_null(p);
    nn_rng r;
    nn_rng_seed(&r, seed);
    nn_rng_bytes(&r, p, sz);
    return p;
}

/* The reference interpreter's logits. */
static inline int8_t *rtm_qref(const qm_model *m, const uint8_t *pix, int n)
{
    int8_t *l = malloc((size_t)n * m->num_classes), *s = malloc(qm_ref_scratch_bytes(m));
    cr_assert(l && s);
    size_t in_size = (size_t)m->in_c * m->in_h * m->in_w;
    for (int i = 0; i < n; i++) {
        qm_ref_run(m, pix + i * in_size, s);
        memcpy(l + (size_t)i * m->num_classes, qm_ref_tensor(m, s, m->n_ops - 1),
               (size_t)m->num_classes);
    }
    free(s);
    return l;
}

/* Builds the image (asserting success) into an exactly sized allocation,
 * so ASan sees any read past its end. */
static inline uint8_t *rtm_image(const qm_model *m, const rtb_options *opt, size_t *bytes,
                                 rtb_image *info)
{
    rtb_image img;
    nn_error err;
    cr_assert_eq(rtb_build(&img, m, opt, &err), NN_OK, "%s", err.msg);
    uint8_t *copy = aligned_alloc(8, img.bytes);
    cr_assert_not_null(copy);
    memcpy(copy, img.data, img.bytes);
    *bytes = img.bytes;
    if (info)
        *info = img;
    else
        rtb_free(&img);
    return copy;
}

/* The runtime's logits for n images, the arena filled with `poison`. */
static inline int8_t *rtm_run(const uint8_t *image, size_t bytes, const uint8_t *pix, int n,
                              int poison)
{
    rt_info info;
    rt_status st = rt_image_check(image, bytes, &info);
    cr_assert_eq(st, RT_OK, "rt_image_check: %s (op %d, offset %u)", rt_status_str(st),
                 info.bad_op, info.bad_offset);
    size_t ab = info.arena_bytes ? info.arena_bytes : 8;
    uint8_t *arena = aligned_alloc(8, (ab + 7) & ~(size_t)7);
    int8_t *l = malloc((size_t)n * info.num_classes);
    cr_assert(arena && l);
    size_t in_size = (size_t)info.in_c * info.in_h * info.in_w;
    for (int i = 0; i < n; i++) {
        memset(arena, poison, ab);
        cr_assert_eq(rt_run(image, arena, ab, pix + i * in_size, l + (size_t)i * info.num_classes),
                     RT_OK);
    }
    free(arena);
    return l;
}

/* The logits of the host's image (x86-64: the X8/X4 layouts), built
 * without the accumulator bound and run by the portable C bodies: for
 * models that overflow int32, which the reference saturates and the
 * runtime wraps. */
static inline int8_t *rtm_host(const qm_model *m, const uint8_t *pix, int n)
{
    const rtb_options opt = {rtb_host_target(), RTB_SPARSE_NEVER, 1, RT_ISA_C, 0, 0};
    size_t bytes;
    uint8_t *im = rtm_image(m, &opt, &bytes, NULL);
    cr_assert_eq(rt_image_check(im, bytes, NULL), RT_OK);
    const size_t ab = rt_arena_bytes(im) + 8, in_size = (size_t)m->in_c * m->in_h * m->in_w;
    uint8_t *arena = aligned_alloc(8, ab);
    int8_t *l = malloc((size_t)n * m->num_classes);
    cr_assert(arena && l);
    for (int i = 0; i < n; i++)
        cr_assert_eq(rt_run_isa(im, arena, ab, pix + i * in_size, l + (size_t)i * m->num_classes,
                                RT_ISA_C),
                     RT_OK);
    free(arena);
    free(im);
    return l;
}

static inline void rtm_same(const int8_t *got, const int8_t *want, size_t count, const char *what)
{
    for (size_t j = 0; j < count; j++)
        if (got[j] != want[j])
            cr_assert_fail("%s: value %zu is %d, expected %d", what, j, got[j], want[j]);
}

#endif
