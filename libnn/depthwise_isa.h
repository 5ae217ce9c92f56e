/* depthwise_isa.h - the SIMD bodies of depthwise.c (private to libnn and its
 * tests).
 *
 * Each body computes exactly the operations of depthwise.c's portable one,
 * in the same order, so every ISA gives the same bits:
 *   forward  out = bias, then + w[t] * x for each tap t = (ki, kj) in
 *            row-major order whose input pixel lies inside the image (a
 *            tap outside is skipped, not added as a zero);
 *   din      din += w[t] * g for each tap t in order that reaches the pixel;
 *   dw       per channel and tap: per output row a float sum over the row's
 *            columns in order, those row sums added in row order in double,
 *            the result added to dw once.
 * The bias gradient stays in depthwise.c. A body returns 0, having written
 * nothing, when it declines a shape (its tables would not fit, or an index
 * would not fit 32 bits); the caller then runs the portable body. */
#ifndef NN_DEPTHWISE_ISA_H
#define NN_DEPTHWISE_ISA_H

#include "nn_isa.h"
#include "nn_layers.h"
#include "nn_window.h"

/* nn_depthwise_forward / nn_depthwise_backward through the body of one ISA
 * (those entry points use nn_isa_best(); tests every supported ISA). */
void nn_depthwise_forward_isa(float *out, float *scratch, const float *in, const float *w,
                              const float *b, int n, const nn_conv_dims *d, nn_isa isa);
void nn_depthwise_backward_isa(float *din, float *dw, float *db, float *scratch,
                               const float *dout, const float *in, const float *w, int n,
                               const nn_conv_dims *d, nn_isa isa);

/* AVX-512 (F, DQ, VL); call only where nn_isa says so. */
size_t nn_depthwise_avx512_scratch_floats(const nn_conv_dims *d);
int nn_depthwise_forward_avx512(float *out, float *scratch, const float *in, const float *w,
                                const float *b, int n, const nn_conv_dims *d);
int nn_depthwise_backward_avx512(float *din, float *dw, float *scratch, const float *dout,
                                 const float *in, const float *w, int n, const nn_conv_dims *d);

#endif
