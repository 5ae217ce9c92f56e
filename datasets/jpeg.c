/* jpeg.c - decode one JPEG with libjpeg-turbo into 8-bit gray or RGB.
 *
 * libjpeg reports fatal errors through error_exit, which must not return:
 * it longjmps back here, as png.c does for libpng, with every allocation in
 * a context struct so the error path frees it. Its messages are formatted
 * into the context, never printed. A warning (libjpeg decodes a truncated or
 * damaged file with one, filling the rest with gray) counts as an error. */
#include "ds_png.h"
#include "ds_io.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr mgr; /* first: libjpeg's pointer is this struct's */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int warned;
    uint8_t *pix;
} jpeg_ctx;

static void on_error(j_common_ptr cinfo)
{
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, c->msg);
    longjmp(c->jump, 1);
}

/* level -1: a warning (corrupt data); >= 0: trace messages, ignored. */
static void on_message(j_common_ptr cinfo, int level)
{
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    if (level < 0 && !c->warned) {
        c->warned = 1;
        (*cinfo->err->format_message)(cinfo, c->msg);
    }
}

int ds_is_jpeg(const unsigned char *b, size_t n)
{
    return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

/* 0 on success, -1 with c->msg set. Keeps nothing in locals across setjmp. */
static int decode(struct jpeg_decompress_struct *d, jpeg_ctx *c, FILE *f, int max_side,
                  ds_image *img)
{
    if (setjmp(c->jump))
        return -1;
    jpeg_create_decompress(d);
    jpeg_stdio_src(d, f);
    jpeg_read_header(d, TRUE);
    if (c->warned)
        return -1;
    if ((int)d->image_width > max_side || (int)d->image_height > max_side) {
        snprintf(c->msg, sizeof c->msg, "image larger than %d pixels per side (%ux%u), refused",
                 max_side, d->image_width, d->image_height);
        return -1;
    }
    if (d->jpeg_color_space == JCS_CMYK || d->jpeg_color_space == JCS_YCCK) {
        snprintf(c->msg, sizeof c->msg, "CMYK JPEG, not supported (convert it to RGB)");
        return -1;
    }
    d->out_color_space = d->num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(d);
    const size_t row = (size_t)d->output_width * (size_t)d->output_components;
    c->pix = malloc(row * d->output_height);
    if (!c->pix) {
        snprintf(c->msg, sizeof c->msg, "cannot allocate %ux%u pixels", d->output_width,
                 d->output_height);
        return -1;
    }
    while (d->output_scanline < d->output_height) {
        JSAMPROW r = c->pix + row * d->output_scanline;
        jpeg_read_scanlines(d, &r, 1);
    }
    jpeg_finish_decompress(d);
    if (c->warned)
        return -1;
    img->w = (int)d->output_width;
    img->h = (int)d->output_height;
    img->ch = d->output_components;
    return 0;
}

int ds_jpeg_read(ds_image *img, const char *path, int max_side, nn_error *err)
{
    memset(img, 0, sizeof *img);
    FILE *f = ds_fopen(path, err);
    if (!f)
        return NN_ERR_IO;
    jpeg_ctx *c = calloc(1, sizeof *c);
    struct jpeg_decompress_struct *d = calloc(1, sizeof *d);
    int rc = NN_OK;
    if (!c || !d) {
        rc = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    } else {
        d->err = jpeg_std_error(&c->mgr);
        c->mgr.error_exit = on_error;
        c->mgr.emit_message = on_message;
        if (decode(d, c, f, max_side, img) != 0)
            rc = nn_errorf(err, NN_ERR_FORMAT, "%s: corrupt, truncated or unsupported JPEG: %s",
                           path, c->msg);
        jpeg_destroy_decompress(d);
    }
    fclose(f);
    if (rc == NN_OK) {
        img->pix = c->pix;
    } else {
        free(c ? c->pix : NULL);
        memset(img, 0, sizeof *img);
    }
    free(d);
    free(c);
    return rc;
}
