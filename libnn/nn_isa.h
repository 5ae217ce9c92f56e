/* nn_isa.h - which SIMD bodies of libnn's float kernels this CPU runs.
 *
 * The build is portable (no -march needed): the AVX2+FMA and AVX-512 bodies
 * are compiled with per-function target attributes and chosen at run time.
 * NN_ISA_SCALAR is the reference body every other one is tested against.
 * The bodies give bit-identical results (docs/training-kernels.md). */
#ifndef NN_ISA_H
#define NN_ISA_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NN_ISA_SCALAR = 0,
    NN_ISA_AVX2 = 1,   /* AVX2 + FMA                   */
    NN_ISA_AVX512 = 2, /* AVX-512 F + DQ + VL (and FMA) */
    NN_ISA_COUNT
} nn_isa;

/* "scalar", "avx2", "avx512". */
const char *nn_isa_name(nn_isa isa);
/* 1 if this CPU (and build) runs isa. */
int nn_isa_supported(nn_isa isa);
/* The fastest supported body. */
nn_isa nn_isa_best(void);

#ifdef __cplusplus
}
#endif

#endif
