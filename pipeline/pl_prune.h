/* pl_prune.h - pruning as a library call: a trained checkpoint and a
 * config with a prune block in, a pruned (and fine-tuned) checkpoint out,
 * with the test accuracy before and after and the per-layer report. What
 * `iotcnn prune` runs.
 *
 * magnitude:  unstructured masks, one-shot or gradual; fine-tuning (if
 *             configured) runs the pipeline's training loop (pl_fit.h) with
 *             a step hook that keeps pruned weights and their optimizer
 *             state at zero.
 * structured: whole channels removed, giving a smaller dense model;
 *             fine-tuning then only keeps the zeros the model already had. */
#ifndef PL_PRUNE_H
#define PL_PRUNE_H

#include <stdint.h>

#include "prune/prune_report.h"
#include "config/cfg_prune.h"
#include "pl_progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *config; /* the config the model was trained with + a prune block */
    const char *model;  /* checkpoint to prune                                   */
    const char *output; /* pruned checkpoint to write (atomically)               */
    int epochs;         /* fine-tuning epochs; -1: prune.finetune.epochs         */
    int limit;          /* 0: data.limit                                         */
    int threads;
} pl_prune_opts;

typedef struct {
    cfg_prune prune;            /* the config's prune block, as run          */
    int epochs;                 /* fine-tuning epochs run                    */
    int mask_updates;           /* magnitude: mask updates made              */
    nn_eval_result before, after;
    pr_report *report;          /* per layer, before and after               */
    uint64_t out_bytes;         /* size of the written checkpoint            */
} pl_prune_result;

nn_status pl_prune(const pl_prune_opts *o, const pl_progress *p, pl_prune_result *r,
                   nn_error *err);
void pl_prune_result_free(pl_prune_result *r);

#ifdef __cplusplus
}
#endif

#endif
