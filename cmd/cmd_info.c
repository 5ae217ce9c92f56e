/* iotcnn info: what a model file holds (float .ckpt or int8 .iotc). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/ckpt.h"
#include "format/iotc.h"
#include "libnn/nn_io.h"
#include "quantize/mstats.h"
#include "cli.h"
#include "commands.h"
#include "qreport.h"

static const char usage[] =
    "Usage: iotcnn info -m MODEL [--json]\n"
    "\n"
    "Describes a float checkpoint (.ckpt) or a quantized model (.iotc): per\n"
    "layer the type, shapes, parameters, non-zero parameters, sparsity and\n"
    "MACs (and for .iotc the weight bits, encoding and bytes); the bytes of\n"
    "each file section; totals, and the activation memory of one inference.\n"
    "\n"
    "  -m, --model MODEL  the file to describe (the format is read from its\n"
    "                     first bytes, not its name)\n"
    "      --json         print one JSON object as the last stdout line\n" CLI_EXIT_HELP;

static void parse_opts(const char **model, int *json, int argc, char **argv)
{
    *model = NULL, *json = 0;
    cli_args a;
    cli_args_init(&a, "info", argc, argv);
    const char *arg;
    while ((arg = cli_next(&a))) {
        if (cli_flag(arg, "-h", "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (cli_opt(&a, arg, "-m", "--model")) {
            *model = a.value;
        } else if (cli_flag(arg, NULL, "--json")) {
            *json = 1;
        } else {
            cli_usage_error("info", "unknown argument '%s'", arg);
        }
    }
    if (!*model)
        cli_usage_error("info", "a model is required (-m MODEL)");
}

static void print_json(cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

static int info_iotc(const char *path, const uint8_t *data, size_t len, int json)
{
    iotc_model *f = malloc(sizeof *f);
    nn_error err = {{0}};
    if (!f) {
        nn_errorf(&err, NN_ERR_NOMEM, "out of memory");
        cli_fail("info", NN_ERR_NOMEM, &err);
    }
    nn_status st = iotc_decode(f, data, len, path, &err);
    if (st != NN_OK)
        cli_fail("info", st, &err);
    qreport_totals t;
    if ((st = qreport_totals_of(f, &t, &err)) != NN_OK)
        cli_fail("info", st, &err);
    const qm_model *m = &f->m;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", path);
        cJSON_AddStringToObject(j, "format", "iotc");
        cJSON_AddNumberToObject(j, "version", IOTC_VERSION);
        int in[3] = {m->in_c, m->in_h, m->in_w};
        cJSON_AddItemToObject(j, "input_shape_chw", cJSON_CreateIntArray(in, 3));
        cJSON_AddNumberToObject(j, "num_classes", m->num_classes);
        qreport_add_totals(j, &t);
        cJSON *meta = cJSON_AddObjectToObject(j, "metadata");
        for (int i = 0; i < f->n_meta; i++)
            cJSON_AddStringToObject(meta, f->meta_key[i], f->meta_value[i]);
        cJSON_AddItemToObject(j, "layers", qreport_layers_json(f));
        cJSON_AddItemToObject(j, "sections", qreport_sections_json(f->sections, f->n_sections));
        print_json(j);
    } else {
        printf("%s: quantized model (.iotc version %d), input %dx%dx%d (CHW), %d classes\n", path,
               IOTC_VERSION, m->in_c, m->in_h, m->in_w, m->num_classes);
        for (int i = 0; i < f->n_meta; i++)
            printf("  %s: %s\n", f->meta_key[i], f->meta_value[i]);
        qreport_print(stdout, f);
        printf("parameters %llu (%llu non-zero, sparsity %.2f%%)  %llu MACs  runtime arena "
               "%llu bytes (%s image, %s)  file %llu bytes\n",
               (unsigned long long)t.parameters, (unsigned long long)t.nonzero,
               t.parameters ? 100.0 * (1.0 - (double)t.nonzero / (double)t.parameters) : 0.0,
               (unsigned long long)t.macs, (unsigned long long)t.arena_bytes, t.arena_target,
               t.arena_isa, (unsigned long long)t.file_bytes);
    }
    iotc_free(f);
    free(f);
    return 0;
}

static int info_ckpt(const char *path, const uint8_t *data, size_t len, int json)
{
    nn_error err = {{0}};
    ckpt_file ck;
    nn_status st = ckpt_decode(&ck, data, len, path, &err);
    if (st != NN_OK)
        cli_fail("info", st, &err);
    const ctr_section *secs = ck.sections;
    int n_secs = ck.n_sections;
    uint32_t version = CKPT_VERSION;
    const nn_model *m = &ck.model;
    uint64_t nonzero = ms_count_nonzero(m->params, m->n_params);
    uint64_t macs = nn_model_macs(m), arena = ms_float_activation_bytes(m);
    cJSON *j = NULL, *layers = NULL;
    if (json) {
        j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", path);
        cJSON_AddStringToObject(j, "format", "ckpt");
        cJSON_AddNumberToObject(j, "version", version);
        int in[3] = {m->spec.in_c, m->spec.in_h, m->spec.in_w};
        cJSON_AddItemToObject(j, "input_shape_chw", cJSON_CreateIntArray(in, 3));
        cJSON_AddNumberToObject(j, "num_classes", m->spec.num_classes);
        cJSON_AddNumberToObject(j, "parameters", (double)m->n_params);
        cJSON_AddNumberToObject(j, "nonzero_parameters", (double)nonzero);
        cJSON_AddNumberToObject(j, "file_bytes", (double)ck.file_bytes);
        cJSON_AddNumberToObject(j, "macs", (double)macs);
        cJSON_AddNumberToObject(j, "arena_bytes", (double)arena);
        if (ck.has_train)
            cJSON_AddNumberToObject(j, "epochs_done", ck.train.epochs_done);
        layers = cJSON_AddArrayToObject(j, "layers");
    } else {
        printf("%s: float checkpoint (version %lu), input %dx%dx%d (CHW), %d classes", path,
               (unsigned long)version, m->spec.in_c, m->spec.in_h, m->spec.in_w,
               m->spec.num_classes);
        if (ck.has_train)
            printf(", %d/%d epochs trained", ck.train.epochs_done, ck.train.total_epochs);
        printf("\n%3s  %-14s %-10s %-16s %9s %9s %8s %11s\n", "#", "type", "name", "output (CHW)",
               "params", "nonzero", "sparsity", "MACs");
    }
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        size_t np = nd->w.n + nd->b.n;
        uint64_t nz = ms_count_nonzero(m->params + nd->w.off, nd->w.n) +
                      ms_count_nonzero(m->params + nd->b.off, nd->b.n);
        double sparsity = np ? 1.0 - (double)nz / (double)np : 0.0;
        const char *type = nn_layer_type_name(nd->spec.type);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "layer", i);
            cJSON_AddStringToObject(o, "type", type);
            cJSON_AddStringToObject(o, "name", nd->spec.name);
            int shape[3] = {nd->out_c, nd->out_h, nd->out_w};
            cJSON_AddItemToObject(o, "output_shape_chw", cJSON_CreateIntArray(shape, 3));
            cJSON_AddNumberToObject(o, "parameters", (double)np);
            cJSON_AddNumberToObject(o, "nonzero_parameters", (double)nz);
            cJSON_AddNumberToObject(o, "sparsity", sparsity);
            cJSON_AddNumberToObject(o, "macs", (double)nd->macs);
            cJSON_AddItemToArray(layers, o);
        } else {
            char shape[48];
            snprintf(shape, sizeof shape, "%dx%dx%d", nd->out_c, nd->out_h, nd->out_w);
            printf("%3d  %-14s %-10s %-16s %9zu %9llu", i, type,
                   nd->spec.name[0] ? nd->spec.name : "-", shape, np, (unsigned long long)nz);
            if (np)
                printf(" %7.2f%%", 100.0 * sparsity);
            else
                printf(" %8s", "-");
            printf(" %11llu\n", (unsigned long long)nd->macs);
        }
    }
    if (json) {
        cJSON_AddItemToObject(j, "sections", qreport_sections_json(secs, n_secs));
        print_json(j);
    } else {
        printf("sections:");
        for (int s = 0; s < n_secs; s++)
            printf(" %s %llu", secs[s].tag, (unsigned long long)secs[s].bytes);
        printf(" (+16 header) = %llu bytes\n", (unsigned long long)ck.file_bytes);
        printf("parameters %zu (%llu non-zero, sparsity %.2f%%, %zu bytes as float)  %llu MACs  "
               "activation arena %llu bytes (float, batch 1)\n",
               m->n_params, (unsigned long long)nonzero,
               m->n_params ? 100.0 * (1.0 - (double)nonzero / (double)m->n_params) : 0.0,
               m->n_params * 4, (unsigned long long)macs, (unsigned long long)arena);
    }
    ckpt_free(&ck);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    const char *path;
    int json;
    parse_opts(&path, &json, argc, argv);
    nn_error err = {{0}};
    uint8_t *data;
    size_t len;
    /* The format from the magic; each loader then validates the whole file. */
    nn_status st = nn_read_file(path, &data, &len, (uint64_t)1 << 36, &err);
    if (st != NN_OK)
        cli_fail("info", st, &err);
    int rc;
    if (len >= 8 && memcmp(data, IOTC_MAGIC, 8) == 0) {
        rc = info_iotc(path, data, len, json);
    } else if (len >= 8 && memcmp(data, CKPT_MAGIC, 8) == 0) {
        rc = info_ckpt(path, data, len, json);
    } else {
        free(data);
        nn_errorf(&err, NN_ERR_FORMAT,
                  "%s: offset 0: not an iotcnn model (expected the magic \"%s\" of a .iotc file "
                  "or \"%s\" of a checkpoint)",
                  path, IOTC_MAGIC, CKPT_MAGIC);
        cli_fail("info", NN_ERR_FORMAT, &err);
    }
    free(data);
    return rc;
}
