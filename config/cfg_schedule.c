/* cfg_schedule.c - the learning-rate schedule object (train.schedule,
 * prune.finetune.schedule). */
#include "cfg_schedule.h"

#include <math.h>
#include <stdio.h>

nn_status cfg_schedule_parse(const cs_ctx *x, const cJSON *parent, const char *parent_path,
                             float lr, int epochs, nn_schedule_config *sc)
{
    static const char *const names[] = {"constant", "step", "cosine", "onecycle", NULL};
    static const nn_sched_kind kinds[] = {NN_SCHED_CONSTANT, NN_SCHED_STEP, NN_SCHED_COSINE,
                                          NN_SCHED_ONECYCLE};
    static const char *const keys[][6] = {
        {"type", "warmup_epochs", NULL},
        {"type", "warmup_epochs", "step_epochs", "gamma", NULL},
        {"type", "warmup_epochs", "min_lr", NULL},
        {"type", "pct_start", "div_factor", "final_div_factor", NULL},
    };
    static const char *const all_keys[] = {"type",      "warmup_epochs", "min_lr",
                                           "step_epochs", "gamma",       "pct_start",
                                           "div_factor",  "final_div_factor", NULL};
    char path[CS_PATH_MAX];
    cs_path_key(path, parent_path, "schedule");
    int type = 0;
    const cJSON *o;
    nn_status s = cs_typed(x, parent, "schedule", parent_path, names, &type, &o);
    if (s)
        return s;
    *sc = (nn_schedule_config){
        .kind = kinds[type],
        .base_lr = lr,
        .min_lr = 0.0f,
        .step_epochs = 10.0f,
        .gamma = 0.1f,
        .warmup_epochs = 0.0f,
        .pct_start = 0.25f,
        .div_factor = 25.0f,
        .final_div_factor = 1e4f,
    };
    if (!o)
        return NN_OK;
    char what[48];
    snprintf(what, sizeof what, "schedule \"%s\"", names[type]);
    if ((s = cs_check_keys(x, o, path, keys[type], all_keys, what)))
        return s;
    /* Cross-field bounds: warm-up ends before the run does, and the cosine
     * floor is at most the base rate. */
    const cs_range r_warm = {0, epochs, 0, 1}, r_min = {0, lr, 0, 0};
    static const cs_range r_pos = {0, INFINITY, 1, 1}, r_gamma = {0, 1, 1, 0},
                          r_pct = {0, 1, 1, 1}, r_div = {1, INFINITY, 0, 1};
    char below_epochs[CS_PATH_MAX + 16], at_most_lr[CS_PATH_MAX + 16];
    snprintf(below_epochs, sizeof below_epochs, "(below %s.epochs)", parent_path);
    snprintf(at_most_lr, sizeof at_most_lr, "(at most %s.lr)", parent_path);
    if ((s = cs_float(x, o, "warmup_epochs", path, r_warm, 0, below_epochs,
                      &sc->warmup_epochs)) ||
        (s = cs_float(x, o, "min_lr", path, r_min, 0, at_most_lr, &sc->min_lr)) ||
        (s = cs_float(x, o, "step_epochs", path, r_pos, 0, NULL, &sc->step_epochs)) ||
        (s = cs_float(x, o, "gamma", path, r_gamma, 0, NULL, &sc->gamma)) ||
        (s = cs_float(x, o, "pct_start", path, r_pct, 0, NULL, &sc->pct_start)) ||
        (s = cs_float(x, o, "div_factor", path, r_div, 0, NULL, &sc->div_factor)) ||
        (s = cs_float(x, o, "final_div_factor", path, r_div, 0, NULL, &sc->final_div_factor)))
        return s;
    return NN_OK;
}
