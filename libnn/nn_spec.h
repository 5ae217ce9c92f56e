/* nn_spec.h - what a network is: its input shape and an ordered list of layers.
 *
 * A spec is plain data: the config parser produces it, checkpoints store it,
 * nn_model_build turns it into shapes and a parameter layout. Layers form a
 * DAG in list order: by default layer i reads layer i-1's output (layer 0
 * reads the network input). A layer may instead read an earlier named layer
 * ("input": "name"), and an `add` layer sums its input with a second earlier
 * layer ("from": "name"), which expresses residual blocks with or without a
 * projection shortcut. */
#ifndef NN_SPEC_H
#define NN_SPEC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Layer type codes are stored in files: explicit values, never reorder. */
typedef enum {
    NN_LAYER_CONV2D = 1,
    NN_LAYER_MAXPOOL = 2,
    NN_LAYER_AVGPOOL = 3,
    NN_LAYER_GLOBAL_AVGPOOL = 4,
    NN_LAYER_DENSE = 5,
    NN_LAYER_RELU = 6,
    NN_LAYER_DROPOUT = 7,
    NN_LAYER_BATCHNORM = 8,
    NN_LAYER_FLATTEN = 9,
    NN_LAYER_ADD = 10,
    NN_LAYER_DEPTHWISE_CONV2D = 11, /* one k x k filter per channel (multiplier 1) */
    NN_LAYER_RELU6 = 12             /* min(max(x, 0), 6)                           */
} nn_layer_type;

#define NN_NAME_MAX 32
#define NN_MAX_LAYERS 256
#define NN_MAX_CHANNELS_NORM 4

/* Source index meaning "the network input". */
#define NN_INPUT_NODE (-1)

typedef struct {
    nn_layer_type type;
    char name[NN_NAME_MAX]; /* optional; "" when unnamed                    */
    int input;              /* index of the layer read, or NN_INPUT_NODE     */
    int input2;             /* add: index of the second operand              */

    /* conv2d (depthwise_conv2d: kernel, stride, pad, bias; out = in channels) */
    int out_channels;
    int kernel;             /* square kernel; conv and pools                */
    int stride;             /* conv and pools                                */
    int pad;                /* conv: zero padding on each side               */
    int bias;               /* conv/dense: 1 = has a bias vector             */
    /* dense */
    int units;
    /* dropout */
    float rate;             /* probability of dropping a unit, [0, 1)        */
    /* batchnorm */
    float momentum;         /* running = (1-m)*running + m*batch (PyTorch)   */
    float eps;
} nn_layer_spec;

typedef struct {
    int in_c, in_h, in_w; /* input image shape (C,H,W)                      */
    int num_classes;      /* the last layer's output size                   */
    int n_layers;
    nn_layer_spec layers[NN_MAX_LAYERS];
} nn_model_spec;

/* Fills a layer spec with the defaults of its type (stride 1, bias 1,
 * kernel 2 / stride 2 for pools, momentum 0.1, eps 1e-5, ...). input is set
 * to NN_INPUT_NODE - 1 meaning "previous layer" until resolved. */
void nn_layer_spec_defaults(nn_layer_spec *l, nn_layer_type type);

/* Lower-case name used in configs and reports ("conv2d", "maxpool", ...);
 * NULL for an unknown code. */
const char *nn_layer_type_name(nn_layer_type t);
/* Inverse of nn_layer_type_name; returns 0 when unknown. */
nn_layer_type nn_layer_type_from_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif
