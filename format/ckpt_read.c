/* ckpt_read.c - loading the float checkpoint (.ckpt; the payloads are
 * described in ckpt_write.c).
 *
 * Loading reads the file whole, checks the framing of every section (ctr_scan:
 * length against the bytes left, CRC32, duplicate tags) before decoding
 * anything, then decodes ARCH, builds the model and checks every other
 * section against it. Any failure frees everything and leaves a message
 * "PATH: section TAG: offset N: ...". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_io.h"
#include "libnn/nn_values.h"
#include "ckpt.h"

/* Refuse absurd files before reading them whole (a wrong path, /dev/zero). */
#define CK_MAX_FILE_BYTES ((uint64_t)1 << 36)
/* Field limits, matching what nn_model_build accepts; checked here first so
 * that a forged file cannot push its size arithmetic out of range. */
#define CK_DIM_MAX 65536
#define CK_UNITS_MAX (1 << 24)

enum { SEC_ARCH, SEC_PARM, SEC_STAT, SEC_OPTM, SEC_TRAN, SEC_CONF, SEC_CLSN, SEC_COUNT };
static const char SEC_TAGS[SEC_COUNT][5] = {"ARCH", "PARM", "STAT", "OPTM",
                                            "TRAN", "CONF", "CLSN"};

static const char *magic_hint(const char *path, const uint8_t *b, size_t n);

/* magic, version, name, what to do with an older file, hint */
const ctr_format CKPT_FORMAT = {CKPT_MAGIC, CKPT_VERSION, "checkpoint",
                                "unsupported old version; retrain or convert it", magic_hint};

typedef struct {
    const uint8_t *payload;
    size_t len;
    uint64_t off; /* file offset of the payload */
    int present;
} section;

static nn_status read_i32_in(nn_rbuf *r, int32_t *v, int32_t lo, int32_t hi, const char *field,
                             int layer, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_i32(r, v, field, err));
    if (layer >= 0)
        CTR_CHECK(*v >= lo && *v <= hi, off, "layer %d: %s = %ld, must be in [%ld, %ld]", layer,
                  field, (long)*v, (long)lo, (long)hi);
    else
        CTR_CHECK(*v >= lo && *v <= hi, off, "%s = %ld, must be in [%ld, %ld]", field, (long)*v,
                  (long)lo, (long)hi);
    return NN_OK;
}

static nn_status read_finite(nn_rbuf *r, float *v, const char *field, int layer, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_f32(r, v, field, err));
    CTR_CHECK(isfinite(*v), off, "layer %d: %s is not a finite number", layer, field);
    return NN_OK;
}

static nn_status decode_layer(nn_rbuf *r, nn_layer_spec *l, int i, nn_error *err)
{
    memset(l, 0, sizeof *l);
    uint64_t off = nn_rbuf_offset(r);
    uint32_t type;
    CTR_TRY(nn_rbuf_u32(r, &type, "layer type", err));
    CTR_CHECK(type <= 0xffff && nn_layer_type_name((nn_layer_type)type) != NULL, off,
              "layer %d: unknown layer type code %lu", i, (unsigned long)type);
    l->type = (nn_layer_type)type;

    off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_bytes(r, l->name, NN_NAME_MAX, "layer name", err));
    size_t nl = strnlen(l->name, NN_NAME_MAX);
    CTR_CHECK(nl < NN_NAME_MAX, off, "layer %d: name is not NUL-terminated", i);
    for (size_t k = nl; k < NN_NAME_MAX; k++)
        CTR_CHECK(l->name[k] == '\0', off + k, "layer %d: non-zero byte after the name", i);

    int32_t v;
    /* Inputs point backwards: the DAG is in list order. input2 is only used
     * by add; other layers keep the "unset" default NN_INPUT_NODE - 1. */
    CTR_TRY(read_i32_in(r, &v, NN_INPUT_NODE, i - 1, "input", i, err));
    l->input = v;
    int lo2 = l->type == NN_LAYER_ADD ? NN_INPUT_NODE : NN_INPUT_NODE - 1;
    CTR_TRY(read_i32_in(r, &v, lo2, i - 1, "input2", i, err));
    l->input2 = v;
    CTR_TRY(read_i32_in(r, &v, 0, CK_DIM_MAX, "out_channels", i, err));
    l->out_channels = v;
    CTR_TRY(read_i32_in(r, &v, 0, CK_DIM_MAX, "kernel", i, err));
    l->kernel = v;
    CTR_TRY(read_i32_in(r, &v, 0, CK_DIM_MAX, "stride", i, err));
    l->stride = v;
    CTR_TRY(read_i32_in(r, &v, 0, CK_DIM_MAX, "pad", i, err));
    l->pad = v;
    CTR_TRY(read_i32_in(r, &v, 0, 1, "bias", i, err));
    l->bias = v;
    CTR_TRY(read_i32_in(r, &v, 0, CK_UNITS_MAX, "units", i, err));
    l->units = v;
    CTR_TRY(read_finite(r, &l->rate, "rate", i, err));
    CTR_TRY(read_finite(r, &l->momentum, "momentum", i, err));
    CTR_TRY(read_finite(r, &l->eps, "eps", i, err));
    return NN_OK;
}

/* Decodes ARCH into spec, mean and std. */
static nn_status decode_arch(nn_rbuf *r, nn_model_spec *s, float *mean, float *std,
                             nn_error *err)
{
    int32_t v;
    CTR_TRY(read_i32_in(r, &v, 1, NN_MAX_CHANNELS_NORM, "in_c", -1, err));
    s->in_c = v;
    CTR_TRY(read_i32_in(r, &v, 1, CK_DIM_MAX, "in_h", -1, err));
    s->in_h = v;
    CTR_TRY(read_i32_in(r, &v, 1, CK_DIM_MAX, "in_w", -1, err));
    s->in_w = v;
    CTR_TRY(read_i32_in(r, &v, 0, CK_UNITS_MAX, "num_classes", -1, err));
    s->num_classes = v;
    CTR_TRY(read_i32_in(r, &v, 1, NN_MAX_LAYERS, "n_layers", -1, err));
    s->n_layers = v;
    for (int i = 0; i < s->n_layers; i++)
        CTR_TRY(decode_layer(r, &s->layers[i], i, err));
    uint64_t off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_f32s(r, mean, NN_MAX_CHANNELS_NORM, "normalization mean", err));
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        CTR_CHECK(isfinite(mean[c]), off + 4 * (uint64_t)c, "normalization mean[%d] is not finite",
                  c);
    off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_f32s(r, std, NN_MAX_CHANNELS_NORM, "normalization std", err));
    /* Channels beyond the input's are unused: they need only be finite. */
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        CTR_CHECK(isfinite(std[c]) && (c >= s->in_c || std[c] > 0.0f), off + 4 * (uint64_t)c,
                  "normalization std[%d] = %g, must be finite and > 0", c, (double)std[c]);
    return ctr_end_of_payload(r, err);
}

/* Belt and braces: every span of the built model lies inside its buffers,
 * so nothing later can index outside them whatever the file said. */
static int layout_fits(const nn_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (nd->w.off > m->n_params || nd->w.n > m->n_params - nd->w.off ||
            nd->b.off > m->n_params || nd->b.n > m->n_params - nd->b.off ||
            nd->stat.off > m->n_state || nd->stat.n > m->n_state - nd->stat.off)
            return 0;
    }
    return 1;
}

/* A float array section whose payload must be exactly n floats. */
static nn_status decode_floats(nn_rbuf *r, float *dst, size_t n, const char *what,
                               nn_error *err)
{
    CTR_CHECK(n <= SIZE_MAX / 4 && r->len == n * 4, nn_rbuf_offset(r),
              "%zu bytes, but the architecture has %zu %s (%zu bytes)", r->len, n, what,
              n <= SIZE_MAX / 4 ? n * 4 : 0);
    CTR_TRY(nn_rbuf_f32s(r, dst, n, what, err));
    return ctr_end_of_payload(r, err);
}

/* moment_off[0] and [1] receive the file offsets of m and v. */
static nn_status decode_optim(nn_rbuf *r, nn_optim *o, size_t n_params, uint64_t moment_off[2],
                              nn_error *err)
{
    nn_optim_config c;
    memset(&c, 0, sizeof c);
    uint64_t off = nn_rbuf_offset(r);
    uint32_t kind;
    CTR_TRY(nn_rbuf_u32(r, &kind, "optimizer kind", err));
    CTR_CHECK(kind == NN_OPT_SGD || kind == NN_OPT_ADAMW, off,
              "unknown optimizer kind %lu (1 = sgd, 2 = adamw)", (unsigned long)kind);
    c.kind = (nn_optim_kind)kind;
    CTR_TRY(nn_rbuf_f32(r, &c.momentum, "momentum", err));
    int32_t nesterov;
    off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_i32(r, &nesterov, "nesterov", err));
    CTR_CHECK(nesterov == 0 || nesterov == 1, off, "nesterov = %ld, must be 0 or 1",
              (long)nesterov);
    c.nesterov = nesterov;
    CTR_TRY(nn_rbuf_f32(r, &c.weight_decay, "weight_decay", err));
    CTR_TRY(nn_rbuf_f32(r, &c.beta1, "beta1", err));
    CTR_TRY(nn_rbuf_f32(r, &c.beta2, "beta2", err));
    CTR_TRY(nn_rbuf_f32(r, &c.eps, "eps", err));
    uint64_t t;
    CTR_TRY(nn_rbuf_u64(r, &t, "step count", err));

    /* The optimizer validates its own config; keep its reason. */
    nn_error oerr = {{0}};
    nn_status st = nn_optim_init(o, &c, n_params, &oerr);
    if (st != NN_OK)
        return nn_rbuf_errorf(r, r->base, err, st == NN_ERR_NOMEM ? st : NN_ERR_FORMAT, "%s",
                              oerr.msg);
    o->t = t;

    uint64_t count;
    off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_u64(r, &count, "first moment length", err));
    CTR_CHECK(count == n_params, off, "first moment has %llu values, the model has %zu parameters",
              (unsigned long long)count, n_params);
    moment_off[0] = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_f32s(r, o->m, n_params, "first moment", err));
    size_t want_v = c.kind == NN_OPT_ADAMW ? n_params : 0;
    off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_u64(r, &count, "second moment length", err));
    CTR_CHECK(count == want_v, off, "second moment has %llu values, expected %zu for %s",
              (unsigned long long)count, want_v, c.kind == NN_OPT_ADAMW ? "adamw" : "sgd");
    moment_off[1] = nn_rbuf_offset(r);
    if (want_v)
        CTR_TRY(nn_rbuf_f32s(r, o->v, want_v, "second moment", err));
    return ctr_end_of_payload(r, err);
}

static nn_status decode_train(nn_rbuf *r, nn_train_state *ts, nn_error *err)
{
    CTR_TRY(nn_rbuf_u64(r, &ts->seed, "seed", err));
    int32_t v;
    CTR_TRY(read_i32_in(r, &v, 0, INT32_MAX, "epochs_done", -1, err));
    ts->epochs_done = v;
    CTR_TRY(read_i32_in(r, &v, 0, INT32_MAX, "total_epochs", -1, err));
    ts->total_epochs = v;
    CTR_TRY(nn_rbuf_u64(r, &ts->step, "step", err));
    return ctr_end_of_payload(r, err);
}

static nn_status decode_conf(nn_rbuf *r, char **out, nn_error *err)
{
    const uint8_t *nul = r->len ? memchr(r->data, 0, r->len) : NULL;
    CTR_CHECK(!nul, r->base + (uint64_t)(nul - r->data), "NUL byte inside the config text");
    char *s = malloc(r->len + 1);
    if (!s)
        return nn_rbuf_errorf(r, r->base, err, NN_ERR_NOMEM, "out of memory for %zu bytes",
                              r->len);
    if (r->len)
        memcpy(s, r->data, r->len);
    s[r->len] = '\0';
    r->pos = r->len;
    *out = s;
    return NN_OK;
}

/* Why the first bytes are not a checkpoint, as a hint for the user. */
static const char *magic_hint(const char *path, const uint8_t *b, size_t n)
{
    size_t pl = strlen(path);
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return "it is gzip-compressed: gunzip it first";
    if (n >= 4 && memcmp(b, "IOTC", 4) == 0)
        return "it is another iotcnn file (a quantized .iotc model?): `iotcnn prune` and "
               "`iotcnn quantize` take a float .ckpt from `iotcnn train`";
    if (pl >= 5 && strcmp(path + pl - 5, ".iotc") == 0)
        return "a .iotc file is a quantized model, not a float checkpoint";
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
        i++;
    if (i < n && (b[i] == '{' || b[i] == '['))
        return "it looks like JSON text (a config?), not a checkpoint written by `iotcnn train`";
    return "not an iotcnn checkpoint: pass a .ckpt written by `iotcnn train`";
}

/* Splits the file into sections (ck->sections), verifying the framing, and
 * points secs at the known ones. */
static nn_status parse_sections(ckpt_file *ck, const char *path, const uint8_t *data, size_t len,
                                section *secs, nn_error *err)
{
    CTR_TRY(ctr_scan(data, len, path, &CKPT_FORMAT, ck->sections, CKPT_MAX_SECTIONS,
                     &ck->n_sections, err));
    for (int k = 0; k < SEC_COUNT; k++) {
        const ctr_section *c = ctr_find(ck->sections, ck->n_sections, SEC_TAGS[k]);
        if (c)
            secs[k] = (section){data + ctr_payload_offset(c), (size_t)ctr_payload_bytes(c),
                                ctr_payload_offset(c), 1};
        else if (k <= SEC_STAT)
            return ctr_missing(path, len, SEC_TAGS[k], err);
    }
    return NN_OK;
}

/* Whether section sec (tag) is n floats long, before anything is read. */
static nn_status section_holds_floats(const char *path, const section *sec, const char *tag,
                                      size_t n, const char *what, nn_error *err)
{
    if (n <= SIZE_MAX / 4 && sec->len == n * 4)
        return NN_OK;
    return nn_errorf(err, NN_ERR_FORMAT,
                     "%s: section %s: offset %llu: %zu bytes, but the architecture has %zu %s "
                     "(%zu bytes)",
                     path, tag, (unsigned long long)sec->off, sec->len, n, what,
                     n <= SIZE_MAX / 4 ? n * 4 : 0);
}

static nn_status load_sections(ckpt_file *ck, const char *path, const section *secs, nn_error *err)
{
    nn_rbuf r;
    char what[16];
#define OPEN(k)                                                                                \
    (snprintf(what, sizeof what, "section %s", SEC_TAGS[k]),                                   \
     nn_rbuf_init(&r, secs[k].payload, secs[k].len, secs[k].off, path, what))

    nn_model_spec *spec = calloc(1, sizeof *spec);
    if (!spec)
        return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    float mean[NN_MAX_CHANNELS_NORM], std[NN_MAX_CHANNELS_NORM];
    OPEN(SEC_ARCH);
    nn_status st = decode_arch(&r, spec, mean, std, err);
    size_t n_params = 0, n_state = 0;
    /* (an invalid spec fails again in nn_model_build below, which says why) */
    if (st == NN_OK && nn_model_count(spec, &n_params, &n_state, err) == NN_OK) {
        /* a crafted ARCH (with a valid CRC) could ask for gigabytes: the
         * PARM and STAT lengths must match it before anything is allocated */
        st = section_holds_floats(path, &secs[SEC_PARM], "PARM", n_params, "parameters", err);
        if (st == NN_OK)
            st = section_holds_floats(path, &secs[SEC_STAT], "STAT", n_state, "state values", err);
    }
    if (st == NN_OK) {
        st = nn_model_build(&ck->model, spec, err);
        if (st != NN_OK) {
            st = NN_ERR_FORMAT;
            nn_error_prefix(err, "%s: section ARCH: offset %llu", path,
                            (unsigned long long)secs[SEC_ARCH].off);
        } else if (!layout_fits(&ck->model)) {
            st = nn_errorf(err, NN_ERR_FORMAT,
                           "%s: section ARCH: offset %llu: the architecture's parameter layout "
                           "does not fit its buffers",
                           path, (unsigned long long)secs[SEC_ARCH].off);
        }
    }
    free(spec);
    if (st != NN_OK)
        return st;
    memcpy(ck->model.mean, mean, sizeof mean);
    memcpy(ck->model.std, std, sizeof std);

    OPEN(SEC_PARM);
    CTR_TRY(decode_floats(&r, ck->model.params, ck->model.n_params, "parameters", err));
    OPEN(SEC_STAT);
    CTR_TRY(decode_floats(&r, ck->model.state, ck->model.n_state, "state values", err));
    /* NaN, infinity, a negative variance: the values themselves (nn_values.h). */
    int in_state;
    size_t bad;
    nn_error verr = {{0}};
    if (nn_model_check_values(&ck->model, &in_state, &bad, &verr) != NN_OK) {
        const section *sec = &secs[in_state ? SEC_STAT : SEC_PARM];
        return nn_errorf(err, NN_ERR_FORMAT, "%s: section %s: offset %llu: %s", path,
                         in_state ? "STAT" : "PARM", (unsigned long long)(sec->off + 4 * bad),
                         verr.msg);
    }
    if (secs[SEC_OPTM].present) {
        OPEN(SEC_OPTM);
        /* has_optim is set first so that a failure frees what init made. */
        ck->has_optim = 1;
        uint64_t moment_off[2] = {0, 0};
        CTR_TRY(decode_optim(&r, &ck->optim, ck->model.n_params, moment_off, err));
        int second;
        if (nn_optim_check_values(&ck->optim, &ck->model, &bad, &second, &verr) != NN_OK)
            return nn_errorf(err, NN_ERR_FORMAT, "%s: section OPTM: offset %llu: %s", path,
                             (unsigned long long)(moment_off[second] + 4 * bad), verr.msg);
    }
    if (secs[SEC_TRAN].present) {
        OPEN(SEC_TRAN);
        CTR_TRY(decode_train(&r, &ck->train, err));
        ck->has_train = 1;
    }
    if (secs[SEC_CONF].present) {
        OPEN(SEC_CONF);
        CTR_TRY(decode_conf(&r, &ck->config_json, err));
    }
    if (secs[SEC_CLSN].present) {
        OPEN(SEC_CLSN);
        CTR_TRY(cls_get(&r, ck->model.spec.num_classes, &ck->classes, err));
    }
#undef OPEN
    return NN_OK;
}

nn_status ckpt_decode(ckpt_file *ck, const uint8_t *data, size_t len, const char *path,
                      nn_error *err)
{
    if (!ck || (!data && len))
        return nn_errorf(err, NN_ERR_ARG, "checkpoint decode: NULL argument");
    memset(ck, 0, sizeof *ck);
    if (!path)
        path = "checkpoint";
    section secs[SEC_COUNT];
    memset(secs, 0, sizeof secs);
    nn_status st = parse_sections(ck, path, data, len, secs, err);
    if (st == NN_OK)
        st = load_sections(ck, path, secs, err);
    if (st != NN_OK) {
        ckpt_free(ck);
        return st;
    }
    ck->file_bytes = len;
    return NN_OK;
}

static nn_status decode_into(void *ck, const uint8_t *data, size_t len, const char *path,
                             nn_error *err)
{
    return ckpt_decode(ck, data, len, path, err);
}

nn_status ckpt_load(ckpt_file *ck, const char *path, nn_error *err)
{
    if (!ck || !path)
        return nn_errorf(err, NN_ERR_ARG, "checkpoint load: NULL argument");
    memset(ck, 0, sizeof *ck);
    return ctr_load(ck, decode_into, path, CK_MAX_FILE_BYTES, err);
}

void ckpt_free(ckpt_file *ck)
{
    if (!ck)
        return;
    nn_model_free(&ck->model);
    if (ck->has_optim)
        nn_optim_free(&ck->optim);
    free(ck->config_json);
    memset(ck, 0, sizeof *ck);
}
