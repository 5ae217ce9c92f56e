#include "prune_shrink.h"

#include <stdlib.h>
#include <string.h>

/* Channels of node i's output tensor (the input's for NN_INPUT_NODE). */
static size_t tensor_channels(const nn_model *m, int i)
{
    return i < 0 ? (size_t)m->spec.in_c : (size_t)m->nodes[i].out_c;
}

size_t pr_tensor_kept(const pr_channel_plan *p, const nn_model *m, int i, size_t per, int *idx)
{
    int g, hw;
    pr_groups_source(&p->groups, i, &g, &hw);
    size_t n = 0;
    if (p->groups.fixed[g] != PR_GROUP_FREE) {
        size_t all = tensor_channels(m, i) * per;
        for (size_t j = 0; j < all; j++)
            idx[n++] = (int)j;
        return n;
    }
    size_t span = (size_t)hw * per; /* entries per group channel */
    for (int c = 0; c < p->groups.channels[g]; c++)
        if (p->keep[p->off[g] + (size_t)c])
            for (size_t s = 0; s < span; s++)
                idx[n++] = (int)((size_t)c * span + s);
    return n;
}

/* 1 when channel j of node i's output tensor is removed. */
static int removed(const pr_channel_plan *p, int i, size_t j)
{
    int g, hw;
    pr_groups_source(&p->groups, i, &g, &hw);
    return p->groups.fixed[g] == PR_GROUP_FREE && !p->keep[p->off[g] + j / (size_t)hw];
}

void pr_channels_zero(nn_model *m, const pr_channel_plan *p)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (pr_is_producer(nd)) {
            size_t fan = nd->w.n / (size_t)nd->out_c;
            for (size_t c = 0; c < (size_t)nd->out_c; c++) {
                if (!removed(p, i, c))
                    continue;
                memset(m->params + nd->w.off + c * fan, 0, fan * sizeof(float));
                if (nd->b.n)
                    m->params[nd->b.off + c] = 0.0f;
            }
        } else if (nd->spec.type == NN_LAYER_BATCHNORM) {
            for (size_t c = 0; c < (size_t)nd->out_c; c++)
                if (removed(p, nd->spec.input, c))
                    m->params[nd->w.off + c] = m->params[nd->b.off + c] = 0.0f;
        } else if (nd->spec.type == NN_LAYER_DEPTHWISE_CONV2D) {
            /* Channel c filters only input channel c: it goes with it. */
            size_t k2 = (size_t)nd->spec.kernel * (size_t)nd->spec.kernel;
            for (size_t c = 0; c < (size_t)nd->out_c; c++) {
                if (!removed(p, nd->spec.input, c))
                    continue;
                memset(m->params + nd->w.off + c * k2, 0, k2 * sizeof(float));
                if (nd->b.n)
                    m->params[nd->b.off + c] = 0.0f;
            }
        }
    }
}

static nn_status mismatch(nn_error *err, int i, const char *what, size_t got, size_t want)
{
    return nn_errorf(
        err, NN_ERR_ARG,
        "pruning: layer %d: %zu kept %s, but the smaller layer has %zu (internal error)", i, got,
        what, want);
}

/* Copies node i's parameters and state from m to out through the kept
 * index lists (in_idx: input channels or columns; out_idx: outputs). */
static nn_status copy_node(nn_model *out, const nn_model *m, const pr_channel_plan *p, int i,
                           int *in_idx, int *out_idx, nn_error *err)
{
    const nn_node *a = &m->nodes[i], *b = &out->nodes[i];
    int src = a->spec.input;
    switch (a->spec.type) {
    case NN_LAYER_CONV2D: {
        size_t ni = pr_tensor_kept(p, m, src, 1, in_idx), no = pr_tensor_kept(p, m, i, 1, out_idx);
        if (ni != (size_t)b->in_c)
            return mismatch(err, i, "input channels", ni, (size_t)b->in_c);
        if (no != (size_t)b->out_c)
            return mismatch(err, i, "filters", no, (size_t)b->out_c);
        size_t k2 = (size_t)a->spec.kernel * (size_t)a->spec.kernel;
        /* w (out_c, in_c, k, k): one k*k kernel per (output, input) pair. */
        for (size_t o = 0; o < no; o++)
            for (size_t c = 0; c < ni; c++)
                memcpy(out->params + b->w.off + (o * ni + c) * k2,
                       m->params + a->w.off +
                           ((size_t)out_idx[o] * (size_t)a->in_c + (size_t)in_idx[c]) * k2,
                       k2 * sizeof(float));
        for (size_t o = 0; o < no && b->b.n; o++)
            out->params[b->b.off + o] = m->params[a->b.off + (size_t)out_idx[o]];
        return NN_OK;
    }
    case NN_LAYER_DENSE: {
        size_t per = (size_t)a->in_h * (size_t)a->in_w;
        size_t ni = pr_tensor_kept(p, m, src, per, in_idx),
               no = pr_tensor_kept(p, m, i, 1, out_idx);
        if (ni != b->in_size)
            return mismatch(err, i, "input columns", ni, b->in_size);
        if (no != (size_t)b->out_c)
            return mismatch(err, i, "units", no, (size_t)b->out_c);
        /* w (units, in_size) */
        for (size_t o = 0; o < no; o++) {
            const float *row = m->params + a->w.off + (size_t)out_idx[o] * a->in_size;
            float *dst = out->params + b->w.off + o * ni;
            for (size_t c = 0; c < ni; c++)
                dst[c] = row[in_idx[c]];
        }
        for (size_t o = 0; o < no && b->b.n; o++)
            out->params[b->b.off + o] = m->params[a->b.off + (size_t)out_idx[o]];
        return NN_OK;
    }
    case NN_LAYER_DEPTHWISE_CONV2D: {
        /* w (c, k, k), b (c): the kept input channels' filters. */
        size_t n = pr_tensor_kept(p, m, src, 1, in_idx);
        if (n != (size_t)b->out_c)
            return mismatch(err, i, "channels", n, (size_t)b->out_c);
        size_t k2 = (size_t)a->spec.kernel * (size_t)a->spec.kernel;
        for (size_t c = 0; c < n; c++) {
            memcpy(out->params + b->w.off + c * k2, m->params + a->w.off + (size_t)in_idx[c] * k2,
                   k2 * sizeof(float));
            if (b->b.n)
                out->params[b->b.off + c] = m->params[a->b.off + (size_t)in_idx[c]];
        }
        return NN_OK;
    }
    case NN_LAYER_BATCHNORM: {
        size_t n = pr_tensor_kept(p, m, src, 1, in_idx), ca = (size_t)a->out_c;
        if (n != (size_t)b->out_c)
            return mismatch(err, i, "channels", n, (size_t)b->out_c);
        for (size_t c = 0; c < n; c++) {
            size_t j = (size_t)in_idx[c];
            out->params[b->w.off + c] = m->params[a->w.off + j];              /* gamma */
            out->params[b->b.off + c] = m->params[a->b.off + j];              /* beta  */
            out->state[b->stat.off + c] = m->state[a->stat.off + j];          /* mean */
            out->state[b->stat.off + n + c] = m->state[a->stat.off + ca + j]; /* var  */
        }
        return NN_OK;
    }
    default:
        return NN_OK; /* no parameters */
    }
}

nn_status pr_channels_shrink(nn_model *out, const nn_model *m, const pr_channel_plan *p,
                             nn_error *err)
{
    memset(out, 0, sizeof *out);
    nn_model_spec *spec = malloc(sizeof *spec);
    if (!spec)
        return nn_errorf(err, NN_ERR_NOMEM, "pruning: out of memory");
    *spec = m->spec;
    size_t biggest = (size_t)m->spec.in_c;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        biggest = nd->in_size > biggest ? nd->in_size : biggest;
        biggest = nd->out_size > biggest ? nd->out_size : biggest;
        int g = p->groups.group[i];
        if (!pr_is_producer(nd) || p->groups.fixed[g] != PR_GROUP_FREE)
            continue;
        int kept = pr_plan_kept(p, g);
        if (nd->spec.type == NN_LAYER_CONV2D)
            spec->layers[i].out_channels = kept;
        else
            spec->layers[i].units = kept;
    }
    nn_status st = nn_model_build(out, spec, err);
    free(spec);
    if (st != NN_OK) {
        nn_error_prefix(err, "pruning: the smaller model");
        return st;
    }
    memcpy(out->mean, m->mean, sizeof out->mean);
    memcpy(out->std, m->std, sizeof out->std);
    int *in_idx = malloc(biggest * sizeof *in_idx), *out_idx = malloc(biggest * sizeof *out_idx);
    if (!in_idx || !out_idx)
        st = nn_errorf(err, NN_ERR_NOMEM, "pruning: out of memory for index lists");
    for (int i = 0; i < m->n_nodes && st == NN_OK; i++)
        st = copy_node(out, m, p, i, in_idx, out_idx, err);
    free(in_idx), free(out_idx);
    if (st != NN_OK)
        nn_model_free(out);
    return st;
}
