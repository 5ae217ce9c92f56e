/* fz_gen.h - random VALID models built from fuzz input, for the targets
 * that check what the library does with any model it accepts.
 *
 * fzg_qmodel: a quantized model (qmodel.h) within the .iotc format's
 * limits, kept small enough to run thousands of times a second:
 *   - a DAG of 1..FZG_MAX_OPS ops (conv2d, dense, maxpool, avgpool,
 *     global_avgpool, add) over 1..4-channel inputs up to 12x12, each op
 *     reading the previous tensor or any earlier one, adds joining two
 *     tensors of one shape; windows 1..5 (pools 1..4), strides 1..3,
 *     padding below the kernel; channel counts around the kernels' block
 *     sizes (1..17, 31..33, 63..65, 70), fewer where the model would
 *     exceed FZG_MAX_WEIGHTS;
 *   - 8- or 4-bit weights per op: uniform, all at +-max, sparse with a
 *     chosen density, all zero, or raw input bytes clipped to the width;
 *   - biases small, zero or at the accumulator limit (bias + 255 * sum|w|
 *     reaches INT32_MAX exactly, iotc_check_accumulators' bound);
 *   - multipliers in [2^30, 2^31) and shifts in [1, 62], random or at the
 *     edges, or derived from the scales (so the file omits them); add
 *     multipliers anywhere in [0, 2^31) with any shift;
 *   - zero points anywhere in [-128, 127] (pools keep their input's
 *     quantization), fused ReLU or not, scales from tiny to huge and
 *     either bfloat16-exact (2-byte storage) or not; the input table
 *     random or derived from a random normalization; names and metadata.
 * The result passes qm_model_validate and iotc_check_accumulators (the
 * generator aborts otherwise: that would be a bug in it).
 *
 * fzg_float_spec: a small float network spec (nn_spec.h) that
 * nn_model_build accepts: conv2d / batchnorm / relu / pools / dense /
 * dropout / flatten / add, residual joins included, at most about
 * FZG_MAX_WEIGHTS conv2d / dense weights. */
#ifndef FZ_GEN_H
#define FZ_GEN_H

#include <stdint.h>

#include "format/iotc.h"
#include "libnn/nn_model.h"
#include "libnn/nn_spec.h"
#include "fz_util.h"

#define FZG_MAX_OPS 10
/* Size caps that keep a run well under a millisecond with the sanitizers
 * and coverage tracing (encoding every weight eight times is what costs):
 * the cost (fzq_cost) and the conv2d / dense weights of the whole model (a
 * dense layer keeps at least one output channel whatever is left). */
#define FZG_COST_BUDGET 12000
#define FZG_MAX_WEIGHTS 1024

/* f is initialized here (iotc_init) and owns the model: iotc_free it. */
void fzg_qmodel(iotc_model *f, fz_data *d);

/* A float model in m: fzg_float_spec built (nn_model_build must accept it,
 * else fz_fail) and fzg_float_params. 0, or -1 when out of memory (m
 * untouched). nn_model_free it. */
int fzg_float_model(nn_model *m, fz_data *d);

/* n images (n, in_c, in_h, in_w) of raw pixels: input bytes, or all 0, all
 * 255, or alternating extremes. Caller frees. */
uint8_t *fzg_pixels(fz_data *d, int n, int c, int h, int w);

/* Parameters for a built model m: He or Glorot weights scaled per layer
 * (by 0, 1e-3, 0.1, 1 or 4), biases, batch-norm gamma (negative and zero
 * included), beta, running mean and variance (>= 0, zero included), eps,
 * input normalization. In one model of 64, some weights are also +-3e38,
 * +-1e30, subnormal or FLT_MIN: finite but overflowing once multiplied, which
 * calibration and quantization must either handle or refuse with a message. */
void fzg_float_params(nn_model *m, fz_data *d);

/* A spec of 1..16 layers for in_c x in_h x in_w inputs (up to 3x10x10) whose
 * last layer yields num_classes values; nn_model_build accepts it. */
void fzg_float_spec(nn_model_spec *s, fz_data *d);

#endif
