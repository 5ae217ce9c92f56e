/* qref.c - the reference int8 interpreter (see qref.h and qmodel.h). */
#include "qref.h"

#include <stdlib.h>

#include "libnn/nn_pool.h"

static size_t tensor_elems(const qm_model *m, int t)
{
    if (t == QM_INPUT)
        return (size_t)m->in_c * m->in_h * m->in_w;
    const qm_op *op = &m->ops[t];
    return (size_t)op->out_c * op->out_h * op->out_w;
}

static size_t tensor_offset(const qm_model *m, int t)
{
    size_t off = tensor_elems(m, QM_INPUT);
    for (int i = 0; i < t; i++)
        off += tensor_elems(m, i);
    return off;
}

static int32_t tensor_zero(const qm_model *m, int t)
{
    return t == QM_INPUT ? m->in.zero : m->ops[t].out.zero;
}

size_t qm_ref_scratch_bytes(const qm_model *m) { return tensor_offset(m, m->n_ops); }

const int8_t *qm_ref_tensor(const qm_model *m, const int8_t *scratch, int t)
{
    return scratch + (t == QM_INPUT ? 0 : tensor_offset(m, t));
}

static int32_t saturate32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

static int8_t clamp8(int64_t v, int32_t lo, int32_t hi) { return (int8_t)(v < lo ? lo : v > hi ? hi : v); }

/* sum of w[k] * (x[k] - zero) over k < n: int32 partial sums over blocks
 * of 4096 terms (each term is at most 127 * 255 in magnitude, so a block
 * cannot overflow), added up in 64 bits. */
static int64_t dot(const int8_t *w, const int8_t *x, size_t n, int32_t zero)
{
    int64_t total = 0;
    for (size_t k0 = 0; k0 < n; k0 += 4096) {
        size_t k1 = n - k0 < 4096 ? n : k0 + 4096;
        int32_t s = 0;
        for (size_t k = k0; k < k1; k++)
            s += (int32_t)w[k] * ((int32_t)x[k] - zero);
        total += s;
    }
    return total;
}

/* conv2d: x (in_h, in_w, in_c), w (out_c, k, k, in_c), y (out_h, out_w, out_c). */
static void run_conv(const qm_op *op, int32_t in_zero, const int8_t *x, int8_t *y)
{
    const int k = op->kernel, C = op->in_c;
    const int32_t lo = qm_op_lo(op), hi = qm_op_hi(op);
    for (int oy = 0; oy < op->out_h; oy++)
        for (int ox = 0; ox < op->out_w; ox++)
            for (int o = 0; o < op->out_c; o++) {
                int64_t acc = op->bias[o];
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * op->stride - op->pad + ky;
                    if (iy < 0 || iy >= op->in_h)
                        continue; /* padding reads in_zero: contributes 0 */
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * op->stride - op->pad + kx;
                        if (ix < 0 || ix >= op->in_w)
                            continue;
                        const int8_t *xp = x + ((size_t)iy * op->in_w + ix) * C;
                        const int8_t *wp = op->weights + (((size_t)o * k + ky) * k + kx) * C;
                        acc += dot(wp, xp, (size_t)C, in_zero);
                    }
                }
                int8_t v = qm_requantize(saturate32(acc), op->mult[o], op->shift[o], op->out.zero,
                                         lo, hi);
                y[((size_t)oy * op->out_w + ox) * op->out_c + o] = v;
            }
}

/* depthwise: x (in_h, in_w, c), w (c, k, k), y (out_h, out_w, c). */
static void run_depthwise(const qm_op *op, int32_t in_zero, const int8_t *x, int8_t *y)
{
    const int k = op->kernel, C = op->in_c;
    const int32_t lo = qm_op_lo(op), hi = qm_op_hi(op);
    for (int oy = 0; oy < op->out_h; oy++)
        for (int ox = 0; ox < op->out_w; ox++)
            for (int c = 0; c < C; c++) {
                int64_t acc = op->bias[c];
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * op->stride - op->pad + ky;
                    if (iy < 0 || iy >= op->in_h)
                        continue; /* padding reads in_zero: contributes 0 */
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * op->stride - op->pad + kx;
                        if (ix < 0 || ix >= op->in_w)
                            continue;
                        acc += (int64_t)op->weights[((size_t)c * k + ky) * k + kx] *
                               (x[((size_t)iy * op->in_w + ix) * C + c] - in_zero);
                    }
                }
                y[((size_t)oy * op->out_w + ox) * C + c] = qm_requantize(
                    saturate32(acc), op->mult[c], op->shift[c], op->out.zero, lo, hi);
            }
}

/* dense: x (in_size) in HWC order, w (out_c, in_size), y (out_c). */
static void run_dense(const qm_op *op, int32_t in_zero, const int8_t *x, int8_t *y)
{
    const size_t K = (size_t)op->in_c * op->in_h * op->in_w;
    const int32_t lo = qm_op_lo(op), hi = qm_op_hi(op);
    for (int o = 0; o < op->out_c; o++) {
        int64_t acc = op->bias[o];
        acc += dot(op->weights + (size_t)o * K, x, K, in_zero);
        y[o] = qm_requantize(saturate32(acc), op->mult[o], op->shift[o], op->out.zero, lo, hi);
    }
}

/* round(s / n), halves away from zero; n > 0. */
static int64_t div_round_away(int64_t s, int64_t n)
{
    return s >= 0 ? (s + n / 2) / n : -((-s + n / 2) / n);
}

/* maxpool, avgpool: windows of k x k with a stride, no padding. */
static void run_pool(const qm_op *op, int32_t zero, const int8_t *x, int8_t *y)
{
    const int k = op->kernel, C = op->in_c;
    const int32_t lo = qm_op_lo(op), hi = qm_op_hi(op);
    for (int oy = 0; oy < op->out_h; oy++)
        for (int ox = 0; ox < op->out_w; ox++)
            for (int c = 0; c < C; c++) {
                int best = -128;
                int64_t sum = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = oy * op->stride + ky, ix = ox * op->stride + kx;
                        int v = x[((size_t)iy * op->in_w + ix) * C + c];
                        best = v > best ? v : best;
                        sum += v - zero;
                    }
                int64_t r =
                    op->type == QM_MAXPOOL ? best : zero + div_round_away(sum, (int64_t)k * k);
                y[((size_t)oy * op->out_w + ox) * C + c] = clamp8(r, lo, hi);
            }
}

static void run_global_avgpool(const qm_op *op, int32_t zero, const int8_t *x, int8_t *y)
{
    const size_t hw = (size_t)op->in_h * op->in_w;
    const int32_t lo = qm_op_lo(op), hi = qm_op_hi(op);
    for (int c = 0; c < op->in_c; c++) {
        int64_t sum = 0;
        for (size_t p = 0; p < hw; p++)
            sum += x[p * op->in_c + c] - zero;
        y[c] = clamp8(zero + div_round_away(sum, (int64_t)hw), lo, hi);
    }
}

static void run_add(const qm_op *op, int32_t za, int32_t zb, const int8_t *a, const int8_t *b,
                    int8_t *y)
{
    const size_t n = (size_t)op->out_c * op->out_h * op->out_w;
    const int32_t lo = qm_op_lo(op), hi = qm_op_hi(op);
    const int s = op->add_shift;
    for (size_t i = 0; i < n; i++) {
        int64_t v = (int64_t)(a[i] - za) * op->add_mult[0] + (int64_t)(b[i] - zb) * op->add_mult[1];
        v = (v + ((int64_t)1 << (s - 1))) >> s;
        y[i] = clamp8(op->out.zero + v, lo, hi);
    }
}

void qm_ref_run(const qm_model *m, const uint8_t *pixels, int8_t *scratch)
{
    /* The input: CHW pixels through the table into HWC. */
    const int C = m->in_c;
    const size_t hw = (size_t)m->in_h * m->in_w;
    for (int c = 0; c < C; c++)
        for (size_t p = 0; p < hw; p++)
            scratch[p * C + c] = m->input_lut[c * 256 + pixels[c * hw + p]];

    size_t off = tensor_elems(m, QM_INPUT);
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        const int8_t *x = qm_ref_tensor(m, scratch, op->input);
        int32_t zx = tensor_zero(m, op->input);
        int8_t *y = scratch + off;
        switch (op->type) {
        case QM_CONV2D: run_conv(op, zx, x, y); break;
        case QM_DENSE: run_dense(op, zx, x, y); break;
        case QM_DEPTHWISE: run_depthwise(op, zx, x, y); break;
        case QM_MAXPOOL:
        case QM_AVGPOOL: run_pool(op, zx, x, y); break;
        case QM_GLOBAL_AVGPOOL: run_global_avgpool(op, zx, x, y); break;
        case QM_ADD:
            run_add(op, zx, tensor_zero(m, op->input2), x, qm_ref_tensor(m, scratch, op->input2),
                    y);
            break;
        }
        off += tensor_elems(m, i);
    }
}

void qm_ref_logits(const qm_model *m, const int8_t *scratch, float *out)
{
    const qm_op *last = &m->ops[m->n_ops - 1];
    const int8_t *q = qm_ref_tensor(m, scratch, m->n_ops - 1);
    for (int k = 0; k < m->num_classes; k++)
        out[k] = last->out.scale * (float)(q[k] - last->out.zero);
}

int qm_ref_argmax(const qm_model *m, const int8_t *scratch)
{
    const int8_t *q = qm_ref_tensor(m, scratch, m->n_ops - 1);
    int best = 0;
    for (int k = 1; k < m->num_classes; k++)
        if (q[k] > q[best])
            best = k;
    return best;
}

/* ---- parallel classification --------------------------------------------- */

typedef struct {
    const qm_model *m;
    const uint8_t *images, *labels;
    int n;
    int *pred;
    int8_t **scratch; /* (threads) */
    int *correct;     /* (threads) */
} classify_job;

static void classify_worker(void *ctx, int t, int T)
{
    classify_job *j = ctx;
    int b0, b1;
    nn_pool_slice(j->n, t, T, &b0, &b1);
    size_t img = (size_t)j->m->in_c * j->m->in_h * j->m->in_w;
    int ok = 0;
    for (int i = b0; i < b1; i++) {
        qm_ref_run(j->m, j->images + (size_t)i * img, j->scratch[t]);
        int p = qm_ref_argmax(j->m, j->scratch[t]);
        if (j->pred)
            j->pred[i] = p;
        if (j->labels && p == j->labels[i])
            ok++;
    }
    j->correct[t] = ok;
}

nn_status qm_ref_classify(const qm_model *m, const uint8_t *images, const uint8_t *labels, int n,
                          int threads, int *pred, int *correct, nn_error *err)
{
    *correct = 0;
    if (n <= 0)
        return NN_OK;
    nn_pool *pool;
    nn_status st = nn_pool_create(&pool, threads, err);
    if (st != NN_OK)
        return st;
    int T = nn_pool_threads(pool);
    int8_t **scratch = calloc((size_t)T, sizeof *scratch);
    int *ok = calloc((size_t)T, sizeof *ok);
    int oom = !scratch || !ok;
    for (int t = 0; t < T && !oom; t++)
        oom = !(scratch[t] = malloc(qm_ref_scratch_bytes(m)));
    if (oom) {
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory for the reference interpreter");
    } else {
        classify_job j = {m, images, labels, n, pred, scratch, ok};
        nn_pool_run(pool, classify_worker, &j);
        for (int t = 0; t < T; t++)
            *correct += ok[t];
    }
    for (int t = 0; scratch && t < T; t++)
        free(scratch[t]);
    free(scratch);
    free(ok);
    nn_pool_free(pool);
    return st;
}
