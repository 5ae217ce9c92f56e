/* rt_config.h - which kernels a runtime build contains. The default is
 * all of them (the x86 layouts on x86-64 only). `iotcnn export` writes a replacement next to the runtime
 * sources that enables only what the exported model uses, so a firmware
 * carries no code it does not run; rt_image_check then refuses an image
 * that needs a kernel left out (RT_E_UNSUPPORTED). A build may also pass
 * -DRT_CONFIG_FILE='"my_config.h"' to use its own file. */
#ifndef RT_CONFIG_H
#define RT_CONFIG_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef RT_CONFIG_FILE
#include RT_CONFIG_FILE
#endif

/* The x86 layouts (X8, X4) default to x86-64 hosts only: a build for any
 * other core contains none of their code. */
#if defined(__x86_64__) && defined(__GNUC__)
#define RT_DEFAULT_X86 1
#else
#define RT_DEFAULT_X86 0
#endif

/* conv2d by weight format */
#ifndef RT_WITH_CONV_S8
#define RT_WITH_CONV_S8 1
#endif
#ifndef RT_WITH_CONV_S4
#define RT_WITH_CONV_S4 1
#endif
/* the S4 bodies other than the S8 passes on DSP cores: needed for an S4
 * conv whose in_c is not a multiple of 8, or whose scratch is smaller than
 * the passes' (rt_conv_s4_passes_fit) */
#ifndef RT_WITH_CONV_S4_PANEL
#define RT_WITH_CONV_S4_PANEL 1
#endif
/* S4 convs widened to S8 in their scratch on DSP cores (not the M55)
 * when it holds the widened weights and the S8 body's scratch
 * (rt_conv_s4_widen_fits); the S8 bodies then run them */
#ifndef RT_WITH_CONV_S4_WIDEN
#define RT_WITH_CONV_S4_WIDEN 1
#endif
/* the DSP bodies' variants for convs whose output clamp is above -128
 * (lo > -128: a ReLU whose zero point is not -128); without them such
 * convs take the portable loops (the same bytes, more instructions) */
#ifndef RT_WITH_CONV_LO
#define RT_WITH_CONV_LO 1
#endif
/* the Winograd body of stride-1 3x3 convs on DSP cores (rt_wino.c):
 * taken when the op's scratch holds rt_wino_bytes */
#ifndef RT_WITH_WINO
#define RT_WITH_WINO 1
#endif
/* ... for S4 weights too (each output channel's row widened to S8 first) */
#ifndef RT_WITH_WINO_S4
#define RT_WITH_WINO_S4 1
#endif
#ifndef RT_WITH_CONV_SP4
#define RT_WITH_CONV_SP4 1
#endif
#ifndef RT_WITH_CONV_SP8
#define RT_WITH_CONV_SP8 1
#endif
#ifndef RT_WITH_CONV_X8
#define RT_WITH_CONV_X8 RT_DEFAULT_X86
#endif
#ifndef RT_WITH_CONV_X4
#define RT_WITH_CONV_X4 RT_DEFAULT_X86
#endif
/* dense by weight format */
#ifndef RT_WITH_DENSE_S8
#define RT_WITH_DENSE_S8 1
#endif
#ifndef RT_WITH_DENSE_S4
#define RT_WITH_DENSE_S4 1
#endif
#ifndef RT_WITH_DENSE_SP4
#define RT_WITH_DENSE_SP4 1
#endif
#ifndef RT_WITH_DENSE_SP8
#define RT_WITH_DENSE_SP8 1
#endif
#ifndef RT_WITH_DENSE_X8
#define RT_WITH_DENSE_X8 RT_DEFAULT_X86
#endif
#ifndef RT_WITH_DENSE_X4
#define RT_WITH_DENSE_X4 RT_DEFAULT_X86
#endif
/* the other ops */
#ifndef RT_WITH_MAXPOOL
#define RT_WITH_MAXPOOL 1
#endif
#ifndef RT_WITH_AVGPOOL
#define RT_WITH_AVGPOOL 1
#endif
#ifndef RT_WITH_GLOBAL_AVGPOOL
#define RT_WITH_GLOBAL_AVGPOOL 1
#endif
#ifndef RT_WITH_ADD
#define RT_WITH_ADD 1
#endif
#ifndef RT_WITH_DEPTHWISE
#define RT_WITH_DEPTHWISE 1
#endif

#ifdef __cplusplus
}
#endif

#endif
