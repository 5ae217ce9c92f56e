/* nn_isa.c - run-time CPU feature check for libnn's kernel bodies (the
 * same test as runtime/rt_isa.c, which libnn must not include). */
#include "nn_isa.h"

#include <stdlib.h>
#include <string.h>

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

int nn_isa_parse(const char *name, nn_isa *isa)
{
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (name && !strcmp(name, nn_isa_name((nn_isa)i))) {
            *isa = (nn_isa)i;
            return 1;
        }
    return 0;
}

nn_isa nn_isa_cap(void)
{
    nn_isa cap = NN_ISA_COUNT - 1;
    const char *v = getenv(NN_ISA_ENV);
    if (v && *v && !nn_isa_parse(v, &cap))
        return NN_ISA_COUNT - 1; /* the command line reports the bad value */
    return cap;
}

nn_isa nn_isa_best(void)
{
    const nn_isa cap = nn_isa_cap();
    for (int i = (int)cap; i > NN_ISA_SCALAR; i--)
        if (nn_isa_supported((nn_isa)i))
            return (nn_isa)i;
    return NN_ISA_SCALAR;
}
