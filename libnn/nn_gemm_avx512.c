/* nn_gemm_avx512.c - the AVX-512 body of the fixed-order product
 * (nn_gemm.h), compiled for AVX-512 whatever the build's -march and called
 * only when nn_isa_supported(NN_ISA_AVX512).
 *
 * A register tile of 6 rows x 4 vectors of 16 columns (24 accumulators);
 * per k: 4 loads of B, 6 broadcasts of A, 24 FMAs. Column tiles outside,
 * row tiles inside, so a tile's K x 64 block of B stays in cache. The last
 * vector of a row is masked. */
#include "nn_gemm.h"
#include "nn_target.h"

#if defined(__x86_64__)
NN_TARGET_AVX512_BEGIN
#include <immintrin.h>

#define INL static inline __attribute__((always_inline))

INL void tile(const nn_gemm_args *g, int m0, int n0, const int mr, const int nv, __mmask16 tail)
{
    __m512 acc[6][4];
    __mmask16 mask[4];
#pragma GCC unroll 4
    for (int j = 0; j < nv; j++)
        mask[j] = j == nv - 1 ? tail : (__mmask16)0xffff;
    float *c = g->c + (size_t)m0 * g->ldc + n0;
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            acc[i][j] = g->accumulate ? _mm512_maskz_loadu_ps(mask[j], c + i * g->ldc + 16 * j)
                                      : _mm512_setzero_ps();
    const size_t rsa = g->rsa, csa = g->csa, ldb = g->ldb;
    const float *a = g->a + (size_t)m0 * rsa;
    const float *b = g->b + n0;
    for (int k = 0, K = g->K; k < K; k++) {
        __m512 bv[4];
        const float *bk = b + (size_t)k * ldb;
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            bv[j] = _mm512_maskz_loadu_ps(mask[j], bk + 16 * j);
        const float *ak = a + (size_t)k * csa;
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            const __m512 av = _mm512_set1_ps(ak[i * rsa]);
#pragma GCC unroll 4
            for (int j = 0; j < nv; j++)
                acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            _mm512_mask_storeu_ps(c + i * g->ldc + 16 * j, mask[j], acc[i][j]);
}

/* Every row of one column tile of nv vectors: tiles of 6 rows, then one
 * tile of the 1-5 rows left. */
INL void column(const nn_gemm_args *g, int n0, const int nv, __mmask16 tail)
{
    int m = 0;
    for (; m + 6 <= g->M; m += 6)
        tile(g, m, n0, 6, nv, tail);
    switch (g->M - m) {
    case 5: tile(g, m, n0, 5, nv, tail); break;
    case 4: tile(g, m, n0, 4, nv, tail); break;
    case 3: tile(g, m, n0, 3, nv, tail); break;
    case 2: tile(g, m, n0, 2, nv, tail); break;
    case 1: tile(g, m, n0, 1, nv, tail); break;
    default: break;
    }
}

void nn_gemm_avx512(const nn_gemm_args *g)
{
    for (int n0 = 0; n0 < g->N; n0 += 64) {
        const int left = g->N - n0;
        const int nv = left >= 64 ? 4 : (left + 15) / 16;
        const int rem = left >= 64 ? 16 : left - 16 * (nv - 1);
        const __mmask16 tail = (__mmask16)(rem == 16 ? 0xffff : (1u << rem) - 1u);
        switch (nv) {
        case 4: column(g, n0, 4, tail); break;
        case 3: column(g, n0, 3, tail); break;
        case 2: column(g, n0, 2, tail); break;
        default: column(g, n0, 1, tail); break;
        }
    }
}

NN_TARGET_END
#else
/* Not x86: never selected (nn_isa_supported says 0); the reference. */
void nn_gemm_avx512(const nn_gemm_args *g)
{
    nn_gemm_scalar(g);
}
#endif
