/* cfg.h - the JSON run configuration (configs/*.json), parsed with cJSON.
 *
 * Strict: an unknown key, a wrong type or an out-of-range value is an error
 * whose message names the JSON path, e.g. "train.optimizer.momentum: must be
 * a number in [0, 1)". The top level has blocks data, model, train (and the
 * later augment, prune, quantize). */
#ifndef CFG_H
#define CFG_H

#include <stdint.h>

#include "../libnn/nn_error.h"
#include "../libnn/nn_model.h"
#include "../libnn/nn_optim.h"
#include "../libnn/nn_spec.h"

#define CFG_PATH_MAX 512

typedef struct {
    char dataset[16];           /* "mnist" | "fashion" | "cifar10" | "png"   */
    char dir[CFG_PATH_MAX];     /* default "data/<dataset>"                  */
    int validation;             /* training images held out (the last ones)  */
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
} cfg_train;

typedef struct {
    cfg_data data;
    nn_init_kind init;
    nn_model_spec model;        /* in_c/h/w and num_classes are 0: they come
                                   from the dataset (cfg_set_input)           */
    cfg_train train;
} cfg_config;

/* Parses JSON text; `source` (a file name) prefixes error messages. */
nn_status cfg_parse(cfg_config *c, const char *json_text, const char *source, nn_error *err);

/* Reads and parses a file; *text_out (if non-NULL) receives the malloc'd
 * text, which checkpoints store for --resume. */
nn_status cfg_load(cfg_config *c, char **text_out, const char *path, nn_error *err);

/* Sets the model's input shape and class count (from the dataset). */
void cfg_set_input(cfg_config *c, int in_c, int in_h, int in_w, int num_classes);

#endif
