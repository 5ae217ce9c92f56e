/* progress.h - training progress on stderr: a live bar on a terminal, one
 * line per epoch otherwise (logs, CI). */
#ifndef PROGRESS_H
#define PROGRESS_H

#include "libnn/nn_train.h"
#include "pipeline/pl_progress.h"

typedef struct {
    int tty;            /* stderr is a terminal                */
    double last_draw;   /* time of the last bar redraw         */
    int drawn;          /* a bar is on screen                  */
    const char *cmd;    /* notes are printed "iotcnn CMD: note" */
} progress;

void progress_init(progress *p, const char *cmd);
/* The pipeline's reporter printing through p: the bar, epoch lines, notes. */
pl_progress progress_reporter(progress *p);
void progress_batch(progress *p, const nn_progress *np);
void progress_epoch(progress *p, const nn_epoch_report *r);
/* Clears a bar left on screen (before printing anything else). */
void progress_clear(progress *p);
/* progress_init, then the reporter printing through p: what a command
 * hands its pipeline. */
pl_progress progress_start(progress *p, const char *cmd);
/* After the pipeline returned st: clears the bar; on failure reports err
 * and exits (cli_fail). */
void progress_done(progress *p, nn_status st, const nn_error *err);

#endif
