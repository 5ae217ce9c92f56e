/* int8_bench.c - the int8 runtime (runtime/rt.h on the host's image,
 * export/rt_host.h) against the float
 * forward pass (libnn nn_exec: its own conv kernels and nn_gemm) on the MNIST
 * recipe's network (or, with --net cifar, configs/cifar10.json's), one
 * thread, batch 1 and batch 128.
 *
 * Float: conv3x3(32)-relu-conv3x3(32)-relu-maxpool-conv3x3(64)-relu-
 * conv3x3(64)-relu-maxpool-flatten-dense(256)-relu-dense(10) on 1x28x28,
 * biases instead of batch norm (the quantized model has BN folded, so this
 * is the float net with the same work), He init, nn_exec_forward with
 * training = 0 and 1 thread.
 * Int8: a random qm_model of the same shapes (ReLUs fused), built as the
 * host's image for every ISA this CPU has and run image by image (rth_run:
 * one rt_run_isa per image, so batch 128 is 128 calls), with dense weights
 * and with the two dense layers 95% sparse (--sparsity; the builder picks
 * each dense layer's format by density and ISA).
 * CIFAR (--net cifar): the ResNet-style net of configs/cifar10.json on
 * 3x32x32, batch norm replaced by conv biases (folded, in int8), ReLUs
 * fused, residual adds, global average pooling, dense 10.
 *
 * Timing: one untimed call, then a repetition calls the forward back to
 * back until it has taken --min-ms; the best of --reps repetitions counts
 * (CLOCK_MONOTONIC). On a shared machine the numbers are indicative only.
 * Output: a table, then one JSON line (the last line).
 * Usage: int8_bench [--net mnist|cifar] [--reps R] [--min-ms T] [--sparsity S]
 *                   [--batch B] [--isa NAME] [--bits 8|4]
 * (--bits 4: the convs' weights are 4-bit, as a 4-bit recipe makes them) *
 * (--isa: only that int8 ISA, e.g. for a profiler; the float run still happens) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/rt_host.h"
#include "format/qmodel.h"
#include "libnn/nn_exec.h"
#include "libnn/nn_model.h"
#include "libnn/nn_rng.h"
#include "bench_util.h"

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "int8_bench: %s: %s\n", what, msg);
    exit(1);
}

/* ---- float model ------------------------------------------------------------- */

/* Appends a layer; returns its index. */
static int add_layer(nn_model_spec *s, nn_layer_type t, int arg)
{
    nn_layer_spec *l = &s->layers[s->n_layers++];
    nn_layer_spec_defaults(l, t);
    if (t == NN_LAYER_CONV2D)
        l->out_channels = arg, l->kernel = 3, l->pad = 1;
    if (t == NN_LAYER_DENSE)
        l->units = arg;
    if (t == NN_LAYER_ADD)
        l->input2 = arg;
    return s->n_layers - 1;
}

static void build_float(nn_model *m, int cifar)
{
    static nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.num_classes = 10;
    if (!cifar) {
        s.in_c = 1, s.in_h = 28, s.in_w = 28;
        add_layer(&s, NN_LAYER_CONV2D, 32), add_layer(&s, NN_LAYER_RELU, 0);
        add_layer(&s, NN_LAYER_CONV2D, 32), add_layer(&s, NN_LAYER_RELU, 0);
        add_layer(&s, NN_LAYER_MAXPOOL, 0);
        add_layer(&s, NN_LAYER_CONV2D, 64), add_layer(&s, NN_LAYER_RELU, 0);
        add_layer(&s, NN_LAYER_CONV2D, 64), add_layer(&s, NN_LAYER_RELU, 0);
        add_layer(&s, NN_LAYER_MAXPOOL, 0);
        add_layer(&s, NN_LAYER_FLATTEN, 0);
        add_layer(&s, NN_LAYER_DENSE, 256), add_layer(&s, NN_LAYER_RELU, 0);
        add_layer(&s, NN_LAYER_DENSE, 10);
    } else {
        s.in_c = 3, s.in_h = 32, s.in_w = 32;
        add_layer(&s, NN_LAYER_CONV2D, 32), add_layer(&s, NN_LAYER_RELU, 0);
        for (int stage = 0; stage < 2; stage++) {
            int w = stage ? 128 : 64;
            add_layer(&s, NN_LAYER_CONV2D, w), add_layer(&s, NN_LAYER_MAXPOOL, 0);
            int skip = add_layer(&s, NN_LAYER_RELU, 0);
            add_layer(&s, NN_LAYER_CONV2D, w), add_layer(&s, NN_LAYER_RELU, 0);
            add_layer(&s, NN_LAYER_CONV2D, w), add_layer(&s, NN_LAYER_ADD, skip);
            add_layer(&s, NN_LAYER_RELU, 0);
        }
        add_layer(&s, NN_LAYER_GLOBAL_AVGPOOL, 0), add_layer(&s, NN_LAYER_FLATTEN, 0);
        add_layer(&s, NN_LAYER_DENSE, 10);
    }
    nn_error err;
    if (nn_model_build(m, &s, &err) != NN_OK)
        die("float model", err.msg);
    nn_model_init_params(m, NN_INIT_HE, 1);
    for (int c = 0; c < s.in_c; c++)
        m->mean[c] = 0.45f, m->std[c] = 0.25f;
}

/* ---- int8 model ---------------------------------------------------------------- */

/* Appends an op reading tensor `input` (shape taken from it); returns its
 * index. */
static int q_op(qm_model *m, qm_op_type t, int input, int out_c, int relu)
{
    qm_op *op = &m->ops[m->n_ops];
    memset(op, 0, sizeof *op);
    op->type = t, op->input = input, op->relu = relu;
    if (input == QM_INPUT)
        op->in_c = m->in_c, op->in_h = m->in_h, op->in_w = m->in_w;
    else
        op->in_c = m->ops[input].out_c, op->in_h = m->ops[input].out_h,
        op->in_w = m->ops[input].out_w;
    op->out.scale = 0.05f;
    op->out.zero = -100 + 7 * m->n_ops;
    op->weight_bits = 8;
    op->out_c = out_c ? out_c : op->in_c;
    op->out_h = op->in_h, op->out_w = op->in_w;
    switch (t) {
    case QM_CONV2D: op->kernel = 3, op->stride = 1, op->pad = 1; break;
    case QM_MAXPOOL:
        op->kernel = 2, op->stride = 2, op->out_h = op->in_h / 2, op->out_w = op->in_w / 2;
        op->out.zero = input == QM_INPUT ? m->in.zero : m->ops[input].out.zero;
        break;
    case QM_GLOBAL_AVGPOOL:
        op->out_h = op->out_w = 1;
        op->out.zero = m->ops[input].out.zero;
        break;
    case QM_DENSE: op->out_h = op->out_w = 1; break;
    case QM_ADD: op->add_mult[0] = op->add_mult[1] = 1 << 30, op->add_shift = 31; break;
    default: break;
    }
    return m->n_ops++;
}

static void build_int8(qm_model *m, int cifar, double sparsity, int bits)
{
    memset(m, 0, sizeof *m);
    m->num_classes = 10;
    m->in.scale = 0.02f, m->in.zero = -10;
    if (!cifar) {
        m->in_c = 1, m->in_h = 28, m->in_w = 28;
        int x = q_op(m, QM_CONV2D, QM_INPUT, 32, 1);
        x = q_op(m, QM_CONV2D, x, 32, 1), x = q_op(m, QM_MAXPOOL, x, 0, 0);
        x = q_op(m, QM_CONV2D, x, 64, 1), x = q_op(m, QM_CONV2D, x, 64, 1);
        x = q_op(m, QM_MAXPOOL, x, 0, 0);
        x = q_op(m, QM_DENSE, x, 256, 1), q_op(m, QM_DENSE, x, 10, 0);
    } else {
        m->in_c = 3, m->in_h = 32, m->in_w = 32;
        int x = q_op(m, QM_CONV2D, QM_INPUT, 32, 1);
        for (int stage = 0; stage < 2; stage++) {
            int w = stage ? 128 : 64;
            x = q_op(m, QM_CONV2D, x, w, 0);
            int skip = q_op(m, QM_MAXPOOL, x, 0, 1);
            x = q_op(m, QM_CONV2D, skip, w, 1), x = q_op(m, QM_CONV2D, x, w, 0);
            x = q_op(m, QM_ADD, x, 0, 1);
            m->ops[x].input2 = skip;
        }
        x = q_op(m, QM_GLOBAL_AVGPOOL, x, 0, 0);
        q_op(m, QM_DENSE, x, 10, 0);
    }
    nn_error err;
    if (qm_model_alloc(m, &err) != NN_OK)
        die("int8 model", err.msg);
    nn_rng r;
    nn_rng_seed(&r, 2);
    for (int i = 0; i < m->in_c * 256; i++)
        m->input_lut[i] = (int8_t)(i % 256 / 2 - 10);
    for (int i = 0; i < m->n_ops; i++) {
        qm_op *op = &m->ops[i];
        if (op->type != QM_CONV2D && op->type != QM_DENSE)
            continue;
        double sp = op->type == QM_DENSE ? sparsity : 0.0;
        int wmax = op->type == QM_CONV2D && bits == 4 ? 7 : 127;
        op->weight_bits = wmax == 7 ? 4 : 8;
        for (size_t k = 0; k < op->n_weights; k++)
            op->weights[k] = nn_rng_uniform(&r) < sp
                                 ? 0
                                 : (int8_t)((int)nn_rng_below(&r, 2 * wmax + 1) - wmax);
        size_t K = op->n_weights / (size_t)op->out_c;
        for (int o = 0; o < op->out_c; o++) {
            int32_t mu, sh;
            double real = 30.0 / (sqrt((double)K * (1.0 - sp) + 1) * wmax * 0.58 * 60);
            if (qm_quantize_multiplier(real, &mu, &sh) != NN_OK)
                die("int8 model", "multiplier");
            op->mult[o] = mu, op->shift[o] = (int8_t)sh;
            op->bias[o] = (int32_t)nn_rng_below(&r, 2001) - 1000;
            op->w_scale[o] = 0.01f;
        }
    }
    if (qm_model_validate(m, &err) != NN_OK)
        die("int8 model", err.msg);
}

/* ---- timing ------------------------------------------------------------------------- */

typedef struct {
    int reps;
    double min_s;
} timing;

/* Best seconds per call of fn(ctx, n) (bench_util.h). */
static double time_calls(bench_fn fn, void *ctx, int n, const timing *t)
{
    return bench_best(fn, ctx, n, t->reps, t->min_s);
}

typedef struct {
    nn_exec *ex;
} float_ctx;

static void float_fwd(void *ctx, int n)
{
    float_ctx *c = ctx;
    nn_exec_forward(c->ex, n, 0, 0, 0);
}

typedef struct {
    const rth_model *h;
    void *arena;
    const uint8_t *pixels;
    int8_t *logits;
} int8_ctx;

static void int8_fwd(void *ctx, int n)
{
    int8_ctx *c = ctx;
    if (rth_run(c->h, c->arena, c->pixels, n, c->logits) != NN_OK)
        die("rth_run", "failed");
}

int main(int argc, char **argv)
{
    timing t = {3, 0.3};
    double sparsity = 0.95;
    int big = 128;
    const char *only = NULL;
    int cifar = 0, bits = 8;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            t.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc)
            t.min_s = atof(argv[++i]) / 1000.0;
        else if (!strcmp(argv[i], "--sparsity") && i + 1 < argc)
            sparsity = atof(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            big = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--bits") && i + 1 < argc)
            bits = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--net") && i + 1 < argc && !strcmp(argv[i + 1], "cifar"))
            cifar = 1, i++;
        else if (!strcmp(argv[i], "--net") && i + 1 < argc && !strcmp(argv[i + 1], "mnist"))
            cifar = 0, i++;
        else {
            fprintf(stderr, "usage: int8_bench [--net mnist|cifar] [--reps R] [--min-ms T] "
                            "[--sparsity S] [--batch B] [--isa c|avx2|avx512-vnni] [--bits 8|4]\n");
            return 2;
        }
    }
    if (t.reps < 1 || t.min_s <= 0 || big < 1 || sparsity < 0 || sparsity >= 1 ||
        (bits != 8 && bits != 4)) {
        fprintf(stderr, "int8_bench: bad option value\n");
        return 2;
    }
    const int batches[2] = {1, big};
    nn_rng r;
    nn_rng_seed(&r, 3);
    const size_t in_size = cifar ? 3 * 32 * 32 : 28 * 28;
    const int dense1 = cifar ? 12 : 6; /* the op index reported */
    uint8_t *pixels = malloc((size_t)big * in_size);
    int8_t *logits = malloc((size_t)big * 10);
    if (!pixels || !logits)
        die("memory", "out of memory");
    nn_rng_bytes(&r, pixels, (size_t)big * in_size);

    /* float */
    nn_model fm;
    build_float(&fm, cifar);
    double float_ips[2];
    for (int b = 0; b < 2; b++) {
        nn_exec *ex;
        nn_error err;
        if (nn_exec_create(&ex, &fm, batches[b], 1, 0, &err) != NN_OK)
            die("nn_exec_create", err.msg);
        nn_exec_load_images(ex, pixels, NULL, batches[b], NULL, NULL, 0);
        float_ctx c = {ex};
        float_ips[b] = batches[b] / time_calls(float_fwd, &c, batches[b], &t);
        nn_exec_free(ex);
    }
    printf("int8_bench: %s network, %d-bit conv weights, %.1f M MAC/image, 1 thread, "
           "best of %d x >= %.0f ms "
           "(indicative: the machine may be shared)\n",
           cifar ? "CIFAR-10" : "MNIST", bits, (double)nn_model_macs(&fm) / 1e6, t.reps,
           t.min_s * 1e3);
    printf("%-34s %14s %14s %9s %9s\n", "engine", "batch 1 img/s", "batch N img/s", "x float",
           "x float");
    printf("%-34s %14.0f %14.0f %9s %9s\n", "float nn_exec", float_ips[0], float_ips[1],
           "1.00", "1.00");

    char json[4096];
    int jl = snprintf(json, sizeof json,
                      "{\"net\": \"%s\", \"batch\": %d, \"float_ips\": [%.1f, %.1f], \"int8\": [",
                      cifar ? "cifar" : "mnist", big, float_ips[0], float_ips[1]);
    const rt_isa isas[3] = {RT_ISA_C, RT_ISA_AVX2, RT_ISA_AVX512_VNNI};
    static const char *const FMT[] = {"", "S8", "S4", "SP4", "SP8", "X8", "X4"};
    const double sps[2] = {0.0, sparsity};
    int first = 1;
    for (int s = 0; s < (cifar ? 1 : 2); s++) {
        qm_model qm;
        build_int8(&qm, cifar, sps[s], bits);
        for (int k = 0; k < 3; k++) {
            if (!rt_isa_supported(isas[k]) || (only && strcmp(only, rt_isa_name(isas[k]))))
                continue;
            double ips[2];
            size_t arena_bytes[2];
            char dense_kernel[96] = "";
            rth_model h;
            nn_error err;
            if (rth_open(&h, &qm, isas[k], &err) != NN_OK)
                die("rth_open", err.msg);
            snprintf(dense_kernel, sizeof dense_kernel, "%s", FMT[h.img.ops[dense1].fmt]);
            void *arena = aligned_alloc(8, (rth_arena_bytes(&h) + 7) & ~(size_t)7);
            if (!arena)
                die("memory", "out of memory");
            for (int b = 0; b < 2; b++) {
                arena_bytes[b] = rth_arena_bytes(&h);
                int8_ctx c = {&h, arena, pixels, logits};
                ips[b] = batches[b] / time_calls(int8_fwd, &c, batches[b], &t);
            }
            free(arena);
            rth_close(&h);
            char name[64];
            snprintf(name, sizeof name, "int8 %s, dense %.0f%% zero", rt_isa_name(isas[k]),
                     100 * sps[s]);
            printf("%-34s %14.0f %14.0f %9.2f %9.2f   (arena %zu / %zu KiB; first dense: %s)\n",
                   name, ips[0], ips[1], ips[0] / float_ips[0], ips[1] / float_ips[1],
                   arena_bytes[0] >> 10, arena_bytes[1] >> 10, dense_kernel);
            jl += snprintf(json + jl, sizeof json - (size_t)jl,
                           "%s{\"isa\": \"%s\", \"sparsity\": %.2f, \"ips\": [%.1f, %.1f], "
                           "\"ratio\": [%.3f, %.3f], \"arena_bytes\": [%zu, %zu]}",
                           first ? "" : ", ", rt_isa_name(isas[k]), sps[s], ips[0], ips[1],
                           ips[0] / float_ips[0], ips[1] / float_ips[1], arena_bytes[0],
                           arena_bytes[1]);
            first = 0;
        }
        qm_model_free(&qm);
    }
    printf("%s]}\n", json);
    nn_model_free(&fm);
    free(pixels);
    free(logits);
    return 0;
}
