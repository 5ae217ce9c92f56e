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

typedef struct {
    int n;              /* number of images                                 */
    int c, h, w;        /* image shape                                      */
    int num_classes;
    uint8_t *images;    /* (n, c, h, w) pixels 0..255, planar (CHW)         */
    uint8_t *labels;    /* (n) values in [0, num_classes)                   */
    char **class_names; /* (num_classes) or NULL                            */
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
 * 16 bit; alpha dropped, 16 bit scaled). All images must share one size and
 * the dataset is gray (c = 1) only if every image is gray; otherwise RGB.
 * Files are read in sorted order; non-PNG files are an error naming them. */
int ds_load_png_dir(ds_dataset *out, const char *dir, nn_error *err);

/* A named dataset in its standard layout under dir:
 *   mnist, fashion: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   cifar10:        data_batch_1..5.bin / test_batch.bin
 *   png:            dir/train/CLASS/FILE.png, dir/test/CLASS/FILE.png
 * train = 1 loads the training split, 0 the test split. */
int ds_load_named(ds_dataset *out, const char *name, const char *dir, int train, nn_error *err);

/* Keeps the first n images (no-op if n <= 0 or n >= d->n). */
void ds_limit(ds_dataset *d, int n);

/* Moves the LAST n_val images of d into val (d keeps the rest). n_val must
 * be in [0, d->n). */
int ds_split_tail(ds_dataset *d, ds_dataset *val, int n_val, nn_error *err);

/* Per-channel mean and standard deviation of pixels / 255 (double sums). */
void ds_channel_stats(const ds_dataset *d, float *mean, float *std);

void ds_free(ds_dataset *d);

#endif
