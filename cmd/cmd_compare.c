/* iotcnn compare: several models side by side on the same test data -
 * accuracy, size and single-image latency - e.g. a float model, its
 * pruned version and the deployed int8 file. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "pipeline/pl_evaluate.h"

#define COMPARE_MAX_MODELS 16

typedef struct {
    const char *models[COMPARE_MAX_MODELS];
    int n_models;
    const char *config, *data;
    int limit, threads, latency_images, json;
} compare_opts;

static const cli_option options[] = {
    CLI_OPT_CONFIG(compare_opts, "take the data block from this config"),
    {"data", 0, CLI_STRING, offsetof(compare_opts, data), "SPEC",
     "mnist | fashion | cifar10 | DIR", NULL, 0, 0, 0, 0, 0, NULL},
    CLI_OPT_LIMIT(compare_opts, "accuracy on the first N test images only"),
    {"threads", 0, CLI_INT, offsetof(compare_opts, threads), "T",
     "threads for the accuracy pass (default: all CPUs)", NULL, 1, 256, 0, 0, 0, NULL},
    {"latency-images", 0, CLI_INT, offsetof(compare_opts, latency_images), "N",
     "images timed one by one", "1000", 1, 1000000000, 0, 0, 0, NULL},
    CLI_OPT_JSON(compare_opts),
};

const cli_command cmd_compare_def = {
    "compare",
    "several models side by side: accuracy, bytes, latency",
    "MODEL... [-c CONFIG] [--data mnist|fashion|cifar10|DIR]\n"
    "                      [--limit N] [--threads T] [--latency-images N] [--json]",
    "Evaluates each MODEL (checkpoint or .iotc file, as iotcnn eval does) on the\n"
    "same test data and prints one row per model: test accuracy (with test-time\n"
    "flip when the model's config asks for it), file bytes, deploy bytes (what a\n"
    "device stores: 4 bytes per parameter for a float model, the whole .iotc\n"
    "file), how many times smaller than the first model, MACs per image, and\n"
    "latency: the median time per image run one at a time (batch 1, one thread,\n"
    "no flip) over the first --latency-images test images, the median of\n"
    "rounds that run every model once in turn after a warm-up round, until\n"
    "the medians settle (under 1% change, at least 5 rounds; at most 31 rounds\n"
    "or 20 s), with its min-max, and the speed-up of the medians over the first\n"
    "model.\n",
    options,
    CLI_N_OPTS(options),
    "models",
    NULL,
};

/* Latency: rounds of one timed pass per model (interleaved, so a slower
 * moment of the machine hits every model), after one warm-up round, until
 * every model's median moved by under 1% in the last round and at least
 * LAT_MIN_ROUNDS ran, or LAT_MAX_ROUNDS, or LAT_MAX_SECONDS. */
#define LAT_MIN_ROUNDS 5
#define LAT_MAX_ROUNDS 31
#define LAT_MAX_SECONDS 20.0

typedef struct {
    pl_eval_outcome acc;           /* the accuracy pass                      */
    double lat[LAT_MAX_ROUNDS];    /* ms per image of each timed round       */
    int rounds;
    double latency_ms;             /* median per image, batch 1, one thread  */
    double lat_min, lat_max;
} compare_row;

static double accuracy(const compare_row *r)
{
    return r->acc.r.n ? (double)r->acc.r.correct / r->acc.r.n : 0.0;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

static void print_table(const compare_opts *o, const compare_row *rows)
{
    printf("%-32s %-18s %9s %12s %12s %8s %10s %11s %15s %8s\n", "model", "engine",
           "accuracy", "file bytes", "deploy bytes", "smaller", "MMACs", "latency ms",
           "(min-max)", "speed-up");
    for (int i = 0; i < o->n_models; i++) {
        const compare_row *r = &rows[i];
        char spread[40];
        snprintf(spread, sizeof spread, "(%.3f-%.3f)", r->lat_min, r->lat_max);
        printf("%-32s %-18s %8.2f%%%s %12llu %12llu %7.1fx %10.2f %11.3f %15s %7.2fx\n",
               o->models[i], r->acc.engine, 100.0 * accuracy(r), r->acc.test_flip ? "f" : " ",
               (unsigned long long)r->acc.file_bytes, (unsigned long long)r->acc.deploy_bytes,
               ratio((double)rows[0].acc.deploy_bytes, (double)r->acc.deploy_bytes),
               (double)r->acc.macs / 1e6, r->latency_ms, spread,
               ratio(rows[0].latency_ms, r->latency_ms));
    }
    int flip = 0;
    for (int i = 0; i < o->n_models; i++)
        flip |= rows[i].acc.test_flip;
    printf("\naccuracy on %d test images%s; latency: batch 1, one thread, per image over %d "
           "images, the median (min-max) of %d interleaved rounds after a warm-up\n",
           rows[0].acc.r.n, flip ? " (f: with test-time flip)" : "",
           o->latency_images < rows[0].acc.r.n ? o->latency_images : rows[0].acc.r.n,
           rows[0].rounds);
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
        cJSON_AddNumberToObject(m, "latency_min_ms", r->lat_min);
        cJSON_AddNumberToObject(m, "latency_max_ms", r->lat_max);
        cJSON_AddNumberToObject(m, "latency_rounds", r->rounds);
        cJSON_AddNumberToObject(m, "speedup", ratio(rows[0].latency_ms, r->latency_ms));
        cJSON_AddItemToArray(arr, m);
    }
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "latency_images", o->latency_images);
    cli_print_json(j);
}

/* Evaluates model i for accuracy. */
static void evaluate_row(const compare_opts *o, int i, compare_row *row)
{
    pl_eval_request q = {o->models[i], o->config, o->data, NULL, o->limit, o->threads, 256, -1};
    nn_error err = {{0}};
    nn_status st = pl_evaluate(&q, &row->acc, &err);
    if (st != NN_OK)
        cli_fail("compare", st, &err);
}

/* One latency pass of model i (one image at a time on one thread, no
 * flip): ms per image. */
static double latency_pass(const compare_opts *o, int i)
{
    pl_eval_request q = {o->models[i], o->config, o->data, NULL, 0, 1, 1, 0};
    q.limit = o->limit && o->limit < o->latency_images ? o->limit : o->latency_images;
    pl_eval_outcome lat;
    nn_error err = {{0}};
    nn_status st = pl_evaluate(&q, &lat, &err);
    if (st != NN_OK)
        cli_fail("compare", st, &err);
    double ms = lat.r.n ? 1e3 * lat.r.seconds / lat.r.n : 0.0;
    pl_eval_outcome_free(&lat);
    return ms;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* r's median, min and max over its rounds so far. */
static void summarize(compare_row *r)
{
    double v[LAT_MAX_ROUNDS];
    memcpy(v, r->lat, sizeof v[0] * (size_t)r->rounds);
    qsort(v, (size_t)r->rounds, sizeof v[0], by_value);
    int n = r->rounds;
    r->latency_ms = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    r->lat_min = v[0], r->lat_max = v[n - 1];
}

/* The interleaved rounds (LAT_* above). */
static void measure_latency(const compare_opts *o, compare_row *rows)
{
    for (int i = 0; i < o->n_models; i++)
        latency_pass(o, i); /* warm-up: caches, page faults, the CPU's clock */
    double t0 = cli_now();
    for (int round = 0; round < LAT_MAX_ROUNDS; round++) {
        int stable = 1;
        for (int i = 0; i < o->n_models; i++) {
            compare_row *r = &rows[i];
            double before = r->latency_ms;
            r->lat[r->rounds++] = latency_pass(o, i);
            summarize(r);
            stable &= r->rounds > 1 && fabs(r->latency_ms - before) < 0.01 * before;
        }
        if ((stable && round + 1 >= LAT_MIN_ROUNDS) || cli_now() - t0 > LAT_MAX_SECONDS)
            break;
    }
}

int cmd_compare(int argc, char **argv)
{
    compare_opts o = {.threads = cli_default_threads()};
    cli_parse(&cmd_compare_def, &o, argc, argv, o.models, COMPARE_MAX_MODELS, &o.n_models);
    if (o.n_models == 0)
        cli_usage_error("compare", "give at least one model");
    compare_row *rows = calloc((size_t)o.n_models, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "iotcnn compare: out of memory\n");
        return EXIT_RUNTIME;
    }
    for (int i = 0; i < o.n_models; i++) {
        evaluate_row(&o, i, &rows[i]);
        if (i > 0 && rows[i].acc.r.n != rows[0].acc.r.n) {
            fprintf(stderr, "iotcnn compare: %s was evaluated on %d images but %s on %d: give "
                    "the data with -c or --data\n", o.models[i], rows[i].acc.r.n, o.models[0],
                    rows[0].acc.r.n);
            return EXIT_USAGE;
        }
        if (!o.json)
            fprintf(stderr, "iotcnn compare: %s done\n", o.models[i]);
    }
    measure_latency(&o, rows);
    if (o.json)
        print_json(&o, rows);
    else
        print_table(&o, rows);
    for (int i = 0; i < o.n_models; i++)
        pl_eval_outcome_free(&rows[i].acc);
    free(rows);
    return 0;
}
