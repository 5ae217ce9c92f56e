/* dataset.c - operations on a loaded ds_dataset: limit, split, stats, free. */
#include "ds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_io.h"

static size_t image_bytes(const ds_dataset *d)
{
    return (size_t)d->c * (size_t)d->h * (size_t)d->w;
}

/* Shrinks d to its first n images; a failed shrinking realloc keeps the
 * larger block, which is still valid. */
static void truncate_to(ds_dataset *d, int n)
{
    d->n = n;
    size_t img = image_bytes(d);
    if (n == 0)
        return;
    uint8_t *im = realloc(d->images, (size_t)n * img);
    if (im)
        d->images = im;
    uint8_t *lb = realloc(d->labels, (size_t)n);
    if (lb)
        d->labels = lb;
}

void ds_limit(ds_dataset *d, int n)
{
    if (!d || n <= 0 || n >= d->n)
        return;
    truncate_to(d, n);
}

int ds_split_tail(ds_dataset *d, ds_dataset *val, int n_val, nn_error *err)
{
    if (!d || !val || d == val)
        return nn_errorf(err, NN_ERR_ARG, "ds_split_tail: need two distinct datasets");
    if (n_val < 0 || n_val >= d->n)
        return nn_errorf(err, NN_ERR_ARG,
                         "ds_split_tail: %d validation images out of range [0, %d) (the "
                         "dataset has %d images)",
                         n_val, d->n, d->n);
    memset(val, 0, sizeof *val);
    val->c = d->c;
    val->h = d->h;
    val->w = d->w;
    val->num_classes = d->num_classes;
    size_t img = image_bytes(d);
    size_t keep = (size_t)(d->n - n_val);
    if (n_val > 0) {
        val->images = malloc((size_t)n_val * img);
        val->labels = malloc((size_t)n_val);
        if (!val->images || !val->labels)
            goto nomem;
        memcpy(val->images, d->images + keep * img, (size_t)n_val * img);
        memcpy(val->labels, d->labels + keep, (size_t)n_val);
    }
    if (d->class_names) { /* each dataset owns its names */
        val->class_names = calloc((size_t)d->num_classes, sizeof *val->class_names);
        if (!val->class_names)
            goto nomem;
        for (int k = 0; k < d->num_classes; k++)
            if (d->class_names[k] && !(val->class_names[k] = ds_strdup(d->class_names[k])))
                goto nomem;
    }
    val->n = n_val;
    if (n_val > 0)
        truncate_to(d, (int)keep);
    return NN_OK;
nomem:
    ds_free(val);
    return nn_errorf(err, NN_ERR_NOMEM, "ds_split_tail: cannot allocate %d validation images",
                     n_val);
}

void ds_channel_stats(const ds_dataset *d, float *mean, float *std)
{
    size_t hw = (size_t)d->h * (size_t)d->w;
    double count = (double)d->n * (double)hw;
    for (int ch = 0; ch < d->c; ch++) {
        /* Exact integer sums per image, then doubles across images. */
        double s = 0, sq = 0;
        for (int i = 0; i < d->n; i++) {
            const uint8_t *p = d->images + ((size_t)i * (size_t)d->c + (size_t)ch) * hw;
            uint64_t si = 0, sqi = 0;
            for (size_t j = 0; j < hw; j++) {
                si += p[j];
                sqi += (uint64_t)p[j] * p[j];
            }
            s += (double)si;
            sq += (double)sqi;
        }
        if (count == 0) {
            mean[ch] = 0;
            std[ch] = 0;
            continue;
        }
        double m = s / count, var = sq / count - m * m; /* in 0..255 units */
        mean[ch] = (float)(m / 255.0);
        std[ch] = (float)(var > 0 ? sqrt(var) / 255.0 : 0.0);
    }
}

void ds_free(ds_dataset *d)
{
    if (!d)
        return;
    if (d->class_names) {
        for (int k = 0; k < d->num_classes; k++)
            free(d->class_names[k]);
        free(d->class_names);
    }
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}
