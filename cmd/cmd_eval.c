/* iotcnn eval: accuracy, per-class accuracy and confusion matrix of a
 * float checkpoint or of an int8 .iotc model (run by the int8 engine). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compress/iotc.h"
#include "../compress/qe_eval.h"
#include "../libnn/nn_checkpoint.h"
#include "../libnn/nn_train.h"
#include "cli.h"
#include "commands.h"
#include "data.h"

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
    "      --json          print one JSON summary as the last stdout line\n";

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

/* 1 when path starts with the .iotc magic (a missing or short file is left
 * to the checkpoint loader, whose message names it). */
static int is_iotc_file(const char *path)
{
    char magic[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int yes = fread(magic, 1, sizeof magic, f) == sizeof magic &&
              memcmp(magic, IOTC_MAGIC, sizeof magic) == 0;
    fclose(f);
    return yes;
}

static qe_isa parse_isa(const char *name)
{
    if (!name)
        return QE_ISA_AUTO;
    for (qe_isa i = QE_ISA_AUTO; i <= QE_ISA_AVX512_VNNI; i++)
        if (strcmp(name, qe_isa_name(i)) == 0) {
            if (!qe_isa_supported(i))
                cli_usage_error("eval", "--isa %s: this CPU does not support it", name);
            return i;
        }
    cli_usage_error("eval", "--isa: unknown instruction set '%s' (auto, c, avx2, avx512-vnni)",
                    name);
}

/* The .iotc file records the dataset the model was trained on (quantize
 * stores it): its test split is the default data. */
static void data_of_iotc(cfg_data *cd, int *test_flip, const iotc_model *f, const char *path)
{
    const char *name = iotc_get_meta(f, "dataset"), *dir = iotc_get_meta(f, "data_dir");
    const char *flip = iotc_get_meta(f, "test_flip");
    if (!name)
        cli_usage_error("eval", "%s does not record its dataset: say which data with --data or -c",
                        path);
    snprintf(cd->dataset, sizeof cd->dataset, "%s", name);
    if (dir)
        snprintf(cd->dir, sizeof cd->dir, "%s", dir);
    else
        snprintf(cd->dir, sizeof cd->dir, "data/%s", name);
    *test_flip = flip && strcmp(flip, "true") == 0;
}

static int eval_iotc(const eval_opts *opts)
{
    eval_opts o = *opts;
    nn_error err = {{0}};
    iotc_model *f = malloc(sizeof *f);
    if (!f) {
        nn_errorf(&err, NN_ERR_NOMEM, "out of memory");
        cli_fail("eval", NN_ERR_NOMEM, &err);
    }
    nn_status st = iotc_load(f, o.model, &err);
    if (st != NN_OK)
        cli_fail("eval", st, &err);
    qe_plan *plan;
    if ((st = qe_plan_create(&plan, &f->m, o.batch, parse_isa(o.isa), &err)) != NN_OK) {
        nn_error_prefix(&err, "%s", o.model);
        cli_fail("eval", st, &err);
    }
    cfg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int stored_flip = 0;
    if (o.config) {
        if ((st = cfg_load(&cfg, NULL, o.config, &err)) != NN_OK)
            cli_fail("eval", st, &err);
        stored_flip = cfg.test_flip;
    } else if (!o.data) {
        data_of_iotc(&cfg.data, &stored_flip, f, o.model);
    }
    if (o.test_flip < 0)
        o.test_flip = stored_flip;

    ds_dataset test = {0};
    if ((st = data_load_eval(&test, o.data, &cfg.data, &err)) != NN_OK)
        cli_fail("eval", st, &err);
    ds_limit(&test, o.limit);
    const qm_model *m = &f->m;
    if (test.c != m->in_c || test.h != m->in_h || test.w != m->in_w) {
        nn_errorf(&err, NN_ERR_ARG, "the evaluation data images are %dx%dx%d but %s expects %dx%dx%d",
                  test.c, test.h, test.w, o.model, m->in_c, m->in_h, m->in_w);
        cli_fail("eval", NN_ERR_ARG, &err);
    }
    if (test.num_classes > m->num_classes) {
        nn_errorf(&err, NN_ERR_ARG, "the evaluation data has %d classes but %s only %d",
                  test.num_classes, o.model, m->num_classes);
        cli_fail("eval", NN_ERR_ARG, &err);
    }
    nn_images img = data_images(&test);
    nn_eval_result r;
    st = qe_evaluate(plan, &img, &(nn_eval_config){o.batch, o.threads, o.test_flip}, &r, &err);
    if (st != NN_OK)
        cli_fail("eval", st, &err);
    char engine[32];
    snprintf(engine, sizeof engine, "int8 %s", qe_isa_name(qe_plan_isa(plan)));
    report(&r, &(eval_model){o.model, f->file_bytes, engine}, &o);
    nn_eval_result_free(&r);
    qe_plan_free(plan);
    iotc_free(f);
    free(f);
    ds_free(&test);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    parse_opts(&o, argc, argv);
    if (is_iotc_file(o.model))
        return eval_iotc(&o);
    if (o.isa)
        cli_usage_error("eval", "--isa applies to .iotc models only; %s is a checkpoint", o.model);
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
    report(&r, &(eval_model){o.model, ck.file_bytes, "float"}, &o);
    nn_eval_result_free(&r);
    nn_checkpoint_free(&ck);
    ds_free(&test);
    return 0;
}
