/* cifar.c - CIFAR-10 binary batches: records of 1 label byte + 3072 pixels
 * (R plane, G plane, B plane, 32x32 row-major each). The record layout is
 * already CHW, so a record is copied as is. Plain or gzip files. */
#include "ds.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ds_io.h"

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE) /* 3072 */
#define CIFAR_RECORD (1 + CIFAR_PIXELS)            /* 3073 */
#define CIFAR_CLASSES 10
#define CIFAR_CHUNK 1024 /* records per read from a plain file: 3 MB */

typedef unsigned long long ull;

/* Appends `count` records from rec (count * 3073 bytes; the first of them is
 * record `first` of path) to images/labels at index `at`. */
static int take_records(uint8_t *images, uint8_t *labels, size_t at, const uint8_t *rec,
                        size_t count, size_t first, const char *path, nn_error *err)
{
    for (size_t i = 0; i < count; i++, rec += CIFAR_RECORD) {
        if (rec[0] >= CIFAR_CLASSES)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "%s: label %u at byte %llu (record %zu) out of range: expected "
                             "0..%d (not a CIFAR-10 binary batch?)",
                             path, (unsigned)rec[0], (ull)(first + i) * CIFAR_RECORD, first + i,
                             CIFAR_CLASSES - 1);
        labels[at + i] = rec[0];
        memcpy(images + (at + i) * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
    }
    return NN_OK;
}

static int check_length(const char *path, uint64_t len, nn_error *err)
{
    if (len == 0)
        return nn_errorf(err, NN_ERR_FORMAT,
                         "%s: empty file (expected %d-byte records: 1 label + %d pixels)", path,
                         CIFAR_RECORD, CIFAR_PIXELS);
    if (len % CIFAR_RECORD)
        return nn_errorf(err, NN_ERR_FORMAT,
                         "%s: truncated at byte %llu: expected %d-byte records (1 label + %d "
                         "pixels), the last one has %llu bytes",
                         path, (ull)len, CIFAR_RECORD, CIFAR_PIXELS,
                         (ull)(len % CIFAR_RECORD));
    return NN_OK;
}

/* Grows images/labels to hold `n` records. */
static int grow(ds_dataset *d, size_t n, const char *path, nn_error *err)
{
    uint8_t *im = realloc(d->images, n * CIFAR_PIXELS);
    if (!im)
        return nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate %zu images", path, n);
    d->images = im;
    uint8_t *lb = realloc(d->labels, n);
    if (!lb)
        return nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate %zu labels", path, n);
    d->labels = lb;
    return NN_OK;
}

/* len bytes of records from path, to go after the `at` images d holds:
 * checks the length and the total count, grows d, and says how many
 * records in *count. */
static int make_room(ds_dataset *d, size_t at, uint64_t len, size_t *count, const char *path,
                     nn_error *err)
{
    int rc = check_length(path, len, err);
    if (rc != NN_OK)
        return rc;
    *count = (size_t)(len / CIFAR_RECORD);
    if (*count > (size_t)INT_MAX - at)
        return nn_errorf(err, NN_ERR_FORMAT, "%s: too many records (%zu) in total", path,
                         *count + at);
    return grow(d, at + *count, path, err);
}

/* Appends every record of one batch file to d. */
static int load_one(ds_dataset *d, const char *path, nn_error *err)
{
    ds_reader r;
    uint8_t *buf = NULL;
    int rc = ds_reader_open(&r, path, err);
    if (rc != NN_OK)
        return rc;
    size_t at = (size_t)d->n, count;
    if (!r.is_gz) {
        /* Size known: validate it, then stream records in chunks. */
        rc = make_room(d, at, r.size, &count, path, err);
        if (rc != NN_OK)
            goto done;
        size_t chunk = count < CIFAR_CHUNK ? count : CIFAR_CHUNK;
        buf = malloc(chunk * CIFAR_RECORD);
        if (!buf) {
            rc = nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate a read buffer", path);
            goto done;
        }
        for (size_t done_recs = 0; done_recs < count;) {
            size_t k = count - done_recs < chunk ? count - done_recs : chunk;
            rc = ds_reader_expect(&r, buf, k * CIFAR_RECORD, "record bytes", err);
            if (rc != NN_OK)
                goto done;
            rc = take_records(d->images, d->labels, at + done_recs, buf, k, done_recs, path, err);
            if (rc != NN_OK)
                goto done;
            done_recs += k;
        }
        rc = ds_reader_expect_eof(&r, "last record", err); /* the file grew meanwhile? */
    } else {
        size_t len = 0;
        rc = ds_reader_read_rest(&r, &buf, &len, err);
        if (rc != NN_OK)
            goto done;
        rc = make_room(d, at, len, &count, path, err);
        if (rc != NN_OK)
            goto done;
        rc = take_records(d->images, d->labels, at, buf, count, 0, path, err);
    }
    if (rc == NN_OK)
        d->n = (int)(at + count);
done:
    free(buf);
    ds_reader_close(&r);
    return rc;
}

int ds_load_cifar10_bin(ds_dataset *out, const char *const *paths, int n_paths, nn_error *err)
{
    if (!out)
        return nn_errorf(err, NN_ERR_ARG, "ds_load_cifar10_bin: out is NULL");
    memset(out, 0, sizeof *out);
    if (!paths || n_paths <= 0)
        return nn_errorf(err, NN_ERR_ARG, "ds_load_cifar10_bin: no batch files given");
    for (int i = 0; i < n_paths; i++) {
        if (!paths[i]) {
            ds_free(out);
            return nn_errorf(err, NN_ERR_ARG, "ds_load_cifar10_bin: path %d is NULL", i);
        }
        int rc = load_one(out, paths[i], err);
        if (rc != NN_OK) {
            ds_free(out);
            return rc;
        }
    }
    out->c = 3;
    out->h = CIFAR_SIDE;
    out->w = CIFAR_SIDE;
    out->num_classes = CIFAR_CLASSES;
    return NN_OK;
}
