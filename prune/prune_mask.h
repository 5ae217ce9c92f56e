/* prune_mask.h - which parameters are pruned, and keeping them at zero.
 *
 * A mask has one flag per parameter of a model, in the model's flat layout
 * (nn_model.h): keep[i] = 0 means params[i] is pruned and must stay exactly
 * 0.0f. Outside the prunable spans (conv2d and dense weights, prune.h) every
 * flag is 1. A mask only ever grows: nothing un-prunes a weight.
 *
 * During training a pruned weight still receives a gradient, so the
 * optimizer would move it off zero and its momentum would build up. The fix
 * is applied after every optimizer step (nn_train_hooks.after_step):
 * pr_mask_apply zeroes the pruned weights and pr_mask_apply_optim zeroes
 * their optimizer state (SGD velocity; AdamW first and second moments), so
 * the next step starts for them from exactly where a fresh run would. */
#ifndef PRUNE_MASK_H
#define PRUNE_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "libnn/nn_optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t n;      /* the model's n_params                              */
    uint8_t *keep; /* (n) 1 = kept, 0 = pruned                          */
} pr_mask;

/* A mask for m that prunes exactly the prunable weights that are already
 * 0.0f (or -0.0f): the zeros of an already pruned model stay pruned. */
nn_status pr_mask_init(pr_mask *mk, const nn_model *m, nn_error *err);
void pr_mask_free(pr_mask *mk);

/* params[i] = 0.0f wherever keep[i] == 0 (params has mk->n floats). */
void pr_mask_apply(const pr_mask *mk, float *params);

/* Zeroes opt->m (and opt->v for AdamW) wherever keep[i] == 0; opt must
 * have mk->n parameters. */
void pr_mask_apply_optim(const pr_mask *mk, nn_optim *opt);

/* Pruned flags in [off, off + n). */
size_t pr_mask_pruned(const pr_mask *mk, size_t off, size_t n);

/* Pruned flags over all prunable spans of m. */
size_t pr_mask_pruned_total(const pr_mask *mk, const nn_model *m);

#ifdef __cplusplus
}
#endif

#endif
