/* iotcnn quantize: float checkpoint -> int8 .iotc model; the work is
 * pipeline/pl_quantize, the per-layer report qreport. */
#include <stdio.h>

#include "pipeline/pl_quantize.h"
#include "cli.h"
#include "commands.h"
#include "progress.h"
#include "qreport.h"

typedef struct {
    const char *model, *output, *config;
    int eval, limit, threads, json;
    int qat_epochs; /* -1: quantize.qat.epochs of the config */
} quantize_opts;

static const cli_option options[] = {
    CLI_OPT_MODEL(quantize_opts, "checkpoint written by iotcnn train"),
    CLI_OPT_OUTPUT(quantize_opts, "FILE", ".iotc file to write (atomically)"),
    CLI_OPT_CONFIG(quantize_opts, "take the data and quantize blocks from this config"),
    {"eval", 0, CLI_FLAG, offsetof(quantize_opts, eval), NULL,
     "also measure float and int8 (integer engine) accuracy\non the test set, with the config's "
     "test-time flip",
     NULL, 0, 0, 0, 0, 1, NULL},
    CLI_OPT_LIMIT(quantize_opts, "--eval uses only the first N test images"),
    {"qat-epochs", 0, CLI_INT, offsetof(quantize_opts, qat_epochs), "N",
     "quantization-aware fine-tuning epochs (overrides\nquantize.qat.epochs; 0: none)", NULL, 0,
     100000, 0, 0, 0, NULL},
    CLI_OPT_THREADS(quantize_opts),
    CLI_OPT_JSON(quantize_opts),
};

const cli_command cmd_quantize_def = {
    "quantize",
    "convert a float checkpoint into an int8 .iotc model",
    "-m MODEL.ckpt -o OUT.iotc [-c CONFIG] [--eval] [--limit N]\n"
    "                       [--qat-epochs N] [--threads T] [--json]",
    "Converts a float checkpoint into an int8 model file: batch norm folded,\n"
    "ReLU fused, weights 8 or 4 bits per output channel, activations calibrated\n"
    "on training images, each layer's weights stored in its most compact\n"
    "encoding. The config's `quantize` block (docs/config.md) sets the method,\n"
    "calibration images and bits; CONFIG defaults to the config stored in MODEL.\n"
    "With quantize.qat, the model first fine-tunes on the training data with its\n"
    "weights on their int8 grid (quantization-aware training).\n",
    options,
    CLI_N_OPTS(options),
    NULL,
    NULL,
};

static double ratio_of(const pl_quantize_result *r, const pl_iotc_totals *t)
{
    return t->file_bytes ? (double)r->float_bytes / (double)t->file_bytes : 0.0;
}

static void print_json(const quantize_opts *o, const pl_quantize_result *r,
                       const pl_iotc_totals *tot, double secs)
{
    const qz_config *qz = &r->cfg;
    int n = r->test_images;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->model);
    cJSON_AddStringToObject(j, "output", o->output);
    cJSON_AddStringToObject(j, "method", qz_method_name(qz->method));
    cJSON_AddNumberToObject(j, "calibration_images", r->n_cal);
    cJSON_AddNumberToObject(j, "weight_bits", qz->weight_bits);
    cJSON_AddBoolToObject(j, "auto_bits", qz->auto_bits);
    cJSON_AddNumberToObject(j, "qat_epochs", r->qat_epochs);
    if (qz->auto_bits) {
        cJSON_AddNumberToObject(j, "auto_images", r->n_val > 0 ? r->n_val : r->n_cal);
        cJSON_AddNumberToObject(j, "auto_accuracy_8bit", r->qz->acc8);
        cJSON_AddNumberToObject(j, "auto_accuracy", r->qz->acc_auto);
    }
    qreport_add_totals(j, tot);
    cJSON_AddNumberToObject(j, "float_weight_bytes", (double)r->float_bytes);
    cJSON_AddNumberToObject(j, "compression", ratio_of(r, tot));
    if (r->eval) {
        cJSON_AddNumberToObject(j, "test_images", n);
        cJSON_AddBoolToObject(j, "test_flip", r->test_flip);
        cJSON_AddNumberToObject(j, "float_accuracy", n ? (double)r->float_correct / n : 0);
        cJSON_AddNumberToObject(j, "int8_accuracy", n ? (double)r->int8_correct / n : 0);
        if (r->has_fake)
            cJSON_AddNumberToObject(j, "fake_quant_accuracy",
                                    n ? (double)r->fake_correct / n : 0);
    }
    cJSON_AddNumberToObject(j, "seconds", secs);
    cJSON_AddItemToObject(j, "layers", qreport_layers_json(r->file));
    cJSON_AddItemToObject(j, "sections",
                          qreport_sections_json(r->file->sections, r->file->n_sections));
    cli_print_json(j);
}

static const char *flip_note(const pl_quantize_result *r)
{
    return r->test_flip ? " (with test-time flip)" : "";
}

static void print_table(const quantize_opts *o, const pl_quantize_result *r,
                        const pl_iotc_totals *tot, double secs)
{
    const qz_config *qz = &r->cfg;
    int n = r->test_images;
    printf("%s -> %s: %d ops, %s calibration on %d images, %s weights\n", o->model, o->output,
           r->file->m.n_ops, qz_method_name(qz->method), r->n_cal,
           qz->auto_bits          ? "8- or 4-bit (auto)"
           : qz->weight_bits == 8 ? "8-bit"
                                  : "4-bit");
    qreport_print(stdout, r->file);
    printf("parameters %llu (%llu non-zero)  %llu MACs  runtime arena %llu bytes (%s image, "
           "%s)\n",
           (unsigned long long)tot->parameters, (unsigned long long)tot->nonzero,
           (unsigned long long)tot->macs, (unsigned long long)tot->arena_bytes, tot->arena_target,
           tot->arena_isa);
    printf("file %llu bytes, %.1fx smaller than the %llu bytes of float parameters  (%.1f s)\n",
           (unsigned long long)tot->file_bytes, ratio_of(r, tot),
           (unsigned long long)r->float_bytes, secs);
    if (r->eval && r->has_fake)
        printf("test accuracy on %d images: float (after QAT) %.2f%%, fake-quantized %.2f%%, "
               "int8 %.2f%%%s\n",
               n, 100.0 * r->float_correct / (n ? n : 1), 100.0 * r->fake_correct / (n ? n : 1),
               100.0 * r->int8_correct / (n ? n : 1), flip_note(r));
    else if (r->eval)
        printf("test accuracy on %d images: %s %.2f%%, int8 %.2f%%%s\n", n,
               r->qat_epochs ? "float (after QAT)" : "float", 100.0 * r->float_correct / (n ? n : 1),
               100.0 * r->int8_correct / (n ? n : 1), flip_note(r));
}

int cmd_quantize(int argc, char **argv)
{
    quantize_opts o = {.threads = cli_default_threads(), .qat_epochs = -1};
    cli_parse(&cmd_quantize_def, &o, argc, argv, NULL, 0, NULL);
    if (!o.model || !o.output)
        cli_usage_error("quantize", "a model (-m) and an output file (-o) are required");
    double t0 = cli_now();
    progress prog;
    pl_progress rep = progress_start(&prog, "quantize");
    pl_quantize_opts po = {o.model, o.output,  o.config,
                           o.eval,  o.limit,   o.threads,
                           o.qat_epochs < 0 ? 0 : o.qat_epochs > 0 ? o.qat_epochs : -1};
    pl_quantize_result r;
    nn_error err = {{0}};
    nn_status st = pl_quantize(&po, &rep, &r, &err);
    progress_done(&prog, st, &err);
    double secs = cli_now() - t0;
    if (o.json)
        print_json(&o, &r, &r.totals, secs);
    else
        print_table(&o, &r, &r.totals, secs);
    pl_quantize_result_free(&r);
    return 0;
}
