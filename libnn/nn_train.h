/* nn_train.h - the training loop and evaluation, independent of any CLI.
 *
 * Determinism: the data order of epoch e is a shuffle drawn from
 * (seed, NN_STREAM_SHUFFLE, e); dropout masks from (seed, step, layer,
 * image); batches are split over threads statically. So the same config,
 * seed and thread count give bitwise-identical parameters, and a run resumed
 * from the checkpoint of epoch e continues exactly as if never stopped. */
#ifndef NN_TRAIN_H
#define NN_TRAIN_H

#include <stdint.h>

#include "nn_distill.h"
#include "nn_error.h"
#include "nn_exec.h"
#include "nn_model.h"
#include "nn_optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a run stands: what a checkpoint stores to resume it exactly. */
typedef struct {
    uint64_t seed;
    int32_t epochs_done;  /* completed epochs                        */
    int32_t total_epochs; /* the run's planned epochs                */
    uint64_t step;        /* optimizer steps taken                   */
} nn_train_state;

/* Reads the raw pixels (c, h, w) of images pos[0 .. n) of a set (their
 * numbers in its nn_images) into dst (n, c, h, w), in that order: the
 * source of a set whose pixels stay in their files (nn_images.images ==
 * NULL), so that a process of a group reads only the images of its own
 * slices. A read error is its status (it stops training or evaluation). */
typedef nn_status (*nn_fetch_fn)(void *user, const uint32_t *pos, int n, uint8_t *dst,
                                 nn_error *err);

typedef struct {
    const uint8_t *images; /* (n, c, h, w) raw pixels in the model's shape;
                            * NULL: fetched (nn_train_config.fetch)        */
    const uint8_t *labels; /* (n)                                          */
    int n;
} nn_images;

/* Distillation (nn_distill.h): the teacher's logits for every training
 * batch come from a forward pass in evaluation mode (batch-norm running
 * statistics, no dropout) over the same pixels the student sees, after
 * augmentation, normalized as the teacher's own mean and std say
 * (nn_exec_input_from). The teacher must take the student's input shape and
 * give its number of classes; it is only read. */
typedef struct {
    nn_model *teacher;
    nn_distill_config loss;
    int teacher_flip; /* 1: the teacher's logits are the mean of the image's
                       * and its mirror's (what test-time flip scores) */
} nn_distill_spec;

typedef struct {
    int epochs;            /* total epochs of the run                        */
    int batch_size;        /* the last partial batch of an epoch is dropped  */
    int eval_batch;
    int threads;
    uint64_t seed;
    nn_schedule_config schedule;
    float label_smoothing;
    nn_image_fn augment;   /* per-image transform of training images, or NULL */
    int test_flip;         /* validation: average the logits of each image and its mirror */
    void *augment_user;
    /* Divergence (nn_diverge.h): training stops when the smoothed loss
     * exceeds divergence_factor times its reference; 0 turns that rule off.
     * A non-finite loss, parameter or running statistic always stops it. */
    double divergence_factor;
    const char *lr_name;   /* names the learning rate in the hint ("train.lr");
                            * NULL: "the learning rate"                      */
    const nn_exec_group *group; /* NULL, or the workers of other processes
                            * this run shares every batch with (nn_exec.h):
                            * every process then computes the same model     */
    const nn_distill_spec *distill; /* NULL: the labels alone              */
    /* For a training or validation set without images: fetch reads the
     * images of this process's slices of every batch, with fetch_train or
     * fetch_val as its user. A read error on this process alone stops it
     * as before_batch's does (nn_train_hooks). */
    nn_fetch_fn fetch;
    void *fetch_train, *fetch_val;
} nn_train_config;

typedef struct {
    int epoch, epochs;     /* 1-based epoch                                  */
    int batch, batches;    /* 1-based batch within the epoch                 */
    double loss;           /* mean training loss of the epoch so far         */
    double accuracy;       /* training accuracy of the epoch so far          */
    double seconds;        /* training time of the epoch so far              */
    double images_per_second;
    float lr;
} nn_progress;

typedef struct {
    int epoch, epochs;
    uint64_t step;          /* optimizer steps after this epoch               */
    double train_loss, train_accuracy;
    int has_val;
    double val_loss, val_accuracy;
    double seconds;         /* training time of the epoch (no evaluation)     */
    double load_seconds;    /* of which gathering (and augmenting) images    */
    double images_per_second;
    float lr;               /* learning rate of the epoch's last step         */
    double loss_ratio_max;  /* largest smoothed loss / reference of the epoch
                             * (nn_diverge.h): how close it came to the factor */
} nn_epoch_report;

typedef struct {
    /* Called after every batch (may be NULL). */
    void (*on_batch)(void *user, const nn_progress *p);
    /* Called after every epoch, once ts is updated, e.g. to save a
     * checkpoint (may be NULL). NN_STOP ends training cleanly (nn_train
     * returns NN_OK with ts->epochs_done < cfg->epochs); any other non-OK
     * status stops it with that error. */
    nn_status (*on_epoch)(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                          nn_error *err);
    void *user;
    /* Called after every optimizer step, before on_batch (may be NULL),
     * with the model, the optimizer and `step`, the number of steps taken
     * so far (ts->step after the step: 1 after the first one). Whatever it
     * writes into m->params or opt->m / opt->v is what the next forward
     * pass and the next step see: pruning uses it to keep pruned weights,
     * and their momentum, at exactly zero. It must not allocate or fail
     * (set up what it needs beforehand). */
    void (*after_step)(void *user, nn_model *m, nn_optim *opt, uint64_t step);
    /* Called before every training batch's images are loaded (may be
     * NULL), with the 1-based epoch and batch and the steps taken so far:
     * for a source that fetches each batch's data, which may fail (a read
     * error, no memory). A non-OK status stops training with it at once,
     * before the step: with the workers of other processes (cfg->group)
     * on this process alone, while the others go on to the step's
     * exchanges, so the caller must end them (pipeline/pl_dist.h). */
    nn_status (*before_batch)(void *user, int epoch, uint64_t batch, uint64_t step,
                              nn_error *err);
} nn_train_hooks;

/* Trains m from epoch ts->epochs_done + 1 to cfg->epochs with optimizer opt
 * (its state continues from a checkpoint on resume). val may be NULL.
 * Divergence stops training with NN_ERR_NUMERIC and a message naming the
 * epoch, batch and step, the loss or the bad value, and the hint to lower
 * the learning rate: a non-finite or exploding loss (checked every step,
 * before the update), a non-finite parameter or batch-norm running
 * statistic (checked after every step), or a non-finite optimizer state
 * (checked at the end of each epoch, before on_epoch). So on_epoch only
 * ever sees, and saves, a model whose every value is finite, and whatever
 * the last on_epoch saved stays untouched. */
nn_status nn_train(nn_model *m, nn_optim *opt, nn_train_state *ts, const nn_train_config *cfg,
                   const nn_images *train, const nn_images *val, const nn_train_hooks *hooks,
                   nn_error *err);

typedef struct {
    int n, correct, num_classes;
    double loss;            /* mean cross-entropy (no smoothing)              */
    int *confusion;         /* (num_classes, num_classes): [true][predicted]  */
    double seconds;
} nn_eval_result;

typedef struct {
    int batch;              /* images per forward pass                        */
    int threads;
    int test_flip;          /* 1: average the logits of each image and of its
                             * left-right mirror (test-time augmentation)     */
    nn_fetch_fn fetch;      /* for data without images (nn_fetch_fn)          */
    void *fetch_user;
} nn_eval_config;

/* Evaluates m (batch-norm running statistics, no dropout) on data. Labels
 * must be < the model's class count. res->confusion is allocated: free it
 * with nn_eval_result_free. */
nn_status nn_evaluate(nn_model *m, const nn_images *data, const nn_eval_config *cfg,
                      nn_eval_result *res, nn_error *err);
/* The same, with the workers of other processes (nn_exec.h; NULL: this
 * process alone): each process computes its slices of every batch, and
 * every one of them gets the whole result. */
nn_status nn_evaluate_group(nn_model *m, const nn_images *data, const nn_eval_config *cfg,
                            const nn_exec_group *group, nn_eval_result *res, nn_error *err);
void nn_eval_result_free(nn_eval_result *res);

#ifdef __cplusplus
}
#endif

#endif
