/* qz_calib.c - activation ranges from calibration images (step 2 of
 * quantize.h): histograms, percentile and MSE clipping. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_pool.h"
#include "libnn/nn_rng.h"
#include "quantize.h"

/* The random stream that picks calibration images: a fixed value outside
 * libnn's NN_STREAM_* list (nn_rng.h), so no other draw shares it. */
#define QZ_STREAM_CALIBRATION 64

const char *qz_method_name(qz_method m)
{
    switch (m) {
    case QZ_MINMAX: return "minmax";
    case QZ_PERCENTILE: return "percentile";
    case QZ_MSE: return "mse";
    }
    return NULL;
}

void qz_config_defaults(qz_config *c)
{
    memset(c, 0, sizeof *c);
    c->method = QZ_MSE;
    c->percentile = 99.99;
    c->calibration_images = 1000;
    c->seed = 1;
    c->weight_bits = 8;
    c->max_drop = 0.1;
}

void qz_pick_calibration(uint32_t *index, int n, int total, uint64_t seed)
{
    /* Selection sampling (each item kept with probability still-needed /
     * still-left): n distinct items, already in increasing order. */
    nn_rng r;
    nn_rng_seed_key(&r, seed, QZ_STREAM_CALIBRATION, 0, 0);
    int got = 0;
    for (int i = 0; i < total && got < n; i++)
        if ((int)nn_rng_below(&r, (uint32_t)(total - i)) < n - got)
            index[got++] = (uint32_t)i;
}

/* ---- range rules on histograms -------------------------------------------- */

static uint64_t hist_total(const qz_hist *h)
{
    uint64_t t = h->zeros;
    for (int b = 0; b < h->bins; b++)
        t += h->count[b];
    return t;
}

/* The bin holding 0 (where the exact zeros are counted). */
static int zero_bin(const qz_hist *h)
{
    double w = (h->hi - h->lo) / h->bins;
    if (!(w > 0))
        return 0;
    double f = (0.0 - h->lo) / w;
    return !(f >= 0) ? 0 : f >= h->bins ? h->bins - 1 : (int)f;
}

/* A histogram the range rules can use: bins, and a finite, non-empty
 * [lo, hi] whose width is finite too. */
static int hist_usable(const qz_hist *h)
{
    return h->bins >= 1 && isfinite(h->lo) && isfinite(h->hi) && h->hi > h->lo &&
           isfinite(h->hi - h->lo);
}

void qz_range_percentile(const qz_hist *h, double pct, double *lo, double *hi)
{
    *lo = 0, *hi = 0;
    uint64_t total = hist_total(h);
    if (total == 0 || !hist_usable(h))
        return;
    const double w = (h->hi - h->lo) / h->bins, tail = (1.0 - pct / 100.0) * (double)total;
    const int zb = zero_bin(h);
    double acc = 0;
    for (int b = h->bins - 1; b >= 0; b--) {
        acc += (double)h->count[b] + (b == zb ? (double)h->zeros : 0.0);
        if (acc > tail) {
            *hi = h->lo + (b + 1) * w;
            break;
        }
    }
    acc = 0;
    for (int b = 0; b < h->bins; b++) {
        acc += (double)h->count[b] + (b == zb ? (double)h->zeros : 0.0);
        if (acc > tail) {
            *lo = h->lo + b * w;
            break;
        }
    }
    if (*lo > 0)
        *lo = 0;
    if (*hi < 0)
        *hi = 0;
}

/* Index of the first bin whose centre is above x (bins if none). */
static int first_above(const qz_hist *h, double w, double x)
{
    double f = floor((x - h->lo) / w - 0.5) + 1.0;
    return !(f >= 0) ? 0 : f > h->bins ? h->bins : (int)f;
}

/* Number of bins whose centre is below x. */
static int count_below(const qz_hist *h, double w, double x)
{
    double f = ceil((x - h->lo) / w - 0.5);
    return !(f >= 0) ? 0 : f > h->bins ? h->bins : (int)f;
}

void qz_range_mse(const qz_hist *h, double *lo, double *hi)
{
    *lo = 0, *hi = 0;
    if (!isfinite(h->lo) || !isfinite(h->hi))
        return;
    const double L = h->lo < 0 ? h->lo : 0, H = h->hi > 0 ? h->hi : 0;
    *lo = L, *hi = H;
    if (!hist_usable(h))
        return;
    const int B = h->bins;
    const double w = (h->hi - h->lo) / B;
    /* Prefix sums of count, count * v and count * v^2 (v the bin centre):
     * the squared distance of all values beyond an edge in O(1). */
    double *p0 = malloc((size_t)(B + 1) * 3 * sizeof *p0);
    if (!p0)
        return; /* no memory: keep the min/max range */
    double *p1 = p0 + B + 1, *p2 = p1 + B + 1;
    p0[0] = p1[0] = p2[0] = 0;
    for (int b = 0; b < B; b++) {
        const double c = (double)h->count[b], v = h->lo + (b + 0.5) * w;
        p0[b + 1] = p0[b] + c;
        p1[b + 1] = p1[b] + c * v;
        p2[b + 1] = p2[b] + c * v * v;
    }
    double best = INFINITY;
    int best_j = 256, best_k = 256;
    const int jmax = L < 0 ? 256 : 1, kmax = H > 0 ? 256 : 1;
    for (int k = kmax; k >= 1; k--) { /* widest first: ties keep it */
        const double chi = H * k / 256.0;
        const int a = first_above(h, w, chi); /* bins [a, B) lie above */
        const double above =
            (p2[B] - p2[a]) - 2 * chi * (p1[B] - p1[a]) + chi * chi * (p0[B] - p0[a]);
        for (int j = jmax; j >= 1; j--) {
            const double clo = L * j / 256.0;
            int z = count_below(h, w, clo); /* bins [0, z) lie below */
            if (z > a)
                z = a;
            const double below = p2[z] - 2 * clo * p1[z] + clo * clo * p0[z];
            const double inside = p0[a] - p0[z], step = (chi - clo) / 255.0;
            const double e = above + below + inside * step * step / 12.0;
            if (e < best) {
                best = e;
                best_j = j, best_k = k;
            }
        }
    }
    free(p0);
    *lo = L * best_j / 256.0;
    *hi = H * best_k / 256.0;
}

/* ---- the calibration runs --------------------------------------------------- */

/* A non-finite activation: calibration image, op, element, value. */
typedef struct {
    int image, op;
    size_t elem;
    float value;
} nonfinite;

/* Records in *bad (if still empty) the first non-finite value of op o's
 * output v[0..n) on calibration image i. */
static void find_nonfinite(nonfinite *bad, const float *v, size_t n, int i, int o)
{
    if (bad->op >= 0)
        return;
    for (size_t k = 0; k < n; k++)
        if (!isfinite(v[k])) {
            *bad = (nonfinite){i, o, k, v[k]};
            return;
        }
}

typedef struct {
    const qz_net *net;
    const uint8_t *images;
    const uint32_t *index;
    int n, pass;             /* pass 0: min/max; pass 1: histograms          */
    float **tens, **col;     /* (threads) buffers                             */
    double *mn, *mx;         /* (threads, n_ops)                              */
    uint64_t *hist;          /* (threads, n_ops, QZ_HIST_BINS)                */
    uint64_t *zeros;         /* (threads, n_ops)                              */
    const double *hlo, *hhi; /* (n_ops) histogram ranges of pass 1         */
    const int *need;         /* (n_ops) 1: calibrate this op                  */
    nonfinite *bad;          /* (threads) the first non-finite activation    */
} calib_job;

static void calib_worker(void *ctx, int t, int T)
{
    calib_job *j = ctx;
    const qz_net *net = j->net;
    const int nops = net->n_ops;
    const size_t img = (size_t)net->in_c * net->in_h * net->in_w;
    int b0, b1;
    nn_pool_slice(j->n, t, T, &b0, &b1);
    double *mn = j->mn + (size_t)t * nops, *mx = j->mx + (size_t)t * nops;
    for (int i = b0; i < b1; i++) {
        size_t src = j->index ? j->index[i] : (size_t)i;
        qz_net_forward(net, NULL, j->images + src * img, j->tens[t], j->col[t]);
        for (int o = 0; o < nops; o++) {
            const qz_fop *op = &net->ops[o];
            const float *v = j->tens[t] + net->tensor_off[o + 1];
            const size_t n = (size_t)op->out_c * op->out_h * op->out_w;
            if (j->pass == 0) /* every op: an average pool can overflow too */
                find_nonfinite(&j->bad[t], v, n, i, o);
            if (!j->need[o])
                continue;
            if (j->pass == 0) {
                double a = mn[o], b = mx[o];
                for (size_t k = 0; k < n; k++) {
                    a = v[k] < a ? v[k] : a;
                    b = v[k] > b ? v[k] : b;
                }
                mn[o] = a, mx[o] = b;
                continue;
            }
            uint64_t *h = j->hist + ((size_t)t * nops + o) * QZ_HIST_BINS;
            const double lo = j->hlo[o], inv = QZ_HIST_BINS / (j->hhi[o] - j->hlo[o]);
            uint64_t z = 0;
            for (size_t k = 0; k < n; k++) {
                if (v[k] == 0.0f) {
                    z++;
                    continue;
                }
                double f = ((double)v[k] - lo) * inv;
                int bin = !(f >= 0) ? 0 : f >= QZ_HIST_BINS ? QZ_HIST_BINS - 1 : (int)f;
                h[bin]++;
            }
            j->zeros[(size_t)t * nops + o] += z;
        }
    }
}

/* The network input, (pixel / 255 - mean) / std, computed as
 * qz_net_forward does, must be finite for every pixel value. */
static nn_status check_input_range(const qz_net *net, nn_error *err)
{
    for (int c = 0; c < net->in_c; c++) {
        const float scale = 1.0f / (255.0f * net->std[c]), shift = -net->mean[c] / net->std[c];
        if (!(isfinite(scale) && isfinite(shift) && isfinite(255.0f * scale + shift)))
            return nn_errorf(err, NN_ERR_NUMERIC,
                             "input normalization: channel %d: (pixel / 255 - mean %g) / std %g "
                             "is beyond the float range",
                             c, (double)net->mean[c], (double)net->std[c]);
    }
    return NN_OK;
}

/* NN_ERR_NUMERIC naming the op (its float layer) and where its output
 * first stopped being finite. */
static nn_status nonfinite_error(const qz_net *net, const uint32_t *index, const nonfinite *b,
                                 nn_error *err)
{
    const qz_fop *op = &net->ops[b->op];
    double wmax = 0.0;
    for (size_t k = 0; op->w && k < op->n_weights; k++)
        wmax = fabs((double)op->w[k]) > wmax ? fabs((double)op->w[k]) : wmax;
    char why[160] = "its inputs are too large for float arithmetic";
    if (op->w)
        snprintf(why, sizeof why,
                 "its weights (largest magnitude %g after folding) or inputs are too large for "
                 "float arithmetic",
                 wmax);
    return nn_errorf(err, NN_ERR_NUMERIC,
                     "%s: activation range is not finite: calibration image %d (data image "
                     "%lu) gives output element %zu = %g; %s",
                     op->label, b->image,
                     (unsigned long)(index ? index[b->image] : (uint32_t)b->image), b->elem,
                     (double)b->value, why);
}

nn_status qz_calibrate(double *lo, double *hi, const qz_net *net, const uint8_t *images,
                       const uint32_t *index, int n, qz_method method, double percentile,
                       int threads, nn_error *err)
{
    if (n < 1)
        return nn_errorf(err, NN_ERR_ARG, "calibration needs at least one image");
    if (!qz_method_name(method) ||
        (method == QZ_PERCENTILE && !(percentile > 50 && percentile <= 100)))
        return nn_errorf(err, NN_ERR_ARG, "invalid calibration method %d / percentile %g",
                         (int)method, percentile);
    nn_status st = check_input_range(net, err);
    if (st != NN_OK)
        return st;
    nn_pool *pool;
    st = nn_pool_create(&pool, threads, err);
    if (st != NN_OK)
        return st;
    const int T = nn_pool_threads(pool), nops = net->n_ops;
    calib_job j = {net,  images, index, n,    0,    NULL, NULL, NULL,
                   NULL, NULL,   NULL,  NULL, NULL, NULL, NULL};
    qz_scratch sc;
    int oom = qz_scratch_alloc(&sc, net, T) != 0;
    j.tens = sc.tens, j.col = sc.col;
    j.mn = malloc((size_t)T * nops * sizeof *j.mn);
    j.mx = malloc((size_t)T * nops * sizeof *j.mx);
    j.zeros = calloc((size_t)T * nops, sizeof *j.zeros);
    double *hlo = calloc((size_t)nops, sizeof *hlo), *hhi = calloc((size_t)nops, sizeof *hhi);
    int *need = calloc((size_t)nops, sizeof *need);
    j.bad = malloc((size_t)T * sizeof *j.bad);
    if (oom || !j.mn || !j.mx || !j.zeros || !hlo || !hhi || !need || !j.bad) {
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory for calibration");
        goto done;
    }
    j.hlo = hlo, j.hhi = hhi, j.need = need;
    for (int o = 0; o < nops; o++) {
        qm_op_type ty = net->ops[o].type;
        need[o] = qm_is_weighted(ty) || ty == QM_ADD;
    }
    for (size_t k = 0; k < (size_t)T * nops; k++)
        j.mn[k] = 0, j.mx[k] = 0; /* ranges always contain 0 */
    for (int t = 0; t < T; t++)
        j.bad[t] = (nonfinite){0, -1, 0, 0.0f};
    nn_pool_run(pool, calib_worker, &j);
    for (int t = 0; t < T; t++) /* slices ascend: the first thread's is the first image's */
        if (j.bad[t].op >= 0) {
            st = nonfinite_error(net, index, &j.bad[t], err);
            goto done;
        }
    for (int o = 0; o < nops; o++) {
        double a = 0, b = 0;
        for (int t = 0; t < T; t++) {
            a = j.mn[(size_t)t * nops + o] < a ? j.mn[(size_t)t * nops + o] : a;
            b = j.mx[(size_t)t * nops + o] > b ? j.mx[(size_t)t * nops + o] : b;
        }
        hlo[o] = lo[o] = a, hhi[o] = hi[o] = b;
    }
    if (method != QZ_MINMAX) {
        j.hist = calloc((size_t)T * nops * QZ_HIST_BINS, sizeof *j.hist);
        if (!j.hist) {
            st = nn_errorf(err, NN_ERR_NOMEM, "out of memory for calibration histograms");
            goto done;
        }
        for (int o = 0; o < nops - 1; o++) /* the logits keep min/max */
            need[o] = need[o] && hhi[o] > hlo[o];
        need[nops - 1] = 0;
        j.pass = 1;
        nn_pool_run(pool, calib_worker, &j);
        uint64_t *sum = j.hist; /* thread 0's block accumulates the others */
        for (int o = 0; o < nops; o++) {
            if (!need[o])
                continue;
            uint64_t zeros = 0;
            for (int t = 0; t < T; t++) {
                zeros += j.zeros[(size_t)t * nops + o];
                if (t > 0)
                    for (int b = 0; b < QZ_HIST_BINS; b++)
                        sum[(size_t)o * QZ_HIST_BINS + b] +=
                            j.hist[((size_t)t * nops + o) * QZ_HIST_BINS + b];
            }
            qz_hist h = {hlo[o], hhi[o], QZ_HIST_BINS, sum + (size_t)o * QZ_HIST_BINS, zeros};
            if (method == QZ_PERCENTILE)
                qz_range_percentile(&h, percentile, &lo[o], &hi[o]);
            else
                qz_range_mse(&h, &lo[o], &hi[o]);
        }
    }
done:
    qz_scratch_free(&sc);
    free(j.mn), free(j.mx), free(j.hist), free(j.zeros), free(j.bad);
    free(hlo), free(hhi), free(need);
    nn_pool_free(pool);
    return st;
}
