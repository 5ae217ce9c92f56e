/* Tests of the .iotc building blocks: varints, canonical Huffman codes,
 * the range coder and the eight weight encodings (round trips, size, every
 * truncation and byte value of a stream handled cleanly). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "format/huff.h"
#include "format/qio.h"
#include "format/wcodec.h"
#include "libnn/nn_rng.h"

/* ---- varints and Huffman codes -------------------------------------------- */

static nn_rbuf rbuf_of(const nn_wbuf *w)
{
    nn_rbuf r;
    nn_rbuf_init(&r, w->data, w->len, 100, "t.bin", "test");
    return r;
}

Test(iotc_io, varints_round_trip_and_reject_bad_encodings)
{
    const uint64_t u[] = {0, 1, 127, 128, 300, 16383, 16384, (uint64_t)1 << 35, UINT64_MAX};
    const int64_t s[] = {0, -1, 1, -64, 63, -65, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX};
    nn_wbuf w;
    nn_wbuf_init(&w);
    for (size_t i = 0; i < sizeof u / sizeof *u; i++)
        qio_put_uvar(&w, u[i]);
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        qio_put_svar(&w, s[i]);
    nn_rbuf r = rbuf_of(&w);
    nn_error err;
    for (size_t i = 0; i < sizeof u / sizeof *u; i++) {
        uint64_t v;
        cr_assert_eq(qio_get_uvar(&r, &v, UINT64_MAX, "u", &err), NN_OK, "%s", err.msg);
        cr_expect_eq(v, u[i]);
    }
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        int64_t v;
        cr_assert_eq(qio_get_svar(&r, &v, INT64_MIN, INT64_MAX, "s", &err), NN_OK);
        cr_expect_eq(v, s[i]);
    }
    cr_expect_eq(nn_rbuf_left(&r), 0u);
    nn_wbuf_free(&w);
    /* Not minimal, too long, overflowing, truncated, above the maximum. */
    const uint8_t bad[][11] = {{0x80, 0x00},
                               {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
                               {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
                               {0x80},
                               {0x05}};
    const size_t len[] = {2, 11, 10, 1, 1};
    for (int i = 0; i < 5; i++) {
        nn_rbuf_init(&r, bad[i], len[i], 100, "t.bin", "test");
        uint64_t v;
        cr_expect_eq(qio_get_uvar(&r, &v, 4, "field", &err), NN_ERR_FORMAT, "case %d", i);
        cr_expect(strstr(err.msg, "t.bin: test: offset 10"), "%s", err.msg);
    }
}

Test(iotc_huff, round_trip_and_length_limit)
{
    /* Fibonacci counts force a deep tree: the code must be limited to 15
     * bits and still decode. */
    uint64_t f[40];
    f[0] = f[1] = 1;
    for (int i = 2; i < 40; i++)
        f[i] = f[i - 1] + f[i - 2];
    huff_code c;
    huff_build(&c, f, 40);
    int maxlen = 0;
    for (int s = 0; s < 40; s++) {
        cr_expect(c.len[s] >= 1, "symbol %d has no code", s);
        maxlen = c.len[s] > maxlen ? c.len[s] : maxlen;
    }
    cr_expect_eq(maxlen, HUFF_MAX_LEN);
    /* A stream of all symbols, through the stored table. */
    nn_wbuf w;
    nn_wbuf_init(&w);
    huff_write_table(&w, &c);
    cr_expect_eq(w.len, huff_table_bytes(&c));
    nn_wbuf bits;
    nn_wbuf_init(&bits);
    qio_bitw b;
    qio_bitw_init(&b, &bits);
    for (int rep = 0; rep < 3; rep++)
        for (int s = 0; s < 40; s++)
            huff_put(&b, &c, (s * 7 + rep) % 40);
    qio_bitw_flush(&b);
    nn_rbuf r = rbuf_of(&w);
    huff_decoder d;
    nn_error err;
    cr_assert_eq(huff_read_table(&r, &d, 40, "t", &err), NN_OK, "%s", err.msg);
    qio_bitr br;
    qio_bitr_init(&br, bits.data, bits.len);
    for (int rep = 0; rep < 3; rep++)
        for (int s = 0; s < 40; s++)
            cr_expect_eq(huff_get(&d, &br), (s * 7 + rep) % 40);
    cr_expect(qio_bitr_done(&br));
    nn_wbuf_free(&w), nn_wbuf_free(&bits);

    /* Huffman lengths are optimal: 4 equal counts take 2 bits each. */
    uint64_t eq[4] = {5, 5, 5, 5};
    huff_build(&c, eq, 4);
    cr_expect_eq(huff_data_bits(&c, eq), 40u);
    /* One symbol: code "0"; a "1" is not a codeword. */
    uint64_t one[3] = {0, 9, 0};
    huff_build(&c, one, 3);
    cr_expect_eq(c.len[1], 1);
    cr_assert_eq(huff_decoder_init(&d, c.len, 3), NN_OK);
    uint8_t zero = 0x00, ff = 0xff;
    qio_bitr_init(&br, &zero, 1);
    cr_expect_eq(huff_get(&d, &br), 1);
    qio_bitr_init(&br, &ff, 1);
    cr_expect_eq(huff_get(&d, &br), -1);
}

Test(iotc_huff, invalid_tables_are_rejected)
{
    huff_decoder d;
    const uint8_t over[3] = {1, 1, 1};  /* Kraft sum 1.5     */
    const uint8_t under[3] = {1, 2, 0}; /* 0.75, incomplete  */
    const uint8_t none[3] = {0, 0, 0};
    const uint8_t deep[2] = {16, 1};
    const uint8_t ok[3] = {1, 2, 2};
    cr_expect_eq(huff_decoder_init(&d, over, 3), NN_ERR_FORMAT);
    cr_expect_eq(huff_decoder_init(&d, under, 3), NN_ERR_FORMAT);
    cr_expect_eq(huff_decoder_init(&d, none, 3), NN_ERR_FORMAT);
    cr_expect_eq(huff_decoder_init(&d, deep, 2), NN_ERR_FORMAT);
    cr_expect_eq(huff_decoder_init(&d, ok, 3), NN_OK);
    /* Stored: a range past the alphabet, a non-zero padding nibble. */
    const uint8_t past[] = {2, 2, 0x11}; /* symbols 2..3 of 3 */
    const uint8_t pad[] = {0, 1, 0x11};  /* one length, high nibble set */
    nn_error err;
    nn_rbuf r;
    nn_rbuf_init(&r, past, sizeof past, 0, "t.bin", "t");
    cr_expect_eq(huff_read_table(&r, &d, 3, "t", &err), NN_ERR_FORMAT);
    nn_rbuf_init(&r, pad, sizeof pad, 0, "t.bin", "t");
    cr_expect_eq(huff_read_table(&r, &d, 3, "t", &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "padding"), "%s", err.msg);
}

/* ---- weight encodings ------------------------------------------------------- */

/* n weights of which about `density` are non-zero, in [-q, q]; peaked
 * around small magnitudes like trained weights. */
static int8_t *random_weights(size_t n, double density, int bits, uint64_t seed)
{
    int8_t *w = calloc(n, 1);
    nn_rng r;
    nn_rng_seed(&r, seed);
    int q = bits == 8 ? 127 : 7;
    for (size_t k = 0; k < n; k++) {
        if (nn_rng_uniform(&r) >= density)
            continue;
        int v = (int)(nn_rng_normal(&r) * q / 3.0);
        v = v < -q ? -q : v > q ? q : v;
        w[k] = (int8_t)(v ? v : 1);
    }
    return w;
}

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void expect_round_trip_k(const int8_t *w, size_t n, size_t rows, size_t kernel, int bits,
                               wc_encoding e)
{
    nn_wbuf out;
    nn_wbuf_init(&out);
    wc_encode(&out, e, w, n, rows, kernel, bits);
    cr_assert(!out.failed);
    int8_t *got = malloc(n);
    memset(got, 0x55, n);
    nn_rbuf r = rbuf_of(&out);
    nn_error err;
    cr_assert_eq(wc_decode(&r, e, got, n, rows, kernel, bits, &err), NN_OK,
                 "%s n %zu rows %zu kernel %zu bits %d: %s", wc_encoding_name(e), n, rows, kernel,
                 bits, err.msg);
    cr_expect_eq(nn_rbuf_left(&r), 0u);
    cr_expect_eq(memcmp(got, w, n), 0, "%s n %zu rows %zu kernel %zu bits %d differs",
                 wc_encoding_name(e), n, rows, kernel, bits);
    free(got);
    nn_wbuf_free(&out);
}

/* Every round trip is tried with the rows read as kernels of width 1, 2
 * and 3 (tap groups where they divide the row: "context+taps" then uses
 * its tap contexts, the other encodings ignore the kernel). */
static void expect_round_trip(const int8_t *w, size_t n, size_t rows, int bits, wc_encoding e)
{
    for (size_t kernel = 1; kernel <= 3; kernel++)
        expect_round_trip_k(w, n, rows, kernel, bits, e);
}

Test(iotc_wcodec, every_encoding_round_trips)
{
    const size_t sizes[] = {1, 7, 8, 9, 300, 5000}, mid_rows[] = {1, 7, 2, 3, 20, 50};
    const double densities[] = {0.0, 0.03, 0.3, 1.0};
    for (size_t si = 0; si < 6; si++)
        for (size_t di = 0; di < 4; di++)
            for (int bits = 4; bits <= 8; bits += 4) {
                int8_t *w = random_weights(sizes[si], densities[di], bits, si * 10 + di);
                const size_t rows[3] = {1, mid_rows[si], sizes[si]};
                for (int e = 0; e < WC_COUNT; e++)
                    for (int ri = 0; ri < 3; ri++)
                        expect_round_trip(w, sizes[si], rows[ri], bits, (wc_encoding)e);
                free(w);
            }
    /* Extreme values and gaps: +-q, one weight at the very end after a
     * gap beyond 2^20, and a first weight at position 0. */
    size_t n = ((size_t)1 << 21) + 5;
    int8_t *w = calloc(n, 1);
    w[0] = -127, w[1] = 127, w[n - 1] = -1;
    for (int e = 0; e < WC_COUNT; e++)
        expect_round_trip(w, n, 1, 8, (wc_encoding)e);
    w[0] = -7, w[1] = 7;
    for (int e = 0; e < WC_COUNT; e++)
        expect_round_trip(w, n, 1, 4, (wc_encoding)e);
    free(w);
}

Test(iotc_wcodec, best_is_the_smallest_and_sparse_is_compact)
{
    int8_t *w = random_weights(100000, 0.05, 4, 3);
    size_t len[WC_COUNT], best = SIZE_MAX;
    for (int e = 0; e < WC_COUNT; e++) {
        nn_wbuf out;
        nn_wbuf_init(&out);
        wc_encode(&out, (wc_encoding)e, w, 100000, 100, 1, 4);
        len[e] = out.len;
        best = out.len < best ? out.len : best;
        nn_wbuf_free(&out);
    }
    nn_wbuf out;
    nn_wbuf_init(&out);
    wc_encoding e = wc_encode_best(&out, w, 100000, 100, 1, 4);
    cr_expect_eq(out.len, best + 1); /* + the encoding byte */
    cr_expect_eq(len[e], best);
    cr_expect_eq(out.data[0], (uint8_t)e);
    /* 5% density: positions cost about H(0.05) / 0.05 = 5.7 bits and
     * these values under 3 bits per non-zero weight: well under 10 bits,
     * where a bitmap alone is 20. */
    size_t nnz = 0;
    for (int k = 0; k < 100000; k++)
        nnz += w[k] != 0;
    double bits_per_nz = 8.0 * (double)best / (double)nnz;
    cr_log_info("5%% sparse 4-bit: %.2f bits per non-zero (%s)", bits_per_nz, wc_encoding_name(e));
    cr_expect_lt(bits_per_nz, 9.5);
    cr_expect(e == WC_GAPS_HUFF || e == WC_CONTEXT, "%s", wc_encoding_name(e));
    nn_wbuf_free(&out);
    free(w);
    /* Dense 8-bit data never grows beyond raw bytes plus a few. */
    w = random_weights(4096, 1.0, 8, 4);
    nn_wbuf_init(&out);
    wc_encode_best(&out, w, 4096, 16, 1, 8);
    cr_expect_leq(out.len, 4096u + 4);
    nn_wbuf_free(&out);
    free(w);
}

/* A pruned layer whose inputs were dropped for every channel (whole
 * columns of zeros) and with some dead channels (rows): the context
 * encoding learns both and beats the gap code, which sees only the
 * density. */
Test(iotc_wcodec, context_coding_learns_dead_rows_and_columns)
{
    const size_t rows = 128, cols = 1024, n = rows * cols;
    int8_t *w = calloc(n, 1);
    uint8_t live_col[1024], live_row[128];
    nn_rng r;
    nn_rng_seed(&r, 12);
    for (size_t k = 0; k < cols; k++)
        live_col[k] = nn_rng_uniform(&r) < 0.25f;
    for (size_t o = 0; o < rows; o++)
        live_row[o] = nn_rng_uniform(&r) < 0.85f;
    for (size_t o = 0; o < rows; o++)
        for (size_t k = 0; k < cols; k++)
            if (live_col[k] && live_row[o] && nn_rng_uniform(&r) < 0.2f)
                w[o * cols + k] =
                    (int8_t)((nn_rng_below(&r, 2) ? 1 : -1) * (3 + 2 * (int)nn_rng_below(&r, 2)));
    nn_wbuf gaps, ctx;
    nn_wbuf_init(&gaps), nn_wbuf_init(&ctx);
    wc_encode(&gaps, WC_GAPS_HUFF, w, n, rows, 1, 4);
    wc_encode(&ctx, WC_CONTEXT, w, n, rows, 1, 4);
    cr_log_info("structured: gaps+huffman %zu bytes, context %zu bytes", gaps.len, ctx.len);
    cr_expect_lt(ctx.len * 10, gaps.len * 8, "context %zu vs gaps %zu", ctx.len, gaps.len);
    expect_round_trip(w, n, rows, 4, WC_CONTEXT);
    /* The same rows read as other rows still decode (only the size suffers). */
    expect_round_trip(w, n, 1, 4, WC_CONTEXT);
    nn_wbuf_free(&gaps), nn_wbuf_free(&ctx);
    free(w);
}

/* A pruned 3x3 conv as training leaves one: most (o, c) filters dropped
 * whole, the kept ones smooth: a blob of one sign, or an edge (left column
 * against right, or top row against bottom), mostly of one size.
 * "context+taps" sees the filters and must beat "context" by far; read as
 * a dense layer (kernel 1) it is "context", byte for byte. */
Test(iotc_wcodec, context_taps_learns_the_filters)
{
    const size_t rows = 64, in_c = 32, kk = 9, n = rows * kk * in_c;
    int8_t *w = calloc(n, 1);
    nn_rng r;
    nn_rng_seed(&r, 21);
    for (size_t o = 0; o < rows; o++)
        for (size_t c = 0; c < in_c; c++) {
            if (nn_rng_uniform(&r) < 0.7f)
                continue;
            int sign = nn_rng_below(&r, 2) ? 1 : -1, size = 1 + (int)nn_rng_below(&r, 7);
            int kind = (int)nn_rng_below(&r, 3); /* blob, vertical edge, horizontal edge */
            for (int t = 0; t < 9; t++) {
                int pos = kind == 0 ? 1 : kind == 1 ? 1 - t % 3 : 1 - t / 3; /* +1, 0, -1 */
                if (pos == 0 || nn_rng_uniform(&r) < 0.1f)
                    continue;
                int v = size + (int)nn_rng_below(&r, 3) - 1;
                v = v < 1 ? 1 : v > 7 ? 7 : v;
                w[o * kk * in_c + (size_t)t * in_c + c] = (int8_t)(sign * pos * v);
            }
        }
    nn_wbuf ctx, taps, flat;
    nn_wbuf_init(&ctx), nn_wbuf_init(&taps), nn_wbuf_init(&flat);
    wc_encode(&ctx, WC_CONTEXT, w, n, rows, 3, 4);
    wc_encode(&taps, WC_CONTEXT_TAPS, w, n, rows, 3, 4);
    wc_encode(&flat, WC_CONTEXT_TAPS, w, n, rows, 1, 4);
    cr_log_info("3x3 filters: context %zu bytes, context+taps %zu", ctx.len, taps.len);
    /* Each context part earns its place here: without the tap counts the
     * stream is 3,046 bytes, without the sign contexts 2,632, the
     * magnitudes' 2,462, the left neighbour's 2,394, the upper's 2,410. */
    cr_expect_lt(taps.len * 100, ctx.len * 65, "context+taps %zu vs context %zu", taps.len,
                 ctx.len);
    /* And the stream is a file format: these bytes, exactly. */
    cr_expect_eq(taps.len, 2273u);
    cr_expect_eq(fnv1a(taps.data, taps.len), 0xce526d85u, "FNV-1a 0x%08x", fnv1a(taps.data, taps.len));
    cr_expect(flat.len == ctx.len && memcmp(flat.data, ctx.data, ctx.len) == 0);
    nn_wbuf best;
    nn_wbuf_init(&best);
    cr_expect_eq(wc_encode_best(&best, w, n, rows, 3, 4), WC_CONTEXT_TAPS);
    expect_round_trip_k(w, n, rows, 3, 4, WC_CONTEXT_TAPS);
    /* 8-bit values go through the same model; the wrong kernel still
     * decodes what it encoded. */
    expect_round_trip_k(w, n, rows, 3, 8, WC_CONTEXT_TAPS);
    expect_round_trip_k(w, n, rows, 2, 4, WC_CONTEXT_TAPS);
    nn_wbuf_free(&ctx), nn_wbuf_free(&taps), nn_wbuf_free(&flat), nn_wbuf_free(&best);
    free(w);
}

/* The "context" stream is a file format: these bytes are what the encoder
 * wrote before "context+taps" existed (2026-12-07), so files written then
 * still decode. */
Test(iotc_wcodec, context_stream_is_unchanged)
{
    static int8_t w[9216];
    uint32_t x = 12345;
    for (int k = 0; k < 9216; k++) {
        x = x * 1664525u + 1013904223u;
        int v = (int)(x >> 24);
        w[k] = v < 180 ? 0 : (int8_t)(v % 15 - 7);
    }
    const struct {
        int bits;
        size_t len;
        uint32_t fnv;
    } golden[2] = {{4, 2234, 0xc28bd6d7u}, {8, 2238, 0x77a6f8d8u}};
    for (int i = 0; i < 2; i++) {
        nn_wbuf o;
        nn_wbuf_init(&o);
        wc_encode(&o, WC_CONTEXT, w, 9216, 64, 3, golden[i].bits);
        uint32_t h = fnv1a(o.data, o.len);
        cr_expect_eq(o.len, golden[i].len, "%d-bit: %zu bytes", golden[i].bits, o.len);
        cr_expect_eq(h, golden[i].fnv, "%d-bit: FNV-1a 0x%08x", golden[i].bits, h);
        nn_wbuf_free(&o);
    }
}

Test(iotc_wcodec, corrupt_streams_are_errors_never_crashes)
{
    int8_t *w = random_weights(600, 0.1, 4, 9);
    int8_t got[600];
    for (int e = 0; e < WC_COUNT; e++) {
        nn_wbuf out;
        nn_wbuf_init(&out);
        wc_encode(&out, (wc_encoding)e, w, 600, 25, 2, 4); /* rows of 4 taps of 6 */
        nn_error err;
        /* Every truncation fails. */
        for (size_t n = 0; n < out.len; n++) {
            nn_rbuf r;
            nn_rbuf_init(&r, out.data, n, 0, "t.bin", "w");
            cr_expect_eq(wc_decode(&r, (wc_encoding)e, got, 600, 25, 2, 4, &err), NN_ERR_FORMAT,
                         "%s truncated to %zu", wc_encoding_name((int)e), n);
        }
        /* Every byte value at every position: an error or weights in range. */
        for (size_t i = 0; i < out.len; i++)
            for (int v = 0; v < 256; v += 3) {
                uint8_t keep = out.data[i];
                out.data[i] = (uint8_t)v;
                nn_rbuf r;
                nn_rbuf_init(&r, out.data, out.len, 0, "t.bin", "w");
                nn_status st = wc_decode(&r, (wc_encoding)e, got, 600, 25, 2, 4, &err);
                cr_expect(st == NN_OK || st == NN_ERR_FORMAT);
                if (st == NN_OK)
                    for (int k = 0; k < 600; k++)
                        cr_expect(got[k] >= -7 && got[k] <= 7);
                out.data[i] = keep;
            }
        nn_wbuf_free(&out);
    }
    free(w);
}
