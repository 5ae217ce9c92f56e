/* fma_peak.c - the machine's single-precision FMA peak, measured.
 *
 * The ceiling every trainer on this machine is judged against (bench/run.sh
 * prints each side's GFLOP/s as a share of it): a kernel of our own that
 * does nothing but fused multiply-adds on registers, so no memory system,
 * library or compiler heuristic stands between it and the FMA units.
 *
 * Each thread runs ACC independent accumulator chains (enough to cover the
 * FMA latency times the number of FMA ports: 4 cycles x 2 ports = 8 on
 * today's x86 cores; 12 leaves room) of `vfmadd231ps` on 16 floats
 * (AVX-512) or 8 floats (AVX2+FMA) for a fixed number of iterations. An
 * FMA counts 2 FLOPs per lane. The kernels are compiled with per-function
 * target attributes and run only when the CPU has the ISA
 * (__builtin_cpu_supports), so the binary runs anywhere.
 *
 * Timing: for 1 and for --threads T threads (pthreads, each on its own
 * chains, started together), a repetition runs the loop for about --ms
 * milliseconds; the best of --reps repetitions counts, after one untimed
 * repetition that lets the cores reach their clock. The printed peak is
 * the best ISA's rate at T threads; with --max-isa avx2 only AVX2's counts
 * (make bench's BENCH_MAX_ISA: the peak of the ISA the trainer is held to).
 *
 * Output: a table, then one JSON line (the last line): for each ISA
 * measured "gflops_1" and "gflops_T", and "peak_gflops", "peak_isa",
 * "threads".
 * Usage: fma_peak [--threads T] [--reps R] [--ms M] [--max-isa avx2|avx512] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define ACC 12

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1

/* The ACC chains as named variables (an array would live in memory at
 * -O2, and each FMA would wait for a store and a load). */
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

/* iters x ACC x 16 FMAs; returns a value depending on every chain so the
 * compiler cannot drop them. */
__attribute__((target("avx512f"))) static float fma_avx512(long iters)
{
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
#define INIT(i) __m512 a##i = _mm512_set1_ps((float)(i));
#define STEP(i) a##i = _mm512_fmadd_ps(a##i, x, y);
#define SUM(i) s = _mm512_add_ps(s, a##i);
    CHAINS(INIT)
    for (long n = 0; n < iters; n++) {
        CHAINS(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    CHAINS(SUM)
    return _mm512_reduce_add_ps(s);
#undef INIT
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters)
{
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
#define INIT(i) __m256 a##i = _mm256_set1_ps((float)(i));
#define STEP(i) a##i = _mm256_fmadd_ps(a##i, x, y);
#define SUM(i) s = _mm256_add_ps(s, a##i);
    CHAINS(INIT)
    for (long n = 0; n < iters; n++) {
        CHAINS(STEP)
    }
    __m256 s = _mm256_setzero_ps();
    CHAINS(SUM)
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
#undef INIT
#undef STEP
#undef SUM
}
#else
#define HAVE_X86 0
#endif

typedef struct {
    const char *name;
    int lanes;
    float (*fn)(long iters);
    int supported;
    double gflops[2]; /* [0] 1 thread, [1] T threads */
} isa_kernel;

typedef struct {
    const isa_kernel *k;
    long iters;
    pthread_barrier_t *start;
    volatile float sink;
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    w->sink = w->k->fn(w->iters);
    return NULL;
}

/* Seconds for `threads` threads to run iters iterations each, started
 * together (the main thread is one of them). */
static double timed_run(const isa_kernel *k, int threads, long iters)
{
    pthread_t tid[64];
    worker w[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++)
        w[t] = (worker){k, iters, &start, 0.0f};
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[t], NULL, run_worker, &w[t]) != 0) {
            fprintf(stderr, "fma_peak: cannot start thread %d\n", t);
            exit(1);
        }
    pthread_barrier_wait(&start);
    double t0 = bench_now();
    w[0].sink = k->fn(iters);
    for (int t = 1; t < threads; t++)
        pthread_join(tid[t], NULL);
    double s = bench_now() - t0;
    pthread_barrier_destroy(&start);
    return s;
}

/* Best GFLOP/s over reps repetitions of about ms milliseconds each. */
static double measure(const isa_kernel *k, int threads, int reps, double ms)
{
    long iters = 100000;
    double s = timed_run(k, threads, iters); /* calibrate, and warm the clock up */
    iters = (long)((double)iters * (ms / 1e3) / (s > 1e-6 ? s : 1e-6));
    if (iters < 1000)
        iters = 1000;
    timed_run(k, threads, iters);
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double sec = timed_run(k, threads, iters);
        double g = 2.0 * k->lanes * ACC * (double)iters * threads / sec / 1e9;
        if (g > best)
            best = g;
    }
    return best;
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 5;
    double ms = 200;
    const char *max_isa = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
            ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-isa") && i + 1 < argc)
            max_isa = argv[++i];
        else {
            fprintf(stderr, "usage: fma_peak [--threads T] [--reps R] [--ms M] "
                            "[--max-isa avx2|avx512]\n");
            return 2;
        }
    }
    if (max_isa && strcmp(max_isa, "avx2") && strcmp(max_isa, "avx512")) {
        fprintf(stderr, "fma_peak: --max-isa is avx2 or avx512, not '%s'\n", max_isa);
        return 2;
    }
    if (threads < 1 || threads > 64 || reps < 1 || !(ms >= 1 && ms <= 1e5)) {
        fprintf(stderr, "fma_peak: --threads in [1, 64], --reps >= 1, --ms in [1, 1e5]\n");
        return 2;
    }
    isa_kernel ks[] = {
#if HAVE_X86
        {"avx512", 16, fma_avx512, 0, {0, 0}},
        {"avx2", 8, fma_avx2, 0, {0, 0}},
#endif
        {NULL, 0, NULL, 0, {0, 0}},
    };
#if HAVE_X86
    __builtin_cpu_init();
    ks[0].supported = __builtin_cpu_supports("avx512f");
    ks[1].supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    printf("FMA peak, %d FMA chains per thread, best of %d x %.0f ms\n", ACC, reps, ms);
    printf("  %-8s %16s %16s\n", "isa", "1 thread", "all threads");
    const isa_kernel *peak = NULL;
    int peak_allowed = !max_isa;
    for (isa_kernel *k = ks; k->name; k++) {
        if (max_isa && !strcmp(k->name, max_isa))
            peak_allowed = 1;
        if (!k->supported) {
            printf("  %-8s not supported by this CPU\n", k->name);
            continue;
        }
        k->gflops[0] = measure(k, 1, reps, ms);
        k->gflops[1] = threads == 1 ? k->gflops[0] : measure(k, threads, reps, ms);
        /* the kernels go from the widest down: those before --max-isa's
         * are above the cap */
        const int capped = max_isa && !peak_allowed;
        printf("  %-8s %8.1f GFLOP/s %8.1f GFLOP/s (%d threads)%s\n", k->name, k->gflops[0],
               k->gflops[1], threads, capped ? "  above --max-isa: not the peak" : "");
        if (capped)
            continue;
        if (!peak || k->gflops[1] > peak->gflops[1])
            peak = k;
    }
    printf("{\"bench\":\"fma_peak\",\"threads\":%d,\"chains\":%d", threads, ACC);
    for (const isa_kernel *k = ks; k->name; k++)
        if (k->supported)
            printf(",\"%s\":{\"gflops_1\":%.2f,\"gflops_T\":%.2f}", k->name, k->gflops[0],
                   k->gflops[1]);
    if (peak)
        printf(",\"peak_isa\":\"%s\",\"peak_gflops\":%.2f}\n", peak->name, peak->gflops[1]);
    else
        printf(",\"peak_isa\":null,\"peak_gflops\":null}\n");
    return 0;
}
