/* qmodel.c - allocation, validation and accounting of quantized models. */
#include "qmodel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define is_weighted qm_is_weighted

static const char *op_name(qm_op_type t)
{
    switch (t) {
    case QM_CONV2D: return "conv2d";
    case QM_DENSE: return "dense";
    case QM_MAXPOOL: return "maxpool";
    case QM_AVGPOOL: return "avgpool";
    case QM_GLOBAL_AVGPOOL: return "global_avgpool";
    case QM_ADD: return "add";
    case QM_DEPTHWISE: return "depthwise_conv2d";
    }
    return NULL;
}

const char *qm_op_type_name(qm_op_type t) { return op_name(t); }

/* Output shape of the tensor id t (QM_INPUT or an op index). */
static void tensor_shape(const qm_model *m, int t, int *c, int *h, int *w)
{
    if (t == QM_INPUT) {
        *c = m->in_c, *h = m->in_h, *w = m->in_w;
    } else {
        *c = m->ops[t].out_c, *h = m->ops[t].out_h, *w = m->ops[t].out_w;
    }
}

static int dims_ok(int c, int h, int w)
{
    return c > 0 && h > 0 && w > 0 && (int64_t)c * h * w <= (1 << 26);
}

/* Shapes only: what qm_model_alloc needs before arrays exist. */
static nn_status check_shapes(const qm_model *m, nn_error *err)
{
    if (m->in_c < 1 || m->in_c > QM_MAX_CHANNELS_IN || !dims_ok(m->in_c, m->in_h, m->in_w))
        return nn_errorf(err, NN_ERR_FORMAT, "input shape %dx%dx%d is out of range", m->in_c,
                         m->in_h, m->in_w);
    if (m->n_ops < 1 || m->n_ops > QM_MAX_OPS)
        return nn_errorf(err, NN_ERR_FORMAT, "op count %d is not in [1, %d]", m->n_ops, QM_MAX_OPS);
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        const char *name = op_name(op->type);
        if (!name)
            return nn_errorf(err, NN_ERR_FORMAT, "op %d: unknown type code %d", i, (int)op->type);
        if (op->input < QM_INPUT || op->input >= i)
            return nn_errorf(err, NN_ERR_FORMAT, "op %d (%s): input %d is not an earlier tensor", i,
                             name, op->input);
        int c, h, w;
        tensor_shape(m, op->input, &c, &h, &w);
        if (op->in_c != c || op->in_h != h || op->in_w != w)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "op %d (%s): input shape %dx%dx%d does not match tensor %d (%dx%dx%d)",
                             i, name, op->in_c, op->in_h, op->in_w, op->input, c, h, w);
        if (!dims_ok(op->out_c, op->out_h, op->out_w))
            return nn_errorf(err, NN_ERR_FORMAT, "op %d (%s): output shape %dx%dx%d is out of range",
                             i, name, op->out_c, op->out_h, op->out_w);
        if (op->relu < QM_ACT_NONE || op->relu > QM_ACT_RELU6)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "op %d (%s): activation %d is not 0 (none), 1 (relu) or 2 (relu6)", i,
                             name, op->relu);
        /* the pool kernels clamp below only (they keep the input's grid) */
        if (op->relu == QM_ACT_RELU6 && !is_weighted(op->type) && op->type != QM_ADD)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "op %d (%s): relu6 is fused only into conv2d, depthwise_conv2d, "
                             "dense and add",
                             i, name);
        int oh = 0, ow = 0, oc = 0;
        switch (op->type) {
        case QM_CONV2D:
        case QM_DEPTHWISE:
        case QM_MAXPOOL:
        case QM_AVGPOOL:
            if (op->kernel < 1 || op->kernel > 64 || op->stride < 1 || op->stride > 64 ||
                op->pad < 0 || op->pad >= op->kernel ||
                (op->type != QM_CONV2D && op->type != QM_DEPTHWISE && op->pad != 0))
                return nn_errorf(err, NN_ERR_FORMAT,
                                 "op %d (%s): kernel %d, stride %d, pad %d are out of range", i,
                                 name, op->kernel, op->stride, op->pad);
            if (h + 2 * op->pad < op->kernel || w + 2 * op->pad < op->kernel)
                return nn_errorf(err, NN_ERR_FORMAT, "op %d (%s): kernel %d exceeds the input", i,
                                 name, op->kernel);
            oh = (h + 2 * op->pad - op->kernel) / op->stride + 1;
            ow = (w + 2 * op->pad - op->kernel) / op->stride + 1;
            oc = op->type == QM_CONV2D ? op->out_c : c;
            break;
        case QM_DENSE:
            oh = 1, ow = 1, oc = op->out_c;
            break;
        case QM_GLOBAL_AVGPOOL:
            oh = 1, ow = 1, oc = c;
            break;
        case QM_ADD: {
            if (op->input2 < QM_INPUT || op->input2 >= i)
                return nn_errorf(err, NN_ERR_FORMAT, "op %d (add): input2 %d is not an earlier tensor",
                                 i, op->input2);
            int c2, h2, w2;
            tensor_shape(m, op->input2, &c2, &h2, &w2);
            if (c2 != c || h2 != h || w2 != w)
                return nn_errorf(err, NN_ERR_FORMAT,
                                 "op %d (add): operand shapes %dx%dx%d and %dx%dx%d differ", i, c, h,
                                 w, c2, h2, w2);
            oh = h, ow = w, oc = c;
            break;
        }
        }
        if (op->out_c != oc || op->out_h != oh || op->out_w != ow)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "op %d (%s): output shape %dx%dx%d should be %dx%dx%d", i, name,
                             op->out_c, op->out_h, op->out_w, oc, oh, ow);
        if (is_weighted(op->type) && op->weight_bits != 8 && op->weight_bits != 4)
            return nn_errorf(err, NN_ERR_FORMAT, "op %d (%s): weight_bits %d is not 8 or 4", i, name,
                             op->weight_bits);
    }
    const qm_op *last = &m->ops[m->n_ops - 1];
    if (m->num_classes < 1 || (int64_t)last->out_c * last->out_h * last->out_w != m->num_classes)
        return nn_errorf(err, NN_ERR_FORMAT, "the last op yields %d values, not %d classes",
                         last->out_c * last->out_h * last->out_w, m->num_classes);
    return NN_OK;
}

static size_t weight_count(const qm_op *op)
{
    if (op->type == QM_CONV2D)
        return (size_t)op->out_c * op->kernel * op->kernel * op->in_c;
    if (op->type == QM_DEPTHWISE)
        return (size_t)op->out_c * op->kernel * op->kernel;
    return (size_t)op->out_c * op->in_c * op->in_h * op->in_w;
}

/* Byte size of the arrays of one weighted op, each rounded up to 8. */
#define ALIGN8(n) (((n) + 7) & ~(size_t)7)
static size_t op_bytes(const qm_op *op)
{
    size_t oc = (size_t)op->out_c;
    return ALIGN8(weight_count(op)) + ALIGN8(oc * 4) * 3 + ALIGN8(oc);
}

nn_status qm_model_alloc(qm_model *m, nn_error *err)
{
    m->blob = NULL;
    m->input_lut = NULL;
    nn_status st = check_shapes(m, err);
    if (st != NN_OK)
        return st;
    size_t total = ALIGN8((size_t)m->in_c * 256);
    for (int i = 0; i < m->n_ops; i++) /* shapes are bounded: no overflow */
        if (is_weighted(m->ops[i].type))
            total += op_bytes(&m->ops[i]);
    uint8_t *p = calloc(1, total);
    if (!p)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for a %zu-byte quantized model", total);
    m->blob = p;
    m->input_lut = (int8_t *)p;
    p += ALIGN8((size_t)m->in_c * 256);
    for (int i = 0; i < m->n_ops; i++) {
        qm_op *op = &m->ops[i];
        if (!is_weighted(op->type)) {
            op->n_weights = 0;
            op->weights = NULL, op->bias = NULL, op->w_scale = NULL, op->mult = NULL;
            op->shift = NULL;
            continue;
        }
        size_t oc = (size_t)op->out_c;
        op->n_weights = weight_count(op);
        op->weights = (int8_t *)p, p += ALIGN8(op->n_weights);
        op->bias = (int32_t *)p, p += ALIGN8(oc * 4);
        op->w_scale = (float *)p, p += ALIGN8(oc * 4);
        op->mult = (int32_t *)p, p += ALIGN8(oc * 4);
        op->shift = (int8_t *)p, p += ALIGN8(oc);
    }
    return NN_OK;
}

void qm_model_free(qm_model *m)
{
    free(m->blob);
    m->blob = NULL;
    m->input_lut = NULL;
    for (int i = 0; i < m->n_ops && i < QM_MAX_OPS; i++) {
        qm_op *op = &m->ops[i];
        op->weights = NULL, op->bias = NULL, op->w_scale = NULL, op->mult = NULL, op->shift = NULL;
    }
}

static int qparams_ok(qm_qparams q)
{
    return isfinite(q.scale) && q.scale > 0 && q.zero >= -128 && q.zero <= 127;
}

nn_status qm_model_validate(const qm_model *m, nn_error *err)
{
    nn_status st = check_shapes(m, err);
    if (st != NN_OK)
        return st;
    if (!m->input_lut)
        return nn_errorf(err, NN_ERR_FORMAT, "the input table is missing");
    if (!qparams_ok(m->in))
        return nn_errorf(err, NN_ERR_FORMAT, "input quantization (scale %g, zero %d) is invalid",
                         (double)m->in.scale, m->in.zero);
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        const char *name = op_name(op->type);
        if (!qparams_ok(op->out))
            return nn_errorf(err, NN_ERR_FORMAT,
                             "op %d (%s): output quantization (scale %g, zero %d) is invalid", i,
                             name, (double)op->out.scale, op->out.zero);
        if (op->type == QM_ADD && (op->add_mult[0] < 0 || op->add_mult[1] < 0 ||
                                   op->add_shift < 1 || op->add_shift > 62))
            return nn_errorf(err, NN_ERR_FORMAT, "op %d (add): multipliers or shift out of range", i);
        if (!is_weighted(op->type))
            continue;
        if (!op->weights || op->n_weights != weight_count(op))
            return nn_errorf(err, NN_ERR_FORMAT, "op %d (%s): weights missing or miscounted", i, name);
        int wmax = op->weight_bits == 8 ? 127 : 7;
        for (size_t k = 0; k < op->n_weights; k++)
            if (op->weights[k] < -wmax || op->weights[k] > wmax)
                return nn_errorf(err, NN_ERR_FORMAT,
                                 "op %d (%s): weight %zu = %d exceeds %d bits", i, name, k,
                                 op->weights[k], op->weight_bits);
        for (int o = 0; o < op->out_c; o++) {
            if (op->mult[o] < (1 << 30) || op->shift[o] < 1 || op->shift[o] > 62)
                return nn_errorf(err, NN_ERR_FORMAT,
                                 "op %d (%s): channel %d requantization (%d, %d) out of range", i,
                                 name, o, op->mult[o], op->shift[o]);
            if (!isfinite(op->w_scale[o]) || op->w_scale[o] <= 0)
                return nn_errorf(err, NN_ERR_FORMAT, "op %d (%s): channel %d weight scale %g", i,
                                 name, o, (double)op->w_scale[o]);
        }
    }
    return NN_OK;
}

uint64_t qm_op_macs(const qm_op *op)
{
    uint64_t out = (uint64_t)op->out_c * op->out_h * op->out_w;
    switch (op->type) {
    case QM_CONV2D: return out * op->kernel * op->kernel * op->in_c;
    case QM_DENSE: return out * op->in_c * op->in_h * op->in_w;
    case QM_DEPTHWISE: return out * op->kernel * op->kernel;
    default: return 0;
    }
}

uint64_t qm_model_macs(const qm_model *m)
{
    uint64_t s = 0;
    for (int i = 0; i < m->n_ops; i++)
        s += qm_op_macs(&m->ops[i]);
    return s;
}

nn_status qm_quantize_multiplier(double real, int32_t *mult, int32_t *shift)
{
    if (!isfinite(real) || real <= 0 || real >= 2147483648.0)
        return NN_ERR_ARG;
    int e;
    double f = frexp(real, &e); /* real = f * 2^e, f in [0.5, 1) */
    int64_t q = llround(f * 2147483648.0);
    if (q == ((int64_t)1 << 31)) { /* f rounded up to 1.0 */
        q >>= 1;
        e++;
    }
    int s = 31 - e; /* real ~= q * 2^-s */
    if (s > 62) {   /* too small to represent: the output is always 0 */
        return NN_ERR_ARG;
    }
    if (s < 1)
        return NN_ERR_ARG;
    *mult = (int32_t)q;
    *shift = s;
    return NN_OK;
}
