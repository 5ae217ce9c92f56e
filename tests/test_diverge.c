/* test_diverge.c - the divergence rule (nn_diverge.h) on given loss
 * sequences, the non-finite scan on given spans, its wiring into nn_train
 * (an exploding loss, a NaN parameter the loss cannot see, the checkpoint
 * of the last good epoch kept), and the strict config key
 * train.divergence_factor. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "format/ckpt.h"
#include "libnn/nn_diverge.h"
#include "libnn/nn_train.h"
#include "cli_helpers.h"
#include "fixtures.h"
#include "kept_checkpoint.h"
#include "layer_specs.h"

/* ---- the rule -------------------------------------------------------------- */

/* Reference 2 (the first loss, above ln 2), factor 4: the smoothed loss
 * may reach 8 but not pass it. 2 + (50 - 2) / 8 is exactly 8. */
Test(diverge, factor_boundary_is_strict_on_the_smoothed_loss)
{
    nn_diverge d;
    nn_diverge_init(&d, 4, 2);
    cr_assert_eq(nn_diverge_update(&d, 2.0), 0);
    cr_assert_eq(d.reference, 2.0);
    cr_assert_eq(nn_diverge_update(&d, 50.0), 0, "a batch loss of 25x the start tripped the "
                                                 "rule: it must watch the smoothed loss");
    cr_assert_eq(d.smoothed, 8.0, "moving average weight is not 1/8: %g", d.smoothed);
    cr_assert_eq(d.max_ratio, 4.0);
    cr_assert_eq(nn_diverge_update(&d, 8.0), 0, "smoothed == factor * reference is no alarm");
    cr_assert_eq(nn_diverge_update(&d, 8.001), 1, "just above factor * reference must trip");
}

/* The reference is the first loss when it is above chance level... */
Test(diverge, reference_is_the_first_loss_when_above_chance)
{
    nn_diverge d;
    nn_diverge_init(&d, 2, 10); /* 2 x ln 10 = 4.6 */
    for (int i = 0; i < 50; i++)
        cr_assert_eq(nn_diverge_update(&d, 5.0), 0, "step %d: a flat loss of 5 tripped", i);
    cr_assert_eq(d.reference, 5.0);
    cr_assert_float_eq(d.max_ratio, 1.0, 1e-12);
    cr_assert_eq(nn_diverge_update(&d, 200.0), 1); /* 5 + 195/8 > 10 */
}

/* ...and chance level, ln(classes), when the run starts below it (a resumed
 * run, or prune's fine-tuning of a trained model), so that a rise from a
 * low start to a still useful loss is no alarm. */
Test(diverge, reference_is_chance_level_for_a_low_start)
{
    nn_diverge d;
    nn_diverge_init(&d, 10, 10);
    cr_assert_eq(nn_diverge_update(&d, 0.05), 0);
    cr_assert_float_eq(d.reference, log(10.0), 1e-12);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(nn_diverge_update(&d, 2.0), 0, "40x the first loss but below chance");
    cr_assert_eq(nn_diverge_update(&d, 1000.0), 1);
}

/* A non-finite loss stops training whatever the factor, even with the
 * loss rule off (factor 0) and on the first step. */
Test(diverge, non_finite_loss_always_stops)
{
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        nn_diverge d;
        nn_diverge_init(&d, 0, 10);
        cr_assert_eq(nn_diverge_update(&d, bad[i]), 1, "first loss %g", bad[i]);
        nn_diverge_init(&d, 0, 10);
        cr_assert_eq(nn_diverge_update(&d, 2.0), 0);
        cr_assert_eq(nn_diverge_update(&d, 1e30), 0, "factor 0 must switch the rule off");
        cr_assert_eq(nn_diverge_update(&d, bad[i]), 1, "loss %g", bad[i]);
    }
}

/* ---- the scan ---------------------------------------------------------------- */

/* Every position of spans of several lengths (around the vector width of
 * 16), each kind of non-finite value; extreme finite values are no alarm;
 * nothing past the span is read into the answer. */
Test(diverge, first_nonfinite_in_a_span)
{
    const float bad[] = {NAN, INFINITY, -INFINITY};
    const float fine[] = {FLT_MAX, -FLT_MAX, FLT_MIN / 4, -0.0f, 3e38f, 1.0f};
    const size_t lens[] = {0, 1, 15, 16, 17, 31, 33, 100};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        float *p = malloc((n + 1) * sizeof *p);
        for (size_t i = 0; i < n; i++)
            p[i] = fine[i % 6];
        p[n] = NAN; /* just past the span */
        cr_assert_eq(nn_first_nonfinite(p, n), n, "n %zu: a finite span flagged", n);
        for (size_t at = 0; at < n; at++)
            for (int b = 0; b < 3; b++) {
                float keep = p[at];
                p[at] = bad[b];
                if (at + 2 < n)
                    p[n - 1] = INFINITY; /* a later one: the first must be reported */
                cr_assert_eq(nn_first_nonfinite(p, n), at, "n %zu, %g at %zu", n, (double)bad[b],
                             at);
                p[at] = keep;
                p[n - 1] = fine[(n - 1) % 6];
            }
        free(p);
    }
}

/* conv(bias) - bn - relu - flatten - dense 3, on 1x4x4. */
static void small_model(nn_model *m)
{
    nn_model_spec s;
    LS_SPEC(&s, 1, 4, 4, 3, ls_conv(2, 3, 1, 1), ls_layer(NN_LAYER_BATCHNORM),
            ls_layer(NN_LAYER_RELU), ls_layer(NN_LAYER_FLATTEN), ls_dense(3));
    nn_error err;
    cr_assert_eq(nn_model_build(m, &s, &err), NN_OK, "%s", err.msg);
    nn_model_init_params(m, NN_INIT_HE, 3);
}

/* The scan names the layer, which values and the index. */
Test(diverge, find_nonfinite_names_layer_values_and_index)
{
    nn_model m;
    small_model(&m);
    float *om = calloc(m.n_params, sizeof(float)), *ov = calloc(m.n_params, sizeof(float));
    nn_nonfinite at;
    cr_assert_eq(nn_find_nonfinite(&m, om, ov, &at), 0);

    const nn_node *bn = &m.nodes[1], *dense = &m.nodes[4], *conv = &m.nodes[0];
    float *var = m.state + bn->stat.off + bn->stat.n / 2;
    var[1] = INFINITY;
    cr_assert_eq(nn_find_nonfinite(&m, NULL, NULL, &at), 1);
    cr_expect(at.layer == 1 && at.index == 1 && isinf(at.value));
    cr_expect_str_eq(at.what, "running variance");
    var[1] = 1.0f;

    m.params[dense->b.off + 2] = NAN;
    cr_assert_eq(nn_find_nonfinite(&m, NULL, NULL, &at), 1);
    cr_expect(at.layer == 4 && at.index == 2 && isnan(at.value));
    cr_expect_str_eq(at.what, "bias");
    m.params[dense->b.off + 2] = 0.0f;

    m.params[bn->w.off] = -INFINITY;
    cr_assert_eq(nn_find_nonfinite(&m, NULL, NULL, &at), 1);
    cr_expect_str_eq(at.what, "gamma");
    m.params[bn->w.off] = 1.0f;

    ov[conv->w.off + 5] = NAN;
    cr_assert_eq(nn_find_nonfinite(&m, NULL, NULL, &at), 0, "no optimizer state given");
    cr_assert_eq(nn_find_nonfinite(&m, om, ov, &at), 1);
    cr_expect(at.layer == 0 && at.index == 5);
    cr_expect_str_eq(at.what, "second optimizer state of the weights");
    free(om), free(ov);
    nn_model_free(&m);
}

/* ---- in the training loop ------------------------------------------------- */

/* small_model, SGD with momentum, and 64 stripes images (3 classes) to
 * train on, 8 a batch: 8 steps an epoch. */
typedef struct {
    uint8_t *images, *labels;
    nn_images img;
    nn_model m;
    nn_optim o;
    nn_train_state ts;
} trainee;

static void trainee_init(trainee *t)
{
    t->images = malloc(64 * 16), t->labels = malloc(64);
    fx_stripes(t->images, t->labels, 64, 1, 4, 4, 3, 9);
    t->img = (nn_images){t->images, t->labels, 64};
    small_model(&t->m);
    nn_optim_config oc = {.kind = NN_OPT_SGD, .momentum = 0.9f};
    nn_error err;
    cr_assert_eq(nn_optim_init(&t->o, &oc, t->m.n_params, &err), NN_OK);
    t->ts = (nn_train_state){4, 0, 0, 0};
}

static void trainee_free(trainee *t)
{
    nn_optim_free(&t->o);
    nn_model_free(&t->m);
    free(t->images), free(t->labels);
}

/* Trains t on to epoch `epochs` at the constant rate lr. */
static nn_status trainee_run(trainee *t, int epochs, float lr, const nn_train_hooks *hooks,
                             nn_error *err)
{
    nn_train_config tc;
    memset(&tc, 0, sizeof tc);
    tc.epochs = epochs, tc.batch_size = 8, tc.eval_batch = 16, tc.threads = 1, tc.seed = 4;
    tc.schedule = (nn_schedule_config){.kind = NN_SCHED_CONSTANT, .base_lr = lr};
    tc.divergence_factor = NN_DIVERGE_DEFAULT_FACTOR;
    tc.lr_name = "train.lr";
    return nn_train(&t->m, &t->o, &t->ts, &tc, &t->img, NULL, hooks, err);
}

typedef struct {
    int at_step;     /* the step after which to act */
    int what;        /* 0: scale the last layer's weights by -10^4; 1: a NaN
                      * weight; 2: a NaN in the optimizer state */
    int epochs_seen; /* on_epoch calls */
} sabotage;

static void sabotage_step(void *user, nn_model *m, nn_optim *opt, uint64_t step)
{
    const sabotage *s = user;
    if ((int)step != s->at_step)
        return;
    if (s->what == 2) {
        opt->m[m->nodes[0].w.off + 3] = NAN;
        return;
    }
    if (s->what == 1) {
        m->params[m->nodes[0].w.off + 4] = NAN;
        return;
    }
    const nn_node *d = &m->nodes[m->n_nodes - 1];
    for (size_t i = 0; i < d->w.n; i++)
        m->params[d->w.off + i] *= -1e4f;
}

static nn_status count_epochs(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                              nn_error *err)
{
    (void)r, (void)ts, (void)err;
    ((sabotage *)user)->epochs_seen++;
    return NN_OK;
}

/* Trains a fresh trainee for `epochs` epochs with s acting after its step;
 * the status, with the message in err. */
static nn_status run_sabotaged(int epochs, sabotage *s, nn_train_state *ts, nn_error *err)
{
    trainee t;
    trainee_init(&t);
    nn_train_hooks hooks = {NULL, count_epochs, s, sabotage_step, NULL};
    nn_status st = trainee_run(&t, epochs, 0.01f, &hooks, err);
    *ts = t.ts;
    trainee_free(&t);
    return st;
}

/* Logits blown up by -10^4 (confidently wrong) give a huge but finite
 * loss: the loss rule, not the non-finite check, stops training on the
 * next step, and the message gives epoch, batch, step, the loss, the
 * factor, the per-image starting loss and the hint. */
/* Runs the sabotaged training for `epochs`: it must stop with
 * NN_ERR_NUMERIC and a message holding msg; the state in *ts, the error in
 * *err. */
static void expect_numeric_stop(int epochs, sabotage *sb, const char *msg, nn_train_state *ts,
                                nn_error *err)
{
    cr_assert_eq(run_sabotaged(epochs, sb, ts, err), NN_ERR_NUMERIC);
    cr_assert_not_null(strstr(err->msg, msg), "%s", err->msg);
}

Test(diverge, exploding_finite_loss_stops_training)
{
    sabotage sb = {11, 0, 0}; /* epoch 2, batch 3 */
    nn_train_state ts;
    nn_error err;
    expect_numeric_stop(3, &sb, "loss exploded at epoch 2, batch 4 (step 12)", &ts, &err);
    cr_assert_not_null(strstr(err.msg, "divergence factor 10 "), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "try a lower train.lr"), "%s", err.msg);
    const char *start = strstr(err.msg, "times the starting loss ");
    const char *chance = strstr(err.msg, "chance level");
    cr_assert(start || chance, "%s", err.msg);
    if (start) /* per image, not the batch's sum */
        cr_assert_lt(atof(start + strlen("times the starting loss ")), 5.0, "%s", err.msg);
    cr_assert_eq(ts.epochs_done, 1);
    cr_assert_eq(sb.epochs_seen, 1);
}

/* A NaN weight after step 5: the ReLU behind the conv can turn NaN into 0,
 * so the loss need not show it; the scan after the step stops training at
 * that very step, naming the value. */
Test(diverge, nan_parameter_stops_training_at_its_step)
{
    sabotage sb = {5, 1, 0};
    nn_train_state ts;
    nn_error err;
    expect_numeric_stop(2, &sb,
                        "after step 5 (epoch 1, batch 5): layer 0 (conv2d) weights [4] is nan", &ts,
                        &err);
    cr_assert_eq(ts.step, 5);
}

/* A NaN momentum on the epoch's last step has not reached any weight yet:
 * the check at the end of the epoch finds it before on_epoch could save
 * it. */
Test(diverge, nan_optimizer_state_is_caught_before_the_epoch_is_saved)
{
    sabotage sb = {8, 2, 0}; /* the last step of epoch 1 */
    nn_train_state ts;
    nn_error err;
    expect_numeric_stop(2, &sb,
                        "at the end of epoch 1 (step 8): layer 0 (conv2d) optimizer state of the "
                        "weights [3] is nan",
                        &ts, &err);
    cr_assert_eq(sb.epochs_seen, 0, "on_epoch saw a model with a NaN optimizer state");
}

typedef struct {
    const char *path;
    const trainee *t;
} saver;

static nn_status save(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                      nn_error *err)
{
    (void)r;
    const saver *s = user;
    return ckpt_save(s->path, &s->t->m, &s->t->o, ts, "{}", NULL, err);
}

/* One good epoch saved, then the run continues with an absurd rate: it
 * stops in epoch 2, and the file on disk is still epoch 1's, byte for
 * byte, finite, and loads. */
Test(diverge, last_good_checkpoint_is_kept)
{
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    trainee t;
    trainee_init(&t);
    saver sv = {path, &t};
    nn_train_hooks hooks = {NULL, save, &sv, NULL, NULL};
    nn_error err;
    cr_assert_eq(trainee_run(&t, 1, 0.01f, &hooks, &err), NN_OK, "%s", err.msg);
    size_t good_len;
    char *good = ch_slurp(path, &good_len);
    cr_assert_not_null(good);

    cr_assert_eq(trainee_run(&t, 3, 1e6f, &hooks, &err), NN_ERR_NUMERIC);
    cr_assert_not_null(strstr(err.msg, "training diverged"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "epoch 2"), "%s", err.msg);
    expect_kept_checkpoint(path, good, good_len, 1);
    free(good);
    trainee_free(&t);
    fx_rmtree(dir);
}

/* ---- the config key -------------------------------------------------------- */

static nn_status parse_with(const char *train_extra, const char *top_extra, cfg_config *c,
                            nn_error *e)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"data\": {\"dataset\": \"mnist\"}, \"model\": {\"layers\": [{\"type\": "
             "\"dense\", \"units\": 10}]}, \"train\": {\"epochs\": 1, \"lr\": 0.1%s}%s}",
             train_extra, top_extra);
    return cfg_parse(c, json, "t.json", e);
}

Test(diverge, config_key_is_strict)
{
    static cfg_config c;
    nn_error e;
    cr_assert_eq(parse_with("", "", &c, &e), NN_OK, "%s", e.msg);
    cr_assert_eq(c.train.divergence_factor, NN_DIVERGE_DEFAULT_FACTOR);
    cr_assert_eq(parse_with(", \"divergence_factor\": 4.5", "", &c, &e), NN_OK, "%s", e.msg);
    cr_assert_eq(c.train.divergence_factor, 4.5);
    cr_assert_eq(parse_with(", \"divergence_factor\": 2", "", &c, &e), NN_OK, "%s", e.msg);
    cr_assert_eq(parse_with(", \"divergence_factor\": 1e6", "", &c, &e), NN_OK, "%s", e.msg);
    const char *bad[] = {", \"divergence_factor\": 1.99", ", \"divergence_factor\": 0",
                         ", \"divergence_factor\": -10", ", \"divergence_factor\": 1.1e6",
                         ", \"divergence_factor\": \"10\"", ", \"divergence_factor\": null",
                         ", \"divergence_factor\": true",
                         ", \"divergence_factor\": 5, \"divergence_factor\": 5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = 0;
        cr_assert_eq(parse_with(bad[i], "", &c, &e), NN_ERR_CONFIG, "accepted %s", bad[i]);
        cr_assert_not_null(strstr(e.msg, "t.json: train.divergence_factor"), "%s: %s", bad[i],
                           e.msg);
    }
    /* At the top level: an error that says where it belongs. */
    e.msg[0] = 0;
    cr_assert_eq(parse_with("", ", \"divergence_factor\": 5", &c, &e), NN_ERR_CONFIG);
    cr_assert_not_null(strstr(e.msg, "divergence_factor"), "%s", e.msg);
    cr_assert_not_null(strstr(e.msg, "\"train\""), "%s", e.msg);
}

typedef struct {
    uint64_t fail_step;        /* fail before this step (1-based)            */
    int calls, last_epoch;
    uint64_t last_batch;
} batch_source;

static nn_status failing_source(void *user, int epoch, uint64_t batch, uint64_t step,
                                nn_error *err)
{
    batch_source *b = user;
    b->calls++, b->last_epoch = epoch, b->last_batch = batch;
    if (step + 1 == b->fail_step)
        return nn_errorf(err, NN_ERR_IO, "data.bin: short read at byte 4711");
    return NN_OK;
}

/* nn_train_hooks.before_batch runs before every batch with its epoch,
 * batch and the steps so far; its failure stops training at once, before
 * that step, with its status and message (a per-batch data source's read
 * error; over MPI it is one process's alone, pipeline/pl_dist.h). */
Test(diverge, a_failing_batch_source_stops_before_its_step)
{
    trainee t;
    trainee_init(&t);
    int steps_per_epoch = t.img.n / 8;
    batch_source src = {(uint64_t)steps_per_epoch + 3, 0, 0, 0};
    nn_train_hooks hooks = {NULL, NULL, &src, NULL, failing_source};
    nn_error err;
    nn_status st = trainee_run(&t, 3, 0.01f, &hooks, &err);
    cr_assert_eq(st, NN_ERR_IO, "status %d: %s", st, err.msg);
    cr_expect_str_eq(err.msg, "data.bin: short read at byte 4711");
    cr_expect_eq(t.ts.step, (uint64_t)steps_per_epoch + 2, "steps %llu",
                 (unsigned long long)t.ts.step);
    cr_expect_eq(t.ts.epochs_done, 1);
    cr_expect_eq(src.calls, steps_per_epoch + 3);
    cr_expect_eq(src.last_epoch, 2);
    cr_expect_eq(src.last_batch, 3);
    trainee_free(&t);
}
