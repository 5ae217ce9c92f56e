/* rt_dsp.h - the Cortex-M DSP-extension operations the DSP kernel bodies
 * use: ACLE intrinsics (arm_acle.h) and a few instructions ACLE lacks
 * (SMMLA, LDM of five words), as inline functions. With RT_DSP_EMULATE on a
 * host, portable C versions with the instructions' exact semantics, so the
 * DSP bodies' logic runs in the host test suite too (the instructions
 * themselves are tested under QEMU by `make device-test`). */
#ifndef RT_DSP_H
#define RT_DSP_H

#include "rt_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

#if RT_DSP
#include <arm_acle.h>

RT_INLINE uint32_t rt_ror(uint32_t x, unsigned r) { return (x >> r) | (x << ((32 - r) & 31)); }
RT_INLINE int32_t rt_sxtb16(uint32_t x) { return __sxtb16((int32_t)x); }
RT_INLINE int32_t rt_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
/* SADD16: the two int16 halves added lane by lane (modulo 2^16 each) */
RT_INLINE uint32_t rt_sadd16(uint32_t a, uint32_t b)
{
    return (uint32_t)__sadd16((int32_t)a, (int32_t)b);
}
/* SSUB16: a - b lane by lane (modulo 2^16 each) */
RT_INLINE uint32_t rt_ssub16(uint32_t a, uint32_t b)
{
    return (uint32_t)__ssub16((int32_t)a, (int32_t)b);
}
/* SXTAB16: acc + SXTB16(x) lane by lane (modulo 2^16 each); _r8 of x
 * rotated right by 8 (bytes 1 and 3) */
RT_INLINE uint32_t rt_sxtab16(uint32_t acc, uint32_t x)
{
    return (uint32_t)__sxtab16((int32_t)acc, (int32_t)x);
}
RT_INLINE uint32_t rt_sxtab16_r8(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
/* acc + the low (SMLABB) or high (SMLATT) int16 halves' product */
RT_INLINE int32_t rt_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
RT_INLINE int32_t rt_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }
/* (acc * m) >> 32, plus k: SMMLA (the high word of the 64-bit product) */
RT_INLINE int32_t rt_smmla(int32_t acc, int32_t m, int32_t k)
{
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(acc), "r"(m), "r"(k));
    return r;
}
RT_INLINE int32_t rt_ssat8(int32_t v) { return __ssat(v, 8); }
/* bytewise signed max of four int8 lanes: SSUB8 sets GE, SEL picks */
RT_INLINE uint32_t rt_max_s8x4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int32_t)a, (int32_t)b);
    return __sel(a, b);
}

/* SXTB16 of x rotated right by 8: bytes 1 and 3 as two int16 */
RT_INLINE int32_t rt_sxtb16_r8(uint32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* PKHBT: the low half of a, the low half of b as the high half */
RT_INLINE uint32_t rt_pkhbt(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* PKHTB: the high half of b as the low half, the high half of a */
RT_INLINE uint32_t rt_pkhtb(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* UXTB16: bytes 0 and 2 as two uint16; _r8 of x rotated right by 8 */
RT_INLINE uint32_t rt_uxtb16(uint32_t x) { return __uxtb16(x); }
RT_INLINE uint32_t rt_uxtb16_r8(uint32_t x)
{
    uint32_t r;
    __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* USUB8: a - b byte by byte (modulo 2^8 each) */
RT_INLINE uint32_t rt_usub8(uint32_t a, uint32_t b) { return __usub8(a, b); }
/* BFI: byte lsb/8 of d replaced by the low byte of v (lsb a constant) */
#define rt_bfi8(d, v, lsb) __asm__("bfi %0, %1, #" #lsb ", #8" : "+r"(d) : "r"(v))

#elif defined(RT_DSP_EMULATE)

RT_INLINE uint32_t rt_ror(uint32_t x, unsigned r) { return (x >> r) | (x << ((32 - r) & 31)); }
RT_INLINE int32_t rt_sxtb16(uint32_t x)
{
    uint32_t lo = (uint32_t)(int32_t)(int8_t)(x & 0xff) & 0xffff;
    uint32_t hi = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xff) & 0xffff;
    return rt_s32(lo | hi << 16);
}
RT_INLINE int32_t rt_smlad(int32_t a, int32_t b, int32_t acc)
{
    int32_t p = (int32_t)(int16_t)(a & 0xffff) * (int16_t)(b & 0xffff);
    int32_t q = (int32_t)(int16_t)((uint32_t)a >> 16) * (int16_t)((uint32_t)b >> 16);
    return rt_s32((uint32_t)acc + (uint32_t)p + (uint32_t)q);
}
RT_INLINE uint32_t rt_sadd16(uint32_t a, uint32_t b)
{
    return ((a + b) & 0xffffu) | ((a >> 16) + (b >> 16)) << 16;
}
RT_INLINE uint32_t rt_ssub16(uint32_t a, uint32_t b)
{
    return ((a - b) & 0xffffu) | ((a >> 16) - (b >> 16)) << 16;
}
RT_INLINE uint32_t rt_sxtab16(uint32_t acc, uint32_t x)
{
    return rt_sadd16(acc, (uint32_t)rt_sxtb16(x));
}
RT_INLINE uint32_t rt_sxtab16_r8(uint32_t acc, uint32_t x)
{
    return rt_sadd16(acc, (uint32_t)rt_sxtb16(rt_ror(x, 8)));
}
RT_INLINE int32_t rt_smlabb(int32_t a, int32_t b, int32_t acc)
{
    int32_t p = (int32_t)(int16_t)(a & 0xffff) * (int16_t)(b & 0xffff);
    return rt_s32((uint32_t)acc + (uint32_t)p);
}
RT_INLINE int32_t rt_smlatt(int32_t a, int32_t b, int32_t acc)
{
    int32_t p = (int32_t)(int16_t)((uint32_t)a >> 16) * (int16_t)((uint32_t)b >> 16);
    return rt_s32((uint32_t)acc + (uint32_t)p);
}
RT_INLINE int32_t rt_smmla(int32_t acc, int32_t m, int32_t k)
{
    return rt_s32((uint32_t)k + (uint32_t)(((int64_t)acc * m) >> 32));
}
RT_INLINE int32_t rt_ssat8(int32_t v) { return v < -128 ? -128 : v > 127 ? 127 : v; }
RT_INLINE uint32_t rt_max_s8x4(uint32_t a, uint32_t b)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8) {
        int8_t x = (int8_t)(a >> i), y = (int8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x >= y ? x : y) << i;
    }
    return r;
}
RT_INLINE int32_t rt_sxtb16_r8(uint32_t x) { return rt_sxtb16(rt_ror(x, 8)); }
RT_INLINE uint32_t rt_pkhbt(uint32_t a, uint32_t b) { return (a & 0xffff) | b << 16; }
RT_INLINE uint32_t rt_pkhtb(uint32_t a, uint32_t b) { return (a & 0xffff0000u) | b >> 16; }
#define rt_bfi8(d, v, lsb) ((d) = ((d) & ~(0xffu << (lsb))) | ((uint32_t)(v)&0xffu) << (lsb))
RT_INLINE uint32_t rt_uxtb16(uint32_t x) { return x & 0x00ff00ffu; }
RT_INLINE uint32_t rt_uxtb16_r8(uint32_t x) { return rt_ror(x, 8) & 0x00ff00ffu; }
RT_INLINE uint32_t rt_usub8(uint32_t a, uint32_t b)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i += 8)
        r |= (uint32_t)(uint8_t)((a >> i) - (b >> i)) << i;
    return r;
}
#endif

#if RT_DSP || defined(RT_DSP_EMULATE)
/* One output channel's requantization as the DSP bodies apply it: the fast
 * rule (SMMLA, see rt_dsp.c) when rt_fast_entry allows, else rt_requant. */
typedef struct {
    int32_t bias, mult, k, t, lo;
    int fast;
    const rt_quant *q;
    int o;
} rt_rq;

/* reach: RT_REACH of the job (rt_fast_entry) */
void rt_rq_init(rt_rq *r, const rt_quant *q, int o, int64_t reach);

RT_INLINE int8_t rt_rq_apply(const rt_rq *r, int32_t acc)
{
    if (r->fast) {
        int32_t v = rt_ssat8(rt_smmla(acc, r->mult, r->k) >> r->t);
        return (int8_t)(v < r->lo ? r->lo : v);
    }
    return rt_requant(acc, r->mult, r->q->shift[r->o], r->q->out_zero, r->q->lo, r->q->hi);
}

/* Per output channel {bias, mult, rounding + zero constant, t} of the fast
 * requantization into tab (4 words each); 0 when a channel needs the
 * 64-bit rule (then every channel takes rt_rq_apply). */
int rt_rq_table(const rt_conv_job *j, int32_t *tab);
#endif

#ifdef __cplusplus
}
#endif

#endif
