/* qz_fake.c - fake-quantized weights for quantization-aware training
 * (qz_fake.h). */
#include "qz_fake.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/qparams.h"

/* How far below the grid point a folded weight sits (qz_fake.h): far above
 * the float rounding of folding (2^-22), far below the scale's rounding
 * step (2^-8). */
#define QZ_FAKE_SHRINK (1.0 - 1.0 / 262144.0)

nn_status qz_layer_bits(int *bits, const nn_model *m, const qz_config *cfg, nn_error *err)
{
    if (cfg->auto_bits)
        return nn_errorf(err, NN_ERR_ARG,
                         "fake quantization needs fixed weight bits, not \"auto\"");
    qz_net net;
    nn_status st = qz_lower(&net, m, err);
    if (st != NN_OK)
        return st;
    int op_bits[QM_MAX_OPS];
    st = qz_op_bits(op_bits, &net, m, cfg, err);
    for (int i = 0; i < m->n_nodes; i++)
        bits[i] = 0;
    for (int i = 0; st == NN_OK && i < net.n_ops; i++) {
        const qz_fop *op = &net.ops[i];
        int L = op->src_layer;
        nn_layer_type t = m->nodes[L].spec.type;
        if (!op->from_bn &&
            (t == NN_LAYER_CONV2D || t == NN_LAYER_DENSE || t == NN_LAYER_DEPTHWISE_CONV2D))
            bits[L] = op_bits[i];
    }
    qz_net_free(&net);
    return st;
}

static double max_abs(const float *w, size_t n)
{
    double m = 0;
    for (size_t k = 0; k < n; k++)
        m = fmax(m, fabs((double)w[k]));
    return m;
}

/* The quantizer's scale for the folded values v (0: none). */
static float scale_of(const float *v, size_t n, int bits)
{
    const double wmax = max_abs(v, n);
    return wmax > 0 ? qp_round_scale_up((float)qz_weight_scale(v, n, wmax, bits)) : 0.0f;
}

static double grid_point(float v, double s, int qmax)
{
    double k = round((double)v / s);
    return k < -qmax ? -qmax : k > qmax ? qmax : k;
}

/* The scale is a fixed point of the quantizer: the scale it picks for the
 * channel's master weights may not be the one it picks for their grid
 * values (rounding the scale up can leave the largest at 126 steps, whose
 * scale then rounds to a smaller one), so the grid is taken again at the
 * scale the quantizer would see until the two agree. */
void qz_fake_channel(const float *w, size_t n, double fold, int bits, float *scratch, float *out)
{
    const int qmax = bits == 8 ? 127 : 7;
    for (size_t k = 0; k < n; k++)
        scratch[k] = (float)((double)w[k] * fold);
    float s = scale_of(scratch, n, bits);
    for (int round_trip = 0; round_trip < 8 && s > 0 && isfinite(s); round_trip++) {
        for (size_t k = 0; k < n; k++)
            out[k] = (float)(grid_point(scratch[k], s, qmax) * (double)s * QZ_FAKE_SHRINK);
        float again = scale_of(out, n, bits);
        if (again == s)
            break;
        s = again;
    }
    if (!(s > 0) || !isfinite(s) || !(fold > 0)) { /* all zero, or beyond the float range */
        memset(out, 0, n * sizeof *out);
        return;
    }
    const double step = (double)s * QZ_FAKE_SHRINK / fold;
    for (size_t k = 0; k < n; k++)
        out[k] = (float)(grid_point(scratch[k], s, qmax) * step);
}

static void show(qz_fake *f, nn_model *m)
{
    for (int i = 0; i < f->n_spans; i++) {
        const qz_fake_span *sp = &f->span[i];
        const size_t per = sp->n / (size_t)sp->out_c;
        for (int o = 0; o < sp->out_c; o++) {
            size_t at = sp->off + (size_t)o * per;
            qz_fake_channel(f->master + at, per, sp->fold[o], sp->bits, f->scratch,
                            m->params + at);
        }
        memcpy(f->shown + sp->off, m->params + sp->off, sp->n * sizeof(float));
    }
}

/* The factor of each channel: the ratio of the largest folded weight to
 * the largest weight (a channel of zeros keeps its factor). */
static void take_folds(qz_fake *f, const nn_model *m, const qz_net *net)
{
    for (int i = 0; i < net->n_ops; i++) {
        const qz_fop *op = &net->ops[i];
        if (op->from_bn)
            continue;
        for (int s = 0; s < f->n_spans; s++) {
            qz_fake_span *sp = &f->span[s];
            if (sp->layer != op->src_layer || op->n_weights != sp->n || op->out_c != sp->out_c)
                continue;
            const size_t per = sp->n / (size_t)sp->out_c;
            for (int o = 0; o < sp->out_c; o++) {
                double raw = max_abs(m->params + sp->off + (size_t)o * per, per);
                double folded = max_abs(op->w + (size_t)o * per, per);
                if (raw > 0 && folded > 0 && isfinite(folded / raw))
                    sp->fold[o] = folded / raw;
            }
        }
    }
}

nn_status qz_fake_refresh(qz_fake *f, nn_model *m, nn_error *err)
{
    qz_net net;
    nn_status st = qz_lower(&net, m, err);
    if (st != NN_OK)
        return st;
    take_folds(f, m, &net);
    qz_net_free(&net);
    show(f, m);
    return NN_OK;
}

nn_status qz_fake_init(qz_fake *f, nn_model *m, const int *bits, nn_error *err)
{
    memset(f, 0, sizeof *f);
    f->n_params = m->n_params;
    size_t channels = 0, widest = 1;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (!bits[i])
            continue;
        int out_c = nd->out_c; /* conv2d filters, dense units, depthwise channels */
        f->span[f->n_spans++] = (qz_fake_span){i, nd->w.off, nd->w.n, out_c, bits[i], NULL};
        channels += (size_t)out_c;
        widest = nd->w.n / (size_t)out_c > widest ? nd->w.n / (size_t)out_c : widest;
    }
    f->master = malloc(m->n_params * sizeof(float));
    f->shown = malloc(m->n_params * sizeof(float));
    f->keep = malloc(m->n_params);
    f->folds = malloc((channels + 1) * sizeof(double));
    f->scratch = malloc(widest * sizeof(float));
    if (!f->master || !f->shown || !f->keep || !f->folds || !f->scratch) {
        qz_fake_free(f);
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for fake quantization");
    }
    memcpy(f->master, m->params, m->n_params * sizeof(float));
    memcpy(f->shown, m->params, m->n_params * sizeof(float));
    for (size_t k = 0; k < m->n_params; k++)
        f->keep[k] = m->params[k] != 0.0f;
    double *fold = f->folds;
    for (int i = 0; i < f->n_spans; i++) {
        f->span[i].fold = fold;
        for (int o = 0; o < f->span[i].out_c; o++)
            fold[o] = 1.0;
        fold += f->span[i].out_c;
    }
    nn_status st = qz_fake_refresh(f, m, err);
    if (st != NN_OK)
        qz_fake_free(f);
    return st;
}

void qz_fake_step(qz_fake *f, nn_model *m)
{
    for (int i = 0; i < f->n_spans; i++) {
        const qz_fake_span *sp = &f->span[i];
        for (size_t k = sp->off; k < sp->off + sp->n; k++)
            f->master[k] = f->keep[k] ? f->master[k] + (m->params[k] - f->shown[k]) : 0.0f;
    }
    show(f, m);
}

void qz_fake_free(qz_fake *f)
{
    free(f->master);
    free(f->shown);
    free(f->keep);
    free(f->folds);
    free(f->scratch);
    memset(f, 0, sizeof *f);
}
