/* cfg_finetune.c - the fine-tuning blocks (cfg_finetune.h). */
#include "cfg_finetune.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cfg_schedule.h"

static const cs_range R_POSITIVE = {0, INFINITY, 1, 1};

/* PATH.distill: {"temperature": T, "weight": w, "teacher": "CHECKPOINT",
 * "flip": bool}, all optional. */
static nn_status parse_distill(const cs_ctx *x, const cJSON *ft, const char *ft_path,
                               cfg_finetune *f)
{
    static const char *const keys[] = {"temperature", "weight", "teacher", "flip", NULL};
    static const cs_range r_temp = {0, 100, 1, 0}, r_weight = {0, 1, 0, 0};
    char path[CS_PATH_MAX];
    cs_path_key(path, ft_path, "distill");
    const cJSON *d;
    nn_status s = cs_object(x, ft, "distill", ft_path, &d);
    f->distill = 0;
    f->distill_loss = (nn_distill_config){CFG_DISTILL_TEMPERATURE, CFG_DISTILL_WEIGHT};
    f->teacher[0] = '\0';
    f->distill_flip = 0;
    if (s || !d)
        return s;
    f->distill = 1;
    const char *teacher = NULL;
    if ((s = cs_check_keys(x, d, path, keys, NULL, NULL)) ||
        (s = cs_float(x, d, "temperature", path, r_temp, 0, NULL, &f->distill_loss.temperature)) ||
        (s = cs_float(x, d, "weight", path, r_weight, 0, NULL, &f->distill_loss.weight)) ||
        (s = cs_string(x, d, "teacher", path, 0, "a checkpoint path", &teacher)) ||
        (s = cs_bool(x, d, "flip", path, &f->distill_flip)))
        return s;
    if (teacher && (teacher[0] == '\0' || strlen(teacher) >= sizeof f->teacher)) {
        char p_teacher[CS_PATH_MAX];
        cs_path_key(p_teacher, path, "teacher");
        return cs_fail(x, p_teacher, "expected a non-empty checkpoint path of at most %d bytes",
                       (int)sizeof f->teacher - 1);
    }
    if (teacher)
        snprintf(f->teacher, sizeof f->teacher, "%s", teacher);
    return NN_OK;
}

nn_status cfg_finetune_parse(const cs_ctx *x, const cJSON *parent, const char *parent_path,
                             const char *key, float train_lr,
                             const nn_schedule_config *train_schedule, cfg_finetune *f)
{
    static const char *const keys[] = {"epochs", "lr", "schedule", "distill", NULL};
    static const char *const qat_keys[] = {"epochs",  "lr",          "schedule",
                                           "distill", "activations", NULL};
    static const char *const qat_only[] = {"activations", NULL};
    const int qat = strcmp(key, "qat") == 0;
    char path[CS_PATH_MAX], p_lr[CS_PATH_MAX], p_epochs[CS_PATH_MAX], p_sched[CS_PATH_MAX];
    cs_path_key(path, parent_path, key);
    cs_path_key(p_lr, path, "lr");
    cs_path_key(p_epochs, path, "epochs");
    cs_path_key(p_sched, path, "schedule");
    const cJSON *ft;
    nn_status s = cs_object(x, parent, key, parent_path, &ft);
    f->epochs = 0;
    f->lr = train_lr;
    f->schedule = *train_schedule;
    f->distill = 0;
    f->distill_loss = (nn_distill_config){CFG_DISTILL_TEMPERATURE, CFG_DISTILL_WEIGHT};
    f->teacher[0] = '\0';
    f->distill_flip = 0;
    f->activations = 0;
    if (s || !ft)
        return s;
    if ((s = cs_check_keys(x, ft, path, qat ? qat_keys : keys, qat ? NULL : qat_only,
                           "fine-tuning after pruning (a key of quantize.qat)")) ||
        (s = parse_distill(x, ft, path, f)) ||
        (qat && (s = cs_bool(x, ft, "activations", path, &f->activations))))
        return s;
    if ((s = cs_int(x, ft, "epochs", path, 1, 100000, 1, &f->epochs)) ||
        (s = cs_float(x, ft, "lr", path, R_POSITIVE, 0, NULL, &f->lr)))
        return s;
    if (cJSON_GetObjectItemCaseSensitive(ft, "schedule"))
        return cfg_schedule_parse(x, ft, path, f->lr, f->epochs, &f->schedule);
    /* train.schedule at the fine-tuning's rate: its bounds must still hold. */
    f->schedule.base_lr = f->lr;
    nn_schedule_config *sc = &f->schedule;
    if (sc->kind == NN_SCHED_COSINE && sc->min_lr > sc->base_lr)
        return cs_fail(x, p_lr,
                       "%g is below train.schedule.min_lr (%g), which fine-tuning inherits; give "
                       "%s",
                       (double)sc->base_lr, (double)sc->min_lr, p_sched);
    if (sc->kind != NN_SCHED_ONECYCLE && sc->warmup_epochs >= (float)f->epochs)
        return cs_fail(x, p_epochs,
                       "%d is not more than train.schedule.warmup_epochs (%g), which "
                       "fine-tuning inherits; give %s",
                       f->epochs, (double)sc->warmup_epochs, p_sched);
    return NN_OK;
}
