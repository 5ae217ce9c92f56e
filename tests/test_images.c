/* test_images.c - one image file of either format (datasets/image.c,
 * png.c, jpeg.c) and its conversion to a network's shape (ds_image_fit):
 * JPEG decoding, truncated and foreign files, the resize filter's values
 * by hand, channel conversion, and folders mixing PNG, JPEG and sizes. */
#include <criterion/criterion.h>
#include <jpeglib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/ds.h"
#include "datasets/ds_image.h"
#include "fixtures.h"

static char g_dir[64];
static void setup(void) { fx_tmpdir(g_dir, sizeof g_dir); }
static void teardown(void) { fx_rmtree(g_dir); }
TestSuite(images, .init = setup, .fini = teardown);

/* Path of name inside the fixture folder. */
static const char *P(const char *name) { return fx_path(g_dir, name); }

/* A JPEG of (h, w, ch) interleaved pixels at quality q. */
static void write_jpeg(const char *path, int w, int h, int ch, const uint8_t *pix, int q)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = ch, c.in_color_space = ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, q, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(pix + (size_t)c.next_scanline * w * ch);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

static long file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return (long)st.st_size;
}

static void fill(uint8_t *p, size_t n, const uint8_t *v, int ch)
{
    for (size_t j = 0; j < n; j++)
        memcpy(p + j * ch, v, (size_t)ch);
}

Test(images, jpeg_rgb_and_gray_decode_to_their_pixels)
{
    uint8_t rgb[16 * 16 * 3], gray[8 * 8];
    fill(rgb, 256, (const uint8_t[]){200, 100, 50}, 3);
    memset(gray, 77, sizeof gray);
    write_jpeg(P("c.jpg"), 16, 16, 3, rgb, 100);
    write_jpeg(P("g.jpeg"), 8, 8, 1, gray, 90);
    ds_image im;
    nn_error err = {{0}};
    cr_assert_eq(ds_image_read(&im, P("c.jpg"), 4096, &err), NN_OK, "%s", err.msg);
    cr_assert(im.w == 16 && im.h == 16 && im.ch == 3);
    for (int j = 0; j < 16 * 16 * 3; j++) /* flat colour: only YCbCr rounding */
        cr_assert(abs(im.pix[j] - rgb[j]) <= 2, "pixel %d: %d vs %d", j, im.pix[j], rgb[j]);
    ds_image_free(&im);
    cr_assert_eq(ds_image_read(&im, P("g.jpeg"), 4096, &err), NN_OK, "%s", err.msg);
    cr_assert(im.w == 8 && im.h == 8 && im.ch == 1);
    for (int j = 0; j < 64; j++)
        cr_assert_eq(im.pix[j], 77);
    ds_image_free(&im);
    cr_assert_eq(ds_image_read(&im, P("g.jpeg"), 7, &err), NN_ERR_FORMAT); /* side > 7 */
    cr_assert_not_null(strstr(err.msg, "larger than 7 pixels"), "%s", err.msg);
    cr_assert_null(im.pix);
}

Test(images, truncated_jpeg_and_foreign_files_are_errors_naming_them)
{
    uint8_t px[32 * 32 * 3];
    for (size_t j = 0; j < sizeof px; j++)
        px[j] = (uint8_t)(j * 37 % 251);
    write_jpeg(P("t.jpg"), 32, 32, 3, px, 90);
    cr_assert_eq(truncate(P("t.jpg"), file_size(P("t.jpg")) / 2), 0);
    ds_image im;
    nn_error err = {{0}};
    cr_assert_eq(ds_image_read(&im, P("t.jpg"), 4096, &err), NN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, P("t.jpg")), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "corrupt, truncated or unsupported JPEG"), "%s", err.msg);
    cr_assert_null(im.pix);
    FILE *f = fopen(P("x.gif"), "wb");
    fputs("GIF89a....", f);
    fclose(f);
    cr_assert_eq(ds_image_read(&im, P("x.gif"), 4096, &err), NN_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "neither a PNG nor a JPEG"), "%s", err.msg);
    cr_assert_eq(ds_image_read(&im, P("missing.png"), 4096, &err), NN_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "missing.png"), "%s", err.msg);
}

Test(images, resize_values_by_hand)
{
    /* 4 -> 2 wide: the filter's support is 2 source pixels each side of
     * output centres 1.0 and 3.0, weights (.75, .75, .25) / 1.75:
     * row (0, 0, 70, 70) -> (10, 60); the height 1 -> 1 is kept */
    uint8_t row[4] = {0, 0, 70, 70}, out[2];
    ds_image im = {4, 1, 1, row};
    nn_error err = {{0}};
    cr_assert_eq(ds_image_fit(&im, 1, 1, 2, out, &err), NN_OK, "%s", err.msg);
    cr_assert(out[0] == 10 && out[1] == 60, "%d %d", out[0], out[1]);
    /* the same size is a copy; a constant image stays constant at any size */
    uint8_t same[4];
    cr_assert_eq(ds_image_fit(&im, 1, 1, 4, same, &err), NN_OK);
    cr_assert_arr_eq(same, row, 4);
    uint8_t flat[5 * 7], big[13 * 3];
    memset(flat, 123, sizeof flat);
    ds_image fl = {7, 5, 1, flat};
    cr_assert_eq(ds_image_fit(&fl, 1, 3, 13, big, &err), NN_OK);
    for (size_t j = 0; j < sizeof big; j++)
        cr_assert_eq(big[j], 123);
}

Test(images, channels_convert_by_bt601_luma_and_copy)
{
    uint8_t rgb[2 * 3] = {255, 0, 0, 10, 200, 30}, g[2];
    ds_image im = {2, 1, 3, rgb};
    nn_error err = {{0}};
    cr_assert_eq(ds_image_fit(&im, 1, 1, 2, g, &err), NN_OK);
    cr_assert_eq(g[0], (299 * 255 + 500) / 1000);                  /* 76  */
    cr_assert_eq(g[1], (299 * 10 + 587 * 200 + 114 * 30 + 500) / 1000); /* 124 */
    uint8_t gray[2] = {9, 250}, planes[6];
    ds_image gi = {2, 1, 1, gray};
    cr_assert_eq(ds_image_fit(&gi, 3, 1, 2, planes, &err), NN_OK);
    const uint8_t want[6] = {9, 250, 9, 250, 9, 250};
    cr_assert_arr_eq(planes, want, 6);
    cr_assert_eq(ds_image_fit(&gi, 2, 1, 2, planes, &err), NN_ERR_ARG);
}

Test(images, a_folder_mixing_png_jpeg_and_sizes_loads_at_the_requested_shape)
{
    cr_assert_eq(mkdir(P("set"), 0777), 0);
    cr_assert_eq(mkdir(P("set/cat"), 0777), 0);
    cr_assert_eq(mkdir(P("set/dog"), 0777), 0);
    uint8_t a[20 * 30 * 3], b[6 * 6];
    fill(a, 600, (const uint8_t[]){40, 80, 120}, 3);
    memset(b, 200, sizeof b);
    write_jpeg(P("set/cat/1.jpg"), 30, 20, 3, a, 100);
    fx_write_png(P("set/dog/2.png"), 6, 6, 0 /* gray */, 8, b, 6, NULL, 0, 0);
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_image_dir(&d, P("set"), 3, 8, 8, &err), NN_OK, "%s", err.msg);
    cr_assert(d.n == 2 && d.c == 3 && d.h == 8 && d.w == 8 && d.num_classes == 2);
    cr_assert_str_eq(d.class_names[0], "cat");
    cr_assert(d.labels[0] == 0 && d.labels[1] == 1);
    for (int k = 0; k < 3; k++) /* the flat JPEG stays flat, each plane its colour */
        for (int j = 0; j < 64; j++)
            cr_assert(abs(d.images[k * 64 + j] - (40 + 40 * k)) <= 2, "plane %d: %d", k,
                      d.images[k * 64 + j]);
    for (int j = 0; j < 3 * 64; j++) /* gray PNG copied to three planes */
        cr_assert_eq(d.images[3 * 64 + j], 200);
    ds_free(&d);
    /* without a shape: the first image (cat/1.jpg, 30x20, RGB) sets it */
    cr_assert_eq(ds_load_png_dir(&d, P("set"), &err), NN_OK, "%s", err.msg);
    cr_assert(d.c == 3 && d.h == 20 && d.w == 30, "%dx%dx%d", d.c, d.h, d.w);
    ds_free(&d);
    cr_assert_eq(ds_load_image_dir(&d, P("set"), 2, 8, 8, &err), NN_ERR_ARG);
}
