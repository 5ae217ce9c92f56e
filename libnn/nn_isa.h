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
/* The environment variable that caps the bodies libnn chooses:
 * IOTCNN_MAX_ISA=scalar|avx2|avx512 (unset or empty: no cap), as
 * ONEDNN_MAX_CPU_ISA caps oneDNN's. To measure, on a CPU that has
 * AVX-512, what a CPU with only AVX2 would run. The same bits whatever it
 * says (every body gives the reference's). */
#define NN_ISA_ENV "IOTCNN_MAX_ISA"

/* 1 and *isa set if name is one of nn_isa_name's; 0 otherwise. */
int nn_isa_parse(const char *name, nn_isa *isa);
/* The cap NN_ISA_ENV sets (the last ISA if unset, empty or unknown; the
 * command line rejects an unknown value before any kernel runs). */
nn_isa nn_isa_cap(void);
/* The fastest supported body at or below the cap. */
nn_isa nn_isa_best(void);

#ifdef __cplusplus
}
#endif

#endif
