#include "pl_fit.h"

#include "pl_data.h"

typedef struct {
    const pl_fit_spec *spec;
} fit_ctx;

static void on_batch(void *user, const nn_progress *p)
{
    const pl_fit_spec *s = ((fit_ctx *)user)->spec;
    pl_emit(s->progress, &(pl_event){PL_EV_BATCH, s->stage, p, NULL, NULL});
}

static nn_status on_epoch(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                          nn_error *err)
{
    const pl_fit_spec *s = ((fit_ctx *)user)->spec;
    pl_emit(s->progress, &(pl_event){PL_EV_EPOCH, s->stage, NULL, r, NULL});
    return s->on_epoch ? s->on_epoch(s->user, r, ts, err) : NN_OK;
}

static void after_step(void *user, nn_model *m, nn_optim *opt, uint64_t step)
{
    const pl_fit_spec *s = ((fit_ctx *)user)->spec;
    s->after_step(s->user, m, opt, step);
}

static nn_status before_batch(void *user, int epoch, uint64_t batch, uint64_t step, nn_error *err)
{
    const pl_fit_spec *s = ((fit_ctx *)user)->spec;
    return s->before_batch(s->user, epoch, batch, step, err);
}

nn_status pl_fit(nn_model *m, nn_optim *opt, nn_train_state *ts, const pl_fit_spec *spec,
                 const ds_dataset *train, const ds_dataset *val, nn_error *err)
{
    const cfg_config *cfg = spec->cfg;
    nn_train_config tc = {.epochs = spec->epochs,
                          .batch_size = cfg->train.batch_size,
                          .eval_batch = cfg->train.eval_batch,
                          .threads = spec->threads,
                          .seed = cfg->train.seed,
                          .schedule = *spec->schedule,
                          .label_smoothing = cfg->train.label_smoothing,
                          .test_flip = cfg->test_flip,
                          .divergence_factor = cfg->train.divergence_factor,
                          .lr_name = spec->lr_name,
                          .group = spec->group,
                          .distill = spec->distill,
                          .fetch = spec->fetch,
                          .fetch_train = spec->fetch_train,
                          .fetch_val = spec->fetch_val};
    pl_augment aug = {cfg->augment, cfg->train.seed, train->c, train->h, train->w};
    if (aug_enabled(&cfg->augment)) {
        tc.augment = pl_augment_image;
        tc.augment_user = &aug;
    }
    fit_ctx ctx = {spec};
    nn_train_hooks hooks = {on_batch, on_epoch, &ctx, spec->after_step ? after_step : NULL,
                            spec->before_batch ? before_batch : NULL};
    nn_images ti = pl_data_images(train), vi = pl_data_images(val);
    return nn_train(m, opt, ts, &tc, &ti, val->n ? &vi : NULL, &hooks, err);
}

nn_status pl_fit_load(ds_dataset *train, ds_dataset *val, const cfg_config *cfg,
                      const int *shape, const char *source, nn_error *err)
{
    nn_status st = pl_data_load_split(train, &cfg->data, 1, shape, err);
    if (st != NN_OK)
        return st;
    st = ds_limit_split(train, val, cfg->data.limit, cfg->data.validation, cfg->train.seed, err);
    if (st == NN_ERR_CONFIG && source)
        nn_error_prefix(err, "%s", source);
    return st;
}
