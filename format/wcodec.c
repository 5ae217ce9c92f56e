/* wcodec.c - weight encodings (see wcodec.h). */
#include "wcodec.h"

#include <string.h>

#include "huff.h"
#include "qio.h"
#include "wc_context.h"

#define GAP_LITERALS 32
#define GAP_SYMS (GAP_LITERALS + 26)

static const char *const names[WC_COUNT] = {"dense", "dense+huffman", "bitmap", "bitmap+huffman",
                                            "gaps",  "gaps+huffman",  "context", "context+taps"};

const char *wc_encoding_name(int e) { return e >= 0 && e < WC_COUNT ? names[e] : NULL; }

/* The kernel taps encoding e reads a row as, and their width: kernel^2
 * groups for "context+taps" when they divide the row, else one (the
 * "context" encoding, dense layers, a kernel that does not fit the row). */
static size_t row_taps(wc_encoding e, size_t n, size_t rows, size_t kernel, size_t *kw)
{
    *kw = 1;
    if (e != WC_CONTEXT_TAPS || kernel < 2 || kernel > 64 || (n / rows) % (kernel * kernel) != 0)
        return 1;
    *kw = kernel;
    return kernel * kernel;
}

static int enc_positions(wc_encoding e) { return (int)e / 2; } /* 0 dense, 1 bitmap, 2 gaps */
static int enc_huff_values(wc_encoding e) { return (int)e & 1; }

/* Gap g -> symbol and (extra bits, count). */
static int gap_symbol(uint64_t g, uint32_t *extra, int *nextra)
{
    if (g < GAP_LITERALS) {
        *extra = 0, *nextra = 0;
        return (int)g;
    }
    int top = 63 - __builtin_clzll(g); /* g in [2^top, 2^(top+1)), top >= 5 */
    *nextra = top;
    *extra = (uint32_t)(g - ((uint64_t)1 << top));
    return GAP_LITERALS + (top - 5);
}

/* ---- encoder -------------------------------------------------------------- */

typedef struct {
    int q;                    /* largest magnitude: 127 or 7                */
    int bits;                 /* raw value width                            */
    uint64_t vfreq[255];      /* value + q -> count (all weights)           */
    uint64_t nzfreq[255];     /* the same over non-zero weights only        */
    uint64_t gfreq[GAP_SYMS]; /* gap symbol -> count                        */
    size_t nnz;
} wc_stats;

static void gather(wc_stats *s, const int8_t *w, size_t n, int bits)
{
    memset(s, 0, sizeof *s);
    s->bits = bits;
    s->q = bits == 8 ? 127 : 7;
    uint64_t gap = 0;
    for (size_t k = 0; k < n; k++) {
        s->vfreq[w[k] + s->q]++;
        if (w[k] == 0) {
            gap++;
            continue;
        }
        s->nzfreq[w[k] + s->q]++;
        uint32_t extra;
        int ne;
        s->gfreq[gap_symbol(gap, &extra, &ne)]++;
        gap = 0;
        s->nnz++;
    }
}

static void put_value(qio_bitw *b, const huff_code *vc, int8_t v, int q, int bits)
{
    if (vc)
        huff_put(b, vc, v + q);
    else
        qio_put_bits(b, (uint32_t)(uint8_t)v, bits);
}

void wc_encode(nn_wbuf *out, wc_encoding e, const int8_t *w, size_t n, size_t rows, size_t kernel,
               int bits)
{
    if (e == WC_CONTEXT || e == WC_CONTEXT_TAPS) {
        size_t kw, taps = row_taps(e, n, rows, kernel, &kw);
        wc_context_encode(out, w, n, rows, taps, kw, bits);
        return;
    }
    wc_stats s;
    gather(&s, w, n, bits);
    int pos = enc_positions(e), huffv = enc_huff_values(e);
    huff_code vc, gc;
    const huff_code *vcp = NULL;
    if (pos > 0)
        qio_put_uvar(out, (uint64_t)s.nnz);
    if (pos == 2 && s.nnz > 0) {
        huff_build(&gc, s.gfreq, GAP_SYMS);
        huff_write_table(out, &gc);
    }
    if (huffv && (pos == 0 || s.nnz > 0)) {
        huff_build(&vc, pos == 0 ? s.vfreq : s.nzfreq, 2 * s.q + 1);
        huff_write_table(out, &vc);
        vcp = &vc;
    }
    nn_wbuf stream;
    nn_wbuf_init(&stream);
    qio_bitw b;
    qio_bitw_init(&b, &stream);
    if (pos == 0) {
        for (size_t k = 0; k < n; k++)
            put_value(&b, vcp, w[k], s.q, bits);
    } else if (pos == 1) {
        for (size_t k = 0; k < n; k++)
            qio_put_bits(&b, w[k] != 0, 1);
        for (size_t k = 0; k < n; k++)
            if (w[k])
                put_value(&b, vcp, w[k], s.q, bits);
    } else {
        uint64_t gap = 0;
        for (size_t k = 0; k < n; k++) {
            if (w[k] == 0) {
                gap++;
                continue;
            }
            uint32_t extra;
            int ne;
            int sym = gap_symbol(gap, &extra, &ne);
            huff_put(&b, &gc, sym);
            qio_put_bits(&b, extra, ne);
            put_value(&b, vcp, w[k], s.q, bits);
            gap = 0;
        }
    }
    qio_bitw_flush(&b);
    if (stream.failed)
        out->failed = 1;
    qio_put_uvar(out, (uint64_t)stream.len);
    nn_wbuf_bytes(out, stream.data, stream.len);
    nn_wbuf_free(&stream);
}

wc_encoding wc_encode_best(nn_wbuf *out, const int8_t *w, size_t n, size_t rows, size_t kernel,
                           int bits)
{
    wc_encoding best = WC_DENSE_RAW;
    size_t best_len = SIZE_MAX;
    for (int e = 0; e < WC_COUNT; e++) {
        nn_wbuf t;
        nn_wbuf_init(&t);
        wc_encode(&t, (wc_encoding)e, w, n, rows, kernel, bits);
        if (!t.failed && t.len < best_len) {
            best_len = t.len;
            best = (wc_encoding)e;
        }
        nn_wbuf_free(&t);
    }
    nn_wbuf_u8(out, (uint8_t)best);
    wc_encode(out, best, w, n, rows, kernel, bits);
    return best;
}

/* ---- decoder -------------------------------------------------------------- */

#define FAIL(off, ...) nn_rbuf_errorf(r, (off), err, NN_ERR_FORMAT, __VA_ARGS__)

/* One value: raw or Huffman; nonzero = 1 rejects 0. Returns 0 on success. */
static int get_value(qio_bitr *b, const huff_decoder *vd, int q, int bits, int nonzero, int8_t *v,
                     const char **why)
{
    int x;
    if (vd) {
        int sym = huff_get(vd, b);
        if (sym < 0) {
            *why = "invalid or truncated value code";
            return 1;
        }
        x = sym - q;
    } else {
        uint32_t u;
        if (!qio_get_bits(b, bits, &u)) {
            *why = "stream ends inside a value";
            return 1;
        }
        x = bits == 8 ? (int)(int8_t)(uint8_t)u : (u & 8) ? (int)u - 16 : (int)u;
        if (x < -q) {
            *why = "value outside the weight range";
            return 1;
        }
    }
    if (nonzero && x == 0) {
        *why = "a zero among the non-zero values";
        return 1;
    }
    *v = (int8_t)x;
    return 0;
}

nn_status wc_decode(nn_rbuf *r, wc_encoding e, int8_t *w, size_t n, size_t rows, size_t kernel,
                    int bits, nn_error *err)
{
    if ((int)e < 0 || e >= WC_COUNT || (bits != 8 && bits != 4) || n == 0 || n > WC_MAX_WEIGHTS ||
        rows == 0 || n % rows != 0)
        return FAIL(nn_rbuf_offset(r),
                    "weights: encoding %d of %zu %d-bit weights in %zu rows is "
                    "invalid",
                    (int)e, n, bits, rows);
    if (e == WC_CONTEXT || e == WC_CONTEXT_TAPS) {
        size_t kw, taps = row_taps(e, n, rows, kernel, &kw);
        return wc_context_decode(r, w, n, rows, taps, kw, bits, err);
    }
    int q = bits == 8 ? 127 : 7;
    int pos = enc_positions(e), huffv = enc_huff_values(e);
    uint64_t nnz = n;
    nn_status st;
    if (pos > 0 && (st = qio_get_uvar(r, &nnz, n, "non-zero weight count", err)) != NN_OK)
        return st;
    huff_decoder gd, vd;
    const huff_decoder *vdp = NULL;
    if (pos == 2 && nnz > 0 && (st = huff_read_table(r, &gd, GAP_SYMS, "gap code", err)) != NN_OK)
        return st;
    if (huffv && (pos == 0 || nnz > 0)) {
        if ((st = huff_read_table(r, &vd, 2 * q + 1, "value code", err)) != NN_OK)
            return st;
        vdp = &vd;
    }
    uint64_t slen;
    if ((st = qio_get_uvar(r, &slen, nn_rbuf_left(r), "stream length", err)) != NN_OK)
        return st;
    uint64_t soff = nn_rbuf_offset(r);
    const uint8_t *sp;
    if ((st = nn_rbuf_view(r, &sp, (size_t)slen, "weight stream", err)) != NN_OK)
        return st;
    qio_bitr b;
    qio_bitr_init(&b, sp, (size_t)slen);
    const char *why = NULL;
    /* Stream errors report the byte the reader had reached. */
#define STREAM_FAIL(msg) FAIL(soff + b.pos / 8, "weights: %s", msg)
    if (pos == 0) {
        for (size_t k = 0; k < n; k++)
            if (get_value(&b, vdp, q, bits, 0, &w[k], &why))
                return STREAM_FAIL(why);
    } else if (pos == 1) {
        memset(w, 0, n);
        uint64_t ones = 0;
        for (size_t k = 0; k < n; k++) {
            uint32_t bit;
            if (!qio_get_bits(&b, 1, &bit))
                return STREAM_FAIL("stream ends inside the bitmap");
            w[k] = (int8_t)bit; /* marks; values follow */
            ones += bit;
        }
        if (ones != nnz)
            return FAIL(soff, "weights: the bitmap has %llu non-zero weights, the count says %llu",
                        (unsigned long long)ones, (unsigned long long)nnz);
        for (size_t k = 0; k < n; k++)
            if (w[k] && get_value(&b, vdp, q, bits, 1, &w[k], &why))
                return STREAM_FAIL(why);
    } else {
        memset(w, 0, n);
        uint64_t at = 0; /* next position */
        for (uint64_t i = 0; i < nnz; i++) {
            int sym = huff_get(&gd, &b);
            if (sym < 0)
                return STREAM_FAIL("invalid or truncated gap code");
            uint64_t gap = (uint64_t)sym;
            if (sym >= GAP_LITERALS) {
                int ne = sym - GAP_LITERALS + 5;
                uint32_t extra;
                if (!qio_get_bits(&b, ne, &extra))
                    return STREAM_FAIL("stream ends inside a gap");
                gap = ((uint64_t)1 << ne) + extra;
            }
            if (gap >= n - at)
                return STREAM_FAIL("a gap runs past the last weight");
            at += gap;
            if (get_value(&b, vdp, q, bits, 1, &w[at], &why))
                return STREAM_FAIL(why);
            at++;
        }
    }
#undef STREAM_FAIL
    if (!qio_bitr_done(&b))
        return FAIL(soff,
                    "weights: %zu stream bytes, but the weights end at bit %zu (or the "
                    "padding bits are not zero)",
                    (size_t)slen, b.pos);
    return NN_OK;
}
