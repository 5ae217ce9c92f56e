/* qz_lower.c - float model -> folded float net (step 1 of quantize.h).
 *
 * One pass over the float layers in order. Each live layer either creates
 * an op or maps to the tensor of an existing one (folding into it, or
 * being an identity). Per float layer we keep:
 *   tens[i]  the tensor holding its output (QM_INPUT or an op index);
 *   flat[i]  1 when that output is the NCHW flatten of tens[i], a tensor
 *            with more than one pixel (only dense layers and element-wise
 *            ops can read such a view);
 * and per op:
 *   sealed   some float layer mapped to the op's tensor has a reader other
 *            than the next layer of its chain: the value is shared, so
 *            nothing may fold into it any more;
 *   nonneg   its values are >= 0 (ReLU fused, or pools/adds of such);
 *   capped   its values are in [0, 6] (ReLU6 fused, or pools of such). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_graph.h"
#include "libnn/nn_values.h"
#include "quantize.h"

typedef struct {
    const nn_model *m;
    qz_net *net;
    int tens[NN_MAX_LAYERS];
    int flat[NN_MAX_LAYERS];
    int sealed[QM_MAX_OPS];
    int nonneg[QM_MAX_OPS];
    int capped[QM_MAX_OPS];
    int detached[QM_MAX_OPS]; /* a batch norm or ReLU folded into it through a
                                 pool: no float layer outputs its value */
    nn_graph graph; /* readers and liveness of the float layers */
    nn_error *err;
} lower_ctx;

/* A model the int8 format cannot express: the model's problem, not the
 * caller's (the CLI exits 1 for it, as for any unusable input file). */
static nn_status layer_fail(const lower_ctx *x, int i, const char *what)
{
    char label[80];
    nn_layer_label(label, sizeof label, x->m, i);
    return nn_errorf(x->err, NN_ERR_FORMAT, "%s: cannot quantize: %s", label, what);
}

static void tensor_shape(const qz_net *net, int t, int *c, int *h, int *w)
{
    if (t == QM_INPUT) {
        *c = net->in_c, *h = net->in_h, *w = net->in_w;
    } else {
        *c = net->ops[t].out_c, *h = net->ops[t].out_h, *w = net->ops[t].out_w;
    }
}

/* A new op reading tensor `in` (shape filled in from it); NULL when full. */
static qz_fop *new_op(lower_ctx *x, int layer, qm_op_type type, int in, int *id)
{
    qz_net *net = x->net;
    if (net->n_ops >= QM_MAX_OPS)
        return NULL;
    *id = net->n_ops++;
    qz_fop *op = &net->ops[*id];
    memset(op, 0, sizeof *op);
    op->type = type;
    op->input = in;
    op->input2 = QM_INPUT;
    op->src_layer = layer;
    op->value_layer = -1;
    nn_layer_label(op->label, sizeof op->label, x->m, layer);
    tensor_shape(net, in, &op->in_c, &op->in_h, &op->in_w);
    op->out_c = op->in_c, op->out_h = op->in_h, op->out_w = op->in_w;
    x->sealed[*id] = 0;
    x->nonneg[*id] = 0;
    x->capped[*id] = 0;
    return op;
}

static int alloc_params(qz_fop *op, size_t n_weights)
{
    op->n_weights = n_weights;
    op->w = calloc(n_weights ? n_weights : 1, sizeof(float));
    op->b = calloc((size_t)op->out_c, sizeof(float));
    return op->w && op->b;
}

/* A 1x1 conv with diagonal weights d (NULL: 1) and bias b (NULL: 0). */
static nn_status diag_conv(lower_ctx *x, int layer, int in, const double *d, const double *b,
                           int relu, int *id)
{
    qz_fop *op = new_op(x, layer, QM_CONV2D, in, id);
    if (!op)
        return layer_fail(x, layer, "more than 256 integer ops");
    op->kernel = 1, op->stride = 1, op->pad = 0, op->relu = relu;
    op->from_bn = d ? 1 : 2;
    int C = op->in_c;
    if (!alloc_params(op, (size_t)C * C))
        return nn_errorf(x->err, NN_ERR_NOMEM, "out of memory lowering layer %d", layer);
    for (int c = 0; c < C; c++) {
        op->w[(size_t)c * C + c] = d ? (float)d[c] : 1.0f;
        op->b[c] = b ? (float)b[c] : 0.0f;
    }
    x->nonneg[*id] = relu != QM_ACT_NONE;
    x->capped[*id] = relu == QM_ACT_RELU6;
    return NN_OK;
}

static nn_status lower_conv(lower_ctx *x, int i, int in)
{
    const nn_node *nd = &x->m->nodes[i];
    const nn_layer_spec *l = &nd->spec;
    const float *w = x->m->params + nd->w.off;
    const float *b = nd->b.n ? x->m->params + nd->b.off : NULL;
    if (l->kernel > 64 || l->stride > 64)
        return layer_fail(x, i, "kernel and stride must be at most 64");
    int id;
    qz_fop *op = new_op(x, i, QM_CONV2D, in, &id);
    if (!op)
        return layer_fail(x, i, "more than 256 integer ops");
    op->kernel = l->kernel, op->stride = l->stride, op->pad = l->pad;
    op->out_c = nd->out_c, op->out_h = nd->out_h, op->out_w = nd->out_w;
    const int C = nd->in_c, k = l->kernel;
    if (!alloc_params(op, (size_t)op->out_c * k * k * C))
        return nn_errorf(x->err, NN_ERR_NOMEM, "out of memory lowering layer %d", i);
    /* (o, c, ky, kx) -> (o, ky, kx, c) */
    for (int o = 0; o < op->out_c; o++) {
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                    op->w[(((size_t)o * k + ky) * k + kx) * C + c] =
                        w[(((size_t)o * C + c) * k + ky) * k + kx];
        op->b[o] = b ? b[o] : 0.0f;
    }
    x->tens[i] = id;
    return NN_OK;
}

/* A depthwise conv: w (c, k, k) in both models, no permutation. */
static nn_status lower_depthwise(lower_ctx *x, int i, int in)
{
    const nn_node *nd = &x->m->nodes[i];
    const nn_layer_spec *l = &nd->spec;
    const float *w = x->m->params + nd->w.off;
    const float *b = nd->b.n ? x->m->params + nd->b.off : NULL;
    if (l->kernel > 64 || l->stride > 64)
        return layer_fail(x, i, "kernel and stride must be at most 64");
    int id;
    qz_fop *op = new_op(x, i, QM_DEPTHWISE, in, &id);
    if (!op)
        return layer_fail(x, i, "more than 256 integer ops");
    op->kernel = l->kernel, op->stride = l->stride, op->pad = l->pad;
    op->out_c = nd->out_c, op->out_h = nd->out_h, op->out_w = nd->out_w;
    if (op->out_c != op->in_c)
        return layer_fail(x, i, "channels do not match its input tensor");
    const size_t k2 = (size_t)l->kernel * l->kernel;
    if (!alloc_params(op, (size_t)op->out_c * k2))
        return nn_errorf(x->err, NN_ERR_NOMEM, "out of memory lowering layer %d", i);
    memcpy(op->w, w, op->n_weights * sizeof(float));
    for (int c = 0; c < op->out_c; c++)
        op->b[c] = b ? b[c] : 0.0f;
    x->tens[i] = id;
    return NN_OK;
}

/* A dense layer reading tensor `in` (C, H, W): the float model reads the
 * NCHW flatten (index c*H*W + y*W + x), the int8 model the HWC memory
 * ((y*W + x)*C + c). The same permutation serves a 1x1 conv on a
 * flattened view, which is a dense layer. */
static nn_status lower_dense(lower_ctx *x, int i, int in)
{
    const nn_node *nd = &x->m->nodes[i];
    const float *w = x->m->params + nd->w.off;
    const float *b = nd->b.n ? x->m->params + nd->b.off : NULL;
    int id;
    qz_fop *op = new_op(x, i, QM_DENSE, in, &id);
    if (!op)
        return layer_fail(x, i, "more than 256 integer ops");
    const int C = op->in_c, H = op->in_h, W = op->in_w;
    const size_t K = (size_t)C * H * W;
    if (K != nd->in_size)
        return layer_fail(x, i, "input size does not match its tensor");
    op->out_c = nd->out_c, op->out_h = 1, op->out_w = 1;
    if (!alloc_params(op, (size_t)op->out_c * K))
        return nn_errorf(x->err, NN_ERR_NOMEM, "out of memory lowering layer %d", i);
    for (int o = 0; o < op->out_c; o++) {
        const float *src = w + (size_t)o * K;
        float *dst = op->w + (size_t)o * K;
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++)
                    dst[((size_t)y * W + xx) * C + c] = src[((size_t)c * H + y) * W + xx];
        op->b[o] = b ? b[o] : 0.0f;
    }
    x->tens[i] = id;
    return NN_OK;
}

#define is_weighted qm_is_weighted

static int fits_float(double v) { return fabs(v) <= FLT_MAX; } /* false for NaN */

/* y = s * x + t per channel folded into op p's weights and bias (s and t
 * fit a float), or NN_ERR_NUMERIC naming batch norm layer i when a folded
 * value does not; p is unchanged then. */
static nn_status fold_affine(lower_ctx *x, int i, qz_fop *p, const double *s, const double *t)
{
    size_t per = p->n_weights / (size_t)p->out_c;
    char label[80];
    for (int o = 0; o < p->out_c; o++) {
        const double so = s[o];
        for (size_t k = 0; k < per; k++) {
            double v = (double)p->w[(size_t)o * per + k] * so;
            if (!fits_float(v)) {
                nn_layer_label(label, sizeof label, x->m, i);
                return nn_errorf(x->err, NN_ERR_NUMERIC,
                                 "%s: folding into %s: channel %d: weight %g * scale %g = %g is "
                                 "beyond the float range",
                                 label, p->label, o, (double)p->w[(size_t)o * per + k], so, v);
            }
        }
        double b = (double)p->b[o] * s[o] + t[o];
        if (!fits_float(b)) {
            nn_layer_label(label, sizeof label, x->m, i);
            return nn_errorf(x->err, NN_ERR_NUMERIC,
                             "%s: folding into %s: channel %d: bias %g * %g + %g = %g is beyond "
                             "the float range",
                             label, p->label, o, (double)p->b[o], s[o], t[o], b);
        }
    }
    /* Each folded value rounded once, from double: a scale below the float
     * range (1e-50 on weights of 1e38) still folds. */
    for (int o = 0; o < p->out_c; o++) {
        for (size_t k = 0; k < per; k++)
            p->w[(size_t)o * per + k] = (float)((double)p->w[(size_t)o * per + k] * s[o]);
        p->b[o] = (float)((double)p->b[o] * s[o] + t[o]);
    }
    return NN_OK;
}

static nn_status lower_batchnorm(lower_ctx *x, int i, int in)
{
    const nn_node *nd = &x->m->nodes[i];
    const nn_layer_spec *l = &nd->spec;
    const int C = nd->out_c;
    const float *gamma = x->m->params + nd->w.off, *beta = x->m->params + nd->b.off;
    const float *mean = x->m->state + nd->stat.off, *var = mean + C;
    double *s = malloc((size_t)C * sizeof *s), *t = malloc((size_t)C * sizeof *t);
    if (!s || !t) {
        free(s), free(t);
        return nn_errorf(x->err, NN_ERR_NOMEM, "out of memory lowering layer %d", i);
    }
    int all_nonneg = 1;
    for (int c = 0; c < C; c++) {
        double invstd = 1.0 / sqrt((double)var[c] + (double)l->eps);
        s[c] = (double)gamma[c] * invstd;
        t[c] = (double)beta[c] - (double)mean[c] * s[c];
        all_nonneg &= s[c] >= 0;
        if (!fits_float(s[c]) || !fits_float(t[c])) { /* var < 0 or NaN too: sqrt gives NaN */
            char label[80];
            nn_layer_label(label, sizeof label, x->m, i);
            nn_status st = nn_errorf(
                x->err, NN_ERR_NUMERIC,
                "%s: channel %d: cannot fold: scale gamma / sqrt(running_var + eps) = %g (gamma "
                "%g, running_var %g, eps %g) and shift beta - running_mean * scale = %g must "
                "both lie in the float range",
                label, c, s[c], (double)gamma[c], (double)var[c], (double)l->eps, t[c]);
            free(s), free(t);
            return st;
        }
    }
    /* Where to fold: the producer itself, or the conv/dense behind a pool. */
    qz_fop *target = NULL;
    if (in >= 0 && !x->sealed[in]) {
        qz_fop *p = &x->net->ops[in];
        if (is_weighted(p->type) && !p->relu) {
            target = p;
        } else if ((p->type == QM_MAXPOOL && all_nonneg) || p->type == QM_AVGPOOL ||
                   p->type == QM_GLOBAL_AVGPOOL) {
            int src = p->input;
            if (src >= 0 && !x->sealed[src] && is_weighted(x->net->ops[src].type) &&
                !x->net->ops[src].relu)
                target = &x->net->ops[src];
        }
    }
    nn_status st = NN_OK;
    if (target) {
        st = fold_affine(x, i, target, s, t);
        if (target != &x->net->ops[in])
            x->detached[target - x->net->ops] = 1;
        x->tens[i] = in;
    } else {
        int id;
        st = diag_conv(x, i, in, s, t, 0, &id);
        x->tens[i] = id;
    }
    free(s), free(t);
    return st;
}

static nn_status lower_relu(lower_ctx *x, int i, int in)
{
    if (in >= 0 && x->nonneg[in]) { /* already >= 0: ReLU is the identity */
        x->tens[i] = in;
        return NN_OK;
    }
    if (in >= 0 && !x->sealed[in]) {
        qz_fop *p = &x->net->ops[in];
        if (is_weighted(p->type) || p->type == QM_ADD) {
            p->relu = 1;
            x->nonneg[in] = 1;
            x->tens[i] = in;
            return NN_OK;
        }
        int src = p->input;
        if (p->type == QM_MAXPOOL && src >= 0 && !x->sealed[src] &&
            (is_weighted(x->net->ops[src].type) || x->net->ops[src].type == QM_ADD)) {
            x->net->ops[src].relu = 1; /* relu(max(v)) = max(relu(v)) */
            x->nonneg[src] = 1;
            x->detached[src] = 1;
            x->nonneg[in] = 1;
            x->tens[i] = in;
            return NN_OK;
        }
    }
    int id;
    nn_status st = diag_conv(x, i, in, NULL, NULL, 1, &id);
    x->tens[i] = id;
    return st;
}

/* ReLU6: the identity on values already in [0, 6], else fused into the
 * producer's clamp as ReLU is (a ReLU there becomes a ReLU6), else a 1x1
 * identity conv with the clamp. */
static nn_status lower_relu6(lower_ctx *x, int i, int in)
{
    if (in >= 0 && x->capped[in]) {
        x->tens[i] = in;
        return NN_OK;
    }
    if (in >= 0 && !x->sealed[in]) {
        qz_fop *p = &x->net->ops[in];
        if (is_weighted(p->type) || p->type == QM_ADD) {
            p->relu = QM_ACT_RELU6;
            x->nonneg[in] = x->capped[in] = 1;
            x->tens[i] = in;
            return NN_OK;
        }
        int src = p->input;
        if (p->type == QM_MAXPOOL && src >= 0 && !x->sealed[src] &&
            (is_weighted(x->net->ops[src].type) || x->net->ops[src].type == QM_ADD)) {
            x->net->ops[src].relu = QM_ACT_RELU6; /* min(max(v), 6) = max(min(v, 6)) */
            x->nonneg[src] = x->capped[src] = 1;
            x->detached[src] = 1;
            x->nonneg[in] = x->capped[in] = 1;
            x->tens[i] = in;
            return NN_OK;
        }
    }
    int id;
    nn_status st = diag_conv(x, i, in, NULL, NULL, QM_ACT_RELU6, &id);
    x->tens[i] = id;
    return st;
}

static nn_status lower_pool(lower_ctx *x, int i, int in)
{
    const nn_node *nd = &x->m->nodes[i];
    const nn_layer_spec *l = &nd->spec;
    qm_op_type t = l->type == NN_LAYER_MAXPOOL   ? QM_MAXPOOL
                   : l->type == NN_LAYER_AVGPOOL ? QM_AVGPOOL
                                                 : QM_GLOBAL_AVGPOOL;
    if (t != QM_GLOBAL_AVGPOOL && (l->kernel > 64 || l->stride > 64))
        return layer_fail(x, i, "window and stride must be at most 64");
    int id;
    qz_fop *op = new_op(x, i, t, in, &id);
    if (!op)
        return layer_fail(x, i, "more than 256 integer ops");
    if (t != QM_GLOBAL_AVGPOOL)
        op->kernel = l->kernel, op->stride = l->stride;
    op->out_c = nd->out_c, op->out_h = nd->out_h, op->out_w = nd->out_w;
    x->nonneg[id] = in >= 0 && x->nonneg[in];
    x->capped[id] = in >= 0 && x->capped[in];
    x->tens[i] = id;
    return NN_OK;
}

static nn_status lower_add(lower_ctx *x, int i, int in, int in2)
{
    int id;
    qz_fop *op = new_op(x, i, QM_ADD, in, &id);
    if (!op)
        return layer_fail(x, i, "more than 256 integer ops");
    op->input2 = in2;
    x->nonneg[id] = in >= 0 && in2 >= 0 && x->nonneg[in] && x->nonneg[in2];
    x->tens[i] = id;
    return NN_OK;
}

nn_status qz_act_grids(nn_act_grid *grid, float *input_values, const nn_model *m,
                       const qm_model *q, nn_error *err)
{
    qz_net net;
    nn_status st = qz_lower(&net, m, err);
    if (st != NN_OK)
        return st;
    for (int k = 0; k < q->in_c * 256; k++)
        input_values[k] = q->in.scale * (float)(q->input_lut[k] - q->in.zero);
    memset(grid, 0, (size_t)m->n_nodes * sizeof *grid);
    for (int k = 0; k + 1 < net.n_ops; k++) {
        int L = net.ops[k].value_layer;
        if (L < 0)
            continue;
        const qm_op *op = &q->ops[k];
        grid[L] = (nn_act_grid){op->out.scale, op->out.zero, qm_op_lo(op), qm_op_hi(op)};
    }
    qz_net_free(&net);
    return NN_OK;
}

/* Float offsets of every tensor and the scratch size. */
static void plan_buffers(qz_net *net)
{
    size_t off = (size_t)net->in_c * net->in_h * net->in_w;
    net->tensor_off[0] = 0;
    net->col_floats = 0;
    for (int i = 0; i < net->n_ops; i++) {
        const qz_fop *op = &net->ops[i];
        net->tensor_off[i + 1] = off;
        off += (size_t)op->out_c * op->out_h * op->out_w;
        size_t col = qz_col_floats(op);
        if (col > net->col_floats)
            net->col_floats = col;
    }
    net->tensor_floats = off;
}

nn_status qz_lower(qz_net *net, const nn_model *m, nn_error *err)
{
    memset(net, 0, sizeof *net);
    lower_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory lowering the model");
    x->m = m, x->net = net, x->err = err;
    const nn_model_spec *s = &m->spec;
    net->in_c = s->in_c, net->in_h = s->in_h, net->in_w = s->in_w;
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        net->mean[c] = m->mean[c], net->std[c] = m->std[c];

    const int n = m->n_nodes;
    nn_graph_analyze(&x->graph, m);
    const int *consumers = x->graph.readers, *live = x->graph.live;

    nn_status st = NN_OK;
    for (int i = 0; i < n && st == NN_OK; i++) {
        if (!live[i])
            continue;
        const nn_layer_spec *l = &m->nodes[i].spec;
        int in = l->input >= 0 ? x->tens[l->input] : QM_INPUT;
        int fl = l->input >= 0 ? x->flat[l->input] : 0;
        x->flat[i] = 0;
        switch (l->type) {
        case NN_LAYER_CONV2D:
            if (fl && (l->kernel != 1 || l->pad != 0))
                st = layer_fail(x, i, "a conv after flatten needs kernel 1 and no padding");
            else
                st = fl ? lower_dense(x, i, in) : lower_conv(x, i, in);
            break;
        case NN_LAYER_DENSE: st = lower_dense(x, i, in); break;
        case NN_LAYER_BATCHNORM:
            if (fl)
                st = layer_fail(x, i, "batch norm after flatten is not supported");
            else
                st = lower_batchnorm(x, i, in);
            break;
        case NN_LAYER_RELU:
            st = lower_relu(x, i, in);
            x->flat[i] = fl; /* element-wise: commutes with flatten */
            break;
        case NN_LAYER_MAXPOOL:
        case NN_LAYER_AVGPOOL:
        case NN_LAYER_GLOBAL_AVGPOOL:
            if (fl)
                st = layer_fail(x, i, "pooling after flatten is not supported");
            else
                st = lower_pool(x, i, in);
            break;
        case NN_LAYER_DROPOUT:
            x->tens[i] = in;
            x->flat[i] = fl;
            break;
        case NN_LAYER_FLATTEN: {
            int c, h, w;
            tensor_shape(net, in, &c, &h, &w);
            x->tens[i] = in;
            x->flat[i] = h * w > 1;
            break;
        }
        case NN_LAYER_ADD: {
            int in2 = l->input2 >= 0 ? x->tens[l->input2] : QM_INPUT;
            int fl2 = l->input2 >= 0 ? x->flat[l->input2] : 0;
            if (fl != fl2)
                st = layer_fail(x, i, "adds a flattened tensor to an unflattened one");
            else
                st = lower_add(x, i, in, in2);
            x->flat[i] = fl;
            break;
        }
        case NN_LAYER_DEPTHWISE_CONV2D:
            if (fl)
                st = layer_fail(x, i, "a depthwise conv after flatten is not supported");
            else
                st = lower_depthwise(x, i, in);
            break;
        case NN_LAYER_RELU6:
            st = lower_relu6(x, i, in);
            x->flat[i] = fl; /* element-wise: commutes with flatten */
            break;
        default: st = layer_fail(x, i, "unknown layer type");
        }
        if (st == NN_OK && x->tens[i] >= 0 && consumers[i] != 1)
            x->sealed[x->tens[i]] = 1;
        if (st == NN_OK && x->tens[i] >= 0 && l->type != NN_LAYER_DROPOUT &&
            l->type != NN_LAYER_FLATTEN)
            net->ops[x->tens[i]].value_layer = i;
    }
    for (int k = 0; k < net->n_ops && st == NN_OK; k++)
        if (x->detached[k])
            net->ops[k].value_layer = -1;
    if (st == NN_OK) {
        int last = x->tens[n - 1];
        if (last == QM_INPUT || last != net->n_ops - 1 || x->flat[n - 1])
            st = layer_fail(x, n - 1,
                            last == QM_INPUT ? "the network computes nothing"
                                             : "the output is not the last op");
    }
    if (st == NN_OK) {
        const qz_fop *lo = &net->ops[net->n_ops - 1];
        net->num_classes = lo->out_c * lo->out_h * lo->out_w;
        plan_buffers(net);
    }
    free(x);
    if (st != NN_OK)
        qz_net_free(net);
    return st;
}

void qz_net_free(qz_net *net)
{
    for (int i = 0; i < net->n_ops && i < QM_MAX_OPS; i++) {
        free(net->ops[i].w);
        free(net->ops[i].b);
        net->ops[i].w = net->ops[i].b = NULL;
    }
    net->n_ops = 0;
}
