/* qz_quant.c - folded float net + ranges -> qm_model (step 3 of
 * quantize.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/qparams.h"
#include "quantize.h"

#define is_weighted qm_is_weighted

/* Squared rounding error of w[0..n) on the grid s, clamped to +-qmax. */
static double grid_sse(const float *w, size_t n, double s, int qmax)
{
    double e = 0;
    for (size_t k = 0; k < n; k++) {
        double q = round((double)w[k] / s);
        q = q < -qmax ? -qmax : q > qmax ? qmax : q;
        double d = (double)w[k] - q * s;
        e += d * d;
    }
    return e;
}

double qz_weight_scale(const float *w, size_t n, double wmax, int bits)
{
    if (bits == 8)
        return wmax / 127.0;
    double best_s = wmax / 7.0, best = INFINITY;
    for (int j = 0; j <= 20; j++) { /* clip at 1, 0.975, ..., 0.5 of the maximum */
        double s = (1.0 - j / 40.0) * wmax / 7.0;
        double e = grid_sse(w, n, s, 7);
        if (e < best) {
            best = e;
            best_s = s;
        }
    }
    return best_s;
}

static nn_status quantize_channels(qm_op *q, const qz_fop *f, float in_s, nn_error *err)
{
    const int qmax = q->weight_bits == 8 ? 127 : 7;
    const size_t per = q->n_weights / (size_t)q->out_c;
    const float out_s = q->out.scale;
    /* Worst case of sum(w * (x - zero)): |w| <= qmax, |x - zero| <= 255. */
    const uint64_t worst = (uint64_t)per * (uint64_t)qmax * 255u;
    if (worst >= (uint64_t)INT32_MAX)
        return nn_errorf(err, NN_ERR_NUMERIC,
                         "%s: %zu taps of %d-bit weights could overflow the int32 accumulator%s",
                         f->label, per, q->weight_bits,
                         q->weight_bits == 8 ? " (4-bit weights may fit)" : "");
    const double headroom = (double)((uint64_t)INT32_MAX - worst);
    for (int o = 0; o < q->out_c; o++) {
        const float *w = f->w + (size_t)o * per;
        int8_t *qw = q->weights + (size_t)o * per;
        double wmax = 0;
        for (size_t k = 0; k < per; k++) {
            if (!isfinite(w[k]))
                return nn_errorf(err, NN_ERR_NUMERIC,
                                 "%s: channel %d: folded weight %zu = %g is not finite", f->label,
                                 o, k, (double)w[k]);
            double a = fabs((double)w[k]);
            wmax = a > wmax ? a : wmax;
        }
        if (!isfinite(f->b[o]))
            return nn_errorf(err, NN_ERR_NUMERIC, "%s: channel %d: folded bias %g is not finite",
                             f->label, o, (double)f->b[o]);
        float s = 0;
        int32_t mult = 0, shift = 0;
        int zero_channel = !(wmax > 0);
        if (!zero_channel) {
            s = qp_round_scale_up((float)qz_weight_scale(w, per, wmax, q->weight_bits));
            if (!(s > 0) || !isfinite(s))
                zero_channel = 1; /* a weight scale below the float range */
            else if (qp_requant(in_s, s, out_s, &mult, &shift) != NN_OK) {
                if ((double)in_s * s / out_s >= 1.0)
                    return nn_errorf(err, NN_ERR_NUMERIC,
                                     "%s: channel %d: requantization multiplier input scale %g * "
                                     "weight scale %g / output scale %g = %g is beyond 2^30: the "
                                     "channel's weights (largest magnitude %g) are too large "
                                     "for its output range",
                                     f->label, o, (double)in_s, (double)s, (double)out_s,
                                     (double)in_s * s / out_s, wmax);
                zero_channel = 1; /* below 2^-32: the weights cannot move the output */
            }
        }
        if (zero_channel) {
            /* (in double first: the ratio of two float scales may not fit a float) */
            const double zs = ldexp((double)out_s / (double)in_s, -10);
            s = zs > 0 && zs <= FLT_MAX ? qp_round_scale_up((float)zs) : 0.0f;
            if (!(s > 0) || !isfinite(s) || qp_requant(in_s, s, out_s, &mult, &shift) != NN_OK)
                return nn_errorf(err, NN_ERR_NUMERIC,
                                 "%s: channel %d: no weight scale gives the multiplier 2^-10 "
                                 "between input scale %g and output scale %g",
                                 f->label, o, (double)in_s, (double)out_s);
            memset(qw, 0, per);
        } else {
            for (size_t k = 0; k < per; k++) {
                double v = round((double)w[k] / (double)s);
                qw[k] = (int8_t)(v < -qmax ? -qmax : v > qmax ? qmax : v);
            }
        }
        double b = round((double)f->b[o] / ((double)in_s * (double)s));
        b = b < -headroom ? -headroom : b > headroom ? headroom : b;
        q->bias[o] = (int32_t)b;
        q->w_scale[o] = s;
        q->mult[o] = mult;
        q->shift[o] = (int8_t)shift;
    }
    return NN_OK;
}

nn_status qz_build(qm_model *q, const qz_net *net, const double *lo, const double *hi,
                   const int *bits, nn_error *err)
{
    memset(q, 0, sizeof *q);
    q->in_c = net->in_c, q->in_h = net->in_h, q->in_w = net->in_w;
    q->num_classes = net->num_classes;
    q->n_ops = net->n_ops;
    for (int c = 0; c < net->in_c; c++)
        if (!(net->std[c] > 0) || !isfinite(net->std[c]) || !isfinite(net->mean[c]))
            return nn_errorf(err, NN_ERR_NUMERIC,
                             "input normalization: channel %d: mean %g, std %g (std must be "
                             "finite and > 0)",
                             c, (double)net->mean[c], (double)net->std[c]);
    q->in = qp_input_qparams(net->in_c, net->mean, net->std);
    for (int i = 0; i < net->n_ops; i++) {
        const qz_fop *f = &net->ops[i];
        qm_op *op = &q->ops[i];
        op->type = f->type;
        op->input = f->input, op->input2 = f->input2;
        op->in_c = f->in_c, op->in_h = f->in_h, op->in_w = f->in_w;
        op->out_c = f->out_c, op->out_h = f->out_h, op->out_w = f->out_w;
        op->kernel = f->kernel, op->stride = f->stride, op->pad = f->pad;
        op->relu = f->relu;
        op->weight_bits = is_weighted(f->type) ? bits[i] : 0;
        if (f->type == QM_MAXPOOL || f->type == QM_AVGPOOL || f->type == QM_GLOBAL_AVGPOOL)
            op->out = f->input == QM_INPUT ? q->in : q->ops[f->input].out;
        else
            op->out = qp_from_range(f->relu ? 0.0 : lo[i], hi[i]);
    }
    nn_status st = qm_model_alloc(q, err);
    if (st != NN_OK)
        return st;
    qp_input_lut(q->input_lut, q->in_c, net->mean, net->std, q->in);
    for (int i = 0; i < net->n_ops && st == NN_OK; i++) {
        qm_op *op = &q->ops[i];
        float in_s = op->input == QM_INPUT ? q->in.scale : q->ops[op->input].out.scale;
        if (is_weighted(op->type)) {
            st = quantize_channels(op, &net->ops[i], in_s, err);
        } else if (op->type == QM_ADD) {
            float s2 = op->input2 == QM_INPUT ? q->in.scale : q->ops[op->input2].out.scale;
            if (qp_add_requant(in_s, s2, op->out.scale, op->add_mult, &op->add_shift) != NN_OK)
                st = nn_errorf(err, NN_ERR_NUMERIC,
                               "%s: operand scales %g and %g do not fit the output scale %g "
                               "(a ratio beyond 2^29)",
                               net->ops[i].label, (double)in_s, (double)s2,
                               (double)op->out.scale);
        }
    }
    if (st == NN_OK)
        st = qm_model_validate(q, err);
    if (st != NN_OK)
        qm_model_free(q);
    return st;
}

nn_status qz_op_bits(int *bits, const qz_net *net, const nn_model *m, const qz_config *cfg,
                     nn_error *err)
{
    int fixed[QM_MAX_OPS];
    return qz_op_bits_fixed(bits, fixed, net, m, cfg, err);
}

nn_status qz_op_bits_fixed(int *bits, int *fixed, const qz_net *net, const nn_model *m,
                           const qz_config *cfg, nn_error *err)
{
    for (int i = 0; i < net->n_ops; i++) {
        bits[i] = is_weighted(net->ops[i].type) ? cfg->weight_bits : 0;
        fixed[i] = 0;
    }
    for (int k = 0; k < cfg->n_overrides; k++) {
        int L = cfg->override_layer[k], b = cfg->override_bits[k];
        if (L < 0 || L >= m->n_nodes)
            return nn_errorf(err, NN_ERR_ARG, "weight bits override: the model has no layer %d", L);
        nn_layer_type t = m->nodes[L].spec.type;
        if (t != NN_LAYER_CONV2D && t != NN_LAYER_DENSE && t != NN_LAYER_DEPTHWISE_CONV2D)
            return nn_errorf(err, NN_ERR_ARG,
                             "weight bits override: layer %d is a %s; only conv2d, dense and "
                             "depthwise_conv2d layers have weights",
                             L, nn_layer_type_name(t));
        if (b != 8 && b != 4)
            return nn_errorf(err, NN_ERR_ARG, "weight bits override of layer %d: %d is not 8 or 4",
                             L, b);
        for (int i = 0; i < net->n_ops; i++)
            if (net->ops[i].src_layer == L && is_weighted(net->ops[i].type))
                bits[i] = b, fixed[i] = 1;
    }
    return NN_OK;
}

nn_status qz_net_dequantize(qz_net *dst, const qz_net *src, const qm_model *q, nn_error *err)
{
    *dst = *src;
    for (int i = 0; i < src->n_ops; i++)
        dst->ops[i].w = dst->ops[i].b = NULL;
    for (int i = 0; i < src->n_ops; i++) {
        qz_fop *f = &dst->ops[i];
        const qm_op *op = &q->ops[i];
        if (!is_weighted(f->type))
            continue;
        f->w = malloc(f->n_weights * sizeof(float));
        f->b = malloc((size_t)f->out_c * sizeof(float));
        if (!f->w || !f->b) {
            qz_net_free(dst);
            return nn_errorf(err, NN_ERR_NOMEM, "out of memory for a dequantized net");
        }
        const float in_s = op->input == QM_INPUT ? q->in.scale : q->ops[op->input].out.scale;
        const size_t per = f->n_weights / (size_t)f->out_c;
        for (int o = 0; o < f->out_c; o++) {
            for (size_t k = 0; k < per; k++)
                f->w[(size_t)o * per + k] =
                    op->w_scale[o] * (float)op->weights[(size_t)o * per + k];
            const double b = (double)op->bias[o] * in_s * op->w_scale[o];
            f->b[o] = (float)(b > FLT_MAX ? FLT_MAX : b < -FLT_MAX ? -FLT_MAX : b);
        }
    }
    return NN_OK;
}
