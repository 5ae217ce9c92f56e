/* qe_internal.h - the int8 engine's private structures: the plan, its steps
 * and the per-ISA kernel table. Not a public header (qengine.h is).
 *
 * GEMM view of conv2d and dense. For an op with K inputs per output
 * (k*k*in_c, or in_size) and out_c outputs, the kernels compute
 *     out[p][o] = requant_o(bias'[o] + sum_k a[p][k] * w[o][k])
 * for P rows p (output pixels of one image, or images of a batch), where
 * a[p] is row p of the "A panel": the im2col row of pixel p (taps in
 * (ky, kx, c) order, as the weights) or the dense input vector, converted to
 * the ISA's activation format and zero-padded to kp (K rounded up to 4):
 *     QE_AFMT_S8   int8 x as stored                       (C)
 *     QE_AFMT_S16  int16 x                                 (AVX2, vpmaddwd)
 *     QE_AFMT_U8X  uint8 x + 128 (= x ^ 0x80)              (VNNI, vpdpbusd;
 *                                                           AVX2 4-bit, vpmaddubsw)
 * Padding pixels of a conv hold in_zero (converted). The model's rule is
 * bias + sum w (x - in_zero); with the format's offset off (128 for U8X, 0
 * otherwise) the kernels see sum w (x + off), so
 *     bias'[o] = bias[o] - (in_zero + off) * sum_k w[o][k]    (mod 2^32)
 * Accumulation wraps modulo 2^32 in every kernel, so all agree bit for bit.
 *
 * Packed weights: blocks of ocb output channels (out_c padded with zero
 * channels to a multiple of ocb); inside a block, groups of kg consecutive
 * k for each of the ocb channels: element (o, k) of block b = o / ocb is at
 *     b * (kp * ocb) + (k / kg) * (ocb * kg) + (o % ocb) * kg + k % kg
 * in elements of wbytes bytes (int8; int16 for C and AVX2's 8-bit
 * kernel). VNNI convs read their rows from a padded copy of the input
 * instead of an A panel where they can (qe_kernels.conv). */
#ifndef QE_INTERNAL_H
#define QE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qengine.h"

#define QE_ALIGN 64
#define QE_ALIGN_UP(n) (((n) + (size_t)(QE_ALIGN - 1)) & ~(size_t)(QE_ALIGN - 1))
#define QE_KALIGN 4 /* kp is a multiple of this for every ISA */

typedef enum { QE_AFMT_S8 = 0, QE_AFMT_S16 = 1, QE_AFMT_U8X = 2 } qe_afmt;

/* One conv2d or dense op in the GEMM kernels' terms. Arrays have oc_pad
 * entries (padding channels: bias 0, mult 2^30, shift 32; never stored). */
typedef struct {
    int oc;                 /* real output channels                          */
    int oc_pad;             /* oc rounded up to the ISA's block (ocb)        */
    int kp;                 /* K rounded up to QE_KALIGN                     */
    const void *w;          /* packed weights, layout above                  */
    const int32_t *bias;    /* (oc_pad) folded bias'                         */
    const int32_t *mult;    /* (oc_pad)                                      */
    const int32_t *shift;   /* (oc_pad)                                      */
    const int64_t *mult64;  /* (oc_pad) mult, as int64 lanes                 */
    const int64_t *rnd64;   /* (oc_pad) 1 << (shift - 1)                     */
    const int64_t *sh64;    /* (oc_pad) shift                                */
    const int64_t *off64;   /* (oc_pad) 1 << (63 - shift) (AVX2 shift trick) */
    const int32_t *sh32;    /* (oc_pad) shift - 32                           */
    int shift_ge32;         /* every channel's shift is >= 32 (padding: 32)  */
    int32_t zero, lo, hi;   /* output zero point and clamp bounds            */
} qe_gemm_w;

/* GEMM: out[p * ldo + o] for p < P, o < oc; a row p at a + p * lda
 * elements (format of the ISA). */
typedef void (*qe_gemm_fn)(const qe_gemm_w *w, const void *a, size_t lda, int P, int8_t *out,
                           size_t ldo);

/* Sparse dense layer: compressed rows over the non-zero weights. Inputs are
 * raw int8 rows (no format), bias_c = bias - in_zero * sum w (mod 2^32). */
typedef struct {
    int oc, k;
    const uint32_t *rowptr; /* (oc + 1)                                      */
    const uint32_t *idx;    /* (nnz) input index k of each non-zero          */
    const int8_t *val;      /* (nnz) the weight                              */
    const int32_t *bias_c;  /* (oc)                                          */
    const int32_t *mult;    /* (oc)                                          */
    const int32_t *shift;   /* (oc)                                          */
    int32_t zero, lo, hi;
} qe_sparse_w;

/* Images processed together by the sparse kernels when n > 1. */
#define QE_SPARSE_COLS 16

/* Sparse kernel: out (n, oc) rows of ldo from x (n, k) rows of k. Scratch:
 * qe_sparse_scratch(k, max_batch, xt_bytes) bytes, 64-aligned. */
typedef void (*qe_sparse_fn)(const qe_sparse_w *s, const int8_t *x, int n, int8_t *out, size_t ldo,
                             void *scratch);

static inline size_t qe_sparse_scratch(int k, int max_batch, int xt_bytes)
{
    size_t tile = (size_t)k * QE_SPARSE_COLS * xt_bytes, copy = (size_t)k + 64;
    return max_batch > 1 && tile > copy ? tile : copy;
}

/* The sparse kernel of every ISA, from this template: ONE(s, x, out,
 * scratch) handles a single image; n > 1 images go in tiles of 16: the
 * tile's inputs transposed to XT (k, 16) (int8, or int32 where widening at
 * load is slow), then for each output channel acc[16 images] += w *
 * x[k][16 images] over its non-zeros, in GNU C generic vectors that the
 * ISA's target attribute lowers; LOADV(v, p) sets the qe_v16u v to the 16
 * XT values at p, widened (a macro: returning 64-byte vectors from
 * functions changes the ABI where AVX-512 is off). */
typedef uint32_t qe_v16u __attribute__((vector_size(64)));
#define QE_DEFINE_SPARSE(NAME, ATTR, ONE, XT, LOADV)                                              \
    ATTR void NAME(const qe_sparse_w *s, const int8_t *x, int n, int8_t *out, size_t ldo,         \
                   void *scratch)                                                                  \
    {                                                                                              \
        if (n == 1) {                                                                              \
            ONE(s, x, out, scratch);                                                               \
            return;                                                                                \
        }                                                                                          \
        const int K = s->k;                                                                        \
        XT *xt = (XT *)scratch; /* (K, QE_SPARSE_COLS) */                                          \
        for (int i0 = 0; i0 < n; i0 += QE_SPARSE_COLS) {                                           \
            const int nb = n - i0 < QE_SPARSE_COLS ? n - i0 : QE_SPARSE_COLS;                      \
            for (int i = 0; i < QE_SPARSE_COLS; i++) {                                             \
                const int8_t *xi = x + (size_t)(i0 + (i < nb ? i : 0)) * K;                        \
                for (int k = 0; k < K; k++)                                                        \
                    xt[(size_t)k * QE_SPARSE_COLS + i] = (XT)xi[k];                                \
            }                                                                                      \
            for (int o = 0; o < s->oc; o++) {                                                      \
                qe_v16u acc = {0};                                                                 \
                acc += (uint32_t)s->bias_c[o];                                                     \
                for (uint32_t j = s->rowptr[o]; j < s->rowptr[o + 1]; j++) {                       \
                    qe_v16u xv;                                                                    \
                    LOADV(xv, xt + (size_t)s->idx[j] * QE_SPARSE_COLS);                            \
                    acc += xv * (uint32_t)(int32_t)s->val[j];                                      \
                }                                                                                  \
                for (int i = 0; i < nb; i++)                                                       \
                    out[(size_t)(i0 + i) * ldo + o] = qe_requant1(                                 \
                        qe_wrap32(acc[i]), s->mult[o], s->shift[o], s->zero, s->lo, s->hi);        \
            }                                                                                      \
        }                                                                                          \
    }

struct qe_step_s;

/* A-panel packers (see QE_DEFINE_IM2COL / QE_DEFINE_PACK_ROWS below). */
typedef void (*qe_im2col_fn)(void *a, const struct qe_step_s *s, const int8_t *in, int p0, int np);
typedef void (*qe_pack_fn)(void *a, const struct qe_step_s *s, const int8_t *x, int n);
/* Add of count elements (qe_add's contract). */
typedef void (*qe_add_fn)(const struct qe_step_s *s, const int8_t *a, const int8_t *b, int8_t *out,
                          size_t count);
/* A whole conv of one image (NULL where the ISA uses the generic im2col
 * tiles + GEMM): scratch holds qe_padded_bytes * abytes + QE_PAD_SLACK,
 * aligned, then (when k * in_c % kg != 0) one A-panel tile + QE_PAD_SLACK.
 * With conv_direct_only, only convs with k * in_c % kg == 0 use it. */
typedef void (*qe_conv_fn)(const struct qe_step_s *s, const int8_t *in, int8_t *out, void *scratch);
#define QE_PAD_SLACK 64

typedef struct qe_kernels_s {
    qe_isa isa;
    const char *name;
    int ocb, kg;            /* weight packing, see above                     */
    int wbytes;             /* 1, 2: int8, int16 weights                     */
    qe_afmt afmt;           /* activation format of the A panel (reports)    */
    int abytes;             /* bytes per A element                           */
    int32_t aoff;           /* the format's offset (128 for U8X)             */
    int rows;               /* preferred multiple of rows per tile           */
    qe_gemm_fn gemm;
    qe_im2col_fn im2col;
    qe_pack_fn pack_rows;
    qe_conv_fn conv;        /* the ISA's own conv, or NULL                   */
    int conv_direct_only;   /* conv only where k * in_c % kg == 0            */
    qe_sparse_fn sparse;
    int sparse_xt_bytes;    /* bytes per element of its transposed tile      */
    qe_add_fn add;          /* the ISA's add, or NULL for qe_add             */
    double sparse_max_density; /* QE_SPARSE_AUTO: sparse at or below this    */
    const struct qe_kernels_s *w4; /* variant for 4-bit weights, or NULL     */
} qe_kernels;

/* The tables; NULL when the ISA cannot exist in this build (not x86-64). */
const qe_kernels *qe_kernels_c(void);
const qe_kernels *qe_kernels_avx2(void);
const qe_kernels *qe_kernels_avx512(void);

typedef enum {
    QE_K_GEMM_CONV = 1,
    QE_K_GEMM_DENSE = 2,
    QE_K_SPARSE_DENSE = 3,
    QE_K_MAXPOOL = 4,
    QE_K_AVGPOOL = 5,
    QE_K_GAP = 6,
    QE_K_ADD = 7
} qe_kernel_kind;

/* One op of the plan. Tensor ids: 0 is the input, i + 1 the output of op i. */
typedef struct qe_step_s {
    qe_kernel_kind kind;
    int in, in2, out;
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int kernel, stride, pad;
    int32_t in_zero, in2_zero, out_zero, lo, hi;
    int32_t add_mult[2];
    int add_shift;
    int kdim;               /* K: k*k*in_c or in_size                        */
    int tile;               /* conv: pixels per A-panel tile; dense: rows    */
    int own_conv;           /* conv: kern->conv instead of generic im2col    */
    int kc_pad;             /* conv: kernel rows padded to this many values
                             * with zero weights (0: not padded), see kp    */
    qe_gemm_w g;            /* GEMM kinds                                    */
    qe_sparse_w sp;         /* sparse kind                                   */
    const qe_kernels *kern; /* GEMM kinds: the plan's, or its 4-bit variant  */
    void *mem;              /* owned: packed weights and per-channel arrays  */
    size_t scratch;         /* bytes of kernel scratch                       */
    char desc[96];
} qe_step;

typedef struct {
    size_t off;             /* in the aligned arena                          */
    size_t size;            /* bytes per image                               */
    int batched;            /* 1: max_batch images at off + i * size         */
} qe_tensor;

struct qe_plan {
    const qe_kernels *kern;
    int max_batch;
    int n_ops;
    int first_batched;      /* ops [first_batched, n_ops) run on the batch   */
    int in_c, in_h, in_w, num_classes;
    qm_qparams out_q;
    int8_t lut[QM_MAX_CHANNELS_IN * 256];
    qe_tensor tensors[QM_MAX_OPS + 1];
    qe_step steps[QM_MAX_OPS];
    size_t scratch_off;     /* kernel scratch, after the tensors             */
    size_t arena_bytes;
};

/* A-panel packers, one per ISA, all from this template:
 *   ATTR void NAME(void *a, const qe_step *s, const int8_t *in, int p0, int np)
 * writes row p - p0 of the A panel (rows of s->g.kp elements of type ELEM)
 * for output pixels [p0, p0 + np) of conv step s from one image's HWC
 * input: taps in (ky, kx, c) order, padding pixels in_zero, then zeros up
 * to kp (they meet zero weights). COPY(dst, src, n) converts n int8 values
 * to ELEM; FILL(dst, v, n) writes n converted copies of the int8 v. A kernel
 * row of taps inside the image is one contiguous run of k * in_c values. */
#define QE_DEFINE_IM2COL(NAME, ATTR, ELEM, COPY, FILL)                                            \
    ATTR void NAME(void *a_, const qe_step *s, const int8_t *in, int p0, int np)                  \
    {                                                                                              \
        ELEM *a = (ELEM *)a_;                                                                      \
        const int C = s->in_c, H = s->in_h, W = s->in_w, k = s->kernel, kp = s->g.kp;             \
        const int8_t z = (int8_t)s->in_zero;                                                       \
        const int kc = k * C;                                                                      \
        for (int p = 0; p < np; p++) {                                                             \
            const int oy = (p0 + p) / s->out_w, ox = (p0 + p) % s->out_w;                          \
            const int iy0 = oy * s->stride - s->pad, ix0 = ox * s->stride - s->pad;                \
            ELEM *row = a + (size_t)p * kp;                                                        \
            for (int ky = 0; ky < k; ky++, row += kc) {                                            \
                const int iy = iy0 + ky;                                                           \
                if (iy < 0 || iy >= H) {                                                           \
                    FILL(row, z, kc);                                                              \
                } else if (ix0 >= 0 && ix0 + k <= W) {                                             \
                    COPY(row, in + ((size_t)iy * W + ix0) * C, kc);                                \
                } else {                                                                           \
                    for (int kx = 0; kx < k; kx++) {                                               \
                        const int ix = ix0 + kx;                                                   \
                        if (ix < 0 || ix >= W)                                                     \
                            FILL(row + kx * C, z, C);                                              \
                        else                                                                       \
                            COPY(row + kx * C, in + ((size_t)iy * W + ix) * C, C);                 \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            FILL(row, 0, kp - k * kc);                                                             \
        }                                                                                          \
    }

/* The dense form: n rows of K = s->kdim values from x (rows of kdim) into
 * the A panel (rows of s->g.kp), zero-padded. */
#define QE_DEFINE_PACK_ROWS(NAME, ATTR, ELEM, COPY, FILL)                                         \
    ATTR void NAME(void *a_, const qe_step *s, const int8_t *x, int n)                            \
    {                                                                                              \
        ELEM *a = (ELEM *)a_;                                                                      \
        const int K = s->kdim, kp = s->g.kp;                                                       \
        for (int i = 0; i < n; i++) {                                                              \
            COPY(a + (size_t)i * kp, x + (size_t)i * K, K);                                        \
            FILL(a + (size_t)i * kp + K, 0, kp - K);                                               \
        }                                                                                          \
    }

/* Portable pieces shared by every ISA (qe_ops.c). */

void qe_maxpool(const qe_step *s, const int8_t *in, int8_t *out);
void qe_avgpool(const qe_step *s, const int8_t *in, int8_t *out);
void qe_global_avgpool(const qe_step *s, const int8_t *in, int8_t *out);
/* count elements. */
void qe_add(const qe_step *s, const int8_t *a, const int8_t *b, int8_t *out, size_t count);

/* Bytes of a conv step's input padded on every side, one image. */
static inline size_t qe_padded_bytes(const qe_step *s)
{
    return (size_t)(s->in_h + 2 * s->pad) * (s->in_w + 2 * s->pad) * s->in_c;
}

/* qm_requantize's rule, for the portable kernels. */
static inline int8_t qe_requant1(int32_t acc, int32_t mult, int32_t shift, int32_t zero, int32_t lo,
                                 int32_t hi)
{
    int64_t v = (int64_t)acc * mult + ((int64_t)1 << (shift - 1));
    int64_t y = (int64_t)zero + (v >> shift);
    return (int8_t)(y < lo ? lo : y > hi ? hi : y);
}

/* Two's complement wrap of an int64 into int32 (no implementation-defined
 * conversion). */
static inline int32_t qe_wrap32(int64_t v)
{
    uint32_t u = (uint32_t)(uint64_t)v;
    return u <= 0x7fffffffu ? (int32_t)u : (int32_t)(u - 0x80000000u) - 0x7fffffff - 1;
}

#endif
