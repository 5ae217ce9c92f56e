#include "nn_model.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn_rng.h"

/* Generous limits that keep every size computation far from overflow. */
#define DIM_MAX 65536
#define PARAMS_MAX ((size_t)1 << 31)

static nn_status layer_error(nn_error *err, int i, const nn_layer_spec *l, const char *what)
{
    const char *name = nn_layer_type_name(l->type);
    return nn_errorf(err, NN_ERR_ARG, "layer %d (%s%s%s%s): %s", i, name ? name : "?",
                     l->name[0] ? " \"" : "", l->name, l->name[0] ? "\"" : "", what);
}

/* a*b*c*d when it stays below PARAMS_MAX, else SIZE_MAX (never wraps). */
static size_t checked_product(size_t a, size_t b, size_t c, size_t d)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r) || __builtin_mul_overflow(r, c, &r) ||
        __builtin_mul_overflow(r, d, &r) || r > PARAMS_MAX)
        return SIZE_MAX;
    return r;
}

/* Output size of a window sliding over `in` (0 when it does not fit). */
static int window_out(int in, int k, int stride, int pad)
{
    int span = in + 2 * pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

static nn_status plan_layer(nn_model *m, int i, size_t *n_params, size_t *n_state, nn_error *err)
{
    nn_node *nd = &m->nodes[i];
    nn_layer_spec *l = &nd->spec;
    const nn_model_spec *s = &m->spec;

    /* Resolve "previous layer" and check references point backwards. */
    if (l->input < NN_INPUT_NODE)
        l->input = i - 1;
    if (l->input >= i)
        return layer_error(err, i, l, "input must be an earlier layer");
    if (l->type == NN_LAYER_ADD) {
        if (l->input2 < NN_INPUT_NODE || l->input2 >= i)
            return layer_error(err, i, l, "add needs a second operand from an earlier layer");
    }
    if (l->input == NN_INPUT_NODE) {
        nd->in_c = s->in_c, nd->in_h = s->in_h, nd->in_w = s->in_w;
    } else {
        const nn_node *src = &m->nodes[l->input];
        nd->in_c = src->out_c, nd->in_h = src->out_h, nd->in_w = src->out_w;
    }
    nd->in_size = (size_t)nd->in_c * nd->in_h * nd->in_w;
    nd->out_c = nd->in_c, nd->out_h = nd->in_h, nd->out_w = nd->in_w;
    nd->w = nd->b = nd->stat = (nn_span){0, 0};
    nd->macs = 0;

    switch (l->type) {
    case NN_LAYER_CONV2D: {
        if (l->out_channels < 1 || l->out_channels > DIM_MAX)
            return layer_error(err, i, l, "filters must be in [1, 65536]");
        if (l->kernel < 1 || l->kernel > 1024 || l->stride < 1 || l->stride > 1024 || l->pad < 0 ||
            l->pad >= l->kernel)
            return layer_error(err, i, l, "needs 1 <= kernel <= 1024, 1 <= stride <= 1024, 0 <= pad < kernel");
        nd->out_c = l->out_channels;
        nd->out_h = window_out(nd->in_h, l->kernel, l->stride, l->pad);
        nd->out_w = window_out(nd->in_w, l->kernel, l->stride, l->pad);
        if (nd->out_h < 1 || nd->out_w < 1)
            return layer_error(err, i, l, "kernel larger than the padded input");
        size_t k2 = (size_t)l->kernel * l->kernel;
        size_t n_w = checked_product((size_t)nd->out_c, (size_t)nd->in_c, k2, 1);
        if (n_w == SIZE_MAX)
            return layer_error(err, i, l, "too many weights");
        nd->w = (nn_span){*n_params, n_w};
        *n_params += nd->w.n;
        if (l->bias) {
            nd->b = (nn_span){*n_params, (size_t)nd->out_c};
            *n_params += nd->b.n;
        }
        nd->macs = (uint64_t)nd->out_c * nd->out_h * nd->out_w * nd->in_c * k2;
        break;
    }
    case NN_LAYER_DEPTHWISE_CONV2D: {
        /* Channel c of the output is channel c of the input convolved with
         * its own k x k filter: w (c, k, k), b (c). */
        if (l->kernel < 1 || l->kernel > 1024 || l->stride < 1 || l->stride > 1024 || l->pad < 0 ||
            l->pad > l->kernel - 1)
            return layer_error(err, i, l, "needs 1 <= kernel <= 1024, 1 <= stride <= 1024, 0 <= pad < kernel");
        nd->out_h = window_out(nd->in_h, l->kernel, l->stride, l->pad);
        nd->out_w = window_out(nd->in_w, l->kernel, l->stride, l->pad);
        if (nd->out_h < 1 || nd->out_w < 1)
            return layer_error(err, i, l, "kernel larger than the padded input");
        size_t k2 = (size_t)l->kernel * l->kernel;
        size_t n_w = checked_product((size_t)nd->in_c, k2, 1, 1);
        if (n_w == SIZE_MAX)
            return layer_error(err, i, l, "too many weights");
        nd->w = (nn_span){*n_params, n_w};
        *n_params += nd->w.n;
        if (l->bias) {
            nd->b = (nn_span){*n_params, (size_t)nd->out_c};
            *n_params += nd->b.n;
        }
        nd->macs = (uint64_t)nd->out_c * nd->out_h * nd->out_w * k2;
        break;
    }
    case NN_LAYER_MAXPOOL:
    case NN_LAYER_AVGPOOL:
        if (l->kernel < 1 || l->kernel > 1024 || l->stride < 1 || l->stride > 1024)
            return layer_error(err, i, l, "needs size and stride in [1, 1024]");
        nd->out_h = window_out(nd->in_h, l->kernel, l->stride, 0);
        nd->out_w = window_out(nd->in_w, l->kernel, l->stride, 0);
        if (nd->out_h < 1 || nd->out_w < 1)
            return layer_error(err, i, l, "window larger than the input");
        nd->macs = (uint64_t)nd->out_c * nd->out_h * nd->out_w * l->kernel * l->kernel;
        break;
    case NN_LAYER_GLOBAL_AVGPOOL:
        nd->out_h = nd->out_w = 1;
        nd->macs = nd->in_size;
        break;
    case NN_LAYER_DENSE:
        if (l->units < 1 || l->units > (1 << 24))
            return layer_error(err, i, l, "units must be in [1, 16777216]");
        nd->out_c = l->units, nd->out_h = nd->out_w = 1;
        if (checked_product((size_t)l->units, nd->in_size, 1, 1) == SIZE_MAX)
            return layer_error(err, i, l, "too many weights");
        nd->w = (nn_span){*n_params, (size_t)l->units * nd->in_size};
        *n_params += nd->w.n;
        if (l->bias) {
            nd->b = (nn_span){*n_params, (size_t)l->units};
            *n_params += nd->b.n;
        }
        nd->macs = (uint64_t)l->units * nd->in_size;
        break;
    case NN_LAYER_RELU:
    case NN_LAYER_RELU6:
        break;
    case NN_LAYER_DROPOUT:
        if (!(l->rate >= 0.0f && l->rate < 1.0f))
            return layer_error(err, i, l, "rate must be in [0, 1)");
        break;
    case NN_LAYER_BATCHNORM:
        if (!(l->eps > 0.0f) || !(l->momentum >= 0.0f && l->momentum <= 1.0f))
            return layer_error(err, i, l, "needs eps > 0 and momentum in [0, 1]");
        nd->w = (nn_span){*n_params, (size_t)nd->out_c};
        nd->b = (nn_span){*n_params + nd->out_c, (size_t)nd->out_c};
        *n_params += 2 * (size_t)nd->out_c;
        nd->stat = (nn_span){*n_state, 2 * (size_t)nd->out_c};
        *n_state += nd->stat.n;
        nd->macs = nd->in_size;
        break;
    case NN_LAYER_FLATTEN:
        nd->out_c = (int)nd->in_size, nd->out_h = nd->out_w = 1;
        break;
    case NN_LAYER_ADD: {
        int c2 = s->in_c, h2 = s->in_h, w2 = s->in_w;
        if (l->input2 != NN_INPUT_NODE) {
            const nn_node *src = &m->nodes[l->input2];
            c2 = src->out_c, h2 = src->out_h, w2 = src->out_w;
        }
        if (c2 != nd->in_c || h2 != nd->in_h || w2 != nd->in_w)
            return layer_error(err, i, l, "operands have different shapes");
        nd->macs = nd->in_size;
        break;
    }
    default:
        return layer_error(err, i, l, "unknown layer type");
    }
    nd->out_size = (size_t)nd->out_c * nd->out_h * nd->out_w;
    if (nd->out_size > (size_t)1 << 30 || *n_params > PARAMS_MAX)
        return layer_error(err, i, l, "too large");
    return NN_OK;
}

/* Everything nn_model_build does but allocating params and state. */
static nn_status plan_model(nn_model *m, const nn_model_spec *spec, nn_error *err)
{
    memset(m, 0, sizeof *m);
    if (spec->n_layers < 1 || spec->n_layers > NN_MAX_LAYERS)
        return nn_errorf(err, NN_ERR_ARG, "model needs 1 to %d layers, has %d", NN_MAX_LAYERS,
                         spec->n_layers);
    if (spec->in_c < 1 || spec->in_c > NN_MAX_CHANNELS_NORM || spec->in_h < 1 ||
        spec->in_h > DIM_MAX || spec->in_w < 1 || spec->in_w > DIM_MAX)
        return nn_errorf(err, NN_ERR_ARG, "model input shape %dx%dx%d is invalid (1..%d channels)",
                         spec->in_c, spec->in_h, spec->in_w, NN_MAX_CHANNELS_NORM);
    /* The bound every layer's output has (plan_layer), so that a flatten of
     * the input fits its int channel count too. */
    if ((size_t)spec->in_c * spec->in_h * spec->in_w > (size_t)1 << 30)
        return nn_errorf(err, NN_ERR_ARG, "model input shape %dx%dx%d has more than 2^30 values",
                         spec->in_c, spec->in_h, spec->in_w);
    m->spec = *spec;
    m->n_nodes = spec->n_layers;
    m->nodes = calloc((size_t)m->n_nodes, sizeof *m->nodes);
    if (!m->nodes)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for %d layers", m->n_nodes);

    size_t n_params = 0, n_state = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        m->nodes[i].spec = spec->layers[i];
        nn_status st = plan_layer(m, i, &n_params, &n_state, err);
        if (st != NN_OK) {
            nn_model_free(m);
            return st;
        }
        m->spec.layers[i] = m->nodes[i].spec; /* resolved inputs */
    }
    const nn_node *last = &m->nodes[m->n_nodes - 1];
    if (spec->num_classes > 0 && last->out_size != (size_t)spec->num_classes) {
        nn_status st = nn_errorf(err, NN_ERR_ARG,
                                 "the last layer outputs %zu values but the data has %d classes",
                                 last->out_size, spec->num_classes);
        nn_model_free(m);
        return st;
    }
    m->n_params = n_params;
    m->n_state = n_state;
    return NN_OK;
}

nn_status nn_model_count(const nn_model_spec *spec, size_t *n_params, size_t *n_state,
                         nn_error *err)
{
    nn_model m;
    nn_status st = plan_model(&m, spec, err);
    if (st == NN_OK)
        *n_params = m.n_params, *n_state = m.n_state;
    nn_model_free(&m);
    return st;
}

nn_status nn_model_build(nn_model *m, const nn_model_spec *spec, nn_error *err)
{
    nn_status st = plan_model(m, spec, err);
    if (st != NN_OK)
        return st;
    m->params = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    m->state = calloc(m->n_state ? m->n_state : 1, sizeof(float));
    if (!m->params || !m->state) {
        size_t n = m->n_params;
        nn_model_free(m);
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for %zu parameters", n);
    }
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (nd->spec.type != NN_LAYER_BATCHNORM)
            continue;
        for (size_t c = 0; c < nd->w.n; c++)
            m->params[nd->w.off + c] = 1.0f;                    /* gamma       */
        for (size_t c = 0; c < nd->w.n; c++)
            m->state[nd->stat.off + nd->w.n + c] = 1.0f;        /* running var */
    }
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        m->mean[c] = 0.0f, m->std[c] = 1.0f;
    return NN_OK;
}

void nn_model_init_params(nn_model *m, nn_init_kind kind, uint64_t seed)
{
    nn_rng rng;
    nn_rng_seed_key(&rng, seed, NN_STREAM_INIT, 0, 0);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        float *w = m->params + nd->w.off;
        double fan_in, fan_out;
        if (nd->spec.type == NN_LAYER_CONV2D) {
            double k2 = (double)nd->spec.kernel * nd->spec.kernel;
            fan_in = nd->in_c * k2, fan_out = nd->out_c * k2;
        } else if (nd->spec.type == NN_LAYER_DEPTHWISE_CONV2D) {
            /* Each output reads k*k inputs of one channel. */
            fan_in = fan_out = (double)nd->spec.kernel * nd->spec.kernel;
        } else if (nd->spec.type == NN_LAYER_DENSE) {
            fan_in = (double)nd->in_size, fan_out = nd->spec.units;
        } else if (nd->spec.type == NN_LAYER_BATCHNORM) {
            for (size_t j = 0; j < nd->w.n; j++)
                w[j] = 1.0f, m->params[nd->b.off + j] = 0.0f;
            continue;
        } else {
            continue;
        }
        if (kind == NN_INIT_GLOROT) {
            float limit = (float)sqrt(6.0 / (fan_in + fan_out));
            for (size_t j = 0; j < nd->w.n; j++)
                w[j] = (2.0f * nn_rng_uniform(&rng) - 1.0f) * limit;
        } else {
            float std = (float)sqrt(2.0 / fan_in);
            for (size_t j = 0; j < nd->w.n; j++)
                w[j] = nn_rng_normal(&rng) * std;
        }
        if (nd->b.n)
            memset(m->params + nd->b.off, 0, nd->b.n * sizeof(float));
    }
}

void nn_model_free(nn_model *m)
{
    free(m->nodes);
    free(m->params);
    free(m->state);
    memset(m, 0, sizeof *m);
}

uint64_t nn_model_macs(const nn_model *m)
{
    uint64_t total = 0;
    for (int i = 0; i < m->n_nodes; i++)
        total += m->nodes[i].macs;
    return total;
}

nn_status nn_model_copy(nn_model *dst, const nn_model *m, nn_error *err)
{
    nn_status st = nn_model_build(dst, &m->spec, err);
    if (st != NN_OK)
        return st;
    memcpy(dst->params, m->params, m->n_params * sizeof(float));
    memcpy(dst->state, m->state, m->n_state * sizeof(float));
    memcpy(dst->mean, m->mean, sizeof dst->mean);
    memcpy(dst->std, m->std, sizeof dst->std);
    return NN_OK;
}
