/* nn_optim.c - SGD (momentum, Nesterov) and AdamW over flat parameter spans.
 *
 * The update rules follow PyTorch's torch.optim.SGD (dampening 0) and
 * torch.optim.AdamW (amsgrad off, maximize off) term by term, so a run can be
 * checked against PyTorch step by step (tests/test_optim.c holds golden
 * values from tests/golden/optim_golden.py). Each element's update is
 * computed in double and rounded once when stored; the stored state (params,
 * m, v) is float, like PyTorch's, so results agree to a few ulp.
 *
 * PyTorch's SGD creates the momentum buffer on the first step as a copy of
 * the gradient; starting from a zero buffer, mu*0 + g == g exactly, so a
 * zeroed m gives the same first step without a special case. */
#include "nn_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int finite_in(float x, float lo, float hi) { return isfinite(x) && x >= lo && x <= hi; }

nn_status nn_optim_init(nn_optim *o, const nn_optim_config *cfg, size_t n_params, nn_error *err)
{
    if (!o || !cfg)
        return nn_errorf(err, NN_ERR_ARG, "optimizer: NULL argument");
    memset(o, 0, sizeof *o);
    switch (cfg->kind) {
    case NN_OPT_SGD:
        if (!finite_in(cfg->momentum, 0.0f, 1.0f) || cfg->momentum >= 1.0f)
            return nn_errorf(err, NN_ERR_ARG, "optimizer: sgd momentum %g not in [0, 1)",
                             (double)cfg->momentum);
        if (cfg->nesterov && cfg->momentum <= 0.0f)
            return nn_errorf(err, NN_ERR_ARG,
                             "optimizer: nesterov needs momentum > 0 (as in PyTorch)");
        break;
    case NN_OPT_ADAMW:
        if (!finite_in(cfg->beta1, 0.0f, 1.0f) || cfg->beta1 >= 1.0f)
            return nn_errorf(err, NN_ERR_ARG, "optimizer: adamw beta1 %g not in [0, 1)",
                             (double)cfg->beta1);
        if (!finite_in(cfg->beta2, 0.0f, 1.0f) || cfg->beta2 >= 1.0f)
            return nn_errorf(err, NN_ERR_ARG, "optimizer: adamw beta2 %g not in [0, 1)",
                             (double)cfg->beta2);
        if (!isfinite(cfg->eps) || cfg->eps <= 0.0f)
            return nn_errorf(err, NN_ERR_ARG, "optimizer: adamw eps %g must be > 0",
                             (double)cfg->eps);
        break;
    default:
        return nn_errorf(err, NN_ERR_ARG, "optimizer: unknown kind %d", (int)cfg->kind);
    }
    if (!isfinite(cfg->weight_decay) || cfg->weight_decay < 0.0f)
        return nn_errorf(err, NN_ERR_ARG, "optimizer: weight_decay %g must be >= 0",
                         (double)cfg->weight_decay);
    if (n_params > SIZE_MAX / sizeof(float))
        return nn_errorf(err, NN_ERR_NOMEM, "optimizer: %zu parameters is too many", n_params);

    o->cfg = *cfg;
    o->n = n_params;
    /* calloc(0) may return NULL; always allocate at least one float. */
    size_t alloc_n = n_params ? n_params : 1;
    o->m = calloc(alloc_n, sizeof(float));
    if (cfg->kind == NN_OPT_ADAMW)
        o->v = calloc(alloc_n, sizeof(float));
    if (!o->m || (cfg->kind == NN_OPT_ADAMW && !o->v)) {
        nn_optim_free(o);
        return nn_errorf(err, NN_ERR_NOMEM, "optimizer: cannot allocate state for %zu parameters",
                         n_params);
    }
    return NN_OK;
}

void nn_optim_free(nn_optim *o)
{
    if (!o)
        return;
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

/* PyTorch: g = grad + wd*p; buf = mu*buf + g; d = nesterov ? g + mu*buf : buf;
 * p -= lr*d. With mu == 0 PyTorch keeps no buffer and d = g. */
static void sgd_span(nn_optim *o, float *p, const float *g, float *m, size_t n, double lr,
                     double wd)
{
    const double mu = o->cfg.momentum;
    for (size_t i = 0; i < n; i++) {
        double d = (double)g[i] + wd * (double)p[i];
        if (mu != 0.0) {
            float buf = (float)(mu * (double)m[i] + d);
            m[i] = buf;
            d = o->cfg.nesterov ? d + mu * (double)buf : (double)buf;
        }
        p[i] = (float)((double)p[i] - lr * d);
    }
}

/* PyTorch: p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 * p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps), bc_i = 1 - b_i^t. */
static void adamw_span(nn_optim *o, float *p, const float *g, float *m, float *v, size_t n,
                       double lr, double wd, double step_size, double bc2_sqrt)
{
    const double b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const double decay = 1.0 - lr * wd;
    for (size_t i = 0; i < n; i++) {
        double gi = g[i];
        float mi = (float)(b1 * (double)m[i] + (1.0 - b1) * gi);
        float vi = (float)(b2 * (double)v[i] + (1.0 - b2) * gi * gi);
        m[i] = mi;
        v[i] = vi;
        double pi = (double)p[i] * decay;
        double denom = sqrt((double)vi) / bc2_sqrt + eps;
        p[i] = (float)(pi - step_size * (double)mi / denom);
    }
}

void nn_optim_step(nn_optim *o, float *params, const float *grads,
                   const nn_param_span *spans, int n_spans, float lr)
{
    o->t++;
    double step_size = 0.0, bc2_sqrt = 1.0;
    if (o->cfg.kind == NN_OPT_ADAMW) {
        /* Bias corrections in double, as PyTorch computes them in Python. */
        double t = (double)o->t;
        double bc1 = 1.0 - pow((double)o->cfg.beta1, t);
        double bc2 = 1.0 - pow((double)o->cfg.beta2, t);
        step_size = (double)lr / bc1;
        bc2_sqrt = sqrt(bc2);
    }
    for (int s = 0; s < n_spans; s++) {
        size_t off = spans[s].off, n = spans[s].n;
        /* A span outside the state would corrupt memory: skip it (caller bug). */
        if (off > o->n || n > o->n - off)
            continue;
        double wd = spans[s].decay ? (double)o->cfg.weight_decay : 0.0;
        if (o->cfg.kind == NN_OPT_SGD)
            sgd_span(o, params + off, grads + off, o->m + off, n, lr, wd);
        else if (o->cfg.kind == NN_OPT_ADAMW)
            adamw_span(o, params + off, grads + off, o->m + off, o->v + off, n, lr, wd,
                       step_size, bc2_sqrt);
    }
}
