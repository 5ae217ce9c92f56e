/* qe_ops.c - the int8 engine's portable kernels: A-panel packing (im2col),
 * pools, add. Every ISA runs these; they are cheap next to the GEMMs. */
#include <string.h>

#include "qe_internal.h"

/* ---- pools ------------------------------------------------------------------ */

/* 16 int8 lanes as GNU C generic vectors (lowered to the target's SIMD, or
 * to scalar code). */
typedef int8_t v16s8 __attribute__((vector_size(16)));

static inline v16s8 vmax16(v16s8 a, v16s8 b)
{
    const v16s8 m = a > b; /* all ones where a > b */
    return (a & m) | (b & ~m);
}

void qe_maxpool(const qe_step *s, const int8_t *in, int8_t *out)
{
    const int C = s->in_c, W = s->in_w, k = s->kernel;
    const int8_t lo = (int8_t)s->lo;
    const int c16 = C / 16 * 16;
    for (int oy = 0; oy < s->out_h; oy++)
        for (int ox = 0; ox < s->out_w; ox++) {
            int8_t *o = out + ((size_t)oy * s->out_w + ox) * C;
            const int8_t *x0 = in + ((size_t)oy * s->stride * W + (size_t)ox * s->stride) * C;
            for (int c = 0; c < c16; c += 16) {
                v16s8 m, v;
                memset(&m, lo, sizeof m);
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        memcpy(&v, x0 + ((size_t)ky * W + kx) * C + c, sizeof v);
                        m = vmax16(m, v);
                    }
                memcpy(o + c, &m, sizeof m);
            }
            for (int c = c16; c < C; c++) {
                int8_t m = lo;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int8_t v = x0[((size_t)ky * W + kx) * C + c];
                        m = v > m ? v : m;
                    }
                o[c] = m;
            }
        }
}

/* zero + round_half_away(sum / n), clamped to [lo, 127]. */
static inline int8_t mean_round(int32_t sum, int32_t n, int32_t zero, int32_t lo)
{
    int32_t a = sum < 0 ? -sum : sum;
    int32_t q = (a + n / 2) / n;
    int32_t y = zero + (sum < 0 ? -q : q);
    return (int8_t)(y < lo ? lo : y > 127 ? 127 : y);
}

void qe_avgpool(const qe_step *s, const int8_t *in, int8_t *out)
{
    const int C = s->in_c, W = s->in_w, k = s->kernel;
    const int32_t z = s->in_zero, n = k * k;
    int32_t acc[256];
    for (int oy = 0; oy < s->out_h; oy++)
        for (int ox = 0; ox < s->out_w; ox++)
            for (int c0 = 0; c0 < C; c0 += 256) {
                int cn = C - c0 < 256 ? C - c0 : 256;
                for (int c = 0; c < cn; c++)
                    acc[c] = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const size_t pix = (size_t)(oy * s->stride + ky) * W + ox * s->stride + kx;
                        const int8_t *x = in + pix * C + c0;
                        for (int c = 0; c < cn; c++)
                            acc[c] += x[c] - z;
                    }
                int8_t *o = out + ((size_t)oy * s->out_w + ox) * C + c0;
                for (int c = 0; c < cn; c++)
                    o[c] = mean_round(acc[c], n, z, s->lo);
            }
}

void qe_global_avgpool(const qe_step *s, const int8_t *in, int8_t *out)
{
    const int C = s->in_c;
    const size_t hw = (size_t)s->in_h * s->in_w;
    const int32_t z = s->in_zero;
    int32_t acc[256];
    for (int c0 = 0; c0 < C; c0 += 256) {
        int cn = C - c0 < 256 ? C - c0 : 256;
        for (int c = 0; c < cn; c++)
            acc[c] = 0;
        /* |sum| <= 255 * 2^26 does not fit int32 for the largest tensors:
         * accumulate blocks of 2^22 pixels in int32, then in int64 */
        int64_t big[256];
        for (int c = 0; c < cn; c++)
            big[c] = 0;
        for (size_t i0 = 0; i0 < hw; i0 += (size_t)1 << 22) {
            size_t i1 = hw - i0 < ((size_t)1 << 22) ? hw : i0 + ((size_t)1 << 22);
            for (size_t i = i0; i < i1; i++) {
                const int8_t *x = in + i * C + c0;
                for (int c = 0; c < cn; c++)
                    acc[c] += x[c] - z;
            }
            for (int c = 0; c < cn; c++)
                big[c] += acc[c], acc[c] = 0;
        }
        for (int c = 0; c < cn; c++) {
            int64_t sum = big[c], a = sum < 0 ? -sum : sum;
            int64_t q = (a + (int64_t)hw / 2) / (int64_t)hw;
            int64_t y = z + (sum < 0 ? -q : q);
            out[c0 + c] = (int8_t)(y < s->lo ? s->lo : y > 127 ? 127 : y);
        }
    }
}

void qe_add(const qe_step *s, const int8_t *a, const int8_t *b, int8_t *out, size_t count)
{
    const int64_t m0 = s->add_mult[0], m1 = s->add_mult[1];
    const int64_t rnd = (int64_t)1 << (s->add_shift - 1);
    const int32_t za = s->in_zero, zb = s->in2_zero;
    for (size_t i = 0; i < count; i++) {
        int64_t v = (int64_t)(a[i] - za) * m0 + (int64_t)(b[i] - zb) * m1 + rnd;
        int64_t y = s->out_zero + (v >> s->add_shift);
        out[i] = (int8_t)(y < s->lo ? s->lo : y > s->hi ? s->hi : y);
    }
}
