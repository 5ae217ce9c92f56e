/* batchnorm.c - batch normalization per channel over (N, H, W), in phases.
 *
 * Training (the executor may run phases 1, 3 and the backward sums on
 * several batch slices in parallel and reduce the double partial sums):
 *   1. sums:   sum x, sum x^2 per channel (double)
 *   2. stats:  mean = sum/count, var = sumsq/count - mean^2 (biased),
 *              invstd = 1/sqrt(var + eps); running stats with momentum
 *   3. apply:  xhat = (x - mean)*invstd, out = gamma*xhat + beta
 *   backward sums:  dgamma = sum dout*xhat, dbeta = sum dout (double)
 *   backward apply: din += gamma*invstd/count*(count*dout - dbeta - xhat*dgamma)
 * which is the exact gradient when mean and var are functions of the batch.
 * gamma == NULL means 1 and beta == NULL means 0. */
#include "nn_layers.h"

#include <math.h>

#define BN_LANES 8

/* s += sum a[j], q += sum a[j]^2 over j < m, in double, with BN_LANES
 * independent partial sums so the loop vectorizes (see nn_vec.h). */
static void sum_sumsq(double *s, double *q, const float *a, int m)
{
    double as[BN_LANES] = {0}, aq[BN_LANES] = {0};
    int j = 0;
    for (; j + BN_LANES <= m; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++) {
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
    for (int l = 0; l < BN_LANES; l++) {
        rs += as[l];
        rq += aq[l];
    }
    *s += rs;
    *q += rq;
}

/* s += sum g[j], p += sum g[j]*x[j] over j < m, in double. */
static void sum_dot(double *s, double *p, const float *g, const float *x, int m)
{
    double as[BN_LANES] = {0}, ap[BN_LANES] = {0};
    int j = 0;
    for (; j + BN_LANES <= m; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++) {
            const double v = g[j + l];
            as[l] += v;
            ap[l] += v * (double)x[j + l];
        }
    double rs = 0.0, rp = 0.0;
    for (; j < m; j++) {
        rs += g[j];
        rp += (double)g[j] * (double)x[j];
    }
    for (int l = 0; l < BN_LANES; l++) {
        rs += as[l];
        rp += ap[l];
    }
    *s += rs;
    *p += rp;
}

void nn_batchnorm_sums(double *sum, double *sumsq, const float *in, int n, int c, int hw)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            sum_sumsq(&sum[ch], &sumsq[ch], in + ((size_t)i * c + ch) * hw, hw);
}

void nn_batchnorm_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                        const double *sum, const double *sumsq, double count, int c, float eps,
                        float momentum)
{
    for (int ch = 0; ch < c; ch++) {
        const double mu = sum[ch] / count;
        double var = sumsq[ch] / count - mu * mu;
        if (var < 0.0) /* rounding when var << mean^2 */
            var = 0.0;
        mean[ch] = (float)mu;
        invstd[ch] = (float)(1.0 / sqrt(var + (double)eps));
        if (running_mean)
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
        if (running_var) {
            const double unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
        }
    }
}

void nn_batchnorm_invstd(float *invstd, const float *var, int c, float eps)
{
    for (int ch = 0; ch < c; ch++)
        invstd[ch] = (float)(1.0 / sqrt((double)var[ch] + (double)eps));
}

/* xhat = (x - m)*s and out = g*xhat + b over one plane. Separate loops for
 * out == in (in-place use is allowed) and distinct buffers, so the
 * restrict-qualified lane blocks vectorize. */
static void apply_cache(float *restrict out, float *restrict xhat, const float *restrict in,
                        float m, float s, float g, float b, int hw)
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

static void apply_cache_inplace(float *restrict io, float *restrict xhat, float m, float s,
                                float g, float b, int hw)
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
static void affine_inplace(float *io, float a, float c, int hw)
{
    int j = 0;
    for (; j + BN_LANES <= hw; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++)
            io[j + l] = a * io[j + l] + c;
    for (; j < hw; j++)
        io[j] = a * io[j] + c;
}

static void affine_copy(float *restrict out, const float *restrict in, float a, float c, int hw)
{
    int j = 0;
    for (; j + BN_LANES <= hw; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++)
            out[j + l] = a * in[j + l] + c;
    for (; j < hw; j++)
        out[j] = a * in[j] + c;
}

void nn_batchnorm_apply(float *out, float *xhat, const float *in, const float *mean,
                        const float *invstd, const float *gamma, const float *beta, int n, int c,
                        int hw)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const size_t off = ((size_t)i * c + ch) * hw;
            const float m = mean[ch], s = invstd[ch];
            const float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
            if (xhat) {
                if (out == in)
                    apply_cache_inplace(out + off, xhat + off, m, s, g, b, hw);
                else
                    apply_cache(out + off, xhat + off, in + off, m, s, g, b, hw);
            } else if (out == in) {
                affine_inplace(out + off, g * s, b - g * s * m, hw);
            } else {
                affine_copy(out + off, in + off, g * s, b - g * s * m, hw);
            }
        }
}

void nn_batchnorm_backward_sums(double *dgamma, double *dbeta, const float *dout,
                                const float *xhat, int n, int c, int hw)
{
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const size_t off = ((size_t)i * c + ch) * hw;
            sum_dot(&dbeta[ch], &dgamma[ch], dout + off, xhat + off, hw);
        }
}

static void backward_plane(float *restrict dx, const float *restrict g,
                           const float *restrict xh, float k1, float k2, float k3, int hw)
{
    int j = 0;
    for (; j + BN_LANES <= hw; j += BN_LANES)
        for (int l = 0; l < BN_LANES; l++)
            dx[j + l] += k1 * g[j + l] - k2 - k3 * xh[j + l];
    for (; j < hw; j++)
        dx[j] += k1 * g[j] - k2 - k3 * xh[j];
}

void nn_batchnorm_backward_apply(float *din, const float *dout, const float *xhat,
                                 const float *gamma, const float *invstd, const double *dgamma,
                                 const double *dbeta, double count, int n, int c, int hw)
{
    if (!din)
        return;
    for (int ch = 0; ch < c; ch++) {
        /* din += k1*dout - k2 - k3*xhat */
        const double a = (gamma ? (double)gamma[ch] : 1.0) * (double)invstd[ch];
        const float k1 = (float)a;
        const float k2 = (float)(a * dbeta[ch] / count);
        const float k3 = (float)(a * dgamma[ch] / count);
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * c + ch) * hw;
            backward_plane(din + off, dout + off, xhat + off, k1, k2, k3, hw);
        }
    }
}
