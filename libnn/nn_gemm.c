/* nn_gemm.c - the fixed-order matrix product's driver and its reference
 * body (nn_gemm.h). The driver splits K into blocks so that a block of B
 * stays in cache while every row of A passes over it; a chain stops in C at
 * the end of a block and goes on from C in the next, so the blocks change
 * no result. */
#include "nn_gemm.h"

#include <math.h>

/* Rows of B per block: 256 rows of a 64-column tile are 64 KB. */
#define GEMM_KC 256

void nn_gemm_scalar(const nn_gemm_args *g)
{
    for (int m = 0; m < g->M; m++) {
        float *crow = g->c + (size_t)m * g->ldc;
        const float *arow = g->a + (size_t)m * g->rsa;
        for (int n = 0; n < g->N; n++) {
            float acc = g->accumulate ? crow[n] : 0.0f;
            for (int k = 0; k < g->K; k++)
                acc = fmaf(arow[(size_t)k * g->csa], g->b[(size_t)k * g->ldb + n], acc);
            crow[n] = acc;
        }
    }
}

nn_gemm_fn nn_gemm_for(nn_isa isa)
{
    switch (isa) {
    case NN_ISA_AVX512: return nn_gemm_avx512;
    case NN_ISA_AVX2: return nn_gemm_avx2;
    default: return nn_gemm_scalar;
    }
}

void nn_gemm(const nn_gemm_args *g, nn_isa isa)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    const nn_gemm_fn body = nn_gemm_for(isa);
    if (g->K <= GEMM_KC) {
        body(g);
        return;
    }
    for (int k0 = 0; k0 < g->K; k0 += GEMM_KC) {
        nn_gemm_args blk = *g;
        blk.a = g->a + (size_t)k0 * g->csa;
        blk.b = g->b + (size_t)k0 * g->ldb;
        blk.K = g->K - k0 < GEMM_KC ? g->K - k0 : GEMM_KC;
        blk.accumulate = k0 > 0 || g->accumulate;
        body(&blk);
    }
}

void nn_transpose(float *dst, const float *src, int rows, int cols)
{
    enum { T = 32 }; /* 32 x 32 tiles: both sides' lines stay in L1 */
    for (int r0 = 0; r0 < rows; r0 += T)
        for (int c0 = 0; c0 < cols; c0 += T) {
            const int r1 = r0 + T < rows ? r0 + T : rows;
            const int c1 = c0 + T < cols ? c0 + T : cols;
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++)
                    dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
        }
}
