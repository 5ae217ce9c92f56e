/* mstats.c - float activation memory and non-zero counts of models. */
#include "mstats.h"

uint64_t qm_op_nonzero(const qm_op *op)
{
    if ((op->type != QM_CONV2D && op->type != QM_DENSE) || !op->weights)
        return 0;
    uint64_t nz = 0;
    for (size_t k = 0; k < op->n_weights; k++)
        nz += op->weights[k] != 0;
    return nz;
}

uint64_t ms_count_nonzero(const float *p, size_t n)
{
    uint64_t nz = 0;
    for (size_t k = 0; k < n; k++)
        nz += p[k] != 0.0f;
    return nz;
}

size_t ms_float_activation_bytes(const nn_model *m)
{
    const int n = m->n_nodes;
    int consumers[NN_MAX_LAYERS] = {0};
    for (int i = 0; i < n; i++) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        if (l->input >= 0)
            consumers[l->input]++;
        if (l->type == NN_LAYER_ADD && l->input2 >= 0)
            consumers[l->input2]++;
    }
    /* buf[i]: the node whose buffer holds node i's output (-1: the input). */
    int buf[NN_MAX_LAYERS], last[NN_MAX_LAYERS + 1];
    for (int i = 0; i < n; i++) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        buf[i] = i;
        int src = l->input;
        int view = l->type == NN_LAYER_FLATTEN || l->type == NN_LAYER_DROPOUT;
        if (l->type == NN_LAYER_RELU && src >= 0 && consumers[src] == 1) {
            nn_layer_type t = m->nodes[src].spec.type;
            view = t == NN_LAYER_CONV2D || t == NN_LAYER_DENSE || t == NN_LAYER_BATCHNORM ||
                   t == NN_LAYER_ADD;
        }
        if (view)
            buf[i] = src >= 0 ? buf[src] : -1;
    }
    /* last[b + 1]: the last node reading buffer b; the output lives to the end. */
    for (int b = -1; b < n; b++)
        last[b + 1] = b;
    for (int i = 0; i < n; i++) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        int b = l->input >= 0 ? buf[l->input] : -1;
        if (last[b + 1] < i)
            last[b + 1] = i;
        if (l->type == NN_LAYER_ADD) {
            b = l->input2 >= 0 ? buf[l->input2] : -1;
            if (last[b + 1] < i)
                last[b + 1] = i;
        }
        if (buf[i] != i && last[buf[i] + 1] < i)
            last[buf[i] + 1] = i; /* a view keeps its buffer alive */
    }
    if (n > 0 && last[buf[n - 1] + 1] < n)
        last[buf[n - 1] + 1] = n;
    size_t in_bytes = (size_t)m->spec.in_c * m->spec.in_h * m->spec.in_w * sizeof(float);
    size_t peak = 0;
    for (int i = 0; i < n; i++) {
        size_t live = last[0] >= i ? in_bytes : 0;
        for (int b = 0; b <= i; b++)
            if (buf[b] == b && last[b + 1] >= i)
                live += m->nodes[b].out_size * sizeof(float);
        if (live > peak)
            peak = live;
    }
    return peak;
}
