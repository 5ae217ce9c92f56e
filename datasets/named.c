/* named.c - the standard on-disk layouts of the supported data sets.
 *
 *   mnist, fashion: DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   cifar10:        DIR/data_batch_1..5.bin, DIR/test_batch.bin  (also .gz)
 *   png:            DIR/train/CLASS/ *.png, DIR/test/CLASS/ *.png
 *
 * Each file is looked for under its plain name first, then with ".gz". The
 * known sets also get their class names. */
#include "ds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ds_io.h"
#include "ds_shard.h"

#define NAMED_PATH_MAX 4096

static const char *const mnist_names[10] = {"0", "1", "2", "3", "4",
                                            "5", "6", "7", "8", "9"};
static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
static const char *const cifar10_names[10] = {"airplane", "automobile", "bird",  "cat",
                                              "deer",     "dog",        "frog",  "horse",
                                              "ship",     "truck"};

const char *const *ds_standard_class_names(const char *dataset, int *n)
{
    *n = 10;
    if (dataset && strcmp(dataset, "mnist") == 0)
        return mnist_names;
    if (dataset && strcmp(dataset, "fashion") == 0)
        return fashion_names;
    if (dataset && strcmp(dataset, "cifar10") == 0)
        return cifar10_names;
    *n = 0;
    return NULL;
}

/* Writes DIR/BASE or DIR/BASE.gz, whichever exists (plain first), to buf. */
static int find_file(char *buf, size_t cap, const char *dir, const char *base, const char *name,
                     nn_error *err)
{
    struct stat st;
    int k = snprintf(buf, cap, "%s/%s", dir, base);
    if (k < 0 || (size_t)k + 3 >= cap)
        return nn_errorf(err, NN_ERR_ARG, "%s/%s: path too long", dir, base);
    if (stat(buf, &st) == 0)
        return NN_OK;
    strcat(buf, ".gz");
    if (stat(buf, &st) == 0)
        return NN_OK;
    buf[k] = '\0';
    return nn_errorf(err, NN_ERR_IO, "%s: not found (nor %s.gz); run datasets/fetch.sh %s", buf,
                     buf, name);
}

static int set_names(ds_dataset *d, const char *const *names, int k, nn_error *err)
{
    d->class_names = calloc((size_t)k, sizeof *d->class_names);
    if (!d->class_names)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for class names");
    for (int i = 0; i < k; i++) {
        d->class_names[i] = ds_strdup(names[i]);
        if (!d->class_names[i])
            return nn_errorf(err, NN_ERR_NOMEM, "out of memory for class names");
    }
    return NN_OK;
}

static int load_idx_pair(ds_dataset *out, const char *dir, const char *name, int train,
                         nn_error *err)
{
    char images[NAMED_PATH_MAX], labels[NAMED_PATH_MAX];
    const char *split = train ? "train" : "t10k";
    char base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", split);
    int rc = find_file(images, sizeof images, dir, base, name, err);
    if (rc != NN_OK)
        return rc;
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", split);
    if ((rc = find_file(labels, sizeof labels, dir, base, name, err)) != NN_OK)
        return rc;
    return ds_load_idx(out, images, labels, err);
}

static int load_cifar10(ds_dataset *out, const char *dir, int train, nn_error *err)
{
    char paths[5][NAMED_PATH_MAX];
    const char *ptrs[5];
    int n = train ? 5 : 1;
    for (int i = 0; i < n; i++) {
        char base[32];
        if (train)
            snprintf(base, sizeof base, "data_batch_%d.bin", i + 1);
        else
            snprintf(base, sizeof base, "test_batch.bin");
        int rc = find_file(paths[i], sizeof paths[i], dir, base, "cifar10", err);
        if (rc != NN_OK)
            return rc;
        ptrs[i] = paths[i];
    }
    return ds_load_cifar10_bin(out, ptrs, n, err);
}

int ds_load_named(ds_dataset *out, const char *name, const char *dir, int train, nn_error *err)
{
    return ds_load_named_shaped(out, name, dir, train, 0, 0, 0, err);
}

int ds_load_named_shaped(ds_dataset *out, const char *name, const char *dir, int train, int c,
                         int h, int w, nn_error *err)
{
    if (!out)
        return nn_errorf(err, NN_ERR_ARG, "ds_load_named: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name || !dir)
        return nn_errorf(err, NN_ERR_ARG, "ds_load_named: name and dir are required");
    const char *const *names = NULL;
    int rc;
    if (!strcmp(name, "mnist") || !strcmp(name, "fashion")) {
        rc = load_idx_pair(out, dir, name, train, err);
        names = name[0] == 'm' ? mnist_names : fashion_names;
    } else if (!strcmp(name, "cifar10")) {
        rc = load_cifar10(out, dir, train, err);
        names = cifar10_names;
    } else if (!strcmp(name, "png")) {
        char sub[NAMED_PATH_MAX];
        int k = snprintf(sub, sizeof sub, "%s/%s", dir, train ? "train" : "test");
        if (k < 0 || (size_t)k >= sizeof sub)
            return nn_errorf(err, NN_ERR_ARG, "%s: path too long", dir);
        return ds_load_image_dir(out, sub, c, h, w, err);
    } else {
        return nn_errorf(err, NN_ERR_ARG,
                         "unknown dataset '%s' (expected mnist, fashion, cifar10 or png)", name);
    }
    if (rc == NN_OK && (rc = set_names(out, names, out->num_classes, err)) != NN_OK)
        ds_free(out);
    return rc;
}

/* The image files of a named set, opened by s; the labels path of an IDX
 * pair in labels (an empty string for CIFAR-10). */
static int open_named_files(ds_shard *s, char *labels, size_t cap, const char *name,
                            const char *dir, int train, nn_error *err)
{
    char paths[5][NAMED_PATH_MAX];
    const char *ptrs[5];
    labels[0] = '\0';
    if (!strcmp(name, "cifar10")) {
        int n = train ? 5 : 1;
        for (int i = 0; i < n; i++) {
            char base[32];
            snprintf(base, sizeof base, train ? "data_batch_%d.bin" : "test_batch.bin", i + 1);
            int rc = find_file(paths[i], sizeof paths[i], dir, base, name, err);
            if (rc != NN_OK)
                return rc;
            ptrs[i] = paths[i];
        }
        return ds_shard_open_cifar10(s, ptrs, n, err);
    }
    const char *split = train ? "train" : "t10k";
    char base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", split);
    int rc = find_file(paths[0], sizeof paths[0], dir, base, name, err);
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", split);
    if (rc == NN_OK)
        rc = find_file(labels, cap, dir, base, name, err);
    return rc == NN_OK ? ds_shard_open_idx(s, paths[0], err) : rc;
}

int ds_open_named_shard(ds_dataset *out, struct ds_shard_s *s, const char *name, const char *dir,
                        int train, nn_error *err)
{
    memset(out, 0, sizeof *out);
    s->n_files = 0;
    const char *const *names = NULL;
    int k = 0;
    if (!name || !dir || !(names = ds_standard_class_names(name, &k)))
        return nn_errorf(err, NN_ERR_ARG,
                         "data set '%s': only mnist, fashion and cifar10 are read image by image "
                         "(a folder set is decoded whole)",
                         name ? name : "(none)");
    char labels[NAMED_PATH_MAX];
    int rc = open_named_files(s, labels, sizeof labels, name, dir, train, err);
    if (rc != NN_OK)
        return rc;
    out->n = s->n, out->c = s->c, out->h = s->h, out->w = s->w, out->num_classes = k;
    out->labels = malloc(s->n > 0 ? (size_t)s->n : 1);
    out->index = malloc((s->n > 0 ? (size_t)s->n : 1) * sizeof *out->index);
    if (!out->labels || !out->index)
        rc = nn_errorf(err, NN_ERR_NOMEM, "out of memory for %d labels", s->n);
    if (rc == NN_OK)
        rc = ds_shard_labels(s, labels[0] ? labels : NULL, out->labels, k, err);
    for (int i = 0; rc == NN_OK && i < s->n; i++)
        out->index[i] = (uint32_t)i;
    if (rc == NN_OK)
        rc = set_names(out, names, k, err);
    if (rc != NN_OK) {
        ds_free(out);
        ds_shard_close(s);
    }
    return rc;
}
