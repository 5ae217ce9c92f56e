/* rt_run.c - one inference: the input table, then the op list of the image
 * in order, each op on the arena offsets the builder planned. */
#include "rt_internal.h"

#if defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/* A build may define RT_OP_HOOK(i) to observe the op boundaries (the
 * device harness's per-op profile); the default is nothing. */
#ifndef RT_OP_HOOK
#define RT_OP_HOOK(i)
#endif

/* The pixels (CHW) to the input tensor (HWC): by the table, or by its
 * rules (rt_image.h, RT_HF_INPUT_RULE). */
static void input_table(const uint8_t *im, int8_t *x, const uint8_t *pixels)
{
    const uint32_t C = rt_rd16(im + RT_H_IN_C);
    const uint32_t hw = rt_rd16(im + RT_H_IN_H) * rt_rd16(im + RT_H_IN_W);
    const uint8_t *lut = im + rt_rd32(im + RT_H_LUT_OFF);
    const int rule = im[RT_H_FLAGS] & RT_HF_INPUT_RULE;
    for (uint32_t c = 0; c < C; c++, lut += rule ? 8 : 256) {
        const uint8_t *src = pixels + c * hw;
        int8_t *dst = x + c;
        if (!rule) {
            for (uint32_t i = 0; i < hw; i++, dst += C)
                *dst = (int8_t)lut[src[i]];
            continue;
        }
        const int32_t a = (int32_t)rt_rd32(lut), b = (int32_t)rt_rd32(lut + 4);
        for (uint32_t i = 0; i < hw; i++, dst += C) {
            const int32_t q = (a * src[i] + b) >> RT_INPUT_RULE_SHIFT;
#if defined(__ARM_FEATURE_SAT) /* one SSAT, with the shift */
            *dst = (int8_t)__ssat(q, 8);
#else
            *dst = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
#endif
        }
    }
}

static rt_status run_op(const uint8_t *im, const uint8_t *r, uint8_t *ar, rt_isa isa)
{
    const uint32_t type = r[RT_O_TYPE];
    const rt_window win = {r[RT_O_KERNEL], r[RT_O_STRIDE], r[RT_O_PAD]};
    const rt_dims in = {(uint16_t)rt_rd16(r + RT_O_IN_H), (uint16_t)rt_rd16(r + RT_O_IN_W),
                        (uint16_t)rt_rd16(r + RT_O_IN_C)};
    const rt_dims out = {(uint16_t)rt_rd16(r + RT_O_OUT_H), (uint16_t)rt_rd16(r + RT_O_OUT_W),
                         (uint16_t)rt_rd16(r + RT_O_OUT_C)};
    const int8_t *x = (const int8_t *)(ar + rt_rd32(r + RT_O_IN_OFF));
    int8_t *y = (int8_t *)(ar + rt_rd32(r + RT_O_OUT_OFF));
    const int8_t in_zero = (int8_t)r[RT_O_IN_ZERO], lo = (int8_t)r[RT_O_LO];
    switch (type) {
    case RT_OP_CONV2D:
    case RT_OP_DEPTHWISE:
    case RT_OP_DENSE: {
        const uint32_t O = out.c, q_off = rt_rd32(r + RT_O_Q_OFF);
        const rt_quant q = {(const int32_t *)(const void *)(im + q_off),
                            (const int32_t *)(const void *)(im + q_off + 4 * O), im + q_off + 8 * O,
                            (int8_t)r[RT_O_OUT_ZERO], lo, (int8_t)r[RT_O_HI]};
        const rt_weights w = {im + rt_rd32(r + RT_O_W_OFF), rt_rd32(r + RT_O_W_BYTES), r[RT_O_WFMT]};
        rt_context ctx;
        ctx.buf = ar + rt_rd32(r + RT_O_SCRATCH_OFF);
        ctx.size = rt_rd32(r + RT_O_SCRATCH_BYTES);
#if RT_X86 /* other builds never read it */
        ctx.isa = isa;
#else
        (void)isa;
#endif
#if RT_WITH_ADD
        if (r[RT_O_FLAGS] & RT_OPF_ADD) { /* the add block (rt_image.h) */
            const uint8_t *ab = im + rt_rd32(r + RT_O_AUX1);
            const rt_add_params p = {q.out_zero, (int8_t)r[RT_O_IN2_ZERO], (int8_t)ab[RT_A_OUT_ZERO],
                                     (int8_t)ab[RT_A_LO], (int8_t)ab[RT_A_HI],
                                     rt_s32(rt_rd32(ab + RT_A_MULT)),
                                     rt_s32(rt_rd32(ab + RT_A_MULT2)), ab[RT_A_SHIFT]};
            return rt_conv2d_add(&ctx, &win, in_zero, &q, &in, x, &w, &out, &p,
                                 (const int8_t *)(ar + rt_rd32(r + RT_O_IN2_OFF)), y);
        }
#endif
        if (type == RT_OP_CONV2D)
            return rt_conv2d(&ctx, &win, in_zero, &q, &in, x, &w, &out, y);
#if RT_WITH_DEPTHWISE
        if (type == RT_OP_DEPTHWISE)
            return rt_depthwise(&ctx, &win, in_zero, &q, &in, x, &w, &out, y);
#endif
        return rt_dense(&ctx, &q, &in, x, &w, &out, y);
    }
#if RT_WITH_MAXPOOL
    case RT_OP_MAXPOOL: return rt_maxpool(&win, lo, &in, x, &out, y);
#endif
#if RT_WITH_AVGPOOL
    case RT_OP_AVGPOOL: return rt_avgpool(&win, in_zero, lo, &in, x, &out, y);
#endif
#if RT_WITH_GLOBAL_AVGPOOL
    case RT_OP_GLOBAL_AVGPOOL: return rt_global_avgpool(in_zero, lo, &in, x, y);
#endif
#if RT_WITH_ADD
    case RT_OP_ADD: {
        const rt_add_params p = {in_zero, (int8_t)r[RT_O_IN2_ZERO], (int8_t)r[RT_O_OUT_ZERO], lo,
                                 (int8_t)r[RT_O_HI], rt_s32(rt_rd32(r + RT_O_AUX0)),
                                 rt_s32(rt_rd32(r + RT_O_AUX1)), (uint8_t)rt_rd32(r + RT_O_Q_OFF)};
        return rt_add(&p, x, (const int8_t *)(ar + rt_rd32(r + RT_O_IN2_OFF)), y,
                      (uint32_t)in.h * in.w * in.c);
    }
#endif
    default: return RT_E_UNSUPPORTED;
    }
}

/* ---- one inference ------------------------------------------------------------------------ */

/* isa: resolved (never AUTO). Inlined into both entries: a build that
 * calls only rt_run (a firmware, linked with --gc-sections) carries one
 * copy, as before there was a choice. */
RT_INLINE rt_status run_image(const void *image, void *arena, size_t arena_bytes,
                           const uint8_t *pixels, int8_t *logits, rt_isa isa)
{
    const uint8_t *im = (const uint8_t *)image;
    if (!im || !arena || !pixels || !logits || ((uintptr_t)im & 3))
        return RT_E_ARG;
    if (rt_rd32(im + RT_H_MAGIC) != RT_MAGIC)
        return RT_E_MAGIC;
    if (((uintptr_t)arena & 7) || arena_bytes < rt_rd32(im + RT_H_ARENA_BYTES))
        return RT_E_ARG;
    uint8_t *ar = (uint8_t *)arena;
    input_table(im, (int8_t *)(ar + rt_rd32(im + RT_H_INPUT_OFF)), pixels);
    const uint32_t n_ops = rt_rd16(im + RT_H_N_OPS);
    const uint8_t *r = im + rt_rd32(im + RT_H_OPS_OFF);
    for (uint32_t i = 0; i < n_ops; i++, r += RT_OP_BYTES) {
        RT_OP_HOOK(i);
        rt_status st = run_op(im, r, ar, isa);
        if (st != RT_OK)
            return st;
    }
    RT_OP_HOOK(n_ops);
    memcpy(logits, ar + rt_rd32(im + RT_H_OUTPUT_OFF), rt_rd16(im + RT_H_NUM_CLASSES));
    return RT_OK;
}

rt_status rt_run(const void *image, void *arena, size_t arena_bytes, const uint8_t *pixels,
                 int8_t *logits)
{
#if RT_X86
    const rt_isa isa = rt_isa_best();
#else
    const rt_isa isa = RT_ISA_C;
#endif
    return run_image(image, arena, arena_bytes, pixels, logits, isa);
}

rt_status rt_run_isa(const void *image, void *arena, size_t arena_bytes, const uint8_t *pixels,
                     int8_t *logits, rt_isa isa)
{
    if (isa == RT_ISA_AUTO)
        isa = rt_isa_best();
    else if (!rt_isa_supported(isa))
        return RT_E_UNSUPPORTED;
    return run_image(image, arena, arena_bytes, pixels, logits, isa);
}
