/* Tests of the executor and training loop: whole-network gradient checks
 * through the threaded DAG executor (two networks that between them hold
 * every layer type: batch norm, residual adds with and without projection,
 * dropout, max, average and global average pooling, strided convs, named
 * branches from the input), thread-count consistency, bitwise determinism, resume ==
 * uninterrupted, learning on generated data, divergence handling, and a group
 * of executors standing for MPI processes (nn_exec_group) giving the bits of
 * one executor with all their threads. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/ckpt.h"
#include "libnn/nn_exec.h"
#include "libnn/nn_layers.h"
#include "libnn/nn_pool.h"
#include "libnn/nn_train.h"
#include "fixtures.h"

static nn_layer_spec layer(nn_layer_type t)
{
    nn_layer_spec l;
    nn_layer_spec_defaults(&l, t);
    return l;
}

/* input 2x6x6 ->
 *  0 conv-1 relu (fused into the conv) - 2 conv - 3 bn - 4 relu "a" (two
 *  readers: not fused) - 5 conv - 6 add(a) - 7 relu (fused into the add) -
 *  8 maxpool - 9 conv - 10 bn - 11 relu (fused into the bn) - 12 flatten -
 *  13 dense 5 (a dangling branch: no gradient may flow into it) -
 *  14 dense 8 reading 12 - 15 relu (fused into the dense) - 16 dropout -
 *  17 dense 3 */
static void residual_spec(nn_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->in_c = 2, s->in_h = 6, s->in_w = 6, s->num_classes = 3;
    int n = 0;
    nn_layer_spec l = layer(NN_LAYER_CONV2D);
    l.out_channels = 4, l.kernel = 3, l.pad = 1;
    s->layers[n++] = l;                             /* 0 */
    s->layers[n++] = layer(NN_LAYER_RELU);          /* 1 */
    l.bias = 0;
    s->layers[n++] = l;                             /* 2 */
    s->layers[n++] = layer(NN_LAYER_BATCHNORM);     /* 3 */
    s->layers[n++] = layer(NN_LAYER_RELU);          /* 4 */
    s->layers[n++] = l;                             /* 5 */
    nn_layer_spec add = layer(NN_LAYER_ADD);
    add.input2 = 4;
    s->layers[n++] = add;                           /* 6 */
    s->layers[n++] = layer(NN_LAYER_RELU);          /* 7 */
    s->layers[n++] = layer(NN_LAYER_MAXPOOL);       /* 8 -> 4x3x3 */
    l.bias = 1;
    s->layers[n++] = l;                             /* 9 */
    s->layers[n++] = layer(NN_LAYER_BATCHNORM);     /* 10 */
    s->layers[n++] = layer(NN_LAYER_RELU);          /* 11 */
    s->layers[n++] = layer(NN_LAYER_FLATTEN);       /* 12 */
    l = layer(NN_LAYER_DENSE);
    l.units = 5;
    s->layers[n++] = l;                             /* 13 dangling */
    l.units = 8;
    l.input = 12;
    s->layers[n++] = l;                             /* 14 */
    s->layers[n++] = layer(NN_LAYER_RELU);          /* 15 */
    l = layer(NN_LAYER_DROPOUT);
    l.rate = 0.3f;
    s->layers[n++] = l;                             /* 16 */
    l = layer(NN_LAYER_DENSE);
    l.units = 3;
    s->layers[n++] = l;                             /* 17 */
    s->n_layers = n;
}

/* input 2x8x8 -> 4 classes, the layer types and wirings residual_spec
 * lacks (a branch from the input, a projection shortcut, strided convs,
 * average and global average pooling, a max pool off the 2x2 fast path,
 * an add of two dense heads):
 *  0 conv 4 (3x3 pad 1) - 1 relu "a" (two readers) - 2 conv 6 (3x3 stride 2
 *  pad 1) - 3 bn - 4 relu - 5 conv 6 (3x3 pad 1) "main" -
 *  6 conv 6 (1x1 stride 2) reading "a": the projection "proj" -
 *  7 add(proj, main) - 8 relu - 9 avgpool 3 stride 1 (6x2x2, overlapping
 *  windows) - 10 global_avgpool - 11 flatten - 12 dropout - 13 dense 4 "ha" -
 *  14 conv 3 (3x3 stride 2) reading the input (3x3x3) - 15 depthwise 3x3
 *  pad 1 - 16 relu6 (fused into it) - 17 maxpool 2 stride 1 (3x2x2) -
 *  18 relu6 (on its own) - 19 depthwise 5x5 stride 2 pad 2, no bias
 *  (3x1x1) - 20 flatten - 21 dense 4 "hb" - 22 add(hb, ha) */
static void every_layer_spec(nn_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->in_c = 2, s->in_h = 8, s->in_w = 8, s->num_classes = 4;
    int n = 0;
    nn_layer_spec l = layer(NN_LAYER_CONV2D);
    l.out_channels = 4, l.kernel = 3, l.pad = 1;
    s->layers[n++] = l;                             /* 0 */
    s->layers[n++] = layer(NN_LAYER_RELU);          /* 1 "a" */
    l.out_channels = 6, l.stride = 2, l.bias = 0;
    s->layers[n++] = l;                             /* 2 */
    s->layers[n++] = layer(NN_LAYER_BATCHNORM);     /* 3 */
    s->layers[n++] = layer(NN_LAYER_RELU);          /* 4 */
    l.stride = 1, l.bias = 1;
    s->layers[n++] = l;                             /* 5 "main" */
    l.kernel = 1, l.pad = 0, l.stride = 2, l.bias = 0, l.input = 1;
    s->layers[n++] = l;                             /* 6 "proj" */
    nn_layer_spec add = layer(NN_LAYER_ADD);
    add.input2 = 5;
    s->layers[n++] = add;                           /* 7 */
    s->layers[n++] = layer(NN_LAYER_RELU);          /* 8 */
    l = layer(NN_LAYER_AVGPOOL);
    l.kernel = 3, l.stride = 1;
    s->layers[n++] = l;                             /* 9 */
    s->layers[n++] = layer(NN_LAYER_GLOBAL_AVGPOOL);/* 10 */
    s->layers[n++] = layer(NN_LAYER_FLATTEN);       /* 11 */
    l = layer(NN_LAYER_DROPOUT);
    l.rate = 0.3f;
    s->layers[n++] = l;                             /* 12 */
    l = layer(NN_LAYER_DENSE);
    l.units = 4;
    s->layers[n++] = l;                             /* 13 "ha" */
    l = layer(NN_LAYER_CONV2D);
    l.out_channels = 3, l.kernel = 3, l.stride = 2, l.input = NN_INPUT_NODE;
    s->layers[n++] = l;                             /* 14 */
    l = layer(NN_LAYER_DEPTHWISE_CONV2D);
    l.kernel = 3, l.pad = 1;
    s->layers[n++] = l;                             /* 15 */
    s->layers[n++] = layer(NN_LAYER_RELU6);         /* 16 fused into 15 */
    l = layer(NN_LAYER_MAXPOOL);
    l.kernel = 2, l.stride = 1;
    s->layers[n++] = l;                             /* 17 */
    s->layers[n++] = layer(NN_LAYER_RELU6);         /* 18 on its own */
    l = layer(NN_LAYER_DEPTHWISE_CONV2D);
    l.kernel = 5, l.stride = 2, l.pad = 2, l.bias = 0;
    s->layers[n++] = l;                             /* 19 */
    s->layers[n++] = layer(NN_LAYER_FLATTEN);       /* 20 */
    l = layer(NN_LAYER_DENSE);
    l.units = 4;
    s->layers[n++] = l;                             /* 21 "hb" */
    add.input2 = 13;
    s->layers[n++] = add;                           /* 22 */
    s->n_layers = n;
}

/* input 3x8x8 -> 3 classes, a MobileNet block with an identity shortcut:
 *  0 conv 12 (3x3 pad 1) - 1 bn - 2 relu6 "b0" (read by the depthwise and
 *  the add) - 3 depthwise 3x3 pad 1 - 4 bn - 5 relu6 (fused) - 6 conv 12
 *  (1x1) - 7 bn - 8 add(b0) - 9 relu6 (fused into the add) "b1" - 10
 *  depthwise 3x3 stride 2 pad 1 reading b1 - 11 bn - 12 relu6 - 13 conv 12
 *  (1x1) - 14 bn - 15 global_avgpool - 16 flatten - 17 dense 3 */
static void mobilenet_block_spec(nn_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->in_c = 3, s->in_h = 8, s->in_w = 8, s->num_classes = 3;
    int n = 0;
    nn_layer_spec conv = layer(NN_LAYER_CONV2D), dw = layer(NN_LAYER_DEPTHWISE_CONV2D);
    conv.out_channels = 12, conv.kernel = 3, conv.pad = 1, conv.bias = 0;
    dw.kernel = 3, dw.pad = 1, dw.bias = 0;
    s->layers[n++] = conv;                          /* 0 */
    s->layers[n++] = layer(NN_LAYER_BATCHNORM);     /* 1 */
    s->layers[n++] = layer(NN_LAYER_RELU6);         /* 2 "b0" */
    s->layers[n++] = dw;                            /* 3 */
    s->layers[n++] = layer(NN_LAYER_BATCHNORM);     /* 4 */
    s->layers[n++] = layer(NN_LAYER_RELU6);         /* 5 */
    conv.kernel = 1, conv.pad = 0;
    s->layers[n++] = conv;                          /* 6 */
    s->layers[n++] = layer(NN_LAYER_BATCHNORM);     /* 7 */
    nn_layer_spec add = layer(NN_LAYER_ADD);
    add.input2 = 2;
    s->layers[n++] = add;                           /* 8 */
    s->layers[n++] = layer(NN_LAYER_RELU6);         /* 9 "b1" */
    dw.stride = 2;
    s->layers[n++] = dw;                            /* 10 */
    s->layers[n++] = layer(NN_LAYER_BATCHNORM);     /* 11 */
    s->layers[n++] = layer(NN_LAYER_RELU6);         /* 12 */
    s->layers[n++] = conv;                          /* 13 */
    s->layers[n++] = layer(NN_LAYER_BATCHNORM);     /* 14 */
    s->layers[n++] = layer(NN_LAYER_GLOBAL_AVGPOOL);/* 15 */
    s->layers[n++] = layer(NN_LAYER_FLATTEN);       /* 16 */
    nn_layer_spec d = layer(NN_LAYER_DENSE);
    d.units = 3;
    s->layers[n++] = d;                             /* 17 */
    s->n_layers = n;
}

typedef struct {
    nn_exec *ex;
    const nn_model *m;
    const float *input; /* (n, in_c, in_h, in_w) */
    const uint8_t *labels;
    int n;
} net_ctx;

/* Mean smoothed cross-entropy of one training forward (a fixed dropout
 * key, so every evaluation drops the same units). */
static double net_loss(net_ctx *c, float *dlogits)
{
    const nn_model_spec *s = &c->m->spec;
    const int k = s->num_classes;
    memcpy(nn_exec_input(c->ex), c->input,
           (size_t)c->n * s->in_c * s->in_h * s->in_w * sizeof(float));
    const float *logits = nn_exec_forward(c->ex, c->n, 1, 7, 3);
    int correct = 0;
    return nn_softmax_xent(dlogits, logits, c->labels, c->n, k, 0.1f, 1.0f / c->n, &correct) /
           c->n;
}

static void analytic_grads(nn_model *m, int threads, const float *input, const uint8_t *labels,
                           int n, float *grads_out)
{
    nn_exec *ex;
    nn_error err;
    cr_assert_eq(nn_exec_create(&ex, m, n, threads, 1, &err), NN_OK, "%s", err.msg);
    float dl[64 * 8];
    cr_assert_leq(n * m->spec.num_classes, 64 * 8);
    net_ctx c = {ex, m, input, labels, n};
    net_loss(&c, dl);
    nn_exec_backward(ex, dl, n);
    memcpy(grads_out, nn_exec_grads(ex), m->n_params * sizeof(float));
    nn_exec_free(ex);
}

/* Builds spec with He weights plus small noise (so BN's beta and the
 * biases are non-zero and every path matters), checks the executor's
 * gradient (2 threads) of every parameter against central differences on
 * 5 random images, and returns it in g (n_params, malloc'd). */
static float *check_whole_network_gradient(nn_model *m, const nn_model_spec *spec)
{
    nn_error err;
    cr_assert_eq(nn_model_build(m, spec, &err), NN_OK, "%s", err.msg);
    nn_model_init_params(m, NN_INIT_HE, 11);
    nn_rng r;
    nn_rng_seed(&r, 5);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] += 0.05f * (nn_rng_uniform(&r) - 0.5f);

    enum { N = 5 };
    const size_t in_size = (size_t)spec->in_c * spec->in_h * spec->in_w;
    float *input = malloc(N * in_size * sizeof(float));
    uint8_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)((i * 2 + 1) % spec->num_classes);
    for (size_t i = 0; i < N * in_size; i++)
        input[i] = 2.0f * nn_rng_uniform(&r) - 1.0f;

    float *g = calloc(m->n_params, sizeof(float));
    analytic_grads(m, 2, input, labels, N, g);

    nn_exec *ex;
    cr_assert_eq(nn_exec_create(&ex, m, N, 2, 1, &err), NN_OK);
    float dl[N * 8];
    net_ctx c = {ex, m, input, labels, N};
    /* Central differences at two steps: where they disagree, the step
     * crossed a ReLU or max-pool kink and the parameter is skipped (the
     * count of those is bounded below). */
    const float eps = 4e-4f;
    double worst = 0.0;
    size_t worst_i = 0, checked = 0, kinks = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        float p0 = m->params[i];
        double num[2];
        for (int h = 0; h < 2; h++) {
            float step = h ? eps / 2 : eps;
            m->params[i] = p0 + step;
            double lp = net_loss(&c, dl);
            m->params[i] = p0 - step;
            double lm = net_loss(&c, dl);
            m->params[i] = p0;
            num[h] = (lp - lm) / (2.0 * step);
        }
        if (fabs(num[0] - num[1]) > 0.05 * (fabs(num[0]) + fabs(num[1])) + 1e-3) {
            kinks++;
            continue;
        }
        /* rtol 2e-2 plus atol 1.5e-3: float forward passes leave about
         * 1e-7 * |loss| / step of noise in the differences. */
        double tol = 2e-2 * (fabs(num[1]) + fabs((double)g[i])) + 1.5e-3;
        double e = fabs(num[1] - (double)g[i]) / tol;
        if (e > worst)
            worst = e, worst_i = i;
        checked++;
    }
    cr_assert_lt(kinks, m->n_params / 50, "%zu of %zu parameters hit a kink", kinks, m->n_params);
    cr_assert_gt(checked, 700);
    cr_assert_lt(worst, 1.0, "worst error %g tolerances at parameter %zu", worst, worst_i);
    nn_exec_free(ex);
    free(input);
    return g;
}

/* Every layer with parameters upstream of the output gets a gradient that
 * is not trivially zero. */
static void assert_live_layers_get_gradient(const nn_model *m, const float *g, int skip)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (i == skip || nd->w.n == 0)
            continue;
        double norm = 0;
        for (size_t j = 0; j < nd->w.n; j++)
            norm += (double)g[nd->w.off + j] * g[nd->w.off + j];
        cr_assert_gt(norm, 1e-8, "layer %d (%s): no gradient", i, nn_layer_type_name(nd->spec.type));
    }
}

Test(exec, whole_network_gradient_matches_finite_differences)
{
    nn_model_spec spec;
    residual_spec(&spec);
    nn_model m;
    float *g = check_whole_network_gradient(&m, &spec);
    /* The dangling dense layer gets exactly zero gradient. */
    const nn_node *dangling = &m.nodes[13];
    for (size_t i = 0; i < dangling->w.n; i++)
        cr_assert_eq(g[dangling->w.off + i], 0.0f);
    assert_live_layers_get_gradient(&m, g, 13);
    free(g);
    nn_model_free(&m);
}

Test(exec, every_layer_type_gradient_matches_finite_differences)
{
    nn_model_spec spec;
    every_layer_spec(&spec);
    int seen[NN_LAYER_RELU6 + 1] = {0};
    for (int i = 0; i < spec.n_layers; i++)
        seen[spec.layers[i].type] = 1;
    for (int t = NN_LAYER_CONV2D; t <= NN_LAYER_RELU6; t++)
        cr_assert(seen[t], "layer type %s missing", nn_layer_type_name((nn_layer_type)t));
    nn_model m;
    float *g = check_whole_network_gradient(&m, &spec);
    assert_live_layers_get_gradient(&m, g, -1);
    free(g);
    nn_model_free(&m);
}

Test(exec, mobilenet_residual_block_gradient_matches_finite_differences)
{
    nn_model_spec spec;
    mobilenet_block_spec(&spec);
    nn_model m;
    float *g = check_whole_network_gradient(&m, &spec);
    assert_live_layers_get_gradient(&m, g, -1);
    free(g);
    nn_model_free(&m);
}

Test(exec, one_and_three_threads_agree)
{
    nn_model_spec spec;
    residual_spec(&spec);
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &spec, &err), NN_OK, "%s", err.msg);
    nn_model_init_params(&m, NN_INIT_GLOROT, 3);
    enum { N = 7 };
    float input[N * 72];
    uint8_t labels[N] = {0, 1, 2, 0, 1, 2, 0};
    nn_rng r;
    nn_rng_seed(&r, 9);
    for (int i = 0; i < N * 72; i++)
        input[i] = nn_rng_normal(&r);
    float *g1 = calloc(m.n_params, sizeof(float)), *g3 = calloc(m.n_params, sizeof(float));
    analytic_grads(&m, 1, input, labels, N, g1);
    analytic_grads(&m, 3, input, labels, N, g3);
    for (size_t i = 0; i < m.n_params; i++)
        cr_assert_float_eq(g1[i], g3[i], 1e-5f + 1e-4f * fabsf(g1[i]), "param %zu: %g vs %g", i,
                           g1[i], g3[i]);
    free(g1), free(g3);
    nn_model_free(&m);
}

/* ------------------------------------------------------- training loop -- */

typedef fx_set stripes;

static stripes make_stripes(int n, uint64_t seed) { return fx_stripe_set(n, 2, 6, 6, 3, seed); }

static void train_config(nn_train_config *tc, int epochs, int threads)
{
    memset(tc, 0, sizeof *tc);
    tc->epochs = epochs, tc->batch_size = 16, tc->eval_batch = 32, tc->threads = threads;
    tc->seed = 42;
    tc->schedule = (nn_schedule_config){.kind = NN_SCHED_COSINE, .base_lr = 0.05f,
                                        .warmup_epochs = 0.5f};
    tc->label_smoothing = 0.05f;
}

static void fresh_model(nn_model *m, nn_optim *o)
{
    nn_model_spec spec;
    residual_spec(&spec);
    nn_error err;
    cr_assert_eq(nn_model_build(m, &spec, &err), NN_OK, "%s", err.msg);
    nn_model_init_params(m, NN_INIT_HE, 42);
    nn_optim_config oc = {.kind = NN_OPT_SGD, .momentum = 0.9f, .nesterov = 1,
                          .weight_decay = 5e-4f};
    cr_assert_eq(nn_optim_init(o, &oc, m->n_params, &err), NN_OK);
}

typedef struct {
    const char *path;
    int stop_after; /* epoch after which to "crash"; 0 = never */
    const nn_model *m;
    const nn_optim *o;
    int clean_stop; /* stop with NN_STOP instead of an error */
} save_ctx;

static nn_status save_epoch(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                            nn_error *err)
{
    save_ctx *c = user;
    nn_status st = ckpt_save(c->path, c->m, c->o, ts, "{}", NULL, err);
    if (st == NN_OK && r->epoch == c->stop_after)
        return c->clean_stop ? NN_STOP : nn_errorf(err, NN_ERR_IO, "simulated interruption");
    return st;
}

/* A hook's NN_STOP ends training after that epoch as a success. */
Test(train, hook_stop_ends_training_cleanly)
{
    stripes d = make_stripes(128, 2);
    nn_images img = {d.images, d.labels, d.n};
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    nn_train_config tc;
    train_config(&tc, 3, 2);
    nn_model m;
    nn_optim o;
    fresh_model(&m, &o);
    nn_train_state ts = {42, 0, 3, 0};
    save_ctx sc = {path, 2, &m, &o, 1};
    nn_train_hooks hooks = {NULL, save_epoch, &sc, NULL, NULL};
    nn_error err;
    cr_assert_eq(nn_train(&m, &o, &ts, &tc, &img, NULL, &hooks, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ts.epochs_done, 2);
    cr_assert_eq(ts.step, 2 * (uint64_t)(d.n / tc.batch_size));
    nn_optim_free(&o);
    nn_model_free(&m);
    fx_rmtree(dir);
    free(d.images), free(d.labels);
}

Test(train, same_seed_and_threads_give_bitwise_identical_models)
{
    stripes d = make_stripes(160, 1);
    nn_images img = {d.images, d.labels, d.n};
    nn_train_config tc;
    train_config(&tc, 2, 2);
    float *first = NULL;
    for (int run = 0; run < 2; run++) {
        nn_model m;
        nn_optim o;
        fresh_model(&m, &o);
        nn_train_state ts = {42, 0, 2, 0};
        nn_error err;
        cr_assert_eq(nn_train(&m, &o, &ts, &tc, &img, NULL, NULL, &err), NN_OK, "%s", err.msg);
        cr_assert_eq(ts.step, 2 * (160 / 16));
        fx_expect_same_run(&first, m.params, m.n_params, "two identical runs differ");
        nn_optim_free(&o);
        nn_model_free(&m);
    }
    free(first);
    free(d.images), free(d.labels);
}

/* ------------------------------------- workers of other processes -- */

/* P "processes" in one: threads, each running nn_train with its own model
 * and an executor of T threads, exchanging through shared memory at the
 * points and in the order pipeline/pl_dist_mpi.c does over MPI. */
typedef struct {
    pthread_barrier_t bar;
    int procs, threads;
    double sums[64 * 256]; /* (workers, len) batch-norm sums            */
    float rows[64 * 16];   /* (batch, classes) logits                   */
    float *acc;            /* (n_params) the gradient sum so far        */
} fake_world;

typedef struct {
    fake_world *w;
    int rank;
    nn_model m;
    nn_optim o;
    const nn_images *train, *val;
    double val_loss[3];
    nn_status st;
    /* grads_ready: how often each parameter's span was reported this step,
     * and its gradient (the threads' sum) when it was */
    int *seen;
    float *early;
    int bad, steps;
} fake_proc;

static void fake_gather_sums(void *user, double *sums, size_t len)
{
    fake_proc *p = user;
    fake_world *w = p->w;
    size_t per = (size_t)w->threads * len, mine = (size_t)p->rank * per;
    cr_assert_leq(w->procs * per, sizeof w->sums / sizeof *w->sums);
    memcpy(w->sums + mine, sums + mine, per * sizeof *sums);
    pthread_barrier_wait(&w->bar);
    memcpy(sums, w->sums, w->procs * per * sizeof *sums);
    pthread_barrier_wait(&w->bar);
}

static void fake_gather_rows(void *user, float *rows, int n, size_t len)
{
    fake_proc *p = user;
    fake_world *w = p->w;
    int T = w->threads, W = w->procs * T, b0, b1, e;
    nn_pool_slice(n, p->rank * T, W, &b0, &e);
    nn_pool_slice(n, p->rank * T + T - 1, W, &e, &b1);
    cr_assert_leq(n * len, sizeof w->rows / sizeof *w->rows);
    memcpy(w->rows + b0 * len, rows + b0 * len, (size_t)(b1 - b0) * len * sizeof *rows);
    pthread_barrier_wait(&w->bar);
    memcpy(rows, w->rows, n * len * sizeof *rows);
    pthread_barrier_wait(&w->bar);
}

/* The threads' gradient of parameter i, summed in order. */
static float threads_sum(float *const *tgrads, int threads, size_t i)
{
    float g = tgrads[0][i];
    for (int t = 1; t < threads; t++)
        g += tgrads[t][i];
    return g;
}

/* nn_exec_group.grads_ready: notes the span and its gradient as reported. */
static void fake_grads_ready(void *user, float *const *tgrads, int threads, size_t off,
                             size_t len, size_t n)
{
    fake_proc *p = user;
    if (!p->seen) {
        p->seen = calloc(n, sizeof *p->seen);
        p->early = calloc(n, sizeof *p->early);
        cr_assert(p->seen && p->early);
    }
    for (size_t i = off; i < off + len; i++) {
        p->seen[i]++;
        p->early[i] = threads_sum(tgrads, threads, i);
    }
}

/* Every parameter reported once a step by grads_ready, with its final
 * gradient: what pl_dist_mpi.c relies on to start the exchange early. */
static void check_reported(fake_proc *p, float *const *tgrads, int threads, size_t n)
{
    for (size_t i = 0; p->seen && i < n; i++) {
        float g = threads_sum(tgrads, threads, i);
        if (p->seen[i] != 1 || memcmp(&g, &p->early[i], sizeof g) != 0)
            p->bad++;
        p->seen[i] = 0;
    }
    p->steps++;
}

/* The chain: process 0 starts the sum with its threads' gradients, each
 * next one adds its own in thread order; then every process takes it. */
static void fake_sum_grads(void *user, float *grads, float *const *tgrads, int threads, size_t n)
{
    fake_proc *p = user;
    fake_world *w = p->w;
    check_reported(p, tgrads, threads, n);
    for (int r = 0; r < w->procs; r++) {
        if (r == p->rank) {
            if (r == 0)
                memcpy(w->acc, grads, n * sizeof *grads);
            for (int t = r == 0 ? 1 : 0; t < threads; t++)
                for (size_t i = 0; i < n; i++)
                    w->acc[i] += tgrads[t][i];
        }
        pthread_barrier_wait(&w->bar);
    }
    memcpy(grads, w->acc, n * sizeof *grads);
    pthread_barrier_wait(&w->bar);
}

static nn_status keep_val_loss(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                               nn_error *err)
{
    (void)ts, (void)err;
    ((fake_proc *)user)->val_loss[r->epoch - 1] = r->val_loss;
    return NN_OK;
}

static void *fake_process(void *arg)
{
    fake_proc *p = arg;
    fake_world *w = p->w;
    nn_exec_group g = {p->rank * w->threads, w->procs * w->threads, fake_gather_sums,
                       fake_gather_rows, fake_sum_grads, p, fake_grads_ready};
    nn_train_config tc;
    train_config(&tc, 3, w->threads);
    tc.group = &g;
    nn_train_state ts = {42, 0, 3, 0};
    nn_train_hooks hooks = {NULL, keep_val_loss, p, NULL, NULL};
    nn_error err;
    p->st = nn_train(&p->m, &p->o, &ts, &tc, p->train, p->val, &hooks, &err);
    return NULL;
}

/* P processes of T threads train the model one executor of P x T threads
 * trains, bit for bit (parameters, batch-norm statistics, validation loss),
 * with uneven slices (16 images over 3 workers) too. */
Test(exec, a_group_of_processes_gives_the_bits_of_one_with_all_threads)
{
    stripes d = make_stripes(160, 5), v = make_stripes(40, 6);
    nn_images img = {d.images, d.labels, d.n}, val = {v.images, v.labels, v.n};
    const int layouts[][2] = {{2, 1}, {2, 2}, {4, 1}, {3, 1}};
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
        int P = layouts[l][0], T = layouts[l][1];
        fake_proc one = {.train = &img, .val = &val};
        fake_world alone = {.procs = 1, .threads = P * T};
        one.w = &alone;
        fresh_model(&one.m, &one.o);
        nn_train_config tc;
        train_config(&tc, 3, P * T);
        nn_train_state ts = {42, 0, 3, 0};
        nn_train_hooks hooks = {NULL, keep_val_loss, &one, NULL, NULL};
        nn_error err;
        cr_assert_eq(nn_train(&one.m, &one.o, &ts, &tc, &img, &val, &hooks, &err), NN_OK, "%s",
                     err.msg);

        fake_world *w = calloc(1, sizeof *w);
        fake_proc procs[4];
        pthread_t tid[4];
        w->procs = P, w->threads = T;
        w->acc = malloc(one.m.n_params * sizeof *w->acc);
        pthread_barrier_init(&w->bar, NULL, (unsigned)P);
        for (int r = 0; r < P; r++) {
            procs[r] = (fake_proc){.w = w, .rank = r, .train = &img, .val = &val};
            fresh_model(&procs[r].m, &procs[r].o);
        }
        for (int r = 0; r < P; r++)
            cr_assert_eq(pthread_create(&tid[r], NULL, fake_process, &procs[r]), 0);
        for (int r = 0; r < P; r++)
            pthread_join(tid[r], NULL);
        for (int r = 0; r < P; r++) {
            fake_proc *p = &procs[r];
            cr_assert_eq(p->st, NN_OK, "%d x %d, process %d", P, T, r);
            cr_expect_eq(memcmp(p->m.params, one.m.params, one.m.n_params * sizeof(float)), 0,
                         "%d processes x %d threads, process %d: parameters differ from %d "
                         "threads", P, T, r, P * T);
            cr_expect_eq(memcmp(p->m.state, one.m.state, one.m.n_state * sizeof(float)), 0,
                         "%d x %d, process %d: batch-norm statistics differ", P, T, r);
            cr_expect_eq(memcmp(p->val_loss, one.val_loss, sizeof one.val_loss), 0,
                         "%d x %d, process %d: validation losses differ", P, T, r);
            cr_expect_eq(p->bad, 0, "%d x %d, process %d: %d parameters reported by "
                         "grads_ready not once or before their gradient was final", P, T, r,
                         p->bad);
            cr_expect_eq(p->steps, 3 * (160 / 16), "steps checked: %d", p->steps);
            free(p->seen), free(p->early);
            nn_optim_free(&p->o);
            nn_model_free(&p->m);
        }
        pthread_barrier_destroy(&w->bar);
        free(w->acc), free(w);
        nn_optim_free(&one.o);
        nn_model_free(&one.m);
    }
    free(d.images), free(d.labels), free(v.images), free(v.labels);
}

Test(train, resume_continues_exactly_like_an_uninterrupted_run)
{
    stripes d = make_stripes(128, 2);
    nn_images img = {d.images, d.labels, d.n};
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    nn_train_config tc;
    train_config(&tc, 3, 2);
    nn_error err;

    /* Uninterrupted: 3 epochs. */
    nn_model a;
    nn_optim oa;
    fresh_model(&a, &oa);
    nn_train_state ta = {42, 0, 3, 0};
    cr_assert_eq(nn_train(&a, &oa, &ta, &tc, &img, NULL, NULL, &err), NN_OK, "%s", err.msg);

    /* Interrupted after epoch 1 (checkpoint written), then resumed. */
    nn_model b;
    nn_optim ob;
    fresh_model(&b, &ob);
    nn_train_state tb = {42, 0, 3, 0};
    save_ctx sc = {path, 1, &b, &ob, 0};
    nn_train_hooks hooks = {NULL, save_epoch, &sc, NULL, NULL};
    cr_assert_eq(nn_train(&b, &ob, &tb, &tc, &img, NULL, &hooks, &err), NN_ERR_IO);
    nn_optim_free(&ob);
    nn_model_free(&b);

    ckpt_file ck;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_assert(ck.has_optim && ck.has_train);
    cr_assert_eq(ck.train.epochs_done, 1);
    cr_assert_eq(nn_train(&ck.model, &ck.optim, &ck.train, &tc, &img, NULL, NULL, &err), NN_OK,
                 "%s", err.msg);
    cr_assert_eq(ck.train.step, ta.step);
    cr_assert_eq(memcmp(a.params, ck.model.params, a.n_params * sizeof(float)), 0,
                 "resumed parameters differ from the uninterrupted run");
    cr_assert_eq(memcmp(a.state, ck.model.state, a.n_state * sizeof(float)), 0,
                 "resumed batch-norm statistics differ");
    cr_assert_eq(memcmp(oa.m, ck.optim.m, a.n_params * sizeof(float)), 0,
                 "resumed optimizer state differs");
    ckpt_free(&ck);
    nn_optim_free(&oa);
    nn_model_free(&a);
    fx_rmtree(dir);
    free(d.images), free(d.labels);
}

Test(train, learns_generated_stripes)
{
    stripes tr = make_stripes(480, 3), te = make_stripes(150, 4);
    nn_images train = {tr.images, tr.labels, tr.n}, test = {te.images, te.labels, te.n};
    nn_train_config tc;
    train_config(&tc, 6, 2);
    nn_model m;
    nn_optim o;
    fresh_model(&m, &o);
    /* Normalization as the CLI would set it. */
    m.mean[0] = m.mean[1] = 0.2f, m.std[0] = m.std[1] = 0.25f;
    nn_train_state ts = {42, 0, 6, 0};
    nn_error err;
    cr_assert_eq(nn_train(&m, &o, &ts, &tc, &train, &test, NULL, &err), NN_OK, "%s", err.msg);
    nn_eval_result res;
    cr_assert_eq(nn_evaluate(&m, &test, &(nn_eval_config){.batch = 64, .threads = 2, .test_flip = 0}, &res, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(res.n, 150);
    double acc = (double)res.correct / res.n;
    cr_assert_gt(acc, 0.9, "test accuracy %.3f", acc);
    int total = 0, diag = 0;
    for (int i = 0; i < 9; i++)
        total += res.confusion[i];
    for (int i = 0; i < 3; i++)
        diag += res.confusion[i * 3 + i];
    cr_assert_eq(total, 150);
    cr_assert_eq(diag, res.correct);
    nn_eval_result_free(&res);
    nn_optim_free(&o);
    nn_model_free(&m);
    free(tr.images), free(tr.labels), free(te.images), free(te.labels);
}

/* Test-time flip: the logits of each image are averaged with those of its
 * mirror, computed here by hand with the executor on a mirrored copy. */
Test(train, test_time_flip_averages_image_and_mirror_logits)
{
    enum { N = 40, K = 3, W = 6, SZ = 72 };
    stripes d = make_stripes(N, 7);
    uint8_t *mirror = malloc((size_t)N * SZ);
    for (int r = 0; r < N * 2 * 6; r++)
        for (int x = 0; x < W; x++)
            mirror[r * W + x] = d.images[r * W + (W - 1 - x)];
    nn_model m;
    nn_optim o;
    fresh_model(&m, &o);
    nn_error err;
    nn_exec *ex;
    cr_assert_eq(nn_exec_create(&ex, &m, N, 1, 0, &err), NN_OK, "%s", err.msg);
    float avg[N * K];
    nn_exec_load_images(ex, d.images, NULL, N, NULL, NULL, 0);
    memcpy(avg, nn_exec_forward(ex, N, 0, 0, 0), sizeof avg);
    nn_exec_load_images(ex, mirror, NULL, N, NULL, NULL, 0);
    const float *lm = nn_exec_forward(ex, N, 0, 0, 0);
    for (int i = 0; i < N * K; i++)
        avg[i] = 0.5f * (avg[i] + lm[i]);
    int want_correct = 0;
    double want_loss = nn_softmax_xent(NULL, avg, d.labels, N, K, 0.0f, 1.0f, &want_correct) / N;
    nn_exec_free(ex);

    nn_images img = {d.images, d.labels, N}, mimg = {mirror, d.labels, N};
    nn_eval_result flip, mflip, plain;
    /* Batch 16 leaves a partial last batch of 8. */
    cr_assert_eq(nn_evaluate(&m, &img, &(nn_eval_config){.batch = 16, .threads = 2, .test_flip = 1}, &flip, &err), NN_OK);
    cr_assert_eq(nn_evaluate(&m, &mimg, &(nn_eval_config){.batch = 16, .threads = 2, .test_flip = 1}, &mflip, &err), NN_OK);
    cr_assert_eq(nn_evaluate(&m, &img, &(nn_eval_config){.batch = 16, .threads = 2, .test_flip = 0}, &plain, &err), NN_OK);
    cr_assert_float_eq(flip.loss, want_loss, 1e-5 * want_loss, "%g vs %g", flip.loss, want_loss);
    cr_assert_eq(flip.correct, want_correct);
    cr_assert_float_eq(mflip.loss, flip.loss, 1e-5 * flip.loss, "flip is not mirror-symmetric");
    cr_assert(fabs(plain.loss - flip.loss) > 1e-4 * flip.loss,
              "the flip changed nothing: %g vs %g", plain.loss, flip.loss);
    nn_eval_result_free(&flip), nn_eval_result_free(&mflip), nn_eval_result_free(&plain);
    nn_optim_free(&o);
    nn_model_free(&m);
    free(mirror), free(d.images), free(d.labels);
}

Test(train, divergence_stops_with_a_numeric_error)
{
    stripes d = make_stripes(64, 5);
    nn_images img = {d.images, d.labels, d.n};
    nn_train_config tc;
    train_config(&tc, 2, 1);
    tc.schedule = (nn_schedule_config){.kind = NN_SCHED_CONSTANT, .base_lr = 1e30f};
    nn_model m;
    nn_optim o;
    fresh_model(&m, &o);
    nn_train_state ts = {42, 0, 2, 0};
    nn_error err;
    cr_assert_eq(nn_train(&m, &o, &ts, &tc, &img, NULL, NULL, &err), NN_ERR_NUMERIC);
    cr_assert_not_null(strstr(err.msg, "training diverged"), "%s", err.msg);
    nn_optim_free(&o);
    nn_model_free(&m);
    free(d.images), free(d.labels);
}

Test(train, rejects_labels_beyond_the_model_classes)
{
    stripes d = make_stripes(32, 6);
    d.labels[7] = 9;
    nn_images img = {d.images, d.labels, d.n};
    nn_train_config tc;
    train_config(&tc, 1, 1);
    nn_model m;
    nn_optim o;
    fresh_model(&m, &o);
    nn_train_state ts = {42, 0, 1, 0};
    nn_error err;
    cr_assert_eq(nn_train(&m, &o, &ts, &tc, &img, NULL, NULL, &err), NN_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "image 7"), "%s", err.msg);
    nn_optim_free(&o);
    nn_model_free(&m);
    free(d.images), free(d.labels);
}

/* A transform that marks each pixel with (epoch, dataset index). */
static void xor_mark(void *user, uint8_t *dst, const uint8_t *src, uint64_t epoch, uint64_t index,
                     int worker)
{
    (void)worker;
    int *calls = user;
    __atomic_add_fetch(calls, 1, __ATOMIC_RELAXED);
    for (int p = 0; p < 72; p++)
        dst[p] = (uint8_t)(src[p] ^ (uint8_t)(index * 7 + epoch * 13 + p));
}

Test(exec, image_transform_is_keyed_by_epoch_and_dataset_index)
{
    nn_model_spec spec;
    residual_spec(&spec);
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &spec, &err), NN_OK, "%s", err.msg);
    m.mean[0] = m.mean[1] = 0.0f, m.std[0] = m.std[1] = 1.0f;
    enum { N = 5, POOL = 9 };
    uint8_t images[POOL * 72];
    for (int i = 0; i < POOL * 72; i++)
        images[i] = (uint8_t)(i * 31);
    const uint32_t index[N] = {8, 2, 5, 0, 7};
    float *ref = NULL;
    for (int threads = 1; threads <= 3; threads += 2) {
        nn_exec *ex;
        cr_assert_eq(nn_exec_create(&ex, &m, N, threads, 0, &err), NN_OK);
        int calls = 0;
        nn_exec_load_images(ex, images, index, N, xor_mark, &calls, 4);
        cr_assert_eq(calls, N);
        const float *in = nn_exec_input(ex);
        for (int b = 0; b < N; b++)
            for (int p = 0; p < 72; p++) {
                uint8_t want = images[index[b] * 72 + p] ^ (uint8_t)(index[b] * 7 + 4 * 13 + p);
                cr_assert_float_eq(in[b * 72 + p], want / 255.0f, 1e-6f, "image %d pixel %d", b, p);
            }
        if (!ref) {
            ref = malloc(sizeof(float) * N * 72);
            memcpy(ref, in, sizeof(float) * N * 72);
        } else {
            cr_assert_eq(memcmp(ref, in, sizeof(float) * N * 72), 0);
        }
        nn_exec_free(ex);
    }
    free(ref);
    nn_model_free(&m);
}

/* A teacher's input from the student's: the same pixels normalized as the
 * teacher's model says (each channel its own mean and std), and an exact
 * copy when the two agree. */
Test(exec, input_from_renormalizes_per_channel)
{
    nn_model_spec spec;
    residual_spec(&spec);
    nn_model s, t;
    nn_error err;
    cr_assert_eq(nn_model_build(&s, &spec, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_model_build(&t, &spec, &err), NN_OK, "%s", err.msg);
    s.mean[0] = 0.2f, s.std[0] = 0.3f, s.mean[1] = 0.6f, s.std[1] = 0.1f;
    t.mean[0] = 0.5f, t.std[0] = 0.25f, t.mean[1] = 0.1f, t.std[1] = 0.7f;
    enum { N = 3 };
    uint8_t images[N * 72];
    for (int i = 0; i < N * 72; i++)
        images[i] = (uint8_t)(i * 37 + 11);
    nn_exec *es, *et, *copy;
    cr_assert_eq(nn_exec_create(&es, &s, N, 1, 0, &err), NN_OK);
    cr_assert_eq(nn_exec_create(&et, &t, N, 1, 0, &err), NN_OK);
    cr_assert_eq(nn_exec_create(&copy, &t, N, 2, 0, &err), NN_OK);
    nn_exec_load_images(es, images, NULL, N, NULL, NULL, 0);
    nn_exec_load_images(et, images, NULL, N, NULL, NULL, 0);
    nn_exec_input_from(copy, es, N);
    const float *want = nn_exec_input(et), *got = nn_exec_input(copy);
    for (int i = 0; i < N * 72; i++)
        cr_assert_float_eq(got[i], want[i], 2e-5f * (1 + fabsf(want[i])), "value %d: %g, not %g",
                           i, got[i], want[i]);
    nn_exec_free(copy);
    /* The same normalization: the student's floats exactly. */
    cr_assert_eq(nn_exec_create(&copy, &s, N, 1, 0, &err), NN_OK);
    nn_exec_input_from(copy, es, N);
    cr_assert_eq(memcmp(nn_exec_input(copy), nn_exec_input(es), sizeof(float) * N * 72), 0);
    nn_exec_free(copy), nn_exec_free(es), nn_exec_free(et);
    nn_model_free(&s), nn_model_free(&t);
}

Test(error, prefix_adds_context_and_truncates_cleanly)
{
    nn_error e;
    nn_errorf(&e, NN_ERR_IO, "cannot open %s", "x.ckpt");
    nn_error_prefix(&e, "layer %d", 3);
    cr_assert_str_eq(e.msg, "layer 3: cannot open x.ckpt");
    char long_msg[600];
    memset(long_msg, 'a', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = '\0';
    nn_errorf(&e, NN_ERR_IO, "%s", long_msg);
    nn_error_prefix(&e, "ctx");
    cr_assert_eq(strlen(e.msg), sizeof e.msg - 1);
    cr_assert_eq(strncmp(e.msg, "ctx: aaa", 8), 0);
    cr_assert_eq(nn_status_exit_code(NN_ERR_CONFIG), 2);
    cr_assert_eq(nn_status_exit_code(NN_ERR_FORMAT), 1);
}
