/* qe_kern_c.c - the portable GEMM of the int8 engine: int8 activations,
 * int16 weights in blocks of 16 output channels with one k per group (ocb
 * 16, kg 1: for each k, the 16 channels' weights are contiguous), uint32
 * (wrapping) accumulators, 4 rows x 16 channels per pass. */
#include <string.h>

#include "qe_internal.h"

#define COPY_S8(dst, src, n) memcpy((dst), (src), (size_t)(n))
#define FILL_S8(dst, v, n) memset((dst), (v), (size_t)(n))
QE_DEFINE_IM2COL(im2col_c, static, int8_t, COPY_S8, FILL_S8)
QE_DEFINE_PACK_ROWS(pack_rows_c, static, int8_t, COPY_S8, FILL_S8)

#define OCB 16 /* channels per weight block */
#define ROWS 4 /* rows per pass */

/* GNU C generic vectors: 16 lanes, lowered to whatever the target has
 * (plain scalar code where it has nothing); no ISA is named. Unsigned
 * lanes: products and sums wrap modulo 2^32 as the int32 rule needs. */
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef int16_t v16h __attribute__((vector_size(32)));

/* 16 int16 weights widened to the lanes (one sign extension). Measured on
 * the MNIST net: int32 weights were ~10% faster but take 4x the model's
 * weight bytes; int8 weights (two conversion steps) ~25% slower. int16
 * takes 2x. */
#define LOAD_W16(v, p)                                                                             \
    do {                                                                                           \
        v16h h_;                                                                                   \
        memcpy(&h_, (p), sizeof h_);                                                               \
        (v) = (v16u)__builtin_convertvector(h_, v16i);                                             \
    } while (0)

/* R rows x one block of 16 channels. */
static inline void block_rows(const qe_gemm_w *w, const int8_t *a, size_t lda, int R, int b,
                              int8_t *out, size_t ldo)
{
    const int kp = w->kp;
    const int16_t *wb = (const int16_t *)w->w + (size_t)b * kp * OCB;
    v16u bias, acc[ROWS];
    memcpy(&bias, w->bias + b * OCB, sizeof bias);
    for (int r = 0; r < ROWS; r++)
        acc[r] = bias;
    if (R == ROWS) {
        for (int k = 0; k < kp; k++) {
            v16u v;
            LOAD_W16(v, wb + (size_t)k * OCB);
            acc[0] += v * (uint32_t)(int32_t)a[k];
            acc[1] += v * (uint32_t)(int32_t)a[lda + k];
            acc[2] += v * (uint32_t)(int32_t)a[2 * lda + k];
            acc[3] += v * (uint32_t)(int32_t)a[3 * lda + k];
        }
    } else {
        for (int r = 0; r < R; r++)
            for (int k = 0; k < kp; k++) {
                v16u v;
                LOAD_W16(v, wb + (size_t)k * OCB);
                acc[r] += v * (uint32_t)(int32_t)a[r * lda + k];
            }
    }
    const int o0 = b * OCB, n = w->oc - o0 < OCB ? w->oc - o0 : OCB;
    for (int r = 0; r < R; r++)
        for (int l = 0; l < n; l++)
            out[r * ldo + o0 + l] = qe_requant1(qe_wrap32(acc[r][l]), w->mult[o0 + l],
                                                w->shift[o0 + l], w->zero, w->lo, w->hi);
}

static void gemm_c(const qe_gemm_w *w, const void *av, size_t lda, int P, int8_t *out, size_t ldo)
{
    const int8_t *a = (const int8_t *)av;
    for (int b = 0; b < w->oc_pad / OCB; b++)
        for (int p = 0; p < P; p += ROWS)
            block_rows(w, a + (size_t)p * lda, lda, P - p < ROWS ? P - p : ROWS, b,
                       out + (size_t)p * ldo, ldo);
}

/* One image of a sparse dense layer: four partial sums per row. */
static void sparse_one_c(const qe_sparse_w *s, const int8_t *x, int8_t *out, void *scratch)
{
    (void)scratch;
    for (int o = 0; o < s->oc; o++) {
        uint32_t a0 = (uint32_t)s->bias_c[o], a1 = 0, a2 = 0, a3 = 0;
        uint32_t j = s->rowptr[o];
        const uint32_t end = s->rowptr[o + 1];
        for (; j + 4 <= end; j += 4) {
            a0 += (uint32_t)(s->val[j] * x[s->idx[j]]);
            a1 += (uint32_t)(s->val[j + 1] * x[s->idx[j + 1]]);
            a2 += (uint32_t)(s->val[j + 2] * x[s->idx[j + 2]]);
            a3 += (uint32_t)(s->val[j + 3] * x[s->idx[j + 3]]);
        }
        for (; j < end; j++)
            a0 += (uint32_t)(s->val[j] * x[s->idx[j]]);
        out[o] = qe_requant1(qe_wrap32(a0 + a1 + a2 + a3), s->mult[o], s->shift[o], s->zero, s->lo,
                             s->hi);
    }
}

#define LOAD16_C(v, p) memcpy(&(v), (p), sizeof(v))

QE_DEFINE_SPARSE(sparse_c, static, sparse_one_c, int32_t, LOAD16_C)

static const qe_kernels KERN_C = {
    .isa = QE_ISA_C,
    .name = "c",
    .ocb = OCB,
    .kg = 1,
    .wbytes = 2,
    .afmt = QE_AFMT_S8,
    .abytes = 1,
    .aoff = 0,
    .rows = 4,
    .gemm = gemm_c,
    .im2col = im2col_c,
    .pack_rows = pack_rows_c,
    .sparse = sparse_c,
    .sparse_xt_bytes = 4,
    .sparse_max_density = 0.25,
};

const qe_kernels *qe_kernels_c(void) { return &KERN_C; }
