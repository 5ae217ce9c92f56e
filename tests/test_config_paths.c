/* test_config_paths.c - a relative data.dir in a config file is relative to
 * that file's folder, not to wherever the command runs; a default dir is
 * relative to the current directory; the resolved dir is what a checkpoint
 * stores, so the model finds its data again without the config. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config/cfg.h"
#include "cli_helpers.h"
#include "fixtures.h"

#define BODY                                                                                       \
    " \"model\": {\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"  \
    " \"train\": {\"epochs\": 1, \"batch_size\": 32, \"lr\": 0.05}}"

Test(config_paths, cfg_load_resolves_a_relative_dir_against_the_files_folder)
{
    char dir[64], path[200];
    fx_tmpdir(dir, sizeof dir);
    ch_write_text(dir, "a.json", "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"../d\"}," BODY);
    ch_write_text(dir, "b.json", "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"/abs/d\"}," BODY);
    ch_write_text(dir, "c.json", "{\"data\": {\"dataset\": \"mnist\"}," BODY);
    cfg_config c;
    nn_error err;
    snprintf(path, sizeof path, "%s/a.json", dir);
    cr_assert_eq(cfg_load(&c, NULL, path, &err), NN_OK, "%s", err.msg);
    char want[200];
    snprintf(want, sizeof want, "%s/../d", dir);
    cr_assert_str_eq(c.data.dir, want);
    snprintf(path, sizeof path, "%s/b.json", dir);
    cr_assert_eq(cfg_load(&c, NULL, path, &err), NN_OK, "%s", err.msg);
    cr_assert_str_eq(c.data.dir, "/abs/d");
    snprintf(path, sizeof path, "%s/c.json", dir);
    cr_assert_eq(cfg_load(&c, NULL, path, &err), NN_OK, "%s", err.msg);
    cr_assert_str_eq(c.data.dir, "data/mnist", "the default stays relative to the current dir");
    /* a config text (a checkpoint's stored one) has no folder */
    cr_assert_eq(cfg_parse(&c, "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"x/y\"}," BODY, "t",
                           &err),
                 NN_OK, "%s", err.msg);
    cr_assert_str_eq(c.data.dir, "x/y");
    fx_rmtree(dir);
}

Test(config_paths, a_config_in_another_folder_finds_its_data_and_the_checkpoint_too,
     .timeout = 60)
{
    char dir[64];
    ch_data_dir(dir, sizeof dir); /* DIR/data: the images */
    char sub[200];
    snprintf(sub, sizeof sub, "%s/cfgs", dir);
    cr_assert_eq(mkdir(sub, 0777), 0);
    ch_write_text(sub, "c.json", "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"../data\"}," BODY);
    /* run from DIR: "../data" is relative to cfgs/, not to DIR (DIR/../data
     * does not exist) */
    ch_run_ok(dir, "train -c cfgs/c.json -o m.ckpt --threads 1");
    cJSON *j = ch_run_json(dir, "eval -m m.ckpt --json"); /* the stored config alone */
    cr_assert_eq((int)ch_num(j, "n"), 200);
    cJSON_Delete(j);
    fx_rmtree(dir);
}
