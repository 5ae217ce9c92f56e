/* ds_io.h - internal to datasets/: a checked reader for plain or gzip files.
 *
 * Every loader reads through ds_reader so that a short read, a corrupt gzip
 * stream or an absurd header size is reported the same way: with the path,
 * the byte offset (in the decompressed stream for gzip files) and what was
 * expected there. gzip is recognized by its magic 0x1f 0x8b, never by name. */
#ifndef DS_IO_H
#define DS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zlib.h>

#include "libnn/nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest file (decompressed) any loader accepts: 4 GiB. Far above every
 * supported data set (CIFAR-10 train is 150 MB); it stops a forged header or
 * a gzip bomb from asking for more memory than the machine has. */
#define DS_MAX_FILE_BYTES ((uint64_t)4 << 30)

typedef struct {
    const char *path; /* borrowed; must outlive the reader                  */
    FILE *f;          /* plain file, or NULL                                */
    gzFile gz;        /* gzip file, or NULL                                 */
    int is_gz;
    uint64_t size;    /* file size in bytes (plain files only)              */
    uint64_t off;     /* bytes consumed so far (decompressed for gzip)      */
} ds_reader;

/* Opens path and sniffs the gzip magic. NN_ERR_IO if it cannot be opened. */
int ds_reader_open(ds_reader *r, const char *path, nn_error *err);

void ds_reader_close(ds_reader *r);

/* fopen(path, "rb"); NULL with NN_ERR_IO "PATH: cannot open: REASON" in err. */
FILE *ds_fopen(const char *path, nn_error *err);

/* ds_fopen, then reads the first (up to) n bytes into head, *got of them:
 * the file positioned after them, or NULL with NN_ERR_IO in err (a read
 * error is "PATH: read error at byte 0"). */
FILE *ds_fopen_head(const char *path, unsigned char *head, size_t n, size_t *got,
                    nn_error *err);

/* ds_fopen_head and close: the first bytes of path only (to sniff a format). */
int ds_read_head(const char *path, unsigned char *head, size_t n, size_t *got, nn_error *err);

/* Reads up to n bytes into buf; *got < n only at end of file. NN_ERR_FORMAT
 * for corrupt gzip data, NN_ERR_IO for a read error. */
int ds_reader_read(ds_reader *r, void *buf, size_t n, size_t *got, nn_error *err);

/* Reads exactly n bytes; `what` names them for the truncation message
 * ("IDX header", "pixel bytes"). */
int ds_reader_expect(ds_reader *r, void *buf, size_t n, const char *what, nn_error *err);

/* Allocates and reads exactly n bytes into *out (caller frees). For plain
 * files the size is checked against the file before allocating; for gzip
 * the buffer grows as data arrives, so a forged count costs no memory. */
int ds_reader_expect_alloc(ds_reader *r, uint8_t **out, size_t n, const char *what,
                           nn_error *err);

/* Reads everything left (at most DS_MAX_FILE_BYTES) into *out and its length into *len. */
int ds_reader_read_rest(ds_reader *r, uint8_t **out, size_t *len, nn_error *err);

/* Fails with NN_ERR_FORMAT if any byte is left: a file longer than its
 * header says is the wrong file or a corrupt one. */
int ds_reader_expect_eof(ds_reader *r, const char *after, nn_error *err);

/* Big-endian 32-bit value at p (IDX headers). */
static inline uint32_t ds_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* strdup that reports NN_ERR_NOMEM (returns NULL then). */
char *ds_strdup(const char *s);

#ifdef __cplusplus
}
#endif

#endif
