/* test_prune_struct.c - structured pruning: channel groups (residual adds,
 * flatten, fixed groups), ranking and choice of channels, the smaller model
 * computing what the masked one computes (a residual add, conv -> maxpool
 * -> batchnorm, dense after flatten, dense -> dense), and the per-layer
 * report on a net whose numbers are worked out by hand. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/ckpt.h"
#include "prune/prune_channels.h"
#include "prune/prune_groups.h"
#include "prune/prune_report.h"
#include "prune/prune_shrink.h"
#include "fixtures.h"
#include "prune_nets.h"

static void plan(pr_channel_plan *p, const nn_model *m)
{
    nn_error err;
    cr_assert_eq(pr_plan_init(p, m, &err), NN_OK, "%s", err.msg);
}

/* ------------------------------------------------------------- groups -- */

Test(prune_groups, residual_adds_tie_producers_and_the_logits_are_fixed)
{
    nn_model m;
    pn_net(&m, pn_residual_spec);
    pr_channel_plan p;
    plan(&p, &m);
    const pr_groups *g = &p.groups;
    cr_assert_eq(g->n_groups, 6); /* input, {0}, {3, 10}, {7}, {14, 17}, {22} */
    cr_assert_eq(g->group[3], g->group[10]);
    cr_assert_eq(g->group[14], g->group[17]);
    cr_assert_eq(g->group[6], g->group[3], "s1 carries conv 3's channels");
    cr_assert_eq(g->group[12], g->group[3]);
    cr_assert_eq(g->group[20], g->group[14], "global_avgpool keeps channels");
    cr_assert_eq(g->hw[21], 1, "flatten of 10x1x1");
    int distinct[] = {0, 3, 7, 14, 22};
    for (int a = 0; a < 5; a++)
        for (int b = a + 1; b < 5; b++)
            cr_assert_neq(g->group[distinct[a]], g->group[distinct[b]], "%d and %d", distinct[a],
                          distinct[b]);
    cr_assert_eq(g->fixed[0], PR_GROUP_INPUT);
    cr_assert_eq(g->fixed[g->group[22]], PR_GROUP_OUTPUT);
    for (int i = 0; i < 22; i++)
        cr_assert_eq(g->fixed[g->group[i]], PR_GROUP_FREE, "layer %d", i);
    cr_assert_eq(g->channels[g->group[3]], 8);
    cr_assert_eq(g->channels[g->group[14]], 10);
    cr_assert_eq(pr_following_batchnorm(&m, 0), 1);
    cr_assert_eq(pr_following_batchnorm(&m, 3), 5, "through the maxpool");
    cr_assert_eq(pr_following_batchnorm(&m, 10), 11);
    cr_assert_eq(pr_following_batchnorm(&m, 17), -1, "the projection feeds an add");
    pr_plan_free(&p);
    nn_model_free(&m);
}

Test(prune_groups, flatten_spreads_a_channel_over_h_times_w_features)
{
    nn_model m;
    pn_net(&m, pn_plain_spec);
    pr_channel_plan p;
    plan(&p, &m);
    cr_assert_eq(p.groups.group[7], p.groups.group[3]);
    cr_assert_eq(p.groups.hw[7], 16, "8x4x4 flattened: 16 features per channel");
    cr_assert_eq(p.groups.hw[8], 1);
    cr_assert_eq(p.groups.fixed[p.groups.group[13]], PR_GROUP_OUTPUT);
    cr_assert_eq(pr_following_batchnorm(&m, 8), -1, "dense 8 has no batch norm");
    int idx[128];
    p.keep[p.off[p.groups.group[3]] + 1] = 0; /* channel 1: features 16..31 */
    size_t n = pr_tensor_kept(&p, &m, 7, 1, idx);
    cr_assert_eq(n, 112);
    cr_assert_eq(idx[15], 15);
    cr_assert_eq(idx[16], 32);
    pr_plan_free(&p);
    nn_model_free(&m);
}

Test(prune_groups, adds_with_the_input_or_mismatched_layouts_are_fixed)
{
    /* input 2x4x4 -> 0 conv 2 - 1 add(input) - 2 flatten (32) - 3 dense 32 -
     * 4 add(3, 2) - 5 dense 3 */
    nn_model_spec s;
    LS_SPEC(&s, 2, 4, 4, 3, ls_conv(2, 3, 1, 1), ls_layer(NN_LAYER_ADD), ls_layer(NN_LAYER_FLATTEN),
            ls_dense(32), ls_layer(NN_LAYER_ADD), ls_dense(3));
    s.layers[1].input2 = NN_INPUT_NODE;
    s.layers[4].input2 = 2;
    nn_model m;
    pn_build(&m, &s);
    pn_randomize(&m, 2);
    pr_channel_plan p;
    plan(&p, &m);
    cr_assert_eq(p.groups.group[0], 0, "conv 0 is added to the input");
    cr_assert_eq(p.groups.fixed[0], PR_GROUP_INPUT);
    cr_assert_eq(p.groups.group[3], 0, "dense 3 is added to the flattened input group");
    pr_targets t;
    pr_targets_init(&t, 0.5);
    nn_error err;
    cr_assert_eq(pr_channel_select(&p, &m, &t, PR_CRIT_AUTO, &err), NN_OK);
    cr_assert_eq(pr_plan_kept(&p, 0), 2, "a fixed group is never pruned");
    /* Nothing removed: the "smaller" model is the same computation, bit for bit. */
    nn_model small;
    cr_assert_eq(pr_channels_shrink(&small, &m, &p, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(small.n_params, m.n_params);
    float *x = pn_random_input(4, 32, 3), *a = pn_forward(&m, x, 4, 0),
          *b = pn_forward(&small, x, 4, 0);
    cr_assert_eq(memcmp(a, b, 12 * sizeof(float)), 0);
    free(x), free(a), free(b);
    nn_model_free(&small);
    pr_plan_free(&p);
    nn_model_free(&m);

    /* Without the input: conv 0 flattened (16 features per channel) added
     * to dense 2 (1 per unit) is fixed for its layout alone. */
    s.n_layers = 5;
    s.layers[1] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[2] = ls_dense(32);
    s.layers[3] = ls_layer(NN_LAYER_ADD);
    s.layers[3].input2 = 1;
    s.layers[4] = ls_dense(3);
    pn_build(&m, &s);
    plan(&p, &m);
    cr_assert_eq(p.groups.group[0], p.groups.group[2]);
    cr_assert_eq(p.groups.fixed[p.groups.group[0]], PR_GROUP_LAYOUT);
    pr_plan_free(&p);
    nn_model_free(&m);
}

/* ---------------------------------------------------------- selection -- */

/* input 1x4x4 -> 0 conv 4 (1x1, no bias) [- 1 bn] - relu - flatten - dense 3 */
static void tiny(nn_model *m, int with_bn)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 1, s.in_h = 4, s.in_w = 4, s.num_classes = 3;
    int n = 0;
    s.layers[n++] = ls_conv(4, 1, 0, 0);
    if (with_bn)
        s.layers[n++] = ls_layer(NN_LAYER_BATCHNORM);
    s.layers[n++] = ls_layer(NN_LAYER_RELU);
    s.layers[n++] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[n++] = ls_dense(3);
    s.n_layers = n;
    pn_build(m, &s);
    pn_randomize(m, 5);
}

/* Keep flags of group g as a string like "1010". */
static void kept_string(const pr_channel_plan *p, int g, char *out)
{
    int n = p->groups.channels[g];
    for (int c = 0; c < n; c++)
        out[c] = p->keep[p->off[g] + c] ? '1' : '0';
    out[n] = '\0';
}

static void select_tiny(nn_model *m, const float *gamma_or_w, int use_bn, pr_criterion crit,
                        double target, const char *want)
{
    const nn_node *src = use_bn ? &m->nodes[1] : &m->nodes[0];
    memcpy(m->params + src->w.off, gamma_or_w, 4 * sizeof(float));
    pr_channel_plan p;
    plan(&p, m);
    pr_targets t;
    pr_targets_init(&t, target);
    nn_error err;
    cr_assert_eq(pr_channel_select(&p, m, &t, crit, &err), NN_OK, "%s", err.msg);
    char got[16];
    kept_string(&p, p.groups.group[0], got);
    cr_assert_str_eq(got, want, "target %g", target);
    pr_plan_free(&p);
}

Test(prune_channels, lowest_gamma_goes_first_with_index_ties)
{
    nn_model m;
    tiny(&m, 1);
    select_tiny(&m, (float[]){0.5f, -0.1f, 0.9f, 0.2f}, 1, PR_CRIT_AUTO, 0.5, "1010");
    select_tiny(&m, (float[]){0.3f, -0.3f, 0.3f, 0.3f}, 1, PR_CRIT_AUTO, 0.5, "0011");
    select_tiny(&m, (float[]){0.5f, -0.1f, 0.9f, 0.2f}, 1, PR_CRIT_AUTO, 1.0, "0010");
    select_tiny(&m, (float[]){0.5f, -0.1f, 0.9f, 0.2f}, 1, PR_CRIT_AUTO, 0.1, "1111");
    /* criterion l1 ignores the batch norm: the conv's 1x1 weights decide */
    memcpy(m.params + m.nodes[0].w.off, (float[]){0.2f, -0.7f, 0.1f, 0.4f}, 4 * sizeof(float));
    select_tiny(&m, (float[]){0.5f, -0.1f, 0.9f, 0.2f}, 1, PR_CRIT_L1, 0.5, "0101");
    nn_model_free(&m);
    tiny(&m, 0); /* no batch norm: auto falls back to the filter's L1 */
    select_tiny(&m, (float[]){0.2f, -0.7f, 0.1f, 0.4f}, 0, PR_CRIT_AUTO, 0.5, "0101");
    nn_model_free(&m);
}

Test(prune_channels, tied_producers_are_scored_together_each_normalized)
{
    nn_model m;
    pn_net(&m, pn_residual_spec);
    pn_randomize(&m, 6);
    /* Group {3, 10}: conv 3's gamma (bn 5) is on a 10x larger scale than
     * conv 10's (bn 11). Summed raw, conv 3's dip at channel 1 would decide;
     * normalized per producer, conv 10's near-zero channel 0 does. */
    float a[8] = {10, 9, 10, 10, 10, 10, 10, 10}, b[8] = {0.01f, 1, 1, 1, 1, 1, 1, 1};
    memcpy(m.params + m.nodes[5].w.off, a, sizeof a);
    memcpy(m.params + m.nodes[11].w.off, b, sizeof b);
    pr_channel_plan p;
    plan(&p, &m);
    pr_targets t;
    pr_targets_init(&t, 0.125);
    t.layer[14] = PR_SKIP;
    nn_error err;
    cr_assert_eq(pr_channel_select(&p, &m, &t, PR_CRIT_AUTO, &err), NN_OK, "%s", err.msg);
    char got[16];
    kept_string(&p, p.groups.group[3], got);
    cr_assert_str_eq(got, "01111111");
    cr_assert_eq(pr_plan_kept(&p, p.groups.group[14]), 10, "skipping one producer keeps its group");
    cr_assert_eq(pr_plan_kept(&p, p.groups.group[0]), 5, "round(0.125 * 6) = 1 removed");
    cr_assert_eq(pr_plan_kept(&p, p.groups.group[22]), 3, "the class scores stay");
    /* A lower own target on one producer of a group is the group's. */
    pr_plan_free(&p);
    plan(&p, &m);
    pr_targets_init(&t, 0.5);
    t.layer[10] = 0.25;
    cr_assert_eq(pr_channel_select(&p, &m, &t, PR_CRIT_AUTO, &err), NN_OK);
    cr_assert_eq(pr_plan_kept(&p, p.groups.group[3]), 6);
    cr_assert_eq(pr_plan_kept(&p, p.groups.group[14]), 5);
    t.layer[10] = 1.5;
    cr_assert_eq(pr_channel_select(&p, &m, &t, PR_CRIT_AUTO, &err), NN_ERR_ARG);
    pr_plan_free(&p);
    nn_model_free(&m);
}

/* -------------------------------------------- smaller == masked model -- */

static void model_copy(nn_model *dst, const nn_model *m)
{
    pn_build(dst, &m->spec);
    memcpy(dst->params, m->params, m->n_params * sizeof(float));
    memcpy(dst->state, m->state, m->n_state * sizeof(float));
}

/* The masked (zeroed) model and the shrunk one agree on random inputs, and
 * both differ from the original (something was removed). */
static void check_equivalent(const nn_model *m, const pr_channel_plan *p, int training)
{
    enum { N = 6 };
    nn_model zeroed, small, orig;
    model_copy(&zeroed, m);
    model_copy(&orig, m);
    pr_channels_zero(&zeroed, p);
    nn_error err;
    cr_assert_eq(pr_channels_shrink(&small, m, p, &err), NN_OK, "%s", err.msg);
    cr_assert_lt(small.n_params, m->n_params);
    cr_assert_lt(nn_model_macs(&small), nn_model_macs(m));
    size_t in = (size_t)m->spec.in_c * m->spec.in_h * m->spec.in_w;
    float *x = pn_random_input(N, in, 17);
    float *a = pn_forward(&zeroed, x, N, training), *b = pn_forward(&small, x, N, training);
    float *o = pn_forward(&orig, x, N, training);
    double moved = 0.0;
    for (int i = 0; i < N * m->spec.num_classes; i++) {
        cr_assert_float_eq(a[i], b[i], 1e-5f + 1e-5f * fabsf(a[i]),
                           "logit %d: masked %.9g, small %.9g", i, a[i], b[i]);
        moved = fmax(moved, fabs((double)a[i] - o[i]));
    }
    cr_assert_gt(moved, 1e-3, "zeroing the channels changed nothing: a vacuous test");
    free(x), free(a), free(b), free(o);
    nn_model_free(&zeroed), nn_model_free(&small), nn_model_free(&orig);
}

/* Removes a random subset (at least one, never all) of every free group. */
static void random_plan(pr_channel_plan *p, uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (int g = 0; g < p->groups.n_groups; g++) {
        if (p->groups.fixed[g] != PR_GROUP_FREE)
            continue;
        int n = p->groups.channels[g], kept = n;
        for (int c = 0; c < n; c++)
            if (nn_rng_below(&r, 2) && kept > 1) {
                p->keep[p->off[g] + c] = 0;
                kept--;
            }
        if (kept == n)
            p->keep[p->off[g] + nn_rng_below(&r, (uint32_t)n)] = 0;
    }
}

/* *m: the network spec_fn describes, parameters random from seed; *p:
 * half of every free group's channels selected by the automatic
 * criterion; *small: m shrunk by p. The masked and the shrunk model must
 * agree in eval mode and, if training_too, on batch statistics. */
static void shrink_half(nn_model *m, pr_channel_plan *p, nn_model *small,
                        void (*spec_fn)(nn_model_spec *), uint64_t seed, int training_too)
{
    pn_net(m, spec_fn);
    pn_randomize(m, seed);
    plan(p, m);
    pr_targets t;
    pr_targets_init(&t, 0.5);
    nn_error err;
    cr_assert_eq(pr_channel_select(p, m, &t, PR_CRIT_AUTO, &err), NN_OK);
    check_equivalent(m, p, 0);
    if (training_too)
        check_equivalent(m, p, 1);
    cr_assert_eq(pr_channels_shrink(small, m, p, &err), NN_OK);
}

/* Random plans from seeds first..first+3 (p is reset each time): the
 * masked and the shrunk model agree each time. Frees p and m. */
static void check_random_plans(nn_model *m, pr_channel_plan *p, uint64_t first, int training_too)
{
    for (uint64_t seed = first; seed < first + 4; seed++) {
        pr_plan_free(p);
        plan(p, m);
        random_plan(p, seed);
        check_equivalent(m, p, 0);
        if (training_too)
            check_equivalent(m, p, 1);
    }
    pr_plan_free(p);
    nn_model_free(m);
}

Test(prune_shrink, smaller_model_equals_masked_model_plain_net)
{
    nn_model m, small;
    pr_channel_plan p;
    shrink_half(&m, &p, &small, pn_plain_spec, 31, 0);
    /* conv 6 -> 3, conv 8 -> 4 (dense 8 reads 4*16 = 64 columns), dense
     * 12 -> 6, 12 -> 6, logits 3. */
    cr_assert_eq(small.nodes[0].out_c, 3);
    cr_assert_eq(small.nodes[3].out_c, 4);
    cr_assert_eq(small.nodes[8].in_size, 64);
    cr_assert_eq(small.nodes[8].out_c, 6);
    cr_assert_eq(small.nodes[11].out_c, 6);
    cr_assert_eq(small.nodes[13].out_c, 3);
    cr_assert_eq(small.n_params, (size_t)(3 * 2 * 9 + 3) + 6 + (4 * 3 * 9) + 8 + (6 * 64 + 6) +
                                     (6 * 6 + 6) + (3 * 6 + 3));
    nn_model_free(&small);
    check_random_plans(&m, &p, 1, 0);
}

Test(prune_shrink, smaller_model_equals_masked_model_residual_net)
{
    nn_model m, small;
    pr_channel_plan p;
    /* Eval (running statistics) and training (batch statistics). */
    shrink_half(&m, &p, &small, pn_residual_spec, 32, 1);
    int want[][2] = {{0, 3}, {3, 4}, {7, 4}, {10, 4}, {14, 5}, {17, 5}, {22, 3}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(small.nodes[want[i][0]].out_c, want[i][1], "layer %d", want[i][0]);
    cr_assert_eq(small.nodes[22].in_size, 5);

    /* A normal checkpoint: saved and loaded back, the same model. */
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/small.ckpt", dir);
    nn_error err;
    cr_assert_eq(ckpt_save(path, &small, NULL, NULL, NULL, NULL, &err), NN_OK, "%s", err.msg);
    ckpt_file ck;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ck.model.n_params, small.n_params);
    cr_assert_eq(memcmp(ck.model.params, small.params, small.n_params * sizeof(float)), 0);
    cr_assert_eq(memcmp(ck.model.state, small.state, small.n_state * sizeof(float)), 0);
    cr_assert_eq(ck.model.nodes[14].out_c, 5);
    ckpt_free(&ck);
    fx_rmtree(dir);
    nn_model_free(&small);
    check_random_plans(&m, &p, 5, 1);
}

/* A MobileNet-style net, input 2x8x8:
 *  0 conv 8 (3x3 pad 1) - 1 bn - 2 relu6 - 3 depthwise 3x3 pad 1 - 4 bn -
 *  5 relu6 - 6 conv 12 (1x1) - 7 bn - 8 relu6 - 9 depthwise 5x5 stride 2
 *  pad 2 - 10 relu6 - 11 global_avgpool - 12 flatten - 13 dense 3.
 * A depthwise layer has one filter per channel: removing channel c of
 * conv 0 removes filter c of depthwise 3, channel c of batch norms 1 and 4
 * and input channel c of conv 6. */
static void mobile_spec(nn_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->in_c = 2, s->in_h = 8, s->in_w = 8, s->num_classes = 3;
    int n = 0;
    nn_layer_spec l = ls_layer(NN_LAYER_CONV2D);
    l.out_channels = 8, l.kernel = 3, l.pad = 1;
    s->layers[n++] = l;
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM);
    s->layers[n++] = ls_layer(NN_LAYER_RELU6);
    l = ls_layer(NN_LAYER_DEPTHWISE_CONV2D);
    l.kernel = 3, l.pad = 1;
    s->layers[n++] = l;
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM);
    s->layers[n++] = ls_layer(NN_LAYER_RELU6);
    l = ls_layer(NN_LAYER_CONV2D);
    l.out_channels = 12, l.kernel = 1;
    s->layers[n++] = l;
    s->layers[n++] = ls_layer(NN_LAYER_BATCHNORM);
    s->layers[n++] = ls_layer(NN_LAYER_RELU6);
    l = ls_layer(NN_LAYER_DEPTHWISE_CONV2D);
    l.kernel = 5, l.stride = 2, l.pad = 2;
    s->layers[n++] = l;
    s->layers[n++] = ls_layer(NN_LAYER_RELU6);
    s->layers[n++] = ls_layer(NN_LAYER_GLOBAL_AVGPOOL);
    s->layers[n++] = ls_layer(NN_LAYER_FLATTEN);
    l = ls_layer(NN_LAYER_DENSE);
    l.units = 3;
    s->layers[n++] = l;
    s->n_layers = n;
}

Test(prune_shrink, depthwise_layers_follow_the_channels_of_their_input)
{
    nn_model m, small;
    pr_channel_plan p;
    /* Two groups: conv 0 with depthwise 3, conv 6 with depthwise 9. */
    shrink_half(&m, &p, &small, mobile_spec, 33, 1);
    cr_assert_eq(p.groups.n_groups, 4); /* the input, conv 0, conv 6, dense 13 (the logits) */
    cr_assert_eq(p.groups.group[3], p.groups.group[0]);
    cr_assert_eq(p.groups.group[9], p.groups.group[6]);
    int want[][2] = {{0, 4}, {1, 4}, {3, 4}, {4, 4}, {6, 6}, {9, 6}, {13, 3}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(small.nodes[want[i][0]].out_c, want[i][1], "layer %d", want[i][0]);
    cr_assert_eq(small.nodes[6].in_c, 4);
    cr_assert_eq(small.n_params,
                 (size_t)(4 * 2 * 9 + 4) + 8 + (4 * 9 + 4) + 8 + (6 * 4 + 6) + 12 + (6 * 25 + 6) +
                     (3 * 6 + 3));
    /* The kept filters of depthwise 3 are the kept channels of conv 0. */
    int kept[8], k = 0;
    for (int c = 0; c < 8; c++)
        if (p.keep[p.off[p.groups.group[0]] + c])
            kept[k++] = c;
    for (int c = 0; c < k; c++)
        cr_assert_eq(memcmp(small.params + small.nodes[3].w.off + c * 9,
                            m.params + m.nodes[3].w.off + kept[c] * 9, 9 * sizeof(float)),
                     0, "filter %d", c);

    /* A checkpoint of the smaller model loads back the same. */
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/small.ckpt", dir);
    nn_error err;
    cr_assert_eq(ckpt_save(path, &small, NULL, NULL, NULL, NULL, &err), NN_OK, "%s", err.msg);
    ckpt_file ck;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ck.model.n_params, small.n_params);
    cr_assert_eq(memcmp(ck.model.params, small.params, small.n_params * sizeof(float)), 0);
    for (int i = 0; i < small.n_nodes; i++) {
        const nn_layer_spec *a = &ck.model.nodes[i].spec, *b = &small.nodes[i].spec;
        cr_assert_eq(a->type, b->type, "layer %d", i);
        cr_assert(a->kernel == b->kernel && a->stride == b->stride && a->pad == b->pad &&
                      a->bias == b->bias,
                  "layer %d", i);
    }
    ckpt_free(&ck);
    fx_rmtree(dir);
    nn_model_free(&small);
    check_random_plans(&m, &p, 9, 1);
}

/* ------------------------------------------------------------- report -- */

Test(prune_report, numbers_on_a_known_net)
{
    /* input 1x4x4 -> 0 conv 2 3x3 pad 1 (bias) - 1 bn - 2 relu - 3 maxpool
     * (2x2x2) - 4 flatten (8) - 5 dense 3. Every parameter 1; channel 0
     * removed; then 3 of the 12 dense weights zeroed. By hand:
     *   conv  params 18+2 -> 9+1   MACs 2*16*9 = 288 -> 144
     *   bn    params 4 -> 2        MACs 32 -> 16
     *   pool  MACs 2*2*2*4 = 32 -> 16
     *   dense params 24+3 -> 12+3  MACs 24 -> 12, sparsity 3/12, effective 9 */
    nn_model_spec s;
    LS_SPEC(&s, 1, 4, 4, 3, ls_conv(2, 3, 1, 1), ls_layer(NN_LAYER_BATCHNORM),
            ls_layer(NN_LAYER_RELU), ls_layer(NN_LAYER_MAXPOOL), ls_layer(NN_LAYER_FLATTEN),
            ls_dense(3));
    snprintf(s.layers[5].name, NN_NAME_MAX, "fc");
    nn_model m, small;
    pn_build(&m, &s);
    for (size_t i = 0; i < m.n_params; i++)
        m.params[i] = 1.0f;
    pr_channel_plan p;
    plan(&p, &m);
    p.keep[p.off[p.groups.group[0]]] = 0;
    nn_error err;
    cr_assert_eq(pr_channels_shrink(&small, &m, &p, &err), NN_OK, "%s", err.msg);
    for (int j = 0; j < 3; j++)
        small.params[small.nodes[5].w.off + (size_t)j] = 0.0f;
    pr_report r;
    cr_assert_eq(pr_report_build(&r, &m, &small, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(r.n_rows, 4, "conv, bn, maxpool, dense");
    static const struct {
        int node;
        uint64_t params[2], weights[2], zeros_after, macs[2];
        double eff_after;
        int c_after;
    } want[] = {
        {0, {20, 10}, {18, 9}, 0, {288, 144}, 144, 1},
        {1, {4, 2}, {0, 0}, 0, {32, 16}, 16, 1},
        {3, {0, 0}, {0, 0}, 0, {32, 16}, 16, 1},
        {5, {27, 15}, {24, 12}, 3, {24, 12}, 9, 3},
    };
    for (int i = 0; i < 4; i++) {
        const pr_report_row *row = &r.rows[i];
        cr_assert_eq(row->node, want[i].node);
        cr_assert_eq(row->before.params, want[i].params[0], "row %d", i);
        cr_assert_eq(row->after.params, want[i].params[1], "row %d", i);
        cr_assert_eq(row->before.weights, want[i].weights[0], "row %d", i);
        cr_assert_eq(row->after.weights, want[i].weights[1], "row %d", i);
        cr_assert_eq(row->after.zeros, want[i].zeros_after, "row %d", i);
        cr_assert_eq(row->before.macs, want[i].macs[0], "row %d", i);
        cr_assert_eq(row->after.macs, want[i].macs[1], "row %d", i);
        cr_assert_float_eq(row->after.effective_macs, want[i].eff_after, 1e-9, "row %d", i);
        cr_assert_eq(row->after.c, want[i].c_after, "row %d", i);
    }
    cr_assert_str_eq(r.rows[3].name, "fc");
    cr_assert_eq(r.rows[0].before.c, 2);
    cr_assert_float_eq(pr_stats_sparsity(&r.rows[3].after), 0.25, 1e-12);
    /* Totals: every parameter, beta included, was 1 before. */
    cr_assert_eq(r.total_before.params, 51);
    cr_assert_eq(r.total_after.params, 27);
    cr_assert_eq(r.total_before.nonzero, 51);
    cr_assert_eq(r.total_after.nonzero, 24);
    cr_assert_eq(r.total_before.weights, 42);
    cr_assert_eq(r.total_after.zeros, 3);
    cr_assert_eq(r.total_before.macs, 376);
    cr_assert_eq(r.total_after.macs, 188);
    cr_assert_float_eq(r.total_before.effective_macs, 376, 1e-9);
    cr_assert_float_eq(r.total_after.effective_macs, 185, 1e-9);
    cr_assert_eq(nn_model_macs(&small), r.total_after.macs);
    /* Different layers cannot be compared. */
    nn_model other;
    nn_model_spec s2 = s;
    s2.n_layers = 5;
    s2.layers[4] = ls_dense(3);
    pn_build(&other, &s2);
    cr_assert_eq(pr_report_build(&r, &m, &other, &err), NN_ERR_ARG);
    nn_model_free(&other);
    pr_plan_free(&p);
    nn_model_free(&small), nn_model_free(&m);
}
