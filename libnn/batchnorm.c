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
 * gamma == NULL means 1 and beta == NULL means 0.
 *
 * The loops are batchnorm_body.h, compiled for the build's target here and
 * for AVX2 and AVX-512 in batchnorm_avx2.c / batchnorm_avx512.c, chosen at
 * run time (nn_isa_best); every body gives the same bits. */
#include "nn_layers.h"

#include <math.h>

#define BN_LANES 8
#define BN_NAME(f) f##_ref
#include "batchnorm_body.h"

nn_bn_bodies nn_bn_bodies_for(nn_isa isa)
{
    switch (isa) {
#if defined(__x86_64__)
    case NN_ISA_AVX512:
        return (nn_bn_bodies){nn_bn_sums_avx512, nn_bn_apply_avx512, nn_bn_backward_sums_avx512,
                              nn_bn_backward_plane_avx512};
    case NN_ISA_AVX2:
        return (nn_bn_bodies){nn_bn_sums_avx2, nn_bn_apply_avx2, nn_bn_backward_sums_avx2,
                              nn_bn_backward_plane_avx2};
#endif
    default:
        return (nn_bn_bodies){nn_bn_sums_ref, nn_bn_apply_ref, nn_bn_backward_sums_ref,
                              nn_bn_backward_plane_ref};
    }
}

void nn_batchnorm_sums(double *sum, double *sumsq, const float *in, int n, int c, int hw)
{
    nn_bn_bodies_for(nn_isa_best()).sums(sum, sumsq, in, n, c, hw);
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

void nn_batchnorm_apply(float *out, float *xhat, const float *in, const float *mean,
                        const float *invstd, const float *gamma, const float *beta, int n, int c,
                        int hw)
{
    nn_bn_bodies_for(nn_isa_best()).apply(out, xhat, in, mean, invstd, gamma, beta, n, c, hw);
}

void nn_batchnorm_backward_sums(double *dgamma, double *dbeta, const float *dout,
                                const float *xhat, int n, int c, int hw)
{
    nn_bn_bodies_for(nn_isa_best()).backward_sums(dgamma, dbeta, dout, xhat, n, c, hw);
}

void nn_batchnorm_backward_apply(float *din, const float *dout, const float *xhat,
                                 const float *gamma, const float *invstd, const double *dgamma,
                                 const double *dbeta, double count, int n, int c, int hw)
{
    if (!din)
        return;
    const nn_bn_bodies body = nn_bn_bodies_for(nn_isa_best());
    for (int ch = 0; ch < c; ch++) {
        /* din += k1*dout - k2 - k3*xhat */
        const double a = (gamma ? (double)gamma[ch] : 1.0) * (double)invstd[ch];
        const float k1 = (float)a;
        const float k2 = (float)(a * dbeta[ch] / count);
        const float k3 = (float)(a * dgamma[ch] / count);
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * c + ch) * hw;
            body.backward_plane(din + off, dout + off, xhat + off, k1, k2, k3, hw);
        }
    }
}
