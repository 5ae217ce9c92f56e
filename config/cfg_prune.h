/* cfg_prune.h - the config's `prune` block (docs/config.md, "prune").
 *
 * Parsed strictly like the rest of the config (cfg.c calls cfg_prune_parse
 * when the block is present): every error names its JSON path. Layer
 * overrides name layers by name or index, which only mean something
 * against a model: cfg_prune_targets resolves them against the model being
 * pruned (the checkpoint's), again with errors naming the JSON path. */
#ifndef CFG_PRUNE_H
#define CFG_PRUNE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "prune/prune.h"
#include "prune/prune_channels.h"
#include "prune/prune_magnitude.h"
#include "prune/prune_schedule.h"
#include "cfg_finetune.h"
#include "libnn/nn_distill.h"
#include "libnn/nn_error.h"
#include "libnn/nn_model.h"
#include "libnn/nn_optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CFG_PRUNE_MAGNITUDE = 1, CFG_PRUNE_STRUCTURED = 2 } cfg_prune_method;

typedef struct {
    char key[NN_NAME_MAX]; /* as written: a layer name, or an index        */
    double sparsity;       /* the layer's own target, or PR_SKIP           */
} cfg_prune_layer;

typedef struct {
    int present; /* 0: the config has no prune block             */
    cfg_prune_method method;
    double sparsity;        /* magnitude: weights; structured: channels     */
    pr_scope scope;         /* magnitude                                    */
    pr_norm norm;           /* magnitude, global scope                      */
    pr_criterion criterion; /* structured                                   */
    int n_layers;
    cfg_prune_layer layers[NN_MAX_LAYERS];

    int gradual;       /* 0: one-shot                                  */
    int in_steps;      /* begin/end below are steps (else epochs)      */
    double begin, end; /* end < 0: the default, 3/4 of fine-tuning     */
    int frequency;     /* steps between mask updates                   */
    double exponent, initial;

    int finetune_epochs; /* 0: no fine-tuning                            */
    float finetune_lr;
    nn_schedule_config finetune_schedule; /* base_lr = finetune_lr           */
    int distill;                      /* prune.finetune.distill given: the
                                         unpruned model teaches the pruned one */
    nn_distill_config distill_loss;   /* its temperature and weight           */
    char distill_teacher[CFG_TEACHER_PATH_MAX]; /* "": the unpruned model teaches */
    int distill_flip;                 /* the teacher averages image and mirror */
} cfg_prune;

/* Parses the block `o` (the value of "prune"); train_lr and
 * train_schedule (the parsed train block) give the fine-tuning defaults.
 * On failure *p is zeroed. */
nn_status cfg_prune_parse(cfg_prune *p, const cJSON *o, float train_lr,
                          const nn_schedule_config *train_schedule, const char *source,
                          nn_error *err);

/* The per-layer targets for m: an override's key is a layer name of m, or
 * else an index (negative ones count from the end: "-1" is the last
 * layer). Errors (NN_ERR_CONFIG, naming prune.layers.KEY): no such layer,
 * two keys for one layer, a target on a layer without weights, or (for
 * structured pruning; groups non-NULL) on a layer whose channels cannot be
 * removed. "skip" is accepted on any conv2d or dense layer. */
nn_status cfg_prune_targets(const cfg_prune *p, const nn_model *m, const pr_groups *groups,
                            const char *source, pr_targets *t, nn_error *err);

/* The gradual (or one-shot) schedule in optimizer steps for a fine-tuning
 * of `epochs` epochs of steps_per_epoch steps. Fails (NN_ERR_CONFIG) when
 * the schedule ends after the fine-tuning does. */
nn_status cfg_prune_schedule(const cfg_prune *p, int epochs, uint64_t steps_per_epoch,
                             const char *source, pr_schedule *s, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
