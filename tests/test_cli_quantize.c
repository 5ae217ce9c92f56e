/* End-to-end tests of `iotcnn quantize` and `iotcnn info` on a tiny
 * generated dataset: train -> quantize -> info, JSON keys and sizes,
 * int8 accuracy next to float, reproducible files, exit codes and
 * messages for bad configs and corrupt or truncated model files. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_helpers.h"
#include "fixtures.h"

static const char *config_text =
    "{\n"
    "  \"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3]},\n"
    "  \"model\": {\"layers\": [\n"
    "    {\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"pad\": 1, \"bias\": false},\n"
    "    {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},\n"
    "    {\"type\": \"maxpool\", \"size\": 2},\n"
    "    {\"type\": \"flatten\"}, {\"type\": \"dropout\", \"rate\": 0.2},\n"
    "    {\"type\": \"dense\", \"units\": 10, \"name\": \"fc\"}]},\n"
    "  \"train\": {\"epochs\": 3, \"batch_size\": 16, \"seed\": 5, \"lr\": 0.05,\n"
    "    \"optimizer\": {\"type\": \"sgd\", \"momentum\": 0.9, \"nesterov\": true},\n"
    "    \"schedule\": {\"type\": \"cosine\"}},\n"
    "  \"quantize\": {\"method\": \"percentile\", \"percentile\": 99.9,\n"
    "    \"calibration_images\": 200, \"seed\": 3,\n"
    "    \"layers\": [{\"layer\": \"fc\", \"weight_bits\": 4}]}\n"
    "}\n";

static void expect_info_keys(const cJSON *j, size_t bytes)
{
    cr_expect_eq(ch_num(j, "file_bytes"), (double)bytes);
    cr_expect_gt(ch_num(j, "parameters"), 0);
    cr_expect_gt(ch_num(j, "nonzero_parameters"), 0);
    cr_expect_leq(ch_num(j, "nonzero_parameters"), ch_num(j, "parameters"));
    cr_expect_gt(ch_num(j, "macs"), 0);
    cr_expect_gt(ch_num(j, "arena_bytes"), 0);
    cr_expect(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "layers")));
    cr_expect(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "sections")));
}

Test(cli_quantize, train_quantize_info_end_to_end, .timeout = 180)
{
    char dir[64];
    double acc = ch_trained_dir(dir, sizeof dir, config_text);
    cJSON *j = ch_run_json(dir, "quantize -m m.ckpt -o m.iotc --eval --threads 2 --json");
    size_t bytes = ch_file_size(dir, "m.iotc");
    ch_expect_nums(j, {"file_bytes", (double)bytes}, {"calibration_images", 200},
                   {"test_images", 200});
    cr_expect_float_eq(ch_num(j, "float_accuracy"), acc, 1e-9, "float accuracy is train's");
    double qacc = ch_num(j, "int8_accuracy");
    cr_expect(fabs(qacc - acc) <= 0.03, "int8 %.3f vs float %.3f", qacc, acc);
    cr_expect_gt(ch_num(j, "compression"), 3.0);
    /* The fc override: 4-bit weights for the dense op (op 2). */
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    cr_assert_eq(cJSON_GetArraySize(layers), 3, "conv (bn and relu folded), maxpool, dense");
    const cJSON *fc = cJSON_GetArrayItem(layers, 2);
    cr_expect_eq(ch_num(fc, "weight_bits"), 4);
    cr_expect_str_eq(ch_str(fc, "name"), "fc");
    cr_expect_eq(ch_num(cJSON_GetArrayItem(layers, 0), "weight_bits"), 8);
    cJSON_Delete(j);

    /* info on the .iotc: the required keys, the metadata stored. */
    j = ch_run_json(dir, "info -m m.iotc --json");
    expect_info_keys(j, bytes);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    cr_expect_str_eq(ch_str(meta, "method"), "percentile");
    cr_expect_str_eq(ch_str(meta, "source"), "m.ckpt");
    cr_expect_not_null(cJSON_GetObjectItemCaseSensitive(meta, "int8_accuracy"));
    cJSON_Delete(j);
    /* ... and on the checkpoint: 6 * 9 conv, 12 batch norm, 216 * 10 + 10 dense. */
    j = ch_run_json(dir, "info -m m.ckpt --json");
    expect_info_keys(j, ch_file_size(dir, "m.ckpt"));
    cr_expect_eq(ch_num(j, "parameters"), 54 + 12 + 2160 + 10);
    cr_expect_str_eq(ch_str(j, "format"), "ckpt");
    cJSON_Delete(j);
    /* Human-readable reports. */
    ch_expect_out(dir, "info -m m.iotc", "quantized model", "GRPH", "runtime arena");
    ch_expect_out(dir, "quantize -m m.ckpt -o again.iotc --threads 1", "smaller than");
    /* Same config, any thread count: the same bytes (no --eval: no
     * accuracy metadata, so compare with a fresh 2-thread file). */
    ch_run_ok(dir, "quantize -m m.ckpt -o two.iotc --threads 2");
    cr_expect(ch_same_files(dir, "again.iotc", "two.iotc"), "thread count changed the file");
    fx_rmtree(dir);
}

/* weight_bits "auto" judges on the validation images when the config
 * holds some out, and the file says which bits it chose. */
Test(cli_quantize, auto_bits_on_the_validation_split, .timeout = 180)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    ch_write_text(dir, "auto.json",
                  "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"validation\": 100,"
                  " \"mean\": [0.2], \"std\": [0.3]},"
                  " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3,"
                  " \"pad\": 1, \"bias\": false}, {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
                  " {\"type\": \"maxpool\", \"size\": 2}, {\"type\": \"flatten\"},"
                  " {\"type\": \"dropout\", \"rate\": 0.2}, {\"type\": \"dense\", \"units\": 10,"
                  " \"name\": \"fc\"}]},"
                  " \"train\": {\"epochs\": 1, \"lr\": 0.1},"
                  " \"quantize\": {\"weight_bits\": \"auto\", \"max_accuracy_drop\": 100,"
                  " \"calibration_images\": 100}}");
    ch_result r = ch_run(dir, "quantize -m m.ckpt -c auto.json -o a.iotc --json --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "100 validation images"), "%s", r.err);
    cJSON *j = ch_json(&r);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "auto_bits")));
    cr_expect_eq(ch_num(j, "auto_images"), 100);
    /* Any drop allowed: every weighted layer at 4 bits. */
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    cr_expect_eq(ch_num(cJSON_GetArrayItem(layers, 0), "weight_bits"), 4);
    cr_expect_eq(ch_num(cJSON_GetArrayItem(layers, 2), "weight_bits"), 4);
    cJSON_Delete(j);
    ch_free(&r);
    j = ch_run_json(dir, "info -m a.iotc --json");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    cr_expect_str_eq(ch_str(meta, "weight_bits"), "auto");
    cJSON_Delete(j);
    fx_rmtree(dir);
}

/* config_text's network with a one-epoch qat block: the first %s goes into
 * the quantize block, the second into the qat block. */
static const char *qat_config_fmt =
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2],"
    " \"std\": [0.3]},"
    " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3,"
    " \"pad\": 1, \"bias\": false}, {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},"
    " {\"type\": \"maxpool\", \"size\": 2}, {\"type\": \"flatten\"},"
    " {\"type\": \"dropout\", \"rate\": 0.2}, {\"type\": \"dense\", \"units\": 10,"
    " \"name\": \"fc\"}]},"
    " \"train\": {\"epochs\": 1, \"lr\": 0.05, \"batch_size\": 16},"
    " \"quantize\": {%s\"calibration_images\": 100,"
    " \"qat\": {\"epochs\": 1, \"lr\": 0.01%s}}}";

/* Quantization-aware training takes effect: --qat-epochs fine-tunes first
 * (the file changes; the report and the metadata say so), the same run
 * gives the same bytes, and quantize.qat with distillation runs from the
 * config alone. */
Test(cli_quantize, qat_fine_tunes_before_quantizing, .timeout = 240)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    ch_result r = ch_run(dir, "quantize -m m.ckpt -o plain.iotc --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    ch_free(&r);
    r = ch_run(dir, "quantize -m m.ckpt -o qat.iotc --qat-epochs 1 --eval --json --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "quantization-aware fine-tuning: 1 epoch on"), "%s", r.err);
    cr_expect(strstr(r.err, "weights of 1 layer at 8 bits and 1 at 4"), "%s", r.err);
    cJSON *j = ch_json(&r);
    cr_expect_eq(ch_num(j, "qat_epochs"), 1);
    double fa = ch_num(j, "float_accuracy"), qa = ch_num(j, "int8_accuracy");
    cr_expect(fabs(fa - qa) <= 0.03, "after QAT: float %.3f, int8 %.3f", fa, qa);
    cJSON_Delete(j);
    ch_free(&r);
    cr_expect(!ch_same_files(dir, "plain.iotc", "qat.iotc"), "--qat-epochs changed nothing");
    r = ch_run(dir, "quantize -m m.ckpt -o qat2.iotc --qat-epochs 1 --eval --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    ch_free(&r);
    cr_expect(ch_same_files(dir, "qat.iotc", "qat2.iotc"), "QAT is not reproducible");
    j = ch_run_json(dir, "info -m qat.iotc --json");
    cr_expect_str_eq(ch_str(cJSON_GetObjectItemCaseSensitive(j, "metadata"), "qat_epochs"), "1");
    cJSON_Delete(j);

    char text[2048];
    snprintf(text, sizeof text, qat_config_fmt, "\"weight_bits\": 4, ", ", \"distill\": {}");
    ch_write_text(dir, "qat.json", text);
    r = ch_run(dir, "quantize -m m.ckpt -c qat.json -o d.iotc --json --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "distilling from the float model"), "%s", r.err);
    cr_expect(strstr(r.err, "weights of 0 layers at 8 bits and 2 at 4"), "%s", r.err);
    ch_free(&r);
    /* quantize.qat.distill.teacher naming the float model itself: the same
     * file as the default teacher. */
    snprintf(text, sizeof text, qat_config_fmt, "\"weight_bits\": 4, ",
             ", \"distill\": {\"teacher\": \"m.ckpt\"}");
    ch_write_text(dir, "qat_t.json", text);
    r = ch_run(dir, "quantize -m m.ckpt -c qat_t.json -o dt.iotc --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "distilling from m.ckpt"), "%s", r.err);
    ch_free(&r);
    cr_expect(ch_same_files(dir, "d.iotc", "dt.iotc"), "the float model named as teacher");
    /* quantize.qat.distill.flip: the teacher averages image and mirror. */
    snprintf(text, sizeof text, qat_config_fmt, "\"weight_bits\": 4, ",
             ", \"distill\": {\"flip\": true}");
    ch_write_text(dir, "qat_f.json", text);
    r = ch_run(dir, "quantize -m m.ckpt -c qat_f.json -o df.iotc --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "each image averaged with its mirror"), "%s", r.err);
    ch_free(&r);
    cr_expect(!ch_same_files(dir, "d.iotc", "df.iotc"), "distill.flip changed nothing");
    r = ch_run(dir, "quantize -m m.ckpt -c qat.json -o none.iotc --qat-epochs 0 --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(!strstr(r.err, "quantization-aware"), "--qat-epochs 0 still ran it: %s", r.err);
    ch_free(&r);
    fx_rmtree(dir);
}

/* quantize.qat.activations: the report names the grids, the float model
 * on the int8 model's grids predicts its accuracy (the JSON's
 * fake_quant_accuracy), the run is reproducible, and it changes the file
 * that weights-only QAT writes. */
Test(cli_quantize, qat_of_activations_predicts_the_int8_accuracy, .timeout = 240)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    char text[2048];
    snprintf(text, sizeof text, qat_config_fmt, "", ", \"activations\": true");
    ch_write_text(dir, "act.json", text);
    snprintf(text, sizeof text, qat_config_fmt, "", "");
    ch_write_text(dir, "w.json", text);
    ch_result r = ch_run(dir, "quantize -m m.ckpt -c act.json -o a.iotc --eval --json --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* conv-bn-relu and the max-pool carry grids; the logits do not */
    cr_expect(strstr(r.err, "activations on the int8 grids of the input and 2 layer outputs, "
                            "calibrated on 100 images"),
              "%s", r.err);
    cJSON *j = ch_json(&r);
    double fq = ch_num(j, "fake_quant_accuracy"), qa = ch_num(j, "int8_accuracy");
    cr_expect(fabs(fq - qa) <= 0.01, "fake-quantized %.4f, int8 %.4f", fq, qa);
    cJSON_Delete(j);
    ch_free(&r);
    r = ch_run(dir, "quantize -m m.ckpt -c act.json -o a2.iotc --eval --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "fake-quantized"), "%s", r.out);
    ch_free(&r);
    cr_expect(ch_same_files(dir, "a.iotc", "a2.iotc"), "QAT of activations is not reproducible");
    r = ch_run(dir, "quantize -m m.ckpt -c w.json -o w.iotc --eval --json --threads 2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(!strstr(r.err, "int8 grids"), "%s", r.err);
    j = ch_json(&r);
    cr_expect_null(cJSON_GetObjectItemCaseSensitive(j, "fake_quant_accuracy"));
    cJSON_Delete(j);
    ch_free(&r);
    cr_expect(!ch_same_files(dir, "a.iotc", "w.iotc"), "activations changed nothing");
    fx_rmtree(dir);
}

Test(cli_quantize, errors_exit_codes_and_messages, .timeout = 180)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    ch_run_ok(dir, "quantize -m m.ckpt -o m.iotc --threads 2");
    char path[600];
    snprintf(path, sizeof path, "%s/m.iotc", dir);
    size_t len = 0;
    char *good = ch_slurp(path, &len);
    cr_assert_not_null(good);

    /* One byte changed, in the middle: exit 1, the path and an offset. */
    char *bad = malloc(len);
    memcpy(bad, good, len);
    bad[len / 2] ^= 0x20;
    snprintf(path, sizeof path, "%s/bad.iotc", dir);
    fx_write_file(path, bad, len);
    ch_expect_exit(dir, "info -m bad.iotc", 1, "bad.iotc", "offset");
    ch_result r = ch_run(dir, "eval -m bad.iotc --json");
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "bad.iotc") && strstr(r.err, "offset"), "%s", r.err);
    cr_expect_eq(r.out[0], '\0', "no report from a corrupt model: %s", r.out);
    ch_free(&r);
    /* Truncated: either the reader's "truncated" or a length that
     * "exceeds" the file. */
    fx_write_file(path, good, len - 3);
    const char *truncated_runs[] = {"info -m bad.iotc --json", "eval -m bad.iotc"};
    for (int i = 0; i < 2; i++) {
        r = ch_run(dir, truncated_runs[i]);
        cr_expect_eq(r.status, 1, "%s", r.err);
        cr_expect(strstr(r.err, "truncated") || strstr(r.err, "exceeds"), "%s", r.err);
        ch_free(&r);
    }
    free(bad), free(good);
    /* Not a model at all, a missing file. */
    ch_expect_exit(dir, "info -m cfg.json", 1, "not an iotcnn model");
    ch_expect_exit(dir, "info -m nothere.iotc", 1, "nothere.iotc");
    /* Usage and config errors: exit 2. */
    ch_expect_exit(dir, "quantize -m m.ckpt", 2, NULL);
    ch_expect_exit(dir, "info", 2, NULL);
    ch_write_text(dir, "badq.json",
                  CH_CONFIG("{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}",
                            "\"train\": {\"epochs\": 1, \"lr\": 0.1},"
                            " \"quantize\": {\"method\": \"kl\"}"));
    ch_expect_exit(dir, "quantize -m m.ckpt -c badq.json -o x.iotc", 2,
                   "badq.json: quantize.method");
    /* A config whose override names a layer the model does not have. */
    ch_write_text(dir, "other.json",
                  CH_CONFIG("{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}",
                            "\"train\": {\"epochs\": 1, \"lr\": 0.1},"
                            " \"quantize\": {\"layers\": [{\"layer\": 1, \"weight_bits\": 4}]}"));
    ch_expect_exit(dir, "quantize -m m.ckpt -c other.json -o x.iotc", 2, "quantize.layers[0]");
    struct stat st;
    snprintf(path, sizeof path, "%s/x.iotc", dir);
    cr_expect_neq(stat(path, &st), 0, "a failed run wrote a file");
    ch_expect_exit(dir, "quantize -m missing.ckpt -o x.iotc", 1, "missing.ckpt");
    /* The help. */
    ch_expect_out(dir, "quantize --help", "--eval");
    fx_rmtree(dir);
}

/* The confusion matrix of an eval JSON, flattened into a string. */
static char *confusion_text(const cJSON *j)
{
    return cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "confusion_matrix"));
}

Test(cli_quantize, eval_runs_iotc_models_like_checkpoints, .timeout = 180)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    cJSON *q = ch_run_json(dir, "quantize -m m.ckpt -o m.iotc --eval --threads 2 --json");

    cJSON *fl = ch_run_json(dir, "eval -m m.ckpt --json --threads 2");
    /* The data comes from the .iotc's metadata: no -c, no --data. */
    cJSON *iq = ch_run_json(dir, "eval -m m.iotc --json --threads 2");
    for (const cJSON *k = fl->child; k; k = k->next)
        cr_expect_not_null(cJSON_GetObjectItemCaseSensitive(iq, k->string),
                           "eval of a .iotc lacks JSON key %s", k->string);
    cr_expect_str_eq(ch_str(fl, "engine"), "float");
    const char *engine = ch_str(iq, "engine");
    cr_expect_eq(strncmp(engine, "int8 ", 5), 0, "engine %s", engine);
    cr_expect_eq(ch_num(iq, "n"), 200);
    cr_expect_float_eq(ch_num(iq, "accuracy"), ch_num(q, "int8_accuracy"), 1e-9,
                       "eval and quantize --eval run the same engine");
    cr_expect_eq(ch_num(iq, "model_bytes"), (double)ch_file_size(dir, "m.iotc"));
    double loss = ch_num(iq, "loss");
    cr_expect(isfinite(loss) && loss > 0, "loss %g", loss);
    cr_expect(fabs(loss - ch_num(fl, "loss")) < 0.2, "int8 loss %g vs float %g", loss,
              ch_num(fl, "loss"));

    /* Portable C, one thread, odd batches: the same predictions. */
    cJSON *ic = ch_run_json(dir, "eval -m m.iotc --json --threads 1 --batch 7 --isa c");
    cr_expect_str_eq(ch_str(ic, "engine"), "int8 c");
    char *a = confusion_text(iq), *b = confusion_text(ic);
    cr_expect_str_eq(a, b, "confusion differs between ISAs / threads / batches");
    cr_expect_float_eq(ch_num(ic, "loss"), loss, 1e-9);
    free(a), free(b);

    /* Test-time flip: two passes per image, the same count of images. */
    cJSON *ff = ch_run_json(dir, "eval -m m.iotc --json --test-flip --batch 300 --limit 150");
    cr_expect_eq(ch_num(ff, "n"), 150);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ff, "test_flip")));

    /* Text report names the engine. */
    ch_expect_out(dir, "eval -m m.iotc --limit 50", "int8", "/50)");

    /* --isa is for .iotc models, and must be known. */
    ch_expect_exit(dir, "eval -m m.ckpt --isa c", 2, "--isa");
    ch_expect_exit(dir, "eval -m m.iotc --isa sse9", 2, "sse9");
    cJSON_Delete(q), cJSON_Delete(fl), cJSON_Delete(iq), cJSON_Delete(ic), cJSON_Delete(ff);
    fx_rmtree(dir);
}

/* A config with test-time flip: quantize --eval measures as eval does, each
 * image averaged with its mirror, for the float and the int8 model alike. */
Test(cli_quantize, eval_uses_the_configs_test_flip, .timeout = 180)
{
    char dir[64], flip_config[4096];
    snprintf(flip_config, sizeof flip_config, "{\n  \"augment\": {\"test_flip\": true},%s",
             strchr(config_text, '{') + 1);
    /* One short epoch: a model that errs, so the flip changes the count. */
    char *epochs = strstr(flip_config, "\"epochs\": 3"), *lr = strstr(flip_config, "0.05");
    cr_assert(epochs && lr);
    epochs[10] = '1', memcpy(lr, "1e-4", 4);
    double trained = ch_trained_dir(dir, sizeof dir, flip_config);
    cJSON *q = ch_run_json(dir, "quantize -m m.ckpt -o m.iotc --eval --threads 2 --json");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "test_flip")));
    double flip_f = ch_run_num(dir, "eval -m m.ckpt --json", "accuracy");
    double plain_f = ch_run_num(dir, "eval -m m.ckpt --no-test-flip --json", "accuracy");
    double flip_q = ch_run_num(dir, "eval -m m.iotc --json", "accuracy");
    double plain_q = ch_run_num(dir, "eval -m m.iotc --no-test-flip --json", "accuracy");
    cr_assert(flip_f != plain_f || flip_q != plain_q,
              "the fixture's model must tell flip from no flip (%g %g, %g %g)", flip_f, plain_f,
              flip_q, plain_q);
    cr_expect_float_eq(trained, flip_f, 1e-9, "train reports with the flip");
    cr_expect_float_eq(ch_num(q, "float_accuracy"), flip_f, 1e-9, "float, without flip %g",
                       plain_f);
    cr_expect_float_eq(ch_num(q, "int8_accuracy"), flip_q, 1e-9, "int8, without flip %g",
                       plain_q);
    ch_expect_out(dir, "quantize -m m.ckpt -o m2.iotc --eval --threads 2",
                  "(with test-time flip)");
    cJSON_Delete(q);
    fx_rmtree(dir);
}

Test(cli_quantize, compare_float_and_int8_side_by_side, .timeout = 180)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    ch_run_ok(dir, "quantize -m m.ckpt -o m.iotc --threads 2");
    cJSON *ev = ch_run_json(dir, "eval -m m.iotc --json");
    cJSON *info = ch_run_json(dir, "info -m m.ckpt --json");

    cJSON *j = ch_run_json(dir, "compare m.ckpt m.iotc --latency-images 20 --json");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
    cr_assert_eq(cJSON_GetArraySize(models), 2);
    const cJSON *fl = cJSON_GetArrayItem(models, 0), *q = cJSON_GetArrayItem(models, 1);
    cr_expect_str_eq(ch_str(fl, "engine"), "float");
    cr_expect_float_eq(ch_num(q, "accuracy"), ch_num(ev, "accuracy"), 1e-12);
    cr_expect_eq(ch_num(q, "n"), 200);
    cr_expect_eq(ch_num(fl, "deploy_bytes"), 4 * ch_num(info, "parameters"));
    cr_expect_eq(ch_num(q, "deploy_bytes"), (double)ch_file_size(dir, "m.iotc"));
    cr_expect_eq(ch_num(q, "file_bytes"), (double)ch_file_size(dir, "m.iotc"));
    cr_expect_float_eq(ch_num(q, "smaller"), ch_num(fl, "deploy_bytes") / ch_num(q, "deploy_bytes"),
                       1e-9);
    cr_expect_eq(ch_num(fl, "smaller"), 1);
    cr_expect_eq(ch_num(fl, "speedup"), 1);
    cr_expect_gt(ch_num(q, "latency_ms"), 0);
    cr_expect_gt(ch_num(q, "macs"), 0);
    cJSON_Delete(j), cJSON_Delete(ev), cJSON_Delete(info);

    /* The text table: a row per model. */
    ch_expect_out(dir, "compare m.ckpt m.iotc --latency-images 5 --limit 50", "m.ckpt", "m.iotc",
                  "latency");

    /* Errors: no model, unknown option (2); a missing or corrupt file (1). */
    ch_expect_exit(dir, "compare", 2, NULL);
    ch_expect_exit(dir, "compare m.ckpt --fast", 2, "--fast");
    ch_result r = ch_run(dir, "compare m.ckpt nothere.iotc");
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.err, "nothere.iotc"), "%s", r.err);
    cr_expect(!strstr(r.out, "m.ckpt"), "no table after an error: %s", r.out);
    ch_free(&r);
    fx_rmtree(dir);
}
