/* test_checkpoint.c - checkpoint round trip, atomic save, and corruption.
 *
 * The model: 1x8x8 input -> conv2d(2, 3x3, pad 1) -> batchnorm -> relu ->
 * maxpool(2) -> flatten -> dense(3): 123 parameters, 4 state values, a
 * checkpoint of about 2 KB, small enough to flip every bit of it.
 * Corrupted files are made in two ways: raw byte edits (which the CRCs and
 * the framing must catch) and edits re-sealed with a correct CRC (which the
 * decoder's own validation must catch). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/ckpt.h"
#include "libnn/nn_io.h"
#include "libnn/nn_rng.h"

/* ---- fixtures ------------------------------------------------------------ */

static char g_dir[64];

static void make_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/iotcnn_ckpt_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
}

/* Removes the (flat) test directory. */
static void remove_dir(void)
{
    DIR *d = opendir(g_dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(g_dir);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void path_in_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

static void build_model(nn_model *m)
{
    static nn_model_spec s; /* zeroed, so unused layers and name padding are 0 */
    memset(&s, 0, sizeof s);
    s.in_c = 1, s.in_h = 8, s.in_w = 8, s.num_classes = 3, s.n_layers = 6;
    nn_layer_spec_defaults(&s.layers[0], NN_LAYER_CONV2D);
    s.layers[0].out_channels = 2, s.layers[0].kernel = 3, s.layers[0].pad = 1;
    strcpy(s.layers[0].name, "conv1");
    nn_layer_spec_defaults(&s.layers[1], NN_LAYER_BATCHNORM);
    nn_layer_spec_defaults(&s.layers[2], NN_LAYER_RELU);
    nn_layer_spec_defaults(&s.layers[3], NN_LAYER_MAXPOOL);
    nn_layer_spec_defaults(&s.layers[4], NN_LAYER_FLATTEN);
    nn_layer_spec_defaults(&s.layers[5], NN_LAYER_DENSE);
    s.layers[5].units = 3;
    strcpy(s.layers[5].name, "logits");
    nn_error err = {{0}};
    cr_assert_eq(nn_model_build(m, &s, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(m->n_params, (size_t)123);
    cr_assert_eq(m->n_state, (size_t)4);
    nn_model_init_params(m, NN_INIT_HE, 7);
    /* Non-trivial state and normalization, so a lost section shows. */
    nn_rng r;
    nn_rng_seed(&r, 11);
    for (size_t i = 0; i < m->n_state; i++)
        m->state[i] = 0.5f + nn_rng_uniform(&r);
    for (size_t i = 0; i < m->n_params; i++)
        if (m->params[i] == 0.0f)
            m->params[i] = nn_rng_normal(&r) * 0.01f; /* biases, BN beta */
    m->mean[0] = 0.1307f, m->std[0] = 0.3081f;
}

static nn_param_span g_spans[1];

/* An AdamW optimizer that has taken 3 steps, so m and v are non-zero. */
static void make_optim(nn_optim *o, nn_model *m, nn_optim_kind kind)
{
    nn_optim_config c = {.kind = kind, .momentum = 0.9f, .nesterov = kind == NN_OPT_SGD,
                         .weight_decay = 5e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    nn_error err = {{0}};
    cr_assert_eq(nn_optim_init(o, &c, m->n_params, &err), NN_OK, "%s", err.msg);
    g_spans[0] = (nn_param_span){0, m->n_params, 1};
    float *g = calloc(m->n_params, sizeof *g);
    nn_rng r;
    nn_rng_seed(&r, 3);
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < m->n_params; i++)
            g[i] = nn_rng_normal(&r);
        nn_optim_step(o, m->params, g, g_spans, 1, 0.01f);
    }
    free(g);
}

static const char *CONF_TEXT = "{\"train\": {\"lr\": 0.01, \"epochs\": 5}}\n";

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *d;
    nn_error err = {{0}};
    cr_assert_eq(nn_read_file(path, &d, len, 0, &err), NN_OK, "%s", err.msg);
    return d;
}

/* Plain write (no fsync): the corruption loops write thousands of files. */
static void spit(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(d, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Saves the full training checkpoint; returns its bytes. */
static uint8_t *save_full(const char *path, size_t *len)
{
    nn_model m;
    nn_optim o;
    build_model(&m);
    make_optim(&o, &m, NN_OPT_ADAMW);
    nn_train_state ts = {.seed = 42, .epochs_done = 2, .total_epochs = 5, .step = 3};
    nn_error err = {{0}};
    cr_assert_eq(ckpt_save(path, &m, &o, &ts, CONF_TEXT, NULL, &err), NN_OK, "%s", err.msg);
    nn_optim_free(&o);
    nn_model_free(&m);
    return slurp(path, len);
}

/* ---- section surgery ------------------------------------------------------ */

typedef struct {
    char tag[5];
    size_t hdr, off, len; /* header offset, payload offset, payload length */
} sec_info;

/* Walks a known-good file (trusting its framing). */
static int walk(const uint8_t *d, size_t len, sec_info *out, int max)
{
    uint32_t count = (uint32_t)d[12] | (uint32_t)d[13] << 8 | (uint32_t)d[14] << 16 |
                     (uint32_t)d[15] << 24;
    size_t p = 16;
    int n = 0;
    for (uint32_t s = 0; s < count && n < max; s++, n++) {
        memcpy(out[n].tag, d + p, 4);
        out[n].tag[4] = 0;
        uint64_t l = 0;
        for (int k = 7; k >= 0; k--)
            l = l << 8 | d[p + 4 + k];
        out[n].hdr = p, out[n].off = p + 12, out[n].len = (size_t)l;
        p += 12 + (size_t)l + 4;
    }
    cr_assert_eq(p, len, "walk did not end at the end of the file");
    return n;
}

static const sec_info *find_sec(const sec_info *s, int n, const char *tag)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].tag, tag) == 0)
            return &s[i];
    cr_assert_fail("no section %s", tag);
    return NULL;
}

/* Appends a sealed section (correct length and CRC). */
static void put_section(nn_wbuf *w, const char *tag, const void *payload, size_t n)
{
    nn_wbuf_bytes(w, tag, 4);
    nn_wbuf_u64(w, n);
    nn_wbuf_bytes(w, payload, n);
    nn_wbuf_u32(w, nn_crc32(w->data + w->len - n - 12, n + 12)); /* tag, length, payload */
}

/* Re-seals d as a file of its sections, with section `tag` replaced by
 * (payload, n) (payload NULL: dropped), an optional extra section appended
 * after section index `extra_at` (-1: before the first), and writes it. */
typedef struct {
    const char *replace_tag;
    const void *payload;
    size_t n;
    int drop;
    const char *extra_tag;
    const void *extra;
    size_t extra_n;
    int extra_at;
} surgery;

static void write_surgery(const char *path, const uint8_t *d, size_t len, const surgery *op)
{
    sec_info s[16];
    int n = walk(d, len, s, 16);
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_wbuf_bytes(&w, d, 12);
    uint32_t count = (uint32_t)n - (op->drop ? 1 : 0) + (op->extra_tag ? 1 : 0);
    nn_wbuf_u32(&w, count);
    if (op->extra_tag && op->extra_at < 0)
        put_section(&w, op->extra_tag, op->extra, op->extra_n);
    for (int i = 0; i < n; i++) {
        if (op->replace_tag && strcmp(s[i].tag, op->replace_tag) == 0) {
            if (!op->drop)
                put_section(&w, s[i].tag, op->payload, op->n);
        } else {
            put_section(&w, s[i].tag, d + s[i].off, s[i].len);
        }
        if (op->extra_tag && op->extra_at == i)
            put_section(&w, op->extra_tag, op->extra, op->extra_n);
    }
    cr_assert_eq(nn_wbuf_status(&w, "surgery", NULL), NN_OK);
    spit(path, w.data, w.len);
    nn_wbuf_free(&w);
}

/* Loads path expecting failure with NN_ERR_FORMAT and a message holding
 * each of the given substrings (NULL-terminated list). */
static void expect_load_error(const char *path, const char *const *needles)
{
    ckpt_file ck;
    nn_error err = {{0}};
    nn_status st = ckpt_load(&ck, path, &err);
    cr_expect_eq(st, NN_ERR_FORMAT, "status %d, message: %s", (int)st, err.msg);
    for (int i = 0; needles && needles[i]; i++)
        cr_expect(strstr(err.msg, needles[i]) != NULL, "message lacks \"%s\": %s", needles[i],
                  err.msg);
    if (st == NN_OK)
        ckpt_free(&ck);
}

static void put_le32_at(uint8_t *b, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        b[k] = (uint8_t)(v >> (8 * k));
}

/* ---- round trip ----------------------------------------------------------- */

Test(checkpoint, round_trip_is_bitwise, .init = make_dir, .fini = remove_dir)
{
    char path[256];
    path_in_dir(path, sizeof path, "model.ckpt");
    nn_model m;
    nn_optim o;
    build_model(&m);
    make_optim(&o, &m, NN_OPT_ADAMW);
    nn_train_state ts = {.seed = 0xdeadbeefcafef00dULL, .epochs_done = 2, .total_epochs = 5,
                         .step = 1234567890123ULL};
    nn_error err = {{0}};
    cr_assert_eq(ckpt_save(path, &m, &o, &ts, CONF_TEXT, NULL, &err), NN_OK, "%s", err.msg);

    ckpt_file ck;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(ck.file_bytes, (uint64_t)sb.st_size);

    /* Architecture: the whole spec (build resolves inputs; both sides are
     * resolved), shapes and layout. */
    cr_expect_eq(memcmp(&ck.model.spec, &m.spec, sizeof m.spec), 0, "spec differs");
    cr_assert_eq(ck.model.n_nodes, m.n_nodes);
    for (int i = 0; i < m.n_nodes; i++) {
        const nn_node *a = &ck.model.nodes[i], *b = &m.nodes[i];
        cr_expect(a->out_c == b->out_c && a->out_h == b->out_h && a->out_w == b->out_w,
                  "layer %d shape", i);
        cr_expect(a->w.off == b->w.off && a->w.n == b->w.n && a->b.off == b->b.off &&
                      a->b.n == b->b.n && a->stat.off == b->stat.off && a->stat.n == b->stat.n,
                  "layer %d spans", i);
    }
    cr_expect_str_eq(ck.model.spec.layers[0].name, "conv1");
    cr_expect_str_eq(ck.model.spec.layers[5].name, "logits");
    cr_assert_eq(ck.model.n_params, m.n_params);
    cr_assert_eq(ck.model.n_state, m.n_state);
    cr_expect_eq(memcmp(ck.model.params, m.params, m.n_params * 4), 0, "params differ");
    cr_expect_eq(memcmp(ck.model.state, m.state, m.n_state * 4), 0, "state differs");
    cr_expect_eq(memcmp(ck.model.mean, m.mean, sizeof m.mean), 0);
    cr_expect_eq(memcmp(ck.model.std, m.std, sizeof m.std), 0);

    /* Optimizer. */
    cr_assert(ck.has_optim);
    cr_expect_eq(memcmp(&ck.optim.cfg, &o.cfg, sizeof o.cfg), 0, "optimizer config differs");
    cr_expect_eq(ck.optim.t, o.t);
    cr_assert_eq(ck.optim.n, o.n);
    cr_expect_eq(memcmp(ck.optim.m, o.m, o.n * 4), 0, "first moment differs");
    cr_assert_not_null(ck.optim.v);
    cr_expect_eq(memcmp(ck.optim.v, o.v, o.n * 4), 0, "second moment differs");

    /* Training state and config. */
    cr_assert(ck.has_train);
    cr_expect_eq(ck.train.seed, ts.seed);
    cr_expect_eq(ck.train.epochs_done, ts.epochs_done);
    cr_expect_eq(ck.train.total_epochs, ts.total_epochs);
    cr_expect_eq(ck.train.step, ts.step);
    cr_assert_not_null(ck.config_json);
    cr_expect_str_eq(ck.config_json, CONF_TEXT);

    /* A resumed step is the uninterrupted step, bit for bit. */
    float *g = malloc(m.n_params * sizeof *g);
    for (size_t i = 0; i < m.n_params; i++)
        g[i] = (float)i / 50.0f - 1.0f;
    nn_optim_step(&o, m.params, g, g_spans, 1, 0.01f);
    nn_optim_step(&ck.optim, ck.model.params, g, g_spans, 1, 0.01f);
    cr_expect_eq(memcmp(ck.model.params, m.params, m.n_params * 4), 0, "resumed step differs");
    free(g);

    ckpt_free(&ck);
    cr_expect_null(ck.config_json);
    nn_optim_free(&o);
    nn_model_free(&m);
}

Test(checkpoint, optional_sections_omitted, .init = make_dir, .fini = remove_dir)
{
    char path[256];
    path_in_dir(path, sizeof path, "eval.ckpt");
    nn_model m;
    build_model(&m);
    nn_error err = {{0}};
    cr_assert_eq(ckpt_save(path, &m, NULL, NULL, NULL, NULL, &err), NN_OK, "%s", err.msg);
    ckpt_file ck;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_expect(!ck.has_optim);
    cr_expect(!ck.has_train);
    cr_expect_null(ck.config_json);
    cr_expect_eq(memcmp(ck.model.params, m.params, m.n_params * 4), 0);
    ckpt_free(&ck);

    /* SGD state: velocity only, no second moment. Empty config text. */
    nn_optim o;
    make_optim(&o, &m, NN_OPT_SGD);
    cr_assert_eq(ckpt_save(path, &m, &o, NULL, "", NULL, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_expect(ck.has_optim);
    cr_expect_eq(ck.optim.cfg.kind, NN_OPT_SGD);
    cr_expect_eq(ck.optim.cfg.nesterov, 1);
    cr_expect_null(ck.optim.v);
    cr_expect_eq(memcmp(ck.optim.m, o.m, o.n * 4), 0);
    cr_assert_not_null(ck.config_json);
    cr_expect_str_eq(ck.config_json, "");
    ckpt_free(&ck);
    nn_optim_free(&o);
    nn_model_free(&m);
}

/* ---- atomic save ----------------------------------------------------------- */

Test(checkpoint, save_is_atomic, .init = make_dir, .fini = remove_dir)
{
    char path[256];
    path_in_dir(path, sizeof path, "a.ckpt");
    nn_model m;
    build_model(&m);
    nn_error err = {{0}};
    cr_assert_eq(ckpt_save(path, &m, NULL, NULL, NULL, NULL, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(count_entries(g_dir), 1, "a temporary file was left behind");
    /* Overwriting an existing checkpoint goes through the same rename. */
    m.params[0] += 1.0f;
    cr_assert_eq(ckpt_save(path, &m, NULL, NULL, NULL, NULL, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(count_entries(g_dir), 1);
    ckpt_file ck;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(ck.model.params[0], m.params[0]);
    ckpt_free(&ck);

    /* A directory that does not exist: an I/O error naming the path, and
     * nothing created anywhere. */
    char bad[256];
    snprintf(bad, sizeof bad, "%s/no_such_dir/b.ckpt", g_dir);
    err.msg[0] = 0;
    cr_expect_eq(ckpt_save(bad, &m, NULL, NULL, NULL, NULL, &err), NN_ERR_IO);
    cr_expect(strstr(err.msg, bad) != NULL, "message lacks the path: %s", err.msg);
    cr_expect_eq(count_entries(g_dir), 1);

    /* The target is a directory: the rename fails after the data was
     * written; the temporary must be removed and the directory untouched. */
    char dirpath[256];
    path_in_dir(dirpath, sizeof dirpath, "isdir.ckpt");
    cr_assert_eq(mkdir(dirpath, 0700), 0);
    err.msg[0] = 0;
    cr_expect_eq(ckpt_save(dirpath, &m, NULL, NULL, NULL, NULL, &err), NN_ERR_IO);
    cr_expect(strstr(err.msg, dirpath) != NULL, "message lacks the path: %s", err.msg);
    cr_expect(strstr(err.msg, "rename") != NULL, "message lacks the step: %s", err.msg);
    cr_expect_eq(count_entries(g_dir), 2, "a temporary file was left behind");
    struct stat sb;
    cr_expect(stat(dirpath, &sb) == 0 && S_ISDIR(sb.st_mode));
    nn_model_free(&m);
}

Test(checkpoint, missing_file_names_path)
{
    ckpt_file ck;
    nn_error err = {{0}};
    cr_expect_eq(ckpt_load(&ck, "/nonexistent/x.ckpt", &err), NN_ERR_IO);
    cr_expect(strstr(err.msg, "/nonexistent/x.ckpt") != NULL, "%s", err.msg);
    cr_expect_null(ck.model.params);
}

/* ---- corruption ------------------------------------------------------------ */

/* Every byte inverted, one at a time: the CRCs (payloads) and the framing
 * checks (magic, version, count, tags, lengths, CRC fields) must reject it. */
Test(checkpoint, every_byte_flip_fails, .init = make_dir, .fini = remove_dir)
{
    char path[256], bad[256];
    path_in_dir(path, sizeof path, "good.ckpt");
    path_in_dir(bad, sizeof bad, "bad.ckpt");
    size_t len;
    uint8_t *d = save_full(path, &len);
    cr_assert_gt(len, 1000);
    uint8_t *c = malloc(len);
    int failures = 0;
    for (size_t i = 0; i < len && failures < 20; i++) {
        memcpy(c, d, len);
        c[i] ^= 0xff;
        spit(bad, c, len);
        ckpt_file ck;
        nn_error err = {{0}};
        nn_status st = ckpt_load(&ck, bad, &err);
        if (st == NN_OK) {
            failures++;
            cr_expect_neq(st, NN_OK, "byte %zu inverted: loaded", i);
            ckpt_free(&ck);
            continue;
        }
        cr_expect_eq(st, NN_ERR_FORMAT, "byte %zu: status %d: %s", i, (int)st, err.msg);
        cr_expect(strstr(err.msg, bad) && strstr(err.msg, "offset"),
                  "byte %zu: message lacks path or offset: %s", i, err.msg);
        cr_expect_null(ck.model.params, "byte %zu: checkpoint not cleared", i);
    }
    free(c);
    free(d);
}

/* Every single-bit flip is rejected: CRC-32 over each section's tag, length
 * and payload catches all of them, including a tag of an optional section
 * turning into an unknown (and so skippable) one. */
Test(checkpoint, every_bit_flip_fails, .init = make_dir, .fini = remove_dir)
{
    char path[256], bad[256];
    path_in_dir(path, sizeof path, "good.ckpt");
    path_in_dir(bad, sizeof bad, "bad.ckpt");
    size_t len;
    uint8_t *d = save_full(path, &len);
    uint8_t *c = malloc(len);
    int failures = 0;
    for (size_t i = 0; i < len && failures < 20; i++) {
        for (int b = 0; b < 8; b++) {
            memcpy(c, d, len);
            c[i] ^= (uint8_t)(1u << b);
            spit(bad, c, len);
            ckpt_file ck;
            nn_error err = {{0}};
            nn_status st = ckpt_load(&ck, bad, &err);
            if (st != NN_OK) {
                cr_expect_eq(st, NN_ERR_FORMAT, "byte %zu bit %d: %s", i, b, err.msg);
                continue;
            }
            failures++;
            cr_expect_fail("byte %zu bit %d: corrupt file loaded", i, b);
            ckpt_free(&ck);
        }
    }
    free(c);
    free(d);
}

Test(checkpoint, every_truncation_fails, .init = make_dir, .fini = remove_dir)
{
    char path[256], bad[256];
    path_in_dir(path, sizeof path, "good.ckpt");
    path_in_dir(bad, sizeof bad, "bad.ckpt");
    size_t len;
    uint8_t *d = save_full(path, &len);
    for (size_t n = 0; n < len; n++) {
        spit(bad, d, n);
        ckpt_file ck;
        nn_error err = {{0}};
        nn_status st = ckpt_load(&ck, bad, &err);
        cr_expect_eq(st, NN_ERR_FORMAT, "truncated to %zu bytes: status %d: %s", n, (int)st,
                     err.msg);
        if (st == NN_OK) {
            ckpt_free(&ck);
            break;
        }
        cr_expect(strstr(err.msg, "offset") != NULL, "%zu bytes: no offset: %s", n, err.msg);
    }
    free(d);
}

Test(checkpoint, wrong_magic_gives_hint, .init = make_dir, .fini = remove_dir)
{
    char p[256];
    path_in_dir(p, sizeof p, "quant.iotc");
    spit(p, "IOTCQ8\0\0\1\0\0\0\0\0\0\0", 16);
    expect_load_error(p, (const char *const[]){p, "bad magic", "iotc", NULL});

    path_in_dir(p, sizeof p, "config.json");
    const char *json = "  {\"model\": {\"layers\": []}}\n";
    spit(p, json, strlen(json));
    expect_load_error(p, (const char *const[]){"bad magic", "JSON", NULL});

    path_in_dir(p, sizeof p, "model.ckpt.gz");
    spit(p, "\x1f\x8b\x08\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 18);
    expect_load_error(p, (const char *const[]){"gunzip", NULL});

    path_in_dir(p, sizeof p, "empty.ckpt");
    spit(p, "", 0);
    expect_load_error(p, (const char *const[]){"too short", NULL});

    path_in_dir(p, sizeof p, "future.ckpt");
    spit(p, "IOTCNNCK\x07\0\0\0\0\0\0\0", 16);
    expect_load_error(p, (const char *const[]){"version 7", "newer", NULL});
}

Test(checkpoint, unknown_sections_are_skipped, .init = make_dir, .fini = remove_dir)
{
    char path[256], odd[256];
    path_in_dir(path, sizeof path, "good.ckpt");
    path_in_dir(odd, sizeof odd, "odd.ckpt");
    size_t len;
    uint8_t *d = save_full(path, &len);
    const char extra[] = "a section from a future writer";
    for (int at = -1; at <= 5; at += 3) { /* first, in the middle, last */
        surgery op = {.extra_tag = "XTR1", .extra = extra, .extra_n = sizeof extra,
                      .extra_at = at};
        write_surgery(odd, d, len, &op);
        ckpt_file ck;
        nn_error err = {{0}};
        cr_assert_eq(ckpt_load(&ck, odd, &err), NN_OK, "at %d: %s", at, err.msg);
        cr_expect(ck.has_optim && ck.has_train && ck.config_json);
        cr_expect_eq(ck.model.n_params, (size_t)123);
        ckpt_free(&ck);
    }
    free(d);
}

/* Files whose CRCs are right but whose contents are not: the decoder must
 * validate them itself, naming path, section and offset. */
Test(checkpoint, sealed_but_invalid_contents, .init = make_dir, .fini = remove_dir)
{
    char path[256], bad[256];
    path_in_dir(path, sizeof path, "good.ckpt");
    path_in_dir(bad, sizeof bad, "bad.ckpt");
    size_t len;
    uint8_t *d = save_full(path, &len);
    sec_info s[8];
    int ns = walk(d, len, s, 8);
    const sec_info *arch = find_sec(s, ns, "ARCH"), *parm = find_sec(s, ns, "PARM"),
                   *optm = find_sec(s, ns, "OPTM"), *tran = find_sec(s, ns, "TRAN");
    uint8_t *a = malloc(arch->len);
    char off[64];

    /* ARCH payload: 20 bytes of header, then 80 bytes per layer: type +0,
     * name +4, input +36, input2 +40, out_channels +44, kernel +48, stride
     * +52, pad +56, bias +60, units +64, rate +68, momentum +72, eps +76. */
    struct {
        size_t at;
        uint32_t v;
        const char *needle;
        int byte; /* 1: write one byte, else a u32 */
    } arch_edits[] = {
        {20 + 0, 99, "unknown layer type code 99", 0},
        {20 + 80 * 2 + 36, 4, "input", 0},             /* relu reads a later layer   */
        {20 + 80 * 1 + 36, (uint32_t)-5, "input", 0},  /* index below the input node */
        {20 + 80 * 0 + 60, 2, "bias", 0},
        {20 + 80 * 0 + 48, 0x40000000u, "kernel", 0},
        {20 + 80 * 5 + 64, 4, "last layer outputs", 0}, /* dense units != classes */
        {16, 0, "n_layers", 0},
        {0, 9, "in_c", 0},
        {20 + 80 * 0 + 4 + 31, 'x', "non-zero byte after the name", 1},
        {20 + 80 * 1 + 76, 0x7fc00000u, "eps", 0},      /* NaN */
        {20 + 80 * 6 + 16, 0, "std[0]", 0},             /* normalization std 0 */
    };
    for (size_t k = 0; k < sizeof arch_edits / sizeof arch_edits[0]; k++) {
        memcpy(a, d + arch->off, arch->len);
        if (arch_edits[k].byte)
            a[arch_edits[k].at] = (uint8_t)arch_edits[k].v;
        else
            put_le32_at(a + arch_edits[k].at, arch_edits[k].v);
        write_surgery(bad, d, len, &(surgery){.replace_tag = "ARCH", .payload = a,
                                               .n = arch->len});
        snprintf(off, sizeof off, "offset %zu", arch->off + arch_edits[k].at);
        int is_build = strstr(arch_edits[k].needle, "last layer") != NULL;
        expect_load_error(bad, (const char *const[]){bad, "section ARCH",
                                                     is_build ? "offset" : off,
                                                     arch_edits[k].needle, NULL});
    }
    /* ARCH with a byte too many. */
    uint8_t *a2 = calloc(arch->len + 1, 1);
    memcpy(a2, d + arch->off, arch->len);
    write_surgery(bad, d, len, &(surgery){.replace_tag = "ARCH", .payload = a2,
                                           .n = arch->len + 1});
    expect_load_error(bad, (const char *const[]){"section ARCH", "1 unexpected bytes", NULL});
    free(a2);

    /* PARM one float short. */
    write_surgery(bad, d, len, &(surgery){.replace_tag = "PARM", .payload = d + parm->off,
                                           .n = parm->len - 4});
    expect_load_error(bad, (const char *const[]){"section PARM", "123 parameters", NULL});

    /* OPTM: bad kind; first moment length != n_params; SGD with a v array. */
    uint8_t *o = malloc(optm->len);
    memcpy(o, d + optm->off, optm->len);
    put_le32_at(o, 3);
    write_surgery(bad, d, len, &(surgery){.replace_tag = "OPTM", .payload = o, .n = optm->len});
    expect_load_error(bad, (const char *const[]){"section OPTM", "unknown optimizer kind 3",
                                                 NULL});
    memcpy(o, d + optm->off, optm->len);
    put_le32_at(o + 36, 122); /* after kind..eps (28) and t (8): n_m */
    write_surgery(bad, d, len, &(surgery){.replace_tag = "OPTM", .payload = o, .n = optm->len});
    expect_load_error(bad, (const char *const[]){"section OPTM", "first moment has 122", NULL});
    memcpy(o, d + optm->off, optm->len);
    put_le32_at(o, NN_OPT_SGD);
    write_surgery(bad, d, len, &(surgery){.replace_tag = "OPTM", .payload = o, .n = optm->len});
    expect_load_error(bad, (const char *const[]){"section OPTM", "second moment", NULL});
    memcpy(o, d + optm->off, optm->len);
    put_le32_at(o + 8, 2); /* nesterov */
    write_surgery(bad, d, len, &(surgery){.replace_tag = "OPTM", .payload = o, .n = optm->len});
    expect_load_error(bad, (const char *const[]){"section OPTM", "nesterov", NULL});
    free(o);

    /* TRAN: negative epochs. */
    uint8_t t[24];
    memcpy(t, d + tran->off, 24);
    put_le32_at(t + 8, (uint32_t)-1);
    write_surgery(bad, d, len, &(surgery){.replace_tag = "TRAN", .payload = t, .n = 24});
    expect_load_error(bad, (const char *const[]){"section TRAN", "epochs_done", NULL});

    /* CONF with an embedded NUL. */
    const char conf[] = "{\"a\": 1}\0junk";
    write_surgery(bad, d, len, &(surgery){.replace_tag = "CONF", .payload = conf,
                                           .n = sizeof conf - 1});
    expect_load_error(bad, (const char *const[]){"section CONF", "NUL", NULL});

    /* Missing required section; duplicate section; trailing bytes. */
    write_surgery(bad, d, len, &(surgery){.replace_tag = "STAT", .drop = 1});
    expect_load_error(bad, (const char *const[]){"section STAT", "missing", NULL});
    write_surgery(bad, d, len, &(surgery){.extra_tag = "TRAN", .extra = d + tran->off,
                                           .extra_n = tran->len, .extra_at = ns - 1});
    expect_load_error(bad, (const char *const[]){"section TRAN", "duplicate", NULL});
    uint8_t *tr = malloc(len + 3);
    memcpy(tr, d, len);
    memcpy(tr + len, "xyz", 3);
    spit(bad, tr, len + 3);
    snprintf(off, sizeof off, "offset %zu", len);
    expect_load_error(bad, (const char *const[]){"3 trailing bytes", off, NULL});
    free(tr);

    free(a);
    free(d);
}

/* A corrupted PARM byte: the message names path, section and offset. */
Test(checkpoint, crc_error_message, .init = make_dir, .fini = remove_dir)
{
    char path[256];
    path_in_dir(path, sizeof path, "good.ckpt");
    size_t len;
    uint8_t *d = save_full(path, &len);
    sec_info s[8];
    int ns = walk(d, len, s, 8);
    const sec_info *parm = find_sec(s, ns, "PARM");
    d[parm->off + 17] ^= 0x10;
    spit(path, d, len);
    expect_load_error(path, (const char *const[]){path, "section PARM", "CRC32 mismatch",
                                                  "offset", NULL});
    free(d);
}

/* ---- nn_io ---------------------------------------------------------------- */

Test(io, writer_is_little_endian)
{
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_wbuf_u8(&w, 0xab);
    nn_wbuf_u32(&w, 0x01020304u);
    nn_wbuf_u64(&w, 0x0102030405060708ull);
    nn_wbuf_i32(&w, -2);
    nn_wbuf_f32(&w, 1.0f);
    const float fs[2] = {-0.0f, 2.5f};
    nn_wbuf_f32s(&w, fs, 2);
    nn_wbuf_set_u32(&w, 1, 0xa1b2c3d4u);
    const uint8_t want[] = {0xab, 0xd4, 0xc3, 0xb2, 0xa1, 8, 7, 6, 5, 4, 3, 2, 1,
                            0xfe, 0xff, 0xff, 0xff, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x80,
                            0, 0, 0x20, 0x40};
    cr_assert_eq(nn_wbuf_status(&w, "test", NULL), NN_OK);
    cr_assert_eq(w.len, sizeof want);
    cr_expect_eq(memcmp(w.data, want, sizeof want), 0);

    nn_rbuf r;
    nn_rbuf_init(&r, w.data, w.len, 100, "f.bin", "section TEST");
    uint8_t u8;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    float f, f2[2];
    nn_error err = {{0}};
    cr_expect_eq(nn_rbuf_u8(&r, &u8, "a", &err), NN_OK);
    cr_expect_eq(nn_rbuf_u32(&r, &u32, "b", &err), NN_OK);
    cr_expect_eq(nn_rbuf_u64(&r, &u64, "c", &err), NN_OK);
    cr_expect_eq(nn_rbuf_i32(&r, &i32, "d", &err), NN_OK);
    cr_expect_eq(nn_rbuf_f32(&r, &f, "e", &err), NN_OK);
    cr_expect_eq(nn_rbuf_f32s(&r, f2, 2, "f", &err), NN_OK);
    cr_expect(u8 == 0xab && u32 == 0xa1b2c3d4u && u64 == 0x0102030405060708ull && i32 == -2 &&
              f == 1.0f && f2[1] == 2.5f);
    cr_expect_eq(nn_rbuf_offset(&r), 100 + sizeof want);
    /* Reading past the end fails without moving, naming path/what/offset. */
    cr_expect_eq(nn_rbuf_u32(&r, &u32, "g", &err), NN_ERR_FORMAT);
    cr_expect_str_eq(err.msg, "f.bin: section TEST: offset 129: truncated: g needs 4 bytes, 0 left");
    cr_expect_eq(nn_rbuf_left(&r), 0);
    nn_wbuf_free(&w);
}

Test(io, read_file_errors_name_path, .init = make_dir, .fini = remove_dir)
{
    uint8_t *d = (uint8_t *)"sentinel";
    size_t n = 7;
    nn_error err = {{0}};
    cr_expect_eq(nn_read_file("/nonexistent/f.bin", &d, &n, 0, &err), NN_ERR_IO);
    cr_expect(strstr(err.msg, "/nonexistent/f.bin") != NULL, "%s", err.msg);
    cr_expect_null(d);
    cr_expect_eq(nn_read_file(g_dir, &d, &n, 0, &err), NN_ERR_IO, "a directory was read");
    char p[256];
    path_in_dir(p, sizeof p, "t.txt");
    cr_assert_eq(nn_write_file_atomic(p, "hello", 5, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(nn_read_file(p, &d, &n, 0, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(n, 5);
    cr_expect_str_eq((char *)d, "hello"); /* NUL-terminated */
    free(d);
    cr_expect_eq(nn_read_file(p, &d, &n, 4, &err), NN_ERR_FORMAT, "size limit ignored");
    cr_expect_eq(nn_crc32("123456789", 9), 0xcbf43926u); /* the CRC-32 check value */
}

/* A sealed ARCH whose 20000 x 20000 input gives the dense layer 6e8 weights
 * (2.4 GB) is refused by the PARM length before anything that size is
 * allocated: with the address space capped at 1 GiB (not under ASan, whose
 * shadow memory needs terabytes of it), building first would fail with
 * "out of memory" instead. */
Test(checkpoint, forged_architecture_refused_before_allocating, .init = make_dir,
     .fini = remove_dir)
{
    char path[256], bad[256];
    path_in_dir(path, sizeof path, "good.ckpt");
    path_in_dir(bad, sizeof bad, "bad.ckpt");
    size_t len;
    uint8_t *d = save_full(path, &len);
    sec_info s[8];
    int ns = walk(d, len, s, 8);
    const sec_info *arch = find_sec(s, ns, "ARCH");
    uint8_t *a = malloc(arch->len);
    memcpy(a, d + arch->off, arch->len);
    put_le32_at(a + 4, 20000), put_le32_at(a + 8, 20000); /* in_h, in_w */
    write_surgery(bad, d, len, &(surgery){.replace_tag = "ARCH", .payload = a, .n = arch->len});
#ifndef __SANITIZE_ADDRESS__
    const struct rlimit cap = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    cr_assert_eq(setrlimit(RLIMIT_AS, &cap), 0);
#endif
    expect_load_error(bad, (const char *const[]){"section PARM", "6000000" /* 6000000xx */,
                                                 "parameters", NULL});
    free(a);
    free(d);
}
