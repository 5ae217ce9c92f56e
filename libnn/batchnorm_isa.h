/* batchnorm_isa.h - the per-target bodies of batchnorm.c (private): the
 * same loops compiled for the build's target (_ref), AVX2 and AVX-512,
 * with the same bits (batchnorm_body.h). */
#ifndef NN_BATCHNORM_ISA_H
#define NN_BATCHNORM_ISA_H

#include "nn_isa.h"

typedef struct {
    void (*sums)(double *sum, double *sumsq, const float *in, int n, int c, int hw);
    void (*apply)(float *out, float *xhat, const float *in, const float *mean,
                  const float *invstd, const float *gamma, const float *beta, int n, int c,
                  int hw);
    void (*backward_sums)(double *dgamma, double *dbeta, const float *dout, const float *xhat,
                          int n, int c, int hw);
    void (*backward_plane)(float *dx, const float *g, const float *xh, float k1, float k2,
                           float k3, int hw);
} nn_bn_bodies;

#define NN_BN_DECLARE(sfx)                                                                         \
    void nn_bn_sums_##sfx(double *, double *, const float *, int, int, int);                       \
    void nn_bn_apply_##sfx(float *, float *, const float *, const float *, const float *,          \
                           const float *, const float *, int, int, int);                          \
    void nn_bn_backward_sums_##sfx(double *, double *, const float *, const float *, int, int,    \
                                   int);                                                           \
    void nn_bn_backward_plane_##sfx(float *, const float *, const float *, float, float, float,   \
                                    int);
NN_BN_DECLARE(ref)
NN_BN_DECLARE(avx2)
NN_BN_DECLARE(avx512)
#undef NN_BN_DECLARE

/* The bodies for isa (the reference one for NN_ISA_SCALAR, or where the
 * build is not x86-64). */
nn_bn_bodies nn_bn_bodies_for(nn_isa isa);

#endif
