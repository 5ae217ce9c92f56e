/* batchnorm_body.h - the loops of batchnorm.c, one body per target:
 * included by batchnorm.c (the build's own target, the reference),
 * batchnorm_avx2.c and batchnorm_avx512.c with
 *     BN_LANES     floats per block of the element-wise loops
 *     BN_NAME(f)   the function's name for this target
 * The double sums always keep BN_SUM_LANES partial sums in the same order,
 * and every element-wise result is computed by the same operations in the
 * same order (no contraction into FMAs: ISO C mode for GCC, the pragma
 * below for clang), so every body gives the same bits; only the width of
 * the vectors the compiler makes of the blocks differs. */
#include <stddef.h>

#include "batchnorm_isa.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define BN_SUM_LANES 8

/* s += sum a[j], q += sum a[j]^2 over j < m, in double, with BN_SUM_LANES
 * independent partial sums so the loop vectorizes (see nn_vec.h). */
static void BN_NAME(sum_sumsq)(double *s, double *q, const float *a, int m)
{
    double as[BN_SUM_LANES] = {0}, aq[BN_SUM_LANES] = {0};
    int j = 0;
    for (; j + BN_SUM_LANES <= m; j += BN_SUM_LANES)
        for (int l = 0; l < BN_SUM_LANES; l++) {
            const double v = a[j + l];
            as[l] += v;
            aq[l] += v * v;
        }
    double rs = 0.0, rq = 0.0;
    for (; j < m; j++) {
        const double v = a[j];
        rs += v;
        rq += v * v;
    }
    for (int l = 0; l < BN_SUM_LANES; l++) {
        rs += as[l];
        rq += aq[l];
    }
    *s += rs;
    *q += rq;
}

/* s += sum g[j], p += sum g[j]*x[j] over j < m, in double. */
static void BN_NAME(sum_dot)(double *s, double *p, const float *g, const float *x, int m)
{
    double as[BN_SUM_LANES] = {0}, ap[BN_SUM_LANES] = {0};
    int j = 0;
    for (; j + BN_SUM_LANES <= m; j += BN_SUM_LANES)
        for (int l = 0; l < BN_SUM_LANES; l++) {
            const double v = g[j + l];
            as[l] += v;
            ap[l] += v * (double)x[j + l];
        }
    double rs = 0.0, rp = 0.0;
    for (; j < m; j++) {
        rs += g[j];
        rp += (double)g[j] * (double)x[j];
    }
    for (int l = 0; l < BN_SUM_LANES; l++) {
        rs += as[l];
        rp += ap[l];
    }
    *s += rs;
    *p += rp;
}

/* xhat = (x - m)*s and out = g*xhat + b over one plane. Separate loops for
 * out == in (in-place use is allowed) and distinct buffers, so the
 * restrict-qualified lane blocks vectorize. */
static void BN_NAME(apply_cache)(float *restrict out, float *restrict xhat,
                                 const float *restrict in, float m, float s, float g, float b,
                                 int hw)
{
    int j = 0;
    for (; j + BN_LANES <= hw; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++) {
            const float xh = (in[j + l] - m) * s;
            xhat[j + l] = xh;
            out[j + l] = g * xh + b;
        }
    for (; j < hw; j++) {
        const float xh = (in[j] - m) * s;
        xhat[j] = xh;
        out[j] = g * xh + b;
    }
}

static void BN_NAME(apply_cache_inplace)(float *restrict io, float *restrict xhat, float m,
                                         float s, float g, float b, int hw)
{
    int j = 0;
    for (; j + BN_LANES <= hw; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++) {
            const float xh = (io[j + l] - m) * s;
            xhat[j + l] = xh;
            io[j + l] = g * xh + b;
        }
    for (; j < hw; j++) {
        const float xh = (io[j] - m) * s;
        xhat[j] = xh;
        io[j] = g * xh + b;
    }
}

/* out = a*x + c (evaluation, no cache), in place and out of place. */
static void BN_NAME(affine_inplace)(float *io, float a, float c, int hw)
{
    int j = 0;
    for (; j + BN_LANES <= hw; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++)
            io[j + l] = a * io[j + l] + c;
    for (; j < hw; j++)
        io[j] = a * io[j] + c;
}

static void BN_NAME(affine_copy)(float *restrict out, const float *restrict in, float a, float c,
                                 int hw)
{
    int j = 0;
    for (; j + BN_LANES <= hw; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++)
            out[j + l] = a * in[j + l] + c;
    for (; j < hw; j++)
        out[j] = a * in[j] + c;
}

void BN_NAME(nn_bn_sums)(double *sum, double *sumsq, const float *in, int n, int c, int hw)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            BN_NAME(sum_sumsq)(&sum[ch], &sumsq[ch], in + ((size_t)i * c + ch) * hw, hw);
}

void BN_NAME(nn_bn_apply)(float *out, float *xhat, const float *in, const float *mean,
                          const float *invstd, const float *gamma, const float *beta, int n,
                          int c, int hw)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const size_t off = ((size_t)i * c + ch) * hw;
            const float m = mean[ch], s = invstd[ch];
            const float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
            if (xhat) {
                if (out == in)
                    BN_NAME(apply_cache_inplace)(out + off, xhat + off, m, s, g, b, hw);
                else
                    BN_NAME(apply_cache)(out + off, xhat + off, in + off, m, s, g, b, hw);
            } else if (out == in) {
                BN_NAME(affine_inplace)(out + off, g * s, b - g * s * m, hw);
            } else {
                BN_NAME(affine_copy)(out + off, in + off, g * s, b - g * s * m, hw);
            }
        }
}

void BN_NAME(nn_bn_backward_sums)(double *dgamma, double *dbeta, const float *dout,
                                  const float *xhat, int n, int c, int hw)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const size_t off = ((size_t)i * c + ch) * hw;
            BN_NAME(sum_dot)(&dbeta[ch], &dgamma[ch], dout + off, xhat + off, hw);
        }
}

/* dx += k1*g - k2 - k3*xh over one plane. */
void BN_NAME(nn_bn_backward_plane)(float *restrict dx, const float *restrict g,
                                   const float *restrict xh, float k1, float k2, float k3, int hw)
{
    int j = 0;
    for (; j + BN_LANES <= hw; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++)
            dx[j + l] += k1 * g[j + l] - k2 - k3 * xh[j + l];
    for (; j < hw; j++)
        dx[j] += k1 * g[j] - k2 - k3 * xh[j];
}

#undef BN_SUM_LANES
