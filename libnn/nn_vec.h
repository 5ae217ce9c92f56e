/* nn_vec.h - small vectorizable loops shared by the layer kernels (private).
 *
 * GCC 12 at -O2 uses the "very cheap" vectorizer cost model, which refuses a
 * plain `for (t < n) d[t] += s[t]` loop because it needs a scalar epilogue.
 * The loops below are written as fixed-width blocks of independent lanes
 * plus a scalar tail; the block body is straight-line code that the SLP
 * vectorizer turns into SIMD at -O2 without -ffast-math. The lane arrays in
 * the reductions are independent partial sums, so no reassociation of a
 * single floating-point chain is needed. */
#ifndef NN_VEC_H
#define NN_VEC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NN_VEC_LANES 16

/* d[t] += s[t], t < n. */
static inline void nn_vec_add(float *restrict d, const float *restrict s, size_t n)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= n; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            d[t + l] += s[t + l];
    for (; t < n; t++)
        d[t] += s[t];
}

/* d[t] = s[t], t < n (d and s do not overlap). */
static inline void nn_vec_copy(float *restrict d, const float *restrict s, size_t n)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= n; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            d[t + l] = s[t + l];
    for (; t < n; t++)
        d[t] = s[t];
}

/* d[t] = v, t < n. */
static inline void nn_vec_fill(float *d, float v, size_t n)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= n; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            d[t + l] = v;
    for (; t < n; t++)
        d[t] = v;
}

/* d[t] += v, t < n. */
static inline void nn_vec_add_scalar(float *d, float v, size_t n)
{
    size_t t = 0;
    for (; t + NN_VEC_LANES <= n; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            d[t + l] += v;
    for (; t < n; t++)
        d[t] += v;
}

/* Sum of x[0..n) in float with NN_VEC_LANES partial sums (also more accurate
 * than one running sum). */
static inline float nn_vec_sum(const float *x, size_t n)
{
    float acc[NN_VEC_LANES] = {0};
    size_t t = 0;
    for (; t + NN_VEC_LANES <= n; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            acc[l] += x[t + l];
    float r = 0.0f;
    for (; t < n; t++)
        r += x[t];
    for (int l = 0; l < NN_VEC_LANES; l++)
        r += acc[l];
    return r;
}

#ifdef __cplusplus
}
#endif

#endif
