/* prune_groups.h - which output channels of a network are one channel.
 *
 * Removing output channel c of a conv2d (or unit c of a dense layer) must
 * remove everything that carries it: the batch-norm entries of channel c,
 * and input channel c (or the columns it became after flatten) of every
 * layer that reads it, through any chain of relu, dropout, batchnorm and
 * pools (which keep channels where they are). An `add` sums channel c of
 * both operands, so its two producers are one channel space: channel c
 * goes from all of them or from none.
 *
 * A channel group is such a space: the channels of one producer, or of
 * several producers tied by adds (union-find over the layer graph). Each
 * layer's output tensor belongs to one group; `hw` says how many of the
 * tensor's channels (or features) one group channel spans: 1 for an image
 * tensor (C, H, W), H*W after a flatten of it (feature c*H*W + s belongs to
 * group channel c).
 *
 * Some groups are fixed (never pruned): the network input's (a residual
 * add from "input" ties producers to it), the class scores' (the last
 * layer's output), and groups an add joins from tensors whose features map
 * to channels differently (e.g. a flattened tensor added to a dense one). */
#ifndef PRUNE_GROUPS_H
#define PRUNE_GROUPS_H

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PR_GROUP_FREE = 0,   /* its channels may be removed                     */
    PR_GROUP_INPUT = 1,  /* the network input's channels                    */
    PR_GROUP_OUTPUT = 2, /* the last layer's outputs (class scores)         */
    PR_GROUP_LAYOUT = 3  /* an add joins differently flattened tensors      */
} pr_group_fixed;

#define PR_MAX_GROUPS (NN_MAX_LAYERS + 1)

/* For a fixed group, channels and hw need not describe every member
 * tensor (a layout mismatch); they are only used for free groups. */
typedef struct {
    int n_groups;                /* group 0 is the network input's   */
    int group[NN_MAX_LAYERS];    /* node i's output tensor's group   */
    int hw[NN_MAX_LAYERS];       /* its features per group channel   */
    int channels[PR_MAX_GROUPS]; /* channels of group g              */
    pr_group_fixed fixed[PR_MAX_GROUPS];
} pr_groups;

/* Analyses m's layer graph. Fails (NN_ERR_ARG) only on an inconsistent
 * model, which nn_model_build does not produce. */
nn_status pr_groups_build(pr_groups *g, const nn_model *m, nn_error *err);

/* 1 when node i creates channels: conv2d or dense. */
int pr_is_producer(const nn_node *nd);

/* Group and features-per-channel of the tensor node i reads as `input`
 * (src = NN_INPUT_NODE for the network input). */
void pr_groups_source(const pr_groups *g, int src, int *group, int *hw);

/* "the network input", "the class scores", ... for messages. */
const char *pr_group_fixed_reason(pr_group_fixed f);

#ifdef __cplusplus
}
#endif

#endif
