/* conv_wide.c - convolution forward and backward through the wide-plane
 * kernels (conv_wide.h): lays the input out as padded phase planes, builds
 * the tap offsets, runs one ISA's kernel, and copies the wide result back
 * to NCHW. One image at a time, all in the caller's scratch. */
#include "conv_wide.h"

#include <string.h>

#include "nn_vec.h"

/* Geometry of the wide planes of a convolution. */
typedef struct {
    int s, k, pad, c;    /* stride, kernel, padding, input channels          */
    int ih, iw, oh, ow;  /* input and output sizes                           */
    int hq, wq;          /* phase plane height and width                     */
    int qp;              /* wide output positions, oh*wq rounded up to 16    */
    size_t sx;           /* floats per phase plane (a multiple of 16)        */
} wide_geom;

static size_t round16(size_t v)
{
    return (v + 15) & ~(size_t)15;
}

static wide_geom geom(int c, int ih, int iw, int oh, int ow, int k, int s, int pad)
{
    wide_geom g = {s, k, pad, c, ih, iw, oh, ow, 0, 0, 0, 0};
    const int hp = ih + 2 * pad, wp = iw + 2 * pad;
    g.hq = (hp + s - 1) / s;
    g.wq = (wp + s - 1) / s;
    g.qp = (int)round16((size_t)oh * g.wq);
    /* A tap reads up to max_off + qp - 1 within its plane: keep that inside
     * the plane (zeros), so the garbage columns read finite values. */
    const size_t max_off = (size_t)((k - 1) / s) * g.wq + (size_t)((k - 1) / s);
    size_t sx = (size_t)g.hq * g.wq;
    if (max_off + (size_t)g.qp > sx)
        sx = max_off + (size_t)g.qp;
    g.sx = round16(sx);
    return g;
}

static wide_geom geom_fwd(const nn_conv_dims *d)
{
    return geom(d->in_c, d->in_h, d->in_w, d->out_h, d->out_w, d->k, d->stride, d->pad);
}

/* The input gradient as a stride-1 convolution of the gradient, padded by
 * k-1-pad, with the flipped kernel: input M channels of (oh, ow), output
 * in_c channels of (ih, iw). */
static wide_geom geom_din(const nn_conv_dims *d)
{
    return geom(d->out_c, d->out_h, d->out_w, d->in_h, d->in_w, d->k, 1, d->k - 1 - d->pad);
}

static size_t planes_floats(const wide_geom *g)
{
    return (size_t)g->s * g->s * g->c * g->sx;
}

static size_t round4(int m)
{
    return (size_t)((m + 3) & ~3);
}

/* Tap offsets (ptrdiff_t: the planes of a large layer pass 2^31 floats):
 * K rounded up to 16, plus 16 (the weight-gradient kernels read whole tiles
 * of up to 12 taps). */
static size_t off_count(size_t K)
{
    return round16(K) + 16;
}

/* The floats of scratch that off_count offsets take. */
static size_t off_floats(size_t K)
{
    return off_count(K) * ((sizeof(ptrdiff_t) + sizeof(float) - 1) / sizeof(float));
}

/* Scratch, in floats, each part a multiple of 16:
 *   forward:  planes | y (round4(M), qp) or gt (qp, round16(M)) | off
 *   backward: the same, then gradient planes | flipped weights
 *             (in_c, M*k*k) | wide din (round4(in_c), qp') | off' */
size_t nn_conv_wide_scratch_floats(const nn_conv_dims *d)
{
    const size_t K = (size_t)d->in_c * d->k * d->k;
    const wide_geom f = geom_fwd(d);
    size_t fwd = planes_floats(&f) + round16((size_t)d->out_c) * f.qp + off_floats(K);
    if (!nn_conv_wide_din_ok(d))
        return fwd;
    const wide_geom t = geom_din(d);
    const size_t Kt = (size_t)d->out_c * d->k * d->k;
    return fwd + planes_floats(&t) + round16((size_t)d->in_c * Kt) + round4(d->in_c) * t.qp +
           off_floats(Kt);
}

int nn_conv_wide_din_ok(const nn_conv_dims *d)
{
    return d->stride == 1 && d->pad <= d->k - 1;
}

/* planes <- the image (c, ih, iw) zero-padded and split into phases:
 * plane (py, px) of channel ch at ((py*s + px)*c + ch)*sx holds, at
 * (y, x), padded pixel (y*s + py, x*s + px). Only the zeros are written
 * with memset: the rows and columns outside the image, and the tail.
 * Phases that no tap reads (py or px >= k) are left alone. */
static void fill_planes(float *planes, const float *img, const wide_geom *g)
{
    const int s = g->s, p = g->pad, wq = g->wq;
    for (int py = 0; py < s; py++) {
        /* rows y with 0 <= y*s + py - p < ih: [y0, y1) */
        const int y0 = p - py > 0 ? (p - py + s - 1) / s : 0;
        int y1 = (g->ih - 1 + p - py) >= 0 ? (g->ih - 1 + p - py) / s + 1 : 0;
        if (y1 > g->hq)
            y1 = g->hq;
        for (int px = 0; px < s; px++) {
            if (py >= g->k || px >= g->k)
                continue; /* a phase no tap reads (a strided 1x1) */
            const int x0 = p - px > 0 ? (p - px + s - 1) / s : 0;
            int x1 = (g->iw - 1 + p - px) >= 0 ? (g->iw - 1 + p - px) / s + 1 : 0;
            if (x1 > wq)
                x1 = wq;
            for (int ch = 0; ch < g->c; ch++) {
                float *pl = planes + ((size_t)(py * s + px) * g->c + ch) * g->sx;
                const float *src = img + (size_t)ch * g->ih * g->iw;
                if (y0 >= y1 || x0 >= x1) {
                    memset(pl, 0, g->sx * sizeof(float));
                    continue;
                }
                memset(pl, 0, (size_t)y0 * wq * sizeof(float));
                for (int y = y0; y < y1; y++) {
                    float *dst = pl + (size_t)y * wq;
                    /* input column of x: x*s + px - p, >= 0 from x0 on */
                    const float *row = src + (size_t)(y * s + py - p) * g->iw +
                                       ((size_t)x0 * s + px - p);
                    for (int x = 0; x < x0; x++)
                        dst[x] = 0.0f;
                    if (s == 1)
                        nn_vec_copy(dst + x0, row, (size_t)(x1 - x0));
                    else
                        for (int x = x0; x < x1; x++)
                            dst[x] = row[(size_t)(x - x0) * s];
                    for (int x = x1; x < wq; x++)
                        dst[x] = 0.0f;
                }
                memset(pl + (size_t)y1 * wq, 0, (g->sx - (size_t)y1 * wq) * sizeof(float));
            }
        }
    }
}

/* off[r] for r = (ch, ki, kj) in weight order, then copies of the last one
 * up to off_count(K) (tile padding). */
static void tap_offsets(ptrdiff_t *off, const wide_geom *g)
{
    const size_t K = (size_t)g->c * g->k * g->k;
    const int s = g->s, k = g->k;
    for (int ch = 0; ch < g->c; ch++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                size_t plane = (size_t)((ki % s) * s + kj % s) * g->c + ch;
                size_t o = plane * g->sx + (size_t)(ki / s) * g->wq + (size_t)(kj / s);
                off[((size_t)ch * k + ki) * k + kj] = (ptrdiff_t)o;
            }
    for (size_t r = K; r < off_count(K); r++)
        off[r] = off[K - 1];
}

nn_cwk_fwd_fn nn_cwk_fwd_for(nn_isa isa)
{
    switch (isa) {
    case NN_ISA_AVX512: return nn_cwk_fwd_avx512;
    case NN_ISA_AVX2: return nn_cwk_fwd_avx2;
    default: return nn_cwk_fwd_scalar;
    }
}

nn_cwk_bwdw_fn nn_cwk_bwdw_for(nn_isa isa)
{
    switch (isa) {
    case NN_ISA_AVX512: return nn_cwk_bwdw_avx512;
    case NN_ISA_AVX2: return nn_cwk_bwdw_avx2;
    default: return nn_cwk_bwdw_scalar;
    }
}

void nn_conv_wide_forward(float *out, float *scratch, const float *in, const float *w,
                          const float *b, int n, const nn_conv_dims *d, nn_isa isa)
{
    const int M = d->out_c, K = d->in_c * d->k * d->k;
    const size_t in_size = (size_t)d->in_c * d->in_h * d->in_w;
    const size_t out_size = (size_t)M * d->out_h * d->out_w;
    if (M <= 0 || d->out_h <= 0 || d->out_w <= 0)
        return;
    const wide_geom g = geom_fwd(d);
    float *planes = scratch;
    float *y = planes + planes_floats(&g);
    ptrdiff_t *off = (ptrdiff_t *)(y + round16((size_t)M) * g.qp);
    const nn_cwk_fwd_fn fwd = nn_cwk_fwd_for(isa);
    tap_offsets(off, &g);
    for (int i = 0; i < n; i++) {
        fill_planes(planes, in + (size_t)i * in_size, &g);
        fwd(y, (size_t)g.qp, planes, off, w, (size_t)K, b, M, K, g.qp);
        float *o = out + (size_t)i * out_size; /* (M, oh, ow) */
        for (int m = 0; m < M; m++)
            for (int oy = 0; oy < d->out_h; oy++)
                nn_vec_copy(o + ((size_t)m * d->out_h + oy) * d->out_w,
                            y + (size_t)m * g.qp + (size_t)oy * g.wq, (size_t)d->out_w);
    }
}

nn_cwk_widen_fn nn_cwk_widen_for(nn_isa isa)
{
    switch (isa) {
    case NN_ISA_AVX512: return nn_cwk_widen_avx512;
    case NN_ISA_AVX2: return nn_cwk_widen_avx2;
    default: return nn_cwk_widen_scalar;
    }
}

int nn_conv_wide_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                          const float *in, const float *w, int n, const nn_conv_dims *d,
                          nn_isa isa)
{
    const int M = d->out_c, C = d->in_c, kk = d->k * d->k, K = C * kk, Kt = M * kk;
    const size_t in_size = (size_t)C * d->in_h * d->in_w;
    const size_t out_size = (size_t)M * d->out_h * d->out_w;
    const size_t hw = (size_t)d->out_h * d->out_w;
    const int wide_din = din && nn_conv_wide_din_ok(d);
    if (M <= 0 || d->out_h <= 0 || d->out_w <= 0 || n <= 0)
        return wide_din || !din;
    const wide_geom g = geom_fwd(d);
    float *planes = scratch;
    const size_t ldg = round16((size_t)M);
    float *gt = planes + planes_floats(&g);
    ptrdiff_t *off = (ptrdiff_t *)(gt + ldg * g.qp);
    const nn_cwk_bwdw_fn bwdw = nn_cwk_bwdw_for(isa);
    const nn_cwk_widen_fn widen = nn_cwk_widen_for(isa);
    tap_offsets(off, &g);

    /* The input gradient: planes of the gradient, the kernel flipped and
     * transposed, wt[ch][(m, ki, kj)] = w[m][ch][k-1-ki][k-1-kj]. */
    const wide_geom t = geom_din(d);
    float *tplanes = (float *)off + off_floats((size_t)K);
    float *wt = tplanes + (wide_din ? planes_floats(&t) : 0);
    float *ty = wt + round16((size_t)C * Kt);
    ptrdiff_t *toff = (ptrdiff_t *)(ty + round4(C) * (size_t)t.qp);
    if (wide_din) {
        tap_offsets(toff, &t);
        for (int ch = 0; ch < C; ch++)
            for (int m = 0; m < M; m++)
                for (int r = 0; r < kk; r++)
                    wt[(size_t)ch * Kt + (size_t)m * kk + r] =
                        w[(size_t)m * K + (size_t)ch * kk + (kk - 1 - r)];
    }
    const nn_cwk_fwd_fn fwd = nn_cwk_fwd_for(isa);
    for (int i = 0; i < n; i++) {
        const float *gi = dout + (size_t)i * out_size; /* (M, oh, ow) */
        if (dw) {
            fill_planes(planes, in + (size_t)i * in_size, &g);
            widen(gt, ldg, gi, M, g.oh, g.ow, g.wq, g.qp);
            bwdw(dw, gt, ldg, planes, off, M, K, g.qp);
        }
        if (db)
            for (int m = 0; m < M; m++)
                db[m] += nn_vec_sum(gi + (size_t)m * hw, hw);
        if (!wide_din)
            continue;
        fill_planes(tplanes, gi, &t);
        fwd(ty, (size_t)t.qp, tplanes, toff, wt, (size_t)Kt, NULL, C, Kt, t.qp);
        float *dx = din + (size_t)i * in_size; /* (C, ih, iw) += */
        for (int ch = 0; ch < C; ch++)
            for (int y = 0; y < d->in_h; y++)
                nn_vec_add(dx + ((size_t)ch * d->in_h + y) * d->in_w,
                           ty + (size_t)ch * t.qp + (size_t)y * t.wq, (size_t)d->in_w);
    }
    return wide_din || !din;
}
