/* pl_predict.h - classify image files with a model of either kind: a
 * float checkpoint (the float engine) or an int8 .iotc model (the integer
 * runtime, export/rt_host.h). Each image (PNG or JPEG, any size and channel
 * count) is converted to the model's input with ds_image_fit (datasets/
 * ds_image.h: antialiased bilinear resize, BT.601 luma or gray copied to
 * RGB), run, and its logits turned into probabilities by a softmax. With
 * test-time flip (as the model records it, or as asked) the logits of the
 * image and its left-right mirror are averaged first, as `eval` does.
 * What `iotcnn predict` runs. */
#ifndef PL_PREDICT_H
#define PL_PREDICT_H

#include "format/classes.h"
#include "libnn/nn_error.h"
#include "pl_classes.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_predictor pl_predictor;

typedef struct {
    int c, h, w, num_classes;          /* the model's input and outputs      */
    cls_names classes;                 /* n = 0: unnamed ("class K")          */
    pl_classes_source classes_source;
    int test_flip;                     /* as resolved                         */
    char engine[32];                   /* "float" or "int8 ISA"               */
} pl_predict_info;

/* test_flip: -1 as the model records it, 0 or 1 to override. */
nn_status pl_predict_open(pl_predictor **out, const char *model, int test_flip, nn_error *err);
const pl_predict_info *pl_predict_info_of(const pl_predictor *p);
/* probs[num_classes] for the image file at path (errors name it). */
nn_status pl_predict_file(pl_predictor *p, const char *path, float *probs, nn_error *err);
void pl_predict_close(pl_predictor *p);

#ifdef __cplusplus
}
#endif

#endif
