/* qe_run.c - running a plan: the input table, the image-wise part, the
 * batched part; argmax and dequantization helpers. No allocation here. */
#include <stdint.h>

#include "qe_internal.h"

typedef struct {
    const qe_plan *p;
    uint8_t *base;    /* aligned arena                                     */
    int8_t *logits;   /* the last op's output                              */
} run_ctx;

/* Image i of tensor t. */
static int8_t *tensor(const run_ctx *c, int t, int i)
{
    if (t == c->p->n_ops)
        return c->logits + (size_t)i * c->p->num_classes;
    const qe_tensor *T = &c->p->tensors[t];
    return (int8_t *)c->base + T->off + (T->batched ? (size_t)i * T->size : 0);
}

static void input_table(const qe_plan *p, int8_t *x, const uint8_t *pix)
{
    const int C = p->in_c;
    const size_t hw = (size_t)p->in_h * p->in_w;
    for (int c = 0; c < C; c++) {
        const int8_t *lut = p->lut + c * 256;
        const uint8_t *src = pix + (size_t)c * hw;
        for (size_t i = 0; i < hw; i++)
            x[i * C + c] = lut[src[i]];
    }
}

static void conv(const run_ctx *c, const qe_step *s, int i)
{
    const qe_kernels *k = s->kern;
    const int8_t *in = tensor(c, s->in, i);
    int8_t *out = tensor(c, s->out, i);
    void *a = c->base + c->p->scratch_off;
    if (s->own_conv) {
        k->conv(s, in, out, a);
        return;
    }
    const int P = s->out_h * s->out_w;
    for (int p0 = 0; p0 < P; p0 += s->tile) {
        int np = P - p0 < s->tile ? P - p0 : s->tile;
        k->im2col(a, s, in, p0, np);
        k->gemm(&s->g, a, (size_t)s->g.kp, np, out + (size_t)p0 * s->out_c, (size_t)s->out_c);
    }
}

/* Images [i0, i0 + n) of a dense op: one GEMM (or sparse pass) over them. */
static void dense(const run_ctx *c, const qe_step *s, int i0, int n)
{
    const qe_kernels *k = s->kern;
    const int8_t *x = tensor(c, s->in, i0);
    int8_t *out = tensor(c, s->out, i0);
    void *a = c->base + c->p->scratch_off;
    if (s->kind == QE_K_SPARSE_DENSE) {
        c->p->kern->sparse(&s->sp, x, n, out, (size_t)s->out_c, a);
        return;
    }
    for (int r0 = 0; r0 < n; r0 += s->tile) {
        int nr = n - r0 < s->tile ? n - r0 : s->tile;
        k->pack_rows(a, s, x + (size_t)r0 * s->kdim, nr);
        k->gemm(&s->g, a, (size_t)s->g.kp, nr, out + (size_t)r0 * s->out_c, (size_t)s->out_c);
    }
}

/* One image through a non-dense op. */
static void image_op(const run_ctx *c, const qe_step *s, int i)
{
    switch (s->kind) {
    case QE_K_GEMM_CONV: conv(c, s, i); break;
    case QE_K_GEMM_DENSE:
    case QE_K_SPARSE_DENSE: dense(c, s, i, 1); break;
    case QE_K_MAXPOOL: qe_maxpool(s, tensor(c, s->in, i), tensor(c, s->out, i)); break;
    case QE_K_AVGPOOL: qe_avgpool(s, tensor(c, s->in, i), tensor(c, s->out, i)); break;
    case QE_K_GAP: qe_global_avgpool(s, tensor(c, s->in, i), tensor(c, s->out, i)); break;
    case QE_K_ADD:
        (c->p->kern->add ? c->p->kern->add : qe_add)(s, tensor(c, s->in, i), tensor(c, s->in2, i),
                                                     tensor(c, s->out, i),
                                                     (size_t)s->out_c * s->out_h * s->out_w);
        break;
    }
}

nn_status qe_run(const qe_plan *p, void *arena, const uint8_t *pixels, int n, int8_t *logits)
{
    if (!p || !arena || !pixels || !logits || n < 1 || n > p->max_batch)
        return NN_ERR_ARG;
    uintptr_t b = ((uintptr_t)arena + (QE_ALIGN - 1)) & ~(uintptr_t)(QE_ALIGN - 1);
    const run_ctx c = {p, (uint8_t *)b, logits};
    const size_t in_size = (size_t)p->in_c * p->in_h * p->in_w;
    for (int i = 0; i < n; i++) {
        input_table(p, tensor(&c, 0, i), pixels + (size_t)i * in_size);
        for (int o = 0; o < p->first_batched; o++)
            image_op(&c, &p->steps[o], i);
    }
    for (int o = p->first_batched; o < p->n_ops; o++) {
        const qe_step *s = &p->steps[o];
        if (s->kind == QE_K_GEMM_DENSE || s->kind == QE_K_SPARSE_DENSE)
            dense(&c, s, 0, n);
        else
            for (int i = 0; i < n; i++)
                image_op(&c, s, i);
    }
    return NN_OK;
}

void qe_argmax(const int8_t *logits, int n, int num_classes, int *labels)
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

void qe_dequantize(float *out, const int8_t *in, size_t count, qm_qparams q)
{
    for (size_t i = 0; i < count; i++)
        out[i] = q.scale * (float)(in[i] - q.zero);
}
