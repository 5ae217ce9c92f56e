/* cfg.c - the JSON run configuration: strict parsing with JSON-path errors.
 *
 * The reference for the format is docs/config.md. The parser walks the cJSON
 * tree once, block by block. Every object is first checked against the list
 * of keys valid at that place (unknown, misplaced and duplicate keys are
 * errors), then each key is read with a typed getter that also checks the
 * range (cfg_strict.h, shared with the prune and quantize blocks). Every
 * error message reads "<source>: <json.path>: <what>", so a user can find
 * the offending key without counting braces. */
#include "cfg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_diverge.h"
#include "cfg_schedule.h"
#include "cfg_strict.h"

/* A config is a few kilobytes; anything much bigger is the wrong file. */
#define CFG_MAX_BYTES (1 << 20)

static const cs_range R_POS = {0, INFINITY, 1, 1}; /* > 0    */
static const cs_range R_UNIT = {0, 1, 0, 1};       /* [0, 1) */

/* ------------------------------------------------------------------------ */
/* data                                                                     */

static const char *const dataset_names[] = {"mnist", "fashion", "cifar10", "png", NULL};
/* Channels of each dataset (0: any, checked when the images are read). */
static const int dataset_channels[] = {1, 1, 3, 0};

static nn_status parse_norm(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                            cs_range r, float *vals, int *count)
{
    char p[CS_PATH_MAX], ip[CS_PATH_MAX], got[64], expect[96];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    cs_path_key(p, path, key);
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 1 || n > NN_MAX_CHANNELS_NORM) {
        cs_describe(v, got, sizeof got);
        if (n >= 0)
            snprintf(got, sizeof got, "an array of %d values", n);
        return cs_fail(x, p, "expected an array of 1 to %d numbers (one per channel), got %s",
                       NN_MAX_CHANNELS_NORM, got);
    }
    cs_range_text(expect, sizeof expect, r, 0, NULL);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        cs_path_index(ip, p, i);
        cs_describe(e, got, sizeof got);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || !cs_in_range(e->valuedouble, r))
            return cs_fail(x, ip, "expected %s (pixels are scaled to [0, 1] first), got %s", expect,
                           got);
        vals[i] = (float)e->valuedouble;
        if (!cs_in_range(vals[i], r))
            return cs_fail(x, ip, "expected %s, got %s (out of range as a float)", expect, got);
    }
    *count = n;
    return NN_OK;
}

static nn_status parse_data(const cs_ctx *x, const cJSON *o, cfg_data *d)
{
    static const char *const keys[] = {"dataset", "dir", "validation", "limit", "mean", "std",
                                       NULL};
    const char *path = "data";
    nn_status s = cs_check_keys(x, o, path, keys, NULL, NULL);
    if (s)
        return s;
    int ds = 0;
    if ((s = cs_enum(x, o, "dataset", path, dataset_names, 1, &ds)))
        return s;
    snprintf(d->dataset, sizeof d->dataset, "%s", dataset_names[ds]);

    const char *dir = NULL;
    if ((s = cs_string(x, o, "dir", path, 0, "a string", &dir)))
        return s;
    if (dir && (dir[0] == '\0' || strlen(dir) >= sizeof d->dir))
        return cs_fail(x, "data.dir", "expected a non-empty path of at most %d bytes",
                       (int)sizeof d->dir - 1);
    d->dir_given = dir != NULL;
    if (dir)
        snprintf(d->dir, sizeof d->dir, "%s", dir);
    else
        snprintf(d->dir, sizeof d->dir, "data/%s", d->dataset);

    d->validation = 0;
    d->limit = 0;
    if ((s = cs_int(x, o, "validation", path, 0, INT_MAX, 0, &d->validation)) ||
        (s = cs_int(x, o, "limit", path, 0, INT_MAX, 0, &d->limit)))
        return s;

    /* mean and std: both or neither, same length, matching the dataset. */
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(o, "mean");
    const cJSON *std = cJSON_GetObjectItemCaseSensitive(o, "std");
    if (!mean != !std)
        return cs_fail(x, mean ? "data.std" : "data.mean",
                       "missing (give both data.mean and data.std, or neither to compute them "
                       "from the training images)");
    d->have_norm = 0;
    d->norm_channels = 0;
    if (mean) {
        int nm = 0, ns = 0;
        static const cs_range r_mean = {0, 1, 0, 0}, r_std = {0, 1, 1, 0};
        if ((s = parse_norm(x, o, "mean", path, r_mean, d->mean, &nm)) ||
            (s = parse_norm(x, o, "std", path, r_std, d->std, &ns)))
            return s;
        if (nm != ns)
            return cs_fail(x, "data.std", "has %d values but data.mean has %d", ns, nm);
        if (dataset_channels[ds] && nm != dataset_channels[ds])
            return cs_fail(x, "data.mean", "has %d values but %s images have %d channel%s", nm,
                           d->dataset, dataset_channels[ds], dataset_channels[ds] > 1 ? "s" : "");
        d->have_norm = 1;
        d->norm_channels = nm;
    }
    return NN_OK;
}

/* ------------------------------------------------------------------------ */
/* model                                                                    */

#define COMMON_KEYS "type", "name", "input"

/* Keys valid per layer type (besides "comment"). */
static const struct {
    nn_layer_type type;
    const char *keys[9];
} layer_keys[] = {
    {NN_LAYER_CONV2D, {COMMON_KEYS, "filters", "kernel", "stride", "pad", "bias", NULL}},
    {NN_LAYER_BATCHNORM, {COMMON_KEYS, "momentum", "eps", NULL}},
    {NN_LAYER_RELU, {COMMON_KEYS, NULL}},
    {NN_LAYER_MAXPOOL, {COMMON_KEYS, "size", "stride", NULL}},
    {NN_LAYER_AVGPOOL, {COMMON_KEYS, "size", "stride", NULL}},
    {NN_LAYER_GLOBAL_AVGPOOL, {COMMON_KEYS, NULL}},
    {NN_LAYER_FLATTEN, {COMMON_KEYS, NULL}},
    {NN_LAYER_DROPOUT, {COMMON_KEYS, "rate", NULL}},
    {NN_LAYER_DENSE, {COMMON_KEYS, "units", "bias", NULL}},
    {NN_LAYER_ADD, {COMMON_KEYS, "from", NULL}},
    {NN_LAYER_DEPTHWISE_CONV2D, {COMMON_KEYS, "kernel", "stride", "pad", "bias", NULL}},
    {NN_LAYER_RELU6, {COMMON_KEYS, NULL}},
};
/* The union: keys that exist for some layer type. */
static const char *const any_layer_keys[] = {COMMON_KEYS, "filters", "kernel", "stride",
                                             "pad",       "bias",    "momentum", "eps",
                                             "size",      "rate",    "units",    "from",
                                             NULL};
static const char *const layer_type_names[] = {"conv2d",  "batchnorm", "relu",
                                               "maxpool", "avgpool",   "global_avgpool",
                                               "flatten", "dropout",   "dense",
                                               "add",     "depthwise_conv2d", "relu6",
                                               NULL};

/* Generous sanity bounds: real limits come from shapes (nn_model_build);
 * these only keep the arithmetic there far from overflow. */
#define MAX_WIDTH 65536      /* filters                   */
#define MAX_UNITS (1 << 24)  /* dense units               */
#define MAX_KERNEL 1024      /* kernel, size, stride      */

static const char *const *keys_of(nn_layer_type t)
{
    for (size_t i = 0; i < sizeof layer_keys / sizeof layer_keys[0]; i++)
        if (layer_keys[i].type == t)
            return layer_keys[i].keys;
    return NULL;
}

/* Layer names: letters, digits, '_', '-', '.'; "input" is reserved. */
static int valid_name(const char *s)
{
    if (!s[0])
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* Resolves the reference at layer.key (a string naming an earlier layer or
 * "input") to an index into *out (NN_INPUT_NODE for the network input). */
static nn_status resolve_ref(const cs_ctx *x, const cJSON *layers, const nn_model_spec *m, int i,
                             const char *key, const char *lpath, int required, int *out)
{
    const char *ref = NULL;
    const cJSON *layer = cJSON_GetArrayItem(layers, i);
    nn_status s = cs_string(x, layer, key, lpath, required,
                            "a string naming an earlier layer, or \"input\"", &ref);
    if (s || !ref)
        return s;
    char p[CS_PATH_MAX];
    cs_path_key(p, lpath, key);
    if (strcmp(ref, "input") == 0) {
        *out = NN_INPUT_NODE;
        return NN_OK;
    }
    for (int j = 0; j < i; j++)
        if (strcmp(m->layers[j].name, ref) == 0) {
            *out = j;
            return NN_OK;
        }
    /* Not earlier: say whether it is this layer or a later one. */
    int j = i;
    for (const cJSON *l = layer; l; l = l->next, j++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(l, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, ref) == 0) {
            if (j == i)
                return cs_fail(x, p, "layer \"%.40s\" cannot read itself", ref);
            return cs_fail(x, p,
                           "\"%.40s\" is model.layers[%d], which comes later; a layer can only "
                           "read earlier layers or \"input\"",
                           ref, j);
        }
    }
    return cs_fail(x, p, "no earlier layer is named \"%.40s\" (\"input\" names the network input)",
                   ref);
}

static nn_status parse_layer(const cs_ctx *x, const cJSON *layers, nn_model_spec *m, int i)
{
    char lpath[CS_PATH_MAX], p[CS_PATH_MAX], got[64];
    const cJSON *o = cJSON_GetArrayItem(layers, i);
    cs_path_index(lpath, "model.layers", i);
    if (!cJSON_IsObject(o)) {
        cs_describe(o, got, sizeof got);
        return cs_fail(x, lpath, "expected an object such as {\"type\": \"relu\"}, got %s", got);
    }

    /* The type first: it decides which keys are valid. */
    int ti = 0;
    nn_status s = cs_enum(x, o, "type", lpath, layer_type_names, 1, &ti);
    if (s)
        return s;
    nn_layer_type type = nn_layer_type_from_name(layer_type_names[ti]);
    nn_layer_spec *l = &m->layers[i];
    nn_layer_spec_defaults(l, type);
    const char *const *keys = keys_of(type);
    char what[48];
    snprintf(what, sizeof what, "layer type \"%s\"", layer_type_names[ti]);
    if ((s = cs_check_keys(x, o, lpath, keys, any_layer_keys, what)))
        return s;

    switch (type) {
    case NN_LAYER_CONV2D:
        l->pad = 0;
        if ((s = cs_int(x, o, "filters", lpath, 1, MAX_WIDTH, 1, &l->out_channels)) ||
            (s = cs_int(x, o, "kernel", lpath, 1, MAX_KERNEL, 0, &l->kernel)) ||
            (s = cs_int(x, o, "stride", lpath, 1, MAX_KERNEL, 0, &l->stride)) ||
            (s = cs_int(x, o, "pad", lpath, 0, MAX_KERNEL, 0, &l->pad)) ||
            (s = cs_bool(x, o, "bias", lpath, &l->bias)))
            return s;
        if (l->pad >= l->kernel) {
            cs_path_key(p, lpath, "pad");
            return cs_fail(x, p, "expected an integer in [0, %d] (smaller than kernel %d), got %d",
                           l->kernel - 1, l->kernel, l->pad);
        }
        break;
    case NN_LAYER_DEPTHWISE_CONV2D:
        /* Filters = the input's channels (depth multiplier 1): no key. */
        l->pad = 0;
        if ((s = cs_int(x, o, "kernel", lpath, 1, MAX_KERNEL, 0, &l->kernel)) ||
            (s = cs_int(x, o, "stride", lpath, 1, MAX_KERNEL, 0, &l->stride)) ||
            (s = cs_int(x, o, "pad", lpath, 0, MAX_KERNEL, 0, &l->pad)) ||
            (s = cs_bool(x, o, "bias", lpath, &l->bias)))
            return s;
        if (l->pad > l->kernel - 1) {
            cs_path_key(p, lpath, "pad");
            return cs_fail(x, p, "expected an integer in [0, %d] (smaller than kernel %d), got %d",
                           l->kernel - 1, l->kernel, l->pad);
        }
        break;
    case NN_LAYER_MAXPOOL:
    case NN_LAYER_AVGPOOL:
        if ((s = cs_int(x, o, "size", lpath, 1, MAX_KERNEL, 0, &l->kernel)))
            return s;
        l->stride = l->kernel; /* PyTorch: stride defaults to the window size */
        if ((s = cs_int(x, o, "stride", lpath, 1, MAX_KERNEL, 0, &l->stride)))
            return s;
        break;
    case NN_LAYER_BATCHNORM: {
        static const cs_range r_mom = {0, 1, 0, 0}, r_eps = {0, 1, 1, 0};
        if ((s = cs_float(x, o, "momentum", lpath, r_mom, 0, NULL, &l->momentum)) ||
            (s = cs_float(x, o, "eps", lpath, r_eps, 0, NULL, &l->eps)))
            return s;
        break;
    }
    case NN_LAYER_DROPOUT:
        if ((s = cs_float(x, o, "rate", lpath, R_UNIT, 0, NULL, &l->rate)))
            return s;
        break;
    case NN_LAYER_DENSE:
        if ((s = cs_int(x, o, "units", lpath, 1, MAX_UNITS, 1, &l->units)) ||
            (s = cs_bool(x, o, "bias", lpath, &l->bias)))
            return s;
        break;
    default:
        break;
    }

    /* Name: unique, simple characters, "input" reserved. */
    const char *name = NULL;
    if ((s = cs_string(x, o, "name", lpath, 0, "a string", &name)))
        return s;
    if (name) {
        cs_path_key(p, lpath, "name");
        if (!valid_name(name) || strlen(name) >= NN_NAME_MAX)
            return cs_fail(x, p, "expected 1 to %d letters, digits, '_', '-' or '.', got \"%.40s\"",
                           NN_NAME_MAX - 1, name);
        if (strcmp(name, "input") == 0)
            return cs_fail(x, p, "\"input\" is reserved for the network input; pick another name");
        for (int j = 0; j < i; j++)
            if (strcmp(m->layers[j].name, name) == 0)
                return cs_fail(x, p, "duplicate name \"%s\" (also model.layers[%d].name)", name, j);
        snprintf(l->name, sizeof l->name, "%s", name);
    }

    /* Inputs: the previous layer unless named. */
    l->input = i == 0 ? NN_INPUT_NODE : i - 1;
    if ((s = resolve_ref(x, layers, m, i, "input", lpath, 0, &l->input)))
        return s;
    if (type == NN_LAYER_ADD &&
        (s = resolve_ref(x, layers, m, i, "from", lpath, 1, &l->input2)))
        return s;
    return NN_OK;
}

static nn_status parse_model(const cs_ctx *x, const cJSON *o, cfg_config *c)
{
    static const char *const keys[] = {"init", "layers", NULL};
    static const char *const init_names[] = {"he", "glorot", NULL};
    const char *path = "model";
    nn_status s = cs_check_keys(x, o, path, keys, NULL, NULL);
    if (s)
        return s;
    int init = 0;
    if ((s = cs_enum(x, o, "init", path, init_names, 0, &init)))
        return s;
    c->init = init == 0 ? NN_INIT_HE : NN_INIT_GLOROT;

    char got[64];
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
    if (!layers)
        return cs_fail(x, "model.layers", "missing (required: an array of layers)");
    int n = cJSON_IsArray(layers) ? cJSON_GetArraySize(layers) : -1;
    if (n < 1) {
        cs_describe(layers, got, sizeof got);
        return cs_fail(x, "model.layers", "expected a non-empty array of layers, got %s%s", got,
                       n == 0 ? " with no layers" : "");
    }
    if (n > NN_MAX_LAYERS)
        return cs_fail(x, "model.layers", "has %d layers; at most %d are supported", n,
                       NN_MAX_LAYERS);
    nn_model_spec *m = &c->model;
    m->n_layers = n;
    for (int i = 0; i < n; i++)
        if ((s = parse_layer(x, layers, m, i)))
            return s;
    return NN_OK;
}

/* ------------------------------------------------------------------------ */
/* train                                                                    */

static nn_status parse_optimizer(const cs_ctx *x, const cJSON *train, nn_optim_config *opt)
{
    static const char *const names[] = {"sgd", "adamw", NULL};
    static const char *const sgd_keys[] = {"type", "momentum", "nesterov", "weight_decay", NULL};
    static const char *const adamw_keys[] = {"type", "beta1", "beta2", "eps", "weight_decay",
                                             NULL};
    static const char *const all_keys[] = {"type",  "momentum", "nesterov", "weight_decay",
                                           "beta1", "beta2",    "eps",      NULL};
    static const char *const *const keys[] = {sgd_keys, adamw_keys};
    int type = 0;
    const cJSON *o;
    nn_status s = cs_typed_keys(x, train, "optimizer", "train", names, keys, all_keys, &type, &o);
    if (s)
        return s;
    const char *path = "train.optimizer";
    memset(opt, 0, sizeof *opt);
    if (type == 0) {
        opt->kind = NN_OPT_SGD;
        opt->momentum = 0.9f;
        opt->nesterov = 0;
        opt->weight_decay = 0.0f;
    } else {
        opt->kind = NN_OPT_ADAMW;
        opt->beta1 = 0.9f;
        opt->beta2 = 0.999f;
        opt->eps = 1e-8f;
        opt->weight_decay = 0.01f;
    }
    if (!o)
        return NN_OK;
    if ((s = cs_float(x, o, "weight_decay", path, R_UNIT, 0, NULL, &opt->weight_decay)))
        return s;
    if (type == 0) {
        if ((s = cs_float(x, o, "momentum", path, R_UNIT, 0, NULL, &opt->momentum)) ||
            (s = cs_bool(x, o, "nesterov", path, &opt->nesterov)))
            return s;
        if (opt->nesterov && opt->momentum == 0.0f)
            return cs_fail(x, "train.optimizer.nesterov", "needs momentum > 0");
    } else {
        static const cs_range r_eps = {0, 1, 1, 0};
        if ((s = cs_float(x, o, "beta1", path, R_UNIT, 0, NULL, &opt->beta1)) ||
            (s = cs_float(x, o, "beta2", path, R_UNIT, 0, NULL, &opt->beta2)) ||
            (s = cs_float(x, o, "eps", path, r_eps, 0, NULL, &opt->eps)))
            return s;
    }
    return NN_OK;
}

static nn_status parse_train(const cs_ctx *x, const cJSON *o, cfg_train *t)
{
    static const char *const keys[] = {"epochs",   "batch_size",      "seed",      "lr",
                                       "optimizer", "schedule",       "label_smoothing",
                                       "eval_batch", "divergence_factor", "early_stop", NULL};
    const char *path = "train";
    nn_status s = cs_check_keys(x, o, path, keys, NULL, NULL);
    if (s)
        return s;
    t->epochs = 0;
    t->batch_size = 128;
    t->eval_batch = 256;
    t->lr = 0.0f;
    t->label_smoothing = 0.0f;
    t->divergence_factor = NN_DIVERGE_DEFAULT_FACTOR;
    t->early_stop = 0;
    /* Seeds are integers a double holds exactly (JSON numbers are doubles). */
    static const cs_range r_seed = {0, 9007199254740992.0, 0, 0};
    static const cs_range r_factor = {2, 1e6, 0, 0};
    double seed = 1;
    if ((s = cs_int(x, o, "epochs", path, 1, 100000, 1, &t->epochs)) ||
        (s = cs_int(x, o, "batch_size", path, 1, 65536, 0, &t->batch_size)) ||
        (s = cs_int(x, o, "eval_batch", path, 1, 65536, 0, &t->eval_batch)) ||
        (s = cs_number(x, o, "seed", path, r_seed, 1, 0, NULL, &seed)) ||
        (s = cs_float(x, o, "lr", path, R_POS, 1, NULL, &t->lr)) ||
        (s = cs_float(x, o, "label_smoothing", path, R_UNIT, 0, NULL, &t->label_smoothing)) ||
        (s = cs_number(x, o, "divergence_factor", path, r_factor, 0, 0, NULL,
                       &t->divergence_factor)) ||
        (s = cs_int(x, o, "early_stop", path, 0, 100000, 0, &t->early_stop)) ||
        (s = parse_optimizer(x, o, &t->optim)) ||
        (s = cfg_schedule_parse(x, o, path, t->lr, t->epochs, &t->schedule)))
        return s;
    t->seed = (uint64_t)seed;
    return NN_OK;
}

/* ------------------------------------------------------------------------ */
/* Top level                                                                */

/* "line L, column C: malformed JSON near `...`" for a cJSON error position. */
static nn_status malformed(const cs_ctx *x, const char *text, const char *at)
{
    /* The commonest mistakes JSON makes easy. cJSON sometimes stops one
     * character past the culprit, so look at both; when one is recognized,
     * point at it (at the comma, for a trailing comma). */
    const char *hint = "";
    for (int back = 0; back <= 1 && back <= at - text && !hint[0]; back++) {
        const char *q = at - back, *prev = q;
        while (prev > text && (prev[-1] == ' ' || prev[-1] == '\t' || prev[-1] == '\n' ||
                               prev[-1] == '\r'))
            prev--;
        if ((*q == '}' || *q == ']') && prev > text && prev[-1] == ',') {
            hint = " (trailing comma before a closing bracket?)";
            at = prev - 1;
        } else if (*q == '/' || *q == '#') {
            hint = " (JSON has no comments; use a \"comment\" key)";
            at = q > text && q[-1] == '/' ? q - 1 : q; /* the first '/' of "//" */
        } else if (*q == '\'') {
            hint = " (JSON strings use double quotes)";
            at = q;
        }
    }
    if (!hint[0] && !*at)
        hint = " (unexpected end: unclosed brace, bracket or string?)";

    int line = 1, col = 1;
    for (const char *q = text; q < at && *q; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char near[32];
    size_t n = 0;
    for (const char *q = at; *q && *q != '\n' && n + 1 < sizeof near; q++)
        near[n++] = (unsigned char)*q < 0x20 ? ' ' : *q;
    near[n] = '\0';
    if (n)
        return nn_errorf(x->err, NN_ERR_CONFIG,
                         "%s: line %d, column %d: malformed JSON near `%s`%s", x->source, line,
                         col, near, hint);
    return nn_errorf(x->err, NN_ERR_CONFIG, "%s: line %d, column %d: malformed JSON%s", x->source,
                     line, col, hint);
}

/* augment: optional; absent (or all zero) means no augmentation. */
static nn_status parse_augment(const cs_ctx *x, const cJSON *o, aug_config *a, int *test_flip)
{
    static const char *const keys[] = {"rotate",   "shear",    "zoom",      "translate",
                                       "fill",     "hflip",    "crop_pad",  "crop_mode",
                                       "cutout",   "test_flip", "affine_p", "hflip_p",
                                       "crop_p",   "cutout_p", NULL};
    static const char *const crop_modes[] = {"zero", "reflect", NULL};
    const char *path = "augment";
    memset(a, 0, sizeof *a);
    nn_status s = cs_check_keys(x, o, path, keys, NULL, NULL);
    if (s)
        return s;
    const cs_range degrees = {0, 180, 0, 0}, shear = {0, 60, 0, 0}, zoom = {0, 1, 0, 1},
                   half = {0, 0.5, 0, 0};
    int fill = 0, mode = 0;
    if ((s = cs_float(x, o, "rotate", path, degrees, 0, "degrees", &a->rotate_deg)) ||
        (s = cs_float(x, o, "shear", path, shear, 0, "degrees", &a->shear_deg)) ||
        (s = cs_float(x, o, "zoom", path, zoom, 0, NULL, &a->zoom)) ||
        (s = cs_float(x, o, "translate", path, half, 0, "a fraction of the image size",
                      &a->translate)) ||
        (s = cs_int(x, o, "fill", path, 0, 255, 0, &fill)) ||
        (s = cs_bool(x, o, "hflip", path, &a->hflip)) ||
        (s = cs_int(x, o, "crop_pad", path, 0, 64, 0, &a->crop_pad)) ||
        (s = cs_enum(x, o, "crop_mode", path, crop_modes, 0, &mode)) ||
        (s = cs_int(x, o, "cutout", path, 0, 4096, 0, &a->cutout)) ||
        (s = cs_bool(x, o, "test_flip", path, test_flip)))
        return s;
    a->fill = (uint8_t)fill;
    a->crop_reflect = mode == 1;
    /* probabilities, each in (0, 1] and only next to the transform it gates */
    const cs_range prob = {0, 1, 1, 0};
    const struct {
        const char *key;
        float *p;
        int enabled;
        const char *needs;
    } probs[] = {
        {"affine_p", &a->p_affine,
         a->rotate_deg > 0 || a->shear_deg > 0 || a->zoom > 0 || a->translate > 0,
         "rotate, shear, zoom or translate above 0"},
        {"hflip_p", &a->p_hflip, a->hflip, "hflip true"},
        {"crop_p", &a->p_crop, a->crop_pad > 0, "crop_pad above 0"},
        {"cutout_p", &a->p_cutout, a->cutout > 0, "cutout above 0"},
    };
    for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++) {
        if (!cJSON_GetObjectItemCaseSensitive(o, probs[i].key))
            continue;
        if ((s = cs_float(x, o, probs[i].key, path, prob, 0, NULL, probs[i].p)))
            return s;
        char kpath[32];
        snprintf(kpath, sizeof kpath, "%s.%s", path, probs[i].key);
        if (!probs[i].enabled)
            return cs_fail(x, kpath, "the transform this probability gates is off (it needs %s)",
                           probs[i].needs);
    }
    return NN_OK;
}

static nn_status parse_root(const cs_ctx *x, const cJSON *root, cfg_config *c)
{
    static const char *const keys[] = {"data",    "model", "train", "augment",
                                       "prune",   "quantize", NULL};
    char got[64];
    if (!cJSON_IsObject(root)) {
        cs_describe(root, got, sizeof got);
        return cs_fail(x, NULL,
                       "expected a JSON object {\"data\": ..., \"model\": ..., \"train\": ...} "
                       "at the top level, got %s",
                       got);
    }
    /* A block's key written at the top level: say where it belongs. */
    static const char *const homes[][2] = {
        {"dataset", "data"},     {"dir", "data"},      {"validation", "data"},
        {"mean", "data"},        {"std", "data"},      {"limit", "data"},      {"init", "model"},
        {"layers", "model"},     {"epochs", "train"},  {"batch_size", "train"},
        {"seed", "train"},       {"lr", "train"},      {"optimizer", "train"},
        {"schedule", "train"},   {"label_smoothing", "train"}, {"eval_batch", "train"},
        {"divergence_factor", "train"}, {"early_stop", "train"},
    };
    for (const cJSON *it = root->child; it; it = it->next)
        for (size_t i = 0; i < sizeof homes / sizeof homes[0]; i++)
            if (strcmp(it->string, homes[i][0]) == 0)
                return cs_fail(x, it->string,
                               "unknown key at the top level (it belongs inside the "
                               "\"%s\" block)",
                               homes[i][1]);
    nn_status s = cs_check_keys(x, root, "", keys, NULL, NULL);
    if (s)
        return s;
    const cJSON *blk[3];
    for (int i = 0; i < 3; i++) {
        if ((s = cs_object(x, root, keys[i], "", &blk[i])))
            return s;
        if (!blk[i])
            return cs_fail(x, keys[i], "missing (required block; see docs/config.md)");
    }
    if ((s = parse_data(x, blk[0], &c->data)) || (s = parse_model(x, blk[1], c)) ||
        (s = parse_train(x, blk[2], &c->train)))
        return s;
    if (c->train.early_stop > 0 && c->data.validation == 0)
        return cs_fail(x, "train.early_stop",
                       "needs validation images to judge by (set data.validation)");
    const cJSON *aug = NULL;
    if ((s = cs_object(x, root, "augment", "", &aug)))
        return s;
    memset(&c->augment, 0, sizeof c->augment);
    c->test_flip = 0;
    if (aug && (s = parse_augment(x, aug, &c->augment, &c->test_flip)))
        return s;
    const cJSON *prune = NULL;
    if ((s = cs_object(x, root, "prune", "", &prune)))
        return s;
    if (prune && (s = cfg_prune_parse(&c->prune, prune, c->train.lr, &c->train.schedule,
                                      x->source, x->err)))
        return s;
    const cJSON *qz = NULL;
    if ((s = cs_object(x, root, "quantize", "", &qz)) ||
        (s = cfg_quantize_parse(&c->quantize, qz, &c->model, c->train.lr, &c->train.schedule,
                                    x->source, x->err)))
        return s;
    return NN_OK;
}

nn_status cfg_parse(cfg_config *c, const char *json_text, const char *source, nn_error *err)
{
    cs_ctx x = {source && source[0] ? source : "config", err};
    memset(c, 0, sizeof *c);
    if (!json_text)
        return nn_errorf(err, NN_ERR_ARG, "%s: no config text", x.source);
    /* Editors on some systems start files with a UTF-8 byte-order mark. */
    const char *text = json_text;
    if ((unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        text += 3;
    if (text[strspn(text, " \t\r\n")] == '\0')
        return nn_errorf(err, NN_ERR_CONFIG, "%s: empty (expected a JSON object)", x.source);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        /* cJSON returns NULL without a position only when out of memory. */
        if (!end)
            return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory parsing JSON", x.source);
        return malformed(&x, text, end);
    }
    nn_status s = parse_root(&x, root, c);
    cJSON_Delete(root);
    if (s)
        memset(c, 0, sizeof *c);
    return s;
}

/* A relative data.dir written in the file at path is relative to the
 * file's folder: "../data/x" in configs/a.json is "configs/../data/x". */
static nn_status resolve_dir(cfg_config *c, const char *path, nn_error *err)
{
    const char *slash = strrchr(path, '/');
    if (!c->data.dir_given || c->data.dir[0] == '/' || !slash)
        return NN_OK;
    char joined[2 * CFG_PATH_MAX];
    int n = snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - path), path, c->data.dir);
    if (n < 0 || (size_t)n >= sizeof c->data.dir)
        return nn_errorf(err, NN_ERR_CONFIG,
                         "%s: data.dir: \"%s\" relative to the config's folder is longer than %d "
                         "bytes",
                         path, c->data.dir, CFG_PATH_MAX - 1);
    memcpy(c->data.dir, joined, (size_t)n + 1);
    return NN_OK;
}

nn_status cfg_load(cfg_config *c, char **text_out, const char *path, nn_error *err)
{
    if (text_out)
        *text_out = NULL;
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_errorf(err, NN_ERR_IO, "%s: cannot open config: %s", path, strerror(errno));
    char *text = malloc(CFG_MAX_BYTES + 1);
    if (!text) {
        fclose(f);
        return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(text, 1, CFG_MAX_BYTES + 1, f);
    int read_err = ferror(f) ? errno : 0;
    fclose(f);
    nn_status s = NN_OK;
    if (read_err)
        s = nn_errorf(err, NN_ERR_IO, "%s: cannot read config: %s", path, strerror(read_err));
    else if (n > CFG_MAX_BYTES)
        s = nn_errorf(err, NN_ERR_CONFIG, "%s: larger than %d bytes; is this really a config?",
                      path, CFG_MAX_BYTES);
    else if (memchr(text, '\0', n))
        s = nn_errorf(err, NN_ERR_CONFIG, "%s: contains a NUL byte at offset %zu; not a JSON text",
                      path, (size_t)((char *)memchr(text, '\0', n) - text));
    if (s) {
        free(text);
        return s;
    }
    text[n] = '\0';
    s = cfg_parse(c, text, path, err);
    if (s == NN_OK)
        s = resolve_dir(c, path, err);
    if (s || !text_out) {
        free(text);
        return s;
    }
    char *shrunk = realloc(text, n + 1);
    *text_out = shrunk ? shrunk : text;
    return NN_OK;
}

void cfg_set_input(cfg_config *c, int in_c, int in_h, int in_w, int num_classes)
{
    c->model.in_c = in_c;
    c->model.in_h = in_h;
    c->model.in_w = in_w;
    c->model.num_classes = num_classes;
}
