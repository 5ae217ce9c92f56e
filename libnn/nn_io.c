/* nn_io.c - little-endian buffers, whole-file reads, atomic writes. */
#include "nn_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "nn_tmp.h"

/* ---- writer -------------------------------------------------------------- */

void nn_wbuf_init(nn_wbuf *w) { memset(w, 0, sizeof *w); }

void nn_wbuf_free(nn_wbuf *w)
{
    free(w->data);
    memset(w, 0, sizeof *w);
}

/* Makes room for n more bytes; on failure marks the buffer failed. */
static int wbuf_reserve(nn_wbuf *w, size_t n)
{
    if (w->failed)
        return 0;
    if (n <= w->cap - w->len)
        return 1;
    if (n > SIZE_MAX / 2 - w->len) {
        w->failed = 1;
        return 0;
    }
    size_t need = w->len + n, cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(w->data, cap);
    if (!p) {
        w->failed = 1;
        return 0;
    }
    w->data = p;
    w->cap = cap;
    return 1;
}

void nn_wbuf_bytes(nn_wbuf *w, const void *p, size_t n)
{
    if (n == 0 || !wbuf_reserve(w, n))
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v, b[1] = (uint8_t)(v >> 8), b[2] = (uint8_t)(v >> 16),
    b[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *b, uint64_t v)
{
    put_le32(b, (uint32_t)v);
    put_le32(b + 4, (uint32_t)(v >> 32));
}

static uint32_t get_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get_le64(const uint8_t *b)
{
    return (uint64_t)get_le32(b) | (uint64_t)get_le32(b + 4) << 32;
}

void nn_wbuf_u8(nn_wbuf *w, uint8_t v) { nn_wbuf_bytes(w, &v, 1); }

void nn_wbuf_u32(nn_wbuf *w, uint32_t v)
{
    uint8_t b[4];
    put_le32(b, v);
    nn_wbuf_bytes(w, b, 4);
}

void nn_wbuf_u64(nn_wbuf *w, uint64_t v)
{
    uint8_t b[8];
    put_le64(b, v);
    nn_wbuf_bytes(w, b, 8);
}

/* Two's complement on every platform C11 targets in practice. */
void nn_wbuf_i32(nn_wbuf *w, int32_t v) { nn_wbuf_u32(w, (uint32_t)v); }

void nn_wbuf_f32(nn_wbuf *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    nn_wbuf_u32(w, u);
}

void nn_wbuf_f32s(nn_wbuf *w, const float *p, size_t n)
{
    if (n > SIZE_MAX / 4) {
        w->failed = 1;
        return;
    }
    if (n == 0 || !wbuf_reserve(w, n * 4))
        return;
    uint8_t *out = w->data + w->len;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &p[i], 4);
        put_le32(out + 4 * i, u);
    }
    w->len += n * 4;
}

void nn_wbuf_set_u32(nn_wbuf *w, size_t pos, uint32_t v)
{
    if (!w->failed && pos <= w->len && w->len - pos >= 4)
        put_le32(w->data + pos, v);
}

void nn_wbuf_set_u64(nn_wbuf *w, size_t pos, uint64_t v)
{
    if (!w->failed && pos <= w->len && w->len - pos >= 8)
        put_le64(w->data + pos, v);
}

nn_status nn_wbuf_status(const nn_wbuf *w, const char *what, nn_error *err)
{
    if (!w->failed)
        return NN_OK;
    return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory building %zu+ bytes",
                     what ? what : "buffer", w->len);
}

/* ---- reader -------------------------------------------------------------- */

void nn_rbuf_init(nn_rbuf *r, const void *data, size_t len, uint64_t base, const char *path,
                  const char *what)
{
    r->data = data;
    r->len = data ? len : 0;
    r->pos = 0;
    r->base = base;
    r->path = path;
    r->what = what;
}

nn_status nn_rbuf_errorf(const nn_rbuf *r, uint64_t off, nn_error *err, nn_status code,
                         const char *fmt, ...)
{
    if (!err)
        return code;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_errorf(err, code, "%s: %s%soffset %llu: %s", r->path ? r->path : "(buffer)",
                     r->what ? r->what : "", r->what ? ": " : "", (unsigned long long)off, msg);
}

/* Checks n bytes are left; the error names the field and the shortfall. */
static nn_status need(const nn_rbuf *r, size_t n, const char *field, nn_error *err)
{
    if (n <= r->len - r->pos)
        return NN_OK;
    return nn_rbuf_errorf(r, nn_rbuf_offset(r), err, NN_ERR_FORMAT,
                          "truncated: %s needs %zu bytes, %zu left", field ? field : "value", n,
                          r->len - r->pos);
}

nn_status nn_rbuf_view(nn_rbuf *r, const uint8_t **p, size_t n, const char *field,
                       nn_error *err)
{
    nn_status st = need(r, n, field, err);
    if (st != NN_OK)
        return st;
    *p = r->data + r->pos;
    r->pos += n;
    return NN_OK;
}

nn_status nn_rbuf_skip(nn_rbuf *r, size_t n, const char *field, nn_error *err)
{
    const uint8_t *p;
    return nn_rbuf_view(r, &p, n, field, err);
}

nn_status nn_rbuf_bytes(nn_rbuf *r, void *dst, size_t n, const char *field, nn_error *err)
{
    const uint8_t *p;
    nn_status st = nn_rbuf_view(r, &p, n, field, err);
    if (st == NN_OK && n)
        memcpy(dst, p, n);
    return st;
}

nn_status nn_rbuf_u8(nn_rbuf *r, uint8_t *v, const char *field, nn_error *err)
{
    return nn_rbuf_bytes(r, v, 1, field, err);
}

nn_status nn_rbuf_u32(nn_rbuf *r, uint32_t *v, const char *field, nn_error *err)
{
    const uint8_t *p;
    nn_status st = nn_rbuf_view(r, &p, 4, field, err);
    if (st == NN_OK)
        *v = get_le32(p);
    return st;
}

nn_status nn_rbuf_u64(nn_rbuf *r, uint64_t *v, const char *field, nn_error *err)
{
    const uint8_t *p;
    nn_status st = nn_rbuf_view(r, &p, 8, field, err);
    if (st == NN_OK)
        *v = get_le64(p);
    return st;
}

nn_status nn_rbuf_i32(nn_rbuf *r, int32_t *v, const char *field, nn_error *err)
{
    uint32_t u;
    nn_status st = nn_rbuf_u32(r, &u, field, err);
    if (st == NN_OK)
        memcpy(v, &u, 4); /* two's complement reinterpretation, no overflow */
    return st;
}

nn_status nn_rbuf_f32(nn_rbuf *r, float *v, const char *field, nn_error *err)
{
    uint32_t u;
    nn_status st = nn_rbuf_u32(r, &u, field, err);
    if (st == NN_OK)
        memcpy(v, &u, 4);
    return st;
}

nn_status nn_rbuf_f32s(nn_rbuf *r, float *dst, size_t n, const char *field, nn_error *err)
{
    if (n > SIZE_MAX / 4)
        return need(r, SIZE_MAX, field, err);
    const uint8_t *p;
    nn_status st = nn_rbuf_view(r, &p, n * 4, field, err);
    if (st != NN_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_le32(p + 4 * i);
        memcpy(&dst[i], &u, 4);
    }
    return NN_OK;
}

/* ---- files --------------------------------------------------------------- */

nn_status nn_read_file(const char *path, uint8_t **data, size_t *len, uint64_t max_bytes,
                       nn_error *err)
{
    *data = NULL;
    *len = 0;
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return nn_errorf(err, NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));

    nn_status st = NN_OK;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = nn_errorf(err, NN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = nn_errorf(err, NN_ERR_IO, "%s: is a directory, not a file", path);
        goto done;
    }
    if (max_bytes && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > max_bytes) {
        st = nn_errorf(err, NN_ERR_FORMAT, "%s: %llu bytes is more than the %llu-byte limit",
                       path, (unsigned long long)sb.st_size, (unsigned long long)max_bytes);
        goto done;
    }
    /* The size is a hint (the file may change, or be a pipe): read to EOF. */
    cap = S_ISREG(sb.st_mode) && (uint64_t)sb.st_size < SIZE_MAX - 1 ? (size_t)sb.st_size + 1
                                                                      : 65536;
    buf = malloc(cap);
    if (!buf) {
        st = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory for %zu bytes", path, cap);
        goto done;
    }
    for (;;) {
        if (n == cap) {
            if (cap > SIZE_MAX / 2) {
                st = nn_errorf(err, NN_ERR_NOMEM, "%s: file too large", path);
                goto done;
            }
            uint8_t *p = realloc(buf, cap * 2);
            if (!p) {
                st = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory for %zu bytes", path,
                               cap * 2);
                goto done;
            }
            buf = p, cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            st = nn_errorf(err, NN_ERR_IO, "%s: read failed at offset %zu: %s", path, n,
                           strerror(errno));
            goto done;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (max_bytes && n > max_bytes) {
            st = nn_errorf(err, NN_ERR_FORMAT, "%s: more than the %llu-byte limit", path,
                           (unsigned long long)max_bytes);
            goto done;
        }
    }
    if (n == cap) { /* room for the terminating NUL */
        uint8_t *p = realloc(buf, cap + 1);
        if (!p) {
            st = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        buf = p;
    }
    buf[n] = 0;
done:
    close(fd); /* read-only: nothing to lose if close fails */
    if (st != NN_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *len = n;
    return NN_OK;
}

/* The directory part of path ("." when none), malloc'd; NULL when out of
 * memory. */
static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Best effort: makes the rename itself durable. Some file systems refuse
 * fsync on directories; the data is already safe, so failures are ignored. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Writes all of data to fd and syncs it: 0, or the errno with *step
 * naming the call that failed. */
static int write_all(int fd, const void *data, size_t len, const char **step)
{
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t put = write(fd, p, left);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0) { /* 0 should not happen for regular files; avoid spinning */
            *step = "write";
            return put < 0 ? errno : EIO;
        }
        p += put;
        left -= (size_t)put;
    }
    if (fsync(fd) != 0) {
        *step = "fsync";
        return errno;
    }
    return 0;
}

/* The data in an unnamed file of dir (O_TMPFILE), written and synced
 * before it is linked under the name tmp, so that a writer killed while
 * writing leaves nothing. Returns 0 when tmp now holds the data; -1 when
 * O_TMPFILE or linking through /proc is not available here (the caller
 * then writes tmp itself); or the errno of a failure, with *step. */
static int write_unnamed(const char *dir, const char *tmp, const void *data, size_t len,
                         const char **step)
{
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    int e = write_all(fd, data, len, step);
    if (e == 0) {
        char proc[48];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0)
            e = errno == EEXIST ? (*step = "link", EEXIST) : -1;
    }
    close(fd); /* synced: nothing left to lose */
    return e;
#else
    (void)dir, (void)tmp, (void)data, (void)len, (void)step;
    return -1;
#endif
}

/* The data in a new file named tmp: 0, or the errno with *step ("create"
 * when tmp could not be made: then it is not ours to remove). */
static int write_named(const char *tmp, const void *data, size_t len, const char **step)
{
    /* O_EXCL: never write through a file (or symlink) someone else made;
     * a temporary of this very process cannot be a crash's leftover. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        *step = "create";
        return errno;
    }
    int e = write_all(fd, data, len, step);
    if (close(fd) != 0 && e == 0)
        *step = "close", e = errno;
    return e;
}

nn_status nn_write_file_atomic(const char *path, const void *data, size_t len, nn_error *err)
{
    size_t cap = strlen(path) + 96;
    char *dir = parent_dir(path), *tmp = malloc(cap);
    if (!dir || !tmp) {
        free(dir), free(tmp);
        return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    }
    nn_tmp_owner me;
    nn_tmp_owner_self(&me);
    nn_tmp_sweep(dir, &me); /* leftovers of writers killed in this directory */
    nn_tmp_name(tmp, cap, path, &me);

    const char *step = NULL;
    int e = write_unnamed(dir, tmp, data, len, &step);
    if (e < 0)
        e = write_named(tmp, data, len, &step);
    if (e == 0 && rename(tmp, path) != 0)
        step = "rename", e = errno;
    nn_status st = NN_OK;
    if (e != 0 && strcmp(step, "create") == 0) {
        st = nn_errorf(err, NN_ERR_IO, "%s: cannot create temporary %s: %s", path, tmp,
                       strerror(e));
    } else if (e != 0) {
        if (strcmp(step, "link") != 0)
            unlink(tmp);
        st = nn_errorf(err, NN_ERR_IO, "%s: cannot write %zu bytes: %s failed: %s", path, len,
                       step, strerror(e));
    } else {
        sync_dir(dir);
    }
    free(dir), free(tmp);
    return st;
}

nn_status nn_check_writable(const char *path, nn_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return nn_errorf(err, NN_ERR_IO, "%s: cannot write: %s", path, strerror(EISDIR));
    size_t cap = strlen(path) + 96;
    char *dir = parent_dir(path), *tmp = malloc(cap);
    nn_status st = NN_OK;
    if (!dir || !tmp) {
        st = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    } else if (stat(dir, &sb) != 0) {
        st = nn_errorf(err, NN_ERR_IO, "%s: cannot write: directory %s: %s", path, dir,
                       strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        st = nn_errorf(err, NN_ERR_IO, "%s: cannot write: directory %s: %s", path, dir,
                       strerror(ENOTDIR));
    } else {
        nn_tmp_owner me;
        nn_tmp_owner_self(&me);
        /* Sweep first, as a write does: the probe below has the name of a
         * temporary, and a run killed right here must not be the first run
         * that made one without removing the leftovers of killed ones. */
        nn_tmp_sweep(dir, &me);
        nn_tmp_name(tmp, cap, path, &me);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            st = nn_errorf(err, NN_ERR_IO, "%s: cannot write: cannot create a file in %s: %s",
                           path, dir, strerror(errno));
        } else {
            close(fd);
            unlink(tmp);
        }
    }
    free(dir), free(tmp);
    return st;
}

uint32_t nn_crc32(const void *data, size_t n)
{
    const Bytef *p = data;
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)crc;
}
