/* test_prune.c - unstructured pruning: magnitude masks (per layer and
 * global: exact counts, the right weights, deterministic ties, existing
 * zeros), the gradual schedule's golden values, the training hook, and
 * pruned weights staying exactly zero through fine-tuning with momentum
 * and weight decay. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prune/prune.h"
#include "prune/prune_magnitude.h"
#include "prune/prune_mask.h"
#include "prune/prune_schedule.h"
#include "prune/prune_session.h"
#include "libnn/nn_train.h"
#include "fixtures.h"
#include "prune_nets.h"

/* input 1x2x2 -> 0 dense 4 (w 4x4) - 1 relu - 2 dense 2 (w 2x4). */
static void two_dense(nn_model *m, const float *w0, const float *w1)
{
    nn_model_spec s;
    LS_SPEC(&s, 1, 2, 2, 2, ls_dense(4), ls_layer(NN_LAYER_RELU), ls_dense(2));
    pn_build(m, &s);
    memcpy(m->params + m->nodes[0].w.off, w0, 16 * sizeof(float));
    memcpy(m->params + m->nodes[2].w.off, w1, 8 * sizeof(float));
    for (size_t i = 0; i < m->nodes[0].b.n; i++)
        m->params[m->nodes[0].b.off + i] = 0.5f; /* biases are never pruned */
}

static pr_magnitude_config layer_scope(double sparsity)
{
    pr_magnitude_config c = {PR_SCOPE_LAYER, PR_NORM_NONE, {0, {0}}};
    pr_targets_init(&c.targets, sparsity);
    return c;
}

/* Prunes m with c from its zeros; the mask is returned in mk. */
static void prune(nn_model *m, pr_mask *mk, const pr_magnitude_config *c)
{
    nn_error err;
    cr_assert_eq(pr_mask_init(mk, m, &err), NN_OK);
    uint64_t *scratch = malloc(pr_magnitude_scratch(m) * sizeof *scratch);
    cr_assert_eq(pr_magnitude_prune(mk, m, c, scratch, &err), NN_OK, "%s", err.msg);
    free(scratch);
}

/* The pruned positions of node i's weights, as a bit set (up to 64). */
static uint64_t pruned_set(const pr_mask *mk, const nn_model *m, int i)
{
    uint64_t set = 0;
    for (size_t j = 0; j < m->nodes[i].w.n; j++)
        if (!mk->keep[m->nodes[i].w.off + j])
            set |= (uint64_t)1 << j;
    return set;
}

#define BITS4(a, b, c, d)                                                                          \
    (((uint64_t)1 << (a)) | ((uint64_t)1 << (b)) | ((uint64_t)1 << (c)) | ((uint64_t)1 << (d)))

static const float W0[16] = {0.9f,  -0.05f, 0.3f,   0.02f, -0.6f, 0.11f, 0.7f,  -0.2f,
                             0.01f, 0.5f,   -0.33f, 0.08f, 0.4f,  -0.8f, 0.06f, 0.25f};
static const float W1[8] = {-0.3f, 0.1f, 0.45f, -0.05f, 0.2f, 0.6f, -0.15f, 0.9f};

Test(prune_magnitude, per_layer_prunes_the_smallest_weights_and_nothing_else)
{
    nn_model m;
    two_dense(&m, W0, W1);
    float *before = malloc(m.n_params * sizeof(float));
    memcpy(before, m.params, m.n_params * sizeof(float));
    pr_magnitude_config c = layer_scope(0.5);
    c.targets.layer[0] = 0.25; /* own target: 4 of 16 */
    pr_mask mk;
    prune(&m, &mk, &c);
    /* |w| ascending: 0.01 (8), 0.02 (3), 0.05 (1), 0.06 (14) | 0.08 ... */
    cr_assert_eq(pruned_set(&mk, &m, 0), BITS4(8, 3, 1, 14));
    /* default 0.5: 4 of 8; 0.05 (3), 0.1 (1), 0.15 (6), 0.2 (4) */
    cr_assert_eq(pruned_set(&mk, &m, 2), BITS4(3, 1, 6, 4));
    for (size_t i = 0; i < m.n_params; i++) {
        if (!mk.keep[i])
            cr_assert(m.params[i] == 0.0f && !signbit(m.params[i]), "param %zu not +0", i);
        else
            cr_assert_eq(m.params[i], before[i], "kept param %zu changed", i);
    }
    cr_assert_eq(pr_mask_pruned_total(&mk, &m), 8);
    pr_mask_free(&mk);
    free(before);
    nn_model_free(&m);
}

Test(prune_magnitude, equal_magnitudes_go_in_index_order)
{
    float w0[16], w1[8];
    for (int i = 0; i < 16; i++)
        w0[i] = i % 2 ? -1.0f : 1.0f; /* all |w| = 1, both signs */
    for (int i = 0; i < 8; i++)
        w1[i] = i < 3 ? 0.5f : (i % 2 ? -0.25f : 0.25f); /* five tie at 0.25 */
    nn_model m;
    two_dense(&m, w0, w1);
    pr_magnitude_config c = layer_scope(0.25);
    pr_mask mk;
    prune(&m, &mk, &c);
    cr_assert_eq(pruned_set(&mk, &m, 0), 0x000f, "got %llx",
                 (unsigned long long)pruned_set(&mk, &m, 0));
    /* 2 of 8: the first two of the tied 0.25s, indices 3 and 4 */
    cr_assert_eq(pruned_set(&mk, &m, 2), ((uint64_t)1 << 3) | ((uint64_t)1 << 4));
    pr_mask_free(&mk);
    nn_model_free(&m);
}

Test(prune_magnitude, existing_zeros_stay_pruned_and_count)
{
    float w0[16];
    memcpy(w0, W0, sizeof w0);
    w0[0] = w0[6] = w0[13] = 0.0f;
    w0[9] = -0.0f;
    nn_model m;
    two_dense(&m, w0, W1);
    nn_error err;
    pr_mask mk;
    cr_assert_eq(pr_mask_init(&mk, &m, &err), NN_OK);
    cr_assert_eq(pr_mask_pruned(&mk, m.nodes[0].w.off, 16), 4, "zeros (and -0) start pruned");
    cr_assert_eq(pr_mask_pruned(&mk, m.nodes[0].b.off, 4), 0, "biases are never masked");
    /* A weight the mask prunes but the optimizer moved: still pruned first. */
    m.params[m.nodes[0].w.off + 4] = 5.0f;
    mk.keep[m.nodes[0].w.off + 4] = 0;
    uint64_t *scratch = malloc(pr_magnitude_scratch(&m) * sizeof *scratch);
    pr_magnitude_config c = layer_scope(0.0);
    c.targets.layer[0] = 0.25; /* 4 < the 5 already pruned: nothing more */
    cr_assert_eq(pr_magnitude_prune(&mk, &m, &c, scratch, &err), NN_OK);
    cr_assert_eq(pruned_set(&mk, &m, 0), BITS4(0, 6, 13, 9) | (1u << 4));
    cr_assert_eq(m.params[m.nodes[0].w.off + 4], 0.0f, "the drifted weight is zero again");
    c.targets.layer[0] = 0.5; /* 8: the 5 plus 0.01 (8), 0.02 (3), 0.05 (1) */
    cr_assert_eq(pr_magnitude_prune(&mk, &m, &c, scratch, &err), NN_OK);
    cr_assert_eq(pruned_set(&mk, &m, 0), BITS4(0, 6, 13, 9) | BITS4(4, 8, 3, 1));
    free(scratch);
    pr_mask_free(&mk);
    nn_model_free(&m);
}

static size_t round_count(double t, size_t n) { return (size_t)floor(t * (double)n + 0.5); }

Test(prune_magnitude, counts_are_exact_per_layer_and_global)
{
    nn_model_spec s;
    pn_plain_spec(&s);
    static const double targets[] = {0.0, 0.1, 1.0 / 3.0, 0.5, 0.9, 0.97, 1.0};
    for (int scope = 0; scope < 2; scope++)
        for (size_t ti = 0; ti < sizeof targets / sizeof targets[0]; ti++) {
            nn_model m;
            pn_build(&m, &s);
            pn_randomize(&m, 3 + ti);
            pr_magnitude_config c = layer_scope(targets[ti]);
            c.scope = scope ? PR_SCOPE_GLOBAL : PR_SCOPE_LAYER;
            pr_mask mk;
            prune(&m, &mk, &c);
            size_t total = 0, pruned = 0;
            for (int i = 0; i < m.n_nodes; i++) {
                const nn_node *nd = &m.nodes[i];
                if (!pr_prunable(nd))
                    continue;
                size_t p = pr_mask_pruned(&mk, nd->w.off, nd->w.n);
                if (!scope)
                    cr_assert_eq(p, round_count(targets[ti], nd->w.n),
                                 "layer %d: %zu pruned of %zu for %g", i, p, nd->w.n, targets[ti]);
                for (size_t j = 0; j < nd->w.n; j++)
                    cr_assert(mk.keep[nd->w.off + j] || m.params[nd->w.off + j] == 0.0f);
                total += nd->w.n, pruned += p;
            }
            if (scope)
                cr_assert_eq(pruned, round_count(targets[ti], total), "global %g: %zu of %zu",
                             targets[ti], pruned, total);
            pr_mask_free(&mk);
            nn_model_free(&m);
        }
}

typedef struct {
    float mag;
    size_t idx;
} mag_idx;

static int by_mag(const void *a, const void *b)
{
    const mag_idx *x = a, *y = b;
    if (x->mag != y->mag)
        return x->mag < y->mag ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The global oracle: sort every prunable weight by (|w| * scale, index)
 * and prune the first k. rms: scale = 1 / rms of the layer's weights. */
static void global_oracle(const nn_model *m, double target, int rms, uint8_t *expect_keep)
{
    size_t n = pr_prunable_count(m), o = 0;
    mag_idx *all = malloc(n * sizeof *all);
    memset(expect_keep, 1, m->n_params);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (!pr_prunable(nd))
            continue;
        double scale = 1.0;
        if (rms) {
            double sum = 0.0;
            for (size_t j = 0; j < nd->w.n; j++)
                sum += (double)m->params[nd->w.off + j] * m->params[nd->w.off + j];
            scale = 1.0 / sqrt(sum / (double)nd->w.n);
        }
        for (size_t j = 0; j < nd->w.n; j++)
            all[o++] = (mag_idx){(float)(fabs((double)m->params[nd->w.off + j]) * scale),
                                 nd->w.off + j};
    }
    qsort(all, n, sizeof *all, by_mag);
    for (size_t k = 0; k < round_count(target, n); k++)
        expect_keep[all[k].idx] = 0;
    free(all);
}

Test(prune_magnitude, global_threshold_matches_a_sort_of_all_weights)
{
    nn_model_spec s;
    pn_plain_spec(&s);
    for (int rms = 0; rms < 2; rms++) {
        nn_model m;
        pn_build(&m, &s);
        pn_randomize(&m, 21);
        /* Make layer 3's weights 100x larger: a global threshold spares them
         * (scale "none") but not once normalized by the layer's rms. */
        for (size_t j = 0; j < m.nodes[3].w.n; j++)
            m.params[m.nodes[3].w.off + j] *= 100.0f;
        uint8_t *expect = malloc(m.n_params);
        global_oracle(&m, 0.6, rms, expect);
        pr_magnitude_config c = layer_scope(0.6);
        c.scope = PR_SCOPE_GLOBAL;
        c.norm = rms ? PR_NORM_RMS : PR_NORM_NONE;
        pr_mask mk;
        prune(&m, &mk, &c);
        cr_assert_eq(memcmp(mk.keep, expect, m.n_params), 0, "rms %d: mask differs from the oracle",
                     rms);
        double frac3 =
            (double)pr_mask_pruned(&mk, m.nodes[3].w.off, m.nodes[3].w.n) / (double)m.nodes[3].w.n;
        if (rms)
            cr_assert_gt(frac3, 0.3, "normalized: layer 3 pruned like the others (%g)", frac3);
        else
            cr_assert_lt(frac3, 0.05, "unnormalized: the big layer is spared (%g)", frac3);
        free(expect);
        pr_mask_free(&mk);
        nn_model_free(&m);
    }
}

Test(prune_magnitude, global_with_overrides_and_skips)
{
    nn_model m;
    pn_net(&m, pn_plain_spec);
    pn_randomize(&m, 8);
    pr_magnitude_config c = layer_scope(0.8);
    c.scope = PR_SCOPE_GLOBAL;
    c.targets.layer[0] = PR_SKIP;
    c.targets.layer[11] = 0.25;
    pr_mask mk;
    prune(&m, &mk, &c);
    cr_assert_eq(pr_mask_pruned(&mk, m.nodes[0].w.off, m.nodes[0].w.n), 0, "skipped layer pruned");
    cr_assert_eq(pr_mask_pruned(&mk, m.nodes[11].w.off, m.nodes[11].w.n), 36, "0.25 of 144");
    size_t pool = 0, pruned = 0;
    for (int i = 3; i <= 13; i += 5) /* layers 3, 8, 13 share the threshold */
        pool += m.nodes[i].w.n, pruned += pr_mask_pruned(&mk, m.nodes[i].w.off, m.nodes[i].w.n);
    cr_assert_eq(pool, 432 + 1536 + 36);
    cr_assert_eq(pruned, round_count(0.8, pool));
    pr_mask_free(&mk);
    nn_model_free(&m);
}

Test(prune_magnitude, radix_select_matches_sorting)
{
    enum { N = 3000 };
    uint64_t *keys = malloc(N * sizeof *keys), *copy = malloc(N * sizeof *copy);
    nn_rng r;
    nn_rng_seed(&r, 77);
    for (size_t i = 0; i < N; i++) /* many equal high parts, distinct low parts */
        keys[i] = ((uint64_t)(nn_rng_u32(&r) % 50) << 32) | (uint64_t)i;
    memcpy(copy, keys, N * sizeof *keys);
    for (size_t i = 1; i < N; i++) /* insertion sort: the simplest oracle */
        for (size_t j = i; j > 0 && copy[j - 1] > copy[j]; j--) {
            uint64_t t = copy[j];
            copy[j] = copy[j - 1], copy[j - 1] = t;
        }
    static const size_t ks[] = {1, 2, 17, 1500, 2999, 3000};
    uint64_t *work = malloc(N * sizeof *work);
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        memcpy(work, keys, N * sizeof *keys);
        cr_assert_eq(pr_select_kth(work, N, ks[i]), copy[ks[i] - 1], "k = %zu", ks[i]);
    }
    free(keys), free(copy), free(work);
}

Test(prune_magnitude, bad_targets_are_refused)
{
    nn_model m;
    two_dense(&m, W0, W1);
    nn_error err;
    pr_magnitude_config c = layer_scope(1.5);
    cr_assert_eq(pr_magnitude_check(&c, &m, &err), NN_ERR_ARG);
    c = layer_scope(0.5);
    c.targets.layer[1] = 0.3; /* relu */
    cr_assert_eq(pr_magnitude_check(&c, &m, &err), NN_ERR_ARG);
    cr_assert(strstr(err.msg, "layer 1 (relu)"), "%s", err.msg);
    c.targets.layer[1] = PR_SKIP;
    cr_assert_eq(pr_magnitude_check(&c, &m, &err), NN_OK);
    nn_model_free(&m);
}

/* ------------------------------------------------------------ schedule -- */

Test(prune_schedule, zhu_gupta_golden_values)
{
    /* s_f 0.9, s_i 0, t0 100, n*dt 1000, dt 100, e 3:
     * s = 0.9 * (1 - (1 - p)^3) at the latest update, p = (t - t0) / 1000. */
    pr_schedule s = {100, 1100, 100, 3.0, 0.0};
    static const struct {
        uint64_t step;
        double s;
    } golden[] = {
        {0, 0.0},       {99, 0.0},     {100, 0.0},
        {150, 0.0},     {200, 0.2439}, /* p 0.1: 0.9 * (1 - 0.729) */
        {350, 0.4392},                 /* held at 300, p 0.2: 0.9 * (1 - 0.512) */
        {600, 0.7875},                 /* p 0.5: 0.9 * (1 - 0.125) */
        {1099, 0.8991},                /* held at 1000, p 0.9: 0.9 * (1 - 0.001) */
        {1100, 0.9},    {5000, 0.9},
    };
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++)
        cr_assert_float_eq(pr_schedule_sparsity(&s, 0.9, golden[i].step), golden[i].s, 1e-12,
                           "step %llu: %.17g", (unsigned long long)golden[i].step,
                           pr_schedule_sparsity(&s, 0.9, golden[i].step));
    /* s_i 0.5 and exponent 1 (linear): at p 0.5, 0.7 + (0.5 - 0.7) * 0.5 = 0.6 */
    s.initial = 0.5, s.exponent = 1.0;
    cr_assert_float_eq(pr_schedule_sparsity(&s, 0.7, 600), 0.6, 1e-12);
    cr_assert_float_eq(pr_schedule_sparsity(&s, 0.7, 100), 0.5, 1e-12);
    /* A final target below s_i never overshoots: constant at the target. */
    cr_assert_float_eq(pr_schedule_sparsity(&s, 0.3, 100), 0.3, 1e-12);
    cr_assert_float_eq(pr_schedule_sparsity(&s, 0.3, 700), 0.3, 1e-12);
}

Test(prune_schedule, update_steps)
{
    pr_schedule s = {100, 1100, 100, 3.0, 0.0};
    cr_assert(!pr_schedule_updates_at(&s, 0));
    cr_assert(!pr_schedule_updates_at(&s, 99));
    cr_assert(pr_schedule_updates_at(&s, 100));
    cr_assert(!pr_schedule_updates_at(&s, 150));
    cr_assert(pr_schedule_updates_at(&s, 200));
    cr_assert(pr_schedule_updates_at(&s, 1100));
    cr_assert(!pr_schedule_updates_at(&s, 1200));
    /* The end is an update even off the grid. */
    pr_schedule t = {0, 250, 100, 3.0, 0.0};
    int n = 0;
    for (uint64_t i = 0; i < 400; i++)
        n += pr_schedule_updates_at(&t, i);
    cr_assert_eq(n, 4); /* 0, 100, 200, 250 */
    cr_assert(pr_schedule_updates_at(&t, 250));
    pr_schedule once;
    pr_schedule_oneshot(&once);
    cr_assert(pr_schedule_updates_at(&once, 0));
    cr_assert(!pr_schedule_updates_at(&once, 1));
    cr_assert_eq(pr_schedule_sparsity(&once, 0.8, 0), 0.8);
    cr_assert_eq(pr_schedule_sparsity(&once, 0.8, 10), 0.8);
}

/* ------------------------------------------------- hook and fine-tuning -- */

typedef fx_set data;

/* pn_plain_spec's 2x8x8 images, 3 classes */
static data stripes(int n, uint64_t seed) { return fx_stripe_set(n, 2, 8, 8, 3, seed); }

static nn_train_config tune_config(int epochs)
{
    nn_train_config tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = epochs, tc.batch_size = 16, tc.eval_batch = 32, tc.threads = 2, tc.seed = 9;
    tc.schedule = (nn_schedule_config){.kind = NN_SCHED_CONSTANT, .base_lr = 0.05f};
    return tc;
}

static void plain_model(nn_model *m, nn_optim *o, nn_optim_kind kind)
{
    nn_model_spec s;
    pn_plain_spec(&s);
    pn_build(m, &s);
    nn_model_init_params(m, NN_INIT_HE, 4);
    nn_optim_config oc = {.kind = kind,
                          .momentum = 0.9f,
                          .nesterov = 1,
                          .weight_decay = 5e-4f,
                          .beta1 = 0.9f,
                          .beta2 = 0.999f,
                          .eps = 1e-8f};
    if (kind == NN_OPT_ADAMW)
        oc.weight_decay = 0.01f;
    nn_error err;
    cr_assert_eq(nn_optim_init(o, &oc, m->n_params, &err), NN_OK, "%s", err.msg);
}

typedef struct {
    nn_model *m;
    nn_optim *o;
    uint64_t calls, last_step;
    int in_order, right_args, before_batch;
    uint64_t steps_per_epoch;
} hook_log;

static void log_step(void *user, nn_model *m, nn_optim *opt, uint64_t step)
{
    hook_log *h = user;
    h->right_args &= m == h->m && opt == h->o && opt->t == step;
    h->in_order &= step == h->last_step + 1;
    h->last_step = step;
    h->calls++;
}

static void log_batch(void *user, const nn_progress *p)
{
    hook_log *h = user;
    h->before_batch &=
        h->last_step == (uint64_t)(p->epoch - 1) * h->steps_per_epoch + (uint64_t)p->batch;
}

Test(train_hook, after_step_runs_once_per_step_in_order_before_on_batch)
{
    data d = stripes(96, 1);
    nn_images img = {d.images, d.labels, d.n};
    nn_model m;
    nn_optim o;
    plain_model(&m, &o, NN_OPT_SGD);
    nn_train_config tc = tune_config(2);
    hook_log h = {&m, &o, 0, 0, 1, 1, 1, 96 / 16};
    nn_train_hooks hooks = {log_batch, NULL, &h, log_step, NULL};
    nn_train_state ts = {9, 0, 2, 0};
    nn_error err;
    cr_assert_eq(nn_train(&m, &o, &ts, &tc, &img, NULL, &hooks, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(h.calls, 12);
    cr_assert_eq(h.last_step, ts.step);
    cr_assert(h.in_order, "steps out of order");
    cr_assert(h.right_args, "the hook got another model or optimizer, or ran before the step");
    cr_assert(h.before_batch, "on_batch ran before after_step");
    nn_optim_free(&o);
    nn_model_free(&m);
    free(d.images), free(d.labels);
}

/* Prunes a fresh plain model to 70% per layer, then trains it 3 epochs
 * with the session's hook (or, hooked = 0, without it). */
static void prune_and_train(nn_optim_kind kind, int hooked, nn_model *m, nn_optim *o, pr_session *s,
                            float **before)
{
    data d = stripes(160, 2);
    nn_images img = {d.images, d.labels, d.n};
    plain_model(m, o, kind);
    pr_magnitude_config c = layer_scope(0.7);
    pr_schedule once;
    pr_schedule_oneshot(&once);
    nn_error err;
    cr_assert_eq(pr_session_init(s, m, &c, &once, &err), NN_OK, "%s", err.msg);
    pr_session_step(s, m, o, 0);
    *before = malloc(m->n_params * sizeof(float));
    memcpy(*before, m->params, m->n_params * sizeof(float));
    nn_train_config tc = tune_config(3);
    nn_train_hooks hooks = {NULL, NULL, s, hooked ? pr_session_after_step : NULL, NULL};
    nn_train_state ts = {9, 0, 3, 0};
    cr_assert_eq(nn_train(m, o, &ts, &tc, &img, NULL, &hooks, &err), NN_OK, "%s", err.msg);
    free(d.images), free(d.labels);
}

static void check_zeros_kept(nn_optim_kind kind)
{
    nn_model m;
    nn_optim o;
    pr_session s;
    float *before;
    prune_and_train(kind, 1, &m, &o, &s, &before);
    size_t pruned = 0, kept = 0, moved = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        if (!s.mask.keep[i]) {
            uint32_t bits;
            memcpy(&bits, &m.params[i], 4);
            cr_assert_eq(bits, 0u, "pruned param %zu is %g after fine-tuning", i, m.params[i]);
            cr_assert_eq(o.m[i], 0.0f, "pruned param %zu has momentum %g", i, o.m[i]);
            if (o.v)
                cr_assert_eq(o.v[i], 0.0f, "pruned param %zu has a second moment", i);
            pruned++;
        } else {
            kept++;
            moved += m.params[i] != before[i];
        }
    }
    cr_assert_eq(pruned, pr_mask_pruned_total(&s.mask, &m));
    cr_assert_gt(pruned, (size_t)(0.69 * (double)pr_prunable_count(&m)));
    cr_assert_gt(moved, kept * 9 / 10, "training barely changed the kept weights (%zu of %zu)",
                 moved, kept);
    free(before);
    pr_session_free(&s);
    nn_optim_free(&o);
    nn_model_free(&m);
}

Test(prune_finetune, pruned_weights_stay_exactly_zero_with_sgd_momentum_and_decay)
{
    check_zeros_kept(NN_OPT_SGD);
}

Test(prune_finetune, pruned_weights_stay_exactly_zero_with_adamw)
{
    check_zeros_kept(NN_OPT_ADAMW);
}

Test(prune_finetune, without_the_hook_pruned_weights_drift)
{
    /* The control: what the hook prevents does happen without it. */
    nn_model m;
    nn_optim o;
    pr_session s;
    float *before;
    prune_and_train(NN_OPT_SGD, 0, &m, &o, &s, &before);
    size_t drifted = 0;
    for (size_t i = 0; i < m.n_params; i++)
        drifted += !s.mask.keep[i] && m.params[i] != 0.0f;
    cr_assert_gt(drifted, pr_mask_pruned_total(&s.mask, &m) / 2);
    free(before);
    pr_session_free(&s);
    nn_optim_free(&o);
    nn_model_free(&m);
}

typedef struct {
    pr_session *s;
    size_t pruned[64]; /* after each step */
    uint64_t steps;
} gradual_log;

static void gradual_step(void *user, nn_model *m, nn_optim *opt, uint64_t step)
{
    gradual_log *g = user;
    pr_session_step(g->s, m, opt, step);
    if (step < 64)
        g->pruned[step] = pr_mask_pruned_total(&g->s->mask, m);
    g->steps = step;
}

/* Sum over prunable layers of round(s_t(target) * weights). */
static size_t expected_at(const pr_session *s, const nn_model *m, uint64_t step)
{
    pr_magnitude_config now;
    pr_session_targets_at(s, step, &now);
    size_t n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (pr_prunable(&m->nodes[i]))
            n += round_count(pr_target_of(&now.targets, i), m->nodes[i].w.n);
    return n;
}

static void gradual_run(nn_model *m, pr_session *s, gradual_log *g)
{
    data d = stripes(160, 3);
    nn_images img = {d.images, d.labels, d.n};
    nn_optim o;
    plain_model(m, &o, NN_OPT_SGD);
    pr_magnitude_config c = layer_scope(0.9);
    c.targets.layer[13] = 0.5;
    /* 10 steps per epoch; prune over steps 5..25 every 4 steps, 3 epochs. */
    pr_schedule sched = {5, 25, 4, 3.0, 0.1};
    nn_error err;
    cr_assert_eq(pr_session_init(s, m, &c, &sched, &err), NN_OK, "%s", err.msg);
    pr_session_step(s, m, &o, 0);
    *g = (gradual_log){.s = s};
    nn_train_config tc = tune_config(3);
    nn_train_hooks hooks = {NULL, NULL, g, gradual_step, NULL};
    nn_train_state ts = {9, 0, 3, 0};
    cr_assert_eq(nn_train(m, &o, &ts, &tc, &img, NULL, &hooks, &err), NN_OK, "%s", err.msg);
    nn_optim_free(&o);
    free(d.images), free(d.labels);
}

Test(prune_finetune, gradual_schedule_prunes_step_by_step_to_the_exact_target)
{
    nn_model m;
    pr_session s;
    gradual_log g;
    gradual_run(&m, &s, &g);
    cr_assert_eq(g.steps, 30);
    cr_assert_eq(s.updates, 6, "updates at 5, 9, 13, 17, 21 and 25, not %d", s.updates);
    cr_assert_eq(g.pruned[4], 0, "nothing pruned before step 5");
    for (uint64_t t = 5; t <= 30; t++) {
        cr_assert_geq(g.pruned[t], g.pruned[t - 1], "sparsity fell at step %llu",
                      (unsigned long long)t);
        if (pr_schedule_updates_at(&s.schedule, t))
            cr_assert_eq(g.pruned[t], expected_at(&s, &m, t), "step %llu: %zu pruned, want %zu",
                         (unsigned long long)t, g.pruned[t], expected_at(&s, &m, t));
    }
    /* s_i 0.1 at step 5, then the polynomial up to the exact target. */
    cr_assert_lt(g.pruned[5], g.pruned[30] / 4);
    size_t final = 0;
    for (int i = 0; i < m.n_nodes; i++)
        if (pr_prunable(&m.nodes[i]))
            final += round_count(i == 13 ? 0.5 : 0.9, m.nodes[i].w.n);
    cr_assert_eq(g.pruned[30], final);
    for (size_t i = 0; i < m.n_params; i++)
        cr_assert(s.mask.keep[i] || m.params[i] == 0.0f);

    /* Same seed, same everything: bitwise the same model. */
    nn_model m2;
    pr_session s2;
    gradual_log g2;
    gradual_run(&m2, &s2, &g2);
    cr_assert_eq(memcmp(m.params, m2.params, m.n_params * sizeof(float)), 0);
    cr_assert_eq(memcmp(s.mask.keep, s2.mask.keep, m.n_params), 0);
    pr_session_free(&s), pr_session_free(&s2);
    nn_model_free(&m), nn_model_free(&m2);
}
