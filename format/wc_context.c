/* wc_context.c - weights through an adaptive binary range coder with
 * row/column contexts, and for "context+taps" kernel-tap contexts too (see
 * wcodec.h for the model). */
#include "wc_context.h"

#include <stdlib.h>
#include <string.h>

#include "qio.h"
#include "rcoder.h"

#define COL_CTX 33
#define ROW_CTX 16
#define TAP_CTX 7  /* the kernel's earlier taps of this input: none, then counts   */
#define SIGN_CTX 27 /* signs (none/+/-) of the last non-zero earlier tap, left, up */
#define MAG_CTX 4   /* |last non-zero earlier tap|: none, 1, 2, 3 or more           */

typedef struct {
    rc_model pos[COL_CTX][ROW_CTX][TAP_CTX];
    rc_model sign[SIGN_CTX];
    rc_model mag[MAG_CTX][128]; /* binary-tree nodes 1..2^mbits - 1 */
    int mbits;                  /* 7 (8-bit weights) or 3 (4-bit)    */
    size_t taps, kw, group;     /* taps 1: no tap contexts ("context") */
    uint16_t *col;              /* (row length) non-zero count per column so far, saturating */
} ctx_model;

/* The contexts a weight's kernel gives it: 0, 0, 0 without taps. */
typedef struct {
    int pos, sign, mag;
} tap_ctx;

static int init_model(ctx_model *m, size_t k, int bits, size_t taps, size_t kw)
{
    memset(m, 0, sizeof *m);
    m->mbits = bits == 8 ? 7 : 3;
    m->taps = taps, m->kw = kw, m->group = k / taps;
    m->col = calloc(k ? k : 1, sizeof *m->col);
    return m->col != NULL;
}

static int sign3(int v) { return v > 0 ? 1 : v < 0 ? 2 : 0; }

/* Tap t = k / group of input c = k % group reads row[u * group + c] for the
 * earlier taps u < t, which both sides already know. */
static tap_ctx tap_context(const ctx_model *m, const int8_t *row, size_t k)
{
    tap_ctx x = {0, 0, 0};
    if (m->taps <= 1)
        return x;
    const size_t t = k / m->group, c = k % m->group;
    int nz = 0, last = 0;
    for (size_t u = 0; u < t; u++) {
        int v = row[u * m->group + c];
        if (v)
            nz++, last = v;
    }
    if (t > 0)
        x.pos = t < 3 ? 1 + (nz < 2 ? nz : 2) : 4 + (nz < 3 ? nz : 3);
    int left = t % m->kw ? row[(t - 1) * m->group + c] : 0;
    int up = t >= m->kw ? row[(t - m->kw) * m->group + c] : 0;
    x.sign = 9 * sign3(last) + 3 * sign3(left) + sign3(up);
    int a = last < 0 ? -last : last;
    x.mag = a < 3 ? a : 3;
    return x;
}

/* The position context of (row o, column k) given the row's count so far. */
static rc_model *pos_model(ctx_model *m, size_t o, size_t k, size_t rowc, int tap)
{
    size_t c = m->col[k], cb, rb;
    if (o == 0)
        cb = 0;
    else if (c == 0)
        cb = o > 8 ? 2 : 1;
    else {
        size_t q = (c * 30) / o;
        cb = 3 + (q < 29 ? q : 29);
    }
    if (k < 16)
        rb = 0;
    else if (rowc == 0)
        rb = 1;
    else {
        size_t q = (rowc * 14) / k;
        rb = 2 + (q < 13 ? q : 13);
    }
    return &m->pos[cb][rb][tap];
}

static void count(ctx_model *m, size_t k)
{
    if (m->col[k] < UINT16_MAX)
        m->col[k]++;
}

void wc_context_encode(nn_wbuf *out, const int8_t *w, size_t n, size_t rows, size_t taps,
                       size_t kw, int bits)
{
    const size_t k_len = n / rows;
    ctx_model *m = malloc(sizeof *m);
    if (!m || !init_model(m, k_len, bits, taps, kw)) {
        free(m);
        out->failed = 1;
        return;
    }
    size_t nnz = 0;
    for (size_t i = 0; i < n; i++)
        nnz += w[i] != 0;
    nn_wbuf stream;
    nn_wbuf_init(&stream);
    rc_encoder e;
    rc_enc_init(&e, &stream);
    for (size_t o = 0; o < rows; o++) {
        size_t rowc = 0;
        for (size_t k = 0; k < k_len; k++) {
            int v = w[o * k_len + k];
            tap_ctx x = tap_context(m, w + o * k_len, k);
            rc_enc_bit(&e, pos_model(m, o, k, rowc, x.pos), v != 0);
            if (!v)
                continue;
            rowc++;
            count(m, k);
            rc_enc_bit(&e, &m->sign[x.sign], v < 0);
            int mag = (v < 0 ? -v : v) - 1, node = 1;
            for (int b = m->mbits - 1; b >= 0; b--) {
                int bit = (mag >> b) & 1;
                rc_enc_bit(&e, &m->mag[x.mag][node], bit);
                node = node * 2 + bit;
            }
        }
    }
    rc_enc_flush(&e);
    qio_put_uvar(out, (uint64_t)nnz);
    qio_put_uvar(out, (uint64_t)stream.len);
    nn_wbuf_bytes(out, stream.data, stream.len);
    if (stream.failed)
        out->failed = 1;
    nn_wbuf_free(&stream);
    free(m->col);
    free(m);
}

nn_status wc_context_decode(nn_rbuf *r, int8_t *w, size_t n, size_t rows, size_t taps, size_t kw,
                            int bits, nn_error *err)
{
    uint64_t nnz, slen;
    nn_status st = qio_get_uvar(r, &nnz, n, "non-zero weight count", err);
    if (st == NN_OK)
        st = qio_get_uvar(r, &slen, nn_rbuf_left(r), "stream length", err);
    if (st != NN_OK)
        return st;
    const uint64_t soff = nn_rbuf_offset(r);
    const uint8_t *sp;
    if ((st = nn_rbuf_view(r, &sp, (size_t)slen, "weight stream", err)) != NN_OK)
        return st;
    rc_decoder d;
    if (!rc_dec_init(&d, sp, (size_t)slen))
        return nn_rbuf_errorf(r, soff, err, NN_ERR_FORMAT,
                              "weights: not a range-coded stream (%llu bytes, first byte %d)",
                              (unsigned long long)slen, slen ? sp[0] : -1);
    const size_t k_len = n / rows;
    const int q = bits == 8 ? 127 : 7;
    ctx_model *m = malloc(sizeof *m);
    if (!m || !init_model(m, k_len, bits, taps, kw)) {
        free(m);
        return nn_rbuf_errorf(r, soff, err, NN_ERR_NOMEM, "out of memory decoding %zu weights", n);
    }
    uint64_t ones = 0;
    const char *why = NULL;
    for (size_t o = 0; o < rows && !why; o++) {
        size_t rowc = 0;
        for (size_t k = 0; k < k_len; k++) {
            int8_t *dst = &w[o * k_len + k];
            tap_ctx x = tap_context(m, w + o * k_len, k);
            if (!rc_dec_bit(&d, pos_model(m, o, k, rowc, x.pos))) {
                *dst = 0;
                continue;
            }
            if (++ones > nnz) {
                why = "more non-zero weights than the count says";
                break;
            }
            rowc++;
            count(m, k);
            int neg = rc_dec_bit(&d, &m->sign[x.sign]), node = 1;
            for (int b = 0; b < m->mbits; b++)
                node = node * 2 + rc_dec_bit(&d, &m->mag[x.mag][node]);
            int mag = node - (1 << m->mbits) + 1;
            if (mag > q) {
                why = "a magnitude beyond the weight range";
                break;
            }
            *dst = (int8_t)(neg ? -mag : mag);
        }
        if (d.overrun && !why)
            why = "the stream ends early";
    }
    free(m->col);
    free(m);
    if (!why && ones != nnz)
        why = "fewer non-zero weights than the count says";
    if (!why && !rc_dec_done(&d))
        why = "the stream has bytes the weights do not use";
    if (why)
        return nn_rbuf_errorf(r, soff + (d.pos < slen ? d.pos : slen), err, NN_ERR_FORMAT,
                              "weights: %s", why);
    return NN_OK;
}
