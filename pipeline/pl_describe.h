/* pl_describe.h - what a model file holds, as numbers a report prints:
 * a float checkpoint (.ckpt) or an int8 model (.iotc), told apart by its
 * magic, never its name; per layer and in total the parameters, non-zero
 * parameters and MACs, the file's sections, and the activation memory of
 * one inference. What `iotcnn info` (and quantize's totals) print. */
#ifndef PL_DESCRIBE_H
#define PL_DESCRIBE_H

#include <stdint.h>

#include "format/iotc.h"
#include "format/ckpt.h"
#include "pl_classes.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Totals of an int8 model. */
typedef struct {
    uint64_t parameters;      /* weights and biases of conv2d/dense ops      */
    uint64_t nonzero;         /* of which non-zero                           */
    uint64_t macs;            /* multiply-accumulates per image              */
    uint64_t arena_bytes;     /* the runtime's for the host image (rt_arena_bytes) */
    const char *arena_isa;    /* the instruction set that runs it here       */
    const char *arena_target; /* the host image's target (its layouts)       */
    uint64_t file_bytes;
} pl_iotc_totals;

/* Fails only when the model cannot be built into an image (or out of
 * memory). */
nn_status pl_iotc_totals_of(const iotc_model *f, pl_iotc_totals *t, nn_error *err);

typedef enum { PL_MODEL_IOTC = 1, PL_MODEL_CKPT = 2 } pl_model_kind;

typedef struct {
    pl_model_kind kind;
    cls_names classes;                /* either kind (n = 0: unnamed)        */
    pl_classes_source classes_source;
    /* PL_MODEL_IOTC */
    iotc_model *iotc;
    pl_iotc_totals totals;
    /* PL_MODEL_CKPT */
    ckpt_file ckpt;
    uint32_t version;           /* sections: ckpt.sections, ckpt.n_sections  */
    uint64_t nonzero, macs;
    uint64_t arena_bytes;      /* float activations, batch 1 (ms_float_activation_bytes) */
    uint64_t *layer_nonzero;   /* per node: non-zero weights and biases       */
} pl_description;

/* A file that is neither kind is NN_ERR_FORMAT, naming both magics. */
nn_status pl_describe(const char *path, pl_description *d, nn_error *err);
void pl_description_free(pl_description *d);

#ifdef __cplusplus
}
#endif

#endif
