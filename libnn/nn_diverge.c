/* nn_diverge.c - the divergence rule and the non-finite scan (nn_diverge.h). */
#include "nn_diverge.h"

#include <math.h>

#include "nn_vec.h"

void nn_diverge_init(nn_diverge *d, double factor, int num_classes)
{
    *d = (nn_diverge){factor, log(num_classes > 1 ? num_classes : 2), 0, 0, 0, 0};
}

int nn_diverge_update(nn_diverge *d, double loss)
{
    if (!isfinite(loss))
        return 1;
    if (d->seen++ == 0) {
        d->reference = loss > d->chance ? loss : d->chance;
        d->smoothed = loss;
    } else {
        d->smoothed += (loss - d->smoothed) / 8; /* 1/8: exact in binary */
    }
    double ratio = d->smoothed / d->reference;
    if (ratio > d->max_ratio)
        d->max_ratio = ratio;
    return d->factor > 0 && d->smoothed > d->factor * d->reference;
}

size_t nn_first_nonfinite(const float *p, size_t n)
{
    /* x - x is 0 for a finite x and NaN for an infinite or NaN one; lanes
     * of partial sums (nn_vec.h) let -O2 vectorize without -ffast-math. */
    float acc[NN_VEC_LANES] = {0};
    size_t t = 0;
    for (; t + NN_VEC_LANES <= n; t += NN_VEC_LANES)
        for (int l = 0; l < NN_VEC_LANES; l++)
            acc[l] += p[t + l] - p[t + l];
    for (; t < n; t++)
        acc[0] += p[t] - p[t];
    float all = 0;
    for (int l = 0; l < NN_VEC_LANES; l++)
        all += acc[l];
    if (all == 0) /* NaN compares unequal */
        return n;
    for (t = 0; t < n; t++)
        if (!isfinite(p[t]))
            break;
    return t;
}

typedef struct {
    const float *base; /* params, state or an optimizer buffer */
    nn_span span;
    const char *what;
} named_span;

/* The spans of node nd over the buffers given (NULL ones skipped); returns
 * how many were written (at most 8). */
static int node_spans(const nn_model *m, const nn_node *nd, const float *opt_m,
                      const float *opt_v, named_span *out)
{
    int bn = nd->spec.type == NN_LAYER_BATCHNORM, k = 0;
    const float *bufs[3] = {m->params, opt_m, opt_v};
    const char *names[3][2] = {{bn ? "gamma" : "weights", bn ? "beta" : "bias"},
                               {"optimizer state of the weights", "optimizer state of the bias"},
                               {"second optimizer state of the weights",
                                "second optimizer state of the bias"}};
    for (int i = 0; i < 3; i++) {
        if (!bufs[i])
            continue;
        if (nd->w.n)
            out[k++] = (named_span){bufs[i], nd->w, names[i][0]};
        if (nd->b.n)
            out[k++] = (named_span){bufs[i], nd->b, names[i][1]};
    }
    if (nd->stat.n) {
        size_t c = nd->stat.n / 2;
        out[k++] = (named_span){m->state, {nd->stat.off, c}, "running mean"};
        out[k++] = (named_span){m->state, {nd->stat.off + c, c}, "running variance"};
    }
    return k;
}

int nn_find_nonfinite(const nn_model *m, const float *opt_m, const float *opt_v,
                      nn_nonfinite *at)
{
    for (int i = 0; i < m->n_nodes; i++) {
        named_span s[8];
        int n = node_spans(m, &m->nodes[i], opt_m, opt_v, s);
        for (int j = 0; j < n; j++) {
            const float *p = s[j].base + s[j].span.off;
            size_t k = nn_first_nonfinite(p, s[j].span.n);
            if (k < s[j].span.n) {
                *at = (nn_nonfinite){i, s[j].what, k, p[k]};
                return 1;
            }
        }
    }
    return 0;
}
