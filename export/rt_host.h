/* rt_host.h - the runtime (runtime/rt.h) on the host: a quantized model is
 * built once into a deploy image in memory, in the host's layouts
 * (rtb_host_target: the x86 ones on x86-64), checked with rt_image_check,
 * then run image by image (rt_run_isa) with the instruction set asked for,
 * or evaluated over a test set on several threads. `iotcnn eval`,
 * `compare`, `quantize --eval`, `info` and `export --verify` run .iotc
 * models this way: the host and the device run one engine.
 *
 * Host side: allocates, reports errors with a message. The image is only
 * read by rth_run, so several threads may run one rth_model at once, each
 * with its own arena. */
#ifndef RT_HOST_H
#define RT_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "format/qmodel.h"
#include "libnn/nn_error.h"
#include "libnn/nn_train.h"
#include "runtime/rt.h"
#include "rt_build.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    rtb_image img;              /* the host image                              */
    rt_isa isa;                 /* what runs it, resolved (never RT_ISA_AUTO)  */
    int in_c, in_h, in_w, num_classes;
    qm_qparams out_q;           /* the logits' quantization                    */
} rth_model;

/* The ISA named "auto", "c", "avx2" or "avx512-vnni" (rt_isa_name), or -1. */
int rth_isa_parse(const char *name);

/* Builds and checks m's host image (sparse layers by density, rtb_build)
 * for isa (RT_ISA_AUTO: rt_isa_best()). Errors: rtb_build's (NN_ERR_FORMAT,
 * naming the op), an unknown ISA or one this CPU or build lacks
 * (NN_ERR_ARG), out of memory. h is zeroed first; free with rth_close. */
nn_status rth_open(rth_model *h, const qm_model *m, rt_isa isa, nn_error *err);
void rth_close(rth_model *h);

/* Bytes of arena rth_run needs (the image's; the arena must be 8-byte
 * aligned). */
size_t rth_arena_bytes(const rth_model *h);

/* n images: pixels (n, in_c, in_h, in_w) raw uint8 -> logits (n,
 * num_classes) int8, one rt_run_isa each in arena. NN_ERR_ARG (naming the
 * runtime's status) when the runtime refuses its arguments. */
nn_status rth_run(const rth_model *h, void *arena, const uint8_t *pixels, int n, int8_t *logits);

/* labels[i] = the index of the largest of logits[i * num_classes ...], the
 * first one on ties. */
void rth_argmax(const int8_t *logits, int n, int num_classes, int *labels);

/* Test-set accuracy, mean cross-entropy and confusion matrix, in
 * nn_evaluate's result type, so `iotcnn eval` reports float checkpoints and
 * .iotc models alike. data: raw uint8 pixels, CHW per image, the model's
 * input shape, labels < its class count. Images are split statically over
 * cfg->threads threads (one arena each) and cfg->batch at a time go through
 * rth_run; the sums are reduced in thread order, so the result does not
 * depend on the thread count but for the loss's last bits. Only this
 * harness works in float: the loss is the cross-entropy of the dequantized
 * logits and, with test-time flip, an image's dequantized logits are
 * averaged with its left-right mirror's before the argmax; without it the
 * predicted class is the argmax of the int8 logits. res->confusion is
 * allocated: free it with nn_eval_result_free. */
nn_status rth_evaluate(const rth_model *h, const nn_images *data, const nn_eval_config *cfg,
                       nn_eval_result *res, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
