/* mstats.h - size accounting of float and quantized models for reports
 * (`iotcnn info`, `iotcnn quantize`). The int8 arena is the runtime's
 * (rt_arena_bytes of the host's image, export/rt_host.h). */
#ifndef MSTATS_H
#define MSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_model.h"
#include "format/qmodel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Non-zero weights of a conv2d or dense op (0 for other ops). */
uint64_t qm_op_nonzero(const qm_op *op);

/* Peak bytes of float activations of one inference (batch 1, 4 bytes per
 * value): the most bytes live at once among the buffers of nn_graph.h
 * (every tensor, the input included, has its own buffer from the layer
 * that produces it until its last reader has run, except that in-place
 * ReLUs, flatten and dropout are views of their input, so these cost
 * nothing): nn_arena_lower_bound of those buffers. */
size_t ms_float_activation_bytes(const nn_model *m);

/* Values != 0 among p[0..n). */
uint64_t ms_count_nonzero(const float *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif
