/* layer_specs.h - building nn_layer_spec values for the model specs of the
 * pruning and quantization tests: a layer with its defaults, a conv, a
 * dense layer. */
#ifndef LAYER_SPECS_H
#define LAYER_SPECS_H

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

#endif
