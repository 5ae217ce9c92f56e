/* cfg_schedule.h - the learning-rate schedule object, one parser for
 * train.schedule and prune.finetune.schedule (docs/config.md, "schedule").
 *
 * "schedule": "cosine" or "schedule": {"type": "cosine", ...}: the types
 * constant, step, cosine and onecycle, each with only its own keys. Every
 * value is range-checked as a double and again once rounded to float (so
 * 1e-50, 1 - 1e-12 or 1e39 cannot become 0, 1.0f or infinity), and every
 * error names the block's own JSON path (NN_ERR_CONFIG). */
#ifndef CFG_SCHEDULE_H
#define CFG_SCHEDULE_H

#include <cjson/cJSON.h>

#include "libnn/nn_error.h"
#include "libnn/nn_optim.h"
#include "cfg_strict.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parses parent.schedule (parent is the object at JSON path `parent_path`,
 * e.g. "train" or "prune.finetune"). The run it schedules has base rate
 * `lr` and `epochs` epochs, given as parent_path.lr and parent_path.epochs:
 * warmup_epochs must be below epochs and min_lr at most lr, and messages
 * say so by those names. An absent key takes its default (an absent
 * schedule is "constant" with no warm-up); sc->base_lr = lr. On failure
 * *sc may be partly written. */
nn_status cfg_schedule_parse(const cs_ctx *x, const cJSON *parent, const char *parent_path,
                             float lr, int epochs, nn_schedule_config *sc);

#ifdef __cplusplus
}
#endif

#endif
