/* pool_isa.h - the SIMD bodies of pool.c (private). */
#ifndef NN_POOL_ISA_H
#define NN_POOL_ISA_H

#include <stdint.h>

#include "nn_layers.h"

/* 2x2 stride-2 max pooling of planes planes (in, in_plane floats each),
 * out and argmax as pool.c's portable body gives them (the same bits:
 * strict > in row-major window order, so ties and NaN go the same way).
 * Reads whole vectors inside [in, in + planes*in_plane) and masks only at
 * its end. AVX-512 (F, DQ, VL); call only where nn_isa says so. */
void nn_maxpool2x2_avx512(float *out, int32_t *argmax, const float *in, size_t planes,
                          const nn_pool_dims *d);

#endif
