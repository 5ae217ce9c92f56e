/* iotcnn augment: a PNG grid of augmented training images, to see what the
 * model is fed. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_io.h"
#include "cli.h"
#include "commands.h"
#include "data.h"

static const char usage[] =
    "Usage: iotcnn augment -c CONFIG -o GRID.png [--n N] [--seed S] [--epoch E]\n"
    "\n"
    "Writes a grid of the first N training images of CONFIG's dataset as its\n"
    "augment block transforms them in epoch E (the same draws training makes\n"
    "with that seed), so a person can see what the model is fed.\n"
    "\n"
    "  -c, --config CONFIG  JSON run configuration\n"
    "  -o, --output FILE    PNG to write (atomically)\n"
    "      --n N            images in the grid (default 64)\n"
    "      --seed S         overrides train.seed\n"
    "      --epoch E        the epoch whose draws to show (default 1)\n" CLI_EXIT_HELP;

#define GAP 2        /* pixels between tiles */
#define GAP_VALUE 96 /* gray of the gaps     */

typedef struct {
    const char *config, *output;
    int n, epoch;
    long long seed;
} augment_opts;

static void parse_opts(augment_opts *o, int argc, char **argv)
{
    *o = (augment_opts){NULL, NULL, 64, 1, -1};
    cli_args a;
    cli_args_init(&a, "augment", argc, argv);
    const char *arg;
    while ((arg = cli_next(&a))) {
        if (cli_flag(arg, "-h", "--help")) {
            fputs(usage, stdout);
            exit(0);
        } else if (cli_opt(&a, arg, "-c", "--config")) {
            o->config = a.value;
        } else if (cli_opt(&a, arg, "-o", "--output")) {
            o->output = a.value;
        } else if (cli_opt(&a, arg, NULL, "--n")) {
            o->n = (int)cli_int(&a, "--n", 1, 4096);
        } else if (cli_opt(&a, arg, NULL, "--seed")) {
            o->seed = cli_int(&a, "--seed", 0, (long long)1 << 62);
        } else if (cli_opt(&a, arg, NULL, "--epoch")) {
            o->epoch = (int)cli_int(&a, "--epoch", 1, 100000);
        } else {
            cli_usage_error("augment", "unknown argument '%s'", arg);
        }
    }
    if (!o->config || !o->output)
        cli_usage_error("augment", "a config (-c) and an output file (-o) are required");
}

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

int cmd_augment(int argc, char **argv)
{
    augment_opts o;
    parse_opts(&o, argc, argv);
    nn_error err = {{0}};
    cfg_config cfg;
    nn_status st = cfg_load(&cfg, NULL, o.config, &err);
    if (st != NN_OK)
        cli_fail("augment", st, &err);
    ds_dataset d = {0};
    if ((st = data_load_split(&d, &cfg.data, 1, &err)) != NN_OK)
        cli_fail("augment", st, &err);
    if (d.c != 1 && d.c != 3) {
        nn_errorf(&err, NN_ERR_ARG, "%s: a grid needs gray or RGB images; these have %d channels",
                  cfg.data.dir, d.c);
        cli_fail("augment", NN_ERR_ARG, &err);
    }
    if (!aug_enabled(&cfg.augment))
        fprintf(stderr, "iotcnn augment: %s has no augment block: the grid shows the images as "
                        "they are\n", o.config);
    int n = o.n < d.n ? o.n : d.n;
    int cols = (int)ceil(sqrt((double)n)), rows = (n + cols - 1) / cols;
    int gw = cols * (d.w + GAP) + GAP, gh = rows * (d.h + GAP) + GAP;
    size_t plane = (size_t)d.h * d.w, size = d.c * plane;
    uint8_t *grid = malloc((size_t)gw * gh * d.c), *img = malloc(size);
    if (!grid || !img) {
        nn_errorf(&err, NN_ERR_NOMEM, "out of memory for a %dx%d grid", gw, gh);
        cli_fail("augment", NN_ERR_NOMEM, &err);
    }
    memset(grid, GAP_VALUE, (size_t)gw * gh * d.c);
    data_augment aug = {cfg.augment, o.seed >= 0 ? (uint64_t)o.seed : cfg.train.seed, d.c, d.h,
                        d.w};
    for (int i = 0; i < n; i++) {
        data_augment_image(&aug, img, d.images + (size_t)i * size, (uint64_t)o.epoch,
                           (uint64_t)i, 0);
        int x0 = GAP + (i % cols) * (d.w + GAP), y0 = GAP + (i / cols) * (d.h + GAP);
        for (int y = 0; y < d.h; y++)
            for (int x = 0; x < d.w; x++)
                for (int ch = 0; ch < d.c; ch++) /* planar -> interleaved */
                    grid[((size_t)(y0 + y) * gw + x0 + x) * d.c + ch] =
                        img[ch * plane + (size_t)y * d.w + x];
    }
    nn_wbuf w;
    nn_wbuf_init(&w);
    st = encode_png(&w, grid, gw, gh, d.c, &err);
    if (st == NN_OK)
        st = nn_wbuf_status(&w, o.output, &err);
    if (st == NN_OK)
        st = nn_write_file_atomic(o.output, w.data, w.len, &err);
    if (st != NN_OK)
        cli_fail("augment", st, &err);
    fprintf(stderr, "iotcnn augment: %d images of %s (epoch %d) -> %s (%dx%d)\n", n,
            cfg.data.dataset, o.epoch, o.output, gw, gh);
    nn_wbuf_free(&w);
    free(grid), free(img);
    ds_free(&d);
    return 0;
}
