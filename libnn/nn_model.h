/* nn_model.h - a network built from a spec: shapes, parameter layout, init.
 *
 * All trainable parameters live in one float buffer (params); every layer's
 * weights and bias are spans of it, so optimizers, pruning and quantization
 * are loops over flat spans. Non-trainable state (batch-norm running mean
 * and variance) lives in a second buffer (state). Layouts:
 *   conv2d    w (out_c, in_c, k, k)   b (out_c)
 *   dense     w (units, in_size)      b (units)
 *   batchnorm w = gamma (c)           b = beta (c)    state: mean (c), var (c)
 * Activations are NCHW, one image = C*H*W contiguous floats. */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "nn_act_grid.h"
#include "nn_error.h"
#include "nn_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t off; /* first float in the buffer */
    size_t n;   /* number of floats; 0 when absent */
} nn_span;

typedef struct {
    nn_layer_spec spec;     /* inputs resolved to indices                   */
    int in_c, in_h, in_w;   /* shape of the (first) input, per image        */
    int out_c, out_h, out_w;/* shape of the output, per image               */
    size_t in_size;         /* in_c*in_h*in_w                               */
    size_t out_size;        /* out_c*out_h*out_w                            */
    nn_span w, b;           /* in params (w: weights or gamma; b: bias/beta)*/
    nn_span stat;           /* in state: running mean (c) then var (c)      */
    uint64_t macs;          /* multiply-accumulates per image, forward      */
} nn_node;

typedef enum { NN_INIT_HE = 1, NN_INIT_GLOROT = 2 } nn_init_kind;

typedef struct {
    nn_model_spec spec;
    int n_nodes;
    nn_node *nodes;         /* (n_nodes)                                    */
    float *params;          /* (n_params) one allocation                    */
    size_t n_params;
    float *state;           /* (n_state)                                    */
    size_t n_state;
    /* Input normalization applied to raw 0..255 pixels:
     *   x = (p / 255 - mean[c]) / std[c]                                   */
    float mean[NN_MAX_CHANNELS_NORM];
    float std[NN_MAX_CHANNELS_NORM];
    /* NULL, or (n_nodes) grids, borrowed: every executor created while it is
     * set rounds node i's output (after an activation fused into it) to
     * act_grid[i] when its scale is > 0, in training and evaluation
     * (nn_exec.h). The values may change between forward passes; which
     * nodes have a grid is read when an executor is created. Builds and
     * copies start without. */
    const nn_act_grid *act_grid;
    /* NULL, or (in_c, 256) values, borrowed: executors load raw pixel value
     * p of channel c as input_values[c * 256 + p] instead of normalizing it
     * (an int8 model's input rounding, with act_grid). Builds and copies
     * start without. */
    const float *input_values;
} nn_model;

/* Validates the spec (inputs refer to earlier layers, shapes fit, the last
 * layer yields num_classes values, ...), computes shapes and spans, and
 * allocates zeroed params/state (BN gamma = 1, running var = 1). Errors name
 * the layer index and type. On failure m is left freed. */
nn_status nn_model_build(nn_model *m, const nn_model_spec *spec, nn_error *err);

/* The parameter and state counts nn_model_build would allocate, after the
 * same validation, without allocating them: a loader compares them with
 * what a file holds before building. */
nn_status nn_model_count(const nn_model_spec *spec, size_t *n_params, size_t *n_state,
                         nn_error *err);

/* He (Kaiming normal, fan_in) or Glorot (uniform) weights from the stream
 * (seed, NN_STREAM_INIT); biases 0, BN gamma 1 / beta 0. */
void nn_model_init_params(nn_model *m, nn_init_kind kind, uint64_t seed);

void nn_model_free(nn_model *m);

/* dst = a new model with m's spec, parameters, state and normalization. */
nn_status nn_model_copy(nn_model *dst, const nn_model *m, nn_error *err);

/* Totals for reports. */
uint64_t nn_model_macs(const nn_model *m);

#ifdef __cplusplus
}
#endif

#endif
