/* pl_teacher.c - a distillation teacher from a checkpoint (pl_teacher.h). */
#include "pl_teacher.h"

#include <string.h>

nn_status pl_teacher_load(pl_teacher *t, const char *path, const char *key,
                          const nn_model *student, const pl_progress *p, nn_error *err)
{
    memset(t, 0, sizeof *t);
    nn_status st = ckpt_load(&t->ck, path, err);
    if (st != NN_OK) {
        nn_error_prefix(err, "%s", key);
        return st;
    }
    t->loaded = 1;
    const nn_model_spec *ts = &t->ck.model.spec, *s = &student->spec;
    if (ts->in_c != s->in_c || ts->in_h != s->in_h || ts->in_w != s->in_w ||
        ts->num_classes != s->num_classes)
        return nn_errorf(err, NN_ERR_ARG,
                         "%s: %s takes %dx%dx%d inputs to %d classes, the model being "
                         "fine-tuned %dx%dx%d to %d: a teacher needs the same",
                         key, path, ts->in_c, ts->in_h, ts->in_w, ts->num_classes, s->in_c,
                         s->in_h, s->in_w, s->num_classes);
    pl_note(p, "distill", "the teacher is %s: %d layers, %zu parameters", path,
            t->ck.model.spec.n_layers, t->ck.model.n_params);
    return NN_OK;
}

void pl_teacher_free(pl_teacher *t)
{
    if (t->loaded)
        ckpt_free(&t->ck);
    memset(t, 0, sizeof *t);
}
