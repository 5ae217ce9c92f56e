/* ds_shard.c - chosen images of IDX and CIFAR-10 files, by offset (ds_shard.h). */
#include "ds_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ds_io.h"

#define SHARD_IDX_MAGIC 0x00000803u
#define SHARD_IDX_LABELS_MAGIC 0x00000801u
#define SHARD_CIFAR_SIDE 32
#define SHARD_CIFAR_PIXELS (3 * SHARD_CIFAR_SIDE * SHARD_CIFAR_SIDE)

typedef unsigned long long ull;

/* Opens path as the next file of s; its size in *size. */
static int add_file(ds_shard *s, const char *path, uint64_t *size, nn_error *err)
{
    if (s->n_files == DS_SHARD_MAX_FILES)
        return nn_errorf(err, NN_ERR_ARG, "%s: more than %d files", path, DS_SHARD_MAX_FILES);
    ds_shard_file *f = &s->file[s->n_files];
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path)
        return nn_errorf(err, NN_ERR_ARG, "%s: path too long", path);
    struct stat st;
    if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(f->fd, &st) != 0)
        return nn_errorf(err, NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    s->n_files++;
    *size = (uint64_t)st.st_size;
    return NN_OK;
}

/* Exactly len bytes at off, or NN_ERR_FORMAT naming what was there. */
static int read_at(const ds_shard_file *f, void *buf, size_t len, uint64_t off, const char *what,
                   nn_error *err)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(f->fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return nn_errorf(err, NN_ERR_IO, "%s: read error at byte %llu: %s", f->path,
                             (ull)(off + got), strerror(errno));
        if (r == 0)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "%s: truncated at byte %llu: expected %zu bytes of %s from byte %llu",
                             f->path, (ull)(off + got), len, what, (ull)off);
        got += (size_t)r;
    }
    return NN_OK;
}

int ds_shard_open_idx(ds_shard *s, const char *images_path, nn_error *err)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < DS_SHARD_MAX_FILES; i++)
        s->file[i].fd = -1;
    uint64_t size = 0;
    uint8_t hdr[16];
    int rc = add_file(s, images_path, &size, err);
    if (rc == NN_OK)
        rc = read_at(&s->file[0], hdr, 2, 0, "IDX header", err);
    if (rc == NN_OK && hdr[0] == 0x1f && hdr[1] == 0x8b)
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: gzip data; a distributed run reads images by offset, which a gzip "
                       "stream does not allow: gunzip it once (gunzip -k %s)",
                       images_path, images_path);
    if (rc == NN_OK)
        rc = read_at(&s->file[0], hdr, sizeof hdr, 0, "IDX header", err);
    if (rc == NN_OK && ds_be32(hdr) != SHARD_IDX_MAGIC)
        rc = nn_errorf(err, NN_ERR_FORMAT, "%s: bad magic 0x%08x at byte 0: expected 0x%08x (IDX images)",
                       images_path, (unsigned)ds_be32(hdr), SHARD_IDX_MAGIC);
    if (rc != NN_OK) {
        ds_shard_close(s);
        return rc;
    }
    uint32_t n = ds_be32(hdr + 4), h = ds_be32(hdr + 8), w = ds_be32(hdr + 12);
    uint64_t want = 16 + (uint64_t)n * h * w;
    if (n > INT32_MAX || h == 0 || w == 0 || h > 32768 || w > 32768 || want != size) {
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: %llu bytes, but its header (%u images of %ux%u) says %llu: truncated "
                       "or not this file",
                       images_path, (ull)size, (unsigned)n, (unsigned)h, (unsigned)w, (ull)want);
        ds_shard_close(s);
        return rc;
    }
    s->file[0].first = 16, s->file[0].stride = (uint64_t)h * w, s->file[0].n = (int)n;
    s->n = (int)n, s->c = 1, s->h = (int)h, s->w = (int)w;
    return NN_OK;
}

int ds_shard_open_cifar10(ds_shard *s, const char *const *paths, int n_paths, nn_error *err)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < DS_SHARD_MAX_FILES; i++)
        s->file[i].fd = -1;
    const uint64_t rec = 1 + SHARD_CIFAR_PIXELS;
    for (int i = 0; i < n_paths; i++) {
        uint64_t size = 0;
        int rc = add_file(s, paths[i], &size, err);
        if (rc == NN_OK && (size % rec != 0 || size / rec > (uint64_t)(INT32_MAX - s->n)))
            rc = nn_errorf(err, NN_ERR_FORMAT,
                           "%s: %llu bytes is not a whole number of %llu-byte CIFAR-10 records: "
                           "truncated at byte %llu",
                           paths[i], (ull)size, (ull)rec, (ull)(size - size % rec));
        if (rc != NN_OK) {
            ds_shard_close(s);
            return rc;
        }
        ds_shard_file *f = &s->file[s->n_files - 1];
        f->first = 1, f->stride = rec, f->n = (int)(size / rec);
        s->n += f->n;
    }
    s->c = 3, s->h = SHARD_CIFAR_SIDE, s->w = SHARD_CIFAR_SIDE;
    return NN_OK;
}

int ds_shard_read(ds_shard *s, const uint32_t *index, int n, uint8_t *out, nn_error *err)
{
    size_t bytes = (size_t)s->c * (size_t)s->h * (size_t)s->w;
    for (int i = 0; i < n; i++) {
        if (index[i] >= (uint32_t)s->n)
            return nn_errorf(err, NN_ERR_ARG, "image %u of a set of %d", (unsigned)index[i], s->n);
        uint32_t k = index[i];
        int f = 0;
        while (k >= (uint32_t)s->file[f].n)
            k -= (uint32_t)s->file[f++].n;
        const ds_shard_file *sf = &s->file[f];
        char what[48];
        snprintf(what, sizeof what, "image %u", (unsigned)k);
        int rc = read_at(sf, out + (size_t)i * bytes, bytes, sf->first + (uint64_t)k * sf->stride,
                         what, err);
        if (rc != NN_OK)
            return rc;
        s->bytes_read += bytes;
    }
    return NN_OK;
}

/* The label bytes of an IDX labels file (plain or gzip) of n labels. */
static int idx_labels(const char *path, int n, uint8_t *labels, nn_error *err)
{
    ds_reader r;
    uint8_t hdr[8];
    int rc = ds_reader_open(&r, path, err);
    if (rc != NN_OK)
        return rc;
    rc = ds_reader_expect(&r, hdr, sizeof hdr, "IDX labels header", err);
    if (rc == NN_OK && ds_be32(hdr) != SHARD_IDX_LABELS_MAGIC)
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: bad magic 0x%08x at byte 0: expected 0x%08x (IDX labels)", path,
                       (unsigned)ds_be32(hdr), SHARD_IDX_LABELS_MAGIC);
    if (rc == NN_OK && ds_be32(hdr + 4) != (uint32_t)n)
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: header at byte 4 says %u labels, but the images file has %d images "
                       "(count mismatch: files from different sets?)",
                       path, (unsigned)ds_be32(hdr + 4), n);
    if (rc == NN_OK)
        rc = ds_reader_expect(&r, labels, (size_t)n, "label bytes", err);
    if (rc == NN_OK)
        rc = ds_reader_expect_eof(&r, "label data", err);
    ds_reader_close(&r);
    return rc;
}

/* The label byte (just before the pixels) of every record of every file. */
static int record_labels(const ds_shard *s, uint8_t *labels, int classes, nn_error *err)
{
    int at = 0;
    for (int f = 0; f < s->n_files; f++) {
        const ds_shard_file *sf = &s->file[f];
        for (int i = 0; i < sf->n; i++) {
            char what[48];
            snprintf(what, sizeof what, "the label of image %d", i);
            uint64_t off = sf->first - 1 + (uint64_t)i * sf->stride;
            int rc = read_at(sf, labels + at, 1, off, what, err);
            if (rc != NN_OK)
                return rc;
            if (labels[at++] >= classes)
                return nn_errorf(err, NN_ERR_FORMAT,
                                 "%s: label %u at byte %llu (image %d) out of range: expected "
                                 "0..%d",
                                 sf->path, (unsigned)labels[at - 1], (ull)off, i, classes - 1);
        }
    }
    return NN_OK;
}

int ds_shard_labels(const ds_shard *s, const char *labels_path, uint8_t *labels, int classes,
                    nn_error *err)
{
    int rc = labels_path ? idx_labels(labels_path, s->n, labels, err)
                         : record_labels(s, labels, classes, err);
    for (int i = 0; rc == NN_OK && labels_path && i < s->n; i++)
        if (labels[i] >= classes)
            rc = nn_errorf(err, NN_ERR_FORMAT,
                           "%s: label %u at byte %d (item %d) out of range: expected 0..%d",
                           labels_path, (unsigned)labels[i], 8 + i, i, classes - 1);
    return rc;
}

void ds_shard_close(ds_shard *s)
{
    for (int i = 0; i < s->n_files; i++)
        if (s->file[i].fd >= 0)
            close(s->file[i].fd);
    s->n_files = 0;
}
