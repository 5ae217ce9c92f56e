/* iotcnn info: what a model file holds (float .ckpt or int8 .iotc). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "quantize/mstats.h"
#include "libnn/nn_checkpoint.h"
#include "libnn/nn_io.h"
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

static const char CKPT_MAGIC[] = "IOTCNNCK";

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
        cli_print_json(j);
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

/* What info says of a checkpoint: the file's sections and the totals. */
typedef struct {
    const char *path;
    const nn_checkpoint *ck;
    uint32_t version;
    iotc_section secs[64];
    int n_secs;
    uint64_t nonzero, macs, arena;
} ckpt_info;

/* Parameters and non-zero parameters of layer i. */
static void layer_counts(const nn_model *m, int i, size_t *np, uint64_t *nz)
{
    const nn_node *nd = &m->nodes[i];
    *np = nd->w.n + nd->b.n;
    *nz = ms_count_nonzero(m->params + nd->w.off, nd->w.n) +
          ms_count_nonzero(m->params + nd->b.off, nd->b.n);
}

static void ckpt_json(const ckpt_info *c)
{
    const nn_model *m = &c->ck->model;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", c->path);
    cJSON_AddStringToObject(j, "format", "ckpt");
    cJSON_AddNumberToObject(j, "version", c->version);
    int in[3] = {m->spec.in_c, m->spec.in_h, m->spec.in_w};
    cJSON_AddItemToObject(j, "input_shape_chw", cJSON_CreateIntArray(in, 3));
    cJSON_AddNumberToObject(j, "num_classes", m->spec.num_classes);
    cJSON_AddNumberToObject(j, "parameters", (double)m->n_params);
    cJSON_AddNumberToObject(j, "nonzero_parameters", (double)c->nonzero);
    cJSON_AddNumberToObject(j, "file_bytes", (double)c->ck->file_bytes);
    cJSON_AddNumberToObject(j, "macs", (double)c->macs);
    cJSON_AddNumberToObject(j, "arena_bytes", (double)c->arena);
    if (c->ck->has_train)
        cJSON_AddNumberToObject(j, "epochs_done", c->ck->train.epochs_done);
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        size_t np;
        uint64_t nz;
        layer_counts(m, i, &np, &nz);
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
    cJSON_AddItemToObject(j, "sections", qreport_sections_json(c->secs, c->n_secs));
    cli_print_json(j);
}

static void ckpt_table(const ckpt_info *c)
{
    const nn_model *m = &c->ck->model;
    printf("%s: float checkpoint (version %lu), input %dx%dx%d (CHW), %d classes", c->path,
           (unsigned long)c->version, m->spec.in_c, m->spec.in_h, m->spec.in_w,
           m->spec.num_classes);
    if (c->ck->has_train)
        printf(", %d/%d epochs trained", c->ck->train.epochs_done, c->ck->train.total_epochs);
    printf("\n%3s  %-14s %-10s %-16s %9s %9s %8s %11s\n", "#", "type", "name", "output (CHW)",
           "params", "nonzero", "sparsity", "MACs");
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        size_t np;
        uint64_t nz;
        layer_counts(m, i, &np, &nz);
        char shape[48];
        snprintf(shape, sizeof shape, "%dx%dx%d", nd->out_c, nd->out_h, nd->out_w);
        printf("%3d  %-14s %-10s %-16s %9zu %9llu", i, nn_layer_type_name(nd->spec.type),
               nd->spec.name[0] ? nd->spec.name : "-", shape, np, (unsigned long long)nz);
        if (np)
            printf(" %7.2f%%", 100.0 * (1.0 - (double)nz / (double)np));
        else
            printf(" %8s", "-");
        printf(" %11llu\n", (unsigned long long)nd->macs);
    }
    printf("sections:");
    for (int s = 0; s < c->n_secs; s++)
        printf(" %s %llu", c->secs[s].tag, (unsigned long long)c->secs[s].bytes);
    printf(" (+16 header) = %llu bytes\n", (unsigned long long)c->ck->file_bytes);
    printf("parameters %zu (%llu non-zero, sparsity %.2f%%, %zu bytes as float)  %llu MACs  "
           "activation arena %llu bytes (float, batch 1)\n",
           m->n_params, (unsigned long long)c->nonzero,
           m->n_params ? 100.0 * (1.0 - (double)c->nonzero / (double)m->n_params) : 0.0,
           m->n_params * 4, (unsigned long long)c->macs, (unsigned long long)c->arena);
}

static int info_ckpt(const char *path, const uint8_t *data, size_t len, int json)
{
    nn_error err = {{0}};
    nn_checkpoint ck;
    nn_status st = nn_checkpoint_load(&ck, path, &err);
    if (st != NN_OK)
        cli_fail("info", st, &err);
    ckpt_info *c = calloc(1, sizeof *c);
    if (!c)
        cli_fail("info", nn_errorf(&err, NN_ERR_NOMEM, "out of memory"), &err);
    c->path = path;
    c->ck = &ck;
    if ((st = iotc_scan_sections(data, len, path, CKPT_MAGIC, &c->version, c->secs, 64,
                                 &c->n_secs, &err)) != NN_OK)
        cli_fail("info", st, &err);
    const nn_model *m = &ck.model;
    c->nonzero = ms_count_nonzero(m->params, m->n_params);
    c->macs = nn_model_macs(m);
    c->arena = ms_float_activation_bytes(m);
    if (json)
        ckpt_json(c);
    else
        ckpt_table(c);
    free(c);
    nn_checkpoint_free(&ck);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    info_opts o = {0};
    cli_parse(&cmd_info_def, &o, argc, argv, NULL, 0, NULL);
    if (!o.model)
        cli_usage_error("info", "a model is required (-m MODEL)");
    const char *path = o.model;
    int json = o.json;
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
