/* qe_plan.c - planning a quantized model for the int8 engine: kernel
 * choice, weight packing, bias folding, and the arena layout.
 *
 * Arena layout. Tensor t (0 = input, i + 1 = output of op i) lives from the
 * step that writes it to the last step that reads it (step 0 is the input
 * table, step i + 1 is op i). Ops before the first dense op run image by
 * image, so their tensors hold one image and are reused by the next image;
 * a tensor read or written by the batched part holds max_batch images, and
 * when an image-wise op writes it, it lives from step 0 (every image's loop
 * revisits the earlier steps). Two tensors share memory only when their
 * lifetimes are disjoint (first fit, by offset). The last op writes the
 * caller's logits directly. The kernel scratch follows the tensors. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qe_internal.h"

#define MAX_BATCH (1 << 20)
#define MAX_K (1 << 26)
#define CONV_TILE_BYTES (32 * 1024)   /* A panel of one conv tile           */
#define DENSE_TILE_BYTES (512 * 1024) /* A panel of one dense row tile      */

static const qe_kernels *kernels_for(qe_isa isa)
{
    switch (isa) {
    case QE_ISA_C: return qe_kernels_c();
    case QE_ISA_AVX2: return qe_kernels_avx2();
    case QE_ISA_AVX512_VNNI: return qe_kernels_avx512();
    default: return NULL;
    }
}

static int32_t tensor_zero(const qm_model *m, int t)
{
    return t == QM_INPUT ? m->in.zero : m->ops[t].out.zero;
}

/* Carves 64-aligned pieces from one aligned block. */
typedef struct {
    uint8_t *base;
    size_t used;
} carver;

static void *carve(carver *c, size_t bytes)
{
    void *p = c->base ? c->base + c->used : NULL;
    c->used += QE_ALIGN_UP(bytes);
    return p;
}

static nn_status alloc_block(void **mem, size_t bytes, int op, nn_error *err)
{
    *mem = aligned_alloc(QE_ALIGN, QE_ALIGN_UP(bytes ? bytes : 1));
    if (!*mem)
        return nn_errorf(err, NN_ERR_NOMEM, "op %d: out of memory for %zu bytes of packed weights",
                         op, bytes);
    memset(*mem, 0, QE_ALIGN_UP(bytes ? bytes : 1));
    return NN_OK;
}

/* sum_k w[o][k], exact. */
static int64_t weight_sum(const qm_op *op, int o, int K)
{
    int64_t s = 0;
    const int8_t *w = op->weights + (size_t)o * K;
    for (int k = 0; k < K; k++)
        s += w[k];
    return s;
}

/* The dense GEMM form of a conv2d or dense op: packed weights, folded bias,
 * requantization constants (two passes of carve: sizes, then pointers). */
static nn_status setup_gemm(qe_step *s, const qm_op *op, int oi, const qe_kernels *kern,
                            nn_error *err)
{
    /* with padded kernel rows, k = (ky, kx, c) goes to ky * kc_pad + kx * in_c + c */
    const int K = s->kdim, kc = s->kernel * s->in_c;
    const int Kpacked = s->kc_pad ? s->kernel * s->kc_pad : K;
    const int kp = (Kpacked + QE_KALIGN - 1) / QE_KALIGN * QE_KALIGN;
    const int ocb = kern->ocb, kg = kern->kg ? kern->kg : kp;
    const int oc = op->out_c, oc_pad = (oc + ocb - 1) / ocb * ocb;
    void *w = NULL;
    int32_t *bias = NULL, *mult = NULL, *shift = NULL, *sh32 = NULL;
    int64_t *m64 = NULL, *r64 = NULL, *s64 = NULL, *o64 = NULL;
    for (int pass = 0; pass < 2; pass++) {
        carver c = {(uint8_t *)s->mem, 0};
        w = carve(&c, (size_t)oc_pad * kp * kern->wbytes);
        bias = carve(&c, (size_t)oc_pad * 4), mult = carve(&c, (size_t)oc_pad * 4);
        shift = carve(&c, (size_t)oc_pad * 4);
        m64 = carve(&c, (size_t)oc_pad * 8), r64 = carve(&c, (size_t)oc_pad * 8);
        s64 = carve(&c, (size_t)oc_pad * 8), o64 = carve(&c, (size_t)oc_pad * 8);
        sh32 = carve(&c, (size_t)oc_pad * 4);
        if (pass == 0) {
            nn_status st = alloc_block(&s->mem, c.used, oi, err);
            if (st != NN_OK)
                return st;
        }
    }
    int shift_ge32 = 1;
    for (int o = 0; o < oc_pad; o++) {
        int real = o < oc;
        int32_t mu = real ? op->mult[o] : (1 << 30), sh = real ? op->shift[o] : 32;
        shift_ge32 &= sh >= 32;
        sh32[o] = sh - 32;
        int64_t b = 0;
        if (real)
            b = (int64_t)op->bias[o] - (int64_t)(s->in_zero + kern->aoff) * weight_sum(op, o, K);
        bias[o] = qe_wrap32(b);
        mult[o] = mu, shift[o] = sh;
        m64[o] = mu, r64[o] = (int64_t)1 << (sh - 1), s64[o] = sh;
        o64[o] = (int64_t)((uint64_t)1 << (63 - sh));
    }
    for (int o = 0; o < oc; o++) {
        const int8_t *src = op->weights + (size_t)o * K;
        const size_t blk = (size_t)(o / ocb) * kp * ocb + (size_t)(o % ocb) * kg;
        for (int k = 0; k < K; k++) {
            const int kk = s->kc_pad ? k / kc * s->kc_pad + k % kc : k;
            size_t e = blk + (size_t)(kk / kg) * ocb * kg + kk % kg;
            if (kern->wbytes == 2)
                ((int16_t *)w)[e] = src[k];
            else
                ((int8_t *)w)[e] = src[k];
        }
    }
    qe_gemm_w *g = &s->g;
    g->oc = oc, g->oc_pad = oc_pad, g->kp = kp, g->w = w;
    g->bias = bias, g->mult = mult, g->shift = shift;
    g->mult64 = m64, g->rnd64 = r64, g->sh64 = s64, g->off64 = o64;
    g->sh32 = sh32, g->shift_ge32 = shift_ge32;
    g->zero = s->out_zero, g->lo = s->lo, g->hi = s->hi;
    return NN_OK;
}

static nn_status setup_sparse(qe_step *s, const qm_op *op, int oi, size_t nnz, nn_error *err)
{
    const int K = s->kdim, oc = op->out_c;
    uint32_t *rowptr = NULL, *idx = NULL;
    int8_t *val = NULL;
    int32_t *bias = NULL, *mult = NULL, *shift = NULL;
    for (int pass = 0; pass < 2; pass++) {
        carver c = {(uint8_t *)s->mem, 0};
        rowptr = carve(&c, ((size_t)oc + 1) * 4), idx = carve(&c, nnz * 4);
        val = carve(&c, nnz), bias = carve(&c, (size_t)oc * 4);
        mult = carve(&c, (size_t)oc * 4), shift = carve(&c, (size_t)oc * 4);
        if (pass == 0) {
            nn_status st = alloc_block(&s->mem, c.used, oi, err);
            if (st != NN_OK)
                return st;
        }
    }
    uint32_t j = 0;
    for (int o = 0; o < oc; o++) {
        const int8_t *w = op->weights + (size_t)o * K;
        rowptr[o] = j;
        for (int k = 0; k < K; k++)
            if (w[k] != 0)
                idx[j] = (uint32_t)k, val[j] = w[k], j++;
        bias[o] = qe_wrap32((int64_t)op->bias[o] - (int64_t)s->in_zero * weight_sum(op, o, K));
        mult[o] = op->mult[o], shift[o] = op->shift[o];
    }
    rowptr[oc] = j;
    qe_sparse_w *sp = &s->sp;
    sp->oc = oc, sp->k = K, sp->rowptr = rowptr, sp->idx = idx, sp->val = val;
    sp->bias_c = bias, sp->mult = mult, sp->shift = shift;
    sp->zero = s->out_zero, sp->lo = s->lo, sp->hi = s->hi;
    return NN_OK;
}

static int round_down(int v, int m) { return v / m * m; }

static nn_status setup_step(qe_plan *p, const qm_model *m, int oi, const qe_options *opt,
                            nn_error *err)
{
    const qm_op *op = &m->ops[oi];
    qe_step *s = &p->steps[oi];
    /* 4-bit weights may have their own kernels (AVX2: vpmaddubsw) */
    const qe_kernels *kern = op->weight_bits == 4 && p->kern->w4 ? p->kern->w4 : p->kern;
    s->kern = kern;
    s->in = op->input + 1, s->in2 = op->input2 + 1, s->out = oi + 1;
    s->in_c = op->in_c, s->in_h = op->in_h, s->in_w = op->in_w;
    s->out_c = op->out_c, s->out_h = op->out_h, s->out_w = op->out_w;
    s->kernel = op->kernel, s->stride = op->stride, s->pad = op->pad;
    s->in_zero = tensor_zero(m, op->input);
    s->out_zero = op->out.zero;
    s->lo = op->relu ? op->out.zero : -128;
    s->hi = 127;
    const char *name = qm_op_type_name(op->type);
    switch (op->type) {
    case QM_CONV2D:
    case QM_DENSE: {
        int64_t K = op->type == QM_CONV2D ? (int64_t)op->kernel * op->kernel * op->in_c
                                          : (int64_t)op->in_c * op->in_h * op->in_w;
        if (K > MAX_K)
            return nn_errorf(err, NN_ERR_FORMAT, "op %d (%s): %lld inputs per output exceed the "
                             "engine's limit of %d", oi, name, (long long)K, MAX_K);
        s->kdim = (int)K;
        if (op->type == QM_DENSE) {
            size_t nnz = 0;
            for (size_t k = 0; k < op->n_weights; k++)
                nnz += op->weights[k] != 0;
            double density = (double)nnz / (double)op->n_weights;
            int sparse = opt->sparse == QE_SPARSE_ALWAYS ||
                         (opt->sparse == QE_SPARSE_AUTO &&
                          density <= kern->sparse_max_density);
            if (sparse && nnz <= UINT32_MAX) {
                s->kind = QE_K_SPARSE_DENSE;
                s->scratch =
                    qe_sparse_scratch(s->kdim, p->max_batch, p->kern->sparse_xt_bytes);
                snprintf(s->desc, sizeof s->desc, "sparse csr K=%d density %.1f%%", s->kdim,
                         100.0 * density);
                return setup_sparse(s, op, oi, nnz, err);
            }
            s->kind = QE_K_GEMM_DENSE;
        } else {
            s->kind = QE_K_GEMM_CONV;
            /* the ISA's own conv: direct where a kernel row holds a multiple
             * of kg values; otherwise either its padded GEMM or (where it
             * convolves only directly) direct over kernel rows padded with
             * zero weights to a multiple of kg */
            const int kc = op->kernel * op->in_c, direct = kc % kern->kg == 0;
            s->own_conv = kern->conv && opt->conv != QE_CONV_IM2COL;
            if (s->own_conv && !direct && kern->conv_direct_only)
                s->kc_pad = (kc + kern->kg - 1) / kern->kg * kern->kg;
        }
        nn_status st = setup_gemm(s, op, oi, kern, err);
        if (st != NN_OK)
            return st;
        size_t row = (size_t)s->g.kp * kern->abytes;
        if (s->kind == QE_K_GEMM_CONV) {
            int P = op->out_h * op->out_w;
            int t = round_down((int)(CONV_TILE_BYTES / row), kern->rows);
            s->tile = t < kern->rows ? kern->rows : t;
            if (s->tile > P)
                s->tile = P;
            s->scratch = (size_t)s->tile * row;
            char how[40] = "gemm";
            if (s->own_conv) {
                const int direct = (op->kernel * op->in_c) % kern->kg == 0 || s->kc_pad;
                s->scratch = QE_ALIGN_UP(qe_padded_bytes(s) * kern->abytes + QE_PAD_SLACK) +
                             (direct ? 0 : s->scratch + QE_PAD_SLACK);
                if (s->kc_pad)
                    snprintf(how, sizeof how, "direct (rows padded to %d)", s->kc_pad);
                else
                    snprintf(how, sizeof how, "%s", direct ? "direct" : "padded gemm");
            }
            snprintf(s->desc, sizeof s->desc, "%s %s conv %dx%d/%d pad %d K=%d tile %d", how,
                     kern->name, op->kernel, op->kernel, op->stride, op->pad, s->kdim, s->tile);
        } else {
            size_t t = DENSE_TILE_BYTES / row;
            if (t < (size_t)kern->rows)
                t = (size_t)kern->rows;
            if (t > (size_t)p->max_batch)
                t = (size_t)p->max_batch;
            s->tile = (int)t;
            s->scratch = t * row;
            snprintf(s->desc, sizeof s->desc, "gemm %s dense K=%d rows %d", kern->name, s->kdim,
                     s->tile);
        }
        return NN_OK;
    }
    case QM_MAXPOOL:
    case QM_AVGPOOL:
    case QM_GLOBAL_AVGPOOL:
        /* pools keep their input's quantization (qmodel.h); the integer
         * rule needs the zero points to agree */
        if (op->out.zero != s->in_zero)
            return nn_errorf(err, NN_ERR_FORMAT,
                             "op %d (%s): output zero point %d differs from its input's %d (pools "
                             "keep the input's quantization)", oi, name, op->out.zero, s->in_zero);
        s->kind = op->type == QM_MAXPOOL ? QE_K_MAXPOOL
                  : op->type == QM_AVGPOOL ? QE_K_AVGPOOL
                                           : QE_K_GAP;
        snprintf(s->desc, sizeof s->desc, "%s c", name);
        return NN_OK;
    case QM_ADD:
        s->kind = QE_K_ADD;
        s->in2_zero = tensor_zero(m, op->input2);
        s->add_mult[0] = op->add_mult[0], s->add_mult[1] = op->add_mult[1];
        s->add_shift = op->add_shift;
        snprintf(s->desc, sizeof s->desc, "add c");
        return NN_OK;
    }
    return nn_errorf(err, NN_ERR_FORMAT, "op %d: unknown type %d", oi, (int)op->type);
}

/* ---- arena layout ------------------------------------------------------------- */

typedef struct {
    size_t off, bytes;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static nn_status layout(qe_plan *p, const qm_model *m, nn_error *err)
{
    const int nt = m->n_ops + 1; /* tensor n_ops (the logits) is the caller's */
    int start[QM_MAX_OPS + 1], end[QM_MAX_OPS + 1];
    size_t bytes[QM_MAX_OPS + 1];
    for (int t = 0; t < nt; t++) {
        start[t] = end[t] = t;
        p->tensors[t].batched = t > p->first_batched;
    }
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        int reads[2] = {op->input + 1, op->type == QM_ADD ? op->input2 + 1 : -1};
        for (int r = 0; r < 2; r++) {
            int t = reads[r];
            if (t < 0)
                continue;
            if (end[t] < i + 1)
                end[t] = i + 1;
            if (i >= p->first_batched)
                p->tensors[t].batched = 1;
        }
    }
    span placed[QM_MAX_OPS + 1];
    int placed_t[QM_MAX_OPS + 1], np = 0;
    size_t total = 0;
    for (int t = 0; t < nt - 1; t++) {
        qe_tensor *T = &p->tensors[t];
        int c = t == 0 ? m->in_c : m->ops[t - 1].out_c;
        int h = t == 0 ? m->in_h : m->ops[t - 1].out_h;
        int w = t == 0 ? m->in_w : m->ops[t - 1].out_w;
        T->size = (size_t)c * h * w; /* <= 2^26 (qm_model_validate) */
        if (T->batched && t <= p->first_batched)
            start[t] = 0;
        bytes[t] = QE_ALIGN_UP(T->size * (T->batched ? (size_t)p->max_batch : 1));
        /* spans of placed tensors alive at the same time, by offset */
        span live[QM_MAX_OPS + 1];
        int nl = 0;
        for (int j = 0; j < np; j++) {
            int u = placed_t[j];
            if (start[u] <= end[t] && start[t] <= end[u])
                live[nl++] = placed[j];
        }
        qsort(live, (size_t)nl, sizeof live[0], cmp_span);
        size_t off = 0;
        for (int j = 0; j < nl; j++) {
            if (live[j].off >= off + bytes[t])
                break;
            if (live[j].off + live[j].bytes > off)
                off = live[j].off + live[j].bytes;
        }
        T->off = off;
        placed[np] = (span){off, bytes[t]}, placed_t[np++] = t;
        if (off + bytes[t] > total)
            total = off + bytes[t];
    }
    size_t scratch = 0;
    for (int i = 0; i < m->n_ops; i++)
        if (p->steps[i].scratch > scratch)
            scratch = p->steps[i].scratch;
    p->scratch_off = total;
    p->arena_bytes = total + QE_ALIGN_UP(scratch) + (QE_ALIGN - 1);
    if (p->arena_bytes < total)
        return nn_errorf(err, NN_ERR_FORMAT, "the arena size overflows");
    return NN_OK;
}

/* ---- create / free ------------------------------------------------------------ */

nn_status qe_plan_create_opts(qe_plan **out, const qm_model *m, int max_batch,
                              const qe_options *opt, nn_error *err)
{
    const qe_options defaults = {QE_ISA_AUTO, QE_SPARSE_AUTO, QE_CONV_AUTO};
    if (!out)
        return nn_errorf(err, NN_ERR_ARG, "qe_plan_create: no output pointer");
    *out = NULL;
    if (!opt)
        opt = &defaults;
    if (!m)
        return nn_errorf(err, NN_ERR_ARG, "qe_plan_create: no model");
    if (max_batch < 1 || max_batch > MAX_BATCH)
        return nn_errorf(err, NN_ERR_ARG, "max_batch %d is not in [1, %d]", max_batch, MAX_BATCH);
    if (opt->sparse != QE_SPARSE_AUTO && opt->sparse != QE_SPARSE_NEVER &&
        opt->sparse != QE_SPARSE_ALWAYS)
        return nn_errorf(err, NN_ERR_ARG, "unknown sparse policy %d", (int)opt->sparse);
    if (opt->conv != QE_CONV_AUTO && opt->conv != QE_CONV_IM2COL)
        return nn_errorf(err, NN_ERR_ARG, "unknown conv policy %d", (int)opt->conv);
    const char *isa_name = qe_isa_name(opt->isa);
    if (!isa_name)
        return nn_errorf(err, NN_ERR_ARG, "unknown instruction set %d", (int)opt->isa);
    qe_isa isa = opt->isa == QE_ISA_AUTO ? qe_isa_best() : opt->isa;
    const qe_kernels *kern = kernels_for(isa);
    if (!kern || !qe_isa_supported(isa))
        return nn_errorf(err, NN_ERR_ARG,
                         "instruction set %s is not supported by this CPU or build (best: %s)",
                         isa_name, qe_isa_name(qe_isa_best()));
    nn_status st = qm_model_validate(m, err);
    if (st != NN_OK)
        return st;

    qe_plan *p = calloc(1, sizeof *p);
    if (!p)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for the plan");
    p->kern = kern;
    p->max_batch = max_batch;
    p->n_ops = m->n_ops;
    p->in_c = m->in_c, p->in_h = m->in_h, p->in_w = m->in_w;
    p->num_classes = m->num_classes;
    p->out_q = m->ops[m->n_ops - 1].out;
    memcpy(p->lut, m->input_lut, (size_t)m->in_c * 256);
    p->first_batched = m->n_ops;
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].type == QM_DENSE) {
            p->first_batched = i;
            break;
        }
    for (int i = 0; i < m->n_ops && st == NN_OK; i++)
        st = setup_step(p, m, i, opt, err);
    if (st == NN_OK)
        st = layout(p, m, err);
    if (st != NN_OK) {
        qe_plan_free(p);
        return st;
    }
    *out = p;
    return NN_OK;
}

nn_status qe_plan_create(qe_plan **out, const qm_model *m, int max_batch, qe_isa isa,
                         nn_error *err)
{
    const qe_options opt = {isa, QE_SPARSE_AUTO, QE_CONV_AUTO};
    return qe_plan_create_opts(out, m, max_batch, &opt, err);
}

void qe_plan_free(qe_plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_ops; i++)
        free(p->steps[i].mem);
    free(p);
}

size_t qe_arena_bytes(const qe_plan *p) { return p->arena_bytes; }
qe_isa qe_plan_isa(const qe_plan *p) { return p->kern->isa; }
int qe_plan_max_batch(const qe_plan *p) { return p->max_batch; }
int qe_plan_num_classes(const qe_plan *p) { return p->num_classes; }
qm_qparams qe_plan_output_qparams(const qe_plan *p) { return p->out_q; }

const char *qe_plan_op_kernel(const qe_plan *p, int i)
{
    return i >= 0 && i < p->n_ops ? p->steps[i].desc : "";
}
