/* qz_fake.h - fake-quantized weights for quantization-aware training
 * (quantize.qat, docs/config.md).
 *
 * The forward and backward passes see every conv2d, depthwise and dense
 * weight on the grid the int8 model will use: per output channel,
 * symmetric, at the layer's bits, with the scale and clipping of
 * qz_weight_scale and the rounding of the quantizer. The optimizer moves float "master" weights
 * with the gradient taken at the grid weights (the straight-through
 * estimator): after each step the change the optimizer made to the shown
 * weights is added to the masters, and the masters are shown on the grid
 * again. Weights that are exactly 0 at the start (pruned) stay 0.
 *
 * The grid is the one of the folded weights: batch norm folds into a
 * layer as a per-output-channel factor a, and the quantizer picks each
 * channel's scale S from the folded values and rounds it up to 8
 * significant bits. The shown weights are k * S * (1 - 2^-18) / a for
 * integers k: folded, they sit a hair below k * S, so the quantizer picks
 * S again and gets back k, exactly (tests/test_qat.c). The factors come
 * from the quantizer's own lowering (qz_lower), refreshed before every
 * batch and at the end, as the running statistics move. */
#ifndef QZ_FAKE_H
#define QZ_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int layer;
    size_t off, n; /* the layer's weights in params: out_c rows of n / out_c */
    int out_c, bits;
    double *fold;  /* (out_c) the folding factors |a| of the channels    */
} qz_fake_span;

typedef struct {
    int n_spans;
    qz_fake_span span[NN_MAX_LAYERS];
    size_t n_params;
    float *master; /* (n_params) what the optimizer moves            */
    float *shown;  /* (n_params) what the last forward pass saw      */
    uint8_t *keep; /* (n_params) 0: held at zero                     */
    double *folds; /* every span's fold                              */
    float *scratch; /* one folded channel                            */
} qz_fake;

/* The weight bits of every layer of m under cfg (0 for layers without
 * quantized weights), as qz_quantize_model would choose them without
 * "auto" (NN_ERR_ARG for cfg->auto_bits). */
nn_status qz_layer_bits(int *bits, const nn_model *m, const qz_config *cfg, nn_error *err);

/* Starts from m's parameters, with bits[i] (qz_layer_bits) per layer; then
 * shows the grid weights in m->params. */
nn_status qz_fake_init(qz_fake *f, nn_model *m, const int *bits, nn_error *err);

/* Takes the folding factors of m's current batch-norm statistics and shows
 * the masters on the grid again (errors: those of qz_lower). */
nn_status qz_fake_refresh(qz_fake *f, nn_model *m, nn_error *err);

/* After an optimizer step on m: masters += the step's change of the shown
 * weights, then m->params shows them on the grid (the other parameters,
 * batch norm and biases, stay as the optimizer left them). */
void qz_fake_step(qz_fake *f, nn_model *m);

/* One channel of n weights w, folded by the factor fold > 0, on the grid of
 * `bits`, unfolded into out (may be w); scratch holds n floats. */
void qz_fake_channel(const float *w, size_t n, double fold, int bits, float *scratch, float *out);

void qz_fake_free(qz_fake *f);

#ifdef __cplusplus
}
#endif

#endif
