/* test_cli_reports.c - the exact figures `info`, `quantize`, `compare` and
 * `prune` report for a small known network: MACs per layer and in total,
 * parameters and non-zero counts, effective MACs after pruning, the float
 * activation arena and the int8 engine's arena, each worked out by hand
 * below (not merely "> 0").
 *
 * The network, on 1x12x12 images, 10 classes (MACs per image):
 *   0 conv2d 8, 3x3 pad 1     -> 8x12x12   8*12*12 * 1*3*3  = 10368
 *   1 relu (in place)
 *   2 conv2d 16, 3x3 stride 2 pad 1 -> 16x6x6  16*6*6 * 8*3*3 = 41472
 *   3 batchnorm               -> 16x6x6    16*6*6           =   576
 *   4 relu (in place)
 *   5 maxpool 2               -> 16x3x3    16*3*3 * 2*2     =   576
 *   6 flatten                 -> 144
 *   7 dense 10                -> 10        10 * 144         =  1440
 *                                                   total     54432
 * Parameters: conv 0 72 + 8, conv 2 1152 + 16, batch norm 16 + 16,
 * dense 1440 + 10: 2730 (10920 bytes as float). From He init the weights
 * and gamma are non-zero and the 34 biases and 16 betas zero: 2680. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "export/rt_host.h"
#include "cli_helpers.h"

#define NET                                                                                        \
    "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3]},"     \
    " \"model\": {\"layers\": ["                                                                   \
    "   {\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3, \"pad\": 1}, {\"type\": \"relu\"},"  \
    "   {\"type\": \"conv2d\", \"filters\": 16, \"kernel\": 3, \"stride\": 2, \"pad\": 1},"         \
    "   {\"type\": \"batchnorm\"}, {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 2},"     \
    "   {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},"                           \
    " \"train\": {\"epochs\": 1, \"batch_size\": 16, \"lr\": 0.01},"                                \
    " \"quantize\": {\"method\": \"minmax\", \"calibration_images\": 64}"

static const double LAYER_MACS[8] = {10368, 0, 41472, 576, 0, 576, 0, 1440};
static const double LAYER_PARAMS[8] = {80, 0, 1168, 32, 0, 0, 0, 1450};

/* Each test's folder: data/, net.json (+ a magnitude and a structured
 * prune block) and m.ckpt; removed after the test, passed or not. */
static char dir[64];

static void setup(void)
{
    ch_data_dir(dir, sizeof dir);
    ch_write_text(dir, "net.json", NET "}");
    ch_write_text(dir, "mag.json", NET ", \"prune\": {\"sparsity\": 0.5}}");
    ch_write_text(dir, "struct.json",
                  NET ", \"prune\": {\"method\": \"structured\", \"sparsity\": 0.5}}");
    ch_write_model(dir, "net.json", "m.ckpt", NULL);
}

static void teardown(void) { fx_rmtree(dir); }

TestSuite(cli_reports, .init = setup, .fini = teardown);

static double num_at(const cJSON *arr, int i, const char *key)
{
    const cJSON *o = cJSON_GetArrayItem(arr, i);
    cr_assert_not_null(o, "no item %d", i);
    return ch_num(o, key);
}

Test(cli_reports, info_of_a_checkpoint_exact_macs_parameters_and_arena, .timeout = 60)
{
    cJSON *j = ch_run_json(dir, "info -m m.ckpt --json");
    ch_expect_nums(j, {"macs", 54432}, {"parameters", 2730}, {"nonzero_parameters", 2680});
    /* Float activations of one image, each tensor alive from its producer
     * to its last reader, ReLUs in place, flatten a view (4 bytes each):
     *   conv 0 runs:  input 144 + conv 0's 1152 floats          = 1296
     *   conv 2 runs:  conv 0's 1152 (its ReLU in place) + 576    = 1728
     *   bn runs:      conv 2's 576 + bn's 576                    = 1152
     *   pool, dense:  576 + 144, 144 + 10
     * peak 1728 floats = 6912 bytes. */
    cr_expect_eq(ch_num(j, "arena_bytes"), 6912);
    const cJSON *layers = ch_obj(j, "layers");
    cr_assert_eq(cJSON_GetArraySize(layers), 8);
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(num_at(layers, i, "macs"), LAYER_MACS[i], "layer %d", i);
        cr_expect_eq(num_at(layers, i, "parameters"), LAYER_PARAMS[i], "layer %d", i);
    }
    /* conv 2: 16x6x6 (the stride halves 12x12) */
    const cJSON *shape = ch_obj(cJSON_GetArrayItem(layers, 2), "output_shape_chw");
    cr_expect_eq(cJSON_GetArrayItem(shape, 0)->valueint, 16);
    cr_expect_eq(cJSON_GetArrayItem(shape, 1)->valueint, 6);
    cr_expect_eq(cJSON_GetArrayItem(shape, 2)->valueint, 6);
    cJSON_Delete(j);

    /* The human report says the same. */
    ch_expect_out(dir, "info -m m.ckpt", "parameters 2730 (2680 non-zero",
                  "54432 MACs  activation arena 6912 bytes");

    /* dense 10 straight on the 1x12x12 input (a dense layer reads any
     * shape as a vector): the input (144 floats) is alive while the dense
     * layer writes its 10: 616 bytes; 10 * 144 = 1440 MACs. */
    ch_write_text(dir, "lin.json",
                  "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2],"
                  " \"std\": [0.3]}, \"model\": {\"layers\": ["
                  " {\"type\": \"dense\", \"units\": 10}]},"
                  " \"train\": {\"epochs\": 1, \"lr\": 0.01}}");
    ch_write_model(dir, "lin.json", "lin.ckpt", NULL);
    j = ch_run_json(dir, "info -m lin.ckpt --json");
    ch_expect_nums(j, {"arena_bytes", 616}, {"macs", 1440}, {"parameters", 1450});
    cJSON_Delete(j);
}

/* The int8 model: batch norm folded into conv 2, ReLUs fused, so 4 ops
 * (conv, conv, maxpool, dense) and the MACs of the convs and the dense
 * layer only: 10368 + 41472 + 1440 = 53280. Parameters: weights and one
 * bias per output channel, 80 + 1168 + 1450 = 2698 (BN is gone). */
Test(cli_reports, quantize_and_info_of_an_iotc_exact_figures, .timeout = 60)
{
    cJSON *q = ch_run_json(dir, "quantize -m m.ckpt -o m.iotc --json --threads 2");
    ch_expect_nums(q, {"macs", 53280}, {"parameters", 2698}, {"float_weight_bytes", 10920});
    size_t bytes = ch_file_size(dir, "m.iotc");
    cr_expect_eq(ch_num(q, "file_bytes"), (double)bytes);
    cr_expect_float_eq(ch_num(q, "compression"), 10920.0 / (double)bytes, 1e-12);
    cr_expect_eq(ch_num(q, "calibration_images"), 64);

    /* The runtime's arena for the host's image (the retired engine's
     * hand-worked 4799 bytes is gone with it; the planner's figures are
     * pinned in test_runtime.c): what rth_open builds, with the ISA and
     * target the report names. */
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    char path[600];
    snprintf(path, sizeof path, "%s/m.iotc", dir);
    cr_assert_eq(iotc_load(f, path, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(f->m.n_ops, 4);
    rth_model h;
    cr_assert_eq(rth_open(&h, &f->m, RT_ISA_AUTO, &err), NN_OK, "%s", err.msg);
    const double arena = (double)rth_arena_bytes(&h);
    cr_expect_eq(arena, (double)rt_arena_bytes(h.img.data));
    cr_expect_gt(arena, 144 + 1152, "input and conv 0's output are alive together");
    cr_expect_str_eq(ch_obj(q, "arena_isa")->valuestring, rt_isa_name(rt_isa_best()));
    cr_expect_str_eq(ch_obj(q, "arena_target")->valuestring, rtb_target_name(rtb_host_target()));
    rth_close(&h);
    cr_expect_eq(ch_num(q, "arena_bytes"), arena);
    iotc_free(f);
    free(f);

    cJSON *j = ch_run_json(dir, "info -m m.iotc --json");
    ch_expect_nums(j, {"macs", 53280}, {"parameters", 2698}, {"arena_bytes", arena},
                   {"file_bytes", (double)bytes});
    const cJSON *layers = ch_obj(j, "layers");
    cr_assert_eq(cJSON_GetArraySize(layers), 4);
    const double op_macs[4] = {10368, 41472, 0, 1440};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(num_at(layers, i, "macs"), op_macs[i], "op %d", i);
    cJSON_Delete(j);
    cJSON_Delete(q);
}

/* Magnitude pruning to 0.5 per layer (no fine-tuning): each conv and
 * dense layer loses exactly half of its weights, so its effective MACs
 * (MACs x the density of its weights) halve: 5184, 20736 and 720; batch
 * norm and the pool keep theirs (576 each): 27792 in all. Structured to
 * 0.5: conv 0 keeps 4 of 8 channels, conv 2 (and its batch norm) 8 of 16,
 * the class scores all 10:
 *   conv 0 4*12*12*1*9 = 5184, conv 2 8*6*6*4*9 = 10368, bn 8*6*6 = 288,
 *   maxpool 8*3*3*4 = 288, dense 10*72 = 720: 16848 MACs;
 *   parameters 36+4 + 288+8 + 8+8 + 720+10 = 1082 (4328 bytes). */
Test(cli_reports, prune_and_compare_exact_macs, .timeout = 120)
{
    cJSON *j = ch_run_json(dir, "prune -c mag.json -m m.ckpt -o p.ckpt --json --threads 2");
    const cJSON *t = ch_obj(j, "totals");
    ch_expect_nums(t, {"macs_before", 54432}, {"macs_after", 54432},
                   {"effective_macs_before", 54432}, {"effective_macs_after", 27792},
                   {"zero_weights_after", 36 + 576 + 720},
                   {"nonzero_after", 2680 - (36 + 576 + 720)});
    /* Rows: the layers with parameters or MACs (relu and flatten have
     * neither). */
    const cJSON *rows = ch_obj(j, "layers");
    const double row_layer[5] = {0, 2, 3, 5, 7};
    const double row_eff[5] = {5184, 20736, 576, 576, 720};
    cr_assert_eq(cJSON_GetArraySize(rows), 5);
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(num_at(rows, i, "index"), row_layer[i], "row %d", i);
        cr_expect_eq(num_at(rows, i, "macs_after"), LAYER_MACS[(int)row_layer[i]], "row %d", i);
        cr_expect_eq(num_at(rows, i, "effective_macs_after"), row_eff[i], "row %d", i);
    }
    cJSON_Delete(j);

    j = ch_run_json(dir, "prune -c struct.json -m m.ckpt -o s.ckpt --json --threads 2");
    t = ch_obj(j, "totals");
    cr_expect_eq(ch_num(t, "macs_after"), 16848);
    cr_expect_eq(ch_num(t, "params_after"), 1082);
    cJSON_Delete(j);

    /* compare: MACs and deploy bytes of each kind of model. */
    cJSON_Delete(ch_run_json(dir, "quantize -m m.ckpt -o m.iotc --threads 2 --json"));
    size_t iotc_bytes = ch_file_size(dir, "m.iotc");
    j = ch_run_json(dir, "compare m.ckpt s.ckpt m.iotc --json --threads 2 --latency-images 3");
    const cJSON *models = ch_obj(j, "models");
    cr_assert_eq(cJSON_GetArraySize(models), 3);
    const double macs[3] = {54432, 16848, 53280};
    const double deploy[3] = {10920, 4328, (double)iotc_bytes};
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(num_at(models, i, "macs"), macs[i], "model %d", i);
        cr_expect_eq(num_at(models, i, "deploy_bytes"), deploy[i], "model %d", i);
        cr_expect_float_eq(num_at(models, i, "smaller"), 10920.0 / deploy[i], 1e-12, "model %d",
                           i);
        cr_expect_eq(num_at(models, i, "n"), 200);
    }
    cr_expect_eq(ch_num(j, "latency_images"), 3);
    cJSON_Delete(j);
}
