/* dataset.c - operations on a loaded ds_dataset: limit, split, stats, free. */
#include "ds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ds_io.h"
#include "libnn/nn_rng.h"

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
    uint8_t *im = d->images ? realloc(d->images, (size_t)n * img) : NULL;
    if (im)
        d->images = im;
    uint32_t *ix = d->index ? realloc(d->index, (size_t)n * sizeof *ix) : NULL;
    if (ix)
        d->index = ix;
    uint8_t *lb = realloc(d->labels, (size_t)n);
    if (lb)
        d->labels = lb;
}

/* q[k]: how many of n images class k gets, in proportion to its count
 * (largest remainders, ties to the lower class), never more than it has. */
static void class_quotas(const ds_dataset *d, int n, int *count, int *q)
{
    const int K = d->num_classes;
    for (int k = 0; k < K; k++)
        count[k] = 0;
    for (int i = 0; i < d->n; i++)
        count[d->labels[i]]++;
    int given = 0;
    for (int k = 0; k < K; k++) {
        q[k] = (int)((int64_t)n * count[k] / d->n);
        given += q[k];
    }
    while (given < n) { /* the largest remainder n * count % total first */
        int best = -1;
        int64_t best_r = -1;
        for (int k = 0; k < K; k++) {
            int64_t r = (int64_t)n * count[k] % d->n;
            if (q[k] < count[k] && r > best_r && q[k] == (int)((int64_t)n * count[k] / d->n))
                best = k, best_r = r;
        }
        if (best < 0) /* every remainder used: any class with images left */
            for (int k = 0; k < K && best < 0; k++)
                if (q[k] < count[k])
                    best = k;
        q[best]++, given++;
    }
}

/* Moves the images with keep[i] to the front, in order; returns how many. */
static int compact(ds_dataset *d, const uint8_t *keep)
{
    const size_t img = image_bytes(d);
    int m = 0;
    for (int i = 0; i < d->n; i++)
        if (keep[i]) {
            if (m != i) {
                if (d->images)
                    memmove(d->images + (size_t)m * img, d->images + (size_t)i * img, img);
                if (d->index)
                    d->index[m] = d->index[i];
                d->labels[m] = d->labels[i];
            }
            m++;
        }
    return m;
}

void ds_keep_first(ds_dataset *d, int n)
{
    if (d && n > 0 && n < d->n)
        truncate_to(d, n);
}

int ds_limit(ds_dataset *d, int n, nn_error *err)
{
    if (!d || n <= 0 || n >= d->n)
        return NN_OK;
    uint8_t *keep = malloc((size_t)d->n);
    if (!keep)
        return nn_errorf(err, NN_ERR_NOMEM, "cannot allocate the limit of %d images", d->n);
    int count[DS_MAX_CLASSES], q[DS_MAX_CLASSES];
    class_quotas(d, n, count, q);
    for (int i = 0; i < d->n; i++) /* each class's first q[k], in order */
        keep[i] = q[d->labels[i]] > 0 && q[d->labels[i]]-- > 0;
    truncate_to(d, compact(d, keep));
    free(keep);
    return NN_OK;
}

int ds_limit_split(ds_dataset *train, ds_dataset *val, int limit, int n_val, uint64_t seed,
                   nn_error *err)
{
    memset(val, 0, sizeof *val);
    nn_status st = ds_limit(train, limit, err);
    if (st != NN_OK || n_val <= 0)
        return st;
    if (n_val >= train->n)
        return nn_errorf(err, NN_ERR_CONFIG,
                         "data.validation (%d) must be smaller than the %d training images", n_val,
                         train->n);
    return ds_split_validation(train, val, n_val, seed, err);
}

/* val gets the images with pick[i] in order, d keeps the others. */
static int split_picked(ds_dataset *d, ds_dataset *val, int n_val, uint8_t *pick,
                        nn_error *err);

int ds_split_validation(ds_dataset *d, ds_dataset *val, int n_val, uint64_t seed,
                        nn_error *err)
{
    if (!d || !val || d == val)
        return nn_errorf(err, NN_ERR_ARG, "ds_split_validation: need two distinct datasets");
    if (n_val < 0 || n_val >= d->n)
        return nn_errorf(err, NN_ERR_ARG,
                         "%d validation images out of range [0, %d) (the dataset has %d "
                         "images)",
                         n_val, d->n, d->n);
    const int K = d->num_classes;
    int count[DS_MAX_CLASSES], q[DS_MAX_CLASSES];
    uint8_t *pick = calloc((size_t)d->n, 1);
    uint32_t *idx = malloc(sizeof *idx * (size_t)d->n);
    int rc = NN_OK;
    if (!pick || !idx) {
        rc = nn_errorf(err, NN_ERR_NOMEM, "cannot allocate the split of %d images", d->n);
    } else {
        class_quotas(d, n_val, count, q);
        for (int k = 0; k < K; k++) { /* class k: q[k] of its images, drawn */
            uint32_t m = 0;
            for (int i = 0; i < d->n; i++)
                if (d->labels[i] == k)
                    idx[m++] = (uint32_t)i;
            nn_rng r;
            nn_rng_seed_key(&r, seed, NN_STREAM_SPLIT, (uint64_t)k, 0);
            nn_rng_shuffle_u32(&r, idx, m);
            for (int t = 0; t < q[k]; t++)
                pick[idx[t]] = 1;
        }
        rc = split_picked(d, val, n_val, pick, err);
    }
    free(pick), free(idx);
    return rc;
}

static int split_picked(ds_dataset *d, ds_dataset *val, int n_val, uint8_t *pick, nn_error *err)
{
    memset(val, 0, sizeof *val);
    val->c = d->c;
    val->h = d->h;
    val->w = d->w;
    val->num_classes = d->num_classes;
    const size_t img = image_bytes(d);
    if (n_val > 0) {
        val->images = d->images ? malloc((size_t)n_val * img) : NULL;
        val->index = d->index ? malloc((size_t)n_val * sizeof *val->index) : NULL;
        val->labels = malloc((size_t)n_val);
        if ((d->images && !val->images) || (d->index && !val->index) || !val->labels)
            goto nomem;
        for (int i = 0, m = 0; i < d->n; i++)
            if (pick[i]) {
                if (d->images)
                    memcpy(val->images + (size_t)m * img, d->images + (size_t)i * img, img);
                if (d->index)
                    val->index[m] = d->index[i];
                val->labels[m++] = d->labels[i];
            }
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
    for (int i = 0; i < d->n; i++)
        pick[i] = !pick[i];
    if (n_val > 0)
        truncate_to(d, compact(d, pick));
    return NN_OK;
nomem:
    ds_free(val);
    return nn_errorf(err, NN_ERR_NOMEM, "cannot allocate %d validation images", n_val);
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
    free(d->index);
    memset(d, 0, sizeof *d);
}
