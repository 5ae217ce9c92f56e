/* ds_io.c - checked plain/gzip reading with byte offsets in every error. */
#include "ds_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef unsigned long long ull;

FILE *ds_fopen(const char *path, nn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        nn_errorf(err, NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return f;
}

FILE *ds_fopen_head(const char *path, unsigned char *head, size_t n, size_t *got,
                    nn_error *err)
{
    FILE *f = ds_fopen(path, err);
    if (!f)
        return NULL;
    *got = fread(head, 1, n, f);
    if (*got < n && ferror(f)) {
        int e = errno;
        fclose(f);
        nn_errorf(err, NN_ERR_IO, "%s: read error at byte 0: %s", path, strerror(e));
        return NULL;
    }
    return f;
}

int ds_read_head(const char *path, unsigned char *head, size_t n, size_t *got, nn_error *err)
{
    FILE *f = ds_fopen_head(path, head, n, got, err);
    if (!f)
        return NN_ERR_IO;
    fclose(f);
    return NN_OK;
}

int ds_reader_open(ds_reader *r, const char *path, nn_error *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    FILE *f = ds_fopen(path, err);
    if (!f)
        return NN_ERR_IO;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return nn_errorf(err, NN_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return nn_errorf(err, NN_ERR_IO, "%s: not a regular file", path);
    }
    /* gzip is told by its magic, not by the ".gz" suffix. */
    unsigned char magic[2];
    size_t m = fread(magic, 1, 2, f);
    if (m < 2 && ferror(f)) {
        int e = errno;
        fclose(f);
        return nn_errorf(err, NN_ERR_IO, "%s: read error at byte 0: %s", path, strerror(e));
    }
    if (m == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        fclose(f);
        r->gz = gzopen(path, "rb");
        if (!r->gz)
            return nn_errorf(err, NN_ERR_IO, "%s: cannot open gzip stream: %s", path,
                             errno ? strerror(errno) : "out of memory");
        gzbuffer(r->gz, 1u << 17);
        r->is_gz = 1;
        return NN_OK;
    }
    rewind(f);
    r->f = f;
    r->size = (uint64_t)st.st_size;
    return NN_OK;
}

void ds_reader_close(ds_reader *r)
{
    if (r->f)
        fclose(r->f);
    if (r->gz)
        gzclose(r->gz);
    r->f = NULL;
    r->gz = NULL;
}

int ds_reader_read(ds_reader *r, void *buf, size_t n, size_t *got, nn_error *err)
{
    uint8_t *p = buf;
    size_t total = 0;
    *got = 0;
    if (!r->is_gz) {
        total = fread(p, 1, n, r->f);
        r->off += total;
        *got = total;
        if (total < n && ferror(r->f))
            return nn_errorf(err, NN_ERR_IO, "%s: read error at byte %llu: %s", r->path,
                             (ull)r->off, strerror(errno));
        return NN_OK;
    }
    while (total < n) {
        size_t want = n - total;
        if (want > (1u << 30))
            want = 1u << 30; /* gzread counts in unsigned int */
        int k = gzread(r->gz, p + total, (unsigned)want);
        if (k > 0) {
            total += (size_t)k;
            r->off += (uint64_t)k;
            continue;
        }
        int zerr = Z_OK;
        const char *zmsg = gzerror(r->gz, &zerr);
        *got = total;
        if (zerr == Z_ERRNO)
            return nn_errorf(err, NN_ERR_IO, "%s: read error at byte %llu of decompressed data: %s",
                             r->path, (ull)r->off, strerror(errno));
        if (zerr == Z_BUF_ERROR) /* zlib's "unexpected end of file" */
            return nn_errorf(err, NN_ERR_FORMAT,
                             "%s: gzip stream truncated at byte %llu of decompressed data "
                             "(the .gz file is cut short; fetch it again)",
                             r->path, (ull)r->off);
        if (zerr != Z_OK) {
            /* gzerror's text starts with the path; we print the path once. */
            size_t plen = strlen(r->path);
            if (zmsg && !strncmp(zmsg, r->path, plen) && !strncmp(zmsg + plen, ": ", 2))
                zmsg += plen + 2;
            return nn_errorf(err, NN_ERR_FORMAT,
                             "%s: corrupt gzip data (%s) near byte %lld of the compressed file, "
                             "after %llu bytes were decompressed (fetch the file again)",
                             r->path, zmsg ? zmsg : "unknown zlib error",
                             (long long)gzoffset(r->gz), (ull)r->off);
        }
        break; /* clean end of stream */
    }
    *got = total;
    return NN_OK;
}

/* The one wording for "the data ended before the header said it would". */
static int truncated(const ds_reader *r, uint64_t start, size_t n, const char *what,
                     nn_error *err)
{
    if (r->is_gz)
        return nn_errorf(err, NN_ERR_FORMAT,
                         "%s: truncated at byte %llu of decompressed data: expected %zu %s "
                         "from byte %llu, stream has %llu bytes",
                         r->path, (ull)r->off, n, what, (ull)start, (ull)r->off);
    return nn_errorf(err, NN_ERR_FORMAT,
                     "%s: truncated at byte %llu: expected %zu %s from byte %llu, "
                     "file has %llu bytes",
                     r->path, (ull)r->size, n, what, (ull)start, (ull)r->size);
}

int ds_reader_expect(ds_reader *r, void *buf, size_t n, const char *what, nn_error *err)
{
    uint64_t start = r->off;
    size_t got = 0;
    int rc = ds_reader_read(r, buf, n, &got, err);
    if (rc != NN_OK)
        return rc;
    if (got < n)
        return truncated(r, start, n, what, err);
    return NN_OK;
}

/* Grows *buf to ncap bytes (*cap); on failure frees it, the message naming
 * `what` when given. */
static int grow_buf(uint8_t **buf, size_t *cap, size_t ncap, const ds_reader *r, const char *what,
                    nn_error *err)
{
    uint8_t *nb = realloc(*buf, ncap);
    if (!nb) {
        free(*buf);
        *buf = NULL;
        if (what)
            return nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate %zu bytes for %s", r->path,
                             ncap, what);
        return nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate %zu bytes", r->path, ncap);
    }
    *buf = nb;
    *cap = ncap;
    return NN_OK;
}

/* Reads what comes into (*buf)[*have, cap), adding it to *have; on failure
 * frees *buf. */
static int fill_buf(ds_reader *r, uint8_t **buf, size_t *have, size_t cap, nn_error *err)
{
    size_t got = 0;
    int rc = ds_reader_read(r, *buf + *have, cap - *have, &got, err);
    if (rc != NN_OK) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    *have += got;
    return NN_OK;
}

int ds_reader_expect_alloc(ds_reader *r, uint8_t **out, size_t n, const char *what,
                           nn_error *err)
{
    *out = NULL;
    uint64_t start = r->off;
    if ((uint64_t)n > DS_MAX_FILE_BYTES)
        return nn_errorf(err, NN_ERR_FORMAT,
                         "%s: header at byte %llu asks for %zu %s, above the %llu-byte limit "
                         "(corrupt header?)",
                         r->path, (ull)start, n, what, (ull)DS_MAX_FILE_BYTES);
    if (!r->is_gz) {
        /* The file size is known: reject a truncated file before allocating. */
        if (r->size < r->off || r->size - r->off < (uint64_t)n)
            return truncated(r, start, n, what, err);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf)
            return nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate %zu bytes for %s", r->path,
                             n, what);
        int rc = ds_reader_expect(r, buf, n, what, err);
        if (rc != NN_OK) {
            free(buf);
            return rc;
        }
        *out = buf;
        return NN_OK;
    }
    /* gzip: the size is unknown until the data is there; grow with it. */
    size_t cap = n < ((size_t)16 << 20) ? n : ((size_t)16 << 20), have = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf)
        return nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate %zu bytes for %s", r->path, cap,
                         what);
    while (have < n) {
        if (have == cap) {
            int rc = grow_buf(&buf, &cap, cap * 2 < n ? cap * 2 : n, r, what, err);
            if (rc != NN_OK)
                return rc;
        }
        int rc = fill_buf(r, &buf, &have, cap, err);
        if (rc != NN_OK)
            return rc;
        if (have < cap) {
            free(buf);
            return truncated(r, start, n, what, err);
        }
    }
    *out = buf;
    return NN_OK;
}

int ds_reader_read_rest(ds_reader *r, uint8_t **out, size_t *len, nn_error *err)
{
    *out = NULL;
    *len = 0;
    size_t cap;
    if (!r->is_gz) {
        uint64_t rem = r->size > r->off ? r->size - r->off : 0;
        if (rem > DS_MAX_FILE_BYTES)
            return nn_errorf(err, NN_ERR_FORMAT, "%s: %llu bytes, above the %llu-byte limit",
                             r->path, (ull)r->size, (ull)DS_MAX_FILE_BYTES);
        cap = (size_t)rem + 1; /* +1 sees a file that grew meanwhile */
    } else {
        cap = (size_t)1 << 20;
    }
    uint8_t *buf = malloc(cap);
    if (!buf)
        return nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate %zu bytes", r->path, cap);
    size_t have = 0;
    for (;;) {
        if (have == cap) {
            if ((uint64_t)cap >= DS_MAX_FILE_BYTES) {
                free(buf);
                return nn_errorf(err, NN_ERR_FORMAT,
                                 "%s: more than %llu bytes of data at byte %llu (limit; gzip bomb?)",
                                 r->path, (ull)DS_MAX_FILE_BYTES, (ull)r->off);
            }
            size_t ncap = cap * 2;
            if ((uint64_t)ncap > DS_MAX_FILE_BYTES)
                ncap = (size_t)DS_MAX_FILE_BYTES;
            int rc = grow_buf(&buf, &cap, ncap, r, NULL, err);
            if (rc != NN_OK)
                return rc;
        }
        int rc = fill_buf(r, &buf, &have, cap, err);
        if (rc != NN_OK)
            return rc;
        if (have < cap)
            break;
    }
    *out = buf;
    *len = have;
    return NN_OK;
}

int ds_reader_expect_eof(ds_reader *r, const char *after, nn_error *err)
{
    uint8_t b;
    size_t got = 0;
    uint64_t end = r->off;
    int rc = ds_reader_read(r, &b, 1, &got, err);
    if (rc != NN_OK)
        return rc;
    if (got == 0)
        return NN_OK;
    if (r->is_gz)
        return nn_errorf(err, NN_ERR_FORMAT,
                         "%s: unexpected data after byte %llu of decompressed data, the end of "
                         "the %s (wrong or corrupt file?)",
                         r->path, (ull)end, after);
    return nn_errorf(err, NN_ERR_FORMAT,
                     "%s: %llu unexpected bytes after byte %llu, the end of the %s "
                     "(file has %llu bytes; wrong or corrupt file?)",
                     r->path, (ull)(r->size - end), (ull)end, after, (ull)r->size);
}

char *ds_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
