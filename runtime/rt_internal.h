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

/* DSP bodies: compiled for cores with the DSP extension, or on a host with
 * portable emulations of the intrinsics (RT_DSP_EMULATE, tests only). */
#if defined(__ARM_FEATURE_DSP) && !defined(RT_NO_DSP)
#define RT_DSP 1
#else
#define RT_DSP 0
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
RT_INLINE int8_t rt_requant(int32_t acc, int32_t mult, int shift, int32_t zero, int32_t lo,
                            int32_t hi)
{
    int64_t v = ((int64_t)acc * mult + ((int64_t)1 << (shift - 1))) >> shift;
    int64_t y = zero + v;
    return (int8_t)(y < lo ? lo : y > hi ? hi : y);
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

/* ---- kernel bodies (rt_conv.c, rt_dense.c, rt_dsp.c) -------------------------------- */

typedef struct {
    const rt_window *win;
    int32_t in_zero;
    const rt_quant *q;
    const rt_dims *in, *out;
    const int8_t *x;
    const uint8_t *w; /* the payload */
    int8_t *y;
    void *scratch;
} rt_conv_job;

void rt_conv_s8_c(const rt_conv_job *j);
void rt_conv_s4_c(const rt_conv_job *j);
void rt_conv_sp4_c(const rt_conv_job *j);
void rt_conv_sp8_c(const rt_conv_job *j);
#if RT_DSP || defined(RT_DSP_EMULATE)
void rt_conv_s8_dsp(const rt_conv_job *j);
void rt_conv_s4_dsp(const rt_conv_job *j);
void rt_conv_sp4_dsp(const rt_conv_job *j);
/* sum_k w[k] * x[k] modulo 2^32, two products per SMLAD */
uint32_t rt_dot_s8_dsp(const int8_t *w, const int8_t *x, uint32_t K);
/* one output pixel of a maxpool, four channels per step (SSUB8 + SEL),
 * channels [0, returned) done */
int rt_max4_dsp(const int8_t *x0, int8_t *o, int C, int W, int k, int8_t lo);
/* a whole 2x2 maxpool (stride s, C % 4 == 0, no ReLU floor): four channels
 * per step, rows in order (the planner's row rule holds) */
void rt_max2x2_dsp(const int8_t *x, int8_t *y, int C, int W, int s, int oh, int ow);
#endif

/* Bytes of an S8 weight row (K padded to a multiple of 4). */
RT_INLINE uint32_t rt_s8_row_bytes(uint32_t k) { return (k + 3) & ~3u; }

/* Scratch of the S8 conv (its DSP body; the C body needs none): a panel
 * like rt_image.h's with one slot per pair of kernel rows (2 kp, 2 kp + 1)
 * whose words hold the two rows' values as independent int16 lanes (what
 * SMLAD multiplies), then the current channel's list of (weight pair,
 * panel offset) words, one per (kernel-row pair, kx, c), and a terminator. */
RT_INLINE uint32_t rt_s8_scratch_bytes(const rt_window *win, const rt_dims *in,
                                       const rt_dims *out)
{
    const uint32_t nkp = (win->kernel + 1u) / 2u, K = (uint32_t)win->kernel * win->kernel * in->c;
    const uint32_t general = nkp * rt_panel(win, in).slot_b + 8u * (nkp * win->kernel * in->c + 1u);
    /* K <= 10 (first layers): a table of 9 words per output channel */
    const uint32_t small = K <= 10 ? 36u * out->c : 0;
    return general > small ? general : small;
}

#endif
