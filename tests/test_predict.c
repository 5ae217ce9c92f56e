/* test_predict.c - `iotcnn predict` end to end: the test images written as
 * PNG files and predicted one by one give exactly eval's correct count, for
 * a checkpoint and its .iotc, with and without the test-time flip; the
 * names, the top K, a folder, resizing, bad files and bad usage. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/ckpt.h"
#include "cli_helpers.h"
#include "fixtures.h"
#include "layer_specs.h"

#define CONFIG                                                                                     \
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3]},"    \
    " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"pad\": 1},"  \
    " {\"type\": \"batchnorm\"}, {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 2},"      \
    " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"                           \
    " \"train\": {\"epochs\": 2, \"batch_size\": 16, \"seed\": 3, \"lr\": 0.05}}"

enum { N_TEST = 200, S = 12 };

/* DIR/png/NNN_L.png: the test set (ch_data_dir's t10k, seed 2) as PNGs. */
static void write_test_pngs(const char *dir, uint8_t *labels)
{
    uint8_t *img = malloc(N_TEST * S * S);
    cr_assert_not_null(img);
    fx_stripes(img, labels, N_TEST, 1, S, S, 10, 2);
    char path[700];
    snprintf(path, sizeof path, "%s/png", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    for (int i = 0; i < N_TEST; i++) {
        snprintf(path, sizeof path, "%s/png/%03d_%d.png", dir, i, labels[i]);
        fx_write_png(path, S, S, PNG_COLOR_TYPE_GRAY, 8, img + i * S * S, S, NULL, 0, 0);
    }
    free(img);
}

/* How many of predict's top-1 answers (JSON lines) match the label in the
 * file name; every line must hold K predictions by name. */
static int count_correct(const char *out, int k, int *lines)
{
    int correct = 0;
    *lines = 0;
    for (const char *l = out; *l; l = strchr(l, '\n') + 1) {
        cJSON *j = cJSON_Parse(l);
        cr_assert_not_null(j, "not JSON: %.80s", l);
        const char *image = ch_obj(j, "image")->valuestring;
        const cJSON *top = ch_obj(j, "top");
        cr_assert_eq(cJSON_GetArraySize(top), k);
        const cJSON *first = cJSON_GetArrayItem(top, 0);
        int cls = (int)ch_num(first, "class");
        char want[4];
        snprintf(want, sizeof want, "%d", cls); /* MNIST's names are the digits */
        cr_assert_str_eq(ch_obj(first, "name")->valuestring, want);
        double p0 = ch_num(first, "probability"), p1 = ch_num(cJSON_GetArrayItem(top, 1), "probability");
        cr_assert(p0 >= p1 && p0 <= 1 && p1 >= 0, "probabilities out of order: %g %g", p0, p1);
        const char *us = strrchr(image, '_');
        correct += us && us[1] - '0' == cls;
        (*lines)++;
        cJSON_Delete(j);
        if (!strchr(l, '\n'))
            break;
    }
    return correct;
}

static int eval_correct(const char *dir, const char *model, const char *flip)
{
    char args[200];
    snprintf(args, sizeof args, "eval -m %s --threads 1 %s --json", model, flip);
    cJSON *j = ch_run_json(dir, args);
    int c = (int)ch_num(j, "correct");
    cr_assert_eq((int)ch_num(j, "n"), N_TEST);
    cJSON_Delete(j);
    return c;
}

Test(predict, every_test_image_as_a_file_gives_evals_count, .timeout = 180)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, CONFIG);
    uint8_t labels[N_TEST];
    write_test_pngs(dir, labels);
    ch_run_ok(dir, "train -c cfg.json -o m.ckpt --threads 1");
    ch_run_ok(dir, "quantize -c cfg.json -m m.ckpt -o m.iotc");
    const char *models[2] = {"m.ckpt", "m.iotc"}, *flips[2] = {"--no-test-flip", "--test-flip"};
    for (int m = 0; m < 2; m++)
        for (int f = 0; f < 2; f++) {
            char args[200];
            snprintf(args, sizeof args, "predict -m %s %s --json --top 3 png", models[m], flips[f]);
            ch_result r = ch_run(dir, args);
            cr_assert_eq(r.status, 0, "%s", r.err);
            int lines, correct = count_correct(r.out, 3, &lines);
            cr_assert_eq(lines, N_TEST);
            int want = eval_correct(dir, models[m], flips[f]);
            cr_assert_eq(correct, want, "%s %s: predict %d correct, eval %d", models[m],
                         flips[f], correct, want);
            cr_assert_gt(want, N_TEST / 5, "the model learned nothing: a weak test");
            ch_free(&r);
        }
    fx_rmtree(dir);
}

Test(predict, text_output_resizing_bad_files_and_usage, .timeout = 120)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, CONFIG);
    ch_run_ok(dir, "train -c cfg.json -o m.ckpt --threads 1 --epochs 1");
    /* a 36x36 RGB image: resized and converted to the 12x12 gray input */
    uint8_t rgb[36 * 36 * 3];
    for (int i = 0; i < 36 * 36 * 3; i++)
        rgb[i] = (uint8_t)(i % 108 < 54 ? 230 : 20);
    char path[700];
    snprintf(path, sizeof path, "%s/big.png", dir);
    fx_write_png(path, 36, 36, PNG_COLOR_TYPE_RGB, 8, rgb, 36 * 3, NULL, 0, 0);
    ch_result r = ch_run(dir, "predict -m m.ckpt --top 2 big.png");
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* "big.png  D p%  D p%" */
    int d1, d2;
    double p1, p2;
    cr_assert_eq(sscanf(r.out, "big.png %d %lf%% %d %lf%%", &d1, &p1, &d2, &p2), 4, "%s", r.out);
    cr_assert(p1 >= p2 && d1 != d2 && p1 <= 100.0, "%s", r.out);
    ch_free(&r);
    /* a bad file among good ones: reported, the rest predicted, exit 1 */
    ch_write_text(dir, "notes.txt", "hello");
    r = ch_run(dir, "predict -m m.ckpt big.png notes.txt big.png");
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "notes.txt: neither a PNG nor a JPEG"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "1 of 3 files failed"), "%s", r.err);
    cr_assert_eq(strstr(strstr(r.out, "big.png") + 1, "big.png") != NULL, 1, "%s", r.out);
    ch_free(&r);
    r = ch_run(dir, "predict -m m.ckpt");
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "no image given"), "%s", r.err);
    ch_free(&r);
    r = ch_run(dir, "predict -m missing.ckpt big.png");
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "missing.ckpt"), "%s", r.err);
    ch_free(&r);
    fx_rmtree(dir);
}

/* A model of 300 classes (more than names hold, CLS_MAX_CLASSES): predict
 * sizes its buffers by the model, names the classes "class K", and ranks
 * all of them (ASan would see an overflow). */
Test(predict, a_model_of_more_classes_than_names_hold, .timeout = 60)
{
    char dir[64], path[300];
    fx_tmpdir(dir, sizeof dir);
    nn_model_spec s;
    LS_SPEC(&s, 1, 4, 4, 300, ls_layer(NN_LAYER_FLATTEN), ls_dense(300));
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
    nn_model_init_params(&m, NN_INIT_HE, 1);
    m.params[m.nodes[1].b.off + 299] = 50.0f; /* class 299 wins */
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    cr_assert_eq(ckpt_save(path, &m, NULL, NULL, NULL, NULL, &err), NN_OK, "%s", err.msg);
    nn_model_free(&m);
    uint8_t px[16] = {0};
    snprintf(path, sizeof path, "%s/x.png", dir);
    fx_write_png(path, 4, 4, PNG_COLOR_TYPE_GRAY, 8, px, 4, NULL, 0, 0);
    ch_result r = ch_run(dir, "predict -m m.ckpt --top 2 x.png");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "x.png  class 299 100.0%"), "%s", r.out);
    ch_free(&r);
    fx_rmtree(dir);
}
