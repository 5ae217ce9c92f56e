/* nn_isa.c - run-time CPU feature check for libnn's kernel bodies (the
 * same test as runtime/rt_isa.c, which libnn must not include). */
#include "nn_isa.h"

const char *nn_isa_name(nn_isa isa)
{
    switch (isa) {
    case NN_ISA_SCALAR: return "scalar";
    case NN_ISA_AVX2: return "avx2";
    case NN_ISA_AVX512: return "avx512";
    default: return "?";
    }
}

int nn_isa_supported(nn_isa isa)
{
    switch (isa) {
    case NN_ISA_SCALAR: return 1;
#if defined(__x86_64__) || defined(__i386__)
    /* libgcc fills its CPU model in a constructor; ask it anyway (once). */
    case NN_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NN_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

nn_isa nn_isa_best(void)
{
    if (nn_isa_supported(NN_ISA_AVX512))
        return NN_ISA_AVX512;
    if (nn_isa_supported(NN_ISA_AVX2))
        return NN_ISA_AVX2;
    return NN_ISA_SCALAR;
}
