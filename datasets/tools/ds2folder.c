/* ds2folder - writes images of a data set as a folder data set of PNG and
 * JPEG files of mixed sizes: what a user's own data looks like, made from
 * a known set, for demos and tests of the folder loader, predict and eval.
 *
 *   ds2folder SET DIR OUT N_TRAIN N_TEST
 *
 * SET and DIR as in a config's data block (mnist, fashion, cifar10, or png
 * and a folder); OUT/train/CLASS/NNNNN.EXT and OUT/test/CLASS/NNNNN.EXT
 * for N_TRAIN training images (every class in proportion, ds_limit) and
 * the first N_TEST test images. CLASS is the set's class name; image i is
 * resized (ds_image_fit) to a side of 32, 24, 48 or 40 pixels in turn and
 * written as PNG for even i and JPEG (quality 95) for odd i. Each file is
 * written atomically. Exit status 0, 1 on a data or I/O error, 2 on usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/ds.h"
#include "datasets/ds_image.h"

static const int sides[4] = {32, 24, 48, 40};

static int make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "ds2folder: %s: cannot create: %s\n", path, strerror(errno));
    return -1;
}

/* The images of d into OUT/SPLIT/CLASS/. */
static int write_split(const ds_dataset *d, const char *out, const char *split)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out, split);
    if (make_dir(path))
        return -1;
    for (int k = 0; k < d->num_classes; k++) {
        snprintf(path, sizeof path, "%s/%s/%s", out, split, d->class_names[k]);
        if (strchr(d->class_names[k], '/')) /* "T-shirt/top": a folder name cannot hold '/' */
            for (char *p = path + strlen(out) + strlen(split) + 2; *p; p++)
                *p = *p == '/' ? '-' : *p;
        if (make_dir(path))
            return -1;
    }
    const size_t hw = (size_t)d->h * d->w, n_pix = (size_t)d->c * hw;
    uint8_t *pix = malloc(n_pix), *big = malloc((size_t)48 * 48 * 3);
    int rc = pix && big ? 0 : -1;
    for (int i = 0; i < d->n && rc == 0; i++) {
        const uint8_t *src = d->images + (size_t)i * n_pix;
        for (size_t j = 0; j < hw; j++) /* planar -> interleaved */
            for (int c = 0; c < d->c; c++)
                pix[j * d->c + c] = src[(size_t)c * hw + j];
        ds_image im = {d->w, d->h, d->c, pix}, out_im;
        const int s = sides[i % 4];
        nn_error err = {{0}};
        uint8_t *planes = malloc((size_t)d->c * s * s);
        rc = planes ? ds_image_fit(&im, d->c, s, s, planes, &err) : -1;
        for (int j = 0; rc == 0 && j < s * s; j++) /* planar -> interleaved again */
            for (int c = 0; c < d->c; c++)
                big[(size_t)j * d->c + c] = planes[(size_t)c * s * s + j];
        free(planes);
        out_im = (ds_image){s, s, d->c, big};
        char name[64];
        snprintf(name, sizeof name, "/%05d.%s", i, i % 2 ? "jpg" : "png");
        snprintf(path, sizeof path, "%s/%s/%s", out, split, d->class_names[d->labels[i]]);
        for (char *p = path + strlen(out) + strlen(split) + 2; *p; p++)
            *p = *p == '/' ? '-' : *p;
        strncat(path, name, sizeof path - strlen(path) - 1);
        if (rc == 0 && (rc = ds_image_write(path, &out_im, 95, &err)) != 0)
            fprintf(stderr, "ds2folder: %s\n", err.msg);
    }
    free(pix), free(big);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: ds2folder SET DIR OUT N_TRAIN N_TEST\n");
        return 2;
    }
    int n_train = atoi(argv[4]), n_test = atoi(argv[5]);
    if (n_train < 1 || n_test < 1) {
        fprintf(stderr, "ds2folder: N_TRAIN and N_TEST must be positive\n");
        return 2;
    }
    ds_dataset train = {0}, test = {0};
    nn_error err = {{0}};
    int rc = ds_load_named(&train, argv[1], argv[2], 1, &err) ||
             ds_load_named(&test, argv[1], argv[2], 0, &err) ||
             ds_limit(&train, n_train, &err);
    if (rc) {
        fprintf(stderr, "ds2folder: %s\n", err.msg);
    } else if (!train.class_names || train.c > 3) {
        fprintf(stderr, "ds2folder: %s has no class names or more than 3 channels\n", argv[1]);
        rc = 1;
    } else {
        ds_keep_first(&test, n_test);
        rc = make_dir(argv[3]) || write_split(&train, argv[3], "train") ||
             write_split(&test, argv[3], "test");
    }
    ds_free(&train), ds_free(&test);
    return rc ? 1 : 0;
}
