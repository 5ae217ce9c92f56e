/* Tests of the config's `quantize` block: defaults, every key, and errors
 * that name the JSON path. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cfg_helpers.h"
#include "config/cfg.h"

#define BASE                                                                                       \
    "\"data\": {\"dataset\": \"mnist\"}, \"train\": {\"epochs\": 1, \"lr\": 0.1}, "                \
    "\"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"name\": \"c1\"},"           \
    " {\"type\": \"relu\"}, {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10,"         \
    " \"name\": \"fc\"}]}"
#define WITH_QUANTIZE(q) "{" BASE ", \"quantize\": " q "}"

static cfg_config cfg;

static void parse_ok(const char *json) { cfgt_parse_ok(&cfg, json, "q.json"); }

static void expect_error(const char *json, const char *path, const char *also)
{
    /* "<path>: ": the colon as part of the path, then the space */
    char path_colon[200];
    snprintf(path_colon, sizeof path_colon, "%s:", path);
    cfgt_expect_error(&cfg, json, "q.json", path_colon, " ", also);
    cr_assert_eq(cfg.quantize.present, 0, "a failed parse left the block filled");
}

Test(cfg_quantize, absent_block_gives_defaults)
{
    parse_ok("{" BASE "}");
    const qz_config *q = &cfg.quantize.qz;
    cr_expect_eq(cfg.quantize.present, 0);
    cr_expect_eq(q->method, QZ_MSE);
    cr_expect_eq(q->calibration_images, 1000);
    cr_expect_eq(q->weight_bits, 8);
    cr_expect_eq(q->seed, 1u);
    cr_expect_eq(q->n_overrides, 0);
    parse_ok(WITH_QUANTIZE("{}"));
    cr_expect_eq(cfg.quantize.present, 1);
    cr_expect_eq(cfg.quantize.qz.method, QZ_MSE);
}

Test(cfg_quantize, every_key)
{
    parse_ok(WITH_QUANTIZE("{\"comment\": \"x\", \"method\": \"percentile\", \"percentile\": 99.9,"
                           " \"calibration_images\": 256, \"seed\": 7, \"weight_bits\": 4,"
                           " \"layers\": [{\"layer\": \"fc\", \"weight_bits\": 8},"
                           " {\"layer\": 0, \"weight_bits\": 4}]}"));
    const qz_config *q = &cfg.quantize.qz;
    cr_expect_eq(q->method, QZ_PERCENTILE);
    cr_expect_float_eq(q->percentile, 99.9, 1e-12);
    cr_expect_eq(q->calibration_images, 256);
    cr_expect_eq(q->seed, 7u);
    cr_expect_eq(q->weight_bits, 4);
    cr_assert_eq(q->n_overrides, 2);
    cr_expect(q->override_layer[0] == 3 && q->override_bits[0] == 8);
    cr_expect(q->override_layer[1] == 0 && q->override_bits[1] == 4);
    parse_ok(WITH_QUANTIZE("{\"method\": \"minmax\"}"));
    cr_expect_eq(cfg.quantize.qz.method, QZ_MINMAX);
    cr_expect_eq(cfg.quantize.qz.auto_bits, 0);
    parse_ok(WITH_QUANTIZE("{\"weight_bits\": \"auto\", \"max_accuracy_drop\": 0.5}"));
    cr_expect_eq(cfg.quantize.qz.auto_bits, 1);
    cr_expect_eq(cfg.quantize.qz.weight_bits, 8);
    cr_expect_float_eq(cfg.quantize.qz.max_drop, 0.5, 1e-12);
    parse_ok(WITH_QUANTIZE("{\"weight_bits\": \"auto\"}"));
    cr_expect_float_eq(cfg.quantize.qz.max_drop, 0.1, 1e-12);
    cr_expect_eq(cfg.quantize.qat.epochs, 0, "no qat block: no quantization-aware training");
}

/* quantize.qat: the train block's rate and schedule unless given, and the
 * distillation defaults. */
Test(cfg_quantize, qat_block)
{
    parse_ok(WITH_QUANTIZE("{\"qat\": {\"epochs\": 3}}"));
    const cfg_finetune *q = &cfg.quantize.qat;
    cr_expect_eq(q->epochs, 3);
    cr_expect_float_eq(q->lr, 0.1f, 1e-7, "train.lr by default");
    cr_expect_eq(q->schedule.kind, cfg.train.schedule.kind);
    cr_expect_eq(q->distill, 0);
    cr_expect_eq(q->activations, 0, "weights alone by default");
    parse_ok(WITH_QUANTIZE("{\"qat\": {\"epochs\": 3, \"activations\": true}}"));
    cr_expect_eq(q->activations, 1);
    parse_ok(WITH_QUANTIZE("{\"weight_bits\": 4, \"qat\": {\"epochs\": 2, \"lr\": 0.004,"
                           " \"schedule\": \"cosine\", \"distill\": {\"temperature\": 2}}}"));
    cr_expect_eq(q->epochs, 2);
    cr_expect_float_eq(q->lr, 0.004f, 1e-9);
    cr_expect_eq(q->schedule.kind, NN_SCHED_COSINE);
    cr_expect_float_eq(q->schedule.base_lr, 0.004f, 1e-9);
    cr_expect_eq(q->distill, 1);
    cr_expect_float_eq(q->distill_loss.temperature, 2.0f, 1e-7);
    cr_expect_float_eq(q->distill_loss.weight, CFG_DISTILL_WEIGHT, 1e-7);
    cr_expect_eq(q->distill_flip, 0);
    parse_ok(WITH_QUANTIZE("{\"qat\": {\"epochs\": 1, \"distill\": {\"flip\": true}}}"));
    cr_expect_eq(q->distill_flip, 1);
}

static const cfgt_error_case bad_quantize[] = {
    {WITH_QUANTIZE("{\"methd\": \"mse\"}"), "quantize.methd", "unknown key"},
    {WITH_QUANTIZE("{\"method\": \"kl\"}"), "quantize.method", "\"minmax\""},
    {WITH_QUANTIZE("{\"method\": 1}"), "quantize.method", NULL},
    {WITH_QUANTIZE("{\"percentile\": 99.9}"), "quantize.percentile", "only valid with"},
    {WITH_QUANTIZE("{\"method\": \"percentile\", \"percentile\": 40}"),
     "quantize.percentile", "(50, 100]"},
    {WITH_QUANTIZE("{\"calibration_images\": 0}"), "quantize.calibration_images", "got 0"},
    {WITH_QUANTIZE("{\"calibration_images\": 2.5}"), "quantize.calibration_images", NULL},
    {WITH_QUANTIZE("{\"seed\": -1}"), "quantize.seed", NULL},
    {WITH_QUANTIZE("{\"weight_bits\": 2}"), "quantize.weight_bits", "8 or 4"},
    {WITH_QUANTIZE("{\"weight_bits\": \"8\"}"), "quantize.weight_bits", "\"auto\""},
    {WITH_QUANTIZE("{\"max_accuracy_drop\": 1}"), "quantize.max_accuracy_drop", "only valid with"},
    {WITH_QUANTIZE("{\"weight_bits\": \"auto\", \"max_accuracy_drop\": -1}"),
     "quantize.max_accuracy_drop", "[0, 100]"},
    {WITH_QUANTIZE("{\"layers\": [{\"layer\": \"fc\", \"weight_bits\": \"auto\"}]}"),
     "quantize.layers[0].weight_bits", "8 or 4,"},
    {WITH_QUANTIZE("{\"method\": \"mse\", \"method\": \"mse\"}"), "quantize.method", "duplicate"},
    {WITH_QUANTIZE("{\"qat\": {}}"), "quantize.qat.epochs", "missing"},
    {WITH_QUANTIZE("{\"qat\": {\"epochs\": 1, \"lrr\": 1}}"), "quantize.qat.lrr",
     "did you mean \"lr\""},
    {WITH_QUANTIZE("{\"qat\": {\"epochs\": 1, \"lr\": 0}}"), "quantize.qat.lr", "> 0"},
    {WITH_QUANTIZE("{\"qat\": {\"epochs\": 1, \"distill\": {\"weight\": 2}}}"),
     "quantize.qat.distill.weight", "[0, 1]"},
    {WITH_QUANTIZE("{\"qat\": {\"epochs\": 1, \"schedule\": \"cosin\"}}"),
     "quantize.qat.schedule", "did you mean \"cosine\""},
    {WITH_QUANTIZE("{\"weight_bits\": \"auto\", \"qat\": {\"epochs\": 1}}"), "quantize.qat",
     "not with \"weight_bits\": \"auto\""},
    {WITH_QUANTIZE("{\"qat\": 3}"), "quantize.qat", "object"},
    {WITH_QUANTIZE("{\"qat\": {\"epochs\": 1, \"activations\": 1}}"), "quantize.qat.activations",
     "true or false"},
    {WITH_QUANTIZE("[]"), "quantize", "object"},
    {WITH_QUANTIZE("{\"layers\": {}}"), "quantize.layers", "array"},
    {WITH_QUANTIZE("{\"layers\": [3]}"), "quantize.layers[0]", "object"},
    {WITH_QUANTIZE("{\"layers\": [{\"layer\": \"nope\", \"weight_bits\": 4}]}"),
     "quantize.layers[0].layer", "no layer is named"},
    {WITH_QUANTIZE("{\"layers\": [{\"layer\": 1, \"weight_bits\": 4}]}"),
     "quantize.layers[0].layer", "relu"},
    {WITH_QUANTIZE("{\"layers\": [{\"layer\": 9, \"weight_bits\": 4}]}"),
     "quantize.layers[0].layer", "[0, 3]"},
    {WITH_QUANTIZE("{\"layers\": [{\"layer\": \"fc\"}]}"), "quantize.layers[0]", "weight_bits"},
    {WITH_QUANTIZE("{\"layers\": [{\"weight_bits\": 4}]}"), "quantize.layers[0].layer", "missing"},
    {WITH_QUANTIZE("{\"layers\": [{\"layer\": \"fc\", \"weight_bits\": 4, \"x\": 1}]}"),
     "quantize.layers[0].x", "unknown key"},
    {WITH_QUANTIZE("{\"layers\": [{\"layer\": \"fc\", \"weight_bits\": 4},"
     " {\"layer\": 3, \"weight_bits\": 8}]}"), "quantize.layers[1].layer", "already"},
};

Test(cfg_quantize, errors_name_the_key)
{
    for (size_t i = 0; i < sizeof bad_quantize / sizeof bad_quantize[0]; i++)
        expect_error(bad_quantize[i].json, bad_quantize[i].path, bad_quantize[i].also);
}
