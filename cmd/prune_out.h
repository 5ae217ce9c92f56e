/* prune_out.h - what `iotcnn prune` prints: the per-layer table and
 * totals, or the same as one JSON object (--json). */
#ifndef PRUNE_OUT_H
#define PRUNE_OUT_H

#include <stdint.h>

#include "prune/prune_report.h"
#include "libnn/nn_train.h"
#include "config/cfg_prune.h"

typedef struct {
    const char *in_path, *out_path;
    const cfg_prune *cfg;
    int epochs; /* fine-tuning epochs run               */
    int threads;
    int mask_updates; /* magnitude: mask updates made          */
    const nn_eval_result *before, *after;
    const pr_report *report;
    double seconds;
    uint64_t out_bytes; /* size of the written checkpoint       */
} prune_summary;

void prune_print_table(const prune_summary *s);
void prune_print_json(const prune_summary *s);

#endif
