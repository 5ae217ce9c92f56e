/* test_isa_cap.c - IOTCNN_MAX_ISA (libnn/nn_isa.h): the cap on the kernel
 * bodies libnn chooses, which make bench uses to measure on an AVX-512 CPU
 * what an AVX2 one would run. Its parsing, that nn_isa_best obeys it, that
 * the command line rejects a bad value before doing anything, that train
 * reports the bodies it ran, and that a capped run trains the same bytes as
 * an uncapped one (every body gives the reference's bits) on a network
 * whose convs take the wide kernels and the Winograd forward and weight
 * gradient, with batch norm and 2x2 max pooling. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "libnn/conv_wino.h"
#include "libnn/nn_isa.h"
#include "cli_helpers.h"
#include "fixtures.h"

Test(isa_cap, names_round_trip_and_others_are_refused)
{
    for (int i = 0; i < NN_ISA_COUNT; i++) {
        nn_isa isa = NN_ISA_COUNT;
        cr_expect(nn_isa_parse(nn_isa_name((nn_isa)i), &isa), "%s", nn_isa_name((nn_isa)i));
        cr_expect_eq(isa, i);
    }
    const char *bad[] = {"", "AVX2", "avx", "avx512-vnni", "sse2", "avx2 ", NULL};
    for (const char **b = bad; *b; b++) {
        nn_isa isa = NN_ISA_AVX2;
        cr_expect(!nn_isa_parse(*b, &isa), "'%s' parsed", *b);
        cr_expect_eq(isa, NN_ISA_AVX2, "'%s' changed the output", *b);
    }
    nn_isa isa;
    cr_expect(!nn_isa_parse(NULL, &isa));
}

/* Each Criterion test runs in its own process: setenv stays in this one. */
Test(isa_cap, best_obeys_the_cap)
{
    unsetenv(NN_ISA_ENV);
    const nn_isa uncapped = nn_isa_best();
    cr_expect(nn_isa_supported(uncapped));
    cr_expect(uncapped == NN_ISA_AVX512 || !nn_isa_supported(NN_ISA_AVX512));
    cr_expect(uncapped >= NN_ISA_AVX2 || !nn_isa_supported(NN_ISA_AVX2));
    cr_expect_eq(nn_isa_cap(), NN_ISA_COUNT - 1);

    setenv(NN_ISA_ENV, "scalar", 1);
    cr_expect_eq(nn_isa_cap(), NN_ISA_SCALAR);
    cr_expect_eq(nn_isa_best(), NN_ISA_SCALAR);

    setenv(NN_ISA_ENV, "avx2", 1);
    cr_expect_eq(nn_isa_best(), nn_isa_supported(NN_ISA_AVX2) ? NN_ISA_AVX2 : NN_ISA_SCALAR);

    setenv(NN_ISA_ENV, "avx512", 1); /* a cap above what the CPU has */
    cr_expect_eq(nn_isa_best(), uncapped);

    setenv(NN_ISA_ENV, "", 1); /* empty: no cap */
    cr_expect_eq(nn_isa_best(), uncapped);
    unsetenv(NN_ISA_ENV);
}

Test(isa_cap, command_line_refuses_an_unknown_value, .timeout = 30)
{
    char dir[64];
    ch_data_dir(dir, sizeof dir);
    setenv(NN_ISA_ENV, "avx-512", 1);
    ch_expect_exit(dir, "info -m nothing.ckpt", 2, NN_ISA_ENV, "'avx-512'", "scalar, avx2, avx512");
    unsetenv(NN_ISA_ENV);
    fx_rmtree(dir);
}

/* 12x12 images: conv1 (1 -> 32, pad 1) takes the wide kernels; conv2 (32
 * -> 32, pad 2, 14x14 out) the Winograd forward and weight gradient (its
 * input gradient the wide kernels: 12 columns in is too narrow); after
 * the pooling, a depthwise conv at stride 1 (flat planes) and one at
 * stride 2 (channel lanes) with ReLU6. */
static const char *config_text =
    "{\n"
    "  \"data\": {\"dataset\": \"mnist\", \"dir\": \"data\", \"mean\": [0.2], \"std\": [0.3]},\n"
    "  \"model\": {\"layers\": [\n"
    "    {\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3, \"pad\": 1},\n"
    "    {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},\n"
    "    {\"type\": \"conv2d\", \"filters\": 32, \"kernel\": 3, \"pad\": 2},\n"
    "    {\"type\": \"batchnorm\"}, {\"type\": \"relu\"},\n"
    "    {\"type\": \"maxpool\", \"size\": 2},\n"
    "    {\"type\": \"depthwise_conv2d\", \"kernel\": 3, \"pad\": 1},\n"
    "    {\"type\": \"batchnorm\"}, {\"type\": \"relu6\"},\n"
    "    {\"type\": \"depthwise_conv2d\", \"kernel\": 3, \"stride\": 2, \"pad\": 1},\n"
    "    {\"type\": \"relu6\"},\n"
    "    {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},\n"
    "  \"train\": {\"epochs\": 2, \"batch_size\": 16, \"seed\": 3, \"lr\": 0.05,\n"
    "    \"optimizer\": {\"type\": \"sgd\", \"momentum\": 0.9}}\n"
    "}\n";

Test(isa_cap, every_cap_trains_the_same_bytes, .timeout = 120)
{
    const nn_conv_dims conv2 = {32, 12, 12, 32, 14, 14, 3, 1, 2};
    cr_assert(nn_wino_fwd_ok(&conv2) && nn_wino_dw_ok(&conv2), "conv2 no longer takes Winograd");
    char dir[64];
    ch_config_dir(dir, sizeof dir, config_text);
    unsetenv(NN_ISA_ENV);
    char want[64];
    snprintf(want, sizeof want, "%s kernels", nn_isa_name(nn_isa_best()));
    ch_expect_exit(dir, "train -c cfg.json -o best.ckpt --threads 2 --limit 192", 0, want);
    const char *names[] = {"scalar", "avx2"};
    for (int i = 0; i < 2; i++) {
        nn_isa cap;
        cr_assert(nn_isa_parse(names[i], &cap));
        if (!nn_isa_supported(cap))
            continue;
        setenv(NN_ISA_ENV, names[i], 1);
        snprintf(want, sizeof want, "%s kernels", names[i]);
        ch_expect_exit(dir, "train -c cfg.json -o capped.ckpt --threads 2 --limit 192", 0, want);
        cr_expect(ch_same_files(dir, "best.ckpt", "capped.ckpt"), "%s=%s trained other bytes",
                  NN_ISA_ENV, names[i]);
    }
    unsetenv(NN_ISA_ENV);
    fx_rmtree(dir);
}
