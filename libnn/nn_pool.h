/* nn_pool.h - a fixed team of worker threads for data-parallel loops.
 *
 * nn_pool_run(pool, fn, ctx) calls fn(ctx, t, T) once for every t in [0, T)
 * (the caller itself runs t = 0) and returns when all have finished. Work is
 * split statically by t, so reductions done in t order are deterministic for
 * a given T. A pool of one thread runs fn inline with no synchronization. */
#ifndef NN_POOL_H
#define NN_POOL_H

#include "nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_pool nn_pool;
typedef void (*nn_pool_fn)(void *ctx, int t, int T);

nn_status nn_pool_create(nn_pool **out, int threads, nn_error *err);
void nn_pool_free(nn_pool *p);
int nn_pool_threads(const nn_pool *p);
void nn_pool_run(nn_pool *p, nn_pool_fn fn, void *ctx);

/* [*begin, *end) of n items for worker t of T (contiguous, balanced). */
static inline void nn_pool_slice(int n, int t, int T, int *begin, int *end)
{
    *begin = (int)((long long)n * t / T);
    *end = (int)((long long)n * (t + 1) / T);
}

#ifdef __cplusplus
}
#endif

#endif
