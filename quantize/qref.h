/* qref.h - the reference int8 interpreter of qmodel.h.
 *
 * Plain loops that spell out the rules of qmodel.h one op at a time, with
 * no tiling, no vector code and no shortcuts: the yardstick the quantizer's
 * tests compare against, and what a faster engine must agree with bit for
 * bit. It keeps every tensor of the network (the input and each op's
 * output) in caller-supplied scratch, so tests can look at any of them.
 *
 * One deviation from "int32 accumulator": sums are formed in 64 bits and
 * saturated to the int32 range before requantization, so a model that
 * would overflow (which the quantizer never builds, see quantize.h) gives a
 * defined result instead of undefined behaviour. The model must have passed
 * qm_model_validate. */
#ifndef QREF_H
#define QREF_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_error.h"
#include "format/qmodel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of scratch for qm_ref_run: the input tensor and every op's output. */
size_t qm_ref_scratch_bytes(const qm_model *m);

/* Runs one image of raw pixels (in_c, in_h, in_w) uint8 CHW. Afterwards
 * qm_ref_tensor(m, scratch, t) holds tensor t (HWC int8). */
void qm_ref_run(const qm_model *m, const uint8_t *pixels, int8_t *scratch);

/* Tensor t (QM_INPUT or an op index) inside the scratch of a run. */
const int8_t *qm_ref_tensor(const qm_model *m, const int8_t *scratch, int t);

/* The logits of the last run, dequantized: out[k] = scale * (q[k] - zero). */
void qm_ref_logits(const qm_model *m, const int8_t *scratch, float *out);

/* Index of the largest int8 logit (the first on ties). */
int qm_ref_argmax(const qm_model *m, const int8_t *scratch);

/* Classifies n images (n, in_c, in_h, in_w) on `threads` threads and
 * writes each predicted class to pred[i] (may be NULL) and the number of
 * predictions equal to labels[i] (labels may be NULL) to *correct. */
nn_status qm_ref_classify(const qm_model *m, const uint8_t *images, const uint8_t *labels, int n,
                          int threads, int *pred, int *correct, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
