/* cfg.c - the JSON run configuration: strict parsing with JSON-path errors.
 *
 * The reference for the format is docs/config.md. The parser walks the cJSON
 * tree once, block by block. Every object is first checked against the list
 * of keys valid at that place (unknown, misplaced and duplicate keys are
 * errors), then each key is read with a typed getter that also checks the
 * range. Every error message reads "<source>: <json.path>: <what>", so a
 * user can find the offending key without counting braces. */
#include "cfg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A config is a few kilobytes; anything much bigger is the wrong file. */
#define CFG_MAX_BYTES (1 << 20)
/* JSON paths in messages ("model.layers[12].filters"); long user keys are
 * cut, which only shortens the message. */
#define PATH_MAX_LEN 160

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

typedef struct {
    const char *source; /* prefixes every message                          */
    nn_error *err;
} ctx;

/* "<source>: <path>: <formatted message>"; always NN_ERR_CONFIG. */
__attribute__((format(printf, 3, 4)))
static nn_status fail(const ctx *x, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path && path[0])
        return nn_errorf(x->err, NN_ERR_CONFIG, "%s: %s: %s", x->source, path, msg);
    return nn_errorf(x->err, NN_ERR_CONFIG, "%s: %s", x->source, msg);
}

/* dst = parent.key (or key at the top level); control characters in user
 * keys become '?' so a message stays one line. */
static void path_key(char *dst, const char *parent, const char *key)
{
    int n = parent[0] ? snprintf(dst, PATH_MAX_LEN, "%s.%s", parent, key)
                      : snprintf(dst, PATH_MAX_LEN, "%s", key);
    if (n < 0)
        dst[0] = '\0';
    for (char *q = dst; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = '?';
}

/* dst = parent[i] */
static void path_index(char *dst, const char *parent, int i)
{
    if (snprintf(dst, PATH_MAX_LEN, "%s[%d]", parent, i) < 0)
        dst[0] = '\0';
}

/* Writes a short rendering of a JSON value for "got ..." (no allocation):
 * strings quoted and cut at 40 bytes, numbers in shortest round-trip form. */
static void describe(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v)) {
        size_t o = 0;
        const char *s = v->valuestring;
        buf[o++] = '"';
        for (size_t i = 0; s[i] && o + 5 < cap; i++) {
            if (i == 40) {
                memcpy(buf + o, "...", 3);
                o += 3;
                break;
            }
            unsigned char ch = (unsigned char)s[i];
            buf[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
        }
        buf[o++] = '"';
        buf[o] = '\0';
    } else if (cJSON_IsNumber(v)) {
        snprintf(buf, cap, "%.15g", v->valuedouble);
        if (strtod(buf, NULL) != v->valuedouble)
            snprintf(buf, cap, "%.17g", v->valuedouble);
    } else if (cJSON_IsTrue(v)) {
        snprintf(buf, cap, "true");
    } else if (cJSON_IsFalse(v)) {
        snprintf(buf, cap, "false");
    } else if (cJSON_IsNull(v)) {
        snprintf(buf, cap, "null");
    } else if (cJSON_IsArray(v)) {
        snprintf(buf, cap, "an array");
    } else if (cJSON_IsObject(v)) {
        snprintf(buf, cap, "an object");
    } else {
        snprintf(buf, cap, "an invalid value");
    }
}

/* Levenshtein distance for "did you mean"; large for long strings. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of the NULL-terminated list within 2 edits, or NULL. */
static const char *closest(const char *word, const char *const *list)
{
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; list[i]; i++) {
        int d = edit_distance(word, list[i]);
        if (d < best_d && (size_t)d < strlen(list[i])) {
            best = list[i];
            best_d = d;
        }
    }
    return best;
}

/* "a, b, c" into buf. */
static void join(char *buf, size_t cap, const char *const *list, int quoted)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; list[i] && o < cap; i++) {
        int n = snprintf(buf + o, cap - o, quoted ? "%s\"%s\"" : "%s%s", i ? ", " : "", list[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */

/* Every object may hold a "comment" string (JSON has no comments). */
static int is_comment(const cJSON *item)
{
    return strcmp(item->string, "comment") == 0;
}

/* Rejects duplicate keys, keys not in `allowed`, and non-string comments.
 * A key in `elsewhere` (valid in a sibling variant: another layer type, the
 * other optimizer) gets "not valid for <what>" instead of "unknown key". */
static nn_status check_keys(const ctx *x, const cJSON *obj, const char *path,
                            const char *const *allowed, const char *const *elsewhere,
                            const char *what)
{
    char p[PATH_MAX_LEN], list[256], got[64];
    for (const cJSON *it = obj->child; it; it = it->next) {
        path_key(p, path, it->string);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return fail(x, p, "duplicate key");
        if (is_comment(it)) {
            if (!cJSON_IsString(it)) {
                describe(it, got, sizeof got);
                return fail(x, p, "expected a string, got %s", got);
            }
            continue;
        }
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], it->string) == 0;
        if (ok)
            continue;
        join(list, sizeof list, allowed, 0);
        for (int i = 0; elsewhere && elsewhere[i]; i++)
            if (strcmp(elsewhere[i], it->string) == 0)
                return fail(x, p, "not valid for %s (valid keys: %s)", what, list);
        static const char *const comment[] = {"comment", NULL};
        const char *guess = closest(it->string, allowed);
        if (!guess)
            guess = closest(it->string, comment);
        if (guess)
            return fail(x, p, "unknown key (did you mean \"%s\"?)", guess);
        return fail(x, p, "unknown key (valid keys: %s)", list);
    }
    return NN_OK;
}

/* The object at obj.key; NULL when absent. Rejects non-objects. */
static nn_status get_object(const ctx *x, const cJSON *obj, const char *key, const char *path,
                            const cJSON **out)
{
    char p[PATH_MAX_LEN], got[64];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v)
        return NN_OK;
    if (!cJSON_IsObject(v)) {
        path_key(p, path, key);
        describe(v, got, sizeof got);
        return fail(x, p, "expected an object, got %s", got);
    }
    *out = v;
    return NN_OK;
}

/* ------------------------------------------------------------------------ */
/* Typed getters: absent keys keep *out (the default) unless required.       */

typedef struct {
    double lo, hi;         /* +-INFINITY when unbounded                    */
    int lo_open, hi_open;  /* 1: the bound itself is excluded              */
} range;

static const range R_POS = {0, INFINITY, 1, 1};     /* > 0    */
static const range R_UNIT = {0, 1, 0, 1};           /* [0, 1) */

static int in_range(double v, range r)
{
    if (r.lo_open ? !(v > r.lo) : !(v >= r.lo))
        return 0;
    if (r.hi_open ? !(v < r.hi) : !(v <= r.hi))
        return 0;
    return 1;
}

/* A bound for messages: whole numbers in full (16777216, not 1.67772e+07),
 * others at float precision (0.1, not 0.100000001). */
static void bound_text(char *buf, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e16)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.7g", v);
}

/* "a number in [0, 1)", "an integer >= 1", ... */
static void range_text(char *buf, size_t cap, range r, int integer)
{
    const char *noun = integer ? "an integer" : "a number";
    char lo[32], hi[32];
    bound_text(lo, sizeof lo, r.lo);
    bound_text(hi, sizeof hi, r.hi);
    if (r.lo == -INFINITY && r.hi == INFINITY)
        snprintf(buf, cap, "%s", noun);
    else if (r.hi == INFINITY)
        snprintf(buf, cap, "%s %s %s", noun, r.lo_open ? ">" : ">=", lo);
    else
        snprintf(buf, cap, "%s in %c%s, %s%c", noun, r.lo_open ? '(' : '[', lo, hi,
                 r.hi_open ? ')' : ']');
}

/* The value at obj.key (NULL when absent: error if required). */
static nn_status lookup(const ctx *x, const cJSON *obj, const char *key, const char *path,
                        int required, const char *expect, const cJSON **out)
{
    *out = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!*out && required) {
        char p[PATH_MAX_LEN];
        path_key(p, path, key);
        return fail(x, p, "missing (required: %s)", expect);
    }
    return NN_OK;
}

/* Numbers: finite, in range, integral when `integer`; `extra` is appended to
 * the range text (e.g. "(below train.epochs)"). */
static nn_status get_number(const ctx *x, const cJSON *obj, const char *key, const char *path,
                            range r, int integer, int required, const char *extra, double *out)
{
    char p[PATH_MAX_LEN], expect[96], got[64];
    range_text(expect, sizeof expect, r, integer);
    if (extra && extra[0]) {
        size_t n = strlen(expect);
        snprintf(expect + n, sizeof expect - n, " %s", extra);
    }
    const cJSON *v;
    nn_status s = lookup(x, obj, key, path, required, expect, &v);
    if (s || !v)
        return s;
    path_key(p, path, key);
    describe(v, got, sizeof got);
    if (!cJSON_IsNumber(v)) {
        int numeric_string = 0;
        if (cJSON_IsString(v) && v->valuestring[0]) {
            char *end;
            (void)strtod(v->valuestring, &end);
            numeric_string = *end == '\0';
        }
        return fail(x, p, "expected %s, got %s%s", expect, got,
                    numeric_string ? " (write numbers without quotes)" : "");
    }
    double d = v->valuedouble;
    if (!isfinite(d) || !in_range(d, r) || (integer && d != floor(d)))
        return fail(x, p, "expected %s, got %s", expect, got);
    *out = d;
    return NN_OK;
}

/* hi == INT_MAX means "no upper bound" (apart from fitting an int). */
static nn_status get_int(const ctx *x, const cJSON *obj, const char *key, const char *path,
                         int lo, int hi, int required, int *out)
{
    range r = {lo, hi == INT_MAX ? INFINITY : hi, 0, hi == INT_MAX};
    double d = *out;
    nn_status s = get_number(x, obj, key, path, r, 1, required, NULL, &d);
    if (s)
        return s;
    if (d > (double)INT_MAX) {
        char p[PATH_MAX_LEN];
        path_key(p, path, key);
        return fail(x, p, "expected an integer >= %d, got %.17g (too large)", lo, d);
    }
    *out = (int)d;
    return NN_OK;
}

/* Floats are range-checked after rounding to float too, so 0.999999999 for
 * a "[0, 1)" key cannot turn into 1.0f. */
static nn_status get_float(const ctx *x, const cJSON *obj, const char *key, const char *path,
                           range r, int required, const char *extra, float *out)
{
    double d = *out;
    nn_status s = get_number(x, obj, key, path, r, 0, required, extra, &d);
    if (s)
        return s;
    float f = (float)d;
    if (!in_range(f, r) || !isfinite(f)) {
        char p[PATH_MAX_LEN], expect[96];
        path_key(p, path, key);
        range_text(expect, sizeof expect, r, 0);
        return fail(x, p, "expected %s, got %.17g (out of range once rounded to float)", expect,
                    d);
    }
    *out = f;
    return NN_OK;
}

static nn_status get_bool(const ctx *x, const cJSON *obj, const char *key, const char *path,
                          int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return NN_OK;
    if (!cJSON_IsBool(v)) {
        char p[PATH_MAX_LEN], got[64];
        path_key(p, path, key);
        describe(v, got, sizeof got);
        return fail(x, p, "expected true or false, got %s", got);
    }
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return NN_OK;
}

/* A string value (pointer into the tree); *out untouched when absent. */
static nn_status get_string(const ctx *x, const cJSON *obj, const char *key, const char *path,
                            int required, const char *expect, const char **out)
{
    const cJSON *v;
    nn_status s = lookup(x, obj, key, path, required, expect, &v);
    if (s || !v)
        return s;
    if (!cJSON_IsString(v)) {
        char p[PATH_MAX_LEN], got[64];
        path_key(p, path, key);
        describe(v, got, sizeof got);
        return fail(x, p, "expected %s, got %s", expect, got);
    }
    *out = v->valuestring;
    return NN_OK;
}

/* One of `names` (NULL-terminated); *out = its index. `v` is the value. */
static nn_status enum_value(const ctx *x, const cJSON *v, const char *p,
                            const char *const *names, int *out)
{
    char list[256], got[64];
    join(list, sizeof list, names, 1);
    describe(v, got, sizeof got);
    if (!cJSON_IsString(v))
        return fail(x, p, "expected one of %s, got %s", list, got);
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], v->valuestring) == 0) {
            *out = i;
            return NN_OK;
        }
    const char *guess = closest(v->valuestring, names);
    if (guess)
        return fail(x, p, "expected one of %s, got %s (did you mean \"%s\"?)", list, got, guess);
    return fail(x, p, "expected one of %s, got %s", list, got);
}

static nn_status get_enum(const ctx *x, const cJSON *obj, const char *key, const char *path,
                          const char *const *names, int required, int *out)
{
    char p[PATH_MAX_LEN], list[256];
    join(list, sizeof list, names, 1);
    char expect[272];
    snprintf(expect, sizeof expect, "one of %s", list);
    const cJSON *v;
    nn_status s = lookup(x, obj, key, path, required, expect, &v);
    if (s || !v)
        return s;
    path_key(p, path, key);
    return enum_value(x, v, p, names, out);
}

/* ------------------------------------------------------------------------ */
/* data                                                                     */

static const char *const dataset_names[] = {"mnist", "fashion", "cifar10", "png", NULL};
/* Channels of each dataset (0: any, checked when the images are read). */
static const int dataset_channels[] = {1, 1, 3, 0};

static nn_status parse_norm(const ctx *x, const cJSON *obj, const char *key, const char *path,
                            range r, float *vals, int *count)
{
    char p[PATH_MAX_LEN], ip[PATH_MAX_LEN], got[64], expect[96];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    path_key(p, path, key);
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 1 || n > NN_MAX_CHANNELS_NORM) {
        describe(v, got, sizeof got);
        if (n >= 0)
            snprintf(got, sizeof got, "an array of %d values", n);
        return fail(x, p, "expected an array of 1 to %d numbers (one per channel), got %s",
                    NN_MAX_CHANNELS_NORM, got);
    }
    range_text(expect, sizeof expect, r, 0);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        path_index(ip, p, i);
        describe(e, got, sizeof got);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || !in_range(e->valuedouble, r))
            return fail(x, ip, "expected %s (pixels are scaled to [0, 1] first), got %s",
                        expect, got);
        vals[i] = (float)e->valuedouble;
        if (!in_range(vals[i], r))
            return fail(x, ip, "expected %s, got %s (out of range as a float)", expect, got);
    }
    *count = n;
    return NN_OK;
}

static nn_status parse_data(const ctx *x, const cJSON *o, cfg_data *d)
{
    static const char *const keys[] = {"dataset", "dir", "validation", "limit", "mean", "std",
                                       NULL};
    const char *path = "data";
    nn_status s = check_keys(x, o, path, keys, NULL, NULL);
    if (s)
        return s;
    int ds = 0;
    if ((s = get_enum(x, o, "dataset", path, dataset_names, 1, &ds)))
        return s;
    snprintf(d->dataset, sizeof d->dataset, "%s", dataset_names[ds]);

    const char *dir = NULL;
    if ((s = get_string(x, o, "dir", path, 0, "a string", &dir)))
        return s;
    if (dir && (dir[0] == '\0' || strlen(dir) >= sizeof d->dir))
        return fail(x, "data.dir", "expected a non-empty path of at most %d bytes",
                    (int)sizeof d->dir - 1);
    if (dir)
        snprintf(d->dir, sizeof d->dir, "%s", dir);
    else
        snprintf(d->dir, sizeof d->dir, "data/%s", d->dataset);

    d->validation = 0;
    d->limit = 0;
    if ((s = get_int(x, o, "validation", path, 0, INT_MAX, 0, &d->validation)) ||
        (s = get_int(x, o, "limit", path, 0, INT_MAX, 0, &d->limit)))
        return s;

    /* mean and std: both or neither, same length, matching the dataset. */
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(o, "mean");
    const cJSON *std = cJSON_GetObjectItemCaseSensitive(o, "std");
    if (!mean != !std)
        return fail(x, mean ? "data.std" : "data.mean",
                    "missing (give both data.mean and data.std, or neither to compute them "
                    "from the training images)");
    d->have_norm = 0;
    d->norm_channels = 0;
    if (mean) {
        int nm = 0, ns = 0;
        static const range r_mean = {0, 1, 0, 0}, r_std = {0, 1, 1, 0};
        if ((s = parse_norm(x, o, "mean", path, r_mean, d->mean, &nm)) ||
            (s = parse_norm(x, o, "std", path, r_std, d->std, &ns)))
            return s;
        if (nm != ns)
            return fail(x, "data.std", "has %d values but data.mean has %d", ns, nm);
        if (dataset_channels[ds] && nm != dataset_channels[ds])
            return fail(x, "data.mean", "has %d values but %s images have %d channel%s", nm,
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
};
/* The union: keys that exist for some layer type. */
static const char *const any_layer_keys[] = {COMMON_KEYS, "filters", "kernel", "stride",
                                             "pad",       "bias",    "momentum", "eps",
                                             "size",      "rate",    "units",    "from",
                                             NULL};
static const char *const layer_type_names[] = {"conv2d",  "batchnorm", "relu",
                                               "maxpool", "avgpool",   "global_avgpool",
                                               "flatten", "dropout",   "dense",
                                               "add",     NULL};

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
static nn_status resolve_ref(const ctx *x, const cJSON *layers, const nn_model_spec *m, int i,
                             const char *key, const char *lpath, int required, int *out)
{
    const char *ref = NULL;
    const cJSON *layer = cJSON_GetArrayItem(layers, i);
    nn_status s = get_string(x, layer, key, lpath, required,
                             "a string naming an earlier layer, or \"input\"", &ref);
    if (s || !ref)
        return s;
    char p[PATH_MAX_LEN];
    path_key(p, lpath, key);
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
                return fail(x, p, "layer \"%.40s\" cannot read itself", ref);
            return fail(x, p,
                        "\"%.40s\" is model.layers[%d], which comes later; a layer can only "
                        "read earlier layers or \"input\"",
                        ref, j);
        }
    }
    return fail(x, p, "no earlier layer is named \"%.40s\" (\"input\" names the network input)",
                ref);
}

static nn_status parse_layer(const ctx *x, const cJSON *layers, nn_model_spec *m, int i)
{
    char lpath[PATH_MAX_LEN], p[PATH_MAX_LEN], got[64];
    const cJSON *o = cJSON_GetArrayItem(layers, i);
    path_index(lpath, "model.layers", i);
    if (!cJSON_IsObject(o)) {
        describe(o, got, sizeof got);
        return fail(x, lpath, "expected an object such as {\"type\": \"relu\"}, got %s", got);
    }

    /* The type first: it decides which keys are valid. */
    int ti = 0;
    nn_status s = get_enum(x, o, "type", lpath, layer_type_names, 1, &ti);
    if (s)
        return s;
    nn_layer_type type = nn_layer_type_from_name(layer_type_names[ti]);
    nn_layer_spec *l = &m->layers[i];
    nn_layer_spec_defaults(l, type);
    const char *const *keys = keys_of(type);
    char what[48];
    snprintf(what, sizeof what, "layer type \"%s\"", layer_type_names[ti]);
    if ((s = check_keys(x, o, lpath, keys, any_layer_keys, what)))
        return s;

    switch (type) {
    case NN_LAYER_CONV2D:
        l->pad = 0;
        if ((s = get_int(x, o, "filters", lpath, 1, MAX_WIDTH, 1, &l->out_channels)) ||
            (s = get_int(x, o, "kernel", lpath, 1, MAX_KERNEL, 0, &l->kernel)) ||
            (s = get_int(x, o, "stride", lpath, 1, MAX_KERNEL, 0, &l->stride)) ||
            (s = get_int(x, o, "pad", lpath, 0, MAX_KERNEL, 0, &l->pad)) ||
            (s = get_bool(x, o, "bias", lpath, &l->bias)))
            return s;
        if (l->pad >= l->kernel) {
            path_key(p, lpath, "pad");
            return fail(x, p, "expected an integer in [0, %d] (smaller than kernel %d), got %d",
                        l->kernel - 1, l->kernel, l->pad);
        }
        break;
    case NN_LAYER_MAXPOOL:
    case NN_LAYER_AVGPOOL:
        if ((s = get_int(x, o, "size", lpath, 1, MAX_KERNEL, 0, &l->kernel)))
            return s;
        l->stride = l->kernel; /* PyTorch: stride defaults to the window size */
        if ((s = get_int(x, o, "stride", lpath, 1, MAX_KERNEL, 0, &l->stride)))
            return s;
        break;
    case NN_LAYER_BATCHNORM: {
        static const range r_mom = {0, 1, 0, 0}, r_eps = {0, 1, 1, 0};
        if ((s = get_float(x, o, "momentum", lpath, r_mom, 0, NULL, &l->momentum)) ||
            (s = get_float(x, o, "eps", lpath, r_eps, 0, NULL, &l->eps)))
            return s;
        break;
    }
    case NN_LAYER_DROPOUT:
        if ((s = get_float(x, o, "rate", lpath, R_UNIT, 0, NULL, &l->rate)))
            return s;
        break;
    case NN_LAYER_DENSE:
        if ((s = get_int(x, o, "units", lpath, 1, MAX_UNITS, 1, &l->units)) ||
            (s = get_bool(x, o, "bias", lpath, &l->bias)))
            return s;
        break;
    default:
        break;
    }

    /* Name: unique, simple characters, "input" reserved. */
    const char *name = NULL;
    if ((s = get_string(x, o, "name", lpath, 0, "a string", &name)))
        return s;
    if (name) {
        path_key(p, lpath, "name");
        if (!valid_name(name) || strlen(name) >= NN_NAME_MAX)
            return fail(x, p,
                        "expected 1 to %d letters, digits, '_', '-' or '.', got \"%.40s\"",
                        NN_NAME_MAX - 1, name);
        if (strcmp(name, "input") == 0)
            return fail(x, p, "\"input\" is reserved for the network input; pick another name");
        for (int j = 0; j < i; j++)
            if (strcmp(m->layers[j].name, name) == 0)
                return fail(x, p, "duplicate name \"%s\" (also model.layers[%d].name)", name, j);
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

static nn_status parse_model(const ctx *x, const cJSON *o, cfg_config *c)
{
    static const char *const keys[] = {"init", "layers", NULL};
    static const char *const init_names[] = {"he", "glorot", NULL};
    const char *path = "model";
    nn_status s = check_keys(x, o, path, keys, NULL, NULL);
    if (s)
        return s;
    int init = 0;
    if ((s = get_enum(x, o, "init", path, init_names, 0, &init)))
        return s;
    c->init = init == 0 ? NN_INIT_HE : NN_INIT_GLOROT;

    char got[64];
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
    if (!layers)
        return fail(x, "model.layers", "missing (required: an array of layers)");
    int n = cJSON_IsArray(layers) ? cJSON_GetArraySize(layers) : -1;
    if (n < 1) {
        describe(layers, got, sizeof got);
        return fail(x, "model.layers", "expected a non-empty array of layers, got %s%s", got,
                    n == 0 ? " with no layers" : "");
    }
    if (n > NN_MAX_LAYERS)
        return fail(x, "model.layers", "has %d layers; at most %d are supported", n,
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

/* "optimizer"/"schedule": an object with "type", or just the type string.
 * *o_out is the object (NULL for the string form or when absent). */
static nn_status typed_block(const ctx *x, const cJSON *train, const char *key,
                             const char *const *names, int *type, const cJSON **o_out)
{
    char p[PATH_MAX_LEN], tp[PATH_MAX_LEN], list[256];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(train, key);
    path_key(p, "train", key);
    *o_out = NULL;
    if (!v)
        return NN_OK;
    if (cJSON_IsString(v))
        return enum_value(x, v, p, names, type);
    if (!cJSON_IsObject(v)) {
        char got[64];
        describe(v, got, sizeof got);
        join(list, sizeof list, names, 1);
        return fail(x, p, "expected an object {\"type\": ...} or one of %s, got %s", list, got);
    }
    if (!cJSON_GetObjectItemCaseSensitive(v, "type")) {
        path_key(tp, p, "type");
        join(list, sizeof list, names, 1);
        return fail(x, tp, "missing (required: one of %s)", list);
    }
    *o_out = v;
    return get_enum(x, v, "type", p, names, 1, type);
}

static nn_status parse_optimizer(const ctx *x, const cJSON *train, nn_optim_config *opt)
{
    static const char *const names[] = {"sgd", "adamw", NULL};
    static const char *const sgd_keys[] = {"type", "momentum", "nesterov", "weight_decay", NULL};
    static const char *const adamw_keys[] = {"type", "beta1", "beta2", "eps", "weight_decay",
                                             NULL};
    static const char *const all_keys[] = {"type",  "momentum", "nesterov", "weight_decay",
                                           "beta1", "beta2",    "eps",      NULL};
    const char *path = "train.optimizer";
    int type = 0;
    const cJSON *o;
    nn_status s = typed_block(x, train, "optimizer", names, &type, &o);
    if (s)
        return s;
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
    if ((s = check_keys(x, o, path, type == 0 ? sgd_keys : adamw_keys, all_keys,
                        type == 0 ? "optimizer \"sgd\"" : "optimizer \"adamw\"")) ||
        (s = get_float(x, o, "weight_decay", path, R_UNIT, 0, NULL, &opt->weight_decay)))
        return s;
    if (type == 0) {
        if ((s = get_float(x, o, "momentum", path, R_UNIT, 0, NULL, &opt->momentum)) ||
            (s = get_bool(x, o, "nesterov", path, &opt->nesterov)))
            return s;
        if (opt->nesterov && opt->momentum == 0.0f)
            return fail(x, "train.optimizer.nesterov", "needs momentum > 0");
    } else {
        static const range r_eps = {0, 1, 1, 0};
        if ((s = get_float(x, o, "beta1", path, R_UNIT, 0, NULL, &opt->beta1)) ||
            (s = get_float(x, o, "beta2", path, R_UNIT, 0, NULL, &opt->beta2)) ||
            (s = get_float(x, o, "eps", path, r_eps, 0, NULL, &opt->eps)))
            return s;
    }
    return NN_OK;
}

static nn_status parse_schedule(const ctx *x, const cJSON *train, const cfg_train *t,
                                nn_schedule_config *sc)
{
    static const char *const names[] = {"constant", "step", "cosine", "onecycle", NULL};
    static const nn_sched_kind kinds[] = {NN_SCHED_CONSTANT, NN_SCHED_STEP, NN_SCHED_COSINE,
                                          NN_SCHED_ONECYCLE};
    static const char *const keys[][6] = {
        {"type", "warmup_epochs", NULL},
        {"type", "warmup_epochs", "step_epochs", "gamma", NULL},
        {"type", "warmup_epochs", "min_lr", NULL},
        {"type", "pct_start", "div_factor", "final_div_factor", NULL},
    };
    static const char *const all_keys[] = {"type",      "warmup_epochs", "min_lr",
                                           "step_epochs", "gamma",       "pct_start",
                                           "div_factor",  "final_div_factor", NULL};
    const char *path = "train.schedule";
    int type = 0;
    const cJSON *o;
    nn_status s = typed_block(x, train, "schedule", names, &type, &o);
    if (s)
        return s;
    memset(sc, 0, sizeof *sc);
    sc->kind = kinds[type];
    sc->base_lr = t->lr;
    sc->min_lr = 0.0f;
    sc->step_epochs = 10.0f;
    sc->gamma = 0.1f;
    sc->warmup_epochs = 0.0f;
    sc->pct_start = 0.25f;
    sc->div_factor = 25.0f;
    sc->final_div_factor = 1e4f;
    if (!o)
        return NN_OK;
    char what[48];
    snprintf(what, sizeof what, "schedule \"%s\"", names[type]);
    if ((s = check_keys(x, o, path, keys[type], all_keys, what)))
        return s;
    /* Cross-field bounds: warm-up ends before the run does, and the cosine
     * floor is below the base rate. */
    range r_warm = {0, t->epochs, 0, 1}, r_min = {0, t->lr, 0, 0};
    static const range r_gamma = {0, 1, 1, 0}, r_pct = {0, 1, 1, 1}, r_div = {1, INFINITY, 0, 1};
    if ((s = get_float(x, o, "warmup_epochs", path, r_warm, 0, "(below train.epochs)",
                       &sc->warmup_epochs)) ||
        (s = get_float(x, o, "min_lr", path, r_min, 0, "(at most train.lr)", &sc->min_lr)) ||
        (s = get_float(x, o, "step_epochs", path, R_POS, 0, NULL, &sc->step_epochs)) ||
        (s = get_float(x, o, "gamma", path, r_gamma, 0, NULL, &sc->gamma)) ||
        (s = get_float(x, o, "pct_start", path, r_pct, 0, NULL, &sc->pct_start)) ||
        (s = get_float(x, o, "div_factor", path, r_div, 0, NULL, &sc->div_factor)) ||
        (s = get_float(x, o, "final_div_factor", path, r_div, 0, NULL, &sc->final_div_factor)))
        return s;
    return NN_OK;
}

static nn_status parse_train(const ctx *x, const cJSON *o, cfg_train *t)
{
    static const char *const keys[] = {"epochs",   "batch_size",      "seed",      "lr",
                                       "optimizer", "schedule",       "label_smoothing",
                                       "eval_batch", NULL};
    const char *path = "train";
    nn_status s = check_keys(x, o, path, keys, NULL, NULL);
    if (s)
        return s;
    t->epochs = 0;
    t->batch_size = 128;
    t->eval_batch = 256;
    t->lr = 0.0f;
    t->label_smoothing = 0.0f;
    /* Seeds are integers a double holds exactly (JSON numbers are doubles). */
    static const range r_seed = {0, 9007199254740992.0, 0, 0};
    double seed = 1;
    if ((s = get_int(x, o, "epochs", path, 1, 100000, 1, &t->epochs)) ||
        (s = get_int(x, o, "batch_size", path, 1, 65536, 0, &t->batch_size)) ||
        (s = get_int(x, o, "eval_batch", path, 1, 65536, 0, &t->eval_batch)) ||
        (s = get_number(x, o, "seed", path, r_seed, 1, 0, NULL, &seed)) ||
        (s = get_float(x, o, "lr", path, R_POS, 1, NULL, &t->lr)) ||
        (s = get_float(x, o, "label_smoothing", path, R_UNIT, 0, NULL, &t->label_smoothing)) ||
        (s = parse_optimizer(x, o, &t->optim)) ||
        (s = parse_schedule(x, o, t, &t->schedule)))
        return s;
    t->seed = (uint64_t)seed;
    return NN_OK;
}

/* ------------------------------------------------------------------------ */
/* Top level                                                                */

/* "line L, column C: malformed JSON near `...`" for a cJSON error position. */
static nn_status malformed(const ctx *x, const char *text, const char *at)
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
static nn_status parse_augment(const ctx *x, const cJSON *o, aug_config *a, int *test_flip)
{
    static const char *const keys[] = {"rotate", "shear", "zoom", "translate", "fill", "hflip",
                                       "crop_pad", "crop_mode", "cutout", "test_flip", NULL};
    static const char *const crop_modes[] = {"zero", "reflect", NULL};
    const char *path = "augment";
    memset(a, 0, sizeof *a);
    nn_status s = check_keys(x, o, path, keys, NULL, NULL);
    if (s)
        return s;
    const range degrees = {0, 180, 0, 0}, shear = {0, 60, 0, 0}, zoom = {0, 1, 0, 1},
                half = {0, 0.5, 0, 0};
    int fill = 0, mode = 0;
    if ((s = get_float(x, o, "rotate", path, degrees, 0, "degrees", &a->rotate_deg)) ||
        (s = get_float(x, o, "shear", path, shear, 0, "degrees", &a->shear_deg)) ||
        (s = get_float(x, o, "zoom", path, zoom, 0, NULL, &a->zoom)) ||
        (s = get_float(x, o, "translate", path, half, 0, "a fraction of the image size",
                       &a->translate)) ||
        (s = get_int(x, o, "fill", path, 0, 255, 0, &fill)) ||
        (s = get_bool(x, o, "hflip", path, &a->hflip)) ||
        (s = get_int(x, o, "crop_pad", path, 0, 64, 0, &a->crop_pad)) ||
        (s = get_enum(x, o, "crop_mode", path, crop_modes, 0, &mode)) ||
        (s = get_int(x, o, "cutout", path, 0, 4096, 0, &a->cutout)) ||
        (s = get_bool(x, o, "test_flip", path, test_flip)))
        return s;
    a->fill = (uint8_t)fill;
    a->crop_reflect = mode == 1;
    return NN_OK;
}

static nn_status parse_root(const ctx *x, const cJSON *root, cfg_config *c)
{
    static const char *const keys[] = {"data",    "model", "train", "augment",
                                       "prune",   "quantize", NULL};
    char got[64];
    if (!cJSON_IsObject(root)) {
        describe(root, got, sizeof got);
        return fail(x, NULL, "expected a JSON object {\"data\": ..., \"model\": ..., \"train\": ...} "
                             "at the top level, got %s", got);
    }
    /* A block's key written at the top level: say where it belongs. */
    static const char *const homes[][2] = {
        {"dataset", "data"},     {"dir", "data"},      {"validation", "data"},
        {"mean", "data"},        {"std", "data"},      {"limit", "data"},      {"init", "model"},
        {"layers", "model"},     {"epochs", "train"},  {"batch_size", "train"},
        {"seed", "train"},       {"lr", "train"},      {"optimizer", "train"},
        {"schedule", "train"},   {"label_smoothing", "train"}, {"eval_batch", "train"},
    };
    for (const cJSON *it = root->child; it; it = it->next)
        for (size_t i = 0; i < sizeof homes / sizeof homes[0]; i++)
            if (strcmp(it->string, homes[i][0]) == 0)
                return fail(x, it->string, "unknown key at the top level (it belongs inside the "
                                           "\"%s\" block)", homes[i][1]);
    nn_status s = check_keys(x, root, "", keys, NULL, NULL);
    if (s)
        return s;
    const cJSON *blk[3];
    for (int i = 0; i < 3; i++) {
        if ((s = get_object(x, root, keys[i], "", &blk[i])))
            return s;
        if (!blk[i])
            return fail(x, keys[i], "missing (required block; see docs/config.md)");
    }
    if ((s = parse_data(x, blk[0], &c->data)) || (s = parse_model(x, blk[1], c)) ||
        (s = parse_train(x, blk[2], &c->train)))
        return s;
    const cJSON *aug = NULL;
    if ((s = get_object(x, root, "augment", "", &aug)))
        return s;
    memset(&c->augment, 0, sizeof c->augment);
    c->test_flip = 0;
    if (aug && (s = parse_augment(x, aug, &c->augment, &c->test_flip)))
        return s;
    const cJSON *prune = NULL;
    if ((s = get_object(x, root, "prune", "", &prune)))
        return s;
    if (prune && (s = cfg_prune_parse(&c->prune, prune, c->train.lr, &c->train.schedule,
                                      x->source, x->err)))
        return s;
    const cJSON *qz = NULL;
    if ((s = get_object(x, root, "quantize", "", &qz)) ||
        (s = cfg_quantize_parse(&c->quantize, qz, &c->model, x->source, x->err)))
        return s;
    return NN_OK;
}

nn_status cfg_parse(cfg_config *c, const char *json_text, const char *source, nn_error *err)
{
    ctx x = {source && source[0] ? source : "config", err};
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
    int read_err = ferror(f);
    fclose(f);
    nn_status s = NN_OK;
    if (read_err)
        s = nn_errorf(err, NN_ERR_IO, "%s: read error", path);
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
