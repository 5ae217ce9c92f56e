/* conv_wino_avx512.c - the Winograd transforms (conv_wino_body.h) at
 * AVX-512 (16 lanes), compiled for the target whatever the build's -march and
 * called only when nn_isa_supported says so. The same bits as every
 * other width. */
#include "conv_wino.h"
#include "nn_target.h"

#if defined(__x86_64__)
NN_TARGET_AVX512_BEGIN

#define WINO_LANES 16
#define WINO_NAME(f) f##_avx512
#include "conv_wino_body.h"

#include <immintrin.h>
#include <stdint.h>

#include "nn_avx512_lanes.h"


/* The 16 floats at address p with the lanes outside m zeroed. Inside
 * [lo, hi) a plain load and a masking move: a masked load (which never
 * touches the lanes outside m) is several times slower on AMD's Zen 5,
 * and it was most of the time of the whole split. The empty asm keeps the
 * compiler from folding the two back into a masked load. */
static inline __m512 load_lanes(uintptr_t p, __mmask16 m, const float *lo, const float *hi)
{
    if (!m)
        return _mm512_setzero_ps();
    if (p >= (uintptr_t)lo && p + 16 * sizeof(float) <= (uintptr_t)hi) {
        __m512 v = _mm512_loadu_ps((const float *)p);
        __asm__("" : "+v"(v));
        return _mm512_maskz_mov_ps(m, v);
    }
    return _mm512_maskz_loadu_ps(m, (const float *)p);
}

/* One channel into its 16 phase planes (conv_wino.h). Per padded row,
 * 64 padded pixels per step: four loads (the padding zeroed in registers),
 * two rounds of two-source permutes, four whole-vector stores. The stores
 * may run past the row's wq entries into the next row (written later, the
 * rows go in order within a chunk) or the plane's slack: every lane past wq holds a
 * pixel at 4x + px - pad >= iw (since 4 wq >= iw + 2 pad + 2), so zero. One
 * call per channel and plain stores: a call per row with masked stores
 * was 10% of a configs/mnist.json step on Zen 5 (2026-12-05). */
void nn_wino_split_channel_avx512(float *planes, const float *src, const nn_wino_split_geom *s,
                                  const float *lo, const float *hi)
{
    const __m512i even =
        _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i odd =
        _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512i lo8 =
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i hi8 =
        _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    const int iw = s->iw, pad = s->pad, wq = s->wq;
    const size_t pps = s->pps;
    const __m512 zero = _mm512_setzero_ps();
    /* chunks of 16 phase columns outside (one for rows up to 60 pixels),
     * the padded rows in order inside; the lane masks depend on the chunk
     * only */
    for (int x0 = 0; x0 < wq; x0 += 16) {
        int first[4];
        __mmask16 m[4];
        for (int k = 0; k < 4; k++) {
            first[k] = 4 * x0 + 16 * k - pad; /* source index of lane 0 */
            m[k] = nn_lanes_between(-first[k], iw - first[k]);
        }
        for (int Y = 0; Y < 4 * s->hq; Y++) {
            float *d = planes + (size_t)(Y % 4) * 4 * pps + (size_t)(Y / 4) * wq + x0;
            const int iy = Y - pad;
            if (iy < 0 || iy >= s->ih) {
                for (int px = 0; px < 4; px++)
                    _mm512_storeu_ps(d + px * pps, zero);
                continue;
            }
            /* the addresses as integers: they may lie before the row,
             * where a pointer would not be valid C */
            const uintptr_t row = (uintptr_t)(src + (size_t)iy * iw);
            /* the rows four ahead (in the next channel at the end: the
             * planes are contiguous), a cache line at a time */
            for (int b = 0; b < iw; b += 16)
                _mm_prefetch((const char *)(row + (uintptr_t)(4 * iw + b) * 4), _MM_HINT_T0);
            const __m512 a0 = load_lanes(row + (uintptr_t)((intptr_t)first[0] * 4), m[0], lo, hi);
            const __m512 a1 = load_lanes(row + (uintptr_t)((intptr_t)first[1] * 4), m[1], lo, hi);
            const __m512 a2 = load_lanes(row + (uintptr_t)((intptr_t)first[2] * 4), m[2], lo, hi);
            const __m512 a3 = load_lanes(row + (uintptr_t)((intptr_t)first[3] * 4), m[3], lo, hi);
            const __m512 t0 = _mm512_permutex2var_ps(a0, even, a1); /* ph0 x0-7 | ph1 */
            const __m512 t1 = _mm512_permutex2var_ps(a0, odd, a1);  /* ph2      | ph3 */
            const __m512 t2 = _mm512_permutex2var_ps(a2, even, a3); /* x8-15         */
            const __m512 t3 = _mm512_permutex2var_ps(a2, odd, a3);
            _mm512_storeu_ps(d, _mm512_permutex2var_ps(t0, lo8, t2));
            _mm512_storeu_ps(d + pps, _mm512_permutex2var_ps(t0, hi8, t2));
            _mm512_storeu_ps(d + 2 * pps, _mm512_permutex2var_ps(t1, lo8, t3));
            _mm512_storeu_ps(d + 3 * pps, _mm512_permutex2var_ps(t1, hi8, t3));
        }
    }
}

/* Pixels [0, n) of p from the tile values o: act(bias + o) or p + o.
 * Where the whole vector lies before hi, a plain load and store: the
 * lanes from n on either keep their values (accumulating) or get values
 * that the next row, channel or image of the same call overwrites later
 * (the rows, channels and images go in order up to hi). Masked stores to
 * memory outside the cache cost Zen 5 several times a plain one. */
static inline void merge_vector(float *p, int n, __m512 o, __m512 bv, nn_act act, int accumulate,
                                const float *hi)
{
    const __mmask16 m = nn_lanes_first(n);
    const int whole = p + 16 <= hi;
    __m512 v;
    if (accumulate) {
        const __m512 old = whole ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
        v = _mm512_mask_add_ps(old, m, old, o);
    } else {
        v = _mm512_add_ps(bv, o);
        /* max(v, 0) returns 0 for NaN and +0 for -0, as the scalar
         * v > 0 ? v : 0 does */
        if (act != NN_ACT_NONE)
            v = _mm512_max_ps(v, _mm512_setzero_ps());
        if (act == NN_ACT_RELU6)
            v = _mm512_min_ps(v, _mm512_set1_ps(6.0f));
    }
    if (whole)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, m, v);
}

/* One output row from the tiles' four phase rows t[b][x] (out[4x + b]),
 * X < ow: row = act(bias + tile), or row += tile. */
void nn_wino_merge_row_avx512(float *row, int ow, const float *const t[4], float bias, nn_act act,
                              int accumulate, const float *hi)
{
    /* (t0, t1) and (t2, t3) interleaved by lane, then the pairs by twos */
    const __m512i zip_lo =
        _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i zip_hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i pair_lo =
        _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i pair_hi =
        _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    const __m512 bv = _mm512_set1_ps(bias);
    for (int x0 = 0; 4 * x0 < ow; x0 += 16) {
        const __m512 v0 = _mm512_loadu_ps(t[0] + x0), v1 = _mm512_loadu_ps(t[1] + x0);
        const __m512 v2 = _mm512_loadu_ps(t[2] + x0), v3 = _mm512_loadu_ps(t[3] + x0);
        const __m512 e01l = _mm512_permutex2var_ps(v0, zip_lo, v1); /* x 0-7  */
        const __m512 e01h = _mm512_permutex2var_ps(v0, zip_hi, v1); /* x 8-15 */
        const __m512 e23l = _mm512_permutex2var_ps(v2, zip_lo, v3);
        const __m512 e23h = _mm512_permutex2var_ps(v2, zip_hi, v3);
        const __m512 o0 = _mm512_permutex2var_ps(e01l, pair_lo, e23l); /* X = 4x0 + 0..15  */
        const __m512 o1 = _mm512_permutex2var_ps(e01l, pair_hi, e23l); /* X = 4x0 + 16..31 */
        const __m512 o2 = _mm512_permutex2var_ps(e01h, pair_lo, e23h);
        const __m512 o3 = _mm512_permutex2var_ps(e01h, pair_hi, e23h);
        const int X = 4 * x0;
        merge_vector(row + X, ow - X, o0, bv, act, accumulate, hi);
        if (X + 16 < ow)
            merge_vector(row + X + 16, ow - X - 16, o1, bv, act, accumulate, hi);
        if (X + 32 < ow)
            merge_vector(row + X + 32, ow - X - 32, o2, bv, act, accumulate, hi);
        if (X + 48 < ow)
            merge_vector(row + X + 48, ow - X - 48, o3, bv, act, accumulate, hi);
    }
}

NN_TARGET_END
#endif
