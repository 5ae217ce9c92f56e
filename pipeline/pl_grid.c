/* pl_grid.c - a PNG grid of augmented training images (pl_grid.h). */
#include "pl_grid.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_io.h"
#include "pl_data.h"

#define GAP 2        /* pixels between tiles */
#define GAP_VALUE 96 /* gray of the gaps     */

static void png_to_wbuf(png_structp png, png_bytep data, png_size_t len)
{
    nn_wbuf_bytes(png_get_io_ptr(png), data, len);
}

static void png_flush_nothing(png_structp png) { (void)png; }

/* Encodes an interleaved 8-bit image (gray or RGB) as PNG into w. */
static nn_status encode_png(nn_wbuf *w, const uint8_t *px, int width, int height, int channels,
                            nn_error *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory encoding the PNG");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return nn_errorf(err, NN_ERR_NOMEM, "libpng failed encoding the grid");
    }
    png_set_write_fn(png, w, png_to_wbuf, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, px + (size_t)y * width * channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return NN_OK;
}

/* The tiles, augmented, into grid (interleaved, r->width x r->height). */
static void fill(uint8_t *grid, uint8_t *img, const ds_dataset *d, const pl_augment *aug,
                 const pl_grid_opts *o, const pl_grid_result *r)
{
    int cols = (int)ceil(sqrt((double)r->n)), gw = r->width;
    size_t plane = (size_t)d->h * d->w, size = d->c * plane;
    memset(grid, GAP_VALUE, (size_t)r->width * r->height * d->c);
    for (int i = 0; i < r->n; i++) {
        pl_augment_image((void *)aug, img, d->images + (size_t)i * size, (uint64_t)o->epoch,
                         (uint64_t)i, 0);
        int x0 = GAP + (i % cols) * (d->w + GAP), y0 = GAP + (i / cols) * (d->h + GAP);
        for (int y = 0; y < d->h; y++)
            for (int x = 0; x < d->w; x++)
                for (int ch = 0; ch < d->c; ch++) /* planar -> interleaved */
                    grid[((size_t)(y0 + y) * gw + x0 + x) * d->c + ch] =
                        img[ch * plane + (size_t)y * d->w + x];
    }
}

static nn_status write_grid(const ds_dataset *d, const cfg_config *cfg, const pl_grid_opts *o,
                            pl_grid_result *r, nn_error *err)
{
    r->n = o->n < d->n ? o->n : d->n;
    int cols = (int)ceil(sqrt((double)r->n)), rows = (r->n + cols - 1) / cols;
    r->width = cols * (d->w + GAP) + GAP, r->height = rows * (d->h + GAP) + GAP;
    uint8_t *grid = malloc((size_t)r->width * r->height * d->c);
    uint8_t *img = malloc((size_t)d->c * d->h * d->w);
    nn_status st = NN_OK;
    if (!grid || !img)
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory for a %dx%d grid", r->width, r->height);
    pl_augment aug = {cfg->augment, o->seed, d->c, d->h, d->w};
    nn_wbuf w;
    nn_wbuf_init(&w);
    if (st == NN_OK) {
        fill(grid, img, d, &aug, o, r);
        st = encode_png(&w, grid, r->width, r->height, d->c, err);
    }
    if (st == NN_OK)
        st = nn_wbuf_status(&w, o->output, err);
    if (st == NN_OK)
        st = nn_write_file_atomic(o->output, w.data, w.len, err);
    nn_wbuf_free(&w);
    free(grid), free(img);
    return st;
}

nn_status pl_grid(const cfg_config *cfg, const pl_grid_opts *o, pl_grid_result *r,
                  nn_error *err)
{
    memset(r, 0, sizeof *r);
    r->augmented = aug_enabled(&cfg->augment);
    ds_dataset d = {0};
    nn_status st = nn_check_writable(o->output, err); /* before any work */
    if (st == NN_OK)
        st = pl_data_load_split(&d, &cfg->data, 1, NULL, err);
    if (st == NN_OK && d.c != 1 && d.c != 3)
        st = nn_errorf(err, NN_ERR_ARG,
                       "%s: a grid needs gray or RGB images; these have %d channels",
                       cfg->data.dir, d.c);
    if (st == NN_OK)
        st = write_grid(&d, cfg, o, r, err);
    ds_free(&d);
    return st;
}
