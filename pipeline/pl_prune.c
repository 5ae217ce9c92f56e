/* pl_prune.c - a trained checkpoint -> a pruned one (pl_prune.h). */
#include "pl_prune.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "prune/prune_channels.h"
#include "prune/prune_session.h"
#include "prune/prune_shrink.h"
#include "format/ckpt.h"
#include "libnn/nn_io.h"
#include "pl_data.h"
#include "pl_fit.h"
#include "pl_teacher.h"

/* The config must describe the checkpoint's layers (widths may differ: a
 * pruned model can be pruned again with its original config). */
static nn_status check_same_layers(const cfg_config *c, const nn_model *m, const pl_prune_opts *o,
                                   nn_error *err)
{
    if (c->model.n_layers != m->n_nodes)
        return nn_errorf(err, NN_ERR_CONFIG,
                         "%s: model.layers: has %d layers but %s has %d; give the config the "
                         "model was trained with",
                         o->config, c->model.n_layers, o->model, m->n_nodes);
    for (int i = 0; i < m->n_nodes; i++)
        if (c->model.layers[i].type != m->nodes[i].spec.type ||
            c->model.layers[i].input != m->nodes[i].spec.input ||
            (m->nodes[i].spec.type == NN_LAYER_ADD &&
             c->model.layers[i].input2 != m->nodes[i].spec.input2))
            return nn_errorf(err, NN_ERR_CONFIG,
                             "%s: model.layers[%d]: is %s reading layer %d, but in %s it is %s "
                             "reading layer %d; give the config the model was trained with",
                             o->config, i, nn_layer_type_name(c->model.layers[i].type),
                             c->model.layers[i].input, o->model,
                             nn_layer_type_name(m->nodes[i].spec.type), m->nodes[i].spec.input);
    return NN_OK;
}

/* Writes the width of every conv2d and dense layer of m into layers. */
static void set_widths(cJSON *layers, const nn_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_layer_spec *l = &m->nodes[i].spec;
        cJSON *layer = cJSON_GetArrayItem(layers, i);
        const char *key = l->type == NN_LAYER_CONV2D  ? "filters"
                          : l->type == NN_LAYER_DENSE ? "units"
                                                      : NULL;
        if (!key)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(layer, key);
        cJSON_AddNumberToObject(layer, key,
                                l->type == NN_LAYER_CONV2D ? l->out_channels : l->units);
    }
}

/* The config as it ran, to store in the output: the file's text with the
 * new layer widths, the fine-tuning epochs and --limit written into it. */
static char *effective_config(const char *text, const nn_model *m, int epochs, int limit,
                              const cfg_data *cd, nn_error *err)
{
    cJSON *root = cJSON_Parse(text);
    cJSON *layers =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"), "layers");
    cJSON *prune = cJSON_GetObjectItemCaseSensitive(root, "prune");
    cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!root || cJSON_GetArraySize(layers) != m->n_nodes || !prune || !data) {
        cJSON_Delete(root);
        nn_errorf(err, NN_ERR_CONFIG, "cannot re-read the config text");
        return NULL;
    }
    set_widths(layers, m);
    cJSON *ft = cJSON_GetObjectItemCaseSensitive(prune, "finetune");
    if (epochs == 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(prune, "finetune");
    } else {
        if (!ft)
            ft = cJSON_AddObjectToObject(prune, "finetune");
        cJSON_DeleteItemFromObjectCaseSensitive(ft, "epochs");
        cJSON_AddNumberToObject(ft, "epochs", epochs);
    }
    if (limit > 0) {
        cJSON_DeleteItemFromObjectCaseSensitive(data, "limit");
        cJSON_AddNumberToObject(data, "limit", limit);
    }
    pl_data_store_dir(data, cd);
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!out)
        nn_errorf(err, NN_ERR_NOMEM, "out of memory printing the config");
    return out;
}

/* ---- fine-tuning --------------------------------------------------------- */

static void after_step(void *user, nn_model *m, nn_optim *opt, uint64_t step)
{
    pr_session_step(user, m, opt, step);
}

/* Fine-tunes m for `epochs` epochs on the config's training data; final
 * (NULL: hold m's zeros only) and the prune schedule drive the session;
 * with prune.finetune.distill, `teacher` (the unpruned model) teaches, or the
 * checkpoint prune.finetune.distill.teacher names. */
static nn_status finetune(nn_model *m, nn_model *teacher, const cfg_config *cfg,
                          const pr_magnitude_config *final, int epochs, const pl_prune_opts *o,
                          const pl_progress *p, pr_session *session, nn_error *err)
{
    memset(session, 0, sizeof *session);
    ds_dataset train = {0}, val = {0};
    int shape[3];
    nn_status st = pl_fit_load(&train, &val, cfg, pl_model_shape(m, shape), o->config, err);
    if (st == NN_OK)
        st = pl_data_check_fits(&train, m, "the training set", err);
    uint64_t spe = (uint64_t)(train.n / cfg->train.batch_size);
    pr_schedule sched;
    if (st == NN_OK)
        st = cfg_prune_schedule(&cfg->prune, epochs, spe, o->config, &sched, err);
    if (st == NN_OK)
        st = pr_session_init(session, m, final, &sched, err);
    pl_teacher named = {0};
    if (st == NN_OK && cfg->prune.distill && cfg->prune.distill_teacher[0] &&
        (st = pl_teacher_load(&named, cfg->prune.distill_teacher, "prune.finetune.distill.teacher",
                              m, p, err)) == NN_OK)
        teacher = &named.ck.model;
    nn_optim opt = {0};
    if (st == NN_OK)
        st = nn_optim_init(&opt, &cfg->train.optim, m->n_params, err);
    if (st == NN_OK) {
        nn_distill_spec distill = {teacher, cfg->prune.distill_loss, cfg->prune.distill_flip};
        pl_fit_spec spec = {cfg,        epochs,     o->threads, &cfg->prune.finetune_schedule,
                            "prune.finetune.lr",    "finetune", p,
                            NULL,       after_step, session,    NULL,
                            NULL,       cfg->prune.distill ? &distill : NULL,
                            NULL,       NULL,       NULL};
        nn_train_state ts = {cfg->train.seed, 0, epochs, 0};
        pl_note(p, "prune", "fine-tuning %d epoch%s on %d images (%llu steps each)", epochs,
                epochs == 1 ? "" : "s", train.n, (unsigned long long)spe);
        if (cfg->prune.distill)
            pl_note(p, "prune", "distilling from %s: temperature %g, weight %g%s",
                    named.loaded ? cfg->prune.distill_teacher : "the unpruned model",
                    (double)distill.loss.temperature, (double)distill.loss.weight,
                    distill.teacher_flip ? ", each image averaged with its mirror" : "");
        pr_session_step(session, m, &opt, 0); /* pruning at step 0, before training */
        st = pl_fit(m, &opt, &ts, &spec, &train, &val, err);
    }
    nn_optim_free(&opt);
    pl_teacher_free(&named);
    ds_free(&train), ds_free(&val);
    return st;
}

/* ---- the two methods ----------------------------------------------------- */

/* Prunes `work` (a copy of the loaded model) by magnitude. */
static nn_status prune_magnitude(nn_model *work, nn_model *dense, const cfg_config *cfg,
                                 int epochs, const pl_prune_opts *o, const pl_progress *p,
                                 int *updates, nn_error *err)
{
    pr_magnitude_config final = {cfg->prune.scope, cfg->prune.norm, {0, {0}}};
    nn_status st = cfg_prune_targets(&cfg->prune, work, NULL, o->config, &final.targets, err);
    if (st != NN_OK)
        return st;
    pr_session session;
    if (epochs > 0) {
        st = finetune(work, dense, cfg, &final, epochs, o, p, &session, err);
    } else {
        pr_schedule once;
        pr_schedule_oneshot(&once);
        st = pr_session_init(&session, work, &final, &once, err);
        if (st == NN_OK)
            pr_session_step(&session, work, NULL, 0);
    }
    *updates = session.updates;
    pr_session_free(&session);
    return st;
}

/* Structured pruning: out = the smaller model, fine-tuned if asked. */
static nn_status prune_structured(nn_model *out, nn_model *m, const cfg_config *cfg,
                                  int epochs, const pl_prune_opts *o, const pl_progress *p,
                                  nn_error *err)
{
    pr_channel_plan plan;
    pr_targets t;
    nn_status st = pr_plan_init(&plan, m, err);
    if (st == NN_OK)
        st = cfg_prune_targets(&cfg->prune, m, &plan.groups, o->config, &t, err);
    if (st == NN_OK)
        st = pr_channel_select(&plan, m, &t, cfg->prune.criterion, err);
    if (st == NN_OK)
        st = pr_channels_shrink(out, m, &plan, err);
    pr_plan_free(&plan);
    if (st != NN_OK || epochs == 0)
        return st;
    pr_session session;
    st = finetune(out, m, cfg, NULL, epochs, o, p, &session, err);
    pr_session_free(&session);
    if (st != NN_OK)
        nn_model_free(out);
    return st;
}

/* ---- the call ------------------------------------------------------------ */

typedef struct {
    ckpt_file ck;
    cfg_config cfg;
    char *text, *stored;
    ds_dataset test;
    nn_model work;
    int have_work;
} prune_job;

/* The checkpoint, the config (with a prune block describing its layers),
 * the test set and the fine-tuning epochs. */
static nn_status prepare(prune_job *j, const pl_prune_opts *o, int *epochs, nn_error *err)
{
    nn_status st = ckpt_load(&j->ck, o->model, err);
    if (st == NN_OK)
        st = cfg_load(&j->cfg, &j->text, o->config, err);
    if (st != NN_OK)
        return st;
    if (!j->cfg.prune.present)
        return nn_errorf(err, NN_ERR_CONFIG,
                         "%s: prune: missing (the prune command needs a prune block; "
                         "see docs/config.md)",
                         o->config);
    if ((st = check_same_layers(&j->cfg, &j->ck.model, o, err)) != NN_OK)
        return st;
    *epochs = o->epochs >= 0 ? o->epochs : j->cfg.prune.finetune_epochs;
    if (j->cfg.prune.gradual && *epochs == 0)
        return nn_errorf(err, NN_ERR_ARG, "--epochs 0: gradual pruning prunes while fine-tuning "
                                          "and needs at least one epoch");
    if (o->limit)
        j->cfg.data.limit = o->limit;
    int shape[3];
    if ((st = pl_data_load_split(&j->test, &j->cfg.data, 0, pl_model_shape(&j->ck.model, shape),
                                 err)) == NN_OK)
        st = pl_data_check_fits(&j->test, &j->ck.model, "the test set", err);
    return st;
}

/* Prunes (and fine-tunes) the checkpoint's model into j->work. */
static nn_status prune_model(prune_job *j, const pl_prune_opts *o, const pl_progress *p,
                             pl_prune_result *r, nn_error *err)
{
    nn_status st;
    if (j->cfg.prune.method == CFG_PRUNE_STRUCTURED) {
        st = prune_structured(&j->work, &j->ck.model, &j->cfg, r->epochs, o, p, err);
    } else {
        st = nn_model_copy(&j->work, &j->ck.model, err);
        if (st == NN_OK && (st = prune_magnitude(&j->work, &j->ck.model, &j->cfg, r->epochs, o,
                                                 p, &r->mask_updates, err)))
            nn_model_free(&j->work);
    }
    j->have_work = st == NN_OK;
    if (st == NN_ERR_NUMERIC)
        nn_error_prefix(err, "fine-tuning stopped; %s was not written", o->output);
    return st;
}

static nn_status run(prune_job *j, const pl_prune_opts *o, const pl_progress *p,
                     pl_prune_result *r, nn_error *err)
{
    nn_status st = prepare(j, o, &r->epochs, err);
    if (st != NN_OK)
        return st;
    r->prune = j->cfg.prune;
    nn_images ti = pl_data_images(&j->test);
    nn_eval_config ec = {.batch = j->cfg.train.eval_batch, .threads = o->threads, .test_flip = j->cfg.test_flip};
    if ((st = nn_evaluate(&j->ck.model, &ti, &ec, &r->before, err))) {
        nn_error_prefix(err, "%s", o->model);
        return st;
    }
    pl_note(p, "prune", "%s: %zu parameters, test accuracy %.2f%%; %s pruning to %g", o->model,
            j->ck.model.n_params, 100.0 * r->before.correct / (r->before.n ? r->before.n : 1),
            j->cfg.prune.method == CFG_PRUNE_STRUCTURED ? "structured" : "magnitude",
            j->cfg.prune.sparsity);
    if ((st = prune_model(j, o, p, r, err)) != NN_OK)
        return st;
    if ((st = nn_evaluate(&j->work, &ti, &ec, &r->after, err))) {
        nn_error_prefix(err, "%s pruned", o->model);
        return st;
    }
    if (!(r->report = malloc(sizeof *r->report)))
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    if (!(j->stored = effective_config(j->text, &j->work, r->epochs, o->limit, &j->cfg.data, err)))
        return NN_ERR_CONFIG;
    if ((st = pr_report_build(r->report, &j->ck.model, &j->work, err)) ||
        (st = ckpt_save(o->output, &j->work, NULL, NULL, j->stored, &j->ck.classes, err)))
        return st;
    struct stat sb;
    r->out_bytes = stat(o->output, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    return NN_OK;
}

nn_status pl_prune(const pl_prune_opts *o, const pl_progress *p, pl_prune_result *r,
                   nn_error *err)
{
    memset(r, 0, sizeof *r);
    prune_job *j = calloc(1, sizeof *j);
    if (!j)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    /* where it writes, checked before any work */
    nn_status st = o->output ? nn_check_writable(o->output, err) : NN_OK;
    if (st == NN_OK)
        st = run(j, o, p, r, err);
    free(j->stored);
    free(j->text);
    if (j->have_work)
        nn_model_free(&j->work);
    ckpt_free(&j->ck);
    ds_free(&j->test);
    free(j);
    if (st != NN_OK)
        pl_prune_result_free(r);
    return st;
}

void pl_prune_result_free(pl_prune_result *r)
{
    nn_eval_result_free(&r->before);
    nn_eval_result_free(&r->after);
    free(r->report);
    r->report = NULL;
}
