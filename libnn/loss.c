/* loss.c - softmax cross-entropy with label smoothing.
 *
 * Per row: lse = max + log(sum exp(z - max)), log p_j = z_j - lse (never
 * exp of a large number). With target t = (1-s)*onehot(label) + s/k:
 *   loss = -sum_j t_j log p_j = lse - (1-s)*z_label - (s/k)*sum_j z_j
 *   dloss/dz_j = p_j - t_j. */
#include "nn_layers.h"

#include <math.h>

int nn_argmax(const float *z, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (z[j] > z[best])
            best = j;
    return best;
}

double nn_softmax_xent(float *dlogits, const float *logits, const uint8_t *labels, int n, int k,
                       float smoothing, float scale, int *correct)
{
    double total = 0.0;
    int hits = 0;
    const double s = smoothing, off = s / k;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        const int y = labels[i];
        const int best = nn_argmax(z, k);
        const double zmax = z[best];
        double se = 0.0, zsum = 0.0;
        for (int j = 0; j < k; j++) {
            se += exp((double)z[j] - zmax);
            zsum += z[j];
        }
        const double lse = zmax + log(se);
        total += lse - (1.0 - s) * z[y] - off * zsum;
        hits += best == y;
        if (dlogits) {
            float *dz = dlogits + (size_t)i * k;
            for (int j = 0; j < k; j++) {
                const double p = exp((double)z[j] - lse);
                const double t = off + (j == y ? 1.0 - s : 0.0);
                dz[j] = (float)(scale * (p - t));
            }
        }
    }
    if (correct)
        *correct += hits;
    return total;
}

void nn_softmax(float *probs, const float *logits, int n, int k)
{
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        float *p = probs + (size_t)i * k;
        const double zmax = z[nn_argmax(z, k)];
        double se = 0.0;
        for (int j = 0; j < k; j++)
            se += exp((double)z[j] - zmax);
        const double lse = zmax + log(se);
        for (int j = 0; j < k; j++)
            p[j] = (float)exp((double)z[j] - lse);
    }
}
