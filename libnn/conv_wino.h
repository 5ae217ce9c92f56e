/* conv_wino.h - 3x3 stride-1 convolutions by Winograd's minimal filtering
 * F(4x4, 3x3) (private to libnn and its tests; docs/training-kernels.md).
 *
 * Each 4x4 output tile comes from a 6x6 input tile d and the 3x3 filter g:
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A
 * so the 144 multiplications of a tile per (input, output) channel pair
 * become 36: per transformed position xi (36 of them) a matrix product
 *     Yt[xi] (M, tiles) = U[xi] (M, C) x V[xi] (C, tiles)
 * run by the wide forward kernel of conv_wide.h (the same FMA chain on
 * every ISA). The transforms are one portable body with a fixed order of
 * additions and multiplications (ISO C: nothing contracted), so results
 * are bit-identical on every ISA, like the direct kernels'; they differ
 * from the direct convolution's in the last bits (tests bound the error).
 *
 * The input gradient of a 3x3 stride-1 convolution is the same operation
 * on the output gradient with the kernel flipped and transposed, padded by
 * 2 - pad: nn_wino_input_grad. */
#ifndef CONV_WINO_H
#define CONV_WINO_H

#include <stddef.h>

#include "nn_isa.h"
#include "nn_layers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether the forward pass (in_c -> out_c) takes the Winograd path:
 * 3x3, stride 1, pad <= 2, at least NN_WINO_MIN_C channels on both sides
 * and outputs at least NN_WINO_MIN_W wide (with fewer channels or
 * narrower rows the transforms cost what the products save).
 * nn_wino_din_ok: the same for the input gradient (out_c -> in_c, rows of
 * in_w). */
#define NN_WINO_MIN_C 32
#define NN_WINO_MIN_W 13
int nn_wino_fwd_ok(const nn_conv_dims *d);
int nn_wino_din_ok(const nn_conv_dims *d);

/* Whether the weight gradient takes the Winograd path: as the forward
 * pass (the products are (out_c, in_c) per transformed position, summed
 * over the tiles). */
int nn_wino_dw_ok(const nn_conv_dims *d);

/* Floats of scratch any of the calls needs (the largest). */
size_t nn_wino_scratch_floats(const nn_conv_dims *d);

/* out (n, out_c, out_h, out_w) = act(bias + conv(in, w)); nn_wino_fwd_ok. */
void nn_wino_forward(float *out, float *scratch, const float *in, const float *w, const float *b,
                     int n, const nn_conv_dims *d, nn_act act, nn_isa isa);

/* din (n, in_c, in_h, in_w) += the input gradient of the convolution for
 * the output gradient dout (n, out_c, out_h, out_w); nn_wino_din_ok. */
void nn_wino_input_grad(float *din, float *scratch, const float *dout, const float *w, int n,
                        const nn_conv_dims *d, nn_isa isa);
/* The same, but din = the input gradient, + 0.0f (the bits of adding it
 * to a zeroed din): for a din that nothing has written yet. */
void nn_wino_input_grad_set(float *din, float *scratch, const float *dout, const float *w, int n,
                            const nn_conv_dims *d, nn_isa isa);

/* dw (out_c, in_c, 3, 3) += the weight gradient of the convolution for the
 * input in (n, in_c, in_h, in_w) and the output gradient dout (n, out_c,
 * out_h, out_w); nn_wino_dw_ok. Per transformed position xi,
 *     dU[xi] (M, C) = sum over tiles of Z[xi] (M, tile) x V[xi] (C, tile)
 * with Z = A e A^T of each 4x4 tile e of the gradient and V = B^T d B of
 * the input tile (as the forward pass makes it), by the wide weight-
 * gradient kernel; then dw += G^T dU G. */
void nn_wino_weight_grad(float *dw, float *scratch, const float *dout, const float *in, int n,
                         const nn_conv_dims *d, nn_isa isa);

/* The transform bodies (conv_wino_body.h) per vector width: w4 is the
 * portable one; avx2 and avx512 are called only where the CPU has them. */
#define NN_WINO_BODY(suffix)                                                                       \
    void nn_wino_filter_##suffix(float *U, size_t ups, size_t ldu, const float *wt, size_t wps,    \
                                 int M, int C);                                                    \
    void nn_wino_in_##suffix(float *V, size_t vplane, size_t ldv, const float *const tap[36],      \
                             size_t cstride, int C, int qi);                                       \
    void nn_wino_out_##suffix(float *T, size_t ldt, const float *Yt, size_t yplane, int qi);      \
    void nn_wino_gz_##suffix(float *Z, size_t zplane, size_t ldz, const float *ge, size_t rs,      \
                             int nt);
NN_WINO_BODY(w4)
NN_WINO_BODY(avx2)
NN_WINO_BODY(avx512)
#undef NN_WINO_BODY

/* One channel (ih, iw) of an image into its 16 zero-padded phase planes:
 * planes[(py*4 + px)*pps + y*wq + x] = padded pixel (4y + py, 4x + px) for
 * y < hq, x < wq (src[(Y - pad)*iw + X - pad] inside the image, else 0).
 * A body may also write zeros into the first 16 floats past hq*wq of a
 * plane (its slack, which must be zero anyway). [lo, hi) is memory around
 * the channel that may be read (its image): a body may load whole vectors
 * there and drop the lanes outside the image. The portable body and
 * AVX-512's (permutes) give the same planes: they only move data. */
typedef struct {
    int ih, iw, pad, hq, wq;
    size_t pps; /* floats from one phase plane to the next */
} nn_wino_split_geom;
void nn_wino_split_channel_c(float *planes, const float *src, const nn_wino_split_geom *s,
                             const float *lo, const float *hi);
void nn_wino_split_channel_avx512(float *planes, const float *src, const nn_wino_split_geom *s,
                                  const float *lo, const float *hi);

/* One output row out of the tiles' phase rows, row[X] = act(bias +
 * t[X % 4][X / 4]) or row[X] += t[X % 4][X / 4] for X < ow: the portable
 * body and AVX-512's (permutes; the same bits: data movement and one
 * addition). Memory up to hi (the end of the rows written in order in
 * this call) may be written past ow with values that later rows overwrite. */
void nn_wino_merge_row_c(float *row, int ow, const float *const t[4], float bias, nn_act act,
                         int accumulate, const float *hi);
void nn_wino_merge_row_avx512(float *row, int ow, const float *const t[4], float bias, nn_act act,
                              int accumulate, const float *hi);

#ifdef __cplusplus
}
#endif

#endif
