#include "prune_mask.h"

#include <stdlib.h>
#include <string.h>

#include "prune.h"

nn_status pr_mask_init(pr_mask *mk, const nn_model *m, nn_error *err)
{
    mk->n = m->n_params;
    mk->keep = malloc(m->n_params ? m->n_params : 1);
    if (!mk->keep)
        return nn_errorf(err, NN_ERR_NOMEM, "pruning: out of memory for a mask of %zu parameters",
                         m->n_params);
    memset(mk->keep, 1, m->n_params);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (!pr_prunable(nd))
            continue;
        const float *w = m->params + nd->w.off;
        uint8_t *k = mk->keep + nd->w.off;
        for (size_t j = 0; j < nd->w.n; j++)
            k[j] = w[j] != 0.0f; /* -0.0f == 0.0f */
    }
    return NN_OK;
}

void pr_mask_free(pr_mask *mk)
{
    free(mk->keep);
    mk->keep = NULL;
    mk->n = 0;
}

void pr_mask_apply(const pr_mask *mk, float *params)
{
    for (size_t i = 0; i < mk->n; i++)
        if (!mk->keep[i])
            params[i] = 0.0f;
}

void pr_mask_apply_optim(const pr_mask *mk, nn_optim *opt)
{
    size_t n = mk->n < opt->n ? mk->n : opt->n;
    for (size_t i = 0; i < n; i++)
        if (!mk->keep[i]) {
            opt->m[i] = 0.0f;
            if (opt->v)
                opt->v[i] = 0.0f;
        }
}

size_t pr_mask_pruned(const pr_mask *mk, size_t off, size_t n)
{
    size_t c = 0;
    for (size_t i = off; i < off + n && i < mk->n; i++)
        c += !mk->keep[i];
    return c;
}

size_t pr_mask_pruned_total(const pr_mask *mk, const nn_model *m)
{
    size_t c = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (pr_prunable(&m->nodes[i]))
            c += pr_mask_pruned(mk, m->nodes[i].w.off, m->nodes[i].w.n);
    return c;
}
