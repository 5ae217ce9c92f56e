/* rt_image.h - the deploy image: the model as the runtime executes it, in
 * place, from flash. Shared by the host builder (export/) and the runtime.
 *
 * The image is one flat byte array. Every multi-byte field is little-endian;
 * every offset is from the start of the image (image offsets) or from the
 * start of the arena (arena offsets). Nothing in it is a pointer, so the
 * image can sit at any 8-byte aligned address.
 *
 * Layout (all offsets 4-byte aligned, the image size a multiple of 8):
 *
 *   header      RT_HDR_BYTES (80) bytes, at 0
 *   op table    n_ops records of RT_OP_BYTES (64) bytes, at ops_off
 *   input table (in_c, 256) int8 at lut_off: q = lut[c * 256 + pixel];
 *               with flags bit 0 (RT_HF_INPUT_RULE) instead in_c rules of
 *               two i32 {a, b}: q = clamp((a * pixel + b) >> 16, -128, 127)
 *               (an arithmetic shift; |a| < 2^22, |b| < 2^30), which the
 *               builder writes when they give every entry of the table
 *   per op      per-channel quantization and weights, at q_off / w_off
 *
 * Header (offset, type, field):
 *    0 u32 magic        "IOTR" (0x52544f49)
 *    4 u16 version      RT_VERSION (2); a reader also takes 1 (version 1
 *                       images have no fused add) and refuses any other
 *    6 u16 header_bytes RT_HDR_BYTES
 *    8 u32 image_bytes  the whole image, header included
 *   12 u32 crc          CRC-32 (IEEE 802.3, as zlib's crc32) of bytes
 *                       [16, image_bytes)
 *   16 u32 arena_bytes  bytes of arena rt_run needs (8-byte aligned base)
 *   20 u8  target       RT_TARGET_* the builder chose layouts for (any
 *                       runtime build can run any target's image; the target
 *                       only changes which layouts and arena plan were picked;
 *                       only x86-64 images use X8/X4, which builds for
 *                       other cores leave out: RT_E_UNSUPPORTED there)
 *   21 u8  flags        bit 0 RT_HF_INPUT_RULE (the input rules above);
 *                       the other bits 0
 *   22 u16 n_ops        1..RT_MAX_OPS
 *   24 u16 in_c, 26 u16 in_h, 28 u16 in_w   input image (pixels CHW uint8)
 *   30 u16 num_classes  int8 values of the output
 *   32 u32 lut_off      the (in_c, 256) int8 input table, or its rules
 *   36 u32 ops_off      the op table
 *   40 u32 input_off    arena offset of the input tensor (in_h, in_w, in_c)
 *   44 u32 output_off   arena offset of the last op's output (the logits)
 *   48 u32 in_scale     float32 bits: real = in_scale * (q - in_zero)
 *   52 u32 out_scale    float32 bits: real logit = out_scale * (q - out_zero)
 *   56 i8  in_zero, 57 i8 out_zero, 58 u16 reserved (0)
 *   60 u32 macs         multiply-accumulates per image (saturated to 2^32-1)
 *   64 u32 nonzero_macs those whose weight is not zero
 *   68 u32 weight_bytes bytes of all weight payloads
 *   72 u32 reserved[2]  0
 *
 * Op record (RT_OP_BYTES = 64; `u` = unused for that type, must be 0):
 *    0 u8  type         RT_OP_* (the qmodel.h codes)
 *    1 u8  wfmt         RT_WF_* (conv2d, dense; depthwise: RT_WF_S8),
 *                       RT_WF_NONE otherwise
 *    2 u8  flags        bit 0: fused ReLU (informational: lo says it);
 *                       bit 1 (RT_OPF_ADD, conv2d only, version >= 2): a
 *                       residual add fused into the epilogue, below
 *    3 u8  kernel       conv2d, depthwise, maxpool, avgpool (u for others)
 *    4 u8  stride, 5 u8 pad
 *    6 i8  in_zero      zero point of the (first) input
 *    7 i8  in2_zero     add: zero point of the second input; fused
 *                       conv2d: the residual's
 *    8 i8  out_zero, 9 i8 lo, 10 i8 hi   output zero point and clamp (a
 *                       fused ReLU6 is hi below 127: qmodel.h's qm_op_hi)
 *   11 u8  reserved (0)
 *   12 u16 in_h, in_w, in_c, out_h, out_w, out_c    (12..23)
 *   24 u32 in_off       arena offset of the input tensor
 *   28 u32 in2_off      add: arena offset of the second input; fused
 *                       conv2d: of the residual (out's shape)
 *   32 u32 out_off      arena offset of the output tensor
 *   36 u32 scratch_off  arena offset of the kernel's scratch (8-aligned)
 *   40 u32 scratch_bytes what the kernel needs (rt_*_scratch_bytes)
 *   44 u32 w_off, 48 u32 w_bytes   weight payload (conv2d, dense)
 *   52 u32 q_off        conv2d/dense: per-channel quantization (below);
 *                       add: the shift in [1, 62]
 *   56 i32 aux0         conv2d/dense: non-zero weights; add: multiplier a
 *   60 i32 aux1         add: multiplier b (both in [0, 2^31)); fused
 *                       conv2d: image offset of its add block (below)
 *
 * A fused conv2d (flags bit 1) computes each output value v exactly as the
 * conv2d alone (out_zero, lo, hi above are the conv's), then stores the
 * add's result for v and the residual element r at the same index:
 *   y = clamp(a_out_zero + ((v - out_zero) * mult + (r - in2_zero) * mult2
 *             + 2^(shift-1)) >> shift, a_lo, a_hi)
 * i.e. the separate add op's bytes, with its first input the conv's. The
 * add block (RT_ADD_BLOCK_BYTES, 4-aligned, at aux1):
 *    0 i32 mult, 4 i32 mult2   in [0, 2^31)
 *    8 u8  shift in [1, 62], 9 i8 a_out_zero, 10 i8 a_lo, 11 i8 a_hi
 *   12 u32 reserved (0)
 * The output may be the residual's bytes (in place: element i of the
 * residual is read before element i of the output is written).
 *
 * Per-channel quantization at q_off (conv2d, dense, depthwise; O = out_c):
 *   i32 bias[O]   the qmodel bias with the input zero point folded in:
 *                 bias[o] - in_zero * sum_k w[o][k], modulo 2^32
 *   i32 mult[O]   in [2^30, 2^31)
 *   u8  shift[O]  in [1, 62], then zero bytes to a multiple of 4
 * so that acc = bias[o] + sum_k w[o][k] * x[k] (modulo 2^32, raw int8 x)
 * and y = clamp(out_zero + ((acc * mult + 2^(shift-1)) >> shift), lo, hi),
 * exactly qmodel.h's rule.
 *
 * Depthwise (RT_OP_DEPTHWISE, depth multiplier 1: out_c = in_c, padding
 * allowed): output channel c reads input channel c only, with
 *   acc = bias[c] + sum over taps (ky, kx) of w[ky][kx][c] * x(iy, ix, c)
 * (in_zero outside the image) and conv2d's requantization. Its payload is
 * RT_WF_S8 laid out tap-major, the channels contiguous: weight (ky, kx, c)
 * at (ky * kernel + kx) * in_c + c, kernel * kernel * in_c bytes padded with
 * zeros to a multiple of 4 (the channels of one tap are one vector load).
 *
 * Weight payloads (K = kernel * kernel * in_c for conv2d, in_h * in_w * in_c
 * for dense; weights w[o][k] in qmodel.h order: conv2d (ky, kx, c), dense
 * the HWC order of the input):
 *
 *   RT_WF_S8   dense int8. Per output channel a row of K int8, the row
 *              padded with zeros to a multiple of 4 bytes.
 *   RT_WF_S4   dense 4-bit. Per output channel ceil(K / 8) u32 words;
 *              weight k is bits 4(k%8)..4(k%8)+3 of word k/8, two's
 *              complement (-7..7); padding nibbles are 0.
 *   RT_WF_SP4  sparse 4-bit, executed as stored. A u16 stream; per output
 *              channel: u16 nblocks (>= 1), then nblocks blocks, each a
 *              u16 count and that many entries. An entry is
 *              (delta << 4) | (w & 15): w in [-7, 7] (0 only in a skip
 *              entry, which bridges a gap longer than one delta), delta >= 0
 *              the distance in bytes from the previous entry's address (the
 *              first entry of a channel from address 0; addresses run on
 *              across the channel's blocks). dense: the address is the
 *              input index k, delta <= 4095. conv2d: the address is the
 *              tap's address in the panel (below), delta a multiple of 4 and
 *              <= 4092, every address a valid tap, and each block's sum of
 *              |w| at most 255 (what keeps two 16-bit lanes exact in the
 *              Cortex-M kernel). The stream ends with zero padding to a
 *              multiple of 4 bytes.
 *   RT_WF_SP8  sparse 8-bit. Per output channel: u16 n, u16 delta[n]
 *              (addresses as for SP4, delta <= 65535, no skip entries, no
 *              blocks), int8 w[n] (non-zero), a zero byte if n is odd;
 *              the payload ends with zero padding to a multiple of 4.
 *   RT_WF_X8   blocked 8-bit, the x86 bodies' layout (rt_x.c; it is the
 *              operand order of AVX-512 VNNI's vpdpbusd, and AVX2 reads
 *              it too). conv2d: each kernel row's kernel * in_c taps padded
 *              with zero weights to kcp, the next multiple of 4, so the k
 *              index kk = ky * kcp + kx * in_c + c runs over Kx = kernel *
 *              kcp; dense: kk = k over Kx = K rounded up to a multiple of
 *              4. Output channels in blocks of 16 (Op = out_c rounded up to
 *              16, the padding channels all zero). The payload:
 *                i32 wsum[Op]   sum_k w[o][k] modulo 2^32: what the bodies
 *                               that read x + 128 as unsigned bytes take
 *                               back out (128 * wsum)
 *                i8  w[Op / 16][Kx / 4][16][4]   weight (o, kk) at
 *                    (o / 16) * Kx * 16 + (kk / 4) * 64 + (o % 16) * 4 + kk % 4
 *              so w_bytes = 4 * Op + Op * Kx; every padding weight is 0
 *              (dense: K up to 2^24).
 *   RT_WF_X4   the same layout and payload with every weight in [-7, 7]
 *              (a byte each): AVX2's 4-bit body (vpmaddubsw, int16
 *              partial sums) relies on the bound.
 *
 * The panel (sparse conv2d addresses). The conv kernels for RT_WF_SP4 and
 * RT_WF_SP8 compute two output rows at once and read their input from a
 * panel in scratch: for output rows (oy, oy + 1) and each kernel row ky, a
 * slot holds per input channel c, per column phase f < s and per index
 * i < Wq the 32-bit word
 *     x(r, col, c) + 65536 * x(r + s, col, c)   (two int16 lanes)
 *     r = oy * s - pad + ky,  col = i * s + f - pad
 * with in_zero outside the image; s = stride, Wp = in_w + 2 * pad,
 * Wq = ceil(Wp / s). Strides: chanB = s * Wq * 4, slotB = in_c * chanB.
 * Tap (ky, kx, c) of output column ox reads the word at
 *     ky * slotB + c * chanB + (kx % s) * Wq * 4 + (kx / s + ox) * 4
 * and a weight's address in the stream is that with ox = 0.
 *
 * Arena. Tensors are int8 HWC. The builder planned every offset from the
 * tensor lifetimes: tensors that are never live at once share bytes, and an
 * op's output may overlap the input it consumes for the last time where the
 * kernel's order makes that safe (docs/deploy.md). rt_image_check verifies
 * that every tensor and scratch area lies inside arena_bytes. */
#ifndef RT_IMAGE_H
#define RT_IMAGE_H

#ifdef __cplusplus
extern "C" {
#endif

#define RT_MAGIC 0x52544f49u /* "IOTR" read as a little-endian u32 */
#define RT_VERSION 2     /* 2: the fused add (RT_OPF_ADD); 1 still read */
#define RT_VERSION_MIN 1
#define RT_HDR_BYTES 80
#define RT_OP_BYTES 64
#define RT_MAX_OPS 256
#define RT_MAX_IMAGE_BYTES 0x7ff00000u

/* Op types: the qmodel.h codes, stored in images. Never renumber. */
enum {
    RT_OP_CONV2D = 1,
    RT_OP_DENSE = 2,
    RT_OP_MAXPOOL = 3,
    RT_OP_AVGPOOL = 4,
    RT_OP_GLOBAL_AVGPOOL = 5,
    RT_OP_ADD = 6,
    RT_OP_DEPTHWISE = 7
};

/* Weight formats, stored in images. Never renumber. */
enum {
    RT_WF_NONE = 0,
    RT_WF_S8 = 1,
    RT_WF_S4 = 2,
    RT_WF_SP4 = 3,
    RT_WF_SP8 = 4,
    RT_WF_X8 = 5,
    RT_WF_X4 = 6
};

/* Targets (header byte 20), stored in images. Never renumber. */
enum {
    RT_TARGET_GENERIC = 0,
    RT_TARGET_CORTEX_M0PLUS = 1,
    RT_TARGET_CORTEX_M4 = 2,
    RT_TARGET_CORTEX_M7 = 3,
    RT_TARGET_CORTEX_M33 = 4,
    RT_TARGET_CORTEX_M55 = 5,
    RT_TARGET_X86_64 = 6
};

/* Header field offsets. */
enum {
    RT_H_MAGIC = 0,
    RT_H_VERSION = 4,
    RT_H_HEADER_BYTES = 6,
    RT_H_IMAGE_BYTES = 8,
    RT_H_CRC = 12,
    RT_H_ARENA_BYTES = 16,
    RT_H_TARGET = 20,
    RT_H_FLAGS = 21,
    RT_H_N_OPS = 22,
    RT_H_IN_C = 24,
    RT_H_IN_H = 26,
    RT_H_IN_W = 28,
    RT_H_NUM_CLASSES = 30,
    RT_H_LUT_OFF = 32,
    RT_H_OPS_OFF = 36,
    RT_H_INPUT_OFF = 40,
    RT_H_OUTPUT_OFF = 44,
    RT_H_IN_SCALE = 48,
    RT_H_OUT_SCALE = 52,
    RT_H_IN_ZERO = 56,
    RT_H_OUT_ZERO = 57,
    RT_H_RESERVED0 = 58,
    RT_H_MACS = 60,
    RT_H_NONZERO_MACS = 64,
    RT_H_WEIGHT_BYTES = 68,
    RT_H_RESERVED1 = 72
};

/* Op record field offsets. */
enum {
    RT_O_TYPE = 0,
    RT_O_WFMT = 1,
    RT_O_FLAGS = 2,
    RT_O_KERNEL = 3,
    RT_O_STRIDE = 4,
    RT_O_PAD = 5,
    RT_O_IN_ZERO = 6,
    RT_O_IN2_ZERO = 7,
    RT_O_OUT_ZERO = 8,
    RT_O_LO = 9,
    RT_O_HI = 10,
    RT_O_RESERVED = 11,
    RT_O_IN_H = 12,
    RT_O_IN_W = 14,
    RT_O_IN_C = 16,
    RT_O_OUT_H = 18,
    RT_O_OUT_W = 20,
    RT_O_OUT_C = 22,
    RT_O_IN_OFF = 24,
    RT_O_IN2_OFF = 28,
    RT_O_OUT_OFF = 32,
    RT_O_SCRATCH_OFF = 36,
    RT_O_SCRATCH_BYTES = 40,
    RT_O_W_OFF = 44,
    RT_O_W_BYTES = 48,
    RT_O_Q_OFF = 52,
    RT_O_AUX0 = 56,
    RT_O_AUX1 = 60
};

/* Op flags (byte 2). */
#define RT_OPF_RELU 1
#define RT_OPF_ADD 2

/* The add block of a fused conv2d. */
#define RT_ADD_BLOCK_BYTES 16
enum {
    RT_A_MULT = 0,
    RT_A_MULT2 = 4,
    RT_A_SHIFT = 8,
    RT_A_OUT_ZERO = 9,
    RT_A_LO = 10,
    RT_A_HI = 11,
    RT_A_RESERVED = 12
};

/* Header flags. */
#define RT_HF_INPUT_RULE 1
#define RT_INPUT_RULE_SHIFT 16

/* SP4 limits (see above). */
#define RT_SP4_MAX_DELTA_DENSE 4095
#define RT_SP4_MAX_DELTA_CONV 4092
#define RT_SP4_BLOCK_ABS_SUM 255

/* X8/X4: output channels per block, k values per group. */
#define RT_X_OCB 16
#define RT_X_KG 4

#ifdef __cplusplus
}
#endif

#endif
