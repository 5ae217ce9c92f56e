/* nn_act_grid.c - fake quantization of activations (nn_act_grid.h). */
#include "nn_act_grid.h"

#include <math.h>

void nn_act_grid_forward(float *x, uint8_t *mask, size_t n, const nn_act_grid *g)
{
    const float scale = g->scale, lo = (float)g->lo, hi = (float)g->hi, zero = (float)g->zero;
    for (size_t k = 0; k < n; k++) {
        /* In float: |x / scale| beyond 2^24 is far outside any clamp. */
        float q = zero + floorf(x[k] / scale + 0.5f);
        int inside = q >= lo && q <= hi;
        if (mask)
            mask[k] = (uint8_t)inside;
        q = q < lo ? lo : q > hi ? hi : q; /* NaN stays NaN: the loss check reports it */
        x[k] = scale * (q - zero);
    }
}

void nn_act_grid_backward(float *grad, const uint8_t *mask, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (!mask[k])
            grad[k] = 0.0f;
}
