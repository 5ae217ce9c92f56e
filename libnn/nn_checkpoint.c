/* nn_checkpoint.c - save and load the float checkpoint (.ckpt).
 *
 * The layout is in nn_checkpoint.h. Payloads (all little-endian):
 *   ARCH  i32 in_c, in_h, in_w, num_classes, n_layers
 *         per layer: u32 type (nn_layer_type code), 32 bytes name (NUL
 *         padded), i32 input, input2, out_channels, kernel, stride, pad,
 *         bias, units, f32 rate, momentum, eps
 *         f32 mean[NN_MAX_CHANNELS_NORM], f32 std[NN_MAX_CHANNELS_NORM]
 *   PARM  f32[n_params]          STAT  f32[n_state]
 *   OPTM  u32 kind, f32 momentum, i32 nesterov, f32 weight_decay, f32 beta1,
 *         f32 beta2, f32 eps, u64 t, u64 n_m, f32 m[n_m], u64 n_v, f32 v[n_v]
 *         (n_m = n_params; n_v = n_params for AdamW, 0 for SGD)
 *   TRAN  u64 seed, i32 epochs_done, i32 total_epochs, u64 step
 *   CONF  the config text, no NUL
 * Layer inputs are stored resolved (index of an earlier layer, or -1 for the
 * network input), exactly as nn_model_build leaves them in model->spec.
 *
 * Loading reads the file whole, checks the framing of every section (length
 * against the bytes left, CRC32, duplicate and unknown tags) before decoding
 * anything, then decodes ARCH, builds the model and checks every other
 * section against it. Any failure frees everything and leaves a message
 * "PATH: section TAG: offset N: ...". */
#include "nn_checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_io.h"
#include "nn_values.h"

static const char CK_MAGIC[8] = {'I', 'O', 'T', 'C', 'N', 'N', 'C', 'K'};
#define CK_HEADER_BYTES 16u
#define CK_SECTION_OVERHEAD 16u /* tag 4 + length 8 + CRC 4 */
/* Refuse absurd files before reading them whole (a wrong path, /dev/zero). */
#define CK_MAX_FILE_BYTES ((uint64_t)1 << 36)
/* Field limits, matching what nn_model_build accepts; checked here first so
 * that a forged file cannot push its size arithmetic out of range. */
#define CK_DIM_MAX 65536
#define CK_UNITS_MAX (1 << 24)

enum { SEC_ARCH, SEC_PARM, SEC_STAT, SEC_OPTM, SEC_TRAN, SEC_CONF, SEC_COUNT };
static const char SEC_TAGS[SEC_COUNT][5] = {"ARCH", "PARM", "STAT", "OPTM", "TRAN", "CONF"};

/* ---- save ---------------------------------------------------------------- */

/* Starts a section; returns the payload's first byte position. */
static size_t section_begin(nn_wbuf *w, int sec)
{
    nn_wbuf_bytes(w, SEC_TAGS[sec], 4);
    nn_wbuf_u64(w, 0); /* length, patched by section_end */
    return w->len;
}

static void section_end(nn_wbuf *w, size_t start)
{
    if (w->failed)
        return;
    size_t n = w->len - start;
    nn_wbuf_set_u64(w, start - 8, (uint64_t)n);
    /* The CRC covers tag and length too: a damaged tag must not turn a
     * section into an "unknown, skipped" one. */
    nn_wbuf_u32(w, nn_crc32(w->data + start - 12, n + 12));
}

static void put_arch(nn_wbuf *w, const nn_model *m)
{
    const nn_model_spec *s = &m->spec;
    nn_wbuf_i32(w, s->in_c);
    nn_wbuf_i32(w, s->in_h);
    nn_wbuf_i32(w, s->in_w);
    nn_wbuf_i32(w, s->num_classes);
    nn_wbuf_i32(w, s->n_layers);
    for (int i = 0; i < s->n_layers; i++) {
        const nn_layer_spec *l = &s->layers[i];
        /* Only the name's bytes, then zeros: the file never depends on
         * whatever follows the NUL in memory. */
        char name[NN_NAME_MAX] = {0};
        size_t nl = strnlen(l->name, NN_NAME_MAX - 1);
        memcpy(name, l->name, nl);
        nn_wbuf_u32(w, (uint32_t)l->type);
        nn_wbuf_bytes(w, name, NN_NAME_MAX);
        nn_wbuf_i32(w, l->input);
        nn_wbuf_i32(w, l->input2);
        nn_wbuf_i32(w, l->out_channels);
        nn_wbuf_i32(w, l->kernel);
        nn_wbuf_i32(w, l->stride);
        nn_wbuf_i32(w, l->pad);
        nn_wbuf_i32(w, l->bias);
        nn_wbuf_i32(w, l->units);
        nn_wbuf_f32(w, l->rate);
        nn_wbuf_f32(w, l->momentum);
        nn_wbuf_f32(w, l->eps);
    }
    nn_wbuf_f32s(w, m->mean, NN_MAX_CHANNELS_NORM);
    nn_wbuf_f32s(w, m->std, NN_MAX_CHANNELS_NORM);
}

static void put_optim(nn_wbuf *w, const nn_optim *o)
{
    const nn_optim_config *c = &o->cfg;
    nn_wbuf_u32(w, (uint32_t)c->kind);
    nn_wbuf_f32(w, c->momentum);
    nn_wbuf_i32(w, c->nesterov ? 1 : 0);
    nn_wbuf_f32(w, c->weight_decay);
    nn_wbuf_f32(w, c->beta1);
    nn_wbuf_f32(w, c->beta2);
    nn_wbuf_f32(w, c->eps);
    nn_wbuf_u64(w, o->t);
    nn_wbuf_u64(w, (uint64_t)o->n);
    nn_wbuf_f32s(w, o->m, o->n);
    size_t nv = c->kind == NN_OPT_ADAMW ? o->n : 0;
    nn_wbuf_u64(w, (uint64_t)nv);
    nn_wbuf_f32s(w, o->v, nv);
}

/* The optimizer moments follow the value rule too: m finite, v finite and
 * >= 0. On failure *index and *second (when index is not NULL) receive the
 * element and whether it is in v. */
static nn_status check_moments(const nn_optim *o, const nn_model *m, size_t *index, int *second,
                               nn_error *err)
{
    char label[160];
    for (int k = 0; k < 2; k++) {
        const float *a = k ? o->v : o->m;
        size_t n = k && o->cfg.kind != NN_OPT_ADAMW ? 0 : o->n;
        for (size_t i = 0; i < n && a; i++) {
            if (isfinite(a[i]) && (!k || a[i] >= 0.0f))
                continue;
            if (index)
                *index = i, *second = k;
            nn_param_label(label, sizeof label, m, i);
            return nn_errorf(err, NN_ERR_NUMERIC, "%s moment of %s = %g, must be %s",
                             k ? "second" : "first", label, (double)a[i],
                             k ? "finite and >= 0" : "a finite number");
        }
    }
    return NN_OK;
}

nn_status nn_checkpoint_save(const char *path, const nn_model *m, const nn_optim *opt,
                             const nn_train_state *ts, const char *config_json, nn_error *err)
{
    if (!path || !m)
        return nn_errorf(err, NN_ERR_ARG, "checkpoint save: NULL path or model");
    if (m->spec.n_layers < 1 || m->spec.n_layers > NN_MAX_LAYERS || !m->params || !m->state)
        return nn_errorf(err, NN_ERR_ARG, "%s: cannot save a model that was not built", path);
    if (opt) {
        if (opt->n != m->n_params || !opt->m)
            return nn_errorf(err, NN_ERR_ARG,
                             "%s: optimizer state covers %zu parameters, the model has %zu",
                             path, opt->n, m->n_params);
        if (opt->cfg.kind != NN_OPT_SGD && opt->cfg.kind != NN_OPT_ADAMW)
            return nn_errorf(err, NN_ERR_ARG, "%s: unknown optimizer kind %d", path,
                             (int)opt->cfg.kind);
        if (opt->cfg.kind == NN_OPT_ADAMW && !opt->v)
            return nn_errorf(err, NN_ERR_ARG, "%s: AdamW state has no second moment", path);
    }
    /* Never write what the loader would refuse (nn_values.h). */
    int in_state;
    size_t bad;
    nn_status vst = nn_model_check_values(m, &in_state, &bad, err);
    if (vst == NN_OK && opt)
        vst = check_moments(opt, m, NULL, NULL, err);
    if (vst != NN_OK) {
        nn_error_prefix(err, "%s: cannot save", path);
        return vst;
    }
    uint32_t n_sections = 3 + (opt != NULL) + (ts != NULL) + (config_json != NULL);

    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_wbuf_bytes(&w, CK_MAGIC, sizeof CK_MAGIC);
    nn_wbuf_u32(&w, NN_CKPT_VERSION);
    nn_wbuf_u32(&w, n_sections);

    size_t at = section_begin(&w, SEC_ARCH);
    put_arch(&w, m);
    section_end(&w, at);

    at = section_begin(&w, SEC_PARM);
    nn_wbuf_f32s(&w, m->params, m->n_params);
    section_end(&w, at);

    at = section_begin(&w, SEC_STAT);
    nn_wbuf_f32s(&w, m->state, m->n_state);
    section_end(&w, at);

    if (opt) {
        at = section_begin(&w, SEC_OPTM);
        put_optim(&w, opt);
        section_end(&w, at);
    }
    if (ts) {
        at = section_begin(&w, SEC_TRAN);
        nn_wbuf_u64(&w, ts->seed);
        nn_wbuf_i32(&w, ts->epochs_done);
        nn_wbuf_i32(&w, ts->total_epochs);
        nn_wbuf_u64(&w, ts->step);
        section_end(&w, at);
    }
    if (config_json) {
        at = section_begin(&w, SEC_CONF);
        nn_wbuf_bytes(&w, config_json, strlen(config_json));
        section_end(&w, at);
    }

    nn_status st = nn_wbuf_status(&w, path, err);
    if (st == NN_OK)
        st = nn_write_file_atomic(path, w.data, w.len, err);
    nn_wbuf_free(&w);
    return st;
}

/* ---- load ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *payload;
    size_t len;
    uint64_t off;  /* file offset of the payload */
    uint64_t hdr;  /* file offset of the section header (its tag) */
    int present;
} section;

/* Shorthands for decoding: every read failure returns with the reader's
 * message, every check failure names the field's offset. */
#define RD(call)                                                                               \
    do {                                                                                       \
        nn_status st_ = (call);                                                                \
        if (st_ != NN_OK)                                                                      \
            return st_;                                                                        \
    } while (0)
#define CHECK(cond, off, ...)                                                                  \
    do {                                                                                       \
        if (!(cond))                                                                           \
            return nn_rbuf_errorf(r, (off), err, NN_ERR_FORMAT, __VA_ARGS__);                  \
    } while (0)

static nn_status read_i32_in(nn_rbuf *r, int32_t *v, int32_t lo, int32_t hi, const char *field,
                             int layer, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r);
    RD(nn_rbuf_i32(r, v, field, err));
    if (layer >= 0)
        CHECK(*v >= lo && *v <= hi, off, "layer %d: %s = %ld, must be in [%ld, %ld]", layer,
              field, (long)*v, (long)lo, (long)hi);
    else
        CHECK(*v >= lo && *v <= hi, off, "%s = %ld, must be in [%ld, %ld]", field, (long)*v,
              (long)lo, (long)hi);
    return NN_OK;
}

static nn_status read_finite(nn_rbuf *r, float *v, const char *field, int layer, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r);
    RD(nn_rbuf_f32(r, v, field, err));
    CHECK(isfinite(*v), off, "layer %d: %s is not a finite number", layer, field);
    return NN_OK;
}

static nn_status end_of_payload(const nn_rbuf *r, nn_error *err)
{
    CHECK(nn_rbuf_left(r) == 0, nn_rbuf_offset(r), "%zu unexpected bytes at the end of the section",
          nn_rbuf_left(r));
    return NN_OK;
}

static nn_status decode_layer(nn_rbuf *r, nn_layer_spec *l, int i, nn_error *err)
{
    memset(l, 0, sizeof *l);
    uint64_t off = nn_rbuf_offset(r);
    uint32_t type;
    RD(nn_rbuf_u32(r, &type, "layer type", err));
    CHECK(type <= 0xffff && nn_layer_type_name((nn_layer_type)type) != NULL, off,
          "layer %d: unknown layer type code %lu", i, (unsigned long)type);
    l->type = (nn_layer_type)type;

    off = nn_rbuf_offset(r);
    RD(nn_rbuf_bytes(r, l->name, NN_NAME_MAX, "layer name", err));
    size_t nl = strnlen(l->name, NN_NAME_MAX);
    CHECK(nl < NN_NAME_MAX, off, "layer %d: name is not NUL-terminated", i);
    for (size_t k = nl; k < NN_NAME_MAX; k++)
        CHECK(l->name[k] == '\0', off + k, "layer %d: non-zero byte after the name", i);

    int32_t v;
    /* Inputs point backwards: the DAG is in list order. input2 is only used
     * by add; other layers keep the "unset" default NN_INPUT_NODE - 1. */
    RD(read_i32_in(r, &v, NN_INPUT_NODE, i - 1, "input", i, err));
    l->input = v;
    int lo2 = l->type == NN_LAYER_ADD ? NN_INPUT_NODE : NN_INPUT_NODE - 1;
    RD(read_i32_in(r, &v, lo2, i - 1, "input2", i, err));
    l->input2 = v;
    RD(read_i32_in(r, &v, 0, CK_DIM_MAX, "out_channels", i, err));
    l->out_channels = v;
    RD(read_i32_in(r, &v, 0, CK_DIM_MAX, "kernel", i, err));
    l->kernel = v;
    RD(read_i32_in(r, &v, 0, CK_DIM_MAX, "stride", i, err));
    l->stride = v;
    RD(read_i32_in(r, &v, 0, CK_DIM_MAX, "pad", i, err));
    l->pad = v;
    RD(read_i32_in(r, &v, 0, 1, "bias", i, err));
    l->bias = v;
    RD(read_i32_in(r, &v, 0, CK_UNITS_MAX, "units", i, err));
    l->units = v;
    RD(read_finite(r, &l->rate, "rate", i, err));
    RD(read_finite(r, &l->momentum, "momentum", i, err));
    RD(read_finite(r, &l->eps, "eps", i, err));
    return NN_OK;
}

/* Decodes ARCH into spec, mean and std. */
static nn_status decode_arch(nn_rbuf *r, nn_model_spec *s, float *mean, float *std,
                             nn_error *err)
{
    int32_t v;
    RD(read_i32_in(r, &v, 1, NN_MAX_CHANNELS_NORM, "in_c", -1, err));
    s->in_c = v;
    RD(read_i32_in(r, &v, 1, CK_DIM_MAX, "in_h", -1, err));
    s->in_h = v;
    RD(read_i32_in(r, &v, 1, CK_DIM_MAX, "in_w", -1, err));
    s->in_w = v;
    RD(read_i32_in(r, &v, 0, CK_UNITS_MAX, "num_classes", -1, err));
    s->num_classes = v;
    RD(read_i32_in(r, &v, 1, NN_MAX_LAYERS, "n_layers", -1, err));
    s->n_layers = v;
    for (int i = 0; i < s->n_layers; i++)
        RD(decode_layer(r, &s->layers[i], i, err));
    uint64_t off = nn_rbuf_offset(r);
    RD(nn_rbuf_f32s(r, mean, NN_MAX_CHANNELS_NORM, "normalization mean", err));
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        CHECK(isfinite(mean[c]), off + 4 * (uint64_t)c, "normalization mean[%d] is not finite",
              c);
    off = nn_rbuf_offset(r);
    RD(nn_rbuf_f32s(r, std, NN_MAX_CHANNELS_NORM, "normalization std", err));
    /* Channels beyond the input's are unused: they need only be finite. */
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        CHECK(isfinite(std[c]) && (c >= s->in_c || std[c] > 0.0f), off + 4 * (uint64_t)c,
              "normalization std[%d] = %g, must be finite and > 0", c, (double)std[c]);
    return end_of_payload(r, err);
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
    CHECK(n <= SIZE_MAX / 4 && r->len == n * 4, nn_rbuf_offset(r),
          "%zu bytes, but the architecture has %zu %s (%zu bytes)", r->len, n, what,
          n <= SIZE_MAX / 4 ? n * 4 : 0);
    RD(nn_rbuf_f32s(r, dst, n, what, err));
    return end_of_payload(r, err);
}

/* moment_off[0] and [1] receive the file offsets of m and v. */
static nn_status decode_optim(nn_rbuf *r, nn_optim *o, size_t n_params, uint64_t moment_off[2],
                              nn_error *err)
{
    nn_optim_config c;
    memset(&c, 0, sizeof c);
    uint64_t off = nn_rbuf_offset(r);
    uint32_t kind;
    RD(nn_rbuf_u32(r, &kind, "optimizer kind", err));
    CHECK(kind == NN_OPT_SGD || kind == NN_OPT_ADAMW, off,
          "unknown optimizer kind %lu (1 = sgd, 2 = adamw)", (unsigned long)kind);
    c.kind = (nn_optim_kind)kind;
    RD(nn_rbuf_f32(r, &c.momentum, "momentum", err));
    int32_t nesterov;
    off = nn_rbuf_offset(r);
    RD(nn_rbuf_i32(r, &nesterov, "nesterov", err));
    CHECK(nesterov == 0 || nesterov == 1, off, "nesterov = %ld, must be 0 or 1", (long)nesterov);
    c.nesterov = nesterov;
    RD(nn_rbuf_f32(r, &c.weight_decay, "weight_decay", err));
    RD(nn_rbuf_f32(r, &c.beta1, "beta1", err));
    RD(nn_rbuf_f32(r, &c.beta2, "beta2", err));
    RD(nn_rbuf_f32(r, &c.eps, "eps", err));
    uint64_t t;
    RD(nn_rbuf_u64(r, &t, "step count", err));

    /* The optimizer validates its own config; keep its reason. */
    nn_error oerr = {{0}};
    nn_status st = nn_optim_init(o, &c, n_params, &oerr);
    if (st != NN_OK)
        return nn_rbuf_errorf(r, r->base, err, st == NN_ERR_NOMEM ? st : NN_ERR_FORMAT, "%s",
                              oerr.msg);
    o->t = t;

    uint64_t count;
    off = nn_rbuf_offset(r);
    RD(nn_rbuf_u64(r, &count, "first moment length", err));
    CHECK(count == n_params, off, "first moment has %llu values, the model has %zu parameters",
          (unsigned long long)count, n_params);
    moment_off[0] = nn_rbuf_offset(r);
    RD(nn_rbuf_f32s(r, o->m, n_params, "first moment", err));
    size_t want_v = c.kind == NN_OPT_ADAMW ? n_params : 0;
    off = nn_rbuf_offset(r);
    RD(nn_rbuf_u64(r, &count, "second moment length", err));
    CHECK(count == want_v, off, "second moment has %llu values, expected %zu for %s",
          (unsigned long long)count, want_v, c.kind == NN_OPT_ADAMW ? "adamw" : "sgd");
    moment_off[1] = nn_rbuf_offset(r);
    if (want_v)
        RD(nn_rbuf_f32s(r, o->v, want_v, "second moment", err));
    return end_of_payload(r, err);
}

static nn_status decode_train(nn_rbuf *r, nn_train_state *ts, nn_error *err)
{
    RD(nn_rbuf_u64(r, &ts->seed, "seed", err));
    int32_t v;
    RD(read_i32_in(r, &v, 0, INT32_MAX, "epochs_done", -1, err));
    ts->epochs_done = v;
    RD(read_i32_in(r, &v, 0, INT32_MAX, "total_epochs", -1, err));
    ts->total_epochs = v;
    RD(nn_rbuf_u64(r, &ts->step, "step", err));
    return end_of_payload(r, err);
}

static nn_status decode_conf(nn_rbuf *r, char **out, nn_error *err)
{
    const uint8_t *nul = r->len ? memchr(r->data, 0, r->len) : NULL;
    CHECK(!nul, r->base + (uint64_t)(nul - r->data), "NUL byte inside the config text");
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

#undef CHECK

/* Why the first bytes are not a checkpoint, as a hint for the user. */
static const char *magic_hint(const char *path, const uint8_t *b, size_t n)
{
    size_t pl = strlen(path);
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return "it is gzip-compressed: gunzip it first";
    if (n >= 4 && memcmp(b, "IOTC", 4) == 0)
        return "it is another iotcnn file (a quantized .iotc model?): `iotcnn eval` and "
               "`iotcnn compress` take a float .ckpt from `iotcnn train`";
    if (pl >= 5 && strcmp(path + pl - 5, ".iotc") == 0)
        return "a .iotc file is a quantized model, not a float checkpoint";
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
        i++;
    if (i < n && (b[i] == '{' || b[i] == '['))
        return "it looks like JSON text (a config?), not a checkpoint written by `iotcnn train`";
    return "not an iotcnn checkpoint: pass a .ckpt written by `iotcnn train`";
}

static int tag_index(const uint8_t *tag)
{
    for (int k = 0; k < SEC_COUNT; k++)
        if (memcmp(tag, SEC_TAGS[k], 4) == 0)
            return k;
    return -1;
}

/* Tags are four of [A-Z0-9]: anything else is corruption, not a future tag. */
static int tag_valid(const uint8_t *tag)
{
    for (int k = 0; k < 4; k++)
        if (!((tag[k] >= 'A' && tag[k] <= 'Z') || (tag[k] >= '0' && tag[k] <= '9')))
            return 0;
    return 1;
}

/* Splits the file into sections, verifying lengths and CRCs. */
static nn_status parse_sections(const char *path, const uint8_t *data, size_t len,
                                section *secs, nn_error *err)
{
    nn_rbuf r;
    nn_rbuf_init(&r, data, len, 0, path, "header");
    uint8_t magic[8];
    if (len < CK_HEADER_BYTES && (len < 8 || memcmp(data, CK_MAGIC, 8) != 0))
        return nn_rbuf_errorf(&r, 0, err, NN_ERR_FORMAT,
                              "%zu bytes is too short for a checkpoint header (%u bytes); %s",
                              len, CK_HEADER_BYTES, magic_hint(path, data, len));
    RD(nn_rbuf_bytes(&r, magic, 8, "magic", err));
    if (memcmp(magic, CK_MAGIC, 8) != 0)
        return nn_rbuf_errorf(&r, 0, err, NN_ERR_FORMAT, "bad magic (expected \"IOTCNNCK\"): %s",
                              magic_hint(path, data, len));
    uint32_t version, count;
    RD(nn_rbuf_u32(&r, &version, "version", err));
    if (version != NN_CKPT_VERSION)
        return nn_rbuf_errorf(
            &r, 8, err, NN_ERR_FORMAT, "checkpoint version %lu, this build reads version %d: %s",
            (unsigned long)version, NN_CKPT_VERSION,
            version > NN_CKPT_VERSION ? "it was written by a newer iotcnn; upgrade to read it"
                                      : "unsupported old version; retrain or convert it");
    RD(nn_rbuf_u32(&r, &count, "section count", err));
    if ((uint64_t)count * CK_SECTION_OVERHEAD > nn_rbuf_left(&r))
        return nn_rbuf_errorf(&r, 12, err, NN_ERR_FORMAT,
                              "%lu sections cannot fit in the %zu bytes that follow (truncated "
                              "or corrupt file)",
                              (unsigned long)count, nn_rbuf_left(&r));

    char what[48];
    for (uint32_t s = 0; s < count; s++) {
        uint64_t hdr = nn_rbuf_offset(&r);
        snprintf(what, sizeof what, "section %lu", (unsigned long)s);
        r.what = what;
        const uint8_t *tag;
        RD(nn_rbuf_view(&r, &tag, 4, "section tag", err));
        if (!tag_valid(tag))
            return nn_rbuf_errorf(&r, hdr, err, NN_ERR_FORMAT,
                                  "invalid section tag %02x %02x %02x %02x (corrupt file)",
                                  tag[0], tag[1], tag[2], tag[3]);
        snprintf(what, sizeof what, "section %.4s", (const char *)tag);
        uint64_t plen;
        RD(nn_rbuf_u64(&r, &plen, "section length", err));
        /* The payload and its CRC must fit in what is left. */
        if (nn_rbuf_left(&r) < 4 || plen > nn_rbuf_left(&r) - 4)
            return nn_rbuf_errorf(&r, hdr + 4, err, NN_ERR_FORMAT,
                                  "length %llu exceeds the %zu bytes left for payload and CRC "
                                  "(truncated or corrupt file)",
                                  (unsigned long long)plen,
                                  nn_rbuf_left(&r) >= 4 ? nn_rbuf_left(&r) - 4 : 0);
        uint64_t poff = nn_rbuf_offset(&r);
        const uint8_t *payload;
        RD(nn_rbuf_view(&r, &payload, (size_t)plen, "payload", err));
        uint32_t crc;
        RD(nn_rbuf_u32(&r, &crc, "CRC32", err));
        uint32_t got = nn_crc32(tag, (size_t)plen + 12); /* tag, length, payload */
        if (crc != got)
            return nn_rbuf_errorf(&r, poff + plen, err, NN_ERR_FORMAT,
                                  "CRC32 mismatch (stored %08lx, computed %08lx over the section "
                                  "header and %llu payload bytes at offset %llu): the file is "
                                  "corrupt",
                                  (unsigned long)crc, (unsigned long)got,
                                  (unsigned long long)plen, (unsigned long long)poff);
        int k = tag_index(tag);
        if (k < 0)
            continue; /* a section from a newer writer: skipped */
        if (secs[k].present)
            return nn_rbuf_errorf(&r, hdr, err, NN_ERR_FORMAT,
                                  "duplicate section (the first is at offset %llu)",
                                  (unsigned long long)secs[k].hdr);
        secs[k] = (section){payload, (size_t)plen, poff, hdr, 1};
    }
    r.what = "end of file";
    if (nn_rbuf_left(&r) != 0)
        return nn_rbuf_errorf(&r, nn_rbuf_offset(&r), err, NN_ERR_FORMAT,
                              "%zu trailing bytes after the last of %lu sections",
                              nn_rbuf_left(&r), (unsigned long)count);
    for (int k = SEC_ARCH; k <= SEC_STAT; k++)
        if (!secs[k].present)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "%s: section %s: offset %zu (end of file): required section is "
                             "missing",
                             path, SEC_TAGS[k], len);
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

static nn_status load_sections(nn_checkpoint *ck, const char *path, const section *secs,
                               nn_error *err)
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
    RD(decode_floats(&r, ck->model.params, ck->model.n_params, "parameters", err));
    OPEN(SEC_STAT);
    RD(decode_floats(&r, ck->model.state, ck->model.n_state, "state values", err));
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
        RD(decode_optim(&r, &ck->optim, ck->model.n_params, moment_off, err));
        int second;
        if (check_moments(&ck->optim, &ck->model, &bad, &second, &verr) != NN_OK)
            return nn_errorf(err, NN_ERR_FORMAT, "%s: section OPTM: offset %llu: %s", path,
                             (unsigned long long)(moment_off[second] + 4 * bad), verr.msg);
    }
    if (secs[SEC_TRAN].present) {
        OPEN(SEC_TRAN);
        RD(decode_train(&r, &ck->train, err));
        ck->has_train = 1;
    }
    if (secs[SEC_CONF].present) {
        OPEN(SEC_CONF);
        RD(decode_conf(&r, &ck->config_json, err));
    }
#undef OPEN
    return NN_OK;
}

nn_status nn_checkpoint_decode(nn_checkpoint *ck, const uint8_t *data, size_t len,
                               const char *path, nn_error *err)
{
    if (!ck || (!data && len))
        return nn_errorf(err, NN_ERR_ARG, "checkpoint decode: NULL argument");
    memset(ck, 0, sizeof *ck);
    if (!path)
        path = "checkpoint";
    section secs[SEC_COUNT];
    memset(secs, 0, sizeof secs);
    nn_status st = parse_sections(path, data, len, secs, err);
    if (st == NN_OK)
        st = load_sections(ck, path, secs, err);
    if (st != NN_OK) {
        nn_checkpoint_free(ck);
        return st;
    }
    ck->file_bytes = len;
    return NN_OK;
}

nn_status nn_checkpoint_load(nn_checkpoint *ck, const char *path, nn_error *err)
{
    if (!ck || !path)
        return nn_errorf(err, NN_ERR_ARG, "checkpoint load: NULL argument");
    memset(ck, 0, sizeof *ck);
    uint8_t *data;
    size_t len;
    nn_status st = nn_read_file(path, &data, &len, CK_MAX_FILE_BYTES, err);
    if (st != NN_OK)
        return st;
    st = nn_checkpoint_decode(ck, data, len, path, err);
    free(data);
    return st;
}

void nn_checkpoint_free(nn_checkpoint *ck)
{
    if (!ck)
        return;
    nn_model_free(&ck->model);
    if (ck->has_optim)
        nn_optim_free(&ck->optim);
    free(ck->config_json);
    memset(ck, 0, sizeof *ck);
}
