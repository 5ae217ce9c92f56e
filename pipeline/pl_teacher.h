/* pl_teacher.h - the teacher of a distillation named by a config
 * (prune.finetune.distill.teacher, quantize.qat.distill.teacher): a float
 * checkpoint of any network that takes the student's input shape to its
 * classes, typically a bigger model than the one being compressed. Its own
 * input normalization is kept: nn_train maps the student's normalized
 * input to the teacher's. */
#ifndef PL_TEACHER_H
#define PL_TEACHER_H

#include "format/ckpt.h"
#include "libnn/nn_model.h"
#include "pl_progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    ckpt_file ck;
    int loaded;
} pl_teacher;

/* Loads the checkpoint at path into t and checks it against the student
 * (input shape and class count); errors name `key` (the config path, e.g.
 * "prune.finetune.distill.teacher") and the file. Notes the teacher on p.
 * Free with pl_teacher_free, also after a failure. */
nn_status pl_teacher_load(pl_teacher *t, const char *path, const char *key,
                          const nn_model *student, const pl_progress *p, nn_error *err);

void pl_teacher_free(pl_teacher *t);

#ifdef __cplusplus
}
#endif

#endif
