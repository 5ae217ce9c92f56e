/* devprep.c - the host half of `make device-eval`: the first N test images
 * of a dataset, their labels and the host's logits (the runtime on the
 * host's image, export/rt_host.h),
 * as the files the firmware reads through semihosting, plus meta.txt with
 * the target, the model and the host's correct count.
 *
 *   devprep MODEL.iotc DATASET LIMIT OUTDIR TARGET
 * DATASET: mnist, fashion, cifar10 (data/NAME) or a directory of that
 * layout (ds_load_named). Prints one JSON line: images, host_correct,
 * host_accuracy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "datasets/ds.h"
#include "export/rt_host.h"

static int put(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "devprep: %s: write failed\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: devprep MODEL.iotc DATASET LIMIT OUTDIR TARGET\n");
        return 2;
    }
    nn_error err;
    static iotc_model f;
    iotc_init(&f);
    if (iotc_load(&f, argv[1], &err) != NN_OK) {
        fprintf(stderr, "devprep: %s\n", err.msg);
        return 1;
    }
    ds_dataset d;
    const char *name = argv[2];
    char dir[4200];
    int named = !strcmp(name, "mnist") || !strcmp(name, "fashion") || !strcmp(name, "cifar10");
    snprintf(dir, sizeof dir, named ? "data/%s" : "%s", name);
    const char *kind = named ? name : (iotc_get_meta(&f, "dataset") ? iotc_get_meta(&f, "dataset") : "mnist");
    if (ds_load_named(&d, kind, dir, 0, &err) != NN_OK) {
        fprintf(stderr, "devprep: %s (datasets/fetch.sh %s)\n", err.msg, kind);
        return 1;
    }
    int limit = atoi(argv[3]);
    if (limit > 0)
        ds_keep_first(&d, limit);
    const qm_model *m = &f.m;
    if (d.c != m->in_c || d.h != m->in_h || d.w != m->in_w) {
        fprintf(stderr, "devprep: the images are %dx%dx%d, the model takes %dx%dx%d\n", d.c, d.h,
                d.w, m->in_c, m->in_h, m->in_w);
        return 1;
    }
    rth_model h;
    if (rth_open(&h, m, RT_ISA_AUTO, &err) != NN_OK) {
        fprintf(stderr, "devprep: %s\n", err.msg);
        return 1;
    }
    const size_t in = (size_t)d.c * d.h * d.w, K = (size_t)m->num_classes;
    int8_t *lg = malloc((size_t)d.n * K);
    void *arena = aligned_alloc(8, (rth_arena_bytes(&h) + 7) & ~(size_t)7);
    int *pred = malloc(sizeof(int) * (size_t)d.n);
    if (!lg || !arena || !pred || rth_run(&h, arena, d.images, d.n, lg) != NN_OK)
        return 1;
    rth_argmax(lg, d.n, m->num_classes, pred);
    int correct = 0;
    for (int i = 0; i < d.n; i++)
        correct += pred[i] == d.labels[i];
    char meta[600];
    snprintf(meta, sizeof meta, "%s %s %d\n", argv[5], argv[1], correct);
    if (put(argv[4], "images.bin", d.images, (size_t)d.n * in) ||
        put(argv[4], "labels.bin", d.labels, (size_t)d.n) ||
        put(argv[4], "expected.bin", lg, (size_t)d.n * K) || put(argv[4], "meta.txt", meta, strlen(meta)))
        return 1;
    printf("{\"images\":%d,\"host_correct\":%d,\"host_accuracy\":%.4f}\n", d.n, correct,
           (double)correct / d.n);
    rth_close(&h);
    free(lg), free(arena), free(pred);
    ds_free(&d);
    iotc_free(&f);
    return 0;
}
