/* nn_target.h - compile a region of a file for an x86 target whatever the
 * build's -march (the ISA bodies of libnn; called only where nn_isa says
 * the CPU has the target). GCC's target pragma, or clang's function
 * attribute (clang has no #pragma GCC target; the fuzz build uses clang):
 *     NN_TARGET_AVX2_BEGIN ... NN_TARGET_END
 *     NN_TARGET_AVX512_BEGIN ... NN_TARGET_END
 * AVX-512 here is F, DQ and VL with AVX2 and FMA (what nn_isa checks). */
#ifndef NN_TARGET_H
#define NN_TARGET_H

/* One string literal each: _Pragma does not join adjacent ones. */
#if defined(__clang__)
#define NN_TARGET_AVX2_BEGIN                                                                       \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define NN_TARGET_AVX512_BEGIN                                                                     \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,avx512f,avx512dq,avx512vl\"))), apply_to = function)")
#define NN_TARGET_END _Pragma("clang attribute pop")
#else
#define NN_TARGET_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define NN_TARGET_AVX512_BEGIN                                                                     \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,avx512f,avx512dq,avx512vl\")")
#define NN_TARGET_END _Pragma("GCC pop_options")
#endif

#endif
