/* classes.h - a model's class names, as both model files store them.
 *
 * A model knows what its outputs mean: digits for MNIST, the standard names
 * for Fashion-MNIST and CIFAR-10, the folder names of a folder data set.
 * The checkpoint (.ckpt) and the int8 model (.iotc) hold them in a CLSN
 * section, optional (files written before it existed have none: the
 * pipeline then falls back to the data set's standard names,
 * ds_standard_class_names, or "class K"):
 *
 *   CLSN  u32 count (= the model's classes); per name u8 length (1..63),
 *         that many bytes: printable text (no byte below 0x20, nor 0x7f;
 *         UTF-8 passes through), no NUL.
 *
 * Older readers skip the section (unknown tags are skipped), so adding it
 * keeps files readable by them. */
#ifndef CLASSES_H
#define CLASSES_H

#include "libnn/nn_error.h"
#include "libnn/nn_io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLS_MAX_CLASSES 256
#define CLS_NAME_MAX 64 /* bytes with the NUL */

/* Plain data (copy it by assignment); n = 0: no names. */
typedef struct {
    int n;
    char name[CLS_MAX_CLASSES][CLS_NAME_MAX];
} cls_names;

/* c = the n names (each must be a valid name: NN_ERR_ARG naming the bad
 * one; c is then empty). */
nn_status cls_set(cls_names *c, const char *const *names, int n, nn_error *err);
/* Name k: the stored one, else "class K" written into buf (c may be NULL). */
const char *cls_name(const cls_names *c, int k, char *buf, size_t size);

/* The CLSN payload. cls_get checks the count against num_classes and every
 * name, failing with NN_ERR_FORMAT at the offset of what is wrong (c is
 * then empty). */
void cls_put(nn_wbuf *w, const cls_names *c);
nn_status cls_get(nn_rbuf *r, int num_classes, cls_names *c, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
