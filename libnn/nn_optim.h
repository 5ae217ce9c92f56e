/* nn_optim.h - optimizers and learning-rate schedules over flat spans.
 *
 * Parameters, gradients and optimizer state share one layout (see
 * nn_model.h), so a step is a loop over spans. Weight decay applies only to
 * spans marked decay (conv/dense weights), never to biases or BN params. */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stored in checkpoints: explicit values. */
typedef enum { NN_OPT_SGD = 1, NN_OPT_ADAMW = 2 } nn_optim_kind;

typedef struct {
    nn_optim_kind kind;
    float momentum;     /* SGD: 0 = plain SGD                                */
    int nesterov;       /* SGD                                               */
    float weight_decay; /* SGD: coupled L2 (g += wd*w); AdamW: decoupled     */
    float beta1, beta2, eps; /* AdamW                                        */
} nn_optim_config;

typedef struct {
    size_t off, n;
    int decay; /* 1: weight decay applies */
} nn_param_span;

typedef struct {
    nn_optim_config cfg;
    size_t n;    /* number of parameters                                      */
    float *m;    /* SGD: velocity; AdamW: first moment (n)                    */
    float *v;    /* AdamW: second moment (n); NULL for SGD                    */
    uint64_t t;  /* steps taken                                               */
} nn_optim;

nn_status nn_optim_init(nn_optim *o, const nn_optim_config *cfg, size_t n_params, nn_error *err);
void nn_optim_free(nn_optim *o);

/* One update with learning rate lr of params[span] from grads[span] for each
 * span; increments o->t once. Semantics match PyTorch's SGD (dampening 0)
 * and AdamW:
 *   SGD:   g += wd*w; v = mu*v + g; d = nesterov ? g + mu*v : v; w -= lr*d
 *   AdamW: w -= lr*wd*w; m,v moments with bias correction; w -= lr*mh/(sqrt(vh)+eps) */
void nn_optim_step(nn_optim *o, float *params, const float *grads,
                   const nn_param_span *spans, int n_spans, float lr);

/* Learning-rate schedules (explicit values: stored in checkpoints). */
typedef enum {
    NN_SCHED_CONSTANT = 1,
    NN_SCHED_STEP = 2,     /* lr * gamma^(floor(epoch / step_epochs))      */
    NN_SCHED_COSINE = 3,   /* base -> min_lr, half cosine                   */
    NN_SCHED_ONECYCLE = 4  /* base/div -> base (pct_start) -> base/(div*final_div), cosine */
} nn_sched_kind;

typedef struct {
    nn_sched_kind kind;
    float base_lr;        /* onecycle: the peak (max_lr)                     */
    float min_lr;         /* cosine floor                                    */
    float step_epochs;    /* step: epochs between decays                     */
    float gamma;          /* step: decay factor                              */
    float warmup_epochs;  /* linear warm-up from 0 to base (not onecycle)    */
    float pct_start;      /* onecycle: fraction of steps rising              */
    float div_factor;     /* onecycle: initial lr = base / div_factor        */
    float final_div_factor; /* onecycle: final lr = initial / final_div      */
} nn_schedule_config;

/* Learning rate for optimizer step `step` (0-based) of a run with
 * steps_per_epoch steps per epoch and total_epochs epochs. Schedules are
 * evaluated per step (fractional epochs), so they are smooth. */
float nn_schedule_lr(const nn_schedule_config *s, uint64_t step, uint64_t steps_per_epoch,
                     int total_epochs);

#ifdef __cplusplus
}
#endif

#endif
