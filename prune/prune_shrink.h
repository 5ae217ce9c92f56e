/* prune_shrink.h - carrying out a channel plan (prune_channels.h).
 *
 * pr_channels_shrink builds a new, smaller model: every producer of a
 * pruned group has fewer filters (conv2d) or units (dense); its bias, the
 * batch-norm entries (gamma, beta, running mean and variance) of the
 * removed channels and the matching input channels of every reader (conv2d
 * input channels; dense input columns c*H*W .. c*H*W + H*W - 1 after a
 * flatten) are gone. The result is an ordinary nn_model with a new spec:
 * it trains, evaluates and saves like any other, and runs faster because
 * every kernel is smaller.
 *
 * pr_channels_zero is the same plan done with masks: the removed channels
 * stay in place but their filters, biases, and batch-norm gamma and beta
 * are 0, so they output exactly 0 through every layer (relu, pools and
 * adds of zeros are zero; a batch norm with gamma = beta = 0 outputs 0).
 * Both models compute the same function; only the summation order in the
 * readers differs (terms that are exactly 0 are left out), so the outputs
 * agree to float rounding. The tests check this. */
#ifndef PRUNE_SHRINK_H
#define PRUNE_SHRINK_H

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "prune_channels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kept channel (or feature) indices of node i's output tensor (i =
 * NN_INPUT_NODE: the network input), in increasing order, into idx (room
 * for the tensor's channel count); returns how many. For a flattened or
 * dense reader pass per = H*W of the tensor to list its kept input
 * columns instead (per = 1 lists channels). */
size_t pr_tensor_kept(const pr_channel_plan *p, const nn_model *m, int i, size_t per, int *idx);

/* Zeroes, in m, the filters and biases of removed channels and the gamma
 * and beta of every batch norm entry that carries one. */
void pr_channels_zero(nn_model *m, const pr_channel_plan *p);

/* out = m without the removed channels (a new model; m is unchanged).
 * Normalization and batch-norm running statistics are carried over. */
nn_status pr_channels_shrink(nn_model *out, const nn_model *m, const pr_channel_plan *p,
                             nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
