/* cfg.h - the JSON run configuration (the files in configs/), parsed with cJSON.
 *
 * Strict: an unknown or misplaced key, a duplicate key, a wrong type or an
 * out-of-range value is an NN_ERR_CONFIG error whose message starts with the
 * source name and names the JSON path, e.g.
 *   configs/x.json: train.optimizer.momentum: expected a number in [0, 1), got "0.9"
 * The top level has the blocks data, model and train (all required), and
 * the optional augment, prune (cfg_prune.h) and quantize (cfg_quantize.h).
 * docs/config.md is the reference for every key and its default. */
#ifndef CFG_H
#define CFG_H

#include <stdint.h>

#include "augment/aug.h"
#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "libnn/nn_optim.h"
#include "libnn/nn_spec.h"
#include "cfg_prune.h"
#include "cfg_quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CFG_PATH_MAX 512

typedef struct {
    char dataset[16];           /* "mnist" | "fashion" | "cifar10" | "png"   */
    char dir[CFG_PATH_MAX];     /* default "data/<dataset>" (from the current
                                   directory); a relative dir given in a config
                                   file is resolved against that file's folder
                                   by cfg_load                               */
    int dir_given;              /* dir came from the config                  */
    int validation;             /* training images held out (the last ones)  */
    int limit;                  /* use only the first N training images (0 = all) */
    int have_norm;              /* 1: mean/std given; 0: computed from train */
    int norm_channels;
    float mean[NN_MAX_CHANNELS_NORM];
    float std[NN_MAX_CHANNELS_NORM];
} cfg_data;

typedef struct {
    int epochs;
    int batch_size;
    uint64_t seed;
    float lr;                   /* base (or peak, for onecycle) learning rate */
    nn_optim_config optim;
    nn_schedule_config schedule;/* schedule.base_lr = lr                      */
    float label_smoothing;
    int eval_batch;             /* batch size for evaluation passes           */
    double divergence_factor;   /* stop when the smoothed loss exceeds this
                                   times its reference (nn_diverge.h)         */
    int early_stop;             /* stop after this many epochs without a new
                                   best validation accuracy; 0: never (needs
                                   data.validation)                           */
} cfg_train;

typedef struct {
    cfg_data data;
    nn_init_kind init;
    nn_model_spec model;        /* in_c/h/w and num_classes are 0: they come
                                   from the dataset (cfg_set_input). Inputs
                                   are resolved: layer i reads `input` (i-1
                                   by default, NN_INPUT_NODE for layer 0 or
                                   "input"); add reads input2 ("from"). For
                                   other layers input2 stays NN_INPUT_NODE-1
                                   (unused).                                  */
    cfg_train train;
    aug_config augment;         /* all zero when the block is absent          */
    int test_flip;              /* augment.test_flip: evaluate each image and
                                   its mirror, averaging the logits           */
    cfg_prune prune;            /* prune.present = 0 when the block is absent */
    cfg_quantize quantize;      /* defaults (present = 0) when absent         */
} cfg_config;

/* Parses NUL-terminated JSON text; `source` (a file name, or NULL for
 * "config") prefixes error messages. Malformed JSON is reported with its
 * line and column. Validates everything local to a key or a layer (ranges,
 * names, references to earlier layers); shapes are left to nn_model_build.
 * On failure *c is zeroed. */
nn_status cfg_parse(cfg_config *c, const char *json_text, const char *source, nn_error *err);

/* Reads and parses a file (NN_ERR_IO naming the path when it cannot be
 * read); *text_out (if non-NULL) receives the malloc'd text, which
 * checkpoints store for --resume, or NULL on failure. */
nn_status cfg_load(cfg_config *c, char **text_out, const char *path, nn_error *err);

/* Sets the model's input shape and class count (from the dataset). */
void cfg_set_input(cfg_config *c, int in_c, int in_h, int in_w, int num_classes);

#ifdef __cplusplus
}
#endif

#endif
