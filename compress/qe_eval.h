/* qe_eval.h - accuracy of an int8 model run by the engine (qengine.h), in
 * the shape of nn_evaluate's result, so `iotcnn eval` reports float
 * checkpoints and .iotc models alike.
 *
 * The engine does all the inference in integers; only the harness works in
 * float: the loss is the cross-entropy of the dequantized logits and, with
 * test-time flip, an image's dequantized logits are averaged with its
 * left-right mirror's before the argmax. Without the flip the predicted
 * class is the argmax of the int8 logits (the first one on ties). Images
 * are split statically over the threads and the sums reduced in thread
 * order, so the result is the same for every thread count but the loss's
 * last bits. */
#ifndef QE_EVAL_H
#define QE_EVAL_H

#include "../libnn/nn_train.h"
#include "qengine.h"

/* Evaluates the plan on data (raw uint8 pixels, CHW per image, the plan's
 * input shape; labels < the plan's class count). cfg->batch images go
 * through one qe_run, so it must not exceed qe_plan_max_batch(p); each
 * thread gets its own arena. res->confusion is allocated: free it with
 * nn_eval_result_free. */
nn_status qe_evaluate(const qe_plan *p, const nn_images *data, const nn_eval_config *cfg,
                      nn_eval_result *res, nn_error *err);

#endif
