/* nn_checkpoint.h - the float checkpoint file (.ckpt).
 *
 * Self-contained: the architecture, normalization, parameters and batch-norm
 * state are inside, so evaluation needs no config. A training checkpoint
 * also holds the optimizer state, the training counters and the config text,
 * so `--resume` continues exactly as an uninterrupted run would.
 *
 * Layout (all integers and floats little-endian):
 *   header : "IOTCNNCK" (8 bytes) | u32 version (1) | u32 section count
 *   section: u32 tag (4 ASCII chars) | u64 payload length | payload |
 *            u32 CRC32 of tag, length and payload
 * Tags: ARCH (spec + normalization), PARM (f32 params), STAT (f32 state),
 *       OPTM (optimizer), TRAN (training counters), CONF (config JSON text).
 * Unknown tags are skipped (forward compatible); required ones are ARCH,
 * PARM, STAT. Files are written to a temporary name and renamed. */
#ifndef NN_CHECKPOINT_H
#define NN_CHECKPOINT_H

#include <stdint.h>

#include "nn_error.h"
#include "nn_model.h"
#include "nn_optim.h"

#define NN_CKPT_VERSION 1

typedef struct {
    uint64_t seed;
    int32_t epochs_done;  /* completed epochs                        */
    int32_t total_epochs; /* the run's planned epochs                */
    uint64_t step;        /* optimizer steps taken                   */
} nn_train_state;

typedef struct {
    nn_model model;
    int has_optim;
    nn_optim optim;
    int has_train;
    nn_train_state train;
    char *config_json;    /* NUL-terminated, or NULL                 */
    uint64_t file_bytes;
} nn_checkpoint;

/* opt, ts, config_json may be NULL (then that section is omitted). A model
 * or optimizer holding a value the loader would reject (nn_values.h: NaN,
 * infinity, a negative running or second-moment variance) is not written:
 * NN_ERR_NUMERIC, "PATH: cannot save: layer 0 (conv2d 'c1') weight[3] =
 * nan, ...", and the file keeps its old contents. */
nn_status nn_checkpoint_save(const char *path, const nn_model *m, const nn_optim *opt,
                             const nn_train_state *ts, const char *config_json, nn_error *err);

/* Reads and verifies everything (magic, version, lengths, CRCs, enums,
 * shapes, and the values: nn_values.h) before use. Errors (NN_ERR_FORMAT)
 * name the path, the section and the offset, and for a value the layer
 * and element: "m.ckpt: section STAT: offset 9560: layer 1 (batchnorm
 * 'bn1') running_var[0] = -1, must be finite and >= 0 (a variance)". */
nn_status nn_checkpoint_load(nn_checkpoint *ck, const char *path, nn_error *err);
/* The same from a whole file image in memory (data is only read; path, may
 * be NULL, prefixes messages). On failure ck is left empty. */
nn_status nn_checkpoint_decode(nn_checkpoint *ck, const uint8_t *data, size_t len,
                               const char *path, nn_error *err);
void nn_checkpoint_free(nn_checkpoint *ck);

#endif
