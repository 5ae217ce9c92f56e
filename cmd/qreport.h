/* qreport.h - per-layer reports of quantized models, shared by
 * `iotcnn quantize` and `iotcnn info`. */
#ifndef QREPORT_H
#define QREPORT_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "format/iotc.h"

typedef struct {
    uint64_t parameters;  /* weights and biases of conv2d/dense ops      */
    uint64_t nonzero;     /* of which non-zero                            */
    uint64_t macs;        /* multiply-accumulates per image               */
    uint64_t arena_bytes;  /* the runtime's for the host image (rt_arena_bytes) */
    const char *arena_isa; /* the instruction set that runs it here          */
    const char *arena_target; /* the host image's target (its layouts)       */
    uint64_t file_bytes;
} qreport_totals;

/* Fails only when the model cannot be built into an image (or out of
 * memory). */
nn_status qreport_totals_of(const iotc_model *f, qreport_totals *t, nn_error *err);

/* One line per op: type, source layer, shapes, bits, weights, non-zero,
 * sparsity, MACs, weight encoding and bytes; then the sections. */
void qreport_print(FILE *out, const iotc_model *f);

/* The same as JSON: an array of per-op objects, and one of sections. */
cJSON *qreport_layers_json(const iotc_model *f);
cJSON *qreport_sections_json(const iotc_section *secs, int n);

/* Adds parameters, nonzero_parameters, file_bytes, macs, arena_bytes,
 * arena_isa, arena_target. */
void qreport_add_totals(cJSON *j, const qreport_totals *t);

#endif
