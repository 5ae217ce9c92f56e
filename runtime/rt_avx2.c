/* rt_avx2.c - the AVX2 body of the x86 layouts (rt_x.c, rt_image.h).
 *
 * AVX2 has no exact u8 x s8 dot product into int32: vpmaddubsw saturates
 * its int16 pair sums (255 * 127 * 2 > 32767). So:
 *  - X8 (8-bit weights): the padded input in int16, the weights widened to
 *    int16 as they are loaded (vpmovsxbw, 4 channels x 4 k), vpmaddwd
 *    multiplies pairs exactly into int32. Each channel's sum is split over
 *    two lanes (k0 k1 and k2 k3) until the end of the tile, where vphaddd
 *    and a permutation fold them back into channel order.
 *  - X4 (4-bit weights, |w| <= 7): the padded input as uint8 x + 128,
 *    vpmaddubsw cannot saturate (2 * 255 * 7 = 3570), so its int16 pair
 *    sums accumulate in int16 for W4_STEPS groups (8 * 3570 < 2^15) before
 *    vpmaddwd with ones widens them into int32: about 2.2 instructions per
 *    32 multiply-adds instead of 4. The bias takes back 128 * wsum[o].
 *
 * Register tiles: R output pixels x 8 (X8) or up to 16 (X4) channels, the
 * accumulators in named variables (acc<r><j>), not arrays: GCC keeps
 * arrays of vectors in memory, and the store-to-load round trip on every
 * step made the tiles 1.6x slower (measured). R and J are constants in
 * each instantiated tile, so the `if (R > r)` tests vanish.
 *
 * The epilogue requantizes 8 channels at once. When every shift of the 8
 * is >= 32 (multipliers below 1/2, the usual case) it works in 32-bit
 * lanes after the products: with P = acc * mult (|P| < 2^62, so P >> 31
 * fits int32), the rule's (P + 2^(s-1)) >> s equals ((P >> 31 >> (s -
 * 32)) + 1) >> 1, and saturating packs plus max/min clamp exactly. Other
 * shifts take 64-bit lanes; AVX2 lacks the arithmetic 64-bit shift, so it
 * uses (v ^ 2^63) >>> s - 2^(63 - s), which equals v >> s for every int64.
 *
 * Compiled with function-level target attributes; runs only when
 * rt_isa_supported(RT_ISA_AVX2). */
#include "rt_internal.h"

#if RT_X86

#include <immintrin.h>

#define TGT __attribute__((target("avx2")))
#define AI static inline __attribute__((always_inline)) TGT

/* ---- requantization ------------------------------------------------------------- */

/* The constants of 8 channels [o, o + 8); those from oc on (padding) get
 * bias 0, mult 2^30, shift 32 and are never stored. */
typedef struct {
    __m256i bias;                             /* int32: bias' - off * wsum      */
    __m256i mult, sh32;                       /* int32: mult, shift - 32        */
    __m256i m64[2], r64[2], s64[2], off64[2]; /* int64, channels 4h .. 4h + 3   */
    int ge32;                                 /* every shift >= 32              */
    int n;                                    /* real channels, 1..8            */
} rq8;

/* The output's zero point and clamp, in the lanes each rule needs. */
typedef struct {
    __m256i z32, z64, lo64, hi64;
    __m128i lo8, hi8;
} clamp8;

static TGT void rq8_init(rq8 *c, const rt_quant *q, const uint8_t *wsum, uint32_t o, uint32_t oc,
                         uint32_t off)
{
    int32_t b[8], m[8], s32[8];
    int64_t m64[8], r64[8], s64[8], o64[8];
    c->n = oc - o < 8 ? (int)(oc - o) : 8;
    c->ge32 = 1;
    for (int i = 0; i < 8; i++) {
        const int real = i < c->n;
        const int sh = real ? q->shift[o + i] : 32;
        b[i] = rt_s32((real ? (uint32_t)q->bias[o + i] : 0u) - off * rt_rd32(wsum + 4 * (o + i)));
        m[i] = real ? q->mult[o + i] : 1 << 30;
        s32[i] = sh - 32;
        m64[i] = m[i], r64[i] = (int64_t)1 << (sh - 1), s64[i] = sh;
        o64[i] = (int64_t)((uint64_t)1 << (63 - sh));
        c->ge32 &= sh >= 32;
    }
    c->bias = _mm256_loadu_si256((const __m256i *)b);
    c->mult = _mm256_loadu_si256((const __m256i *)m);
    c->sh32 = _mm256_loadu_si256((const __m256i *)s32);
    for (int h = 0; h < 2; h++) {
        c->m64[h] = _mm256_loadu_si256((const __m256i *)(m64 + 4 * h));
        c->r64[h] = _mm256_loadu_si256((const __m256i *)(r64 + 4 * h));
        c->s64[h] = _mm256_loadu_si256((const __m256i *)(s64 + 4 * h));
        c->off64[h] = _mm256_loadu_si256((const __m256i *)(o64 + 4 * h));
    }
}

static TGT void clamp8_init(clamp8 *z, const rt_quant *q)
{
    z->z32 = _mm256_set1_epi32(q->out_zero);
    z->z64 = _mm256_set1_epi64x(q->out_zero);
    z->lo64 = _mm256_set1_epi64x(q->lo), z->hi64 = _mm256_set1_epi64x(q->hi);
    z->lo8 = _mm_set1_epi8((char)q->lo), z->hi8 = _mm_set1_epi8((char)q->hi);
}

/* Any shift in [1, 62]: 64-bit lanes. */
AI __m128i requant8_any(__m256i acc, const rq8 *c, const clamp8 *z)
{
    const __m256i sign = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    const __m256i low_dwords = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m256i v[2] = {_mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc)),
                          _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc, 1))};
    __m128i d[2];
    for (int h = 0; h < 2; h++) {
        __m256i t = _mm256_add_epi64(_mm256_mul_epi32(v[h], c->m64[h]), c->r64[h]);
        t = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_xor_si256(t, sign), c->s64[h]), c->off64[h]);
        t = _mm256_add_epi64(t, z->z64);
        t = _mm256_blendv_epi8(t, z->lo64, _mm256_cmpgt_epi64(z->lo64, t));
        t = _mm256_blendv_epi8(t, z->hi64, _mm256_cmpgt_epi64(t, z->hi64));
        d[h] = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(t, low_dwords));
    }
    const __m128i w16 = _mm_packs_epi32(d[0], d[1]); /* values are in [-128, 127] */
    return _mm_packs_epi16(w16, w16);
}

/* Every shift >= 32: 32-bit lanes after the products (see the top). */
AI __m128i requant8_ge32(__m256i acc, const rq8 *c, const clamp8 *z)
{
    const __m256i even = _mm256_mul_epi32(acc, c->mult); /* P of lanes 0, 2, 4, 6 */
    const __m256i odd =
        _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(c->mult, 32));
    /* P >> 31: the low dword of even >>> 31, the high dword of odd << 1 */
    __m256i t = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xaa);
    t = _mm256_srav_epi32(t, c->sh32);
    t = _mm256_srai_epi32(_mm256_add_epi32(t, _mm256_set1_epi32(1)), 1);
    t = _mm256_add_epi32(t, z->z32);
    const __m128i w16 =
        _mm_packs_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    return _mm_min_epi8(_mm_max_epi8(_mm_packs_epi16(w16, w16), z->lo8), z->hi8);
}

/* Requantizes 8 accumulators (channel order) and stores the real ones. */
AI void store8(int8_t *dst, __m256i acc, const rq8 *c, const clamp8 *z)
{
    const __m128i y = c->ge32 ? requant8_ge32(acc, c, z) : requant8_any(acc, c, z);
    if (c->n == 8) {
        _mm_storel_epi64((__m128i *)dst, y);
    } else {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, y);
        for (int i = 0; i < c->n; i++)
            dst[i] = tmp[i];
    }
}

/* ---- the padded input ------------------------------------------------------------- */

AI void copy_s16(int16_t *d, const int8_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(d + i),
                            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        d[i] = src[i];
}

AI void fill_s16(int16_t *d, int8_t v, size_t n)
{
    const __m256i x = _mm256_set1_epi16(v);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(d + i), x);
    for (; i < n; i++)
        d[i] = v;
}

AI void copy_u8x(uint8_t *d, const int8_t *src, size_t n)
{
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(d + i),
                            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), x80));
    for (; i < n; i++)
        d[i] = (uint8_t)((uint8_t)src[i] ^ 0x80u);
}

AI void fill_u8x(uint8_t *d, int8_t v, size_t n) { memset(d, (uint8_t)v ^ 0x80u, n); }

/* The input padded with in_zero on every side, rows of (w + 2 pad) * c
 * elements, then the slack (zeros). */
#define DEFINE_PAD(NAME, ELEM, COPY, FILL)                                                        \
    static TGT void NAME(const rt_x_job *j, ELEM *xp)                                             \
    {                                                                                              \
        const size_t C = j->c, W = j->w, pad = j->pad, prow = (W + 2 * pad) * C;                  \
        const int8_t z = (int8_t)j->in_zero;                                                       \
        FILL(xp, z, pad * prow);                                                                   \
        for (size_t y = 0; y < j->h; y++) {                                                        \
            ELEM *r = xp + (y + pad) * prow;                                                       \
            FILL(r, z, pad * C);                                                                   \
            COPY(r + pad * C, j->x + y * W * C, W * C);                                            \
            FILL(r + (pad + W) * C, z, pad * C);                                                   \
        }                                                                                          \
        FILL(xp + (pad + j->h) * prow, z, pad * prow);                                             \
        FILL(xp + (2 * pad + j->h) * prow, 0, RT_X_SLACK / sizeof(ELEM));                          \
    }
DEFINE_PAD(pad_s16, int16_t, copy_s16, fill_s16)
DEFINE_PAD(pad_u8x, uint8_t, copy_u8x, fill_u8x)

/* ---- tiles ------------------------------------------------------------------------ */

/* Where a row's k values are: n segments (kernel rows) of len elements,
 * segment g at + g * stride elements. */
typedef struct {
    int n, len;
    size_t stride;
} segs;

/* Statement S(r) for each row r of the largest tile. */
#define ROWS(S) S(0) S(1) S(2) S(3) S(4) S(5)
#define MAXR 6

/* Four int16 at p, broadcast to the four 64-bit lanes. */
AI __m256i bcast8(const int16_t *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return _mm256_set1_epi64x(v);
}

/* Four bytes at p, broadcast to the eight 32-bit lanes. */
AI __m256i bcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* X8: rows [0, R) x the 8 channels of c; row r's values at a + r * lda;
 * wk: the channels' first group (4 channels x 4 k, twice), 64 bytes per
 * group; outputs at out + r * ldo. */
AI void tile8(const int R, const rq8 *c, const clamp8 *z, const int16_t *a, size_t lda,
              const segs *sg, const int8_t *wk, int8_t *out, size_t ldo)
{
    const __m256i zero = _mm256_setzero_si256();
    /* lo: channels 0-3, hi: 4-7; lane 2i + p holds pair p of channel i */
#define DECL8(r) __m256i lo##r = zero, hi##r = zero;
    ROWS(DECL8)
    for (int g = 0; g < sg->n; g++) {
        const int16_t *as = a + (size_t)g * sg->stride;
        for (int k = 0; k < sg->len; k += 4, wk += 64) {
            const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wk));
            const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wk + 16)));
#define STEP8(r)                                                                                   \
    if (R > r) {                                                                                   \
        const __m256i x = bcast8(as + r * lda + k);                                                \
        lo##r = _mm256_add_epi32(lo##r, _mm256_madd_epi16(x, w0));                                 \
        hi##r = _mm256_add_epi32(hi##r, _mm256_madd_epi16(x, w1));                                 \
    }
            ROWS(STEP8)
        }
    }
    /* hadd: c0 c1 c4 c5 | c2 c3 c6 c7 */
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
#define FOLD8(r)                                                                                   \
    if (R > r)                                                                                     \
        store8(out + r * ldo,                                                                      \
               _mm256_add_epi32(c->bias, _mm256_permutevar8x32_epi32(                              \
                                             _mm256_hadd_epi32(lo##r, hi##r), order)),             \
               c, z);
    ROWS(FOLD8)
}

#define W4_STEPS 8

/* X4: rows [0, R) x J halves (c[0], c[1]) of a block; wk: the block's
 * first group, half 0 at + 0, half 1 at + 32, 64 bytes per group. */
AI void tile4(const int J, const int R, const rq8 *c, const clamp8 *z, const uint8_t *a,
              size_t lda, const segs *sg, const int8_t *wk, int8_t *out, size_t ldo)
{
    const __m256i bias0 = c[0].bias, bias1 = J > 1 ? c[1].bias : bias0;
    const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi16(1);
    /* acc: int32 sums; part: int16 sums of at most W4_STEPS groups */
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
    int left = W4_STEPS; /* groups until the int16 sums must be widened */
    for (int g = 0; g < sg->n; g++) {
        const uint8_t *as = a + (size_t)g * sg->stride;
        for (int k = 0; k < sg->len;) {
            int n = (sg->len - k) / 4;
            if (n > left)
                n = left;
            for (int i = 0; i < n; i++, k += 4, wk += 64) {
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)wk);
                const __m256i w1 = J > 1 ? _mm256_loadu_si256((const __m256i *)(wk + 32)) : w0;
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
#define STORE4(r)                                                                                  \
    if (R > r) {                                                                                   \
        store8(out + r * ldo, acc##r##0, &c[0], z);                                                \
        if (J > 1)                                                                                 \
            store8(out + r * ldo + 8, acc##r##1, &c[1], z);                                        \
    }
    ROWS(STORE4)
}

/* Each tile as a function of fixed R (and J). */
typedef void (*tile8_fn)(const rq8 *, const clamp8 *, const int16_t *, size_t, const segs *,
                         const int8_t *, int8_t *, size_t);
typedef void (*tile4_fn)(const rq8 *, const clamp8 *, const uint8_t *, size_t, const segs *,
                         const int8_t *, int8_t *, size_t);
#define DEF_TILE8(R)                                                                               \
    static TGT void tile8_##R(const rq8 *c, const clamp8 *z, const int16_t *a, size_t lda,        \
                              const segs *sg, const int8_t *wk, int8_t *out, size_t ldo)           \
    {                                                                                              \
        tile8(R, c, z, a, lda, sg, wk, out, ldo);                                                  \
    }
#define DEF_TILE4(J, R)                                                                            \
    static TGT void tile4_##J##_##R(const rq8 *c, const clamp8 *z, const uint8_t *a, size_t lda,  \
                                    const segs *sg, const int8_t *wk, int8_t *out, size_t ldo)     \
    {                                                                                              \
        tile4(J, R, c, z, a, lda, sg, wk, out, ldo);                                               \
    }
DEF_TILE8(1) DEF_TILE8(2) DEF_TILE8(3) DEF_TILE8(4) DEF_TILE8(5) DEF_TILE8(6)
DEF_TILE4(1, 1) DEF_TILE4(1, 2) DEF_TILE4(1, 3) DEF_TILE4(1, 4) DEF_TILE4(1, 5) DEF_TILE4(1, 6)
DEF_TILE4(2, 1) DEF_TILE4(2, 2) DEF_TILE4(2, 3)

static const tile8_fn TILES8[MAXR] = {tile8_1, tile8_2, tile8_3, tile8_4, tile8_5, tile8_6};
/* [J - 1][R - 1]; two halves hold two accumulator sets per row, so 3 rows
 * fit AVX2's 16 registers */
static const tile4_fn TILES4[2][MAXR] = {
    {tile4_1_1, tile4_1_2, tile4_1_3, tile4_1_4, tile4_1_5, tile4_1_6},
    {tile4_2_1, tile4_2_2, tile4_2_3, NULL, NULL, NULL}};
static const int RMAX4[2] = {6, 3};

/* ---- the body ------------------------------------------------------------------------ */

/* An output row in tiles of at most rmax pixels, balanced (28 = 6 + 6 + 6
 * + 5 + 5, not 6 x 4 + 4): tile t has tile_len(...) pixels. */
AI int n_tiles(int ow, int rmax) { return (ow + rmax - 1) / rmax; }
AI int tile_len(int ow, int nt, int t) { return ow / nt + (t < ow % nt); }

TGT void rt_x_avx2(const rt_x_job *j)
{
    const size_t C = j->c, prow = ((size_t)j->w + 2u * j->pad) * C, lda = (size_t)j->s * C;
    const uint32_t kcp = rt_x_kcp(j->k, j->c), kx = j->k * kcp, op = rt_x_op(j->oc);
    const segs sg = {(int)j->k, (int)kcp, prow};
    const int8_t *wb = (const int8_t *)(j->wp + 4u * op);
    const int OW = (int)j->ow;
    clamp8 z;
    clamp8_init(&z, j->q);
    if (j->fmt == RT_WF_X8) {
        int16_t *xp = (int16_t *)j->scratch;
        pad_s16(j, xp);
        const int nt = n_tiles(OW, MAXR);
        for (uint32_t o = 0; o < j->oc; o += 8) {
            rq8 c;
            rq8_init(&c, j->q, j->wp, o, j->oc, 0);
            const int8_t *wk = wb + (size_t)(o / RT_X_OCB) * kx * RT_X_OCB + (o % RT_X_OCB) * 4;
            for (uint32_t oy = 0; oy < j->oh; oy++) {
                const int16_t *row = xp + (size_t)oy * j->s * prow;
                int8_t *out = j->y + (size_t)oy * OW * j->oc + o;
                for (int t = 0, ox = 0; t < nt; t++) {
                    const int R = tile_len(OW, nt, t);
                    TILES8[R - 1](&c, &z, row + ox * lda, lda, &sg, wk, out + (size_t)ox * j->oc,
                                  j->oc);
                    ox += R;
                }
            }
        }
        return;
    }
    uint8_t *xp = (uint8_t *)j->scratch;
    pad_u8x(j, xp);
    for (uint32_t o = 0; o < j->oc; o += RT_X_OCB) {
        const int J = o + 8 < j->oc ? 2 : 1, nt = n_tiles(OW, RMAX4[J - 1]);
        rq8 c[2];
        for (int h = 0; h < J; h++)
            rq8_init(&c[h], j->q, j->wp, o + 8u * h, j->oc, 128);
        const int8_t *wk = wb + (size_t)(o / RT_X_OCB) * kx * RT_X_OCB;
        for (uint32_t oy = 0; oy < j->oh; oy++) {
            const uint8_t *row = xp + (size_t)oy * j->s * prow;
            int8_t *out = j->y + (size_t)oy * OW * j->oc + o;
            for (int t = 0, ox = 0; t < nt; t++) {
                const int R = tile_len(OW, nt, t);
                TILES4[J - 1][R - 1](c, &z, row + ox * lda, lda, &sg, wk, out + (size_t)ox * j->oc,
                                     j->oc);
                ox += R;
            }
        }
    }
}

#endif
