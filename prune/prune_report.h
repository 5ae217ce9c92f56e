/* prune_report.h - what pruning did, layer by layer: output shape,
 * parameters, sparsity and multiply-accumulates, before and after.
 *
 * Both models must have the same layers (structured pruning changes only
 * widths). Definitions, per image and per layer:
 *   params     every float of the layer (weights, bias, batch-norm gamma
 *              and beta), zero or not;
 *   nonzero    those that are not 0.0f;
 *   weights    conv2d / dense weights (the prunable ones), zeros: of them 0;
 *   sparsity   zeros / weights;
 *   MACs       nn_node.macs, what a dense kernel computes;
 *   effective  MACs x density (1 - sparsity) for conv2d and dense: what a
 *              kernel that skips zero weights would compute; MACs for the
 *              other layers.
 * Only layers with parameters or MACs get a row (relu, dropout and flatten
 * cost nothing here); the totals sum every layer. */
#ifndef PRUNE_REPORT_H
#define PRUNE_REPORT_H

#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int c, h, w; /* output shape                            */
    uint64_t params, nonzero;
    uint64_t weights, zeros;
    uint64_t macs;
    double effective_macs;
} pr_layer_stats;

typedef struct {
    int node; /* layer index                             */
    nn_layer_type type;
    char name[NN_NAME_MAX];
    pr_layer_stats before, after;
} pr_report_row;

typedef struct {
    int n_rows;
    pr_report_row rows[NN_MAX_LAYERS];
    pr_layer_stats total_before, total_after; /* shapes: the network output */
} pr_report;

/* Fails (NN_ERR_ARG) when the two models do not have the same layers. */
nn_status pr_report_build(pr_report *r, const nn_model *before, const nn_model *after,
                          nn_error *err);

/* The statistics of node i of m. */
void pr_layer_stats_of(pr_layer_stats *s, const nn_model *m, int i);

/* zeros / weights (0 when the layer has no weights). */
double pr_stats_sparsity(const pr_layer_stats *s);

#ifdef __cplusplus
}
#endif

#endif
