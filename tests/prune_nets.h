/* prune_nets.h - small networks and helpers shared by the pruning tests. */
#ifndef PRUNE_NETS_H
#define PRUNE_NETS_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_exec.h"
#include "libnn/nn_model.h"
#include "libnn/nn_rng.h"
#include "layer_specs.h"

static inline void pn_build(nn_model *m, const nn_model_spec *s)
{
    nn_error err;
    cr_assert_eq(nn_model_build(m, s, &err), NN_OK, "%s", err.msg);
}

/* m: the network spec_fn describes (pn_plain_spec, pn_residual_spec),
 * built. */
static inline void pn_net(nn_model *m, void (*spec_fn)(nn_model_spec *))
{
    nn_model_spec s;
    spec_fn(&s);
    pn_build(m, &s);
}

/* He weights, then every parameter (biases, gamma, beta included) moved by
 * a little noise and the batch-norm running statistics randomized, so that
 * every parameter and statistic matters in a forward pass. */
static inline void pn_randomize(nn_model *m, uint64_t seed)
{
    nn_model_init_params(m, NN_INIT_HE, seed);
    nn_rng r;
    nn_rng_seed(&r, seed + 1000);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] += 0.2f * (nn_rng_uniform(&r) - 0.5f);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (nd->spec.type != NN_LAYER_BATCHNORM)
            continue;
        size_t c = nd->w.n;
        for (size_t j = 0; j < c; j++) {
            m->state[nd->stat.off + j] = 0.5f * (nn_rng_uniform(&r) - 0.5f); /* mean */
            m->state[nd->stat.off + c + j] = 0.5f + nn_rng_uniform(&r);      /* var  */
        }
    }
}

#include "fixtures.h" /* fx_take_logits */

/* Logits (n, classes) of m on `input` (n images), batch-norm in eval mode
 * (training = 0) or on batch statistics (training = 1). */
static inline float *pn_forward(nn_model *m, const float *input, int n, int training)
{
    nn_exec *ex;
    nn_error err;
    cr_assert_eq(nn_exec_create(&ex, m, n, 1, training, &err), NN_OK, "%s", err.msg);
    size_t in = (size_t)m->spec.in_c * m->spec.in_h * m->spec.in_w;
    memcpy(nn_exec_input(ex), input, (size_t)n * in * sizeof(float));
    const float *logits = nn_exec_forward(ex, n, training, 1, 0);
    return fx_take_logits(ex, logits, n, m->spec.num_classes);
}

/* input 2x8x8 ->
 *  0 conv 6 (bias) - 1 bn - 2 relu - 3 conv 8 - 4 bn - 5 relu - 6 maxpool
 *  (8x4x4) - 7 flatten (128) - 8 dense 12 - 9 relu - 10 dropout -
 *  11 dense 12 - 12 relu - 13 dense 3
 * A dense after flatten, and dense units feeding dense columns. */
static inline void pn_plain_spec(nn_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->in_c = 2, s->in_h = 8, s->in_w = 8, s->num_classes = 3;
    int n = 0;
    s->layers[n++] = ls_conv(6, 3, 1, 1);
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM);
    s->layers[n++] = ls_layer(NN_LAYER_RELU);
    s->layers[n++] = ls_conv(8, 3, 1, 0);
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM);
    s->layers[n++] = ls_layer(NN_LAYER_RELU);
    s->layers[n++] = ls_layer(NN_LAYER_MAXPOOL);
    s->layers[n++] = ls_layer(NN_LAYER_FLATTEN);
    s->layers[n++] = ls_dense(12);
    s->layers[n++] = ls_layer(NN_LAYER_RELU);
    nn_layer_spec d = ls_layer(NN_LAYER_DROPOUT);
    d.rate = 0.3f;
    s->layers[n++] = d;
    s->layers[n++] = ls_dense(12);
    s->layers[n++] = ls_layer(NN_LAYER_RELU);
    s->layers[n++] = ls_dense(3);
    s->n_layers = n;
}

/* input 3x8x8 -> (the CIFAR-10 config's shape, small)
 *  0 conv 6 - 1 bn - 2 relu - 3 conv 8 - 4 maxpool (8x4x4) - 5 bn -
 *  6 relu "s1" - 7 conv 8 (bias) - 8 bn - 9 relu - 10 conv 8 - 11 bn -
 *  12 add(s1) - 13 relu - 14 conv 10 stride 2 (10x2x2) - 15 bn - 16 relu -
 *  17 conv 10 1x1 stride 2 reading 13 (projection) - 18 add(17, 16) -
 *  19 relu - 20 global_avgpool - 21 flatten - 22 dense 3
 * Groups: {0}, {3, 10} (add 12), {7}, {14, 17} (add 18), {22} fixed. */
static inline void pn_residual_spec(nn_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->in_c = 3, s->in_h = 8, s->in_w = 8, s->num_classes = 3;
    int n = 0;
    s->layers[n++] = ls_conv(6, 3, 1, 0);          /* 0 */
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM); /* 1 */
    s->layers[n++] = ls_layer(NN_LAYER_RELU);      /* 2 */
    s->layers[n++] = ls_conv(8, 3, 1, 0);          /* 3 */
    s->layers[n++] = ls_layer(NN_LAYER_MAXPOOL);   /* 4 */
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM); /* 5 */
    s->layers[n++] = ls_layer(NN_LAYER_RELU);      /* 6 s1 */
    s->layers[n++] = ls_conv(8, 3, 1, 1);          /* 7 */
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM); /* 8 */
    s->layers[n++] = ls_layer(NN_LAYER_RELU);      /* 9 */
    s->layers[n++] = ls_conv(8, 3, 1, 0);          /* 10 */
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM); /* 11 */
    nn_layer_spec add = ls_layer(NN_LAYER_ADD);
    add.input2 = 6;
    s->layers[n++] = add;                     /* 12 */
    s->layers[n++] = ls_layer(NN_LAYER_RELU); /* 13 */
    nn_layer_spec c = ls_conv(10, 3, 1, 0);
    c.stride = 2;
    s->layers[n++] = c;                            /* 14 */
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM); /* 15 */
    s->layers[n++] = ls_layer(NN_LAYER_RELU);      /* 16 */
    c = ls_conv(10, 1, 0, 1);
    c.stride = 2;
    c.input = 13;
    s->layers[n++] = c; /* 17 */
    add.input = 17;
    add.input2 = 16;
    s->layers[n++] = add;                               /* 18 */
    s->layers[n++] = ls_layer(NN_LAYER_RELU);           /* 19 */
    s->layers[n++] = ls_layer(NN_LAYER_GLOBAL_AVGPOOL); /* 20 */
    s->layers[n++] = ls_layer(NN_LAYER_FLATTEN);        /* 21 */
    s->layers[n++] = ls_dense(3);                       /* 22 */
    s->n_layers = n;
}

/* n random inputs of `size` floats each, uniform in [-1, 1). */
static inline float *pn_random_input(int n, size_t size, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    float *x = malloc((size_t)n * size * sizeof *x);
    for (size_t i = 0; i < (size_t)n * size; i++)
        x[i] = 2.0f * nn_rng_uniform(&r) - 1.0f;
    return x;
}

#endif
