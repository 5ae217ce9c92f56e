/* image.c - one image file of either format, and its conversion to a
 * network's input shape (the rules are in ds_image.h). */
#include "ds_image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_io.h"
#include "ds_png.h"

int ds_image_read(ds_image *img, const char *path, int max_side, nn_error *err)
{
    memset(img, 0, sizeof *img);
    unsigned char head[8];
    size_t got;
    if (ds_read_head(path, head, sizeof head, &got, err))
        return NN_ERR_IO;
    if (ds_is_png(head, got))
        return ds_png_read(img, path, max_side, err);
    if (ds_is_jpeg(head, got))
        return ds_jpeg_read(img, path, max_side, err);
    return nn_errorf(err, NN_ERR_FORMAT,
                     "%s: neither a PNG nor a JPEG file (no PNG signature or JPEG start in its "
                     "first bytes)",
                     path);
}

void ds_image_free(ds_image *img)
{
    if (!img)
        return;
    free(img->pix);
    memset(img, 0, sizeof *img);
}

/* The weights of a triangle filter from n_in samples to n_out: output i
 * takes taps first[i] .. first[i] + count - 1 with weights w[i * taps ..],
 * normalized to sum 1. Returns the taps per output, or 0 when out of memory
 * (*first and *w then NULL). */
static int filter_weights(int n_in, int n_out, int **first, double **w)
{
    const double scale = (double)n_in / n_out, support = scale > 1 ? scale : 1;
    const int taps = (int)ceil(support) * 2 + 1;
    *first = malloc(sizeof **first * (size_t)n_out);
    *w = calloc((size_t)n_out * (size_t)taps, sizeof **w);
    if (!*first || !*w) {
        free(*first), free(*w);
        *first = NULL, *w = NULL;
        return 0;
    }
    for (int i = 0; i < n_out; i++) {
        const double centre = (i + 0.5) * scale;
        int lo = (int)floor(centre - support);
        if (lo < 0)
            lo = 0;
        double sum = 0, *wi = *w + (size_t)i * taps;
        for (int t = 0; t < taps && lo + t < n_in; t++) {
            double d = fabs((lo + t + 0.5 - centre) / support);
            wi[t] = d < 1 ? 1 - d : 0;
            sum += wi[t];
        }
        for (int t = 0; t < taps; t++)
            wi[t] /= sum;
        (*first)[i] = lo;
    }
    return taps;
}

static uint8_t to_u8(double v)
{
    v = floor(v + 0.5);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One plane: src (sh, sw) -> dst (h, w), rows then columns. */
static int resize_plane(const uint8_t *src, int sh, int sw, uint8_t *dst, int h, int w)
{
    if (sh == h && sw == w) {
        memcpy(dst, src, (size_t)h * (size_t)w);
        return 0;
    }
    int *fx = NULL, *fy = NULL;
    double *wx = NULL, *wy = NULL;
    const int tx = filter_weights(sw, w, &fx, &wx), ty = filter_weights(sh, h, &fy, &wy);
    double *mid = malloc(sizeof *mid * (size_t)sh * (size_t)w);
    int rc = -1;
    if (tx && ty && mid) {
        for (int y = 0; y < sh; y++) /* horizontal: (sh, sw) -> (sh, w) */
            for (int x = 0; x < w; x++) {
                double a = 0;
                for (int t = 0; t < tx && fx[x] + t < sw; t++)
                    a += wx[(size_t)x * tx + t] * src[(size_t)y * sw + fx[x] + t];
                mid[(size_t)y * w + x] = a;
            }
        for (int y = 0; y < h; y++) /* vertical: (sh, w) -> (h, w) */
            for (int x = 0; x < w; x++) {
                double a = 0;
                for (int t = 0; t < ty && fy[y] + t < sh; t++)
                    a += wy[(size_t)y * ty + t] * mid[(size_t)(fy[y] + t) * w + x];
                dst[(size_t)y * w + x] = to_u8(a);
            }
        rc = 0;
    }
    free(fx), free(wx), free(fy), free(wy), free(mid);
    return rc;
}

int ds_image_fit(const ds_image *src, int c, int h, int w, uint8_t *dst, nn_error *err)
{
    if (!src || !src->pix || (src->ch != 1 && src->ch != 3) || (c != 1 && c != 3) || h < 1 ||
        w < 1 || !dst)
        return nn_errorf(err, NN_ERR_ARG, "ds_image_fit: bad image or shape (%d channels, %dx%d)",
                         c, w, h);
    const size_t n = (size_t)src->h * (size_t)src->w;
    uint8_t *planes = malloc(n * (size_t)c);
    if (!planes)
        return nn_errorf(err, NN_ERR_NOMEM, "cannot allocate a %dx%d image", src->w, src->h);
    for (size_t j = 0; j < n; j++) { /* channels first, at the source's size */
        const uint8_t *p = src->pix + j * (size_t)src->ch;
        if (c == 1 && src->ch == 3)
            planes[j] = (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
        else
            for (int k = 0; k < c; k++)
                planes[(size_t)k * n + j] = p[src->ch == 1 ? 0 : k];
    }
    int rc = NN_OK;
    for (int k = 0; k < c && rc == NN_OK; k++)
        if (resize_plane(planes + (size_t)k * n, src->h, src->w, dst + (size_t)k * h * w, h, w))
            rc = nn_errorf(err, NN_ERR_NOMEM, "cannot allocate the resize of a %dx%d image",
                           src->w, src->h);
    free(planes);
    return rc;
}
