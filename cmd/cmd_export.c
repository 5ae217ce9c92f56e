/* iotcnn export: a .iotc model as a deploy image plus the runtime sources,
 * a folder a firmware project adds to its build (export/rt_export.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "quantize/qref.h"
#include "export/rt_build.h"
#include "export/rt_export.h"
#include "export/rt_host.h"
#include "libnn/nn_rng.h"
#include "runtime/rt.h"
#include "runtime/rt_image.h"
#include "cli.h"
#include "commands.h"

static const char usage[] =
    "Usage: iotcnn export -m MODEL.iotc -o DIR [--name NAME] [--target T]\n"
    "                     [--sparse auto|never|always] [--verify N] [--json]\n"
    "\n"
    "Writes DIR/NAME.c (the deploy image as an aligned const array), DIR/NAME.h\n"
    "(input shape and quantization, arena size, output meaning), the runtime\n"
    "sources the target needs with an rt_config.h that keeps only the kernels\n"
    "the model uses, and a README with a usage example. Prints image, arena and\n"
    "code bytes, MACs and non-zero MACs. The image is checked first: N random\n"
    "inputs through it must give the bytes of the host's image and of the\n"
    "reference interpreter.\n"
    "\n"
    "  -m, --model MODEL  a quantized model (.iotc)\n"
    "  -o, --out DIR      the folder to write (created if missing)\n"
    "      --name NAME    C identifier prefix (default: the model's file name)\n"
    "      --target T     cortex-m0plus, cortex-m4, cortex-m7, cortex-m33,\n"
    "                     cortex-m55, x86-64 or generic (default): which weight\n"
    "                     layouts (sparse or dense per layer) and compiler flags\n"
    "      --sparse P     auto (by each layer's density, default), never, always\n"
    "      --verify N     random inputs for the check (default 16, 0: none)\n"
    "      --json         print one JSON object as the last stdout line\n";

typedef struct {
    const char *model, *out, *name, *target;
    int sparse, verify, json;
} opts;

static void parse_opts(opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->target = "generic";
    o->verify = 16;
    cli_args a;
    cli_args_init(&a, "export", argc, argv);
    const char *arg;
    while ((arg = cli_next(&a))) {
        if (cli_flag(arg, "-h", "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (cli_opt(&a, arg, "-m", "--model")) {
            o->model = a.value;
        } else if (cli_opt(&a, arg, "-o", "--out")) {
            o->out = a.value;
        } else if (cli_opt(&a, arg, NULL, "--name")) {
            o->name = a.value;
        } else if (cli_opt(&a, arg, NULL, "--target")) {
            o->target = a.value;
        } else if (cli_opt(&a, arg, NULL, "--sparse")) {
            if (strcmp(a.value, "auto") == 0)
                o->sparse = RTB_SPARSE_AUTO;
            else if (strcmp(a.value, "never") == 0)
                o->sparse = RTB_SPARSE_NEVER;
            else if (strcmp(a.value, "always") == 0)
                o->sparse = RTB_SPARSE_ALWAYS;
            else
                cli_usage_error("export", "--sparse: expected auto, never or always, got '%s'",
                                a.value);
        } else if (cli_opt(&a, arg, NULL, "--verify")) {
            o->verify = (int)cli_int(&a, "--verify", 0, 100000);
        } else if (cli_flag(arg, NULL, "--json")) {
            o->json = 1;
        } else {
            cli_usage_error("export", "unknown argument '%s'", arg);
        }
    }
    if (!o->model)
        cli_usage_error("export", "a model is required (-m MODEL.iotc)");
    if (!o->out)
        cli_usage_error("export", "an output folder is required (-o DIR)");
    if (rtb_target_parse(o->target) < 0)
        cli_usage_error("export",
                        "--target: expected cortex-m0plus, cortex-m4, cortex-m7, cortex-m33, "
                        "cortex-m55, x86-64 or generic, got '%s'",
                        o->target);
    if (o->name && !rtx_valid_name(o->name))
        cli_usage_error("export", "--name: '%s' is not a C identifier", o->name);
}

/* The model's file name as a C identifier: "runs/mnist-4.iotc" -> "mnist_4". */
static void default_name(char *dst, size_t n, const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t i = 0;
    if (*b >= '0' && *b <= '9' && n > 2)
        dst[i++] = 'm', dst[i++] = '_';
    for (; *b && *b != '.' && i + 1 < n && i < 60; b++)
        dst[i++] = (char)(((*b >= 'a' && *b <= 'z') || (*b >= 'A' && *b <= 'Z') ||
                           (*b >= '0' && *b <= '9')) ? *b : '_');
    if (i == 0)
        dst[i++] = 'm';
    dst[i] = 0;
}

/* n random inputs through the image (rt_run, as a firmware runs it), the
 * host's image (its layouts and best ISA, rt_host.h) and the reference
 * interpreter (quantize/qref.c): the same bytes, or a builder bug. Returns
 * the number of differing images. */
static int verify(const rtb_image *img, const qm_model *m, int n, nn_error *err, nn_status *st)
{
    *st = NN_OK;
    if (n <= 0)
        return 0;
    rt_info info;
    rt_status rs = rt_image_check(img->data, img->bytes, &info);
    if (rs != RT_OK) {
        *st = nn_errorf(err, NN_ERR_FORMAT, "internal error: the built image fails its check: %s "
                        "(op %d, offset %u)", rt_status_str(rs), info.bad_op, info.bad_offset);
        return n;
    }
    rth_model host;
    if ((*st = rth_open(&host, m, RT_ISA_AUTO, err)) != NN_OK)
        return n;
    const size_t in_size = (size_t)m->in_c * m->in_h * m->in_w, K = (size_t)m->num_classes;
    uint8_t *px = malloc(in_size), *arena = aligned_alloc(8, (img->arena_bytes + 15) & ~(size_t)7);
    void *ha = aligned_alloc(8, (rth_arena_bytes(&host) + 15) & ~(size_t)7);
    int8_t *ref = malloc(qm_ref_scratch_bytes(m)), *a = malloc(K), *b = malloc(K);
    int bad = 0;
    if (!px || !arena || !ha || !ref || !a || !b) {
        *st = nn_errorf(err, NN_ERR_NOMEM, "out of memory checking the image");
        bad = n;
    }
    nn_rng r;
    nn_rng_seed(&r, 12345);
    for (int i = 0; i < n && *st == NN_OK; i++) {
        for (size_t k = 0; k < in_size; k++)
            px[k] = (uint8_t)nn_rng_below(&r, 256);
        qm_ref_run(m, px, ref);
        const int8_t *want = qm_ref_tensor(m, ref, m->n_ops - 1);
        if (rt_run(img->data, arena, img->arena_bytes, px, a) != RT_OK ||
            rth_run(&host, ha, px, 1, b) != NN_OK || memcmp(a, want, K) != 0 ||
            memcmp(b, want, K) != 0)
            bad++;
    }
    free(px), free(arena), free(ha), free(ref), free(a), free(b);
    rth_close(&host);
    return bad;
}

static void shape(char *dst, size_t n, int h, int w, int c) { snprintf(dst, n, "%dx%dx%d", h, w, c); }

int cmd_export(int argc, char **argv)
{
    opts o;
    parse_opts(&o, argc, argv);
    nn_error err;
    iotc_model *f = malloc(sizeof *f);
    if (!f) {
        nn_errorf(&err, NN_ERR_NOMEM, "out of memory");
        cli_fail("export", NN_ERR_NOMEM, &err);
    }
    iotc_init(f);
    nn_status st = iotc_load(f, o.model, &err);
    if (st != NN_OK)
        cli_fail("export", st, &err);
    const qm_model *m = &f->m;
    const int target = rtb_target_parse(o.target);
    const rtb_options bo = {target, (rtb_sparse)o.sparse, 0, RT_ISA_AUTO};
    rtb_image img;
    if ((st = rtb_build(&img, m, &bo, &err)) != NN_OK) {
        nn_error e2;
        nn_errorf(&e2, st, "%s: %s", o.model, err.msg);
        cli_fail("export", st, &e2);
    }
    int bad = verify(&img, m, o.verify, &err, &st);
    if (st != NN_OK)
        cli_fail("export", st, &err);
    if (bad) {
        nn_errorf(&err, NN_ERR_FORMAT,
                  "internal error: %d of %d random inputs differ between the image, the host's "
                  "image and the reference interpreter; nothing written",
                  bad, o.verify);
        cli_fail("export", NN_ERR_FORMAT, &err);
    }
    char name[80];
    if (o.name)
        snprintf(name, sizeof name, "%s", o.name);
    else
        default_name(name, sizeof name, o.model);
    rtx_meta meta = {o.model, name, target, iotc_get_meta(f, "dataset"), m->in_c, {0}, {0}};
    for (int c = 0; c < m->in_c && c < 4; c++)
        meta.mean[c] = f->mean[c], meta.std[c] = f->std[c];
    if ((st = rtx_write_folder(o.out, &img, m, &meta, &err)) != NN_OK)
        cli_fail("export", st, &err);
    char how[400];
    long code = rtx_code_bytes(o.out, target, how, sizeof how);

    static const char *const OPN[] = {"", "conv2d", "dense", "maxpool", "avgpool", "global_avgpool", "add"};
    static const char *const FMT[] = {"-", "s8", "s4", "sp4", "sp8"};
    printf("%s -> %s/%s.c (target %s)\n", o.model, o.out, name, o.target);
    printf(" op  type            shape (HWC in -> out)      format  weights  nonzero  payload"
           "        MACs  nonzero MACs  scratch\n");
    for (int i = 0; i < img.n_ops; i++) {
        const qm_op *op = &m->ops[i];
        const rtb_op_info *oi = &img.ops[i];
        char si[32], so[32];
        shape(si, sizeof si, op->in_h, op->in_w, op->in_c);
        shape(so, sizeof so, op->out_h, op->out_w, op->out_c);
        printf("%3d  %-14s  %-10s -> %-10s  %-6s  %7u  %7u  %7u  %10llu  %12llu  %7u\n", i, OPN[oi->type],
               si, so, FMT[oi->fmt], oi->n_weights, oi->nnz, oi->w_bytes + oi->q_bytes,
               (unsigned long long)oi->macs, (unsigned long long)oi->nonzero_macs, oi->scratch_bytes);
    }
    printf("image %zu bytes (weights %llu), arena %llu bytes (lower bound %llu), code ", img.bytes,
           (unsigned long long)img.weight_bytes, (unsigned long long)img.arena_bytes,
           (unsigned long long)img.arena_lower_bound);
    if (code >= 0)
        printf("%ld bytes (%s)\n", code, how);
    else
        printf("%s\n", how);
    printf("MACs %llu, nonzero MACs %llu\n", (unsigned long long)img.macs,
           (unsigned long long)img.nonzero_macs);
    if (o.verify)
        printf("checked: %d random inputs, runtime bit-identical with the host int8 engine\n", o.verify);

    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", o.model);
        cJSON_AddStringToObject(j, "output", o.out);
        cJSON_AddStringToObject(j, "name", name);
        cJSON_AddStringToObject(j, "target", o.target);
        cJSON_AddNumberToObject(j, "image_bytes", (double)img.bytes);
        cJSON_AddNumberToObject(j, "weight_bytes", (double)img.weight_bytes);
        cJSON_AddNumberToObject(j, "arena_bytes", (double)img.arena_bytes);
        cJSON_AddNumberToObject(j, "arena_lower_bound", (double)img.arena_lower_bound);
        if (code >= 0)
            cJSON_AddNumberToObject(j, "code_bytes", (double)code);
        else
            cJSON_AddNullToObject(j, "code_bytes");
        cJSON_AddStringToObject(j, "code_measured", how);
        cJSON_AddNumberToObject(j, "macs", (double)img.macs);
        cJSON_AddNumberToObject(j, "nonzero_macs", (double)img.nonzero_macs);
        cJSON_AddNumberToObject(j, "verified_inputs", o.verify);
        cJSON *layers = cJSON_AddArrayToObject(j, "layers");
        for (int i = 0; i < img.n_ops; i++) {
            const rtb_op_info *oi = &img.ops[i];
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
            cJSON_AddItemToArray(layers, l);
        }
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    }
    rtb_free(&img);
    iotc_free(f);
    free(f);
    return 0;
}
