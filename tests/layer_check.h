/* layer_check.h - helpers for the layer kernel tests (test_layers*.c).
 *
 * Gradient checks use the objective L = sum(out * R) for a fixed random R,
 * so dL/dout = R is what the backward kernels receive as dout. Numeric
 * gradients are central differences of L computed in double; the step is
 * divided by the difference of the actually representable perturbed floats
 * (x+eps and x-eps after rounding), which removes one source of error. */
#ifndef LAYER_CHECK_H
#define LAYER_CHECK_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_rng.h"

/* Elements whose |analytic| + |numeric| is below this are compared in
 * absolute terms instead (relative error of two tiny noisy numbers is
 * meaningless). */
#define LC_FLOOR 1e-2

static inline float *lc_falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    cr_assert_not_null(p, "out of memory");
    return p;
}

static inline double *lc_dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    cr_assert_not_null(p, "out of memory");
    return p;
}

static inline void lc_fill(float *x, size_t n, nn_rng *r, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * nn_rng_uniform(r);
}

/* sum a[i]*b[i] in double */
static inline double lc_dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

typedef double (*lc_objective)(void *ctx);

/* g[i] = dL/dx[i] by central differences; x is restored. */
static inline void lc_numeric_grad(double *g, float *x, size_t n, float eps, lc_objective f,
                                   void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        const float x0 = x[i], xp = x0 + eps, xm = x0 - eps;
        x[i] = xp;
        const double fp = f(ctx);
        x[i] = xm;
        const double fm = f(ctx);
        x[i] = x0;
        g[i] = (fp - fm) / ((double)xp - (double)xm);
    }
}

/* Richardson-extrapolated central differences, (4 D(eps/2) - D(eps)) / 3:
 * truncation error O(eps^4) instead of O(eps^2), so a nonlinear layer can
 * use a step large enough that float rounding of L stays small. */
static inline void lc_numeric_grad_rich(double *g, float *x, size_t n, float eps,
                                        lc_objective f, void *ctx)
{
    double *half = calloc(n ? n : 1, sizeof(double));
    cr_assert_not_null(half, "out of memory");
    lc_numeric_grad(g, x, n, eps, f, ctx);
    lc_numeric_grad(half, x, n, 0.5f * eps, f, ctx);
    for (size_t i = 0; i < n; i++)
        g[i] = (4.0 * half[i] - g[i]) / 3.0;
    free(half);
}

/* max_i |a_i - n_i| / max(LC_FLOOR, |a_i| + |n_i|) */
static inline double lc_rel_err(const float *a, const double *num, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double s = fabs((double)a[i]) + fabs(num[i]);
        if (s < LC_FLOOR)
            s = LC_FLOOR;
        const double e = fabs((double)a[i] - num[i]) / s;
        if (e > worst)
            worst = e;
    }
    return worst;
}

static inline double lc_max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m)
            m = fabs(x[i]);
    return m;
}

/* Compares an analytic gradient with a numeric one. The numeric gradient
 * must not be ~0 everywhere, else the comparison could not fail. Set
 * LC_VERBOSE=1 to print the errors (for tightening tolerances). */
#define LC_CHECK_GRAD(what, analytic, numeric, n, tol)                                     \
    do {                                                                                   \
        const double err_ = lc_rel_err((analytic), (numeric), (n));                        \
        if (getenv("LC_VERBOSE"))                                                          \
            fprintf(stderr, "%-40s rel err %.3g (tol %.3g)\n", (what), err_, (double)(tol)); \
        cr_assert(lc_max_abs((numeric), (n)) > 1e-3, "%s: numeric gradient is ~0", (what)); \
        cr_assert(err_ < (tol), "%s: relative error %g >= %g", (what), err_, (double)(tol)); \
    } while (0)

/* max_i |a_i - b_i| / max(1, |b_i|): for "same result" comparisons. */
static inline double lc_max_diff(const float *a, const float *b, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double s = fabs((double)b[i]);
        if (s < 1.0)
            s = 1.0;
        const double e = fabs((double)a[i] - (double)b[i]) / s;
        if (e > worst)
            worst = e;
    }
    return worst;
}

#endif
