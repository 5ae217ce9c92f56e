/* cfg_quantize.c - the `quantize` block (see cfg_quantize.h and
 * docs/config.md). Messages follow cfg.c: "SOURCE: JSON.PATH: what". */
#include "cfg_quantize.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *source;
    nn_error *err;
} qctx;

__attribute__((format(printf, 3, 4))) static nn_status fail(const qctx *x, const char *path,
                                                            const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_errorf(x->err, NN_ERR_CONFIG, "%s: %s: %s", x->source, path, msg);
}

/* A short rendering of a value for "got ...". */
static void describe(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v))
        snprintf(buf, cap, "\"%.40s\"", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(buf, cap, "%.17g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v))
        snprintf(buf, cap, "null");
    else if (cJSON_IsArray(v))
        snprintf(buf, cap, "an array");
    else
        snprintf(buf, cap, "an object");
    for (char *q = buf; *q; q++)
        if ((unsigned char)*q < 0x20)
            *q = '?';
}

/* Unknown keys, duplicates and non-string comments. */
static nn_status check_keys(const qctx *x, const cJSON *obj, const char *path,
                            const char *const *allowed, const char *list)
{
    char p[160], got[64];
    for (const cJSON *it = obj->child; it; it = it->next) {
        snprintf(p, sizeof p, "%s.%.60s", path, it->string);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return fail(x, p, "duplicate key");
        if (strcmp(it->string, "comment") == 0) {
            if (!cJSON_IsString(it)) {
                describe(it, got, sizeof got);
                return fail(x, p, "expected a string, got %s", got);
            }
            continue;
        }
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], it->string) == 0;
        if (!ok)
            return fail(x, p, "unknown key (valid keys: %s)", list);
    }
    return NN_OK;
}

/* An integer in [lo, hi] at obj.key; *out unchanged when absent. */
static nn_status get_int(const qctx *x, const cJSON *obj, const char *key, const char *path,
                         double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return NN_OK;
    char p[160], got[64];
    snprintf(p, sizeof p, "%s.%s", path, key);
    describe(v, got, sizeof got);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return fail(x, p, "expected an integer in [%.0f, %.0f], got %s", lo, hi, got);
    *out = v->valuedouble;
    return NN_OK;
}

static nn_status get_bits(const qctx *x, const cJSON *obj, const char *path, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "weight_bits");
    if (!v)
        return NN_OK;
    char p[160], got[64];
    snprintf(p, sizeof p, "%s.weight_bits", path);
    describe(v, got, sizeof got);
    if (!cJSON_IsNumber(v) || (v->valuedouble != 8 && v->valuedouble != 4))
        return fail(x, p, "expected 8 or 4%s, got %s",
                    strcmp(path, "quantize") == 0 ? " or \"auto\"" : "", got);
    *out = (int)v->valuedouble;
    return NN_OK;
}

/* quantize.layers[i].layer: a layer name or index -> index of a conv2d or
 * dense layer. */
static nn_status resolve_layer(const qctx *x, const cJSON *v, const char *p,
                               const nn_model_spec *model, int *out)
{
    char got[64];
    describe(v, got, sizeof got);
    int idx = -1;
    if (cJSON_IsString(v)) {
        for (int j = 0; j < model->n_layers && idx < 0; j++)
            if (model->layers[j].name[0] && strcmp(model->layers[j].name, v->valuestring) == 0)
                idx = j;
        if (idx < 0)
            return fail(x, p, "no layer is named %s", got);
    } else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
               v->valuedouble >= 0 && v->valuedouble < model->n_layers) {
        idx = (int)v->valuedouble;
    } else {
        return fail(x, p, "expected a layer name or an index in [0, %d], got %s",
                    model->n_layers - 1, got);
    }
    nn_layer_type t = model->layers[idx].type;
    if (t != NN_LAYER_CONV2D && t != NN_LAYER_DENSE)
        return fail(x, p, "model.layers[%d] is a %s; only conv2d and dense layers have weights",
                    idx, nn_layer_type_name(t));
    *out = idx;
    return NN_OK;
}

static nn_status parse_layers(const qctx *x, const cJSON *arr, const nn_model_spec *model,
                              qz_config *qz)
{
    static const char *const keys[] = {"layer", "weight_bits", NULL};
    char p[160], got[64];
    if (!cJSON_IsArray(arr)) {
        describe(arr, got, sizeof got);
        return fail(x, "quantize.layers",
                    "expected an array of {\"layer\": ..., "
                    "\"weight_bits\": ...}, got %s",
                    got);
    }
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        snprintf(p, sizeof p, "quantize.layers[%d]", i);
        if (!cJSON_IsObject(e)) {
            describe(e, got, sizeof got);
            return fail(x, p, "expected an object {\"layer\": ..., \"weight_bits\": ...}, got %s",
                        got);
        }
        nn_status s = check_keys(x, e, p, keys, "layer, weight_bits");
        if (s)
            return s;
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "layer");
        char lp[176];
        snprintf(lp, sizeof lp, "%s.layer", p);
        if (!l)
            return fail(x, lp, "missing (required: a layer name or index)");
        if (!cJSON_GetObjectItemCaseSensitive(e, "weight_bits"))
            return fail(x, p, "weight_bits is missing (required: 8 or 4)");
        int idx = -1, bits = 0;
        if ((s = resolve_layer(x, l, lp, model, &idx)) || (s = get_bits(x, e, p, &bits)))
            return s;
        for (int k = 0; k < qz->n_overrides; k++)
            if (qz->override_layer[k] == idx)
                return fail(x, lp,
                            "model.layers[%d] already has an entry "
                            "(quantize.layers[%d])",
                            idx, k);
        qz->override_layer[qz->n_overrides] = idx;
        qz->override_bits[qz->n_overrides] = bits;
        qz->n_overrides++;
    }
    return NN_OK;
}

nn_status cfg_quantize_parse(cfg_quantize *q, const cJSON *obj, const nn_model_spec *model,
                             const char *source, nn_error *err)
{
    static const char *const keys[] = {"method", "percentile",  "calibration_images",
                                       "seed",   "weight_bits", "max_accuracy_drop",
                                       "layers", NULL};
    static const char *const methods[] = {"minmax", "percentile", "mse", NULL};
    qctx x = {source && source[0] ? source : "config", err};
    memset(q, 0, sizeof *q);
    qz_config_defaults(&q->qz);
    if (!obj)
        return NN_OK;
    q->present = 1;
    char got[64];
    if (!cJSON_IsObject(obj)) {
        describe(obj, got, sizeof got);
        return fail(&x, "quantize", "expected an object, got %s", got);
    }
    nn_status s = check_keys(&x, obj, "quantize", keys,
                             "method, percentile, calibration_images, seed, weight_bits, "
                             "max_accuracy_drop, layers");
    if (s)
        return s;
    qz_config *qz = &q->qz;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "method");
    if (m) {
        int found = -1;
        for (int i = 0; methods[i] && cJSON_IsString(m); i++)
            if (strcmp(methods[i], m->valuestring) == 0)
                found = i;
        if (found < 0) {
            describe(m, got, sizeof got);
            return fail(&x, "quantize.method",
                        "expected one of \"minmax\", \"percentile\", \"mse\", got %s", got);
        }
        qz->method = found == 0 ? QZ_MINMAX : found == 1 ? QZ_PERCENTILE : QZ_MSE;
    }
    const cJSON *pct = cJSON_GetObjectItemCaseSensitive(obj, "percentile");
    if (pct) {
        if (qz->method != QZ_PERCENTILE)
            return fail(&x, "quantize.percentile", "only valid with \"method\": \"percentile\"");
        describe(pct, got, sizeof got);
        if (!cJSON_IsNumber(pct) || !(pct->valuedouble > 50 && pct->valuedouble <= 100))
            return fail(&x, "quantize.percentile", "expected a number in (50, 100], got %s", got);
        qz->percentile = pct->valuedouble;
    }
    double n = qz->calibration_images, seed = (double)qz->seed;
    const cJSON *wb = cJSON_GetObjectItemCaseSensitive(obj, "weight_bits");
    if (cJSON_IsString(wb) && strcmp(wb->valuestring, "auto") == 0)
        qz->auto_bits = 1; /* 8 bits, then 4 where accuracy allows */
    else if ((s = get_bits(&x, obj, "quantize", &qz->weight_bits)))
        return s;
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(obj, "max_accuracy_drop");
    if (drop) {
        if (!qz->auto_bits)
            return fail(&x, "quantize.max_accuracy_drop",
                        "only valid with \"weight_bits\": \"auto\"");
        describe(drop, got, sizeof got);
        if (!cJSON_IsNumber(drop) || !(drop->valuedouble >= 0 && drop->valuedouble <= 100))
            return fail(&x, "quantize.max_accuracy_drop",
                        "expected a number of accuracy points in [0, 100], got %s", got);
        qz->max_drop = drop->valuedouble;
    }
    if ((s = get_int(&x, obj, "calibration_images", "quantize", 1, 1000000, &n)) ||
        (s = get_int(&x, obj, "seed", "quantize", 0, 9007199254740992.0, &seed)))
        return s;
    qz->calibration_images = (int)n;
    qz->seed = (uint64_t)seed;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(obj, "layers");
    if (layers && (s = parse_layers(&x, layers, model, qz)))
        return s;
    return NN_OK;
}
