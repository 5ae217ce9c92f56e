/* nn_gemm_avx2.c - the AVX2 + FMA body of the fixed-order product
 * (nn_gemm.h), compiled for AVX2 whatever the build's -march and called
 * only when nn_isa_supported(NN_ISA_AVX2).
 *
 * A register tile of 4 rows x 3 vectors of 8 columns (12 accumulators, 3
 * loads of B, a broadcast: all 16 registers); column tiles outside, row
 * tiles inside. The last vector of a row is masked (vmaskmov). */
#include "nn_gemm.h"
#include "nn_target.h"

#if defined(__x86_64__)
NN_TARGET_AVX2_BEGIN
#include <immintrin.h>

#define INL static inline __attribute__((always_inline))

/* vmaskmov only on a tile's last vector, and only when it is partial (it
 * costs more than a plain load). */
INL __m256 load(const float *p, int j, const int nv, const int part, __m256i tail)
{
    return part && j == nv - 1 ? _mm256_maskload_ps(p, tail) : _mm256_loadu_ps(p);
}

INL void store(float *p, __m256 v, int j, const int nv, const int part, __m256i tail)
{
    if (part && j == nv - 1)
        _mm256_maskstore_ps(p, tail, v);
    else
        _mm256_storeu_ps(p, v);
}

INL void tile(const nn_gemm_args *g, int m0, int n0, const int mr, const int nv, const int part,
              __m256i tail)
{
    __m256 acc[4][3];
    float *c = g->c + (size_t)m0 * g->ldc + n0;
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++)
            acc[i][j] = g->accumulate ? load(c + i * g->ldc + 8 * j, j, nv, part, tail)
                                      : _mm256_setzero_ps();
    const size_t rsa = g->rsa, csa = g->csa, ldb = g->ldb;
    const float *a = g->a + (size_t)m0 * rsa;
    const float *b = g->b + n0;
    for (int k = 0, K = g->K; k < K; k++) {
        __m256 bv[3];
        const float *bk = b + (size_t)k * ldb;
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++)
            bv[j] = load(bk + 8 * j, j, nv, part, tail);
        const float *ak = a + (size_t)k * csa;
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            const __m256 av = _mm256_broadcast_ss(ak + i * rsa);
#pragma GCC unroll 3
            for (int j = 0; j < nv; j++)
                acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 3
        for (int j = 0; j < nv; j++)
            store(c + i * g->ldc + 8 * j, acc[i][j], j, nv, part, tail);
}

/* Every row of one column tile: tiles of 4 rows, then one of the 1-3 left. */
INL void column(const nn_gemm_args *g, int n0, const int nv, const int part, __m256i tail)
{
    int m = 0;
    for (; m + 4 <= g->M; m += 4)
        tile(g, m, n0, 4, nv, part, tail);
    switch (g->M - m) {
    case 3: tile(g, m, n0, 3, nv, part, tail); break;
    case 2: tile(g, m, n0, 2, nv, part, tail); break;
    case 1: tile(g, m, n0, 1, nv, part, tail); break;
    default: break;
    }
}

void nn_gemm_avx2(const nn_gemm_args *g)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int n0 = 0;
    for (; n0 + 24 <= g->N; n0 += 24)
        column(g, n0, 3, 0, lane);
    const int left = g->N - n0;
    if (left == 0)
        return;
    const int nv = (left + 7) / 8, rem = left - 8 * (nv - 1);
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), lane);
    switch (nv) {
    case 3: column(g, n0, 3, 1, tail); break;
    case 2: column(g, n0, 2, 1, tail); break;
    default: column(g, n0, 1, 1, tail); break;
    }
}

NN_TARGET_END
#else
/* Not x86: never selected (nn_isa_supported says 0); the reference. */
void nn_gemm_avx2(const nn_gemm_args *g)
{
    nn_gemm_scalar(g);
}
#endif
