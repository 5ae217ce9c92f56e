/* nn_graph.h - the one analysis of a built model's graph: who reads each
 * layer's output, which layers the output depends on, which ReLUs run in
 * place, and at inference which buffer holds each output and how long
 * each buffer lives. The executor (nn_exec: in-place ReLUs, gradients only
 * where the output depends), the quantizer (qz_lower: what may be folded,
 * which layers to lower), the reports (the float activation memory of
 * `iotcnn info`) and, through the same planner (nn_arena.h), the deploy
 * image's arena all read it from here.
 *
 * Per-layer shapes, parameter spans and MACs are computed once, by
 * nn_model_build (nn_node: in_/out_ shapes and sizes, w and b, macs). */
#ifndef NN_GRAPH_H
#define NN_GRAPH_H

#include <stddef.h>

#include "nn_arena.h"
#include "nn_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n;                      /* layers (m->n_nodes)                   */
    int readers[NN_MAX_LAYERS]; /* layers that read layer i's output     */
    int live[NN_MAX_LAYERS];    /* 1: the network output depends on i    */
    /* ReLU or ReLU6 i runs in place on the output of layer relu_on[i] (a
     * conv, depthwise conv, dense, batch norm or add read by nothing
     * else), or -1. */
    int relu_on[NN_MAX_LAYERS];
    /* At inference, the layer whose buffer holds layer i's output (-1: the
     * network input): itself, or for an in-place ReLU, a flatten or a
     * dropout (identity at inference) its input's. */
    int buffer[NN_MAX_LAYERS];
    /* last[b + 1]: the last layer reading buffer b (b = -1: the input); the
     * network output's buffer lives to n. */
    int last[NN_MAX_LAYERS + 1];
} nn_graph;

/* Analyses m (built by nn_model_build, at least one layer). */
void nn_graph_analyze(nn_graph *g, const nn_model *m);

/* The inference buffers of g as arena buffers, bytes per value `value_bytes`,
 * batch 1: bufs[0] the input, then one per layer that owns its buffer
 * (buffer[i] == i), with its lifetime. Returns how many (<= n + 1). */
int nn_graph_buffers(const nn_graph *g, const nn_model *m, size_t value_bytes, nn_arena_buf *bufs);

#ifdef __cplusplus
}
#endif

#endif
