/* image_write.c - one image to a PNG or JPEG file (ds_image.h). The
 * encoders write into memory (open_memstream), the bytes then go to the
 * file atomically; libpng and libjpeg report errors by longjmp, so every
 * allocation they may skip lives outside the jump. */
#include "ds_image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "libnn/nn_io.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* 0 on success; f is an open memory stream. */
static int encode_png(FILE *f, const ds_image *img)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 img->ch == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->h; y++)
        png_write_row(png, img->pix + (size_t)y * img->w * img->ch);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
} jpeg_err;

static void on_jpeg_error(j_common_ptr c) { longjmp(((jpeg_err *)c->err)->jump, 1); }

static int encode_jpeg(FILE *f, const ds_image *img, int quality)
{
    struct jpeg_compress_struct c;
    jpeg_err e;
    c.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = on_jpeg_error;
    if (setjmp(e.jump)) {
        jpeg_destroy_compress(&c);
        return -1;
    }
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)img->w, c.image_height = (JDIMENSION)img->h;
    c.input_components = img->ch, c.in_color_space = img->ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = img->pix + (size_t)c.next_scanline * img->w * img->ch;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return 0;
}

int ds_image_write(const char *path, const ds_image *img, int quality, nn_error *err)
{
    if (!img || !img->pix || (img->ch != 1 && img->ch != 3) || img->w < 1 || img->h < 1)
        return nn_errorf(err, NN_ERR_ARG, "%s: no image to write", path);
    int png = ends_with(path, ".png"), jpeg = ends_with(path, ".jpg") || ends_with(path, ".jpeg");
    if (!png && !jpeg)
        return nn_errorf(err, NN_ERR_ARG, "%s: the name must end in .png, .jpg or .jpeg", path);
    if (jpeg && (quality < 1 || quality > 100))
        return nn_errorf(err, NN_ERR_ARG, "%s: JPEG quality %d is not in 1..100", path, quality);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    int bad = png ? encode_png(f, img) : encode_jpeg(f, img, quality);
    bad |= fclose(f) != 0;
    nn_status st = bad ? nn_errorf(err, NN_ERR_NOMEM, "%s: cannot encode the image", path)
                       : nn_write_file_atomic(path, buf, len, err);
    free(buf);
    return st;
}
