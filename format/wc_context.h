/* wc_context.h - the "context" and "context+taps" weight encodings
 * (described in wcodec.h); internal to wcodec.c. */
#ifndef WC_CONTEXT_H
#define WC_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends uvar nnz, uvar stream bytes, stream. A row is taps groups of
 * equal length (one per kernel position, kw per kernel row); taps 1 is the
 * "context" encoding, without tap contexts. A failed allocation marks out
 * failed (nn_wbuf's sticky failure). */
void wc_context_encode(nn_wbuf *out, const int8_t *w, size_t n, size_t rows, size_t taps,
                       size_t kw, int bits);

/* Reads what wc_context_encode wrote: the non-zero count must match, every
 * value must be within the bit width, and the coder must consume exactly
 * the stream's bytes. */
nn_status wc_context_decode(nn_rbuf *r, int8_t *w, size_t n, size_t rows, size_t taps, size_t kw,
                            int bits, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
