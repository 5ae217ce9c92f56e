/* qe_kern_avx2.c - the int8 engine's GEMM for AVX2.
 *
 * AVX2 has no exact u8 x s8 dot product: vpmaddubsw saturates its int16
 * pair sums (255 * 127 * 2 > 32767), which would break bit-exactness. So
 * both operands are int16 and vpmaddwd multiplies pairs exactly into int32
 * lanes: A panel int16 x (QE_AFMT_S16); weights int16 in blocks of 8 output
 * channels, groups of 2 k (ocb 8, kg 2): one 32-byte vector holds k, k+1 of
 * 8 channels. Per 2 k: J weight loads, R broadcasts of 2 activations,
 * R x J (vpmaddwd + vpaddd).
 *
 * The epilogue requantizes 8 channels in 64-bit lanes. AVX2 lacks the
 * arithmetic 64-bit shift, so it uses (v ^ 2^63) >>> s - 2^(63 - s), which
 * equals v >> s for every int64 v, and clamps with 64-bit compares.
 *
 * Compiled with function-level target attributes; runs only when
 * __builtin_cpu_supports("avx2"). */
#include "qe_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx2")))
#define AI static inline __attribute__((always_inline)) TGT

typedef struct {
    __m256i m[2], r[2], s[2], off[2];
} rq8;

AI rq8 rq8_load(const qe_gemm_w *w, int o)
{
    rq8 q;
    for (int h = 0; h < 2; h++) {
        q.m[h] = _mm256_loadu_si256((const __m256i *)(w->mult64 + o + 4 * h));
        q.r[h] = _mm256_loadu_si256((const __m256i *)(w->rnd64 + o + 4 * h));
        q.s[h] = _mm256_loadu_si256((const __m256i *)(w->sh64 + o + 4 * h));
        q.off[h] = _mm256_loadu_si256((const __m256i *)(w->off64 + o + 4 * h));
    }
    return q;
}

/* 8 int32 accumulators -> 8 int8 outputs in the low half. */
AI __m128i requant8(__m256i acc, const rq8 *q, __m256i z, __m256i lo, __m256i hi)
{
    const __m256i sign = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    const __m256i low_dwords = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256i v[2] = {_mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc)),
                    _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc, 1))};
    __m128i d[2];
    for (int h = 0; h < 2; h++) {
        __m256i t = _mm256_add_epi64(_mm256_mul_epi32(v[h], q->m[h]), q->r[h]);
        t = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_xor_si256(t, sign), q->s[h]), q->off[h]);
        t = _mm256_add_epi64(t, z);
        t = _mm256_blendv_epi8(t, lo, _mm256_cmpgt_epi64(lo, t));
        t = _mm256_blendv_epi8(t, hi, _mm256_cmpgt_epi64(t, hi));
        d[h] = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(t, low_dwords));
    }
    __m128i w16 = _mm_packs_epi32(d[0], d[1]); /* values are in [-128, 127] */
    return _mm_packs_epi16(w16, w16);
}

/* ---- A panel: int8 -> int16 ------------------------------------------------------ */

AI void copy_s16(int16_t *d, const int8_t *src, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(d + i),
                            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        d[i] = src[i];
}

AI void fill_s16(int16_t *d, int8_t v, int n)
{
    const __m256i x = _mm256_set1_epi16(v);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(d + i), x);
    for (; i < n; i++)
        d[i] = v;
}

QE_DEFINE_IM2COL(im2col_avx2, static TGT, int16_t, copy_s16, fill_s16)
QE_DEFINE_PACK_ROWS(pack_rows_avx2, static TGT, int16_t, copy_s16, fill_s16)

/* ---- GEMM ------------------------------------------------------------------------ */

#define MAXR 8
#define MAXJ 2

AI void tile(const int J, const int R, const qe_gemm_w *w, const int16_t *a, size_t lda, int b0,
             int8_t *out, size_t ldo)
{
    const int kp = w->kp;
    const size_t bs = (size_t)kp * 8;
    const int16_t *wb = (const int16_t *)w->w + (size_t)b0 * bs;
    __m256i acc[MAXR][MAXJ];
#pragma GCC unroll 2
    for (int j = 0; j < J; j++) {
        __m256i b = _mm256_loadu_si256((const __m256i *)(w->bias + (b0 + j) * 8));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[r][j] = b;
    }
    for (int k = 0; k < kp; k += 2) {
        __m256i wv[MAXJ];
#pragma GCC unroll 2
        for (int j = 0; j < J; j++)
            wv[j] = _mm256_loadu_si256((const __m256i *)(wb + j * bs + (size_t)k * 8));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            int32_t x2;
            memcpy(&x2, a + r * lda + k, 4);
            __m256i av = _mm256_set1_epi32(x2);
#pragma GCC unroll 2
            for (int j = 0; j < J; j++)
                acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(av, wv[j]));
        }
    }
    const __m256i z = _mm256_set1_epi64x(w->zero), lo = _mm256_set1_epi64x(w->lo),
                  hi = _mm256_set1_epi64x(w->hi);
#pragma GCC unroll 2
    for (int j = 0; j < J; j++) {
        const int o = (b0 + j) * 8, valid = w->oc - o;
        const rq8 q = rq8_load(w, o);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m128i y = requant8(acc[r][j], &q, z, lo, hi);
            if (valid >= 8) {
                _mm_storel_epi64((__m128i *)(out + r * ldo + o), y);
            } else {
                int8_t tmp[16];
                _mm_storeu_si128((__m128i *)tmp, y);
                memcpy(out + r * ldo + o, tmp, (size_t)valid);
            }
        }
    }
}

typedef void (*tile_fn)(const qe_gemm_w *, const int16_t *, size_t, int, int8_t *, size_t);

#define T(J, R)                                                                                    \
    static TGT void tile_##J##_##R(const qe_gemm_w *w, const int16_t *a, size_t lda, int b0,       \
                                   int8_t *out, size_t ldo)                                        \
    {                                                                                              \
        tile(J, R, w, a, lda, b0, out, ldo);                                                       \
    }
#define T4(J) T(J, 1) T(J, 2) T(J, 3) T(J, 4)
#define T8(J) T4(J) T(J, 5) T(J, 6) T(J, 7) T(J, 8)
T8(1)
T4(2)
#define P4(J) tile_##J##_1, tile_##J##_2, tile_##J##_3, tile_##J##_4
#define P8(J) P4(J), tile_##J##_5, tile_##J##_6, tile_##J##_7, tile_##J##_8

static const int RMAX[MAXJ] = {8, 4};
static const tile_fn TILES[MAXJ][MAXR] = {{P8(1)}, {P4(2)}};

static TGT void gemm_avx2(const qe_gemm_w *w, const void *av, size_t lda, int P, int8_t *out,
                          size_t ldo)
{
    const int16_t *a = (const int16_t *)av;
    const int nb = w->oc_pad / 8;
    for (int b0 = 0; b0 < nb;) {
        const int J = nb - b0 >= MAXJ ? MAXJ : nb - b0, rmax = RMAX[J - 1];
        for (int p = 0; p < P; p += rmax) {
            const int R = P - p < rmax ? P - p : rmax;
            TILES[J - 1][R - 1](w, a + (size_t)p * lda, lda, b0, out + (size_t)p * ldo, ldo);
        }
        b0 += J;
    }
}

/* ---- sparse dense layer ------------------------------------------------------------ */

/* One image: per output row, 8 non-zeros at a time, the inputs gathered
 * (4-byte gathers at byte offsets from a copy of x padded by 64 bytes; the
 * low byte is the value), the rest of the row scalar. */
AI void sparse_one_avx2(const qe_sparse_w *s, const int8_t *x, int8_t *out, void *scratch)
{
    uint8_t *xp = (uint8_t *)scratch;
    memcpy(xp, x, (size_t)s->k);
    memset(xp + s->k, 0, 64);
    for (int o = 0; o < s->oc; o++) {
        uint32_t j = s->rowptr[o];
        const uint32_t end = s->rowptr[o + 1];
        __m256i acc = _mm256_setzero_si256();
        for (; j + 8 <= end; j += 8) {
            __m256i vi = _mm256_loadu_si256((const __m256i *)(s->idx + j));
            __m256i g = _mm256_i32gather_epi32((const int *)xp, vi, 1);
            g = _mm256_srai_epi32(_mm256_slli_epi32(g, 24), 24);
            int64_t w8;
            memcpy(&w8, s->val + j, 8);
            __m256i w = _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(w8));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(g, w));
        }
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        uint32_t sum = (uint32_t)s->bias_c[o] + (uint32_t)_mm_cvtsi128_si32(h);
        for (; j < end; j++)
            sum += (uint32_t)(s->val[j] * x[s->idx[j]]);
        out[o] = qe_requant1(qe_wrap32(sum), s->mult[o], s->shift[o], s->zero, s->lo, s->hi);
    }
}

/* The int32 tile: widening int8 at load splits the 64-byte generic vector
 * badly under AVX2, an int32 tile is faster (measured). */
#define LOAD16_AVX2(v, p) memcpy(&(v), (p), sizeof(v))

QE_DEFINE_SPARSE(sparse_avx2, static TGT, sparse_one_avx2, int32_t, LOAD16_AVX2)

/* ---- 4-bit weights: vpmaddubsw ---------------------------------------------------
 *
 * With |w| <= 7 the u8 x s8 pair sums of vpmaddubsw cannot saturate
 * (2 * 255 * 7 = 3570), so 4-bit layers use the VNNI operand layout: A
 * panel uint8 x + 128 (QE_AFMT_U8X), weights int8 in blocks of 8 channels,
 * groups of 4 k (ocb 8, kg 4). Per 4 k: one vpmaddubsw per (row, block)
 * into int16 accumulators; every W4_STEPS steps (|sum| <= 8 * 3570 <
 * 2^15) vpmaddwd with ones widens them into the int32 accumulators. About
 * 2.25 instructions per 32 multiply-adds instead of 4. */

#define W4_STEPS 8

AI void copy_u8x(uint8_t *d, const int8_t *src, int n)
{
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    int i = 0;
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(d + i),
                            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), x80));
    for (; i < n; i++)
        d[i] = (uint8_t)((uint8_t)src[i] ^ 0x80u);
}

AI void fill_u8x(uint8_t *d, int8_t v, int n) { memset(d, (uint8_t)v ^ 0x80u, (size_t)n); }

QE_DEFINE_IM2COL(im2col_w4, static TGT, uint8_t, copy_u8x, fill_u8x)
QE_DEFINE_PACK_ROWS(pack_rows_w4, static TGT, uint8_t, copy_u8x, fill_u8x)

#define MAXR4 6

/* Rows [0, R) x the 8 channels of block b: two accumulator sets (int16,
 * int32) of R registers, within AVX2's 16. */
AI void tile4(const int R, const qe_gemm_w *w, const uint8_t *a, size_t lda, int b, int8_t *out,
              size_t ldo)
{
    const int kp = w->kp;
    const int8_t *wb = (const int8_t *)w->w + (size_t)b * kp * 8;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[MAXR4], a16[MAXR4];
    const __m256i bias = _mm256_loadu_si256((const __m256i *)(w->bias + b * 8));
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
        acc[r] = bias;
    for (int k = 0; k < kp;) {
        const int kend = kp - k < 4 * W4_STEPS ? kp : k + 4 * W4_STEPS;
#pragma GCC unroll 6
        for (int r = 0; r < R; r++)
            a16[r] = _mm256_setzero_si256();
        for (; k < kend; k += 4) {
            const __m256i wv = _mm256_loadu_si256((const __m256i *)(wb + (size_t)k * 8));
#pragma GCC unroll 6
            for (int r = 0; r < R; r++) {
                int32_t x4;
                memcpy(&x4, a + r * lda + k, 4);
                a16[r] = _mm256_add_epi16(a16[r], _mm256_maddubs_epi16(_mm256_set1_epi32(x4), wv));
            }
        }
#pragma GCC unroll 6
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(a16[r], ones));
    }
    const __m256i z = _mm256_set1_epi64x(w->zero), lo = _mm256_set1_epi64x(w->lo),
                  hi = _mm256_set1_epi64x(w->hi);
    const int o = b * 8, valid = w->oc - o;
    const rq8 q = rq8_load(w, o);
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        __m128i y = requant8(acc[r], &q, z, lo, hi);
        if (valid >= 8) {
            _mm_storel_epi64((__m128i *)(out + r * ldo + o), y);
        } else {
            int8_t tmp[16];
            _mm_storeu_si128((__m128i *)tmp, y);
            memcpy(out + r * ldo + o, tmp, (size_t)valid);
        }
    }
}

typedef void (*tile4_fn)(const qe_gemm_w *, const uint8_t *, size_t, int, int8_t *, size_t);

#define T4W(R)                                                                                     \
    static TGT void tile4_##R(const qe_gemm_w *w, const uint8_t *a, size_t lda, int b,             \
                              int8_t *out, size_t ldo)                                             \
    {                                                                                              \
        tile4(R, w, a, lda, b, out, ldo);                                                          \
    }
T4W(1) T4W(2) T4W(3) T4W(4) T4W(5) T4W(6)

/* One block of 8 channels at a time (measured faster than two). */
static const tile4_fn TILES4[MAXR4] = {tile4_1, tile4_2, tile4_3, tile4_4, tile4_5, tile4_6};

static TGT void gemm_w4(const qe_gemm_w *w, const void *av, size_t lda, int P, int8_t *out,
                        size_t ldo)
{
    const uint8_t *a = (const uint8_t *)av;
    for (int b = 0; b < w->oc_pad / 8; b++)
        for (int p = 0; p < P; p += MAXR4) {
            const int R = P - p < MAXR4 ? P - p : MAXR4;
            TILES4[R - 1](w, a + (size_t)p * lda, lda, b, out + (size_t)p * ldo, ldo);
        }
}

static const qe_kernels KERN_AVX2_W4 = {
    .isa = QE_ISA_AVX2,
    .name = "avx2-w4",
    .ocb = 8,
    .kg = 4,
    .wbytes = 1,
    .afmt = QE_AFMT_U8X,
    .abytes = 1,
    .aoff = 128,
    .rows = 6,
    .gemm = gemm_w4,
    .im2col = im2col_w4,
    .pack_rows = pack_rows_w4,
    .sparse = NULL, /* the plan's kernel table runs sparse layers */
    .sparse_max_density = 0.03,
    .w4 = NULL,
};

static const qe_kernels KERN_AVX2 = {
    .isa = QE_ISA_AVX2,
    .name = "avx2",
    .ocb = 8,
    .kg = 2,
    .wbytes = 2,
    .afmt = QE_AFMT_S16,
    .abytes = 2,
    .aoff = 0,
    .rows = 8,
    .gemm = gemm_avx2,
    .im2col = im2col_avx2,
    .pack_rows = pack_rows_avx2,
    .sparse = sparse_avx2,
    .sparse_xt_bytes = 4,
    .sparse_max_density = 0.05,
    .w4 = &KERN_AVX2_W4,
};

const qe_kernels *qe_kernels_avx2(void) { return &KERN_AVX2; }

#else

const qe_kernels *qe_kernels_avx2(void) { return NULL; }

#endif
