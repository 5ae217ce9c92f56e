/* test_ds_shard.c - datasets/ds_shard: the images asked for, read by
 * offset from small generated IDX and CIFAR-10 files, equal to the loaders'
 * (ds.h) and nothing more read (bytes_read); a truncated file fails at open
 * naming the file and its sizes, a file cut after opening fails the read
 * naming the file, the image and its byte offset; gzip is refused with the
 * hint to gunzip it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/ds.h"
#include "datasets/ds_shard.h"
#include "fixtures.h"

static const uint32_t pick[] = {7, 0, 42, 7, 99, 13};
enum { N_PICK = sizeof pick / sizeof pick[0] };

Test(ds_shard, idx_reads_exactly_the_chosen_images)
{
    char dir[256], path[400], labels[400];
    fx_tmpdir(dir, sizeof dir);
    fx_write_idx_pair(dir, "train", 100, 5, 7, 3);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte", dir);
    ds_dataset d;
    nn_error err;
    cr_assert_eq(ds_load_idx(&d, path, labels, &err), NN_OK, "%s", err.msg);
    ds_shard s;
    cr_assert_eq(ds_shard_open_idx(&s, path, &err), NN_OK, "%s", err.msg);
    cr_expect(s.n == 100 && s.c == 1 && s.h == 5 && s.w == 7);
    uint8_t out[N_PICK * 35];
    cr_assert_eq(ds_shard_read(&s, pick, N_PICK, out, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < N_PICK; i++)
        cr_expect_eq(memcmp(out + i * 35, d.images + pick[i] * 35, 35), 0, "image %u", pick[i]);
    cr_expect_eq(s.bytes_read, (uint64_t)N_PICK * 35, "read %llu bytes",
                 (unsigned long long)s.bytes_read);
    uint32_t past = 100;
    cr_expect_eq(ds_shard_read(&s, &past, 1, out, &err), NN_ERR_ARG);
    /* Cut after opening: the read names the file, the image and its offset. */
    cr_assert_eq(truncate(path, 16 + 50 * 35 + 10), 0);
    uint32_t cut = 50;
    cr_expect_eq(ds_shard_read(&s, &cut, 1, out, &err), NN_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s: truncated at byte %d: expected 35 bytes of image 50 from byte %d",
             path, 16 + 50 * 35 + 10, 16 + 50 * 35);
    cr_expect_str_eq(err.msg, want);
    ds_shard_close(&s);
    /* Truncated before opening: refused at open, with the sizes. */
    cr_expect_eq(ds_shard_open_idx(&s, path, &err), NN_ERR_FORMAT);
    cr_expect_not_null(strstr(err.msg, path), "%s", err.msg);
    cr_expect_not_null(strstr(err.msg, "1776 bytes, but its header (100 images of 5x7) says 3516"),
                       "%s", err.msg);
    ds_free(&d);
    /* gzip: refused, with the hint. */
    snprintf(path, sizeof path, "%s/gz", dir);
    fx_write_file(path, "\x1f\x8b\x08\x00 more", 9);
    cr_expect_eq(ds_shard_open_idx(&s, path, &err), NN_ERR_FORMAT);
    cr_expect_not_null(strstr(err.msg, "gunzip it once"), "%s", err.msg);
    fx_rmtree(dir);
}

Test(ds_shard, cifar_reads_the_chosen_images_across_batches)
{
    char dir[256], p1[400], p2[400];
    fx_tmpdir(dir, sizeof dir);
    enum { REC = 3073 };
    uint8_t *buf = malloc(60 * REC);
    cr_assert_not_null(buf);
    for (int i = 0; i < 60 * REC; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 24);
    for (int i = 0; i < 60; i++)
        buf[i * REC] = (uint8_t)(i % 10); /* the label byte */
    snprintf(p1, sizeof p1, "%s/data_batch_1.bin", dir);
    snprintf(p2, sizeof p2, "%s/data_batch_2.bin", dir);
    fx_write_file(p1, buf, 40 * REC);
    fx_write_file(p2, buf + 40 * REC, 20 * REC);
    const char *paths[] = {p1, p2};
    ds_dataset d;
    nn_error err;
    cr_assert_eq(ds_load_cifar10_bin(&d, paths, 2, &err), NN_OK, "%s", err.msg);
    ds_shard s;
    cr_assert_eq(ds_shard_open_cifar10(&s, paths, 2, &err), NN_OK, "%s", err.msg);
    cr_expect(s.n == 60 && s.c == 3 && s.h == 32 && s.w == 32);
    const uint32_t idx[] = {59, 0, 40, 39, 13};
    uint8_t *out = malloc(5 * 3072);
    cr_assert_eq(ds_shard_read(&s, idx, 5, out, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(memcmp(out + i * 3072, d.images + (size_t)idx[i] * 3072, 3072), 0,
                     "image %u", idx[i]);
    cr_expect_eq(s.bytes_read, 5u * 3072);
    ds_shard_close(&s);
    /* A batch that is not a whole number of records: refused, naming it. */
    cr_assert_eq(truncate(p2, 20 * REC - 100), 0);
    cr_expect_eq(ds_shard_open_cifar10(&s, paths, 2, &err), NN_ERR_FORMAT);
    cr_expect_not_null(strstr(err.msg, p2), "%s", err.msg);
    cr_expect_not_null(strstr(err.msg, "truncated at byte 58387"), "%s", err.msg);
    free(out), free(buf);
    ds_free(&d);
    fx_rmtree(dir);
}
