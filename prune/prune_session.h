/* prune_session.h - pruning while training: the mask, the schedule and the
 * hook that nn_train calls after every optimizer step.
 *
 * Fine-tuning a pruned network reuses nn_train unchanged (data, augment,
 * optimizer, lr schedule); pruning only adds nn_train_hooks.after_step:
 *
 *     pr_session s;
 *     pr_session_init(&s, m, &final, &schedule, &err);   // (final: NULL = keep only)
 *     pr_session_step(&s, m, &opt, ts.step);              // step 0: before training
 *     hooks.after_step = pr_session_after_step; hooks.user = &s;
 *     nn_train(m, &opt, &ts, ...);
 *
 * pr_session_step(step) first updates the mask when the schedule has an
 * update at that step (magnitude pruning of the current weights towards
 * the schedule's sparsity at that step, each layer towards its own
 * target), then zeroes every pruned weight and its optimizer state. So the
 * weights the next forward pass sees are exactly zero where pruned, and
 * their momentum is zero too and cannot carry them off zero.
 *
 * The mask starts from the zeros of the model (pr_mask_init): a model that
 * was pruned before keeps its zeros through the fine-tuning. */
#ifndef PRUNE_SESSION_H
#define PRUNE_SESSION_H

#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "libnn/nn_optim.h"
#include "prune_magnitude.h"
#include "prune_mask.h"
#include "prune_schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    pr_mask mask;
    int magnitude;             /* 1: prune on the schedule; 0: hold the mask  */
    pr_magnitude_config final; /* the targets reached at schedule.end          */
    pr_schedule schedule;
    uint64_t *scratch;    /* (pr_magnitude_scratch)                       */
    int updates;          /* mask updates done so far                     */
    uint64_t last_update; /* step of the latest one                       */
} pr_session;

/* final == NULL: no pruning, the session only holds the mask of m's
 * zeros (fine-tuning after structured pruning); sched is then ignored and
 * may be NULL. Checks final against m (pr_magnitude_check). */
nn_status pr_session_init(pr_session *s, const nn_model *m, const pr_magnitude_config *final,
                          const pr_schedule *sched, nn_error *err);
void pr_session_free(pr_session *s);

/* The targets the schedule asks for after `step` steps. */
void pr_session_targets_at(const pr_session *s, uint64_t step, pr_magnitude_config *out);

/* Brings m (and opt, when non-NULL) to step `step`: mask update if one is
 * due, then pruned weights and their optimizer state set to zero. */
void pr_session_step(pr_session *s, nn_model *m, nn_optim *opt, uint64_t step);

/* nn_train_hooks.after_step with user = the pr_session. */
void pr_session_after_step(void *session, nn_model *m, nn_optim *opt, uint64_t step);

#ifdef __cplusplus
}
#endif

#endif
