/* bench_util.h - the timing rule shared by the C benchmarks in bench/
 * (int8_bench.c, deploy_bench.c, conv_layers.c, depthwise_layers.c).
 *
 * A repetition calls fn(ctx, n) back to back until at least min_s seconds
 * have passed (CLOCK_MONOTONIC) and counts the mean seconds per call over
 * it; a benchmark takes the best (smallest) of several repetitions after
 * one untimed warm-up call. The best is the value least disturbed by other
 * processes on a shared machine. Header-only (static inline), so each
 * benchmark stays a single .c file for the Makefile's bench rule. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One timed call: runs n images (a forward pass, say). */
typedef void (*bench_fn)(void *ctx, int n);

/* CPU seconds used by the whole process so far (all its threads). */
static inline double bench_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One repetition: seconds per call of fn(ctx, n), over as many calls as
 * fill min_s seconds (at least one). cpu (may be NULL) receives the
 * process's CPU seconds per call over the same calls: well below the wall
 * time when other processes took the CPU away. */
static inline double bench_rep(bench_fn fn, void *ctx, int n, double min_s, double *cpu)
{
    int calls = 0;
    double t0 = bench_now(), c0 = cpu ? bench_cpu_now() : 0, el;
    do {
        fn(ctx, n);
        calls++;
        el = bench_now() - t0;
    } while (el < min_s);
    if (cpu)
        *cpu = (bench_cpu_now() - c0) / calls;
    return el / calls;
}

/* One warm-up call, then the best of reps repetitions (seconds per call). */
static inline double bench_best(bench_fn fn, void *ctx, int n, int reps, double min_s)
{
    fn(ctx, n);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double s = bench_rep(fn, ctx, n, min_s, NULL);
        if (s < best)
            best = s;
    }
    return best;
}

/* One warm-up call, then the best of reps repetitions in process CPU
 * seconds per call (what other processes on a shared machine disturb
 * least). */
static inline double bench_best_cpu(bench_fn fn, void *ctx, int n, int reps, double min_s)
{
    fn(ctx, n);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double cpu;
        bench_rep(fn, ctx, n, min_s, &cpu);
        if (cpu < best)
            best = cpu;
    }
    return best;
}

/* n floats uniform in [-0.5, 0.5) from *state (xorshift64, any nonzero
 * seed); exits the benchmark when memory runs out. */
static inline float *bench_rand_floats(size_t n, uint64_t *state)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        *state ^= *state << 13, *state ^= *state >> 7, *state ^= *state << 17;
        p[i] = (float)(*state >> 40) / (float)(1u << 24) - 0.5f;
    }
    return p;
}

#endif
