#include "nn_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Workers spin briefly on the generation counter before sleeping on the
 * condition variable: dispatches come every few hundred microseconds while
 * training, and a futex wake-up would cost more than the spin. */
#define SPIN_ROUNDS 20000

struct nn_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint generation; /* bumped for every job                     */
    atomic_int pending;     /* workers still running the current job    */
    int stop;
    nn_pool_fn fn;
    void *ctx;
};

typedef struct {
    nn_pool *pool;
    int t;
} worker_arg;

static void *worker_main(void *arg_)
{
    worker_arg *arg = arg_;
    nn_pool *p = arg->pool;
    int t = arg->t;
    free(arg);
    unsigned seen = 0;
    for (;;) {
        unsigned gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int spin = 0; gen == seen && spin < SPIN_ROUNDS; spin++) {
            sched_yield();
            gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mu);
            while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
                   !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (p->stop)
            return NULL;
        seen = gen;
        p->fn(p->ctx, t, p->threads);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

nn_status nn_pool_create(nn_pool **out, int threads, nn_error *err)
{
    *out = NULL;
    if (threads < 1 || threads > 256)
        return nn_errorf(err, NN_ERR_ARG, "threads must be in [1, 256], got %d", threads);
    nn_pool *p = calloc(1, sizeof *p);
    if (!p)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for the thread pool");
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    if (threads > 1) {
        p->workers = calloc((size_t)threads, sizeof *p->workers);
        if (!p->workers) {
            nn_pool_free(p);
            return nn_errorf(err, NN_ERR_NOMEM, "out of memory for the thread pool");
        }
    }
    for (int t = 1; t < threads; t++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg || pthread_create(&p->workers[t], NULL, worker_main,
                                   (*arg = (worker_arg){p, t}, arg)) != 0) {
            free(arg);
            p->threads = t; /* join the ones started */
            nn_pool_free(p);
            return nn_errorf(err, NN_ERR_NOMEM, "cannot start worker thread %d", t);
        }
    }
    *out = p;
    return NN_OK;
}

void nn_pool_free(nn_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->threads; t++)
        pthread_join(p->workers[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int nn_pool_threads(const nn_pool *p) { return p->threads; }

void nn_pool_run(nn_pool *p, nn_pool_fn fn, void *ctx)
{
    if (p->threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->threads);
    /* Wait for the others: spin first, then sleep. */
    for (int spin = 0; spin < SPIN_ROUNDS; spin++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
            return;
        sched_yield();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
