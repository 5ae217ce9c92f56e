/* qio.c - varints and bit streams (see qio.h). */
#include "qio.h"

void qio_put_uvar(nn_wbuf *w, uint64_t v)
{
    uint8_t b[10];
    int n = 0;
    do {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7;
        b[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
    } while (v);
    nn_wbuf_bytes(w, b, (size_t)n);
}

static uint64_t zigzag(int64_t v)
{
    return v < 0 ? ((uint64_t)(-(v + 1)) << 1) | 1u : (uint64_t)v << 1;
}

void qio_put_svar(nn_wbuf *w, int64_t v) { qio_put_uvar(w, zigzag(v)); }

nn_status qio_get_uvar(nn_rbuf *r, uint64_t *v, uint64_t max, const char *field, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r), x = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b;
        nn_status st = nn_rbuf_u8(r, &b, field, err);
        if (st != NN_OK)
            return st;
        uint64_t g = b & 0x7f;
        if (i == 9 && g > 1)
            return nn_rbuf_errorf(r, off, err, NN_ERR_FORMAT, "%s: varint overflows 64 bits",
                                  field);
        x |= g << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && g == 0)
                return nn_rbuf_errorf(r, off, err, NN_ERR_FORMAT,
                                      "%s: varint has a redundant trailing byte", field);
            if (x > max)
                return nn_rbuf_errorf(r, off, err, NN_ERR_FORMAT, "%s = %llu exceeds %llu", field,
                                      (unsigned long long)x, (unsigned long long)max);
            *v = x;
            return NN_OK;
        }
    }
    return nn_rbuf_errorf(r, off, err, NN_ERR_FORMAT, "%s: varint longer than 10 bytes", field);
}

nn_status qio_get_svar(nn_rbuf *r, int64_t *v, int64_t lo, int64_t hi, const char *field,
                       nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r), u;
    nn_status st = qio_get_uvar(r, &u, UINT64_MAX, field, err);
    if (st != NN_OK)
        return st;
    int64_t x = (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
    if (x < lo || x > hi)
        return nn_rbuf_errorf(r, off, err, NN_ERR_FORMAT, "%s = %lld is not in [%lld, %lld]", field,
                              (long long)x, (long long)lo, (long long)hi);
    *v = x;
    return NN_OK;
}

/* ---- bit streams --------------------------------------------------------- */

void qio_bitw_init(qio_bitw *b, nn_wbuf *w) { *b = (qio_bitw){w, 0, 0}; }

void qio_put_bits(qio_bitw *b, uint32_t v, int n)
{
    if (n <= 0)
        return;
    if (n > 16) { /* keep acc within 32 bits: high part first */
        qio_put_bits(b, v >> 16, n - 16);
        n = 16;
    }
    b->acc = (b->acc << n) | (v & ((1u << n) - 1u)); /* n + 7 <= 32 bits */
    b->n += n;
    while (b->n >= 8) {
        b->n -= 8;
        nn_wbuf_u8(b->w, (uint8_t)(b->acc >> b->n));
    }
    b->acc &= (1u << b->n) - 1u;
}

void qio_bitw_flush(qio_bitw *b)
{
    if (b->n > 0)
        qio_put_bits(b, 0, 8 - b->n);
}

void qio_bitr_init(qio_bitr *b, const uint8_t *p, size_t len) { *b = (qio_bitr){p, len, 0}; }

int qio_get_bits(qio_bitr *b, int n, uint32_t *v)
{
    if (n <= 0) {
        *v = 0;
        return 1;
    }
    if ((size_t)n > b->len * 8 - b->pos)
        return 0;
    uint32_t x = 0;
    for (int i = 0; i < n; i++, b->pos++)
        x = (x << 1) | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1u);
    *v = x;
    return 1;
}

int qio_bitr_done(const qio_bitr *b)
{
    size_t used = (b->pos + 7) / 8;
    if (used != b->len)
        return 0;
    if (b->pos & 7) {
        uint8_t pad = (uint8_t)(b->p[b->len - 1] & ((1u << (8 - (b->pos & 7))) - 1u));
        return pad == 0;
    }
    return 1;
}
