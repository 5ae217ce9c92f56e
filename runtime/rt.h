/* rt.h - the iotcnn inference runtime: runs a deploy image (rt_image.h)
 * with integer arithmetic only, on a microcontroller or a host.
 *
 * Freestanding C99: no malloc, no stdio, no libm, no threads, no global
 * mutable state. It needs memcpy, memset and the compiler's helpers only.
 *
 *   1. rt_image_check(image, bytes, &info) once: validates everything the
 *      runtime will rely on (magic, version, CRC, every offset, size, index,
 *      enum, range and alignment, every sparse weight stream) without
 *      reading a byte outside [image, image + bytes).
 *   2. rt_run(image, arena, arena_bytes, pixels, logits) per inference:
 *      raw uint8 pixels (in_c, in_h, in_w) in, num_classes int8 logits out,
 *      inside the caller's arena of info.arena_bytes bytes (8-byte
 *      aligned). The image is read in place and never written: weights are
 *      executed from where they lie (flash), sparse layers stay sparse and
 *      4-bit weights stay packed (on DSP cores, an S4 conv whose scratch the
 *      builder made room for is widened to S8 there, per inference:
 *      rt_conv2d_widen_bytes). rt_run writes only the arena and the
 *      logits, and its result does not depend on the arena's previous
 *      contents.
 *
 * Kernels (the CMSIS-NN shape): one function per op and weight format,
 * plain structs for dimensions, parameters and quantization, a context
 * {buf, size, isa} for scratch sized by the *_scratch_bytes companion and
 * the instruction set, a status return. Each kernel has a portable C body
 * (which runs every weight format) and, depending on the target:
 *   - Cortex-M with the DSP extension (__ARM_FEATURE_DSP: M4, M7, M33,
 *     M55): DSP bodies, picked at compile time;
 *   - x86-64 (GCC or Clang): the x86 weight layouts (X8, X4; rt_image.h)
 *     for conv2d and dense, with AVX2 and AVX-512 VNNI bodies compiled
 *     with per-function target attributes (no -m flag needed) and picked
 *     at run time from what the CPU supports (rt_isa_best), or as the
 *     caller asks (rt_context.isa, rt_run_isa). Builds for other cores
 *     contain none of it (rt_config.h).
 * Every body gives the same bytes: int32 accumulation modulo 2^32 and
 * qmodel.h's requantization, bit for bit.
 * rt_config.h can leave kernels out of a build (`iotcnn export` writes one
 * with only what the model uses); rt_image_check then refuses an image that
 * needs a missing kernel (RT_E_UNSUPPORTED). */
#ifndef RT_H
#define RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RT_OK = 0,
    RT_E_ARG = 1,         /* NULL pointer, misaligned arena or too small    */
    RT_E_MAGIC = 2,       /* not a deploy image                              */
    RT_E_VERSION = 3,     /* a version this runtime does not read            */
    RT_E_TRUNCATED = 4,   /* image shorter than its header says              */
    RT_E_CRC = 5,         /* contents do not match the checksum              */
    RT_E_FORMAT = 6,      /* a field out of range, offset outside the image, */
                          /* a malformed weight stream                       */
    RT_E_UNSUPPORTED = 7  /* a kernel this build leaves out (rt_config.h)    */
} rt_status;

/* What rt_image_check found; `bad_offset` is the image offset of the field
 * that failed (0 when not applicable), bad_op the op index or -1. */
typedef struct {
    uint32_t image_bytes, arena_bytes;
    uint16_t in_c, in_h, in_w, num_classes, n_ops;
    uint8_t target;
    int8_t in_zero, out_zero;
    uint32_t in_scale_bits, out_scale_bits; /* float32 bit patterns          */
    uint32_t macs, nonzero_macs, weight_bytes;
    uint32_t bad_offset;
    int bad_op;
} rt_info;

/* "ok", "bad argument", ...: a short English phrase. */
const char *rt_status_str(rt_status st);

/* Validates the image (see above). info may be NULL; it is filled as far
 * as the check got. */
rt_status rt_image_check(const void *image, size_t image_bytes, rt_info *info);

/* Arena bytes the image needs (its header field); 0 if image is NULL. Only
 * meaningful for an image that passed rt_image_check. */
uint32_t rt_arena_bytes(const void *image);

/* Instruction sets of the kernel bodies. Explicit values: they appear in
 * reports. */
typedef enum {
    RT_ISA_AUTO = 0,        /* the best this CPU runs (rt_isa_best)          */
    RT_ISA_C = 1,           /* the bodies compiled in for every core: the
                               portable C ones (and, on a Cortex-M with the
                               DSP extension, the DSP ones)                   */
    RT_ISA_AVX2 = 2,        /* x86-64 AVX2                                   */
    RT_ISA_AVX512_VNNI = 3  /* x86-64 AVX-512 F/BW/VL + VNNI (vpdpbusd)      */
} rt_isa;

/* "auto", "c", "avx2", "avx512-vnni"; NULL for an unknown value. */
const char *rt_isa_name(rt_isa isa);

/* 1 when this build has the ISA's bodies and this CPU (and OS) can run
 * them; AUTO and C always can. Reads the CPU's features as libgcc found
 * them (__builtin_cpu_supports): no state of the runtime's own. Only a
 * build with the x86 layouts has x86 bodies. */
int rt_isa_supported(rt_isa isa);

/* AVX-512 VNNI, else AVX2, else C. */
rt_isa rt_isa_best(void);

/* One inference. The image must have passed rt_image_check (rt_run checks
 * only the magic and the arena size). arena: 8-byte aligned, arena_bytes >=
 * rt_arena_bytes(image). pixels (in_c, in_h, in_w) uint8; logits
 * (num_classes) int8. RT_E_ARG on a NULL pointer, a misaligned or short
 * arena; RT_E_MAGIC on a non-image. rt_run uses RT_ISA_AUTO; rt_run_isa
 * the given ISA (RT_E_UNSUPPORTED when rt_isa_supported says no). */
rt_status rt_run(const void *image, void *arena, size_t arena_bytes, const uint8_t *pixels,
                 int8_t *logits);
rt_status rt_run_isa(const void *image, void *arena, size_t arena_bytes, const uint8_t *pixels,
                     int8_t *logits, rt_isa isa);

/* ---- kernels ------------------------------------------------------------------ */

/* An int8 HWC tensor's shape. */
typedef struct {
    uint16_t h, w, c;
} rt_dims;

/* How a conv2d or dense kernel runs: its scratch memory and, in a build
 * with x86 bodies, the instruction set (RT_ISA_AUTO, i.e. 0, or one that
 * rt_isa_supported accepts, else the kernel returns RT_E_UNSUPPORTED).
 * Other builds have one body per format and never read isa. */
typedef struct {
    void *buf;     /* 8-byte aligned */
    uint32_t size; /* bytes          */
    rt_isa isa;
} rt_context;

/* conv2d and pools: window, stride, zero padding (conv2d only). */
typedef struct {
    uint8_t kernel, stride, pad;
} rt_window;

/* Output quantization of conv2d and dense, per output channel. */
typedef struct {
    const int32_t *bias;  /* (out_c) zero point folded in (rt_image.h)      */
    const int32_t *mult;  /* (out_c) in [2^30, 2^31)                        */
    const uint8_t *shift; /* (out_c) in [1, 62]                             */
    int8_t out_zero, lo, hi;
} rt_quant;

/* A weight payload in one of the RT_WF_* formats (rt_image.h). */
typedef struct {
    const void *data; /* 4-byte aligned */
    uint32_t bytes;
    uint8_t fmt;      /* RT_WF_*        */
} rt_weights;

/* conv2d: x (in) -> y (out), weights (out.c, k, k, in.c) in w's format.
 * in_zero is the input's zero point (padding value). y must not overlap x
 * except as the arena planner allows (docs/deploy.md). The x86 layouts
 * (X8, X4) copy x into scratch first, so y may overlap x in any way. */
rt_status rt_conv2d(const rt_context *ctx, const rt_window *win, int8_t in_zero, const rt_quant *q,
                    const rt_dims *in, const int8_t *x, const rt_weights *w, const rt_dims *out,
                    int8_t *y);
uint32_t rt_conv2d_scratch_bytes(const rt_window *win, const rt_dims *in, const rt_dims *out,
                                 uint8_t fmt);

/* dense: x (in, any shape, K = h * w * c values) -> y (out.c values). */
rt_status rt_dense(const rt_context *ctx, const rt_quant *q, const rt_dims *in, const int8_t *x,
                   const rt_weights *w, const rt_dims *out, int8_t *y);
uint32_t rt_dense_scratch_bytes(const rt_dims *in, const rt_dims *out, uint8_t fmt);

/* maxpool / avgpool (no padding) and global average pooling. The output
 * keeps the input's zero point; lo is -128 or, with a fused ReLU, zero. */
rt_status rt_maxpool(const rt_window *win, int8_t lo, const rt_dims *in, const int8_t *x,
                     const rt_dims *out, int8_t *y);
rt_status rt_avgpool(const rt_window *win, int8_t zero, int8_t lo, const rt_dims *in,
                     const int8_t *x, const rt_dims *out, int8_t *y);
rt_status rt_global_avgpool(int8_t zero, int8_t lo, const rt_dims *in, const int8_t *x,
                            int8_t *y);

/* add: y = clamp(out_zero + rshift_round((a - za) * ma + (b - zb) * mb,
 * shift), lo, hi) over count values; y may equal a or b. */
typedef struct {
    int8_t a_zero, b_zero, out_zero, lo, hi;
    int32_t a_mult, b_mult; /* in [0, 2^31) */
    uint8_t shift;          /* in [1, 62]   */
} rt_add_params;
rt_status rt_add(const rt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y,
                 uint32_t count);

/* depthwise conv (depth multiplier 1): x (in) -> y (out, out.c = in.c),
 * weights (k, k, c) tap-major as rt_image.h lays them out (RT_WF_S8), the
 * requantization per channel as conv2d's. Needs no scratch; y must not
 * overlap x. The AVX2 body (16 channels at once, ctx->isa) gives the same
 * bytes as the C one, which the Cortex-M builds run. */
rt_status rt_depthwise(const rt_context *ctx, const rt_window *win, int8_t in_zero,
                       const rt_quant *q, const rt_dims *in, const int8_t *x,
                       const rt_weights *w, const rt_dims *out, int8_t *y);

/* conv2d with a residual add fused into its epilogue: each output value v
 * of the conv (exactly rt_conv2d's, with q's clamp) meets the residual
 * element r at the same index (res has out's shape) and
 *     y = clamp(add->out_zero + rshift_round((v - a_zero) * a_mult +
 *               (r - b_zero) * b_mult, shift), add->lo, add->hi)
 * is stored: rt_add's bytes, with a the conv's output (a_zero = q's
 * out_zero) and b the residual. y may equal res (element i of res is read
 * before element i of y is written, in element order or later), or start
 * below it; y overlaps x only as rt_conv2d's y may. The scratch is
 * rt_conv2d_add_scratch_bytes: an S8 layer stages an output row, the
 * other formats the whole conv output (no arena saving there).
 * RT_E_UNSUPPORTED in a build without RT_WITH_ADD. */
rt_status rt_conv2d_add(const rt_context *ctx, const rt_window *win, int8_t in_zero,
                        const rt_quant *q, const rt_dims *in, const int8_t *x,
                        const rt_weights *w, const rt_dims *out, const rt_add_params *add,
                        const int8_t *res, int8_t *y);
uint32_t rt_conv2d_add_scratch_bytes(const rt_window *win, const rt_dims *in, const rt_dims *out,
                                     uint8_t fmt);

/* The scratch of a conv2d (fused: with its add) that lets a core with the
 * DSP extension (Cortex-M4, M7, M33, M55) take its fastest body: at least
 * the bytes above, more for S4 layers whose in_c is a multiple of 8 (their
 * pass path, about 1.8x fewer instructions than the panel body). Given
 * less, but at least the minimum, the runtime takes the slower body: the
 * same bytes either way. UINT32_MAX: too large for an image. */
uint32_t rt_conv2d_scratch_best(const rt_window *win, const rt_dims *in, const rt_dims *out,
                                uint8_t fmt, int fused);

/* 1 when a core with the DSP extension runs an S4 conv2d (fused: with its
 * add) through those passes given scratch_bytes of scratch: in_c a
 * multiple of 8 and at least the passes' scratch. A build whose
 * rt_config.h sets RT_WITH_CONV_S4_PANEL to 0 (`iotcnn export` does when
 * every S4 conv of the model fits) runs only such layers: rt_image_check
 * refuses an image with others (RT_E_UNSUPPORTED), and so do rt_conv2d
 * and rt_conv2d_add. */
int rt_conv_s4_passes_fit(const rt_window *win, const rt_dims *in, const rt_dims *out, int fused,
                          uint32_t scratch_bytes);

/* The bytes of an S4 conv2d's weights widened to S8 (rt_image.h's S8 rows,
 * a multiple of 8): a core with the DSP extension (not the Cortex-M55)
 * widens them at the start of its scratch and runs the layer by the S8
 * bodies, Winograd's included, in the rest (the same bytes, fewer
 * instructions) when rt_conv_s4_widen_fits; UINT32_MAX when too large for
 * an image. A build whose rt_config.h sets RT_WITH_CONV_S4 to 0 (`iotcnn
 * export` does when it widens every S4 conv) runs only such S4 layers:
 * rt_image_check refuses an image with others (RT_E_UNSUPPORTED). */
uint32_t rt_conv2d_widen_bytes(const rt_window *win, const rt_dims *in, const rt_dims *out);

/* 1 when scratch_bytes hold the widened weights and the S8 body's
 * scratch (fused: with its add's stage). */
int rt_conv_s4_widen_fits(const rt_window *win, const rt_dims *in, const rt_dims *out, int fused,
                          uint32_t scratch_bytes);

/* 1 when a core with the DSP extension runs a conv2d of weight format fmt
 * (fused: with its add) by Winograd's F(2x2, 3x3), given scratch_bytes of
 * scratch: stride 1, 3x3, padding 1, S8 weights with in_c a multiple of 4
 * or S4 with a multiple of 8, and the scratch of a block of two output
 * rows. (Not on the Cortex-M55: its Helium and S4 bodies are faster.) */
int rt_conv_wino_fits(const rt_window *win, const rt_dims *in, const rt_dims *out, uint8_t fmt,
                      int fused, uint32_t scratch_bytes);

/* The scratch with which that body computes `bands` tile rows (two output
 * rows each; clamped to 1..(out.h + 1) / 2) per pass over the weights: more
 * bands, fewer transforms of the weights (the whole layer in one block does
 * each once). 0 when the body does not take the layer, UINT32_MAX when too
 * large for an image. rt_conv_wino_fits(..., rt_conv2d_wino_bytes(..., 1))
 * holds for every layer it takes. */
uint32_t rt_conv2d_wino_bytes(const rt_window *win, const rt_dims *in, const rt_dims *out,
                              uint8_t fmt, int fused, uint32_t bands);

#ifdef __cplusplus
}
#endif

#endif
