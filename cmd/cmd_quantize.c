/* iotcnn quantize: float checkpoint -> int8 .iotc model. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/rt_host.h"
#include "format/ckpt.h"
#include "format/iotc.h"
#include "libnn/nn_train.h"
#include "quantize/quantize.h"
#include "cli.h"
#include "commands.h"
#include "data.h"
#include "qreport.h"

static const char usage[] =
    "Usage: iotcnn quantize -m MODEL.ckpt -o OUT.iotc [-c CONFIG] [--eval] [--limit N]\n"
    "                       [--threads T] [--json]\n"
    "\n"
    "Converts a float checkpoint into an int8 model file: batch norm folded,\n"
    "ReLU fused, weights 8 or 4 bits per output channel, activations calibrated\n"
    "on training images, each layer's weights stored in its most compact\n"
    "encoding. The config's `quantize` block (docs/config.md) sets the method,\n"
    "calibration images and bits; CONFIG defaults to the config stored in MODEL.\n"
    "\n"
    "  -m, --model MODEL    checkpoint written by iotcnn train\n"
    "  -o, --output FILE    .iotc file to write (atomically)\n"
    "  -c, --config CONFIG  take the data and quantize blocks from this config\n"
    "      --eval           also measure float and int8 (integer engine) accuracy\n"
    "                       on the test set\n"
    "      --limit N        --eval uses only the first N test images\n"
    "      --threads T      worker threads (default: all CPUs)\n"
    "      --json           print one JSON summary as the last stdout line\n" CLI_EXIT_HELP;

typedef struct {
    const char *model, *output, *config;
    int eval, limit, threads, json;
} quantize_opts;

static void parse_opts(quantize_opts *o, int argc, char **argv)
{
    *o = (quantize_opts){NULL, NULL, NULL, 0, 0, cli_default_threads(), 0};
    cli_args a;
    cli_args_init(&a, "quantize", argc, argv);
    const char *arg;
    while ((arg = cli_next(&a))) {
        if (cli_flag(arg, "-h", "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (cli_opt(&a, arg, "-m", "--model")) {
            o->model = a.value;
        } else if (cli_opt(&a, arg, "-o", "--output")) {
            o->output = a.value;
        } else if (cli_opt(&a, arg, "-c", "--config")) {
            o->config = a.value;
        } else if (cli_flag(arg, NULL, "--eval")) {
            o->eval = 1;
        } else if (cli_opt(&a, arg, NULL, "--limit")) {
            o->limit = (int)cli_int(&a, "--limit", 1, 1000000000);
        } else if (cli_opt(&a, arg, NULL, "--threads")) {
            o->threads = (int)cli_int(&a, "--threads", 1, 256);
        } else if (cli_flag(arg, NULL, "--json")) {
            o->json = 1;
        } else {
            cli_usage_error("quantize", "unknown argument '%s'", arg);
        }
    }
    if (!o->model || !o->output)
        cli_usage_error("quantize", "a model (-m) and an output file (-o) are required");
}

/* An override in CONFIG must name the same layer in MODEL. */
static void check_overrides(const cfg_config *cfg, const nn_model *m, const char *config)
{
    const qz_config *qz = &cfg->quantize.qz;
    for (int k = 0; k < qz->n_overrides; k++) {
        int L = qz->override_layer[k];
        const nn_layer_spec *a = &cfg->model.layers[L];
        if (L >= m->n_nodes || m->nodes[L].spec.type != a->type ||
            strcmp(m->nodes[L].spec.name, a->name) != 0) {
            nn_error err;
            nn_errorf(&err, NN_ERR_CONFIG,
                      "%s: quantize.layers[%d]: model.layers[%d] of the config is not layer %d "
                      "of the model (different architectures?)",
                      config, k, L, L);
            cli_fail("quantize", NN_ERR_CONFIG, &err);
        }
    }
}

/* Loads the training images for calibration; the validation tail (the
 * config's data.validation) is excluded from train->n but stays in memory
 * after it: *n_val images. */
static void load_calibration(ds_dataset *train, int *n_val, const cfg_config *cfg,
                             const nn_model *m)
{
    nn_error err = {{0}};
    nn_status st = data_load_split(train, &cfg->data, 1, &err);
    if (st != NN_OK)
        cli_fail("quantize", st, &err);
    ds_limit(train, cfg->data.limit);
    *n_val = 0;
    if (cfg->data.validation > 0 && cfg->data.validation < train->n) {
        train->n -= cfg->data.validation;
        *n_val = cfg->data.validation;
    }
    if ((st = data_check_fits(train, m, "the calibration data", &err)) != NN_OK)
        cli_fail("quantize", st, &err);
}

static void set_meta(iotc_model *f, const char *key, const char *value)
{
    nn_error err;
    nn_status st = iotc_set_meta(f, key, value, &err);
    if (st != NN_OK)
        fprintf(stderr, "iotcnn quantize: metadata %s not stored: %s\n", key, err.msg);
}

typedef struct {
    int n, float_correct, int8_correct;
} eval_result;

/* Float (the checkpoint, batch-norm statistics) and int8 (the integer
 * engine) accuracy on the test set, without test-time flip. */
static void evaluate(eval_result *res, nn_model *m, const qm_model *q, const cfg_config *cfg,
                     const quantize_opts *o)
{
    nn_error err = {{0}};
    ds_dataset test = {0};
    nn_status st = data_load_split(&test, &cfg->data, 0, &err);
    if (st == NN_OK) {
        ds_limit(&test, o->limit);
        st = data_check_fits(&test, m, "the test data", &err);
    }
    if (st != NN_OK)
        cli_fail("quantize", st, &err);
    nn_images img = data_images(&test);
    const nn_eval_config ec = {256, o->threads, 0};
    nn_eval_result fr, qr;
    rth_model host;
    if ((st = nn_evaluate(m, &img, &ec, &fr, &err)) != NN_OK)
        nn_error_prefix(&err, "%s", o->model);
    if (st != NN_OK || (st = rth_open(&host, q, RT_ISA_AUTO, &err)) != NN_OK)
        cli_fail("quantize", st, &err);
    if ((st = rth_evaluate(&host, &img, &ec, &qr, &err)) != NN_OK)
        cli_fail("quantize", st, &err);
    res->n = test.n;
    res->float_correct = fr.correct;
    res->int8_correct = qr.correct;
    nn_eval_result_free(&fr);
    nn_eval_result_free(&qr);
    rth_close(&host);
    ds_free(&test);
}

int cmd_quantize(int argc, char **argv)
{
    quantize_opts o;
    parse_opts(&o, argc, argv);
    double t0 = cli_now();
    nn_error err = {{0}};
    ckpt_file ck;
    nn_status st = ckpt_load(&ck, o.model, &err);
    if (st != NN_OK)
        cli_fail("quantize", st, &err);

    cfg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *config_name = o.config;
    char stored[CFG_PATH_MAX + 32];
    if (o.config) {
        st = cfg_load(&cfg, NULL, o.config, &err);
    } else if (ck.config_json) {
        snprintf(stored, sizeof stored, "%s (stored config)", o.model);
        config_name = stored;
        st = cfg_parse(&cfg, ck.config_json, stored, &err);
    } else {
        cli_usage_error("quantize", "%s holds no config: give one with -c", o.model);
    }
    if (st != NN_OK)
        cli_fail("quantize", st, &err);
    check_overrides(&cfg, &ck.model, config_name);
    const qz_config *qz = &cfg.quantize.qz;

    /* Calibration images: drawn from the training split by quantize.seed. */
    ds_dataset train = {0};
    int n_val;
    load_calibration(&train, &n_val, &cfg, &ck.model);
    int n_cal = qz->calibration_images;
    if (n_cal > train.n) {
        fprintf(stderr, "iotcnn quantize: only %d training images: calibrating on all of them\n",
                train.n);
        n_cal = train.n;
    }
    uint32_t *index = malloc((size_t)n_cal * sizeof *index);
    iotc_model *f = malloc(sizeof *f);
    qz_result *res = malloc(sizeof *res);
    if (!index || !f || !res) {
        nn_errorf(&err, NN_ERR_NOMEM, "out of memory");
        cli_fail("quantize", NN_ERR_NOMEM, &err);
    }
    qz_pick_calibration(index, n_cal, train.n, qz->seed);
    qz_data data = {train.images, train.labels, index, n_cal, NULL, NULL, NULL, 0};
    if (n_val > 0) {
        /* auto_bits is judged on the validation split when the config holds
         * one out: training images, which the model may have memorized, hide
         * drops. */
        const size_t img = (size_t)train.c * train.h * train.w;
        data.judge_images = train.images + (size_t)train.n * img;
        data.judge_labels = train.labels + train.n;
        data.n_judge = n_val;
    }
    iotc_init(f);
    if ((st = qz_quantize_model(&f->m, res, &ck.model, qz, &data, o.threads, &err)) != NN_OK) {
        nn_error_prefix(&err, "%s", o.model);
        cli_fail("quantize", st, &err);
    }
    if (qz->auto_bits) {
        int n4 = 0;
        for (int i = 0; i < f->m.n_ops; i++)
            n4 += res->bits[i] == 4;
        fprintf(stderr,
                "iotcnn quantize: weight_bits auto: %d layer%s at 4 bits; simulated accuracy on "
                "the %d %s images %.2f%% -> %.2f%% (allowed drop %g points)\n",
                n4, n4 == 1 ? "" : "s", n_val > 0 ? n_val : n_cal,
                n_val > 0 ? "validation" : "calibration", 100.0 * res->acc8,
                100.0 * res->acc_auto, qz->max_drop);
    }
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        f->mean[c] = ck.model.mean[c], f->std[c] = ck.model.std[c];
    for (int i = 0; i < f->m.n_ops; i++) {
        f->src_layer[i] = res->src_layer[i];
        snprintf(f->name[i], IOTC_NAME_MAX, "%s", ck.model.nodes[res->src_layer[i]].spec.name);
    }
    char num[64];
    set_meta(f, "source", o.model);
    set_meta(f, "dataset", cfg.data.dataset); /* eval's default data */
    set_meta(f, "data_dir", cfg.data.dir);
    set_meta(f, "test_flip", cfg.test_flip ? "true" : "false");
    set_meta(f, "method", qz_method_name(qz->method));
    if (qz->method == QZ_PERCENTILE) {
        snprintf(num, sizeof num, "%.10g", qz->percentile);
        set_meta(f, "percentile", num);
    }
    snprintf(num, sizeof num, "%d", n_cal);
    set_meta(f, "calibration_images", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)qz->seed);
    set_meta(f, "calibration_seed", num);
    snprintf(num, sizeof num, "%d", qz->weight_bits);
    set_meta(f, "weight_bits", qz->auto_bits ? "auto" : num);

    eval_result ev = {0, 0, 0};
    if (o.eval) {
        evaluate(&ev, &ck.model, &f->m, &cfg, &o);
        snprintf(num, sizeof num, "%.6f", ev.n ? (double)ev.float_correct / ev.n : 0.0);
        set_meta(f, "float_accuracy", num);
        snprintf(num, sizeof num, "%.6f", ev.n ? (double)ev.int8_correct / ev.n : 0.0);
        set_meta(f, "int8_accuracy", num);
        snprintf(num, sizeof num, "%d", ev.n);
        set_meta(f, "test_images", num);
    }
    if ((st = iotc_save(o.output, f, &err)) != NN_OK)
        cli_fail("quantize", st, &err);

    qreport_totals tot;
    if ((st = qreport_totals_of(f, &tot, &err)) != NN_OK)
        cli_fail("quantize", st, &err);
    uint64_t float_bytes = (uint64_t)ck.model.n_params * 4u;
    double ratio = tot.file_bytes ? (double)float_bytes / (double)tot.file_bytes : 0.0;
    double secs = cli_now() - t0;
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", o.model);
        cJSON_AddStringToObject(j, "output", o.output);
        cJSON_AddStringToObject(j, "method", qz_method_name(qz->method));
        cJSON_AddNumberToObject(j, "calibration_images", n_cal);
        cJSON_AddNumberToObject(j, "weight_bits", qz->weight_bits);
        cJSON_AddBoolToObject(j, "auto_bits", qz->auto_bits);
        if (qz->auto_bits) {
            cJSON_AddNumberToObject(j, "auto_images", n_val > 0 ? n_val : n_cal);
            cJSON_AddNumberToObject(j, "auto_accuracy_8bit", res->acc8);
            cJSON_AddNumberToObject(j, "auto_accuracy", res->acc_auto);
        }
        qreport_add_totals(j, &tot);
        cJSON_AddNumberToObject(j, "float_weight_bytes", (double)float_bytes);
        cJSON_AddNumberToObject(j, "compression", ratio);
        if (o.eval) {
            cJSON_AddNumberToObject(j, "test_images", ev.n);
            cJSON_AddNumberToObject(j, "float_accuracy",
                                    ev.n ? (double)ev.float_correct / ev.n : 0);
            cJSON_AddNumberToObject(j, "int8_accuracy", ev.n ? (double)ev.int8_correct / ev.n : 0);
        }
        cJSON_AddNumberToObject(j, "seconds", secs);
        cJSON_AddItemToObject(j, "layers", qreport_layers_json(f));
        cJSON_AddItemToObject(j, "sections", qreport_sections_json(f->sections, f->n_sections));
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%s -> %s: %d ops, %s calibration on %d images, %s weights\n", o.model, o.output,
               f->m.n_ops, qz_method_name(qz->method), n_cal,
               qz->auto_bits          ? "8- or 4-bit (auto)"
               : qz->weight_bits == 8 ? "8-bit"
                                      : "4-bit");
        qreport_print(stdout, f);
        printf("parameters %llu (%llu non-zero)  %llu MACs  runtime arena %llu bytes (%s image, "
               "%s)\n",
               (unsigned long long)tot.parameters, (unsigned long long)tot.nonzero,
               (unsigned long long)tot.macs, (unsigned long long)tot.arena_bytes, tot.arena_target,
               tot.arena_isa);
        printf("file %llu bytes, %.1fx smaller than the %llu bytes of float parameters  (%.1f s)\n",
               (unsigned long long)tot.file_bytes, ratio, (unsigned long long)float_bytes, secs);
        if (o.eval)
            printf("test accuracy on %d images: float %.2f%%, int8 %.2f%%\n", ev.n,
                   100.0 * ev.float_correct / (ev.n ? ev.n : 1),
                   100.0 * ev.int8_correct / (ev.n ? ev.n : 1));
    }
    iotc_free(f);
    free(index), free(f), free(res);
    ds_free(&train);
    ckpt_free(&ck);
    return 0;
}
