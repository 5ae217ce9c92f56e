/* Extreme values in float models: what a checkpoint may hold (saved and
 * loaded), float evaluation whose logits overflow, and pruning thresholds
 * (per layer, global, rms-normalised, whole channels) with +-3e38,
 * infinity, NaN, denormals and all-zero layers. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/ckpt.h"
#include "libnn/nn_train.h"
#include "prune/prune_channels.h"
#include "prune/prune_magnitude.h"
#include "ckpt_patch.h"
#include "fixtures.h"
#include "layer_specs.h"

/* 1x4x4 input (mean 0, std 1) -> 0 conv2d 'c1' (2 filters, 3x3, pad 1) ->
 * 1 batchnorm 'bn1' -> 2 relu -> 3 flatten -> 4 dense 'fc' (3 units).
 * Every weight w, biases and beta 0, gamma 1, running mean 0, var 1. */
static void build(nn_model *m, float w)
{
    nn_model_spec s;
    LS_SPEC(&s, 1, 4, 4, 3, ls_conv(2, 3, 1, 1), ls_layer(NN_LAYER_BATCHNORM),
            ls_layer(NN_LAYER_RELU), ls_layer(NN_LAYER_FLATTEN), ls_dense(3));
    strcpy(s.layers[0].name, "c1");
    strcpy(s.layers[1].name, "bn1");
    strcpy(s.layers[4].name, "fc");
    for (int i = 0; i < 5; i++)
        s.layers[i].input = i - 1;
    nn_error err;
    cr_assert_eq(nn_model_build(m, &s, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 5; i++) {
        const nn_node *nd = &m->nodes[i];
        for (size_t k = 0; k < nd->w.n; k++)
            m->params[nd->w.off + k] = i == 1 ? 1.0f : w;
        for (size_t k = 0; k < nd->b.n; k++)
            m->params[nd->b.off + k] = 0.0f;
    }
    m->mean[0] = 0.0f, m->std[0] = 1.0f;
}

/* ---- what a checkpoint holds --------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *len)
{
    uint8_t *d;
    nn_error err;
    cr_assert_eq(nn_read_file(path, &d, len, 0, &err), NN_OK, "%s", err.msg);
    return d;
}

static void expect_save_refused(const nn_model *m, const nn_optim *o, const char *needle)
{
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    nn_error err;
    cr_expect_eq(ckpt_save(path, m, o, NULL, NULL, NULL, &err), NN_ERR_NUMERIC, "%s", needle);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot save: %s", path, needle);
    cr_expect(strstr(err.msg, want), "%s", err.msg);
    struct stat st;
    cr_expect_neq(stat(path, &st), 0, "a refused save wrote %s", path);
    fx_rmtree(dir);
}

Test(nonfinite_ckpt, save_refuses_what_load_would_reject)
{
    nn_model m;
    build(&m, 0.5f);
    const nn_node *c1 = &m.nodes[0], *bn = &m.nodes[1], *fc = &m.nodes[4];
    m.params[c1->w.off + 7] = NAN;
    expect_save_refused(&m, NULL, "layer 0 (conv2d 'c1') weight[7] = nan, must be a finite number");
    m.params[c1->w.off + 7] = 0.5f;
    m.params[bn->w.off + 1] = INFINITY;
    expect_save_refused(&m, NULL, "layer 1 (batchnorm 'bn1') gamma[1] = inf");
    m.params[bn->w.off + 1] = 1.0f;
    m.params[fc->b.off + 2] = -INFINITY;
    expect_save_refused(&m, NULL, "layer 4 (dense 'fc') bias[2] = -inf");
    m.params[fc->b.off + 2] = 0.0f;
    m.state[bn->stat.off + 2] = -1e-30f; /* running_var[0] */
    expect_save_refused(&m, NULL, "layer 1 (batchnorm 'bn1') running_var[0] = -1e-30, must be "
                                  "finite and >= 0");
    m.state[bn->stat.off + 2] = 1.0f;
    nn_optim o;
    nn_optim_config oc = {.kind = NN_OPT_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    nn_error err;
    cr_assert_eq(nn_optim_init(&o, &oc, m.n_params, &err), NN_OK, "%s", err.msg);
    o.v[5] = -1.0f;
    expect_save_refused(&m, &o,
                        "second moment of layer 0 (conv2d 'c1') weight[5] = -1, must be finite "
                        "and >= 0");
    o.v[5] = 0.0f;
    o.m[fc->w.off] = NAN;
    expect_save_refused(&m, &o, "first moment of layer 4 (dense 'fc') weight[0] = nan");
    nn_optim_free(&o);
    nn_model_free(&m);
}

/* Finite extremes are valid values; the optimizer moments are checked on
 * load too, naming the offset. */
Test(nonfinite_ckpt, extremes_load_bit_exact_and_bad_moments_do_not)
{
    nn_model m;
    build(&m, 0.5f);
    const float vals[] = {3e38f, -3e38f, FLT_MAX, -FLT_MAX, 1e-45f, -1e-45f, -0.0f, FLT_MIN};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++)
        m.params[k] = vals[k];
    const nn_node *bn = &m.nodes[1];
    m.state[bn->stat.off + 0] = -3e38f;          /* running_mean[0] */
    m.state[bn->stat.off + 2] = 0.0f;            /* running_var[0] */
    m.state[bn->stat.off + 3] = 1e-45f;          /* running_var[1]: a denormal */
    nn_optim o;
    nn_optim_config oc = {.kind = NN_OPT_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    nn_error err;
    cr_assert_eq(nn_optim_init(&o, &oc, m.n_params, &err), NN_OK, "%s", err.msg);
    o.m[0] = -3e38f, o.v[0] = 3e38f;
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    cr_assert_eq(ckpt_save(path, &m, &o, NULL, NULL, NULL, &err), NN_OK, "%s", err.msg);
    ckpt_file ck;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(memcmp(ck.model.params, m.params, m.n_params * 4), 0);
    cr_expect_eq(memcmp(ck.model.state, m.state, m.n_state * 4), 0);
    cr_expect(ck.optim.m[0] == -3e38f && ck.optim.v[0] == 3e38f);
    ckpt_free(&ck);

    size_t len;
    uint8_t *good = read_all(path, &len);
    /* OPTM: 7 fields of 4 bytes, u64 step, u64 count, m[], u64 count, v[] */
    const size_t m_at = 4 * 7 + 8 + 8, v_at = m_at + 4 * m.n_params + 8;
    struct {
        size_t at;
        float v;
        const char *what;
    } cases[] = {
        {m_at + 4 * 7, NAN, "first moment of layer 0 (conv2d 'c1') weight[7] = nan"},
        {v_at + 4 * 3, -2.0f, "second moment of layer 0 (conv2d 'c1') weight[3] = -2"},
        {v_at + 4 * (m.nodes[4].b.off), INFINITY,
         "second moment of layer 4 (dense 'fc') bias[0] = inf"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t *d = malloc(len);
        memcpy(d, good, len);
        size_t off = cp_patch(d, len, "OPTM", cases[c].at, &cases[c].v, 4);
        fx_write_file(path, d, len);
        free(d);
        cr_assert_eq(ckpt_load(&ck, path, &err), NN_ERR_FORMAT, "case %zu", c);
        char want[256];
        snprintf(want, sizeof want, "%s: section OPTM: offset %zu: %s", path, off, cases[c].what);
        cr_expect(strstr(err.msg, want), "want \"%s\": %s", want, err.msg);
    }
    free(good);
    fx_rmtree(dir);
    nn_optim_free(&o);
    nn_model_free(&m);
}

/* ---- float evaluation -------------------------------------------------- */

static nn_status evaluate(nn_model *m, int flip, nn_eval_result *r, nn_error *err)
{
    static uint8_t px[4 * 16], labels[4] = {0, 1, 2, 0};
    memset(px, 255, sizeof px); /* x = 1 everywhere */
    nn_images img = {px, labels, 4};
    return nn_evaluate(m, &img, &(nn_eval_config){.batch = 2, .threads = 2, .test_flip = flip}, r, err);
}

Test(nonfinite_eval, overflowing_logits_are_an_error_naming_the_layer)
{
    nn_model m;
    build(&m, 0.1f);
    for (int k = 3; k <= 5; k++) /* the middle row of filter 0: 2 or 3 taps of 3e38 */
        m.params[m.nodes[0].w.off + k] = 3e38f;
    for (int flip = 0; flip < 2; flip++) {
        nn_eval_result r;
        nn_error err;
        cr_assert_eq(evaluate(&m, flip, &r, &err), NN_ERR_NUMERIC);
        cr_expect_null(r.confusion, "no results for meaningless logits");
        cr_expect(strstr(err.msg, "the float model's logits are not finite for 4 of 4 images "
                                  "(first: image 0, logit[0] = ") &&
                      strstr(err.msg, "layer 0 (conv2d 'c1') is the first layer whose output is "
                                      "not finite (element 0 = inf); the largest parameter up to "
                                      "it is layer 0 (conv2d 'c1') weight[3] = 3e+38"),
                  "flip %d: %s", flip, err.msg);
    }
    nn_model_free(&m);
}

Test(nonfinite_eval, a_nan_parameter_names_its_layer)
{
    nn_model m;
    build(&m, 0.1f);
    m.params[m.nodes[4].w.off + 17] = NAN;
    nn_eval_result r;
    nn_error err;
    cr_assert_eq(evaluate(&m, 0, &r, &err), NN_ERR_NUMERIC);
    /* (the sign of a NaN that went through arithmetic is not pinned) */
    cr_expect(strstr(err.msg, "layer 4 (dense 'fc') is the first layer whose output is not finite "
                              "(element 0 = ") &&
                  strstr(err.msg, "nan); the largest parameter up to it is layer 4 (dense 'fc') "
                                  "weight[17] = nan"),
              "%s", err.msg);
    nn_model_free(&m);
}

/* Where the values stay finite the model evaluates: a -3e38 weight whose
 * product the ReLU zeroes, denormal weights, all-zero weights (logits all
 * 0: the argmax is class 0, the loss log 3). */
Test(nonfinite_eval, finite_extremes_evaluate)
{
    const float ws[] = {-3e38f, 1e-45f, 0.0f};
    for (size_t c = 0; c < sizeof ws / sizeof ws[0]; c++) {
        nn_model m;
        build(&m, c == 0 ? 0.1f : ws[c]);
        if (c == 0)
            for (size_t k = 0; k < 9; k++)
                m.params[m.nodes[0].w.off + k] = ws[c];
        nn_eval_result r;
        nn_error err;
        cr_assert_eq(evaluate(&m, 1, &r, &err), NN_OK, "w %g: %s", (double)ws[c], err.msg);
        cr_expect(isfinite(r.loss), "w %g: loss %g", (double)ws[c], r.loss);
        if (ws[c] == 0.0f) {
            cr_expect_eq(r.correct, 2, "two images of class 0");
            cr_expect_float_eq(r.loss, log(3.0), 1e-6);
        }
        nn_eval_result_free(&r);
        nn_model_free(&m);
    }
}

/* ---- pruning thresholds ---------------------------------------------------- */

/* 1x2x2 input -> flatten -> 1 dense 'a' (4) -> 2 dense 'b' (4): two
 * prunable layers of 16 weights, a's set from wa, b's from wb. */
static void build_two(nn_model *m, const float *wa, const float *wb)
{
    nn_model_spec s;
    LS_SPEC(&s, 1, 2, 2, 4, ls_layer(NN_LAYER_FLATTEN), ls_dense(4), ls_dense(4));
    for (int i = 0; i < 3; i++)
        s.layers[i].input = i - 1;
    nn_error err;
    cr_assert_eq(nn_model_build(m, &s, &err), NN_OK, "%s", err.msg);
    memset(m->params, 0, m->n_params * sizeof(float));
    memcpy(m->params + m->nodes[1].w.off, wa, 16 * sizeof(float));
    memcpy(m->params + m->nodes[2].w.off, wb, 16 * sizeof(float));
}

/* Prunes a model of layers a (wa) and b (wb) with (scope, norm) to
 * sparsity 0.5 and checks the kept flags of a's and b's weights, as 16-bit
 * sets (bit j: weight j), against want_a and want_b. */
static void expect_kept(const float *wa, const float *wb, pr_scope scope, pr_norm norm,
                        unsigned want_a, unsigned want_b)
{
    nn_model m;
    build_two(&m, wa, wb);
    pr_magnitude_config c = {scope, norm, {0, {0}}};
    pr_targets_init(&c.targets, 0.5);
    pr_mask mk;
    nn_error err;
    cr_assert_eq(pr_mask_init(&mk, &m, &err), NN_OK);
    uint64_t *scratch = malloc(pr_magnitude_scratch(&m) * sizeof *scratch);
    cr_assert_eq(pr_magnitude_prune(&mk, &m, &c, scratch, &err), NN_OK, "%s", err.msg);
    unsigned a = 0, b = 0;
    for (int j = 0; j < 16; j++) {
        a |= (unsigned)mk.keep[m.nodes[1].w.off + j] << j;
        b |= (unsigned)mk.keep[m.nodes[2].w.off + j] << j;
    }
    cr_expect(a == want_a && b == want_b, "scope %d norm %d: kept a %04x b %04x, want %04x %04x",
              (int)scope, (int)norm, a, b, want_a, want_b);
    free(scratch);
    pr_mask_free(&mk);
    nn_model_free(&m);
}

/* rms normalisation makes a layer of denormals (k * 2^-149) and one of
 * k * 2^-20 equal: each loses its 8 smallest. (1 / rms of the denormal
 * layer, 7e44, does not fit a float: the layer was emptied first.) */
Test(nonfinite_prune, rms_scores_of_denormal_layers)
{
    float wa[16], wb[16];
    for (int k = 0; k < 16; k++)
        wa[k] = ldexpf((float)(k + 1), -149), wb[k] = ldexpf((float)(k + 1), -20);
    expect_kept(wa, wb, PR_SCOPE_GLOBAL, PR_NORM_RMS, 0xff00u, 0xff00u);
}

/* +-3e38 next to small weights (then 1..14): per layer they survive with
 * 9..14; globally with rms, the small ones of their layer score ~1e-38
 * and go first. NaN and +-inf (no valid checkpoint holds them; a library
 * caller may) are never pruned and leave the others' order alone; an
 * all-zero layer is pruned first. */
Test(nonfinite_prune, huge_non_finite_and_zero_weights)
{
    float wa[16], wb[16], wn[16], wz[16] = {0};
    for (int k = 0; k < 16; k++)
        wa[k] = (float)(k - 1), wb[k] = (float)(k + 1), wn[k] = (float)(k - 2);
    wa[0] = 3e38f, wa[1] = -3e38f;
    expect_kept(wa, wb, PR_SCOPE_LAYER, PR_NORM_NONE, 0xfc03u, 0xff00u);
    expect_kept(wa, wb, PR_SCOPE_GLOBAL, PR_NORM_RMS, 0x0003u, 0xfffcu);
    wn[0] = NAN, wn[1] = INFINITY, wn[2] = -INFINITY; /* then 1..13 */
    expect_kept(wn, wb, PR_SCOPE_LAYER, PR_NORM_NONE, 0xf807u, 0xff00u);
    /* rms over a's finite weights (1..13): 7.9 against b's 9.7 */
    expect_kept(wn, wb, PR_SCOPE_GLOBAL, PR_NORM_RMS, 0xfc07u, 0xfe00u);
    expect_kept(wz, wb, PR_SCOPE_GLOBAL, PR_NORM_RMS, 0x0000u, 0xffffu);
}

/* Whole channels ranked by mean |w| in double: 3e38 and NaN channels stay,
 * the zero and the denormal channel go. */
Test(nonfinite_prune, channel_scores_with_extremes)
{
    nn_model_spec s;
    LS_SPEC(&s, 1, 4, 4, 3, ls_conv(4, 3, 1, 0), ls_layer(NN_LAYER_RELU),
            ls_layer(NN_LAYER_FLATTEN), ls_dense(3));
    for (int i = 0; i < 4; i++)
        s.layers[i].input = i - 1;
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
    const float ch[4] = {3e38f, NAN, 0.0f, 1e-45f};
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 9; k++)
            m.params[m.nodes[0].w.off + (size_t)c * 9 + k] = ch[c];
    pr_channel_plan p;
    cr_assert_eq(pr_plan_init(&p, &m, &err), NN_OK, "%s", err.msg);
    pr_targets t;
    pr_targets_init(&t, 0.5);
    cr_assert_eq(pr_channel_select(&p, &m, &t, PR_CRIT_L1, &err), NN_OK, "%s", err.msg);
    const uint8_t *keep = p.keep + p.off[p.groups.group[0]];
    cr_expect(keep[0] && keep[1] && !keep[2] && !keep[3], "kept %d%d%d%d", keep[0], keep[1],
              keep[2], keep[3]);
    pr_plan_free(&p);
    nn_model_free(&m);
}
