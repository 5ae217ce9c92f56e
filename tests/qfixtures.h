/* qfixtures.h - small float models for the quantization tests: specs that
 * exercise each folding rule, random batch-norm statistics, float logits
 * through the library's own executor, and a quickly trained model. */
#ifndef QFIXTURES_H
#define QFIXTURES_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_exec.h"
#include "libnn/nn_model.h"
#include "libnn/nn_rng.h"
#include "libnn/nn_train.h"
#include "fixtures.h"
#include "layer_specs.h"

static inline nn_layer_spec qf_reading(nn_layer_spec l, int input)
{
    l.input = input;
    return l;
}

/* Builds spec into m with normalization mean 0.25 (+0.05 per channel) and
 * std 0.3, He weights, random biases and random batch-norm
 * parameters and running statistics: gamma in [0.5, 1.5] (negated for the
 * odd channels when neg_gamma), beta and mean in [-0.5, 0.5], var in
 * [0.5, 2]. */
static inline void qf_build(nn_model *m, const nn_model_spec *spec, uint64_t seed, int neg_gamma)
{
    nn_error err;
    cr_assert_eq(nn_model_build(m, spec, &err), NN_OK, "%s", err.msg);
    nn_model_init_params(m, NN_INIT_HE, seed);
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        m->mean[c] = 0.25f + 0.05f * c, m->std[c] = 0.3f;
    nn_rng r;
    nn_rng_seed(&r, seed + 1000);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (nd->b.n && nd->spec.type != NN_LAYER_BATCHNORM)
            for (size_t k = 0; k < nd->b.n; k++)
                m->params[nd->b.off + k] = 0.2f * (nn_rng_uniform(&r) - 0.5f);
        if (nd->spec.type != NN_LAYER_BATCHNORM)
            continue;
        int C = nd->out_c;
        for (int c = 0; c < C; c++) {
            float g = 0.5f + nn_rng_uniform(&r);
            m->params[nd->w.off + c] = neg_gamma && (c & 1) ? -g : g;
            m->params[nd->b.off + c] = nn_rng_uniform(&r) - 0.5f;
            m->state[nd->stat.off + c] = nn_rng_uniform(&r) - 0.5f;
            m->state[nd->stat.off + C + c] = 0.5f + 1.5f * nn_rng_uniform(&r);
        }
    }
}

/* Random pixels (n, c, h, w). */
static inline uint8_t *qf_pixels(int n, int c, int h, int w, uint64_t seed)
{
    size_t len = (size_t)n * c * h * w;
    uint8_t *p = malloc(len);
    nn_rng r;
    nn_rng_seed(&r, seed);
    nn_rng_bytes(&r, p, len);
    return p;
}

/* Float logits (n, num_classes) of m on raw pixels, by the library's
 * executor (inference mode: batch-norm running statistics). */
static inline float *qf_float_logits(nn_model *m, const uint8_t *pixels, int n)
{
    nn_exec *ex;
    nn_error err;
    cr_assert_eq(nn_exec_create(&ex, m, n, 1, 0, &err), NN_OK, "%s", err.msg);
    nn_exec_load_images(ex, pixels, NULL, n, NULL, NULL, 0);
    const float *lg = nn_exec_forward(ex, n, 0, 0, 0);
    return fx_take_logits(ex, lg, n, m->spec.num_classes);
}

/* A model like configs/mnist.json in miniature, for 1x12x12 images and
 * 10 classes: conv-bn-relu, conv-maxpool-bn-relu, flatten, dense-bn-relu,
 * dropout, dense. Every batch norm folds. */
static inline void qf_spec_plain(nn_model_spec *s)
{
    nn_layer_spec drop = ls_layer(NN_LAYER_DROPOUT);
    drop.rate = 0.2f;
    const nn_layer_spec bn = ls_layer(NN_LAYER_BATCHNORM), relu = ls_layer(NN_LAYER_RELU);
    LS_SPEC(s, 1, 12, 12, 10, ls_conv(8, 3, 1, 0), bn, relu,           /* 0-2 */
            ls_conv(8, 3, 1, 0), ls_layer(NN_LAYER_MAXPOOL), bn, relu, /* 3-6: 8x6x6 */
            ls_layer(NN_LAYER_FLATTEN), ls_dense(16), bn, relu,        /* 7-10 */
            drop, ls_dense(10));                                       /* 11-12 */
    for (int i = 0; i < s->n_layers; i++)
        s->layers[i].input = i - 1;
}

/* Trains m (plain spec) on n stripes images for `epochs` epochs. */
static inline void qf_train(nn_model *m, const uint8_t *images, const uint8_t *labels, int n,
                            int epochs)
{
    nn_error err;
    nn_optim o;
    nn_optim_config oc = {
        .kind = NN_OPT_SGD, .momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f};
    cr_assert_eq(nn_optim_init(&o, &oc, m->n_params, &err), NN_OK);
    nn_train_config tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = epochs, tc.batch_size = 16, tc.eval_batch = 64, tc.threads = 1, tc.seed = 7;
    tc.schedule = (nn_schedule_config){.kind = NN_SCHED_COSINE, .base_lr = 0.05f};
    nn_images img = {images, labels, n};
    nn_train_state ts = {7, 0, epochs, 0};
    cr_assert_eq(nn_train(m, &o, &ts, &tc, &img, NULL, NULL, &err), NN_OK, "%s", err.msg);
    nn_optim_free(&o);
}

#endif
