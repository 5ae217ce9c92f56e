/* rcoder.h - a binary range coder with adaptive bit models, for the
 * context-coded weight encoding of .iotc files (wcodec.h).
 *
 * Coder (the classic carry-propagating design of LZMA's range coder): a
 * 32-bit range, a 64-bit low with a pending byte and a run of 0xFF bytes
 * for carries; a bit with probability p0/65536 of being 0 splits the range
 * at (range >> 16) * p0; bytes leave when the range falls below 2^24. The
 * encoder ends with 5 flushing bytes; the first byte of a stream is always
 * 0, and the decoder consumes exactly the bytes the encoder wrote, which
 * it checks.
 *
 * Model: a context holds counts n0, n1 of the bits it has seen; its
 * probability of a 0 is p0 = (2 n0 + 1) * 2^16 / (2 (n0 + n1) + 2), kept in
 * [32, 65504]; both counts are halved (rounding up) when their sum reaches
 * 1024, so a context follows drift. Everything is integer arithmetic: the
 * same bits on every machine. */
#ifndef RCODER_H
#define RCODER_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t n0, n1;
} rc_model;

static inline uint32_t rc_p0(const rc_model *m)
{
    uint64_t p = (((uint64_t)m->n0 * 2 + 1) << 16) / ((uint64_t)(m->n0 + m->n1) * 2 + 2);
    return p < 32 ? 32 : p > 65504 ? 65504 : (uint32_t)p;
}

static inline void rc_update(rc_model *m, int bit)
{
    if (bit)
        m->n1++;
    else
        m->n0++;
    if (m->n0 + m->n1 >= 1024) {
        m->n0 = (m->n0 + 1) / 2;
        m->n1 = (m->n1 + 1) / 2;
    }
}

typedef struct {
    nn_wbuf *out;
    uint64_t low;
    uint32_t range;
    uint8_t cache;
    uint64_t pending; /* the cache byte and the 0xFF bytes after it */
} rc_encoder;

void rc_enc_init(rc_encoder *e, nn_wbuf *out);
/* Codes bit with model m and updates m. */
void rc_enc_bit(rc_encoder *e, rc_model *m, int bit);
void rc_enc_flush(rc_encoder *e);

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    uint32_t range, code;
    int overrun; /* the decoder needed bytes past the end */
} rc_decoder;

/* 0 when the stream cannot start a valid code (shorter than 5 bytes, or
 * a first byte other than 0). */
int rc_dec_init(rc_decoder *d, const uint8_t *p, size_t len);
int rc_dec_bit(rc_decoder *d, rc_model *m);
/* 1 when decoding used every byte and no more. */
static inline int rc_dec_done(const rc_decoder *d) { return !d->overrun && d->pos == d->len; }

#ifdef __cplusplus
}
#endif

#endif
