/* rt_export.h - `iotcnn export`'s folder: what a firmware project adds to
 * its build to run a model with the runtime.
 *
 *   DIR/NAME.c       the deploy image as an 8-byte aligned const array
 *   DIR/NAME.h       input shape and quantization, arena size, output meaning
 *   DIR/rt_config.h  the kernels this model needs (the others compile out)
 *   DIR/rt*.c, rt*.h the runtime sources (embedded in the iotcnn binary)
 *   DIR/README.md    how to build and call it, with a ten-line example */
#ifndef RT_EXPORT_H
#define RT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "format/qmodel.h"
#include "format/classes.h"
#include "libnn/nn_error.h"
#include "rt_build.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} rtx_source;

/* The runtime's sources, embedded at build time (build/gen/rt_sources.c). */
extern const rtx_source rtx_sources[];
extern const int rtx_n_sources;

typedef struct {
    const char *model_path;   /* for comments                            */
    const char *name;         /* C identifier prefix                     */
    int target;               /* RT_TARGET_*                             */
    const cls_names *classes; /* the model's class names, or NULL        */
    int n_norm;               /* input normalization recorded, per channel */
    float mean[4], std[4];
} rtx_meta;

/* 1 when name is a C identifier of at most 64 characters. */
int rtx_valid_name(const char *name);

/* Writes the folder (creating DIR if needed). */
nn_status rtx_write_folder(const char *dir, const rtb_image *img, const qm_model *m,
                           const rtx_meta *meta, nn_error *err);

/* The compiler flags of a target's firmware build (documented in
 * docs/deploy.md); "" for generic and x86-64. */
const char *rtx_target_cflags(int target);

/* Bytes of code and constant data the runtime in DIR takes on the target,
 * measured by compiling it with arm-none-eabi-gcc -O2 (generic, x86-64: the
 * host's cc, objects unlinked) and linking it with --gc-sections behind an entry that calls
 * rt_image_check and rt_run; memcpy, memset and compiler helpers included.
 * Returns -1 when no compiler is found (or it fails); `how` describes the
 * measurement or the failure. */
long rtx_code_bytes(const char *dir, int target, char *how, size_t how_len);

#ifdef __cplusplus
}
#endif

#endif
