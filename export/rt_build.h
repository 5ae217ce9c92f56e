/* rt_build.h - builds a deploy image (runtime/rt_image.h) from a quantized
 * model (format/qmodel.h). Host side: allocates, reports errors.
 *
 * Per conv2d/dense op the builder picks a weight format for the target
 * (sparse when the layer's density is at or below the target's threshold,
 * see rtb_choose_format), encodes the weights as the kernels read them,
 * folds the input zero point into the biases, plans the arena
 * (libnn/nn_arena.h with the kernels' overlap rule of rt_plan.h)
 * and writes the header, op table, input table and CRC. The image computes
 * exactly what quantize/qref.c computes, on every target and body. */
#ifndef RT_BUILD_H
#define RT_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "format/qmodel.h"
#include "libnn/nn_error.h"
#include "runtime/rt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RTB_SPARSE_AUTO = 0,   /* by density and target                        */
    RTB_SPARSE_NEVER = 1,  /* dense formats only                           */
    RTB_SPARSE_ALWAYS = 2  /* sparse wherever the format can express it    */
} rtb_sparse;

typedef struct {
    int target;            /* RT_TARGET_*                                  */
    rtb_sparse sparse;
    int allow_overflow;    /* tests: skip the int32 accumulator bound      */
    rt_isa isa;            /* x86-64: the ISA the image is for (AUTO: the
                              best this CPU runs); it moves the density at
                              which dense layers go sparse. Every ISA runs
                              every image.                                 */
    int no_fuse;           /* 1: every add stays a separate op (tests and
                              comparisons); 0: an add right after the conv
                              that alone reads one of its inputs is fused
                              into that conv's epilogue                    */
    uint64_t arena_limit;  /* the arena that the scratch of the Winograd
                              body (rt_conv2d_wino_bytes) and of S4 convs
                              widened to S8 (rt_conv2d_widen_bytes) may
                              grow it to on DSP cores; 0: the arena of the
                              direct bodies                                */
} rtb_options;

typedef struct {
    int type, fmt;         /* RT_OP_*, RT_WF_*                             */
    int fused;             /* conv2d: the next op (an add) is fused into it;
                              add: fused into the previous op (no image op
                              of its own)                                  */
    int wino;              /* conv2d: a DSP core runs it by Winograd's
                              F(2x2, 3x3) (its scratch holds the blocks)   */
    int widen;             /* S4 conv2d: a DSP core widens its weights to
                              S8 in its scratch and runs the S8 bodies
                              (rt_conv_s4_widen_fits)                       */
    uint32_t w_bytes, q_bytes, scratch_bytes, nnz, n_weights;
    uint64_t macs, nonzero_macs;
    uint32_t in_off, out_off, scratch_off, out_bytes;
} rtb_op_info;

typedef struct {
    uint8_t *data;         /* the image, 8-aligned allocation              */
    size_t bytes;
    uint64_t arena_bytes, arena_lower_bound;
    uint64_t macs, nonzero_macs, weight_bytes;
    int n_ops;             /* the model's ops (ops[] is per model op)      */
    int image_ops;         /* the image's: n_ops less the fused adds       */
    int s4_panel;          /* an S4 conv that a DSP core cannot run through
                              the S8 passes (rt_conv_s4_passes_fit): the
                              export's RT_WITH_CONV_S4_PANEL               */
    int wino;              /* a conv that a DSP core runs by Winograd's
                              F(2x2, 3x3) (rt_conv_wino_fits): RT_WITH_WINO */
    int widen;             /* an S4 conv widened: RT_WITH_CONV_S4_WIDEN    */
    int conv_lo;           /* a conv whose clamp is above -128 (a ReLU with
                              its zero point above): RT_WITH_CONV_LO       */
    rtb_op_info ops[QM_MAX_OPS];
} rtb_image;

/* "generic", "cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33",
 * "cortex-m55", "x86-64"; NULL / -1 for unknown. */
const char *rtb_target_name(int target);
int rtb_target_parse(const char *name);
/* 1 for targets whose runtime build uses the DSP-extension kernels. */
int rtb_target_has_dsp(int target);

/* The target of the images the host runs: x86-64 where this build's
 * runtime has the x86 layouts, else generic. */
int rtb_host_target(void);

/* The weight format op gets for the target, policy and (x86-64) ISA. */
int rtb_choose_format(const qm_op *op, int target, rtb_sparse sparse, rt_isa isa);

/* Builds the image. Errors (NN_ERR_FORMAT naming the op): the model fails
 * qm_model_validate or the accumulator bound (iotc_check_accumulators), a
 * pool changes its zero point, a shape exceeds the image's 16-bit fields.
 * out is zeroed first; free with rtb_free. opt NULL: generic, AUTO. */
nn_status rtb_build(rtb_image *out, const qm_model *m, const rtb_options *opt, nn_error *err);
void rtb_free(rtb_image *img);

#ifdef __cplusplus
}
#endif

#endif
