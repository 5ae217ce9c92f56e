/* iotcnn eval: accuracy, per-class accuracy and confusion matrix of a
 * float checkpoint or of an int8 .iotc model (run by the int8 engine). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_train.h"
#include "cli.h"
#include "commands.h"
#include "evaluate.h"

static const char usage[] =
    "Usage: iotcnn eval -m MODEL [-c CONFIG] [--data mnist|fashion|cifar10|DIR]\n"
    "                   [--limit N] [--threads T] [--batch B] [--test-flip | --no-test-flip]\n"
    "                   [--isa auto|c|avx2|avx512-vnni] [--json]\n"
    "\n"
    "Evaluates MODEL on a test set: accuracy, per-class accuracy, confusion\n"
    "matrix and speed. MODEL is a float checkpoint (iotcnn train, prune) or an\n"
    "int8 .iotc model (iotcnn quantize), which the integer engine runs. The\n"
    "data is, in order of preference: --data (a dataset name, whose test split\n"
    "is read from data/NAME, or a folder of PNGs with one sub-folder per\n"
    "class), the data block of CONFIG, or the data the model was trained on\n"
    "(recorded in the checkpoint or the .iotc file).\n"
    "\n"
    "  -m, --model MODEL   checkpoint or .iotc model\n"
    "  -c, --config CONFIG take the data block from this config\n"
    "      --data SPEC     mnist | fashion | cifar10 | DIR\n"
    "      --limit N       use only the first N test images\n"
    "      --threads T     worker threads (default: all CPUs)\n"
    "      --batch B       images per forward pass (default 256)\n"
    "      --test-flip     average each image's logits with its mirror's (default:\n"
    "                      augment.test_flip of the config)\n"
    "      --no-test-flip  plain evaluation even if the config asks for the flip\n"
    "      --isa ISA       .iotc models: the engine's instruction set (default: the\n"
    "                      best this CPU has; every one gives the same results)\n"
    "      --json          print one JSON summary as the last stdout line\n" CLI_EXIT_HELP;

typedef struct {
    const char *model, *config, *data;
    int limit, threads, batch, json;
    int test_flip; /* -1: from the config */
    const char *isa; /* NULL: auto */
} eval_opts;

static void parse_opts(eval_opts *o, int argc, char **argv)
{
    *o = (eval_opts){NULL, NULL, NULL, 0, cli_default_threads(), 256, 0, -1, NULL};
    cli_args a;
    cli_args_init(&a, "eval", argc, argv);
    const char *arg;
    while ((arg = cli_next(&a))) {
        if (cli_flag(arg, "-h", "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (cli_opt(&a, arg, "-m", "--model")) {
            o->model = a.value;
        } else if (cli_opt(&a, arg, "-c", "--config")) {
            o->config = a.value;
        } else if (cli_opt(&a, arg, NULL, "--data")) {
            o->data = a.value;
        } else if (cli_opt(&a, arg, NULL, "--limit")) {
            o->limit = (int)cli_int(&a, "--limit", 1, 1000000000);
        } else if (cli_opt(&a, arg, NULL, "--threads")) {
            o->threads = (int)cli_int(&a, "--threads", 1, 256);
        } else if (cli_opt(&a, arg, NULL, "--batch")) {
            o->batch = (int)cli_int(&a, "--batch", 1, 65536);
        } else if (cli_flag(arg, NULL, "--test-flip")) {
            o->test_flip = 1;
        } else if (cli_flag(arg, NULL, "--no-test-flip")) {
            o->test_flip = 0;
        } else if (cli_opt(&a, arg, NULL, "--isa")) {
            o->isa = a.value;
        } else if (cli_flag(arg, NULL, "--json")) {
            o->json = 1;
        } else {
            cli_usage_error("eval", "unknown argument '%s'", arg);
        }
    }
    if (!o->model)
        cli_usage_error("eval", "a model is required (-m MODEL)");
}

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
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
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

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    parse_opts(&o, argc, argv);
    evaluate_outcome out;
    evaluate_model(&(evaluate_request){"eval", o.model, o.config, o.data, o.isa, o.limit,
                                       o.threads, o.batch, o.test_flip},
                   &out);
    o.test_flip = out.test_flip;
    report(&out.r, &(eval_model){o.model, out.file_bytes, out.engine}, &o);
    evaluate_outcome_free(&out);
    return 0;
}
