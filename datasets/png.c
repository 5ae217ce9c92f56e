/* png.c - decode one PNG with libpng into 8-bit gray or RGB.
 *
 * libpng reports errors by longjmp. The decoding function keeps nothing in
 * locals across setjmp: every pointer it allocates lives in a context struct,
 * so the error path can free it (no -Wclobbered trouble, no leak). libpng's
 * default warning handler prints to stderr; a library must not, so warnings
 * are dropped and errors become the nn_error message. */
#include "ds_png.h"
#include "ds_io.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct {
    char msg[200];     /* libpng's error text                */
    char warn[200];    /* its last warning (explains some errors) */
    uint8_t *pix;      /* (h, w, ch), owned until handed out */
    png_bytep *rows;   /* (h) pointers into pix              */
    int w, h, ch;
    int max_side;
    int too_big;       /* refused by our own size check       */
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Not printed (libraries do not print): kept, because some errors only make
 * sense with the warning before them ("Invalid IHDR data" after "Image width
 * exceeds user limit"). */
static void on_warning(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->warn, sizeof c->warn, "%s", msg ? msg : "");
}

/* 0 on success, -1 after a libpng error (message in c->msg). */
static int decode(png_structp png, png_infop info, FILE *f, png_ctx *c)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, (png_uint_32)c->max_side, (png_uint_32)c->max_side);
    /* Ancillary chunks (text, ICC profile, gamma, ...) do not change the
     * pixels read here: skip them unread, every one but tRNS. Otherwise a
     * forged chunk length makes libpng allocate that much (1.6.39 only warns
     * about a length above its chunk limit, then mallocs it). */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(png, info);

    int color = png_get_color_type(png, info);
    png_set_expand(png);        /* palette -> RGB, gray 1/2/4 -> 8, tRNS -> alpha */
    png_set_scale_16(png);      /* 16 -> 8 bit, rounded                           */
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    c->w = (int)png_get_image_width(png, info);
    c->h = (int)png_get_image_height(png, info);
    c->ch = png_get_channels(png, info);
    int want_ch = (color & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    if (c->ch != want_ch || png_get_bit_depth(png, info) != 8) {
        snprintf(c->msg, sizeof c->msg, "unexpected layout after conversion (%d channels, %d bit)",
                 c->ch, png_get_bit_depth(png, info));
        return -1;
    }
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)c->w * (size_t)c->ch) {
        snprintf(c->msg, sizeof c->msg, "unexpected row size %zu", rowbytes);
        return -1;
    }
    c->pix = malloc(rowbytes * (size_t)c->h);
    c->rows = malloc(sizeof *c->rows * (size_t)c->h);
    if (!c->pix || !c->rows) {
        c->too_big = 1;
        snprintf(c->msg, sizeof c->msg, "cannot allocate %dx%d pixels", c->w, c->h);
        return -1;
    }
    for (int y = 0; y < c->h; y++)
        c->rows[y] = c->pix + (size_t)y * rowbytes;
    png_read_image(png, c->rows);
    png_read_end(png, NULL); /* checks the trailing chunks' CRCs too */
    return 0;
}

int ds_png_read(ds_image *img, const char *path, int max_side, nn_error *err)
{
    memset(img, 0, sizeof *img);
    unsigned char sig[8];
    size_t got;
    FILE *f = ds_fopen_head(path, sig, sizeof sig, &got, err);
    if (!f)
        return NN_ERR_IO;
    if (got < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        fclose(f);
        return nn_errorf(err, NN_ERR_FORMAT,
                         "%s: not a PNG file (no PNG signature in bytes 0..7; only PNG images "
                         "may be in a class folder)",
                         path);
    }

    png_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        fclose(f);
        return nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", path);
    }
    c->max_side = max_side;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = NN_OK;
    if (!png || !info) {
        rc = nn_errorf(err, NN_ERR_NOMEM, "%s: cannot create a libpng reader", path);
    } else if (decode(png, info, f, c) != 0) {
        if (c->too_big)
            rc = nn_errorf(err, NN_ERR_NOMEM, "%s: %s", path, c->msg);
        else if (strstr(c->warn, "user limit"))
            rc = nn_errorf(err, NN_ERR_FORMAT,
                           "%s: image larger than %d pixels per side, refused (%s)", path,
                           max_side, c->warn);
        else
            rc = nn_errorf(err, NN_ERR_FORMAT,
                           "%s: corrupt, truncated or unsupported PNG: %s%s%s%s", path, c->msg,
                           c->warn[0] ? " (" : "", c->warn, c->warn[0] ? ")" : "");
    }
    if (png)
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    fclose(f);
    free(c->rows);
    if (rc == NN_OK) {
        img->w = c->w;
        img->h = c->h;
        img->ch = c->ch;
        img->pix = c->pix;
    } else {
        free(c->pix);
    }
    free(c);
    return rc;
}

int ds_is_png(const unsigned char *b, size_t n)
{
    return n >= 8 && png_sig_cmp(b, 0, 8) == 0;
}
