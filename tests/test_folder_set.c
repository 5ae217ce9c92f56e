/* test_folder_set.c - a user's own folder of images, end to end: CIFAR-10
 * shaped images (a generated set in the binary batch format) written by
 * datasets/tools/ds2folder as PNG and JPEG files of four sizes under
 * class-name folders; iotcnn trains on the folder, names the classes,
 * predicts the test files by name and scores them exactly as eval does. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_helpers.h"
#include "fixtures.h"

static const char *const names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                      "dog",      "frog",       "horse", "ship", "truck"};

/* DIR/cifar/{data_batch_1..5,test_batch}.bin, n records each: class k
 * is a colour (k's bits pick R, G, B) with a bright band at row 3k. */
static void write_cifar(const char *dir, int n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/cifar", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    const char *files[6] = {"data_batch_1", "data_batch_2", "data_batch_3",
                            "data_batch_4", "data_batch_5", "test_batch"};
    uint8_t rec[3073];
    for (int f = 0; f < 6; f++) {
        snprintf(path, sizeof path, "%s/cifar/%s.bin", dir, files[f]);
        FILE *out = fopen(path, "wb");
        cr_assert_not_null(out);
        for (int i = 0; i < n; i++) {
            int k = (i * 7 + f) % 10;
            rec[0] = (uint8_t)k;
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 1024; p++)
                    rec[1 + c * 1024 + p] =
                        (uint8_t)((k >> c & 1) * 120 + (p / 32 / 3 == k) * 100 + (i + p) % 30);
            cr_assert_eq(fwrite(rec, 1, sizeof rec, out), sizeof rec);
        }
        fclose(out);
    }
}

Test(folder_set, cifar_images_as_png_and_jpeg_of_mixed_sizes_train_predict_and_eval,
     .timeout = 180)
{
    char dir[64], tool[600], args[800];
    fx_tmpdir(dir, sizeof dir);
    write_cifar(dir, 60);
    ch_tool_path(tool, sizeof tool, "ds2folder");
    ch_result r = ch_run_bin(dir, tool, "cifar10 cifar mine 200 60");
    cr_assert_eq(r.status, 0, "%s", r.err);
    ch_free(&r);
    /* both formats and four sizes under the class names */
    char path[700];
    int formats = 0;
    for (int i = 0; i < 4; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/mine/test/%s/%05d.%s", dir, names[(i * 7 + 5) % 10], i,
                 i % 2 ? "jpg" : "png");
        formats += stat(path, &sb) == 0;
    }
    cr_assert_eq(formats, 4, "ds2folder's files are not where expected");
    ch_write_text(dir, "cfg.json",
                  "{\"data\": {\"dataset\": \"png\", \"dir\": \"mine\"},"
                  " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3,"
                  " \"pad\": 1}, {\"type\": \"batchnorm\"}, {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 4},"
                  " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"
                  " \"train\": {\"epochs\": 4, \"batch_size\": 16, \"lr\": 0.01}}");
    cJSON *t = ch_run_json(dir, "train -c cfg.json -o m.ckpt --threads 1 --json");
    int train_correct = (int)(ch_num(t, "test_accuracy") * ch_num(t, "test_images") + 0.5);
    cr_assert_eq((int)ch_num(t, "test_images"), 60);
    cJSON_Delete(t);
    cJSON *info = ch_run_json(dir, "info -m m.ckpt --json");
    const cJSON *cn = ch_obj(info, "class_names");
    for (int k = 0; k < 10; k++)
        cr_assert_str_eq(cJSON_GetArrayItem(cn, k)->valuestring, names[k]);
    cJSON_Delete(info);
    /* predict every test file: top-1 by name against its folder */
    r = ch_run(dir, "predict -m m.ckpt --json mine/test");
    cr_assert_eq(r.status, 0, "%s", r.err);
    int lines = 0, correct = 0;
    for (char *l = strtok(r.out, "\n"); l; l = strtok(NULL, "\n"), lines++) {
        cJSON *j = cJSON_Parse(l);
        const char *image = ch_obj(j, "image")->valuestring;
        const char *top = ch_obj(cJSON_GetArrayItem(ch_obj(j, "top"), 0), "name")->valuestring;
        char folder[64];
        cr_assert_eq(sscanf(image, "mine/test/%63[^/]", folder), 1, "%s", image);
        correct += strcmp(folder, top) == 0;
        cJSON_Delete(j);
    }
    ch_free(&r);
    cr_assert_eq(lines, 60);
    snprintf(args, sizeof args, "eval -m m.ckpt --data mine/test --json");
    cJSON *e = ch_run_json(dir, args);
    cr_assert_eq((int)ch_num(e, "correct"), correct, "predict and eval disagree");
    cr_assert_eq(correct, train_correct, "train's test pass and eval disagree");
    cr_assert_gt(correct, 12, "the model learned nothing (%d of 60): a weak test", correct);
    cJSON_Delete(e);
    /* --limit on a folder set takes every class in proportion: the first 20
     * files of a class-sorted folder would be the first two classes */
    e = ch_run_json(dir, "eval -m m.ckpt --data mine/test --limit 20 --json");
    const cJSON *cm = ch_obj(e, "confusion_matrix");
    int classes_seen = 0;
    for (int k = 0; k < 10; k++) {
        int row = 0;
        for (int p = 0; p < 10; p++)
            row += (int)cJSON_GetArrayItem(cJSON_GetArrayItem(cm, k), p)->valuedouble;
        classes_seen += row > 0;
    }
    cr_assert_eq((int)ch_num(e, "n"), 20);
    cr_assert_eq(classes_seen, 10, "--limit 20 held %d classes", classes_seen);
    cJSON_Delete(e);
    fx_rmtree(dir);
}
