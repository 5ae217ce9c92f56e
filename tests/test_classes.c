/* test_classes.c - a model's class names (format/classes.h): the CLSN
 * payload's rules and errors, and the names' way from a folder data set
 * through train, info, quantize and export; an old file without names
 * falls back to its data set's standard names. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "format/classes.h"
#include "format/ckpt.h"
#include "pipeline/pl_classes.h"
#include "cli_helpers.h"
#include "fixtures.h"

/* The payload of names[0..n) as cls_put writes it, then decoded. */
static nn_status roundtrip(const char *const *names, int n, int num_classes, cls_names *out,
                           nn_error *err)
{
    cls_names c;
    cr_assert_eq(cls_set(&c, names, n, err), NN_OK, "%s", err->msg);
    nn_wbuf w;
    nn_wbuf_init(&w);
    cls_put(&w, &c);
    nn_rbuf r;
    nn_rbuf_init(&r, w.data, w.len, 100, "m.iotc", "section CLSN");
    nn_status st = cls_get(&r, num_classes, out, err);
    nn_wbuf_free(&w);
    return st;
}

Test(classes, payload_round_trips_any_printable_name)
{
    const char *names[3] = {"cat", "say \"hi\" \\ back", "\xc3\xa9meu"}; /* UTF-8 é */
    cls_names back;
    nn_error err = {{0}};
    cr_assert_eq(roundtrip(names, 3, 3, &back, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(back.n, 3);
    for (int k = 0; k < 3; k++)
        cr_assert_str_eq(back.name[k], names[k]);
    char buf[16];
    cr_assert_str_eq(cls_name(&back, 1, buf, sizeof buf), names[1]);
    cr_assert_str_eq(cls_name(&back, 3, buf, sizeof buf), "class 3");
    cr_assert_str_eq(cls_name(NULL, 0, buf, sizeof buf), "class 0");
}

Test(classes, bad_names_are_refused_naming_the_class)
{
    cls_names c;
    nn_error err = {{0}};
    const char *empty[2] = {"a", ""}, *ctl[1] = {"a\tb"};
    char longname[80];
    memset(longname, 'x', 64), longname[64] = '\0';
    const char *toolong[1] = {longname};
    cr_assert_eq(cls_set(&c, empty, 2, &err), NN_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "class 1 name '' is empty"), "%s", err.msg);
    cr_assert_eq(cls_set(&c, ctl, 1, &err), NN_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "control character"), "%s", err.msg);
    cr_assert_eq(cls_set(&c, toolong, 1, &err), NN_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "longer than 63 bytes"), "%s", err.msg);
    cr_assert_eq(c.n, 0);
    longname[63] = '\0'; /* 63 bytes: the longest */
    cr_assert_eq(cls_set(&c, toolong, 1, &err), NN_OK, "%s", err.msg);
}

/* A CLSN payload from raw bytes, decoded for num_classes. */
static nn_status decode_raw(const uint8_t *p, size_t n, int num_classes, nn_error *err)
{
    nn_rbuf r;
    nn_rbuf_init(&r, p, n, 100, "m.iotc", "section CLSN");
    cls_names c;
    nn_status st = cls_get(&r, num_classes, &c, err);
    if (st != NN_OK)
        cr_assert_eq(c.n, 0, "a failed decode leaves no names");
    return st;
}

Test(classes, corrupt_payloads_fail_at_their_offset)
{
    nn_error err = {{0}};
    const uint8_t two[] = {2, 0, 0, 0, 1, 'a', 1, 'b'};
    cr_assert_eq(decode_raw(two, sizeof two, 2, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(decode_raw(two, sizeof two, 3, &err), NN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "offset 100"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "2 class names for a model of 3 classes"), "%s", err.msg);
    const uint8_t empty[] = {2, 0, 0, 0, 1, 'a', 0};
    cr_assert_eq(decode_raw(empty, sizeof empty, 2, &err), NN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "offset 106"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "class 1 name is empty"), "%s", err.msg);
    const uint8_t ctl[] = {1, 0, 0, 0, 2, 'a', 0x7f};
    cr_assert_eq(decode_raw(ctl, sizeof ctl, 1, &err), NN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "control character"), "%s", err.msg);
    uint8_t longp[5 + 64] = {1, 0, 0, 0, 64}; /* 64 bytes would overflow the name */
    memset(longp + 5, 'x', 64);
    cr_assert_eq(decode_raw(longp, sizeof longp, 1, &err), NN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "longer than 63 bytes"), "%s", err.msg);
    const uint8_t cut[] = {1, 0, 0, 0, 5, 'a', 'b'};
    cr_assert_eq(decode_raw(cut, sizeof cut, 1, &err), NN_ERR_FORMAT);
}

/* DIR/set/{train,test}/CLASS/ *.png of the classes below (12x12 gray). */
static const char *const folder_classes[3] = {"cat", "dog \"big\"", "\xc3\xa9meu"};

static void write_folder_set(const char *dir)
{
    char path[700];
    const char *split[2] = {"train", "test"};
    snprintf(path, sizeof path, "%s/set", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/set/%s", dir, split[s]);
        cr_assert_eq(mkdir(path, 0777), 0);
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/set/%s/%s", dir, split[s], folder_classes[k]);
            cr_assert_eq(mkdir(path, 0777), 0);
            for (int i = 0; i < 8; i++) {
                uint8_t px[144];
                for (int p = 0; p < 144; p++)
                    px[p] = (uint8_t)(p / 12 == 4 * k + i % 4 ? 220 : 10 + i);
                snprintf(path, sizeof path, "%s/set/%s/%s/%d.png", dir, split[s],
                         folder_classes[k], i);
                fx_write_png(path, 12, 12, PNG_COLOR_TYPE_GRAY, 8, px, 12, NULL, 0, 0);
            }
        }
    }
}

static void expect_names(const char *dir, const char *model, const char *source)
{
    char args[300];
    snprintf(args, sizeof args, "info -m %s --json", model);
    cJSON *j = ch_run_json(dir, args);
    const cJSON *a = ch_obj(j, "class_names");
    cr_assert_eq(cJSON_GetArraySize(a), 3, "%s", model);
    for (int k = 0; k < 3; k++)
        cr_assert_str_eq(cJSON_GetArrayItem(a, k)->valuestring, folder_classes[k]);
    cr_assert_str_eq(ch_obj(j, "class_names_source")->valuestring, source);
    cJSON_Delete(j);
}

Test(classes, folder_names_travel_from_the_data_to_the_firmware, .timeout = 120)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    write_folder_set(dir);
    ch_write_text(dir, "cfg.json",
                  "{\"data\": {\"dataset\": \"png\", \"dir\": \"set\"},"
                  " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3,"
                  " \"pad\": 1}, {\"type\": \"relu\"}, {\"type\": \"flatten\"},"
                  " {\"type\": \"dense\", \"units\": 3}]},"
                  " \"train\": {\"epochs\": 1, \"batch_size\": 8, \"lr\": 0.05}}");
    ch_run_ok(dir, "train -c cfg.json -o m.ckpt --threads 1");
    expect_names(dir, "m.ckpt", "stored");
    ch_result r = ch_run(dir, "info -m m.ckpt");
    cr_assert_not_null(strstr(r.out, "classes: cat, dog \"big\", \xc3\xa9meu\n"), "%s", r.out);
    ch_free(&r);
    ch_run_ok(dir, "quantize -c cfg.json -m m.ckpt -o m.iotc");
    expect_names(dir, "m.iotc", "stored");
    ch_run_ok(dir, "export -m m.iotc -o fw --name net");
    char path[700];
    snprintf(path, sizeof path, "%s/fw/net.h", dir);
    char *h = ch_slurp(path, NULL);
    cr_assert_not_null(strstr(h, "#define NET_CLASS_NAMES {\"cat\", \"dog \\\"big\\\"\", "
                                 "\"\xc3\xa9meu\"}"),
                       "%s", h);
    free(h);
    fx_rmtree(dir);
}

/* eval's correct count and images of the folder set/test's class k, from
 * the confusion matrix of an eval of all of it */
static void class_row(const char *dir, const char *model, int k, int *correct, int *n)
{
    char args[300];
    snprintf(args, sizeof args, "eval -m %s --data set/test --json", model);
    cJSON *j = ch_run_json(dir, args);
    const cJSON *row = cJSON_GetArrayItem(ch_obj(j, "confusion_matrix"), k);
    *n = 0;
    for (int p = 0; p < 3; p++)
        *n += (int)cJSON_GetArrayItem(row, p)->valuedouble;
    *correct = (int)cJSON_GetArrayItem(row, k)->valuedouble;
    cJSON_Delete(j);
}

Test(classes, eval_maps_a_folder_by_class_name_and_refuses_unknown_ones, .timeout = 120)
{
    char dir[64], cmd[400];
    fx_tmpdir(dir, sizeof dir);
    write_folder_set(dir);
    ch_write_text(dir, "cfg.json",
                  "{\"data\": {\"dataset\": \"png\", \"dir\": \"set\"},"
                  " \"model\": {\"layers\": [{\"type\": \"flatten\"},"
                  " {\"type\": \"dense\", \"units\": 3}]},"
                  " \"train\": {\"epochs\": 3, \"batch_size\": 8, \"lr\": 0.05}}");
    ch_run_ok(dir, "train -c cfg.json -o m.ckpt --threads 1");
    int correct, n;
    class_row(dir, "m.ckpt", 2, &correct, &n); /* class 2: the third folder */
    cr_assert_eq(n, 8);
    cr_assert_gt(correct, 0, "the model never gets the class right: a weak test");
    /* only that folder, as the only class of a set (its label would be 0 by
     * rank): scored as the model's class 2 */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/one' && cp -r '%s/set/test/%s' '%s/one/'", dir, dir,
             folder_classes[2], dir);
    cr_assert_eq(system(cmd), 0);
    cJSON *j = ch_run_json(dir, "eval -m m.ckpt --data one --json");
    cr_assert_eq((int)ch_num(j, "n"), 8);
    cr_assert_eq((int)ch_num(j, "correct"), correct, "a one-class folder scored by rank");
    cJSON_Delete(j);
    /* a class the model does not know */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/one/bird' && cp '%s/set/test/cat/0.png' '%s/one/bird/'",
             dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    ch_result r = ch_run(dir, "eval -m m.ckpt --data one");
    cr_assert_neq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "class 'bird' of the data is not one of the model's 3 "
                                     "classes ('cat', 'dog \"big\"', '\xc3\xa9meu')"),
                       "%s", r.err);
    ch_free(&r);
    fx_rmtree(dir);
}

Test(classes, a_file_without_names_uses_its_data_sets_standard_ones)
{
    /* tests/compat/tiny.ckpt predates CLSN; its stored config says mnist */
    char path[512];
    const char *here = __FILE__, *slash = strrchr(here, '/');
    snprintf(path, sizeof path, "%.*s/compat/tiny.ckpt", slash ? (int)(slash - here) : 1,
             slash ? here : ".");
    ckpt_file ck;
    nn_error err;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ck.classes.n, 0);
    cls_names c;
    cr_assert_eq(pl_ckpt_classes(&ck, &c), PL_CLASSES_STANDARD);
    cr_assert(c.n == 10 && strcmp(c.name[7], "7") == 0);
    /* saving names that do not fit the model is refused */
    const char *one[1] = {"x"};
    cls_names bad;
    cr_assert_eq(cls_set(&bad, one, 1, &err), NN_OK);
    cr_assert_eq(ckpt_save("/tmp/never.ckpt", &ck.model, NULL, NULL, NULL, &bad, &err),
                 NN_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "1 class names for a model of 10 classes"), "%s",
                       err.msg);
    ckpt_free(&ck);
}
