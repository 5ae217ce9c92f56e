/* huff.h - canonical Huffman codes with a bounded code length.
 *
 * A code is defined by the length of each symbol's codeword (0 = symbol
 * absent). Codewords are assigned canonically, as in DEFLATE: shorter
 * codes first, and within one length in increasing symbol order, so only
 * the lengths are stored. Lengths are at most HUFF_MAX_LEN.
 *
 * Stored table: uvar first symbol lo, uvar count n, then n 4-bit lengths
 * (two per byte, the first in the low nibble; an odd count pads the last
 * high nibble with 0). The reader accepts only a complete code (Kraft sum
 * exactly 1), or a single symbol of length 1 (code "0"), so every bit
 * string is either decodable or detectably invalid. */
#ifndef HUFF_H
#define HUFF_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_io.h"
#include "qio.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HUFF_MAX_LEN 15
#define HUFF_MAX_SYMS 256

typedef struct {
    int nsym;                     /* alphabet size                        */
    uint8_t len[HUFF_MAX_SYMS];   /* code length per symbol, 0 = absent  */
    uint16_t code[HUFF_MAX_SYMS]; /* canonical codeword (len low bits)    */
} huff_code;

/* Builds a length-limited code for symbol counts freq[0..nsym), nsym <=
 * HUFF_MAX_SYMS; symbols with count 0 get no codeword. At least one count
 * must be > 0. Deterministic: ties are broken by symbol order. */
void huff_build(huff_code *c, const uint64_t *freq, int nsym);

/* Bits of the data coded with c (sum of freq * len), and bytes of its table. */
uint64_t huff_data_bits(const huff_code *c, const uint64_t *freq);
size_t huff_table_bytes(const huff_code *c);

void huff_write_table(nn_wbuf *w, const huff_code *c);
static inline void huff_put(qio_bitw *b, const huff_code *c, int sym)
{
    qio_put_bits(b, c->code[sym], c->len[sym]);
}

typedef struct {
    int nsym;
    uint16_t count[HUFF_MAX_LEN + 1]; /* codewords per length            */
    uint16_t symbol[HUFF_MAX_SYMS];   /* symbols in canonical order      */
} huff_decoder;

/* Reads and validates a stored table for an alphabet of nsym symbols:
 * range inside the alphabet, lengths <= HUFF_MAX_LEN, padding nibble 0, a
 * complete code (or one symbol). Errors name `what` and the offset. */
nn_status huff_read_table(nn_rbuf *r, huff_decoder *d, int nsym, const char *what, nn_error *err);

/* Builds a decoder from lengths directly (for tests); NN_ERR_FORMAT when
 * the lengths do not form a valid code as above. */
nn_status huff_decoder_init(huff_decoder *d, const uint8_t *len, int nsym);

/* Next symbol, or -1 when the stream ends inside a codeword or the bits
 * are not a codeword (possible only for the one-symbol code). */
int huff_get(const huff_decoder *d, qio_bitr *b);

#ifdef __cplusplus
}
#endif

#endif
