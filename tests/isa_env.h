/* isa_env.h - IOTCNN_TEST_DISABLE_ISA for the tests that run once per
 * instruction set (test_rt_host.c, test_conv_kernels.c; docs/testing.md):
 *     IOTCNN_TEST_DISABLE_ISA=avx512 make test
 * treats every ISA whose name starts with a listed name as missing. */
#ifndef ISA_ENV_H
#define ISA_ENV_H

#include <stdlib.h>
#include <string.h>

/* 1 when IOTCNN_TEST_DISABLE_ISA names `name` (or a prefix of it). */
static inline int test_isa_disabled(const char *name)
{
    const char *list = getenv("IOTCNN_TEST_DISABLE_ISA");
    while (list && *list) {
        size_t len = strcspn(list, ",");
        if (len > 0 && strncmp(name, list, len) == 0)
            return 1;
        list += len + (list[len] == ',');
    }
    return 0;
}

/* Skips the running Criterion test (cr_skip_test) when this CPU lacks
 * the libnn instruction set isa or the environment disables it; needs
 * <criterion/criterion.h> and libnn/nn_isa.h included before. */
#define TEST_REQUIRE_NN_ISA(isa)                                                                   \
    do {                                                                                           \
        if (!nn_isa_supported(isa))                                                                \
            cr_skip_test("this CPU lacks %s: its kernels are not tested here", nn_isa_name(isa));  \
        if (test_isa_disabled(nn_isa_name(isa)))                                                   \
            cr_skip_test("%s treated as missing (IOTCNN_TEST_DISABLE_ISA)", nn_isa_name(isa));     \
    } while (0)

#endif
