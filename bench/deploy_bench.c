/* deploy_bench.c - inference speed of real model files, one thread: the
 * float engine (libnn nn_exec: its own conv kernels and nn_gemm, training off) on
 * checkpoints and the int8 runtime (runtime/rt.h on the host's image,
 * export/rt_host.h) on .iotc
 * files, at batch 1 and batch B (default 128). `make bench` (bench/run.sh)
 * runs it on models that the project's own pipeline has just written
 * (train, structured prune, quantize) and derives the int8 / float and
 * pruned / unpruned ratios from its JSON line.
 *
 * Models: arguments LABEL=FILE (or FILE: the label is its base name without
 * the extension). The format comes from the first 8 bytes: "IOTCNNQ8" is a
 * .iotc model, anything else goes to the checkpoint loader (which names the
 * file when it is neither).
 *   checkpoint: ckpt_load, nn_exec_create(max batch = the batch, 1
 *     thread, training 0); a call is nn_exec_load_images (raw uint8 pixels
 *     normalized into the input buffer) + nn_exec_forward(training 0). Batch
 *     norm runs as its own layer (the checkpoint is the trained model as it
 *     is; only quantization folds it).
 *   .iotc: iotc_load, rth_open(ISA): the host's image built in memory and
 *     checked, one arena of rth_arena_bytes allocated before timing; a call
 *     is rth_run (raw uint8 pixels in, int8 logits out, one rt_run_isa per
 *     image; no allocation). --isa auto (default) times the best ISA only;
 *     --isa all times every ISA this CPU has (the best one is marked
 *     "auto"); --isa NAME only that one.
 * Both engines start from the same raw pixels, so the float time includes
 * its normalization and the int8 time its input table.
 *
 * Input: the first B test images of --data DIR (an MNIST-style IDX folder,
 * default data/mnist; --dataset NAME for another layout ds_load_named
 * knows), or with --random uniformly random uint8 pixels of each model's
 * input shape (seeded). With real images the batch-B run's top-1 hits on
 * them are reported as a sanity check of the loaded model (speed does not
 * depend on the pixel values).
 *
 * Timing (bench_util.h): every case (model x engine x ISA x batch) gets one
 * untimed warm-up call; then --reps rounds, each timing one repetition of
 * every case in turn (calls back to back for >= --min-ms, CLOCK_MONOTONIC),
 * so a change in the machine's load hits all cases alike. The BEST
 * repetition counts (the median is reported too). One thread throughout.
 * "cpu/wall" is the process's CPU time over the wall time of the best
 * repetition: about 1 when the benchmark had its CPU to itself, below 1
 * when other processes took it away (the wall time then overstates).
 *
 * Output: a table, then one JSON line (the last line).
 * Usage: deploy_bench [--batch B] [--reps R] [--min-ms T] [--isa auto|all|NAME]
 *                     [--data DIR] [--dataset NAME] [--random] [--seed S]
 *                     LABEL=MODEL...
 * Exit status 0, 1 on a load or run error (named on stderr), 2 on usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ds.h"
#include "export/rt_host.h"
#include "format/ckpt.h"
#include "format/iotc.h"
#include "libnn/nn_exec.h"
#include "libnn/nn_isa.h"
#include "libnn/nn_rng.h"
#include "bench_util.h"

#define MAX_MODELS 16
#define MAX_CASES (MAX_MODELS * 2 * 4)
#define MAX_REPS 100

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "deploy_bench: %s: %s\n", what, msg);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("memory", "out of memory");
    return p;
}

/* One loaded model file. */
typedef struct {
    char label[64];
    const char *path;
    int is_iotc;
    ckpt_file ck;     /* a checkpoint's contents                          */
    iotc_model *qf;   /* a .iotc file's contents                          */
    int in_c, in_h, in_w, classes;
    uint64_t macs;         /* per image                                        */
    uint64_t params;       /* float parameters, or int8 weights + biases       */
    char weights[8];       /* "f32", or the weight bits: "w8", "w4", "w4/8"    */
    uint8_t *pixels;       /* (batch, c, h, w) the images of all its cases     */
    const uint8_t *labels; /* (batch) or NULL (random pixels)                  */
} model;

/* One timed configuration. */
typedef struct {
    model *m;
    const char *engine; /* "float" or "int8"                                */
    char isa[48];       /* "libnn ISA" or the int8 engine's ISA             */
    int is_auto;        /* the ISA RT_ISA_AUTO picks (float: always 1)      */
    int batch;
    nn_exec *ex;          /* float                                            */
    rth_model *host;      /* int8                                             */
    void *arena;          /* int8: rth_arena_bytes(host)                      */
    int8_t *logits;       /* int8: (batch, classes)                           */
    double sec[MAX_REPS]; /* wall seconds per call, per repetition            */
    double cpu[MAX_REPS]; /* process CPU seconds per call, per repetition     */
    double best, median;  /* of sec                                           */
    double best_cpu;      /* cpu of the best repetition                       */
    int correct;          /* top-1 hits of the batch, -1 when unknown         */
} bench_case;

static void run_float(void *ctx, int n)
{
    bench_case *c = ctx;
    nn_exec_load_images(c->ex, c->m->pixels, NULL, n, NULL, NULL, 0);
    nn_exec_forward(c->ex, n, 0, 0, 0);
}

static void run_int8(void *ctx, int n)
{
    bench_case *c = ctx;
    if (rth_run(c->host, c->arena, c->m->pixels, n, c->logits) != NN_OK)
        die("rth_run", "failed");
}

static int file_is_iotc(const char *path)
{
    char magic[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0; /* the checkpoint loader names the missing file */
    int yes = fread(magic, 1, sizeof magic, f) == sizeof magic &&
              memcmp(magic, IOTC_MAGIC, sizeof magic) == 0;
    fclose(f);
    return yes;
}

static void load_model(model *m, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq) {
        snprintf(m->label, sizeof m->label, "%.*s", (int)(eq - arg), arg);
        m->path = eq + 1;
    } else {
        const char *base = strrchr(arg, '/');
        base = base ? base + 1 : arg;
        const char *dot = strrchr(base, '.');
        snprintf(m->label, sizeof m->label, "%.*s", dot ? (int)(dot - base) : (int)strlen(base),
                 base);
        m->path = arg;
    }
    nn_error err = {{0}};
    m->is_iotc = file_is_iotc(m->path);
    if (m->is_iotc) {
        m->qf = xmalloc(sizeof *m->qf);
        if (iotc_load(m->qf, m->path, &err) != NN_OK)
            die("model", err.msg); /* the message names the file */
        const qm_model *q = &m->qf->m;
        m->in_c = q->in_c, m->in_h = q->in_h, m->in_w = q->in_w, m->classes = q->num_classes;
        m->macs = qm_model_macs(q);
        int has4 = 0, has8 = 0;
        for (int i = 0; i < q->n_ops; i++)
            if (q->ops[i].type == QM_CONV2D || q->ops[i].type == QM_DENSE) {
                m->params += q->ops[i].n_weights + (uint64_t)q->ops[i].out_c;
                has4 |= q->ops[i].weight_bits == 4;
                has8 |= q->ops[i].weight_bits == 8;
            }
        snprintf(m->weights, sizeof m->weights, "%s", has4 && has8 ? "w4/8" : has4 ? "w4" : "w8");
    } else {
        if (ckpt_load(&m->ck, m->path, &err) != NN_OK)
            die("model", err.msg);
        const nn_model *f = &m->ck.model;
        m->in_c = f->spec.in_c, m->in_h = f->spec.in_h, m->in_w = f->spec.in_w;
        m->classes = f->spec.num_classes;
        m->macs = nn_model_macs(f);
        m->params = f->n_params;
        snprintf(m->weights, sizeof m->weights, "f32");
    }
}

/* The batch's images for model m: the first `batch` of data (cycled when it
 * has fewer), or random pixels when data is NULL. */
static void set_pixels(model *m, const ds_dataset *data, int batch, uint64_t seed)
{
    size_t img = (size_t)m->in_c * m->in_h * m->in_w;
    m->pixels = xmalloc((size_t)batch * img);
    if (!data) {
        nn_rng r;
        nn_rng_seed(&r, seed);
        nn_rng_bytes(&r, m->pixels, (size_t)batch * img);
        return;
    }
    if (data->c != m->in_c || data->h != m->in_h || data->w != m->in_w) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the model takes %dx%dx%d images, the data has %dx%dx%d "
                 "(use --random or other --data)",
                 m->in_c, m->in_h, m->in_w, data->c, data->h, data->w);
        die(m->path, msg);
    }
    uint8_t *labels = xmalloc((size_t)batch);
    for (int i = 0; i < batch; i++) {
        memcpy(m->pixels + (size_t)i * img, data->images + (size_t)(i % data->n) * img, img);
        labels[i] = data->labels[i % data->n];
    }
    m->labels = labels;
}

/* Top-1 hits of one run of the case's whole batch (-1 without labels). */
static int check_batch(bench_case *c)
{
    if (!c->m->labels)
        return -1;
    int n = c->batch, k = c->m->classes, hits = 0;
    int *pred = xmalloc((size_t)n * sizeof *pred);
    if (c->ex) {
        nn_exec_load_images(c->ex, c->m->pixels, NULL, n, NULL, NULL, 0);
        const float *lg = nn_exec_forward(c->ex, n, 0, 0, 0); /* (n, k) */
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int j = 1; j < k; j++)
                if (lg[(size_t)i * k + j] > lg[(size_t)i * k + best])
                    best = j;
            pred[i] = best;
        }
    } else {
        run_int8(c, n);
        rth_argmax(c->logits, n, k, pred);
    }
    for (int i = 0; i < n; i++)
        hits += pred[i] == c->m->labels[i];
    free(pred);
    return hits;
}

/* s as a JSON string (quotes and backslashes escaped, control bytes
 * dropped). */
static void print_json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        if ((unsigned char)*s >= 0x20)
            putchar(*s);
    }
    putchar('"');
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: deploy_bench [--batch B] [--reps R] [--min-ms T] [--isa auto|all|NAME]\n"
            "                    [--data DIR] [--dataset NAME] [--random] [--seed S] "
            "LABEL=MODEL...\n"
            "  MODEL: a checkpoint (float engine) or a .iotc file (int8 engine)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int big = 128, reps = 5, random = 0;
    double min_s = 0.1;
    const char *isa_opt = "auto", *data_dir = "data/mnist", *dataset = "mnist";
    uint64_t seed = 1;
    static model models[MAX_MODELS];
    int n_models = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--batch") && has)
            big = atoi(argv[++i]);
        else if (!strcmp(a, "--reps") && has)
            reps = atoi(argv[++i]);
        else if (!strcmp(a, "--min-ms") && has)
            min_s = atof(argv[++i]) / 1000.0;
        else if (!strcmp(a, "--isa") && has)
            isa_opt = argv[++i];
        else if (!strcmp(a, "--data") && has)
            data_dir = argv[++i];
        else if (!strcmp(a, "--dataset") && has)
            dataset = argv[++i];
        else if (!strcmp(a, "--seed") && has)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--random"))
            random = 1;
        else if (a[0] == '-')
            usage();
        else if (n_models < MAX_MODELS)
            models[n_models++].path = a; /* loaded below */
        else
            die("arguments", "too many models");
    }
    if (n_models == 0 || big < 1 || reps < 1 || reps > MAX_REPS || !(min_s > 0))
        usage();
    rt_isa only = RT_ISA_AUTO;
    int all_isas = !strcmp(isa_opt, "all");
    if (!all_isas && strcmp(isa_opt, "auto")) {
        int k = rth_isa_parse(isa_opt);
        if (k <= RT_ISA_AUTO)
            die("--isa", "unknown (auto, all, c, avx2, avx512-vnni)");
        only = (rt_isa)k;
        if (!rt_isa_supported(only))
            die("--isa", "this CPU does not support it");
    }

    ds_dataset data = {0};
    nn_error err = {{0}};
    if (!random) {
        if (ds_load_named(&data, dataset, data_dir, 0, &err) != NN_OK)
            die(data_dir, err.msg);
    }
    for (int i = 0; i < n_models; i++) {
        const char *arg = models[i].path;
        load_model(&models[i], arg);
        set_pixels(&models[i], random ? NULL : &data, big, seed + (uint64_t)i);
    }

    /* the cases */
    static bench_case cases[MAX_CASES];
    int n_cases = 0;
    const int batches[2] = {1, big};
    const rt_isa best_isa = rt_isa_best();
    for (int i = 0; i < n_models; i++) {
        model *m = &models[i];
        for (int b = 0; b < (big == 1 ? 1 : 2); b++) {
            if (!m->is_iotc) {
                bench_case *c = &cases[n_cases++];
                c->m = m, c->engine = "float", c->batch = batches[b], c->is_auto = 1;
                snprintf(c->isa, sizeof c->isa, "libnn %s", nn_isa_name(nn_isa_best()));
                if (nn_exec_create(&c->ex, &m->ck.model, c->batch, 1, 0, &err) != NN_OK)
                    die(m->path, err.msg);
                continue;
            }
            for (rt_isa k = RT_ISA_AVX512_VNNI; k >= RT_ISA_C; k--) {
                if (!rt_isa_supported(k))
                    continue;
                if (!all_isas && k != (only == RT_ISA_AUTO ? best_isa : only))
                    continue;
                bench_case *c = &cases[n_cases++];
                c->m = m, c->engine = "int8", c->batch = batches[b];
                c->is_auto = k == best_isa;
                snprintf(c->isa, sizeof c->isa, "%s", rt_isa_name(k));
                c->host = xmalloc(sizeof *c->host);
                if (rth_open(c->host, &m->qf->m, k, &err) != NN_OK)
                    die(m->path, err.msg);
                c->arena = aligned_alloc(8, (rth_arena_bytes(c->host) + 7) & ~(size_t)7);
                if (!c->arena)
                    die("memory", "out of memory");
                c->logits = xmalloc((size_t)c->batch * (size_t)m->classes);
            }
        }
    }

    /* warm-up, then rounds of one repetition per case */
    for (int i = 0; i < n_cases; i++)
        (cases[i].ex ? run_float : run_int8)(&cases[i], cases[i].batch);
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n_cases; i++)
            cases[i].sec[r] = bench_rep(cases[i].ex ? run_float : run_int8, &cases[i],
                                        cases[i].batch, min_s, &cases[i].cpu[r]);
    for (int i = 0; i < n_cases; i++) {
        bench_case *c = &cases[i];
        double s[MAX_REPS];
        memcpy(s, c->sec, (size_t)reps * sizeof *s);
        qsort(s, (size_t)reps, sizeof *s, cmp_double);
        c->best = s[0];
        for (int r = 0; r < reps; r++)
            if (c->sec[r] == c->best)
                c->best_cpu = c->cpu[r];
        c->median = reps % 2 ? s[reps / 2] : 0.5 * (s[reps / 2 - 1] + s[reps / 2]);
        c->correct = c->batch == big ? check_batch(c) : -1;
    }

    /* report */
    printf("deploy_bench: 1 thread, batch 1 and %d, best of %d rounds x >= %.0f ms "
           "(CLOCK_MONOTONIC), input: %s\n",
           big, reps, min_s * 1e3,
           random ? "random uint8 pixels" : "real test images (the first of the test split)");
    printf("%-10s %-6s %-5s %-26s %5s %10s %10s %8s %11s %8s %10s  %s\n", "model", "engine", "wts",
           "ISA", "batch", "ms/batch", "median ms", "cpu/wall", "images/s", "MMAC/img", "arena KiB",
           "top-1 check");
    for (int i = 0; i < n_cases; i++) {
        const bench_case *c = &cases[i];
        char isa[64], arena[32] = "-", check[32] = "";
        snprintf(isa, sizeof isa, "%s%s", c->isa, c->host && c->is_auto ? " (auto)" : "");
        if (c->host)
            snprintf(arena, sizeof arena, "%zu", rth_arena_bytes(c->host) >> 10);
        if (c->correct >= 0)
            snprintf(check, sizeof check, "%d/%d", c->correct, c->batch);
        printf("%-10s %-6s %-5s %-26s %5d %10.3f %10.3f %8.2f %11.0f %8.2f %10s  %s\n", c->m->label,
               c->engine, c->m->weights, isa, c->batch, c->best * 1e3, c->median * 1e3,
               c->best_cpu / c->best, c->batch / c->best, (double)c->m->macs / 1e6, arena, check);
    }

    printf("{\"bench\": \"deploy\", \"threads\": 1, \"stat\": \"best\", \"reps\": %d, "
           "\"min_ms\": %.1f, \"batch\": %d, \"input\": \"%s\", \"isa_best\": \"%s\", "
           "\"results\": [",
           reps, min_s * 1e3, big, random ? "random" : "test_images", rt_isa_name(best_isa));
    for (int i = 0; i < n_cases; i++) {
        const bench_case *c = &cases[i];
        printf("%s{\"model\": ", i ? ", " : "");
        print_json_str(c->m->label);
        printf(", \"file\": ");
        print_json_str(c->m->path);
        printf(", \"format\": \"%s\", \"engine\": \"%s\", \"weights\": \"%s\", \"isa\": ",
               c->m->is_iotc ? "iotc" : "ckpt", c->engine, c->m->weights);
        print_json_str(c->isa);
        printf(", \"auto\": %s, \"batch\": %d, \"ms\": %.6f, \"ms_median\": %.6f, "
               "\"cpu_ms\": %.6f, "
               "\"images_per_second\": %.1f, \"macs\": %llu, \"params\": %llu, "
               "\"arena_bytes\": %zu, \"check_correct\": %d}",
               c->is_auto ? "true" : "false", c->batch, c->best * 1e3, c->median * 1e3,
               c->best_cpu * 1e3, c->batch / c->best, (unsigned long long)c->m->macs,
               (unsigned long long)c->m->params, c->host ? rth_arena_bytes(c->host) : (size_t)0,
               c->correct);
    }
    printf("]}\n");

    for (int i = 0; i < n_cases; i++) {
        bench_case *c = &cases[i];
        if (c->ex)
            nn_exec_free(c->ex);
        if (c->host)
            rth_close(c->host);
        free(c->host);
        free(c->arena);
        free(c->logits);
    }
    for (int i = 0; i < n_models; i++) {
        model *m = &models[i];
        if (m->is_iotc) {
            iotc_free(m->qf);
            free(m->qf);
        } else {
            ckpt_free(&m->ck);
        }
        free(m->pixels);
        free((void *)m->labels);
    }
    ds_free(&data);
    return 0;
}
