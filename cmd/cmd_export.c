/* iotcnn export: a .iotc model as a deploy image plus the runtime sources,
 * a folder a firmware project adds to its build; the work is
 * pipeline/pl_export. */
#include <stdio.h>
#include <string.h>

#include "pipeline/pl_export.h"
#include "cli.h"
#include "commands.h"

typedef struct {
    const char *model, *output, *name, *target, *sparse;
    int verify, json;
    long long arena_limit;
} export_opts;

static const cli_option options[] = {
    CLI_OPT_MODEL(export_opts, "a quantized model (.iotc)"),
    {"output", 'o', CLI_PATH, offsetof(export_opts, output), "DIR",
     "the folder to write (created if missing)", NULL, 0, 0, 0, 0, 0, "out"},
    {"name", 0, CLI_STRING, offsetof(export_opts, name), "NAME",
     "C identifier prefix (default: the model's file name)", NULL, 0, 0, 0, 0, 0, NULL},
    {"target", 0, CLI_STRING, offsetof(export_opts, target), "T",
     "cortex-m0plus, cortex-m4, cortex-m7, cortex-m33,\ncortex-m55, x86-64 or generic: which "
     "weight\nlayouts (sparse or dense per layer) and compiler flags",
     "generic", 0, 0, 0, 0, 0, NULL},
    {"sparse", 0, CLI_STRING, offsetof(export_opts, sparse), "P",
     "auto (by each layer's density), never, always", "auto", 0, 0, 0, 0, 0, NULL},
    {"arena-limit", 0, CLI_INT64, offsetof(export_opts, arena_limit), "BYTES",
     "the arena that faster kernels (on Cortex-M4/M7/M33:\nWinograd's, S4 convs widened to S8) may grow it\n"
     "to; 0: no more than the direct kernels need",
     "0", 0, 0x7ffffff8, 0, 0, 0, NULL},
    {"verify", 0, CLI_INT, offsetof(export_opts, verify), "N",
     "random inputs for the check (0: none)", "16", 0, 100000, 0, 0, 0, NULL},
    CLI_OPT_JSON(export_opts),
};

const cli_command cmd_export_def = {
    "export",
    "a .iotc model as C sources for a microcontroller firmware",
    "-m MODEL.iotc -o DIR [--name NAME] [--target T]\n"
    "                     [--sparse auto|never|always] [--arena-limit BYTES]\n"
    "                     [--verify N] [--json]",
    "Writes DIR/NAME.c (the deploy image as an aligned const array), DIR/NAME.h\n"
    "(input shape and quantization, arena size, output meaning), the runtime\n"
    "sources the target needs with an rt_config.h that keeps only the kernels\n"
    "the model uses, and a README with a usage example. Prints image, arena and\n"
    "code bytes, MACs and non-zero MACs. The image is checked first: N random\n"
    "inputs through it must give the bytes of the host's image and of the\n"
    "reference interpreter.\n",
    options,
    CLI_N_OPTS(options),
    NULL,
    NULL,
};

static const char *const OPN[] = {"",        "conv2d",         "dense", "maxpool",
                                   "avgpool", "global_avgpool", "add",   "depthwise"};
static const char *const FMT[] = {"-", "s8", "s4", "sp4", "sp8"};

/* The options as pl_export takes them; exits 2 on a bad value. */
static pl_export_opts check_opts(const export_opts *o)
{
    if (!o->model)
        cli_usage_error("export", "a model is required (-m MODEL.iotc)");
    if (!o->output)
        cli_usage_error("export", "an output folder is required (-o DIR)");
    int target = rtb_target_parse(o->target);
    if (target < 0)
        cli_usage_error("export",
                        "--target: expected cortex-m0plus, cortex-m4, cortex-m7, cortex-m33, "
                        "cortex-m55, x86-64 or generic, got '%s'",
                        o->target);
    rtb_sparse sparse = RTB_SPARSE_AUTO;
    if (strcmp(o->sparse, "never") == 0)
        sparse = RTB_SPARSE_NEVER;
    else if (strcmp(o->sparse, "always") == 0)
        sparse = RTB_SPARSE_ALWAYS;
    else if (strcmp(o->sparse, "auto") != 0)
        cli_usage_error("export", "--sparse: expected auto, never or always, got '%s'", o->sparse);
    return (pl_export_opts){o->model, o->output, o->name, target, sparse, o->verify, o->arena_limit};
}

static void shape(char *dst, size_t n, int h, int w, int c) { snprintf(dst, n, "%dx%dx%d", h, w, c); }

static void print_table(const export_opts *o, const pl_export_result *r)
{
    const rtb_image *img = &r->image;
    printf("%s -> %s/%s.c (target %s)\n", o->model, o->output, r->name, o->target);
    printf(" op  type            shape (HWC in -> out)      format  weights  nonzero  payload"
           "        MACs  nonzero MACs  scratch\n");
    for (int i = 0; i < img->n_ops; i++) {
        const qm_op *op = &r->file->m.ops[i];
        const rtb_op_info *oi = &img->ops[i];
        char si[32], so[32];
        shape(si, sizeof si, op->in_h, op->in_w, op->in_c);
        shape(so, sizeof so, op->out_h, op->out_w, op->out_c);
        /* an add fused into the conv before it has no image op of its own */
        char fmt[16];
        snprintf(fmt, sizeof fmt, "%s%s%s%s", oi->fused && oi->type == QM_ADD ? "fused" : FMT[oi->fmt],
                 oi->widen ? ">8" : "", oi->fused && oi->type != QM_ADD ? "+add" : "",
                 oi->wino ? "*" : "");
        printf("%3d  %-14s  %-10s -> %-10s  %-6s  %7u  %7u  %7u  %10llu  %12llu  %7u\n", i, OPN[oi->type],
               si, so, fmt, oi->n_weights, oi->nnz, oi->w_bytes + oi->q_bytes,
               (unsigned long long)oi->macs, (unsigned long long)oi->nonzero_macs, oi->scratch_bytes);
    }
    printf("image %zu bytes (%d ops; weights %llu), arena %llu bytes (lower bound %llu), code ", img->bytes,
           img->image_ops, (unsigned long long)img->weight_bytes, (unsigned long long)img->arena_bytes,
           (unsigned long long)img->arena_lower_bound);
    if (r->code_bytes >= 0)
        printf("%ld bytes (%s)\n", r->code_bytes, r->code_how);
    else
        printf("%s\n", r->code_how);
    printf("MACs %llu, nonzero MACs %llu\n", (unsigned long long)img->macs,
           (unsigned long long)img->nonzero_macs);
    if (img->widen)
        printf("S4>8: S4 weights widened to S8 in the op's scratch (it fits the arena limit, "
               "--arena-limit)\n");
    if (img->wino)
        printf("*: Winograd F(2x2, 3x3) (its scratch fits the arena limit, --arena-limit)\n");
    if (o->verify)
        printf("checked: %d random inputs, runtime bit-identical with the host int8 engine\n", o->verify);
}

static cJSON *layer_json(const rtb_op_info *oi, int i)
{
    cJSON *l = cJSON_CreateObject();
    cJSON_AddNumberToObject(l, "index", i);
    cJSON_AddStringToObject(l, "type", OPN[oi->type]);
    cJSON_AddStringToObject(l, "format", FMT[oi->fmt]);
    cJSON_AddNumberToObject(l, "weights", oi->n_weights);
    cJSON_AddNumberToObject(l, "nonzero", oi->nnz);
    cJSON_AddNumberToObject(l, "payload_bytes", oi->w_bytes + oi->q_bytes);
    cJSON_AddNumberToObject(l, "macs", (double)oi->macs);
    cJSON_AddNumberToObject(l, "nonzero_macs", (double)oi->nonzero_macs);
    cJSON_AddNumberToObject(l, "scratch_bytes", oi->scratch_bytes);
    cJSON_AddBoolToObject(l, "fused_add", oi->fused);
    cJSON_AddBoolToObject(l, "winograd", oi->wino);
    cJSON_AddBoolToObject(l, "widened", oi->widen);
    return l;
}

static void print_json(const export_opts *o, const pl_export_result *r)
{
    const rtb_image *img = &r->image;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->model);
    cJSON_AddStringToObject(j, "output", o->output);
    cJSON_AddStringToObject(j, "name", r->name);
    cJSON_AddStringToObject(j, "target", o->target);
    cJSON_AddNumberToObject(j, "image_bytes", (double)img->bytes);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)img->weight_bytes);
    cJSON_AddNumberToObject(j, "arena_bytes", (double)img->arena_bytes);
    cJSON_AddNumberToObject(j, "arena_lower_bound", (double)img->arena_lower_bound);
    cJSON_AddNumberToObject(j, "image_ops", img->image_ops);
    if (r->code_bytes >= 0)
        cJSON_AddNumberToObject(j, "code_bytes", (double)r->code_bytes);
    else
        cJSON_AddNullToObject(j, "code_bytes");
    cJSON_AddStringToObject(j, "code_measured", r->code_how);
    cJSON_AddNumberToObject(j, "macs", (double)img->macs);
    cJSON_AddNumberToObject(j, "nonzero_macs", (double)img->nonzero_macs);
    cJSON_AddNumberToObject(j, "verified_inputs", o->verify);
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < img->n_ops; i++)
        cJSON_AddItemToArray(layers, layer_json(&img->ops[i], i));
    cli_print_json(j);
}

int cmd_export(int argc, char **argv)
{
    export_opts o = {0};
    cli_parse(&cmd_export_def, &o, argc, argv, NULL, 0, NULL);
    pl_export_opts po = check_opts(&o);
    pl_export_result r;
    nn_error err = {{0}};
    nn_status st = pl_export(&po, NULL, &r, &err);
    if (st != NN_OK)
        cli_fail("export", st, &err);
    print_table(&o, &r);
    if (o.json)
        print_json(&o, &r);
    pl_export_result_free(&r);
    return 0;
}
