/* nn_distill.c - the distillation loss (nn_distill.h). */
#include "nn_distill.h"

#include <math.h>

#include "nn_layers.h"

/* log-sum-exp of z[0..k) / T (numerically stable). */
static double lse_scaled(const float *z, int k, double inv_t)
{
    double zmax = z[nn_argmax(z, k)] * inv_t, se = 0.0;
    for (int j = 0; j < k; j++)
        se += exp(z[j] * inv_t - zmax);
    return zmax + log(se);
}

/* T^2 * KL(q(t) || q(z)) of one image; adds w * T * (q(z) - q(t)) * scale
 * into dz when dz is not NULL. */
static double soft_term(float *dz, const float *z, const float *t, int k, double temp,
                        double w, double scale)
{
    const double inv_t = 1.0 / temp;
    const double lz = lse_scaled(z, k, inv_t), lt = lse_scaled(t, k, inv_t);
    double kl = 0.0;
    for (int j = 0; j < k; j++) {
        const double log_qt = t[j] * inv_t - lt, log_qz = z[j] * inv_t - lz;
        const double qt = exp(log_qt);
        kl += qt * (log_qt - log_qz);
        if (dz)
            dz[j] += (float)(scale * w * temp * (exp(log_qz) - qt));
    }
    return temp * temp * kl;
}

double nn_distill_xent(float *dlogits, const float *logits, const float *teacher,
                       const uint8_t *labels, int n, int k, float smoothing,
                       const nn_distill_config *d, float scale, int *correct)
{
    const double w = d->weight, temp = d->temperature;
    /* The hard term, scaled by (1 - w), is nn_softmax_xent's. */
    double total = (1.0 - w) * nn_softmax_xent(dlogits, logits, labels, n, k, smoothing,
                                                (float)((1.0 - w) * scale), correct);
    if (w == 0.0)
        return total;
    for (int i = 0; i < n; i++) {
        float *dz = dlogits ? dlogits + (size_t)i * k : NULL;
        total += w * soft_term(dz, logits + (size_t)i * k, teacher + (size_t)i * k, k, temp, w,
                               scale);
    }
    return total;
}
