/* pl_quantize.h - quantization as a library call: a float checkpoint in,
 * an int8 .iotc file out (written atomically), calibrated on training
 * images as the config's quantize block says, optionally with the float
 * and int8 test accuracy. What `iotcnn quantize` runs. */
#ifndef PL_QUANTIZE_H
#define PL_QUANTIZE_H

#include <stdint.h>

#include "format/iotc.h"
#include "quantize/quantize.h"
#include "pl_describe.h"
#include "pl_progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *model;   /* float checkpoint                                  */
    const char *output;  /* .iotc file to write                               */
    const char *config;  /* NULL: the config stored in model                  */
    int eval;            /* 1: also measure float and int8 test accuracy      */
    int limit;           /* eval: first N test images only (0: all)           */
    int threads;
    int qat_epochs;      /* 0: quantize.qat.epochs of the config; N > 0: N
                          * epochs of quantization-aware training; < 0: none */
} pl_quantize_opts;

typedef struct {
    iotc_model *file;       /* what was written (owned)                      */
    qz_result *qz;          /* per-op bits, auto_bits accuracies (owned)     */
    qz_config cfg;          /* the quantize block as run                     */
    int n_cal;              /* calibration images used                       */
    int n_val;              /* auto_bits judged on this many validation images
                               (0: on the calibration images)                */
    uint64_t float_bytes;   /* 4 bytes per float parameter                   */
    int eval;               /* eval was asked: the four fields below hold     */
    int test_images, float_correct, int8_correct; /* float: the model quantized,
                             * after quantization-aware training if any       */
    int test_flip;          /* each image's logits averaged with its mirror's
                             * (the config's augment.test_flip)               */
    int has_fake;           /* eval after QAT of activations: fake_correct holds */
    int fake_correct;       /* the float model with the int8 model's activation
                             * grids (qz_act_grids): what QAT trained        */
    int qat_epochs;         /* quantization-aware training epochs run         */
    pl_iotc_totals totals;  /* of the file written                           */
} pl_quantize_result;

nn_status pl_quantize(const pl_quantize_opts *o, const pl_progress *p, pl_quantize_result *r,
                      nn_error *err);
void pl_quantize_result_free(pl_quantize_result *r);

#ifdef __cplusplus
}
#endif

#endif
