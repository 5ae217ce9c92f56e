/* prune_channels.h - structured pruning: which channels of each group go.
 *
 * A plan holds one keep flag per channel of every group (prune_groups.h);
 * prune_shrink.h then removes the channels that are not kept, or zeroes
 * them in place.
 *
 * Ranking. Each producer (conv2d or dense) of a group scores its channels:
 *   - criterion "auto": |gamma| of the batch norm that normalizes the
 *     producer's output, when one does (directly, or after pools, relu or
 *     dropout, with nothing else reading the chain). Batch norm makes a
 *     channel's output independent of its filter's scale, so the filter's
 *     norm says nothing there; gamma is the scale the channel really has
 *     (as in "network slimming", Liu et al. 2017). Without such a batch
 *     norm: the L1 norm of the filter divided by its size (mean |w|).
 *   - criterion "l1": the filter's mean |w| always.
 * A producer's scores are divided by their mean over its channels, so that
 * producers of one group (tied by residual adds) weigh the same, and the
 * group's score of channel c is the sum over its producers. The channels
 * with the lowest scores are removed; ties go to the lower channel index
 * first, so the choice depends only on the weights.
 *
 * Amount. A group loses round(target * channels) channels, at most all but
 * one, where its target is the lowest of its producers' targets (PR_SKIP
 * on any producer keeps the whole group). Fixed groups (the input, the
 * class scores, ...) are never pruned. */
#ifndef PRUNE_CHANNELS_H
#define PRUNE_CHANNELS_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "prune.h"
#include "prune_groups.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PR_CRIT_AUTO = 0, PR_CRIT_L1 = 1 } pr_criterion;

typedef struct {
    pr_groups groups;
    size_t off[PR_MAX_GROUPS + 1]; /* group g's flags: keep[off[g] .. off[g + 1]) */
    uint8_t *keep;                 /* 1 = the channel stays                     */
} pr_channel_plan;

/* Analyses m and keeps every channel. */
nn_status pr_plan_init(pr_channel_plan *p, const nn_model *m, nn_error *err);
void pr_plan_free(pr_channel_plan *p);

/* Channels of group g that are kept. */
int pr_plan_kept(const pr_channel_plan *p, int g);

/* The target of group g under t: the lowest of its producers', PR_SKIP if
 * one is skipped; PR_SKIP for a fixed group or one without producers. */
double pr_group_target(const pr_channel_plan *p, const nn_model *m, const pr_targets *t, int g);

/* The batch norm that normalizes producer i's output as described above,
 * or -1. */
int pr_following_batchnorm(const nn_model *m, int i);

/* Scores of every channel of every group, in the plan's flag layout
 * (scores has p->off[n_groups] entries; fixed groups get 0). */
void pr_channel_scores(double *scores, const nn_model *m, const pr_channel_plan *p,
                       pr_criterion crit);

/* Marks the channels to remove in p (from all-kept or an earlier plan:
 * already removed channels stay removed and count towards the target).
 * Fails on a target outside [0, 1) (NN_ERR_ARG). */
nn_status pr_channel_select(pr_channel_plan *p, const nn_model *m, const pr_targets *t,
                            pr_criterion crit, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
