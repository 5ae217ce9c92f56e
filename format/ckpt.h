/* ckpt.h - the float checkpoint file (.ckpt).
 *
 * Self-contained: the architecture, normalization, parameters and batch-norm
 * state are inside, so evaluation needs no config. A training checkpoint
 * also holds the optimizer state, the training counters and the config text,
 * so `--resume` continues exactly as an uninterrupted run would.
 *
 * Framing: the section/CRC container (container.h) with magic "IOTCNNCK"
 * and version 1. All integers and floats little-endian.
 * Tags: ARCH (spec + normalization), PARM (f32 params), STAT (f32 state),
 *       OPTM (optimizer), TRAN (training counters), CONF (config JSON text),
 *       CLSN (class names, classes.h).
 * Unknown tags are skipped (forward compatible); required ones are ARCH,
 * PARM, STAT; a file has at most CKPT_MAX_SECTIONS sections. Files are
 * written to a temporary name and renamed. */
#ifndef CKPT_H
#define CKPT_H

#include <stdint.h>

#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "libnn/nn_optim.h"
#include "libnn/nn_train.h"
#include "classes.h"
#include "container.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_VERSION 1
#define CKPT_MAGIC "IOTCNNCK"
#define CKPT_MAX_SECTIONS 64

/* The container's header of a checkpoint (magic, version, messages). */
extern const ctr_format CKPT_FORMAT;

typedef struct {
    nn_model model;
    int has_optim;
    nn_optim optim;
    int has_train;
    nn_train_state train;
    char *config_json;    /* NUL-terminated, or NULL                 */
    cls_names classes;    /* the CLSN section (n = 0: none)          */
    uint64_t file_bytes;
    int n_sections; /* every section of the file, in order     */
    ctr_section sections[CKPT_MAX_SECTIONS];
} ckpt_file;

/* opt, ts, config_json, classes may be NULL (then that section is
 * omitted; so is CLSN for classes->n = 0); classes must name every class
 * of m. A model
 * or optimizer holding a value the loader would reject (nn_values.h: NaN,
 * infinity, a negative running or second-moment variance) is not written:
 * NN_ERR_NUMERIC, "PATH: cannot save: layer 0 (conv2d 'c1') weight[3] =
 * nan, ...", and the file keeps its old contents. */
nn_status ckpt_save(const char *path, const nn_model *m, const nn_optim *opt,
                    const nn_train_state *ts, const char *config_json, const cls_names *classes,
                    nn_error *err);

/* Reads and verifies everything (magic, version, lengths, CRCs, enums,
 * shapes, and the values: nn_values.h) before use. Errors (NN_ERR_FORMAT)
 * name the path, the section and the offset, and for a value the layer
 * and element: "m.ckpt: section STAT: offset 9560: layer 1 (batchnorm
 * 'bn1') running_var[0] = -1, must be finite and >= 0 (a variance)". */
nn_status ckpt_load(ckpt_file *ck, const char *path, nn_error *err);
/* The same from a whole file image in memory (data is only read; path, may
 * be NULL, prefixes messages). On failure ck is left empty. */
nn_status ckpt_decode(ckpt_file *ck, const uint8_t *data, size_t len, const char *path,
                      nn_error *err);
void ckpt_free(ckpt_file *ck);

#ifdef __cplusplus
}
#endif

#endif
