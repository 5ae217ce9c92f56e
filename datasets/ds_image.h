/* ds_image.h - one image file (PNG or JPEG) decoded to 8-bit pixels, and
 * its conversion to a network's input shape. Errors as nn_status + message,
 * never printed.
 *
 * Decoding: PNG through libpng (ds_png.h says how each colour type comes
 * out), JPEG through libjpeg-turbo (baseline and progressive; gray stays
 * gray, YCbCr becomes RGB; CMYK is refused). The format is told by the
 * file's first bytes, not its name. A JPEG that libjpeg decodes only with a
 * warning (truncated, corrupt entropy data) is an error: a data set must
 * not train on half-gray images.
 *
 * Conversion (ds_image_fit), in this order:
 *   channels  gray -> RGB copies the plane; RGB -> gray is ITU-R BT.601
 *             luma, (299 R + 587 G + 114 B + 500) / 1000;
 *   size      separable triangle (bilinear) filter whose support widens
 *             with the shrink factor, so shrinking averages every source
 *             pixel instead of skipping some (the "bilinear, antialiased"
 *             resize of PIL and TensorFlow); pixel centres at +0.5;
 *             rounded to nearest, clamped to 0..255. The same size is an
 *             exact copy. */
#ifndef DS_IMAGE_H
#define DS_IMAGE_H

#include <stdint.h>

#include "libnn/nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int w, h;     /* pixels                                  */
    int ch;       /* 1 (gray) or 3 (RGB)                     */
    uint8_t *pix; /* (h, w, ch) interleaved, as in the file  */
} ds_image;

/* Decodes path (PNG or JPEG) into img (free with ds_image_free). A side
 * longer than max_side pixels is refused before pixel memory is allocated;
 * any other file is NN_ERR_FORMAT naming the formats read. */
int ds_image_read(ds_image *img, const char *path, int max_side, nn_error *err);

/* Writes src as c (1 or 3) planes of h x w pixels (CHW) into dst. */
int ds_image_fit(const ds_image *src, int c, int h, int w, uint8_t *dst, nn_error *err);

void ds_image_free(ds_image *img);

/* Writes img to path as PNG (a name ending in .png) or JPEG (.jpg, .jpeg;
 * quality 1..100), atomically (nn_write_file_atomic). Errors name the path. */
int ds_image_write(const char *path, const ds_image *img, int quality, nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
