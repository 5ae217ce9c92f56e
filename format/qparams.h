/* qparams.h - the arithmetic that turns real ranges and scales into the
 * integer parameters of a qm_model (qmodel.h).
 *
 * The quantizer uses these to build a model, and the .iotc format uses the
 * same functions to re-derive fields it does not store (the requantization
 * multipliers of a layer, the input table) when they match exactly. So a
 * value computed here must depend only on its arguments: everything is
 * double arithmetic on float inputs with no fused multiply-add, which gives
 * the same bits on every IEEE-754 machine. */
#ifndef QPARAMS_H
#define QPARAMS_H

#include <stdint.h>

#include "qmodel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The affine int8 quantization of the real interval [lo, hi], widened to
 * contain 0 so that a real 0 (padding, ReLU floor) is exact:
 *     scale = (hi - lo) / 255,  zero = round(-128 - lo / scale).
 * An empty interval (lo = hi = 0) gets scale 1/255 and zero -128. Non-finite
 * bounds are treated as 0. */
qm_qparams qp_from_range(double lo, double hi);

/* Real interval a tensor with these parameters represents:
 * [scale * (-128 - zero), scale * (127 - zero)]. */
void qp_range(qm_qparams q, double *lo, double *hi);

/* s rounded UP to the nearest float whose low 16 bits are zero (8 bits of
 * mantissa, like bfloat16), so a .iotc file can store it in 2 bytes.
 * Rounding up keeps round(w / s) within the bit width for every weight that
 * fitted under s. s must be finite and > 0; the result is too (values near
 * FLT_MAX, which no weight scale reaches, return s unchanged). */
float qp_round_scale_up(float s);

/* The requantization pair of one output channel:
 *     real = in_scale * w_scale / out_scale  ->  (mult, shift)
 * through qm_quantize_multiplier. NN_ERR_ARG when real is out of its range
 * (below about 2^-32 or at least 2^30). */
nn_status qp_requant(float in_scale, float w_scale, float out_scale, int32_t *mult, int32_t *shift);

/* Multipliers of an add: y = a_scale/out_scale * (a - a_zero) + b_scale/out_scale * (b - b_zero)
 * with one shared shift: mult[k] in [0, 2^30], shift in [1, 62]. When both
 * ratios are below 2^-32 the output is constant (mult = 0, shift = 62).
 * NN_ERR_ARG when a ratio is not finite or >= 2^29. */
nn_status qp_add_requant(float a_scale, float b_scale, float out_scale, int32_t mult[2],
                         int32_t *shift);

/* The input table (in_c, 256) of qmodel.h: for channel c and pixel p,
 *     lut[c * 256 + p] = clamp(round(((p / 255) - mean[c]) / std[c] / in.scale) + in.zero)
 * (round half away from zero, clamp to [-128, 127]). std[c] must be > 0. */
void qp_input_lut(int8_t *lut, int in_c, const float *mean, const float *std, qm_qparams in);

/* The quantization of the normalized input: the exact real range of
 * (p / 255 - mean[c]) / std[c] over all pixels and channels. */
qm_qparams qp_input_qparams(int in_c, const float *mean, const float *std);

#ifdef __cplusplus
}
#endif

#endif
