/* iotc_common.c - .iotc model struct, metadata and validity rules. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotc.h"
#include "iotc_internal.h"

/* magic, version, name, what to do with an older file, no magic hint */
const ctr_format IOTC_FORMAT = {IOTC_MAGIC, IOTC_VERSION, ".iotc",
                                "unsupported old version; quantize the float checkpoint again",
                                NULL};

void iotc_init(iotc_model *f)
{
    memset(f, 0, sizeof *f);
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        f->std[c] = 1.0f;
    for (int i = 0; i < QM_MAX_OPS; i++) {
        f->src_layer[i] = -1;
        f->encoding[i] = -1;
    }
}

void iotc_free(iotc_model *f)
{
    qm_model_free(&f->m);
    f->m.n_ops = 0;
}

void iotc_delete(iotc_model *f)
{
    if (f)
        iotc_free(f);
    free(f);
}

int iotc_valid_meta_key(const char *k, size_t n)
{
    if (n < 1 || n >= IOTC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            return 0;
    return 1;
}

int iotc_valid_meta_value(const char *v, size_t n)
{
    if (n > 255)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] == 0x7f)
            return 0;
    return 1;
}

int iotc_valid_name(const char *s, size_t n)
{
    if (n >= IOTC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

nn_status iotc_set_meta(iotc_model *f, const char *key, const char *value, nn_error *err)
{
    if (!iotc_valid_meta_key(key, strlen(key)))
        return nn_errorf(err, NN_ERR_ARG, "metadata key \"%.40s\" is not 1 to %d of [a-z0-9_]", key,
                         IOTC_NAME_MAX - 1);
    if (!iotc_valid_meta_value(value, strlen(value)))
        return nn_errorf(err, NN_ERR_ARG,
                         "metadata %s: the value is longer than 255 bytes or has control "
                         "characters",
                         key);
    int i = 0;
    while (i < f->n_meta && strcmp(f->meta_key[i], key) != 0)
        i++;
    if (i == IOTC_MAX_META)
        return nn_errorf(err, NN_ERR_ARG, "more than %d metadata entries", IOTC_MAX_META);
    snprintf(f->meta_key[i], sizeof f->meta_key[i], "%s", key);
    snprintf(f->meta_value[i], sizeof f->meta_value[i], "%s", value);
    if (i == f->n_meta)
        f->n_meta++;
    return NN_OK;
}

const char *iotc_get_meta(const iotc_model *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_key[i], key) == 0)
            return f->meta_value[i];
    return NULL;
}

nn_status iotc_check_accumulators(const qm_model *m, nn_error *err)
{
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        if (!iotc_is_weighted(op->type))
            continue;
        const size_t per = op->n_weights / (size_t)op->out_c;
        for (int o = 0; o < op->out_c; o++) {
            const int8_t *w = op->weights + (size_t)o * per;
            uint64_t s = 0; /* <= 2^31 * 127: no overflow */
            for (size_t k = 0; k < per; k++)
                s += (uint64_t)abs(w[k]);
            uint64_t worst = (uint64_t)llabs((long long)op->bias[o]) + 255u * s;
            if (worst > (uint64_t)INT32_MAX)
                return nn_errorf(err, NN_ERR_FORMAT,
                                 "op %d (%s): channel %d: bias %ld plus up to %llu from the "
                                 "weights can overflow an int32 accumulator",
                                 i, qm_op_type_name(op->type), o, (long)op->bias[o],
                                 (unsigned long long)(255u * s));
        }
    }
    return NN_OK;
}
