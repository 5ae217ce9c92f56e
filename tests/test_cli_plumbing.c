/* test_cli_plumbing.c - command-line options and config keys proven by
 * their effect, not by an exit status: augmentation really transforms the
 * training images (a flip with probability 1 trains exactly the model of a
 * mirrored dataset; affine_p gates the affine part), the test-time flip
 * really averages each image with its mirror in `eval` of checkpoints and
 * of .iotc files and in `train`'s final evaluation (a crafted model whose
 * accuracy with and without the flip is known), --threads, --limit,
 * --epochs and --seed change what is trained the way they say, `eval
 * --batch` and --limit, and the JSON reports' fields hold exact values. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/ds.h"
#include "cli_helpers.h"

/* conv 4 (no bias) - bn - relu - maxpool - flatten - dense 10 on 12x12:
 * 36 + 4 + 4 + 144*10 + 10 = 1494 parameters. */
#define LAYERS                                                                                     \
    " \"model\": {\"layers\": ["                                                                   \
    "   {\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3, \"pad\": 1, \"bias\": false},"       \
    "   {\"type\": \"batchnorm\"}, {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 2},"     \
    "   {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"                           \
    " \"train\": {\"epochs\": 3, \"batch_size\": 16, \"seed\": 5, \"lr\": 0.05,"                   \
    "   \"optimizer\": {\"type\": \"sgd\", \"momentum\": 0.9}}"
#define DATA(dir)                                                                                  \
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"" dir "\", \"mean\": [0.2], \"std\": [0.3]},"

/* The parameters stored in DIR/NAME. */
static float *params_of(const char *dir, const char *name, size_t *n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ckpt_file ck;
    nn_error err;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    float *p = malloc(ck.model.n_params * sizeof *p);
    memcpy(p, ck.model.params, ck.model.n_params * sizeof *p);
    *n = ck.model.n_params;
    ckpt_free(&ck);
    return p;
}

/* 1 when the two checkpoints hold bitwise the same parameters. */
static int same_params(const char *dir, const char *a, const char *b)
{
    size_t na, nb;
    float *pa = params_of(dir, a, &na), *pb = params_of(dir, b, &nb);
    int same = na == nb && memcmp(pa, pb, na * sizeof *pa) == 0;
    free(pa), free(pb);
    return same;
}

static void train_ok(const char *dir, const char *args)
{
    ch_result r = ch_run(dir, args);
    cr_assert_eq(r.status, 0, "train %s: %s", args, r.err);
    ch_free(&r);
}

static const char *str_of(const cJSON *j, const char *key)
{
    const cJSON *v = ch_obj(j, key);
    cr_assert(cJSON_IsString(v), "%s is not a string", key);
    return v->valuestring;
}

/* --- augmentation ------------------------------------------------------ */

/* The 600 training images of ch_data_dir, mirrored left-right, and its
 * test set, in DIR/mirror. */
static void write_mirrored_data(const char *dir)
{
    enum { N = 600, S = 12 };
    uint8_t *img = malloc(N * S * S), *mir = malloc(N * S * S), labels[N];
    fx_stripes(img, labels, N, 1, S, S, 10, 1); /* ch_data_dir's seed */
    for (int r = 0; r < N * S; r++)
        for (int x = 0; x < S; x++)
            mir[r * S + x] = img[r * S + S - 1 - x];
    char path[600];
    snprintf(path, sizeof path, "%s/mirror", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    fx_write_idx(path, "train", mir, labels, N, S, S);
    fx_write_idx_pair(path, "t10k", 200, S, S, 2);
    free(img), free(mir);
}

Test(cli_plumbing, augmentation_transforms_the_training_images, .timeout = 120)
{
    char dir[64];
    ch_data_dir(dir, sizeof dir);
    write_mirrored_data(dir);
    ch_write_text(dir, "plain.json", DATA("data") LAYERS "}");
    ch_write_text(dir, "mirror.json", DATA("mirror") LAYERS "}");
    ch_write_text(dir, "flip.json",
                  DATA("data") LAYERS ", \"augment\": {\"hflip\": true, \"hflip_p\": 1}}");
    ch_write_text(dir, "rot.json", DATA("data") LAYERS ", \"augment\": {\"rotate\": 30}}");
    ch_write_text(dir, "rot1.json",
                  DATA("data") LAYERS ", \"augment\": {\"rotate\": 30, \"affine_p\": 1}}");
    ch_write_text(dir, "rot05.json",
                  DATA("data") LAYERS ", \"augment\": {\"rotate\": 30, \"affine_p\": 0.5}}");
    const char *runs[][2] = {{"plain.json", "plain.ckpt"}, {"mirror.json", "mirror.ckpt"},
                             {"flip.json", "flip.ckpt"},   {"rot.json", "rot.ckpt"},
                             {"rot1.json", "rot1.ckpt"},   {"rot05.json", "rot05.ckpt"}};
    for (int i = 0; i < 6; i++) {
        char args[200];
        snprintf(args, sizeof args, "train -c %s -o %s --threads 2 --epochs 1 --limit 160",
                 runs[i][0], runs[i][1]);
        train_ok(dir, args);
    }
    /* Flipping every image = training on the mirrored images. */
    cr_assert(same_params(dir, "flip.ckpt", "mirror.ckpt"),
              "hflip with probability 1 did not train on mirrored images");
    cr_assert(!same_params(dir, "flip.ckpt", "plain.ckpt"), "the augment block had no effect");
    /* affine_p 1 draws nothing (the same images as no affine_p); 0.5
     * skips the rotation of some images. */
    cr_assert(!same_params(dir, "rot.ckpt", "plain.ckpt"), "the rotation had no effect");
    cr_assert(same_params(dir, "rot1.ckpt", "rot.ckpt"), "affine_p 1 changed the images");
    cr_assert(!same_params(dir, "rot05.ckpt", "rot.ckpt"), "affine_p 0.5 had no effect");
    cr_assert(!same_params(dir, "rot05.ckpt", "plain.ckpt"), "affine_p 0.5 rotated nothing");
    fx_rmtree(dir);
}

/* --- test-time flip ---------------------------------------------------- */

/* 20 test (and training) images: 12 lit on the left half (columns 0-5 at
 * 255), class 0, then 8 lit on the right half, class 1. */
static void write_halves_data(const char *dir)
{
    enum { N = 20, S = 12 };
    uint8_t img[N * S * S], labels[N];
    for (int i = 0; i < N; i++) {
        int left = i < 12;
        labels[i] = left ? 0 : 1;
        for (int p = 0; p < S * S; p++)
            img[i * S * S + p] = (p % S < 6) == left ? 255 : 0;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/halves", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    fx_write_idx(path, "train", img, labels, N, S, S);
    fx_write_idx(path, "t10k", img, labels, N, S, S);
}

/* flatten - dense 10 on x = pixel / 255 (0 or 1), with
 *   logit 0 = (lit pixels in the left half) / 72: 1 for a left image,
 *             0 for a right one;
 *   logit 1 = 0.6 * (all lit pixels) / 72: 0.6 for both;
 *   logits 2-9 = -2 (bias only).
 * Plain, every image is right. With the flip, both kinds average to
 * logit 0 = 0.5 < 0.6: every image says class 1, so the 12 left ones are
 * wrong: accuracy 8/20 = 0.4. */
static void halves_weights(nn_model *m)
{
    const nn_node *d = &m->nodes[1];
    float *w = m->params + d->w.off, *b = m->params + d->b.off;
    memset(w, 0, d->w.n * sizeof *w);
    for (int p = 0; p < 144; p++) {
        w[p] = p % 12 < 6 ? 1.0f / 72 : 0.0f;
        w[144 + p] = 0.6f / 72;
    }
    for (int c = 0; c < 10; c++)
        b[c] = c < 2 ? 0.0f : -2.0f;
}

/* Mean cross-entropy of the 20 images when each has logits 0 and 1 as
 * given by its kind (left, right) and -2 elsewhere. */
static double halves_loss(double l0_left, double l0_right)
{
    double total = 0;
    for (int i = 0; i < 20; i++) {
        double z0 = i < 12 ? l0_left : l0_right, z1 = 0.6;
        double lse = log(exp(z0) + exp(z1) + 8 * exp(-2.0));
        total += lse - (i < 12 ? z0 : z1);
    }
    return total / 20;
}

/* The eval report of the halves model: n, correct, loss, and per class. */
static void expect_halves_eval(const cJSON *j, int flip, const char *what)
{
    cr_expect_eq(ch_num(j, "n"), 20, "%s", what);
    cr_expect_eq(cJSON_IsTrue(ch_obj(j, "test_flip")), flip, "%s", what);
    cr_expect_eq(ch_num(j, "correct"), flip ? 8 : 20, "%s", what);
    cr_expect_eq(ch_num(j, "accuracy"), flip ? 0.4 : 1.0, "%s", what);
    const cJSON *per = ch_obj(j, "per_class_accuracy");
    cr_expect_eq(cJSON_GetArrayItem(per, 0)->valuedouble, flip ? 0.0 : 1.0, "%s", what);
    cr_expect_eq(cJSON_GetArrayItem(per, 1)->valuedouble, 1.0, "%s", what);
    cr_expect(cJSON_IsNull(cJSON_GetArrayItem(per, 2)), "%s: a class without images", what);
    const cJSON *row0 = cJSON_GetArrayItem(ch_obj(j, "confusion_matrix"), 0);
    cr_expect_eq(cJSON_GetArrayItem(row0, 0)->valueint, flip ? 0 : 12, "%s", what);
    cr_expect_eq(cJSON_GetArrayItem(row0, 1)->valueint, flip ? 12 : 0, "%s", what);
}

Test(cli_plumbing, test_time_flip_changes_a_crafted_models_accuracy, .timeout = 120)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    write_halves_data(dir);
    const char *net = "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"halves\", \"mean\": [0],"
                      " \"std\": [1]}, \"model\": {\"layers\": [{\"type\": \"flatten\"},"
                      " {\"type\": \"dense\", \"units\": 10}]},"
                      " \"train\": {\"epochs\": 1, \"batch_size\": 4, \"lr\": 0.01}";
    char text[1024];
    snprintf(text, sizeof text, "%s, \"augment\": {\"test_flip\": true}}", net);
    ch_write_text(dir, "flip.json", text);
    snprintf(text, sizeof text, "%s}", net);
    ch_write_text(dir, "plain.json", text);
    ch_write_model(dir, "flip.json", "flip.ckpt", halves_weights);

    /* The stored config asks for the flip; --no-test-flip and a config
     * without it turn it off; --test-flip turns it on. */
    cJSON *j = ch_run_json(dir, "eval -m flip.ckpt --json --threads 2");
    expect_halves_eval(j, 1, "stored config");
    cr_expect_float_eq(ch_num(j, "loss"), halves_loss(0.5, 0.5), 1e-6, "%g", ch_num(j, "loss"));
    cJSON_Delete(j);
    j = ch_run_json(dir, "eval -m flip.ckpt --json --no-test-flip");
    expect_halves_eval(j, 0, "--no-test-flip");
    cr_expect_float_eq(ch_num(j, "loss"), halves_loss(1.0, 0.0), 1e-6, "%g", ch_num(j, "loss"));
    cJSON_Delete(j);
    j = ch_run_json(dir, "eval -m flip.ckpt -c plain.json --json");
    expect_halves_eval(j, 0, "-c without test_flip");
    cJSON_Delete(j);
    j = ch_run_json(dir, "eval -m flip.ckpt -c plain.json --test-flip --json --batch 3");
    expect_halves_eval(j, 1, "--test-flip, batch 3");
    cr_expect_eq(ch_num(j, "batch"), 3);
    cJSON_Delete(j);

    /* The int8 model records the flip and its evaluation applies it. */
    ch_run_ok(dir, "quantize -m flip.ckpt -o flip.iotc --threads 2");
    j = ch_run_json(dir, "eval -m flip.iotc --json");
    expect_halves_eval(j, 1, ".iotc, recorded flip");
    cJSON_Delete(j);
    j = ch_run_json(dir, "eval -m flip.iotc --json --no-test-flip");
    expect_halves_eval(j, 0, ".iotc, --no-test-flip");
    cJSON_Delete(j);
    /* compare evaluates each model with its own config's flip. */
    j = ch_run_json(dir, "compare flip.ckpt flip.iotc --json --latency-images 2");
    const cJSON *models = ch_obj(j, "models");
    for (int i = 0; i < 2; i++) {
        const cJSON *mj = cJSON_GetArrayItem(models, i);
        cr_expect(cJSON_IsTrue(ch_obj(mj, "test_flip")), "compare model %d", i);
        cr_expect_eq(ch_num(mj, "correct"), 8, "compare model %d", i);
        /* latency: the median of at least 5 rounds, inside its min-max */
        double med = ch_num(mj, "latency_ms"), lo = ch_num(mj, "latency_min_ms");
        cr_expect_geq(ch_num(mj, "latency_rounds"), 5);
        cr_expect_leq(ch_num(mj, "latency_rounds"), 31);
        cr_expect(lo > 0 && lo <= med && med <= ch_num(mj, "latency_max_ms"), "model %d", i);
    }
    cr_expect_float_eq(ch_num(cJSON_GetArrayItem(models, 1), "speedup"),
                       ch_num(cJSON_GetArrayItem(models, 0), "latency_ms") /
                           ch_num(cJSON_GetArrayItem(models, 1), "latency_ms"),
                       1e-9, "the speed-up is the ratio of the medians");
    cJSON_Delete(j);
    fx_rmtree(dir);
}

/* train's final test evaluation uses the config's flip: its reported
 * loss is eval's with the flip, not without. */
Test(cli_plumbing, train_reports_the_test_accuracy_with_the_configs_flip, .timeout = 120)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, DATA("data") LAYERS ", \"augment\": {\"test_flip\": true}}");
    cJSON *t = ch_run_json(dir, "train -c cfg.json -o m.ckpt --threads 2 --epochs 1 --limit 160 "
                                "--json");
    cr_assert(cJSON_IsTrue(ch_obj(t, "test_flip")));
    cJSON *flip = ch_run_json(dir, "eval -m m.ckpt --json --threads 2");
    cJSON *plain = ch_run_json(dir, "eval -m m.ckpt --json --threads 2 --no-test-flip");
    cr_expect(cJSON_IsTrue(ch_obj(flip, "test_flip")));
    cr_expect_float_eq(ch_num(t, "test_loss"), ch_num(flip, "loss"), 1e-9);
    cr_expect_eq(ch_num(t, "test_accuracy"), ch_num(flip, "accuracy"));
    cr_expect(fabs(ch_num(flip, "loss") - ch_num(plain, "loss")) > 1e-4,
              "the flip does not change this model's loss (%g): the test proves nothing",
              ch_num(plain, "loss"));
    cJSON_Delete(t), cJSON_Delete(flip), cJSON_Delete(plain);
    fx_rmtree(dir);
}

/* --- train options ------------------------------------------------------ */

/* The metrics log has one line per epoch with the step count after it. */
static void expect_metrics(const char *dir, const char *name, int epochs, int steps_per_epoch)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = ch_slurp(path, NULL);
    cr_assert_not_null(text, "no %s", name);
    int e = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "%s: %s", name, line);
        e++;
        ch_expect_nums(j, {"epoch", e}, {"epochs", epochs}, {"step", e * steps_per_epoch});
        cJSON_Delete(j);
    }
    cr_expect_eq(e, epochs, "%s: %d lines", name, e);
    free(text);
}

Test(cli_plumbing, threads_limit_epochs_and_seed_change_what_is_trained, .timeout = 180)
{
    char dir[64];
    ch_config_dir(dir, sizeof dir, DATA("data") LAYERS "}");
    /* The 96 training images ds_limit keeps (tests/test_datasets.c: the
     * first ones of each class, in proportion) as a dataset of their own. */
    enum { N = 96, S = 12 };
    uint8_t img[600 * S * S], labels[600];
    fx_stripes(img, labels, 600, 1, S, S, 10, 1);
    ds_dataset kept = {.n = 600, .c = 1, .h = S, .w = S, .num_classes = 10};
    kept.images = malloc(sizeof img), kept.labels = malloc(sizeof labels);
    memcpy(kept.images, img, sizeof img), memcpy(kept.labels, labels, sizeof labels);
    nn_error lerr;
    cr_assert_eq(ds_limit(&kept, N, &lerr), NN_OK);
    cr_assert_eq(kept.n, N);
    cr_assert_neq(memcmp(kept.labels, labels, N), 0, "the first 96 are not the class shares");
    char path[600];
    snprintf(path, sizeof path, "%s/first96", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    fx_write_idx(path, "train", kept.images, kept.labels, N, S, S);
    ds_free(&kept);
    fx_write_idx_pair(path, "t10k", 200, S, S, 2);
    ch_write_text(dir, "first96.json", DATA("first96") LAYERS "}");

    const char *opts = "--limit 96 --epochs 2 --seed 4";
    char args[300];
    snprintf(args, sizeof args, "train -c cfg.json -o a.ckpt --threads 2 %s --json", opts);
    cJSON *a = ch_run_json(dir, args);
    /* 96 images, batch 16: 6 steps per epoch, 2 epochs (not the config's 3). */
    cr_expect_str_eq(str_of(a, "model"), "a.ckpt");
    ch_expect_nums(a, {"train_images", 96}, {"epochs", 2}, {"epochs_run", 2}, {"seed", 4},
                   {"threads", 2}, {"parameters", 1494}, {"test_images", 200});
    cr_expect(cJSON_IsFalse(ch_obj(a, "test_flip")));
    expect_metrics(dir, "a.metrics.jsonl", 2, 6);
    snprintf(path, sizeof path, "%s/a.ckpt", dir);
    ckpt_file ck;
    nn_error err;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(ck.train.epochs_done, 2);
    cr_expect_eq(ck.train.total_epochs, 2);
    cr_expect_eq(ck.train.step, 12);
    cr_expect_eq(ck.train.seed, 4);
    /* The stored config records the overrides (for --resume). */
    cfg_config stored;
    cr_assert_eq(cfg_parse(&stored, ck.config_json, "stored", &err), NN_OK, "%s", err.msg);
    cr_expect_eq(stored.train.epochs, 2);
    cr_expect_eq(stored.train.seed, 4);
    cr_expect_eq(stored.data.limit, 96);
    ckpt_free(&ck);

    /* --limit 96 trains on exactly ds_limit's 96 images. */
    snprintf(args, sizeof args, "train -c first96.json -o f.ckpt --threads 2 --epochs 2 --seed 4");
    train_ok(dir, args);
    cr_expect(same_params(dir, "a.ckpt", "f.ckpt"), "--limit 96 is not ds_limit's 96 images");
    /* The same options again: the same model; one thread: the sums run in
     * another order (a different model); another seed: another model. */
    snprintf(args, sizeof args, "train -c cfg.json -o b.ckpt --threads 2 %s", opts);
    train_ok(dir, args);
    cr_expect(same_params(dir, "a.ckpt", "b.ckpt"), "not reproducible");
    snprintf(args, sizeof args, "train -c cfg.json -o c.ckpt --threads 1 %s --json", opts);
    cJSON *c = ch_run_json(dir, args);
    cr_expect_eq(ch_num(c, "threads"), 1);
    cr_expect(!same_params(dir, "a.ckpt", "c.ckpt"), "--threads 1 trained the 2-thread model");
    snprintf(args, sizeof args, "train -c cfg.json -o d.ckpt --threads 2 --limit 96 --epochs 2 "
                                "--seed 6");
    train_ok(dir, args);
    cr_expect(!same_params(dir, "a.ckpt", "d.ckpt"), "--seed had no effect");

    /* eval's report of that model: train's numbers, exact counts. */
    cJSON *e = ch_run_json(dir, "eval -m a.ckpt --json --threads 2");
    cr_expect_eq(ch_num(e, "accuracy"), ch_num(a, "test_accuracy"));
    cr_expect_float_eq(ch_num(e, "loss"), ch_num(a, "test_loss"), 1e-12);
    cr_expect_str_eq(str_of(e, "engine"), "float");
    ch_expect_nums(e, {"threads", 2}, {"batch", 256},
                   {"model_bytes", (double)ch_file_size(dir, "a.ckpt")});
    cJSON_Delete(c), cJSON_Delete(a);

    /* eval --limit and --batch: the first 50 images, any batch, the same
     * counts; per-class accuracy is the confusion matrix's diagonal over
     * its rows; the accuracy is correct / n. */
    cJSON *ref = ch_run_json(dir, "eval -m a.ckpt --json --limit 50");
    cr_expect_eq(ch_num(ref, "n"), 50);
    const int batches[] = {1, 7, 50, 1000};
    for (int b = 0; b < 4; b++) {
        snprintf(args, sizeof args, "eval -m a.ckpt --json --limit 50 --threads 2 --batch %d",
                 batches[b]);
        cJSON *j = ch_run_json(dir, args);
        cr_expect_eq(ch_num(j, "batch"), batches[b]);
        cr_expect_eq(ch_num(j, "n"), 50);
        cr_expect_eq(ch_num(j, "correct"), ch_num(ref, "correct"), "batch %d", batches[b]);
        cr_expect_float_eq(ch_num(j, "loss"), ch_num(ref, "loss"), 1e-6, "batch %d", batches[b]);
        cr_expect_eq(ch_num(j, "accuracy"), ch_num(j, "correct") / 50);
        const cJSON *cm = ch_obj(j, "confusion_matrix"), *per = ch_obj(j, "per_class_accuracy");
        int total = 0, diag = 0;
        for (int t = 0; t < 10; t++) {
            const cJSON *row = cJSON_GetArrayItem(cm, t);
            int n = 0;
            for (int p = 0; p < 10; p++)
                n += cJSON_GetArrayItem(row, p)->valueint;
            int hit = cJSON_GetArrayItem(row, t)->valueint;
            total += n, diag += hit;
            const cJSON *pc = cJSON_GetArrayItem(per, t);
            if (n)
                cr_expect_eq(pc->valuedouble, (double)hit / n, "class %d", t);
            else
                cr_expect(cJSON_IsNull(pc), "class %d", t);
        }
        cr_expect_eq(total, 50);
        cr_expect_eq(diag, ch_num(j, "correct"));
        cJSON_Delete(j);
    }
    cJSON_Delete(ref), cJSON_Delete(e);
    fx_rmtree(dir);
}
