/* iotc.h - the quantized model file (.iotc): what `iotcnn quantize` writes
 * and what an int8 engine loads. Self-contained: the ops, their
 * quantization, weights, biases, the input table and metadata are inside.
 *
 * Framing: the section/CRC container (container.h, the checkpoint's too)
 * with magic "IOTCNNQ8" and version 1; all values little-endian. Below, uvar/svar are LEB128
 * varints (qio.h), f32 IEEE-754 bits, and [x] marks a field present only for some op types.
 *
 *   META  uvar count; per entry uvar key length, key ([a-z0-9_], 1..31
 *         bytes), uvar value length (0..255), value (text, no control
 *         characters). Optional: source model, calibration, accuracy...
 *   INPT  uvar in_c, in_h, in_w, num_classes; f32 in.scale; svar in.zero;
 *         f32 mean[in_c], f32 std[in_c] (the float model's normalization);
 *         u8 table: 0 = the (in_c, 256) int8 input table follows, 1 = it is
 *         qp_input_lut(mean, std, in) (stored only when that differs).
 *   GRPH  uvar n_ops; per op:
 *           u8 type (qm_op_type code); uvar input + 1; [add: uvar input2 + 1];
 *           uvar in_c, in_h, in_w, out_c, out_h, out_w;
 *           [conv2d, depthwise_conv2d, maxpool, avgpool: uvar kernel,
 *            stride, pad];
 *           u8 activation (0 none, 1 relu, 2 relu6); f32 out.scale;
 *           svar out.zero;
 *           [conv2d, dense, depthwise_conv2d: u8 weight_bits];
 *           [add: uvar add_mult[0], add_mult[1], add_shift];
 *           svar source float layer (-1: none); u8 name length (< 32), name.
 *   Lnnn  one per conv2d/dense/depthwise_conv2d op, nnn its index in decimal:
 *           u8 flags: bit 0 = weight scales stored as u16 (the high half
 *             of the f32; the quantizer rounds scales so), bit 1 =
 *             multipliers stored (else derived: qp_requant(in.scale,
 *             w_scale[o], out.scale) for each channel); other bits 0;
 *           w_scale[out_c] (u16 or f32); bias[out_c] svar;
 *           [bit 1: u32 mult[out_c], u8 shift[out_c]];
 *           u8 weight encoding (wc_encoding) and its payload (wcodec.h):
 *           dense, bitmap or gap-coded positions with raw or Huffman
 *           values, or everything through a context-modelled range coder,
 *           whichever is smallest for that layer (rows = out_c).
 *   CLSN  the class names (classes.h), optional.
 * Unknown tags are skipped (a newer writer's optional sections); INPT,
 * GRPH and the Lnnn of every weighted op are required.
 *
 * The loader checks every length, index, enum and range before use (and
 * that a pool's output quantization is its input's), decodes the weights
 * with validating decoders, then runs qm_model_validate and
 * iotc_check_accumulators. Every error names the path, the section and a
 * byte offset. */
#ifndef IOTC_H
#define IOTC_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_io.h"
#include "libnn/nn_spec.h"
#include "classes.h"
#include "container.h"
#include "qmodel.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IOTC_VERSION 1
#define IOTC_MAGIC "IOTCNNQ8"
#define IOTC_MAX_META 16
#define IOTC_NAME_MAX 32
#define IOTC_MAX_SECTIONS (QM_MAX_OPS + 16)
/* Caps that keep a forged file from making the loader allocate or loop
 * without bound: no real IoT model comes near them. */
#define IOTC_MAX_FILE_BYTES ((uint64_t)1 << 30)
#define IOTC_MAX_TOTAL_WEIGHTS ((uint64_t)1 << 28)

typedef ctr_section iotc_section;

/* The container's header of a .iotc file (magic, version, messages). */
extern const ctr_format IOTC_FORMAT;

typedef struct {
    qm_model m;
    float mean[NN_MAX_CHANNELS_NORM], std[NN_MAX_CHANNELS_NORM];
    int src_layer[QM_MAX_OPS];            /* float layer of each op, or -1  */
    char name[QM_MAX_OPS][IOTC_NAME_MAX]; /* that layer's name, or ""       */
    int n_meta;
    char meta_key[IOTC_MAX_META][IOTC_NAME_MAX];
    char meta_value[IOTC_MAX_META][256];
    cls_names classes; /* CLSN (n = 0: none stored)                  */

    /* Filled by iotc_encode / iotc_save / iotc_load: */
    int encoding[QM_MAX_OPS];      /* wc_encoding of weighted ops, -1 */
    uint64_t op_bytes[QM_MAX_OPS]; /* bytes of the op's Lnnn section  */
    int n_sections;
    iotc_section sections[IOTC_MAX_SECTIONS];
    uint64_t file_bytes;
} iotc_model;

/* Zeroes f: no ops, mean 0, std 1, src_layer -1, no metadata. */
void iotc_init(iotc_model *f);
void iotc_free(iotc_model *f); /* frees f->m; f can be reused after iotc_init */
/* iotc_free and free(f) of a malloc'd model; NULL does nothing. */
void iotc_delete(iotc_model *f);

/* Adds or replaces a metadata entry (NN_ERR_ARG on an invalid key or value,
 * or more than IOTC_MAX_META entries). */
nn_status iotc_set_meta(iotc_model *f, const char *key, const char *value, nn_error *err);
/* The value of key, or NULL. */
const char *iotc_get_meta(const iotc_model *f, const char *key);

/* Serializes f (whose m must pass qm_model_validate, pools carrying their
 * input's quantization) into out, choosing each layer's smallest weight
 * encoding; fills the statistics fields of f. A model the format cannot
 * hold (those rules, names outside [A-Za-z0-9_.-], normalization that is
 * not finite) is NN_ERR_FORMAT. */
nn_status iotc_encode(iotc_model *f, nn_wbuf *out, nn_error *err);
/* iotc_encode, then nn_write_file_atomic. */
nn_status iotc_save(const char *path, iotc_model *f, nn_error *err);

/* Decodes a whole file image; path (may be NULL) prefixes messages. On
 * failure f is left empty (iotc_init state). */
nn_status iotc_decode(iotc_model *f, const uint8_t *data, size_t len, const char *path,
                      nn_error *err);
nn_status iotc_load(iotc_model *f, const char *path, nn_error *err);

/* NN_OK when no conv2d/dense channel can overflow an int32 accumulator:
 * |bias[o]| + 255 * sum_k |w[o][k]| <= INT32_MAX (|x - in_zero| <= 255), so
 * an engine may accumulate in int32 for every input. The writer and the
 * loader require it (qm_model_validate does not check it); models from the
 * quantizer satisfy it by construction (quantize.h). */
/* The kernel width the weight codec reads an op's rows with (wcodec.h):
 * 1 for a dense layer, the op's kernel for a conv or depthwise one. */
static inline size_t iotc_codec_kernel(const qm_op *op)
{
    return op->type == QM_DENSE ? 1 : (size_t)op->kernel;
}

nn_status iotc_check_accumulators(const qm_model *m, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
