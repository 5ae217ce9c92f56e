/* dense.c - fully connected layer over a whole batch slice, through libnn's
 * fixed-order product (nn_gemm.h: the same bits on every CPU).
 *
 *   out (n, units)   = b + in (n, in_size) x W^T (in_size, units)
 *   dW (units, in)  += dout^T (units, n) x in (n, in_size)
 *   db (units)      += column sums of dout
 *   din (n, in)     += dout (n, units) x W (units, in_size)
 *
 * The product runs its vectors across a row of B, so the forward pass
 * transposes one operand into the scratch first: W, or, when the slice is
 * small next to W (a training slice of a wide layer), the slice, computing
 * out^T = W x in^T and transposing it back. fma(a, b, c) = fma(b, a, c), so
 * both give the same bits. The backward products read their operands where
 * they are. */
#include "nn_gemm.h"
#include "nn_layers.h"
#include "nn_vec.h"

size_t nn_dense_scratch_floats(int in_size, int units)
{
    return (size_t)in_size * (size_t)units;
}

void nn_dense_forward(float *out, float *scratch, const float *in, const float *w,
                      const float *b, int n, int in_size, int units)
{
    if (n <= 0 || units <= 0)
        return;
    const nn_isa isa = nn_isa_best();
    const size_t k = (size_t)in_size, u = (size_t)units;
    if ((size_t)n * (k + u) <= k * u) { /* out^T (units, n) = W x in^T */
        float *in_t = scratch, *out_t = scratch + k * (size_t)n;
        nn_transpose(in_t, in, n, in_size);
        for (int j = 0; j < units && b; j++)
            for (int i = 0; i < n; i++)
                out_t[(size_t)j * n + i] = b[j];
        nn_gemm_args g = {.c = out_t, .ldc = (size_t)n, .a = w, .rsa = k, .csa = 1, .b = in_t,
                          .ldb = (size_t)n, .M = units, .N = n, .K = in_size,
                          .accumulate = b != NULL};
        nn_gemm(&g, isa);
        nn_transpose(out, out_t, units, n);
        return;
    }
    if (b)
        for (int i = 0; i < n; i++)
            nn_vec_copy(out + (size_t)i * u, b, u);
    nn_transpose(scratch, w, units, in_size); /* (in_size, units) */
    nn_gemm_args g = {.c = out, .ldc = u, .a = in, .rsa = k, .csa = 1, .b = scratch, .ldb = u,
                      .M = n, .N = units, .K = in_size, .accumulate = b != NULL};
    nn_gemm(&g, isa);
}

void nn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, int n, int in_size, int units)
{
    if (n <= 0 || units <= 0 || in_size <= 0)
        return;
    const nn_isa isa = nn_isa_best();
    nn_gemm_args gw = {.c = dw, .ldc = (size_t)in_size, .a = dout, .rsa = 1, .csa = (size_t)units,
                       .b = in, .ldb = (size_t)in_size, .M = units, .N = in_size, .K = n,
                       .accumulate = 1};
    nn_gemm(&gw, isa);
    if (db)
        for (int i = 0; i < n; i++)
            nn_vec_add(db, dout + (size_t)i * units, (size_t)units);
    if (din) {
        nn_gemm_args gd = {.c = din, .ldc = (size_t)in_size, .a = dout, .rsa = (size_t)units,
                           .csa = 1, .b = w, .ldb = (size_t)in_size, .M = n, .N = in_size,
                           .K = units, .accumulate = 1};
        nn_gemm(&gd, isa);
    }
}
