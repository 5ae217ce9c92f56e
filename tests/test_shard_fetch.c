/* test_shard_fetch.c - a data set left in its files (ds_open_named_shard)
 * and read image by image (pl_data_fetch, nn_train_config.fetch), as a
 * process of a distributed run reads its share (docs/distributed.md).
 *
 * The oracle is the in-memory path: the labels and index of a set opened
 * by shard, limited and split, name exactly the images the loaders keep in
 * memory (the same pixels, fetched); nn_train and nn_evaluate with fetched
 * images give the bytes of the same run from memory (parameters, running
 * statistics, every epoch's report, the confusion matrix), reading each
 * used image once per use and nothing else; a read error stops them with
 * its message. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ds.h"
#include "datasets/ds_shard.h"
#include "fixtures.h"
#include "layer_specs.h"
#include "libnn/nn_train.h"
#include "pipeline/pl_data.h"

/* The pixels of d's images pos[0 .. n), fetched, equal the in-memory set's. */
static void expect_fetched(ds_shard *files, const ds_dataset *d, const ds_dataset *mem)
{
    cr_assert_eq(d->n, mem->n);
    cr_assert_null(d->images);
    cr_expect_eq(memcmp(d->labels, mem->labels, (size_t)d->n), 0, "labels");
    size_t bytes = (size_t)d->c * d->h * d->w;
    uint32_t *pos = malloc((size_t)d->n * sizeof *pos);
    uint8_t *px = malloc((size_t)d->n * bytes);
    cr_assert(pos && px);
    for (int i = 0; i < d->n; i++) /* backwards: any order is read as asked */
        pos[i] = (uint32_t)(d->n - 1 - i);
    pl_fetch_src f = {files, d, 0};
    nn_error err;
    cr_assert_eq(pl_data_fetch(&f, pos, d->n, px, &err), NN_OK, "%s", err.msg);
    for (int i = 0; i < d->n; i++)
        cr_expect_eq(memcmp(px + i * bytes, mem->images + pos[i] * bytes, bytes), 0, "image %d",
                     (int)pos[i]);
    cr_expect_eq(f.images_read, (unsigned long long)d->n);
    uint32_t past = (uint32_t)d->n;
    cr_expect_eq(pl_data_fetch(&f, &past, 1, px, &err), NN_ERR_ARG);
    free(pos), free(px);
}

Test(shard_fetch, limit_and_split_move_the_index_with_the_labels)
{
    char dir[256];
    fx_tmpdir(dir, sizeof dir);
    fx_write_idx_pair(dir, "train", 120, 5, 6, 11);
    fx_write_idx_pair(dir, "t10k", 30, 5, 6, 12);
    ds_dataset mem, mval, sh, sval;
    ds_shard files;
    nn_error err;
    cr_assert_eq(ds_load_named(&mem, "mnist", dir, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ds_open_named_shard(&sh, &files, "mnist", dir, 1, &err), NN_OK, "%s", err.msg);
    cr_expect(sh.n == 120 && sh.c == 1 && sh.h == 5 && sh.w == 6 && sh.num_classes == 10);
    cr_expect_str_eq(sh.class_names[3], "3");
    cr_expect_eq(files.bytes_read, 0, "opening reads no pixels");
    /* The run's cut: 90 of 120 by class, 20 of them held out (seeded). */
    cr_assert_eq(ds_limit_split(&mem, &mval, 90, 20, 5, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ds_limit_split(&sh, &sval, 90, 20, 5, &err), NN_OK, "%s", err.msg);
    expect_fetched(&files, &sh, &mem);
    expect_fetched(&files, &sval, &mval);
    cr_expect_eq(files.bytes_read, 90u * 30, "each image read once");
    ds_free(&mem), ds_free(&mval), ds_free(&sh), ds_free(&sval);
    ds_shard_close(&files);
    /* The test split, and ds_keep_first on it. */
    cr_assert_eq(ds_load_named(&mem, "mnist", dir, 0, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ds_open_named_shard(&sh, &files, "mnist", dir, 0, &err), NN_OK, "%s", err.msg);
    ds_keep_first(&mem, 17), ds_keep_first(&sh, 17);
    expect_fetched(&files, &sh, &mem);
    ds_free(&mem), ds_free(&sh);
    ds_shard_close(&files);
    fx_rmtree(dir);
}

Test(shard_fetch, cifar_labels_from_the_records_and_refusals)
{
    char dir[256], path[400];
    fx_tmpdir(dir, sizeof dir);
    enum { REC = 3073, N = 12 };
    uint8_t *buf = malloc(N * REC);
    cr_assert_not_null(buf);
    for (int i = 0; i < N * REC; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 24);
    for (int i = 0; i < N; i++)
        buf[i * REC] = (uint8_t)(7 * i % 10);
    for (int b = 1; b <= 5; b++) { /* 5 batches of 2, then a test batch of 2 */
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
        fx_write_file(path, buf + (b - 1) * 2 * REC, 2 * REC);
    }
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    fx_write_file(path, buf + 10 * REC, 2 * REC);
    ds_dataset mem, sh;
    ds_shard files;
    nn_error err;
    cr_assert_eq(ds_load_named(&mem, "cifar10", dir, 1, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ds_open_named_shard(&sh, &files, "cifar10", dir, 1, &err), NN_OK, "%s", err.msg);
    cr_expect_str_eq(sh.class_names[9], "truck");
    expect_fetched(&files, &sh, &mem);
    ds_free(&mem), ds_free(&sh);
    ds_shard_close(&files);
    /* A label byte out of range: named with its file and byte. */
    buf[10 * REC + REC] = 10;
    fx_write_file(path, buf + 10 * REC, 2 * REC);
    cr_expect_eq(ds_open_named_shard(&sh, &files, "cifar10", dir, 0, &err), NN_ERR_FORMAT);
    cr_expect_not_null(strstr(err.msg, "test_batch.bin: label 10 at byte 3073 (image 1)"), "%s",
                       err.msg);
    cr_expect_null(sh.labels, "nothing left to free");
    /* A folder set is decoded whole: refused. */
    cr_expect_eq(ds_open_named_shard(&sh, &files, "png", dir, 1, &err), NN_ERR_ARG);
    cr_expect_not_null(strstr(err.msg, "only mnist, fashion and cifar10"), "%s", err.msg);
    /* gzip images: refused with the hint (the labels may be gzip). */
    fx_write_idx_pair(dir, "train", 10, 4, 4, 3);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "gzip -f '%s'", path);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(ds_open_named_shard(&sh, &files, "mnist", dir, 1, &err), NN_ERR_FORMAT);
    cr_expect_not_null(strstr(err.msg, "gzip data"), "%s", err.msg);
    cr_expect_not_null(strstr(err.msg, "gunzip -k"), "%s", err.msg);
    free(buf);
    fx_rmtree(dir);
}

/* ---- nn_train and nn_evaluate with fetched images ------------------------ */

enum { TF_N = 44, TF_NV = 10, TF_C = 2, TF_H = 6, TF_W = 6, TF_K = 3, TF_SIZE = TF_C * TF_H * TF_W };

/* A fetch source over an in-memory set that counts what it was asked for,
 * and fails at one call when fail_at is that call's number (1-based). */
typedef struct {
    const uint8_t *images;
    int n, calls, fail_at;
    unsigned long long read;
} mem_src;

static nn_status mem_fetch(void *user, const uint32_t *pos, int n, uint8_t *dst, nn_error *err)
{
    mem_src *s = user;
    if (++s->calls == s->fail_at)
        return nn_errorf(err, NN_ERR_IO, "planted read error at call %d", s->calls);
    for (int i = 0; i < n; i++) {
        cr_assert_lt(pos[i], (uint32_t)s->n);
        memcpy(dst + (size_t)i * TF_SIZE, s->images + (size_t)pos[i] * TF_SIZE, TF_SIZE);
    }
    s->read += (unsigned long long)n;
    return NN_OK;
}

static void tf_model(nn_model *m)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = TF_C, s.in_h = TF_H, s.in_w = TF_W, s.num_classes = TF_K;
    s.layers[s.n_layers++] = ls_conv(4, 3, 1, 0);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_BATCHNORM);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_RELU);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_MAXPOOL);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[s.n_layers++] = ls_dense(TF_K);
    nn_error err;
    cr_assert_eq(nn_model_build(m, &s, &err), NN_OK, "%s", err.msg);
    nn_model_init_params(m, NN_INIT_HE, 3);
    for (int c = 0; c < TF_C; c++)
        m->mean[c] = 0.45f, m->std[c] = 0.25f;
}

/* Augmentation keyed by the image's index: a fetched batch must pass the
 * set's index, not the position in the batch. */
static void shift_by_index(void *user, uint8_t *dst, const uint8_t *src, uint64_t epoch,
                           uint64_t index, int worker)
{
    (void)user, (void)worker;
    for (int i = 0; i < TF_SIZE; i++)
        dst[i] = (uint8_t)(src[i] + (uint8_t)(index * 7 + epoch));
}

typedef struct {
    nn_epoch_report r[3];
    int n;
} reports;

static nn_status keep_report(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                             nn_error *err)
{
    (void)ts, (void)err;
    reports *k = user;
    k->r[k->n] = *r;
    k->r[k->n].seconds = k->r[k->n].load_seconds = k->r[k->n].images_per_second = 0;
    k->n++;
    return NN_OK;
}

/* Trains 3 epochs (batches of 8: 5 an epoch, 4 images dropped) with
 * validation; from memory when src is NULL. */
static nn_status tf_train(nn_model *m, const fx_set *tr, const fx_set *va, mem_src *src,
                          mem_src *vsrc, reports *rep, nn_error *err)
{
    nn_optim o;
    nn_optim_config oc = {.kind = NN_OPT_SGD, .momentum = 0.9f, .nesterov = 1};
    cr_assert_eq(nn_optim_init(&o, &oc, m->n_params, err), NN_OK, "%s", err->msg);
    nn_train_config tc = {.epochs = 3, .batch_size = 8, .eval_batch = 4, .threads = 2,
                          .seed = 9, .schedule = {.kind = NN_SCHED_CONSTANT, .base_lr = 0.05f},
                          .augment = shift_by_index, .fetch = mem_fetch,
                          .fetch_train = src, .fetch_val = vsrc};
    nn_images ti = {src ? NULL : tr->images, tr->labels, TF_N};
    nn_images vi = {vsrc ? NULL : va->images, va->labels, TF_NV};
    nn_train_hooks hooks = {NULL, keep_report, rep, NULL, NULL};
    nn_train_state ts = {9, 0, 3, 0};
    nn_status st = nn_train(m, &o, &ts, &tc, &ti, &vi, &hooks, err);
    nn_optim_free(&o);
    return st;
}

Test(shard_fetch, train_and_evaluate_fetched_give_the_bytes_of_memory)
{
    fx_set tr = fx_stripe_set(TF_N, TF_C, TF_H, TF_W, TF_K, 21);
    fx_set va = fx_stripe_set(TF_NV, TF_C, TF_H, TF_W, TF_K, 22);
    nn_model a, b;
    tf_model(&a), tf_model(&b);
    reports ra = {{{0}}, 0}, rb = {{{0}}, 0};
    nn_error err;
    cr_assert_eq(tf_train(&a, &tr, &va, NULL, NULL, &ra, &err), NN_OK, "%s", err.msg);
    mem_src ts = {tr.images, TF_N, 0, 0, 0}, vs = {va.images, TF_NV, 0, 0, 0};
    cr_assert_eq(tf_train(&b, &tr, &va, &ts, &vs, &rb, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(memcmp(a.params, b.params, a.n_params * sizeof *a.params), 0, "parameters");
    cr_expect_eq(memcmp(a.state, b.state, a.n_state * sizeof *a.state), 0, "running statistics");
    cr_assert_eq(ra.n, 3);
    cr_assert_eq(rb.n, 3);
    cr_expect_eq(memcmp(ra.r, rb.r, sizeof ra.r), 0, "the epochs' reports");
    cr_expect(ra.r[2].has_val && ra.r[2].val_accuracy > 0);
    /* Each epoch: 5 batches of 8 fetched, the 10 validation images once. */
    cr_expect_eq(ts.read, 3u * 5 * 8, "training images read: %llu", ts.read);
    cr_expect_eq(ts.calls, 15);
    cr_expect_eq(vs.read, 3u * TF_NV, "validation images read: %llu", vs.read);

    /* Evaluation: the same result, each image read once. */
    nn_images mem = {va.images, va.labels, TF_NV}, fetched = {NULL, va.labels, TF_NV};
    nn_eval_config ec = {.batch = 4, .threads = 2, .test_flip = 1};
    nn_eval_result em, ef;
    cr_assert_eq(nn_evaluate(&a, &mem, &ec, &em, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(nn_evaluate(&a, &fetched, &ec, &ef, &err), NN_ERR_ARG, "no fetch: refused");
    mem_src es = {va.images, TF_NV, 0, 0, 0};
    ec.fetch = mem_fetch, ec.fetch_user = &es;
    cr_assert_eq(nn_evaluate(&a, &fetched, &ec, &ef, &err), NN_OK, "%s", err.msg);
    cr_expect(em.correct == ef.correct && em.loss == ef.loss);
    cr_expect_eq(memcmp(em.confusion, ef.confusion, TF_K * TF_K * sizeof(int)), 0);
    cr_expect_eq(es.read, (unsigned long long)TF_NV);
    nn_eval_result_free(&em), nn_eval_result_free(&ef);

    /* A read error stops training (and evaluation) with its message. */
    nn_model c;
    tf_model(&c);
    mem_src bad = {tr.images, TF_N, 0, 7, 0};
    reports rc = {{{0}}, 0};
    cr_expect_eq(tf_train(&c, &tr, &va, &bad, &vs, &rc, &err), NN_ERR_IO);
    cr_expect_str_eq(err.msg, "planted read error at call 7");
    cr_expect_eq(rc.n, 1, "stopped in epoch 2");
    es = (mem_src){va.images, TF_NV, 0, 2, 0};
    cr_expect_eq(nn_evaluate(&a, &fetched, &ec, &ef, &err), NN_ERR_IO);
    cr_expect_null(ef.confusion);
    nn_model_free(&a), nn_model_free(&b), nn_model_free(&c);
    free(tr.images), free(tr.labels), free(va.images), free(va.labels);
}
