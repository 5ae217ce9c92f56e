/* iotc_common.c - .iotc model struct, metadata and section framing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotc.h"
#include "iotc_internal.h"

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

/* Tags are four of [A-Z0-9]: anything else is corruption. */
static int tag_valid(const uint8_t *t)
{
    for (int k = 0; k < 4; k++)
        if (!((t[k] >= 'A' && t[k] <= 'Z') || (t[k] >= '0' && t[k] <= '9')))
            return 0;
    return 1;
}

nn_status iotc_scan_sections(const uint8_t *data, size_t len, const char *path, const char *magic,
                             uint32_t *version, iotc_section *secs, int max_secs, int *n_secs,
                             nn_error *err)
{
    *n_secs = 0;
    nn_rbuf r;
    nn_rbuf_init(&r, data, len, 0, path, "header");
    const uint8_t *m;
    nn_status st = nn_rbuf_view(&r, &m, 8, "magic", err);
    if (st != NN_OK)
        return st;
    if (memcmp(m, magic, 8) != 0)
        return nn_rbuf_errorf(&r, 0, err, NN_ERR_FORMAT, "bad magic (expected \"%.8s\")", magic);
    uint32_t count;
    if ((st = nn_rbuf_u32(&r, version, "version", err)) != NN_OK ||
        (st = nn_rbuf_u32(&r, &count, "section count", err)) != NN_OK)
        return st;
    if ((uint64_t)count * 16u > nn_rbuf_left(&r) || count > (uint32_t)max_secs)
        return nn_rbuf_errorf(&r, 12, err, NN_ERR_FORMAT,
                              "%lu sections cannot fit in the %zu bytes that follow (at most %d; "
                              "truncated or corrupt file)",
                              (unsigned long)count, nn_rbuf_left(&r), max_secs);
    char what[48];
    for (uint32_t s = 0; s < count; s++) {
        uint64_t hdr = nn_rbuf_offset(&r);
        snprintf(what, sizeof what, "section %lu", (unsigned long)s);
        r.what = what;
        const uint8_t *tag;
        if ((st = nn_rbuf_view(&r, &tag, 4, "section tag", err)) != NN_OK)
            return st;
        if (!tag_valid(tag))
            return nn_rbuf_errorf(&r, hdr, err, NN_ERR_FORMAT,
                                  "invalid section tag %02x %02x %02x %02x (corrupt file)", tag[0],
                                  tag[1], tag[2], tag[3]);
        snprintf(what, sizeof what, "section %.4s", (const char *)tag);
        uint64_t plen;
        if ((st = nn_rbuf_u64(&r, &plen, "section length", err)) != NN_OK)
            return st;
        if (nn_rbuf_left(&r) < 4 || plen > nn_rbuf_left(&r) - 4)
            return nn_rbuf_errorf(&r, hdr + 4, err, NN_ERR_FORMAT,
                                  "length %llu exceeds the %zu bytes left for payload and CRC "
                                  "(truncated or corrupt file)",
                                  (unsigned long long)plen,
                                  nn_rbuf_left(&r) >= 4 ? nn_rbuf_left(&r) - 4 : 0);
        uint64_t poff = nn_rbuf_offset(&r);
        (void)nn_rbuf_skip(&r, (size_t)plen, "payload", err); /* fits: checked above */
        uint32_t crc;
        if ((st = nn_rbuf_u32(&r, &crc, "CRC32", err)) != NN_OK)
            return st;
        uint32_t got = nn_crc32(tag, (size_t)plen + 12);
        if (crc != got)
            return nn_rbuf_errorf(&r, poff + plen, err, NN_ERR_FORMAT,
                                  "CRC32 mismatch (stored %08lx, computed %08lx over the section "
                                  "header and %llu payload bytes at offset %llu): the file is "
                                  "corrupt",
                                  (unsigned long)crc, (unsigned long)got, (unsigned long long)plen,
                                  (unsigned long long)poff);
        iotc_section *sec = &secs[*n_secs];
        memcpy(sec->tag, tag, 4);
        sec->tag[4] = '\0';
        sec->offset = hdr;
        sec->bytes = plen + 16;
        for (int k = 0; k < *n_secs; k++)
            if (strcmp(secs[k].tag, sec->tag) == 0)
                return nn_rbuf_errorf(&r, hdr, err, NN_ERR_FORMAT,
                                      "duplicate section (the first is at offset %llu)",
                                      (unsigned long long)secs[k].offset);
        (*n_secs)++;
    }
    r.what = "end of file";
    if (nn_rbuf_left(&r) != 0)
        return nn_rbuf_errorf(&r, nn_rbuf_offset(&r), err, NN_ERR_FORMAT,
                              "%zu bytes after the last section (corrupt file)", nn_rbuf_left(&r));
    return NN_OK;
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
