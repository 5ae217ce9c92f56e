/* ds_png.h - internal to datasets/ (and its tools): one PNG decoded to 8-bit
 * gray or RGB with libpng, errors as nn_status + message, never printed.
 *
 * Palette, gray < 8 bit and tRNS are expanded, 16-bit samples are scaled to
 * 8 bit (v * 255 / 65535, rounded), alpha is dropped. Gray and gray+alpha
 * images come out with ch = 1, every other colour type with ch = 3. */
#ifndef DS_PNG_H
#define DS_PNG_H

#include <stdint.h>

#include "libnn/nn_error.h"

typedef struct {
    int w, h;     /* pixels                                      */
    int ch;       /* 1 (gray) or 3 (RGB)                         */
    uint8_t *pix; /* (h, w, ch) interleaved, as stored in the PNG */
} ds_png_image;

/* Decodes path into img (free with ds_png_free). A file that does not start
 * with the PNG signature is NN_ERR_FORMAT "not a PNG file"; a side longer
 * than max_side pixels is refused before any pixel memory is allocated. */
int ds_png_read(ds_png_image *img, const char *path, int max_side, nn_error *err);

void ds_png_free(ds_png_image *img);

#endif
