/* qmodel.h - a quantized network: what `iotcnn quantize` produces, what a
 * .iotc file holds, and what export/rt_build.h turns into the deploy image
 * that the runtime (runtime/rt.h) runs on the host and on devices.
 *
 * It is a float model after compression: batch norm folded into the conv
 * before it, ReLU fused into its producer, dropout and flatten gone. What is
 * left is a short list of integer ops over int8 tensors.
 *
 * Tensors. Every activation is int8 with one affine quantization per tensor:
 *     real = scale * (q - zero),   q in [-128, 127],  zero in [-128, 127].
 * Inside the engine and in every weight layout below, an image is stored
 * channels-last (HWC): element (y, x, c) of an (H, W, C) tensor is at
 * (y * W + x) * C + c. The float library is NCHW; the quantizer permutes.
 *
 * Tensor ids. Tensor -1 (QM_INPUT) is the network input; tensor i >= 0 is
 * the output of op i. An op reads only tensors of earlier ops, so the list
 * is already in execution order. The last op's output is the logits.
 *
 * Input. Raw pixels (uint8, CHW as the datasets hold them) become the input
 * tensor through a per-channel table: q = input_lut[c * 256 + pixel]. The
 * table folds the float model's normalization (p / 255 - mean) / std and the
 * input quantization into one integer step, so the engine never touches a
 * float. The engine also transposes CHW pixels to HWC while looking up.
 *
 * Requantization (conv2d, dense). For output channel o, with the int32
 * accumulator
 *     acc = bias[o] + sum_k w[o][k] * (x[k] - in_zero)
 * the output is
 *     y = clamp(out_zero + rshift_round((int64) acc * mult[o], shift[o]), lo, hi)
 *     rshift_round(v, s) = (v + (1 << (s - 1))) >> s       (arithmetic shift)
 * with mult[o] in [2^30, 2^31) and shift[o] in [1, 62] (qm_quantize_multiplier
 * builds the pair from a real multiplier). lo = -128, or out_zero when the op
 * has a fused ReLU or ReLU6; hi = 127, or for a fused ReLU6
 * min(127, out_zero + round_half_up(6 / out_scale)) (qm_op_hi), the int8
 * grid point nearest a real 6 (conv2d, depthwise, dense and add only). Padding pixels of a conv read in_zero, i.e. a
 * real 0, exactly as the float model's zero padding.
 *
 * Depthwise conv (QM_DEPTHWISE, depth multiplier 1): out_c = in_c, output
 * channel c reads only input channel c; its accumulator is conv2d's with
 * the sum over the k x k taps of channel c, and the same per-channel
 * requantization.
 *
 * Add. y = clamp(out_zero + rshift_round((int64)(a - a_zero) * add_mult[0]
 *                  + (int64)(b - b_zero) * add_mult[1], add_shift), lo, hi)
 * with both multipliers < 2^31 and one shared shift in [1, 62].
 *
 * Pools. maxpool keeps the input's quantization (max commutes with it).
 * avgpool and global_avgpool keep it too and round the mean of the window:
 *     y = zero + round_half_away(sum(q - zero) / n).
 *
 * Weights. conv2d: (out_c, k, k, in_c), i.e. per output channel a HWC
 * kernel. depthwise: (c, k, k), per channel its k x k filter (conv2d's
 * layout with one input channel). dense: (out_c, in_size) with the inputs in HWC order of the tensor
 * read. Symmetric per output channel: real = w_scale[o] * w. weight_bits is
 * 8 (w in [-127, 127]) or 4 (w in [-7, 7]; still one int8 per weight in
 * memory; the file packs them). bias is int32 in units of in_scale*w_scale[o].
 *
 * Ownership. qm_model_alloc gives every op its arrays from one allocation;
 * qm_model_free releases it. Readers (file loader, engine) treat the model
 * as immutable. */
#ifndef QMODEL_H
#define QMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Op type codes are stored in files: explicit values, never reorder. */
typedef enum {
    QM_CONV2D = 1,
    QM_DENSE = 2,
    QM_MAXPOOL = 3,
    QM_AVGPOOL = 4,
    QM_GLOBAL_AVGPOOL = 5,
    QM_ADD = 6,
    QM_DEPTHWISE = 7 /* "depthwise_conv2d": one k x k filter per channel */
} qm_op_type;

/* relu field values: the activation fused into an op's output clamp. */
enum { QM_ACT_NONE = 0, QM_ACT_RELU = 1, QM_ACT_RELU6 = 2 };

#define QM_INPUT (-1)
#define QM_MAX_OPS 256
#define QM_MAX_CHANNELS_IN 4

typedef struct {
    float scale;  /* > 0, finite                                   */
    int32_t zero; /* in [-128, 127]                                */
} qm_qparams;

typedef struct {
    qm_op_type type;
    int input;              /* tensor id read (QM_INPUT or an earlier op)   */
    int input2;             /* add: the second operand; otherwise unused    */
    int in_c, in_h, in_w;   /* shape of the input tensor (HWC in memory)    */
    int out_c, out_h, out_w;
    int kernel, stride, pad;/* conv2d, depthwise and pools                  */
    int relu;               /* QM_ACT_*: the output clamp (qm_op_lo/hi)     */
    qm_qparams out;         /* quantization of this op's output             */

    /* conv2d, dense, depthwise */
    int weight_bits;        /* 8 or 4                                       */
    size_t n_weights;       /* out_c * k * k * in_c, out_c * in_size, c*k*k */
    int8_t *weights;        /* (n_weights), layout above                     */
    int32_t *bias;          /* (out_c)                                       */
    float *w_scale;         /* (out_c) for reports and float reference      */
    int32_t *mult;          /* (out_c) requantization multipliers           */
    int8_t *shift;          /* (out_c) requantization shifts                */

    /* add */
    int32_t add_mult[2];
    int32_t add_shift;
} qm_op;

typedef struct {
    int in_c, in_h, in_w;   /* input image shape, pixels CHW uint8          */
    int num_classes;        /* size of the last op's output                 */
    qm_qparams in;          /* quantization of the input tensor             */
    int8_t *input_lut;      /* (in_c, 256)                                  */
    int n_ops;
    qm_op ops[QM_MAX_OPS];
    void *blob;             /* the one allocation behind every array        */
} qm_model;

/* Shapes of ops[0..n_ops) (types, inputs, geometry, weight_bits) must be
 * set; allocates input_lut and each conv/dense op's arrays, zeroed, from one
 * block, after checking the shapes chain (each op's input shape equals the
 * shape of the tensor it reads; add operands match; the last op yields
 * num_classes values) and that no size overflows. Errors name the op. */
nn_status qm_model_alloc(qm_model *m, nn_error *err);
void qm_model_free(qm_model *m);

/* Checks everything a reader relies on: shapes as above, weights within
 * their bit width, shifts and multipliers in range, zero points in range,
 * scales finite and positive, lo <= hi. The file loader calls it; the
 * engine may assume a model that passed it. */
nn_status qm_model_validate(const qm_model *m, nn_error *err);

/* The ops with weights and per-channel requantization. */
static inline int qm_is_weighted(qm_op_type t)
{
    return t == QM_CONV2D || t == QM_DENSE || t == QM_DEPTHWISE;
}

/* The output clamp of an op (its relu field and output quantization). */
static inline int32_t qm_op_lo(const qm_op *op) { return op->relu ? op->out.zero : -128; }
static inline int32_t qm_act_hi(int relu, qm_qparams out)
{
    if (relu != QM_ACT_RELU6)
        return 127;
    /* 6 / scale in double, rounded half up; > 127 (a small scale) clamps */
    double top = 6.0 / (double)out.scale + 0.5;
    return top >= (double)(127 - out.zero) ? 127 : out.zero + (int32_t)top;
}
static inline int32_t qm_op_hi(const qm_op *op) { return qm_act_hi(op->relu, op->out); }

/* "conv2d", "dense", ...; NULL for an unknown code. */
const char *qm_op_type_name(qm_op_type t);

/* Multiply-accumulates per image of op i, and of the whole model. */
uint64_t qm_op_macs(const qm_op *op);
uint64_t qm_model_macs(const qm_model *m);

/* real multiplier (> 0, < 2^31) -> (mult in [2^30, 2^31), shift in [1, 62])
 * with mult * 2^-shift as close as possible to real. Returns NN_ERR_ARG
 * when real is out of range or not finite. */
nn_status qm_quantize_multiplier(double real, int32_t *mult, int32_t *shift);

/* The requantization step above: the portable reference for every kernel. */
static inline int8_t qm_requantize(int32_t acc, int32_t mult, int shift, int32_t zero, int32_t lo,
                                   int32_t hi)
{
    int64_t y = (int64_t)zero + (((int64_t)acc * mult + ((int64_t)1 << (shift - 1))) >> shift);
    return (int8_t)(y < lo ? lo : y > hi ? hi : y);
}

#ifdef __cplusplus
}
#endif

#endif
