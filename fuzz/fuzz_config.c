/* fuzz_config.c - the strict JSON config parser (config/cfg.c, cfg_strict.c,
 * cfg_schedule.c, cfg_prune.c, cfg_quantize.c over cJSON) and what the
 * commands do next with a config that parses:
 *   - every error message starts with the source name (cfg.h's contract);
 *   - the model block is built for the dataset's input shape
 *     (nn_model_build), within a size budget, and initialized;
 *   - the schedule gives a learning rate at a few steps (nn_schedule_lr);
 *   - the augment block transforms a test image (aug_image);
 *   - the quantize block's overrides resolve against the model
 *     (qz_lower, qz_op_bits_fixed);
 *   - the prune block resolves against the model (cfg_prune_targets,
 *     cfg_prune_schedule) and runs once: magnitude pruning in one shot, or
 *     structured pruning down to the smaller model (prune_*.c).
 *
 * Input: the JSON text (any bytes; a NUL ends it early, as it would for
 * the file loader). */
#include <stdlib.h>
#include <string.h>

#include "augment/aug.h"
#include "config/cfg.h"
#include "prune/prune_channels.h"
#include "prune/prune_session.h"
#include "prune/prune_shrink.h"
#include "quantize/quantize.h"
#include "libnn/nn_rng.h"
#include "fz_util.h"

#define SOURCE "fuzz.json"
#define PARAMS_BUDGET 200000 /* floats of a model worth building        */
#define MACS_BUDGET 2000000  /* multiply-adds of one forward pass       */

static void check_error(nn_status st, const nn_error *err, const char *what)
{
    if (st == NN_OK)
        return;
    if (strncmp(err->msg, SOURCE ": ", strlen(SOURCE) + 2) != 0)
        fz_fail("%s: the message does not start with the source name: \"%s\"", what, err->msg);
}

static void run_schedule(const cfg_config *c)
{
    const uint64_t spe = 7;
    const int epochs = c->train.epochs < 1000 ? c->train.epochs : 1000;
    const uint64_t steps[] = {0, 1, spe, spe * (uint64_t)epochs / 2, spe * (uint64_t)epochs};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++)
        (void)nn_schedule_lr(&c->train.schedule, steps[k], spe, epochs);
}

static void run_augment(const cfg_config *c, int ch, int h, int w)
{
    size_t n = (size_t)ch * h * w;
    uint8_t *in = malloc(n), *out = malloc(n);
    if (!in || !out)
        fz_fail("out of memory");
    for (size_t k = 0; k < n; k++)
        in[k] = (uint8_t)(k * 37);
    nn_rng r;
    for (uint64_t img = 0; img < 3; img++) {
        nn_rng_seed(&r, c->train.seed + img);
        aug_image(out, in, ch, h, w, &c->augment, &r, NULL);
    }
    free(in);
    free(out);
}

static void run_quantize_block(const cfg_config *c, const nn_model *m)
{
    qz_net *net = malloc(sizeof *net);
    int *bits = malloc(QM_MAX_OPS * sizeof *bits), *fixed = malloc(QM_MAX_OPS * sizeof *fixed);
    nn_error err;
    if (net && bits && fixed && qz_lower(net, m, &err) == NN_OK) {
        (void)qz_op_bits_fixed(bits, fixed, net, m, &c->quantize.qz, &err);
        qz_net_free(net);
    }
    free(net), free(bits), free(fixed);
}

static void run_prune_block(const cfg_config *c, nn_model *m)
{
    const cfg_prune *p = &c->prune;
    nn_error err;
    pr_schedule sched;
    nn_status st = cfg_prune_schedule(p, p->finetune_epochs, 7, SOURCE, &sched, &err);
    check_error(st, &err, "cfg_prune_schedule");
    if (p->method == CFG_PRUNE_MAGNITUDE) {
        pr_magnitude_config final = {p->scope, p->norm, {0, {0}}};
        st = cfg_prune_targets(p, m, NULL, SOURCE, &final.targets, &err);
        check_error(st, &err, "cfg_prune_targets");
        if (st != NN_OK)
            return;
        pr_schedule once;
        pr_schedule_oneshot(&once);
        pr_session session;
        if (pr_session_init(&session, m, &final, &once, &err) == NN_OK) {
            pr_session_step(&session, m, NULL, 0);
            pr_session_free(&session);
        }
        return;
    }
    pr_channel_plan *plan = malloc(sizeof *plan);
    pr_targets *t = malloc(sizeof *t);
    if (plan && t && pr_plan_init(plan, m, &err) == NN_OK) {
        st = cfg_prune_targets(p, m, &plan->groups, SOURCE, t, &err);
        check_error(st, &err, "cfg_prune_targets");
        if (st == NN_OK)
            st = pr_channel_select(plan, m, t, p->criterion, &err);
        nn_model small;
        if (st == NN_OK && pr_channels_shrink(&small, m, plan, &err) == NN_OK)
            nn_model_free(&small);
        pr_plan_free(plan);
    }
    free(plan);
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    cfg_config *c = malloc(sizeof *c);
    if (!text || !c)
        fz_fail("out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    nn_error err;
    memset(&err, 0, sizeof err);
    nn_status st = cfg_parse(c, text, SOURCE, &err);
    check_error(st, &err, "cfg_parse");
    if (st == NN_OK) {
        /* the shapes `train` would get from the dataset */
        int ch = 1, h = 28, w = 28, classes = 10;
        if (!strcmp(c->data.dataset, "cifar10"))
            ch = 3, h = 32, w = 32;
        else if (!strcmp(c->data.dataset, "png"))
            ch = 3, h = 12, w = 12, classes = 5;
        cfg_set_input(c, ch, h, w, classes);
        run_schedule(c);
        run_augment(c, ch, h, w);
        size_t n_params, n_state;
        nn_model m;
        if (nn_model_count(&c->model, &n_params, &n_state, &err) == NN_OK &&
            n_params <= PARAMS_BUDGET && nn_model_build(&m, &c->model, &err) == NN_OK) {
            if (nn_model_macs(&m) <= MACS_BUDGET) {
                nn_model_init_params(&m, c->init, c->train.seed);
                run_quantize_block(c, &m);
                if (c->prune.present)
                    run_prune_block(c, &m);
            }
            nn_model_free(&m);
        }
    }
    free(c);
    free(text);
    return 0;
}
