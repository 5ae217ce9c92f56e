/* test_fuzz_regress.c - bugs found by the fuzz targets (fuzz/,
 * docs/reliability.md) or while writing them, each reproduced directly
 * through the library. The input that shows each one to its fuzz target is
 * in fuzz/corpus/TARGET/ under the name given, so `make fuzz-smoke` replays
 * it too. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "format/iotc.h"
#include "format/qio.h"
#include "quantize/quantize.h"
#include "datasets/ds_png.h"
#include "libnn/nn_model.h"
#include "fixtures.h"
#include "layer_specs.h"

/* fuzz/corpus/quantize/regress-lower-nothing: a network that only
 * flattens its 3x1x1 input is a valid float model, but lowers to no op at
 * all; qz_lower read the op before the first (index -1) instead of saying
 * so. */
/* A network that only flattens its c x h x w input into num_classes values. */
static void flatten_only(nn_model_spec *s, int c, int h, int w, int num_classes)
{
    memset(s, 0, sizeof *s);
    s->in_c = c, s->in_h = h, s->in_w = w, s->num_classes = num_classes;
    s->layers[0] = ls_layer(NN_LAYER_FLATTEN);
    s->layers[0].input = NN_INPUT_NODE;
    s->n_layers = 1;
}

Test(fuzz_regress, quantize_a_network_that_computes_nothing)
{
    nn_model_spec s;
    flatten_only(&s, 3, 1, 1, 3);
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
    qz_net net;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_ERR_FORMAT); /* a data error: exit 1 */
    cr_expect(strstr(err.msg, "computes nothing"), "%s", err.msg);
    nn_model_free(&m);
}

#ifndef __SANITIZE_ADDRESS__
/* Bytes of address space this process maps now (VmSize). */
static size_t mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmSize:", 7))
            kb = strtoul(line + 7, NULL, 10);
    fclose(f);
    cr_assert_gt(kb, 0);
    return kb * 1024;
}
#endif

/* fuzz/corpus/pngdir/regress-png-chunk-length: a 71-byte PNG (a valid 4x3
 * 1-bit gray IHDR) whose next chunk, iTXt, claims 1,933,723,988 bytes
 * ("sBIT" read as its length). libpng 1.6.39 only warns that the length is
 * above its chunk limit, then allocates it: 1.9 GB for a 71-byte file. The
 * loader now skips ancillary chunks unread. With the address space limited
 * to 512 MB above what the process maps, the allocation would fail and
 * libpng would say "insufficient memory"; now nothing is allocated and the
 * file is refused as truncated. (Criterion runs each test in its own
 * process, so the limit ends with the test.) */
Test(fuzz_regress, png_forged_chunk_length_allocates_nothing)
{
#ifdef __SANITIZE_ADDRESS__
    cr_skip_test("limits the address space, which AddressSanitizer's shadow memory needs");
#else
    static const uint8_t png[] = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x9c,
        0x8f, 0x93, 0x6b, 0x73, 0x42, 0x49, 0x54, 0x69, 0x54, 0x58, 0x74, 0x08, 0x99, 0x63, 0x60,
        0x60, 0x70, 0x67, 0xe8, 0x03, 0x00, 0x01, 0x69, 0x00, 0xd6, 0xfd, 0x2a, 0xa8, 0xe0, 0x00,
        0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/forged.png", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(png, 1, sizeof png, f), sizeof png);
    fclose(f);
    const rlim_t limit = (rlim_t)mapped_bytes() + ((rlim_t)512 << 20);
    const struct rlimit rl = {limit, limit};
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
    ds_image im;
    nn_error err;
    cr_assert_eq(ds_png_read(&im, path, 4096, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "iTXt") && !strstr(err.msg, "memory"), "%s", err.msg);
    fx_rmtree(dir);
#endif
}

/* fuzz/corpus/ckpt/regress-flatten-input-overflow (found while checking
 * what fuzz/ckpt's shape invariant guards, which the fuzzer then confirms
 * on this input): a 4x65536x65536 input (2^34 values, each side within the
 * loader's limits) flattened into an int channel count became 0 channels,
 * and a dense layer with 0 inputs after it; nn_model_build accepted it, so
 * a 316-byte checkpoint loaded, and `info` showed a 0x1x1 flatten and a
 * 64 GB arena. The input is now held to the 2^30 values every layer output
 * is held to. */
Test(fuzz_regress, model_input_too_large_to_flatten)
{
    nn_model_spec s;
    flatten_only(&s, 4, 65536, 65536, 10);
    s.layers[1] = ls_dense(10);
    s.layers[1].input = 0;
    s.n_layers = 2;
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_ERR_ARG);
    cr_expect(strstr(err.msg, "2^30"), "%s", err.msg);
    flatten_only(&s, 1, 16384, 65536, 1 << 30); /* 2^30 values: the largest input, fine */
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(m.nodes[0].out_c, 1 << 30);
    nn_model_free(&m);
}

/* One .iotc section: tag, length, payload, CRC over all three. */
static void put_section(nn_wbuf *w, const char *tag, const nn_wbuf *payload)
{
    size_t at = w->len;
    nn_wbuf_bytes(w, tag, 4);
    nn_wbuf_u64(w, payload->len);
    nn_wbuf_bytes(w, payload->data, payload->len);
    nn_wbuf_u32(w, nn_crc32(w->data + at, 12 + payload->len));
}

/* A dense op of the GRPH section (iotc.h): 8-bit, no ReLU, scale 1. */
static void put_dense(nn_wbuf *g, int input, int in_c, int out_c)
{
    nn_wbuf_u8(g, QM_DENSE);
    qio_put_uvar(g, (uint64_t)(input + 1));
    const int dims[6] = {in_c, 1, 1, out_c, 1, 1};
    for (int k = 0; k < 6; k++)
        qio_put_uvar(g, (uint64_t)dims[k]);
    nn_wbuf_u8(g, 0);        /* relu */
    nn_wbuf_f32(g, 1.0f);    /* output scale */
    qio_put_svar(g, 0);      /* output zero point */
    nn_wbuf_u8(g, 8);        /* weight bits */
    qio_put_svar(g, -1);     /* no source layer */
    nn_wbuf_u8(g, 0);        /* no name */
}

/* fuzz/corpus/iotc/regress-forged-channel-count (found reviewing what the
 * loader allocates; fuzz/iotc reports it as out-of-memory under its
 * -malloc_limit_mb): a 141-byte .iotc whose
 * GRPH says dense 1 -> 2^26 -> 1 (2^27 weights, within the format's 2^28)
 * with 1-byte weight sections. The loader sized the model from GRPH and
 * allocated it (qm_model_alloc: 1,006,633,248 bytes) before reading L000,
 * which then turned out truncated. Every Lnnn is now checked to hold at
 * least 3 bytes per channel first: the error names the section and the
 * channel count, and nothing was allocated for them. */
Test(fuzz_regress, iotc_forged_channel_count_allocates_nothing)
{
    const int C = 1 << 26;
    nn_wbuf file, inpt, grph, tiny;
    nn_wbuf_init(&file), nn_wbuf_init(&inpt), nn_wbuf_init(&grph), nn_wbuf_init(&tiny);
    for (int k = 0; k < 4; k++)
        qio_put_uvar(&inpt, 1); /* in_c, in_h, in_w, num_classes */
    nn_wbuf_f32(&inpt, 1.0f), qio_put_svar(&inpt, 0);     /* input scale, zero */
    nn_wbuf_f32(&inpt, 0.0f), nn_wbuf_f32(&inpt, 1.0f);   /* mean, std */
    nn_wbuf_u8(&inpt, 1);                                  /* table derived */
    qio_put_uvar(&grph, 2);
    put_dense(&grph, QM_INPUT, 1, C);
    put_dense(&grph, 0, C, 1);
    nn_wbuf_u8(&tiny, 0);
    nn_wbuf_bytes(&file, IOTC_MAGIC, 8);
    nn_wbuf_u32(&file, IOTC_VERSION), nn_wbuf_u32(&file, 4);
    put_section(&file, "INPT", &inpt);
    put_section(&file, "GRPH", &grph);
    put_section(&file, "L000", &tiny);
    put_section(&file, "L001", &tiny);
    cr_assert_eq(file.len, 141);

    iotc_model *f = malloc(sizeof *f);
    cr_assert_not_null(f);
    nn_error err;
    cr_assert_eq(iotc_decode(f, file.data, file.len, "forged.iotc", &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "forged.iotc: section L000") &&
                  strstr(err.msg, "cannot hold the 67108864 channels of op 0"),
              "%s", err.msg);
    cr_expect_null(f->m.blob);
    free(f);
    nn_wbuf_free(&file), nn_wbuf_free(&inpt), nn_wbuf_free(&grph), nn_wbuf_free(&tiny);
}
