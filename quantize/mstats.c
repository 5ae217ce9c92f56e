/* mstats.c - float activation memory and non-zero counts of models. */
#include "mstats.h"

#include "libnn/nn_graph.h"

uint64_t qm_op_nonzero(const qm_op *op)
{
    if (!qm_is_weighted(op->type) || !op->weights)
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
    if (m->n_nodes < 1)
        return 0;
    nn_graph g;
    nn_arena_buf bufs[NN_MAX_LAYERS + 1];
    nn_graph_analyze(&g, m);
    int nb = nn_graph_buffers(&g, m, sizeof(float), bufs);
    return (size_t)nn_arena_lower_bound(bufs, nb, NULL, m->n_nodes);
}
