/* nn_avx512_lanes.h - lane masks for libnn's AVX-512 bodies. Include it
 * inside an NN_TARGET_AVX512_BEGIN region, after <immintrin.h>. */
#ifndef NN_AVX512_LANES_H
#define NN_AVX512_LANES_H

/* Lanes [lo, hi) of 16 set (lo, hi clipped to [0, 16]). */
static inline __mmask16 nn_lanes_between(int lo, int hi)
{
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
    return hi > lo ? (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u)) : 0;
}

/* Lanes [0, n) of 16 set (n clipped to [0, 16]). */
static inline __mmask16 nn_lanes_first(int n)
{
    return nn_lanes_between(0, n);
}

#endif
