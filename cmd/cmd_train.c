/* iotcnn train: config -> trained float checkpoint (+ per-epoch metrics);
 * the work is pipeline/pl_train. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pl_train.h"
#include "cli.h"
#include "commands.h"
#include "plot.h"
#include "progress.h"

typedef struct {
    const char *config, *output, *resume;
    int epochs, limit, threads, json, stop_after;
    long long seed; /* -1: from the config */
} train_opts;

static const cli_option options[] = {
    CLI_OPT_CONFIG(train_opts, "JSON run configuration (see docs/config.md)"),
    CLI_OPT_OUTPUT(train_opts, "MODEL",
                   "checkpoint to write (default runs/CONFIGNAME.ckpt,\nor the --resume checkpoint)"),
    {"epochs", 0, CLI_INT, offsetof(train_opts, epochs), "N", "total epochs (overrides train.epochs)",
     NULL, 1, 100000, 0, 0, 0, NULL},
    CLI_OPT_LIMIT(train_opts, "use only N training images, each class in proportion (its first images)"),
    CLI_OPT_SEED(train_opts),
    {"threads", 0, CLI_INT, offsetof(train_opts, threads), "T",
     "worker threads (default: all CPUs, shared by the MPI\nprocesses of a machine); the same "
     "config, seed and\nthread count (times MPI processes) give a\nbitwise-identical model",
     NULL, 1, 256, 0, 0, 0, NULL},
    {"resume", 0, CLI_PATH, offsetof(train_opts, resume), "MODEL",
     "continue a checkpoint's run where it stopped; its\nstored config is used unless -c is given",
     NULL, 0, 0, 0, 0, 0, NULL},
    {"stop-after", 0, CLI_INT, offsetof(train_opts, stop_after), "N",
     "stop after epoch N, keeping its checkpoint, as if\ninterrupted (to train in time-boxed "
     "pieces)",
     NULL, 1, 100000, 0, 0, 0, NULL},
    CLI_OPT_JSON(train_opts),
};

const cli_command cmd_train_def = {
    "train",
    "train a network described by a JSON config",
    "-c CONFIG [-o MODEL] [--epochs N] [--limit N] [--seed S]\n"
    "                    [--threads T] [--resume MODEL] [--stop-after N] [--json]",
    "Trains the network of CONFIG on its dataset and writes a float checkpoint\n"
    "after every epoch (atomically), plus per-epoch metrics as JSON lines in\n"
    "MODEL's name with .metrics.jsonl. Then reports the test accuracy.\n",
    options,
    CLI_N_OPTS(options),
    NULL,
    "Training that diverges (a non-finite or exploding loss, a non-finite\n"
    "parameter; see train.divergence_factor in docs/config.md) stops with exit\n"
    "status 1 and keeps the checkpoint of the last good epoch.\n",
};

static void print_json(const pl_train_result *r, const train_opts *o, double seconds)
{
    cJSON *j = cJSON_CreateObject();
    const nn_eval_result *t = &r->test;
    cJSON_AddStringToObject(j, "model", r->model);
    cJSON_AddNumberToObject(j, "test_accuracy", t->n ? (double)t->correct / t->n : 0.0);
    cJSON_AddNumberToObject(j, "test_loss", t->loss);
    cJSON_AddNumberToObject(j, "test_images", t->n);
    cJSON_AddBoolToObject(j, "test_flip", r->test_flip);
    cJSON_AddNumberToObject(j, "epochs", r->epochs_done);
    cJSON_AddNumberToObject(j, "epochs_run", r->epochs_run);
    cJSON_AddNumberToObject(j, "train_images", r->train_images);
    cJSON_AddNumberToObject(j, "seconds", seconds);
    cJSON_AddNumberToObject(j, "train_seconds", r->train_seconds);
    cJSON_AddNumberToObject(j, "images_per_second", r->images_per_second);
    cJSON_AddNumberToObject(j, "processes", r->processes);
    cJSON_AddNumberToObject(j, "images_read", (double)r->images_read);
    cJSON_AddNumberToObject(j, "images_read_max", (double)r->images_read_max);
    cJSON_AddNumberToObject(j, "parameters", (double)r->parameters);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "seed", (double)r->seed);
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)cli_peak_rss_bytes());
    if (r->best_epoch > 0) {
        cJSON_AddStringToObject(j, "best_model", r->best_model);
        cJSON_AddNumberToObject(j, "best_epoch", r->best_epoch);
        cJSON_AddNumberToObject(j, "best_val_accuracy", r->best_val_accuracy);
    }
    cJSON_AddBoolToObject(j, "early_stopped", r->early_stopped);
    if (r->curves[0])
        cJSON_AddStringToObject(j, "curves", r->curves);
    else
        cJSON_AddNullToObject(j, "curves");
    cli_print_json(j);
}

/* MODEL.curves.png beside the metrics log, from it. Not drawing it does
 * not fail the run (the model and the metrics are written): said on
 * stderr, and "curves" is null in the JSON. */
static void draw_curves(pl_train_result *r)
{
    size_t len = strlen(r->metrics);
    const char *suffix = ".metrics.jsonl";
    if (len > strlen(suffix) && strcmp(r->metrics + len - strlen(suffix), suffix) == 0)
        len -= strlen(suffix);
    snprintf(r->curves, sizeof r->curves, "%.*s.curves.png", (int)len, r->metrics);
    char why[300];
    int rc = plot_curves(r->metrics, r->curves, why, sizeof why);
    if (rc == PLOT_OK)
        return;
    fprintf(stderr, "iotcnn train: no curves drawn: %s\n",
            rc == PLOT_NO_GNUPLOT ? "gnuplot is not installed (scripts/deps.sh installs "
                                    "gnuplot-nox)"
                                  : why);
    r->curves[0] = '\0';
}

/* Ends a failed run: the process that reports the failure prints it
 * before any process leaves MPI (the first to exit makes mpirun end the
 * others), then all exit with its status. */
static _Noreturn void leave(pl_dist *dist, nn_status st, nn_error *err)
{
    if (pl_dist_failed_alone(dist, st)) {
        /* Seen by this process alone, inside the run: the others wait in
         * the step's exchanges. Its message, then every process ends. */
        nn_error_prefix(err, "MPI process %d of %d", pl_dist_rank(dist), pl_dist_size(dist));
        cli_report("train", st, err);
        pl_dist_abort(dist, cli_exit_code(st));
    }
    if (pl_dist_reports(dist) && err->msg[0])
        cli_report("train", st, err);
    pl_dist_close(dist);
    exit(cli_exit_code(st));
}

/* IOTCNN_TEST_FAIL=RANK:STEP (tests only, scripts/check_mpi.sh): process
 * RANK fails before step STEP as a data error would; 0 for the others. */
static unsigned long long test_fail_step(const pl_dist *d)
{
    const char *v = getenv("IOTCNN_TEST_FAIL");
    int rank = -1;
    unsigned long long step = 0;
    if (!v || sscanf(v, "%d:%llu", &rank, &step) != 2 || rank != pl_dist_rank(d))
        return 0;
    return step;
}

/* With MPI (mpirun -np P): the threads per process when --threads is not
 * given, this machine's CPUs shared by its processes. */
static int default_threads(const pl_dist *d)
{
    int n = cli_default_threads() / pl_dist_local_size(d);
    return n < 1 ? 1 : n;
}

int cmd_train(int argc, char **argv)
{
    train_opts o = {.threads = 0, .seed = -1};
    cli_parse(&cmd_train_def, &o, argc, argv, NULL, 0, NULL);
    if (!o.config && !o.resume)
        cli_usage_error("train", "a config is required (-c CONFIG), or --resume MODEL");
    double t0 = cli_now();
    nn_error err = {{0}};
    pl_dist *dist = NULL;
    nn_status st = pl_dist_open(&dist, &err);
    if (st != NN_OK) /* one process has the message */
        leave(dist, st, &err);
    if (o.threads == 0)
        o.threads = default_threads(dist);
    /* Process 0 alone reports progress, results and files. */
    int lead = pl_dist_rank(dist) == 0;
    progress prog;
    pl_progress rep = progress_start(&prog, "train");
    pl_train_opts po = {o.config, o.output, o.resume, o.epochs, o.limit, o.threads, o.stop_after,
                        o.seed, dist, test_fail_step(dist)};
    pl_train_result r;
    st = pl_train(&po, lead ? &rep : NULL, &r, &err);
    progress_clear(&prog);
    if (st != NN_OK)
        leave(dist, st, &err);
    pl_dist_close(dist);
    if (!lead) {
        pl_train_result_free(&r);
        return 0;
    }
    double seconds = cli_now() - t0;
    draw_curves(&r);
    const nn_eval_result *t = &r.test;
    if (o.json)
        print_json(&r, &o, seconds);
    else
        printf("model %s  test accuracy %.2f%% (%d/%d)  %d epochs  %.1f s  %.0f img/s\n", r.model,
               100.0 * (t->n ? (double)t->correct / t->n : 0.0), t->correct, t->n, r.epochs_done,
               seconds, r.images_per_second);
    pl_train_result_free(&r);
    return 0;
}
