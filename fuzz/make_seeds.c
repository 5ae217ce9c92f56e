/* make_seeds.c - writes the seed corpora of the fuzz targets
 * (fuzz/corpus/TARGET/seed-*), deterministically: `make fuzz-seeds`.
 *
 * Each seed is a small valid input in the target's input format (control
 * byte, parts; fuzz/fz_util.h), made with the library's own writers:
 *   iotc      .iotc files of generated models (fz_gen.h) and of models the
 *             quantizer built from small float networks (4 and 8 bits,
 *             pruned weights for the sparse encodings)
 *   ckpt      checkpoints: bare, with SGD state and counters and a config,
 *             with AdamW state; residual add and batch norm included
 *   config    the shipped configs (copied by the Makefile); the small
 *             configs with prune, quantize and augment blocks beside them
 *             (hand-*.json) are written by hand
 *   idx       image/label pairs, plain and gzip
 *   cifar     one and two records, plain and gzip, one and two files
 *   pngdir    PNGs of every colour type and depth (gray 1/8/16 bit, gray +
 *             alpha, RGB, RGBA, palette with tRNS, interlaced), one to four
 *             per folder tree
 *   qdiff, quantize  generator inputs: fixed pseudo-random byte strings
 * Inputs the fuzzers found to crash are kept beside these as regress-*. */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/ckpt.h"
#include "format/iotc.h"
#include "libnn/nn_io.h"
#include "libnn/nn_rng.h"
#include "quantize/quantize.h"
#include "fz_gen.h"
#include "fz_util.h"

static const char *out_dir;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, msg);
    exit(1);
}

static void put(const char *target, const char *name, const void *data, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s/seed-%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        die(path, "cannot write");
}

/* A control byte, then parts (each but the last preceded by a u16 length). */
static void put_parts(const char *target, const char *name, uint8_t ctrl, int n,
                      const uint8_t *const *part, const size_t *len)
{
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_wbuf_u8(&w, ctrl);
    for (int k = 0; k < n; k++) {
        if (k < n - 1) {
            if (len[k] > 0xffff)
                die(name, "part too long");
            nn_wbuf_u8(&w, (uint8_t)len[k]);
            nn_wbuf_u8(&w, (uint8_t)(len[k] >> 8));
        }
        nn_wbuf_bytes(&w, part[k], len[k]);
    }
    put(target, name, w.data, w.len);
    nn_wbuf_free(&w);
}

static void put_one(const char *target, const char *name, uint8_t ctrl, const void *data,
                    size_t n)
{
    const uint8_t *p = data;
    put_parts(target, name, ctrl, 1, &p, &n);
}

static uint8_t *pseudo_bytes(size_t n, uint64_t seed)
{
    uint8_t *b = malloc(n);
    nn_rng r;
    nn_rng_seed(&r, seed);
    nn_rng_bytes(&r, b, n);
    return b;
}

/* ---- quantized models ------------------------------------------------------ */

static void iotc_seed(const char *name, iotc_model *f, uint8_t ctrl)
{
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_error err;
    if (iotc_encode(f, &w, &err) != NN_OK)
        die(name, err.msg);
    put_one("iotc", name, ctrl, w.data, w.len);
    nn_wbuf_free(&w);
}

static nn_layer_spec layer(nn_layer_type t, int input)
{
    nn_layer_spec l;
    nn_layer_spec_defaults(&l, t);
    l.input = input;
    return l;
}

/* conv-bn-relu, conv, add (residual), maxpool, dense: 1x8x8, 4 classes. */
static void small_spec(nn_model_spec *s)
{
    memset(s, 0, sizeof *s);
    s->in_c = 1, s->in_h = 8, s->in_w = 8, s->num_classes = 4;
    int n = 0;
    s->layers[n] = layer(NN_LAYER_CONV2D, n - 1);
    s->layers[n].out_channels = 4, s->layers[n].kernel = 3, s->layers[n].pad = 1, n++;
    s->layers[n] = layer(NN_LAYER_BATCHNORM, n - 1), n++;
    s->layers[n] = layer(NN_LAYER_RELU, n - 1), n++;
    snprintf(s->layers[n - 1].name, NN_NAME_MAX, "a");
    s->layers[n] = layer(NN_LAYER_CONV2D, n - 1);
    s->layers[n].out_channels = 4, s->layers[n].kernel = 3, s->layers[n].pad = 1, n++;
    s->layers[n] = layer(NN_LAYER_ADD, n - 1), s->layers[n].input2 = 2, n++;
    s->layers[n] = layer(NN_LAYER_MAXPOOL, n - 1), n++;
    s->layers[n] = layer(NN_LAYER_FLATTEN, n - 1), n++;
    s->layers[n] = layer(NN_LAYER_DENSE, n - 1), s->layers[n].units = 4, n++;
    s->n_layers = n;
}

static void small_model(nn_model *m, uint64_t seed, double zero_share)
{
    nn_model_spec s;
    small_spec(&s);
    nn_error err;
    if (nn_model_build(m, &s, &err) != NN_OK)
        die("small model", err.msg);
    nn_model_init_params(m, NN_INIT_HE, seed);
    nn_rng r;
    nn_rng_seed(&r, seed + 1);
    for (size_t k = 0; k < m->n_params; k++)
        if (nn_rng_uniform(&r) < zero_share)
            m->params[k] = 0;
    m->mean[0] = 0.1f, m->std[0] = 0.3f;
}

static void quantized_seed(const char *name, int bits, double zero_share)
{
    nn_model m;
    small_model(&m, 7, zero_share);
    uint8_t *img = pseudo_bytes(4 * 64, 3);
    uint32_t index[4] = {0, 1, 2, 3};
    qz_config cfg;
    qz_config_defaults(&cfg);
    cfg.weight_bits = bits;
    iotc_model *f = malloc(sizeof *f);
    iotc_init(f);
    nn_error err;
    const qz_data data = {.images = img, .index = index, .n = 4};
    if (qz_quantize_model(&f->m, NULL, &m, &cfg, &data, 1, &err) != NN_OK)
        die(name, err.msg);
    f->mean[0] = m.mean[0], f->std[0] = m.std[0];
    iotc_set_meta(f, "source", "make_seeds", &err);
    iotc_seed(name, f, 0x01);
    iotc_free(f);
    free(f);
    free(img);
    nn_model_free(&m);
}

static void quantized_seeds(void)
{
    for (int k = 0; k < 4; k++) {
        size_t n = 64 + 96 * (size_t)k;
        uint8_t *b = pseudo_bytes(n, 100 + (uint64_t)k);
        fz_data d;
        fz_init(&d, b, n);
        iotc_model *f = malloc(sizeof *f);
        fzg_qmodel(f, &d);
        char name[32];
        snprintf(name, sizeof name, "generated-%d", k);
        iotc_seed(name, f, (uint8_t)(0x01 | k << 1));
        iotc_free(f);
        free(f);
        free(b);
    }
    quantized_seed("quantized-8bit", 8, 0.0);
    quantized_seed("quantized-4bit-sparse", 4, 0.8);
}

/* ---- checkpoints ------------------------------------------------------------- */

static void ckpt_seed(const char *name, const nn_model *m, const nn_optim *o,
                      const nn_train_state *ts, const char *config)
{
    char tmp[] = "/tmp/iotcnn-seed-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0)
        die(name, strerror(errno));
    nn_error err;
    if (ckpt_save(tmp, m, o, ts, config, NULL, &err) != NN_OK)
        die(name, err.msg);
    uint8_t *data;
    size_t len;
    if (nn_read_file(tmp, &data, &len, 0, &err) != NN_OK)
        die(name, err.msg);
    unlink(tmp);
    put_one("ckpt", name, 0x01, data, len);
    free(data);
}

static void checkpoint_seeds(void)
{
    nn_model m;
    small_model(&m, 11, 0.0);
    ckpt_seed("bare", &m, NULL, NULL, NULL);
    nn_optim o;
    nn_error err;
    nn_optim_config sgd = {.kind = NN_OPT_SGD, .momentum = 0.9f, .nesterov = 1,
                           .weight_decay = 5e-4f};
    if (nn_optim_init(&o, &sgd, m.n_params, &err) != NN_OK)
        die("sgd", err.msg);
    nn_train_state ts = {1, 2, 3, 40};
    ckpt_seed("sgd", &m, &o, &ts, "{\"comment\": \"x\"}");
    nn_optim_free(&o);
    nn_optim_config adamw = {.kind = NN_OPT_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f,
                             .eps = 1e-8f, .weight_decay = 0.01f};
    if (nn_optim_init(&o, &adamw, m.n_params, &err) != NN_OK)
        die("adamw", err.msg);
    ckpt_seed("adamw", &m, &o, &ts, NULL);
    nn_optim_free(&o);
    nn_model_free(&m);
}

/* ---- IDX, CIFAR-10 ----------------------------------------------------------- */

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void idx_seeds(void)
{
    uint8_t img[16 + 2 * 16], lab[8 + 2];
    be32(img, 0x803), be32(img + 4, 2), be32(img + 8, 4), be32(img + 12, 4);
    for (int k = 0; k < 32; k++)
        img[16 + k] = (uint8_t)(k * 8);
    be32(lab, 0x801), be32(lab + 4, 2);
    lab[8] = 3, lab[9] = 9;
    const uint8_t *part[2] = {img, lab};
    size_t len[2] = {sizeof img, sizeof lab};
    put_parts("idx", "plain", 0x00, 2, part, len);
    put_parts("idx", "gzip-both", 0x03, 2, part, len);
    size_t gl;
    uint8_t *gz = fz_gzip(img, sizeof img, &gl); /* gzip bytes as the input itself */
    part[0] = gz, len[0] = gl;
    put_parts("idx", "gzip-in-input", 0x00, 2, part, len);
    free(gz);
}

static void cifar_seeds(void)
{
    uint8_t rec[2 * 3073];
    for (size_t k = 0; k < sizeof rec; k++)
        rec[k] = (uint8_t)(k % 3073 == 0 ? k / 3073 + 1 : k * 7 >> 3);
    const uint8_t *part[2] = {rec, rec + 3073};
    size_t len[2] = {3073, 3073};
    put_parts("cifar", "one-record", 0x00, 1, part, len);
    put_parts("cifar", "two-files", 0x08, 2, part, len);
    put_parts("cifar", "two-files-gzip", 0x0b, 2, part, len);
    size_t l2 = sizeof rec;
    const uint8_t *p2 = rec;
    put_parts("cifar", "two-records-gzip", 0x01, 1, &p2, &l2);
}

/* ---- PNG --------------------------------------------------------------------- */

static void png_write_cb(png_structp png, png_bytep p, png_size_t n)
{
    nn_wbuf_bytes(png_get_io_ptr(png), p, n);
}

static void png_flush_cb(png_structp png) { (void)png; }

/* A w x h PNG of the given type and depth, pixel bytes from a pattern. */
static void png_bytes(nn_wbuf *out, int w, int h, int type, int depth, int interlace)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!png || !info || setjmp(png_jmpbuf(png)))
        die("png", "libpng failed");
    png_set_write_fn(png, out, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    png_byte trans[2] = {0, 128};
    if (type == PNG_COLOR_TYPE_PALETTE) {
        png_set_PLTE(png, info, pal, 4);
        png_set_tRNS(png, info, trans, 2, NULL);
    }
    png_write_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    uint8_t *row = malloc(rowbytes);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++) {
            for (size_t x = 0; x < rowbytes; x++)
                row[x] = (uint8_t)(type == PNG_COLOR_TYPE_PALETTE ? (x + y) % 4 * 0x41
                                                                  : x * 29 + y * 71);
            png_write_row(png, row);
        }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
}

static void png_seeds(void)
{
    static const struct {
        const char *name;
        int type, depth, interlace;
    } P[] = {
        {"gray8", PNG_COLOR_TYPE_GRAY, 8, 0},       {"gray1", PNG_COLOR_TYPE_GRAY, 1, 0},
        {"gray16", PNG_COLOR_TYPE_GRAY, 16, 0},     {"gray-alpha", PNG_COLOR_TYPE_GA, 8, 0},
        {"rgb8", PNG_COLOR_TYPE_RGB, 8, 0},         {"rgba16", PNG_COLOR_TYPE_RGBA, 16, 0},
        {"palette", PNG_COLOR_TYPE_PALETTE, 2, 0},  {"rgb-interlaced", PNG_COLOR_TYPE_RGB, 8, 1},
    };
    nn_wbuf img[8];
    for (int k = 0; k < 8; k++) {
        nn_wbuf_init(&img[k]);
        png_bytes(&img[k], 4, 3, P[k].type, P[k].depth, P[k].interlace);
        const uint8_t *p[2] = {img[k].data, NULL};
        size_t n[2] = {img[k].len, 0};
        put_parts("pngdir", P[k].name, 0x01, 2, p, n);
    }
    /* gray and RGB mixed over two classes; all gray over three; a hidden file */
    const uint8_t *part[4] = {img[0].data, img[4].data, img[1].data, img[6].data};
    size_t len[4] = {img[0].len, img[4].len, img[1].len, img[6].len};
    put_parts("pngdir", "two-classes-mixed", 0x03, 4, part, len);
    part[1] = img[2].data, len[1] = img[2].len;
    part[3] = NULL, len[3] = 0; /* an empty last part: three files */
    put_parts("pngdir", "three-classes-gray", 0x0d, 4, part, len);
    for (int k = 0; k < 8; k++)
        nn_wbuf_free(&img[k]);
}

/* ---- generator inputs ---------------------------------------------------------- */

static void generator_seeds(const char *target, uint64_t seed)
{
    static const size_t LEN[] = {8, 24, 64, 128, 256, 512};
    for (size_t k = 0; k < sizeof LEN / sizeof LEN[0]; k++) {
        uint8_t *b = pseudo_bytes(LEN[k], seed + k);
        char name[32];
        snprintf(name, sizeof name, "bytes-%zu", LEN[k]);
        put(target, name, b, LEN[k]);
        free(b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        die(out_dir, strerror(errno));
    quantized_seeds();
    checkpoint_seeds();
    idx_seeds();
    cifar_seeds();
    png_seeds();
    generator_seeds("qdiff", 1000);
    generator_seeds("quantize", 2000);
    return 0;
}
