/* qio.h - variable-length integers and bit streams for the .iotc format.
 *
 * Varints are LEB128: 7 bits per byte, least significant group first, the
 * high bit set on every byte but the last. A reader accepts only the
 * shortest encoding of a value (no redundant trailing zero groups), at most
 * 10 bytes, and no value above 2^64 - 1. Signed values are zigzag-mapped
 * (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...).
 *
 * Bit streams are written most significant bit first within each byte; the
 * last byte is padded with zero bits, which a reader checks. */
#ifndef QIO_H
#define QIO_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_io.h"

#ifdef __cplusplus
extern "C" {
#endif

void qio_put_uvar(nn_wbuf *w, uint64_t v);
void qio_put_svar(nn_wbuf *w, int64_t v);

/* Reads a varint; NN_ERR_FORMAT ("offset N: ...") when truncated, longer
 * than 10 bytes, overflowing, not minimal, or above max. */
nn_status qio_get_uvar(nn_rbuf *r, uint64_t *v, uint64_t max, const char *field, nn_error *err);
nn_status qio_get_svar(nn_rbuf *r, int64_t *v, int64_t lo, int64_t hi, const char *field,
                       nn_error *err);

/* ---- bit streams --------------------------------------------------------- */

typedef struct {
    nn_wbuf *w;
    uint32_t acc; /* pending bits, right-aligned */
    int n;        /* how many (< 8 between calls) */
} qio_bitw;

void qio_bitw_init(qio_bitw *b, nn_wbuf *w);
/* Appends the low n bits of v (n in [0, 32]), most significant first. */
void qio_put_bits(qio_bitw *b, uint32_t v, int n);
/* Pads the last byte with zeros. */
void qio_bitw_flush(qio_bitw *b);

typedef struct {
    const uint8_t *p;
    size_t len; /* bytes */
    size_t pos; /* bits consumed */
} qio_bitr;

void qio_bitr_init(qio_bitr *b, const uint8_t *p, size_t len);
/* Reads n bits (n in [0, 32]) into *v; 0 when the stream is exhausted. */
int qio_get_bits(qio_bitr *b, int n, uint32_t *v);
/* 1 when every byte was used and the padding bits of the last are zero. */
int qio_bitr_done(const qio_bitr *b);

#ifdef __cplusplus
}
#endif

#endif
