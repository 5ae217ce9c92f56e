/* pl_metrics_log.h - the per-epoch metrics of `train` (MODEL.metrics.jsonl),
 * one JSON object per line.
 *
 * The log is small, so it is kept in memory and the whole file is
 * rewritten atomically (nn_write_file_atomic) after every epoch: a crash or
 * a failed write leaves the previous epoch's complete log, never a partial
 * line or an empty file. A resumed run keeps the lines of the epochs its
 * checkpoint holds and drops any later ones (they belong to a run that was
 * not kept); a fresh run starts an empty log, replacing any older one. */
#ifndef PL_METRICS_LOG_H
#define PL_METRICS_LOG_H

#include "libnn/nn_io.h"
#include "libnn/nn_train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *path; /* borrowed */
    nn_wbuf text;     /* the whole log */
} pl_metrics_log;

/* Starts the log of path (nothing is written yet): empty when from is NULL,
 * otherwise the lines of the log `from` (the resumed run's; a missing file
 * gives none) whose "epoch" is <= epochs_kept. Errors name the file and the
 * OS reason. */
nn_status pl_metrics_log_open(pl_metrics_log *l, const char *path, const char *from, int epochs_kept,
                           nn_error *err);

/* Adds the line of r and rewrites the file. */
nn_status pl_metrics_log_append(pl_metrics_log *l, const nn_epoch_report *r, nn_error *err);

void pl_metrics_log_free(pl_metrics_log *l);

#ifdef __cplusplus
}
#endif

#endif
