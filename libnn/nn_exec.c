#include "nn_exec.h"

#include <stdlib.h>
#include <string.h>

#include "nn_graph.h"
#include "nn_layers.h"
#include "nn_pool.h"

/* Per-node buffers. Shapes per image come from the model's nn_node. */
typedef struct {
    float *out;      /* (max_batch, out_size) activations                   */
    float *dout;     /* (max_batch, out_size) gradient w.r.t. out; training */
    int32_t *argmax; /* maxpool: (max_batch, out_size)                      */
    uint8_t *mask;   /* dropout: (max_batch, out_size)                      */
    float *xhat;     /* batchnorm: (max_batch, out_size) normalized input   */
    float *mean;     /* batchnorm: (c) statistics used by the last forward  */
    float *invstd;   /* batchnorm: (c)                                      */
    int grad_first;  /* index of the consumer that back-propagates first    */
    int need_grad;   /* 1 when some parameter lies upstream of this node    */
    int live;        /* 1 when the output depends on this node             */
    int act;         /* producer: the activation applied in place on out
                        (nn_act)                                        */
    int alias;       /* activation fused into node `alias` (shares its
                        buffers), or -1                                    */
    int grid_node;   /* out is rounded to m->act_grid[grid_node] (this node
                        or its fused activation), or -1                    */
    uint8_t *qmask;  /* grid: (max_batch, out_size) 1 where the clamp did
                        not cut (the straight-through estimator); training */
} node_buf;

/* The activation a producer applies to its own output in place. */

static void act_forward(int act, float *x, size_t count)
{
    if (act == NN_ACT_RELU)
        nn_relu_forward(x, x, count);
    else if (act == NN_ACT_RELU6)
        nn_relu6_forward(x, x, count);
}

/* The fused activation's backward: the shared gradient masked where the
 * activation's output (out) has zero slope. */
static void act_mask(int act, float *grad, const float *out, size_t count)
{
    if (act == NN_ACT_RELU)
        nn_relu_mask(grad, out, count);
    else if (act == NN_ACT_RELU6)
        nn_relu6_mask(grad, out, count);
}

struct nn_exec {
    nn_model *m;
    int max_batch, training, threads;
    nn_pool *pool;
    float *input;       /* (max_batch, in_c, in_h, in_w)                    */
    uint8_t **pixels;   /* (threads) one transformed image each             */
    node_buf *nb;       /* (n_nodes)                                         */
    float **scratch;    /* (threads) each scratch_floats                      */
    size_t scratch_floats;
    float *grads;       /* (n_params)                                         */
    float **tgrads;     /* (threads) per-thread partial gradients; [0] may be grads */
    double **tsums;     /* (workers) 2 * max_c partial sums for batch norm, in one block */
    int max_c;
    size_t tsum_stride;  /* doubles per worker in tsums                   */
    nn_exec_group group; /* first 0 and workers = threads unless set      */
    int grouped;         /* nn_exec_set_group was given a group           */
};

/* [*b0, *b1) of a batch of n for thread t: the slice of worker first + t. */
static void thread_slice(const nn_exec *ex, int n, int t, int *b0, int *b1)
{
    nn_pool_slice(n, ex->group.first + t, ex->group.workers, b0, b1);
}

/* The batch-norm partial sums of `workers` workers: one block, 2 * max_c
 * doubles each (tsums[w] points at worker w's). */
static nn_status alloc_tsums(nn_exec *ex, int workers, nn_error *err)
{
    size_t stride = 2 * (size_t)(ex->max_c ? ex->max_c : 1);
    double *block = calloc((size_t)workers * stride, sizeof *block);
    double **rows = calloc((size_t)workers, sizeof *rows);
    if (!block || !rows) {
        free(block), free(rows);
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for the batch-norm sums of %d workers",
                         workers);
    }
    for (int w = 0; w < workers; w++)
        rows[w] = block + (size_t)w * stride;
    if (ex->tsums)
        free(ex->tsums[0]);
    free(ex->tsums);
    ex->tsums = rows;
    ex->tsum_stride = stride;
    return NN_OK;
}

/* ---------------------------------------------------------------- plan -- */

static nn_conv_dims conv_dims(const nn_node *nd)
{
    return (nn_conv_dims){nd->in_c, nd->in_h, nd->in_w, nd->out_c, nd->out_h, nd->out_w,
                          nd->spec.kernel, nd->spec.stride, nd->spec.pad};
}

static nn_pool_dims pool_dims(const nn_node *nd)
{
    return (nn_pool_dims){nd->in_c, nd->in_h, nd->in_w, nd->out_h, nd->out_w, nd->spec.kernel,
                          nd->spec.stride};
}

/* A ReLU or ReLU6 that runs in place (nn_graph.h: its input is a conv,
 * depthwise conv, dense, batch-norm or add layer read by nothing else) is
 * fused into that layer's pass (per image for the convolutions and batch
 * norm, while the image is in cache); its backward becomes a mask on the
 * shared gradient. Saves two passes over memory and one activation buffer
 * per activation. */
static void plan_relu_fusion(nn_exec *ex, const nn_model *m, const nn_graph *g)
{
    for (int i = 0; i < g->n; i++) {
        ex->nb[i].alias = g->relu_on[i];
        if (g->relu_on[i] >= 0)
            ex->nb[g->relu_on[i]].act =
                m->nodes[i].spec.type == NN_LAYER_RELU6 ? NN_ACT_RELU6 : NN_ACT_RELU;
    }
}

static void *xcalloc(size_t n, size_t size, int *oom)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        *oom = 1;
    return p;
}

nn_status nn_exec_create(nn_exec **out, nn_model *m, int max_batch, int threads, int training,
                         nn_error *err)
{
    *out = NULL;
    if (max_batch < 1)
        return nn_errorf(err, NN_ERR_ARG, "batch size must be >= 1, got %d", max_batch);
    nn_exec *ex = calloc(1, sizeof *ex);
    if (!ex)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for the executor");
    ex->m = m;
    ex->max_batch = max_batch;
    ex->training = training;
    nn_status st = nn_pool_create(&ex->pool, threads, err);
    if (st != NN_OK) {
        free(ex);
        return st;
    }
    ex->threads = threads;
    ex->group = (nn_exec_group){0, threads, NULL, NULL, NULL, NULL, NULL};

    int oom = 0;
    size_t B = (size_t)max_batch;
    const nn_model_spec *s = &m->spec;
    ex->input = xcalloc(B * s->in_c * s->in_h * s->in_w, sizeof(float), &oom);
    ex->nb = xcalloc((size_t)m->n_nodes, sizeof *ex->nb, &oom);
    ex->scratch = xcalloc((size_t)threads, sizeof *ex->scratch, &oom);
    ex->tgrads = xcalloc((size_t)threads, sizeof *ex->tgrads, &oom);
    ex->pixels = xcalloc((size_t)threads, sizeof *ex->pixels, &oom);
    if (oom)
        goto fail;

    nn_graph graph;
    nn_graph_analyze(&graph, m);
    plan_relu_fusion(ex, m, &graph);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        node_buf *b = &ex->nb[i];
        size_t count = B * nd->out_size;
        b->grad_first = -1;
        b->grid_node = -1;
        if (b->alias >= 0) { /* an in-place activation: its producer's buffers */
            b->out = ex->nb[b->alias].out;
            b->dout = ex->nb[b->alias].dout;
            continue;
        }
        b->out = xcalloc(count, sizeof(float), &oom);
        if (training)
            b->dout = xcalloc(count, sizeof(float), &oom);
        switch (nd->spec.type) {
        case NN_LAYER_CONV2D:
        case NN_LAYER_DEPTHWISE_CONV2D: {
            nn_conv_dims d = conv_dims(nd);
            size_t sf = nd->spec.type == NN_LAYER_CONV2D ? nn_conv2d_scratch_floats(&d)
                                                         : nn_depthwise_scratch_floats(&d);
            if (sf > ex->scratch_floats)
                ex->scratch_floats = sf;
            break;
        }
        case NN_LAYER_DENSE: {
            size_t sf = nn_dense_scratch_floats((int)nd->in_size, nd->out_c);
            if (sf > ex->scratch_floats)
                ex->scratch_floats = sf;
            break;
        }
        case NN_LAYER_MAXPOOL:
            b->argmax = xcalloc(count, sizeof(int32_t), &oom);
            break;
        case NN_LAYER_DROPOUT:
            if (training)
                b->mask = xcalloc(count, 1, &oom);
            break;
        case NN_LAYER_BATCHNORM:
            if (training)
                b->xhat = xcalloc(count, sizeof(float), &oom);
            b->mean = xcalloc((size_t)nd->out_c, sizeof(float), &oom);
            b->invstd = xcalloc((size_t)nd->out_c, sizeof(float), &oom);
            if (nd->out_c > ex->max_c)
                ex->max_c = nd->out_c;
            break;
        default:
            break;
        }
        if (oom)
            goto fail;
    }
    /* Activation grids sit on the node that owns the buffer: a fused
     * activation's producer. */
    for (int i = 0; i < m->n_nodes && m->act_grid && !oom; i++) {
        if (!(m->act_grid[i].scale > 0.0f))
            continue;
        node_buf *b = &ex->nb[ex->nb[i].alias >= 0 ? ex->nb[i].alias : i];
        b->grid_node = i;
        if (training && !b->qmask)
            b->qmask = xcalloc(B * m->nodes[i].out_size, 1, &oom);
    }
    if (oom)
        goto fail;
    /* Which nodes need a gradient: those with parameters upstream. The
     * consumer with the highest index back-propagates first and zeroes. */
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        int has_params = nd->w.n > 0;
        int in1 = nd->spec.input;
        int in2 = nd->spec.type == NN_LAYER_ADD ? nd->spec.input2 : NN_INPUT_NODE;
        ex->nb[i].need_grad = has_params || (in1 >= 0 && ex->nb[in1].need_grad) ||
                              (in2 >= 0 && ex->nb[in2].need_grad);
        if (in1 >= 0)
            ex->nb[in1].grad_first = i;
        if (in2 >= 0)
            ex->nb[in2].grad_first = i;
    }
    /* Which nodes the output depends on (a dangling branch gets no gradient). */
    for (int i = 0; i < m->n_nodes; i++)
        ex->nb[i].live = graph.live[i];
    for (int t = 0; t < threads; t++) {
        ex->pixels[t] = xcalloc((size_t)s->in_c * s->in_h * s->in_w, 1, &oom);
        ex->scratch[t] = xcalloc(ex->scratch_floats, sizeof(float), &oom);
    }
    if (!oom && alloc_tsums(ex, threads, err) != NN_OK)
        oom = 1;
    if (training) {
        ex->grads = xcalloc(m->n_params, sizeof(float), &oom);
        ex->tgrads[0] = ex->grads;
        for (int t = 1; t < threads && !oom; t++)
            ex->tgrads[t] = xcalloc(m->n_params, sizeof(float), &oom);
    }
    if (oom)
        goto fail;
    *out = ex;
    return NN_OK;
fail:
    nn_exec_free(ex);
    return nn_errorf(err, NN_ERR_NOMEM, "out of memory planning a batch of %d images", max_batch);
}

void nn_exec_free(nn_exec *ex)
{
    if (!ex)
        return;
    if (ex->nb) {
        for (int i = 0; i < ex->m->n_nodes; i++) {
            node_buf *b = &ex->nb[i];
            if (b->alias >= 0)
                continue; /* buffers belong to the producer */
            free(b->out), free(b->dout), free(b->argmax), free(b->mask);
            free(b->xhat), free(b->mean), free(b->invstd), free(b->qmask);
        }
    }
    for (int t = 0; t < ex->threads; t++) {
        if (ex->scratch)
            free(ex->scratch[t]);
        if (ex->pixels)
            free(ex->pixels[t]);
        if (ex->tgrads && t > 0)
            free(ex->tgrads[t]);
    }
    if (ex->tsums)
        free(ex->tsums[0]);
    free(ex->scratch), free(ex->tsums), free(ex->tgrads), free(ex->grads), free(ex->pixels);
    free(ex->nb), free(ex->input);
    nn_pool_free(ex->pool);
    free(ex);
}

nn_status nn_exec_set_group(nn_exec *ex, const nn_exec_group *g, nn_error *err)
{
    nn_exec_group own = {0, ex->threads, NULL, NULL, NULL, NULL, NULL};
    if (g && (g->first < 0 || g->workers < ex->threads || g->first > g->workers - ex->threads ||
              !g->gather_sums || !g->gather_rows || !g->sum_grads))
        return nn_errorf(err, NN_ERR_ARG, "a group of %d workers cannot hold %d threads from "
                         "worker %d, or lacks a callback", g->workers, ex->threads, g->first);
    const nn_exec_group *to = g ? g : &own;
    if (to->workers != ex->group.workers) {
        nn_status st = alloc_tsums(ex, to->workers, err);
        if (st != NN_OK)
            return st;
    }
    ex->group = *to;
    ex->grouped = g != NULL;
    return NN_OK;
}

float *nn_exec_input(nn_exec *ex) { return ex->input; }
float *nn_exec_grads(nn_exec *ex) { return ex->grads; }
const float *nn_exec_output(const nn_exec *ex, int node) { return ex->nb[node].out; }

/* --------------------------------------------------------- input load -- */

void nn_exec_input_from(nn_exec *dst, const nn_exec *src, int n)
{
    const nn_model *ms = src->m, *md = dst->m;
    int c = ms->spec.in_c;
    size_t hw = (size_t)ms->spec.in_h * ms->spec.in_w;
    float scale[NN_MAX_CHANNELS_NORM], shift[NN_MAX_CHANNELS_NORM];
    int same = 1;
    for (int ch = 0; ch < c; ch++) {
        same &= ms->mean[ch] == md->mean[ch] && ms->std[ch] == md->std[ch];
        scale[ch] = ms->std[ch] / md->std[ch];
        shift[ch] = (ms->mean[ch] - md->mean[ch]) / md->std[ch];
    }
    if (same) {
        memcpy(dst->input, src->input, (size_t)n * c * hw * sizeof(float));
        return;
    }
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            const float *x = src->input + ((size_t)b * c + ch) * hw;
            float *y = dst->input + ((size_t)b * c + ch) * hw;
            for (size_t p = 0; p < hw; p++)
                y[p] = x[p] * scale[ch] + shift[ch];
        }
}

typedef struct {
    nn_exec *ex;
    const uint8_t *images;
    const uint32_t *index;
    int n;
    nn_image_fn fn;
    void *user;
    uint64_t epoch;
    int in_order;   /* images in batch order: image b at b, index[b] its key */
} load_job;

static void load_worker(void *ctx, int t, int T)
{
    load_job *j = ctx;
    const nn_model *m = j->ex->m;
    int c = m->spec.in_c;
    size_t hw = (size_t)m->spec.in_h * m->spec.in_w, size = c * hw;
    int b0, b1;
    (void)T;
    thread_slice(j->ex, j->n, t, &b0, &b1);
    float scale[NN_MAX_CHANNELS_NORM], shift[NN_MAX_CHANNELS_NORM];
    for (int ch = 0; ch < c; ch++) {
        scale[ch] = 1.0f / (255.0f * m->std[ch]);
        shift[ch] = -m->mean[ch] / m->std[ch];
    }
    for (int b = b0; b < b1; b++) {
        size_t src = j->index ? j->index[b] : (size_t)b;
        const uint8_t *px = j->images + (j->in_order ? (size_t)b : src) * size;
        if (j->fn) {
            j->fn(j->user, j->ex->pixels[t], px, j->epoch, src, t);
            px = j->ex->pixels[t];
        }
        float *dst = j->ex->input + (size_t)b * size;
        if (m->input_values) { /* the pixel values' table (nn_model.h) */
            for (int ch = 0; ch < c; ch++)
                for (size_t p = 0; p < hw; p++)
                    dst[ch * hw + p] = m->input_values[ch * 256 + px[ch * hw + p]];
            continue;
        }
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < hw; p++)
                dst[ch * hw + p] = (float)px[ch * hw + p] * scale[ch] + shift[ch];
    }
}

void nn_exec_load_images(nn_exec *ex, const uint8_t *images, const uint32_t *index, int n,
                         nn_image_fn fn, void *user, uint64_t epoch)
{
    load_job j = {ex, images, index, n, fn, user, epoch, 0};
    nn_pool_run(ex->pool, load_worker, &j);
}

void nn_exec_load_batch(nn_exec *ex, const uint8_t *batch, const uint32_t *key, int n,
                        nn_image_fn fn, void *user, uint64_t epoch)
{
    load_job j = {ex, batch, key, n, fn, user, epoch, 1};
    nn_pool_run(ex->pool, load_worker, &j);
}

void nn_exec_own_range(const nn_exec *ex, int n, int *b0, int *b1)
{
    int skip; /* slices are contiguous, worker after worker */
    nn_pool_slice(n, ex->group.first, ex->group.workers, b0, &skip);
    nn_pool_slice(n, ex->group.first + ex->threads - 1, ex->group.workers, &skip, b1);
}

/* ------------------------------------------------------------ forward -- */

typedef struct {
    nn_exec *ex;
    int node, n, training, phase;
    uint64_t seed, step;
} layer_job;

static const float *node_input(const nn_exec *ex, int src)
{
    return src == NN_INPUT_NODE ? ex->input : ex->nb[src].out;
}

/* One thread's share of a layer job: images [b0, b0 + n) of the batch. */
typedef struct {
    const nn_node *nd; /* the layer */
    node_buf *b;       /* its buffers */
    int b0, n;
    size_t is, os;   /* floats per image in and out */
    const float *in; /* (n, is): the slice of its input (NULL when n <= 0) */
    const float *w;  /* its weights in the model's parameters */
    int hw;          /* output pixels per channel */
} layer_slice;

static layer_slice slice_of(const layer_job *j, int t, int T)
{
    nn_exec *ex = j->ex;
    const nn_node *nd = &ex->m->nodes[j->node];
    layer_slice s = {nd, &ex->nb[j->node], 0, 0, nd->in_size, nd->out_size, NULL, NULL,
                     nd->out_h * nd->out_w};
    int b1;
    (void)T;
    thread_slice(ex, j->n, t, &s.b0, &b1);
    s.n = b1 - s.b0;
    if (s.n > 0) {
        s.in = node_input(ex, nd->spec.input) + s.b0 * s.is;
        s.w = ex->m->params + nd->w.off;
    }
    return s;
}

static void forward_layer(const layer_job *j, layer_slice s, int t)
{
    nn_exec *ex = j->ex;
    const nn_model *m = ex->m;
    float *out = s.b->out + s.b0 * s.os;
    const float *bias = s.nd->b.n ? m->params + s.nd->b.off : NULL;
    int act = s.b->act;

    switch (s.nd->spec.type) {
    case NN_LAYER_CONV2D: {
        nn_conv_dims d = conv_dims(s.nd);
        nn_conv2d_forward_act(out, ex->scratch[t], s.in, s.w, bias, s.n, &d, act);
        return;
    }
    case NN_LAYER_DEPTHWISE_CONV2D: {
        nn_conv_dims d = conv_dims(s.nd); /* the slice at once: one plan for its images */
        nn_depthwise_forward(out, ex->scratch[t], s.in, s.w, bias, s.n, &d);
        act_forward(act, out, (size_t)s.n * s.os);
        return;
    }
    case NN_LAYER_MAXPOOL: {
        nn_pool_dims d = pool_dims(s.nd);
        nn_maxpool_forward(out, s.b->argmax + s.b0 * s.os, s.in, s.n, &d);
        break;
    }
    case NN_LAYER_AVGPOOL: {
        nn_pool_dims d = pool_dims(s.nd);
        nn_avgpool_forward(out, s.in, s.n, &d);
        break;
    }
    case NN_LAYER_GLOBAL_AVGPOOL:
        nn_global_avgpool_forward(out, s.in, s.n, s.nd->in_c, s.nd->in_h * s.nd->in_w);
        break;
    case NN_LAYER_DENSE:
        nn_dense_forward(out, ex->scratch[t], s.in, s.w, bias, s.n, (int)s.is, s.nd->out_c);
        break;
    case NN_LAYER_RELU:
        nn_relu_forward(out, s.in, (size_t)s.n * s.os);
        break;
    case NN_LAYER_RELU6:
        nn_relu6_forward(out, s.in, (size_t)s.n * s.os);
        break;
    case NN_LAYER_DROPOUT:
        if (j->training && s.nd->spec.rate > 0.0f)
            nn_dropout_forward(out, s.b->mask + s.b0 * s.os, s.in, s.n, s.os, s.nd->spec.rate,
                               j->seed, j->step, j->node, (uint64_t)s.b0);
        else
            memcpy(out, s.in, (size_t)s.n * s.os * sizeof(float));
        break;
    case NN_LAYER_FLATTEN:
        memcpy(out, s.in, (size_t)s.n * s.os * sizeof(float));
        break;
    case NN_LAYER_ADD:
        nn_add_forward(out, s.in, node_input(ex, s.nd->spec.input2) + s.b0 * s.is,
                       (size_t)s.n * s.os);
        break;
    case NN_LAYER_BATCHNORM:
        if (j->phase == 0) { /* batch sums */
            double *sums = ex->tsums[ex->group.first + t];
            memset(sums, 0, 2 * (size_t)s.nd->out_c * sizeof(double));
            nn_batchnorm_sums(sums, sums + s.nd->out_c, s.in, s.n, s.nd->out_c, s.hw);
        } else {
            for (int i = 0; i < s.n; i++) {
                float *o = out + i * s.os;
                nn_batchnorm_apply(o, j->training ? s.b->xhat + (s.b0 + i) * s.os : NULL,
                                   s.in + i * s.is, s.b->mean, s.b->invstd, s.w, bias, 1,
                                   s.nd->out_c, s.hw);
                act_forward(act, o, s.os);
            }
        }
        return;
    }
    act_forward(act, out, (size_t)s.n * s.os); /* dense, add */
}

static void forward_worker(void *ctx, int t, int T)
{
    const layer_job *j = ctx;
    layer_slice s = slice_of(j, t, T);
    if (s.n <= 0 || s.b->alias >= 0) /* a fused activation ran with its producer */
        return;
    forward_layer(j, s, t);
    if (s.b->grid_node < 0 || (s.nd->spec.type == NN_LAYER_BATCHNORM && j->phase == 0))
        return;
    const nn_act_grid *g = &j->ex->m->act_grid[s.b->grid_node];
    size_t off = (size_t)s.b0 * s.os;
    nn_act_grid_forward(s.b->out + off, j->training ? s.b->qmask + off : NULL,
                        (size_t)s.n * s.os, g);
}

/* Reduces the per-worker batch-norm partial sums in worker order into
 * tsums[0] (those of workers that had no images are skipped); a group's
 * other workers' sums are gathered first. */
static void reduce_bn_sums(nn_exec *ex, int c, int n)
{
    int W = ex->group.workers;
    if (ex->grouped)
        ex->group.gather_sums(ex->group.user, ex->tsums[0], ex->tsum_stride);
    double *acc = ex->tsums[0];
    for (int w = 1; w < W; w++) {
        int b0, b1;
        nn_pool_slice(n, w, W, &b0, &b1);
        if (b1 <= b0)
            continue;
        for (int k = 0; k < 2 * c; k++)
            acc[k] += ex->tsums[w][k];
    }
}

const float *nn_exec_forward(nn_exec *ex, int n, int training, uint64_t seed, uint64_t step)
{
    nn_model *m = ex->m;
    layer_job j = {ex, 0, n, training && ex->training, 0, seed, step};
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        j.node = i;
        j.phase = 0;
        if (nd->spec.type == NN_LAYER_BATCHNORM) {
            node_buf *b = &ex->nb[i];
            int c = nd->out_c;
            float *running = m->state + nd->stat.off; /* mean (c), var (c) */
            if (j.training) {
                nn_pool_run(ex->pool, forward_worker, &j);
                reduce_bn_sums(ex, c, n);
                double count = (double)n * nd->out_h * nd->out_w;
                nn_batchnorm_stats(b->mean, b->invstd, running, running + c, ex->tsums[0],
                                   ex->tsums[0] + c, count, c, nd->spec.eps, nd->spec.momentum);
            } else {
                memcpy(b->mean, running, (size_t)c * sizeof(float));
                nn_batchnorm_invstd(b->invstd, running + c, c, nd->spec.eps);
            }
            j.phase = 1;
        }
        nn_pool_run(ex->pool, forward_worker, &j);
    }
    float *logits = ex->nb[m->n_nodes - 1].out;
    if (ex->grouped)
        ex->group.gather_rows(ex->group.user, logits, n, m->nodes[m->n_nodes - 1].out_size);
    return logits;
}

/* ----------------------------------------------------------- backward -- */

/* Zeroes this slice of a node's gradient when `consumer` is the first to
 * back-propagate into it; returns the slice, or NULL if no gradient is
 * needed there. */
static float *grad_slice(nn_exec *ex, int src, int consumer, int b0, int n)
{
    if (src == NN_INPUT_NODE || !ex->nb[src].need_grad)
        return NULL;
    size_t os = ex->m->nodes[src].out_size;
    float *g = ex->nb[src].dout + b0 * os;
    if (ex->nb[src].grad_first == consumer)
        memset(g, 0, (size_t)n * os * sizeof(float));
    return g;
}

/* The same slice without zeroing it; *fresh = 1 when `consumer` is the
 * first to write it (and must set it rather than add to it). */
static float *grad_slice_unzeroed(nn_exec *ex, int src, int consumer, int b0, int *fresh)
{
    *fresh = 0;
    if (src == NN_INPUT_NODE || !ex->nb[src].need_grad)
        return NULL;
    *fresh = ex->nb[src].grad_first == consumer;
    return ex->nb[src].dout + b0 * ex->m->nodes[src].out_size;
}

static void backward_worker(void *ctx, int t, int T)
{
    const layer_job *j = ctx;
    layer_slice s = slice_of(j, t, T);
    if (s.n <= 0)
        return;
    nn_exec *ex = j->ex;
    const float *dout = s.b->dout + s.b0 * s.os;
    float *dw = ex->tgrads[t] + s.nd->w.off;
    float *db = s.nd->b.n ? ex->tgrads[t] + s.nd->b.off : NULL;
    /* An activation grid's backward comes first (it was applied last),
     * once (batch norm: in its first phase). */
    if (s.b->grid_node >= 0 && (s.nd->spec.type != NN_LAYER_BATCHNORM || j->phase == 0))
        nn_act_grid_backward(s.b->dout + s.b0 * s.os, s.b->qmask + s.b0 * s.os,
                             (size_t)s.n * s.os);

    if (s.nd->spec.type == NN_LAYER_CONV2D) { /* per image, all in cache */
        nn_conv_dims d = conv_dims(s.nd);
        if (nn_conv2d_batched(&d)) { /* the slice at once: weights transformed once */
            act_mask(s.b->act, s.b->dout + s.b0 * s.os, s.b->out + s.b0 * s.os,
                     (size_t)s.n * s.os);
            int fresh;
            float *din = grad_slice_unzeroed(ex, s.nd->spec.input, j->node, s.b0, &fresh);
            (fresh ? nn_conv2d_backward_set : nn_conv2d_backward)(din, dw, db, ex->scratch[t],
                                                                  dout, s.in, s.w, s.n, &d);
            return;
        }
        for (int i = 0; i < s.n; i++) {
            act_mask(s.b->act, s.b->dout + (s.b0 + i) * s.os, s.b->out + (s.b0 + i) * s.os, s.os);
            float *din = grad_slice(ex, s.nd->spec.input, j->node, s.b0 + i, 1);
            nn_conv2d_backward(din, dw, db, ex->scratch[t], dout + i * s.os, s.in + i * s.is, s.w,
                               1, &d);
        }
        return;
    }
    if (s.nd->spec.type == NN_LAYER_DEPTHWISE_CONV2D) {
        nn_conv_dims d = conv_dims(s.nd); /* the slice at once, as forward */
        act_mask(s.b->act, s.b->dout + s.b0 * s.os, s.b->out + s.b0 * s.os, (size_t)s.n * s.os);
        float *din = grad_slice(ex, s.nd->spec.input, j->node, s.b0, s.n);
        nn_depthwise_backward(din, dw, db, ex->scratch[t], dout, s.in, s.w, s.n, &d);
        return;
    }
    /* The fused activation's backward: mask the shared gradient once
     * (batch norm does it in its first phase). */
    if (s.nd->spec.type != NN_LAYER_BATCHNORM || j->phase == 0)
        act_mask(s.b->act, s.b->dout + s.b0 * s.os, s.b->out + s.b0 * s.os, (size_t)s.n * s.os);

    if (s.nd->spec.type == NN_LAYER_BATCHNORM && j->phase == 0) {
        double *sums = ex->tsums[ex->group.first + t];
        memset(sums, 0, 2 * (size_t)s.nd->out_c * sizeof(double));
        nn_batchnorm_backward_sums(sums, sums + s.nd->out_c, dout, s.b->xhat + s.b0 * s.os, s.n,
                                   s.nd->out_c, s.hw);
        return;
    }
    /* Add is the one node with two inputs; it and every other layer below
     * zero their input's gradient slice first when they are its first
     * consumer. */
    float *din = grad_slice(ex, s.nd->spec.input, j->node, s.b0, s.n);

    switch (s.nd->spec.type) {
    case NN_LAYER_CONV2D: /* handled above */
    case NN_LAYER_DEPTHWISE_CONV2D:
        break;
    case NN_LAYER_MAXPOOL: {
        nn_pool_dims d = pool_dims(s.nd);
        if (din)
            nn_maxpool_backward(din, dout, s.b->argmax + s.b0 * s.os, s.n, &d);
        break;
    }
    case NN_LAYER_AVGPOOL: {
        nn_pool_dims d = pool_dims(s.nd);
        if (din)
            nn_avgpool_backward(din, dout, s.n, &d);
        break;
    }
    case NN_LAYER_GLOBAL_AVGPOOL:
        if (din)
            nn_global_avgpool_backward(din, dout, s.n, s.nd->in_c, s.nd->in_h * s.nd->in_w);
        break;
    case NN_LAYER_DENSE:
        nn_dense_backward(din, dw, db, dout, s.in, s.w, s.n, (int)s.is, s.nd->out_c);
        break;
    case NN_LAYER_RELU:
        if (din)
            nn_relu_backward(din, dout, s.b->out + s.b0 * s.os, (size_t)s.n * s.os);
        break;
    case NN_LAYER_RELU6:
        nn_relu6_backward(din, dout, s.b->out + s.b0 * s.os, (size_t)s.n * s.os);
        break;
    case NN_LAYER_DROPOUT:
        if (din && s.nd->spec.rate > 0.0f)
            nn_dropout_backward(din, dout, s.b->mask + s.b0 * s.os, s.n, s.os, s.nd->spec.rate);
        else if (din)
            nn_accumulate(din, dout, (size_t)s.n * s.os);
        break;
    case NN_LAYER_FLATTEN:
        if (din)
            nn_accumulate(din, dout, (size_t)s.n * s.os);
        break;
    case NN_LAYER_ADD: {
        if (din)
            nn_accumulate(din, dout, (size_t)s.n * s.os);
        int src2 = s.nd->spec.input2;
        float *din2 = src2 == s.nd->spec.input ? din : grad_slice(ex, src2, j->node, s.b0, s.n);
        if (din2)
            nn_accumulate(din2, dout, (size_t)s.n * s.os);
        break;
    }
    case NN_LAYER_BATCHNORM: {
        const double *sums = ex->tsums[0];
        double count = (double)j->n * s.hw;
        if (din)
            nn_batchnorm_backward_apply(din, dout, s.b->xhat + s.b0 * s.os, s.w, s.b->invstd, sums,
                                        sums + s.nd->out_c, count, s.n, s.nd->out_c, s.hw);
        break;
    }
    }
}

typedef struct {
    nn_exec *ex;
} grad_job;

static void zero_grads_worker(void *ctx, int t, int T)
{
    nn_exec *ex = ((grad_job *)ctx)->ex;
    (void)T;
    memset(ex->tgrads[t], 0, ex->m->n_params * sizeof(float));
}

/* grads[p] = sum over threads in order of tgrads[t][p], split by range. */
static void reduce_grads_worker(void *ctx, int t, int T)
{
    nn_exec *ex = ((grad_job *)ctx)->ex;
    int p0, p1;
    int blocks = (int)((ex->m->n_params + 1023) / 1024);
    nn_pool_slice(blocks, t, T, &p0, &p1);
    size_t lo = (size_t)p0 * 1024, hi = (size_t)p1 * 1024;
    if (hi > ex->m->n_params)
        hi = ex->m->n_params;
    for (int s = 1; s < ex->threads; s++) {
        const float *src = ex->tgrads[s];
        for (size_t p = lo; p < hi; p++)
            ex->grads[p] += src[p];
    }
}

/* A group's grads_ready for the parameters of nd, final in tgrads. */
static void spans_ready(nn_exec *ex, const nn_node *nd)
{
    if (!ex->grouped || !ex->group.grads_ready)
        return;
    size_t n = ex->m->n_params;
    if (nd->w.n)
        ex->group.grads_ready(ex->group.user, ex->tgrads, ex->threads, nd->w.off, nd->w.n, n);
    if (nd->b.n)
        ex->group.grads_ready(ex->group.user, ex->tgrads, ex->threads, nd->b.off, nd->b.n, n);
}

void nn_exec_backward(nn_exec *ex, const float *dlogits, int n)
{
    nn_model *m = ex->m;
    grad_job g = {ex};
    nn_pool_run(ex->pool, zero_grads_worker, &g);
    int last = m->n_nodes - 1;
    memcpy(ex->nb[last].dout, dlogits, (size_t)n * m->nodes[last].out_size * sizeof(float));

    layer_job j = {ex, 0, n, 1, 0, 0, 0};
    for (int i = last; i >= 0; i--) {
        const nn_node *nd = &m->nodes[i];
        const node_buf *b = &ex->nb[i];
        /* Skip: nothing upstream to train, a fused activation (its producer masks
         * the gradient), or a branch that does not reach the output. */
        if (!b->need_grad || b->alias >= 0 || !b->live) {
            spans_ready(ex, nd);
            continue;
        }
        j.node = i;
        j.phase = 0;
        if (nd->spec.type == NN_LAYER_BATCHNORM) {
            nn_pool_run(ex->pool, backward_worker, &j);
            reduce_bn_sums(ex, nd->out_c, n);
            /* The reduced sums are the gamma and beta gradients, worker
             * 0's part of them. */
            const double *sums = ex->tsums[0];
            for (int c = 0; c < nd->out_c && ex->group.first == 0; c++) {
                ex->grads[nd->w.off + c] += (float)sums[c];
                ex->grads[nd->b.off + c] += (float)sums[nd->out_c + c];
            }
            j.phase = 1;
        }
        nn_pool_run(ex->pool, backward_worker, &j);
        spans_ready(ex, nd);
    }
    if (ex->grouped)
        ex->group.sum_grads(ex->group.user, ex->grads, ex->tgrads, ex->threads, m->n_params);
    else if (ex->threads > 1)
        nn_pool_run(ex->pool, reduce_grads_worker, &g);
}
