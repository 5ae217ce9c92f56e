/* rt_isa.c - the instruction sets of the kernel bodies (rt.h): their names,
 * what this CPU runs, the best of them. Apart from rt_run.c so that the
 * kernels' dispatch (rt_x.c) and the interpreter both call it without
 * calling each other. */
#include "rt_internal.h"

const char *rt_isa_name(rt_isa isa)
{
    switch (isa) {
    case RT_ISA_AUTO: return "auto";
    case RT_ISA_C: return "c";
    case RT_ISA_AVX2: return "avx2";
    case RT_ISA_AVX512_VNNI: return "avx512-vnni";
    }
    return 0;
}

int rt_isa_supported(rt_isa isa)
{
    switch (isa) {
    case RT_ISA_AUTO:
    case RT_ISA_C: return 1;
#if RT_X86
    /* libgcc fills its CPU model in a constructor; a freestanding program
     * may have none, so ask it to (it does so once) */
    case RT_ISA_AVX2: __builtin_cpu_init(); return __builtin_cpu_supports("avx2");
    case RT_ISA_AVX512_VNNI:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
    default: return 0;
    }
}

rt_isa rt_isa_best(void)
{
    if (rt_isa_supported(RT_ISA_AVX512_VNNI))
        return RT_ISA_AVX512_VNNI;
    if (rt_isa_supported(RT_ISA_AVX2))
        return RT_ISA_AVX2;
    return RT_ISA_C;
}
