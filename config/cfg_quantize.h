/* cfg_quantize.h - the optional `quantize` block of a run configuration
 * (docs/config.md), parsed as strictly as the other blocks: unknown or
 * duplicate keys, wrong types and out-of-range values are NN_ERR_CONFIG
 * errors "SOURCE: quantize.KEY: what". */
#ifndef CFG_QUANTIZE_H
#define CFG_QUANTIZE_H

#include <cjson/cJSON.h>

#include "cfg_finetune.h"
#include "quantize/quantize.h"
#include "libnn/nn_error.h"
#include "libnn/nn_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int present;  /* 1 when the config has the block          */
    qz_config qz; /* qz_config_defaults when absent            */
    cfg_finetune qat; /* quantize.qat: quantization-aware fine-tuning
                       * before quantizing (epochs 0: none)       */
} cfg_quantize;

/* Parses obj (the block, or NULL when absent: defaults) into q. Layer
 * references in quantize.layers[].layer (a name or an index) are resolved
 * against model, which must already be parsed, and must name conv2d or
 * dense layers. train_lr and train_schedule (the parsed train block) give
 * quantize.qat's defaults. */
nn_status cfg_quantize_parse(cfg_quantize *q, const cJSON *obj, const nn_model_spec *model,
                             float train_lr, const nn_schedule_config *train_schedule,
                             const char *source, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
