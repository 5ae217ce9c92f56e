/* conv_wino_avx2.c - the Winograd transforms (conv_wino_body.h) at
 * AVX2 (8 lanes), compiled for the target whatever the build's -march and
 * called only when nn_isa_supported says so. The same bits as every
 * other width. */
#include "conv_wino.h"
#include "nn_target.h"

#if defined(__x86_64__)
NN_TARGET_AVX2_BEGIN

#define WINO_LANES 8
#define WINO_NAME(f) f##_avx2
#include "conv_wino_body.h"

NN_TARGET_END
#endif
