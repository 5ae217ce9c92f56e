/* cfg_strict.h - strict typed getters over a cJSON tree: the one set that
 * every config block uses (cfg.c, cfg_prune.c, cfg_quantize.c).
 *
 * The rules are docs/config.md's: unknown, misplaced and duplicate keys are
 * errors, every value is type- and range-checked, and every message reads
 * "<source>: <json.path>: <what>", always with NN_ERR_CONFIG. Absent
 * optional keys leave *out untouched (the default). */
#ifndef CFG_STRICT_H
#define CFG_STRICT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "libnn/nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CS_PATH_MAX 160

typedef struct {
    const char *source; /* prefixes every message ("configs/x.json")     */
    nn_error *err;
} cs_ctx;

typedef struct {
    double lo, hi;        /* +-INFINITY when unbounded                    */
    int lo_open, hi_open; /* 1: the bound itself is excluded              */
} cs_range;

/* "<source>: <path>: <message>"; returns NN_ERR_CONFIG. */
nn_status cs_fail(const cs_ctx *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* dst (CS_PATH_MAX bytes) = parent.key (key alone when parent is empty),
 * control characters as '?' so a message stays one line. */
void cs_path_key(char *dst, const char *parent, const char *key);

/* dst (CS_PATH_MAX bytes) = parent[i]. */
void cs_path_index(char *dst, const char *parent, int i);

/* A short rendering of a value for "got ...". */
void cs_describe(const cJSON *v, char *buf, size_t cap);

/* Rejects duplicate keys, non-string "comment"s and keys not in `allowed`
 * (NULL-terminated); a key in `elsewhere` gets "not valid for <what>". */
nn_status cs_check_keys(const cs_ctx *x, const cJSON *obj, const char *path,
                        const char *const *allowed, const char *const *elsewhere, const char *what);

/* 1 when v is in r (never for NaN). */
int cs_in_range(double v, cs_range r);

/* "a number in [0, 1)", "an integer >= 1", ...; then " note" when given. */
void cs_range_text(char *buf, size_t cap, cs_range r, int integer, const char *note);

/* A finite number in r (integral when `integer`); `note` (may be NULL) is
 * appended to the expected range in messages. */
nn_status cs_number(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                    cs_range r, int integer, int required, const char *note, double *out);

/* An integer in [lo, hi]; hi == INT_MAX means no upper bound ("an integer
 * >= lo") apart from fitting an int. */
nn_status cs_int(const cs_ctx *x, const cJSON *obj, const char *key, const char *path, int lo,
                 int hi, int required, int *out);

/* cs_number, then range-checked again once rounded to float, so that
 * 0.999999999 for a "[0, 1)" key cannot turn into 1.0f. */
nn_status cs_float(const cs_ctx *x, const cJSON *obj, const char *key, const char *path, cs_range r,
                   int required, const char *note, float *out);

/* true or false, as 1 or 0. */
nn_status cs_bool(const cs_ctx *x, const cJSON *obj, const char *key, const char *path, int *out);

/* A string (*out points into the tree); `expect` names what is wanted in
 * messages ("a string"). */
nn_status cs_string(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                    int required, const char *expect, const char **out);

/* One of the NULL-terminated names; *out = its index. */
nn_status cs_enum(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                  const char *const *names, int required, int *out);
nn_status cs_enum_value(const cs_ctx *x, const cJSON *v, const char *path, const char *const *names,
                        int *out);

/* cs_typed, then the object form's keys checked: keys[*type] are valid,
 * the others of all_keys are "not valid for KEY \"NAME\"". */
nn_status cs_typed_keys(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                        const char *const *names, const char *const *const *keys,
                        const char *const *all_keys, int *type, const cJSON **o);

/* The object at obj.key (NULL when absent); anything else is an error. */
nn_status cs_object(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                    const cJSON **out);

/* "key": {"type": NAME, ...} or just "key": NAME. *type = the index of
 * NAME; *o = the object (NULL for the string form or when absent, which
 * leaves *type untouched). */
nn_status cs_typed(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                   const char *const *names, int *type, const cJSON **o);

#ifdef __cplusplus
}
#endif

#endif
