/* End-to-end tests of bad numbers in valid files: checkpoints whose PARM or
 * STAT section holds inf, NaN, a negative running variance or a huge finite
 * weight, and .iotc files whose scales or multipliers are zero, negative
 * or not finite, each re-sealed with a correct CRC. Every command that
 * reads them (eval, prune, quantize, info, compare) must exit 1 with a
 * message naming the file, the section, the layer and the element, and
 * leave no output behind. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/iotc.h"
#include "ckpt_patch.h"
#include "cli_helpers.h"
#include "fixtures.h"

static const char *config_text =
    "{\n"
    "  \"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3]},\n"
    "  \"model\": {\"layers\": [\n"
    "    {\"type\": \"conv2d\", \"filters\": 6, \"kernel\": 3, \"pad\": 1, \"bias\": false,\n"
    "     \"name\": \"c1\"},\n"
    "    {\"type\": \"batchnorm\", \"name\": \"bn1\"}, {\"type\": \"relu\"},\n"
    "    {\"type\": \"maxpool\", \"size\": 2},\n"
    "    {\"type\": \"flatten\"},\n"
    "    {\"type\": \"dense\", \"units\": 10, \"name\": \"fc\"}]},\n"
    "  \"train\": {\"epochs\": 2, \"batch_size\": 16, \"seed\": 5, \"lr\": 0.05},\n"
    "  \"prune\": {\"sparsity\": 0.5},\n"
    "  \"quantize\": {\"method\": \"mse\", \"calibration_images\": 100}\n"
    "}\n";

static uint8_t *read_file(const char *dir, const char *name, size_t *len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *d = (uint8_t *)ch_slurp(path, len);
    cr_assert_not_null(d, "%s missing", path);
    return d;
}

static void write_file(const char *dir, const char *name, const uint8_t *d, size_t len)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fx_write_file(path, d, len);
}

static int exists(const char *dir, const char *name)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Writes dir/name: src (len bytes) with n bytes at payload offset `at` of
 * section tag replaced (CRC resealed); where receives the message the
 * loaders must give: "NAME: section TAG: offset OFF: WHAT". */
static void write_patched(const char *dir, const char *name, const uint8_t *src, size_t len,
                          const char *tag, size_t at, const void *bytes, size_t n,
                          const char *what, char *where, size_t where_size)
{
    uint8_t *d = malloc(len);
    memcpy(d, src, len);
    size_t off = cp_patch(d, len, tag, at, bytes, n);
    write_file(dir, name, d, len);
    free(d);
    snprintf(where, where_size, "%s: section %s: offset %zu: %s", name, tag, off, what);
}

/* Runs `args`, expects exit `status` and every fragment in stderr. */
static void expect_run(const char *dir, const char *args, int status, const char *const *frags)
{
    ch_result r = ch_run(dir, args);
    cr_expect_eq(r.status, status, "%s: exit %d, want %d: %s", args, r.status, status, r.err);
    for (int i = 0; frags && frags[i]; i++)
        cr_expect(strstr(r.err, frags[i]) != NULL, "%s: stderr lacks \"%s\": %s", args, frags[i],
                  r.err);
    ch_free(&r);
}

/* The five commands on model X: each exits 1 with the fragments (info with
 * info_status) and writes nothing. */
static void expect_all_commands(const char *dir, const char *model, int info_status,
                                const char *const *frags, const char *const *quantize_frags)
{
    char args[256];
    snprintf(args, sizeof args, "eval -m %s --threads 2", model);
    expect_run(dir, args, 1, frags);
    snprintf(args, sizeof args, "compare %s --threads 2 --latency-images 5", model);
    expect_run(dir, args, 1, frags);
    snprintf(args, sizeof args, "prune -c cfg.json -m %s -o out.ckpt --threads 2", model);
    expect_run(dir, args, 1, frags);
    snprintf(args, sizeof args, "quantize -m %s -o out.iotc --threads 2", model);
    expect_run(dir, args, 1, quantize_frags ? quantize_frags : frags);
    snprintf(args, sizeof args, "info -m %s", model);
    expect_run(dir, args, info_status, info_status ? frags : NULL);
    cr_expect(!exists(dir, "out.ckpt") && !exists(dir, "out.iotc"), "%s: an output was written",
              model);
}

Test(cli_nonfinite, checkpoint_inf_nan_and_negative_variance_exit_1_everywhere, .timeout = 240)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    size_t len;
    uint8_t *good = read_file(dir, "m.ckpt", &len);
    /* weight[0] of layer 0 is PARM float 0; layer 1's running_var[0] is
     * STAT float 6 (running_mean[0..5] come first). */
    struct {
        const char *name, *tag;
        size_t index;
        float value;
        const char *what;
    } cases[] = {
        {"inf.ckpt", "PARM", 0, INFINITY,
         "layer 0 (conv2d 'c1') weight[0] = inf, must be a finite number"},
        {"nan.ckpt", "PARM", 0, NAN,
         "layer 0 (conv2d 'c1') weight[0] = nan, must be a finite number"},
        {"neginf.ckpt", "PARM", 3, -INFINITY,
         "layer 0 (conv2d 'c1') weight[3] = -inf, must be a finite number"},
        {"var.ckpt", "STAT", 6, -1.0f,
         "layer 1 (batchnorm 'bn1') running_var[0] = -1, must be finite and >= 0"},
        {"mean.ckpt", "STAT", 2, NAN,
         "layer 1 (batchnorm 'bn1') running_mean[2] = nan, must be a finite number"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char where[160];
        write_patched(dir, cases[c].name, good, len, cases[c].tag, 4 * cases[c].index,
                      &cases[c].value, 4, cases[c].what, where, sizeof where);
        const char *frags[] = {where, NULL};
        expect_all_commands(dir, cases[c].name, 1, frags, NULL);
    }
    free(good);
    fx_rmtree(dir);
}

/* A finite 3e38 is a valid file (info describes it) that no computation
 * can use: the float logits overflow (eval, compare, prune) and so do the
 * calibration activations (quantize). */
Test(cli_nonfinite, checkpoint_with_a_3e38_weight_cannot_be_computed, .timeout = 240)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    size_t len;
    uint8_t *d = read_file(dir, "m.ckpt", &len);
    const float big = 3e38f;
    char where[160];
    write_patched(dir, "big.ckpt", d, len, "PARM", 0, &big, 4, "", where, sizeof where);
    free(d);
    const char *frags[] = {"big.ckpt: the float model's logits are not finite for ",
                           "layer 0 (conv2d 'c1') is the first layer whose output is not finite "
                           "(element ",
                           "the largest parameter up to it is layer 0 (conv2d 'c1') weight[0] = "
                           "3e+38",
                           NULL};
    const char *qfrags[] = {"big.ckpt: layer 0 (conv2d 'c1'): activation range is not finite: "
                            "calibration image ",
                            "its weights (largest magnitude ", NULL};
    expect_all_commands(dir, "big.ckpt", 0, frags, qfrags);
    ch_run_ok(dir, "info -m big.ckpt --json");
    fx_rmtree(dir);
}

/* The .iotc loader: scales zero, negative, infinite or NaN, and stored
 * multipliers out of [2^30, 2^31), each with a valid CRC. */
Test(cli_nonfinite, iotc_bad_scales_and_multipliers_exit_1, .timeout = 240)
{
    char dir[64];
    ch_trained_dir(dir, sizeof dir, config_text);
    ch_run_ok(dir, "quantize -m m.ckpt -o m.iotc --threads 2");
    size_t len;
    uint8_t *good = read_file(dir, "m.iotc", &len);
    char path[600];
    snprintf(path, sizeof path, "%s/m.iotc", dir);
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    cr_assert_eq(iotc_load(f, path, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(f->m.ops[2].type, QM_DENSE);

    /* A copy whose L000 stores multipliers: one changed by 1 is no longer
     * the derived one, so the writer keeps them all. */
    f->m.ops[0].mult[0] += 1;
    snprintf(path, sizeof path, "%s/mult.iotc", dir);
    cr_assert_eq(iotc_save(path, f, &err), NN_OK, "%s", err.msg);
    size_t mlen;
    uint8_t *mgood = read_file(dir, "mult.iotc", &mlen);
    uint32_t m1 = (uint32_t)f->m.ops[0].mult[1];
    uint8_t m1b[4] = {(uint8_t)m1, (uint8_t)(m1 >> 8), (uint8_t)(m1 >> 16), (uint8_t)(m1 >> 24)};
    const size_t m1_at = cp_locate(mgood, mlen, "L000", m1b, 4);

    float out_scale = f->m.ops[2].out.scale, in_scale = f->m.in.scale;
    const size_t out_at = cp_locate(good, len, "GRPH", &out_scale, 4);
    const size_t in_at = cp_locate(good, len, "INPT", &in_scale, 4);
    iotc_free(f);
    free(f);

    const float inf = INFINITY, nan = NAN, zero = 0.0f, neg = -2.0f;
    /* u16 weight scales: the high half of the float. L000 starts with a
     * flags byte, then one u16 per output channel. */
    const uint8_t s_zero[2] = {0x00, 0x00}, s_neg[2] = {0x80, 0xbf}, s_inf[2] = {0x80, 0x7f},
                  s_nan[2] = {0xc0, 0x7f};
    const uint8_t mult0[4] = {0, 0, 0, 0}, mult_neg[4] = {0, 0, 0, 0x80};
    struct {
        const char *name, *tag;
        int stored_mult; /* patch mult.iotc instead of m.iotc */
        size_t at;
        const void *bytes;
        size_t n;
        const char *what;
    } cases[] = {
        {"ws0.iotc", "L000", 0, 1 + 2 * 0, s_zero, 2,
         "op 0 (conv2d 'c1'): weight scale[0] = 0, must be finite and > 0"},
        {"wsneg.iotc", "L000", 0, 1 + 2 * 1, s_neg, 2,
         "op 0 (conv2d 'c1'): weight scale[1] = -1, must be finite and > 0"},
        {"wsinf.iotc", "L000", 0, 1 + 2 * 2, s_inf, 2,
         "op 0 (conv2d 'c1'): weight scale[2] = inf, must be finite and > 0"},
        {"wsnan.iotc", "L002", 0, 1 + 2 * 9, s_nan, 2,
         "op 2 (dense 'fc'): weight scale[9] = nan, must be finite and > 0"},
        {"os0.iotc", "GRPH", 0, out_at, &zero, 4,
         "op 2 (dense 'fc'): output scale = 0, must be finite and > 0"},
        {"osinf.iotc", "GRPH", 0, out_at, &inf, 4,
         "op 2 (dense 'fc'): output scale = inf, must be finite and > 0"},
        {"osneg.iotc", "GRPH", 0, out_at, &neg, 4,
         "op 2 (dense 'fc'): output scale = -2, must be finite and > 0"},
        {"isnan.iotc", "INPT", 0, in_at, &nan, 4, "input scale = nan, must be finite and > 0"},
        {"m0.iotc", "L000", 1, m1_at, mult0, 4,
         "op 0 (conv2d 'c1'): multiplier[1] = 0, must be in [2^30, 2^31)"},
        {"mneg.iotc", "L000", 1, m1_at, mult_neg, 4,
         "op 0 (conv2d 'c1'): multiplier[1] = 2147483648, must be in [2^30, 2^31)"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char where[200];
        write_patched(dir, cases[c].name, cases[c].stored_mult ? mgood : good,
                      cases[c].stored_mult ? mlen : len, cases[c].tag, cases[c].at,
                      cases[c].bytes, cases[c].n, cases[c].what, where, sizeof where);
        const char *frags[] = {where, NULL};
        char args[256];
        snprintf(args, sizeof args, "eval -m %s --threads 2", cases[c].name);
        expect_run(dir, args, 1, frags);
        snprintf(args, sizeof args, "info -m %s", cases[c].name);
        expect_run(dir, args, 1, frags);
        snprintf(args, sizeof args, "compare m.iotc %s --latency-images 5", cases[c].name);
        expect_run(dir, args, 1, frags);
    }
    /* The stored-multiplier copy itself is valid. */
    expect_run(dir, "info -m mult.iotc", 0, NULL);
    free(good), free(mgood);
    fx_rmtree(dir);
}

/* A model the int8 format cannot express is the model's problem (exit 1),
 * not a usage error: quantize exited 2 for it. */
Test(cli_nonfinite, quantize_exits_1_for_a_model_it_cannot_express, .timeout = 120)
{
    char dir[64];
    ch_data_dir(dir, sizeof dir);
    ch_write_text(dir, "flat.json",
                  CH_CONFIG("{\"type\": \"flatten\"}, {\"type\": \"batchnorm\","
                            " \"name\": \"bn\"}, {\"type\": \"dense\", \"units\": 10}",
                            "\"train\": {\"epochs\": 1, \"batch_size\": 32, \"lr\": 0.05},"
                            " \"quantize\": {\"calibration_images\": 20}"));
    ch_run_ok(dir, "train -c flat.json -o flat.ckpt --threads 2");
    const char *frags[] = {"flat.ckpt: layer 1 (batchnorm 'bn'): cannot quantize: batch norm after "
                           "flatten is not supported",
                           NULL};
    expect_run(dir, "quantize -m flat.ckpt -o flat.iotc --threads 2", 1, frags);
    cr_expect(!exists(dir, "flat.iotc"));
    fx_rmtree(dir);
}

/* Every --help ends with the one exit-status contract. */
Test(cli_nonfinite, every_help_states_the_exit_status_contract)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    const char *cmds[] = {"--help",          "train --help", "eval --help",   "augment --help",
                          "prune --help",    "quantize --help", "info --help", "compare --help"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        ch_result r = ch_run(dir, cmds[i]);
        cr_expect_eq(r.status, 0, "%s", cmds[i]);
        cr_expect(strstr(r.out, "Exit status: 0 success; 1 bad data or I/O") &&
                      strstr(r.out, "2 usage or config error."),
                  "%s: %s", cmds[i], r.out);
        ch_free(&r);
    }
    fx_rmtree(dir);
}
