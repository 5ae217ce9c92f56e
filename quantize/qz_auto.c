/* qz_auto.c - 4-bit weights where accuracy allows (see quantize.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_pool.h"
#include "quantize.h"

typedef struct {
    const qz_net *net;
    const qm_model *q;
    const uint8_t *images, *labels;
    const uint32_t *index;
    int n;
    float **tens, **col; /* (threads) */
    int *correct;        /* (threads) */
} fq_job;

static void fq_worker(void *ctx, int t, int T)
{
    fq_job *j = ctx;
    const qz_net *net = j->net;
    const size_t img = (size_t)net->in_c * net->in_h * net->in_w;
    int b0, b1, ok = 0;
    nn_pool_slice(j->n, t, T, &b0, &b1);
    for (int i = b0; i < b1; i++) {
        size_t src = j->index ? j->index[i] : (size_t)i;
        qz_net_forward(net, j->q, j->images + src * img, j->tens[t], j->col[t]);
        const float *l = qz_net_logits(net, j->tens[t]);
        int best = 0;
        for (int k = 1; k < net->num_classes; k++)
            if (l[k] > l[best])
                best = k;
        ok += best == j->labels[src];
    }
    j->correct[t] = ok;
}

nn_status qz_simulated_accuracy(double *acc, const qz_net *net, const qm_model *q,
                                const uint8_t *images, const uint8_t *labels, const uint32_t *index,
                                int n, int threads, nn_error *err)
{
    *acc = 0;
    if (n < 1)
        return NN_OK;
    qz_net *deq = malloc(sizeof *deq);
    if (!deq)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory simulating the int8 model");
    nn_status st = qz_net_dequantize(deq, net, q, err);
    if (st != NN_OK) {
        free(deq);
        return st;
    }
    nn_pool *pool = NULL;
    if ((st = nn_pool_create(&pool, threads, err)) != NN_OK) {
        qz_net_free(deq);
        free(deq);
        return st;
    }
    const int T = nn_pool_threads(pool);
    fq_job j = {deq, q, images, labels, index, n, NULL, NULL, NULL};
    qz_scratch sc;
    int oom = qz_scratch_alloc(&sc, net, T) != 0;
    j.tens = sc.tens, j.col = sc.col;
    j.correct = calloc((size_t)T, sizeof *j.correct);
    if (oom || !j.correct) {
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory simulating the int8 model");
    } else {
        nn_pool_run(pool, fq_worker, &j);
        int ok = 0;
        for (int t = 0; t < T; t++)
            ok += j.correct[t];
        *acc = (double)ok / n;
    }
    qz_scratch_free(&sc);
    free(j.correct);
    nn_pool_free(pool);
    qz_net_free(deq);
    free(deq);
    return st;
}

/* Simulated accuracy of the model with these bits. */
static nn_status try_bits(double *acc, const int *bits, const qz_net *net, const double *lo,
                          const double *hi, const uint8_t *images, const uint8_t *labels,
                          const uint32_t *index, int n, int threads, nn_error *err)
{
    qm_model q;
    nn_status st = qz_build(&q, net, lo, hi, bits, err);
    if (st != NN_OK)
        return st;
    st = qz_simulated_accuracy(acc, net, &q, images, labels, index, n, threads, err);
    qm_model_free(&q);
    return st;
}

nn_status qz_auto_bits(int *bits, const int *fixed, const qz_net *net, const double *lo,
                       const double *hi, const uint8_t *images, const uint8_t *labels,
                       const uint32_t *index, int n, double max_drop, int threads, double *acc0,
                       double *acc1, nn_error *err)
{
    nn_status st = try_bits(acc0, bits, net, lo, hi, images, labels, index, n, threads, err);
    if (st != NN_OK)
        return st;
    *acc1 = *acc0;
    /* Candidates: not fixed, not already 4-bit; most weights first (ties:
     * the earlier op), since the big layers are where 4 bits save most. */
    int order[QM_MAX_OPS], m = 0;
    for (int i = 0; i < net->n_ops; i++)
        if (qm_is_weighted(net->ops[i].type) && !fixed[i] &&
            bits[i] == 8)
            order[m++] = i;
    for (int a = 1; a < m; a++) /* insertion sort: stable */
        for (int b = a; b > 0 && net->ops[order[b]].n_weights > net->ops[order[b - 1]].n_weights;
             b--) {
            int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    /* Decide in whole images (acc = correct / n exactly), so no rounding
     * of fractions tips a decision. */
    const long base = lround(*acc0 * n), allowed = (long)floor(max_drop / 100.0 * n + 1e-9);
    for (int k = 0; k < m; k++) {
        int i = order[k];
        bits[i] = 4;
        double acc;
        if ((st = try_bits(&acc, bits, net, lo, hi, images, labels, index, n, threads, err)) !=
            NN_OK)
            return st;
        if (lround(acc * n) >= base - allowed)
            *acc1 = acc;
        else
            bits[i] = 8;
    }
    return NN_OK;
}
