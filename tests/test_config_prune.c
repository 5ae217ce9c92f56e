/* test_config_prune.c - the config's prune block (config/cfg_prune.c): a
 * golden parse of every key, the defaults and what fine-tuning inherits
 * from train, every error naming its JSON path, and the resolution of
 * layer overrides and epochs against a model. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cfg_helpers.h"
#include "config/cfg.h"

#define DATA "\"data\": {\"dataset\": \"mnist\"}"
#define MODEL                                                                                      \
    "\"model\": {\"layers\": [{\"type\": \"conv2d\", \"name\": \"c1\", \"filters\": 4},"           \
    " {\"type\": \"relu\", \"name\": \"r\"}, {\"type\": \"flatten\"},"                             \
    " {\"type\": \"dense\", \"name\": \"fc\", \"units\": 10}]}"
#define TRAIN "\"train\": {\"epochs\": 3, \"lr\": 0.1}"
#define WITH_PRUNE(p) "{" DATA ", " MODEL ", " TRAIN ", \"prune\": {" p "}}"
#define WITH_TRAIN_PRUNE(t, p) "{" DATA ", " MODEL ", \"train\": {" t "}, \"prune\": {" p "}}"

static cfg_config cfg;

static void parse_ok(const char *json) { cfgt_parse_ok(&cfg, json, "t.json"); }

/* NN_ERR_CONFIG, the message starting "t.json: <path>" + a separator, and
 * containing `also` when given. */
static void expect_error(const char *json, const char *path, const char *also)
{
    cfgt_expect_error(&cfg, json, "t.json", path, ": ", also);
    cr_assert_eq(cfg.prune.present, 0);
    cr_assert_eq(cfg.model.n_layers, 0);
}

Test(config_prune, absent_block)
{
    parse_ok("{" DATA ", " MODEL ", " TRAIN "}");
    cr_assert_eq(cfg.prune.present, 0);
}

Test(config_prune, every_key_parses)
{
    parse_ok(WITH_PRUNE("\"comment\": \"x\", \"method\": \"magnitude\", \"sparsity\": 0.9,"
                        " \"scope\": \"global\", \"normalize\": \"rms\","
                        " \"layers\": {\"fc\": 0.5, \"0\": \"skip\", \"comment\": \"y\"},"
                        " \"schedule\": {\"type\": \"gradual\", \"begin_epoch\": 0.5,"
                        "   \"end_epoch\": 3, \"frequency\": 50, \"exponent\": 2,"
                        "   \"initial_sparsity\": 0.1},"
                        " \"finetune\": {\"epochs\": 4, \"lr\": 0.01, \"schedule\":"
                        "   {\"type\": \"cosine\", \"min_lr\": 0.001, \"warmup_epochs\": 0.5},"
                        "   \"distill\": {\"temperature\": 3, \"weight\": 0.75, \"flip\": true}}"));
    const cfg_prune *p = &cfg.prune;
    cr_assert(p->present);
    cr_assert_eq(p->method, CFG_PRUNE_MAGNITUDE);
    cr_assert_float_eq(p->sparsity, 0.9, 1e-15);
    cr_assert_eq(p->scope, PR_SCOPE_GLOBAL);
    cr_assert_eq(p->norm, PR_NORM_RMS);
    cr_assert_eq(p->n_layers, 2);
    cr_assert_str_eq(p->layers[0].key, "fc");
    cr_assert_float_eq(p->layers[0].sparsity, 0.5, 1e-15);
    cr_assert_str_eq(p->layers[1].key, "0");
    cr_assert_eq(p->layers[1].sparsity, PR_SKIP);
    cr_assert(p->gradual);
    cr_assert(!p->in_steps);
    cr_assert_float_eq(p->begin, 0.5, 1e-15);
    cr_assert_float_eq(p->end, 3.0, 1e-15);
    cr_assert_eq(p->frequency, 50);
    cr_assert_float_eq(p->exponent, 2.0, 1e-15);
    cr_assert_float_eq(p->initial, 0.1, 1e-15);
    cr_assert_eq(p->finetune_epochs, 4);
    cr_assert_float_eq(p->finetune_lr, 0.01f, 1e-9);
    cr_assert_eq(p->finetune_schedule.kind, NN_SCHED_COSINE);
    cr_assert_float_eq(p->finetune_schedule.base_lr, 0.01f, 1e-9);
    cr_assert_float_eq(p->finetune_schedule.min_lr, 0.001f, 1e-9);
    cr_assert_float_eq(p->finetune_schedule.warmup_epochs, 0.5f, 1e-9);
    cr_assert(p->distill);
    cr_assert_float_eq(p->distill_loss.temperature, 3.0f, 0);
    cr_assert_float_eq(p->distill_loss.weight, 0.75f, 0);
    cr_assert_eq(p->distill_flip, 1);

    parse_ok(WITH_PRUNE("\"method\": \"structured\", \"sparsity\": 0.25, \"criterion\": \"l1\","
                        " \"schedule\": \"oneshot\""));
    cr_assert_eq(cfg.prune.method, CFG_PRUNE_STRUCTURED);
    cr_assert_eq(cfg.prune.criterion, PR_CRIT_L1);
    cr_assert(!cfg.prune.gradual);

    parse_ok(
        WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": {\"type\": \"gradual\", \"begin_step\": 10,"
                   " \"end_step\": 200}, \"finetune\": {\"epochs\": 1}"));
    cr_assert(cfg.prune.in_steps);
    cr_assert_float_eq(cfg.prune.begin, 10, 0);
    cr_assert_float_eq(cfg.prune.end, 200, 0);
}

Test(config_prune, defaults_and_what_finetuning_inherits_from_train)
{
    parse_ok(WITH_PRUNE("\"sparsity\": 0.8"));
    const cfg_prune *p = &cfg.prune;
    cr_assert_eq(p->method, CFG_PRUNE_MAGNITUDE);
    cr_assert_eq(p->scope, PR_SCOPE_LAYER);
    cr_assert_eq(p->norm, PR_NORM_NONE);
    cr_assert_eq(p->criterion, PR_CRIT_AUTO);
    cr_assert_eq(p->n_layers, 0);
    cr_assert(!p->gradual);
    cr_assert_eq(p->finetune_epochs, 0, "no finetune block: no fine-tuning");
    /* The train block's rate and schedule, at prune.finetune.lr if given. */
    parse_ok(WITH_TRAIN_PRUNE("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"step\","
                              " \"step_epochs\": 2, \"gamma\": 0.5}",
                              "\"sparsity\": 0.8, \"finetune\": {\"epochs\": 2, \"lr\": 0.02}"));
    cr_assert_eq(p->finetune_epochs, 2);
    cr_assert(!p->distill, "no distill block: no distillation");
    cr_assert_eq(p->finetune_schedule.kind, NN_SCHED_STEP);
    cr_assert_float_eq(p->finetune_schedule.base_lr, 0.02f, 1e-9);
    cr_assert_float_eq(p->finetune_schedule.step_epochs, 2.0f, 1e-9);
    cr_assert_float_eq(p->finetune_schedule.gamma, 0.5f, 1e-9);
    parse_ok(
        WITH_PRUNE("\"sparsity\": 0.8, \"schedule\": \"gradual\", \"finetune\": {\"epochs\": 4}"));
    cr_assert_float_eq(p->finetune_lr, 0.1f, 1e-9);
    cr_assert_eq(p->finetune_schedule.kind, NN_SCHED_CONSTANT);
    cr_assert(p->end < 0, "end defaults to 3/4 of fine-tuning");
    cr_assert_eq(p->frequency, 100);
    cr_assert_float_eq(p->exponent, 3.0, 0);
    cr_assert_float_eq(p->initial, 0.0, 0);
    /* An empty distill block: distillation with the documented defaults. */
    parse_ok(WITH_PRUNE("\"sparsity\": 0.8, \"finetune\": {\"epochs\": 1, \"distill\": {}}"));
    cr_assert(p->distill);
    cr_assert_float_eq(p->distill_loss.temperature, CFG_DISTILL_TEMPERATURE, 0);
    cr_assert_float_eq(p->distill_loss.weight, CFG_DISTILL_WEIGHT, 0);
    cr_assert_eq(p->distill_flip, 0, "the teacher sees the image alone by default");
}

static const cfgt_error_case bad_prune[] = {
    {"{" DATA ", " MODEL ", " TRAIN ", \"prune\": 3}", "prune", "expected an object"},
    {WITH_PRUNE(""), "prune.sparsity", "missing"},
    {WITH_PRUNE("\"sparsty\": 0.5"), "prune.sparsty", "did you mean \"sparsity\""},
    {WITH_PRUNE("\"sparsity\": 1"), "prune.sparsity", "[0, 1)"},
    {WITH_PRUNE("\"sparsity\": \"0.9\""), "prune.sparsity", "without quotes"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"method\": \"structred\""), "prune.method",
     "did you mean \"structured\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"method\": \"structured\", \"scope\": \"global\""),
     "prune.scope", "not valid for method \"structured\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"criterion\": \"l1\""), "prune.criterion",
     "not valid for method \"magnitude\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"normalize\": \"rms\""), "prune.normalize", "\"global\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"scope\": \"all\""), "prune.scope", "\"layer\""},
    /* layers */
    {WITH_PRUNE("\"sparsity\": 0.5, \"layers\": []"), "prune.layers", "an object"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"layers\": {\"fc\": 1.2}"), "prune.layers.fc", "\"skip\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"layers\": {\"fc\": \"skp\"}"), "prune.layers.fc",
     "got \"skp\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"layers\": {\"fc\": 0.1, \"fc\": 0.2}"),
     "prune.layers.fc", "duplicate"},
    {WITH_PRUNE(
     "\"sparsity\": 0.5, \"layers\": {\"a_name_that_is_far_too_long_to_be_one\": 0.1}"),
     "prune.layers.a_name_that_is_far_too_long_to_be_one", "1 to 31"},
    /* finetune.distill */
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 1, \"distill\": true}"),
     "prune.finetune.distill", "an object"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 1, \"distill\": "
     "{\"temprature\": 2}}"), "prune.finetune.distill.temprature", "did you mean"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 1, \"distill\": "
     "{\"weight\": 1.5}}"), "prune.finetune.distill.weight", "[0, 1]"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 1, \"distill\": "
     "{\"temperature\": 0}}"), "prune.finetune.distill.temperature", "(0, 100]"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 1, \"distill\": "
     "{\"flip\": 1}}"), "prune.finetune.distill.flip", "true or false"},
    /* schedule */
    {WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": \"gradual\""), "prune.schedule", "finetune"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"method\": \"structured\", \"schedule\": "
     "{\"type\": \"gradual\"}, \"finetune\": {\"epochs\": 2}"),
     "prune.schedule.type", "only valid for method \"magnitude\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": {\"type\": \"gradual\", \"begin_step\": 1,"
     " \"end_epoch\": 2}, \"finetune\": {\"epochs\": 2}"), "prune.schedule", "not a mix"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": {\"type\": \"gradual\", \"end_epoch\": 5},"
     " \"finetune\": {\"epochs\": 4}"),
     "prune.schedule.end_epoch", "at most prune.finetune.epochs"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": {\"type\": \"gradual\", \"begin_epoch\": 3,"
     " \"end_epoch\": 2}, \"finetune\": {\"epochs\": 4}"),
     "prune.schedule.begin_epoch", "at most end_epoch"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": {\"type\": \"gradual\", "
     "\"initial_sparsity\": 0.6}, \"finetune\": {\"epochs\": 4}"),
     "prune.schedule.initial_sparsity", "at most prune.sparsity"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": {\"type\": \"gradual\", \"frequency\": 0},"
     " \"finetune\": {\"epochs\": 4}"), "prune.schedule.frequency", "expected an integer in [1, "},
    {WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": {\"type\": \"oneshot\", \"frequency\": 5}"),
     "prune.schedule.frequency", "not valid for schedule \"oneshot\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"schedule\": {\"frequency\": 5}"),
     "prune.schedule.type", "missing"},
    /* finetune */
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"lr\": 0.1}"),
     "prune.finetune.epochs", "missing"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"lr\": -1}"),
     "prune.finetune.lr", "> 0"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"activations\": true}"),
     "prune.finetune.activations", "a key of quantize.qat"},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"lr\": 0.1, \"lrr\": 1}"),
     "prune.finetune.lrr", "did you mean \"lr\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"schedule\": \"cosin\"}"),
     "prune.finetune.schedule", "did you mean \"cosine\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"schedule\": "
     "{\"type\": \"onecycle\", \"warmup_epochs\": 1}}"),
     "prune.finetune.schedule.warmup_epochs", "not valid for schedule \"onecycle\""},
    {WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"lr\": 0.01, "
     "\"schedule\": {\"type\": \"cosine\", \"min_lr\": 0.1}}"),
     "prune.finetune.schedule.min_lr", "at most prune.finetune.lr"},
    /* Inherited from train: its bounds must still hold. */
    {WITH_TRAIN_PRUNE("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"cosine\","
     " \"min_lr\": 0.05}", "\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"lr\": 0.01}"),
     "prune.finetune.lr", "train.schedule.min_lr"},
    {WITH_TRAIN_PRUNE("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"constant\","
     " \"warmup_epochs\": 2}", "\"sparsity\": 0.5, \"finetune\": {\"epochs\": 1}"),
     "prune.finetune.epochs", "warmup_epochs"},
};

Test(config_prune, errors_name_the_json_path)
{
    for (size_t i = 0; i < sizeof bad_prune / sizeof bad_prune[0]; i++)
        expect_error(bad_prune[i].json, bad_prune[i].path, bad_prune[i].also);
}

/* train.schedule and prune.finetune.schedule share one parser: a value in
 * range as a double but not once rounded to float (1e-50 -> 0, 1 - 1e-12 ->
 * 1.0f, 1e39 -> inf) is rejected in both, naming the block's own path. */
Test(config_prune, schedule_values_are_checked_once_rounded_to_float)
{
    static const struct {
        const char *sched, *key;
    } cases[] = {
        {"{\"type\": \"step\", \"gamma\": 1e-50}", "gamma"},
        {"{\"type\": \"step\", \"step_epochs\": 1e-50}", "step_epochs"},
        {"{\"type\": \"step\", \"step_epochs\": 1e39}", "step_epochs"},
        {"{\"type\": \"constant\", \"warmup_epochs\": 1.99999999999}", "warmup_epochs"},
        {"{\"type\": \"onecycle\", \"pct_start\": 0.999999999999}", "pct_start"},
        {"{\"type\": \"onecycle\", \"div_factor\": 1e39}", "div_factor"},
        {"{\"type\": \"onecycle\", \"final_div_factor\": 1e39}", "final_div_factor"},
    };
    char json[1024], path[96];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(json, sizeof json,
                 WITH_TRAIN_PRUNE("\"epochs\": 2, \"lr\": 0.1, \"schedule\": %s",
                                  "\"sparsity\": 0.5"),
                 cases[i].sched);
        snprintf(path, sizeof path, "train.schedule.%s", cases[i].key);
        expect_error(json, path, "once rounded to float");
        snprintf(json, sizeof json,
                 WITH_PRUNE("\"sparsity\": 0.5, \"finetune\": {\"epochs\": 2, \"schedule\": %s}"),
                 cases[i].sched);
        snprintf(path, sizeof path, "prune.finetune.schedule.%s", cases[i].key);
        expect_error(json, path, "once rounded to float");
    }
}

/* ---------------------------------------------- resolution on a model -- */

static void build(nn_model *m)
{
    nn_error e;
    cfg_set_input(&cfg, 1, 8, 8, 10);
    cr_assert_eq(nn_model_build(m, &cfg.model, &e), NN_OK, "%s", e.msg);
}

Test(config_prune, layer_overrides_resolve_by_name_or_index)
{
    parse_ok(WITH_PRUNE("\"sparsity\": 0.6, \"layers\": {\"fc\": 0.5, \"0\": \"skip\"}"));
    nn_model m;
    build(&m);
    pr_targets t;
    nn_error e;
    cr_assert_eq(cfg_prune_targets(&cfg.prune, &m, NULL, "t.json", &t, &e), NN_OK, "%s", e.msg);
    cr_assert_float_eq(t.sparsity, 0.6, 1e-15);
    cr_assert_eq(t.layer[0], PR_SKIP);
    cr_assert_float_eq(t.layer[3], 0.5, 1e-15);
    cr_assert_eq(t.layer[1], PR_DEFAULT);
    nn_model_free(&m);

    parse_ok(WITH_PRUNE("\"sparsity\": 0.6, \"layers\": {\"-1\": 0.25, \"-4\": 0.1}"));
    build(&m);
    cr_assert_eq(cfg_prune_targets(&cfg.prune, &m, NULL, "t.json", &t, &e), NN_OK, "%s", e.msg);
    cr_assert_float_eq(t.layer[3], 0.25, 1e-15, "-1 is the last layer");
    cr_assert_float_eq(t.layer[0], 0.1, 1e-15);
    nn_model_free(&m);
}

static void expect_targets_error(const char *prune, int structured, const char *path,
                                 const char *also)
{
    parse_ok(prune);
    nn_model m;
    build(&m);
    pr_targets t;
    pr_groups g;
    nn_error e = {{0}};
    if (structured)
        cr_assert_eq(pr_groups_build(&g, &m, &e), NN_OK);
    nn_status s = cfg_prune_targets(&cfg.prune, &m, structured ? &g : NULL, "t.json", &t, &e);
    cr_assert_eq(s, NN_ERR_CONFIG, "status %d: %s", s, e.msg);
    char want[128];
    snprintf(want, sizeof want, "t.json: %s: ", path);
    cr_assert(strncmp(e.msg, want, strlen(want)) == 0, "\"%s\" does not start with \"%s\"", e.msg,
              want);
    cr_assert(strstr(e.msg, also), "\"%s\" lacks \"%s\"", e.msg, also);
    nn_model_free(&m);
}

Test(config_prune, layer_override_errors_name_the_key)
{
    expect_targets_error(WITH_PRUNE("\"sparsity\": 0.5, \"layers\": {\"nope\": 0.5}"), 0,
                         "prune.layers.nope", "no layer is named \"nope\"");
    expect_targets_error(WITH_PRUNE("\"sparsity\": 0.5, \"layers\": {\"4\": 0.5}"), 0,
                         "prune.layers.4", "[-4, 3]");
    expect_targets_error(WITH_PRUNE("\"sparsity\": 0.5, \"layers\": {\"fc\": 0.5, \"3\": 0.2}"), 0,
                         "prune.layers.3", "as prune.layers.fc does");
    expect_targets_error(WITH_PRUNE("\"sparsity\": 0.5, \"layers\": {\"r\": 0.5}"), 0,
                         "prune.layers.r", "layer 1 (relu) has no weights");
    expect_targets_error(WITH_PRUNE("\"sparsity\": 0.5, \"method\": \"structured\", "
                                    "\"layers\": {\"fc\": 0.5}"),
                         1, "prune.layers.fc", "class scores");
    /* "skip" on the class-score layer is harmless and accepted. */
    parse_ok(WITH_PRUNE(
        "\"sparsity\": 0.5, \"method\": \"structured\", \"layers\": {\"fc\": \"skip\"}"));
    nn_model m;
    build(&m);
    pr_groups g;
    pr_targets t;
    nn_error e;
    cr_assert_eq(pr_groups_build(&g, &m, &e), NN_OK);
    cr_assert_eq(cfg_prune_targets(&cfg.prune, &m, &g, "t.json", &t, &e), NN_OK, "%s", e.msg);
    nn_model_free(&m);
}

Test(config_prune, schedule_in_steps)
{
    nn_error e = {{0}};
    pr_schedule s;
    parse_ok(
        WITH_PRUNE("\"sparsity\": 0.9, \"schedule\": {\"type\": \"gradual\", \"begin_epoch\": 0.5,"
                   " \"end_epoch\": 3, \"frequency\": 7, \"initial_sparsity\": 0.2},"
                   " \"finetune\": {\"epochs\": 4}"));
    cr_assert_eq(cfg_prune_schedule(&cfg.prune, 4, 10, "t.json", &s, &e), NN_OK, "%s", e.msg);
    cr_assert_eq(s.begin, 5);
    cr_assert_eq(s.end, 30);
    cr_assert_eq(s.frequency, 7);
    cr_assert_float_eq(s.initial, 0.2, 1e-15);
    /* The default end: 3/4 of the fine-tuning (here 4 epochs of 10). */
    parse_ok(
        WITH_PRUNE("\"sparsity\": 0.9, \"schedule\": \"gradual\", \"finetune\": {\"epochs\": 4}"));
    cr_assert_eq(cfg_prune_schedule(&cfg.prune, 4, 10, "t.json", &s, &e), NN_OK, "%s", e.msg);
    cr_assert_eq(s.begin, 0);
    cr_assert_eq(s.end, 30);
    /* Steps past the fine-tuning's end are refused, naming the key. */
    parse_ok(
        WITH_PRUNE("\"sparsity\": 0.9, \"schedule\": {\"type\": \"gradual\", \"end_step\": 41},"
                   " \"finetune\": {\"epochs\": 4}"));
    cr_assert_eq(cfg_prune_schedule(&cfg.prune, 4, 10, "t.json", &s, &e), NN_ERR_CONFIG);
    cr_assert(strncmp(e.msg, "t.json: prune.schedule.end_step: ", 33) == 0, "%s", e.msg);
    cr_assert_eq(cfg_prune_schedule(&cfg.prune, 5, 10, "t.json", &s, &e), NN_OK, "%s", e.msg);
    cr_assert_eq(s.end, 41);
    /* One-shot: everything at step 0. */
    parse_ok(WITH_PRUNE("\"sparsity\": 0.9"));
    cr_assert_eq(cfg_prune_schedule(&cfg.prune, 0, 10, "t.json", &s, &e), NN_OK);
    cr_assert_eq(s.begin, 0);
    cr_assert_eq(s.end, 0);
}
