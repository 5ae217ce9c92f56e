/* qe_kern_avx512.c - the int8 engine's GEMM for AVX-512 VNNI.
 *
 * A panel: uint8 x + 128 (QE_AFMT_U8X). Weights: blocks of 16 output
 * channels, groups of 4 k (ocb 16, kg 4): one 64-byte vector holds k..k+3 of
 * 16 channels, the operand layout of vpdpbusd, which adds the four
 * u8 x s8 products of each 32-bit lane to that lane (no saturation).
 *
 * Register tile: R rows (pixels or images) x J blocks (16 J channels), with
 * R x J <= 24 accumulators; per 4 k: J weight loads, R 4-byte broadcasts of
 * activations, R x J vpdpbusd. The accumulators start at the folded bias;
 * the epilogue requantizes 16 channels at once in 64-bit lanes (vpmuldq,
 * per-lane vpsravq) exactly as qm_requantize does.
 *
 * Compiled with function-level target attributes: the rest of the build
 * needs no -mavx512 flag, and this code runs only when
 * __builtin_cpu_supports says the CPU has all four extensions. */
#include "qe_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define AI static inline __attribute__((always_inline)) TGT

/* Requantization constants of one block of 16 channels. */
typedef struct {
    __m512i m[2], r[2], s[2];
} rq16;

AI rq16 rq16_load(const qe_gemm_w *w, int o)
{
    rq16 q;
    for (int h = 0; h < 2; h++) {
        q.m[h] = _mm512_loadu_si512(w->mult64 + o + 8 * h);
        q.r[h] = _mm512_loadu_si512(w->rnd64 + o + 8 * h);
        q.s[h] = _mm512_loadu_si512(w->sh64 + o + 8 * h);
    }
    return q;
}

/* 16 int32 accumulators -> 16 int8 outputs. */
AI __m128i requant16(__m512i acc, const rq16 *q, __m512i z, __m512i lo, __m512i hi)
{
    __m512i v[2] = {_mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc)),
                    _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc, 1))};
    __m128i b[2];
    for (int h = 0; h < 2; h++) {
        __m512i t = _mm512_mul_epi32(v[h], q->m[h]); /* exact: |acc * mult| < 2^62 */
        t = _mm512_srav_epi64(_mm512_add_epi64(t, q->r[h]), q->s[h]);
        t = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(t, z), lo), hi);
        b[h] = _mm512_cvtepi64_epi8(t);
    }
    return _mm_unpacklo_epi64(b[0], b[1]);
}

/* ---- A panel: x ^ 0x80 with masked 64-byte moves ---------------------------- */

AI __mmask64 first_n(int n) { return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1); }

AI void copy_u8x(uint8_t *d, const int8_t *src, int n)
{
    if (n < 16) { /* short runs (first layers: 1-3 channels): bytes are cheaper */
        for (int i = 0; i < n; i++)
            d[i] = (uint8_t)((uint8_t)src[i] ^ 0x80u);
        return;
    }
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    int i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(d + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), x80));
    if (i < n) {
        const __mmask64 m = first_n(n - i);
        const __m512i v = _mm512_maskz_loadu_epi8(m, src + i);
        _mm512_mask_storeu_epi8(d + i, m, _mm512_xor_si512(v, x80));
    }
}

AI void fill_u8x(uint8_t *d, int8_t v, int n)
{
    if (n < 16) {
        for (int i = 0; i < n; i++)
            d[i] = (uint8_t)((uint8_t)v ^ 0x80u);
        return;
    }
    const __m512i x = _mm512_set1_epi8((char)(v ^ 0x80));
    int i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(d + i, x);
    if (i < n)
        _mm512_mask_storeu_epi8(d + i, first_n(n - i), x);
}

QE_DEFINE_IM2COL(im2col_vnni, static TGT, uint8_t, copy_u8x, fill_u8x)
QE_DEFINE_PACK_ROWS(pack_rows_vnni, static TGT, uint8_t, copy_u8x, fill_u8x)

/* ---- GEMM ------------------------------------------------------------------------ */

#define MAXR 12
#define MAXJ 4

/* Where the k values of a row are: n segments of len bytes (a multiple of
 * 4), segment i at row + i * stride. The im2col panel is one segment of kp;
 * a direct conv reads k segments of k * in_c bytes, one per kernel row,
 * from the padded input. */
typedef struct {
    int n, len;
    size_t stride;
} segs;

/* Rows [0, R) x blocks [b0, b0 + J); row r starts at a + r * lda. */
AI void tile(const int J, const int R, const qe_gemm_w *w, const uint8_t *a, size_t lda,
             const segs *sg, int b0, int8_t *out, size_t ldo)
{
    const size_t bs = (size_t)w->kp * 16;
    const int8_t *wk = (const int8_t *)w->w + (size_t)b0 * bs;
    __m512i acc[MAXR][MAXJ];
#pragma GCC unroll 4
    for (int j = 0; j < J; j++) {
        __m512i b = _mm512_loadu_si512(w->bias + (b0 + j) * 16);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
            acc[r][j] = b;
    }
    for (int g = 0; g < sg->n; g++) {
        const uint8_t *as = a + (size_t)g * sg->stride;
        for (int k = 0; k < sg->len; k += 4, wk += 64) {
            __m512i wv[MAXJ];
#pragma GCC unroll 4
            for (int j = 0; j < J; j++)
                wv[j] = _mm512_loadu_si512(wk + j * bs);
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                int32_t x4;
                memcpy(&x4, as + r * lda + k, 4);
                __m512i av = _mm512_set1_epi32(x4);
#pragma GCC unroll 4
                for (int j = 0; j < J; j++)
                    acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], av, wv[j]);
            }
        }
    }
    const __m512i z = _mm512_set1_epi64(w->zero), lo = _mm512_set1_epi64(w->lo),
                  hi = _mm512_set1_epi64(w->hi);
#pragma GCC unroll 4
    for (int j = 0; j < J; j++) {
        const int o = (b0 + j) * 16, valid = w->oc - o;
        const rq16 q = rq16_load(w, o);
        const __mmask16 mask = valid >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << valid) - 1);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
            _mm_mask_storeu_epi8(out + r * ldo + o, mask, requant16(acc[r][j], &q, z, lo, hi));
    }
}

typedef void (*tile_fn)(const qe_gemm_w *, const uint8_t *, size_t, const segs *, int, int8_t *,
                        size_t);

#define T(J, R)                                                                                    \
    static TGT void tile_##J##_##R(const qe_gemm_w *w, const uint8_t *a, size_t lda,              \
                                   const segs *sg, int b0, int8_t *out, size_t ldo)                \
    {                                                                                              \
        tile(J, R, w, a, lda, sg, b0, out, ldo);                                                   \
    }
#define T6(J) T(J, 1) T(J, 2) T(J, 3) T(J, 4) T(J, 5) T(J, 6)
#define T8(J) T6(J) T(J, 7) T(J, 8)
#define T12(J) T8(J) T(J, 9) T(J, 10) T(J, 11) T(J, 12)
T12(1)
T12(2)
T8(3)
T6(4)
#define P6(J) tile_##J##_1, tile_##J##_2, tile_##J##_3, tile_##J##_4, tile_##J##_5, tile_##J##_6
#define P8(J) P6(J), tile_##J##_7, tile_##J##_8
#define P12(J) P8(J), tile_##J##_9, tile_##J##_10, tile_##J##_11, tile_##J##_12

/* TILES[J - 1][R - 1]; RMAX[J - 1] rows at most. */
static const int RMAX[MAXJ] = {12, 12, 8, 6};
static const tile_fn TILES[MAXJ][MAXR] = {{P12(1)}, {P12(2)}, {P8(3)}, {P6(4)}};

static TGT void gemm_vnni(const qe_gemm_w *w, const void *av, size_t lda, int P, int8_t *out,
                          size_t ldo)
{
    const uint8_t *a = (const uint8_t *)av;
    const segs sg = {1, w->kp, 0};
    const int nb = w->oc_pad / 16;
    for (int b0 = 0; b0 < nb;) {
        const int J = nb - b0 >= MAXJ ? MAXJ : nb - b0, rmax = RMAX[J - 1];
        for (int p = 0; p < P; p += rmax) {
            const int R = P - p < rmax ? P - p : rmax;
            TILES[J - 1][R - 1](w, a + (size_t)p * lda, lda, &sg, b0, out + (size_t)p * ldo, ldo);
        }
        b0 += J;
    }
}

/* Every conv of the VNNI plan: the input, converted to x ^ 0x80 and padded
 * with in_zero, goes to scratch once (QE_PAD_SLACK more bytes after it, so
 * 4-byte reads may run past the end). Then:
 *  - direct (k * in_c a multiple of 4): each register tile of R pixels of
 *    one output row reads its k kernel rows straight from the padded copy
 *    (pixel r at + r * stride * in_c, kernel row ky at + ky * padded row);
 *  - otherwise (first layers, 1-3 channels): A-panel tiles are filled from
 *    the padded copy with unconditional 4-byte copies (no bounds checks;
 *    each copy's overrun is overwritten by the next one or lands in the K
 *    padding, rewritten last, or in the panel's slack), then the GEMM. */
static TGT void conv_vnni(const qe_step *s, const int8_t *in, int8_t *out, void *scratch)
{
    const int C = s->in_c, W = s->in_w, H = s->in_h, pad = s->pad, k = s->kernel;
    const int Wp = W + 2 * pad, OW = s->out_w, OC = s->out_c, kc = k * C;
    const size_t prow = (size_t)Wp * C;
    uint8_t *xp = (uint8_t *)scratch;
    const int8_t z = (int8_t)s->in_zero;
    fill_u8x(xp, z, (int)(pad * prow));
    for (int y = 0; y < H; y++) {
        uint8_t *r = xp + (size_t)(y + pad) * prow;
        fill_u8x(r, z, pad * C);
        copy_u8x(r + (size_t)pad * C, in + (size_t)y * W * C, W * C);
        fill_u8x(r + (size_t)(pad + W) * C, z, pad * C);
    }
    fill_u8x(xp + (size_t)(pad + H) * prow, z, (int)(pad * prow) + QE_PAD_SLACK);
    const qe_gemm_w *w = &s->g;
    if (kc % 4 != 0) {
        uint8_t *a = xp + QE_ALIGN_UP(qe_padded_bytes(s) + QE_PAD_SLACK);
        const int P = s->out_h * OW, kp = w->kp;
        for (int p0 = 0; p0 < P; p0 += s->tile) {
            const int np = P - p0 < s->tile ? P - p0 : s->tile;
            for (int p = 0; p < np; p++) {
                const int oy = (p0 + p) / OW, ox = (p0 + p) % OW;
                const uint8_t *src =
                    xp + (size_t)oy * s->stride * prow + (size_t)ox * s->stride * C;
                uint8_t *row = a + (size_t)p * kp;
                for (int ky = 0; ky < k; ky++, src += prow)
                    for (int i = 0; i < kc; i += 4)
                        memcpy(row + ky * kc + i, src + i, 4);
                for (int i = k * kc; i < kp; i++)
                    row[i] = 0x80;
            }
            gemm_vnni(w, a, (size_t)kp, np, out + (size_t)p0 * OC, (size_t)OC);
        }
        return;
    }
    const segs sg = {k, kc, prow};
    const size_t lda = (size_t)s->stride * C;
    const int nb = w->oc_pad / 16;
    for (int b0 = 0; b0 < nb;) {
        const int J = nb - b0 >= MAXJ ? MAXJ : nb - b0, rmax = RMAX[J - 1];
        /* balanced tiles along the row: 28 = 10 + 10 + 8 rather than 12 + 12 + 4 */
        const int ntiles = (OW + rmax - 1) / rmax, rt = (OW + ntiles - 1) / ntiles;
        for (int oy = 0; oy < s->out_h; oy++) {
            const uint8_t *row = xp + (size_t)oy * s->stride * prow;
            for (int ox = 0; ox < OW; ox += rt) {
                const int R = OW - ox < rt ? OW - ox : rt;
                TILES[J - 1][R - 1](w, row + ox * lda, lda, &sg, b0,
                                    out + ((size_t)oy * OW + ox) * OC, (size_t)OC);
            }
        }
        b0 += J;
    }
}

/* ---- sparse dense layer ------------------------------------------------------------ */

/* One image: per output row, 16 non-zeros at a time, the inputs gathered
 * (4-byte gathers at byte offsets from a copy of x padded by 64 bytes, so
 * no gather reads past it; the low byte is the value). */
AI void sparse_one_vnni(const qe_sparse_w *s, const int8_t *x, int8_t *out, void *scratch)
{
    uint8_t *xp = (uint8_t *)scratch;
    memcpy(xp, x, (size_t)s->k);
    memset(xp + s->k, 0, 64);
    for (int o = 0; o < s->oc; o++) {
        uint32_t j = s->rowptr[o];
        const uint32_t end = s->rowptr[o + 1];
        __m512i acc = _mm512_setzero_si512();
        for (; j < end; j += 16) {
            const __mmask16 m =
                end - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (end - j)) - 1);
            __m512i vi = _mm512_maskz_loadu_epi32(m, s->idx + j);
            __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, vi, xp, 1);
            g = _mm512_srai_epi32(_mm512_slli_epi32(g, 24), 24);
            __m512i w = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, s->val + j));
            acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(g, w));
        }
        uint32_t sum = (uint32_t)s->bias_c[o] + (uint32_t)_mm512_reduce_add_epi32(acc);
        out[o] = qe_requant1(qe_wrap32(sum), s->mult[o], s->shift[o], s->zero, s->lo, s->hi);
    }
}

#define LOAD16_VNNI(v, p)                                                                          \
    ((v) = (qe_v16u)_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))

QE_DEFINE_SPARSE(sparse_vnni, static TGT, sparse_one_vnni, int8_t, LOAD16_VNNI)

/* ---- add ------------------------------------------------------------------------------ */

/* qe_add's arithmetic, 8 elements per step in 64-bit lanes: (a - za) * m0
 * + (b - zb) * m1 + round is exact (|.| < 2^41), then the arithmetic shift,
 * the output zero point and the clamp; a masked tail. */
static TGT void add_vnni(const qe_step *s, const int8_t *a, const int8_t *b, int8_t *out,
                         size_t count)
{
    const __m512i za = _mm512_set1_epi64(s->in_zero), zb = _mm512_set1_epi64(s->in2_zero);
    const __m512i m0 = _mm512_set1_epi64(s->add_mult[0]), m1 = _mm512_set1_epi64(s->add_mult[1]);
    const __m512i rnd = _mm512_set1_epi64((long long)1 << (s->add_shift - 1));
    const __m512i sh = _mm512_set1_epi64(s->add_shift), oz = _mm512_set1_epi64(s->out_zero);
    const __m512i lo = _mm512_set1_epi64(s->lo), hi = _mm512_set1_epi64(s->hi);
    for (size_t i = 0; i < count; i += 8) {
        const __mmask8 m = count - i >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (count - i)) - 1);
        __m512i va = _mm512_sub_epi64(_mm512_cvtepi8_epi64(_mm_maskz_loadu_epi8(m, a + i)), za);
        __m512i vb = _mm512_sub_epi64(_mm512_cvtepi8_epi64(_mm_maskz_loadu_epi8(m, b + i)), zb);
        __m512i v = _mm512_add_epi64(_mm512_mul_epi32(va, m0), _mm512_mul_epi32(vb, m1));
        v = _mm512_srav_epi64(_mm512_add_epi64(v, rnd), sh);
        v = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(v, oz), lo), hi);
        _mm_mask_storeu_epi8(out + i, m, _mm512_cvtepi64_epi8(v));
    }
}

static const qe_kernels KERN_VNNI = {
    .isa = QE_ISA_AVX512_VNNI,
    .name = "avx512-vnni",
    .ocb = 16,
    .kg = 4,
    .wbytes = 1,
    .afmt = QE_AFMT_U8X,
    .abytes = 1,
    .aoff = 128,
    .rows = 12,
    .gemm = gemm_vnni,
    .im2col = im2col_vnni,
    .pack_rows = pack_rows_vnni,
    .conv = conv_vnni,
    .sparse = sparse_vnni,
    .sparse_xt_bytes = 1,
    .add = add_vnni,
    .sparse_max_density = 0.015,
};

const qe_kernels *qe_kernels_avx512(void) { return &KERN_VNNI; }

#else

const qe_kernels *qe_kernels_avx512(void) { return NULL; }

#endif
