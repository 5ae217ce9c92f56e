/* Tests of the int8 reference interpreter (golden tensors), the .iotc
 * building blocks (varints, canonical Huffman, weight encodings) and the
 * format: field-by-field round trips, every truncation and every
 * single-byte change rejected, payload mutations with a recomputed CRC
 * never crashing the loader, section rules, atomic writes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../compress/huff.h"
#include "../compress/iotc.h"
#include "../compress/mstats.h"
#include "../compress/qio.h"
#include "../compress/qref.h"
#include "../compress/quantize.h"
#include "../compress/wcodec.h"
#include "../libnn/nn_checkpoint.h"
#include "qfixtures.h"

/* ---- the golden model ------------------------------------------------------ */

/* Input 2x4x4 (table: p / 4 - 32 + 5c, zero -3) ->
 *  0 conv 3x3 pad 1, 3 channels, ReLU      (4x4x3)
 *  1 maxpool 2 of 0                         (2x2x3)
 *  2 avgpool 2 stride 1 of 0                (3x3x3)
 *  3 global avgpool of 2, 4 global avgpool of 1
 *  5 add(3, 4)                              (1x1x3)
 *  6 dense 3 -> 2
 * The expected tensors below were computed from the rules of qmodel.h
 * with exact integer arithmetic (Python), independently of the C code. */
static const int8_t gold_input[] = {-32, 0,   -29, 4,   -25, 8,   -21, 12,  -24, 9,  -20,
                                    12,  -17, 16,  -13, 20,  -16, 17,  -12, 21,  -8, 24,
                                    -5,  28,  -8,  25,  -4,  29,  0,   33,  4,   36};
static const int8_t gold_t0[] = {17, 3, 5,  -2, 15, 4,  -1,  14, 5,  -9,  11, -3, 22,  -5, -5, 24,
                                 -1, 1, 22, 0,  2,  12, -4,  0,  22, -8,  -3, 19, 0,   3,  17, -1,
                                 4,  8, -1, 0,  18, 14, -10, 26, 16, -10, 24, 18, -10, 32, 4,  -1};
static const int8_t gold_t1[] = {24, 15, 5, 22, 14, 5, 26, 16, 3, 32, 18, 4};
static const int8_t gold_t2[] = {15, 3,  1,  11, 7,  3, 6,  5,  1, 22, -3, -1, 21, 0,
                                 3,  15, -1, 2,  21, 6, -5, 22, 8, -3, 20, 5,  -2};
static const int8_t gold_t3[] = {17, 3, 0}, gold_t4[] = {26, 16, 4}, gold_t5[] = {45, 30, 20};
static const int8_t gold_t6[] = {28, 2};

static void golden_pixels(uint8_t *px)
{
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                px[(c * 4 + y) * 4 + x] = (uint8_t)((37 * c + 11 * y + 5 * x) * 3 % 256);
}

static qm_op shape_op(qm_op_type t, int in, int in_c, int in_h, int in_w, int out_c, int out_h,
                      int out_w)
{
    qm_op op;
    memset(&op, 0, sizeof op);
    op.type = t, op.input = in, op.input2 = QM_INPUT;
    op.in_c = in_c, op.in_h = in_h, op.in_w = in_w;
    op.out_c = out_c, op.out_h = out_h, op.out_w = out_w;
    return op;
}

static void golden_model(qm_model *m)
{
    memset(m, 0, sizeof *m);
    m->in_c = 2, m->in_h = 4, m->in_w = 4, m->num_classes = 2, m->n_ops = 7;
    m->in = (qm_qparams){0.05f, -3};
    const qm_qparams q0 = {0.1f, -10};
    qm_op *o = m->ops;
    o[0] = shape_op(QM_CONV2D, QM_INPUT, 2, 4, 4, 3, 4, 4);
    o[0].kernel = 3, o[0].stride = 1, o[0].pad = 1, o[0].relu = 1, o[0].weight_bits = 8;
    o[0].out = q0;
    o[1] = shape_op(QM_MAXPOOL, 0, 3, 4, 4, 3, 2, 2);
    o[1].kernel = 2, o[1].stride = 2, o[1].out = q0;
    o[2] = shape_op(QM_AVGPOOL, 0, 3, 4, 4, 3, 3, 3);
    o[2].kernel = 2, o[2].stride = 1, o[2].out = q0;
    o[3] = shape_op(QM_GLOBAL_AVGPOOL, 2, 3, 3, 3, 3, 1, 1);
    o[3].out = q0;
    o[4] = shape_op(QM_GLOBAL_AVGPOOL, 1, 3, 2, 2, 3, 1, 1);
    o[4].out = q0;
    o[5] = shape_op(QM_ADD, 3, 3, 1, 1, 3, 1, 1);
    o[5].input2 = 4, o[5].add_mult[0] = 1 << 29, o[5].add_mult[1] = 3 << 28, o[5].add_shift = 30;
    o[5].out = (qm_qparams){0.2f, 4};
    o[6] = shape_op(QM_DENSE, 5, 3, 1, 1, 2, 1, 1);
    o[6].weight_bits = 8, o[6].out = (qm_qparams){0.5f, 0};
    nn_error err;
    cr_assert_eq(qm_model_alloc(m, &err), NN_OK, "%s", err.msg);
    for (int c = 0; c < 2; c++)
        for (int p = 0; p < 256; p++) {
            int v = p / 4 - 32 + 5 * c;
            m->input_lut[c * 256 + p] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
    for (int oc = 0; oc < 3; oc++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int c = 0; c < 2; c++)
                    o[0].weights[((oc * 3 + ky) * 3 + kx) * 2 + c] =
                        (int8_t)((oc * 7 + ky * 5 + kx * 3 + c * 2) % 11 - 5);
    const int32_t bias[3] = {100, 250, 7}, mult[3] = {1 << 30, 1518500250, 2147483647};
    const int8_t shift[3] = {33, 34, 35};
    for (int k = 0; k < 3; k++) {
        o[0].bias[k] = bias[k], o[0].mult[k] = mult[k], o[0].shift[k] = shift[k];
        o[0].w_scale[k] = 1.0f;
    }
    const int8_t dw[6] = {3, -5, 7, -2, 4, -6};
    memcpy(o[6].weights, dw, 6);
    o[6].bias[0] = -50, o[6].bias[1] = 80;
    o[6].mult[0] = o[6].mult[1] = 1 << 30;
    o[6].shift[0] = 31, o[6].shift[1] = 32;
    o[6].w_scale[0] = o[6].w_scale[1] = 1.0f;
    cr_assert_eq(qm_model_validate(m, &err), NN_OK, "%s", err.msg);
}

static void expect_tensor(const qm_model *m, const int8_t *scratch, int t, const int8_t *want,
                          size_t n)
{
    const int8_t *got = qm_ref_tensor(m, scratch, t);
    for (size_t k = 0; k < n; k++)
        cr_expect_eq(got[k], want[k], "tensor %d [%zu]: %d, want %d", t, k, got[k], want[k]);
}

Test(qref, golden_tensors)
{
    qm_model m;
    golden_model(&m);
    uint8_t px[32];
    golden_pixels(px);
    cr_assert_eq(qm_ref_scratch_bytes(&m), 32u + 48 + 12 + 27 + 3 + 3 + 3 + 2);
    int8_t *scratch = malloc(qm_ref_scratch_bytes(&m));
    qm_ref_run(&m, px, scratch);
    expect_tensor(&m, scratch, QM_INPUT, gold_input, 32);
    expect_tensor(&m, scratch, 0, gold_t0, 48);
    expect_tensor(&m, scratch, 1, gold_t1, 12);
    expect_tensor(&m, scratch, 2, gold_t2, 27);
    expect_tensor(&m, scratch, 3, gold_t3, 3);
    expect_tensor(&m, scratch, 4, gold_t4, 3);
    expect_tensor(&m, scratch, 5, gold_t5, 3);
    expect_tensor(&m, scratch, 6, gold_t6, 2);
    cr_expect_eq(qm_ref_argmax(&m, scratch), 0);
    float lg[2];
    qm_ref_logits(&m, scratch, lg);
    cr_expect_float_eq(lg[0], 14.0f, 1e-6);
    cr_expect_float_eq(lg[1], 1.0f, 1e-6);
    int correct;
    uint8_t label = 0;
    nn_error err;
    cr_expect_eq(qm_ref_classify(&m, px, &label, 1, 2, NULL, &correct, &err), NN_OK);
    cr_expect_eq(correct, 1);
    free(scratch);
    qm_model_free(&m);
}

Test(qref, activation_bytes_by_liveness)
{
    qm_model m;
    golden_model(&m);
    /* Peak at op 2 (avgpool): op 0's output (48, read by ops 1 and 2), op
     * 1's (12, read by op 4) and op 2's (27) = 87; the input (32) is dead
     * after op 0, whose peak is 32 + 48 = 80. */
    cr_expect_eq(qm_activation_bytes(&m), 87u);
    cr_expect_eq(qm_op_nonzero(&m.ops[0]), 54u - 6); /* six of the 54 weights are 0 */
    cr_expect_eq(qm_op_nonzero(&m.ops[1]), 0u);
    qm_model_free(&m);
}

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

static void expect_round_trip(const int8_t *w, size_t n, size_t rows, int bits, wc_encoding e)
{
    nn_wbuf out;
    nn_wbuf_init(&out);
    wc_encode(&out, e, w, n, rows, bits);
    cr_assert(!out.failed);
    int8_t *got = malloc(n);
    memset(got, 0x55, n);
    nn_rbuf r = rbuf_of(&out);
    nn_error err;
    cr_assert_eq(wc_decode(&r, e, got, n, rows, bits, &err), NN_OK, "%s n %zu bits %d: %s",
                 wc_encoding_name(e), n, bits, err.msg);
    cr_expect_eq(nn_rbuf_left(&r), 0u);
    cr_expect_eq(memcmp(got, w, n), 0, "%s n %zu bits %d differs", wc_encoding_name(e), n, bits);
    free(got);
    nn_wbuf_free(&out);
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
        wc_encode(&out, (wc_encoding)e, w, 100000, 100, 4);
        len[e] = out.len;
        best = out.len < best ? out.len : best;
        nn_wbuf_free(&out);
    }
    nn_wbuf out;
    nn_wbuf_init(&out);
    wc_encoding e = wc_encode_best(&out, w, 100000, 100, 4);
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
    wc_encode_best(&out, w, 4096, 16, 8);
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
    wc_encode(&gaps, WC_GAPS_HUFF, w, n, rows, 4);
    wc_encode(&ctx, WC_CONTEXT, w, n, rows, 4);
    cr_log_info("structured: gaps+huffman %zu bytes, context %zu bytes", gaps.len, ctx.len);
    cr_expect_lt(ctx.len * 10, gaps.len * 8, "context %zu vs gaps %zu", ctx.len, gaps.len);
    expect_round_trip(w, n, rows, 4, WC_CONTEXT);
    /* The same rows read as other rows still decode (only the size suffers). */
    expect_round_trip(w, n, 1, 4, WC_CONTEXT);
    nn_wbuf_free(&gaps), nn_wbuf_free(&ctx);
    free(w);
}

Test(iotc_wcodec, corrupt_streams_are_errors_never_crashes)
{
    int8_t *w = random_weights(600, 0.1, 4, 9);
    int8_t got[600];
    for (int e = 0; e < WC_COUNT; e++) {
        nn_wbuf out;
        nn_wbuf_init(&out);
        wc_encode(&out, (wc_encoding)e, w, 600, 20, 4);
        nn_error err;
        /* Every truncation fails. */
        for (size_t n = 0; n < out.len; n++) {
            nn_rbuf r;
            nn_rbuf_init(&r, out.data, n, 0, "t.bin", "w");
            cr_expect_eq(wc_decode(&r, (wc_encoding)e, got, 600, 20, 4, &err), NN_ERR_FORMAT,
                         "%s truncated to %zu", wc_encoding_name((int)e), n);
        }
        /* Every byte value at every position: an error or weights in range. */
        for (size_t i = 0; i < out.len; i++)
            for (int v = 0; v < 256; v += 3) {
                uint8_t keep = out.data[i];
                out.data[i] = (uint8_t)v;
                nn_rbuf r;
                nn_rbuf_init(&r, out.data, out.len, 0, "t.bin", "w");
                nn_status st = wc_decode(&r, (wc_encoding)e, got, 600, 20, 4, &err);
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

/* ---- the file format ------------------------------------------------------------ */

static void expect_same_model(const iotc_model *a, const iotc_model *b)
{
    const qm_model *x = &a->m, *y = &b->m;
    cr_assert_eq(x->n_ops, y->n_ops);
    cr_expect(x->in_c == y->in_c && x->in_h == y->in_h && x->in_w == y->in_w);
    cr_expect_eq(x->num_classes, y->num_classes);
    cr_expect(memcmp(&x->in, &y->in, sizeof x->in) == 0);
    cr_expect_eq(memcmp(x->input_lut, y->input_lut, (size_t)x->in_c * 256), 0);
    for (int c = 0; c < x->in_c; c++)
        cr_expect(a->mean[c] == b->mean[c] && a->std[c] == b->std[c]);
    for (int i = 0; i < x->n_ops; i++) {
        const qm_op *p = &x->ops[i], *q = &y->ops[i];
        cr_expect(p->type == q->type && p->input == q->input, "op %d", i);
        if (p->type == QM_ADD)
            cr_expect(p->input2 == q->input2 && p->add_mult[0] == q->add_mult[0] &&
                          p->add_mult[1] == q->add_mult[1] && p->add_shift == q->add_shift,
                      "op %d", i);
        cr_expect(p->in_c == q->in_c && p->in_h == q->in_h && p->in_w == q->in_w, "op %d", i);
        cr_expect(p->out_c == q->out_c && p->out_h == q->out_h && p->out_w == q->out_w, "op %d", i);
        cr_expect(p->kernel == q->kernel && p->stride == q->stride && p->pad == q->pad, "op %d", i);
        cr_expect(p->relu == q->relu, "op %d", i);
        cr_expect(memcmp(&p->out, &q->out, sizeof p->out) == 0, "op %d", i);
        cr_expect_eq(a->src_layer[i], b->src_layer[i]);
        cr_expect_str_eq(a->name[i], b->name[i]);
        if (p->type != QM_CONV2D && p->type != QM_DENSE)
            continue;
        cr_expect(p->weight_bits == q->weight_bits && p->n_weights == q->n_weights, "op %d", i);
        size_t oc = (size_t)p->out_c;
        cr_expect_eq(memcmp(p->weights, q->weights, p->n_weights), 0, "op %d weights", i);
        cr_expect_eq(memcmp(p->bias, q->bias, oc * 4), 0, "op %d bias", i);
        cr_expect_eq(memcmp(p->w_scale, q->w_scale, oc * 4), 0, "op %d w_scale", i);
        cr_expect_eq(memcmp(p->mult, q->mult, oc * 4), 0, "op %d mult", i);
        cr_expect_eq(memcmp(p->shift, q->shift, oc), 0, "op %d shift", i);
        cr_expect_eq(a->encoding[i], b->encoding[i], "op %d encoding", i);
        cr_expect_eq(a->op_bytes[i], b->op_bytes[i], "op %d bytes", i);
    }
    cr_assert_eq(a->n_meta, b->n_meta);
    for (int i = 0; i < a->n_meta; i++) {
        cr_expect_str_eq(a->meta_key[i], b->meta_key[i]);
        cr_expect_str_eq(a->meta_value[i], b->meta_value[i]);
    }
    cr_assert_eq(a->n_sections, b->n_sections);
    for (int s = 0; s < a->n_sections; s++)
        cr_expect(strcmp(a->sections[s].tag, b->sections[s].tag) == 0 &&
                  a->sections[s].offset == b->sections[s].offset &&
                  a->sections[s].bytes == b->sections[s].bytes);
    cr_expect_eq(a->file_bytes, b->file_bytes);
}

/* Encodes f, decodes the image, compares, returns the image (caller frees). */
static uint8_t *round_trip(iotc_model *f, size_t *len)
{
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_error err;
    cr_assert_eq(iotc_encode(f, &w, &err), NN_OK, "%s", err.msg);
    iotc_model *g = malloc(sizeof *g);
    cr_assert_eq(iotc_decode(g, w.data, w.len, "rt.iotc", &err), NN_OK, "%s", err.msg);
    expect_same_model(f, g);
    iotc_free(g);
    free(g);
    *len = w.len;
    return w.data;
}

/* The plain model quantized: weights pruned to `keep` of them (every k-th
 * kept) when keep < 1, at `bits`. */
static void quantized_plain(iotc_model *f, double keep, int bits, uint64_t seed)
{
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, seed, 0);
    if (keep < 1)
        for (int i = 0; i < m.n_nodes; i++) {
            const nn_node *nd = &m.nodes[i];
            if (nd->spec.type == NN_LAYER_CONV2D || nd->spec.type == NN_LAYER_DENSE)
                for (size_t k = 0; k < nd->w.n; k++)
                    if ((double)(k % 100) >= keep * 100)
                        m.params[nd->w.off + k] = 0.0f;
        }
    uint8_t *px = qf_pixels(40, 1, 12, 12, seed);
    qz_config cfg;
    qz_config_defaults(&cfg);
    cfg.weight_bits = bits;
    nn_error err;
    iotc_init(f);
    cr_assert_eq(qz_quantize_model(&f->m, &m, &cfg, px, NULL, NULL, 40, 1, &err), NN_OK, "%s",
                 err.msg);
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        f->mean[c] = m.mean[c], f->std[c] = m.std[c];
    f->src_layer[0] = 0;
    snprintf(f->name[0], IOTC_NAME_MAX, "conv-1.a_B");
    cr_assert_eq(iotc_set_meta(f, "source", "plain.ckpt", &err), NN_OK);
    cr_assert_eq(iotc_set_meta(f, "method", "mse", &err), NN_OK);
    free(px);
    nn_model_free(&m);
}

Test(iotc_format, round_trip_field_by_field)
{
    iotc_model *f = malloc(sizeof *f);
    size_t len;
    /* The golden model: multipliers and table not derivable, so stored. */
    iotc_init(f);
    golden_model(&f->m);
    free(round_trip(f, &len));
    iotc_free(f);
    /* Quantized, 8-bit: derived multipliers and table, 16-bit scales. */
    quantized_plain(f, 1.0, 8, 3);
    uint8_t *img = round_trip(f, &len);
    cr_expect_eq(img[16 + 12], 2, "META count"); /* the first section's payload */
    free(img);
    size_t dense_len = len;
    iotc_free(f);
    /* 4-bit, 90% pruned: sparse encodings win. */
    quantized_plain(f, 0.1, 4, 3);
    free(round_trip(f, &len));
    cr_expect(f->encoding[3] == WC_GAPS_HUFF || f->encoding[3] == WC_GAPS_RAW ||
                  f->encoding[3] == WC_BITMAP_HUFF,
              "dense layer encoded %s", wc_encoding_name(f->encoding[3]));
    cr_expect_lt(len * 5, dense_len, "pruned 4-bit %zu bytes vs dense 8-bit %zu", len, dense_len);
    /* Scales that are not 16-bit, one multiplier not derivable. */
    f->m.ops[0].w_scale[0] *= 1.0001f;
    f->m.ops[3].mult[1] ^= 1;
    free(round_trip(f, &len));
    iotc_free(f);
    free(f);
}

Test(iotc_format, unwritable_models_and_paths_are_errors)
{
    iotc_model *f = malloc(sizeof *f);
    quantized_plain(f, 1.0, 8, 5);
    nn_error err;
    nn_wbuf w;
    nn_wbuf_init(&w);
    /* A pool that changes the quantization. */
    f->m.ops[2].out.zero += 1;
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_ARG);
    cr_expect(strstr(err.msg, "op 2 (maxpool)"), "%s", err.msg);
    f->m.ops[2].out.zero -= 1;
    /* Names and metadata out of their character sets. */
    strcpy(f->name[1], "a b");
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_ARG);
    f->name[1][0] = '\0';
    cr_expect_eq(iotc_set_meta(f, "Bad", "x", &err), NN_ERR_ARG);
    cr_expect_eq(iotc_set_meta(f, "ok", "line\nbreak", &err), NN_ERR_ARG);
    /* A bias that leaves an int32 accumulator no room. */
    int32_t keep = f->m.ops[3].bias[2];
    f->m.ops[3].bias[2] = INT32_MAX - 10;
    cr_expect_eq(iotc_check_accumulators(&f->m, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "op 3 (dense): channel 2") && strstr(err.msg, "overflow"), "%s",
              err.msg);
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_FORMAT);
    f->m.ops[3].bias[2] = keep;
    cr_expect_eq(iotc_check_accumulators(&f->m, &err), NN_OK);
    /* An invalid model. */
    f->m.ops[0].shift[0] = 0;
    cr_expect_eq(iotc_encode(f, &w, &err), NN_ERR_FORMAT);
    f->m.ops[0].shift[0] = 20;
    /* A directory that does not exist: an I/O error, no file left. */
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/no/such/m.iotc", dir);
    cr_expect_eq(iotc_save(path, f, &err), NN_ERR_IO, "%s", err.msg);
    /* A good save, then a failing one over it: the old file stays whole. */
    snprintf(path, sizeof path, "%s/m.iotc", dir);
    cr_assert_eq(iotc_save(path, f, &err), NN_OK, "%s", err.msg);
    struct stat st1, st2;
    cr_assert_eq(stat(path, &st1), 0);
    f->m.ops[0].shift[0] = 0;
    cr_expect_neq(iotc_save(path, f, &err), NN_OK);
    cr_expect(strstr(err.msg, path), "%s", err.msg);
    cr_assert_eq(stat(path, &st2), 0);
    cr_expect_eq(st1.st_size, st2.st_size);
    iotc_model *g = malloc(sizeof *g);
    cr_expect_eq(iotc_load(g, path, &err), NN_OK, "%s", err.msg);
    iotc_free(g);
    free(g);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "ls %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int files = 0;
    cr_assert_eq(fscanf(p, "%d", &files), 1);
    pclose(p);
    cr_expect_eq(files, 1, "temporary files left behind");
    fx_rmtree(dir);
    nn_wbuf_free(&w);
    iotc_free(f);
    free(f);
}

/* A small model file: conv - maxpool - dense on 1x6x6 (about 300 bytes). */
static uint8_t *small_file(size_t *len)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 1, s.in_h = 6, s.in_w = 6, s.num_classes = 3;
    s.layers[0] = qf_conv(4, 3, 1, 1);
    s.layers[1] = qf_layer(NN_LAYER_RELU);
    s.layers[2] = qf_layer(NN_LAYER_MAXPOOL);
    s.layers[3] = qf_dense(3);
    s.n_layers = 4;
    nn_model m;
    qf_build(&m, &s, 77, 0);
    m.params[m.nodes[3].w.off + 5] = 0.0f;
    uint8_t *px = qf_pixels(10, 1, 6, 6, 1);
    qz_config cfg;
    qz_config_defaults(&cfg);
    nn_error err;
    iotc_model *f = malloc(sizeof *f);
    iotc_init(f);
    cr_assert_eq(qz_quantize_model(&f->m, &m, &cfg, px, NULL, NULL, 10, 1, &err), NN_OK, "%s",
                 err.msg);
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        f->mean[c] = m.mean[c], f->std[c] = m.std[c];
    cr_assert_eq(iotc_set_meta(f, "source", "small", &err), NN_OK);
    nn_wbuf w;
    nn_wbuf_init(&w);
    cr_assert_eq(iotc_encode(f, &w, &err), NN_OK, "%s", err.msg);
    iotc_free(f);
    free(f);
    free(px);
    nn_model_free(&m);
    *len = w.len;
    return w.data;
}

Test(iotc_format, every_truncation_is_rejected)
{
    size_t len;
    uint8_t *d = small_file(&len);
    cr_log_info("small file: %zu bytes", len);
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    cr_assert_eq(iotc_decode(f, d, len, "s.iotc", &err), NN_OK, "%s", err.msg);
    iotc_free(f);
    for (size_t n = 0; n < len; n++) {
        nn_status st = iotc_decode(f, d, n, "s.iotc", &err);
        cr_expect_eq(st, NN_ERR_FORMAT, "truncated to %zu: status %d", n, st);
        cr_expect(strstr(err.msg, "s.iotc: ") && strstr(err.msg, "offset "), "%zu bytes: %s", n,
                  err.msg);
        cr_expect_null(f->m.blob, "%zu bytes: model not cleared", n);
    }
    free(f);
    free(d);
}

/* Every other value of every byte: the CRC32s (which detect every error
 * confined to 32 bits) and the framing checks reject them all. */
Test(iotc_format, every_single_byte_change_is_rejected)
{
    size_t len;
    uint8_t *d = small_file(&len);
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    long tried = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t keep = d[i];
        for (int v = 0; v < 256; v++) {
            if (v == keep)
                continue;
            d[i] = (uint8_t)v;
            nn_status st = iotc_decode(f, d, len, "s.iotc", &err);
            tried++;
            if (st == NN_OK) {
                cr_expect_fail("byte %zu = %d: corrupt file loaded", i, v);
                iotc_free(f);
            } else {
                cr_expect_eq(st, NN_ERR_FORMAT, "byte %zu = %d: %s", i, v, err.msg);
                if (!strstr(err.msg, "offset "))
                    cr_expect_fail("byte %zu: no offset in %s", i, err.msg);
            }
        }
        d[i] = keep;
    }
    cr_log_info("%ld single-byte changes rejected", tried);
    free(f);
    free(d);
}

/* Payload mutations with the CRC recomputed reach the decoders: each is
 * a clean error, or a model that passes qm_model_validate and runs. */
Test(iotc_format, payload_mutations_with_valid_crc_never_crash)
{
    size_t len;
    uint8_t *d = small_file(&len);
    iotc_section secs[16];
    int n;
    uint32_t version;
    nn_error err;
    cr_assert_eq(iotc_scan_sections(d, len, "s.iotc", IOTC_MAGIC, &version, secs, 16, &n, &err),
                 NN_OK);
    iotc_model *f = malloc(sizeof *f);
    uint8_t px[36];
    memset(px, 200, sizeof px);
    int8_t scratch[4096];
    int accepted = 0, rejected = 0;
    const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    for (int s = 0; s < n; s++) {
        size_t p0 = (size_t)secs[s].offset + 12, plen = (size_t)secs[s].bytes - 16;
        for (size_t i = p0; i < p0 + plen; i++) {
            uint8_t keep = d[i];
            for (int k = 0; k < 8; k++) {
                uint8_t v = k < 5 ? vals[k] : (uint8_t)(keep ^ (1u << (k - 2)));
                if (v == keep)
                    continue;
                d[i] = v;
                uint32_t crc = nn_crc32(d + secs[s].offset, plen + 12);
                uint8_t *c = d + p0 + plen, old[4];
                memcpy(old, c, 4);
                c[0] = (uint8_t)crc, c[1] = (uint8_t)(crc >> 8), c[2] = (uint8_t)(crc >> 16),
                c[3] = (uint8_t)(crc >> 24);
                nn_status st = iotc_decode(f, d, len, "s.iotc", &err);
                if (st == NN_OK) {
                    accepted++;
                    cr_expect_eq(qm_model_validate(&f->m, &err), NN_OK);
                    cr_assert_leq(qm_ref_scratch_bytes(&f->m), sizeof scratch);
                    qm_ref_run(&f->m, px, scratch);
                    iotc_free(f);
                } else {
                    rejected++;
                    cr_expect_eq(st, NN_ERR_FORMAT, "%s", err.msg);
                    if (!strstr(err.msg, "section "))
                        cr_expect_fail("no section named: %s", err.msg);
                }
                memcpy(c, old, 4);
            }
            d[i] = keep;
        }
    }
    cr_log_info("mutations: %d accepted (values still valid), %d rejected", accepted, rejected);
    cr_expect_gt(rejected, 100);
    free(f);
    free(d);
}

/* Appends a section (with its CRC) and bumps the section count. */
static uint8_t *add_section(const uint8_t *d, size_t len, const char *tag, const uint8_t *p,
                            size_t plen, size_t *out_len)
{
    uint8_t *o = malloc(len + plen + 16);
    memcpy(o, d, len);
    uint32_t count = (uint32_t)o[12] | (uint32_t)o[13] << 8;
    count++;
    o[12] = (uint8_t)count, o[13] = (uint8_t)(count >> 8);
    uint8_t *s = o + len;
    memcpy(s, tag, 4);
    for (int k = 0; k < 8; k++)
        s[4 + k] = (uint8_t)((uint64_t)plen >> (8 * k));
    memcpy(s + 12, p, plen);
    uint32_t crc = nn_crc32(s, plen + 12);
    for (int k = 0; k < 4; k++)
        s[12 + plen + k] = (uint8_t)(crc >> (8 * k));
    *out_len = len + plen + 16;
    return o;
}

Test(iotc_format, unknown_sections_skipped_required_ones_enforced)
{
    size_t len, l2;
    uint8_t *d = small_file(&len);
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    const uint8_t junk[3] = {1, 2, 3};
    uint8_t *e = add_section(d, len, "ZZZ9", junk, 3, &l2);
    cr_expect_eq(iotc_decode(f, e, l2, "s.iotc", &err), NN_OK, "%s", err.msg);
    iotc_free(f);
    free(e);
    e = add_section(d, len, "L001", junk, 3, &l2); /* op 1 is the max-pool */
    cr_expect_eq(iotc_decode(f, e, l2, "s.iotc", &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "L001 names no conv2d or dense"), "%s", err.msg);
    free(e);
    e = add_section(d, len, "INPT", junk, 3, &l2);
    cr_expect_eq(iotc_decode(f, e, l2, "s.iotc", &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "duplicate section"), "%s", err.msg);
    free(e);
    /* Drop the last section (L002, the dense layer's weights). */
    iotc_section secs[16];
    int n;
    uint32_t version;
    cr_assert_eq(iotc_scan_sections(d, len, "s.iotc", IOTC_MAGIC, &version, secs, 16, &n, &err),
                 NN_OK);
    cr_assert_str_eq(secs[n - 1].tag, "L002");
    d[12] = (uint8_t)(n - 1);
    cr_expect_eq(iotc_decode(f, d, (size_t)secs[n - 1].offset, "s.iotc", &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, "no weight section L002"), "%s", err.msg);
    free(d);
    free(f);
}

Test(iotc_format, load_names_the_path_and_scan_reads_checkpoints)
{
    char dir[64], path[128];
    fx_tmpdir(dir, sizeof dir);
    nn_model_spec s;
    qf_spec_plain(&s);
    nn_model m;
    qf_build(&m, &s, 1, 0);
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    nn_error err;
    cr_assert_eq(nn_checkpoint_save(path, &m, NULL, NULL, NULL, &err), NN_OK);
    iotc_model *f = malloc(sizeof *f);
    cr_expect_eq(iotc_load(f, path, &err), NN_ERR_FORMAT);
    cr_expect(strstr(err.msg, path) && strstr(err.msg, "bad magic"), "%s", err.msg);
    uint8_t *data;
    size_t len;
    cr_assert_eq(nn_read_file(path, &data, &len, 0, &err), NN_OK);
    iotc_section secs[8];
    int n;
    uint32_t version;
    cr_assert_eq(iotc_scan_sections(data, len, path, "IOTCNNCK", &version, secs, 8, &n, &err),
                 NN_OK, "%s", err.msg);
    cr_expect_eq(n, 3);
    cr_expect_str_eq(secs[1].tag, "PARM");
    cr_expect_eq(secs[1].bytes, m.n_params * 4 + 16);
    uint64_t total = 16;
    for (int k = 0; k < n; k++)
        total += secs[k].bytes;
    cr_expect_eq(total, len);
    snprintf(path, sizeof path, "%s/missing.iotc", dir);
    cr_expect_eq(iotc_load(f, path, &err), NN_ERR_IO);
    free(data);
    free(f);
    nn_model_free(&m);
    fx_rmtree(dir);
}
