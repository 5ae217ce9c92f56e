/* nn_layers.h - layer kernels: forward and backward as free functions.
 *
 * Conventions (after llm.c):
 *   - outputs first, then inputs, then dimensions; shapes in comments;
 *   - every kernel processes n images of a batch slice; the executor splits
 *     a batch across threads and calls the kernel once per slice;
 *   - backward ACCUMULATES (+=) into din and into parameter gradients, so a
 *     layer read by two consumers and per-thread partial gradients work;
 *     din may be NULL when the input needs no gradient (the network input);
 *   - kernels do no I/O and no allocation; scratch is passed in.
 * Tensors are NCHW floats. */
#ifndef NN_LAYERS_H
#define NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An activation fused into the layer that produces its input. */
typedef enum { NN_ACT_NONE = 0, NN_ACT_RELU, NN_ACT_RELU6 } nn_act;

/* ---- conv2d: square kernel k, stride, zero padding pad ---------------- */
typedef struct {
    int in_c, in_h, in_w;
    int out_c, out_h, out_w; /* out_h = (in_h + 2*pad - k) / stride + 1 */
    int k, stride, pad;
} nn_conv_dims;

/* Floats of scratch one conv call needs (the padded input planes of one
 * image and its wide output or gradient; docs/training-kernels.md). */
size_t nn_conv2d_scratch_floats(const nn_conv_dims *d);

void nn_conv2d_forward(float *out,         /* (n, out_c, out_h, out_w) written  */
                       float *scratch,     /* nn_conv2d_scratch_floats          */
                       const float *in,    /* (n, in_c, in_h, in_w)             */
                       const float *w,     /* (out_c, in_c, k, k)               */
                       const float *b,     /* (out_c) or NULL                   */
                       int n, const nn_conv_dims *d);

/* The same, followed by the activation act (the executor's fusion; the
 * Winograd path applies it as it stores each output). */
void nn_conv2d_forward_act(float *out, float *scratch, const float *in, const float *w,
                           const float *b, int n, const nn_conv_dims *d, nn_act act);

/* Whether nn_conv2d_backward is faster called once for a batch than once
 * per image (the Winograd input gradient transforms the weights per call). */
int nn_conv2d_batched(const nn_conv_dims *d);

void nn_conv2d_backward(float *din,        /* (n, in_c, in_h, in_w) += or NULL  */
                        float *dw,         /* (out_c, in_c, k, k) +=            */
                        float *db,         /* (out_c) += or NULL                */
                        float *scratch,    /* nn_conv2d_scratch_floats          */
                        const float *dout, /* (n, out_c, out_h, out_w)          */
                        const float *in,   /* (n, in_c, in_h, in_w)             */
                        const float *w,    /* (out_c, in_c, k, k)               */
                        int n, const nn_conv_dims *d);
/* The same with din = the input gradient instead of +=: for a din that
 * nothing has written yet (the executor's first consumer), the same bits
 * as nn_conv2d_backward into a zeroed din; the Winograd input gradient
 * then skips zeroing din and reading it back. */
void nn_conv2d_backward_set(float *din, float *dw, float *db, float *scratch, const float *dout,
                            const float *in, const float *w, int n, const nn_conv_dims *d);

/* ---- depthwise_conv2d: one k x k filter per channel (multiplier 1) -------
 * Uses nn_conv_dims with out_c == in_c. */

/* Floats of scratch one depthwise call needs (the AVX-512 body's plans and
 * its channels side by side; docs/training-kernels.md). */
size_t nn_depthwise_scratch_floats(const nn_conv_dims *d);

void nn_depthwise_forward(float *out,        /* (n, c, out_h, out_w) written */
                          float *scratch,    /* nn_depthwise_scratch_floats  */
                          const float *in,   /* (n, c, in_h, in_w)           */
                          const float *w,    /* (c, k, k)                    */
                          const float *b,    /* (c) or NULL                  */
                          int n, const nn_conv_dims *d);

void nn_depthwise_backward(float *din,        /* (n, c, in_h, in_w) += or NULL */
                           float *dw,         /* (c, k, k) +=                  */
                           float *db,         /* (c) += or NULL                */
                           float *scratch,    /* nn_depthwise_scratch_floats   */
                           const float *dout, /* (n, c, out_h, out_w)          */
                           const float *in,   /* (n, c, in_h, in_w)            */
                           const float *w,    /* (c, k, k)                     */
                           int n, const nn_conv_dims *d);

/* ---- dense: out = in * w^T + b ----------------------------------------- */
size_t nn_dense_scratch_floats(int in_size, int units);
void nn_dense_forward(float *out,        /* (n, units) written   */
                      float *scratch,    /* nn_dense_scratch_floats */
                      const float *in,   /* (n, in_size)         */
                      const float *w,    /* (units, in_size)     */
                      const float *b,    /* (units) or NULL      */
                      int n, int in_size, int units);

void nn_dense_backward(float *din,        /* (n, in_size) += or NULL */
                       float *dw,         /* (units, in_size) +=     */
                       float *db,         /* (units) += or NULL      */
                       const float *dout, /* (n, units)              */
                       const float *in,   /* (n, in_size)            */
                       const float *w,    /* (units, in_size)        */
                       int n, int in_size, int units);

/* ---- pooling (no padding; out = (in - k) / stride + 1) ------------------ */
typedef struct {
    int c, in_h, in_w, out_h, out_w, k, stride;
} nn_pool_dims;

void nn_maxpool_forward(float *out,          /* (n, c, out_h, out_w) */
                        int32_t *argmax,     /* (n, c, out_h, out_w) index into the image's plane */
                        const float *in,     /* (n, c, in_h, in_w)   */
                        int n, const nn_pool_dims *d);
void nn_maxpool_backward(float *din,         /* (n, c, in_h, in_w) += */
                         const float *dout,  /* (n, c, out_h, out_w)  */
                         const int32_t *argmax, int n, const nn_pool_dims *d);

void nn_avgpool_forward(float *out, const float *in, int n, const nn_pool_dims *d);
void nn_avgpool_backward(float *din, const float *dout, int n, const nn_pool_dims *d);

void nn_global_avgpool_forward(float *out,       /* (n, c)         */
                               const float *in,  /* (n, c, hw)     */
                               int n, int c, int hw);
void nn_global_avgpool_backward(float *din,      /* (n, c, hw) +=  */
                                const float *dout, int n, int c, int hw);

/* ---- element-wise ------------------------------------------------------- */
void nn_relu_forward(float *out, const float *in, size_t count);
/* din += dout where out > 0 */
void nn_relu_backward(float *din, const float *dout, const float *out, size_t count);
/* grad = out > 0 ? grad : 0, in place: the backward of a ReLU applied in
 * place on its producer's output (the executor fuses them). */
void nn_relu_mask(float *grad, const float *out, size_t count);

/* ReLU6: out = min(max(in, 0), 6); out may equal in. */
void nn_relu6_forward(float *out, const float *in, size_t count);
/* din += dout where 0 < out < 6 (out: the forward's output) */
void nn_relu6_backward(float *din, const float *dout, const float *out, size_t count);
/* grad = 0 < out < 6 ? grad : 0, in place (a ReLU6 fused into its producer). */
void nn_relu6_mask(float *grad, const float *out, size_t count);

void nn_add_forward(float *out, const float *a, const float *b, size_t count);
/* dst += src */
void nn_accumulate(float *dst, const float *src, size_t count);

/* ---- dropout (inverted: kept units scaled by 1/(1-rate)) --------------- */
/* The mask of image `image_index` in optimizer step `step` of layer `layer`
 * is drawn from nn_rng_seed_key(seed, NN_STREAM_DROPOUT, step, layer<<32 |
 * image_index), so it does not depend on threads or slicing. */
void nn_dropout_forward(float *out,          /* (n, per_image)          */
                        uint8_t *mask,       /* (n, per_image) 1 = kept */
                        const float *in,     /* (n, per_image)          */
                        int n, size_t per_image, float rate, uint64_t seed,
                        uint64_t step, int layer, uint64_t first_image_index);
void nn_dropout_backward(float *din, const float *dout, const uint8_t *mask,
                         int n, size_t per_image, float rate);

/* ---- batch norm over (N, H, W) per channel ------------------------------
 * Training runs in phases so the executor can split the batch over threads:
 *   1. nn_batchnorm_sums on each slice (double partial sums, +=), reduce;
 *   2. nn_batchnorm_stats -> mean, invstd (biased var), update running stats;
 *   3. nn_batchnorm_apply on each slice (caches xhat);
 *   backward: nn_batchnorm_backward_sums per slice, reduce, then
 *             nn_batchnorm_backward_apply per slice.
 * Evaluation calls nn_batchnorm_apply with running mean and invstd. */
void nn_batchnorm_sums(double *sum,        /* (c) +=  sum of x      */
                       double *sumsq,      /* (c) +=  sum of x^2    */
                       const float *in,    /* (n, c, hw)            */
                       int n, int c, int hw);
/* count = N*hw over the whole batch. running_* updated with momentum, the
 * variance unbiased (count/(count-1)) as in PyTorch; pass NULL to skip. */
void nn_batchnorm_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                        const double *sum, const double *sumsq, double count, int c,
                        float eps, float momentum);
/* Converts running variance to invstd for evaluation. */
void nn_batchnorm_invstd(float *invstd, const float *var, int c, float eps);
void nn_batchnorm_apply(float *out,         /* (n, c, hw)              */
                        float *xhat,        /* (n, c, hw) cache or NULL */
                        const float *in, const float *mean, const float *invstd,
                        const float *gamma, const float *beta, int n, int c, int hw);
void nn_batchnorm_backward_sums(double *dgamma, /* (c) += sum dout*xhat */
                                double *dbeta,  /* (c) += sum dout      */
                                const float *dout, const float *xhat, int n, int c, int hw);
/* din += gamma*invstd/count * (count*dout - dbeta - xhat*dgamma) */
void nn_batchnorm_backward_apply(float *din, const float *dout, const float *xhat,
                                 const float *gamma, const float *invstd,
                                 const double *dgamma, const double *dbeta, double count,
                                 int n, int c, int hw);

/* Index of the first maximum of z[0..k): the predicted class of a row of
 * logits. */
int nn_argmax(const float *z, int k);

/* ---- loss: softmax cross-entropy with label smoothing -------------------
 * Target distribution: (1 - s) * onehot(label) + s / k. Writes
 * dlogits = scale * (softmax - target) (scale is typically 1/batch) and
 * returns the SUM of the n per-image losses; *correct += number of images
 * whose arg-max equals the label. */
double nn_softmax_xent(float *dlogits,        /* (n, k) written, or NULL */
                       const float *logits,   /* (n, k)                  */
                       const uint8_t *labels, /* (n)                     */
                       int n, int k, float smoothing, float scale, int *correct);

/* Row-wise softmax (numerically stable). */
void nn_softmax(float *probs, const float *logits, int n, int k);

#ifdef __cplusplus
}
#endif

#endif
