/* nn_values.c - labels of layers and values, and the value rule (nn_values.h). */
#include "nn_values.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

void nn_layer_label(char *buf, size_t size, const nn_model *m, int node)
{
    const nn_layer_spec *l = &m->nodes[node].spec;
    const char *type = nn_layer_type_name(l->type);
    if (l->name[0])
        snprintf(buf, size, "layer %d (%s '%s')", node, type ? type : "?", l->name);
    else
        snprintf(buf, size, "layer %d (%s)", node, type ? type : "?");
}

void nn_param_label(char *buf, size_t size, const nn_model *m, size_t p)
{
    char layer[80];
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        int bn = nd->spec.type == NN_LAYER_BATCHNORM;
        const char *what = NULL;
        size_t k = 0;
        if (p >= nd->w.off && p - nd->w.off < nd->w.n)
            what = bn ? "gamma" : "weight", k = p - nd->w.off;
        else if (p >= nd->b.off && p - nd->b.off < nd->b.n)
            what = bn ? "beta" : "bias", k = p - nd->b.off;
        if (what) {
            nn_layer_label(layer, sizeof layer, m, i);
            snprintf(buf, size, "%s %s[%zu]", layer, what, k);
            return;
        }
    }
    snprintf(buf, size, "parameter %zu", p);
}

void nn_state_label(char *buf, size_t size, const nn_model *m, size_t s)
{
    char layer[80];
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (s >= nd->stat.off && s - nd->stat.off < nd->stat.n) {
            size_t k = s - nd->stat.off, c = nd->stat.n / 2;
            nn_layer_label(layer, sizeof layer, m, i);
            snprintf(buf, size, "%s %s[%zu]", layer, k < c ? "running_mean" : "running_var",
                     k < c ? k : k - c);
            return;
        }
    }
    snprintf(buf, size, "state value %zu", s);
}

/* 1 when state value s is a running variance. */
static int is_variance(const nn_model *m, size_t s)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (s >= nd->stat.off && s - nd->stat.off < nd->stat.n)
            return s - nd->stat.off >= nd->stat.n / 2;
    }
    return 0;
}

nn_status nn_model_check_values(const nn_model *m, int *in_state, size_t *index, nn_error *err)
{
    char label[160];
    for (size_t p = 0; p < m->n_params; p++) {
        if (isfinite(m->params[p]))
            continue;
        *in_state = 0, *index = p;
        nn_param_label(label, sizeof label, m, p);
        return nn_errorf(err, NN_ERR_NUMERIC, "%s = %g, must be a finite number", label,
                         (double)m->params[p]);
    }
    for (size_t s = 0; s < m->n_state; s++) {
        const float v = m->state[s];
        const int var = is_variance(m, s);
        if (isfinite(v) && (!var || v >= 0.0f))
            continue;
        *in_state = 1, *index = s;
        nn_state_label(label, sizeof label, m, s);
        return nn_errorf(err, NN_ERR_NUMERIC, "%s = %g, must be %s", label, (double)v,
                         var ? "finite and >= 0 (a variance)" : "a finite number");
    }
    return NN_OK;
}

size_t nn_param_largest(const nn_model *m, int last)
{
    size_t best = SIZE_MAX;
    float a = -1.0f;
    for (int i = 0; i <= last && i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        const nn_span sp[2] = {nd->w, nd->b};
        for (int k = 0; k < 2; k++)
            for (size_t p = sp[k].off; p < sp[k].off + sp[k].n; p++) {
                float v = fabsf(m->params[p]);
                if (isnan(v))
                    return p;
                if (v > a)
                    a = v, best = p;
            }
    }
    return best;
}

void nn_largest_hint(char *buf, size_t size, const nn_model *m, int last)
{
    size_t p = nn_param_largest(m, last);
    if (p == SIZE_MAX) {
        snprintf(buf, size, "%s", "");
        return;
    }
    char label[160];
    nn_param_label(label, sizeof label, m, p);
    snprintf(buf, size, "; the largest parameter up to it is %s = %g", label,
             (double)m->params[p]);
}

nn_status nn_optim_check_values(const nn_optim *o, const nn_model *m, size_t *index, int *second,
                                nn_error *err)
{
    char label[160];
    for (int k = 0; k < 2; k++) {
        const float *a = k ? o->v : o->m;
        size_t n = k && o->cfg.kind != NN_OPT_ADAMW ? 0 : o->n;
        for (size_t i = 0; i < n && a; i++) {
            if (isfinite(a[i]) && (!k || a[i] >= 0.0f))
                continue;
            if (index)
                *index = i, *second = k;
            nn_param_label(label, sizeof label, m, i);
            return nn_errorf(err, NN_ERR_NUMERIC, "%s moment of %s = %g, must be %s",
                             k ? "second" : "first", label, (double)a[i],
                             k ? "finite and >= 0" : "a finite number");
        }
    }
    return NN_OK;
}
