/* rt_x.c - the x86 layouts X8 and X4 (rt_image.h): the portable C body,
 * which the AVX2 and AVX-512 VNNI bodies (rt_avx2.c, rt_avx512.c) must
 * equal byte for byte, and the choice between them.
 *
 * Every body first copies the input, padded with in_zero on every side,
 * into scratch (in its own element format), then reads each output's
 * kernel rows from that copy: row ky of the window of output (oy, ox) is
 * kcp consecutive elements from (oy * s + ky, ox * s) of the padded input,
 * kernel * in_c real taps and up to 3 more that meet zero weights. So y may
 * overlap x in any way. A dense layer is a 1x1 conv of a 1x1xK input.
 *
 * Arithmetic: acc = bias'[o] + sum_kk w[o][kk] * x_kk modulo 2^32, then
 * qmodel.h's requantization (rt_requant). */
#include "rt_internal.h"

#if RT_WITH_X

#define ACC_ADD(acc, v) ((acc) += (uint32_t)(int32_t)(v))

void rt_x_c(const rt_x_job *j)
{
    const uint32_t C = j->c, k = j->k, s = j->s, pad = j->pad;
    const uint32_t kcp = rt_x_kcp(k, C), kx = k * kcp;
    const size_t prow = ((size_t)j->w + 2u * pad) * C, hp = (size_t)j->h + 2u * pad;
    int8_t *xp = (int8_t *)j->scratch; /* (hp, prow) int8, then the slack */
    memset(xp, j->in_zero, prow * hp);
    memset(xp + prow * hp, 0, RT_X_SLACK);
    for (uint32_t r = 0; r < j->h; r++)
        memcpy(xp + (r + (size_t)pad) * prow + (size_t)pad * C, j->x + (size_t)r * j->w * C,
               (size_t)j->w * C);
    const int8_t *wb = (const int8_t *)(j->wp + 4u * rt_x_op(j->oc));
    const rt_quant *q = j->q;
    for (uint32_t oy = 0; oy < j->oh; oy++)
        for (uint32_t ox = 0; ox < j->ow; ox++) {
            const int8_t *px = xp + (size_t)oy * s * prow + (size_t)ox * s * C;
            int8_t *y = j->y + ((size_t)oy * j->ow + ox) * j->oc;
            for (uint32_t b = 0; b * RT_X_OCB < j->oc; b++) {
                /* a block of 16 channels: per group of 4 k, 16 x 4 weights */
                uint32_t acc[RT_X_OCB] = {0};
                const int8_t *wg = wb + (size_t)b * kx * RT_X_OCB;
                for (uint32_t ky = 0; ky < k; ky++) {
                    const int8_t *r = px + (size_t)ky * prow;
                    for (uint32_t t = 0; t < kcp; t += RT_X_KG, wg += RT_X_OCB * RT_X_KG)
                        for (int o = 0; o < RT_X_OCB; o++)
                            ACC_ADD(acc[o], wg[4 * o] * r[t] + wg[4 * o + 1] * r[t + 1] +
                                                wg[4 * o + 2] * r[t + 2] + wg[4 * o + 3] * r[t + 3]);
                }
                for (uint32_t o = b * RT_X_OCB; o < j->oc && o < (b + 1) * RT_X_OCB; o++)
                    y[o] = rt_requant(rt_s32((uint32_t)q->bias[o] + acc[o % RT_X_OCB]), q->mult[o],
                                      q->shift[o], q->out_zero, q->lo, q->hi);
            }
        }
}

rt_status rt_x_run(const rt_x_job *j, rt_isa isa)
{
#if RT_X86
    if (isa == RT_ISA_AUTO)
        isa = rt_isa_best();
    else if (!rt_isa_supported(isa))
        return RT_E_UNSUPPORTED;
    if (isa == RT_ISA_AVX512_VNNI) {
        rt_x_avx512(j);
        return RT_OK;
    }
    if (isa == RT_ISA_AVX2) {
        rt_x_avx2(j);
        return RT_OK;
    }
#else
    if (isa != RT_ISA_AUTO && isa != RT_ISA_C)
        return RT_E_UNSUPPORTED;
#endif
    rt_x_c(j);
    return RT_OK;
}

#endif
