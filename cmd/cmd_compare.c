/* iotcnn compare: several models side by side on the same test data -
 * accuracy, size and single-image latency - e.g. a float model, its
 * pruned version and the deployed int8 file. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "evaluate.h"

#define COMPARE_MAX_MODELS 16

static const char usage[] =
    "Usage: iotcnn compare MODEL... [-c CONFIG] [--data mnist|fashion|cifar10|DIR]\n"
    "                      [--limit N] [--threads T] [--latency-images N] [--json]\n"
    "\n"
    "Evaluates each MODEL (checkpoint or .iotc file, as iotcnn eval does) on the\n"
    "same test data and prints one row per model: test accuracy (with test-time\n"
    "flip when the model's config asks for it), file bytes, deploy bytes (what a\n"
    "device stores: 4 bytes per parameter for a float model, the whole .iotc\n"
    "file), how many times smaller than the first model, MACs per image, and\n"
    "latency: the mean time per image run one at a time (batch 1, one thread,\n"
    "no flip) over the first --latency-images test images, and the speed-up\n"
    "over the first model.\n"
    "\n"
    "  -c, --config CONFIG     take the data block from this config\n"
    "      --data SPEC         mnist | fashion | cifar10 | DIR\n"
    "      --limit N           accuracy on the first N test images only\n"
    "      --threads T         threads for the accuracy pass (default: all CPUs)\n"
    "      --latency-images N  images timed one by one (default 1000)\n"
    "      --json              print one JSON summary as the last stdout line\n" CLI_EXIT_HELP;

typedef struct {
    const char *models[COMPARE_MAX_MODELS];
    int n_models;
    const char *config, *data;
    int limit, threads, latency_images, json;
} compare_opts;

static void parse_opts(compare_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->threads = cli_default_threads();
    o->latency_images = 1000;
    cli_args a;
    cli_args_init(&a, "compare", argc, argv);
    const char *arg;
    while ((arg = cli_next(&a))) {
        if (cli_flag(arg, "-h", "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (cli_opt(&a, arg, "-c", "--config")) {
            o->config = a.value;
        } else if (cli_opt(&a, arg, NULL, "--data")) {
            o->data = a.value;
        } else if (cli_opt(&a, arg, NULL, "--limit")) {
            o->limit = (int)cli_int(&a, "--limit", 1, 1000000000);
        } else if (cli_opt(&a, arg, NULL, "--threads")) {
            o->threads = (int)cli_int(&a, "--threads", 1, 256);
        } else if (cli_opt(&a, arg, NULL, "--latency-images")) {
            o->latency_images = (int)cli_int(&a, "--latency-images", 1, 1000000000);
        } else if (cli_flag(arg, NULL, "--json")) {
            o->json = 1;
        } else if (arg[0] == '-') {
            cli_usage_error("compare", "unknown argument '%s'", arg);
        } else if (o->n_models == COMPARE_MAX_MODELS) {
            cli_usage_error("compare", "at most %d models", COMPARE_MAX_MODELS);
        } else {
            o->models[o->n_models++] = arg;
        }
    }
    if (o->n_models == 0)
        cli_usage_error("compare", "give at least one model");
}

typedef struct {
    evaluate_outcome acc;  /* the accuracy pass                      */
    double latency_ms;     /* mean per image, batch 1, one thread    */
} compare_row;

static double accuracy(const compare_row *r)
{
    return r->acc.r.n ? (double)r->acc.r.correct / r->acc.r.n : 0.0;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

static void print_table(const compare_opts *o, const compare_row *rows)
{
    printf("%-32s %-18s %9s %12s %12s %8s %10s %11s %8s\n", "model", "engine", "accuracy",
           "file bytes", "deploy bytes", "smaller", "MMACs", "latency ms", "speed-up");
    for (int i = 0; i < o->n_models; i++) {
        const compare_row *r = &rows[i];
        printf("%-32s %-18s %8.2f%%%s %12llu %12llu %7.1fx %10.2f %11.3f %7.2fx\n", o->models[i],
               r->acc.engine, 100.0 * accuracy(r), r->acc.test_flip ? "f" : " ",
               (unsigned long long)r->acc.file_bytes, (unsigned long long)r->acc.deploy_bytes,
               ratio((double)rows[0].acc.deploy_bytes, (double)r->acc.deploy_bytes),
               (double)r->acc.macs / 1e6, r->latency_ms, ratio(rows[0].latency_ms, r->latency_ms));
    }
    int flip = 0;
    for (int i = 0; i < o->n_models; i++)
        flip |= rows[i].acc.test_flip;
    printf("\naccuracy on %d test images%s; latency: batch 1, one thread, mean of %d images\n",
           rows[0].acc.r.n, flip ? " (f: with test-time flip)" : "",
           o->latency_images < rows[0].acc.r.n ? o->latency_images : rows[0].acc.r.n);
}

static void print_json(const compare_opts *o, const compare_row *rows)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(j, "models");
    for (int i = 0; i < o->n_models; i++) {
        const compare_row *r = &rows[i];
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "model", o->models[i]);
        cJSON_AddStringToObject(m, "engine", r->acc.engine);
        cJSON_AddNumberToObject(m, "accuracy", accuracy(r));
        cJSON_AddNumberToObject(m, "correct", r->acc.r.correct);
        cJSON_AddNumberToObject(m, "n", r->acc.r.n);
        cJSON_AddBoolToObject(m, "test_flip", r->acc.test_flip);
        cJSON_AddNumberToObject(m, "file_bytes", (double)r->acc.file_bytes);
        cJSON_AddNumberToObject(m, "deploy_bytes", (double)r->acc.deploy_bytes);
        cJSON_AddNumberToObject(m, "smaller",
                                ratio((double)rows[0].acc.deploy_bytes, (double)r->acc.deploy_bytes));
        cJSON_AddNumberToObject(m, "macs", (double)r->acc.macs);
        cJSON_AddNumberToObject(m, "latency_ms", r->latency_ms);
        cJSON_AddNumberToObject(m, "speedup", ratio(rows[0].latency_ms, r->latency_ms));
        cJSON_AddItemToArray(arr, m);
    }
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "latency_images", o->latency_images);
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

int cmd_compare(int argc, char **argv)
{
    compare_opts o;
    parse_opts(&o, argc, argv);
    compare_row *rows = calloc((size_t)o.n_models, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "iotcnn compare: out of memory\n");
        return EXIT_RUNTIME;
    }
    for (int i = 0; i < o.n_models; i++) {
        evaluate_request q = {"compare", o.models[i], o.config, o.data, NULL,
                              o.limit,   o.threads,   256,      -1};
        evaluate_model(&q, &rows[i].acc);
        if (i > 0 && rows[i].acc.r.n != rows[0].acc.r.n) {
            fprintf(stderr, "iotcnn compare: %s was evaluated on %d images but %s on %d: give "
                    "the data with -c or --data\n", o.models[i], rows[i].acc.r.n, o.models[0],
                    rows[0].acc.r.n);
            return EXIT_USAGE;
        }
        /* Latency: one image at a time on one thread, no flip. */
        evaluate_outcome lat;
        q.limit = o.limit && o.limit < o.latency_images ? o.limit : o.latency_images;
        q.threads = 1, q.batch = 1, q.test_flip = 0;
        evaluate_model(&q, &lat);
        rows[i].latency_ms = lat.r.n ? 1e3 * lat.r.seconds / lat.r.n : 0.0;
        evaluate_outcome_free(&lat);
        if (!o.json)
            fprintf(stderr, "iotcnn compare: %s done\n", o.models[i]);
    }
    if (o.json)
        print_json(&o, rows);
    else
        print_table(&o, rows);
    for (int i = 0; i < o.n_models; i++)
        evaluate_outcome_free(&rows[i].acc);
    free(rows);
    return 0;
}
