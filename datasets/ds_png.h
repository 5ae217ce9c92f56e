/* ds_png.h - internal to datasets/ (and its tools): the decoders under
 * ds_image_read. One PNG decoded to 8-bit gray or RGB with libpng, errors as
 * nn_status + message, never printed.
 *
 * Palette, gray < 8 bit and tRNS are expanded, 16-bit samples are scaled to
 * 8 bit (v * 255 / 65535, rounded), alpha is dropped. Gray and gray+alpha
 * images come out with ch = 1, every other colour type with ch = 3. */
#ifndef DS_PNG_H
#define DS_PNG_H

#include <stddef.h>

#include "ds_image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Decodes path into img (free with ds_image_free). A file that does not
 * start with the PNG signature is NN_ERR_FORMAT "not a PNG file"; a side
 * longer than max_side pixels is refused before any pixel memory is
 * allocated. */
int ds_png_read(ds_image *img, const char *path, int max_side, nn_error *err);

/* The same for a JPEG file (datasets/jpeg.c; ds_image.h has the rules). */
int ds_jpeg_read(ds_image *img, const char *path, int max_side, nn_error *err);

/* 1 if the first bytes b[0..n) are a PNG signature / a JPEG start. */
int ds_is_png(const unsigned char *b, size_t n);
int ds_is_jpeg(const unsigned char *b, size_t n);

#ifdef __cplusplus
}
#endif

#endif
