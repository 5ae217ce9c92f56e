/* nn_io.h - byte buffers and files for every iotcnn file format.
 *
 * Formats are explicit little-endian whatever the host. A file is built in
 * memory with an nn_wbuf and written with nn_write_file_atomic; it is read
 * whole with nn_read_file and decoded with an nn_rbuf, which checks every
 * read against the bytes left and reports failures as
 *     "PATH: WHAT: offset N: MESSAGE"
 * (WHAT names the part being decoded, e.g. "section ARCH"), so a truncated
 * or corrupt file is always a clean error, never a crash or a silent misread.
 * CRCs are zlib's CRC-32 (the one of gzip and PNG). */
#ifndef NN_IO_H
#define NN_IO_H

#include <stddef.h>
#include <stdint.h>

#include "nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- writer -------------------------------------------------------------- */

/* Growable byte buffer. Allocation failure is sticky: later writes do
 * nothing and nn_wbuf_status reports NN_ERR_NOMEM, so a writer can emit a
 * whole file and check once. A zeroed nn_wbuf is a valid empty buffer. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;
} nn_wbuf;

void nn_wbuf_init(nn_wbuf *w);
void nn_wbuf_free(nn_wbuf *w);

void nn_wbuf_bytes(nn_wbuf *w, const void *p, size_t n);
void nn_wbuf_u8(nn_wbuf *w, uint8_t v);
void nn_wbuf_u32(nn_wbuf *w, uint32_t v);
void nn_wbuf_u64(nn_wbuf *w, uint64_t v);
void nn_wbuf_i32(nn_wbuf *w, int32_t v);
void nn_wbuf_f32(nn_wbuf *w, float v);       /* IEEE-754 bits, NaN payloads kept */
void nn_wbuf_f32s(nn_wbuf *w, const float *p, size_t n);

/* Overwrites 4 or 8 bytes already written at pos (e.g. a length known only
 * after the payload). Ignored when out of range or after a failure. */
void nn_wbuf_set_u32(nn_wbuf *w, size_t pos, uint32_t v);
void nn_wbuf_set_u64(nn_wbuf *w, size_t pos, uint64_t v);

/* NN_OK, or NN_ERR_NOMEM with a message naming `what` (e.g. the path). */
nn_status nn_wbuf_status(const nn_wbuf *w, const char *what, nn_error *err);

/* ---- reader -------------------------------------------------------------- */

/* Bounds-checked cursor over borrowed bytes. base is the file offset of
 * data[0], so errors give offsets in the file; path and what (both borrowed,
 * may be NULL) prefix every message. */
typedef struct {
    const uint8_t *data;
    size_t len, pos;
    uint64_t base;
    const char *path;
    const char *what;
} nn_rbuf;

void nn_rbuf_init(nn_rbuf *r, const void *data, size_t len, uint64_t base, const char *path,
                  const char *what);

static inline size_t nn_rbuf_left(const nn_rbuf *r) { return r->len - r->pos; }
/* File offset of the next unread byte. */
static inline uint64_t nn_rbuf_offset(const nn_rbuf *r) { return r->base + r->pos; }

/* Each reads a value and advances, or returns NN_ERR_FORMAT ("offset N:
 * truncated: FIELD needs K bytes, M left") without advancing. field names
 * the value in the message. */
nn_status nn_rbuf_u8(nn_rbuf *r, uint8_t *v, const char *field, nn_error *err);
nn_status nn_rbuf_u32(nn_rbuf *r, uint32_t *v, const char *field, nn_error *err);
nn_status nn_rbuf_u64(nn_rbuf *r, uint64_t *v, const char *field, nn_error *err);
nn_status nn_rbuf_i32(nn_rbuf *r, int32_t *v, const char *field, nn_error *err);
nn_status nn_rbuf_f32(nn_rbuf *r, float *v, const char *field, nn_error *err);
nn_status nn_rbuf_f32s(nn_rbuf *r, float *dst, size_t n, const char *field, nn_error *err);
nn_status nn_rbuf_bytes(nn_rbuf *r, void *dst, size_t n, const char *field, nn_error *err);
/* Borrows n bytes in place (*p points into the buffer). */
nn_status nn_rbuf_view(nn_rbuf *r, const uint8_t **p, size_t n, const char *field,
                       nn_error *err);
nn_status nn_rbuf_skip(nn_rbuf *r, size_t n, const char *field, nn_error *err);

/* Formats "PATH: WHAT: offset OFF: MESSAGE" into err and returns code; for
 * validation failures after a value was read (pass the value's offset). */
nn_status nn_rbuf_errorf(const nn_rbuf *r, uint64_t off, nn_error *err, nn_status code,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- files --------------------------------------------------------------- */

/* Reads the whole file into a new allocation (*data, *len), followed by a
 * NUL byte not counted in len (so text can be used as a string). Files
 * larger than max_bytes are refused (NN_ERR_FORMAT) before reading them
 * whole, so a wrong path cannot exhaust memory; 0 means no limit. Errors
 * name the path: NN_ERR_IO (open/read), NN_ERR_NOMEM. On failure *data is
 * NULL. Free with free(). */
nn_status nn_read_file(const char *path, uint8_t **data, size_t *len, uint64_t max_bytes,
                       nn_error *err);

/* Writes data to a temporary next to path, fsyncs it, and renames it over
 * path, so path holds either its old contents or all of the new ones, never
 * a partial file, and a failed write leaves no new file at all. The
 * temporary is unnamed until written (O_TMPFILE, where the file system has
 * it), then "PATH.tmp.<pid>.<start>.<boot>.<ns>" for the rename; first the
 * stale temporaries of killed writers in path's directory are removed
 * (nn_tmp.h). Every call is checked; on failure the temporary is removed
 * and the error (NN_ERR_IO) names the path, the failing step and the OS
 * reason (strerror). Every file iotcnn writes goes through here. */
nn_status nn_write_file_atomic(const char *path, const void *data, size_t len, nn_error *err);

/* Whether path can be written, checked before any work: its directory
 * exists and a file can be created in it (the temporary the write will use,
 * created empty and removed at once), and path is not a directory. Errors
 * (NN_ERR_IO) name path and the reason. */
nn_status nn_check_writable(const char *path, nn_error *err);

/* zlib CRC-32 of n bytes (any n: zlib takes 32-bit lengths, this chunks). */
uint32_t nn_crc32(const void *data, size_t n);

#ifdef __cplusplus
}
#endif

#endif
