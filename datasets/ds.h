/* ds.h - image classification datasets in memory, and their loaders.
 *
 * Images are kept as raw 8-bit pixels (CIFAR-10 train: 150 MB instead of
 * 600 MB of floats); the trainer normalizes them batch by batch. Every loader
 * validates sizes, magic numbers and label ranges, and reports a corrupt or
 * truncated file with its path and the byte offset where it went wrong. */
#ifndef DS_H
#define DS_H

#include <stdint.h>

#include "libnn/nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n;              /* number of images                                 */
    int c, h, w;        /* image shape                                      */
    int num_classes;
    uint8_t *images;    /* (n, c, h, w) pixels 0..255, planar (CHW)         */
    uint8_t *labels;    /* (n) values in [0, num_classes)                   */
    char **class_names; /* (num_classes) or NULL                            */
    uint32_t *index;    /* NULL, or a set whose pixels stay in its files
                         * (images == NULL, ds_open_named_shard): image i is
                         * record index[i] of the files (ds_shard.h), read
                         * only when asked for. limit, split and keep_first
                         * move the index with the labels.                  */
} ds_dataset;

/* IDX files (MNIST, Fashion-MNIST); each path may be plain or gzip (.gz is
 * detected from the content, not the name). Images: magic 0x00000803, n, h,
 * w; labels: 0x00000801, n. Counts must agree; labels must be < 10. */
int ds_load_idx(ds_dataset *out, const char *images_path, const char *labels_path, nn_error *err);

/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes
 * (R plane, G plane, B plane, 32x32 each), 10000 per standard batch; any
 * whole number of records is accepted. Paths are concatenated in order. */
int ds_load_cifar10_bin(ds_dataset *out, const char *const *paths, int n_paths, nn_error *err);

/* A folder with one sub-folder per class (classes sorted by name, label =
 * rank), each holding PNG images (gray, gray+alpha, RGB, RGBA, palette, 8 or
 * 16 bit; alpha dropped, 16 bit scaled) and JPEG images (gray or colour),
 * read in sorted order; any other file is an error naming it. Every image is
 * converted to want_c (1 or 3) channels of want_h x want_w pixels as
 * ds_image.h describes (resized, channels converted); with want_c = 0 the
 * first image sets the size and the set is gray (c = 1) only if every image
 * is gray, RGB otherwise. */
int ds_load_image_dir(ds_dataset *out, const char *dir, int want_c, int want_h, int want_w,
                      nn_error *err);

/* ds_load_image_dir with the shape taken from the images (want_c = 0). */
int ds_load_png_dir(ds_dataset *out, const char *dir, nn_error *err);

/* A named dataset in its standard layout under dir:
 *   mnist, fashion: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   cifar10:        data_batch_1..5.bin / test_batch.bin
 *   png:            dir/train/CLASS/FILE.png, dir/test/CLASS/FILE.png
 * train = 1 loads the training split, 0 the test split. */
int ds_load_named(ds_dataset *out, const char *name, const char *dir, int train, nn_error *err);
/* The same, a png folder set converted to c channels of h x w (c = 0: the
 * images' own shape, ds_load_image_dir); other sets ignore the shape. */
int ds_load_named_shaped(ds_dataset *out, const char *name, const char *dir, int train, int c,
                         int h, int w, nn_error *err);

/* The class names of a known data set ("mnist", "fashion", "cifar10"): n
 * of them; NULL (n = 0) for any other name. */
const char *const *ds_standard_class_names(const char *dataset, int *n);

/* Labels are bytes: at most this many classes. */
#define DS_MAX_CLASSES 256

/* Keeps n images, every class in proportion to its share of the set
 * (largest remainders): the first ones of each class, in their order. A
 * set sorted by class (a folder set) keeps every class; a shuffled one
 * (MNIST, CIFAR-10) keeps about its first n. No-op if n <= 0 or n >= d->n.
 * Fails only when out of memory. */
int ds_limit(ds_dataset *d, int n, nn_error *err);

/* Keeps the first n images (no-op if n <= 0 or n >= d->n): for a test set
 * in its published order, so that "the first N test images" means what it
 * means elsewhere (MLPerf Tiny, TFLite Micro's figures). */
void ds_keep_first(ds_dataset *d, int n);

/* Moves n_val images of d into val, every class in proportion to its share
 * (largest remainders), which images of a class drawn at random from seed
 * (NN_STREAM_SPLIT); both keep the images' order. n_val must be in
 * [0, d->n). The same seed and set give the same split. */
int ds_split_validation(ds_dataset *d, ds_dataset *val, int n_val, uint64_t seed,
                        nn_error *err);

/* The training split of a run: ds_limit(train, limit), then n_val images
 * (if > 0) into val by ds_split_validation with seed (the run's seed).
 * train, quantize and prune's fine-tuning call this, so they agree on which
 * images are held out. n_val must leave training images (NN_ERR_CONFIG,
 * naming data.validation). val is empty when n_val <= 0. */
int ds_limit_split(ds_dataset *train, ds_dataset *val, int limit, int n_val, uint64_t seed,
                   nn_error *err);

/* Per-channel mean and standard deviation of pixels / 255 (double sums). */
void ds_channel_stats(const ds_dataset *d, float *mean, float *std);

void ds_free(ds_dataset *d);

struct ds_shard_s;
/* The labels of a named set (mnist, fashion, cifar10: plain files only)
 * into out, with index[i] = i and images = NULL, and its image files opened
 * by s (ds_shard.h), so that a process of a distributed run reads the
 * pixels of its own images only (ds_shard_read of out->index[i]). A gzip
 * image file is NN_ERR_FORMAT with the hint to gunzip it; png and other
 * sets are NN_ERR_ARG (their images are decoded whole). */
int ds_open_named_shard(ds_dataset *out, struct ds_shard_s *s, const char *name, const char *dir,
                        int train, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
