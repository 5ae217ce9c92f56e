/* quantize.h - float model (libnn, NCHW) -> quantized model (qmodel.h).
 *
 * Three steps, each usable on its own (tests check them one by one):
 *
 * 1. qz_lower: the float network is rewritten into the op list of
 *    qmodel.h, still in float ("folded net", HWC, weights in qmodel's
 *    layouts):
 *    - batch norm folds into the conv or dense layer that produces its
 *      input: w'[o] = s[o] * w[o], b'[o] = s[o] * b[o] + t[o] with
 *      s = gamma / sqrt(var + eps), t = beta - mean * s. It also folds
 *      through a max-pool between them when every s[o] >= 0 (max commutes
 *      with a non-decreasing affine map; s = 0 makes both sides the
 *      constant t), and through an average pool for any s (it is linear).
 *      A batch norm that cannot fold (its producer has other readers, a
 *      ReLU already ran, a negative s behind a max-pool, or no conv/dense
 *      before it) becomes a 1x1 conv with diagonal weights s and bias t,
 *      which per-channel int8 represents exactly (one weight per channel
 *      at +-127);
 *    - a ReLU fuses into its producer (conv, dense, add), also through a
 *      max-pool (max and ReLU commute); on a tensor that is already
 *      non-negative it vanishes; otherwise it becomes a 1x1 identity conv
 *      with a fused ReLU;
 *    - dropout (identity at inference) and flatten disappear: a dense
 *      layer's weights are permuted from the float model's NCHW flatten
 *      order to the HWC order of the tensor it reads;
 *    - layers that do not reach the output are dropped.
 *    Folding into a tensor happens only when no other layer reads the
 *    value before the fold.
 * 2. qz_calibrate: the folded net runs in float on N calibration images;
 *    each conv/dense/add output gets a real range [lo, hi] by min/max,
 *    by percentile, or by the clip minimizing the quantization MSE on a
 *    histogram (qz_range_*). The network input needs no calibration: its
 *    range is exact ((0 - mean) / std to (1 - mean) / std). Pools keep their
 *    input's quantization (qmodel.h). The logits always use min/max.
 * 3. qz_build: ranges -> int8 activations (qp_from_range), weights
 *    symmetric per output channel in 8 or 4 bits, int32 biases and
 *    fixed-point multipliers (qparams.h). Per channel:
 *      - 8-bit: scale = max|w| / 127; 4-bit: the clip in [0.5, 1] x max|w|
 *        minimizing the channel's squared rounding error, / 7;
 *      - the scale is rounded up to 8 mantissa bits (qp_round_scale_up) so
 *        the file stores it in 2 bytes;
 *      - an all-zero channel, or one whose multiplier in_scale * w_scale /
 *        out_scale is below 2^-32 (its weights cannot move the output by
 *        half a step), becomes weights 0 with w_scale chosen so that the
 *        multiplier is 2^-10 and the bias alone gives the output;
 *      - the bias is clamped so that bias + sum(w * x) always fits int32;
 *        a layer whose worst-case sum alone could overflow int32 (more than
 *        about 66000 taps at 8 bits) is refused.
 * qz_quantize_model runs all three. */
#ifndef QUANTIZE_H
#define QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "format/qmodel.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { QZ_MINMAX = 0, QZ_PERCENTILE = 1, QZ_MSE = 2 } qz_method;

/* "minmax", "percentile", "mse"; NULL when unknown. */
const char *qz_method_name(qz_method m);

typedef struct {
    qz_method method;
    double percentile;      /* QZ_PERCENTILE: in (50, 100], e.g. 99.99           */
    int calibration_images; /* how many training images calibrate (>= 1)         */
    uint64_t seed;          /* which ones: qz_pick_calibration                   */
    int weight_bits;        /* 8 or 4: every conv/dense layer ...                 */
    int n_overrides;        /* ... except these float layer indices               */
    int override_layer[NN_MAX_LAYERS];
    int override_bits[NN_MAX_LAYERS];
    int auto_bits;   /* 1: weight_bits is 8, then qz_auto_bits picks 4     */
    double max_drop; /* auto_bits: accuracy points it may cost, e.g. 0.1   */
} qz_config;

/* method mse, percentile 99.99, 1000 images, seed 1, 8 bits, no overrides,
 * no automatic bits (max_drop 0.1). */
void qz_config_defaults(qz_config *c);

/* ---- 1. the folded float net ---------------------------------------------- */

typedef struct {
    qm_op_type type;
    int input, input2; /* tensor ids as in qmodel.h                       */
    int in_c, in_h, in_w, out_c, out_h, out_w;
    int kernel, stride, pad, relu; /* relu: QM_ACT_* */
    int src_layer; /* float layer this op implements                  */
    int value_layer; /* the float layer whose output (in training too)
                      * this op's output is, or -1: the last of its
                      * chain, not a dropout or flatten; -1 when a batch
                      * norm or ReLU folded into it through a pool      */
    int from_bn;   /* 1: a batch norm as a 1x1 conv; 2: a lone ReLU   */
    char label[80]; /* its name in messages: "layer 3 (conv2d 'c2')"   */
    size_t n_weights;
    float *w; /* conv (out_c, k, k, in_c); dense (out_c, in_size HWC);
                 depthwise (c, k, k) */
    float *b; /* (out_c)                                          */
} qz_fop;

typedef struct {
    int in_c, in_h, in_w, num_classes;
    float mean[NN_MAX_CHANNELS_NORM], std[NN_MAX_CHANNELS_NORM];
    int n_ops;
    qz_fop ops[QM_MAX_OPS];
    size_t tensor_off[QM_MAX_OPS + 1]; /* [0] the input, [i + 1] op i (floats) */
    size_t tensor_floats;              /* all tensors of one image            */
    size_t col_floats;                 /* the largest qz_col_floats           */
} qz_net;

/* Scratch of one op in qz_net_forward: a conv's im2col rows, then (conv and
 * dense) its weight matrix transposed for the product (nn_gemm.h). */
size_t qz_col_floats(const qz_fop *op);

/* Builds the folded net of m (batch-norm running statistics). Errors name
 * the float layer: NN_ERR_FORMAT for a layout the int8 format cannot
 * express, NN_ERR_NUMERIC when a folded value (gamma / sqrt(var + eps),
 * a weight or bias times it) is beyond the float range. */
nn_status qz_lower(qz_net *net, const nn_model *m, nn_error *err);
void qz_net_free(qz_net *net);

/* Runs one image of raw pixels (CHW uint8) through the folded net in
 * float: tensors (net->tensor_floats) receives every tensor (HWC) at
 * tensor_off, col is scratch of net->col_floats (may be NULL when 0).
 * With fq non-NULL (a qm_model built from this net), it simulates the
 * int8 model instead ("fake quantization"): weights and biases are the
 * dequantized integers, the input goes through the int8 table, and every
 * op's output is rounded to its quantization grid and clamped. */
void qz_net_forward(const qz_net *net, const qm_model *fq, const uint8_t *pixels, float *tensors,
                    float *col);

/* Scratch for T threads running qz_net_forward over one net: tens[t]
 * (tensor_floats) and col[t] (col_floats, at least one float). */
typedef struct {
    float **tens, **col;
    int T;
} qz_scratch;

/* 0, or -1 when out of memory; either way qz_scratch_free frees it. */
int qz_scratch_alloc(qz_scratch *s, const qz_net *net, int T);
void qz_scratch_free(qz_scratch *s);

/* A copy of src (dst is overwritten) whose weights and biases are those of
 * q, built from src, dequantized: w_scale[o] * w and bias[o] * in_scale *
 * w_scale[o]. Forward it with fq = q to simulate q in float. Free with
 * qz_net_free. */
nn_status qz_net_dequantize(qz_net *dst, const qz_net *src, const qm_model *q, nn_error *err);

static inline const float *qz_net_logits(const qz_net *net, const float *tensors)
{
    return tensors + net->tensor_off[net->n_ops];
}

/* The activation grid of every float layer of m (grid: m->n_nodes) whose
 * output is the output of an op of q, the int8 model built from m (it
 * lowers m again: qz_fop.value_layer): that op's output quantization and
 * clamp; scale 0 for the
 * others, and for the logits (the last op). input_values (in_c * 256
 * floats) receives the value of each raw pixel value on q's input grid (its
 * table: nn_model.input_values). With both, an executor of m computes in
 * float what the int8 model computes, up to the rounding of accumulators
 * and biases (quantization-aware training of activations: nn_act_grid.h). */
nn_status qz_act_grids(nn_act_grid *grid, float *input_values, const nn_model *m,
                       const qm_model *q, nn_error *err);

/* ---- 2. calibration -------------------------------------------------------- */

/* A histogram of values over [lo, hi] in `bins` equal bins; exact zeros
 * are counted apart (zeros), since ReLU outputs have many. The range rules
 * below never index outside the bins, whatever the histogram: a bound that
 * is not finite gives [0, 0] (qz_calibrate never builds such a histogram:
 * it fails first, naming the layer whose activations are not finite); no
 * bins, or a width hi - lo that is not a finite positive number, gives
 * qz_range_percentile [0, 0] and qz_range_mse min/max widened to contain 0. */
typedef struct {
    double lo, hi;
    int bins;
    const uint64_t *count;
    uint64_t zeros;
} qz_hist;

/* Clip range keeping the central pct percent of the values (zeros
 * included): lo at the (100 - pct)th percentile, hi at the pct-th, each
 * taken at the outer edge of its bin, then widened to contain 0. */
void qz_range_percentile(const qz_hist *h, double pct, double *lo, double *hi);

/* The clip [j/256 * h->lo, k/256 * h->hi] (j, k in 1..256, each end on
 * its own) minimizing the expected squared error of 8-bit quantization:
 * rounding noise step^2 / 12 for each non-zero value inside, and the
 * squared distance to the edge (at bin centres) for each value outside.
 * Exact zeros cost nothing. Ties keep the wider clip. */
void qz_range_mse(const qz_hist *h, double *lo, double *hi);

/* n distinct indices in [0, total) drawn by seed (a partial Fisher-Yates
 * shuffle keyed by (seed, "calibration")), sorted ascending; n <= total. */
void qz_pick_calibration(uint32_t *index, int n, int total, uint64_t seed);

#define QZ_HIST_BINS 2048

/* Real output range lo[i] <= 0 <= hi[i] of every op i of net over the
 * images index[0..n) of `images` (raw pixels in the net's input shape),
 * by `method` (pools and the last op: min/max). Uses `threads` threads;
 * the result does not depend on their number. Any finite activations
 * work, up to +-FLT_MAX. NN_ERR_NUMERIC when the normalized input or an
 * op's output is not finite (NaN or an overflow to infinity), naming the
 * op's float layer, the first such calibration image and element. */
nn_status qz_calibrate(double *lo, double *hi, const qz_net *net, const uint8_t *images,
                       const uint32_t *index, int n, qz_method method, double percentile,
                       int threads, nn_error *err);

/* ---- 3. integers ------------------------------------------------------------ */

/* Builds the qm_model of net from per-op output ranges (lo/hi as
 * qz_calibrate gives; pools' entries are ignored) and weight bits per op
 * (bits[i] 8 or 4 for conv/dense ops). The result passed qm_model_validate;
 * free it with qm_model_free. */
nn_status qz_build(qm_model *q, const qz_net *net, const double *lo, const double *hi,
                   const int *bits, nn_error *err);

/* The weight scale, before rounding (qp_round_scale_up), of one output
 * channel's n weights w whose largest magnitude is wmax > 0: wmax / 127
 * at 8 bits; at 4 bits the clipping of wmax / 7 (1, 0.975, ..., 0.5 of
 * it) with the least squared rounding error. */
double qz_weight_scale(const float *w, size_t n, double wmax, int bits);

/* Weight bits of every op of net under cfg (the global setting, then the
 * override of the op's source layer). An override naming a layer that is
 * not a conv2d or dense of the model is an NN_ERR_ARG. */
nn_status qz_op_bits(int *bits, const qz_net *net, const nn_model *m, const qz_config *cfg,
                     nn_error *err);

/* Like qz_op_bits, and fixed[i] = 1 for the ops an override sets. */
nn_status qz_op_bits_fixed(int *bits, int *fixed, const qz_net *net, const nn_model *m,
                           const qz_config *cfg, nn_error *err);

/* Share of images[index[0..n)] (labels[index[i]]) that the int8 model q,
 * built from net, classifies correctly, simulated in float (qz_net_forward
 * with fake quantization; it agrees with the integer model to within a
 * step of the logits' grid). */
nn_status qz_simulated_accuracy(double *acc, const qz_net *net, const qm_model *q,
                                const uint8_t *images, const uint8_t *labels, const uint32_t *index,
                                int n, int threads, nn_error *err);

/* Lower-bit weights where accuracy allows: starting from bits (as
 * qz_op_bits_fixed gives), tries 4 bits for each conv/dense op not fixed,
 * the ones with most weights first, and keeps it when the simulated
 * accuracy on the images stays within max_drop points (percent) of the
 * starting model's. *acc0 and *acc1 receive the accuracy before and
 * after. Deterministic for given inputs, whatever the thread count. */
nn_status qz_auto_bits(int *bits, const int *fixed, const qz_net *net, const double *lo,
                       const double *hi, const uint8_t *images, const uint8_t *labels,
                       const uint32_t *index, int n, double max_drop, int threads, double *acc0,
                       double *acc1, nn_error *err);

/* ---- all three ---------------------------------------------------------------- */

/* The images one quantization reads. */
typedef struct {
    const uint8_t *images; /* (N, in_c, in_h, in_w) raw pixels, the model's input shape */
    const uint8_t *labels; /* (N), or NULL: cfg->auto_bits is then ignored             */
    const uint32_t *index; /* calibration on images[index[0..n)] (NULL: the first n)    */
    int n;
    /* Where cfg->auto_bits judges accuracy: judge_images[judge_index[0..n_judge)]
     * (index NULL: the first n_judge) with judge_labels; when judge_images is
     * NULL, the calibration images with `labels`. */
    const uint8_t *judge_images, *judge_labels;
    const uint32_t *judge_index;
    int n_judge;
} qz_data;

/* What a quantization chose, per op of the built model. */
typedef struct {
    int src_layer[QM_MAX_OPS]; /* the float layer op i implements        */
    int bits[QM_MAX_OPS];      /* its weight bits (0: an op without weights) */
    double acc8, acc_auto;     /* cfg->auto_bits: simulated accuracy (0..1) at
                                * the starting bits and at the chosen ones */
} qz_result;

/* qz_lower, qz_calibrate, qz_op_bits_fixed, qz_auto_bits (when cfg asks for
 * it and labels are given), qz_build: the int8 model q of m under cfg.
 * res (may be NULL) receives what was chosen. On an error q is empty. */
nn_status qz_quantize_model(qm_model *q, qz_result *res, const nn_model *m, const qz_config *cfg,
                            const qz_data *data, int threads, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
