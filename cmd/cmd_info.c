/* iotcnn info: what a model file holds (float .ckpt or int8 .iotc). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pl_describe.h"
#include "cli.h"
#include "commands.h"
#include "qreport.h"

typedef struct {
    const char *model;
    int json;
} info_opts;

static const cli_option options[] = {
    CLI_OPT_MODEL(info_opts, "the file to describe (the format is read from its\nfirst bytes, "
                             "not its name)"),
    CLI_OPT_JSON(info_opts),
};

const cli_command cmd_info_def = {
    "info",
    "describe a model file (.ckpt or .iotc): layers, sizes, MACs",
    "-m MODEL [--json]",
    "Describes a float checkpoint (.ckpt) or a quantized model (.iotc): per\n"
    "layer the type, shapes, parameters, non-zero parameters, sparsity and\n"
    "MACs (and for .iotc the weight bits, encoding and bytes); the bytes of\n"
    "each file section; totals, and the activation memory of one inference.\n",
    options,
    CLI_N_OPTS(options),
    NULL,
    NULL,
};

/* "class_names": [...] and where they came from, when the model has any. */
static void classes_json(cJSON *j, const pl_description *d)
{
    if (d->classes.n == 0)
        return;
    cJSON *a = cJSON_AddArrayToObject(j, "class_names");
    for (int k = 0; k < d->classes.n; k++)
        cJSON_AddItemToArray(a, cJSON_CreateString(d->classes.name[k]));
    cJSON_AddStringToObject(j, "class_names_source",
                            d->classes_source == PL_CLASSES_STORED ? "stored" : "dataset");
}

/* "classes: a, b, c" (or "(the data set's standard names)" for an old file). */
static void classes_line(const pl_description *d)
{
    if (d->classes.n == 0)
        return;
    printf("classes%s:", d->classes_source == PL_CLASSES_STORED ? "" : " (the data set's, not stored)");
    for (int k = 0; k < d->classes.n; k++)
        printf("%s %s", k ? "," : "", d->classes.name[k]);
    printf("\n");
}

static void iotc_json(const char *path, const pl_description *d)
{
    const iotc_model *f = d->iotc;
    const qm_model *m = &f->m;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", path);
    cJSON_AddStringToObject(j, "format", "iotc");
    cJSON_AddNumberToObject(j, "version", IOTC_VERSION);
    int in[3] = {m->in_c, m->in_h, m->in_w};
    cJSON_AddItemToObject(j, "input_shape_chw", cJSON_CreateIntArray(in, 3));
    cJSON_AddNumberToObject(j, "num_classes", m->num_classes);
    classes_json(j, d);
    qreport_add_totals(j, &d->totals);
    cJSON *meta = cJSON_AddObjectToObject(j, "metadata");
    for (int i = 0; i < f->n_meta; i++)
        cJSON_AddStringToObject(meta, f->meta_key[i], f->meta_value[i]);
    cJSON_AddItemToObject(j, "layers", qreport_layers_json(f));
    cJSON_AddItemToObject(j, "sections", qreport_sections_json(f->sections, f->n_sections));
    cli_print_json(j);
}

static void iotc_table(const char *path, const pl_description *d)
{
    const iotc_model *f = d->iotc;
    const qm_model *m = &f->m;
    const pl_iotc_totals *t = &d->totals;
    printf("%s: quantized model (.iotc version %d), input %dx%dx%d (CHW), %d classes\n", path,
           IOTC_VERSION, m->in_c, m->in_h, m->in_w, m->num_classes);
    classes_line(d);
    for (int i = 0; i < f->n_meta; i++)
        printf("  %s: %s\n", f->meta_key[i], f->meta_value[i]);
    qreport_print(stdout, f);
    printf("parameters %llu (%llu non-zero, sparsity %.2f%%)  %llu MACs  runtime arena "
           "%llu bytes (%s image, %s)  file %llu bytes\n",
           (unsigned long long)t->parameters, (unsigned long long)t->nonzero,
           t->parameters ? 100.0 * (1.0 - (double)t->nonzero / (double)t->parameters) : 0.0,
           (unsigned long long)t->macs, (unsigned long long)t->arena_bytes, t->arena_target,
           t->arena_isa, (unsigned long long)t->file_bytes);
}

static size_t layer_params(const nn_model *m, int i) { return m->nodes[i].w.n + m->nodes[i].b.n; }

static void ckpt_json(const char *path, const pl_description *d)
{
    const ckpt_file *ck = &d->ckpt;
    const nn_model *m = &ck->model;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", path);
    cJSON_AddStringToObject(j, "format", "ckpt");
    cJSON_AddNumberToObject(j, "version", d->version);
    int in[3] = {m->spec.in_c, m->spec.in_h, m->spec.in_w};
    cJSON_AddItemToObject(j, "input_shape_chw", cJSON_CreateIntArray(in, 3));
    cJSON_AddNumberToObject(j, "num_classes", m->spec.num_classes);
    classes_json(j, d);
    cJSON_AddNumberToObject(j, "parameters", (double)m->n_params);
    cJSON_AddNumberToObject(j, "nonzero_parameters", (double)d->nonzero);
    cJSON_AddNumberToObject(j, "file_bytes", (double)ck->file_bytes);
    cJSON_AddNumberToObject(j, "macs", (double)d->macs);
    cJSON_AddNumberToObject(j, "arena_bytes", (double)d->arena_bytes);
    if (ck->has_train)
        cJSON_AddNumberToObject(j, "epochs_done", ck->train.epochs_done);
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        size_t np = layer_params(m, i);
        uint64_t nz = d->layer_nonzero[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", i);
        cJSON_AddStringToObject(o, "type", nn_layer_type_name(nd->spec.type));
        cJSON_AddStringToObject(o, "name", nd->spec.name);
        int shape[3] = {nd->out_c, nd->out_h, nd->out_w};
        cJSON_AddItemToObject(o, "output_shape_chw", cJSON_CreateIntArray(shape, 3));
        cJSON_AddNumberToObject(o, "parameters", (double)np);
        cJSON_AddNumberToObject(o, "nonzero_parameters", (double)nz);
        cJSON_AddNumberToObject(o, "sparsity", np ? 1.0 - (double)nz / (double)np : 0.0);
        cJSON_AddNumberToObject(o, "macs", (double)nd->macs);
        cJSON_AddItemToArray(layers, o);
    }
    cJSON_AddItemToObject(j, "sections", qreport_sections_json(d->ckpt.sections, d->ckpt.n_sections));
    cli_print_json(j);
}

static void ckpt_layer_row(const nn_model *m, int i, uint64_t nz)
{
    const nn_node *nd = &m->nodes[i];
    size_t np = layer_params(m, i);
    char shape[48];
    snprintf(shape, sizeof shape, "%dx%dx%d", nd->out_c, nd->out_h, nd->out_w);
    printf("%3d  %-16s %-10s %-16s %9zu %9llu", i, nn_layer_type_name(nd->spec.type),
           nd->spec.name[0] ? nd->spec.name : "-", shape, np, (unsigned long long)nz);
    if (np)
        printf(" %7.2f%%", 100.0 * (1.0 - (double)nz / (double)np));
    else
        printf(" %8s", "-");
    printf(" %11llu\n", (unsigned long long)nd->macs);
}

static void ckpt_table(const char *path, const pl_description *d)
{
    const ckpt_file *ck = &d->ckpt;
    const nn_model *m = &ck->model;
    printf("%s: float checkpoint (version %lu), input %dx%dx%d (CHW), %d classes", path,
           (unsigned long)d->version, m->spec.in_c, m->spec.in_h, m->spec.in_w,
           m->spec.num_classes);
    if (ck->has_train)
        printf(", %d/%d epochs trained", ck->train.epochs_done, ck->train.total_epochs);
    printf("\n");
    classes_line(d);
    printf("%3s  %-16s %-10s %-16s %9s %9s %8s %11s\n", "#", "type", "name", "output (CHW)",
           "params", "nonzero", "sparsity", "MACs");
    for (int i = 0; i < m->n_nodes; i++)
        ckpt_layer_row(m, i, d->layer_nonzero[i]);
    printf("sections:");
    for (int s = 0; s < d->ckpt.n_sections; s++)
        printf(" %s %llu", d->ckpt.sections[s].tag, (unsigned long long)d->ckpt.sections[s].bytes);
    printf(" (+16 header) = %llu bytes\n", (unsigned long long)ck->file_bytes);
    printf("parameters %zu (%llu non-zero, sparsity %.2f%%, %zu bytes as float)  %llu MACs  "
           "activation arena %llu bytes (float, batch 1)\n",
           m->n_params, (unsigned long long)d->nonzero,
           m->n_params ? 100.0 * (1.0 - (double)d->nonzero / (double)m->n_params) : 0.0,
           m->n_params * 4, (unsigned long long)d->macs, (unsigned long long)d->arena_bytes);
}

int cmd_info(int argc, char **argv)
{
    info_opts o = {0};
    cli_parse(&cmd_info_def, &o, argc, argv, NULL, 0, NULL);
    if (!o.model)
        cli_usage_error("info", "a model is required (-m MODEL)");
    nn_error err = {{0}};
    pl_description *d = malloc(sizeof *d);
    if (!d)
        cli_fail("info", nn_errorf(&err, NN_ERR_NOMEM, "out of memory"), &err);
    nn_status st = pl_describe(o.model, d, &err);
    if (st != NN_OK)
        cli_fail("info", st, &err);
    if (d->kind == PL_MODEL_IOTC)
        (o.json ? iotc_json : iotc_table)(o.model, d);
    else
        (o.json ? ckpt_json : ckpt_table)(o.model, d);
    pl_description_free(d);
    free(d);
    return 0;
}
