#include "prune_magnitude.h"

#include <math.h>
#include <string.h>

/* Key of weight `idx` (its index in the parameter buffer, < 2^31): pruned
 * weights (kept == 0) come first, in index order; then the kept ones by
 * magnitude (times scale, in double, rounded to float), ties by index. The
 * magnitude's IEEE bits order like the values for non-negative floats; +1
 * keeps them above the pruned ones (infinity and NaN sort last, so such a
 * weight is never chosen). Distinct indices make distinct keys, so "the k
 * smallest keys" is one well-defined set. */
static inline uint64_t weight_key(float w, double scale, int kept, size_t idx)
{
    if (!kept)
        return (uint64_t)idx;
    float a = (float)(fabs((double)w) * scale);
    uint32_t bits;
    memcpy(&bits, &a, sizeof bits);
    bits &= 0x7fffffffu;
    return (((uint64_t)bits + 1) << 32) | (uint64_t)idx;
}

uint64_t pr_select_kth(uint64_t *keys, size_t n, size_t k)
{
    /* MSD radix select, one byte per pass: keep only the bucket holding the
     * k-th key. Eight passes at most, each a count and a compaction. */
    for (int shift = 56; shift >= 0 && n > 1; shift -= 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(keys[i] >> shift) & 255]++;
        size_t below = 0;
        int b = 0;
        while (below + count[b] < k)
            below += count[b++];
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if ((int)((keys[i] >> shift) & 255) == b)
                keys[m++] = keys[i];
        n = m;
        k -= below;
    }
    return keys[0];
}

/* 1 / rms of the unpruned finite weights of node nd (1 when there are
 * none or all are 0). In double, where neither the squares of floats (up
 * to 1.2e77) nor the inverse of a denormal rms (up to 7e44) overflow; a
 * score |w| * scale is then at most sqrt(n), a float whatever the weights. */
static double rms_scale(const pr_mask *mk, const nn_model *m, const nn_node *nd)
{
    double sum = 0.0;
    size_t n = 0;
    for (size_t j = 0; j < nd->w.n; j++)
        if (mk->keep[nd->w.off + j] && isfinite(m->params[nd->w.off + j])) {
            double w = m->params[nd->w.off + j];
            sum += w * w;
            n++;
        }
    if (n == 0 || !(sum > 0.0))
        return 1.0;
    return 1.0 / sqrt(sum / (double)n);
}

/* Prunes the weights of the nodes in `pool` (with per-node scales) so that
 * exactly max(k, already pruned) of them are pruned. */
static void prune_pool(pr_mask *mk, nn_model *m, const int *pool, const double *scale, int n_pool,
                       size_t k, uint64_t *scratch)
{
    size_t n = 0, already = 0;
    for (int p = 0; p < n_pool; p++) {
        const nn_node *nd = &m->nodes[pool[p]];
        n += nd->w.n;
        already += pr_mask_pruned(mk, nd->w.off, nd->w.n);
    }
    if (k <= already || n == 0)
        return;
    size_t o = 0;
    for (int p = 0; p < n_pool; p++) {
        const nn_node *nd = &m->nodes[pool[p]];
        for (size_t j = 0, i = nd->w.off; j < nd->w.n; j++, i++)
            scratch[o++] = weight_key(m->params[i], scale[p], mk->keep[i], i);
    }
    uint64_t threshold = pr_select_kth(scratch, n, k);
    for (int p = 0; p < n_pool; p++) {
        const nn_node *nd = &m->nodes[pool[p]];
        for (size_t j = 0, i = nd->w.off; j < nd->w.n; j++, i++)
            if (weight_key(m->params[i], scale[p], mk->keep[i], i) <= threshold) {
                mk->keep[i] = 0;
                m->params[i] = 0.0f;
            }
    }
}

size_t pr_magnitude_scratch(const nn_model *m)
{
    size_t n = pr_prunable_count(m);
    return n ? n : 1;
}

static int valid_target(double v) { return v >= 0.0 && v <= 1.0; }

nn_status pr_magnitude_check(const pr_magnitude_config *c, const nn_model *m, nn_error *err)
{
    if (c->scope != PR_SCOPE_LAYER && c->scope != PR_SCOPE_GLOBAL)
        return nn_errorf(err, NN_ERR_ARG, "pruning: unknown scope %d", (int)c->scope);
    if (c->norm != PR_NORM_NONE && c->norm != PR_NORM_RMS)
        return nn_errorf(err, NN_ERR_ARG, "pruning: unknown normalization %d", (int)c->norm);
    if (!valid_target(c->targets.sparsity))
        return nn_errorf(err, NN_ERR_ARG, "pruning: target sparsity %g not in [0, 1]",
                         c->targets.sparsity);
    for (int i = 0; i < m->n_nodes; i++) {
        double v = c->targets.layer[i];
        if (v == PR_DEFAULT || v == PR_SKIP)
            continue;
        if (!valid_target(v))
            return nn_errorf(err, NN_ERR_ARG, "pruning: layer %d: target sparsity %g not in [0, 1]",
                             i, v);
        if (!pr_prunable(&m->nodes[i]))
            return nn_errorf(err, NN_ERR_ARG, "pruning: layer %d (%s) has no weights to prune", i,
                             nn_layer_type_name(m->nodes[i].spec.type));
    }
    return NN_OK;
}

nn_status pr_magnitude_prune(pr_mask *mk, nn_model *m, const pr_magnitude_config *c,
                             uint64_t *scratch, nn_error *err)
{
    nn_status st = pr_magnitude_check(c, m, err);
    if (st != NN_OK)
        return st;
    if (mk->n != m->n_params)
        return nn_errorf(err, NN_ERR_ARG,
                         "pruning: the mask has %zu flags, the model %zu parameters", mk->n,
                         m->n_params);
    int pool[NN_MAX_LAYERS], n_pool = 0;
    double scale[NN_MAX_LAYERS];
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        double v = c->targets.layer[i];
        if (!pr_prunable(nd) || v == PR_SKIP)
            continue;
        if (v == PR_DEFAULT && c->scope == PR_SCOPE_GLOBAL) {
            scale[n_pool] = c->norm == PR_NORM_RMS ? rms_scale(mk, m, nd) : 1.0;
            pool[n_pool++] = i;
            continue;
        }
        double one = 1.0;
        prune_pool(mk, m, &i, &one, 1, pr_count_for(pr_target_of(&c->targets, i), nd->w.n),
                   scratch);
    }
    if (n_pool > 0) {
        size_t n = 0;
        for (int p = 0; p < n_pool; p++)
            n += m->nodes[pool[p]].w.n;
        prune_pool(mk, m, pool, scale, n_pool, pr_count_for(c->targets.sparsity, n), scratch);
    }
    /* Weights pruned earlier may have drifted (an optimizer step since). */
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (pr_prunable(nd))
            for (size_t j = nd->w.off; j < nd->w.off + nd->w.n; j++)
                if (!mk->keep[j])
                    m->params[j] = 0.0f;
    }
    return NN_OK;
}
