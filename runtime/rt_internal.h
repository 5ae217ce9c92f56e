/* rt_internal.h - what the runtime's files share: little-endian field
 * readers, the requantization rule, the panel geometry, the kernel bodies.
 * Not part of the public API. */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rt.h"
#include "rt_config.h"
#include "rt_image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DSP bodies: compiled for cores with the DSP extension, or on a host with
 * portable emulations of the intrinsics (RT_DSP_EMULATE, tests only). */
#if defined(__ARM_FEATURE_DSP) && !defined(RT_NO_DSP)
#define RT_DSP 1
#else
#define RT_DSP 0
#endif

/* Helium (MVE) bodies (rt_mve.c): on cores with MVE and the DSP extension
 * (Cortex-M55) when the compiler offers arm_mve.h (GCC: -mfloat-abi=softfp
 * or hard), unless RT_NO_MVE (then such a core runs the DSP bodies). */
#if RT_DSP && defined(__ARM_FEATURE_MVE) && !defined(RT_NO_MVE)
#define RT_MVE 1
#else
#define RT_MVE 0
#endif

/* x86 bodies (AVX2, AVX-512 VNNI) of the x86 layouts: on x86-64 with GCC
 * or Clang (their target attributes and intrinsics) when rt_config.h keeps
 * an x86 layout. Elsewhere they compile to nothing and the x86 ISAs report
 * themselves unsupported. */
#define RT_WITH_X (RT_WITH_CONV_X8 || RT_WITH_CONV_X4 || RT_WITH_DENSE_X8 || RT_WITH_DENSE_X4)
#if defined(__x86_64__) && defined(__GNUC__) && RT_WITH_X
#define RT_X86 1
#else
#define RT_X86 0
#endif

#if defined(__GNUC__)
#define RT_INLINE static inline __attribute__((always_inline))
#define RT_NOINLINE __attribute__((noinline))
#else
#define RT_INLINE static inline
#define RT_NOINLINE
#endif

/* Small fixed-size copies (unaligned loads and stores of a word): inline.
 * -ffreestanding turns off GCC's memcpy builtin, so a plain memcpy would
 * be a call per word. */
#if defined(__GNUC__)
#define rt_memcpy __builtin_memcpy
#else
#define rt_memcpy memcpy
#endif

/* ---- fields ---------------------------------------------------------------------- */

RT_INLINE uint32_t rt_rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
RT_INLINE uint32_t rt_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
RT_INLINE int32_t rt_s32(uint32_t u)
{
    return u <= 0x7fffffffu ? (int32_t)u : (int32_t)(u - 0x80000000u) - 0x7fffffff - 1;
}

/* ---- arithmetic ------------------------------------------------------------------- */

/* qmodel.h's requantization: clamp(zero + ((acc * mult + 2^(shift-1)) >>
 * shift), lo, hi), >> arithmetic (GCC and Clang on every target). */
/* The high word of the 64-bit product a * b, b >= 0, in 32-bit arithmetic
 * (16-bit halves, Hacker's Delight's mulhs): exactly (a * b) >> 32. */
RT_INLINE int32_t rt_mulhi(int32_t a, int32_t b)
{
    const int32_t ah = a >> 16, bh = b >> 16;
    const uint32_t al = (uint32_t)a & 0xffffu, bl = (uint32_t)b & 0xffffu;
    const int32_t t = ah * (int32_t)bl + (int32_t)((al * bl) >> 16);
    const int32_t u = (int32_t)(al * (uint32_t)bh) + (t & 0xffff);
    return ah * bh + (t >> 16) + (u >> 16);
}

/* rt_requant for 33 <= shift <= 62 and mult >= 0 without a 64-bit
 * multiply: with t = shift - 32 and H = (acc * mult) >> 32,
 * (acc * mult + 2^(shift-1)) >> shift = (H + 2^(t-1)) >> t, since the low
 * word adds less than one to an integer before the floor. */
RT_INLINE int8_t rt_requant_hi(int32_t acc, int32_t mult, int shift, int32_t zero, int32_t lo,
                               int32_t hi)
{
    const int t = shift - 32;
    const int32_t y = zero + ((rt_mulhi(acc, mult) + ((int32_t)1 << (t - 1))) >> t);
    return (int8_t)(y < lo ? lo : y > hi ? hi : y);
}

/* ARMv6-M (Cortex-M0/M0+) has no 32 x 32 -> 64 multiply: there the 64-bit
 * product is a call of libgcc's __aeabi_lmul, and rt_requant takes
 * rt_requant_hi where it applies (every shift of the MNIST models). */
#ifndef RT_REQUANT_HALVES
#if defined(__ARM_ARCH_6M__)
#define RT_REQUANT_HALVES 1
#else
#define RT_REQUANT_HALVES 0
#endif
#endif

RT_INLINE int8_t rt_requant(int32_t acc, int32_t mult, int shift, int32_t zero, int32_t lo,
                            int32_t hi)
{
    if (RT_REQUANT_HALVES && shift >= 33 && mult >= 0)
        return rt_requant_hi(acc, mult, shift, zero, lo, hi);
    int64_t v = ((int64_t)acc * mult + ((int64_t)1 << (shift - 1))) >> shift;
    int64_t y = zero + v;
    return (int8_t)(y < lo ? lo : y > hi ? hi : y);
}

/* The fast requantization's entry {bias, mult, k, t} for output channel o
 * (the DSP and MVE bodies: y = max(lo, ssat8((hi32(acc * mult) + k) >> t))),
 * or 0 when the channel needs the 64-bit rule. Taken when 33 <= shift <= 54
 * and hi = 127 (rt_dsp.c's header). A channel whose shift is beyond 54 (its
 * multiplier below 2^-24: a channel that training left nearly dead) takes it
 * too when its output cannot change over the accumulators it can see:
 * bias' + s with |s| <= reach (the layer's taps times 2^14: int8 weights
 * times int8 inputs); rt_requant is nondecreasing in acc for mult >= 0, so
 * equal outputs at both ends mean the constant y for every acc, and the
 * entry {bias, 0, 2y, 1} gives exactly y. */
int rt_fast_entry_constant(const rt_quant *q, int o, int64_t reach, int32_t e[4]);
RT_INLINE int rt_fast_entry(const rt_quant *q, int o, int64_t reach, int32_t e[4])
{
    const int sh = q->shift[o];
    if (q->hi != 127)
        return 0;
    e[0] = q->bias[o];
    if (sh >= 33 && sh <= 54) {
        const int t = sh - 32;
        e[1] = q->mult[o], e[3] = t;
        e[2] = (int32_t)((1u << (t - 1)) + ((uint32_t)(int32_t)q->out_zero << t));
        return 1;
    }
    return sh > 54 && rt_fast_entry_constant(q, o, reach, e);
}

/* rt_fast_entry's reach for a conv job: every tap's int8 weight times its
 * int8 input, at most 2^14 each. */
#define RT_REACH(job) ((int64_t)(job)->win->kernel * (job)->win->kernel * (job)->in->c << 14)

/* The taps of a window of k at output coordinate o (stride s, padding pad)
 * that fall inside an input of n pixels: [*t0, *t1), the input coordinate
 * o * s - pad + t in [0, n); empty as *t0 == *t1. */
RT_INLINE void rt_taps_inside(int32_t o, uint32_t s, uint32_t pad, uint32_t k, uint32_t n,
                              uint32_t *t0, uint32_t *t1)
{
    const int32_t first = o * (int32_t)s - (int32_t)pad; /* input coordinate of tap 0 */
    *t0 = first < 0 ? (uint32_t)-first : 0;
    const int32_t end = (int32_t)n - first; /* taps below end are inside */
    *t1 = end < (int32_t)k ? (uint32_t)(end < 0 ? 0 : end) : k;
    if (*t1 < *t0)
        *t1 = *t0;
}

/* ---- panel geometry (rt_image.h) -------------------------------------------------- */

typedef struct {
    uint32_t wq;     /* words per column phase                    */
    uint32_t chan_b; /* bytes per input channel in a slot          */
    uint32_t slot_b; /* bytes per kernel row                       */
    uint32_t bytes;  /* kernel * slot_b                            */
} rt_panel_geom;

RT_INLINE rt_panel_geom rt_panel(const rt_window *win, const rt_dims *in)
{
    rt_panel_geom g;
    uint32_t s = win->stride, wp = (uint32_t)in->w + 2u * win->pad;
    g.wq = (wp + s - 1) / s;
    g.chan_b = s * g.wq * 4;
    g.slot_b = in->c * g.chan_b;
    g.bytes = win->kernel * g.slot_b;
    return g;
}

/* ---- the x86 layouts X8, X4 (rt_image.h) ------------------------------------------ */

/* k values per output channel in the layout: conv2d kernel * kcp, the
 * kernel row of kernel * in_c taps padded to kcp (a multiple of 4); dense
 * (kernel 1, in_c = K) K padded to a multiple of 4. */
RT_INLINE uint32_t rt_x_kcp(uint32_t kernel, uint32_t in_c)
{
    return (kernel * in_c + RT_X_KG - 1) / RT_X_KG * RT_X_KG;
}
/* Output channels padded to whole blocks. */
RT_INLINE uint32_t rt_x_op(uint32_t out_c) { return (out_c + RT_X_OCB - 1) / RT_X_OCB * RT_X_OCB; }

/* Scratch of an X8/X4 conv2d or dense layer: its input padded on every
 * side with in_zero, one element per value (int16 for X8, which AVX2
 * multiplies in int16 pairs; a byte otherwise), and RT_X_SLACK bytes that
 * the last window's kernel row, padded to kcp, reads past the end. A dense
 * layer is a 1x1 conv of a 1x1xK input. Beyond 2^31 bytes the result is
 * UINT32_MAX (no arena holds it). */
#define RT_X_SLACK 64
RT_INLINE uint32_t rt_x_scratch_bytes(uint32_t h, uint32_t w, uint32_t c, uint32_t pad,
                                      uint8_t fmt)
{
    const uint64_t n = ((uint64_t)h + 2u * pad) * ((uint64_t)w + 2u * pad) * c *
                           (fmt == RT_WF_X8 ? 2u : 1u) + RT_X_SLACK;
    return n > 0x7ffffff8u ? 0xffffffffu : (uint32_t)((n + 7u) & ~7ull);
}

/* One X8/X4 layer for the bodies: a conv2d, or a dense layer as a 1x1 conv
 * of a 1x1xK image. */
typedef struct {
    uint32_t h, w, c;      /* input                                   */
    uint32_t k, s, pad;    /* window                                  */
    uint32_t oh, ow, oc;   /* output                                  */
    int32_t in_zero;
    uint8_t fmt;           /* RT_WF_X8 or RT_WF_X4                    */
    const rt_quant *q;
    const int8_t *x;       /* (h, w, c)                               */
    const uint8_t *wp;     /* the payload: wsum[op], then the blocks  */
    int8_t *y;             /* (oh, ow, oc); may overlap x             */
    void *scratch;         /* rt_x_scratch_bytes, 8-aligned           */
} rt_x_job;

/* The bodies. The C one is the reference; the x86 ones run only where
 * rt_isa_supported says so. */
void rt_x_c(const rt_x_job *j);
#if RT_X86
void rt_x_avx2(const rt_x_job *j);
void rt_x_avx512(const rt_x_job *j);
#endif
/* Runs j with isa (RT_ISA_AUTO resolved; RT_E_UNSUPPORTED for an ISA this
 * build or CPU lacks). */
rt_status rt_x_run(const rt_x_job *j, rt_isa isa);

/* ---- kernel bodies (rt_conv.c, rt_dense.c, rt_dsp.c, rt_avx2.c, rt_avx512.c) --------- */

typedef struct {
    const rt_window *win;
    int32_t in_zero;
    const rt_quant *q;
    const rt_dims *in, *out;
    const int8_t *x;
    const uint8_t *w; /* the payload */
    int8_t *y;
    void *scratch;
    const rt_add_params *add; /* a residual add fused into the epilogue, or NULL  */
    const int8_t *res;        /* its residual (out's shape), element i with y[i]  */
    uint32_t scratch_bytes;   /* of scratch: a body may take a faster path that
                                 needs more than rt_conv2d_scratch_bytes      */
} rt_conv_job;

/* A job's fused add: always NULL in a build without RT_WITH_ADD, so that
 * the fused paths compile out of it. */
RT_INLINE const rt_add_params *rt_job_add(const rt_conv_job *j)
{
    return RT_WITH_ADD ? j->add : NULL;
}

/* rt_add's rule for one value: a the conv's (or first) input, b the
 * second. The portable loop and the fused epilogues share it. */
RT_INLINE int8_t rt_add_one(const rt_add_params *p, int32_t a, int32_t b)
{
    const int64_t v = (int64_t)(a - p->a_zero) * p->a_mult + (int64_t)(b - p->b_zero) * p->b_mult +
                      ((int64_t)1 << (p->shift - 1));
    const int64_t r = p->out_zero + (v >> p->shift);
    return (int8_t)(r < p->lo ? p->lo : r > p->hi ? p->hi : r);
}

/* A fused conv2d's staging area starts here in its scratch: after what the
 * format's body needs (base), 8-aligned. */
RT_INLINE uint32_t rt_stage_off(uint32_t base) { return (base + 7u) & ~7u; }

/* S4 rows (K nibbles, (K + 7) / 8 words each) of O channels to S8 rows
 * (rt_s8_row_bytes(K) each, zero padded): rt_conv2d_widen_bytes */
void rt_widen_s4(const uint8_t *w4, uint32_t K, uint32_t O, int8_t *w8);

/* S4 convs widened where the scratch allows (rt_conv_s4_widen_fits) */
#define RT_WIDEN (RT_DSP && !RT_MVE && RT_WITH_CONV_S4_WIDEN && RT_WITH_CONV_S8)
/* S4 convs by Winograd where the scratch allows (rt_conv_wino_fits) */
#define RT_WINO_S4 (RT_DSP && !RT_MVE && RT_WITH_WINO && RT_WITH_WINO_S4)

void rt_conv_s8_c(const rt_conv_job *j);
void rt_conv_s4_c(const rt_conv_job *j);
void rt_conv_sp4_c(const rt_conv_job *j);
void rt_conv_sp8_c(const rt_conv_job *j);
#if RT_DSP || defined(RT_DSP_EMULATE)
void rt_conv_s8_dsp(const rt_conv_job *j);
void rt_conv_s4_dsp(const rt_conv_job *j);
/* rt_wino.c: S8 (s4 = 0) or S4 weights; needs rt_wino_takes and a scratch
 * of at least rt_wino_bytes(in, out, fused, 1) */
void rt_conv_wino_dsp(const rt_conv_job *j, int s4);
void rt_conv_sp4_dsp(const rt_conv_job *j);
/* sum_k w[k] * x[k] modulo 2^32, two products per SMLAD */
uint32_t rt_dot_s8_dsp(const int8_t *w, const int8_t *x, uint32_t K);
/* one output pixel of a maxpool, four channels per step (SSUB8 + SEL),
 * channels [0, returned) done */
int rt_max4_dsp(const int8_t *x0, int8_t *o, int C, int W, int k, int8_t lo);
/* a whole 2x2 maxpool (stride s, C % 4 == 0, no ReLU floor): four channels
 * per step, rows in order (the planner's row rule holds) */
void rt_max2x2_dsp(const int8_t *x, int8_t *y, int C, int W, int s, int oh, int ow);
/* global average pooling when C % 4 == 0 and h * w <= 2^24: four
 * channels per pass over the pixels, two SXTAB16 per word into int16 lanes
 * (flushed to int32 every 256 pixels), then rt_gap_mean; returns 0 and
 * does nothing otherwise. y may be x. */
int rt_global_avgpool_dsp(int8_t zero, int8_t lo, const rt_dims *in, const int8_t *x, int8_t *y);
/* add with 9 <= shift <= 54 and hi = 127 (two SMLAL per value); returns
 * 0 and does nothing otherwise */
int rt_add_dsp(const rt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y,
               uint32_t count);
/* depthwise (rt_depthwise's arguments, w the tap-major payload): four
 * channels per step, one word load of input and of weights per tap,
 * SXTB16 and SMLABB/SMLATT into four accumulators */
void rt_depthwise_dsp(const rt_window *win, int32_t in_zero, const rt_quant *q,
                      const rt_dims *in, const int8_t *x, const int8_t *w, const rt_dims *out,
                      int8_t *y);
#if RT_WITH_ADD
/* The add's SMLAD path with its constants prepared once (a fused conv
 * runs it per pass): rt_add_prep_dsp returns 0 when p is outside its
 * range (16 <= shift <= 31, hi = 127, the multipliers' high halves below
 * 2^15), and then rt_add_dsp or the portable loop must run instead. */
typedef struct {
    uint32_t mh, ml; /* (a, b) multipliers' high and low halves, int16 pairs */
    int32_t ch, cl;  /* the constant's high and low parts                     */
    int32_t t;       /* shift - 16                                            */
    int8_t lo;
} rt_add_k;
int rt_add_prep_dsp(const rt_add_params *p, rt_add_k *k);
void rt_add_run_dsp(const rt_add_k *k, const int8_t *a, const int8_t *b, int8_t *y,
                    uint32_t count);
#endif
#endif

#if RT_MVE
/* The Helium bodies (rt_mve.c): the S8 conv (every shape, fused add too),
 * and the add where rt_add_prep_dsp accepts it (rt_add_mve returns 0 and
 * does nothing otherwise). */
void rt_conv_s8_mve(const rt_conv_job *j);
#if RT_WITH_ADD
void rt_add_run_mve(const rt_add_k *k, const int8_t *a, const int8_t *b, int8_t *y,
                    uint32_t count);
int rt_add_mve(const rt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y,
               uint32_t count);
#endif
#endif

/* Global average pooling's output from the sum of (x - zero) over hw
 * pixels: the mean rounded half away from zero, plus zero, clamped to
 * [lo, 127] (every body's rule; rt_pool.c). */
int8_t rt_gap_mean(int64_t sum, uint32_t hw, int8_t zero, int8_t lo);

/* Bytes of an S8 weight row (K padded to a multiple of 4). */
RT_INLINE uint32_t rt_s8_row_bytes(uint32_t k) { return (k + 3) & ~3u; }

/* The S8 DSP body (rt_dsp.c) computes passes of RT_S8_PASS output columns
 * from a pass buffer: the pass's inputs in the weights' order as int16
 * pairs, 8 bytes per weight-row byte. When in_c % 4 == 0 it copies that
 * from a ring of kernel input rows converted once each; its geometry: */
#define RT_S8_PASS 4
typedef struct {
    uint32_t wr;   /* indices per column phase: the padded row, or what the last pass reaches */
    uint32_t cw;   /* words per plane (channel pair): stride * wr                            */
    uint32_t slot; /* words per input row: in_c / 2 planes                                     */
} rt_s8_ring;

RT_INLINE rt_s8_ring rt_s8_ring_of(const rt_window *win, const rt_dims *in, const rt_dims *out)
{
    const uint32_t s = win->stride, wq = ((uint32_t)in->w + 2u * win->pad + s - 1) / s;
    const uint32_t reach =
        (win->kernel - 1u) / s + (out->w + RT_S8_PASS - 1u) / RT_S8_PASS * RT_S8_PASS;
    rt_s8_ring g;
    g.wr = wq > reach ? wq : reach;
    g.cw = s * g.wr;
    g.slot = (uint32_t)in->c / 2 * g.cw;
    return g;
}

/* When in_c % 4 != 0 it reads the pass from a ring of k input rows kept as
 * int8 with their padding columns, each this many bytes: */
RT_INLINE uint32_t rt_s8_flat_bytes(const rt_window *win, const rt_dims *in)
{
    return (((uint32_t)in->w + 2u * win->pad) * in->c + 3u) & ~3u;
}

/* The passes' scratch: the pass buffer, 16 bytes per output channel (its
 * requantization constants), then the ring (k rows, of pairs or int8). */
RT_INLINE uint64_t rt_s8_pass_bytes(const rt_window *win, const rt_dims *in, const rt_dims *out)
{
    const uint32_t K = (uint32_t)win->kernel * win->kernel * in->c, row = rt_s8_row_bytes(K);
    const uint64_t ring = in->c % 4 ? (uint64_t)win->kernel * rt_s8_flat_bytes(win, in)
                                    : (uint64_t)4u * win->kernel * (in->c / 2u) * win->stride *
                                          rt_s8_ring_of(win, in, out).wr;
    return 8ull * row + 16u * out->c + ring;
}

/* Scratch of the S8 conv (its DSP body; the C body needs none): the
 * passes', or the first layers' table. */
RT_INLINE uint32_t rt_s8_scratch_bytes(const rt_window *win, const rt_dims *in,
                                       const rt_dims *out)
{
    const uint32_t K = (uint32_t)win->kernel * win->kernel * in->c;
    const uint64_t general = rt_s8_pass_bytes(win, in, out);
    /* K <= 10 (first layers): a table of 9 words per output channel */
    const uint32_t small = K <= 10 ? 36u * out->c : 0;
    if (general > 0x7ffffff8u) /* no arena holds it */
        return 0xffffffffu;
    return general > small ? (uint32_t)general : small;
}

/* The S4 DSP body's pass path (rt_dsp.c; in_c % 8 == 0): the S8 body's
 * passes with 4-bit weights, so their scratch (rt_s8_pass_bytes); 0 for
 * layers it does not take (in_c % 8 != 0, or K so large that
 * sixteen times a sum could leave int32). It runs when the op's scratch
 * holds this much; rt_conv2d_scratch_best gives DSP targets that. */
RT_INLINE uint32_t rt_s4_pass_scratch_bytes(const rt_window *win, const rt_dims *in,
                                            const rt_dims *out)
{
    const uint32_t K = (uint32_t)win->kernel * win->kernel * in->c;
    if (in->c % 8 || K > 65536u)
        return 0;
    const uint64_t n = rt_s8_pass_bytes(win, in, out);
    return n > 0x7ffffff8u ? 0 : (uint32_t)n;
}

/* The Winograd F(2x2, 3x3) body (rt_wino.c): stride-1 3x3 convs with
 * padding 1 of S8 weights (in_c % 4 == 0) or S4 (in_c % 8 == 0). Its
 * scratch for blocks of `bands` tile rows (two output rows each): the
 * requantization table, U, M, V and a row of in_c zero points (their bytes:
 * rt_wino_stage_at), then with a fused add a stage of the block's output
 * rows at rt_stage_off of that. */
#define RT_WINO_MAX_C 2048 /* 4 x the sum stays in int32 */
RT_INLINE int rt_wino_takes(const rt_window *win, const rt_dims *in, const rt_dims *out,
                            uint8_t fmt)
{
    if (win->kernel != 3 || win->stride != 1 || win->pad != 1 || in->h != out->h ||
        in->w != out->w || in->c > RT_WINO_MAX_C)
        return 0;
    return fmt == RT_WF_S8 ? in->c % 4 == 0 : fmt == RT_WF_S4 && in->c % 8 == 0;
}

RT_INLINE uint64_t rt_wino_stage_at(const rt_dims *in, const rt_dims *out, uint32_t bands, int s4)
{
    const uint64_t P = in->c / 2u, groups = ((uint64_t)bands * ((out->w + 1u) / 2u) + 3u) / 4u;
    return 16ull * out->c + 64u * P + 256u + groups * 256u * P + ((in->c + 3u) & ~3u) +
           (s4 ? 9ull * in->c : 0u); /* S4: an output channel's row widened */
}

RT_INLINE uint64_t rt_wino_bytes(const rt_dims *in, const rt_dims *out, int fused, uint32_t bands,
                                 int s4)
{
    const uint64_t at = rt_wino_stage_at(in, out, bands, s4);
    return fused ? ((at + 7u) & ~7ull) + 2ull * bands * out->w * out->c : at;
}

#ifdef __cplusplus
}
#endif

#endif
