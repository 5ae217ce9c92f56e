/* test_compat.c - files written by an earlier iotcnn keep loading and
 * giving the same results (tests/compat/README.md).
 *
 * tests/compat/tiny.ckpt and tiny.iotc were written on 2026-12-03 by the
 * code of that day from tests/compat/tiny.json (the commands are in the
 * README there) and are never regenerated: a change that makes them fail
 * breaks users' files. For each:
 *   - it loads, with the shape and state it was written with;
 *   - written again by today's writer it gives the same bytes (the format
 *     did not drift);
 *   - its numbers are the same: a hash of the checkpoint's parameter bits,
 *     and of the int8 logits the .iotc model gives on four fixed inputs
 *     (the reference interpreter and the runtime on the host, which must
 *     agree). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "export/rt_host.h"
#include "format/ckpt.h"
#include "format/iotc.h"
#include "libnn/nn_io.h"
#include "quantize/qref.h"
#include "cli_helpers.h"
#include "fixtures.h"

/* Written by the code of 2026-12-03; see the top of this file. */
#define TINY_PARAMS 2014
#define TINY_PARAM_HASH 0xe99d928585ce5cbcull
#define TINY_LOGIT_HASH 0x75319b89d96c3024ull

/* The fixture's path: beside this source file's folder. */
static void compat_path(char *out, size_t size, const char *name)
{
    const char *here = __FILE__, *slash = strrchr(here, '/');
    int dir = slash ? (int)(slash - here) : 0;
    snprintf(out, size, "%.*s%scompat/%s", dir, here, dir ? "/" : "", name);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

Test(compat, checkpoint_loads_with_its_numbers_and_rewrites_to_the_same_bytes)
{
    char path[512], dir[256], again[512];
    compat_path(path, sizeof path, "tiny.ckpt");
    ckpt_file ck;
    nn_error err;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(ck.model.n_params, (size_t)TINY_PARAMS);
    cr_expect(ck.has_optim && ck.has_train && ck.config_json);
    cr_expect_eq(ck.train.epochs_done, 1);
    cr_expect_eq(ck.train.seed, 7u);
    uint64_t h = fnv1a(0xcbf29ce484222325ull, ck.model.params, ck.model.n_params * sizeof(float));
    cr_expect_eq(h, TINY_PARAM_HASH, "parameter hash 0x%016llx", (unsigned long long)h);

    fx_tmpdir(dir, sizeof dir);
    snprintf(again, sizeof again, "%s/again.ckpt", dir);
    cr_assert_eq(ckpt_save(again, &ck.model, &ck.optim, &ck.train, ck.config_json, &ck.classes, &err), NN_OK,
                 "%s", err.msg);
    size_t a_len, b_len;
    char *a = ch_slurp(path, &a_len), *b = ch_slurp(again, &b_len);
    cr_assert(a && b);
    cr_expect(a_len == b_len && memcmp(a, b, a_len) == 0,
              "today's writer gives %zu bytes that differ from the fixture's %zu", b_len, a_len);
    free(a), free(b);
    remove(again), remove(dir);
    ckpt_free(&ck);
}

Test(compat, iotc_loads_with_its_logits_and_rewrites_to_the_same_bytes)
{
    char path[512];
    compat_path(path, sizeof path, "tiny.iotc");
    iotc_model f;
    nn_error err;
    iotc_init(&f);
    cr_assert_eq(iotc_load(&f, path, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(f.m.num_classes, 10);
    cr_expect_eq(f.m.in_c * f.m.in_h * f.m.in_w, 28 * 28);

    /* four fixed inputs: black, white, a ramp, a checkerboard */
    enum { N = 4, PIX = 28 * 28 };
    static uint8_t px[N * PIX];
    for (int i = 0; i < PIX; i++) {
        px[i] = 0;
        px[PIX + i] = 255;
        px[2 * PIX + i] = (uint8_t)(i * 255 / (PIX - 1));
        px[3 * PIX + i] = (uint8_t)(((i / 28 + i % 28) & 1) ? 255 : 0);
    }
    int8_t want[N * 10], got[N * 10];
    int8_t *scratch = malloc(qm_ref_scratch_bytes(&f.m));
    cr_assert_not_null(scratch);
    for (int n = 0; n < N; n++) { /* the last op's output is the logits */
        qm_ref_run(&f.m, px + n * PIX, scratch);
        memcpy(want + n * 10, qm_ref_tensor(&f.m, scratch, f.m.n_ops - 1), 10);
    }
    free(scratch);
    uint64_t h = fnv1a(0xcbf29ce484222325ull, want, sizeof want);
    cr_expect_eq(h, TINY_LOGIT_HASH, "logit hash 0x%016llx", (unsigned long long)h);

    rth_model rm;
    cr_assert_eq(rth_open(&rm, &f.m, RT_ISA_AUTO, &err), NN_OK, "%s", err.msg);
    void *arena = aligned_alloc(8, (rth_arena_bytes(&rm) + 7) / 8 * 8);
    cr_assert_not_null(arena);
    cr_assert_eq(rth_run(&rm, arena, px, N, got), NN_OK);
    cr_expect_arr_eq(got, want, sizeof want, "the runtime (%s) and the reference disagree",
                     rt_isa_name(rm.isa));
    free(arena);
    rth_close(&rm);

    size_t len;
    char *file = ch_slurp(path, &len);
    cr_assert_not_null(file);
    nn_wbuf w;
    nn_wbuf_init(&w);
    cr_assert_eq(iotc_encode(&f, &w, &err), NN_OK, "%s", err.msg);
    cr_expect(w.len == len && memcmp(w.data, file, len) == 0,
              "today's writer gives %zu bytes that differ from the fixture's %zu", w.len, len);
    nn_wbuf_free(&w);
    free(file);
    iotc_free(&f);
}
