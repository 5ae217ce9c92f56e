/* pl_fit.h - the one training loop of the pipeline: training from scratch
 * or from a checkpoint (pl_train) and fine-tuning after pruning
 * (pl_prune) both run it. It turns the config into nn_train's settings
 * (batch, smoothing, divergence, augmentation with the per-image streams of
 * pl_data.h), reports batches and epochs through a pl_progress, and lets
 * the caller add its own epoch and step hooks. */
#ifndef PL_FIT_H
#define PL_FIT_H

#include "datasets/ds.h"
#include "config/cfg.h"
#include "pl_progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const cfg_config *cfg;             /* batch, eval batch, seed, smoothing,
                                          divergence, augment, test flip     */
    int epochs, threads;
    const nn_schedule_config *schedule; /* train.schedule or the fine-tuning one */
    const char *lr_name;               /* "train.lr", "prune.finetune.lr"     */
    const char *stage;                 /* event stage: "train", "finetune"    */
    const pl_progress *progress;
    /* Optional, called after the PL_EV_EPOCH event (nn_train_hooks). */
    nn_status (*on_epoch)(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                          nn_error *err);
    void (*after_step)(void *user, nn_model *m, nn_optim *opt, uint64_t step);
    void *user;
    const nn_exec_group *group;        /* NULL, or the processes that share
                                          each batch (pl_dist.h)             */
    /* Optional, before every batch (nn_train_hooks.before_batch). */
    nn_status (*before_batch)(void *user, int epoch, uint64_t batch, uint64_t step,
                              nn_error *err);
    const nn_distill_spec *distill;    /* NULL, or the teacher (nn_train.h)   */
    /* For sets without images (ds_open_named_shard): nn_train_config's. */
    nn_fetch_fn fetch;
    void *fetch_train, *fetch_val;
} pl_fit_spec;

/* Trains m with opt from ts->epochs_done to spec->epochs on train (val may
 * be empty: no validation). As nn_train. */
nn_status pl_fit(nn_model *m, nn_optim *opt, nn_train_state *ts, const pl_fit_spec *spec,
                 const ds_dataset *train, const ds_dataset *val, nn_error *err);

/* The training split of cfg's dataset (a png folder set at shape, or as
 * its images say for NULL: pl_data_load_split), cut to data.limit, with
 * the data.validation images moved into *val. source (may be NULL)
 * prefixes the message of a validation that leaves no training image. */
nn_status pl_fit_load(ds_dataset *train, ds_dataset *val, const cfg_config *cfg,
                      const int *shape, const char *source, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
