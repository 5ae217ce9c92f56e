/* cli_helpers.h - running the iotcnn binary ($IOTCNN_BIN, set by `make
 * test`) from a test: exit code, whole stdout and stderr, the JSON last
 * line; and the tiny IDX dataset the end-to-end tests train on. Shared by
 * the CLI tests (test_cli*.c). */
#ifndef CLI_HELPERS_H
#define CLI_HELPERS_H

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "config/cfg.h"
#include "format/ckpt.h"
#include "fixtures.h"

/* A config text on ch_data_dir's data (MNIST-format files in data/): the
 * model's layers (the body of a JSON list) and the blocks after it, e.g.
 * CH_CONFIG("{\"type\": \"flatten\"}, ...", "\"train\": {\"lr\": 0.1}"). */
#define CH_CONFIG(layers, blocks)                                                                  \
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\"}, \"model\": {\"layers\": [" layers  \
    "]}, " blocks "}"

typedef struct {
    int status;
    char *out, *err; /* whole stdout / stderr */
} ch_result;

/* The whole file, NUL-terminated, its length in *len_out (if not NULL);
 * NULL (and length 0) when it cannot be opened. */
static inline char *ch_slurp(const char *path, size_t *len_out)
{
    if (len_out)
        *len_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    if (len_out)
        *len_out = (size_t)len;
    return buf;
}


/* The old name of fx_write_file, still used by test_tmp.c. */
static inline void ch_spit(const char *path, const void *data, size_t len)
{
    fx_write_file(path, data, len);
}

/* Runs "BIN ARGS" in dir. */
static inline ch_result ch_run_bin(const char *dir, const char *bin, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s/stdout' 2>'%s/stderr' </dev/null", dir, bin,
             args, dir, dir);
    int rc = system(cmd);
    cr_assert(WIFEXITED(rc), "command crashed: %s", cmd);
    ch_result r = {WEXITSTATUS(rc), NULL, NULL};
    char path[600];
    snprintf(path, sizeof path, "%s/stdout", dir);
    r.out = ch_slurp(path, NULL);
    snprintf(path, sizeof path, "%s/stderr", dir);
    r.err = ch_slurp(path, NULL);
    return r;
}

static inline const char *ch_iotcnn_bin(void)
{
    const char *bin = getenv("IOTCNN_BIN");
    cr_assert_not_null(bin, "IOTCNN_BIN is not set (run through make test)");
    return bin;
}

/* Runs "$IOTCNN_BIN ARGS" in dir. */
static inline ch_result ch_run(const char *dir, const char *args)
{
    return ch_run_bin(dir, ch_iotcnn_bin(), args);
}

/* The path of another program make builds next to bin/iotcnn (e.g. the
 * dataset tools). */
static inline void ch_tool_path(char *out, size_t size, const char *name)
{
    const char *bin = ch_iotcnn_bin(), *slash = strrchr(bin, '/');
    int dir_len = slash ? (int)(slash - bin) : 1;
    snprintf(out, size, "%.*s/%s", dir_len, slash ? bin : ".", name);
}

static inline void ch_free(ch_result *r) { free(r->out), free(r->err); }

/* The last line of stdout, parsed. */
static inline cJSON *ch_json(const ch_result *r)
{
    char *s = r->out;
    size_t len = strlen(s);
    while (len && s[len - 1] == '\n')
        s[--len] = '\0';
    char *line = strrchr(s, '\n');
    cJSON *j = cJSON_Parse(line ? line + 1 : s);
    cr_assert_not_null(j, "last stdout line is not JSON: %s", s);
    return j;
}

static inline double ch_num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    cr_assert(cJSON_IsNumber(v), "JSON key %s missing or not a number", key);
    return v->valuedouble;
}

static inline size_t ch_file_size(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    return (size_t)st.st_size;
}

/* Whether dir/name exists (a link counts, whatever it points to). */
static inline int ch_exists(const char *dir, const char *name)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

/* How many entries of dir have `part` in their name (".tmp": what a
 * failed or finished run must not leave behind). */
static inline int ch_count_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

/* 1 when dir/a and dir/b both exist and hold the same bytes. */
static inline int ch_same_files(const char *dir, const char *a, const char *b)
{
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    size_t la = 0, lb = 0;
    char *ca = ch_slurp(pa, &la), *cb = ch_slurp(pb, &lb);
    int same = ca && cb && la == lb && memcmp(ca, cb, la) == 0;
    free(ca), free(cb);
    return same;
}

static inline void ch_write_text(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fx_write_file(path, text, strlen(text));
}

/* A new temp dir (its path in dir) holding data/: 600 train and 200 test
 * 12x12 IDX images. */
static inline void ch_data_dir(char *dir, size_t size)
{
    fx_tmpdir(dir, size);
    char data[600];
    snprintf(data, sizeof data, "%s/data", dir);
    cr_assert_eq(mkdir(data, 0777), 0);
    fx_write_idx_pair(data, "train", 600, 12, 12, 1);
    fx_write_idx_pair(data, "t10k", 200, 12, 12, 2);
}

/* ch_data_dir, and the config text as DIR/cfg.json. */
static inline void ch_config_dir(char *dir, size_t size, const char *config)
{
    ch_data_dir(dir, size);
    ch_write_text(dir, "cfg.json", config);
}

/* Writes DIR/CKPT holding the network of the config DIR/CONFIG for
 * 1x12x12 images and 10 classes (ch_data_dir's), its text stored as the
 * run's config and its mean/std: He weights from seed 1, biases and BN
 * beta 0, gamma 1 - a checkpoint as `train` would write one before any
 * step, with parameters known exactly. edit (may be NULL) then changes
 * the model (e.g. sets chosen weights). */
static inline void ch_write_model(const char *dir, const char *config, const char *ckpt,
                                  void (*edit)(nn_model *m))
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, config);
    cfg_config cfg;
    char *text = NULL;
    nn_error err;
    cr_assert_eq(cfg_load(&cfg, &text, path, &err), NN_OK, "%s", err.msg);
    cfg_set_input(&cfg, 1, 12, 12, 10);
    nn_model m;
    cr_assert_eq(nn_model_build(&m, &cfg.model, &err), NN_OK, "%s", err.msg);
    nn_model_init_params(&m, NN_INIT_HE, 1);
    cr_assert(cfg.data.have_norm, "%s: give data.mean and data.std", config);
    m.mean[0] = cfg.data.mean[0], m.std[0] = cfg.data.std[0];
    if (edit)
        edit(&m);
    snprintf(path, sizeof path, "%s/%s", dir, ckpt);
    cr_assert_eq(ckpt_save(path, &m, NULL, NULL, text, NULL, &err), NN_OK, "%s", err.msg);
    nn_model_free(&m);
    free(text);
}

/* The object `key` of j (asserted present). */
static inline const cJSON *ch_obj(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    cr_assert_not_null(v, "JSON key %s missing", key);
    return v;
}

/* Runs "iotcnn ARGS" in dir, asserts exit 0, returns the JSON last line. */
static inline cJSON *ch_run_json(const char *dir, const char *args)
{
    ch_result r = ch_run(dir, args);
    cr_assert_eq(r.status, 0, "iotcnn %s: exit %d: %s", args, r.status, r.err);
    cJSON *j = ch_json(&r);
    ch_free(&r);
    return j;
}

/* Runs "iotcnn ARGS" in dir and asserts exit 0: a step the rest of the
 * test builds on. */
static inline void ch_run_ok(const char *dir, const char *args)
{
    ch_result r = ch_run(dir, args);
    cr_assert_eq(r.status, 0, "iotcnn %s: exit %d: %s", args, r.status, r.err);
    ch_free(&r);
}

/* Runs "iotcnn ARGS" in dir; expects exit status `status` and each of the
 * NULL-ended fragments in stderr. Use through ch_expect_exit. */
static inline void ch_expect_exit_(const char *dir, const char *args, int status,
                                   const char *const *err_has)
{
    ch_result r = ch_run(dir, args);
    cr_expect_eq(r.status, status, "iotcnn %s: exit %d, want %d: %s", args, r.status, status,
                 r.err);
    for (; *err_has; err_has++)
        cr_expect_not_null(strstr(r.err, *err_has), "iotcnn %s: stderr lacks \"%s\": %s", args,
                           *err_has, r.err);
    ch_free(&r);
}

/* ch_expect_exit(dir, "info -m x", 1, "x", "offset"): the exit status and
 * what stderr must hold (NULL for nothing). */
#define ch_expect_exit(dir, args, status, ...) \
    ch_expect_exit_((dir), (args), (status), (const char *const[]){__VA_ARGS__, NULL})

/* Runs "iotcnn ARGS" in dir; expects exit 0 and each of the NULL-ended
 * fragments in stdout. Use through ch_expect_out. */
static inline void ch_expect_out_(const char *dir, const char *args, const char *const *out_has)
{
    ch_result r = ch_run(dir, args);
    cr_expect_eq(r.status, 0, "iotcnn %s: exit %d: %s", args, r.status, r.err);
    for (; *out_has; out_has++)
        cr_expect_not_null(strstr(r.out, *out_has), "iotcnn %s: stdout lacks \"%s\": %s", args,
                           *out_has, r.out);
    ch_free(&r);
}

#define ch_expect_out(dir, args, ...) \
    ch_expect_out_((dir), (args), (const char *const[]){__VA_ARGS__, NULL})

/* Runs "iotcnn ARGS" in dir, asserts exit 0, returns the number at key of
 * the JSON last line. */
static inline double ch_run_num(const char *dir, const char *args, const char *key)
{
    cJSON *j = ch_run_json(dir, args);
    double v = ch_num(j, key);
    cJSON_Delete(j);
    return v;
}

/* ch_config_dir, then DIR/m.ckpt trained from cfg.json (2 threads): returns
 * the test accuracy training reported. */
static inline double ch_trained_dir(char *dir, size_t size, const char *config)
{
    ch_config_dir(dir, size, config);
    return ch_run_num(dir, "train -c cfg.json -o m.ckpt --threads 2 --json", "test_accuracy");
}

/* The string at key of j (asserted present and a string). */
static inline const char *ch_str(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    cr_assert(cJSON_IsString(v), "JSON key %s missing or not a string", key);
    return v->valuestring;
}

/* A number a JSON report must hold at `key`. */
typedef struct {
    const char *key;
    double want;
} ch_field;

/* Expects each field of the list (ended by a NULL key) in j, exactly. */
static inline void ch_expect_nums_(const cJSON *j, const ch_field *f)
{
    for (; f->key; f++)
        cr_expect_eq(ch_num(j, f->key), f->want, "%s = %.17g, want %.17g", f->key,
                     ch_num(j, f->key), f->want);
}

/* ch_expect_nums(j, {"macs", 53280}, {"parameters", 2698}) */
#define ch_expect_nums(j, ...) ch_expect_nums_((j), (const ch_field[]){__VA_ARGS__, {NULL, 0}})

#endif
