/* iotcnn eval: accuracy, per-class accuracy and confusion matrix of a model. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../libnn/nn_checkpoint.h"
#include "../libnn/nn_train.h"
#include "cli.h"
#include "commands.h"
#include "data.h"

static const char usage[] =
    "Usage: iotcnn eval -m MODEL [-c CONFIG] [--data mnist|fashion|cifar10|DIR]\n"
    "                   [--limit N] [--threads T] [--batch B] [--test-flip | --no-test-flip]\n"
    "                   [--json]\n"
    "\n"
    "Evaluates MODEL on a test set: accuracy, per-class accuracy, confusion\n"
    "matrix and speed. The data is, in order of preference: --data (a dataset\n"
    "name, whose test split is read from data/NAME, or a folder of PNGs with\n"
    "one sub-folder per class), the data block of CONFIG, or the data block\n"
    "stored in the model when it was trained.\n"
    "\n"
    "  -m, --model MODEL   checkpoint written by iotcnn train\n"
    "  -c, --config CONFIG take the data block from this config\n"
    "      --data SPEC     mnist | fashion | cifar10 | DIR\n"
    "      --limit N       use only the first N test images\n"
    "      --threads T     worker threads (default: all CPUs)\n"
    "      --batch B       images per forward pass (default 256)\n"
    "      --test-flip     average each image's logits with its mirror's (default:\n"
    "                      augment.test_flip of the config)\n"
    "      --no-test-flip  plain evaluation even if the config asks for the flip\n"
    "      --json          print one JSON summary as the last stdout line\n";

typedef struct {
    const char *model, *config, *data;
    int limit, threads, batch, json;
    int test_flip; /* -1: from the config */
} eval_opts;

static void parse_opts(eval_opts *o, int argc, char **argv)
{
    *o = (eval_opts){NULL, NULL, NULL, 0, cli_default_threads(), 256, 0, -1};
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
        } else if (cli_flag(arg, NULL, "--json")) {
            o->json = 1;
        } else {
            cli_usage_error("eval", "unknown argument '%s'", arg);
        }
    }
    if (!o->model)
        cli_usage_error("eval", "a model is required (-m MODEL)");
}

static void print_report(const nn_eval_result *r, double acc, double ips, const char *model,
                         uint64_t bytes, int flip)
{
    int k = r->num_classes;
    printf("model %s (%llu bytes)\n", model, (unsigned long long)bytes);
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

static void print_json(const nn_eval_result *r, double acc, double ips, const char *model,
                       uint64_t bytes, const eval_opts *o)
{
    int k = r->num_classes;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", model);
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
    cJSON_AddNumberToObject(j, "model_bytes", (double)bytes);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddBoolToObject(j, "test_flip", o->test_flip);
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)cli_peak_rss_bytes());
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    parse_opts(&o, argc, argv);
    nn_error err = {{0}};
    nn_checkpoint ck;
    nn_status st = nn_checkpoint_load(&ck, o.model, &err);
    if (st != NN_OK)
        cli_fail("eval", st, &err);

    /* Where the data block comes from: -c, else the stored config. */
    cfg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (o.config) {
        st = cfg_load(&cfg, NULL, o.config, &err);
    } else if (ck.config_json) {
        char source[CFG_PATH_MAX + 32];
        snprintf(source, sizeof source, "%s (stored config)", o.model);
        st = cfg_parse(&cfg, ck.config_json, source, &err);
    } else if (!o.data) {
        cli_usage_error("eval", "%s holds no config: say which data with --data or -c", o.model);
    }
    if (st != NN_OK)
        cli_fail("eval", st, &err);

    ds_dataset test = {0};
    if ((st = data_load_eval(&test, o.data, &cfg.data, &err)) != NN_OK)
        cli_fail("eval", st, &err);
    ds_limit(&test, o.limit);
    if ((st = data_check_fits(&test, &ck.model, "the evaluation data", &err)) != NN_OK)
        cli_fail("eval", st, &err);

    nn_images img = data_images(&test);
    nn_eval_result r;
    if (o.test_flip < 0)
        o.test_flip = cfg.test_flip;
    st = nn_evaluate(&ck.model, &img, &(nn_eval_config){o.batch, o.threads, o.test_flip}, &r,
                     &err);
    if (st != NN_OK)
        cli_fail("eval", st, &err);
    double acc = r.n ? (double)r.correct / r.n : 0.0;
    double ips = r.seconds > 0 ? r.n / r.seconds : 0.0;
    if (o.json)
        print_json(&r, acc, ips, o.model, ck.file_bytes, &o);
    else
        print_report(&r, acc, ips, o.model, ck.file_bytes, o.test_flip);
    nn_eval_result_free(&r);
    nn_checkpoint_free(&ck);
    ds_free(&test);
    return 0;
}
