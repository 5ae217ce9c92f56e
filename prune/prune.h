/* prune.h - what the pruning modules share: which parameters can be pruned
 * and how a run says how much to prune each layer.
 *
 * Pruning works on the flat parameter layout of nn_model (nn_model.h). Only
 * the weights of conv2d and dense layers are ever pruned; biases and
 * batch-norm parameters never are (they are few and cheap, and zeroing a
 * bias or a gamma removes a whole channel's signal, which is the job of
 * structured pruning).
 *
 * The modules, one job each:
 *   prune_mask.h       a keep/prune flag per parameter; applying it
 *   prune_magnitude.h  unstructured magnitude pruning, per layer or global
 *   prune_schedule.h   the gradual (Zhu & Gupta) sparsity schedule
 *   prune_session.h    pruning during fine-tuning (the nn_train hook)
 *   prune_groups.h     which channels are tied together (residual adds)
 *   prune_channels.h   structured pruning: ranking and choosing channels
 *   prune_shrink.h     zeroing chosen channels, or removing them for real
 *   prune_report.h     per-layer parameters, sparsity and MACs, before/after */
#ifndef PRUNE_H
#define PRUNE_H

#include "libnn/nn_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-layer targets: a layer follows the run's default, is skipped, or has
 * its own target (a value in [0, 1]). */
#define PR_DEFAULT (-1.0)
#define PR_SKIP (-2.0)

typedef struct {
    double sparsity;             /* the default target, in [0, 1]       */
    double layer[NN_MAX_LAYERS]; /* per node: PR_DEFAULT, PR_SKIP or an
                                    own target in [0, 1]                */
} pr_targets;

/* Every layer PR_DEFAULT. */
void pr_targets_init(pr_targets *t, double sparsity);

/* The target of node i: its own, the default, or PR_SKIP. */
double pr_target_of(const pr_targets *t, int i);

/* 1 when node i's weights (its w span) may be pruned: conv2d and dense. */
int pr_prunable(const nn_node *nd);

/* Number of prunable weights in m (the sum of their w spans). */
size_t pr_prunable_count(const nn_model *m);

/* round(fraction * n), the count a target asks for; fraction in [0, 1]. */
size_t pr_count_for(double fraction, size_t n);

#ifdef __cplusplus
}
#endif

#endif
