#include "prune_report.h"

#include <string.h>

#include "prune.h"

static uint64_t zeros_in(const float *p, size_t n)
{
    uint64_t z = 0;
    for (size_t i = 0; i < n; i++)
        z += p[i] == 0.0f;
    return z;
}

void pr_layer_stats_of(pr_layer_stats *s, const nn_model *m, int i)
{
    const nn_node *nd = &m->nodes[i];
    memset(s, 0, sizeof *s);
    s->c = nd->out_c, s->h = nd->out_h, s->w = nd->out_w;
    s->params = nd->w.n + nd->b.n;
    uint64_t zw = zeros_in(m->params + nd->w.off, nd->w.n);
    uint64_t zb = zeros_in(m->params + nd->b.off, nd->b.n);
    s->nonzero = s->params - zw - zb;
    if (pr_prunable(nd)) {
        s->weights = nd->w.n;
        s->zeros = zw;
    }
    s->macs = nd->macs;
    s->effective_macs = (double)nd->macs;
    if (s->weights)
        s->effective_macs *= (double)(s->weights - s->zeros) / (double)s->weights;
}

double pr_stats_sparsity(const pr_layer_stats *s)
{
    return s->weights ? (double)s->zeros / (double)s->weights : 0.0;
}

static void add_to(pr_layer_stats *t, const pr_layer_stats *s)
{
    t->params += s->params;
    t->nonzero += s->nonzero;
    t->weights += s->weights;
    t->zeros += s->zeros;
    t->macs += s->macs;
    t->effective_macs += s->effective_macs;
    t->c = s->c, t->h = s->h, t->w = s->w;
}

nn_status pr_report_build(pr_report *r, const nn_model *before, const nn_model *after,
                          nn_error *err)
{
    memset(r, 0, sizeof *r);
    if (before->n_nodes != after->n_nodes)
        return nn_errorf(err, NN_ERR_ARG, "pruning report: %d layers before, %d after",
                         before->n_nodes, after->n_nodes);
    for (int i = 0; i < before->n_nodes; i++) {
        if (before->nodes[i].spec.type != after->nodes[i].spec.type)
            return nn_errorf(err, NN_ERR_ARG, "pruning report: layer %d changed type", i);
        pr_report_row row = {.node = i, .type = before->nodes[i].spec.type};
        memcpy(row.name, before->nodes[i].spec.name, sizeof row.name);
        pr_layer_stats_of(&row.before, before, i);
        pr_layer_stats_of(&row.after, after, i);
        add_to(&r->total_before, &row.before);
        add_to(&r->total_after, &row.after);
        if (row.before.params || row.before.macs)
            r->rows[r->n_rows++] = row;
    }
    return NN_OK;
}
