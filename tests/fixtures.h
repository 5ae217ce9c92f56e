/* fixtures.h - small generated datasets for the training and CLI tests.
 *
 * "Stripes": an image of class c (of k) has a bright horizontal band whose
 * row depends on c, over low random noise: easy to learn, not trivial
 * (a network must find the band's position), and generated from a seed. */
#ifndef FIXTURES_H
#define FIXTURES_H

#include <criterion/criterion.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "libnn/nn_rng.h"

static inline void fx_stripes(uint8_t *images, uint8_t *labels, int n, int c, int h, int w, int k,
                              uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int label = (int)nn_rng_below(&r, (uint32_t)k);
        int row = (label * h) / k + (int)nn_rng_below(&r, (uint32_t)(h / k > 0 ? h / k : 1));
        labels[i] = (uint8_t)label;
        uint8_t *img = images + (size_t)i * c * h * w;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int v = (int)nn_rng_below(&r, 60);
                    if (y == row)
                        v += 150 + 30 * ch;
                    img[(ch * h + y) * w + x] = (uint8_t)(v > 255 ? 255 : v);
                }
    }
}

/* A labelled image set: images (n, c, h, w) and labels (n), both malloc'd. */
typedef struct {
    uint8_t *images, *labels;
    int n;
} fx_set;

/* n images of fx_stripes in a new fx_set. */
static inline fx_set fx_stripe_set(int n, int c, int h, int w, int k, uint64_t seed)
{
    fx_set s = {malloc((size_t)n * c * h * w), malloc((size_t)n), n};
    fx_stripes(s.images, s.labels, n, c, h, w, k, seed);
    return s;
}

static inline void fx_put_u32be(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    cr_assert_eq(fwrite(b, 1, 4, f), 4);
}

/* Writes DIR/PREFIX-images-idx3-ubyte and DIR/PREFIX-labels-idx1-ubyte
 * (PREFIX "train" or "t10k"): n gray images of h x w and their labels. */
static inline void fx_write_idx(const char *dir, const char *prefix, const uint8_t *images,
                                const uint8_t *labels, int n, int h, int w)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    fx_put_u32be(f, 0x803), fx_put_u32be(f, (uint32_t)n), fx_put_u32be(f, (uint32_t)h),
        fx_put_u32be(f, (uint32_t)w);
    cr_assert_eq(fwrite(images, 1, (size_t)n * h * w, f), (size_t)n * h * w);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    fx_put_u32be(f, 0x801), fx_put_u32be(f, (uint32_t)n);
    cr_assert_eq(fwrite(labels, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

/* fx_write_idx of n stripes images of h x w, 10 classes. */
static inline void fx_write_idx_pair(const char *dir, const char *prefix, int n, int h, int w,
                                     uint64_t seed)
{
    uint8_t *images = malloc((size_t)n * h * w), *labels = malloc((size_t)n);
    cr_assert(images && labels);
    fx_stripes(images, labels, n, 1, h, w, 10, seed);
    fx_write_idx(dir, prefix, images, labels, n, h, w);
    free(images), free(labels);
}

/* Writes len bytes of data as the file path (asserting every step). */
static inline void fx_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* A fresh temporary directory (removed by fx_rmtree). */
static inline void fx_tmpdir(char *out, size_t size)
{
    snprintf(out, size, "/tmp/iotcnn-test-XXXXXX");
    cr_assert_not_null(mkdtemp(out));
}

#include "libnn/nn_exec.h"

/* The logits lg (n, classes) of ex's last forward pass as a malloc'd copy;
 * frees ex. */
static inline float *fx_take_logits(nn_exec *ex, const float *lg, int n, int classes)
{
    size_t k = (size_t)n * classes;
    float *out = malloc(k * sizeof *out);
    cr_assert_not_null(out);
    memcpy(out, lg, k * sizeof *out);
    nn_exec_free(ex);
    return out;
}

/* For runs that must agree to the bit: the first call keeps a copy of
 * v[0..n) in *first (the caller frees it), each later one expects the same
 * bytes. */
static inline void fx_expect_same_run(float **first, const float *v, size_t n, const char *what)
{
    if (!*first) {
        *first = malloc(n * sizeof(float));
        cr_assert_not_null(*first);
        memcpy(*first, v, n * sizeof(float));
    } else {
        cr_assert_eq(memcmp(*first, v, n * sizeof(float)), 0, "%s", what);
    }
}

/* "dir/name" in one of eight rotating buffers: up to eight such paths may
 * be in use at once (one call's arguments, say). */
static inline const char *fx_path(const char *dir, const char *name)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static inline void fx_rmtree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Writes a PNG; rows are given packed as the format stores them. */
static inline void fx_write_png(const char *path, int w, int h, int color_type, int depth,
                                const uint8_t *data, size_t rowbytes, const png_color *pal,
                                int npal, int interlace)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(png && info);
    if (setjmp(png_jmpbuf(png)))
        cr_assert_fail("libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal)
        png_set_PLTE(png, info, pal, npal);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++)
            png_write_row(png, data + (size_t)y * rowbytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* DIR/CLASS/NNNN.png for n stripes images (gray, h x w, 10 classes: the
 * same images and labels as fx_write_idx_pair with this seed). */
static inline void fx_write_png_dir(const char *dir, int n, int h, int w, uint64_t seed)
{
    uint8_t *images = malloc((size_t)n * h * w), *labels = malloc((size_t)n);
    cr_assert(images && labels);
    fx_stripes(images, labels, n, 1, h, w, 10, seed);
    char path[1024];
    cr_assert_eq(mkdir(dir, 0777), 0, "cannot create %s", dir);
    for (int c = 0; c < 10; c++) {
        snprintf(path, sizeof path, "%s/%d", dir, c);
        cr_assert_eq(mkdir(path, 0777), 0);
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%d/%04d.png", dir, labels[i], i);
        fx_write_png(path, w, h, PNG_COLOR_TYPE_GRAY, 8, images + (size_t)i * h * w, (size_t)w,
                     NULL, 0, 0);
    }
    free(images), free(labels);
}

#endif
