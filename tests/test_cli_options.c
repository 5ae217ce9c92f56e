/* test_cli_options.c - the one option parser ($IOTCNN_BIN): the help of
 * every command is generated from its table (so every option it lists is
 * one the parser accepts, and `help CMD` == `CMD --help`), unknown options
 * get "did you mean", a missing or malformed value names its flag, every
 * command accepts --json and prints JSON, and --limit takes effect. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_helpers.h"
#include "fixtures.h"

static const char *const commands[] = {"train", "eval",    "augment", "prune",  "quantize",
                                       "info",  "compare", "export",  "predict"};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

Test(cli_options, help_comes_from_the_table)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char args[128];
        snprintf(args, sizeof args, "help %s", commands[i]);
        ch_result a = ch_run(dir, args);
        snprintf(args, sizeof args, "%s --help", commands[i]);
        ch_result b = ch_run(dir, args);
        cr_assert_eq(a.status, 0, "%s", commands[i]);
        cr_assert_eq(b.status, 0, "%s", commands[i]);
        cr_assert_str_eq(a.out, b.out, "help %s differs from %s --help", commands[i], commands[i]);
        cr_assert(strstr(a.out, "--json"), "%s: no --json in %s", commands[i], a.out);
        /* Every long option the help lists is one the parser knows: given
         * alone it is never "unknown". */
        int listed = 0;
        for (const char *p = strstr(a.out, "\n  "); p; p = strstr(p + 1, "\n  ")) {
            const char *dash = strstr(p, "--");
            if (!dash || dash > strchr(p + 1, '\n'))
                continue;
            char opt[64];
            sscanf(dash, "%63[-a-z0-9]", opt);
            snprintf(args, sizeof args, "%s %s", commands[i], opt);
            ch_result r = ch_run(dir, args);
            cr_expect(!strstr(r.err, "unknown option"), "%s: %s", args, r.err);
            ch_free(&r);
            listed++;
        }
        cr_assert_geq(listed, 2, "%s lists its options: %s", commands[i], a.out);
        ch_free(&a), ch_free(&b);
    }
    ch_expect_exit(dir, "help frobnicate", 2, NULL);
    fx_rmtree(dir);
}

Test(cli_options, did_you_mean_and_values_named)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    ch_result r = ch_run(dir, "eval --limt 5");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "unknown option '--limt' for 'eval'; did you mean '--limit'?"), "%s",
              r.err);
    ch_free(&r);
    ch_expect_exit(dir, "quantize --thread=2", 2, "did you mean '--threads'?");
    r = ch_run(dir, "info --frobnicate");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "unknown option '--frobnicate' for 'info'") &&
                  !strstr(r.err, "did you mean"),
              "%s", r.err);
    ch_free(&r);
    ch_expect_exit(dir, "eval -m x.ckpt --limit", 2, "--limit needs a value");
    ch_expect_exit(dir, "eval -m x.ckpt --batch=many", 2, "--batch: expected an integer");
    ch_expect_exit(dir, "info stray", 2, "'stray'");
    fx_rmtree(dir);
}

/* The tiny config: trains in a second, has prune and quantize blocks. */
static const char *config_text =
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3]},\n"
    " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"pad\": 1},"
    " {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 2}, {\"type\": \"flatten\"},"
    " {\"type\": \"dense\", \"units\": 10}]},\n"
    " \"train\": {\"epochs\": 1, \"batch_size\": 50, \"seed\": 3, \"lr\": 0.05},\n"
    " \"prune\": {\"sparsity\": 0.5},\n"
    " \"quantize\": {\"calibration_images\": 64}}\n";

/* Every command prints one JSON object as its last stdout line; --limit
 * changes the count each reports. The runs in order (each reads what the
 * one before wrote); key == want, or key > 0 when want is -1; compare's
 * count is that of its second model. */
Test(cli_options, every_command_speaks_json_and_limit_takes_effect, .timeout = 180)
{
    static const struct {
        const char *args, *key;
        double want;
    } runs[] = {
        {"train -c cfg.json -o m.ckpt --threads 1 --limit 300 --json", "train_images", 300},
        {"eval -m m.ckpt --threads 1 --json", "n", 200},
        {"eval -m m.ckpt --threads 1 --limit 50 --json", "n", 50},
        {"prune -c cfg.json -m m.ckpt -o p.ckpt --threads 1 --json", "accuracy_after", -1},
        {"quantize -m p.ckpt -o q.iotc --eval --limit 40 --threads 1 --json", "test_images", 40},
        {"info -m q.iotc --json", "file_bytes", -1},
        {"compare m.ckpt q.iotc --limit 30 --latency-images 5 --threads 1 --json", "n", 30},
        {"export -m q.iotc --out fw --verify 2 --json", "image_bytes", -1},
        {"augment -c cfg.json -o grid.png --n 9 --json", "images", 9},
    };
    char dir[64];
    ch_config_dir(dir, sizeof dir, config_text);
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        cJSON *j = ch_run_json(dir, runs[i].args);
        const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
        double v = ch_num(models ? cJSON_GetArrayItem(models, 1) : j, runs[i].key);
        if (runs[i].want < 0)
            cr_expect_gt(v, 0, "%s: %s = %g", runs[i].args, runs[i].key, v);
        else
            cr_expect_eq(v, runs[i].want, "%s: %s = %g", runs[i].args, runs[i].key, v);
        cJSON_Delete(j);
    }
    fx_rmtree(dir);
}
