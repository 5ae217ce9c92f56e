/* prune_magnitude.h - unstructured magnitude pruning: the smallest weights
 * go first.
 *
 * Scope "layer": every prunable layer (conv2d, dense) loses exactly
 * round(target * its weights) weights, its own target or the default.
 * Scope "global": the layers that follow the default share one threshold:
 * together they lose exactly round(default * their weights), wherever the
 * smallest magnitudes are (large dense layers usually lose the most).
 * Layers with an own target are pruned on their own as in scope "layer";
 * skipped layers are left alone in both scopes.
 *
 * Global normalization "rms" compares |w| / rms(layer) instead of |w|, rms
 * being the root mean square of the layer's unpruned weights, so that a
 * layer with small weights overall (a wide fan-in) is not emptied first.
 * The score is computed in double and rounded to float: it never
 * overflows (it is at most sqrt(weights)), whatever the magnitudes, from
 * denormals to +-FLT_MAX. Weights that are infinite or NaN (which no valid
 * checkpoint holds) are left out of the rms and never pruned.
 *
 * Already pruned weights (mask flag 0) count towards a layer's target and
 * stay pruned, whatever their value; if a layer already has more pruned
 * weights than its target asks for, nothing more is pruned there.
 *
 * Ties are broken deterministically: among equal magnitudes the weight with
 * the lower index in the parameter buffer is pruned first. So the counts
 * are exact and the result depends only on the weights. Selection is a
 * radix select over 64-bit keys (magnitude bits, index): O(n), no sort. */
#ifndef PRUNE_MAGNITUDE_H
#define PRUNE_MAGNITUDE_H

#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "prune.h"
#include "prune_mask.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stored in reports: explicit values. */
typedef enum { PR_SCOPE_LAYER = 1, PR_SCOPE_GLOBAL = 2 } pr_scope;
typedef enum { PR_NORM_NONE = 0, PR_NORM_RMS = 1 } pr_norm;

typedef struct {
    pr_scope scope;
    pr_norm norm; /* global scope only                              */
    pr_targets targets;
} pr_magnitude_config;

/* uint64_t elements of scratch pr_magnitude_prune needs (>= 1). */
size_t pr_magnitude_scratch(const nn_model *m);

/* Checks the config against m: the scope, targets in [0, 1] or the
 * PR_DEFAULT / PR_SKIP markers, own targets only on prunable layers. */
nn_status pr_magnitude_check(const pr_magnitude_config *c, const nn_model *m, nn_error *err);

/* Prunes m to the targets: marks the chosen weights in mk (which must be a
 * mask of m), then sets every pruned weight, old or new, to 0.0f. Never
 * fails once pr_magnitude_check has passed (it is called again here). */
nn_status pr_magnitude_prune(pr_mask *mk, nn_model *m, const pr_magnitude_config *c,
                             uint64_t *scratch, nn_error *err);

/* The k-th smallest (1-based, 1 <= k <= n) of n distinct keys. Reorders
 * keys. Exposed for tests. */
uint64_t pr_select_kth(uint64_t *keys, size_t n, size_t k);

#ifdef __cplusplus
}
#endif

#endif
