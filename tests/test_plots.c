/* test_plots.c - the pictures: train draws its curves beside the metrics,
 * eval --confusion draws the matrix; both real PNGs of the documented size
 * with something drawn; without gnuplot, train still succeeds (and says
 * so) while eval --confusion, which asked for the file, fails; an
 * unwritable picture path fails before any work. Skipped without gnuplot. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ds_image.h"
#include "cli_helpers.h"
#include "fixtures.h"

#define CONFIG                                                                                     \
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"validation\": 100, \"mean\": [0.2],"   \
    " \"std\": [0.3]}, \"model\": {\"layers\": [{\"type\": \"flatten\"},"                          \
    " {\"type\": \"dense\", \"units\": 10}]}, \"train\": {\"epochs\": 3, \"lr\": 0.1}}"

static void need_gnuplot(void)
{
    if (system("command -v gnuplot >/dev/null 2>&1") != 0)
        cr_skip_test("gnuplot is not installed (scripts/deps.sh installs gnuplot-nox)");
}

/* The PNG at dir/name: its size, and how many of its pixels are not white. */
static int drawn_pixels(const char *dir, const char *name, int w, int h)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ds_image im;
    nn_error err;
    cr_assert_eq(ds_image_read(&im, path, 4096, &err), NN_OK, "%s", err.msg);
    cr_assert(im.w == w && im.h == h, "%s: %dx%d, want %dx%d", name, im.w, im.h, w, h);
    int n = 0;
    for (size_t i = 0; i < (size_t)im.w * im.h * im.ch; i += (size_t)im.ch)
        n += im.pix[i] < 250;
    ds_image_free(&im);
    return n;
}

Test(plots, train_draws_curves_and_eval_the_confusion_matrix, .timeout = 120)
{
    need_gnuplot();
    char dir[64];
    ch_config_dir(dir, sizeof dir, CONFIG);
    cJSON *j = ch_run_json(dir, "train -c cfg.json -o m.ckpt --threads 1 --json");
    cr_assert_str_eq(ch_obj(j, "curves")->valuestring, "m.curves.png");
    cJSON_Delete(j);
    cr_assert_gt(drawn_pixels(dir, "m.curves.png", 900, 1000), 20000);
    ch_run_ok(dir, "eval -m m.ckpt --confusion conf.png");
    cr_assert_gt(drawn_pixels(dir, "conf.png", 720, 600), 20000); /* 10 classes */
    /* the picture's path is checked before the evaluation */
    ch_result r = ch_run(dir, "eval -m m.ckpt --confusion nodir/c.png");
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "nodir/c.png: cannot write"), "%s", r.err);
    cr_assert_null(strstr(r.out, "accuracy"), "evaluated first: %s", r.out);
    ch_free(&r);
    fx_rmtree(dir);
}

Test(plots, without_gnuplot_train_succeeds_and_eval_confusion_fails, .timeout = 120)
{
    char dir[64], args[700];
    ch_config_dir(dir, sizeof dir, CONFIG);
    snprintf(args, sizeof args, "PATH=/nonexistent '%s' train -c cfg.json -o m.ckpt --json",
             ch_iotcnn_bin());
    ch_result r = ch_run_bin(dir, "/usr/bin/env", args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "no curves drawn: gnuplot is not installed"), "%s", r.err);
    cr_assert_not_null(strstr(r.out, "\"curves\":null"), "%s", r.out);
    ch_free(&r);
    snprintf(args, sizeof args, "PATH=/nonexistent '%s' eval -m m.ckpt --confusion c.png",
             ch_iotcnn_bin());
    r = ch_run_bin(dir, "/usr/bin/env", args);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "c.png: gnuplot is not installed"), "%s", r.err);
    ch_free(&r);
    fx_rmtree(dir);
}
