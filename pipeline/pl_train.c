/* pl_train.c - config -> trained float checkpoint (pl_train.h). */
#include "pl_train.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/ckpt.h"
#include "libnn/nn_io.h"
#include "libnn/nn_isa.h"
#include "pl_data.h"
#include "pl_fit.h"
#include "pl_metrics_log.h"

/* Everything one run holds; job_free releases whatever was set up. */
typedef struct {
    ckpt_file ck;       /* the resumed checkpoint (zero otherwise)    */
    cfg_config cfg;
    char *text;             /* the config file's (or stored) text         */
    char *config_text;      /* the effective config, stored in the output */
    ds_dataset train, val, test;
    cls_names classes;      /* the training set's, stored in the output   */
    nn_model fresh;         /* built from the config                      */
    int have_fresh, have_optim;
    nn_model *model;        /* &fresh or &ck.model                        */
    nn_optim optim;
    nn_train_state ts;
    pl_metrics_log metrics;
    const pl_progress *progress;
    int stop_after;
    pl_dist *dist;          /* NULL: this process alone                   */
    unsigned long long fail_step; /* pl_train_opts.fail_step                */
    int writer;             /* writes the checkpoints and the log: process 0 */
    nn_exec_group group;    /* with dist: this process's workers          */
    int sharded;            /* train, val and test stay in their files: each
                               process reads its slices' images only      */
    ds_shard train_files, test_files;
    pl_fetch_src f_train, f_val, f_test;
} train_job;

/* The executor group of the job's processes, NULL for one process alone. */
static const nn_exec_group *job_group(const train_job *j)
{
    return j->dist ? &j->group : NULL;
}

void pl_metrics_path(char *out, size_t size, const char *model_path)
{
    size_t len = strlen(model_path);
    if (len > 5 && strcmp(model_path + len - 5, ".ckpt") == 0)
        len -= 5;
    snprintf(out, size, "%.*s.metrics.jsonl", (int)len, model_path);
}

void pl_best_path(char *out, size_t size, const char *model_path)
{
    size_t len = strlen(model_path);
    if (len > 5 && strcmp(model_path + len - 5, ".ckpt") == 0)
        len -= 5;
    snprintf(out, size, "%.*s.best.ckpt", (int)len, model_path);
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
        pl_data_store_dir(data, &c->data);
    }
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!out)
        nn_errorf(err, NN_ERR_NOMEM, "out of memory printing the config");
    return out;
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

/* 1. The config: the file, or the one stored in the resumed checkpoint;
 * the options override it. */
static nn_status load_config(train_job *j, const pl_train_opts *o, nn_error *err)
{
    nn_status st;
    if (o->resume) {
        if ((st = ckpt_load(&j->ck, o->resume, err)) != NN_OK)
            return st;
        if (!j->ck.has_optim || !j->ck.has_train || !j->ck.config_json)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "%s: not a training checkpoint (no optimizer state, counters or "
                             "config); it cannot be resumed",
                             o->resume);
    }
    if (o->config_path) {
        st = cfg_load(&j->cfg, &j->text, o->config_path, err);
    } else {
        char source[CFG_PATH_MAX + 32];
        snprintf(source, sizeof source, "%s (stored config)", o->resume);
        st = cfg_parse(&j->cfg, j->ck.config_json, source, err);
        j->text = strdup(j->ck.config_json);
    }
    if (st != NN_OK)
        return st;
    if (o->epochs)
        j->cfg.train.epochs = o->epochs;
    if (o->seed >= 0)
        j->cfg.train.seed = (uint64_t)o->seed;
    if (o->limit)
        j->cfg.data.limit = o->limit;
    return NN_OK;
}

/* Mean and std of the input: the config's, or measured on the training set. */
static nn_status set_normalization(train_job *j, const char *source, nn_error *err)
{
    const cfg_data *d = &j->cfg.data;
    if (!d->have_norm) {
        ds_channel_stats(&j->train, j->model->mean, j->model->std);
        return NN_OK;
    }
    if (d->norm_channels != j->train.c)
        return nn_errorf(err, NN_ERR_CONFIG, "%s: data.mean/std have %d values, the images %d channels",
                         source, d->norm_channels, j->train.c);
    for (int c = 0; c < j->train.c; c++)
        j->model->mean[c] = d->mean[c], j->model->std[c] = d->std[c];
    return NN_OK;
}

/* 3. The model: fresh from the config, or the checkpoint's. */
static nn_status build_model(train_job *j, const pl_train_opts *o, nn_error *err)
{
    cfg_config *cfg = &j->cfg;
    cfg_set_input(cfg, j->train.c, j->train.h, j->train.w, j->train.num_classes);
    if (nn_model_build(&j->fresh, &cfg->model, err) != NN_OK) {
        nn_error_prefix(err, "%s: model", o->config_path ? o->config_path : o->resume);
        return NN_ERR_CONFIG;
    }
    j->have_fresh = 1;
    j->model = &j->fresh;
    j->ts = (nn_train_state){cfg->train.seed, 0, cfg->train.epochs, 0};
    if (!o->resume) {
        nn_model_init_params(j->model, cfg->init, cfg->train.seed);
        nn_status st = set_normalization(j, o->config_path, err);
        if (st == NN_OK && (st = nn_optim_init(&j->optim, &cfg->train.optim, j->model->n_params,
                                               err)) == NN_OK)
            j->have_optim = 1;
        return st;
    }
    if (!same_architecture(&j->fresh, &j->ck.model))
        return nn_errorf(err, NN_ERR_CONFIG, "%s: the model differs from the one in %s",
                         o->config_path, o->resume);
    nn_model_free(&j->fresh);
    j->have_fresh = 0;
    j->model = &j->ck.model;
    j->optim = j->ck.optim; /* moved: job_free frees it once */
    j->ck.optim = (nn_optim){0};
    j->have_optim = 1;
    j->ts = j->ck.train;
    if (j->ts.seed != cfg->train.seed)
        pl_note(j->progress, "train", "warning: seed %llu differs from the run's %llu",
                (unsigned long long)cfg->train.seed, (unsigned long long)j->ts.seed);
    return NN_OK;
}

typedef struct {
    train_job *job;
    pl_train_result *r;
    double images;
    int since_best;    /* epochs since the best validation accuracy */
} epoch_ctx;

/* The best validation epoch of the lines a resumed log keeps (the
 * "%.6f" the log writes orders them as the accuracies themselves). */
static void best_from_log(epoch_ctx *c, const pl_metrics_log *log)
{
    const char *l = (const char *)log->text.data, *end = l + log->text.len;
    while (l && l < end) {
        const char *nl = memchr(l, '\n', (size_t)(end - l)), *stop = nl ? nl : end;
        const char *e = memmem(l, (size_t)(stop - l), "\"epoch\":", 8);
        const char *v = memmem(l, (size_t)(stop - l), "\"val_accuracy\":", 15);
        if (e && v) { /* numbers end at ',' or '}' inside the line */
            int epoch = (int)strtol(e + 8, NULL, 10);
            double acc = strtod(v + 15, NULL);
            c->since_best++;
            if (c->r->best_epoch == 0 || acc > c->r->best_val_accuracy)
                c->r->best_epoch = epoch, c->r->best_val_accuracy = acc, c->since_best = 0;
        }
        l = nl ? nl + 1 : NULL;
    }
}

/* With a validation split: a new best epoch is saved as MODEL.best.ckpt
 * (by the writer; the others only follow the best). */
static nn_status track_best(epoch_ctx *c, const nn_epoch_report *rep, const nn_train_state *ts,
                            nn_error *err)
{
    train_job *j = c->job;
    if (!rep->has_val)
        return NN_OK;
    c->since_best++;
    if (c->r->best_epoch == 0 || rep->val_accuracy > c->r->best_val_accuracy) {
        nn_status st = j->writer ? ckpt_save(c->r->best_model, j->model, &j->optim, ts,
                                             j->config_text, &j->classes, err)
                                 : NN_OK;
        if (st != NN_OK)
            return st;
        c->r->best_epoch = rep->epoch, c->r->best_val_accuracy = rep->val_accuracy;
        c->since_best = 0;
    }
    return NN_OK;
}

/* After every epoch: the checkpoint, the metrics line (the writer's), then
 * every process agrees on how that went before train.early_stop and
 * --stop-after end the run (NN_STOP). */
static nn_status on_epoch(void *user, const nn_epoch_report *rep, const nn_train_state *ts,
                          nn_error *err)
{
    epoch_ctx *c = user;
    train_job *j = c->job;
    c->r->epochs_run++;
    c->r->train_seconds += rep->seconds;
    c->images += rep->images_per_second * rep->seconds;
    nn_status st = NN_OK;
    if (j->writer)
        st = ckpt_save(c->r->model, j->model, &j->optim, ts, j->config_text, &j->classes, err);
    if (st == NN_OK && j->writer)
        st = pl_metrics_log_append(&j->metrics, rep, err);
    if (st == NN_OK)
        st = track_best(c, rep, ts, err);
    if ((st = pl_dist_agree(j->dist, st, err)) != NN_OK)
        return st;
    if (rep->has_val && j->cfg.train.early_stop > 0 && c->since_best >= j->cfg.train.early_stop &&
        rep->epoch < rep->epochs) {
        c->r->early_stopped = 1;
        return NN_STOP;
    }
    if (rep->epoch == j->stop_after && rep->epoch < rep->epochs)
        return NN_STOP;
    return NN_OK;
}

/* pl_train_opts.fail_step: a data error on this process before that step. */
static nn_status injected_failure(void *user, int epoch, uint64_t batch, uint64_t step,
                                  nn_error *err)
{
    const train_job *j = ((epoch_ctx *)user)->job;
    if (step + 1 != j->fail_step)
        return NN_OK;
    return nn_errorf(err, NN_ERR_IO,
                     "injected failure (IOTCNN_TEST_FAIL) before step %llu (epoch %d, batch %llu)",
                     (unsigned long long)step + 1, epoch, (unsigned long long)batch);
}

/* 4. Train, saving a checkpoint after every epoch. */
static nn_status run(train_job *j, const pl_train_opts *o, pl_train_result *r, nn_error *err)
{
    const cfg_config *cfg = &j->cfg;
    char resumed_metrics[CFG_PATH_MAX + 32];
    if (o->resume)
        pl_metrics_path(resumed_metrics, sizeof resumed_metrics, o->resume);
    nn_status st = pl_metrics_log_open(&j->metrics, r->metrics, o->resume ? resumed_metrics : NULL,
                                       j->ts.epochs_done, err);
    if (st != NN_OK)
        return st;
    if (!(j->config_text = effective_config(j->text, cfg, err)))
        return NN_ERR_CONFIG;
    epoch_ctx ctx = {j, r, 0.0, 0};
    if (j->val.n > 0) {
        pl_best_path(r->best_model, sizeof r->best_model, r->model);
        best_from_log(&ctx, &j->metrics);
    }
    pl_fit_spec spec = {cfg,      cfg->train.epochs, o->threads, &cfg->train.schedule,
                        "train.lr", "train",         j->progress, on_epoch,
                        NULL,     &ctx,               job_group(j),
                        j->fail_step ? injected_failure : NULL, NULL, NULL, NULL, NULL};
    if (j->sharded) {
        spec.fetch = pl_data_fetch;
        spec.fetch_train = &j->f_train;
        spec.fetch_val = &j->f_val;
    }
    char workers[64] = "";
    if (j->dist)
        snprintf(workers, sizeof workers, " x %d MPI processes", pl_dist_size(j->dist));
    pl_note(j->progress, "train",
            "%s, %d training images%s%s, %zu parameters, %d threads%s, %s kernels -> %s",
            cfg->data.dataset, j->train.n, j->val.n ? ", validation " : "",
            j->val.n ? "held out" : "", j->model->n_params, o->threads, workers,
            nn_isa_name(nn_isa_best()), r->model);
    st = pl_fit(j->model, &j->optim, &j->ts, &spec, &j->train, &j->val, err);
    if (st == NN_ERR_NUMERIC) /* from the same numbers on every process */
        pl_dist_failed_together(j->dist);
    r->images_per_second = r->train_seconds > 0 ? ctx.images / r->train_seconds : 0.0;
    if (st == NN_ERR_NUMERIC)
        nn_error_prefix(err, "%s", j->ts.epochs_done ? "stopped; the checkpoint of the last "
                                                       "good epoch is kept"
                                                     : "stopped; no checkpoint was written");
    if (st == NN_OK && r->early_stopped)
        pl_note(j->progress, "train",
                "stopped early after epoch %d: no better validation accuracy for %d epochs "
                "(train.early_stop)",
                j->ts.epochs_done, cfg->train.early_stop);
    else if (st == NN_OK && j->ts.epochs_done < cfg->train.epochs)
        pl_note(j->progress, "train", "stopped after epoch %d as asked; continue with --resume %s",
                j->ts.epochs_done, r->model);
    if (st == NN_OK && r->best_epoch > 0)
        pl_note(j->progress, "train", "best validation accuracy %.2f%% at epoch %d: %s",
                100.0 * r->best_val_accuracy, r->best_epoch, r->best_model);
    return st;
}

/* 5. Test accuracy of the final model. */
static nn_status test(train_job *j, const pl_train_opts *o, pl_train_result *r, nn_error *err)
{
    nn_images img = pl_data_images(&j->test);
    nn_eval_config ec = {.batch = j->cfg.train.eval_batch,
                         .threads = o->threads,
                         .test_flip = j->cfg.test_flip,
                         .fetch = j->sharded ? pl_data_fetch : NULL,
                         .fetch_user = &j->f_test};
    nn_status st = nn_evaluate_group(j->model, &img, &ec, job_group(j), &r->test, err);
    if (st == NN_ERR_NUMERIC) /* non-finite logits: gathered, seen by every process */
        pl_dist_failed_together(j->dist);
    if (st != NN_OK) {
        nn_error_prefix(err, "%s", r->model); /* the model is saved: name it */
        return st;
    }
    r->test_flip = j->cfg.test_flip;
    r->epochs_done = j->ts.epochs_done;
    r->epochs_total = j->cfg.train.epochs;
    r->train_images = j->train.n;
    r->parameters = j->model->n_params;
    r->seed = j->cfg.train.seed;
    return NN_OK;
}

/* The data hash of sets that stay in their files (no process holds every
 * image): the files' sizes and layout, which records train, validation and
 * test are (the index), and the pixels of 16 records of each file, spread
 * over it. A read error here is this process's alone: agreed on first. */
static nn_status same_files(train_job *j, nn_error *err)
{
    const ds_shard *fs[2] = {&j->train_files, &j->test_files};
    size_t bytes = (size_t)j->train.c * j->train.h * j->train.w;
    uint64_t *sig = NULL;
    size_t n_sig = 0;
    uint8_t *px = malloc(bytes);
    nn_status st = px ? NN_OK : nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    for (int f = 0; st == NN_OK && f < 2; f++) {
        ds_shard *s = (ds_shard *)fs[f];
        for (int i = 0; st == NN_OK && i < 16 && s->n > 0; i++) {
            uint32_t rec = (uint32_t)((uint64_t)s->n * (uint64_t)i / 16);
            uint64_t *g = realloc(sig, (n_sig + 2 + bytes / 8 + 1) * sizeof *sig);
            if (!g) {
                st = nn_errorf(err, NN_ERR_NOMEM, "out of memory");
                break;
            }
            sig = g;
            if ((st = ds_shard_read(s, &rec, 1, px, err)) != NN_OK)
                break;
            sig[n_sig++] = ((uint64_t)rec << 32) | (uint64_t)s->n;
            sig[n_sig++] = s->file[0].stride;
            memset(sig + n_sig, 0, (bytes / 8 + 1) * sizeof *sig);
            memcpy(sig + n_sig, px, bytes);
            n_sig += bytes / 8 + 1;
        }
    }
    free(px);
    if ((st = pl_dist_agree(j->dist, st, err)) != NN_OK) {
        free(sig);
        return st;
    }
    st = pl_dist_same(j->dist, sig, n_sig * sizeof *sig, "training or test set (its files)", err);
    free(sig);
    const ds_dataset *sets[3] = {&j->train, &j->val, &j->test};
    for (int i = 0; st == NN_OK && i < 3; i++)
        st = pl_dist_same(j->dist, sets[i]->index, (size_t)sets[i]->n * sizeof *sets[i]->index,
                          i == 0 ? "training set" : i == 1 ? "validation set" : "test set", err);
    return st;
}

/* With several processes: the same run everywhere (config text, options,
 * data, starting model), or NN_ERR_ARG before any step. */
static nn_status same_run(train_job *j, const pl_train_opts *o, nn_error *err)
{
    if (!j->dist)
        return NN_OK;
    char opts[CFG_PATH_MAX * 3 + 160];
    snprintf(opts, sizeof opts, "epochs %d limit %d seed %lld threads %d stop %d resume %s out %s",
             o->epochs, o->limit, o->seed, o->threads, o->stop_after, o->resume ? o->resume : "-",
             o->output ? o->output : "-");
    size_t in_size = (size_t)j->train.c * j->train.h * j->train.w;
    nn_status st = pl_dist_same(j->dist, j->text, strlen(j->text), "config", err);
    if (st == NN_OK)
        st = pl_dist_same(j->dist, opts, strlen(opts), "command line (options)", err);
    if (st == NN_OK && j->sharded)
        st = same_files(j, err);
    else if (st == NN_OK)
        st = pl_dist_same(j->dist, j->train.images, (size_t)j->train.n * in_size,
                          "training set", err);
    if (st == NN_OK)
        st = pl_dist_same(j->dist, j->train.labels, (size_t)j->train.n, "training labels", err);
    if (st == NN_OK)
        st = pl_dist_same(j->dist, j->model->params, j->model->n_params * sizeof(float),
                          "starting model", err);
    return st;
}

/* 2. The data: in memory, or with several processes and a set read by
 * offset (mnist, fashion, cifar10 with the normalization in the config:
 * measuring it would read every image), left in its files, each process
 * reading the images of its own slices as it needs them. */
static nn_status load_data(train_job *j, const int *shape, nn_error *err)
{
    const cfg_data *d = &j->cfg.data;
    int n_names = 0;
    j->sharded = j->dist && d->have_norm && ds_standard_class_names(d->dataset, &n_names);
    if (j->dist && !j->sharded)
        pl_note(j->progress, "train",
                "every process loads the whole data set: only mnist, fashion and cifar10 with "
                "data.mean and data.std in the config are read image by image");
    nn_status st;
    if (j->sharded) {
        st = ds_open_named_shard(&j->train, &j->train_files, d->dataset, d->dir, 1, err);
        if (st == NN_OK)
            st = ds_limit_split(&j->train, &j->val, d->limit, d->validation, j->cfg.train.seed,
                                err);
    } else {
        st = pl_fit_load(&j->train, &j->val, &j->cfg, shape, NULL, err);
    }
    if (st == NN_OK && j->train.class_names)
        st = cls_set(&j->classes, (const char *const *)j->train.class_names,
                     j->train.num_classes, err);
    if (st == NN_OK && j->sharded)
        st = ds_open_named_shard(&j->test, &j->test_files, d->dataset, d->dir, 0, err);
    else if (st == NN_OK)
        st = pl_data_load_split(&j->test, d, 0, (int[3]){j->train.c, j->train.h, j->train.w},
                                err);
    j->f_train = (pl_fetch_src){&j->train_files, &j->train, 0};
    j->f_val = (pl_fetch_src){&j->train_files, &j->val, 0};
    j->f_test = (pl_fetch_src){&j->test_files, &j->test, 0};
    return st;
}

static void job_free(train_job *j)
{
    free(j->text);
    free(j->config_text);
    pl_metrics_log_free(&j->metrics);
    if (j->have_optim)
        nn_optim_free(&j->optim);
    if (j->have_fresh)
        nn_model_free(&j->fresh);
    ckpt_free(&j->ck);
    ds_free(&j->train), ds_free(&j->val), ds_free(&j->test);
    ds_shard_close(&j->train_files), ds_shard_close(&j->test_files);
}

nn_status pl_train(const pl_train_opts *o, const pl_progress *p, pl_train_result *r,
                   nn_error *err)
{
    memset(r, 0, sizeof *r);
    if (!o->config_path && !o->resume)
        return nn_errorf(err, NN_ERR_ARG, "a config is required (-c CONFIG), or --resume MODEL");
    train_job *j = calloc(1, sizeof *j);
    if (!j)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    j->progress = p;
    j->stop_after = o->stop_after;
    j->dist = o->dist;
    j->fail_step = o->fail_step;
    j->writer = pl_dist_rank(o->dist) == 0;
    j->group = pl_dist_group(o->dist, o->threads);
    /* where it writes, checked before any work (runs/ is created for the default) */
    if (o->output || o->resume)
        snprintf(r->model, sizeof r->model, "%s", o->output ? o->output : o->resume);
    else
        default_output(r->model, sizeof r->model, o->config_path);
    pl_metrics_path(r->metrics, sizeof r->metrics, r->model);
    nn_status st = j->writer ? nn_check_writable(r->model, err) : NN_OK;
    int shape[3];
    if (st == NN_OK)
        st = load_config(j, o, err);
    if (st == NN_OK)
        st = load_data(j, o->resume ? pl_model_shape(&j->ck.model, shape) : NULL, err);
    if (st == NN_OK)
        st = build_model(j, o, err);
    if (st == NN_OK)
        st = pl_data_check_fits(&j->test, j->model, "the test set", err);
    if ((st = pl_dist_agree(j->dist, st, err)) == NN_OK)
        st = same_run(j, o, err);
    if (st == NN_OK)
        st = run(j, o, r, err);
    if (st == NN_OK)
        st = test(j, o, r, err);
    if (st == NN_OK) { /* every process got here: the counts are collective */
        r->images_read = j->sharded ? j->f_train.images_read + j->f_val.images_read +
                                          j->f_test.images_read
                                    : (unsigned long long)j->train.n + j->val.n + j->test.n;
        r->images_read_max = pl_dist_max_u64(j->dist, r->images_read);
        r->processes = pl_dist_size(j->dist);
    }
    job_free(j);
    free(j);
    if (st != NN_OK)
        pl_train_result_free(r);
    return st;
}

void pl_train_result_free(pl_train_result *r) { nn_eval_result_free(&r->test); }
