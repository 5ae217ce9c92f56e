/* fz_gen.c - see fz_gen.h. */
#include "fz_gen.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/qparams.h"
#include "fz_qcheck.h"

/* ---- quantized models ------------------------------------------------------ */

static void tensor_shape(const qm_model *m, int t, int *c, int *h, int *w)
{
    if (t == QM_INPUT)
        *c = m->in_c, *h = m->in_h, *w = m->in_w;
    else
        *c = m->ops[t].out_c, *h = m->ops[t].out_h, *w = m->ops[t].out_w;
}

static qm_qparams tensor_q(const qm_model *m, int t)
{
    return t == QM_INPUT ? m->in : m->ops[t].out;
}

/* Channel counts around the kernels' block sizes (4, 16, 32, 64). */
static int pick_channels(fz_data *d)
{
    static const int C[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70};
    return C[fz_u8(d) % (sizeof C / sizeof C[0])];
}

/* out_c, reduced so that out_c * K stays within wleft. */
static int cap_channels(int out_c, int64_t K, int64_t wleft)
{
    int64_t most = wleft / K;
    return most < 1 ? 1 : out_c > most ? (int)most : out_c;
}

/* A positive finite scale: tiny, huge, subnormal or ordinary; bfloat16-
 * exact (what the quantizer writes) unless asked otherwise. */
static float pick_scale(fz_data *d)
{
    static const float S[] = {0.02f,  0.05f,   1.0f / 255, 0.5f,    1.0f,    3.7f,
                              1e-3f,  1e3f,    1e-8f,      1e8f,    1e-30f,  1e30f,
                              FLT_MIN, FLT_MAX, 1e-40f,    0.1234567f};
    uint8_t v = fz_u8(d);
    float s;
    if (v < 192) {
        s = S[v % (sizeof S / sizeof S[0])];
    } else { /* any positive finite float */
        uint32_t bits = fz_u32(d) & 0x7fffffffu;
        memcpy(&s, &bits, 4);
        if (!isfinite(s) || s <= 0)
            s = 0.25f;
    }
    if (fz_chance(d, 128)) {
        uint32_t bits;
        memcpy(&bits, &s, 4);
        if ((bits & 0xffff0000u) != 0 && (bits & 0x7f800000u) != 0x7f800000u)
            bits &= 0xffff0000u;
        memcpy(&s, &bits, 4);
    }
    return s;
}

static int32_t pick_zero(fz_data *d)
{
    uint8_t v = fz_u8(d);
    switch (v % 8) {
    case 0: return -128;
    case 1: return 127;
    case 2: return 0;
    default: return (int32_t)fz_u8(d) - 128;
    }
}

static void pick_requant(fz_data *d, int32_t *mult, int8_t *shift)
{
    static const int SH[] = {1, 2, 15, 30, 31, 32, 33, 40, 47, 61, 62};
    uint8_t v = fz_u8(d);
    if (v % 4 == 0)
        *mult = 1 << 30;
    else if (v % 4 == 1)
        *mult = INT32_MAX;
    else
        *mult = (int32_t)((1u << 30) | (fz_u32(d) & ((1u << 30) - 1)));
    *shift = (int8_t)(fz_chance(d, 160) ? SH[fz_u8(d) % (sizeof SH / sizeof SH[0])]
                                        : fz_range(d, 1, 62));
}

static void pick_name(fz_data *d, char *out, int max_len, int meta_key)
{
    static const char NAME[] = "abcXYZ019_.-";
    static const char KEY[] = "abcxyz019_";
    const char *set = meta_key ? KEY : NAME;
    size_t ns = strlen(set);
    int n = (int)fz_range(d, meta_key ? 1 : 0, max_len);
    for (int i = 0; i < n; i++)
        out[i] = set[fz_u8(d) % ns];
    out[n] = '\0';
}

/* Shape of a new op of kind `kind` reading tensor `in`, or 0 when it does
 * not fit (the caller falls back to a global average pool); conv2d and
 * dense get fewer channels when their weights would exceed wleft. */
static int plan_op(qm_model *m, qm_op *op, int kind, int in, fz_data *d, int i, int64_t wleft)
{
    int c, h, w;
    tensor_shape(m, in, &c, &h, &w);
    memset(op, 0, sizeof *op);
    op->input = in, op->input2 = QM_INPUT;
    op->in_c = c, op->in_h = h, op->in_w = w;
    switch (kind) {
    case 0:
    case 1: { /* conv2d (twice as likely) */
        int k = (int)fz_range(d, 1, 5), pad = (int)fz_range(d, 0, k - 1);
        int stride = fz_chance(d, 170) ? 1 : (int)fz_range(d, 2, 3);
        if (h + 2 * pad < k || w + 2 * pad < k)
            return 0;
        op->type = QM_CONV2D, op->kernel = k, op->pad = pad, op->stride = stride;
        op->out_c = cap_channels(pick_channels(d), (int64_t)k * k * c, wleft);
        op->out_h = (h + 2 * pad - k) / stride + 1, op->out_w = (w + 2 * pad - k) / stride + 1;
        break;
    }
    case 2:
        op->type = QM_DENSE, op->out_c = cap_channels(pick_channels(d), (int64_t)c * h * w, wleft);
        op->out_h = op->out_w = 1;
        break;
    case 3:
    case 4: {
        int k = (int)fz_range(d, 1, 4), stride = (int)fz_range(d, 1, 3);
        if (h < k || w < k)
            return 0;
        op->type = kind == 3 ? QM_MAXPOOL : QM_AVGPOOL, op->kernel = k, op->stride = stride;
        op->out_c = c, op->out_h = (h - k) / stride + 1, op->out_w = (w - k) / stride + 1;
        break;
    }
    case 5: { /* add: a second operand of the same shape, possibly itself */
        int cand[FZG_MAX_OPS + 1], nc = 0;
        for (int t = QM_INPUT; t < i; t++) {
            int c2, h2, w2;
            tensor_shape(m, t, &c2, &h2, &w2);
            if (c2 == c && h2 == h && w2 == w)
                cand[nc++] = t;
        }
        op->type = QM_ADD, op->input2 = cand[fz_u8(d) % nc];
        op->out_c = c, op->out_h = h, op->out_w = w;
        break;
    }
    case 7: { /* depthwise: any window, padding and stride */
        int k = (int)fz_range(d, 1, 5), pad = (int)fz_range(d, 0, k - 1);
        int stride = fz_chance(d, 170) ? 1 : 2;
        if (h + 2 * pad < k || w + 2 * pad < k || (int64_t)k * k * c > wleft)
            return 0;
        op->type = QM_DEPTHWISE, op->kernel = k, op->pad = pad, op->stride = stride;
        op->out_c = c;
        op->out_h = (h + 2 * pad - k) / stride + 1, op->out_w = (w + 2 * pad - k) / stride + 1;
        break;
    }
    default:
        op->type = QM_GLOBAL_AVGPOOL, op->out_c = c, op->out_h = op->out_w = 1;
        break;
    }
    return 1;
}

static void fill_weights(qm_op *op, fz_data *d)
{
    const int wmax = op->weight_bits == 8 ? 127 : 7;
    const int mode = fz_u8(d) % 6;
    const int density = fz_u8(d); /* sparse: non-zero share, /256 */
    for (size_t k = 0; k < op->n_weights; k++) {
        int v;
        switch (mode) {
        case 0: v = (int)fz_range(d, -wmax, wmax); break;
        case 1: v = fz_u8(d) & 1 ? wmax : -wmax; break;
        case 2: v = fz_u8(d) < density ? (int)fz_range(d, -wmax, wmax) : 0; break;
        case 3: v = 0; break;
        case 4: v = (int8_t)fz_u8(d); break; /* raw bytes, clipped */
        default: v = (int)(k % 3) - 1; break;
        }
        op->weights[k] = (int8_t)(v > wmax ? wmax : v < -wmax ? -wmax : v);
    }
}

static void fill_channels(qm_model *m, qm_op *op, fz_data *d)
{
    const size_t K = op->n_weights / (size_t)op->out_c;
    const float in_s = tensor_q(m, op->input).scale;
    const int derived = fz_chance(d, 96); /* multipliers from the scales */
    const int bias_mode = fz_u8(d) % 4;
    for (int o = 0; o < op->out_c; o++) {
        uint64_t s = 0;
        for (size_t k = 0; k < K; k++)
            s += (uint64_t)abs(op->weights[(size_t)o * K + k]);
        int64_t lim = (int64_t)INT32_MAX - 255 * (int64_t)s; /* >= 0 for these shapes */
        int64_t b;
        switch (bias_mode) {
        case 0: b = (int64_t)fz_range(d, -20000, 20000); break;
        case 1: b = fz_u8(d) & 1 ? lim : -lim; break;
        case 2: b = 0; break;
        default: b = (int64_t)(int32_t)fz_u32(d); break;
        }
        op->bias[o] = (int32_t)(b > lim ? lim : b < -lim ? -lim : b);
        op->w_scale[o] = pick_scale(d);
        int32_t mu, sh;
        if (derived && qp_requant(in_s, op->w_scale[o], op->out.scale, &mu, &sh) == NN_OK) {
            op->mult[o] = mu, op->shift[o] = (int8_t)sh;
        } else {
            pick_requant(d, &op->mult[o], &op->shift[o]);
        }
    }
}

static void fill_add(qm_op *op, fz_data *d)
{
    static const int32_t AM[] = {0, 1, 1 << 29, 1 << 30, INT32_MAX, 123456789};
    for (int k = 0; k < 2; k++)
        op->add_mult[k] = fz_chance(d, 128) ? AM[fz_u8(d) % 6] : (int32_t)(fz_u32(d) >> 1);
    op->add_shift = fz_chance(d, 128) ? (int32_t)fz_range(d, 29, 33) : (int32_t)fz_range(d, 1, 62);
}

void fzg_qmodel(iotc_model *f, fz_data *d)
{
    iotc_init(f);
    qm_model *m = &f->m;
    m->in_c = (int)fz_range(d, 1, QM_MAX_CHANNELS_IN);
    m->in_h = (int)fz_range(d, 1, 12);
    m->in_w = (int)fz_range(d, 1, 12);
    m->in.scale = pick_scale(d);
    m->in.zero = pick_zero(d);
    const int n_ops = (int)fz_range(d, 1, FZG_MAX_OPS);
    int64_t wleft = FZG_MAX_WEIGHTS;
    for (int i = 0; i < n_ops; i++) {
        qm_op *op = &m->ops[i];
        int in = i == 0 || fz_chance(d, 200) ? i - 1 : (int)fz_range(d, QM_INPUT, i - 1);
        int kind = fz_u8(d) % 8;
        m->n_ops = i + 1;
        if (!plan_op(m, op, kind, in, d, i, wleft) || fzq_cost(m) > FZG_COST_BUDGET)
            plan_op(m, op, 6, in, d, i, wleft); /* global average pool: fits, cheap */
        if (op->type == QM_CONV2D)
            wleft -= (int64_t)op->out_c * op->kernel * op->kernel * op->in_c;
        else if (op->type == QM_DENSE)
            wleft -= (int64_t)op->out_c * op->in_c * op->in_h * op->in_w;
        else if (op->type == QM_DEPTHWISE)
            wleft -= (int64_t)op->out_c * op->kernel * op->kernel;
        const int act = fz_u8(d); /* none, relu, relu6 (not on pools) */
        const int pool = op->type == QM_MAXPOOL || op->type == QM_AVGPOOL ||
                         op->type == QM_GLOBAL_AVGPOOL;
        op->relu = act & 1 ? (act & 2 && !pool ? QM_ACT_RELU6 : QM_ACT_RELU) : QM_ACT_NONE;
        op->weight_bits = fz_chance(d, 96) ? 4 : 8;
        if (op->type == QM_MAXPOOL || op->type == QM_AVGPOOL || op->type == QM_GLOBAL_AVGPOOL)
            op->out = tensor_q(m, in);
        else
            op->out = (qm_qparams){pick_scale(d), pick_zero(d)};
        f->src_layer[i] = (int)fz_range(d, -1, NN_MAX_LAYERS - 1);
        pick_name(d, f->name[i], 6, 0);
    }
    const qm_op *last = &m->ops[m->n_ops - 1];
    m->num_classes = last->out_c * last->out_h * last->out_w;
    nn_error err;
    if (qm_model_alloc(m, &err) != NN_OK)
        fz_fail("generator: %s", err.msg);

    for (int c = 0; c < m->in_c; c++) {
        f->mean[c] = (float)fz_range(d, -1000, 1000) / 256.0f;
        f->std[c] = (float)fz_range(d, 1, 2000) / 256.0f;
    }
    if (fz_chance(d, 128)) {
        qp_input_lut(m->input_lut, m->in_c, f->mean, f->std, m->in);
    } else {
        for (int k = 0; k < m->in_c * 256; k++)
            m->input_lut[k] = (int8_t)fz_u8(d);
    }
    for (int i = 0; i < m->n_ops; i++) {
        qm_op *op = &m->ops[i];
        if (op->type == QM_ADD)
            fill_add(op, d);
        if (!qm_is_weighted(op->type))
            continue;
        fill_weights(op, d);
        fill_channels(m, op, d);
    }
    int n_meta = (int)fz_range(d, 0, 3);
    for (int k = 0; k < n_meta; k++) {
        char key[IOTC_NAME_MAX], value[16];
        pick_name(d, key, 8, 1);
        pick_name(d, value, 15, 0);
        iotc_set_meta(f, key, value, &err); /* a duplicate key replaces: fine */
    }
    if (qm_model_validate(m, &err) != NN_OK || iotc_check_accumulators(m, &err) != NN_OK)
        fz_fail("generator made an invalid model: %s", err.msg);
}

uint8_t *fzg_pixels(fz_data *d, int n, int c, int h, int w)
{
    size_t len = (size_t)n * c * h * w;
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        fz_fail("out of memory");
    int mode = fz_u8(d) % 4;
    for (size_t k = 0; k < len; k++)
        p[k] = mode == 0 ? 0 : mode == 1 ? 255 : mode == 2 ? (k & 1 ? 255 : 0) : fz_u8(d);
    return p;
}

/* ---- float specs ------------------------------------------------------------ */

typedef struct {
    int c, h, w;
} shape3;

static nn_layer_spec layer(nn_layer_type t, int input)
{
    nn_layer_spec l;
    nn_layer_spec_defaults(&l, t);
    l.input = input;
    return l;
}

void fzg_float_spec(nn_model_spec *s, fz_data *d)
{
    memset(s, 0, sizeof *s);
    s->in_c = (int)fz_range(d, 1, 3);
    s->in_h = (int)fz_range(d, 1, 10);
    s->in_w = (int)fz_range(d, 1, 10);
    shape3 sh[NN_MAX_LAYERS + 1]; /* [i + 1] = output of layer i, [0] the input */
    sh[0] = (shape3){s->in_c, s->in_h, s->in_w};
    const int want = (int)fz_range(d, 1, 14);
    int64_t wleft = FZG_MAX_WEIGHTS;
    int n = 0;
    for (int i = 0; i < want; i++) {
        int in = n == 0 || fz_chance(d, 210) ? n - 1 : (int)fz_range(d, -1, n - 1);
        shape3 x = sh[in + 1], y = x;
        nn_layer_spec l;
        switch (fz_u8(d) % 10) {
        case 0:
        case 1: {
            l = layer(NN_LAYER_CONV2D, in);
            l.kernel = (int)fz_range(d, 1, 3), l.pad = (int)fz_range(d, 0, l.kernel - 1);
            l.stride = fz_chance(d, 200) ? 1 : 2;
            l.out_channels = cap_channels((int)fz_range(d, 1, 12),
                                          (int64_t)l.kernel * l.kernel * x.c, wleft);
            const int b = fz_u8(d);
            l.bias = b & 1;
            if (b & 2) { /* depthwise: as many filters as channels */
                l.type = NN_LAYER_DEPTHWISE_CONV2D;
                l.out_channels = x.c;
                if ((int64_t)l.kernel * l.kernel * x.c > wleft)
                    continue;
            }
            if (x.h + 2 * l.pad < l.kernel || x.w + 2 * l.pad < l.kernel)
                continue;
            y = (shape3){l.out_channels, (x.h + 2 * l.pad - l.kernel) / l.stride + 1,
                         (x.w + 2 * l.pad - l.kernel) / l.stride + 1};
            break;
        }
        case 2: {
            static const float EPS[] = {1e-5f, 1e-3f, 1.0f, 1e-30f};
            l = layer(NN_LAYER_BATCHNORM, in);
            l.eps = EPS[fz_u8(d) % 4];
            break;
        }
        case 3:
            l = layer(fz_u8(d) & 1 ? NN_LAYER_RELU6 : NN_LAYER_RELU, in);
            break;
        case 4:
        case 5:
            l = layer(fz_u8(d) & 1 ? NN_LAYER_MAXPOOL : NN_LAYER_AVGPOOL, in);
            l.kernel = (int)fz_range(d, 1, 3), l.stride = (int)fz_range(d, 1, 2);
            if (x.h < l.kernel || x.w < l.kernel)
                continue;
            y = (shape3){x.c, (x.h - l.kernel) / l.stride + 1, (x.w - l.kernel) / l.stride + 1};
            break;
        case 6:
            l = layer(NN_LAYER_DENSE, in);
            l.units = cap_channels((int)fz_range(d, 1, 24), (int64_t)x.c * x.h * x.w, wleft);
            l.bias = fz_u8(d) & 1;
            y = (shape3){l.units, 1, 1};
            break;
        case 7:
            l = layer(fz_u8(d) & 1 ? NN_LAYER_DROPOUT : NN_LAYER_FLATTEN, in);
            l.rate = (float)fz_range(d, 0, 9) / 10.0f;
            if (l.type == NN_LAYER_FLATTEN)
                y = (shape3){x.c * x.h * x.w, 1, 1};
            break;
        case 8:
            l = layer(NN_LAYER_GLOBAL_AVGPOOL, in);
            y = (shape3){x.c, 1, 1};
            break;
        default: { /* add with an earlier tensor of the same shape */
            int cand[NN_MAX_LAYERS + 1], nc = 0;
            for (int t = -1; t < n; t++)
                if (sh[t + 1].c == x.c && sh[t + 1].h == x.h && sh[t + 1].w == x.w)
                    cand[nc++] = t;
            l = layer(NN_LAYER_ADD, in);
            l.input2 = cand[fz_u8(d) % nc];
            break;
        }
        }
        if (l.type == NN_LAYER_CONV2D)
            wleft -= (int64_t)l.out_channels * l.kernel * l.kernel * x.c;
        else if (l.type == NN_LAYER_DEPTHWISE_CONV2D)
            wleft -= (int64_t)l.kernel * l.kernel * x.c;
        else if (l.type == NN_LAYER_DENSE)
            wleft -= (int64_t)l.units * x.c * x.h * x.w;
        s->layers[n++] = l;
        sh[n] = y;
    }
    shape3 last = sh[n];
    if (n == 0 || (int64_t)last.c * last.h * last.w > 16) {
        s->layers[n] = layer(NN_LAYER_DENSE, n - 1);
        s->layers[n].units =
            cap_channels((int)fz_range(d, 1, 10), (int64_t)last.c * last.h * last.w, wleft);
        last = (shape3){s->layers[n].units, 1, 1};
        n++;
    }
    s->n_layers = n;
    s->num_classes = last.c * last.h * last.w;
}

static float pick_extreme(fz_data *d)
{
    static const float X[] = {3e38f, -3e38f, 1e30f, -1e30f, 1e-40f, -1e-40f, FLT_MIN, 0.0f};
    return X[fz_u8(d) % 8];
}

void fzg_float_params(nn_model *m, fz_data *d)
{
    static const float SCALE[] = {1.0f, 0.1f, 4.0f, 1e-3f, 0.0f};
    nn_model_init_params(m, fz_u8(d) & 1 ? NN_INIT_GLOROT : NN_INIT_HE, fz_u32(d));
    const int extremes = fz_chance(d, 64);
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++) {
        m->mean[c] = (float)fz_range(d, -64, 64) / 64.0f;
        m->std[c] = (float)fz_range(d, 1, 1000) / 256.0f;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        float *w = m->params + nd->w.off, *b = m->params + nd->b.off;
        if (nd->spec.type == NN_LAYER_BATCHNORM) {
            float *mean = m->state + nd->stat.off, *var = mean + nd->out_c;
            for (int c = 0; c < nd->out_c; c++) {
                w[c] = (float)fz_range(d, -40, 40) / 16.0f; /* gamma: zero and negative too */
                b[c] = (float)fz_range(d, -40, 40) / 16.0f;
                mean[c] = (float)fz_range(d, -40, 40) / 16.0f;
                var[c] = fz_chance(d, 16) ? 0.0f : (float)fz_range(d, 1, 4000) / 256.0f;
            }
            continue;
        }
        const float s = SCALE[fz_u8(d) % 5];
        for (size_t k = 0; k < nd->w.n; k++)
            w[k] *= s;
        for (size_t k = 0; k < nd->b.n; k++)
            b[k] = (float)fz_range(d, -64, 64) / 64.0f;
        if (extremes && nd->w.n) {
            int count = (int)fz_range(d, 1, 3);
            for (int k = 0; k < count; k++)
                w[fz_range(d, 0, (int64_t)nd->w.n - 1)] = pick_extreme(d);
        }
    }
}

int fzg_float_model(nn_model *m, fz_data *d)
{
    nn_model_spec *spec = malloc(sizeof *spec); /* large: not on the stack */
    if (!spec)
        return -1;
    fzg_float_spec(spec, d);
    nn_error err;
    if (nn_model_build(m, spec, &err) != NN_OK)
        fz_fail("generator: nn_model_build refused the spec: %s", err.msg);
    free(spec);
    fzg_float_params(m, d);
    return 0;
}
