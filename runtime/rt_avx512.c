/* rt_avx512.c - the AVX-512 VNNI body of the x86 layouts (rt_x.c,
 * rt_image.h), X8 and X4 alike.
 *
 * The padded input as uint8 x + 128 (x ^ 0x80). The layout's groups (16
 * channels x 4 k, 64 bytes) are vpdpbusd's operand: it adds the four
 * u8 x s8 products of each 32-bit lane to that lane, without saturation.
 * The accumulators start at bias' - 128 * wsum[o].
 *
 * Register tile: R output pixels x J blocks (16 J channels), R x J <= 24
 * accumulators; per group: J weight loads, R 4-byte broadcasts, R x J
 * vpdpbusd. The epilogue requantizes 16 channels at once in 64-bit lanes
 * (vpmuldq, per-lane vpsravq), exactly qmodel.h's rule, and stores the
 * real channels with a mask.
 *
 * Compiled with function-level target attributes; runs only when
 * rt_isa_supported(RT_ISA_AVX512_VNNI). */
#include "rt_internal.h"

#if RT_X86

#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define AI static inline __attribute__((always_inline)) TGT

/* The constants of one block of 16 channels [o, o + 16); the padding ones
 * get bias 0, mult 2^30, shift 32 and are never stored. */
typedef struct {
    __m512i bias;              /* int32: bias' - 128 * wsum         */
    __m512i m[2], r[2], s[2];  /* int64: channels 8h .. 8h + 7      */
    __mmask16 store;           /* the real channels                 */
} rq16;

static TGT void rq16_init(rq16 *c, const rt_quant *q, const uint8_t *wsum, uint32_t o, uint32_t oc)
{
    int32_t b[16];
    int64_t m[16], r[16], s[16];
    const uint32_t n = oc - o < 16 ? oc - o : 16;
    for (uint32_t i = 0; i < 16; i++) {
        const int real = i < n;
        const int sh = real ? q->shift[o + i] : 32;
        b[i] = rt_s32((real ? (uint32_t)q->bias[o + i] : 0u) - 128u * rt_rd32(wsum + 4 * (o + i)));
        m[i] = real ? q->mult[o + i] : 1 << 30;
        r[i] = (int64_t)1 << (sh - 1), s[i] = sh;
    }
    c->bias = _mm512_loadu_si512(b);
    for (int h = 0; h < 2; h++) {
        c->m[h] = _mm512_loadu_si512(m + 8 * h);
        c->r[h] = _mm512_loadu_si512(r + 8 * h);
        c->s[h] = _mm512_loadu_si512(s + 8 * h);
    }
    c->store = n == 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* 16 int32 accumulators -> 16 int8 outputs. */
AI __m128i requant16(__m512i acc, const rq16 *c, __m512i z, __m512i lo, __m512i hi)
{
    const __m512i v[2] = {_mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc)),
                          _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc, 1))};
    __m128i b[2];
    for (int h = 0; h < 2; h++) {
        __m512i t = _mm512_mul_epi32(v[h], c->m[h]); /* exact: |acc * mult| < 2^62 */
        t = _mm512_srav_epi64(_mm512_add_epi64(t, c->r[h]), c->s[h]);
        t = _mm512_min_epi64(_mm512_max_epi64(_mm512_add_epi64(t, z), lo), hi);
        b[h] = _mm512_cvtepi64_epi8(t);
    }
    return _mm_unpacklo_epi64(b[0], b[1]);
}

/* ---- the padded input: x ^ 0x80 with masked 64-byte moves -------------------------- */

AI __mmask64 first_n(size_t n) { return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1); }

AI void copy_u8x(uint8_t *d, const int8_t *src, size_t n)
{
    if (n < 16) { /* short runs (first layers: 1-3 channels): bytes are cheaper */
        for (size_t i = 0; i < n; i++)
            d[i] = (uint8_t)((uint8_t)src[i] ^ 0x80u);
        return;
    }
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(d + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), x80));
    if (i < n) {
        const __mmask64 m = first_n(n - i);
        const __m512i v = _mm512_maskz_loadu_epi8(m, src + i);
        _mm512_mask_storeu_epi8(d + i, m, _mm512_xor_si512(v, x80));
    }
}

AI void fill_u8(uint8_t *d, uint8_t v, size_t n)
{
    if (n < 16) {
        for (size_t i = 0; i < n; i++)
            d[i] = v;
        return;
    }
    const __m512i x = _mm512_set1_epi8((char)v);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(d + i, x);
    if (i < n)
        _mm512_mask_storeu_epi8(d + i, first_n(n - i), x);
}

/* The input padded with in_zero on every side, then the slack (zeros). */
static TGT void pad_u8x(const rt_x_job *j, uint8_t *xp)
{
    const size_t C = j->c, W = j->w, pad = j->pad, prow = (W + 2 * pad) * C;
    const uint8_t z = (uint8_t)((uint8_t)j->in_zero ^ 0x80u);
    fill_u8(xp, z, pad * prow);
    for (size_t y = 0; y < j->h; y++) {
        uint8_t *r = xp + (y + pad) * prow;
        fill_u8(r, z, pad * C);
        copy_u8x(r + pad * C, j->x + y * W * C, W * C);
        fill_u8(r + (pad + W) * C, z, pad * C);
    }
    fill_u8(xp + (pad + j->h) * prow, z, pad * prow);
    fill_u8(xp + (2 * pad + j->h) * prow, 0, RT_X_SLACK);
}

/* ---- tiles ------------------------------------------------------------------------- */

#define MAXR 12
#define MAXJ 4

/* Where a row's k values are: n segments (kernel rows) of len bytes (a
 * multiple of 4), segment g at + g * stride. */
typedef struct {
    int n, len;
    size_t stride;
} segs;

/* Rows [0, R) x blocks [0, J) (constants c[j]); row r's values at a + r *
 * lda; wk: block 0's first group, block j at + j * bs, 64 bytes per group;
 * block j's outputs at out + r * ldo + 16 j. */
AI void tile(const int J, const int R, const rq16 *c, const __m512i *zlh, const uint8_t *a,
             size_t lda, const segs *sg, const int8_t *wk, size_t bs, int8_t *out, size_t ldo)
{
    __m512i acc[MAXR][MAXJ];
#pragma GCC unroll 4
    for (int j = 0; j < J; j++)
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
            acc[r][j] = c[j].bias;
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
                const __m512i av = _mm512_set1_epi32(x4);
#pragma GCC unroll 4
                for (int j = 0; j < J; j++)
                    acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], av, wv[j]);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < J; j++)
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
            _mm_mask_storeu_epi8(out + r * ldo + 16 * j, c[j].store,
                                 requant16(acc[r][j], &c[j], zlh[0], zlh[1], zlh[2]));
}

typedef void (*tile_fn)(const rq16 *, const __m512i *, const uint8_t *, size_t, const segs *,
                        const int8_t *, size_t, int8_t *, size_t);

#define T(J, R)                                                                                    \
    static TGT void tile_##J##_##R(const rq16 *c, const __m512i *zlh, const uint8_t *a,           \
                                   size_t lda, const segs *sg, const int8_t *wk, size_t bs,        \
                                   int8_t *out, size_t ldo)                                        \
    {                                                                                              \
        tile(J, R, c, zlh, a, lda, sg, wk, bs, out, ldo);                                          \
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

/* ---- the body --------------------------------------------------------------------------- */

TGT void rt_x_avx512(const rt_x_job *j)
{
    const size_t C = j->c, prow = ((size_t)j->w + 2u * j->pad) * C, lda = (size_t)j->s * C;
    const uint32_t kcp = rt_x_kcp(j->k, j->c), kx = j->k * kcp, op = rt_x_op(j->oc);
    const segs sg = {(int)j->k, (int)kcp, prow};
    const int8_t *wb = (const int8_t *)(j->wp + 4u * op);
    const size_t bs = (size_t)kx * RT_X_OCB;
    const int OW = (int)j->ow, nb = (int)(op / RT_X_OCB);
    const __m512i zlh[3] = {_mm512_set1_epi64(j->q->out_zero), _mm512_set1_epi64(j->q->lo),
                            _mm512_set1_epi64(j->q->hi)};
    uint8_t *xp = (uint8_t *)j->scratch;
    pad_u8x(j, xp);
    for (int b0 = 0; b0 < nb;) {
        const int J = nb - b0 >= MAXJ ? MAXJ : nb - b0, rmax = RMAX[J - 1];
        rq16 c[MAXJ];
        for (int b = 0; b < J; b++)
            rq16_init(&c[b], j->q, j->wp, (uint32_t)(b0 + b) * RT_X_OCB, j->oc);
        /* balanced tiles along the row: 28 = 10 + 10 + 8 rather than 12 + 12 + 4 */
        const int ntiles = (OW + rmax - 1) / rmax, rt = (OW + ntiles - 1) / ntiles;
        for (uint32_t oy = 0; oy < j->oh; oy++) {
            const uint8_t *row = xp + (size_t)oy * j->s * prow;
            int8_t *out = j->y + (size_t)oy * OW * j->oc + (size_t)b0 * RT_X_OCB;
            for (int ox = 0; ox < OW; ox += rt) {
                const int R = OW - ox < rt ? OW - ox : rt;
                TILES[J - 1][R - 1](c, zlh, row + ox * lda, lda, &sg, wb + (size_t)b0 * bs, bs,
                                    out + (size_t)ox * j->oc, j->oc);
            }
        }
        b0 += J;
    }
}

#endif
