/* nn_gemm.h - libnn's matrix product, the same bits on every CPU.
 *
 * OpenBLAS chooses its sgemm kernel by CPU model (Haswell's on AMD Zen,
 * Prescott's on a virtualized Xeon it does not recognize, SkylakeX's...),
 * and the kernels sum in different orders: the same training run gave
 * different checkpoints on different machines. This product fixes the order
 * of every sum, so a model depends only on its config, seed and thread count:
 *
 *   C[m][n] = chain over k = 0, 1, ..., K-1 of  acc = fma(A(m,k), B[k][n], acc)
 *             starting from acc = C[m][n] (accumulate) or +0
 *
 * A(m,k) = a[m*rsa + k*csa] (any strides: A or its transpose), B row-major
 * (ldb), C row-major (ldc). Vectors run across n, one chain per lane, so
 * the AVX-512, AVX2 and scalar bodies compute the same fused multiply-adds
 * in the same order and give the same bits (tests/test_gemm.c); blocking K
 * only pauses a chain in C. */
#ifndef NN_GEMM_H
#define NN_GEMM_H

#include <stddef.h>

#include "nn_isa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float *c;             /* (M, ldc) row-major        */
    size_t ldc;
    const float *a;       /* A(m,k) = a[m*rsa + k*csa] */
    size_t rsa, csa;
    const float *b;       /* (K, ldb) row-major        */
    size_t ldb;
    int M, N, K;
    int accumulate;       /* 1: chains start from C    */
} nn_gemm_args;

/* One ISA's body over a whole product (nn_gemm blocks K around it). */
typedef void (*nn_gemm_fn)(const nn_gemm_args *g);
void nn_gemm_scalar(const nn_gemm_args *g);
void nn_gemm_avx2(const nn_gemm_args *g);
void nn_gemm_avx512(const nn_gemm_args *g);
nn_gemm_fn nn_gemm_for(nn_isa isa);

/* The product on isa's body (the caller checks nn_isa_supported). */
void nn_gemm(const nn_gemm_args *g, nn_isa isa);

/* dst (cols, rows) = src (rows, cols) transposed. Data movement only. */
void nn_transpose(float *dst, const float *src, int rows, int cols);

#ifdef __cplusplus
}
#endif

#endif
