/* qe_eval.c - test-set accuracy, loss and confusion matrix of a planned
 * int8 model (qe_eval.h). */
#include "qe_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../libnn/nn_pool.h"
#include "qe_internal.h"

typedef struct {
    void *arena;
    uint8_t *mirror;   /* (batch, image) left-right mirrored pixels   */
    int8_t *logits;    /* (batch, classes)                            */
    int8_t *logits_m;  /* the mirrors' logits                         */
    double *z, *zm;    /* (classes) dequantized logits, the mirror's  */
    int *confusion;    /* (classes, classes)                          */
    double loss;
} eval_worker;

typedef struct {
    const qe_plan *p;
    const nn_images *data;
    const nn_eval_config *cfg;
    eval_worker *w;
} eval_job;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void mirror_images(uint8_t *dst, const uint8_t *src, int n, int c, int h, int w)
{
    for (size_t r = 0; r < (size_t)n * c * h; r++)
        for (int x = 0; x < w; x++)
            dst[r * w + x] = src[r * w + (w - 1 - x)];
}

/* Logits in double: scale * (q - zero) overflows a float when the scale
 * is near FLT_MAX (a valid .iotc may hold one), never a double. */
static void dequantize(double *z, const int8_t *q, int k, qm_qparams p)
{
    for (int c = 0; c < k; c++)
        z[c] = (double)p.scale * (double)(q[c] - p.zero);
}

/* Scores one image from its (dequantized) logits: predicted class (first on
 * ties) and -log softmax[label]. */
static int score(const double *z, int k, int label, double *loss)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (z[j] > z[best])
            best = j;
    double sum = 0.0;
    for (int j = 0; j < k; j++)
        sum += exp(z[j] - z[best]);
    *loss += log(sum) - (z[label] - z[best]);
    return best;
}

static void eval_worker_run(void *ctx, int t, int T)
{
    const eval_job *j = ctx;
    const qe_plan *p = j->p;
    eval_worker *w = &j->w[t];
    const int k = p->num_classes, flip = j->cfg->test_flip;
    const size_t img = (size_t)p->in_c * p->in_h * p->in_w;
    const qm_qparams q = p->out_q;
    int b0, b1;
    nn_pool_slice(j->data->n, t, T, &b0, &b1);
    double *z = w->z, *zm = w->zm;
    for (int i0 = b0; i0 < b1; i0 += j->cfg->batch) {
        int n = b1 - i0 < j->cfg->batch ? b1 - i0 : j->cfg->batch;
        const uint8_t *pix = j->data->images + (size_t)i0 * img;
        qe_run(p, w->arena, pix, n, w->logits);
        if (flip) {
            mirror_images(w->mirror, pix, n, p->in_c, p->in_h, p->in_w);
            qe_run(p, w->arena, w->mirror, n, w->logits_m);
        }
        for (int i = 0; i < n; i++) {
            int label = j->data->labels[i0 + i];
            dequantize(z, w->logits + (size_t)i * k, k, q);
            if (flip) {
                dequantize(zm, w->logits_m + (size_t)i * k, k, q);
                for (int c = 0; c < k; c++)
                    z[c] = 0.5 * (z[c] + zm[c]);
            }
            w->confusion[label * k + score(z, k, label, &w->loss)]++;
        }
    }
}

static void free_workers(eval_worker *w, int T)
{
    for (int t = 0; w && t < T; t++) {
        free(w[t].arena), free(w[t].mirror), free(w[t].logits), free(w[t].logits_m);
        free(w[t].z), free(w[t].zm), free(w[t].confusion);
    }
    free(w);
}

nn_status qe_evaluate(const qe_plan *p, const nn_images *data, const nn_eval_config *cfg,
                      nn_eval_result *res, nn_error *err)
{
    memset(res, 0, sizeof *res);
    if (!p || !data || !cfg || data->n < 0 || (data->n > 0 && (!data->images || !data->labels)))
        return nn_errorf(err, NN_ERR_ARG, "qe_evaluate: missing plan, data or config");
    if (cfg->batch < 1 || cfg->batch > p->max_batch)
        return nn_errorf(err, NN_ERR_ARG,
                         "evaluation batch %d is outside the plan's 1..%d images", cfg->batch,
                         p->max_batch);
    const int k = p->num_classes;
    for (int i = 0; i < data->n; i++)
        if (data->labels[i] >= k)
            return nn_errorf(err, NN_ERR_ARG, "image %d has label %d but the model has %d classes",
                             i, data->labels[i], k);
    double t0 = now_seconds();
    nn_pool *pool;
    nn_status st = nn_pool_create(&pool, cfg->threads, err);
    if (st != NN_OK)
        return st;
    const int T = nn_pool_threads(pool);
    const size_t img = (size_t)p->in_c * p->in_h * p->in_w, B = (size_t)cfg->batch;
    eval_worker *w = calloc((size_t)T, sizeof *w);
    res->confusion = calloc((size_t)k * k, sizeof *res->confusion);
    int oom = !w || !res->confusion;
    for (int t = 0; t < T && !oom; t++) {
        w[t].arena = malloc(qe_arena_bytes(p));
        w[t].logits = malloc(B * k);
        w[t].z = malloc((size_t)k * sizeof *w[t].z);
        w[t].zm = malloc((size_t)k * sizeof *w[t].zm);
        w[t].confusion = calloc((size_t)k * k, sizeof *w[t].confusion);
        if (cfg->test_flip) {
            w[t].mirror = malloc(B * img);
            w[t].logits_m = malloc(B * k);
        }
        oom = !w[t].arena || !w[t].logits || !w[t].z || !w[t].zm || !w[t].confusion ||
              (cfg->test_flip && (!w[t].mirror || !w[t].logits_m));
    }
    if (oom) {
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory for %d evaluation arenas", T);
        free(res->confusion);
        res->confusion = NULL;
    } else {
        eval_job job = {p, data, cfg, w};
        nn_pool_run(pool, eval_worker_run, &job);
        double loss = 0.0;
        for (int t = 0; t < T; t++) {
            loss += w[t].loss;
            for (int c = 0; c < k * k; c++)
                res->confusion[c] += w[t].confusion[c];
        }
        res->n = data->n;
        res->num_classes = k;
        for (int c = 0; c < k; c++)
            res->correct += res->confusion[c * k + c];
        res->loss = data->n ? loss / data->n : 0.0;
        res->seconds = now_seconds() - t0;
    }
    free_workers(w, T);
    nn_pool_free(pool);
    return st;
}
