#include "prune_channels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

nn_status pr_plan_init(pr_channel_plan *p, const nn_model *m, nn_error *err)
{
    memset(p, 0, sizeof *p);
    nn_status st = pr_groups_build(&p->groups, m, err);
    if (st != NN_OK)
        return st;
    size_t total = 0;
    for (int g = 0; g < p->groups.n_groups; g++) {
        p->off[g] = total;
        total += (size_t)p->groups.channels[g];
    }
    p->off[p->groups.n_groups] = total;
    p->keep = malloc(total ? total : 1);
    if (!p->keep)
        return nn_errorf(err, NN_ERR_NOMEM, "pruning: out of memory for %zu channel flags", total);
    memset(p->keep, 1, total);
    return NN_OK;
}

void pr_plan_free(pr_channel_plan *p)
{
    free(p->keep);
    memset(p, 0, sizeof *p);
}

int pr_plan_kept(const pr_channel_plan *p, int g)
{
    int k = 0;
    for (size_t c = p->off[g]; c < p->off[g + 1]; c++)
        k += p->keep[c];
    return k;
}

double pr_group_target(const pr_channel_plan *p, const nn_model *m, const pr_targets *t, int g)
{
    if (p->groups.fixed[g] != PR_GROUP_FREE)
        return PR_SKIP;
    double target = PR_SKIP;
    for (int i = 0; i < m->n_nodes; i++) {
        if (!pr_is_producer(&m->nodes[i]) || p->groups.group[i] != g)
            continue;
        double v = pr_target_of(t, i);
        if (v == PR_SKIP)
            return PR_SKIP;
        if (target == PR_SKIP || v < target)
            target = v;
    }
    return target;
}

/* The only reader of node i, or -1 when it has none or several. */
static int only_reader(const nn_model *m, int i)
{
    int reader = -1;
    for (int j = i + 1; j < m->n_nodes; j++) {
        const nn_layer_spec *l = &m->nodes[j].spec;
        int reads = (l->input == i) + (l->type == NN_LAYER_ADD && l->input2 == i);
        if (reads == 0)
            continue;
        if (reader >= 0 || reads > 1)
            return -1;
        reader = j;
    }
    return reader;
}

int pr_following_batchnorm(const nn_model *m, int i)
{
    for (int cur = i;;) {
        int j = only_reader(m, cur);
        if (j < 0)
            return -1;
        switch (m->nodes[j].spec.type) {
        case NN_LAYER_BATCHNORM:
            return j;
        case NN_LAYER_MAXPOOL:
        case NN_LAYER_AVGPOOL:
        case NN_LAYER_GLOBAL_AVGPOOL:
        case NN_LAYER_RELU:
        case NN_LAYER_RELU6:
        case NN_LAYER_DROPOUT:
            cur = j;
            break;
        default:
            return -1;
        }
    }
}

/* Raw score of each output channel of producer i into raw (out_c). */
static void producer_scores(double *raw, const nn_model *m, int i, pr_criterion crit)
{
    const nn_node *nd = &m->nodes[i];
    int bn = crit == PR_CRIT_AUTO ? pr_following_batchnorm(m, i) : -1;
    if (bn >= 0) {
        const float *gamma = m->params + m->nodes[bn].w.off;
        for (int c = 0; c < nd->out_c; c++)
            raw[c] = fabs((double)gamma[c]);
        return;
    }
    size_t fan = nd->w.n / (size_t)nd->out_c; /* weights per output channel */
    for (int c = 0; c < nd->out_c; c++) {
        const float *w = m->params + nd->w.off + (size_t)c * fan;
        double s = 0.0;
        for (size_t j = 0; j < fan; j++)
            s += fabs((double)w[j]);
        raw[c] = fan ? s / (double)fan : 0.0;
    }
}

void pr_channel_scores(double *scores, const nn_model *m, const pr_channel_plan *p,
                       pr_criterion crit)
{
    memset(scores, 0, p->off[p->groups.n_groups] * sizeof *scores);
    for (int i = 0; i < m->n_nodes; i++) {
        int g = p->groups.group[i];
        if (!pr_is_producer(&m->nodes[i]) || p->groups.fixed[g] != PR_GROUP_FREE)
            continue;
        double *s = scores + p->off[g];
        int n = p->groups.channels[g];
        double *raw = malloc((size_t)n * sizeof *raw);
        if (!raw) /* a score of 0 everywhere still gives a valid choice */
            continue;
        producer_scores(raw, m, i, crit);
        double mean = 0.0;
        for (int c = 0; c < n; c++)
            mean += isfinite(raw[c]) ? raw[c] : 0.0;
        mean /= n;
        for (int c = 0; c < n; c++)
            s[c] += isfinite(raw[c]) ? (mean > 0.0 ? raw[c] / mean : raw[c]) : INFINITY;
        free(raw);
    }
}

typedef struct {
    double score;
    int c;
} ranked;

static int by_score(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return (x->c > y->c) - (x->c < y->c);
}

nn_status pr_channel_select(pr_channel_plan *p, const nn_model *m, const pr_targets *t,
                            pr_criterion crit, nn_error *err)
{
    if (!(t->sparsity >= 0.0 && t->sparsity <= 1.0))
        return nn_errorf(err, NN_ERR_ARG, "pruning: channel fraction %g not in [0, 1]",
                         t->sparsity);
    for (int i = 0; i < m->n_nodes; i++) {
        double v = t->layer[i];
        if (v != PR_DEFAULT && v != PR_SKIP && !(v >= 0.0 && v <= 1.0))
            return nn_errorf(err, NN_ERR_ARG,
                             "pruning: layer %d: channel fraction %g not in [0, 1]", i, v);
    }
    size_t total = p->off[p->groups.n_groups];
    double *scores = malloc((total ? total : 1) * sizeof *scores);
    ranked *order = malloc((total ? total : 1) * sizeof *order);
    if (!scores || !order) {
        free(scores), free(order);
        return nn_errorf(err, NN_ERR_NOMEM, "pruning: out of memory for %zu channel scores", total);
    }
    pr_channel_scores(scores, m, p, crit);
    for (int g = 0; g < p->groups.n_groups; g++) {
        double target = pr_group_target(p, m, t, g);
        if (target == PR_SKIP)
            continue;
        int n = p->groups.channels[g], kept = pr_plan_kept(p, g);
        size_t want = pr_count_for(target, (size_t)n);
        if (want > (size_t)n - 1)
            want = (size_t)n - 1;
        size_t removed = (size_t)(n - kept);
        if (want <= removed)
            continue;
        int k = 0;
        for (int c = 0; c < n; c++)
            if (p->keep[p->off[g] + c])
                order[k++] = (ranked){scores[p->off[g] + c], c};
        qsort(order, (size_t)k, sizeof *order, by_score);
        for (size_t r = 0; r < want - removed; r++)
            p->keep[p->off[g] + order[r].c] = 0;
    }
    free(scores), free(order);
    return NN_OK;
}
