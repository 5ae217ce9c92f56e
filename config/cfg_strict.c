#include "cfg_strict.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nn_status cs_fail(const cs_ctx *x, const char *path, const char *fmt, ...)
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

void cs_path_key(char *dst, const char *parent, const char *key)
{
    int n = parent && parent[0] ? snprintf(dst, CS_PATH_MAX, "%s.%s", parent, key)
                                : snprintf(dst, CS_PATH_MAX, "%s", key);
    if (n < 0)
        dst[0] = '\0';
    for (char *q = dst; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = '?';
}

void cs_path_index(char *dst, const char *parent, int i)
{
    if (snprintf(dst, CS_PATH_MAX, "%s[%d]", parent, i) < 0)
        dst[0] = '\0';
}

void cs_describe(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v)) {
        /* Quoted, at most 40 bytes of it, control characters as '?'. */
        const char *s = v->valuestring;
        size_t len = strlen(s), show = len > 40 ? 40 : len, o = 0;
        buf[o++] = '"';
        for (size_t i = 0; i < show && o + 6 < cap; i++)
            buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        if (show < len && o + 5 < cap)
            memcpy(buf + o, "...", 3), o += 3;
        buf[o++] = '"';
        buf[o] = '\0';
    } else if (cJSON_IsNumber(v)) {
        snprintf(buf, cap, "%.15g", v->valuedouble);
        if (strtod(buf, NULL) != v->valuedouble)
            snprintf(buf, cap, "%.17g", v->valuedouble);
    } else {
        const char *what = cJSON_IsTrue(v)     ? "true"
                           : cJSON_IsFalse(v)  ? "false"
                           : cJSON_IsNull(v)   ? "null"
                           : cJSON_IsArray(v)  ? "an array"
                           : cJSON_IsObject(v) ? "an object"
                                               : "an invalid value";
        snprintf(buf, cap, "%s", what);
    }
}

/* Edit distance (insert, delete, substitute), capped for long words. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int prev[41], cur[41];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *cur);
    }
    return prev[lb];
}

/* The name within two edits of word (and closer than its length), or NULL. */
static const char *suggest(const char *word, const char *const *names)
{
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; names[i]; i++) {
        int d = distance(word, names[i]);
        if (d < best_d && (size_t)d < strlen(names[i]))
            best = names[i], best_d = d;
    }
    return best;
}

static void join(char *buf, size_t cap, const char *const *names, int quoted)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && o < cap; i++) {
        int n = snprintf(buf + o, cap - o, quoted ? "%s\"%s\"" : "%s%s", i ? ", " : "", names[i]);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

static int listed(const char *const *names, const char *s)
{
    for (int i = 0; names && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return 1;
    return 0;
}

/* "<p>: expected <what>, got <v>" */
static nn_status expected(const cs_ctx *x, const char *p, const char *what, const cJSON *v)
{
    char got[64];
    cs_describe(v, got, sizeof got);
    return cs_fail(x, p, "expected %s, got %s", what, got);
}

nn_status cs_check_keys(const cs_ctx *x, const cJSON *obj, const char *path,
                        const char *const *allowed, const char *const *elsewhere, const char *what)
{
    char p[CS_PATH_MAX], list[256];
    for (const cJSON *it = obj->child; it; it = it->next) {
        cs_path_key(p, path, it->string);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return cs_fail(x, p, "duplicate key");
        if (strcmp(it->string, "comment") == 0) {
            if (!cJSON_IsString(it))
                return expected(x, p, "a string", it);
            continue;
        }
        if (listed(allowed, it->string))
            continue;
        join(list, sizeof list, allowed, 0);
        if (listed(elsewhere, it->string))
            return cs_fail(x, p, "not valid for %s (valid keys: %s)", what, list);
        static const char *const comment[] = {"comment", NULL};
        const char *guess = suggest(it->string, allowed);
        if (!guess)
            guess = suggest(it->string, comment);
        if (guess)
            return cs_fail(x, p, "unknown key (did you mean \"%s\"?)", guess);
        return cs_fail(x, p, "unknown key (valid keys: %s)", list);
    }
    return NN_OK;
}

int cs_in_range(double v, cs_range r)
{
    return (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi);
}

/* A bound for messages: whole numbers in full (16777216, not 1.67772e+07),
 * others at float precision (0.1, not 0.100000001). */
static void bound(char *buf, size_t cap, double v)
{
    if (v == floor(v) && fabs(v) < 1e16)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.7g", v);
}

void cs_range_text(char *buf, size_t cap, cs_range r, int integer, const char *note)
{
    const char *noun = integer ? "an integer" : "a number";
    char lo[32], hi[32];
    bound(lo, sizeof lo, r.lo);
    bound(hi, sizeof hi, r.hi);
    if (r.hi == INFINITY)
        snprintf(buf, cap, "%s %s %s", noun, r.lo_open ? ">" : ">=", lo);
    else
        snprintf(buf, cap, "%s in %c%s, %s%c", noun, r.lo_open ? '(' : '[', lo, hi,
                 r.hi_open ? ')' : ']');
    if (note && note[0]) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, " %s", note);
    }
}

nn_status cs_number(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                    cs_range r, int integer, int required, const char *note, double *out)
{
    char p[CS_PATH_MAX], expect[128], got[64];
    cs_range_text(expect, sizeof expect, r, integer, note);
    cs_path_key(p, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return required ? cs_fail(x, p, "missing (required: %s)", expect) : NN_OK;
    cs_describe(v, got, sizeof got);
    if (!cJSON_IsNumber(v)) {
        int numeric = 0;
        if (cJSON_IsString(v) && v->valuestring[0]) {
            char *end;
            (void)strtod(v->valuestring, &end);
            numeric = *end == '\0';
        }
        return cs_fail(x, p, "expected %s, got %s%s", expect, got,
                       numeric ? " (write numbers without quotes)" : "");
    }
    double d = v->valuedouble;
    if (!isfinite(d) || !cs_in_range(d, r) || (integer && d != floor(d)))
        return cs_fail(x, p, "expected %s, got %s", expect, got);
    *out = d;
    return NN_OK;
}

nn_status cs_int(const cs_ctx *x, const cJSON *obj, const char *key, const char *path, int lo,
                 int hi, int required, int *out)
{
    cs_range r = {lo, hi == INT_MAX ? INFINITY : hi, 0, hi == INT_MAX};
    double d = *out;
    nn_status s = cs_number(x, obj, key, path, r, 1, required, NULL, &d);
    if (s)
        return s;
    if (d > (double)INT_MAX) {
        char p[CS_PATH_MAX];
        cs_path_key(p, path, key);
        return cs_fail(x, p, "expected an integer >= %d, got %.17g (too large)", lo, d);
    }
    *out = (int)d;
    return NN_OK;
}

nn_status cs_float(const cs_ctx *x, const cJSON *obj, const char *key, const char *path, cs_range r,
                   int required, const char *note, float *out)
{
    double d = *out;
    nn_status s = cs_number(x, obj, key, path, r, 0, required, note, &d);
    if (s)
        return s;
    float f = (float)d;
    if (!cs_in_range(f, r) || !isfinite(f)) {
        char p[CS_PATH_MAX], expect[128];
        cs_path_key(p, path, key);
        cs_range_text(expect, sizeof expect, r, 0, NULL);
        return cs_fail(x, p, "expected %s, got %.17g (out of range once rounded to float)", expect,
                       d);
    }
    *out = f;
    return NN_OK;
}

nn_status cs_bool(const cs_ctx *x, const cJSON *obj, const char *key, const char *path, int *out)
{
    char p[CS_PATH_MAX];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    cs_path_key(p, path, key);
    if (!v)
        return NN_OK;
    if (!cJSON_IsBool(v))
        return expected(x, p, "true or false", v);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return NN_OK;
}

nn_status cs_string(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                    int required, const char *expect, const char **out)
{
    char p[CS_PATH_MAX];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    cs_path_key(p, path, key);
    if (!v)
        return required ? cs_fail(x, p, "missing (required: %s)", expect) : NN_OK;
    if (!cJSON_IsString(v))
        return expected(x, p, expect, v);
    *out = v->valuestring;
    return NN_OK;
}

nn_status cs_enum_value(const cs_ctx *x, const cJSON *v, const char *path, const char *const *names,
                        int *out)
{
    char list[256], got[64];
    join(list, sizeof list, names, 1);
    cs_describe(v, got, sizeof got);
    if (cJSON_IsString(v))
        for (int i = 0; names[i]; i++)
            if (strcmp(names[i], v->valuestring) == 0) {
                *out = i;
                return NN_OK;
            }
    const char *guess = cJSON_IsString(v) ? suggest(v->valuestring, names) : NULL;
    if (guess)
        return cs_fail(x, path, "expected one of %s, got %s (did you mean \"%s\"?)", list, got,
                       guess);
    return cs_fail(x, path, "expected one of %s, got %s", list, got);
}

nn_status cs_enum(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                  const char *const *names, int required, int *out)
{
    char p[CS_PATH_MAX], list[256];
    cs_path_key(p, path, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        join(list, sizeof list, names, 1);
        return required ? cs_fail(x, p, "missing (required: one of %s)", list) : NN_OK;
    }
    return cs_enum_value(x, v, p, names, out);
}

nn_status cs_object(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                    const cJSON **out)
{
    char p[CS_PATH_MAX];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    cs_path_key(p, path, key);
    *out = NULL;
    if (v && !cJSON_IsObject(v))
        return expected(x, p, "an object", v);
    *out = v;
    return NN_OK;
}

nn_status cs_typed(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                   const char *const *names, int *type, const cJSON **o)
{
    char p[CS_PATH_MAX], list[256], what[300];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    cs_path_key(p, path, key);
    *o = NULL;
    if (!v)
        return NN_OK;
    if (cJSON_IsString(v))
        return cs_enum_value(x, v, p, names, type);
    if (!cJSON_IsObject(v)) {
        join(list, sizeof list, names, 1);
        snprintf(what, sizeof what, "an object {\"type\": ...} or one of %s", list);
        return expected(x, p, what, v);
    }
    *o = v;
    return cs_enum(x, v, "type", p, names, 1, type);
}

nn_status cs_typed_keys(const cs_ctx *x, const cJSON *obj, const char *key, const char *path,
                        const char *const *names, const char *const *const *keys,
                        const char *const *all_keys, int *type, const cJSON **o)
{
    nn_status s = cs_typed(x, obj, key, path, names, type, o);
    if (s || !*o)
        return s;
    char p[CS_PATH_MAX], what[100];
    cs_path_key(p, path, key);
    snprintf(what, sizeof what, "%s \"%s\"", key, names[*type]);
    return cs_check_keys(x, *o, p, keys[*type], all_keys, what);
}
