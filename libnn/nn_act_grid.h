/* nn_act_grid.h - activations rounded to an int8 grid during training
 * (fake quantization of activations: quantization-aware training,
 * docs/config.md "quantize.qat").
 *
 * A grid is the int8 quantization of one tensor: real = scale * (q - zero)
 * with q clamped to [lo, hi] (the int8 model's output clamp). Forward, a
 * value x becomes the grid value nearest to it,
 *     q = clamp(zero + floor(x / scale + 1/2), lo, hi),   x' = scale * (q - zero),
 * rounding halves up as the integer runtime's requantization does. Backward
 * is the clipped straight-through estimator: the gradient passes unchanged
 * where zero + floor(x / scale + 1/2) was inside [lo, hi], and is 0 where
 * the clamp cut it. */
#ifndef NN_ACT_GRID_H
#define NN_ACT_GRID_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float scale;           /* > 0; 0: no grid (the values pass unchanged) */
    int32_t zero, lo, hi;  /* zero point and clamp, within [-128, 127]    */
} nn_act_grid;

/* x[0..n) onto grid g in place; mask (NULL, or n bytes) receives 1 where the
 * value was inside the clamp, 0 where it was cut. */
void nn_act_grid_forward(float *x, uint8_t *mask, size_t n, const nn_act_grid *g);

/* grad[k] = 0 where mask[k] is 0 (the straight-through estimator's clip). */
void nn_act_grid_backward(float *grad, const uint8_t *mask, size_t n);

#ifdef __cplusplus
}
#endif

#endif
