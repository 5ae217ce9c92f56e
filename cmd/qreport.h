/* qreport.h - per-layer reports of quantized models, shared by
 * `iotcnn quantize` and `iotcnn info`. */
#ifndef QREPORT_H
#define QREPORT_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "format/iotc.h"
#include "pipeline/pl_describe.h"

/* One line per op: type, source layer, shapes, bits, weights, non-zero,
 * sparsity, MACs, weight encoding and bytes; then the sections. */
void qreport_print(FILE *out, const iotc_model *f);

/* The same as JSON: an array of per-op objects, and one of sections. */
cJSON *qreport_layers_json(const iotc_model *f);
cJSON *qreport_sections_json(const iotc_section *secs, int n);

/* Adds parameters, nonzero_parameters, file_bytes, macs, arena_bytes,
 * arena_isa, arena_target. */
void qreport_add_totals(cJSON *j, const pl_iotc_totals *t);

#endif
