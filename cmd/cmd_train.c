/* iotcnn train: config -> trained float checkpoint (+ per-epoch metrics). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "augment/aug.h"
#include "format/ckpt.h"
#include "libnn/nn_train.h"
#include "cli.h"
#include "commands.h"
#include "data.h"
#include "metrics_log.h"
#include "progress.h"

static const char usage[] =
    "Usage: iotcnn train -c CONFIG [-o MODEL] [--epochs N] [--limit N] [--seed S]\n"
    "                    [--threads T] [--resume MODEL] [--stop-after N] [--json]\n"
    "\n"
    "Trains the network of CONFIG on its dataset and writes a float checkpoint\n"
    "after every epoch (atomically), plus per-epoch metrics as JSON lines in\n"
    "MODEL's name with .metrics.jsonl. Then reports the test accuracy.\n"
    "\n"
    "  -c, --config CONFIG  JSON run configuration (see docs/config.md)\n"
    "  -o, --output MODEL   checkpoint to write (default runs/CONFIGNAME.ckpt,\n"
    "                       or the --resume checkpoint)\n"
    "      --epochs N       total epochs (overrides train.epochs)\n"
    "      --limit N        use only the first N training images\n"
    "      --seed S         overrides train.seed\n"
    "      --threads T      worker threads (default: all CPUs); the same config,\n"
    "                       seed and thread count give a bitwise-identical model\n"
    "      --resume MODEL   continue a checkpoint's run where it stopped; its\n"
    "                       stored config is used unless -c is given\n"
    "      --stop-after N   stop after epoch N, keeping its checkpoint, as if\n"
    "                       interrupted (to train in time-boxed pieces)\n"
    "      --json           print one JSON summary as the last stdout line\n"
    "\n"
    "Training that diverges (a non-finite or exploding loss, a non-finite\n"
    "parameter; see train.divergence_factor in docs/config.md) stops with exit\n"
    "status 1 and keeps the checkpoint of the last good epoch.\n"
    CLI_EXIT_HELP;

typedef struct {
    const char *config_path, *output, *resume;
    int epochs, limit, threads, json, stop_after;
    long long seed; /* -1: from the config */
} train_opts;

typedef struct {
    const char *ckpt_path;
    char metrics_path[CFG_PATH_MAX + 32];
    metrics_log metrics;
    const nn_model *model;
    const nn_optim *optim;
    const char *config_text;
    progress prog;
    int epochs_run, stop_after;
    double train_seconds;
    double images;
} train_ctx;

static void parse_opts(train_opts *o, int argc, char **argv)
{
    *o = (train_opts){NULL, NULL, NULL, 0, 0, cli_default_threads(), 0, 0, -1};
    cli_args a;
    cli_args_init(&a, "train", argc, argv);
    const char *arg;
    while ((arg = cli_next(&a))) {
        if (cli_flag(arg, "-h", "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (cli_opt(&a, arg, "-c", "--config")) {
            o->config_path = a.value;
        } else if (cli_opt(&a, arg, "-o", "--output")) {
            o->output = a.value;
        } else if (cli_opt(&a, arg, NULL, "--epochs")) {
            o->epochs = (int)cli_int(&a, "--epochs", 1, 100000);
        } else if (cli_opt(&a, arg, NULL, "--limit")) {
            o->limit = (int)cli_int(&a, "--limit", 1, 1000000000);
        } else if (cli_opt(&a, arg, NULL, "--seed")) {
            o->seed = cli_int(&a, "--seed", 0, (long long)1 << 62);
        } else if (cli_opt(&a, arg, NULL, "--threads")) {
            o->threads = (int)cli_int(&a, "--threads", 1, 256);
        } else if (cli_opt(&a, arg, NULL, "--resume")) {
            o->resume = a.value;
        } else if (cli_opt(&a, arg, NULL, "--stop-after")) {
            o->stop_after = (int)cli_int(&a, "--stop-after", 1, 100000);
        } else if (cli_flag(arg, NULL, "--json")) {
            o->json = 1;
        } else {
            cli_usage_error("train", "unknown argument '%s'", arg);
        }
    }
    if (!o->config_path && !o->resume)
        cli_usage_error("train", "a config is required (-c CONFIG), or --resume MODEL");
}

/* runs/NAME.ckpt for configs/NAME.json; the directory is created. */
static void default_output(char *out, size_t size, const char *config_path)
{
    const char *base = strrchr(config_path, '/');
    base = base ? base + 1 : config_path;
    size_t len = strcspn(base, ".");
    mkdir("runs", 0777);
    snprintf(out, size, "runs/%.*s.ckpt", (int)len, base);
}

static void metrics_path_for(char *out, size_t size, const char *model_path)
{
    size_t len = strlen(model_path);
    if (len > 5 && strcmp(model_path + len - 5, ".ckpt") == 0)
        len -= 5;
    snprintf(out, size, "%.*s.metrics.jsonl", (int)len, model_path);
}

/* The config as it ran: the file's text with the command-line overrides
 * written into it, so that --resume alone reproduces the run. */
static char *effective_config(const char *text, const cfg_config *c, nn_error *err)
{
    cJSON *root = cJSON_Parse(text);
    if (!root) {
        nn_errorf(err, NN_ERR_CONFIG, "cannot re-read the config text");
        return NULL;
    }
    cJSON *train = cJSON_GetObjectItemCaseSensitive(root, "train");
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (train) {
        cJSON_DeleteItemFromObjectCaseSensitive(train, "epochs");
        cJSON_AddNumberToObject(train, "epochs", c->train.epochs);
        cJSON_DeleteItemFromObjectCaseSensitive(train, "seed");
        cJSON_AddNumberToObject(train, "seed", (double)c->train.seed);
    }
    if (data) {
        cJSON_DeleteItemFromObjectCaseSensitive(data, "limit");
        if (c->data.limit > 0)
            cJSON_AddNumberToObject(data, "limit", c->data.limit);
    }
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!out)
        nn_errorf(err, NN_ERR_NOMEM, "out of memory printing the config");
    return out;
}

static void on_batch(void *user, const nn_progress *p)
{
    progress_batch(&((train_ctx *)user)->prog, p);
}

static nn_status on_epoch(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                          nn_error *err)
{
    train_ctx *ctx = user;
    progress_epoch(&ctx->prog, r);
    ctx->epochs_run++;
    ctx->train_seconds += r->seconds;
    ctx->images += r->images_per_second * r->seconds;
    nn_status st = ckpt_save(ctx->ckpt_path, ctx->model, ctx->optim, ts, ctx->config_text, err);
    if (st == NN_OK)
        st = metrics_log_append(&ctx->metrics, r, err);
    if (st == NN_OK && r->epoch == ctx->stop_after && r->epoch < r->epochs)
        return NN_STOP; /* --stop-after */
    return st;
}

/* The same architecture? (A config given with --resume must not change it.) */
static int same_architecture(const nn_model *a, const nn_model *b)
{
    if (a->n_nodes != b->n_nodes || a->n_params != b->n_params || a->n_state != b->n_state)
        return 0;
    for (int i = 0; i < a->n_nodes; i++) {
        const nn_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (x->spec.type != y->spec.type || x->out_size != y->out_size ||
            x->spec.input != y->spec.input || x->w.n != y->w.n || x->b.n != y->b.n)
            return 0;
    }
    return 1;
}

int cmd_train(int argc, char **argv)
{
    train_opts o;
    parse_opts(&o, argc, argv);
    double t_start = cli_now();
    nn_error err = {{0}};
    nn_status st;

    /* 1. Config: the file, or the one stored in the resumed checkpoint. */
    ckpt_file ck;
    memset(&ck, 0, sizeof ck);
    if (o.resume) {
        st = ckpt_load(&ck, o.resume, &err);
        if (st != NN_OK)
            cli_fail("train", st, &err);
        if (!ck.has_optim || !ck.has_train || !ck.config_json) {
            nn_errorf(&err, NN_ERR_FORMAT,
                      "%s: not a training checkpoint (no optimizer state, counters or config); "
                      "it cannot be resumed",
                      o.resume);
            cli_fail("train", NN_ERR_FORMAT, &err);
        }
    }
    cfg_config cfg;
    char *text = NULL;
    if (o.config_path) {
        st = cfg_load(&cfg, &text, o.config_path, &err);
    } else {
        char source[CFG_PATH_MAX + 32];
        snprintf(source, sizeof source, "%s (stored config)", o.resume);
        st = cfg_parse(&cfg, ck.config_json, source, &err);
        text = strdup(ck.config_json);
    }
    if (st != NN_OK)
        cli_fail("train", st, &err);
    if (o.epochs)
        cfg.train.epochs = o.epochs;
    if (o.seed >= 0)
        cfg.train.seed = (uint64_t)o.seed;
    if (o.limit)
        cfg.data.limit = o.limit;

    /* 2. Data. */
    ds_dataset train = {0}, val = {0}, test = {0};
    st = data_load_split(&train, &cfg.data, 1, &err);
    if (st == NN_OK)
        st = data_load_split(&test, &cfg.data, 0, &err);
    if (st != NN_OK)
        cli_fail("train", st, &err);
    ds_limit(&train, cfg.data.limit);
    if (cfg.data.validation >= train.n) {
        nn_errorf(&err, NN_ERR_CONFIG, "data.validation (%d) must be smaller than the %d training images",
                  cfg.data.validation, train.n);
        cli_fail("train", NN_ERR_CONFIG, &err);
    }
    if (cfg.data.validation > 0 && (st = ds_split_tail(&train, &val, cfg.data.validation, &err)))
        cli_fail("train", st, &err);

    /* 3. Model: fresh from the config, or the checkpoint's. */
    cfg_set_input(&cfg, train.c, train.h, train.w, train.num_classes);
    nn_model fresh;
    if ((st = nn_model_build(&fresh, &cfg.model, &err)) != NN_OK) {
        nn_error_prefix(&err, "%s: model", o.config_path ? o.config_path : o.resume);
        cli_fail("train", NN_ERR_CONFIG, &err);
    }
    nn_model *model = &fresh;
    nn_optim optim;
    nn_train_state ts = {cfg.train.seed, 0, cfg.train.epochs, 0};
    if (o.resume) {
        if (!same_architecture(&fresh, &ck.model)) {
            nn_errorf(&err, NN_ERR_CONFIG, "%s: the model differs from the one in %s", o.config_path,
                      o.resume);
            cli_fail("train", NN_ERR_CONFIG, &err);
        }
        nn_model_free(&fresh);
        model = &ck.model;
        optim = ck.optim;
        ts = ck.train;
        if (ts.seed != cfg.train.seed)
            fprintf(stderr, "iotcnn train: warning: seed %llu differs from the run's %llu\n",
                    (unsigned long long)cfg.train.seed, (unsigned long long)ts.seed);
    } else {
        nn_model_init_params(model, cfg.init, cfg.train.seed);
        if (cfg.data.have_norm) {
            if (cfg.data.norm_channels != train.c) {
                nn_errorf(&err, NN_ERR_CONFIG, "%s: data.mean/std have %d values, the images %d channels",
                          o.config_path, cfg.data.norm_channels, train.c);
                cli_fail("train", NN_ERR_CONFIG, &err);
            }
            for (int c = 0; c < train.c; c++)
                model->mean[c] = cfg.data.mean[c], model->std[c] = cfg.data.std[c];
        } else {
            ds_channel_stats(&train, model->mean, model->std);
        }
        if ((st = nn_optim_init(&optim, &cfg.train.optim, model->n_params, &err)) != NN_OK)
            cli_fail("train", st, &err);
    }
    if ((st = data_check_fits(&test, model, "the test set", &err)) != NN_OK)
        cli_fail("train", st, &err);

    /* 4. Train, saving a checkpoint after every epoch. */
    char out_default[CFG_PATH_MAX + 16];
    const char *out = o.output ? o.output : o.resume;
    if (!out) {
        default_output(out_default, sizeof out_default, o.config_path);
        out = out_default;
    }
    train_ctx ctx = {.ckpt_path = out, .model = model, .optim = &optim, .stop_after = o.stop_after};
    metrics_path_for(ctx.metrics_path, sizeof ctx.metrics_path, out);
    char resumed_metrics[CFG_PATH_MAX + 32];
    if (o.resume)
        metrics_path_for(resumed_metrics, sizeof resumed_metrics, o.resume);
    if ((st = metrics_log_open(&ctx.metrics, ctx.metrics_path, o.resume ? resumed_metrics : NULL,
                               ts.epochs_done, &err)) != NN_OK)
        cli_fail("train", st, &err);
    ctx.config_text = effective_config(text, &cfg, &err);
    if (!ctx.config_text)
        cli_fail("train", NN_ERR_CONFIG, &err);
    progress_init(&ctx.prog);
    nn_train_config tc = {.epochs = cfg.train.epochs,
                          .batch_size = cfg.train.batch_size,
                          .eval_batch = cfg.train.eval_batch,
                          .threads = o.threads,
                          .seed = cfg.train.seed,
                          .schedule = cfg.train.schedule,
                          .label_smoothing = cfg.train.label_smoothing,
                          .test_flip = cfg.test_flip,
                          .divergence_factor = cfg.train.divergence_factor,
                          .lr_name = "train.lr"};
    data_augment aug = {cfg.augment, cfg.train.seed, train.c, train.h, train.w};
    if (aug_enabled(&cfg.augment)) {
        tc.augment = data_augment_image;
        tc.augment_user = &aug;
    }
    nn_images train_img = data_images(&train), val_img = data_images(&val);
    nn_train_hooks hooks = {on_batch, on_epoch, &ctx, NULL};
    fprintf(stderr, "iotcnn train: %s, %d training images%s%s, %zu parameters, %d threads -> %s\n",
            cfg.data.dataset, train.n, val.n ? ", validation " : "", val.n ? "held out" : "",
            model->n_params, o.threads, out);
    st = nn_train(model, &optim, &ts, &tc, &train_img, val.n ? &val_img : NULL, &hooks, &err);
    progress_clear(&ctx.prog);
    if (st == NN_OK && ts.epochs_done < tc.epochs)
        fprintf(stderr, "iotcnn train: stopped after epoch %d as asked; continue with --resume %s\n",
                ts.epochs_done, out);
    if (st != NN_OK) {
        if (st == NN_ERR_NUMERIC)
            nn_error_prefix(&err, "%s", ts.epochs_done ? "stopped; the checkpoint of the last "
                                                         "good epoch is kept"
                                                       : "stopped; no checkpoint was written");
        cli_fail("train", st, &err);
    }

    /* 5. Test accuracy of the final model. */
    nn_images test_img = data_images(&test);
    nn_eval_result res;
    nn_eval_config ec = {cfg.train.eval_batch, o.threads, cfg.test_flip};
    st = nn_evaluate(model, &test_img, &ec, &res, &err);
    if (st != NN_OK) {
        nn_error_prefix(&err, "%s", out); /* the model is saved: name it */
        cli_fail("train", st, &err);
    }
    double acc = res.n ? (double)res.correct / res.n : 0.0;
    double seconds = cli_now() - t_start;
    double ips = ctx.train_seconds > 0 ? ctx.images / ctx.train_seconds : 0.0;
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", out);
        cJSON_AddNumberToObject(j, "test_accuracy", acc);
        cJSON_AddNumberToObject(j, "test_loss", res.loss);
        cJSON_AddNumberToObject(j, "test_images", res.n);
        cJSON_AddBoolToObject(j, "test_flip", cfg.test_flip);
        cJSON_AddNumberToObject(j, "epochs", ts.epochs_done);
        cJSON_AddNumberToObject(j, "epochs_run", ctx.epochs_run);
        cJSON_AddNumberToObject(j, "train_images", train.n);
        cJSON_AddNumberToObject(j, "seconds", seconds);
        cJSON_AddNumberToObject(j, "train_seconds", ctx.train_seconds);
        cJSON_AddNumberToObject(j, "images_per_second", ips);
        cJSON_AddNumberToObject(j, "parameters", (double)model->n_params);
        cJSON_AddNumberToObject(j, "threads", o.threads);
        cJSON_AddNumberToObject(j, "seed", (double)cfg.train.seed);
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)cli_peak_rss_bytes());
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("model %s  test accuracy %.2f%% (%d/%d)  %d epochs  %.1f s  %.0f img/s\n", out,
               100.0 * acc, res.correct, res.n, ts.epochs_done, seconds, ips);
    }
    nn_eval_result_free(&res);
    free(text);
    free((char *)ctx.config_text);
    metrics_log_free(&ctx.metrics);
    nn_optim_free(&optim);
    if (o.resume) {
        ck.optim = (nn_optim){0};
        ckpt_free(&ck);
    } else {
        nn_model_free(model);
    }
    ds_free(&train), ds_free(&val), ds_free(&test);
    return 0;
}
