/* elementwise.c - ReLU, residual add, gradient accumulation.
 *
 * Loops are written in fixed-width lane blocks (see nn_vec.h) over
 * restrict-qualified pointers so that they vectorize at -O2. In-place use
 * (out == in for relu, out == a or b for add) is dispatched to a separate
 * loop because restrict would make it undefined. */
#include "nn_layers.h"
#include "nn_vec.h"

#define RELU(v) ((v) > 0.0f ? (v) : 0.0f)

static void relu_inplace(float *x, size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            x[t + l] = RELU(x[t + l]);
    for (; t < count; t++)
        x[t] = RELU(x[t]);
}

static void relu_copy(float *restrict out, const float *restrict in, size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            out[t + l] = RELU(in[t + l]);
    for (; t < count; t++)
        out[t] = RELU(in[t]);
}

void nn_relu_forward(float *out, const float *in, size_t count)
{
    if (out == in)
        relu_inplace(out, count);
    else
        relu_copy(out, in, count);
}

static void relu_backward(float *restrict din, const float *restrict dout,
                          const float *restrict out, size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++) {
            const float g = dout[t + l]; /* unconditional load: a select, not a branch */
            din[t + l] += out[t + l] > 0.0f ? g : 0.0f;
        }
    for (; t < count; t++)
        din[t] += out[t] > 0.0f ? dout[t] : 0.0f;
}

/* grad and out are separate buffers (the gradient and the activation's
 * output). The loads are unconditional so that the select vectorizes (a
 * branch per element, mispredicted on a ReLU's random pattern, took 8% of
 * a training step). */
static void relu_mask(float *restrict grad, const float *restrict out, size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++) {
            const float g = grad[t + l];
            grad[t + l] = out[t + l] > 0.0f ? g : 0.0f;
        }
    for (; t < count; t++)
        grad[t] = out[t] > 0.0f ? grad[t] : 0.0f;
}

void nn_relu_mask(float *grad, const float *out, size_t count)
{
    relu_mask(grad, out, count);
}

void nn_relu_backward(float *din, const float *dout, const float *out, size_t count)
{
    if (din)
        relu_backward(din, dout, out, count);
}

#define IN_RELU6_SLOPE(o) ((o) > 0.0f && (o) < 6.0f)

/* max(v, 0) then min(., 6), as two selects that vectorize (the nested
 * ternary compiled to a branch per element: 17% of a MobileNet step); the
 * same values, NaN and -0 included (both give +0). */
static inline float relu6(float v)
{
    const float r = v > 0.0f ? v : 0.0f;
    return r < 6.0f ? r : 6.0f;
}

static void relu6_inplace(float *x, size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            x[t + l] = relu6(x[t + l]);
    for (; t < count; t++)
        x[t] = relu6(x[t]);
}

static void relu6_copy(float *restrict out, const float *restrict in, size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            out[t + l] = relu6(in[t + l]);
    for (; t < count; t++)
        out[t] = relu6(in[t]);
}

void nn_relu6_forward(float *out, const float *in, size_t count)
{
    if (out == in)
        relu6_inplace(out, count);
    else
        relu6_copy(out, in, count);
}

static void relu6_backward(float *restrict din, const float *restrict dout,
                           const float *restrict out, size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++) {
            const float g = dout[t + l];
            din[t + l] += IN_RELU6_SLOPE(out[t + l]) ? g : 0.0f;
        }
    for (; t < count; t++)
        din[t] += IN_RELU6_SLOPE(out[t]) ? dout[t] : 0.0f;
}

void nn_relu6_backward(float *din, const float *dout, const float *out, size_t count)
{
    if (din)
        relu6_backward(din, dout, out, count);
}

static void relu6_mask(float *restrict grad, const float *restrict out, size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++) {
            const float g = grad[t + l];
            grad[t + l] = IN_RELU6_SLOPE(out[t + l]) ? g : 0.0f;
        }
    for (; t < count; t++)
        grad[t] = IN_RELU6_SLOPE(out[t]) ? grad[t] : 0.0f;
}

void nn_relu6_mask(float *grad, const float *out, size_t count)
{
    relu6_mask(grad, out, count);
}

static void add3(float *restrict out, const float *restrict a, const float *restrict b,
                 size_t count)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= count; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            out[t + l] = a[t + l] + b[t + l];
    for (; t < count; t++)
        out[t] = a[t] + b[t];
}

void nn_add_forward(float *out, const float *a, const float *b, size_t count)
{
    if (out == a && out == b) {
        for (size_t t = 0; t < count; t++)
            out[t] += out[t];
    } else if (out == a) {
        nn_vec_add(out, b, count);
    } else if (out == b) {
        nn_vec_add(out, a, count);
    } else {
        add3(out, a, b, count);
    }
}

void nn_accumulate(float *dst, const float *src, size_t count)
{
    if (dst)
        nn_vec_add(dst, src, count);
}
