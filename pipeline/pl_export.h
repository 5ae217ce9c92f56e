/* pl_export.h - export as a library call: a .iotc model in, a firmware
 * folder out (the deploy image as C, its header, the runtime sources the
 * model needs; export/rt_export.h). The image is checked first: random
 * inputs through it must give the bytes of the host's image and of the
 * reference interpreter. What `iotcnn export` runs. */
#ifndef PL_EXPORT_H
#define PL_EXPORT_H

#include "format/iotc.h"
#include "export/rt_build.h"
#include "pl_progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *model;  /* .iotc file                                         */
    const char *out;    /* folder to write (created if missing)               */
    const char *name;   /* C identifier prefix; NULL: from the model's name   */
    int target;         /* RT_TARGET_* (rtb_target_parse)                     */
    rtb_sparse sparse;
    int verify;         /* random inputs for the check (0: none)              */
    long long arena_limit; /* rtb_options.arena_limit (0: the direct bodies') */
} pl_export_opts;

typedef struct {
    iotc_model *file;   /* the model read (owned)                             */
    rtb_image image;    /* the deploy image written; its per-op info          */
    char name[80];      /* the C prefix used                                  */
    long code_bytes;    /* runtime code for the target, or -1 (code_how says why) */
    char code_how[400];
} pl_export_result;

nn_status pl_export(const pl_export_opts *o, const pl_progress *p, pl_export_result *r,
                    nn_error *err);
void pl_export_result_free(pl_export_result *r);

/* The model's file name as a C identifier: "runs/mnist-4.iotc" -> "mnist_4". */
void pl_export_default_name(char *dst, size_t n, const char *path);

#ifdef __cplusplus
}
#endif

#endif
