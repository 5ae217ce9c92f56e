/* idx.c - IDX image/label files (MNIST, Fashion-MNIST), plain or gzip.
 *
 * Layout (big-endian): images = magic 0x00000803, n, h, w, then n*h*w bytes;
 * labels = magic 0x00000801, n, then n bytes. Both headers are read and
 * cross-checked before any pixel is allocated. */
#include "ds.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ds_io.h"

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned byte, 3 dims */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned byte, 1 dim  */
#define IDX_MAX_SIDE 32768u
#define IDX_NUM_CLASSES 10

typedef unsigned long long ull;

/* Names the IDX file a magic belongs to, so a swapped argument is obvious. */
static const char *magic_hint(uint32_t magic)
{
    switch (magic) {
    case IDX_IMAGES_MAGIC: return " (this is an IDX images file: images and labels swapped?)";
    case IDX_LABELS_MAGIC: return " (this is an IDX labels file: images and labels swapped?)";
    }
    if ((magic >> 16) == 0x1f8b)
        return " (looks like gzip data that did not decompress)";
    if ((magic >> 16) == 0)
        return " (an IDX file of another element type or rank)";
    return " (not an IDX file)";
}

static int bad_magic(const char *path, uint32_t got, uint32_t want, const char *kind,
                     nn_error *err)
{
    return nn_errorf(err, NN_ERR_FORMAT,
                     "%s: bad magic 0x%08x at byte 0: expected 0x%08x (IDX %s)%s", path,
                     (unsigned)got, (unsigned)want, kind, magic_hint(got));
}

/* Reads an n-byte header; the magic is checked as soon as its 4 bytes are
 * there, so a short file of the wrong kind gets the "bad magic" hint rather
 * than "truncated". */
static int read_header(ds_reader *r, uint8_t *hdr, size_t n, uint32_t want, const char *kind,
                       const char *what, nn_error *err)
{
    size_t got = 0;
    int rc = ds_reader_read(r, hdr, n, &got, err);
    if (rc != NN_OK)
        return rc;
    if (got >= 4 && ds_be32(hdr) != want)
        return bad_magic(r->path, ds_be32(hdr), want, kind, err);
    if (got < n) {
        if (r->is_gz)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "%s: truncated at byte %zu of decompressed data: expected %zu %s "
                             "from byte 0",
                             r->path, got, n, what);
        return nn_errorf(err, NN_ERR_FORMAT,
                         "%s: truncated at byte %zu: expected %zu %s from byte 0, file has %zu "
                         "bytes",
                         r->path, got, n, what, got);
    }
    return NN_OK;
}

int ds_load_idx(ds_dataset *out, const char *images_path, const char *labels_path, nn_error *err)
{
    if (!out)
        return nn_errorf(err, NN_ERR_ARG, "ds_load_idx: out is NULL");
    memset(out, 0, sizeof *out);
    if (!images_path || !labels_path)
        return nn_errorf(err, NN_ERR_ARG, "ds_load_idx: images and labels paths are required");

    ds_reader ri, rl;
    uint8_t *pixels = NULL, *labels = NULL;
    int rc = ds_reader_open(&ri, images_path, err);
    if (rc != NN_OK)
        return rc;
    rc = ds_reader_open(&rl, labels_path, err);
    if (rc != NN_OK) {
        ds_reader_close(&ri);
        return rc;
    }

    /* (1) Both headers, validated before anything large is allocated. */
    uint8_t hi[16], hl[8];
    rc = read_header(&ri, hi, sizeof hi, IDX_IMAGES_MAGIC, "unsigned-byte images, 3 dims",
                     "IDX images header bytes", err);
    if (rc != NN_OK)
        goto fail;
    uint32_t n = ds_be32(hi + 4), h = ds_be32(hi + 8), w = ds_be32(hi + 12);
    if (n == 0 || n > (uint32_t)INT_MAX || h == 0 || h > IDX_MAX_SIDE || w == 0 ||
        w > IDX_MAX_SIDE) {
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: bad IDX header at byte 4: %u images of %ux%u pixels (expected 1..%d "
                       "images of at most %ux%u)",
                       images_path, (unsigned)n, (unsigned)h, (unsigned)w, INT_MAX, IDX_MAX_SIDE,
                       IDX_MAX_SIDE);
        goto fail;
    }
    rc = read_header(&rl, hl, sizeof hl, IDX_LABELS_MAGIC, "unsigned-byte labels, 1 dim",
                     "IDX labels header bytes", err);
    if (rc != NN_OK)
        goto fail;
    uint32_t ln = ds_be32(hl + 4);
    if (ln != n) {
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: header at byte 4 says %u labels, but %s has %u images (count "
                       "mismatch: files from different sets?)",
                       labels_path, (unsigned)ln, images_path, (unsigned)n);
        goto fail;
    }

    /* (2) Pixels (n, 1, h, w): IDX rows are already CHW for one channel.
     * n*h*w < 2^31 * 2^30 fits in 64 bits; the reader caps it further. */
    uint64_t npix = (uint64_t)n * h * w;
    if (npix > SIZE_MAX) {
        rc = nn_errorf(err, NN_ERR_FORMAT, "%s: %llu pixels do not fit in memory", images_path,
                       (ull)npix);
        goto fail;
    }
    rc = ds_reader_expect_alloc(&ri, &pixels, (size_t)npix, "pixel bytes", err);
    if (rc != NN_OK)
        goto fail;
    rc = ds_reader_expect_eof(&ri, "pixel data", err);
    if (rc != NN_OK)
        goto fail;

    /* (3) Labels, each checked with the byte offset it came from. */
    rc = ds_reader_expect_alloc(&rl, &labels, n, "label bytes", err);
    if (rc != NN_OK)
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        if (labels[i] >= IDX_NUM_CLASSES) {
            rc = nn_errorf(err, NN_ERR_FORMAT,
                           "%s: label %u at byte %llu (item %u) out of range: expected 0..%d",
                           labels_path, (unsigned)labels[i], (ull)sizeof hl + i, (unsigned)i,
                           IDX_NUM_CLASSES - 1);
            goto fail;
        }
    }
    rc = ds_reader_expect_eof(&rl, "label data", err);
    if (rc != NN_OK)
        goto fail;

    ds_reader_close(&ri);
    ds_reader_close(&rl);
    out->n = (int)n;
    out->c = 1;
    out->h = (int)h;
    out->w = (int)w;
    out->num_classes = IDX_NUM_CLASSES;
    out->images = pixels;
    out->labels = labels;
    out->class_names = NULL;
    return NN_OK;

fail:
    free(pixels);
    free(labels);
    ds_reader_close(&ri);
    ds_reader_close(&rl);
    return rc;
}
