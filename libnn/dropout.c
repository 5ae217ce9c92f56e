/* dropout.c - inverted dropout with masks keyed by (step, layer, image).
 *
 * Image i of the slice is image first_image_index + i of the batch. Its mask
 * comes from its own stream
 *     nn_rng_seed_key(&r, seed, NN_STREAM_DROPOUT, step, layer << 32 | image)
 * drawing one nn_rng_uniform per unit, kept when u >= rate (P = 1 - rate).
 * So the mask depends only on the key, never on threads or slicing. */
#include "nn_layers.h"
#include "nn_rng.h"
#include "nn_vec.h"

#include <string.h>

void nn_dropout_forward(float *out, uint8_t *mask, const float *in, int n, size_t per_image,
                        float rate, uint64_t seed, uint64_t step, int layer,
                        uint64_t first_image_index)
{
    const size_t total = (size_t)(n > 0 ? n : 0) * per_image;
    if (!(rate > 0.0f)) { /* rate <= 0: identity, everything kept */
        if (out != in)
            memmove(out, in, total * sizeof(float));
        memset(mask, 1, total);
        return;
    }
    if (rate >= 1.0f) { /* everything dropped; avoids a 1/0 scale */
        memset(out, 0, total * sizeof(float));
        memset(mask, 0, total);
        return;
    }
    const float scale = 1.0f / (1.0f - rate);
    /* layer goes through uint32_t so a (never expected) negative id cannot
     * sign-extend over the image bits. */
    const uint64_t layer_bits = (uint64_t)(uint32_t)layer << 32;
    for (int i = 0; i < n; i++) {
        nn_rng r;
        nn_rng_seed_key(&r, seed, NN_STREAM_DROPOUT, step,
                        layer_bits | (first_image_index + (uint64_t)i));
        const size_t off = (size_t)i * per_image;
        for (size_t j = 0; j < per_image; j++) {
            const uint8_t keep = nn_rng_uniform(&r) >= rate;
            mask[off + j] = keep;
            out[off + j] = keep ? in[off + j] * scale : 0.0f;
        }
    }
}

/* din += mask ? dout*scale : 0, in vectorizable lane blocks (see nn_vec.h). */
static void backward_masked(float *restrict din, const float *restrict dout,
                            const uint8_t *restrict mask, float scale, size_t total)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= total; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++) {
            const float g = dout[t + l] * scale;
            din[t + l] += mask[t + l] ? g : 0.0f;
        }
    for (; t < total; t++)
        din[t] += mask[t] ? dout[t] * scale : 0.0f;
}

void nn_dropout_backward(float *din, const float *dout, const uint8_t *mask, int n,
                         size_t per_image, float rate)
{
    if (!din || n <= 0)
        return;
    const size_t total = (size_t)n * per_image;
    if (!(rate > 0.0f)) {
        nn_vec_add(din, dout, total);
        return;
    }
    if (rate >= 1.0f)
        return;
    backward_masked(din, dout, mask, 1.0f / (1.0f - rate), total);
}
