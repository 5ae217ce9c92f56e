/* dense.c - fully connected layer over a whole batch slice with sgemm.
 *
 *   out (n, units)   = in (n, in_size) x W^T (in_size, units) + b
 *   dW (units, in)  += dout^T (units, n) x in (n, in_size)
 *   db (units)      += column sums of dout
 *   din (n, in)     += dout (n, units) x W (units, in_size) */
#include "nn_layers.h"
#include "nn_vec.h"

#include <cblas.h>

void nn_dense_forward(float *out, const float *in, const float *w, const float *b, int n,
                      int in_size, int units)
{
    if (n <= 0 || units <= 0)
        return;
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < n; i++)
            nn_vec_copy(out + (size_t)i * units, b, (size_t)units);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, units, in_size, 1.0f, in, in_size, w,
                in_size, beta, out, units);
}

void nn_dense_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                       const float *w, int n, int in_size, int units)
{
    if (n <= 0 || units <= 0 || in_size <= 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, units, in_size, n, 1.0f, dout, units, in,
                in_size, 1.0f, dw, in_size);
    if (db)
        for (int i = 0; i < n; i++)
            nn_vec_add(db, dout + (size_t)i * units, (size_t)units);
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_size, units, 1.0f, dout,
                    units, w, in_size, 1.0f, din, in_size);
}
