/* qe_kern_c.c - the portable GEMM of the int8 engine: int8 activations,
 * plain weight rows (ocb 1, kg kp), uint32 (wrapping) accumulators, four
 * output channels per pass so each activation is loaded once per four. */
#include <string.h>

#include "qe_internal.h"

#define COPY_S8(dst, src, n) memcpy((dst), (src), (size_t)(n))
#define FILL_S8(dst, v, n) memset((dst), (v), (size_t)(n))
QE_DEFINE_IM2COL(im2col_c, static, int8_t, COPY_S8, FILL_S8)
QE_DEFINE_PACK_ROWS(pack_rows_c, static, int8_t, COPY_S8, FILL_S8)

static void gemm_c(const qe_gemm_w *w, const void *av, size_t lda, int P, int8_t *out, size_t ldo)
{
    const int8_t *wt = (const int8_t *)w->w;
    const int kp = w->kp, oc = w->oc;
    for (int p = 0; p < P; p++) {
        const int8_t *a = (const int8_t *)av + (size_t)p * lda;
        int8_t *y = out + (size_t)p * ldo;
        int o = 0;
        for (; o + 4 <= oc; o += 4) {
            const int8_t *w0 = wt + (size_t)o * kp, *w1 = w0 + kp, *w2 = w1 + kp, *w3 = w2 + kp;
            uint32_t s0 = (uint32_t)w->bias[o], s1 = (uint32_t)w->bias[o + 1];
            uint32_t s2 = (uint32_t)w->bias[o + 2], s3 = (uint32_t)w->bias[o + 3];
            for (int k = 0; k < kp; k++) {
                int32_t x = a[k];
                s0 += (uint32_t)(x * w0[k]);
                s1 += (uint32_t)(x * w1[k]);
                s2 += (uint32_t)(x * w2[k]);
                s3 += (uint32_t)(x * w3[k]);
            }
            const uint32_t s[4] = {s0, s1, s2, s3};
            for (int j = 0; j < 4; j++)
                y[o + j] = qe_requant1(qe_wrap32(s[j]), w->mult[o + j], w->shift[o + j], w->zero,
                                       w->lo, w->hi);
        }
        for (; o < oc; o++) {
            const int8_t *w0 = wt + (size_t)o * kp;
            uint32_t s0 = (uint32_t)w->bias[o];
            for (int k = 0; k < kp; k++)
                s0 += (uint32_t)(a[k] * w0[k]);
            y[o] = qe_requant1(qe_wrap32(s0), w->mult[o], w->shift[o], w->zero, w->lo, w->hi);
        }
    }
}

static const qe_kernels KERN_C = {
    .isa = QE_ISA_C,
    .name = "c",
    .ocb = 1,
    .kg = 0, /* 0: the whole row (kp) */
    .wbytes = 1,
    .afmt = QE_AFMT_S8,
    .abytes = 1,
    .aoff = 0,
    .rows = 4,
    .gemm = gemm_c,
    .im2col = im2col_c,
    .pack_rows = pack_rows_c,
};

const qe_kernels *qe_kernels_c(void) { return &KERN_C; }
