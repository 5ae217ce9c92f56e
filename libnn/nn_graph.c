/* nn_graph.c - readers, liveness, in-place ReLUs and buffer lifetimes of a
 * built model (nn_graph.h). */
#include "nn_graph.h"

#include <string.h>

/* The layers layer l reads: its input and, for add, the second one (-1:
 * the network input; NN_INPUT_NODE - 1: none). */
static int second_input(const nn_layer_spec *l)
{
    return l->type == NN_LAYER_ADD ? l->input2 : NN_INPUT_NODE - 1;
}

static void count_readers(nn_graph *g, const nn_model *m)
{
    for (int i = 0; i < g->n; i++) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        if (l->input >= 0)
            g->readers[l->input]++;
        if (second_input(l) >= 0)
            g->readers[second_input(l)]++;
    }
}

/* Backwards from the output: a layer is live when a live layer reads it. */
static void mark_live(nn_graph *g, const nn_model *m)
{
    g->live[g->n - 1] = 1;
    for (int i = g->n - 1; i >= 0; i--) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        if (!g->live[i])
            continue;
        if (l->input >= 0)
            g->live[l->input] = 1;
        if (second_input(l) >= 0)
            g->live[second_input(l)] = 1;
    }
}

/* A ReLU or ReLU6 whose input is a conv, depthwise conv, dense, batch-norm
 * or add layer read by nothing else runs in place on that layer's output. */
static void find_inplace_relus(nn_graph *g, const nn_model *m)
{
    for (int i = 0; i < g->n; i++) {
        int src = m->nodes[i].spec.input;
        nn_layer_type self = m->nodes[i].spec.type;
        g->relu_on[i] = -1;
        if ((self != NN_LAYER_RELU && self != NN_LAYER_RELU6) || src < 0 || g->readers[src] != 1)
            continue;
        nn_layer_type t = m->nodes[src].spec.type;
        if (t == NN_LAYER_CONV2D || t == NN_LAYER_DENSE || t == NN_LAYER_BATCHNORM ||
            t == NN_LAYER_ADD || t == NN_LAYER_DEPTHWISE_CONV2D)
            g->relu_on[i] = src;
    }
}

static void raise_last(nn_graph *g, int b, int i)
{
    if (g->last[b + 1] < i)
        g->last[b + 1] = i;
}

/* Inference buffers: views share their input's; a buffer lives until its
 * last reader (or view) has run, the output's to the end. */
static void plan_buffers(nn_graph *g, const nn_model *m)
{
    const int n = g->n;
    for (int i = 0; i < n; i++) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        int view = l->type == NN_LAYER_FLATTEN || l->type == NN_LAYER_DROPOUT || g->relu_on[i] >= 0;
        g->buffer[i] = !view ? i : l->input >= 0 ? g->buffer[l->input] : -1;
    }
    for (int b = -1; b < n; b++)
        g->last[b + 1] = b;
    for (int i = 0; i < n; i++) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        raise_last(g, l->input >= 0 ? g->buffer[l->input] : -1, i);
        if (l->type == NN_LAYER_ADD)
            raise_last(g, l->input2 >= 0 ? g->buffer[l->input2] : -1, i);
        if (g->buffer[i] != i)
            raise_last(g, g->buffer[i], i); /* a view keeps its buffer alive */
    }
    raise_last(g, g->buffer[n - 1], n);
}

void nn_graph_analyze(nn_graph *g, const nn_model *m)
{
    memset(g, 0, sizeof *g);
    g->n = m->n_nodes;
    if (g->n < 1)
        return;
    count_readers(g, m);
    mark_live(g, m);
    find_inplace_relus(g, m);
    plan_buffers(g, m);
}

int nn_graph_buffers(const nn_graph *g, const nn_model *m, size_t value_bytes, nn_arena_buf *bufs)
{
    const nn_model_spec *s = &m->spec;
    int nb = 0;
    bufs[nb++] =
        (nn_arena_buf){(uint64_t)s->in_c * s->in_h * s->in_w * value_bytes, -1, g->last[0], -1, 0};
    for (int b = 0; b < g->n; b++)
        if (g->buffer[b] == b)
            bufs[nb++] = (nn_arena_buf){(uint64_t)m->nodes[b].out_size * value_bytes, b,
                                        g->last[b + 1], b, 0};
    return nb;
}
