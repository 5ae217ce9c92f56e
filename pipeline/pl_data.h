/* data.h - loading the data a command runs on, with hints when it is missing. */
#ifndef PL_DATA_H
#define PL_DATA_H

#include <cjson/cJSON.h>

#include "augment/aug.h"
#include "datasets/ds.h"
#include "datasets/ds_shard.h"
#include "libnn/nn_model.h"
#include "libnn/nn_train.h"
#include "config/cfg.h"
#include "format/classes.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The train (train = 1) or test split of the config's dataset. A missing
 * file gets a hint naming the fetch command. shape (c, h, w), or NULL: a
 * png folder set is converted to it (a model's input, or the training
 * split's shape for its test split); NULL: the images' own. */
nn_status pl_data_load_split(ds_dataset *d, const cfg_data *cd, int train, const int *shape,
                             nn_error *err);

/* The input shape of m, for pl_data_load_split. */
static inline const int *pl_model_shape(const nn_model *m, int shape[3])
{
    shape[0] = m->spec.in_c, shape[1] = m->spec.in_h, shape[2] = m->spec.in_w;
    return shape;
}

/* Images of --data NAME|DIR for evaluation by a model of input (c, h, w):
 * a dataset name loads its test split from data/NAME (or the config's dir
 * for that dataset); anything else is a folder of PNG and JPEG images with
 * one sub-folder per class, converted to the model's input shape. */
nn_status pl_data_load_eval(ds_dataset *d, const char *spec, const cfg_data *cd, int c, int h,
                            int w, nn_error *err);

/* --limit on a test set: the first n images of a published set (MNIST,
 * Fashion-MNIST, CIFAR-10: "the first N test images" as everyone counts
 * them), every class in proportion for a folder set (sorted by class, its
 * first n would be one class). */
nn_status pl_data_limit_test(ds_dataset *d, int n, const char *spec, const cfg_data *cd,
                             nn_error *err);

/* Relabels d by class name to the model's classes (when both have names):
 * the label of d's class "cat" becomes the model's index of "cat", so a
 * folder holding some of the classes, or in another order, is scored right.
 * A class the model does not know is NN_ERR_ARG naming it and the model's
 * classes. Without names on either side d is left as it is. */
nn_status pl_data_map_classes(ds_dataset *d, const cls_names *model, nn_error *err);

/* Writes cd's data.dir into a config's "data" object when the config gave
 * one: resolved against the config file's folder (cfg_load), so the config
 * a checkpoint stores finds the data again from the same directory. */
void pl_data_store_dir(cJSON *data, const cfg_data *cd);

/* Checks that a dataset fits a model's input shape and class count. */
nn_status pl_data_check_fits(const ds_dataset *d, const nn_model *m, const char *what, nn_error *err);

/* The pixels of a set that stays in its files (ds_open_named_shard): an
 * nn_fetch_fn user. pl_data_fetch reads images pos[i] of set (record
 * set->index[pos[i]] of files) and counts them in images_read. */
typedef struct {
    ds_shard *files;
    const ds_dataset *set;
    unsigned long long images_read;
} pl_fetch_src;

nn_status pl_data_fetch(void *user, const uint32_t *pos, int n, uint8_t *dst, nn_error *err);

static inline nn_images pl_data_images(const ds_dataset *d)
{
    nn_images img = {d->images, d->labels, d->n}; /* no compound literal: C++ includes this */
    return img;
}

/* Augmentation of training image `index` in `epoch` (an nn_image_fn):
 * its draws come from the stream (seed, NN_STREAM_AUGMENT, epoch, index)
 * only, so they do not depend on threads or batch order. */
typedef struct {
    aug_config cfg;
    uint64_t seed;
    int c, h, w;
} pl_augment;

void pl_augment_image(void *user, uint8_t *dst, const uint8_t *src, uint64_t epoch,
                        uint64_t index, int worker);

#ifdef __cplusplus
}
#endif

#endif
