#include "prune.h"

#include <math.h>

void pr_targets_init(pr_targets *t, double sparsity)
{
    t->sparsity = sparsity;
    for (int i = 0; i < NN_MAX_LAYERS; i++)
        t->layer[i] = PR_DEFAULT;
}

double pr_target_of(const pr_targets *t, int i)
{
    double v = t->layer[i];
    return v == PR_DEFAULT ? t->sparsity : v;
}

int pr_prunable(const nn_node *nd)
{
    return (nd->spec.type == NN_LAYER_CONV2D || nd->spec.type == NN_LAYER_DENSE) && nd->w.n > 0;
}

size_t pr_prunable_count(const nn_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (pr_prunable(&m->nodes[i]))
            n += m->nodes[i].w.n;
    return n;
}

size_t pr_count_for(double fraction, size_t n)
{
    if (!(fraction > 0.0))
        return 0;
    if (fraction >= 1.0)
        return n;
    /* floor(x + 0.5) in double: exact for every n below 2^52. */
    size_t k = (size_t)floor(fraction * (double)n + 0.5);
    return k > n ? n : k;
}
