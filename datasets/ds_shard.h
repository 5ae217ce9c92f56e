/* ds_shard.h - chosen images of a data set's files, read by offset.
 *
 * A process of a distributed run (docs/distributed.md) needs only its
 * share of the images: IDX image files (MNIST, Fashion-MNIST) and CIFAR-10
 * binary batches hold records of one fixed size, so image i is read from
 * its own offset and nothing else is. Plain files only: a gzip stream
 * cannot be entered in the middle (gunzip it once). Labels are small:
 * they are read whole by ds.h's loaders. */
#ifndef DS_SHARD_H
#define DS_SHARD_H

#include <stdint.h>

#include "libnn/nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DS_SHARD_MAX_FILES 8   /* CIFAR-10's five training batches fit */
#define DS_SHARD_PATH_MAX 1024

typedef struct {
    char path[DS_SHARD_PATH_MAX];
    int fd;             /* -1 when closed                                   */
    uint64_t first;     /* byte offset of record 0's pixels                 */
    uint64_t stride;    /* bytes from one record to the next                */
    int n;              /* records                                          */
} ds_shard_file;

typedef struct ds_shard_s {
    ds_shard_file file[DS_SHARD_MAX_FILES];
    int n_files;
    int n;              /* images in all files, numbered in file order      */
    int c, h, w;
    uint64_t bytes_read; /* pixel bytes read so far by ds_shard_read        */
} ds_shard;

/* An IDX images file (magic 0x00000803, n, h, w; then n x h x w bytes):
 * the header is read and the file's size checked against it (a truncated
 * file fails here, naming its size and the size the header implies). */
int ds_shard_open_idx(ds_shard *s, const char *images_path, nn_error *err);

/* CIFAR-10 binary batches (records of 1 label byte + 3072 pixel bytes),
 * concatenated in order; each must be a whole number of records. */
int ds_shard_open_cifar10(ds_shard *s, const char *const *paths, int n_paths, nn_error *err);

/* Reads the pixels (c, h, w) of images index[0 .. n) into out (n, c, h,
 * w), in that order, and nothing else. An index out of range is
 * NN_ERR_ARG; a short read (the file changed since it was opened) is
 * NN_ERR_FORMAT naming the file, the image and its byte offset. */
int ds_shard_read(ds_shard *s, const uint32_t *index, int n, uint8_t *out, nn_error *err);

/* The labels of the s->n images into labels (s->n bytes), each checked to
 * be < classes: for IDX from labels_path (an IDX labels file, plain or
 * gzip, of s->n labels), for CIFAR-10 (labels_path NULL) from the label
 * byte of every record. A bad count, magic or label is NN_ERR_FORMAT naming
 * the file and byte. */
int ds_shard_labels(const ds_shard *s, const char *labels_path, uint8_t *labels, int classes,
                    nn_error *err);

void ds_shard_close(ds_shard *s);

#ifdef __cplusplus
}
#endif

#endif
