/* pl_classes.h - what a model's outputs are called. A model file stores its
 * class names (format/classes.h); a file written before it did is named by
 * the standard names of the data set it records (MNIST digits, the
 * Fashion-MNIST and CIFAR-10 names), else not at all. */
#ifndef PL_CLASSES_H
#define PL_CLASSES_H

#include "format/ckpt.h"
#include "format/iotc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PL_CLASSES_NONE = 0, PL_CLASSES_STORED, PL_CLASSES_STANDARD } pl_classes_source;

/* out = the names of a checkpoint's / an .iotc model's classes (out->n = 0
 * when there are none); returns where they came from. */
pl_classes_source pl_ckpt_classes(const ckpt_file *ck, cls_names *out);
pl_classes_source pl_iotc_classes(const iotc_model *f, cls_names *out);

#ifdef __cplusplus
}
#endif

#endif
