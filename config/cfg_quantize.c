/* cfg_quantize.c - the `quantize` block (see cfg_quantize.h and
 * docs/config.md), read with the getters of cfg_strict.h like the other
 * blocks: messages are "SOURCE: JSON.PATH: what". */
#include "cfg_quantize.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cfg_strict.h"

static nn_status get_bits(const cs_ctx *x, const cJSON *obj, const char *path, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "weight_bits");
    if (!v)
        return NN_OK;
    char p[CS_PATH_MAX], got[64];
    cs_path_key(p, path, "weight_bits");
    cs_describe(v, got, sizeof got);
    if (!cJSON_IsNumber(v) || (v->valuedouble != 8 && v->valuedouble != 4))
        return cs_fail(x, p, "expected 8 or 4%s, got %s",
                       strcmp(path, "quantize") == 0 ? " or \"auto\"" : "", got);
    *out = (int)v->valuedouble;
    return NN_OK;
}

/* quantize.layers[i].layer: a layer name or index -> index of a conv2d or
 * dense layer. */
static nn_status resolve_layer(const cs_ctx *x, const cJSON *v, const char *p,
                               const nn_model_spec *model, int *out)
{
    char got[64];
    cs_describe(v, got, sizeof got);
    int idx = -1;
    if (cJSON_IsString(v)) {
        for (int j = 0; j < model->n_layers && idx < 0; j++)
            if (model->layers[j].name[0] && strcmp(model->layers[j].name, v->valuestring) == 0)
                idx = j;
        if (idx < 0)
            return cs_fail(x, p, "no layer is named %s", got);
    } else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
               v->valuedouble >= 0 && v->valuedouble < model->n_layers) {
        idx = (int)v->valuedouble;
    } else {
        return cs_fail(x, p, "expected a layer name or an index in [0, %d], got %s",
                       model->n_layers - 1, got);
    }
    nn_layer_type t = model->layers[idx].type;
    if (t != NN_LAYER_CONV2D && t != NN_LAYER_DENSE && t != NN_LAYER_DEPTHWISE_CONV2D)
        return cs_fail(x, p,
                       "model.layers[%d] is a %s; only conv2d, dense and depthwise_conv2d "
                       "layers have weights",
                       idx, nn_layer_type_name(t));
    *out = idx;
    return NN_OK;
}

static nn_status parse_layers(const cs_ctx *x, const cJSON *arr, const nn_model_spec *model,
                              qz_config *qz)
{
    static const char *const keys[] = {"layer", "weight_bits", NULL};
    char p[CS_PATH_MAX], got[64];
    if (!cJSON_IsArray(arr)) {
        cs_describe(arr, got, sizeof got);
        return cs_fail(x, "quantize.layers",
                       "expected an array of {\"layer\": ..., "
                       "\"weight_bits\": ...}, got %s",
                       got);
    }
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        cs_path_index(p, "quantize.layers", i);
        if (!cJSON_IsObject(e)) {
            cs_describe(e, got, sizeof got);
            return cs_fail(
                x, p, "expected an object {\"layer\": ..., \"weight_bits\": ...}, got %s", got);
        }
        nn_status s = cs_check_keys(x, e, p, keys, NULL, NULL);
        if (s)
            return s;
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "layer");
        char lp[CS_PATH_MAX];
        cs_path_key(lp, p, "layer");
        if (!l)
            return cs_fail(x, lp, "missing (required: a layer name or index)");
        if (!cJSON_GetObjectItemCaseSensitive(e, "weight_bits"))
            return cs_fail(x, p, "weight_bits is missing (required: 8 or 4)");
        int idx = -1, bits = 0;
        if ((s = resolve_layer(x, l, lp, model, &idx)) || (s = get_bits(x, e, p, &bits)))
            return s;
        for (int k = 0; k < qz->n_overrides; k++)
            if (qz->override_layer[k] == idx)
                return cs_fail(x, lp,
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
                             float train_lr, const nn_schedule_config *train_schedule,
                             const char *source, nn_error *err)
{
    static const char *const keys[] = {"method", "percentile",  "calibration_images",
                                       "seed",   "weight_bits", "max_accuracy_drop",
                                       "layers", "qat",         NULL};
    static const char *const methods[] = {"minmax", "percentile", "mse", NULL};
    cs_ctx x = {source && source[0] ? source : "config", err};
    memset(q, 0, sizeof *q);
    qz_config_defaults(&q->qz);
    q->qat.lr = train_lr;
    q->qat.schedule = *train_schedule;
    if (!obj)
        return NN_OK;
    q->present = 1;
    char got[64];
    if (!cJSON_IsObject(obj)) {
        cs_describe(obj, got, sizeof got);
        return cs_fail(&x, "quantize", "expected an object, got %s", got);
    }
    nn_status s = cs_check_keys(&x, obj, "quantize", keys, NULL, NULL);
    if (s)
        return s;
    qz_config *qz = &q->qz;
    int method = -1;
    if ((s = cs_enum(&x, obj, "method", "quantize", methods, 0, &method)))
        return s;
    if (method >= 0)
        qz->method = method == 0 ? QZ_MINMAX : method == 1 ? QZ_PERCENTILE : QZ_MSE;
    if (cJSON_GetObjectItemCaseSensitive(obj, "percentile") && qz->method != QZ_PERCENTILE)
        return cs_fail(&x, "quantize.percentile", "only valid with \"method\": \"percentile\"");
    if ((s = cs_number(&x, obj, "percentile", "quantize", (cs_range){50, 100, 1, 0}, 0, 0, NULL,
                       &qz->percentile)))
        return s;
    const cJSON *wb = cJSON_GetObjectItemCaseSensitive(obj, "weight_bits");
    if (cJSON_IsString(wb) && strcmp(wb->valuestring, "auto") == 0)
        qz->auto_bits = 1; /* 8 bits, then 4 where accuracy allows */
    else if ((s = get_bits(&x, obj, "quantize", &qz->weight_bits)))
        return s;
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(obj, "max_accuracy_drop");
    if (drop) {
        if (!qz->auto_bits)
            return cs_fail(&x, "quantize.max_accuracy_drop",
                           "only valid with \"weight_bits\": \"auto\"");
        cs_describe(drop, got, sizeof got);
        if (!cJSON_IsNumber(drop) || !(drop->valuedouble >= 0 && drop->valuedouble <= 100))
            return cs_fail(&x, "quantize.max_accuracy_drop",
                           "expected a number of accuracy points in [0, 100], got %s", got);
        qz->max_drop = drop->valuedouble;
    }
    double seed = (double)qz->seed;
    if ((s = cs_int(&x, obj, "calibration_images", "quantize", 1, 1000000, 0,
                    &qz->calibration_images)) ||
        (s = cs_number(&x, obj, "seed", "quantize", (cs_range){0, 9007199254740992.0, 0, 0}, 1, 0,
                       NULL, &seed)))
        return s;
    qz->seed = (uint64_t)seed;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(obj, "layers");
    if (layers && (s = parse_layers(&x, layers, model, qz)))
        return s;
    if ((s = cfg_finetune_parse(&x, obj, "quantize", "qat", train_lr, train_schedule, &q->qat)))
        return s;
    if (q->qat.epochs > 0 && qz->auto_bits)
        return cs_fail(&x, "quantize.qat",
                       "not with \"weight_bits\": \"auto\": fake quantization trains for "
                       "fixed bit widths; give 8 or 4 (and quantize.layers)");
    return NN_OK;
}
