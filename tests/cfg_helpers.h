/* cfg_helpers.h - parsing a config text in a test: expect success, or
 * expect NN_ERR_CONFIG with a message that names the source and the whole
 * JSON path. Shared by the config tests (test_config*.c,
 * test_cfg_quantize.c); each keeps a thin wrapper that adds what a failed
 * parse must have left empty in its part of the config. */
#ifndef CFG_HELPERS_H
#define CFG_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config/cfg.h"

/* Parses json as the file `source` and asserts success. */
static inline void cfgt_parse_ok(cfg_config *cfg, const char *json, const char *source)
{
    nn_error e = {{0}};
    nn_status s = cfg_parse(cfg, json, source, &e);
    cr_assert_eq(s, NN_OK, "parse failed: %s", e.msg);
}

/* Expects NN_ERR_CONFIG with a message that starts "<source>: <path>"
 * followed by one of the characters of seps (so "model.layers" does not
 * match "model.layers[0]"), and that contains `also` when given. */
static inline void cfgt_expect_error(cfg_config *cfg, const char *json, const char *source,
                                     const char *path, const char *seps, const char *also)
{
    nn_error e = {{0}};
    nn_status s = cfg_parse(cfg, json, source, &e);
    cr_assert_eq(s, NN_ERR_CONFIG, "status %d (msg \"%s\") for %s", s, e.msg, json);
    char want[256];
    snprintf(want, sizeof want, "%s: %s", source, path);
    size_t n = strlen(want);
    cr_assert(strncmp(e.msg, want, n) == 0 && e.msg[n] && strchr(seps, e.msg[n]),
              "message \"%s\" does not start with \"%s\"", e.msg, want);
    if (also)
        cr_assert(strstr(e.msg, also), "message \"%s\" lacks \"%s\"", e.msg, also);
}

/* One error case: the config text, the path its message must name, and
 * what else it must say (NULL: nothing). */
typedef struct {
    const char *json, *path, *also;
} cfgt_error_case;

#endif
