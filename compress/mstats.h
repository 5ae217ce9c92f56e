/* mstats.h - size accounting of float and quantized models for reports
 * (`iotcnn info`, `iotcnn quantize`). */
#ifndef MSTATS_H
#define MSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "../libnn/nn_model.h"
#include "qmodel.h"

/* Peak bytes of int8 activations of one inference with a simple liveness
 * plan: every tensor (the input included) gets its own buffer from the op
 * that produces it until its last reader has run; no buffer is shared or
 * reused in place. An op's inputs and its output are live at the same
 * time. (A planner that reuses buffers in place can only need less.) */
size_t qm_activation_bytes(const qm_model *m);

/* Non-zero weights of a conv2d or dense op (0 for other ops). */
uint64_t qm_op_nonzero(const qm_op *op);

/* The same liveness plan for a float model with batch 1 (4 bytes per
 * value): a ReLU whose producer (conv, dense, batch norm, add) has no other
 * reader runs in place, and flatten and dropout (identity at inference)
 * are views of their input, so these cost nothing. */
size_t ms_float_activation_bytes(const nn_model *m);

/* Values != 0 among p[0..n). */
uint64_t ms_count_nonzero(const float *p, size_t n);

#endif
