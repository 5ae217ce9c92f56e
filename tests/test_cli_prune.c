/* End-to-end tests of `iotcnn prune` ($IOTCNN_BIN, set by `make test`) on a
 * tiny generated IDX dataset: train, then prune by magnitude (gradual,
 * fine-tuned) and structurally; the outputs are ordinary checkpoints that
 * eval reads and that hold exactly the zeros / widths reported; the same
 * run twice writes the same bytes; errors exit 2 or 1 naming the key or
 * file, and leave no file behind. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/ckpt.h"
#include "cli_helpers.h"
#include "fixtures.h"

/* A residual conv net on 12x12 images: conv 6 - bn - relu "a" - conv 6 -
 * bn - add(a) - relu - maxpool (6x6x6) - flatten - dense 10. */
#define HEAD                                                                                       \
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3],"      \
    "   \"validation\": 100},"                                                                     \
    " \"model\": {\"layers\": ["                                                                   \
    "   {\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"pad\": 1, \"bias\": false},"       \
    "   {\"type\": \"batchnorm\"}, {\"type\": \"relu\", \"name\": \"a\"},"                         \
    "   {\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"pad\": 1, \"bias\": false},"       \
    "   {\"type\": \"batchnorm\"}, {\"type\": \"add\", \"from\": \"a\"}, {\"type\": \"relu\"},"    \
    "   {\"type\": \"maxpool\", \"size\": 2}, {\"type\": \"flatten\"},"                            \
    "   {\"type\": \"dense\", \"units\": 10, \"name\": \"fc\"}]},"                                 \
    " \"train\": {\"epochs\": 2, \"batch_size\": 16, \"seed\": 5, \"lr\": 0.05,"                   \
    "   \"optimizer\": {\"type\": \"sgd\", \"momentum\": 0.9, \"nesterov\": true,"                 \
    "     \"weight_decay\": 5e-4}, \"schedule\": {\"type\": \"cosine\"}},"                         \
    " \"augment\": {\"translate\": 0.05}"

static void setup_dir(char *dir, size_t size)
{
    ch_data_dir(dir, size);
    ch_write_text(dir, "plain.json", HEAD "}");
    ch_write_text(dir, "mag.json",
                  HEAD ", \"prune\": {\"sparsity\": 0.8, \"layers\": {\"0\": \"skip\"},"
                       " \"schedule\": {\"type\": \"gradual\", \"end_epoch\": 1, \"frequency\": 5},"
                       " \"finetune\": {\"epochs\": 2, \"lr\": 0.02}}}");
    ch_write_text(dir, "struct.json",
                  HEAD ", \"prune\": {\"method\": \"structured\", \"sparsity\": 0.5,"
                       " \"finetune\": {\"epochs\": 1, \"lr\": 0.01}}}");
    ch_write_text(dir, "struct_d.json",
                  HEAD ", \"prune\": {\"method\": \"structured\", \"sparsity\": 0.5,"
                       " \"finetune\": {\"epochs\": 1, \"lr\": 0.01,"
                       " \"distill\": {\"temperature\": 3, \"weight\": 0.8}}}}");
    ch_write_text(dir, "struct_df.json",
                  HEAD ", \"prune\": {\"method\": \"structured\", \"sparsity\": 0.5,"
                       " \"finetune\": {\"epochs\": 1, \"lr\": 0.01,"
                       " \"distill\": {\"temperature\": 3, \"weight\": 0.8, \"flip\": true}}}}");
    ch_write_text(dir, "struct_d0.json",
                  HEAD ", \"prune\": {\"method\": \"structured\", \"sparsity\": 0.5,"
                       " \"finetune\": {\"epochs\": 1, \"lr\": 0.01,"
                       " \"distill\": {\"weight\": 0}}}}");
    ch_run_ok(dir, "train -c plain.json -o m.ckpt --threads 2");
}

/* The parameters of two checkpoints are bit for bit the same. */
static int same_params(const char *dir, const char *a, const char *b)
{
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    ckpt_file ca, cb;
    nn_error err;
    cr_assert_eq(ckpt_load(&ca, pa, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ckpt_load(&cb, pb, &err), NN_OK, "%s", err.msg);
    int same = ca.model.n_params == cb.model.n_params &&
               memcmp(ca.model.params, cb.model.params, ca.model.n_params * sizeof(float)) == 0;
    ckpt_free(&ca), ckpt_free(&cb);
    return same;
}

static double eval_accuracy(const char *dir, const char *model)
{
    char args[256];
    snprintf(args, sizeof args, "eval -m %s --json --threads 2", model);
    cJSON *j = ch_run_json(dir, args);
    double acc = ch_num(j, "accuracy");
    cJSON_Delete(j);
    return acc;
}

static size_t zeros_of(const nn_model *m, int node)
{
    size_t z = 0;
    for (size_t i = 0; i < m->nodes[node].w.n; i++)
        z += m->params[m->nodes[node].w.off + i] == 0.0f;
    return z;
}

/* 1 when dir holds a file whose name contains `part`. */
Test(cli_prune, gradual_magnitude_pruning_with_fine_tuning, .timeout = 120)
{
    char dir[64], path[600];
    setup_dir(dir, sizeof dir);
    double acc0 = eval_accuracy(dir, "m.ckpt");
    ch_result r = ch_run(dir, "prune -c mag.json -m m.ckpt -o p.ckpt --threads 2 --json");
    cr_assert_eq(r.status, 0, "prune failed: %s", r.err);
    cr_assert_not_null(strstr(r.err, "epoch 2/2"), "no fine-tuning progress: %s", r.err);
    cJSON *j = ch_json(&r);
    cr_assert_str_eq(ch_str(j, "method"), "magnitude");
    cr_assert_str_eq(ch_str(j, "schedule"), "gradual");
    cr_assert_float_eq(ch_num(j, "accuracy_before"), acc0, 1e-9);
    cr_assert_eq(ch_num(j, "finetune_epochs"), 2);
    /* 500 training images, batch 16: 31 steps per epoch; updates at steps
     * 0, 5, ..., 30 and 31 (the end, off the grid). */
    cr_assert_eq(ch_num(j, "mask_updates"), 8);
    /* conv 0 skipped; conv 3: round(0.8 * 324) = 259; dense: 0.8 * 2160. */
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(j, "totals");
    cr_assert_eq(ch_num(tot, "zero_weights_after"), 259 + 1728);
    cr_assert_eq(ch_num(tot, "weights_after"), 54 + 324 + 2160);
    cr_assert_eq(ch_num(tot, "params_after"), ch_num(tot, "params_before"));
    cr_assert_lt(ch_num(tot, "effective_macs_after"), ch_num(tot, "effective_macs_before"));
    double acc1 = ch_num(j, "accuracy_after");
    cr_assert_gt(acc1, 0.6, "fine-tuned accuracy %.3f on easy data", acc1);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers"), *row;
    int dense_seen = 0;
    cJSON_ArrayForEach(row, layers)
    {
        if (ch_num(row, "index") == 9) {
            dense_seen = 1;
            cr_assert_float_eq(ch_num(row, "sparsity_after"), 0.8, 1e-12);
            cr_assert_float_eq(ch_num(row, "effective_macs_after"), 0.2 * ch_num(row, "macs_after"),
                               1e-6);
        }
    }
    cr_assert(dense_seen);
    cJSON_Delete(j);
    ch_free(&r);

    /* The checkpoint holds exactly those zeros, and eval reads it as is. */
    snprintf(path, sizeof path, "%s/p.ckpt", dir);
    ckpt_file ck;
    nn_error err;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(zeros_of(&ck.model, 0), 0);
    cr_assert_eq(zeros_of(&ck.model, 3), 259);
    cr_assert_eq(zeros_of(&ck.model, 9), 1728);
    cr_assert_not_null(strstr(ck.config_json, "\"prune\""), "the stored config keeps the block");
    cr_assert(!ck.has_optim && !ck.has_train, "a pruned model is not a resumable training run");
    ckpt_free(&ck);
    cr_assert_float_eq(eval_accuracy(dir, "p.ckpt"), acc1, 1e-9);
    cr_assert(ch_count_named(dir, ".tmp") == 0, "a temporary file was left behind");

    /* The human report, one-shot (no fine-tuning) this time. */
    ch_expect_exit(dir, "prune -c mag.json -m m.ckpt -o q.ckpt --epochs 0", 2, "--epochs 0");
    ch_write_text(dir, "once.json",
                  HEAD ", \"prune\": {\"sparsity\": 0.5, \"scope\": \"global\"}}");
    ch_expect_out(dir, "prune -c once.json -m m.ckpt -o q.ckpt", "total", "dense \"fc\"",
                  "test accuracy");
    fx_rmtree(dir);
}

Test(cli_prune, structured_pruning_gives_a_smaller_model, .timeout = 120)
{
    char dir[64], path[600];
    setup_dir(dir, sizeof dir);
    cJSON *j = ch_run_json(dir, "prune -c struct.json -m m.ckpt -o s.ckpt --threads 2 --json");
    cr_assert_str_eq(ch_str(j, "method"), "structured");
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(j, "totals");
    double acc1 = ch_num(j, "accuracy_after");
    cr_assert_lt(ch_num(tot, "macs_after"), 0.6 * ch_num(tot, "macs_before"));
    snprintf(path, sizeof path, "%s/s.ckpt", dir);
    ckpt_file ck;
    nn_error err;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    /* The two convs are tied by the add: both 6 -> 3; the dense reads 3x6x6. */
    cr_assert_eq(ck.model.nodes[0].out_c, 3);
    cr_assert_eq(ck.model.nodes[3].out_c, 3);
    cr_assert_eq(ck.model.nodes[9].in_size, 108);
    cr_assert_eq(ch_num(tot, "params_after"), (double)ck.model.n_params);
    /* The stored config describes the smaller model. */
    cJSON *conf = cJSON_Parse(ck.config_json);
    const cJSON *ls =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(conf, "model"), "layers");
    cr_assert_eq(ch_num(cJSON_GetArrayItem(ls, 0), "filters"), 3);
    cr_assert_eq(ch_num(cJSON_GetArrayItem(ls, 3), "filters"), 3);
    cr_assert_eq(ch_num(cJSON_GetArrayItem(ls, 9), "units"), 10);
    cJSON_Delete(conf);
    ckpt_free(&ck);
    cJSON_Delete(j);
    cr_assert_float_eq(eval_accuracy(dir, "s.ckpt"), acc1, 1e-9);

    /* Same config, same seed: the same bytes. */
    ch_run_ok(dir, "prune -c struct.json -m m.ckpt -o s2.ckpt --threads 2");
    cr_assert(ch_same_files(dir, "s.ckpt", "s2.ckpt"), "two identical prune runs differ");

    /* A pruned model can be pruned again with the same config. */
    j = ch_run_json(dir, "prune -c struct.json -m s.ckpt -o s3.ckpt --epochs 0 --json");
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "layers"), 0);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(first, "shape_after");
    cr_assert_eq(cJSON_GetArrayItem(shape, 0)->valueint, 1, "of 3 channels, round(1.5) = 2 go");
    cJSON_Delete(j);
    fx_rmtree(dir);
}

/* prune.finetune.distill takes effect: the unpruned model teaches (the
 * note and the report say so, and the fine-tuned weights differ from the
 * labels-only run), and at weight 0 it is the labels-only run, bit for bit;
 * distill.flip reaches the training (other weights, the note, the report). */
Test(cli_prune, distillation_from_the_unpruned_model, .timeout = 120)
{
    char dir[64];
    setup_dir(dir, sizeof dir);
    ch_result r = ch_run(dir, "prune -c struct_d.json -m m.ckpt -o d.ckpt --threads 2 --json");
    cr_assert_eq(r.status, 0, "prune failed: %s", r.err);
    cr_assert_not_null(strstr(r.err, "distilling from the unpruned model: temperature 3, "
                                     "weight 0.8"), "%s", r.err);
    cJSON *j = ch_json(&r);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "distill");
    cr_assert_eq(ch_num(d, "temperature"), 3);
    cr_assert_float_eq(ch_num(d, "weight"), 0.8, 1e-7);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(d, "flip")));
    cJSON_Delete(j);
    ch_free(&r);
    r = ch_run(dir, "prune -c struct_df.json -m m.ckpt -o df.ckpt --threads 2 --json");
    cr_assert_eq(r.status, 0, "prune failed: %s", r.err);
    cr_assert_not_null(strstr(r.err, "weight 0.8, each image averaged with its mirror"), "%s",
                       r.err);
    j = ch_json(&r);
    d = cJSON_GetObjectItemCaseSensitive(j, "distill");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "flip")));
    cJSON_Delete(j);
    ch_free(&r);
    cr_assert(!same_params(dir, "df.ckpt", "d.ckpt"), "distill.flip changed nothing");
    j = ch_run_json(dir, "prune -c struct.json -m m.ckpt -o s.ckpt --threads 2 --json");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "distill")));
    cJSON_Delete(j);
    cr_assert(!same_params(dir, "d.ckpt", "s.ckpt"), "distillation changed nothing");
    ch_run_ok(dir, "prune -c struct_d0.json -m m.ckpt -o d0.ckpt --threads 2");
    cr_assert(same_params(dir, "d0.ckpt", "s.ckpt"), "weight 0 must be the labels alone");
    fx_rmtree(dir);
}

/* prune.finetune.distill.teacher: the checkpoint named teaches. Naming the
 * unpruned model itself is the default teacher, bit for bit; another
 * network (other layers, its own normalization) teaches something else; a
 * missing or unfit teacher is an error naming the key and writes nothing. */
Test(cli_prune, distillation_from_a_named_teacher, .timeout = 180)
{
    char dir[64], path[600];
    setup_dir(dir, sizeof dir);
    ch_write_text(dir, "other.json",
                  "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.5],"
                  " \"std\": [0.25], \"validation\": 100},"
                  " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3},"
                  "   {\"type\": \"relu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"
                  " \"train\": {\"epochs\": 1, \"batch_size\": 16, \"seed\": 3, \"lr\": 0.05}}");
    ch_run_ok(dir, "train -c other.json -o other.ckpt --threads 2");
    const char *finetune = HEAD ", \"prune\": {\"method\": \"structured\", \"sparsity\": 0.5,"
                                " \"finetune\": {\"epochs\": 1, \"lr\": 0.01, \"distill\":"
                                " {\"temperature\": 3, \"weight\": 0.8, \"teacher\": \"%s\"}}}}";
    char text[8192];
    snprintf(text, sizeof text, finetune, "m.ckpt");
    ch_write_text(dir, "self.json", text);
    snprintf(text, sizeof text, finetune, "other.ckpt");
    ch_write_text(dir, "other_t.json", text);
    snprintf(text, sizeof text, finetune, "gone.ckpt");
    ch_write_text(dir, "gone_t.json", text);
    /* tests/compat/tiny.ckpt takes 28x28 inputs, these models 12x12 */
    char tiny[PATH_MAX], rel[512];
    const char *here = __FILE__, *slash = strrchr(here, '/');
    snprintf(rel, sizeof rel, "%.*s/compat/tiny.ckpt", slash ? (int)(slash - here) : 1,
             slash ? here : ".");
    cr_assert_not_null(realpath(rel, tiny), "%s", rel);
    snprintf(text, sizeof text, finetune, tiny);
    ch_write_text(dir, "tiny_t.json", text);

    ch_run_ok(dir, "prune -c struct_d.json -m m.ckpt -o d.ckpt --threads 2");
    ch_run_ok(dir, "prune -c self.json -m m.ckpt -o self.ckpt --threads 2");
    cr_assert(same_params(dir, "self.ckpt", "d.ckpt"), "the unpruned model named as teacher");
    ch_result r = ch_run(dir, "prune -c other_t.json -m m.ckpt -o o.ckpt --threads 2 --json");
    cr_assert_eq(r.status, 0, "prune failed: %s", r.err);
    cr_assert_not_null(strstr(r.err, "distilling from other.ckpt: temperature 3"), "%s", r.err);
    cJSON *j = ch_json(&r);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "distill");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "teacher")),
                     "other.ckpt");
    cJSON_Delete(j);
    ch_free(&r);
    cr_assert(!same_params(dir, "o.ckpt", "d.ckpt"), "the named teacher changed nothing");

    ch_expect_exit(dir, "prune -c gone_t.json -m m.ckpt -o g.ckpt", 1,
                   "prune.finetune.distill.teacher: gone.ckpt");
    snprintf(path, sizeof path, "%s/g.ckpt", dir);
    cr_assert(access(path, F_OK) != 0, "a failed prune wrote %s", path);
    ch_expect_exit(dir, "prune -c tiny_t.json -m m.ckpt -o g.ckpt", 2,
                   "prune.finetune.distill.teacher: ");
    ch_expect_exit(dir, "prune -c tiny_t.json -m m.ckpt -o g.ckpt", 2,
                   "takes 1x28x28 inputs to 10 classes, the model being fine-tuned 1x12x12");
    cr_assert(access(path, F_OK) != 0, "a failed prune wrote %s", path);
    snprintf(text, sizeof text, HEAD ", \"prune\": {\"sparsity\": 0.5, \"finetune\":"
                                     " {\"epochs\": 1, \"distill\": {\"teacher\": 7}}}}");
    ch_write_text(dir, "num_t.json", text);
    ch_expect_exit(dir, "prune -c num_t.json -m m.ckpt -o g.ckpt", 2,
                   "num_t.json: prune.finetune.distill.teacher: expected a checkpoint path");
    fx_rmtree(dir);
}

Test(cli_prune, errors_exit_2_or_1_and_write_nothing, .timeout = 120)
{
    char dir[64], path[600];
    setup_dir(dir, sizeof dir);
    ch_expect_out(dir, "prune --help", "--epochs");
    ch_expect_out(dir, "--help", "prune");

    ch_expect_exit(dir, "prune -c struct.json -m m.ckpt", 2, "-o OUTPUT");

    ch_expect_exit(dir, "prune -c plain.json -m m.ckpt -o x.ckpt", 2, "plain.json: prune: missing");

    ch_write_text(dir, "bad.json",
                  HEAD ", \"prune\": {\"sparsity\": 0.5, \"layers\": {\"nope\": 0.1}}}");
    ch_expect_exit(dir, "prune -c bad.json -m m.ckpt -o x.ckpt", 2,
                   "bad.json: prune.layers.nope: no layer");

    ch_write_text(dir, "bad2.json", HEAD ", \"prune\": {\"sparsity\": 0.5, \"scope\": 3}}");
    ch_expect_exit(dir, "prune -c bad2.json -m m.ckpt -o x.ckpt", 2, "bad2.json: prune.scope: ");

    /* 1e39 is a finite double but infinity as a float. */
    ch_write_text(dir, "bad3.json",
                  HEAD ", \"prune\": {\"sparsity\": 0.5, \"finetune\": {\"epochs\": 1,"
                       " \"schedule\": {\"type\": \"onecycle\", \"div_factor\": 1e39}}}}");
    ch_expect_exit(dir, "prune -c bad3.json -m m.ckpt -o x.ckpt", 2,
                   "bad3.json: prune.finetune.schedule.div_factor: ");

    ch_expect_exit(dir, "prune -c struct.json -m nothere.ckpt -o x.ckpt", 1, "nothere.ckpt");

    /* A config describing another network. */
    ch_write_text(dir, "other.json",
                  CH_CONFIG("{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}",
                            "\"train\": {\"epochs\": 1, \"lr\": 0.1},"
                            " \"prune\": {\"sparsity\": 0.5}"));
    ch_expect_exit(dir, "prune -c other.json -m m.ckpt -o x.ckpt", 2, "model.layers");

    snprintf(path, sizeof path, "%s/x.ckpt", dir);
    struct stat sb;
    cr_assert_neq(stat(path, &sb), 0, "a failed prune wrote its output");
    cr_assert(ch_count_named(dir, ".tmp") == 0);
    fx_rmtree(dir);
}
