/* fz_util.c - see fz_util.h. */
#include "fz_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

void fz_init(fz_data *d, const uint8_t *p, size_t n)
{
    d->p = p;
    d->n = p ? n : 0;
    d->pos = 0;
}

uint8_t fz_u8(fz_data *d) { return d->pos < d->n ? d->p[d->pos++] : 0; }

uint16_t fz_u16(fz_data *d)
{
    uint16_t lo = fz_u8(d);
    return (uint16_t)(lo | (uint16_t)fz_u8(d) << 8);
}

uint32_t fz_u32(fz_data *d)
{
    uint32_t lo = fz_u16(d);
    return lo | (uint32_t)fz_u16(d) << 16;
}

int64_t fz_range(fz_data *d, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)(hi - lo) + 1, v;
    if (span <= 256)
        v = fz_u8(d);
    else if (span <= 65536)
        v = fz_u16(d);
    else
        v = fz_u32(d);
    return lo + (int64_t)(v % span);
}

int fz_chance(fz_data *d, int num) { return fz_u8(d) < num; }

size_t fz_left(const fz_data *d) { return d->n - d->pos; }

int fz_split(const uint8_t *data, size_t n, int max_parts, const uint8_t **part, size_t *len)
{
    int k = 0;
    size_t pos = 0;
    while (k < max_parts - 1 && n - pos >= 2) {
        size_t l = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        if (l > n - pos)
            l = n - pos;
        part[k] = data + pos, len[k] = l, k++;
        pos += l;
    }
    part[k] = data + pos, len[k] = n - pos, k++;
    return k;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void fz_fix_frame_crcs(uint8_t *buf, size_t n)
{
    size_t pos = 16;
    while (pos <= n && n - pos >= 16) {
        uint64_t plen = get_le64(buf + pos + 4);
        if (plen > n - pos - 16)
            return;
        uint32_t c = (uint32_t)crc32(0L, buf + pos, (uInt)(12 + plen));
        uint8_t *at = buf + pos + 12 + plen;
        for (int i = 0; i < 4; i++)
            at[i] = (uint8_t)(c >> (8 * i));
        pos += 16 + (size_t)plen;
    }
}

void fz_fix_png_crcs(uint8_t *buf, size_t n)
{
    size_t pos = 8;
    while (pos <= n && n - pos >= 12) {
        uint32_t len = get_be32(buf + pos);
        if (len > n - pos - 12)
            return;
        uint32_t c = (uint32_t)crc32(0L, buf + pos + 4, (uInt)(4 + len));
        uint8_t *at = buf + pos + 8 + len;
        for (int i = 0; i < 4; i++)
            at[i] = (uint8_t)(c >> (24 - 8 * i));
        pos += 12 + (size_t)len;
    }
}

int fz_framed_run(const uint8_t *data, size_t size, const char *dump_name,
                  void (*check)(const uint8_t *buf, size_t n, uint8_t ctrl))
{
    if (size < 1)
        return 0;
    const uint8_t ctrl = data[0];
    const size_t n = size - 1;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        fz_fail("out of memory");
    if (n)
        memcpy(buf, data + 1, n);
    if (ctrl & 1)
        fz_fix_frame_crcs(buf, n);
    fz_dump(dump_name, buf, n);
    check(buf, n, ctrl);
    free(buf);
    return 0;
}

uint8_t *fz_gzip(const uint8_t *data, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)n) + 32;
    uint8_t *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

void fz_memfile_open(fz_memfile *f)
{
    f->fd = memfd_create("iotcnn-fuzz", 0);
    if (f->fd < 0)
        fz_fail("memfd_create: %s", strerror(errno));
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

void fz_memfile_set(fz_memfile *f, const void *data, size_t n)
{
    if (ftruncate(f->fd, 0) != 0)
        fz_fail("ftruncate: %s", strerror(errno));
    const uint8_t *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t k = pwrite(f->fd, p + done, n - done, (off_t)done);
        if (k <= 0)
            fz_fail("pwrite: %s", strerror(errno));
        done += (size_t)k;
    }
}

void fz_rmtree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    char sub[PATH_MAX];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            fz_rmtree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

static char private_dir[PATH_MAX];

static void remove_private_dir(void)
{
    if (private_dir[0])
        fz_rmtree(private_dir);
}

const char *fz_private_dir(void)
{
    if (private_dir[0])
        return private_dir;
    const char *base = "/dev/shm";
    struct stat st;
    if (stat(base, &st) != 0 || !S_ISDIR(st.st_mode) || access(base, W_OK) != 0) {
        base = getenv("TMPDIR");
        if (!base || !*base)
            base = "/tmp";
    }
    snprintf(private_dir, sizeof private_dir, "%s/iotcnn-fuzz-XXXXXX", base);
    if (!mkdtemp(private_dir))
        fz_fail("mkdtemp %s: %s", private_dir, strerror(errno));
    atexit(remove_private_dir);
    return private_dir;
}

void fz_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fz_fail("%s: %s", path, strerror(errno));
    int bad = n && fwrite(data, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad)
        fz_fail("%s: write failed", path);
}

void fz_dump(const char *name, const void *data, size_t n)
{
    const char *dir = getenv("IOTCNN_FUZZ_DUMP");
    if (!dir || !*dir)
        return;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mkdir(dir, 0755);
    for (char *p = strchr(path + strlen(dir) + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    fz_write_file(path, data, n);
    fprintf(stderr, "fuzz: wrote %zu bytes to %s\n", n, path);
}

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FUZZ CHECK FAILED: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}
