/* rt_host.c - the runtime on the host (rt_host.h). */
#include "rt_host.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libnn/nn_pool.h"

int rth_isa_parse(const char *name)
{
    for (int i = RT_ISA_AUTO; name && i <= RT_ISA_AVX512_VNNI; i++)
        if (strcmp(name, rt_isa_name((rt_isa)i)) == 0)
            return i;
    return -1;
}

nn_status rth_open(rth_model *h, const qm_model *m, rt_isa isa, nn_error *err)
{
    memset(h, 0, sizeof *h);
    const char *name = rt_isa_name(isa);
    if (!name)
        return nn_errorf(err, NN_ERR_ARG, "unknown instruction set %d", (int)isa);
    if (!rt_isa_supported(isa))
        return nn_errorf(err, NN_ERR_ARG,
                         "instruction set %s is not supported by this CPU or build (best: %s)",
                         name, rt_isa_name(rt_isa_best()));
    const rtb_options opt = {rtb_host_target(), RTB_SPARSE_AUTO, 0, isa, 0, 0};
    nn_status st = rtb_build(&h->img, m, &opt, err);
    if (st != NN_OK)
        return st;
    rt_info info;
    rt_status rs = rt_image_check(h->img.data, h->img.bytes, &info);
    if (rs != RT_OK) { /* a builder bug, never a model's fault */
        rth_close(h);
        return nn_errorf(err, NN_ERR_ARG, "internal error: the host image fails its check: %s "
                         "(op %d, offset %u)", rt_status_str(rs), info.bad_op, info.bad_offset);
    }
    h->isa = isa == RT_ISA_AUTO ? rt_isa_best() : isa;
    h->in_c = m->in_c, h->in_h = m->in_h, h->in_w = m->in_w;
    h->num_classes = m->num_classes;
    h->out_q = m->ops[m->n_ops - 1].out;
    return NN_OK;
}

void rth_close(rth_model *h)
{
    rtb_free(&h->img);
    memset(h, 0, sizeof *h);
}

size_t rth_arena_bytes(const rth_model *h) { return (size_t)h->img.arena_bytes; }

nn_status rth_run(const rth_model *h, void *arena, const uint8_t *pixels, int n, int8_t *logits)
{
    const size_t in = (size_t)h->in_c * h->in_h * h->in_w;
    for (int i = 0; i < n; i++) {
        rt_status rs = rt_run_isa(h->img.data, arena, rth_arena_bytes(h), pixels + (size_t)i * in,
                                  logits + (size_t)i * h->num_classes, h->isa);
        if (rs != RT_OK)
            return NN_ERR_ARG;
    }
    return NN_OK;
}

void rth_argmax(const int8_t *logits, int n, int num_classes, int *labels)
{
    for (int i = 0; i < n; i++) {
        const int8_t *l = logits + (size_t)i * num_classes;
        int best = 0;
        for (int k = 1; k < num_classes; k++)
            if (l[k] > l[best])
                best = k;
        labels[i] = best;
    }
}

/* ---- evaluation ---------------------------------------------------------------------- */

typedef struct {
    void *arena;
    uint8_t *mirror;   /* (batch, image) left-right mirrored pixels   */
    int8_t *logits;    /* (batch, classes)                            */
    int8_t *logits_m;  /* the mirrors' logits                         */
    double *z, *zm;    /* (classes) dequantized logits, the mirror's  */
    int *confusion;    /* (classes, classes)                          */
    double loss;
    int failed;        /* the runtime refused (never for a checked image) */
} eval_worker;

typedef struct {
    const rth_model *h;
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
    const rth_model *h = j->h;
    eval_worker *w = &j->w[t];
    const int k = h->num_classes, flip = j->cfg->test_flip;
    const size_t img = (size_t)h->in_c * h->in_h * h->in_w;
    int b0, b1;
    nn_pool_slice(j->data->n, t, T, &b0, &b1);
    double *z = w->z, *zm = w->zm;
    for (int i0 = b0; i0 < b1 && !w->failed; i0 += j->cfg->batch) {
        int n = b1 - i0 < j->cfg->batch ? b1 - i0 : j->cfg->batch;
        const uint8_t *pix = j->data->images + (size_t)i0 * img;
        w->failed = rth_run(h, w->arena, pix, n, w->logits) != NN_OK;
        if (flip && !w->failed) {
            mirror_images(w->mirror, pix, n, h->in_c, h->in_h, h->in_w);
            w->failed = rth_run(h, w->arena, w->mirror, n, w->logits_m) != NN_OK;
        }
        for (int i = 0; i < n && !w->failed; i++) {
            int label = j->data->labels[i0 + i];
            dequantize(z, w->logits + (size_t)i * k, k, h->out_q);
            if (flip) {
                dequantize(zm, w->logits_m + (size_t)i * k, k, h->out_q);
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

nn_status rth_evaluate(const rth_model *h, const nn_images *data, const nn_eval_config *cfg,
                       nn_eval_result *res, nn_error *err)
{
    memset(res, 0, sizeof *res);
    if (!h || !h->img.data || !data || !cfg || data->n < 0 ||
        (data->n > 0 && (!data->images || !data->labels)))
        return nn_errorf(err, NN_ERR_ARG, "rth_evaluate: missing model, data or config");
    if (cfg->batch < 1)
        return nn_errorf(err, NN_ERR_ARG, "evaluation batch %d is below 1", cfg->batch);
    const int k = h->num_classes;
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
    const size_t img = (size_t)h->in_c * h->in_h * h->in_w, B = (size_t)cfg->batch;
    eval_worker *w = calloc((size_t)T, sizeof *w);
    res->confusion = calloc((size_t)k * k, sizeof *res->confusion);
    int oom = !w || !res->confusion;
    for (int t = 0; t < T && !oom; t++) {
        w[t].arena = aligned_alloc(8, (rth_arena_bytes(h) + 7) & ~(size_t)7);
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
    } else {
        eval_job job = {h, data, cfg, w};
        nn_pool_run(pool, eval_worker_run, &job);
        double loss = 0.0;
        for (int t = 0; t < T; t++) {
            if (w[t].failed)
                st = nn_errorf(err, NN_ERR_ARG, "internal error: the runtime refused its arguments");
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
    if (st != NN_OK) {
        free(res->confusion);
        memset(res, 0, sizeof *res);
    }
    free_workers(w, T);
    nn_pool_free(pool);
    return st;
}
