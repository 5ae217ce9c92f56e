/* container.h - the section/CRC container under every iotcnn file (.ckpt,
 * .iotc): framing only, never what a payload means.
 *
 * Layout (all integers little-endian):
 *   header : magic (8 bytes) | u32 version | u32 section count
 *   section: u32 tag (4 chars of [A-Z0-9]) | u64 payload length | payload |
 *            u32 CRC32 (nn_crc32) of tag, length and payload
 * The CRC covers tag and length too, so a damaged tag cannot turn a
 * section into an unknown (and so skipped) one. A format (ctr_format) is
 * the magic, the one version this build reads and writes, and the words
 * its messages use.
 *
 * Writing: ctr_put_header, then per section ctr_section_begin, the payload
 * through the nn_wbuf calls, ctr_section_end; ctr_write_file writes the
 * buffer atomically (nn_write_file_atomic: a temporary next to the path,
 * nn_tmp.h, renamed over it).
 *
 * Reading: ctr_scan checks the header (magic, version, count), then every
 * section's tag, length and CRC, duplicates and trailing bytes, before any
 * payload is decoded. Every error names the path, the part ("header",
 * "section ARCH", "end of file") and the byte offset:
 *     "m.ckpt: section PARM: offset 1244: CRC32 mismatch (...)". */
#ifndef CONTAINER_H
#define CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CTR_HEADER_BYTES 16u
#define CTR_SECTION_OVERHEAD 16u /* tag 4 + length 8 + CRC 4 */

typedef struct {
    char magic[8];        /* e.g. "IOTCNNCK" (not NUL-terminated)          */
    uint32_t version;     /* the version this build reads and writes       */
    const char *name;     /* "checkpoint", ".iotc": in messages            */
    const char *old_hint; /* what to do with a file of an older version    */
    /* Why the first bytes are not this format, for a bad magic or a file
     * too short for a header; may be NULL. */
    const char *(*magic_hint)(const char *path, const uint8_t *b, size_t n);
} ctr_format;

typedef struct {
    char tag[5];     /* NUL-terminated                        */
    uint64_t offset; /* of the section header in the file     */
    uint64_t bytes;  /* header, payload and CRC               */
} ctr_section;

/* ---- write --------------------------------------------------------------- */

void ctr_put_header(nn_wbuf *w, const ctr_format *fmt, uint32_t n_sections);
/* Writes the section header of tag (4 chars); returns the position of the
 * payload's first byte, for ctr_section_end. */
size_t ctr_section_begin(nn_wbuf *w, const char *tag);
/* Patches the length, appends the CRC; fills *s (may be NULL) with the
 * section's tag, offset in w and size. Nothing after a failed write. */
void ctr_section_end(nn_wbuf *w, size_t payload_at, ctr_section *s);
/* NN_ERR_NOMEM if w failed, else nn_write_file_atomic(path, w); errors
 * name the path. */
nn_status ctr_write_file(const char *path, const nn_wbuf *w, nn_error *err);

/* ---- read ---------------------------------------------------------------- */

/* Splits a whole file image into its sections (at most max_secs, in file
 * order) after checking the framing above; does not look inside payloads.
 * path (may be NULL) prefixes messages. NN_ERR_FORMAT on any failure. */
nn_status ctr_scan(const uint8_t *data, size_t len, const char *path, const ctr_format *fmt,
                   ctr_section *secs, int max_secs, int *n_secs, nn_error *err);

/* The section tagged tag, or NULL. */
const ctr_section *ctr_find(const ctr_section *secs, int n, const char *tag);
/* A reader over s's payload: file offsets, messages "PATH: section TAG:
 * offset N: ..." (what, of 16 bytes or more, holds "section TAG"). */
void ctr_open(nn_rbuf *r, const uint8_t *data, const ctr_section *s, const char *path, char *what,
              size_t what_size);
/* NN_OK when r has read its whole payload, else "N unexpected bytes at the
 * end of the section" at the first unread byte. */
nn_status ctr_end_of_payload(const nn_rbuf *r, nn_error *err);
/* The error for a missing required section:
 * "PATH: section TAG: offset LEN (end of file): required section is missing". */
nn_status ctr_missing(const char *path, size_t len, const char *tag, nn_error *err);

/* Decodes a whole file image into obj (ckpt_decode, iotc_decode). */
typedef nn_status (*ctr_decode_fn)(void *obj, const uint8_t *data, size_t len, const char *path,
                                   nn_error *err);
/* Reads path (at most max_bytes, nn_read_file's errors) and decodes it. */
nn_status ctr_load(void *obj, ctr_decode_fn decode, const char *path, size_t max_bytes,
                   nn_error *err);

/* Shorthands for payload decoders: CTR_TRY returns a failed status;
 * CTR_CHECK fails with NN_ERR_FORMAT at file offset off, naming the
 * field, through the decoder's nn_rbuf *r and nn_error *err. */
#define CTR_TRY(call)                                                                              \
    do {                                                                                           \
        nn_status st_ = (call);                                                                    \
        if (st_ != NN_OK)                                                                          \
            return st_;                                                                            \
    } while (0)
#define CTR_CHECK(cond, off, ...)                                                                  \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return nn_rbuf_errorf(r, (off), err, NN_ERR_FORMAT, __VA_ARGS__);                      \
    } while (0)

static inline uint64_t ctr_payload_offset(const ctr_section *s) { return s->offset + 12; }
static inline uint64_t ctr_payload_bytes(const ctr_section *s)
{
    return s->bytes - CTR_SECTION_OVERHEAD;
}

#ifdef __cplusplus
}
#endif

#endif
