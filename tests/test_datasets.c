/* test_datasets.c - the datasets/ loaders on fixtures written here, in a
 * fresh mkdtemp folder per test: IDX plain and gzip, CIFAR-10 records, PNG
 * folders (written with libpng: gray, RGB, palette, 16 bit, alpha, 1 bit).
 * Pixels and labels must round-trip exactly; every error test checks the
 * status and that the message names the offending file (and, for corrupt
 * data, the byte offset). Then ds_limit, ds_split_validation and ds_channel_stats
 * against hand-computed values. */
#include <criterion/criterion.h>

#include "fixtures.h"

#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>
#include <zlib.h>

#include "datasets/ds.h"

/* ---- fixture folder ------------------------------------------------------ */

static char g_dir[64]; /* per test: Criterion runs each test in its own process */

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/iotcnn_ds_test.XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir), "mkdtemp failed");
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    if (g_dir[0])
        nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(datasets, .init = setup, .fini = teardown);

/* Path of name inside the fixture folder. */
static const char *P(const char *name) { return fx_path(g_dir, name); }

static void mkdirs(const char *name)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", P(name));
    for (char *s = tmp + strlen(g_dir) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(tmp, 0755);
            *s = '/';
        }
    mkdir(tmp, 0755);
}

static void write_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(g), Z_OK);
}

/* Reads a whole file (for corrupting copies of it). */
static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    uint8_t *b = malloc((size_t)len);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

#define assert_msg_has(err, s) \
    cr_assert(strstr((err).msg, (s)) != NULL, "message lacks \"%s\": %s", (s), (err).msg)

/* ---- IDX ------------------------------------------------------------------ */

enum { IN = 3, IH = 4, IW = 5 };
static const uint8_t IDX_LABELS[IN] = {0, 9, 3};

static uint8_t idx_pixel(int i, int y, int x)
{
    return (uint8_t)(i * 61 + y * 17 + x * 3 + 1);
}

/* IDX images file bytes: header + n*h*w pixels (len in *n_out). */
static uint8_t *idx_images(uint32_t magic, uint32_t n, uint32_t h, uint32_t w, size_t *n_out)
{
    size_t len = 16 + (size_t)IN * IH * IW;
    uint8_t *b = calloc(1, len);
    put_be32(b, magic);
    put_be32(b + 4, n);
    put_be32(b + 8, h);
    put_be32(b + 12, w);
    for (int i = 0; i < IN; i++)
        for (int y = 0; y < IH; y++)
            for (int x = 0; x < IW; x++)
                b[16 + (i * IH + y) * IW + x] = idx_pixel(i, y, x);
    *n_out = len;
    return b;
}

static uint8_t *idx_labels(uint32_t magic, uint32_t n, size_t *n_out)
{
    uint8_t *b = calloc(1, 8 + IN);
    put_be32(b, magic);
    put_be32(b + 4, n);
    memcpy(b + 8, IDX_LABELS, IN);
    *n_out = 8 + IN;
    return b;
}

/* Writes images/labels fixtures (gz or plain) under the given names. */
static void make_idx(const char *img_name, int img_gz, const char *lab_name, int lab_gz)
{
    size_t ni, nl;
    uint8_t *im = idx_images(0x803, IN, IH, IW, &ni), *lb = idx_labels(0x801, IN, &nl);
    (img_gz ? write_gz : fx_write_file)(P(img_name), im, ni);
    (lab_gz ? write_gz : fx_write_file)(P(lab_name), lb, nl);
    free(im);
    free(lb);
}

enum { IMG_LEN = 16 + IN * IH * IW, LAB_LEN = 8 + IN };

/* Writes name: the fixture's images file under `magic`, cut to len bytes
 * or padded with zeros up to it; gzipped if gz. */
static void write_idx_images(const char *name, int gz, uint32_t magic, size_t len)
{
    size_t n;
    uint8_t *b = idx_images(magic, IN, IH, IW, &n), *out = calloc(1, len > n ? len : n);
    memcpy(out, b, n);
    (gz ? write_gz : fx_write_file)(P(name), out, len);
    free(out);
    free(b);
}

/* Writes name: the fixture's labels file saying it holds `count` labels,
 * cut to len bytes; bad_item (if >= 0) gets label 10. */
static void write_idx_labels(const char *name, uint32_t count, size_t len, int bad_item)
{
    size_t n;
    uint8_t *b = idx_labels(0x801, count, &n);
    if (bad_item >= 0)
        b[8 + bad_item] = 10;
    fx_write_file(P(name), b, len);
    free(b);
}

static void check_idx(const ds_dataset *d)
{
    cr_assert_eq(d->n, IN);
    cr_assert_eq(d->c, 1);
    cr_assert_eq(d->h, IH);
    cr_assert_eq(d->w, IW);
    cr_assert_eq(d->num_classes, 10);
    for (int i = 0; i < IN; i++) {
        cr_assert_eq(d->labels[i], IDX_LABELS[i]);
        for (int y = 0; y < IH; y++)
            for (int x = 0; x < IW; x++)
                cr_assert_eq(d->images[(i * IH + y) * IW + x], idx_pixel(i, y, x), "i%d y%d x%d",
                             i, y, x);
    }
}

/* Loads and expects failure with code; the message must name `names`.
 * Returns the error, for the caller to check more of its message. */
static nn_error expect_idx_error(const char *img, const char *lab, int code, const char *names)
{
    ds_dataset d;
    nn_error err = {{0}};
    int rc = ds_load_idx(&d, img, lab, &err);
    cr_assert_eq(rc, code, "rc %d, want %d: %s", rc, code, err.msg);
    assert_msg_has(err, names);
    cr_assert_null(d.images, "output must be empty after an error");
    cr_assert_null(d.labels);
    cr_assert_eq(d.n, 0);
    return err;
}

Test(datasets, idx_plain_round_trip)
{
    make_idx("img", 0, "lab", 0);
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_idx(&d, P("img"), P("lab"), &err), NN_OK, "%s", err.msg);
    check_idx(&d);
    cr_assert_null(d.class_names);
    ds_free(&d);
    cr_assert_null(d.images);
}

Test(datasets, idx_gzip_detected_by_content_not_name)
{
    /* gzip without .gz in the name, and a plain file named .gz */
    make_idx("img_gzipped", 1, "lab_plain.gz", 0);
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_idx(&d, P("img_gzipped"), P("lab_plain.gz"), &err), NN_OK, "%s",
                 err.msg);
    check_idx(&d);
    ds_free(&d);
    make_idx("i.gz", 1, "l.gz", 1);
    cr_assert_eq(ds_load_idx(&d, P("i.gz"), P("l.gz"), &err), NN_OK, "%s", err.msg);
    check_idx(&d);
    ds_free(&d);
}

Test(datasets, idx_missing_file)
{
    make_idx("img", 0, "lab", 0);
    expect_idx_error(P("nope"), P("lab"), NN_ERR_IO, P("nope"));
    expect_idx_error(P("img"), P("nolab"), NN_ERR_IO, P("nolab"));
}

Test(datasets, idx_bad_magic)
{
    write_idx_images("img", 0, 0x12345678, IMG_LEN);
    write_idx_labels("lab", IN, LAB_LEN, -1);
    nn_error err = expect_idx_error(P("img"), P("lab"), NN_ERR_FORMAT, P("img"));
    assert_msg_has(err, "bad magic 0x12345678 at byte 0: expected 0x00000803");
    /* swapped arguments: labels passed as images */
    make_idx("img2", 0, "lab2", 0);
    err = expect_idx_error(P("lab2"), P("img2"), NN_ERR_FORMAT, P("lab2"));
    assert_msg_has(err, "swapped");
}

/* The images file cut to img_len bytes (plain as "img" and gzipped as
 * "img.gz"), the labels file to lab_len ("lab_short"): each load fails
 * naming the short file, with these messages (lab_msg may be NULL). */
static void expect_idx_truncated(size_t img_len, const char *img_msg, const char *gz_msg,
                                 size_t lab_len, const char *lab_msg)
{
    write_idx_images("img", 0, 0x803, img_len);
    write_idx_images("img.gz", 1, 0x803, img_len);
    write_idx_labels("lab", IN, LAB_LEN, -1);
    write_idx_labels("lab_short", IN, lab_len, -1);
    nn_error err = expect_idx_error(P("img"), P("lab"), NN_ERR_FORMAT, P("img"));
    assert_msg_has(err, img_msg);
    err = expect_idx_error(P("img.gz"), P("lab"), NN_ERR_FORMAT, P("img.gz"));
    assert_msg_has(err, gz_msg);
    make_idx("img2", 0, "unused", 0);
    err = expect_idx_error(P("img2"), P("lab_short"), NN_ERR_FORMAT, P("lab_short"));
    if (lab_msg)
        assert_msg_has(err, lab_msg);
}

Test(datasets, idx_truncated_header)
{
    expect_idx_truncated(10,
                         "truncated at byte 10: expected 16 IDX images header bytes from byte 0",
                         "truncated at byte 10 of decompressed data", 5, NULL);
}

Test(datasets, idx_truncated_data)
{
    /* 16 + 60 - 10 = 66 bytes */
    expect_idx_truncated(IMG_LEN - 10,
                         "truncated at byte 66: expected 60 pixel bytes from byte 16, file has 66 "
                         "bytes",
                         "truncated at byte 66 of decompressed data: expected 60 pixel bytes",
                         LAB_LEN - 1, "expected 3 label bytes from byte 8");
}

Test(datasets, idx_trailing_bytes)
{
    write_idx_images("img", 0, 0x803, IMG_LEN + 4);
    write_idx_labels("lab", IN, LAB_LEN, -1);
    nn_error err = expect_idx_error(P("img"), P("lab"), NN_ERR_FORMAT, P("img"));
    assert_msg_has(err, "4 unexpected bytes after byte 76");
}

Test(datasets, idx_count_mismatch)
{
    write_idx_images("img", 0, 0x803, IMG_LEN);
    write_idx_labels("lab", IN - 1, LAB_LEN - 1, -1);
    nn_error err = expect_idx_error(P("img"), P("lab"), NN_ERR_FORMAT, P("lab"));
    assert_msg_has(err, P("img"));
    assert_msg_has(err, "2 labels");
    assert_msg_has(err, "3 images");
}

Test(datasets, idx_label_out_of_range)
{
    write_idx_images("img", 0, 0x803, IMG_LEN);
    write_idx_labels("lab", IN, LAB_LEN, 2);
    nn_error err = expect_idx_error(P("img"), P("lab"), NN_ERR_FORMAT, P("lab"));
    assert_msg_has(err, "label 10 at byte 10 (item 2) out of range: expected 0..9");
}

Test(datasets, idx_gzip_corrupted)
{
    make_idx("img.gz", 1, "lab", 0);
    size_t n;
    uint8_t *b = read_file(P("img.gz"), &n);
    /* (a) flipped bytes in the deflate data: a data or CRC error */
    uint8_t *bad = malloc(n);
    memcpy(bad, b, n);
    for (size_t i = 12; i < n - 8; i += 3)
        bad[i] ^= 0x5a;
    fx_write_file(P("flipped.gz"), bad, n);
    expect_idx_error(P("flipped.gz"), P("lab"), NN_ERR_FORMAT, P("flipped.gz"));
    /* (b) only the CRC trailer damaged: all data decodes, the check fails */
    memcpy(bad, b, n);
    bad[n - 6] ^= 0xff;
    fx_write_file(P("crc.gz"), bad, n);
    expect_idx_error(P("crc.gz"), P("lab"), NN_ERR_FORMAT, P("crc.gz"));
    /* (c) the .gz file cut short */
    fx_write_file(P("cut.gz"), b, n / 2);
    expect_idx_error(P("cut.gz"), P("lab"), NN_ERR_FORMAT, P("cut.gz"));
    free(bad);
    free(b);
}

Test(datasets, idx_absurd_header_sizes)
{
    uint8_t hdr[16 + 8] = {0};
    size_t n;
    uint8_t *lb = idx_labels(0x801, IN, &n);
    fx_write_file(P("lab"), lb, n);
    free(lb);
    /* (a) 2^31-1 images: past the limit, refused before allocating */
    put_be32(hdr, 0x803);
    put_be32(hdr + 4, 0x7fffffff);
    put_be32(hdr + 8, 28);
    put_be32(hdr + 12, 28);
    fx_write_file(P("huge"), hdr, sizeof hdr);
    write_gz(P("huge.gz"), hdr, sizeof hdr);
    uint8_t lhdr[8]; /* labels whose count agrees, so the pixels are reached */
    put_be32(lhdr, 0x801);
    put_be32(lhdr + 4, 0x7fffffff);
    fx_write_file(P("huge_lab"), lhdr, sizeof lhdr);
    nn_error err = expect_idx_error(P("huge"), P("huge_lab"), NN_ERR_FORMAT, P("huge"));
    assert_msg_has(err, "limit");
    expect_idx_error(P("huge.gz"), P("huge_lab"), NN_ERR_FORMAT, P("huge.gz"));
    /* (b) zero and absurd dimensions */
    put_be32(hdr + 4, 0xffffffffu);
    fx_write_file(P("neg"), hdr, sizeof hdr);
    expect_idx_error(P("neg"), P("lab"), NN_ERR_FORMAT, P("neg"));
    put_be32(hdr + 4, 3);
    put_be32(hdr + 8, 0);
    fx_write_file(P("zero"), hdr, sizeof hdr);
    expect_idx_error(P("zero"), P("lab"), NN_ERR_FORMAT, P("zero"));
    /* (c) 3 images of 30000x30000 (2.7 GB) in a 24-byte gzip: the reader
     * grows with the data, so this fails as truncated, quickly and without
     * allocating gigabytes (ASan would report it). */
    put_be32(hdr + 8, 30000);
    put_be32(hdr + 12, 30000);
    write_gz(P("big.gz"), hdr, sizeof hdr);
    err = expect_idx_error(P("big.gz"), P("lab"), NN_ERR_FORMAT, P("big.gz"));
    assert_msg_has(err, "truncated");
}

/* ---- CIFAR-10 -------------------------------------------------------------- */

enum { CREC = 3073 };

static uint8_t cifar_pixel(int img, int ch, int y, int x)
{
    return (uint8_t)(img * 31 + ch * 85 + y * 7 + x);
}

/* count records for images first..first+count-1, label = img % 10 */
static uint8_t *cifar_records(int first, int count)
{
    uint8_t *b = malloc((size_t)count * CREC);
    for (int r = 0; r < count; r++) {
        uint8_t *rec = b + (size_t)r * CREC;
        rec[0] = (uint8_t)((first + r) % 10);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    rec[1 + ch * 1024 + y * 32 + x] = cifar_pixel(first + r, ch, y, x);
    }
    return b;
}

static nn_error expect_cifar_error(const char *const *paths, int n, int code, const char *names)
{
    ds_dataset d;
    nn_error err = {{0}};
    int rc = ds_load_cifar10_bin(&d, paths, n, &err);
    cr_assert_eq(rc, code, "rc %d, want %d: %s", rc, code, err.msg);
    assert_msg_has(err, names);
    cr_assert_null(d.images);
    cr_assert_eq(d.n, 0);
    return err;
}

Test(datasets, cifar_round_trip_concatenated)
{
    uint8_t *a = cifar_records(0, 2), *b = cifar_records(2, 9);
    fx_write_file(P("a.bin"), a, 2 * CREC);
    write_gz(P("b.bin"), b, 9 * CREC); /* gzip works too */
    free(a);
    free(b);
    const char *paths[] = {P("a.bin"), P("b.bin")};
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_cifar10_bin(&d, paths, 2, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d.n, 11);
    cr_assert_eq(d.c, 3);
    cr_assert_eq(d.h, 32);
    cr_assert_eq(d.w, 32);
    cr_assert_eq(d.num_classes, 10);
    for (int i = 0; i < 11; i++) {
        cr_assert_eq(d.labels[i], i % 10);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y += 5)
                for (int x = 0; x < 32; x += 3)
                    cr_assert_eq(d.images[((size_t)(i * 3 + ch) * 32 + y) * 32 + x],
                                 cifar_pixel(i, ch, y, x));
    }
    ds_free(&d);
}

Test(datasets, cifar_truncated_record)
{
    uint8_t *a = cifar_records(0, 2);
    fx_write_file(P("ok.bin"), a, 2 * CREC);
    fx_write_file(P("short.bin"), a, 2 * CREC - 5);
    free(a);
    const char *paths[] = {P("ok.bin"), P("short.bin")};
    nn_error err = expect_cifar_error(paths, 2, NN_ERR_FORMAT, P("short.bin"));
    assert_msg_has(err, "truncated at byte 6141");
    assert_msg_has(err, "the last one has 3068 bytes");
}

Test(datasets, cifar_label_out_of_range)
{
    uint8_t *a = cifar_records(0, 3);
    a[CREC] = 10; /* record 1 */
    fx_write_file(P("bad.bin"), a, 3 * CREC);
    free(a);
    const char *paths[] = {P("bad.bin")};
    nn_error err = expect_cifar_error(paths, 1, NN_ERR_FORMAT, P("bad.bin"));
    assert_msg_has(err, "label 10 at byte 3073 (record 1) out of range");
}

Test(datasets, cifar_missing_and_empty)
{
    uint8_t *a = cifar_records(0, 1);
    fx_write_file(P("ok.bin"), a, CREC);
    fx_write_file(P("empty.bin"), a, 0);
    free(a);
    const char *p1[] = {P("ok.bin"), P("gone.bin")};
    expect_cifar_error(p1, 2, NN_ERR_IO, P("gone.bin"));
    const char *p2[] = {P("empty.bin")};
    expect_cifar_error(p2, 1, NN_ERR_FORMAT, P("empty.bin"));
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_cifar10_bin(&d, p2, 0, &err), NN_ERR_ARG);
}

/* ---- PNG folders ------------------------------------------------------------ */

#define write_png_ex fx_write_png

static void write_png(const char *path, int w, int h, int color_type, int depth,
                      const uint8_t *data, size_t rowbytes, const png_color *pal, int npal)
{
    write_png_ex(path, w, h, color_type, depth, data, rowbytes, pal, npal, 0);
}

/* A 3x2 gray image whose pixels encode (seed, y, x). */
static void gray_png(const char *name, int seed)
{
    uint8_t px[6];
    for (int j = 0; j < 6; j++)
        px[j] = (uint8_t)(seed * 40 + j);
    write_png(P(name), 3, 2, PNG_COLOR_TYPE_GRAY, 8, px, 3, NULL, 0);
}

static void rgb_png(const char *name, int seed)
{
    uint8_t px[18];
    for (int j = 0; j < 6; j++)
        for (int c = 0; c < 3; c++)
            px[3 * j + c] = (uint8_t)(seed * 40 + c * 10 + j);
    write_png(P(name), 3, 2, PNG_COLOR_TYPE_RGB, 8, px, 9, NULL, 0);
}

static nn_error expect_png_error(const char *dir, int code, const char *names)
{
    ds_dataset d;
    nn_error err = {{0}};
    int rc = ds_load_png_dir(&d, dir, &err);
    cr_assert_eq(rc, code, "rc %d, want %d: %s", rc, code, err.msg);
    assert_msg_has(err, names);
    cr_assert_null(d.images);
    cr_assert_null(d.class_names);
    return err;
}

Test(datasets, png_gray_folder_sorted)
{
    /* classes "b" and "a" (labels by name: a = 0, b = 1); files sort
     * bytewise: "10.png" < "2.png"; hidden files are ignored */
    mkdirs("set/b");
    mkdirs("set/a");
    gray_png("set/b/2.png", 3);
    gray_png("set/b/10.png", 2);
    gray_png("set/a/x.png", 1);
    fx_write_file(P("set/a/.DS_Store"), "junk", 4);
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_png_dir(&d, P("set"), &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.c, 1);
    cr_assert_eq(d.h, 2);
    cr_assert_eq(d.w, 3);
    cr_assert_eq(d.num_classes, 2);
    cr_assert_str_eq(d.class_names[0], "a");
    cr_assert_str_eq(d.class_names[1], "b");
    const int want_label[3] = {0, 1, 1}, want_seed[3] = {1, 2, 3};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(d.labels[i], want_label[i]);
        for (int j = 0; j < 6; j++)
            cr_assert_eq(d.images[i * 6 + j], want_seed[i] * 40 + j, "image %d px %d", i, j);
    }
    ds_free(&d);
}

Test(datasets, png_rgb_folder_with_gray_image)
{
    mkdirs("set/cat");
    mkdirs("set/dog");
    rgb_png("set/cat/1.png", 1);
    gray_png("set/dog/1.png", 2); /* one gray image among RGB: c = 3 */
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_png_dir(&d, P("set"), &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(d.c, 3);
    /* RGB image: planar */
    for (int c = 0; c < 3; c++)
        for (int j = 0; j < 6; j++)
            cr_assert_eq(d.images[c * 6 + j], 40 + c * 10 + j);
    /* gray image: the same plane three times */
    for (int c = 0; c < 3; c++)
        for (int j = 0; j < 6; j++)
            cr_assert_eq(d.images[18 + c * 6 + j], 80 + j);
    cr_assert_eq(d.labels[0], 0);
    cr_assert_eq(d.labels[1], 1);
    ds_free(&d);
}

Test(datasets, png_formats_converted)
{
    mkdirs("g/k0");
    mkdirs("g/k1");
    mkdirs("c/k0");
    /* gray 16 bit, 2x1: 0x8080 -> 128, 0xffff -> 255 (scaled, not cut) */
    const uint8_t g16[4] = {0x80, 0x80, 0xff, 0xff};
    write_png(P("g/k0/a16.png"), 2, 1, PNG_COLOR_TYPE_GRAY, 16, g16, 4, NULL, 0);
    /* gray + alpha: alpha dropped */
    const uint8_t ga[4] = {7, 0, 9, 255};
    write_png(P("g/k0/b_ga.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, 4, NULL, 0);
    /* gray 1 bit: 1,0 -> 255, 0 */
    const uint8_t g1[1] = {0x80};
    write_png(P("g/k1/c1.png"), 2, 1, PNG_COLOR_TYPE_GRAY, 1, g1, 1, NULL, 0);
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_png_dir(&d, P("g"), &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d.c, 1, "all gray stays gray");
    const uint8_t want_g[6] = {128, 255, 7, 9, 255, 0};
    for (int j = 0; j < 6; j++)
        cr_assert_eq(d.images[j], want_g[j], "px %d: %d", j, d.images[j]);
    ds_free(&d);

    /* palette and RGBA -> RGB */
    const png_color pal[2] = {{10, 20, 30}, {200, 150, 100}};
    const uint8_t idx[2] = {1, 0};
    write_png(P("c/k0/p.png"), 2, 1, PNG_COLOR_TYPE_PALETTE, 8, idx, 2, pal, 2);
    const uint8_t rgba[8] = {1, 2, 3, 0, 4, 5, 6, 128};
    write_png(P("c/k0/q.png"), 2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, rgba, 8, NULL, 0);
    cr_assert_eq(ds_load_png_dir(&d, P("c"), &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d.c, 3);
    const uint8_t want_c[12] = {200, 10, 150, 20, 100, 30, 1, 4, 2, 5, 3, 6};
    for (int j = 0; j < 12; j++)
        cr_assert_eq(d.images[j], want_c[j], "px %d: %d", j, d.images[j]);
    ds_free(&d);
}

Test(datasets, png_interlaced_and_oversized)
{
    mkdirs("il/a");
    uint8_t px[7 * 5];
    for (int j = 0; j < 35; j++)
        px[j] = (uint8_t)(j * 7);
    write_png_ex(P("il/a/i.png"), 7, 5, PNG_COLOR_TYPE_GRAY, 8, px, 7, NULL, 0, 1);
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_png_dir(&d, P("il"), &err), NN_OK, "%s", err.msg);
    for (int j = 0; j < 35; j++)
        cr_assert_eq(d.images[j], px[j], "px %d", j);
    ds_free(&d);
    /* a side above the loader's limit is refused before pixels are read */
    mkdirs("big/a");
    uint8_t *row = calloc(5000, 1);
    write_png(P("big/a/w.png"), 5000, 1, PNG_COLOR_TYPE_GRAY, 8, row, 5000, NULL, 0);
    free(row);
    err = expect_png_error(P("big"), NN_ERR_FORMAT, P("big/a/w.png"));
    assert_msg_has(err, "larger than");
}

Test(datasets, png_mixed_sizes_are_resized_to_the_first)
{
    mkdirs("set/a");
    gray_png("set/a/1.png", 1);
    const uint8_t px[4] = {1, 2, 3, 4};
    write_png(P("set/a/2.png"), 2, 2, PNG_COLOR_TYPE_GRAY, 8, px, 2, NULL, 0);
    /* the first image sets the size; the 2x2 one is resized to 3x2 (the
     * triangle filter: outer columns keep their pixel, the middle one is
     * the mean of both, 1.5 and 3.5 rounded up) */
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_png_dir(&d, P("set"), &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d.n, 2);
    cr_assert(d.c == 1 && d.h == 2 && d.w == 3, "%dx%dx%d", d.c, d.h, d.w);
    const uint8_t want[6] = {1, 2, 2, 3, 4, 4};
    cr_assert_arr_eq(d.images + 6, want, 6);
    ds_free(&d);
}

Test(datasets, png_non_png_file)
{
    mkdirs("set/a");
    gray_png("set/a/1.png", 1);
    fx_write_file(P("set/a/notes.txt"), "hello, world", 12);
    nn_error err = expect_png_error(P("set"), NN_ERR_FORMAT, P("set/a/notes.txt"));
    assert_msg_has(err, "neither a PNG nor a JPEG file");
}

Test(datasets, png_corrupt_file)
{
    mkdirs("set/a");
    gray_png("set/a/1.png", 1);
    size_t n;
    uint8_t *b = read_file(P("set/a/1.png"), &n);
    fx_write_file(P("set/a/2.png"), b, n - 20); /* cut inside IDAT/IEND */
    free(b);
    expect_png_error(P("set"), NN_ERR_FORMAT, P("set/a/2.png"));
}

Test(datasets, png_empty_folders_and_stray_files)
{
    mkdirs("empty");
    expect_png_error(P("empty"), NN_ERR_FORMAT, P("empty"));
    mkdirs("noimg/a");
    expect_png_error(P("noimg"), NN_ERR_FORMAT, P("noimg/a"));
    mkdirs("stray/a");
    gray_png("stray/a/1.png", 1);
    fx_write_file(P("stray/README"), "x", 1);
    expect_png_error(P("stray"), NN_ERR_FORMAT, P("stray/README"));
    expect_png_error(P("missing"), NN_ERR_IO, P("missing"));
}

/* ---- ds_load_named ------------------------------------------------------------ */

Test(datasets, named_mnist_plain_then_gz)
{
    mkdirs("mn");
    make_idx("mn/train-images-idx3-ubyte.gz", 1, "mn/train-labels-idx1-ubyte", 0);
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_named(&d, "mnist", P("mn"), 1, &err), NN_OK, "%s", err.msg);
    check_idx(&d);
    cr_assert_not_null(d.class_names);
    cr_assert_str_eq(d.class_names[7], "7");
    ds_free(&d);
    cr_assert_eq(ds_load_named(&d, "fashion", P("mn"), 1, &err), NN_OK, "%s", err.msg);
    cr_assert_str_eq(d.class_names[9], "Ankle boot");
    ds_free(&d);
    /* the test split is missing: the message names the file and the fix */
    cr_assert_eq(ds_load_named(&d, "mnist", P("mn"), 0, &err), NN_ERR_IO);
    assert_msg_has(err, P("mn/t10k-images-idx3-ubyte"));
    assert_msg_has(err, "fetch.sh mnist");
}

Test(datasets, named_cifar10_and_png)
{
    mkdirs("c10");
    uint8_t *r = cifar_records(0, 4);
    fx_write_file(P("c10/test_batch.bin"), r, 4 * CREC);
    free(r);
    ds_dataset d;
    nn_error err = {{0}};
    cr_assert_eq(ds_load_named(&d, "cifar10", P("c10"), 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d.n, 4);
    cr_assert_str_eq(d.class_names[0], "airplane");
    cr_assert_str_eq(d.class_names[9], "truck");
    ds_free(&d);
    cr_assert_eq(ds_load_named(&d, "cifar10", P("c10"), 1, &err), NN_ERR_IO);
    assert_msg_has(err, P("c10/data_batch_1.bin"));

    mkdirs("p/test/x");
    gray_png("p/test/x/1.png", 1);
    cr_assert_eq(ds_load_named(&d, "png", P("p"), 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d.n, 1);
    cr_assert_str_eq(d.class_names[0], "x");
    ds_free(&d);
    cr_assert_eq(ds_load_named(&d, "png", P("p"), 1, &err), NN_ERR_IO);
    assert_msg_has(err, P("p/train"));
    cr_assert_eq(ds_load_named(&d, "imagenet", P("p"), 1, &err), NN_ERR_ARG);
    assert_msg_has(err, "imagenet");
}

/* ---- operations ---------------------------------------------------------------- */

/* n images of 2 channels x 1 x 2, image i filled with i; labels i % 3. */
static void make_small(ds_dataset *d, int n)
{
    memset(d, 0, sizeof *d);
    d->n = n, d->c = 2, d->h = 1, d->w = 2, d->num_classes = 3;
    d->images = malloc((size_t)n * 4);
    d->labels = malloc((size_t)n);
    d->class_names = calloc(3, sizeof *d->class_names);
    for (int k = 0; k < 3; k++) {
        d->class_names[k] = malloc(3);
        d->class_names[k][0] = 'c', d->class_names[k][1] = (char)('0' + k);
        d->class_names[k][2] = '\0';
    }
    for (int i = 0; i < n; i++) {
        memset(d->images + i * 4, i, 4);
        d->labels[i] = (uint8_t)(i % 3);
    }
}

/* n images of 4 bytes (pixel value = index), labels given. */
static void make_labelled(ds_dataset *d, const uint8_t *labels, int n, int k)
{
    make_small(d, n);
    d->num_classes = k;
    memcpy(d->labels, labels, (size_t)n);
}

static void assert_ids(const ds_dataset *d, const int *ids, int n)
{
    cr_assert_eq(d->n, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 4; j++)
            cr_assert_eq(d->images[i * 4 + j], ids[i], "image %d: %d, want %d", i,
                         d->images[i * 4 + j], ids[i]);
}

Test(datasets, limit_keeps_every_class_in_proportion)
{
    ds_dataset d;
    nn_error err = {{0}};
    make_small(&d, 5);
    for (int n = -1; n <= 99; n += 100)
        cr_assert_eq(ds_limit(&d, n, &err), NN_OK);
    cr_assert_eq(ds_limit(&d, 0, &err), NN_OK);
    cr_assert_eq(ds_limit(&d, 5, &err), NN_OK);
    cr_assert_eq(d.n, 5, "no-op cases");
    /* labels 0,1,2,0,1: one of each class in order, as the first three are */
    cr_assert_eq(ds_limit(&d, 3, &err), NN_OK);
    assert_ids(&d, (const int[]){0, 1, 2}, 3);
    ds_free(&d);
    ds_free(&d); /* freeing twice (zeroed) is harmless */

    /* sorted by class, as a folder set is: 6, 3, 1 images. Of 5: 3, 1.5
     * and 0.5; the half goes to the lower class: 3 + 2 + 0, the first
     * ones of each class, in order (the first 5 would be class 0 only) */
    const uint8_t sorted[10] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 2};
    make_labelled(&d, sorted, 10, 3);
    cr_assert_eq(ds_limit(&d, 5, &err), NN_OK);
    assert_ids(&d, (const int[]){0, 1, 2, 6, 7}, 5);
    cr_assert_arr_eq(d.labels, ((const uint8_t[]){0, 0, 0, 1, 1}), 5);
    ds_free(&d);
}

Test(datasets, keep_first_is_the_published_order)
{
    ds_dataset d;
    const uint8_t sorted[6] = {0, 0, 0, 1, 1, 1};
    make_labelled(&d, sorted, 6, 3);
    ds_keep_first(&d, 0);
    ds_keep_first(&d, 7);
    cr_assert_eq(d.n, 6);
    ds_keep_first(&d, 2);
    assert_ids(&d, (const int[]){0, 1}, 2);
    ds_free(&d);
}

Test(datasets, split_validation_is_stratified_seeded_and_keeps_order)
{
    ds_dataset d, val, d2, val2;
    nn_error err = {{0}};
    make_small(&d, 5);
    cr_assert_eq(ds_split_validation(&d, &val, 5, 1, &err), NN_ERR_ARG);
    assert_msg_has(err, "out of range");
    cr_assert_eq(ds_split_validation(&d, &val, -1, 1, &err), NN_ERR_ARG);
    cr_assert_eq(d.n, 5);
    ds_free(&d);

    /* 20 images sorted by class (10, 6, 4): 5 held out = 2.5, 1.5, 1 ->
     * 3 (the larger remainder first; ties to the lower class), 1, 1 */
    uint8_t labels[20];
    for (int i = 0; i < 20; i++)
        labels[i] = (uint8_t)(i < 10 ? 0 : i < 16 ? 1 : 2);
    make_labelled(&d, labels, 20, 3);
    cr_assert_eq(ds_split_validation(&d, &val, 5, 7, &err), NN_OK, "%s", err.msg);
    cr_assert(d.n == 15 && val.n == 5);
    cr_assert(val.c == 2 && val.h == 1 && val.w == 2 && val.num_classes == 3);
    int per_class[3] = {0};
    uint8_t seen[20] = {0};
    for (int i = 0; i < val.n; i++) {
        per_class[val.labels[i]]++;
        seen[val.images[4 * i]]++;
        cr_assert_eq(val.labels[i], labels[val.images[4 * i]], "label travels with its image");
        if (i)
            cr_assert_gt(val.images[4 * i], val.images[4 * (i - 1)], "val keeps the order");
    }
    cr_assert(per_class[0] == 3 && per_class[1] == 1 && per_class[2] == 1, "%d %d %d",
              per_class[0], per_class[1], per_class[2]);
    for (int i = 0; i < d.n; i++) {
        seen[d.images[4 * i]]++;
        if (i)
            cr_assert_gt(d.images[4 * i], d.images[4 * (i - 1)], "train keeps the order");
    }
    for (int i = 0; i < 20; i++)
        cr_assert_eq(seen[i], 1, "image %d in exactly one split", i);
    /* not the tail: the draw picks inside each class, the same for a seed */
    make_labelled(&d2, labels, 20, 3);
    cr_assert_eq(ds_split_validation(&d2, &val2, 5, 7, &err), NN_OK);
    cr_assert_arr_eq(val2.images, val.images, 20);
    ds_free(&d2), ds_free(&val2);
    int differs = 0;
    for (uint64_t seed = 8; seed < 12 && !differs; seed++) {
        make_labelled(&d2, labels, 20, 3);
        cr_assert_eq(ds_split_validation(&d2, &val2, 5, seed, &err), NN_OK);
        differs = memcmp(val2.images, val.images, 20) != 0;
        ds_free(&d2), ds_free(&val2);
    }
    cr_assert(differs, "the seed chooses the images");
    ds_free(&d); /* val owns its own names */
    cr_assert_str_eq(val.class_names[2], "c2");
    ds_free(&val);

    make_small(&d, 4);
    cr_assert_eq(ds_split_validation(&d, &val, 0, 1, &err), NN_OK);
    cr_assert(d.n == 4 && val.n == 0);
    ds_free(&d);
    ds_free(&val);
}

Test(datasets, limit_split_refuses_a_validation_that_leaves_no_training)
{
    ds_dataset d, val;
    nn_error err = {{0}};
    make_small(&d, 9);
    cr_assert_eq(ds_limit_split(&d, &val, 4, 4, 1, &err), NN_ERR_CONFIG);
    assert_msg_has(err, "data.validation (4) must be smaller than the 4 training images");
    cr_assert_null(val.images);
    ds_free(&d);
    make_small(&d, 9);
    cr_assert_eq(ds_limit_split(&d, &val, 6, 2, 1, &err), NN_OK, "%s", err.msg);
    cr_assert(d.n == 4 && val.n == 2);
    ds_free(&d), ds_free(&val);
}

Test(datasets, channel_stats_golden)
{
    /* channel 0: 0, 51, 102, 153 -> mean 0.3, std sqrt(0.05) = 0.2236068
     * channel 1: 255 everywhere  -> mean 1,   std 0 */
    uint8_t images[8] = {0, 51, 255, 255, 102, 153, 255, 255}; /* (2, 2, 1, 2) */
    uint8_t labels[2] = {0, 1};
    ds_dataset d = {.n = 2, .c = 2, .h = 1, .w = 2, .num_classes = 2, .images = images,
                    .labels = labels};
    float mean[2], std[2];
    ds_channel_stats(&d, mean, std);
    cr_assert_float_eq(mean[0], 0.3f, 1e-6);
    cr_assert_float_eq(std[0], 0.2236068f, 1e-6);
    cr_assert_float_eq(mean[1], 1.0f, 1e-6);
    cr_assert_float_eq(std[1], 0.0f, 1e-6);

    /* one gray channel, two values in equal numbers: mean 0.5, std 0.5 */
    uint8_t g[4] = {0, 255, 255, 0};
    ds_dataset e = {.n = 1, .c = 1, .h = 2, .w = 2, .num_classes = 1, .images = g,
                    .labels = labels};
    ds_channel_stats(&e, mean, std);
    cr_assert_float_eq(mean[0], 0.5f, 1e-6);
    cr_assert_float_eq(std[0], 0.5f, 1e-6);
}
