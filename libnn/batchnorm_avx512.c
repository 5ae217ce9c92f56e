/* batchnorm_avx512.c - batch normalization's loops (batchnorm_body.h)
 * compiled for AVX-512 whatever the build's -march, called only when
 * nn_isa_supported says so. The same bits as the reference body. */
#include "batchnorm_isa.h"
#include "nn_target.h"

#if defined(__x86_64__)
NN_TARGET_AVX512_BEGIN

#define BN_LANES 16
#define BN_NAME(f) f##_avx512
#include "batchnorm_body.h"

NN_TARGET_END
#endif
