/* cfg_prune.c - the `prune` block: strict parsing, then resolution of the
 * layer overrides against the model and of epochs into optimizer steps. */
#include "cfg_prune.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_finetune.h"
#include "cfg_schedule.h"
#include "cfg_strict.h"

static const cs_range R_FRACTION = {0, 1, 0, 1}; /* [0, 1) */

/* ---- prune.finetune ----------------------------------------------------- */

static nn_status parse_finetune(const cs_ctx *x, const cJSON *o, float train_lr,
                                const nn_schedule_config *train_schedule, cfg_prune *p)
{
    cfg_finetune f;
    nn_status s = cfg_finetune_parse(x, o, "prune", "finetune", train_lr, train_schedule, &f);
    p->finetune_epochs = f.epochs;
    p->finetune_lr = f.lr;
    p->finetune_schedule = f.schedule;
    p->distill = f.distill;
    p->distill_loss = f.distill_loss;
    p->distill_flip = f.distill_flip;
    memcpy(p->distill_teacher, f.teacher, sizeof p->distill_teacher);
    return s;
}

/* ---- prune.schedule ----------------------------------------------------- */

static nn_status parse_schedule(const cs_ctx *x, const cJSON *o, cfg_prune *p)
{
    static const char *const names[] = {"oneshot", "gradual", NULL};
    static const char *const oneshot_keys[] = {"type", NULL};
    static const char *const gradual_keys[] = {"type",       "begin_epoch",      "end_epoch",
                                               "begin_step", "end_step",         "frequency",
                                               "exponent",   "initial_sparsity", NULL};
    static const char *const *const keys[] = {oneshot_keys, gradual_keys};
    const char *path = "prune.schedule";
    int type = 0;
    const cJSON *so;
    nn_status s = cs_typed_keys(x, o, "schedule", "prune", names, keys, gradual_keys, &type, &so);
    if (s)
        return s;
    p->gradual = type == 1;
    p->begin = 0, p->end = -1, p->frequency = 100, p->exponent = 3.0, p->initial = 0.0;
    if (!p->gradual)
        return NN_OK;
    if (p->method != CFG_PRUNE_MAGNITUDE)
        return cs_fail(x, so ? "prune.schedule.type" : path,
                       "\"gradual\" is only valid for method \"magnitude\" (structured pruning "
                       "is one-shot)");
    if (p->finetune_epochs < 1)
        return cs_fail(x, path,
                       "gradual pruning happens during fine-tuning: add \"finetune\": "
                       "{\"epochs\": N} to the prune block");
    if (!so)
        return NN_OK;
    int steps = cJSON_GetObjectItemCaseSensitive(so, "begin_step") ||
                cJSON_GetObjectItemCaseSensitive(so, "end_step");
    int epochs = cJSON_GetObjectItemCaseSensitive(so, "begin_epoch") ||
                 cJSON_GetObjectItemCaseSensitive(so, "end_epoch");
    if (steps && epochs)
        return cs_fail(x, path,
                       "give begin and end both in epochs (begin_epoch, end_epoch) or "
                       "both in steps (begin_step, end_step), not a mix");
    p->in_steps = steps;
    const char *kb = steps ? "begin_step" : "begin_epoch", *ke = steps ? "end_step" : "end_epoch";
    const cs_range r_end =
        steps ? (cs_range){0, 9007199254740992.0, 0, 0} : (cs_range){0, p->finetune_epochs, 0, 0};
    if ((s = cs_number(x, so, ke, path, r_end, steps, 0,
                       steps ? NULL : "(at most prune.finetune.epochs)", &p->end)))
        return s;
    /* begin <= end; with the default end in steps, cfg_prune_schedule checks. */
    cs_range r_begin = r_end;
    char note[96] = "";
    if (p->end >= 0) {
        r_begin.hi = p->end;
        snprintf(note, sizeof note, "(at most %s)", ke);
    } else if (!steps) {
        r_begin.hi = 0.75 * p->finetune_epochs;
        snprintf(note, sizeof note,
                 "(at most the default end_epoch, 3/4 of prune.finetune.epochs)");
    }
    double freq = p->frequency, initial = 0;
    const cs_range r_freq = {1, INT_MAX, 0, 0}, r_exp = {0, 100, 1, 0},
                   r_init = {0, p->sparsity, 0, 0};
    if ((s = cs_number(x, so, kb, path, r_begin, steps, 0, note, &p->begin)) ||
        (s = cs_number(x, so, "frequency", path, r_freq, 1, 0, "(steps)", &freq)) ||
        (s = cs_number(x, so, "exponent", path, r_exp, 0, 0, NULL, &p->exponent)) ||
        (s = cs_number(x, so, "initial_sparsity", path, r_init, 0, 0, "(at most prune.sparsity)",
                       &initial)))
        return s;
    p->frequency = (int)freq;
    p->initial = initial;
    return NN_OK;
}

/* ---- prune.layers -------------------------------------------------------- */

static nn_status parse_layers(const cs_ctx *x, const cJSON *o, cfg_prune *p)
{
    const cJSON *ls;
    nn_status s = cs_object(x, o, "layers", "prune", &ls);
    if (s || !ls)
        return s;
    char path[CS_PATH_MAX], got[64];
    for (const cJSON *it = ls->child; it; it = it->next) {
        cs_path_key(path, "prune.layers", it->string);
        if (strcmp(it->string, "comment") == 0) {
            if (cJSON_IsString(it))
                continue;
            cs_describe(it, got, sizeof got);
            return cs_fail(x, path, "expected a string, got %s", got);
        }
        for (const cJSON *prev = ls->child; prev != it; prev = prev->next)
            if (strcmp(prev->string, it->string) == 0)
                return cs_fail(x, path, "duplicate key");
        size_t len = strlen(it->string);
        if (len == 0 || len >= NN_NAME_MAX)
            return cs_fail(x, path, "expected a layer name (1 to %d characters) or index",
                           NN_NAME_MAX - 1);
        if (p->n_layers == NN_MAX_LAYERS)
            return cs_fail(x, path, "more than %d layer overrides", NN_MAX_LAYERS);
        cfg_prune_layer *l = &p->layers[p->n_layers++];
        snprintf(l->key, sizeof l->key, "%s", it->string);
        if (cJSON_IsString(it) && strcmp(it->valuestring, "skip") == 0) {
            l->sparsity = PR_SKIP;
        } else if (cJSON_IsNumber(it) && isfinite(it->valuedouble) && it->valuedouble >= 0.0 &&
                   it->valuedouble < 1.0) {
            l->sparsity = it->valuedouble;
        } else {
            cs_describe(it, got, sizeof got);
            return cs_fail(x, path, "expected a sparsity in [0, 1) or \"skip\", got %s", got);
        }
    }
    return NN_OK;
}

/* ---- the block ---------------------------------------------------------- */

nn_status cfg_prune_parse(cfg_prune *p, const cJSON *o, float train_lr,
                          const nn_schedule_config *train_schedule, const char *source,
                          nn_error *err)
{
    static const char *const methods[] = {"magnitude", "structured", NULL};
    static const char *const scopes[] = {"layer", "global", NULL};
    static const char *const norms[] = {"none", "rms", NULL};
    static const char *const criteria[] = {"auto", "l1", NULL};
    static const char *const magnitude_keys[] = {"method", "sparsity", "scope",    "normalize",
                                                 "layers", "schedule", "finetune", NULL};
    static const char *const structured_keys[] = {"method",   "sparsity", "criterion", "layers",
                                                  "schedule", "finetune", NULL};
    static const char *const all_keys[] = {"method",    "sparsity",  "scope",
                                           "normalize", "criterion", "layers",
                                           "schedule",  "finetune",  NULL};
    cs_ctx x = {source && source[0] ? source : "config", err};
    memset(p, 0, sizeof *p);
    int method = 0, scope = 0, norm = 0, crit = 0;
    nn_status s = cs_enum(&x, o, "method", "prune", methods, 0, &method);
    if (s == NN_OK)
        s = cs_check_keys(&x, o, "prune", method == 0 ? magnitude_keys : structured_keys, all_keys,
                          method == 0 ? "method \"magnitude\"" : "method \"structured\"");
    if (s == NN_OK)
        s = cs_number(&x, o, "sparsity", "prune", R_FRACTION, 0, 1,
                      method == 0 ? "(the fraction of weights to prune)"
                                  : "(the fraction of channels to remove)",
                      &p->sparsity);
    if (s == NN_OK && (s = cs_enum(&x, o, "scope", "prune", scopes, 0, &scope)) == NN_OK &&
        (s = cs_enum(&x, o, "normalize", "prune", norms, 0, &norm)) == NN_OK && norm && !scope)
        s = cs_fail(&x, "prune.normalize", "only valid with \"scope\": \"global\"");
    if (s == NN_OK)
        s = cs_enum(&x, o, "criterion", "prune", criteria, 0, &crit);
    p->method = method == 0 ? CFG_PRUNE_MAGNITUDE : CFG_PRUNE_STRUCTURED;
    p->scope = scope == 0 ? PR_SCOPE_LAYER : PR_SCOPE_GLOBAL;
    p->norm = norm == 0 ? PR_NORM_NONE : PR_NORM_RMS;
    p->criterion = crit == 0 ? PR_CRIT_AUTO : PR_CRIT_L1;
    if (s == NN_OK)
        s = parse_layers(&x, o, p);
    if (s == NN_OK)
        s = parse_finetune(&x, o, train_lr, train_schedule, p);
    if (s == NN_OK)
        s = parse_schedule(&x, o, p);
    if (s != NN_OK) {
        memset(p, 0, sizeof *p);
        return s;
    }
    p->present = 1;
    return NN_OK;
}

/* ---- resolution against a model ----------------------------------------- */

/* Node index of `key`: a layer name, else a decimal index (negative from
 * the end); -1 when neither. */
static int find_layer(const nn_model *m, const char *key)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].spec.name, key) == 0)
            return i;
    char *end;
    errno = 0;
    long v = strtol(key, &end, 10);
    if (errno || end == key || *end || key[0] == '+' || key[0] == ' ')
        return -1;
    if (v < 0)
        v += m->n_nodes;
    return v >= 0 && v < m->n_nodes ? (int)v : -1;
}

nn_status cfg_prune_targets(const cfg_prune *p, const nn_model *m, const pr_groups *groups,
                            const char *source, pr_targets *t, nn_error *err)
{
    cs_ctx x = {source && source[0] ? source : "config", err};
    char path[CS_PATH_MAX];
    int owner[NN_MAX_LAYERS];
    for (int i = 0; i < NN_MAX_LAYERS; i++)
        owner[i] = -1;
    pr_targets_init(t, p->sparsity);
    for (int j = 0; j < p->n_layers; j++) {
        const cfg_prune_layer *l = &p->layers[j];
        cs_path_key(path, "prune.layers", l->key);
        int i = find_layer(m, l->key);
        if (i < 0)
            return cs_fail(&x, path,
                           "no layer is named \"%s\", and it is not a layer index in [-%d, %d]",
                           l->key, m->n_nodes, m->n_nodes - 1);
        if (owner[i] >= 0)
            return cs_fail(&x, path, "names layer %d, as prune.layers.%s does", i,
                           p->layers[owner[i]].key);
        owner[i] = j;
        const nn_node *nd = &m->nodes[i];
        const char *type = nn_layer_type_name(nd->spec.type);
        if (!pr_prunable(nd))
            return cs_fail(&x, path,
                           "layer %d (%s) has no weights to prune; only conv2d and dense layers "
                           "can be",
                           i, type);
        if (groups && l->sparsity != PR_SKIP && groups->fixed[groups->group[i]] != PR_GROUP_FREE)
            return cs_fail(&x, path, "the channels of layer %d (%s) cannot be removed: %s", i, type,
                           pr_group_fixed_reason(groups->fixed[groups->group[i]]));
        t->layer[i] = l->sparsity;
    }
    return NN_OK;
}

/* round(x) steps, for x >= 0. */
static uint64_t steps_of(double x) { return (uint64_t)floor(x + 0.5); }

nn_status cfg_prune_schedule(const cfg_prune *p, int epochs, uint64_t steps_per_epoch,
                             const char *source, pr_schedule *s, nn_error *err)
{
    cs_ctx x = {source && source[0] ? source : "config", err};
    pr_schedule_oneshot(s);
    if (!p->gradual)
        return NN_OK;
    double spe = (double)steps_per_epoch;
    uint64_t total = (uint64_t)epochs * steps_per_epoch;
    uint64_t begin = p->in_steps ? (uint64_t)p->begin : steps_of(p->begin * spe);
    uint64_t end = p->end < 0    ? steps_of(0.75 * epochs * spe)
                   : p->in_steps ? (uint64_t)p->end
                                 : steps_of(p->end * spe);
    const char *ke = p->end < 0    ? "prune.schedule"
                     : p->in_steps ? "prune.schedule.end_step"
                                   : "prune.schedule.end_epoch";
    if (end > total)
        return cs_fail(&x, ke,
                       "the schedule ends at step %llu, after the %llu steps of fine-tuning "
                       "(%d epochs of %llu)",
                       (unsigned long long)end, (unsigned long long)total, epochs,
                       (unsigned long long)steps_per_epoch);
    if (begin > end)
        return cs_fail(&x, p->in_steps ? "prune.schedule.begin_step" : "prune.schedule.begin_epoch",
                       "the schedule begins at step %llu, after its end at step %llu",
                       (unsigned long long)begin, (unsigned long long)end);
    *s = (pr_schedule){begin, end, (uint64_t)p->frequency, p->exponent, p->initial};
    return NN_OK;
}
