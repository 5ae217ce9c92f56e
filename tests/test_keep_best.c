/* test_keep_best.c - with a validation split, train keeps the best epoch's
 * checkpoint beside the last one, stops early after train.early_stop epochs
 * without a better validation accuracy, and a resumed run decides exactly
 * as an uninterrupted one. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/ckpt.h"
#include "cli_helpers.h"
#include "fixtures.h"

#define CONFIG(LR, EXTRA)                                                                          \
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"validation\": 100, \"mean\": [0.2],"   \
    " \"std\": [0.3]},"                                                                            \
    " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"pad\": 1},"  \
    " {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 2}, {\"type\": \"flatten\"},"        \
    " {\"type\": \"dense\", \"units\": 10}]},"                                                     \
    " \"train\": {\"epochs\": 5, \"batch_size\": 16, \"seed\": 2, \"lr\": " LR EXTRA "}}"

/* The best val_accuracy of a metrics log and its (first) epoch. */
static int best_of_log(const char *dir, const char *name, double *best)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = ch_slurp(path, NULL);
    int epoch = 0;
    *best = -1;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(l);
        double v = ch_num(j, "val_accuracy");
        if (v > *best)
            *best = v, epoch = (int)ch_num(j, "epoch");
        cJSON_Delete(j);
    }
    free(text);
    return epoch;
}

static int epochs_of(const char *dir, const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ckpt_file ck;
    nn_error err;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    int e = ck.train.epochs_done;
    ckpt_free(&ck);
    return e;
}

Test(keep_best, the_best_epoch_is_kept_beside_the_last, .timeout = 120)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, CONFIG("0.05", ""));
    cJSON *j = ch_run_json(dir, "train -c cfg.json -o m.ckpt --threads 1 --json");
    double best;
    int epoch = best_of_log(dir, "m.metrics.jsonl", &best);
    cr_assert_str_eq(ch_obj(j, "best_model")->valuestring, "m.best.ckpt");
    cr_assert_eq((int)ch_num(j, "best_epoch"), epoch);
    cr_assert_float_eq(ch_num(j, "best_val_accuracy"), best, 1e-6);
    cr_assert(cJSON_IsFalse(ch_obj(j, "early_stopped")));
    cr_assert_eq(epochs_of(dir, "m.best.ckpt"), epoch, "the best file is that epoch's model");
    cr_assert_eq(epochs_of(dir, "m.ckpt"), 5);
    cJSON_Delete(j);
    fx_rmtree(dir);
}

Test(keep_best, early_stop_ends_a_run_that_stopped_improving, .timeout = 120)
{
    char dir[64];
    ch_data_dir(dir, sizeof dir);
    /* a rate too small to change a prediction: epoch 1 stays the best */
    ch_write_text(dir, "cfg.json", CONFIG("1e-12", ", \"early_stop\": 2"));
    ch_result r = ch_run(dir, "train -c cfg.json -o m.ckpt --threads 1 --json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "stopped early after epoch 3: no better validation accuracy "
                                     "for 2 epochs"),
                       "%s", r.err);
    cJSON *j = ch_json(&r);
    cr_assert(cJSON_IsTrue(ch_obj(j, "early_stopped")));
    cr_assert_eq((int)ch_num(j, "best_epoch"), 1);
    cr_assert_eq((int)ch_num(j, "epochs"), 3);
    cr_assert_eq(epochs_of(dir, "m.best.ckpt"), 1);
    cJSON_Delete(j);
    ch_free(&r);
    /* early_stop without validation images to judge by */
    ch_write_text(dir, "bad.json",
                  "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\"},"
                  " \"model\": {\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\","
                  " \"units\": 10}]}, \"train\": {\"epochs\": 2, \"lr\": 0.1, \"early_stop\": 1}}");
    r = ch_run(dir, "train -c bad.json -o b.ckpt");
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "train.early_stop: needs validation images"), "%s", r.err);
    ch_free(&r);
    fx_rmtree(dir);
}

Test(keep_best, a_resumed_run_keeps_and_stops_as_an_uninterrupted_one, .timeout = 180)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, CONFIG("1e-12", ", \"early_stop\": 2"));
    ch_run_ok(dir, "train -c cfg.json -o a.ckpt --threads 1");
    ch_run_ok(dir, "train -c cfg.json -o b.ckpt --threads 1 --stop-after 2");
    cJSON *j = ch_run_json(dir, "train --resume b.ckpt --threads 1 --json");
    cr_assert(cJSON_IsTrue(ch_obj(j, "early_stopped")), "the resumed run forgot the best epoch");
    cr_assert_eq((int)ch_num(j, "best_epoch"), 1);
    cJSON_Delete(j);
    const char *pairs[2][2] = {{"a.ckpt", "b.ckpt"}, {"a.best.ckpt", "b.best.ckpt"}};
    for (int i = 0; i < 2; i++) {
        size_t na, nb;
        char pa[300], pb[300];
        snprintf(pa, sizeof pa, "%s/%s", dir, pairs[i][0]);
        snprintf(pb, sizeof pb, "%s/%s", dir, pairs[i][1]);
        char *a = ch_slurp(pa, &na), *b = ch_slurp(pb, &nb);
        cr_assert(na == nb && memcmp(a, b, na) == 0, "%s differs from %s", pa, pb);
        free(a), free(b);
    }
    fx_rmtree(dir);
}
