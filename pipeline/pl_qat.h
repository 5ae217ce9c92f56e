/* pl_qat.h - quantization-aware fine-tuning (quantize.qat, docs/config.md):
 * the step `iotcnn quantize` runs before quantizing when the config asks.
 *
 * The model trains on the config's training data (its augmentation, batch,
 * label smoothing and optimizer) for quantize.qat.epochs with the forward
 * and backward passes seeing the weights on their int8 grid (qz_fake.h);
 * with quantize.qat.distill, the model as it came teaches. The result is
 * deterministic for the same config, seed and thread count. */
#ifndef PL_QAT_H
#define PL_QAT_H

#include "config/cfg.h"
#include "libnn/nn_model.h"
#include "pl_progress.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fine-tunes m in place under cfg->quantize; on success m holds the grid
 * weights, which the quantizer maps back to their integers. source names
 * the config in messages. */
nn_status pl_qat(nn_model *m, const cfg_config *cfg, const char *source, int threads,
                 const pl_progress *p, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
