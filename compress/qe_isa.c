/* qe_isa.c - instruction-set names and run-time detection for the int8
 * engine. Detection asks the CPU (and OS, for the vector state) through
 * __builtin_cpu_supports, whose data libgcc fills in a constructor before
 * main; nothing is cached here, so there is no global state. */
#include "qe_internal.h"

const char *qe_isa_name(qe_isa isa)
{
    switch (isa) {
    case QE_ISA_AUTO: return "auto";
    case QE_ISA_C: return "c";
    case QE_ISA_AVX2: return "avx2";
    case QE_ISA_AVX512_VNNI: return "avx512-vnni";
    }
    return NULL;
}

int qe_isa_supported(qe_isa isa)
{
    switch (isa) {
    case QE_ISA_AUTO:
    case QE_ISA_C:
        return 1;
    case QE_ISA_AVX2:
#if defined(__x86_64__) && defined(__GNUC__)
        return qe_kernels_avx2() != NULL && __builtin_cpu_supports("avx2");
#else
        return 0;
#endif
    case QE_ISA_AVX512_VNNI:
#if defined(__x86_64__) && defined(__GNUC__)
        return qe_kernels_avx512() != NULL && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512vnni");
#else
        return 0;
#endif
    }
    return 0;
}

qe_isa qe_isa_best(void)
{
    if (qe_isa_supported(QE_ISA_AVX512_VNNI))
        return QE_ISA_AVX512_VNNI;
    if (qe_isa_supported(QE_ISA_AVX2))
        return QE_ISA_AVX2;
    return QE_ISA_C;
}
