/* pl_progress.h - how a pipeline call reports what it is doing. The
 * pipeline never prints: it hands each event to the caller's function,
 * which may draw a bar, log, or ignore it (a NULL function ignores all).
 *
 *   PL_EV_BATCH  after every training batch    (ev->batch)
 *   PL_EV_EPOCH  after every training epoch    (ev->epoch; the checkpoint
 *                of that epoch, if the call writes one, is written after)
 *   PL_EV_NOTE   one human-readable line       (ev->note, no newline):
 *                what is about to run, a warning, a fallback taken
 *
 * ev->stage names the call: "train", "finetune", "prune", "quantize",
 * "evaluate", "export". Events and the pointers in them live only for the
 * duration of the call. */
#ifndef PL_PROGRESS_H
#define PL_PROGRESS_H

#include "libnn/nn_train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PL_EV_BATCH = 1, PL_EV_EPOCH = 2, PL_EV_NOTE = 3 } pl_event_kind;

typedef struct {
    pl_event_kind kind;
    const char *stage;
    const nn_progress *batch;     /* PL_EV_BATCH */
    const nn_epoch_report *epoch; /* PL_EV_EPOCH */
    const char *note;             /* PL_EV_NOTE  */
} pl_event;

typedef struct {
    void (*fn)(void *user, const pl_event *ev); /* NULL: no reports */
    void *user;
} pl_progress;

/* Hands ev to p (p or p->fn may be NULL). */
void pl_emit(const pl_progress *p, const pl_event *ev);

/* A PL_EV_NOTE formatted like printf (lines are cut at 511 bytes). */
void pl_note(const pl_progress *p, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif
