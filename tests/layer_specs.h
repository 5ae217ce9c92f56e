/* layer_specs.h - building nn_layer_spec values for the model specs of the
 * pruning and quantization tests: a layer with its defaults, a conv, a
 * dense layer. */
#ifndef LAYER_SPECS_H
#define LAYER_SPECS_H

#include <string.h>

#include "libnn/nn_model.h"

static inline nn_layer_spec ls_layer(nn_layer_type t)
{
    nn_layer_spec l;
    nn_layer_spec_defaults(&l, t);
    return l;
}

static inline nn_layer_spec ls_conv(int filters, int k, int pad, int bias)
{
    nn_layer_spec l = ls_layer(NN_LAYER_CONV2D);
    l.out_channels = filters, l.kernel = k, l.pad = pad, l.bias = bias;
    return l;
}

static inline nn_layer_spec ls_dense(int units)
{
    nn_layer_spec l = ls_layer(NN_LAYER_DENSE);
    l.units = units;
    return l;
}

/* *s: input c x h x w, `classes` outputs, the n layers of `layers` in
 * order, everything else zero. Use through LS_SPEC. */
static inline void ls_spec_(nn_model_spec *s, int c, int h, int w, int classes,
                            const nn_layer_spec *layers, int n)
{
    memset(s, 0, sizeof *s);
    s->in_c = c, s->in_h = h, s->in_w = w, s->num_classes = classes, s->n_layers = n;
    for (int i = 0; i < n; i++)
        s->layers[i] = layers[i];
}

/* LS_SPEC(&s, 1, 4, 4, 3, ls_conv(2, 3, 1, 1), ls_layer(NN_LAYER_RELU), ...) */
#define LS_SPEC(s, c, h, w, classes, ...)                                                          \
    ls_spec_((s), (c), (h), (w), (classes), (const nn_layer_spec[]){__VA_ARGS__},                \
             (int)(sizeof((const nn_layer_spec[]){__VA_ARGS__}) / sizeof(nn_layer_spec)))

#endif
