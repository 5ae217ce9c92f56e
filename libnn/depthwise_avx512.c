/* depthwise_avx512.c - the depthwise convolution with AVX-512
 * (depthwise_isa.h). Two layouts, no gathers:
 *
 * Flat planes (forward and input gradient at stride 1 where the rows of
 * input and output are equally wide, i.e. padding k/2): the lanes are 16
 * consecutive positions of the flattened plane being written, whatever its
 * row width, so small planes (4x4: one vector) fill the vectors, and tap t
 * of position q reads src[q + off[t]]. A plan made once per call holds the
 * lanes each tap reaches per vector; the others are masked off, neither
 * added nor (at the plane's ends) read: the portable body's skipping of
 * taps outside the image.
 * Channel lanes (the weight gradient always, forward and input gradient at
 * other strides): 16 channels' planes are transposed side by side
 * (to_lanes), so each lane runs the portable body's sequence for its
 * channel on plain aligned loads: per output position the taps inside the
 * image in order; for the weight gradient the float row sums and their
 * double total, ROWS rows at a time so that their dependency chains
 * overlap. */
#include "depthwise_isa.h"

#include "nn_target.h"

#include <stddef.h>
#include <stdint.h>

/* Kernels up to 7x7 (larger ones take the portable body). */
#define MAX_TAPS 49

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

size_t nn_depthwise_avx512_scratch_floats(const nn_conv_dims *d)
{
    size_t ihw = (size_t)d->in_h * d->in_w, ohw = (size_t)d->out_h * d->out_w;
    size_t nv = (ihw > ohw ? ihw : ohw) / 16 + 1;
    size_t masks = round16((nv * (size_t)d->k * d->k * 2 + 3) / 4);
    return 16 + MAX_TAPS * 16 + (round16(ihw) + round16(ohw)) * 16 + masks;
}

#if defined(__x86_64__)
#include <immintrin.h>

NN_TARGET_AVX512_BEGIN

#include "nn_avx512_lanes.h"

/* Planes whose positions fit an int with room. */
#define MAX_PLANE ((size_t)1 << 26)

static int shape_ok(const nn_conv_dims *d)
{
    size_t ihw = (size_t)d->in_h * d->in_w, ohw = (size_t)d->out_h * d->out_w;
    return d->k >= 1 && d->k * d->k <= MAX_TAPS && d->stride >= 1 && ihw > 0 && ohw > 0 &&
           ihw <= MAX_PLANE && ohw <= MAX_PLANE;
}

/* Forward and input gradient on flat planes? */
static int flat_ok(const nn_conv_dims *d)
{
    return d->stride == 1 && d->out_w == d->in_w;
}

/* The scratch, 64-byte aligned parts: wl (taps*16), the input's and the
 * output's channels side by side (round16 of a plane's positions, 16
 * floats each), the flat plan's masks. */
typedef struct {
    float *wl, *xt, *yt;
    __mmask16 *mask;
} dw_scratch;

static dw_scratch carve(float *scratch, const nn_conv_dims *d)
{
    dw_scratch s;
    s.wl = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    s.xt = s.wl + MAX_TAPS * 16;
    s.yt = s.xt + round16((size_t)d->in_h * d->in_w) * 16;
    s.mask = (__mmask16 *)(s.yt + round16((size_t)d->out_h * d->out_w) * 16);
    return s;
}

/* ---- flat planes ------------------------------------------------------- */

/* Vector v's lanes that tap t reaches: mask[v*taps + t]; they read
 * src[16v + lane + off[t]]. */
typedef struct {
    int nv, taps;
    ptrdiff_t off[MAX_TAPS];
    __mmask16 *mask; /* (nv*taps) */
} flat_plan;

/* Whether position q of the plane being written takes tap (ki, kj). */
typedef int (*takes_tap_fn)(const nn_conv_dims *d, int q, int ki, int kj);

/* Forward: output (oy, ox) reads input (oy - pad + ki, ox - pad + kj). */
static int forward_takes(const nn_conv_dims *d, int q, int ki, int kj)
{
    int iy = q / d->out_w - d->pad + ki, ix = q % d->out_w - d->pad + kj;
    return q < d->out_h * d->out_w && iy >= 0 && iy < d->in_h && ix >= 0 && ix < d->in_w;
}

/* Input gradient: input (iy, ix) reads output (iy + pad - ki, ix + pad - kj). */
static int input_grad_takes(const nn_conv_dims *d, int q, int ki, int kj)
{
    int oy = q / d->in_w + d->pad - ki, ox = q % d->in_w + d->pad - kj;
    return q < d->in_h * d->in_w && oy >= 0 && oy < d->out_h && ox >= 0 && ox < d->out_w;
}

/* The plan over `positions` positions, its masks in mask (nv*taps); sign
 * -1 for the forward offsets ((ki - pad) rows and columns on), +1 for the
 * input gradient's. */
static void flat_plan_make(flat_plan *p, __mmask16 *mask, const nn_conv_dims *d, int positions,
                           takes_tap_fn takes, int sign)
{
    const int k = d->k, w = d->out_w; /* == in_w */
    p->nv = (positions + 15) / 16;
    p->taps = k * k;
    p->mask = mask;
    for (int t = 0; t < k * k; t++)
        p->off[t] = -sign * ((ptrdiff_t)(t / k - d->pad) * w + (t % k - d->pad));
    for (int v = 0; v < p->nv; v++)
        for (int t = 0; t < k * k; t++) {
            unsigned m = 0;
            for (int l = 0; l < 16; l++)
                m |= (unsigned)(takes(d, v * 16 + l, t / k, t % k) != 0) << l;
            p->mask[(size_t)v * k * k + t] = (__mmask16)m;
        }
}

/* The 16 floats at src + at: a plain load where they all lie inside
 * [src, src + len), a masked one (only lanes m) at the plane's ends. Zen 5
 * pays several plain loads for a masked one that misses L1
 * (docs/training-kernels.md); the lanes outside m are not used. */
static inline __m512 load_inside(const float *src, ptrdiff_t at, ptrdiff_t len, __mmask16 m)
{
    if (at >= 0 && at + 16 <= len)
        return _mm512_loadu_ps(src + at);
    return _mm512_maskz_loadu_ps(m, src + at);
}

/* One plane: dst[q] = start(q), then + f[t] * src[q + off[t]] over the
 * taps in order, in the lanes each reaches; accumulate: start is dst
 * itself, else bias. src holds src_len floats. */
static void flat_plane(float *dst, const float *src, ptrdiff_t src_len, const float *f, float bias,
                       int accumulate, const flat_plan *p, int positions)
{
    for (int v = 0; v < p->nv; v++) {
        const int q0 = v * 16;
        const __mmask16 live = nn_lanes_first(positions - q0);
        __m512 acc = accumulate ? _mm512_maskz_loadu_ps(live, dst + q0) : _mm512_set1_ps(bias);
        const __mmask16 *mv = p->mask + (size_t)v * p->taps;
        for (int t = 0; t < p->taps; t++) {
            const __mmask16 m = mv[t];
            if (!m)
                continue;
            const __m512 x = load_inside(src, q0 + p->off[t], src_len, m);
            acc = _mm512_mask_add_ps(acc, m, acc, _mm512_mul_ps(_mm512_set1_ps(f[t]), x));
        }
        _mm512_mask_storeu_ps(dst + q0, live, acc);
    }
}

/* ---- channel lanes ----------------------------------------------------- */

#define INL static inline __attribute__((always_inline))

/* r[i] lane j <- r[j] lane i: a 16x16 block transposed in registers
 * (pairs of floats, then of doubles, then 128-bit quarters twice). */
INL void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int a = 0; a < 8; a++) {
        t[2 * a] = _mm512_unpacklo_ps(r[2 * a], r[2 * a + 1]);
        t[2 * a + 1] = _mm512_unpackhi_ps(r[2 * a], r[2 * a + 1]);
    }
    /* u[4b + m], quarter L: rows 4b..4b+3 of column 4L + m */
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++) {
        const __m512d t0 = _mm512_castps_pd(t[4 * b]), t1 = _mm512_castps_pd(t[4 * b + 1]);
        const __m512d t2 = _mm512_castps_pd(t[4 * b + 2]), t3 = _mm512_castps_pd(t[4 * b + 3]);
        u[4 * b] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[4 * b + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[4 * b + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[4 * b + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    /* column 4L + m: quarter L of u[m], u[4 + m], u[8 + m], u[12 + m] */
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x44);
        const __m512 v1 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xEE);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x44);
        const __m512 v3 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xEE);
        r[m] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + m] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        r[8 + m] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

/* dst[q*16 + l] = channel l's src[l*plane + q] for l < nch, 0 for the
 * others, q < round16(P) (0 past P): 16 channels side by side. */
static void to_lanes(float *dst, const float *src, size_t plane, int P, int nch)
{
    for (int q0 = 0; q0 < P; q0 += 16) {
        const __mmask16 live = nn_lanes_first(P - q0);
        __m512 r[16];
#pragma GCC unroll 16
        for (int l = 0; l < 16; l++)
            r[l] = l >= nch         ? _mm512_setzero_ps()
                   : live == 0xFFFF ? _mm512_loadu_ps(src + l * plane + q0)
                                    : _mm512_maskz_loadu_ps(live, src + l * plane + q0);
        transpose16(r);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            _mm512_store_ps(dst + (size_t)(q0 + j) * 16, r[j]);
    }
}

/* The inverse of to_lanes: dst[l*plane + q] = src[q*16 + l] for l < nch,
 * q < P (src holds round16(P) positions). */
static void from_lanes(float *dst, const float *src, size_t plane, int P, int nch)
{
    for (int q0 = 0; q0 < P; q0 += 16) {
        const __mmask16 live = nn_lanes_first(P - q0);
        __m512 r[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            r[j] = _mm512_load_ps(src + (size_t)(q0 + j) * 16);
        transpose16(r);
        for (int l = 0; l < nch; l++)
            _mm512_mask_storeu_ps(dst + l * plane + q0, live, r[l]);
    }
}

/* wl[t*16 + l] = channel l's tap t (0 for l >= nch). */
static void weights_to_lanes(float *wl, const float *w, int taps, int nch)
{
    for (int t = 0; t < taps; t++)
        for (int l = 0; l < 16; l++)
            wl[t * 16 + l] = l < nch ? w[l * taps + t] : 0.0f;
}

/* Forward on channel lanes: ot[q] = bias, + wl[t] * xt[input of q under t]
 * for the taps inside the image, in order. */
static void forward_lanes(float *ot, const float *xt, const float *wl, __m512 bias,
                          const nn_conv_dims *d)
{
    const int k = d->k, s = d->stride;
    for (int oy = 0; oy < d->out_h; oy++)
        for (int ox = 0; ox < d->out_w; ox++) {
            __m512 acc = bias;
            for (int ki = 0; ki < k; ki++) {
                const int iy = oy * s - d->pad + ki;
                if (iy < 0 || iy >= d->in_h)
                    continue;
                for (int kj = 0; kj < k; kj++) {
                    const int ix = ox * s - d->pad + kj;
                    if (ix < 0 || ix >= d->in_w)
                        continue;
                    acc = _mm512_add_ps(
                        acc, _mm512_mul_ps(_mm512_load_ps(wl + (ki * k + kj) * 16),
                                           _mm512_load_ps(xt + ((size_t)iy * d->in_w + ix) * 16)));
                }
            }
            _mm512_store_ps(ot + ((size_t)oy * d->out_w + ox) * 16, acc);
        }
}

/* Input gradient on channel lanes: dt[q] += wl[t] * gt[output whose tap t
 * lands on q], over the taps in order. */
static void input_grad_lanes(float *dt, const float *gt, const float *wl, const nn_conv_dims *d)
{
    const int k = d->k, s = d->stride;
    for (int iy = 0; iy < d->in_h; iy++)
        for (int ix = 0; ix < d->in_w; ix++) {
            float *at = dt + ((size_t)iy * d->in_w + ix) * 16;
            __m512 acc = _mm512_load_ps(at);
            for (int ki = 0; ki < k; ki++) {
                const int ny = iy + d->pad - ki; /* oy * s */
                if (ny < 0 || ny % s || ny / s >= d->out_h)
                    continue;
                for (int kj = 0; kj < k; kj++) {
                    const int nx = ix + d->pad - kj;
                    if (nx < 0 || nx % s || nx / s >= d->out_w)
                        continue;
                    acc = _mm512_add_ps(
                        acc, _mm512_mul_ps(
                                 _mm512_load_ps(wl + (ki * k + kj) * 16),
                                 _mm512_load_ps(gt + ((size_t)(ny / s) * d->out_w + nx / s) * 16)));
                }
            }
            _mm512_store_ps(at, acc);
        }
}

/* Output rows a tap's row sums take at once: independent dependency
 * chains for the core to overlap. */
enum { ROWS = 4 };

/* dw[l][t] += the weight gradient of channels l < nch for one image, from
 * gt and xt (to_lanes of the gradient and of the input). */
static void weight_grad_block(float *dw, const float *gt, const float *xt, int nch,
                              const nn_conv_dims *d)
{
    const int k = d->k, s = d->stride, T = k * k, ow = d->out_w, iw = d->in_w;
    for (int t = 0; t < T; t++) {
        const int ki = t / k, kj = t % k;
        int ylo, yhi, xlo, xhi;
        nn_tap_range(&ylo, &yhi, ki, d->pad, s, d->in_h, d->out_h);
        nn_tap_range(&xlo, &xhi, kj, d->pad, s, iw, ow);
        if (xlo >= xhi)
            continue;
        __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
        for (int oy = ylo; oy < yhi; oy += ROWS) {
            const int rows = yhi - oy < ROWS ? yhi - oy : ROWS;
            __m512 row[ROWS];
            const float *gr[ROWS], *xr[ROWS];
#pragma GCC unroll 4
            for (int r = 0; r < ROWS; r++) {
                const int y = oy + (r < rows ? r : 0);
                row[r] = _mm512_setzero_ps();
                gr[r] = gt + (size_t)y * ow * 16;
                xr[r] = xt + ((ptrdiff_t)(y * s - d->pad + ki) * iw - d->pad + kj) * 16;
            }
            for (int ox = xlo; ox < xhi; ox++)
#pragma GCC unroll 4
                for (int r = 0; r < ROWS; r++) {
                    const __m512 gv = _mm512_load_ps(gr[r] + ox * 16);
                    const __m512 xv = _mm512_load_ps(xr[r] + ox * s * 16);
                    row[r] = _mm512_add_ps(row[r], _mm512_mul_ps(gv, xv));
                }
            for (int r = 0; r < rows; r++) {
                lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(row[r])));
                hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(
                                           _mm512_extractf64x4_pd(_mm512_castps_pd(row[r]), 1))));
            }
        }
        float sums[16];
        _mm256_storeu_ps(sums, _mm512_cvtpd_ps(lo));
        _mm256_storeu_ps(sums + 8, _mm512_cvtpd_ps(hi));
        for (int l = 0; l < nch; l++)
            dw[(size_t)l * T + t] += sums[l];
    }
}

int nn_depthwise_forward_avx512(float *out, float *scratch, const float *in, const float *w,
                                const float *b, int n, const nn_conv_dims *d)
{
    if (!shape_ok(d))
        return 0;
    const int C = d->in_c, T = d->k * d->k;
    const size_t ohw = (size_t)d->out_h * d->out_w, ihw = (size_t)d->in_h * d->in_w;
    const dw_scratch sc = carve(scratch, d);
    if (flat_ok(d)) {
        flat_plan p;
        flat_plan_make(&p, sc.mask, d, (int)ohw, forward_takes, -1);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < C; c++) {
                size_t plane = (size_t)i * C + c;
                flat_plane(out + plane * ohw, in + plane * ihw, (ptrdiff_t)ihw, w + (size_t)c * T,
                           b ? b[c] : 0.0f, 0, &p, (int)ohw);
            }
        return 1;
    }
    for (int i = 0; i < n; i++)
        for (int c0 = 0; c0 < C; c0 += 16) {
            const int nch = C - c0 < 16 ? C - c0 : 16;
            float bl[16] = {0};
            for (int l = 0; l < nch && b; l++)
                bl[l] = b[c0 + l];
            weights_to_lanes(sc.wl, w + (size_t)c0 * T, T, nch);
            to_lanes(sc.xt, in + ((size_t)i * C + c0) * ihw, ihw, (int)ihw, nch);
            forward_lanes(sc.yt, sc.xt, sc.wl, _mm512_loadu_ps(bl), d);
            from_lanes(out + ((size_t)i * C + c0) * ohw, sc.yt, ohw, (int)ohw, nch);
        }
    return 1;
}

int nn_depthwise_backward_avx512(float *din, float *dw, float *scratch, const float *dout,
                                 const float *in, const float *w, int n, const nn_conv_dims *d)
{
    if (!shape_ok(d))
        return 0;
    const int C = d->in_c, T = d->k * d->k, flat = flat_ok(d);
    const size_t ohw = (size_t)d->out_h * d->out_w, ihw = (size_t)d->in_h * d->in_w;
    const dw_scratch sc = carve(scratch, d);
    flat_plan p;
    if (din && flat)
        flat_plan_make(&p, sc.mask, d, (int)ihw, input_grad_takes, 1);
    for (int i = 0; i < n; i++) {
        const float *g = dout + (size_t)i * C * ohw, *x = in + (size_t)i * C * ihw;
        for (int c0 = 0; c0 < C; c0 += 16) {
            const int nch = C - c0 < 16 ? C - c0 : 16;
            to_lanes(sc.yt, g + c0 * ohw, ohw, (int)ohw, nch);
            to_lanes(sc.xt, x + c0 * ihw, ihw, (int)ihw, nch);
            weight_grad_block(dw + (size_t)c0 * T, sc.yt, sc.xt, nch, d);
            if (din && !flat) { /* the input's lanes are used: they take din's slice */
                float *dx = din + ((size_t)i * C + c0) * ihw;
                weights_to_lanes(sc.wl, w + (size_t)c0 * T, T, nch);
                to_lanes(sc.xt, dx, ihw, (int)ihw, nch);
                input_grad_lanes(sc.xt, sc.yt, sc.wl, d);
                from_lanes(dx, sc.xt, ihw, (int)ihw, nch);
            }
        }
        if (din && flat)
            for (int c = 0; c < C; c++)
                flat_plane(din + ((size_t)i * C + c) * ihw, g + c * ohw, (ptrdiff_t)ohw,
                           w + (size_t)c * T, 0.0f, 1, &p, (int)ihw);
    }
    return 1;
}

NN_TARGET_END

#else

int nn_depthwise_forward_avx512(float *out, float *scratch, const float *in, const float *w,
                                const float *b, int n, const nn_conv_dims *d)
{
    (void)out, (void)scratch, (void)in, (void)w, (void)b, (void)n, (void)d;
    return 0;
}

int nn_depthwise_backward_avx512(float *din, float *dw, float *scratch, const float *dout,
                                 const float *in, const float *w, int n, const nn_conv_dims *d)
{
    (void)din, (void)dw, (void)scratch, (void)dout, (void)in, (void)w, (void)n, (void)d;
    return 0;
}

#endif
