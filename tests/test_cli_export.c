/* test_cli_export.c - `iotcnn export` end to end: the folder it writes, its
 * JSON report, and the exported sources compiled by the host's cc into a
 * program (the README's example) whose logits equal the in-process runtime's
 * and the host engine's; usage and input errors. */
#include <criterion/criterion.h>

#include "format/iotc.h"
#include "cli_helpers.h"
#include "rt_models.h"

/* t's model saved as dir/NAME.iotc (data set mnist). */
static void save_iotc(const rtm *t, const char *dir, const char *name)
{
    iotc_model *f = malloc(sizeof *f);
    cr_assert_not_null(f);
    iotc_init(f);
    f->m = t->m; /* borrowed: not freed through f */
    nn_error err;
    iotc_set_meta(f, "dataset", "mnist", &err);
    char path[600];
    snprintf(path, sizeof path, "%s/%s.iotc", dir, name);
    cr_assert_eq(iotc_save(path, f, &err), NN_OK, "%s", err.msg);
    free(f);
}

/* A small sparse 4-bit model saved as dir/m.iotc; returns it (the caller
 * frees). */
static rtm *save_model(const char *dir)
{
    rtm *t = rtm_new(1, 12, 12);
    int x = rtm_conv(t, QM_INPUT, 8, 3, 1, 1, 1, 8, 0);
    x = rtm_conv(t, x, 8, 3, 1, 1, 1, 4, 0.6);
    x = rtm_pool(t, QM_MAXPOOL, x, 2, 2, 0);
    rtm_dense(t, x, 10, 0, 4, 0.8);
    rtm_finish(t, 21);
    save_iotc(t, dir, "m");
    return t;
}

/* dir/main.c and the exported sources built by the host's cc and run: its
 * output (the caller frees). */
static char *cc_run(const char *dir, const char *includes, const char *sources)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cc -std=c99 -O1 -Wall -Wextra -Werror %s -o example main.c %s "
             "> cc.log 2>&1 && ./example > example.out",
             dir, includes, sources);
    cr_assert_eq(system(cmd), 0, "the exported folder does not build or run (see %s/cc.log)", dir);
    char epath[700];
    snprintf(epath, sizeof epath, "%s/example.out", dir);
    return ch_slurp(epath, NULL);
}

Test(cli_export, folder_json_and_a_host_build_of_the_example)
{
    char dir[512];
    fx_tmpdir(dir, sizeof dir);
    rtm *t = save_model(dir);
    cJSON *j = ch_run_json(dir, "export -m m.iotc -o out --name net --target generic --json");
    const double image = ch_num(j, "image_bytes"), arena = ch_num(j, "arena_bytes");
    cr_assert_gt(image, 0);
    cr_assert_gt(arena, 0);
    cr_assert_geq(arena, ch_num(j, "arena_lower_bound"));
    cr_assert_eq(ch_num(j, "macs"), (double)qm_model_macs(&t->m));
    cr_assert_lt(ch_num(j, "nonzero_macs"), ch_num(j, "macs"));
    cr_assert_eq(ch_num(j, "verified_inputs"), 16);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "layers")));
    cr_assert_str_eq(cJSON_GetObjectItem(j, "target")->valuestring, "generic");
    char out[600];
    snprintf(out, sizeof out, "%s/out", dir);
    const char *files[] = {"net.c", "net.h", "rt_config.h", "rt.h", "rt_image.h", "rt_internal.h",
                           "rt_run.c", "rt_image.c", "rt_conv.c", "rt_dense.c", "rt_pool.c",
                           "README.md"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        cr_assert(ch_exists(out, files[i]), "%s missing", files[i]);
    char hpath[700];
    snprintf(hpath, sizeof hpath, "%s/net.h", out);
    char *h = ch_slurp(hpath, NULL);
    char want[64];
    snprintf(want, sizeof want, "#define NET_ARENA_BYTES %.0f", arena);
    cr_assert(strstr(h, want), "net.h lacks '%s'", want);
    cr_assert(strstr(h, "#define NET_CLASS_NAMES {\"0\", \"1\""), "net.h: class names");
    free(h);
    cJSON_Delete(j);

    /* the README's example, built from the folder alone by the host's cc */
    ch_write_text(dir, "main.c",
                  "#include <stdio.h>\n#include \"net.h\"\n"
                  "static uint8_t arena[NET_ARENA_BYTES] __attribute__((aligned(8)));\n"
                  "int main(void)\n{\n"
                  "    uint8_t px[NET_INPUT_BYTES];\n    int8_t lg[NET_NUM_CLASSES];\n"
                  "    for (int i = 0; i < NET_INPUT_BYTES; i++) px[i] = (uint8_t)(i * 37 + 11);\n"
                  "    if (rt_image_check(net_image, NET_IMAGE_BYTES, NULL) != RT_OK) return 3;\n"
                  "    if (rt_run(net_image, arena, sizeof arena, px, lg) != RT_OK) return 4;\n"
                  "    for (int k = 0; k < NET_NUM_CLASSES; k++) printf(\"%d \", lg[k]);\n"
                  "    return 0;\n}\n");
    char *got = cc_run(dir, "-Iout", "out/*.c");
    uint8_t px[144];
    for (int i = 0; i < 144; i++)
        px[i] = (uint8_t)(i * 37 + 11);
    int8_t *want_l = rtm_qref(&t->m, px, 1);
    char expect[256] = "";
    for (int k = 0; k < t->m.num_classes; k++)
        snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "%d ", want_l[k]);
    cr_assert_str_eq(got, expect);
    free(got), free(want_l);
    rtm_free(t);
}

/* A dense 4-bit conv of in_c channels between an 8-bit conv and a dense
 * layer, saved as dir/NAME.iotc. */
static void save_s4_model(const char *dir, const char *name, int in_c)
{
    rtm *t = rtm_new(1, 10, 10);
    int x = rtm_conv(t, QM_INPUT, in_c, 3, 1, 1, 1, 8, 0);
    x = rtm_conv(t, x, 8, 3, 1, 1, 1, 4, 0);
    rtm_dense(t, x, 10, 0, 8, 0);
    rtm_finish(t, 5);
    save_iotc(t, dir, name);
    rtm_free(t);
}

/* A DSP target's export compiles the S4 bodies other than the S8 passes
 * only when a 4-bit conv needs them (in_c not a multiple of 8), and a
 * runtime built without them refuses an image that needs them. */
Test(cli_export, s4_bodies_only_when_a_layer_needs_them)
{
    char dir[512];
    fx_tmpdir(dir, sizeof dir);
    save_s4_model(dir, "a", 8); /* its S4 conv: in_c 8, the passes */
    save_s4_model(dir, "b", 6); /* in_c 6: the panel body */
    const char *names[2] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "export -m %s.iotc -o out_%s --name %s --target cortex-m4 --json",
                 names[i], names[i], names[i]);
        cJSON *j = ch_run_json(dir, cmd);
        const cJSON *l1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "layers"), 1);
        cr_assert_str_eq(cJSON_GetObjectItem(l1, "format")->valuestring, "s4", "%s", names[i]);
        cJSON_Delete(j);
        char path[700];
        snprintf(path, sizeof path, "%s/out_%s/rt_config.h", dir, names[i]);
        char *cfg = ch_slurp(path, NULL);
        const char *want = i == 0 ? "#define RT_WITH_CONV_S4_PANEL 0"
                                  : "#define RT_WITH_CONV_S4_PANEL 1";
        cr_assert(strstr(cfg, want), "%s: no '%s' in\n%s", names[i], want, cfg);
        free(cfg);
    }
    /* a's runtime (the host's cc: its C bodies, a's rt_config.h) with both
     * images: a's checks and runs, b's is refused for its S4 layer */
    ch_write_text(dir, "main.c",
                  "#include <stdio.h>\n#include \"a.h\"\n#include \"b.h\"\n"
                  "static uint8_t arena[A_ARENA_BYTES] __attribute__((aligned(8)));\n"
                  "int main(void)\n{\n"
                  "    uint8_t px[A_INPUT_BYTES] = {0};\n    int8_t lg[A_NUM_CLASSES];\n"
                  "    rt_info info;\n"
                  "    printf(\"%d %d \", (int)rt_image_check(a_image, A_IMAGE_BYTES, NULL),\n"
                  "           (int)rt_run(a_image, arena, sizeof arena, px, lg));\n"
                  "    printf(\"%d\", (int)rt_image_check(b_image, B_IMAGE_BYTES, &info));\n"
                  "    return 0;\n}\n");
    char *got = cc_run(dir, "-Iout_a -Iout_b", "out_a/*.c out_b/b.c"), want[64];
    snprintf(want, sizeof want, "%d %d %d", RT_OK, RT_OK, RT_E_UNSUPPORTED);
    cr_assert_str_eq(got, want);
    free(got);
}

/* The json of `export -m w.iotc` with ARGS (into out_TAG), and TAG's
 * rt_config.h. */
static cJSON *export_json(const char *dir, const char *tag, const char *args, char **cfg)
{
    char cmd[300], path[700];
    snprintf(cmd, sizeof cmd, "export -m w.iotc -o out_%s --name w --json %s", tag, args);
    cJSON *j = ch_run_json(dir, cmd);
    snprintf(path, sizeof path, "%s/out_%s/rt_config.h", dir, tag);
    *cfg = ch_slurp(path, NULL);
    return j;
}

/* the json's layer i has `key` true ("winograd", "widened") */
static int layer_is(const cJSON *j, int i, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "layers"), i),
                                            key));
}

/* --arena-limit: by default the Winograd body takes a stride-1 3x3 conv
 * only where its scratch leaves the arena of the direct bodies (the M55's,
 * whose S8 layers never take it); a larger limit lets it grow the arena,
 * and the export says which layers took it (the table's '*', the json's
 * "winograd", RT_WITH_WINO); a layer it would not speed up stays direct. */
Test(cli_export, arena_limit_and_the_winograd_body)
{
    char dir[512];
    fx_tmpdir(dir, sizeof dir);
    rtm *t = rtm_new(1, 12, 12);
    int x = rtm_conv(t, QM_INPUT, 16, 3, 1, 1, 1, 8, 0);
    x = rtm_conv(t, x, 16, 3, 1, 1, 1, 8, 0); /* op 1: Winograd's */
    rtm_dense(t, x, 10, 0, 8, 0);
    rtm_finish(t, 9);
    save_iotc(t, dir, "w");
    rtm_free(t);
    char *c55, *c4, *cbig, *cgen;
    cJSON *m55 = export_json(dir, "m55", "--target cortex-m55", &c55);
    cJSON *m4 = export_json(dir, "m4", "--target cortex-m4", &c4);
    cJSON *big = export_json(dir, "big", "--target cortex-m4 --arena-limit 1000000", &cbig);
    cJSON *gen = export_json(dir, "gen", "--target generic --arena-limit 1000000", &cgen);
    const double direct = ch_num(m55, "arena_bytes");
    cr_assert_eq(ch_num(m4, "arena_bytes"), direct);
    cr_assert_gt(ch_num(big, "arena_bytes"), direct);
    cr_assert_leq(ch_num(big, "arena_bytes"), 1000000);
    cr_assert(layer_is(big, 1, "winograd"));
    cr_assert_not(layer_is(big, 0, "winograd")); /* in_c 1 */
    cr_assert_not(layer_is(m55, 1, "winograd"));
    cr_assert_not(layer_is(gen, 1, "winograd"));
    cr_assert(strstr(cbig, "#define RT_WITH_WINO 1"), "%s", cbig);
    cr_assert(strstr(cgen, "#define RT_WITH_WINO 0"), "%s", cgen);
    cr_assert(strstr(c55, "#define RT_WITH_WINO 0"), "%s", c55);
    cr_assert(strstr(c4, layer_is(m4, 1, "winograd") ? "#define RT_WITH_WINO 1" : "#define RT_WITH_WINO 0"));
    cJSON_Delete(m55), cJSON_Delete(m4), cJSON_Delete(big), cJSON_Delete(gen);
    free(c55), free(c4), free(cbig), free(cgen);
    /* a 2x2 output: one tile per output channel cannot pay for the
     * transform of its weights, so the exporter leaves it direct */
    t = rtm_new(1, 2, 2);
    x = rtm_conv(t, QM_INPUT, 64, 1, 1, 0, 1, 8, 0);
    x = rtm_conv(t, x, 16, 3, 1, 1, 1, 8, 0);
    rtm_dense(t, x, 10, 0, 8, 0);
    rtm_finish(t, 10);
    save_iotc(t, dir, "w");
    rtm_free(t);
    cJSON *small = export_json(dir, "small", "--target cortex-m4 --arena-limit 1000000", &cbig);
    cr_assert_not(layer_is(small, 1, "winograd"));
    cr_assert(strstr(cbig, "#define RT_WITH_WINO 0"), "%s", cbig);
    cJSON_Delete(small);
    free(cbig);
}

/* S4 convs widened to S8 in their scratch: on the DSP cores (not the M55)
 * where the arena limit allows it; a stride-1 3x3 one instead by Winograd,
 * which widens a row at a time (RT_WITH_WINO_S4); with every S4 conv
 * widened or Winograd's the S4 bodies compile out (RT_WITH_CONV_S4 0) and
 * the S8 ones stay in; the table marks them. */
Test(cli_export, widened_s4_convs)
{
    char dir[512];
    fx_tmpdir(dir, sizeof dir);
    rtm *t = rtm_new(1, 24, 24);
    int x = rtm_conv(t, QM_INPUT, 16, 3, 1, 1, 1, 8, 0);
    x = rtm_conv(t, x, 32, 3, 2, 1, 1, 4, 0); /* op 1 */
    x = rtm_conv(t, x, 32, 3, 1, 1, 1, 4, 0); /* op 2: Winograd's too */
    rtm_dense(t, x, 10, 0, 8, 0);
    rtm_finish(t, 9);
    save_iotc(t, dir, "w");
    rtm_free(t);
    char *c55, *cbig;
    cJSON *m55 = export_json(dir, "m55", "--target cortex-m55 --arena-limit 1000000", &c55);
    cJSON *big = export_json(dir, "big", "--target cortex-m4 --arena-limit 1000000", &cbig);
    cr_assert(layer_is(big, 1, "widened"));
    cr_assert_not(layer_is(big, 2, "widened")); /* Winograd's, a row at a time */
    for (int i = 1; i <= 2; i++)
        cr_assert_not(layer_is(m55, i, "widened"), "op %d", i);
    cr_assert_not(layer_is(big, 0, "widened")); /* S8 */
    cr_assert(layer_is(big, 2, "winograd"));
    cr_assert_not(layer_is(big, 1, "winograd")); /* stride 2 */
    cr_assert(strstr(cbig, "#define RT_WITH_CONV_S4 0"), "%s", cbig);
    cr_assert(strstr(cbig, "#define RT_WITH_WINO_S4 1"), "%s", cbig);
    cr_assert(strstr(c55, "#define RT_WITH_WINO_S4 0"), "%s", c55);
    cr_assert(strstr(cbig, "#define RT_WITH_CONV_S8 1"), "%s", cbig);
    cr_assert(strstr(cbig, "#define RT_WITH_CONV_S4_WIDEN 1"), "%s", cbig);
    cr_assert(strstr(c55, "#define RT_WITH_CONV_S4 1"), "%s", c55);
    cr_assert(strstr(c55, "#define RT_WITH_CONV_S4_WIDEN 0"), "%s", c55);
    /* ReLU convs whose zero points are above -128: the clamped bodies */
    cr_assert(strstr(cbig, "#define RT_WITH_CONV_LO 1"), "%s", cbig);
    cJSON_Delete(m55), cJSON_Delete(big);
    free(c55), free(cbig);
    ch_result r = ch_run(dir, "export -m w.iotc -o out_t --target cortex-m7 --arena-limit 1000000");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "s4>8 "), "%s", r.out);
    cr_assert(strstr(r.out, "s4* "), "%s", r.out);
    cr_assert(strstr(r.out, "S4>8: S4 weights widened"), "%s", r.out);
    ch_free(&r);
    /* a 1x1 output: too few outputs per weight to pay for widening; no
     * ReLU, so no clamp above -128 */
    t = rtm_new(1, 2, 2);
    x = rtm_conv(t, QM_INPUT, 16, 1, 1, 0, 0, 8, 0);
    x = rtm_conv(t, x, 32, 3, 2, 1, 0, 4, 0);
    rtm_dense(t, x, 10, 0, 8, 0);
    rtm_finish(t, 10);
    save_iotc(t, dir, "w");
    rtm_free(t);
    cJSON *small = export_json(dir, "small", "--target cortex-m4 --arena-limit 1000000", &cbig);
    cr_assert_not(layer_is(small, 1, "widened"));
    cr_assert(strstr(cbig, "#define RT_WITH_CONV_S4 1"), "%s", cbig);
    cr_assert(strstr(cbig, "#define RT_WITH_CONV_LO 0"), "%s", cbig);
    cJSON_Delete(small);
    free(cbig);
}

Test(cli_export, usage_and_input_errors)
{
    char dir[512];
    fx_tmpdir(dir, sizeof dir);
    rtm *t = save_model(dir);
    const struct {
        const char *args;
        int status;
        const char *msg;
    } cases[] = {
        {"export -m m.iotc", 2, "an output folder is required"},
        {"export -o out", 2, "a model is required"},
        {"export -m m.iotc -o out --target cortex-a53", 2, "--target"},
        {"export -m m.iotc -o out --name 9lives", 2, "not a C identifier"},
        {"export -m m.iotc -o out --sparse sometimes", 2, "--sparse"},
        {"export -m m.iotc -o out --arena-limit -1", 2, "--arena-limit"},
        {"export -m missing.iotc -o out", 1, "missing.iotc"},
        {"export -m m.iotc -o out --bogus", 2, "unknown option '--bogus' for 'export'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ch_result r = ch_run(dir, cases[i].args);
        cr_assert_eq(r.status, cases[i].status, "%s: status %d, stderr %s", cases[i].args, r.status,
                     r.err);
        cr_assert(strstr(r.err, cases[i].msg), "%s: stderr lacks '%s': %s", cases[i].args,
                  cases[i].msg, r.err);
        ch_free(&r);
    }
    /* every target exports; the Cortex-M ones choose sparse formats */
    const char *targets[] = {"cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"};
    for (size_t i = 0; i < 5; i++) {
        char args[200];
        snprintf(args, sizeof args, "export -m m.iotc -o o%zu --target %s --verify 2 --json", i,
                 targets[i]);
        ch_result r = ch_run(dir, args);
        cr_assert_eq(r.status, 0, "%s: %s", targets[i], r.err);
        cr_assert(strstr(r.out, "\"format\":\"sp4\""), "%s: no sp4 layer", targets[i]);
        ch_free(&r);
    }
    rtm_free(t);
}
