/* nn_values.h - where a number lives in a model, in words, and which
 * numbers a model may hold.
 *
 * Error messages about values name the layer and the element the way a
 * user can find them: "layer 0 (conv2d 'c1') weight[5]", "layer 1
 * (batchnorm 'bn1') running_var[2]". Element indices count within the
 * layer's array in the float model's layout (nn_model.h): conv weights
 * (out_c, in_c, k, k), dense weights (units, in_size), batch norm gamma,
 * beta, running_mean and running_var (c).
 *
 * The rule for stored values (checkpoints are checked on load and on save):
 *   - every parameter and every running mean is a finite number;
 *   - every running variance is finite and >= 0.
 * A finite value of any magnitude is valid. Whether the model can then be
 * computed in float (or quantized) is decided by the computation, which
 * reports overflow itself (nn_evaluate, qz_calibrate, qz_lower, ...). */
#ifndef NN_VALUES_H
#define NN_VALUES_H

#include <stddef.h>

#include "nn_error.h"
#include "nn_model.h"
#include "nn_optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "layer 3 (conv2d 'c2')", or "layer 3 (relu)" for an unnamed layer. */
void nn_layer_label(char *buf, size_t size, const nn_model *m, int node);

/* Parameter p (an index into m->params) as "layer 0 (conv2d 'c1')
 * weight[5]" (bias[o]; batch norm gamma[c], beta[c]). */
void nn_param_label(char *buf, size_t size, const nn_model *m, size_t p);

/* State value s (an index into m->state) as "layer 1 (batchnorm 'bn1')
 * running_mean[c]" or "running_var[c]". */
void nn_state_label(char *buf, size_t size, const nn_model *m, size_t s);

/* Checks the rule above. On the first violation (parameters first, then
 * state, in index order) returns NN_ERR_NUMERIC with a message such as
 * "layer 0 (conv2d 'c1') weight[0] = inf, must be a finite number", and
 * sets *in_state (0: params, 1: state) and *index (the flat index), so a
 * loader can add the file offset. */
nn_status nn_model_check_values(const nn_model *m, int *in_state, size_t *index, nn_error *err);

/* The same rule for an optimizer's moments of model m: m finite, v finite
 * and >= 0. On a violation returns NN_ERR_NUMERIC ("second moment of layer
 * 0 (conv2d 'c1') weight[3] = -1, must be finite and >= 0") and, when
 * index is not NULL, sets *index (the element) and *second (1: in v). */
nn_status nn_optim_check_values(const nn_optim *o, const nn_model *m, size_t *index, int *second,
                                nn_error *err);

/* Index of the parameter of largest magnitude among layers 0..last (a NaN
 * counts as the largest), or SIZE_MAX when they have no parameters. */
size_t nn_param_largest(const nn_model *m, int last);

/* "; the largest parameter up to it is layer 0 (conv2d 'c1') weight[0] =
 * 3e+38" for the layers 0..last, or "" when they have no parameters: the
 * hint that ends a message about values that overflow. */
void nn_largest_hint(char *buf, size_t size, const nn_model *m, int last);

#ifdef __cplusplus
}
#endif

#endif
