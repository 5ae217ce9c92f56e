/* iotcnn prune: a trained checkpoint -> a pruned (and fine-tuned) one.
 *
 * magnitude:  unstructured masks, one-shot or gradual; fine-tuning (if
 *             configured) runs nn_train with a hook that keeps pruned
 *             weights and their optimizer state at zero.
 * structured: whole channels removed, giving a smaller dense model;
 *             fine-tuning then only keeps the zeros the model already had.
 * Test accuracy before and after, a per-layer report, and the checkpoint
 * written atomically, with the config it ran with (widths updated). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/ckpt.h"
#include "libnn/nn_train.h"
#include "prune/prune_channels.h"
#include "prune/prune_report.h"
#include "prune/prune_session.h"
#include "prune/prune_shrink.h"
#include "cli.h"
#include "commands.h"
#include "data.h"
#include "progress.h"
#include "prune_out.h"

static const char usage[] =
    "Usage: iotcnn prune -c CONFIG -m MODEL -o OUTPUT [--epochs N] [--limit N]\n"
    "                    [--threads T] [--json]\n"
    "\n"
    "Prunes MODEL as the prune block of CONFIG says (see docs/config.md):\n"
    "unstructured magnitude pruning (per layer or global, one-shot or gradual)\n"
    "or structured pruning (whole channels removed: a smaller, faster model),\n"
    "then fine-tunes with the config's data, augment and train blocks when\n"
    "prune.finetune is given. Reports test accuracy before and after and, per\n"
    "layer, parameters, sparsity and MACs before and after. OUTPUT is an\n"
    "ordinary checkpoint (written atomically) that eval reads as it is.\n"
    "\n"
    "  -c, --config CONFIG  the config the model was trained with, plus a\n"
    "                       prune block\n"
    "  -m, --model MODEL    checkpoint to prune\n"
    "  -o, --output OUTPUT  pruned checkpoint to write\n"
    "      --epochs N       fine-tuning epochs (overrides prune.finetune.epochs;\n"
    "                       0: none)\n"
    "      --limit N        fine-tune on the first N training images only\n"
    "      --threads T      worker threads (default: all CPUs)\n"
    "      --json           print one JSON summary as the last stdout line\n" CLI_EXIT_HELP;

typedef struct {
    const char *config, *model, *output;
    int epochs, limit, threads, json; /* epochs -1: from the config */
} prune_opts;

static void parse_opts(prune_opts *o, int argc, char **argv)
{
    *o = (prune_opts){NULL, NULL, NULL, -1, 0, cli_default_threads(), 0};
    cli_args a;
    cli_args_init(&a, "prune", argc, argv);
    const char *arg;
    while ((arg = cli_next(&a))) {
        if (cli_flag(arg, "-h", "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (cli_opt(&a, arg, "-c", "--config")) {
            o->config = a.value;
        } else if (cli_opt(&a, arg, "-m", "--model")) {
            o->model = a.value;
        } else if (cli_opt(&a, arg, "-o", "--output")) {
            o->output = a.value;
        } else if (cli_opt(&a, arg, NULL, "--epochs")) {
            o->epochs = (int)cli_int(&a, "--epochs", 0, 100000);
        } else if (cli_opt(&a, arg, NULL, "--limit")) {
            o->limit = (int)cli_int(&a, "--limit", 1, 1000000000);
        } else if (cli_opt(&a, arg, NULL, "--threads")) {
            o->threads = (int)cli_int(&a, "--threads", 1, 256);
        } else if (cli_flag(arg, NULL, "--json")) {
            o->json = 1;
        } else {
            cli_usage_error("prune", "unknown argument '%s'", arg);
        }
    }
    if (!o->config || !o->model || !o->output)
        cli_usage_error("prune", "-c CONFIG, -m MODEL and -o OUTPUT are required");
}

/* The config must describe the checkpoint's layers (widths may differ: a
 * pruned model can be pruned again with its original config). */
static nn_status check_same_layers(const cfg_config *c, const nn_model *m, const prune_opts *o,
                                   nn_error *err)
{
    if (c->model.n_layers != m->n_nodes)
        return nn_errorf(err, NN_ERR_CONFIG,
                         "%s: model.layers: has %d layers but %s has %d; give the config the "
                         "model was trained with",
                         o->config, c->model.n_layers, o->model, m->n_nodes);
    for (int i = 0; i < m->n_nodes; i++)
        if (c->model.layers[i].type != m->nodes[i].spec.type ||
            c->model.layers[i].input != m->nodes[i].spec.input ||
            (m->nodes[i].spec.type == NN_LAYER_ADD &&
             c->model.layers[i].input2 != m->nodes[i].spec.input2))
            return nn_errorf(err, NN_ERR_CONFIG,
                             "%s: model.layers[%d]: is %s reading layer %d, but in %s it is %s "
                             "reading layer %d; give the config the model was trained with",
                             o->config, i, nn_layer_type_name(c->model.layers[i].type),
                             c->model.layers[i].input, o->model,
                             nn_layer_type_name(m->nodes[i].spec.type), m->nodes[i].spec.input);
    return NN_OK;
}

/* A copy of m with the same spec, parameters, state and normalization. */
static nn_status model_copy(nn_model *dst, const nn_model *m, nn_error *err)
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

/* The config as it ran, to store in the output: the file's text with the
 * new layer widths, the fine-tuning epochs and --limit written into it. */
static char *effective_config(const char *text, const nn_model *m, int epochs, int limit,
                              nn_error *err)
{
    cJSON *root = cJSON_Parse(text);
    cJSON *layers =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "layers");
    cJSON *prune = cJSON_GetObjectItemCaseSensitive(root, "prune");
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!root || cJSON_GetArraySize(layers) != m->n_nodes || !prune || !data) {
        cJSON_Delete(root);
        nn_errorf(err, NN_ERR_CONFIG, "cannot re-read the config text");
        return NULL;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        cJSON *layer = cJSON_GetArrayItem(layers, i);
        const char *key = l->type == NN_LAYER_CONV2D  ? "filters"
                          : l->type == NN_LAYER_DENSE ? "units"
                                                      : NULL;
        if (!key)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(layer, key);
        cJSON_AddNumberToObject(layer, key,
                                l->type == NN_LAYER_CONV2D ? l->out_channels : l->units);
    }
    cJSON *ft = cJSON_GetObjectItemCaseSensitive(prune, "finetune");
    if (epochs == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(prune, "finetune");
    } else {
        if (!ft)
            ft = cJSON_AddObjectToObject(prune, "finetune");
        cJSON_DeleteItemFromObjectCaseSensitive(ft, "epochs");
        cJSON_AddNumberToObject(ft, "epochs", epochs);
    }
    if (limit > 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(data, "limit");
        cJSON_AddNumberToObject(data, "limit", limit);
    }
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!out)
        nn_errorf(err, NN_ERR_NOMEM, "out of memory printing the config");
    return out;
}

/* ---- fine-tuning --------------------------------------------------------- */

typedef struct {
    progress prog;
    pr_session *session;
} tune_ctx;

static void on_batch(void *user, const nn_progress *p)
{
    progress_batch(&((tune_ctx *)user)->prog, p);
}

static nn_status on_epoch(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                          nn_error *err)
{
    (void)ts, (void)err;
    progress_epoch(&((tune_ctx *)user)->prog, r);
    return NN_OK;
}

static void after_step(void *user, nn_model *m, nn_optim *opt, uint64_t step)
{
    pr_session_step(((tune_ctx *)user)->session, m, opt, step);
}

/* Fine-tunes m for `epochs` epochs on the config's training data; final
 * (NULL: hold m's zeros only) and the prune schedule drive the session. */
static nn_status finetune(nn_model *m, const cfg_config *cfg, const pr_magnitude_config *final,
                          int epochs, const prune_opts *o, pr_session *session, nn_error *err)
{
    memset(session, 0, sizeof *session);
    ds_dataset train = {0}, val = {0};
    nn_status st = data_load_split(&train, &cfg->data, 1, err);
    if (st != NN_OK)
        return st;
    ds_limit(&train, cfg->data.limit);
    if (cfg->data.validation >= train.n)
        st = nn_errorf(err, NN_ERR_CONFIG,
                       "%s: data.validation (%d) must be smaller than the %d "
                       "training images",
                       o->config, cfg->data.validation, train.n);
    if (st == NN_OK && cfg->data.validation > 0)
        st = ds_split_tail(&train, &val, cfg->data.validation, err);
    if (st == NN_OK)
        st = data_check_fits(&train, m, "the training set", err);
    uint64_t spe = (uint64_t)(train.n / cfg->train.batch_size);
    pr_schedule sched;
    if (st == NN_OK)
        st = cfg_prune_schedule(&cfg->prune, epochs, spe, o->config, &sched, err);
    if (st == NN_OK)
        st = pr_session_init(session, m, final, &sched, err);
    nn_optim opt = {0};
    if (st == NN_OK)
        st = nn_optim_init(&opt, &cfg->train.optim, m->n_params, err);
    if (st == NN_OK) {
        nn_train_config tc = {.epochs = epochs,
                              .batch_size = cfg->train.batch_size,
                              .eval_batch = cfg->train.eval_batch,
                              .threads = o->threads,
                              .seed = cfg->train.seed,
                              .schedule = cfg->prune.finetune_schedule,
                              .label_smoothing = cfg->train.label_smoothing,
                              .test_flip = cfg->test_flip,
                              .divergence_factor = cfg->train.divergence_factor,
                              .lr_name = "prune.finetune.lr"};
        data_augment aug = {cfg->augment, cfg->train.seed, train.c, train.h, train.w};
        if (aug_enabled(&cfg->augment)) {
            tc.augment = data_augment_image;
            tc.augment_user = &aug;
        }
        tune_ctx ctx = {.session = session};
        progress_init(&ctx.prog);
        nn_train_hooks hooks = {on_batch, on_epoch, &ctx, after_step};
        nn_train_state ts = {cfg->train.seed, 0, epochs, 0};
        nn_images ti = data_images(&train), vi = data_images(&val);
        fprintf(stderr, "iotcnn prune: fine-tuning %d epoch%s on %d images (%llu steps each)\n",
                epochs, epochs == 1 ? "" : "s", train.n, (unsigned long long)spe);
        pr_session_step(session, m, &opt, 0); /* pruning at step 0, before training */
        st = nn_train(m, &opt, &ts, &tc, &ti, val.n ? &vi : NULL, &hooks, err);
        progress_clear(&ctx.prog);
    }
    nn_optim_free(&opt);
    ds_free(&train), ds_free(&val);
    return st;
}

/* ---- the command --------------------------------------------------------- */

/* Prunes `work` (a copy of the loaded model) by magnitude. */
static nn_status prune_magnitude(nn_model *work, const cfg_config *cfg, int epochs,
                                 const prune_opts *o, int *updates, nn_error *err)
{
    pr_magnitude_config final = {cfg->prune.scope, cfg->prune.norm, {0, {0}}};
    nn_status st = cfg_prune_targets(&cfg->prune, work, NULL, o->config, &final.targets, err);
    if (st != NN_OK)
        return st;
    pr_session session;
    if (epochs > 0) {
        st = finetune(work, cfg, &final, epochs, o, &session, err);
    } else {
        pr_schedule once;
        pr_schedule_oneshot(&once);
        st = pr_session_init(&session, work, &final, &once, err);
        if (st == NN_OK)
            pr_session_step(&session, work, NULL, 0);
    }
    *updates = session.updates;
    pr_session_free(&session);
    return st;
}

/* Structured pruning: out = the smaller model, fine-tuned if asked. */
static nn_status prune_structured(nn_model *out, const nn_model *m, const cfg_config *cfg,
                                  int epochs, const prune_opts *o, nn_error *err)
{
    pr_channel_plan plan;
    pr_targets t;
    nn_status st = pr_plan_init(&plan, m, err);
    if (st == NN_OK)
        st = cfg_prune_targets(&cfg->prune, m, &plan.groups, o->config, &t, err);
    if (st == NN_OK)
        st = pr_channel_select(&plan, m, &t, cfg->prune.criterion, err);
    if (st == NN_OK)
        st = pr_channels_shrink(out, m, &plan, err);
    pr_plan_free(&plan);
    if (st != NN_OK || epochs == 0)
        return st;
    pr_session session;
    st = finetune(out, cfg, NULL, epochs, o, &session, err);
    pr_session_free(&session);
    if (st != NN_OK)
        nn_model_free(out);
    return st;
}

int cmd_prune(int argc, char **argv)
{
    prune_opts o;
    parse_opts(&o, argc, argv);
    double t0 = cli_now();
    nn_error err = {{0}};
    ckpt_file ck;
    nn_status st = ckpt_load(&ck, o.model, &err);
    if (st != NN_OK)
        cli_fail("prune", st, &err);
    cfg_config cfg;
    char *text = NULL;
    if ((st = cfg_load(&cfg, &text, o.config, &err)) != NN_OK)
        cli_fail("prune", st, &err);
    if (!cfg.prune.present) {
        nn_errorf(&err, NN_ERR_CONFIG,
                  "%s: prune: missing (the prune command needs a prune block; "
                  "see docs/config.md)",
                  o.config);
        cli_fail("prune", NN_ERR_CONFIG, &err);
    }
    if ((st = check_same_layers(&cfg, &ck.model, &o, &err)) != NN_OK)
        cli_fail("prune", st, &err);
    int epochs = o.epochs >= 0 ? o.epochs : cfg.prune.finetune_epochs;
    if (cfg.prune.gradual && epochs == 0)
        cli_usage_error("prune", "--epochs 0: gradual pruning prunes while fine-tuning and needs "
                                 "at least one epoch");
    if (o.limit)
        cfg.data.limit = o.limit;

    ds_dataset test = {0};
    if ((st = data_load_split(&test, &cfg.data, 0, &err)) != NN_OK ||
        (st = data_check_fits(&test, &ck.model, "the test set", &err)) != NN_OK)
        cli_fail("prune", st, &err);
    nn_images ti = data_images(&test);
    nn_eval_config ec = {cfg.train.eval_batch, o.threads, cfg.test_flip};
    nn_eval_result before, after;
    if ((st = nn_evaluate(&ck.model, &ti, &ec, &before, &err))) {
        nn_error_prefix(&err, "%s", o.model);
        cli_fail("prune", st, &err);
    }
    fprintf(stderr, "iotcnn prune: %s: %zu parameters, test accuracy %.2f%%; %s pruning to %g\n",
            o.model, ck.model.n_params, 100.0 * before.correct / (before.n ? before.n : 1),
            cfg.prune.method == CFG_PRUNE_STRUCTURED ? "structured" : "magnitude",
            cfg.prune.sparsity);

    nn_model work;
    int updates = 0;
    if (cfg.prune.method == CFG_PRUNE_STRUCTURED) {
        st = prune_structured(&work, &ck.model, &cfg, epochs, &o, &err);
    } else {
        st = model_copy(&work, &ck.model, &err);
        if (st == NN_OK && (st = prune_magnitude(&work, &cfg, epochs, &o, &updates, &err)))
            nn_model_free(&work);
    }
    if (st == NN_ERR_NUMERIC)
        nn_error_prefix(&err, "fine-tuning stopped; %s was not written", o.output);
    if (st != NN_OK)
        cli_fail("prune", st, &err);
    if ((st = nn_evaluate(&work, &ti, &ec, &after, &err))) {
        nn_error_prefix(&err, "%s pruned", o.model);
        cli_fail("prune", st, &err);
    }

    pr_report *report = malloc(sizeof *report);
    if (!report)
        cli_fail("prune", NN_ERR_NOMEM, &err);
    char *stored = effective_config(text, &work, epochs, o.limit, &err);
    if (!stored || (st = pr_report_build(report, &ck.model, &work, &err)) ||
        (st = ckpt_save(o.output, &work, NULL, NULL, stored, &err)))
        cli_fail("prune", stored ? st : NN_ERR_CONFIG, &err);
    struct stat sb;
    prune_summary sum = {o.model,
                         o.output,
                         &cfg.prune,
                         epochs,
                         o.threads,
                         updates,
                         &before,
                         &after,
                         report,
                         cli_now() - t0,
                         stat(o.output, &sb) == 0 ? (uint64_t)sb.st_size : 0};
    if (o.json)
        prune_print_json(&sum);
    else
        prune_print_table(&sum);

    free(stored);
    free(report);
    free(text);
    nn_eval_result_free(&before);
    nn_eval_result_free(&after);
    nn_model_free(&work);
    ckpt_free(&ck);
    ds_free(&test);
    return 0;
}
