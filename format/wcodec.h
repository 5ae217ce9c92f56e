/* wcodec.h - compact encodings of one layer's int8 weights for .iotc files.
 *
 * Weights are a flat array w[0..n) of values in [-q, q] with q = 127 (8-bit)
 * or 7 (4-bit). An encoding is a position scheme times a value scheme:
 *   positions  dense   every weight, zeros included, in order
 *              bitmap  one bit per weight (1 = non-zero), then the non-zero
 *                      values in order
 *              gaps    per non-zero weight, the count of zeros before it
 *                      (since the previous non-zero one), Huffman-coded
 *   values     raw     two's complement in 8 or 4 bits
 *              huffman canonical Huffman over the value (huff.h)
 * and a seventh, "context": every weight's is-non-zero bit, then for a
 * non-zero one its sign and magnitude, all through one adaptive binary
 * range coder (rcoder.h) whose contexts learn the layer's structure. The
 * weights are read as `rows` rows (output channels) of n / rows; the
 * context of position (o, k) is the share of non-zero weights in column k
 * over rows 0..o-1 and in row o over columns 0..k-1, so input features a
 * pruned layer dropped for every channel, and dead channels, become cheap:
 *   column  0 when o = 0; 1 or 2 when the column is empty so far (o <= 8,
 *           o > 8); else 3 + min(29, 30 * count / o)                (33)
 *   row     0 when k < 16; 1 when the row is empty so far; else
 *           2 + min(13, 14 * count / k)                              (16)
 * The sign has one context; the magnitude m - 1 (7 bits at 8-bit, 3 at
 * 4-bit) is coded most significant bit first with a context per prefix
 * (a binary tree). Contexts start with counts 0, 0.
 * The eighth, "context+taps", is "context" that also knows the kernel: a
 * conv row (o, kh, kw, c) is kernel^2 taps of in_c weights, and the taps of
 * one (o, c) filter come in order, so a weight's earlier taps (the same c
 * at t' < t) are known when it is coded. With u = how many of them are
 * non-zero and l the last non-zero one of them:
 *   is-non-zero  column x row x tap: 0 at t = 0; 1 + min(2, u) in the
 *                first three taps; 4 + min(3, u) after                 (7)
 *   sign         sign of l x sign of the tap to the left (t - 1, same
 *                kernel row) x sign of the tap above (t - kernel), each
 *                none/+/-                                              (27)
 *   magnitude    the tree's node x min(3, |l|) (0: no l)               (4)
 * Pruning keeps or drops a filter's taps together and trained filters are
 * smooth, so these predict well: on configs/cifar10.json's 4-bit 73%-sparse
 * model 7% fewer bytes than "context". Rows that are not kernel^2 equal
 * groups (dense layers, kernel 1) have no taps: the same as "context".
 * wc_encode_best tries all eight and keeps the smallest (ties: the
 * simpler, lower-numbered one), so a dense 8-bit layer never grows and a
 * 95%-sparse 4-bit one costs about the entropy of its positions plus that
 * of its values.
 *
 * Gap symbols: 0..31 are the gap itself; 32 + k (k in 0..25) is a gap in
 * [2^(k+5), 2^(k+6)), followed by its k + 5 low bits raw.
 *
 * Layout (after the encoding byte, which the caller writes and reads):
 *   dense, bitmap: [value table] uvar stream_bytes, stream
 *   gaps:          uvar nnz, gap table, [value table], uvar stream_bytes, stream
 *   bitmap adds uvar nnz before the tables too (checked against the bits).
 *   context, context+taps: uvar nnz, uvar stream_bytes, range-coded stream
 * The stream is one bit stream (qio.h): dense values; or n bitmap bits then
 * the values; or (gap, value) pairs. */
#ifndef WCODEC_H
#define WCODEC_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    WC_DENSE_RAW = 0,
    WC_DENSE_HUFF = 1,
    WC_BITMAP_RAW = 2,
    WC_BITMAP_HUFF = 3,
    WC_GAPS_RAW = 4,
    WC_GAPS_HUFF = 5,
    WC_CONTEXT = 6,
    WC_CONTEXT_TAPS = 7,
    WC_COUNT = 8
} wc_encoding;

/* Largest weight count an encoding handles (gaps fit the gap alphabet). */
#define WC_MAX_WEIGHTS ((size_t)1 << 31)

/* "dense", "dense+huffman", "bitmap", ...; NULL for an unknown code. */
const char *wc_encoding_name(int e);

/* Appends encoding e of w[0..n) (n in [1, WC_MAX_WEIGHTS], rows >= 1
 * dividing n, values within bits 8 or 4) to out, without the encoding byte.
 * kernel: the layer's kernel width (rows of kernel^2 taps; 1 or 0 for a
 * dense layer), which only "context+taps" uses; the decoder needs the same. */
void wc_encode(nn_wbuf *out, wc_encoding e, const int8_t *w, size_t n, size_t rows, size_t kernel,
               int bits);

/* Appends the smallest encoding, preceded by its encoding byte; returns it. */
wc_encoding wc_encode_best(nn_wbuf *out, const int8_t *w, size_t n, size_t rows, size_t kernel,
                           int bits);

/* Reads encoding e of n weights (rows as encoded) into w, checking
 * everything: table validity, counts, positions inside [0, n), values
 * within the bit width (and non-zero where only non-zero values are
 * coded), exact stream length and zero padding. Errors name the offset. */
nn_status wc_decode(nn_rbuf *r, wc_encoding e, int8_t *w, size_t n, size_t rows, size_t kernel,
                    int bits, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
