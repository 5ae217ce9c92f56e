/* qe_kern_avx2.c - the int8 engine's kernels for AVX2.
 *
 * AVX2 has no exact u8 x s8 dot product into int32: vpmaddubsw saturates
 * its int16 pair sums (255 * 127 * 2 > 32767), which would break
 * bit-exactness. So there are two kernel sets:
 *  - "avx2" (8-bit weights): A panel int16 x (QE_AFMT_S16), weights int16
 *    in blocks of 8 output channels, groups of 2 k (ocb 8, kg 2): one
 *    32-byte vector holds k, k+1 of 8 channels, and vpmaddwd multiplies
 *    pairs exactly into int32 lanes. Per 2 k and row: one 4-byte broadcast,
 *    then vpmaddwd + vpaddd per block.
 *  - "avx2-w4" (4-bit weights, |w| <= 7): A panel uint8 x + 128
 *    (QE_AFMT_U8X), weights int8, groups of 4 k (ocb 8, kg 4). vpmaddubsw
 *    cannot saturate (2 * 255 * 7 = 3570), so its int16 pair sums
 *    accumulate in int16 for W4_STEPS steps (8 * 3570 < 2^15) before
 *    vpmaddwd with ones widens them into int32: about 2.2 instructions per
 *    32 multiply-adds instead of 4.
 *
 * Register tiles: R rows (pixels or images) x J blocks of 8 channels, the
 * accumulators in named variables (acc<r><j>), not arrays: GCC keeps
 * arrays of vectors in memory, and the store-to-load round trip on every
 * step made the kernels 1.6x slower (measured). R and J are constants in
 * each instantiated tile, so the `if (R > r)` tests vanish.
 *
 * Convs whose kernel rows hold a multiple of kg values (k * in_c % kg ==
 * 0: every layer but a 1-3 channel first one) run direct: the input is
 * converted to the A format and padded with in_zero once, and each tile of
 * R pixels of an output row reads its k kernel rows straight from that
 * copy, with no im2col. The others fill im2col tiles.
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

/* ---- epilogue ------------------------------------------------------------------- */

/* Channels [o, o + 8): 8 int32 accumulators -> 8 int8 outputs in the low
 * half, qm_requantize's rule for any shift in [1, 62]: 64-bit lanes. */
AI __m128i requant8(__m256i acc, const qe_gemm_w *w, int o, __m256i z, __m256i lo, __m256i hi)
{
    const __m256i sign = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    const __m256i low_dwords = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256i v[2] = {_mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc)),
                    _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc, 1))};
    __m128i d[2];
    for (int h = 0; h < 2; h++) {
        const int c = o + 4 * h;
        const __m256i m = _mm256_loadu_si256((const __m256i *)(w->mult64 + c));
        const __m256i r = _mm256_loadu_si256((const __m256i *)(w->rnd64 + c));
        const __m256i s = _mm256_loadu_si256((const __m256i *)(w->sh64 + c));
        const __m256i off = _mm256_loadu_si256((const __m256i *)(w->off64 + c));
        __m256i t = _mm256_add_epi64(_mm256_mul_epi32(v[h], m), r);
        t = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_xor_si256(t, sign), s), off);
        t = _mm256_add_epi64(t, z);
        t = _mm256_blendv_epi8(t, lo, _mm256_cmpgt_epi64(lo, t));
        t = _mm256_blendv_epi8(t, hi, _mm256_cmpgt_epi64(t, hi));
        d[h] = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(t, low_dwords));
    }
    __m128i w16 = _mm_packs_epi32(d[0], d[1]); /* values are in [-128, 127] */
    return _mm_packs_epi16(w16, w16);
}

/* The same when every shift is >= 32 (w->shift_ge32; usual, as real
 * multipliers are below 1/2), in 32-bit lanes after the products. With P =
 * acc * mult (|P| < 2^62, so P >> 31 fits int32), the rule's
 * (P + 2^(shift-1)) >> shift equals ((P >> 31 >> (shift - 32)) + 1) >> 1,
 * and the saturating packs plus max/min clamp exactly. z32, lo8, hi8: the
 * zero point in int32 lanes, the bounds in int8 lanes. */
AI __m128i requant8_ge32(__m256i acc, const qe_gemm_w *w, int o, __m256i z32, __m128i lo8,
                         __m128i hi8)
{
    const __m256i m = _mm256_loadu_si256((const __m256i *)(w->mult + o));
    const __m256i s = _mm256_loadu_si256((const __m256i *)(w->sh32 + o));
    const __m256i even = _mm256_mul_epi32(acc, m); /* P of lanes 0, 2, 4, 6 */
    const __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(m, 32));
    /* P >> 31: the low dword of even >>> 31, the high dword of odd << 1 */
    __m256i t = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xaa);
    t = _mm256_srav_epi32(t, s);
    t = _mm256_srai_epi32(_mm256_add_epi32(t, _mm256_set1_epi32(1)), 1);
    t = _mm256_add_epi32(t, z32);
    __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    return _mm_min_epi8(_mm_max_epi8(_mm_packs_epi16(w16, w16), lo8), hi8);
}

/* The 8 outputs of channels [o, o + 8) of one row (fewer at the end). */
AI void store8(int8_t *row, int o, int oc, __m128i y)
{
    if (oc - o >= 8) {
        _mm_storel_epi64((__m128i *)(row + o), y);
    } else {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, y);
        memcpy(row + o, tmp, (size_t)(oc - o));
    }
}

/* ---- A formats ------------------------------------------------------------------ */

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

QE_DEFINE_IM2COL(im2col_s16, static TGT, int16_t, copy_s16, fill_s16)
QE_DEFINE_PACK_ROWS(pack_rows_s16, static TGT, int16_t, copy_s16, fill_s16)
QE_DEFINE_IM2COL(im2col_u8x, static TGT, uint8_t, copy_u8x, fill_u8x)
QE_DEFINE_PACK_ROWS(pack_rows_u8x, static TGT, uint8_t, copy_u8x, fill_u8x)

/* Four bytes at p, broadcast to the eight 32-bit lanes. */
AI __m256i bcast4(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Where the k values of a row are: n segments of len elements, segment g
 * at row + g * stride. An im2col panel row is one segment of kp; a direct
 * conv reads k segments of k * in_c, one per kernel row, from the padded
 * input. */
typedef struct {
    int n, len;
    size_t stride;
} segs;

/* Statement S(r) for each row r of the largest tile. */
#define ROWS(S) S(0) S(1) S(2) S(3) S(4) S(5)
#define MAXR 6
#define MAXJ 2

/* Requantize and store the accumulators of row r, block j (channels from
 * o), by either rule; the epilogue of both tile kinds (EPILOGUE). */
#define STORE_GE32(r, j)                                                                           \
    if (R > r)                                                                                     \
        store8(out + r * ldo, o, w->oc, requant8_ge32(acc##r##j, w, o, z32, lo8, hi8));
#define STORE_ANY(r, j)                                                                            \
    if (R > r)                                                                                     \
        store8(out + r * ldo, o, w->oc, requant8(acc##r##j, w, o, z, lo, hi));
#define STORE_GE32_0(r) STORE_GE32(r, 0)
#define STORE_GE32_1(r) STORE_GE32(r, 1)
#define STORE_ANY_0(r) STORE_ANY(r, 0)
#define STORE_ANY_1(r) STORE_ANY(r, 1)
#define EPILOGUE                                                                                   \
    if (w->shift_ge32) {                                                                           \
        const __m256i z32 = _mm256_set1_epi32(w->zero);                                            \
        const __m128i lo8 = _mm_set1_epi8((char)w->lo), hi8 = _mm_set1_epi8((char)w->hi);          \
        int o = b0 * 8;                                                                            \
        ROWS(STORE_GE32_0)                                                                         \
        if (J > 1) {                                                                               \
            o += 8;                                                                                \
            ROWS(STORE_GE32_1)                                                                     \
        }                                                                                          \
    } else {                                                                                       \
        const __m256i z = _mm256_set1_epi64x(w->zero), lo = _mm256_set1_epi64x(w->lo),             \
                      hi = _mm256_set1_epi64x(w->hi);                                              \
        int o = b0 * 8;                                                                            \
        ROWS(STORE_ANY_0)                                                                          \
        if (J > 1) {                                                                               \
            o += 8;                                                                                \
            ROWS(STORE_ANY_1)                                                                      \
        }                                                                                          \
    }

/* ---- 8-bit weights: vpmaddwd ---------------------------------------------------- */

/* Rows [0, R) x blocks [b0, b0 + J); row r's values at a + r * lda. */
AI void tile8(const int J, const int R, const qe_gemm_w *w, const int16_t *a, size_t lda,
              const segs *sg, int b0, int8_t *out, size_t ldo)
{
    const size_t bs = (size_t)w->kp * 8; /* int16 elements per block */
    const int16_t *wk = (const int16_t *)w->w + (size_t)b0 * bs;
    const __m256i bias0 = _mm256_loadu_si256((const __m256i *)(w->bias + b0 * 8));
    const __m256i bias1 =
        J > 1 ? _mm256_loadu_si256((const __m256i *)(w->bias + b0 * 8 + 8)) : bias0;
#define DECL8(r) __m256i acc##r##0 = bias0, acc##r##1 = bias1;
    ROWS(DECL8)
    for (int g = 0; g < sg->n; g++) {
        const int16_t *as = a + (size_t)g * sg->stride;
        for (int k = 0; k < sg->len; k += 2, wk += 16) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)wk);
            const __m256i w1 = J > 1 ? _mm256_loadu_si256((const __m256i *)(wk + bs)) : w0;
#define STEP8(r)                                                                                   \
    if (R > r) {                                                                                   \
        const __m256i x = bcast4(as + r * lda + k);                                                \
        acc##r##0 = _mm256_add_epi32(acc##r##0, _mm256_madd_epi16(x, w0));                        \
        if (J > 1)                                                                                 \
            acc##r##1 = _mm256_add_epi32(acc##r##1, _mm256_madd_epi16(x, w1));                     \
    }
            ROWS(STEP8)
        }
    }
    EPILOGUE
}

/* ---- 4-bit weights: vpmaddubsw -------------------------------------------------- */

#define W4_STEPS 8

AI void tile4(const int J, const int R, const qe_gemm_w *w, const uint8_t *a, size_t lda,
              const segs *sg, int b0, int8_t *out, size_t ldo)
{
    const size_t bs = (size_t)w->kp * 8; /* bytes per block */
    const int8_t *wk = (const int8_t *)w->w + (size_t)b0 * bs;
    const __m256i bias0 = _mm256_loadu_si256((const __m256i *)(w->bias + b0 * 8));
    const __m256i bias1 =
        J > 1 ? _mm256_loadu_si256((const __m256i *)(w->bias + b0 * 8 + 8)) : bias0;
    const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi16(1);
    /* acc: int32 sums; part: int16 sums of at most W4_STEPS steps */
#define DECL4(r) __m256i acc##r##0 = bias0, acc##r##1 = bias1, part##r##0 = zero, part##r##1 = zero;
    ROWS(DECL4)
#define WIDEN(r)                                                                                   \
    if (R > r) {                                                                                   \
        acc##r##0 = _mm256_add_epi32(acc##r##0, _mm256_madd_epi16(part##r##0, ones));              \
        part##r##0 = zero;                                                                         \
        if (J > 1) {                                                                               \
            acc##r##1 = _mm256_add_epi32(acc##r##1, _mm256_madd_epi16(part##r##1, ones));          \
            part##r##1 = zero;                                                                     \
        }                                                                                          \
    }
    int left = W4_STEPS; /* steps until the int16 sums must be widened */
    for (int g = 0; g < sg->n; g++) {
        const uint8_t *as = a + (size_t)g * sg->stride;
        for (int k = 0; k < sg->len;) {
            int n = (sg->len - k) / 4;
            if (n > left)
                n = left;
            for (int i = 0; i < n; i++, k += 4, wk += 32) {
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)wk);
                const __m256i w1 = J > 1 ? _mm256_loadu_si256((const __m256i *)(wk + bs)) : w0;
#define STEP4(r)                                                                                   \
    if (R > r) {                                                                                   \
        const __m256i x = bcast4(as + r * lda + k);                                                \
        part##r##0 = _mm256_add_epi16(part##r##0, _mm256_maddubs_epi16(x, w0));                   \
        if (J > 1)                                                                                 \
            part##r##1 = _mm256_add_epi16(part##r##1, _mm256_maddubs_epi16(x, w1));                \
    }
                ROWS(STEP4)
            }
            left -= n;
            if (left == 0) {
                ROWS(WIDEN)
                left = W4_STEPS;
            }
        }
    }
    ROWS(WIDEN)
    EPILOGUE
}

/* ---- tile tables ---------------------------------------------------------------- */

typedef void (*tile8_fn)(const qe_gemm_w *, const int16_t *, size_t, const segs *, int, int8_t *,
                         size_t);
typedef void (*tile4_fn)(const qe_gemm_w *, const uint8_t *, size_t, const segs *, int, int8_t *,
                         size_t);

#define DEF_TILE(KIND, ELEM, J, R)                                                                 \
    static TGT void KIND##_##J##_##R(const qe_gemm_w *w, const ELEM *a, size_t lda,               \
                                     const segs *sg, int b0, int8_t *out, size_t ldo)              \
    {                                                                                              \
        KIND(J, R, w, a, lda, sg, b0, out, ldo);                                                   \
    }
#define DEF_TILES(KIND, ELEM, J)                                                                   \
    DEF_TILE(KIND, ELEM, J, 1)                                                                     \
    DEF_TILE(KIND, ELEM, J, 2)                                                                     \
    DEF_TILE(KIND, ELEM, J, 3)                                                                     \
    DEF_TILE(KIND, ELEM, J, 4)                                                                     \
    DEF_TILE(KIND, ELEM, J, 5)                                                                     \
    DEF_TILE(KIND, ELEM, J, 6)
DEF_TILES(tile8, int16_t, 1)
DEF_TILES(tile8, int16_t, 2)
DEF_TILES(tile4, uint8_t, 1)
DEF_TILES(tile4, uint8_t, 2)
#define ROW_FNS(KIND, J) {KIND##_##J##_1, KIND##_##J##_2, KIND##_##J##_3, KIND##_##J##_4, \
                          KIND##_##J##_5, KIND##_##J##_6}

/* [J - 1][R - 1]; at most RMAX*[J - 1] rows: the 4-bit tile holds two
 * accumulator sets, so 3 x 2 blocks fit AVX2's 16 registers. */
static const tile8_fn TILES8[MAXJ][MAXR] = {ROW_FNS(tile8, 1), ROW_FNS(tile8, 2)};
static const tile4_fn TILES4[MAXJ][MAXR] = {ROW_FNS(tile4, 1), ROW_FNS(tile4, 2)};
static const int RMAX8[MAXJ] = {6, 6};
static const int RMAX4[MAXJ] = {6, 3};

/* ---- GEMM and direct conv drivers -------------------------------------------------- */

/* One driver per kernel set: NAME##_gemm runs P rows of a panel; NAME##_conv
 * a whole conv of one image, direct. */
#define DEFINE_DRIVERS(NAME, ELEM, TILES, RMAX, COPY, FILL)                                        \
    static TGT void NAME##_gemm(const qe_gemm_w *w, const void *av, size_t lda, int P,           \
                                int8_t *out, size_t ldo)                                           \
    {                                                                                              \
        const ELEM *a = (const ELEM *)av;                                                          \
        const segs sg = {1, w->kp, 0};                                                             \
        const int nb = w->oc_pad / 8;                                                              \
        for (int b0 = 0; b0 < nb;) {                                                               \
            const int J = nb - b0 >= MAXJ ? MAXJ : nb - b0, rmax = RMAX[J - 1];                    \
            for (int p = 0; p < P; p += rmax) {                                                    \
                const int R = P - p < rmax ? P - p : rmax;                                         \
                TILES[J - 1][R - 1](w, a + (size_t)p * lda, lda, &sg, b0, out + (size_t)p * ldo, \
                                    ldo);                                                          \
            }                                                                                      \
            b0 += J;                                                                               \
        }                                                                                          \
    }                                                                                              \
    static TGT void NAME##_conv(const qe_step *s, const int8_t *in, int8_t *out, void *scratch)  \
    {                                                                                              \
        const int C = s->in_c, W = s->in_w, H = s->in_h, pad = s->pad, k = s->kernel;             \
        const int Wp = W + 2 * pad, OW = s->out_w, OC = s->out_c;                                  \
        const size_t prow = (size_t)Wp * C;                                                       \
        ELEM *xp = (ELEM *)scratch;                                                                \
        const int8_t z = (int8_t)s->in_zero;                                                       \
        FILL(xp, z, (int)(pad * prow));                                                            \
        for (int y = 0; y < H; y++) {                                                              \
            ELEM *r = xp + (size_t)(y + pad) * prow;                                               \
            FILL(r, z, pad * C);                                                                   \
            COPY(r + (size_t)pad * C, in + (size_t)y * W * C, W * C);                              \
            FILL(r + (size_t)(pad + W) * C, z, pad * C);                                           \
        }                                                                                          \
        /* the bottom rows and the slack that padded kernel rows may read */                     \
        FILL(xp + (size_t)(pad + H) * prow, z, (int)(pad * prow) + QE_PAD_SLACK / (int)sizeof(ELEM)); \
        const qe_gemm_w *w = &s->g;                                                                \
        const segs sg = {k, s->kc_pad ? s->kc_pad : k * C, prow};                                  \
        const size_t lda = (size_t)s->stride * C;                                                  \
        const int nb = w->oc_pad / 8;                                                              \
        for (int b0 = 0; b0 < nb;) {                                                               \
            const int J = nb - b0 >= MAXJ ? MAXJ : nb - b0, rmax = RMAX[J - 1];                    \
            /* balanced tiles along the row, sizes differing by at most one: */                    \
            /* 28 = 8 x 3 + 2 x 2, not 9 x 3 + 1 */                                                \
            const int ntiles = (OW + rmax - 1) / rmax, big = OW % ntiles;                          \
            for (int oy = 0; oy < s->out_h; oy++) {                                                \
                const ELEM *row = xp + (size_t)oy * s->stride * prow;                              \
                for (int t = 0, ox = 0; t < ntiles; t++) {                                         \
                    const int R = OW / ntiles + (t < big);                                         \
                    TILES[J - 1][R - 1](w, row + ox * lda, lda, &sg, b0,                           \
                                        out + ((size_t)oy * OW + ox) * OC, (size_t)OC);            \
                    ox += R;                                                                       \
                }                                                                                  \
            }                                                                                      \
            b0 += J;                                                                               \
        }                                                                                          \
    }

DEFINE_DRIVERS(w8, int16_t, TILES8, RMAX8, copy_s16, fill_s16)
DEFINE_DRIVERS(w4, uint8_t, TILES4, RMAX4, copy_u8x, fill_u8x)

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

/* ---- the tables ----------------------------------------------------------------- */

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
    .gemm = w4_gemm,
    .im2col = im2col_u8x,
    .pack_rows = pack_rows_u8x,
    .conv = w4_conv,
    .conv_direct_only = 1,
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
    .rows = 6,
    .gemm = w8_gemm,
    .im2col = im2col_s16,
    .pack_rows = pack_rows_s16,
    .conv = w8_conv,
    .conv_direct_only = 1,
    .sparse = sparse_avx2,
    .sparse_xt_bytes = 4,
    .sparse_max_density = 0.05,
    .w4 = &KERN_AVX2_W4,
};

const qe_kernels *qe_kernels_avx2(void) { return &KERN_AVX2; }

#else

const qe_kernels *qe_kernels_avx2(void) { return NULL; }

#endif
