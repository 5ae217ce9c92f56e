/* pl_train.h - training as a library call: a config (or a checkpoint to
 * resume) in, a float checkpoint out, saved atomically after every epoch
 * with the per-epoch metrics log beside it (pl_metrics_log.h), and the
 * test accuracy of the final model. What `iotcnn train` runs. */
#ifndef PL_TRAIN_H
#define PL_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "pl_dist.h"
#include "pl_progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *config_path; /* JSON config; NULL: the resumed checkpoint's      */
    const char *output;      /* NULL: the --resume checkpoint, or
                                runs/CONFIGNAME.ckpt (runs/ is created)          */
    const char *resume;      /* checkpoint to continue, or NULL                  */
    int epochs;              /* 0: train.epochs                                  */
    int limit;               /* 0: data.limit                                    */
    int threads;             /* >= 1                                             */
    int stop_after;          /* 0: none; else stop cleanly after this epoch      */
    long long seed;          /* -1: train.seed                                   */
    pl_dist *dist;           /* NULL, or the processes training together
                                (pl_dist.h): every one calls pl_train with the
                                same options; process 0 alone writes files and
                                reports progress (give the others NULL)         */
    unsigned long long fail_step; /* tests only: 0, or this process fails with
                                NN_ERR_IO before step N (1-based) as a data
                                error would (how a failure on one process
                                ends the job: scripts/check_mpi.sh)              */
} pl_train_opts;

typedef struct {
    char model[CFG_PATH_MAX + 16];   /* the checkpoint written               */
    char metrics[CFG_PATH_MAX + 32]; /* its metrics log                      */
    char curves[CFG_PATH_MAX + 32];  /* set by the caller that draws them    */
    nn_eval_result test;             /* of the final model; free with
                                        pl_train_result_free                 */
    int test_flip;
    int epochs_done;                 /* of the run, including resumed ones   */
    int epochs_total;
    int epochs_run;                  /* by this call                         */
    int train_images;
    size_t parameters;
    uint64_t seed;
    char best_model[CFG_PATH_MAX + 16]; /* MODEL.best.ckpt: the epoch of the best
                                        validation accuracy ("" without a
                                        validation split)                    */
    int best_epoch;                  /* 0: none                              */
    double best_val_accuracy;
    int early_stopped;               /* train.early_stop ended the run       */
    double train_seconds;            /* in nn_train's epochs                 */
    double images_per_second;        /* training images over train_seconds   */
    int processes;                   /* MPI processes of the run (1 alone)   */
    unsigned long long images_read;  /* images this process read: with
                                        several processes and a set read by
                                        offset, those of its own slices
                                        (training, validation, test; every
                                        epoch); otherwise the whole sets
                                        loaded at start                      */
    unsigned long long images_read_max; /* the largest images_read of any
                                        process                              */
} pl_train_result;

/* Trains as o says. A run stopped by stop_after or by train.early_stop
 * (that many epochs without a new best validation accuracy) returns NN_OK
 * with epochs_done < epochs_total. With a validation split the checkpoint
 * of the best epoch so far (strictly better validation accuracy; the
 * earlier epoch on ties) is kept beside the last one as MODEL.best.ckpt;
 * a resumed run recovers the best so far from the metrics log. On failure nothing is left to free; after
 * divergence (NN_ERR_NUMERIC) the checkpoint of the last good epoch is
 * kept and the message says so. */
nn_status pl_train(const pl_train_opts *o, const pl_progress *p, pl_train_result *r,
                   nn_error *err);
void pl_train_result_free(pl_train_result *r);

/* MODEL.metrics.jsonl for MODEL.ckpt (MODEL.metrics.jsonl for any other
 * name: the whole name). */
void pl_metrics_path(char *out, size_t size, const char *model_path);
/* MODEL.best.ckpt for MODEL.ckpt (NAME.best.ckpt for any other NAME). */
void pl_best_path(char *out, size_t size, const char *model_path);

#ifdef __cplusplus
}
#endif

#endif
