/* cfg_finetune.h - a fine-tuning block of the config: prune.finetune and
 * quantize.qat share its keys (docs/config.md):
 *     {"epochs": N, "lr": X, "schedule": {...},
 *      "distill": {"temperature": T, "weight": W, "teacher": "CHECKPOINT",
 *                  "flip": false}}
 * An absent lr is train.lr; an absent schedule is train.schedule at that
 * rate (its bounds must still hold); "distill" (even {}) turns on
 * distillation from the model the fine-tuning starts from, or from the
 * float checkpoint "teacher" names (pl_teacher.h). */
#ifndef CFG_FINETUNE_H
#define CFG_FINETUNE_H

#include <cjson/cJSON.h>

#include "cfg_strict.h"
#include "libnn/nn_distill.h"
#include "libnn/nn_optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* distill.teacher: a checkpoint path, relative to the current directory. */
#define CFG_TEACHER_PATH_MAX 512

typedef struct {
    int epochs;                    /* 0: the block is absent             */
    float lr;
    nn_schedule_config schedule;   /* base_lr = lr                       */
    int distill;                   /* 1: "distill" given                 */
    nn_distill_config distill_loss;
    char teacher[CFG_TEACHER_PATH_MAX]; /* "": the starting model teaches  */
    int distill_flip;              /* 1: the teacher averages each image
                                      with its mirror (nn_distill_spec)   */
    int activations;               /* quantize.qat only: 1 rounds activations
                                      to the int8 model's grids too       */
} cfg_finetune;

/* The distillation defaults (docs/config.md). */
#define CFG_DISTILL_TEMPERATURE 4.0f
#define CFG_DISTILL_WEIGHT 0.9f

/* Parses parent[key] (absent: epochs 0 and the train defaults; present:
 * "epochs" is required) at the JSON path parent_path.key. Errors name
 * that path. "activations" is a key of the block "qat" alone. */
nn_status cfg_finetune_parse(const cs_ctx *x, const cJSON *parent, const char *parent_path,
                             const char *key, float train_lr,
                             const nn_schedule_config *train_schedule, cfg_finetune *out);

#ifdef __cplusplus
}
#endif

#endif
