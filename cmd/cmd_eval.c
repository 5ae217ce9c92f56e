/* iotcnn eval: accuracy, per-class accuracy and confusion matrix of a
 * float checkpoint or of an int8 .iotc model (run by the int8 engine). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_io.h"
#include "libnn/nn_train.h"
#include "cli.h"
#include "commands.h"
#include "pipeline/pl_evaluate.h"
#include "plot.h"

typedef struct {
    const char *model, *config, *data;
    int limit, threads, batch, json;
    int test_flip; /* -1: from the config */
    const char *isa; /* NULL: auto */
    const char *confusion; /* PNG to draw the confusion matrix into, or NULL */
} eval_opts;

static const cli_option options[] = {
    CLI_OPT_MODEL(eval_opts, "checkpoint or .iotc model"),
    CLI_OPT_CONFIG(eval_opts, "take the data block from this config"),
    {"data", 0, CLI_STRING, offsetof(eval_opts, data), "SPEC", "mnist | fashion | cifar10 | DIR",
     NULL, 0, 0, 0, 0, 0, NULL},
    CLI_OPT_LIMIT(eval_opts, "use only the first N test images"),
    CLI_OPT_THREADS(eval_opts),
    {"batch", 0, CLI_INT, offsetof(eval_opts, batch), "B", "images per forward pass", "256", 1,
     65536, 0, 0, 0, NULL},
    {"test-flip", 0, CLI_FLAG, offsetof(eval_opts, test_flip), NULL,
     "average each image's logits with its mirror's (default:\naugment.test_flip of the config)",
     NULL, 0, 0, 0, 0, 1, NULL},
    {"no-test-flip", 0, CLI_FLAG, offsetof(eval_opts, test_flip), NULL,
     "plain evaluation even if the config asks for the flip", NULL, 0, 0, 0, 0, 0, NULL},
    {"isa", 0, CLI_STRING, offsetof(eval_opts, isa), "ISA",
     ".iotc models: the engine's instruction set, auto, c, avx2\nor avx512-vnni (default: the "
     "best this CPU has; every one\ngives the same results)",
     NULL, 0, 0, 0, 0, 0, NULL},
    {"confusion", 0, CLI_PATH, offsetof(eval_opts, confusion), "FILE.png",
     "draw the confusion matrix with the class names (gnuplot)", NULL, 0, 0, 0, 0, 0, NULL},
    CLI_OPT_JSON(eval_opts),
};

const cli_command cmd_eval_def = {
    "eval",
    "evaluate a model (.ckpt or .iotc): accuracy, confusion matrix",
    "-m MODEL [-c CONFIG] [--data mnist|fashion|cifar10|DIR]\n"
    "                   [--limit N] [--threads T] [--batch B] [--test-flip | --no-test-flip]\n"
    "                   [--isa auto|c|avx2|avx512-vnni] [--confusion FILE.png] [--json]",
    "Evaluates MODEL on a test set: accuracy, per-class accuracy, confusion\n"
    "matrix and speed. MODEL is a float checkpoint (iotcnn train, prune) or an\n"
    "int8 .iotc model (iotcnn quantize), which the integer engine runs. The\n"
    "data is, in order of preference: --data (a dataset name, whose test split\n"
    "is read from data/NAME, or a folder of PNGs with one sub-folder per\n"
    "class), the data block of CONFIG, or the data the model was trained on\n"
    "(recorded in the checkpoint or the .iotc file).\n",
    options,
    CLI_N_OPTS(options),
    NULL,
    NULL,
};

/* What was evaluated, for the report. */
typedef struct {
    const char *path;
    uint64_t bytes;
    const char *engine; /* "float" or "int8 ISA" */
} eval_model;

static void print_report(const nn_eval_result *r, double acc, double ips, const eval_model *em,
                         int flip)
{
    int k = r->num_classes;
    printf("model %s (%llu bytes, %s)\n", em->path, (unsigned long long)em->bytes, em->engine);
    printf("accuracy %.2f%% (%d/%d)%s  loss %.4f  %.2f s  %.0f img/s\n\n", 100.0 * acc,
           r->correct, r->n, flip ? " with test-time flip" : "", r->loss, r->seconds, ips);
    printf("class  accuracy   images   confusion (rows: true, columns: predicted)\n");
    for (int t = 0; t < k; t++) {
        int row = 0;
        for (int p = 0; p < k; p++)
            row += r->confusion[t * k + p];
        printf("%5d  %7.2f%%  %7d  ", t, row ? 100.0 * r->confusion[t * k + t] / row : 0.0, row);
        for (int p = 0; p < k; p++)
            printf(" %5d", r->confusion[t * k + p]);
        printf("\n");
    }
}

static void print_json(const nn_eval_result *r, double acc, double ips, const eval_model *em,
                       const eval_opts *o)
{
    int k = r->num_classes;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", em->path);
    cJSON_AddStringToObject(j, "engine", em->engine);
    cJSON_AddNumberToObject(j, "accuracy", acc);
    cJSON_AddNumberToObject(j, "loss", r->loss);
    cJSON_AddNumberToObject(j, "n", r->n);
    cJSON_AddNumberToObject(j, "correct", r->correct);
    cJSON *per = cJSON_AddArrayToObject(j, "per_class_accuracy");
    cJSON *cm = cJSON_AddArrayToObject(j, "confusion_matrix");
    for (int t = 0; t < k; t++) {
        int row = 0;
        cJSON *cmrow = cJSON_CreateIntArray(r->confusion + t * k, k);
        for (int p = 0; p < k; p++)
            row += r->confusion[t * k + p];
        cJSON_AddItemToArray(per, row ? cJSON_CreateNumber((double)r->confusion[t * k + t] / row)
                                      : cJSON_CreateNull());
        cJSON_AddItemToArray(cm, cmrow);
    }
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    cJSON_AddNumberToObject(j, "images_per_second", ips);
    cJSON_AddNumberToObject(j, "model_bytes", (double)em->bytes);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddBoolToObject(j, "test_flip", o->test_flip);
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)cli_peak_rss_bytes());
    cli_print_json(j);
}

static void report(const nn_eval_result *r, const eval_model *em, const eval_opts *o)
{
    double acc = r->n ? (double)r->correct / r->n : 0.0;
    double ips = r->seconds > 0 ? r->n / r->seconds : 0.0;
    if (o->json)
        print_json(r, acc, ips, em, o);
    else
        print_report(r, acc, ips, em, o->test_flip);
}

/* --confusion: asked for, so a failure is the command's (exit 1). */
static void draw_confusion(const eval_opts *o, pl_eval_outcome *out)
{
    char why[300], title[400];
    const nn_eval_result *r = &out->r;
    snprintf(title, sizeof title, "%s: %.2f%% of %d test images", o->model,
             r->n ? 100.0 * r->correct / r->n : 0.0, r->n);
    int rc = plot_confusion(r->confusion, r->num_classes, &out->classes, title, o->confusion,
                            why, sizeof why);
    if (rc == PLOT_OK)
        return;
    fprintf(stderr, "iotcnn eval: %s: %s\n", o->confusion,
            rc == PLOT_NO_GNUPLOT ? "gnuplot is not installed (scripts/deps.sh installs "
                                    "gnuplot-nox)"
                                  : why);
    pl_eval_outcome_free(out);
    exit(EXIT_RUNTIME);
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o = {.threads = cli_default_threads(), .test_flip = -1};
    cli_parse(&cmd_eval_def, &o, argc, argv, NULL, 0, NULL);
    if (!o.model)
        cli_usage_error("eval", "a model is required (-m MODEL)");
    pl_eval_outcome out;
    nn_error err = {{0}};
    if (o.confusion && nn_check_writable(o.confusion, &err) != NN_OK) /* before any work */
        cli_fail("eval", NN_ERR_IO, &err);
    nn_status st = pl_evaluate(&(pl_eval_request){o.model, o.config, o.data, o.isa, o.limit,
                                                  o.threads, o.batch, o.test_flip},
                               &out, &err);
    if (st != NN_OK)
        cli_fail("eval", st, &err);
    o.test_flip = out.test_flip;
    report(&out.r, &(eval_model){o.model, out.file_bytes, out.engine}, &o);
    if (o.confusion)
        draw_confusion(&o, &out);
    pl_eval_outcome_free(&out);
    return 0;
}
