/* sgemm_peak.c - what OpenBLAS sgemm delivers on this machine.
 *
 * The yardstick for iotcnn's training throughput: a conv layer done as
 * im2col + sgemm cannot beat the sgemm it calls, so bench/run.sh reports
 * iotcnn's GFLOP/s as a share of the peak measured here, in the same run.
 *
 * Shapes (row-major, C(M,N) = op(A)(M,K) * op(B)(K,N)):
 *   - a large square product (default 2048): the library's best case;
 *   - the per-image GEMMs of the reference MNIST network (configs/
 *     mnist_ref.json) as an im2col trainer issues them: for a conv layer
 *     with W (Cout, Cin*9), cols (Cin*9, H*W), dY (Cout, H*W):
 *         forward   Y    = W   * cols     M=Cout   K=Cin*9  N=H*W   (NN)
 *         weights   dW  += dY  * cols^T   M=Cout   K=H*W    N=Cin*9 (NT)
 *         inputs    dcol = W^T * dY       M=Cin*9  K=Cout   N=H*W   (TN)
 *     and the dense layers on a batch of 128.
 * Each shape is timed with 1 and with 2 OpenBLAS threads
 * (openblas_set_num_threads): a repetition runs the product back to back
 * until it has taken at least --min-ms, and the best of --reps repetitions
 * counts (CLOCK_MONOTONIC). One untimed call first lets OpenBLAS start its
 * threads and touch the buffers.
 *
 * "netmix" is the rate of the network's GEMMs taken together: the sum of
 * their FLOPs per image divided by the sum of their best times per image
 * (dense shapes count 1/128 per image). It is the ceiling for a trainer
 * that runs each image's convolutions as im2col + sgemm; batched im2col or
 * direct convolutions (oneDNN, under PyTorch) can go beyond it, the square
 * peak bounds them all.
 *
 * Output: a table on stdout, then one JSON line (the last line).
 * Usage: sgemm_peak [--size N] [--reps R] [--min-ms T] [--max-threads P] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libnn/nn_isa.h"
#include "libnn/nn_rng.h"

#define MAX_THREADS 2

/* The widest vector ISA the compiler was allowed for this build: the one
 * iotcnn's own loops (everything but sgemm) are compiled for, as the
 * library is built with the same flags. */
#if defined(__AVX512F__)
#define BUILD_ISA "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define BUILD_ISA "avx2+fma"
#elif defined(__AVX__)
#define BUILD_ISA "avx"
#elif defined(__SSE2__)
#define BUILD_ISA "sse2"
#else
#define BUILD_ISA "scalar"
#endif

typedef struct {
    const char *name;
    int m, n, k;
    int ta, tb;         /* 1 = transposed operand                          */
    double per_image;   /* calls per training image (0: not in netmix)     */
    double gflops[MAX_THREADS + 1]; /* [t] for t threads; 0 = not measured */
} gemm_shape;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *alloc_random(size_t n, nn_rng *rng)
{
    /* 64-byte aligned, size rounded up as aligned_alloc requires */
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        fprintf(stderr, "sgemm_peak: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = 2.0f * nn_rng_uniform(rng) - 1.0f;
    return p;
}

static void run_gemm(const gemm_shape *s, const float *a, const float *b, float *c)
{
    /* A is stored (M,K), or (K,M) when transposed; likewise B. beta = 1
     * like a gradient accumulation; the values stay bounded enough since
     * each call adds at most K to an entry. */
    int lda = s->ta ? s->m : s->k;
    int ldb = s->tb ? s->k : s->n;
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 1.0f, c, s->n);
}

/* Best GFLOP/s over `reps` repetitions of at least `min_s` seconds each. */
static double time_gemm(const gemm_shape *s, int reps, double min_s, nn_rng *rng)
{
    float *a = alloc_random((size_t)s->m * s->k, rng);
    float *b = alloc_random((size_t)s->k * s->n, rng);
    float *c = alloc_random((size_t)s->m * s->n, rng);
    double flops = 2.0 * s->m * s->n * s->k;
    double best = 0.0;
    run_gemm(s, a, b, c); /* warm-up: thread start, page faults */
    for (int r = 0; r < reps; r++) {
        long calls = 0;
        double t0 = now_seconds(), dt;
        do {
            run_gemm(s, a, b, c);
            calls++;
            dt = now_seconds() - t0;
        } while (dt < min_s);
        double g = flops * (double)calls / dt * 1e-9;
        if (g > best)
            best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static int parse_int(const char *flag, const char *v, int lo, int hi)
{
    char *end;
    long x = strtol(v ? v : "", &end, 10);
    if (!v || *end || x < lo || x > hi) {
        fprintf(stderr, "sgemm_peak: %s needs an integer in [%d, %d], got '%s'\n", flag, lo, hi,
                v ? v : "(nothing)");
        exit(2);
    }
    return (int)x;
}

int main(int argc, char **argv)
{
    int size = 2048, reps = 5, min_ms = 40, max_threads = MAX_THREADS;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--size"))
            size = parse_int("--size", v, 16, 8192), i++;
        else if (!strcmp(argv[i], "--reps"))
            reps = parse_int("--reps", v, 1, 1000), i++;
        else if (!strcmp(argv[i], "--min-ms"))
            min_ms = parse_int("--min-ms", v, 1, 100000), i++;
        else if (!strcmp(argv[i], "--max-threads"))
            max_threads = parse_int("--max-threads", v, 1, MAX_THREADS), i++;
        else {
            fprintf(stderr, "usage: sgemm_peak [--size N] [--reps R] [--min-ms T] [--max-threads 1|2]\n");
            return 2;
        }
    }

    /* The reference network: conv3x3 pad 1 on 28x28 (1->32, 32->32), pool,
     * 14x14 (32->64, 64->64), pool, dense 3136->256->10, batch 128. conv1
     * has no input gradient (its input is the image). */
    const double img = 1.0, bat = 1.0 / 128.0;
    gemm_shape shapes[] = {
        {"square", size, size, size, 0, 0, 0.0, {0}},
        {"conv1 fwd", 32, 784, 9, 0, 0, img, {0}},
        {"conv1 dW", 32, 9, 784, 0, 1, img, {0}},
        {"conv2 fwd", 32, 784, 288, 0, 0, img, {0}},
        {"conv2 dW", 32, 288, 784, 0, 1, img, {0}},
        {"conv2 dX", 288, 784, 32, 1, 0, img, {0}},
        {"conv3 fwd", 64, 196, 288, 0, 0, img, {0}},
        {"conv3 dW", 64, 288, 196, 0, 1, img, {0}},
        {"conv3 dX", 288, 196, 64, 1, 0, img, {0}},
        {"conv4 fwd", 64, 196, 576, 0, 0, img, {0}},
        {"conv4 dW", 64, 576, 196, 0, 1, img, {0}},
        {"conv4 dX", 576, 196, 64, 1, 0, img, {0}},
        {"dense1 fwd", 128, 256, 3136, 0, 1, bat, {0}},
        {"dense1 dW", 256, 3136, 128, 1, 0, bat, {0}},
        {"dense1 dX", 128, 3136, 256, 0, 0, bat, {0}},
        {"dense2 fwd", 128, 10, 256, 0, 1, bat, {0}},
    };
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);

    nn_rng rng;
    nn_rng_seed(&rng, 12345);
    printf("OpenBLAS: %s, %d cores visible to it\n", openblas_get_config(), openblas_get_num_procs());
    printf("%-12s %5s %5s %5s %2s  %12s %12s\n", "shape", "M", "N", "K", "op", "GFLOP/s 1t",
           "GFLOP/s 2t");
    for (int i = 0; i < n_shapes; i++) {
        gemm_shape *s = &shapes[i];
        for (int t = 1; t <= max_threads; t++) {
            openblas_set_num_threads(t);
            if (openblas_get_num_threads() != t) {
                fprintf(stderr, "sgemm_peak: OpenBLAS refused %d threads (it has %d)\n", t,
                        openblas_get_num_threads());
                return 1;
            }
            s->gflops[t] = time_gemm(s, reps, 1e-3 * min_ms, &rng);
        }
        printf("%-12s %5d %5d %5d %c%c  %12.1f %12.1f\n", s->name, s->m, s->n, s->k, s->ta ? 'T' : 'N',
               s->tb ? 'T' : 'N', s->gflops[1], s->gflops[2]);
        fflush(stdout);
    }

    /* netmix: sum of FLOPs over sum of times, per image */
    double mix[MAX_THREADS + 1] = {0};
    for (int t = 1; t <= max_threads; t++) {
        double flops = 0.0, secs = 0.0;
        for (int i = 0; i < n_shapes; i++) {
            const gemm_shape *s = &shapes[i];
            if (s->per_image <= 0.0)
                continue;
            double f = 2.0 * s->m * s->n * s->k * s->per_image;
            flops += f;
            secs += f / (s->gflops[t] * 1e9);
        }
        mix[t] = flops / secs * 1e-9;
    }
    printf("%-12s %25s  %12.1f %12.1f\n", "netmix", "(all network GEMMs)", mix[1], mix[2]);

    /* JSON: the last stdout line; 0 marks a thread count not measured */
    printf("{\"bench\":\"sgemm_peak\",\"openblas_core\":\"%s\",\"build_isa\":\"%s\","
           "\"conv_isa\":\"%s\","
           "\"square_size\":%d,\"peak_gflops_1t\":%.2f,\"peak_gflops_2t\":%.2f,"
           "\"netmix_gflops_1t\":%.2f,\"netmix_gflops_2t\":%.2f,\"shapes\":[",
           openblas_get_corename(), BUILD_ISA, nn_isa_name(nn_isa_best()), size, shapes[0].gflops[1], shapes[0].gflops[2], mix[1],
           mix[2]);
    for (int i = 0; i < n_shapes; i++) {
        const gemm_shape *s = &shapes[i];
        printf("%s{\"name\":\"%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"op\":\"%c%c\",\"gflops_1t\":%.2f,"
               "\"gflops_2t\":%.2f}",
               i ? "," : "", s->name, s->m, s->n, s->k, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->gflops[1],
               s->gflops[2]);
    }
    printf("]}\n");
    return 0;
}
