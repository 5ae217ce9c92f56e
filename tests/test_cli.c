/* End-to-end tests of the iotcnn binary ($IOTCNN_BIN, set by `make test`)
 * on a tiny generated IDX dataset: train -> eval, JSON outputs, metrics
 * log, resume == uninterrupted (byte-identical checkpoints), exit codes and
 * messages for bad configs, bad options, missing and corrupt files. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/rt.h"
#include "cli_helpers.h"
#include "fixtures.h"

static const char *config_text =
    "{\n"
    "  \"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3],\n"
    "           \"validation\": 100},\n"
    "  \"model\": {\"layers\": [\n"
    "    {\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"pad\": 1},\n"
    "    {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},\n"
    "    {\"type\": \"maxpool\", \"size\": 2},\n"
    "    {\"type\": \"flatten\"}, {\"type\": \"dropout\", \"rate\": 0.2},\n"
    "    {\"type\": \"dense\", \"units\": 10}]},\n"
    "  \"train\": {\"epochs\": 3, \"batch_size\": 16, \"seed\": 5, \"lr\": 0.05,\n"
    "    \"optimizer\": {\"type\": \"sgd\", \"momentum\": 0.9, \"nesterov\": true},\n"
    "    \"schedule\": {\"type\": \"cosine\"}}\n"
    "}\n";

Test(cli, help_and_version)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    ch_expect_out(dir, "--help", "train");
    ch_expect_out(dir, "train --help", "--resume");
    ch_expect_out(dir, "eval --help", "--data");
    char kernels[64]; /* the build names the kernels it picks on this CPU */
    snprintf(kernels, sizeof kernels, "int8 kernels on this CPU: %s\n", rt_isa_name(rt_isa_best()));
    ch_expect_out(dir, "--version", "iotcnn ", kernels);
    ch_expect_exit(dir, "frobnicate", 2, NULL);
    ch_expect_exit(dir, "train --bogus", 2, "--bogus");
    ch_expect_exit(dir, "train -c cfg.json --epochs zero", 2, "--epochs");
    fx_rmtree(dir);
}

Test(cli, train_then_eval_end_to_end, .timeout = 120)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, config_text);
    ch_result r = ch_run(dir, "train -c cfg.json -o m.ckpt --threads 2 --json");
    cr_assert_eq(r.status, 0, "train failed: %s", r.err);
    cJSON *j = ch_json(&r);
    double acc = ch_num(j, "test_accuracy");
    cr_assert_gt(acc, 0.6, "test accuracy %.3f on easy data", acc);
    cr_assert_eq(ch_num(j, "epochs"), 3);
    cr_assert_gt(ch_num(j, "images_per_second"), 0);
    cr_assert_gt(ch_num(j, "seconds"), 0);
    cr_assert_str_eq(ch_str(j, "model"), "m.ckpt");
    /* One progress line per epoch on a non-terminal stderr. */
    cr_assert_not_null(strstr(r.err, "epoch 3/3"), "%s", r.err);
    cJSON_Delete(j);
    ch_free(&r);

    char path[600];
    snprintf(path, sizeof path, "%s/m.metrics.jsonl", dir);
    char *metrics = ch_slurp(path, NULL);
    cr_assert_not_null(metrics, "no metrics log next to the model");
    int lines = 0;
    for (char *p = metrics; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 3);
    cr_assert_not_null(strstr(metrics, "\"train_loss\""));
    cr_assert_not_null(strstr(metrics, "\"val_accuracy\""), "no validation metrics: %s", metrics);
    free(metrics);

    j = ch_run_json(dir, "eval -m m.ckpt --json --threads 2");
    cr_assert_float_eq(ch_num(j, "accuracy"), acc, 1e-9,
                       "eval disagrees with train's test accuracy");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "test_flip")));
    double loss = ch_num(j, "loss");
    cr_assert_eq(ch_num(j, "n"), 200);
    size_t bytes = 0;
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    free(ch_slurp(path, &bytes));
    cr_assert_eq(ch_num(j, "model_bytes"), (double)bytes);
    const cJSON *per = cJSON_GetObjectItemCaseSensitive(j, "per_class_accuracy");
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(j, "confusion_matrix");
    cr_assert_eq(cJSON_GetArraySize(per), 10);
    cr_assert_eq(cJSON_GetArraySize(cm), 10);
    int total = 0, diag = 0, row_i = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cm)
    {
        int col_i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, row)
        {
            total += v->valueint;
            diag += row_i == col_i ? v->valueint : 0;
            col_i++;
        }
        row_i++;
    }
    cr_assert_eq(total, 200);
    cr_assert_eq(diag, (int)ch_num(j, "correct"));
    ch_num(j, "images_per_second"), ch_num(j, "seconds");
    cJSON_Delete(j);

    /* The same test images as a folder of PNGs, one sub-folder per class. */
    char pngdir[600];
    snprintf(pngdir, sizeof pngdir, "%s/png", dir);
    fx_write_png_dir(pngdir, 200, 12, 12, 2);
    j = ch_run_json(dir, "eval -m m.ckpt --data png --json");
    cr_assert_float_eq(ch_num(j, "accuracy"), acc, 1e-9, "PNG folder and IDX disagree");
    cJSON_Delete(j);

    /* --test-flip: reported, and it changes the loss (mirrored digits are
     * different inputs); the config's default is no flip. */
    j = ch_run_json(dir, "eval -m m.ckpt --json --test-flip");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "test_flip")));
    cr_assert(fabs(ch_num(j, "loss") - loss) > 1e-5 * loss, "the flip changed nothing");
    cJSON_Delete(j);

    /* --limit, and a human report without --json. */
    ch_expect_out(dir, "eval -m m.ckpt --limit 50 --batch 7", "/50)");
    fx_rmtree(dir);
}

Test(cli, resumed_run_writes_the_same_checkpoint_bytes, .timeout = 120)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, config_text);
    ch_run_ok(dir, "train -c cfg.json -o full.ckpt --threads 2 --limit 320");
    ch_expect_exit(dir, "train -c cfg.json -o part.ckpt --threads 2 --limit 320 --stop-after 1", 0,
                   "--resume");
    /* No -c: the stored config (with --limit recorded) drives the rest. */
    ch_run_ok(dir, "train --resume part.ckpt --threads 2");
    cr_assert(ch_same_files(dir, "full.ckpt", "part.ckpt"),
              "resumed checkpoint differs from the uninterrupted one");
    fx_rmtree(dir);
}

Test(cli, errors_name_the_key_file_or_problem, .timeout = 60)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, config_text);
    ch_write_text(dir, "bad.json",
                  CH_CONFIG("{\"type\": \"dense\", \"units\": 10}",
                            "\"train\": {\"epochs\": 1, \"lr\": 0.01, \"bogus\": 3}"));
    ch_expect_exit(dir, "train -c bad.json", 2, "train.bogus");

    ch_expect_exit(dir, "train -c missing.json", 1, "missing.json");

    ch_write_text(dir, "nodata.json",
                  "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"nowhere\"},"
                  " \"model\": {\"layers\": [{\"type\": \"dense\", \"units\": 10}]},"
                  " \"train\": {\"epochs\": 1, \"lr\": 0.01}}");
    ch_expect_exit(dir, "train -c nodata.json", 1, "nowhere", "fetch.sh");

    /* A model whose last layer does not match the 10 classes. */
    ch_write_text(dir, "shape.json",
                  CH_CONFIG("{\"type\": \"dense\", \"units\": 7}",
                            "\"train\": {\"epochs\": 1, \"lr\": 0.01}"));
    ch_expect_exit(dir, "train -c shape.json", 2, "10 classes");

    ch_expect_exit(dir, "eval -m nothere.ckpt", 1, "nothere.ckpt");

    /* Train one epoch, then corrupt the checkpoint in the middle. */
    ch_expect_exit(dir, "train -c cfg.json -o m.ckpt --epochs 1 --limit 64", 2, "data.validation");
    ch_run_ok(dir, "train -c cfg.json -o m.ckpt --epochs 1 --limit 164");
    char path[600];
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    size_t len;
    char *bytes = ch_slurp(path, &len);
    bytes[len / 2] ^= 0x5a;
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, len, f);
    fclose(f);
    free(bytes);
    ch_expect_exit(dir, "eval -m m.ckpt", 1, "m.ckpt");

    /* Divergence: exit 1, a clear message, and no checkpoint written. */
    ch_write_text(dir, "nan.json",
                  CH_CONFIG("{\"type\": \"conv2d\", \"filters\": 4}, {\"type\": \"flatten\"},"
                            " {\"type\": \"dense\", \"units\": 10}",
                            "\"train\": {\"epochs\": 1, \"lr\": 1e30, \"batch_size\": 16}"));
    ch_expect_exit(dir, "train -c nan.json -o nan.ckpt", 1, "non-finite");
    snprintf(path, sizeof path, "%s/nan.ckpt", dir);
    struct stat sb;
    cr_assert_neq(stat(path, &sb), 0, "a diverged run wrote a checkpoint");
    fx_rmtree(dir);
}

Test(cli, augment_preview_grid_and_training_with_augmentation, .timeout = 120)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, config_text);
    ch_write_text(dir, "aug.json",
                  CH_CONFIG("{\"type\": \"conv2d\", \"filters\": 4, \"pad\": 1},"
                            " {\"type\": \"relu\"}, {\"type\": \"flatten\"},"
                            " {\"type\": \"dense\", \"units\": 10}",
                            "\"train\": {\"epochs\": 2, \"lr\": 0.02, \"batch_size\": 16},"
                            " \"augment\": {\"rotate\": 20, \"zoom\": 0.1, \"translate\": 0.1,"
                            " \"cutout\": 3}"));
    /* The preview: a valid PNG, the same bytes for the same seed, other
     * bytes for another seed, and no temporary file left behind. */
    ch_run_ok(dir, "augment -c aug.json -o a.png --n 9");
    ch_run_ok(dir, "augment -c aug.json -o b.png --n 9");
    ch_run_ok(dir, "augment -c aug.json -o c.png --n 9 --seed 77");
    char pa[600], pb[600], pc[600];
    snprintf(pa, sizeof pa, "%s/a.png", dir);
    snprintf(pb, sizeof pb, "%s/b.png", dir);
    snprintf(pc, sizeof pc, "%s/c.png", dir);
    size_t la, lb, lc;
    char *a = ch_slurp(pa, &la), *b = ch_slurp(pb, &lb), *c = ch_slurp(pc, &lc);
    cr_assert(a && b && c);
    cr_assert_eq(memcmp(a, "\x89PNG\r\n\x1a\n", 8), 0, "not a PNG");
    cr_assert(la == lb && memcmp(a, b, la) == 0, "same seed, different grids");
    cr_assert(la != lc || memcmp(a, c, la) != 0, "another seed gave the same grid");
    free(a), free(b), free(c);

    /* The grid of a config without augmentation says so. */
    ch_expect_exit(dir, "augment -c cfg.json -o d.png --n 4", 0, "no augment block");
    ch_expect_exit(dir, "augment -c aug.json", 2, NULL);

    /* Training with augmentation: runs, logs image-loading time, and is
     * reproducible. */
    ch_expect_exit(dir, "train -c aug.json -o x.ckpt --threads 2 --json", 0, "images ");
    ch_run_ok(dir, "train -c aug.json -o y.ckpt --threads 2");
    cr_assert(ch_same_files(dir, "x.ckpt", "y.ckpt"), "augmented runs differ");
    fx_rmtree(dir);
}
