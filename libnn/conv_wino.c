/* conv_wino.c - F(4x4, 3x3) Winograd convolution (conv_wino.h).
 *
 * Per image, the zero-padded input of each channel is split into 4 x 4
 * phase planes of hq x wq (hq = th + 1, wq = tw + 1 for th x tw tiles):
 * plane (py, px) holds padded pixel (4y + py, 4x + px) at (y, x). Tile
 * (ty, tx) becomes wide position q = ty*wq + tx, and element (r, s) of its
 * 6x6 input tile is plane (r%4, s%4) at q + (r/4)*wq + s/4, so the input
 * transform runs over contiguous q for all tiles at once (column tx = tw is
 * computed and dropped). A chunk of nb images lays its tiles side by side:
 * V[xi][c][b*qi + q], qi = th*wq. Per chunk:
 *   1. split each image into phase planes, transform: V = B^T d B
 *   2. Yt[xi] = U[xi] x V[xi] for the 36 xi (the wide forward kernel)
 *   3. transform back, Y = A^T Yt A, add the bias, activate, store or add.
 * The filter transform U = G g G^T is made once per call. The transforms
 * run at the widest vector the CPU has (conv_wino_body.h, the same bits at
 * every width); splitting into phases and interleaving the 4x4 output
 * tiles back are plain copies. */
#include "conv_wino.h"

#include <string.h>

#include "conv_wide.h"

#define WINO_LANES 4
#define WINO_NAME(f) f##_w4
#include "conv_wino_body.h"

#define XI 36    /* transformed positions per tile               */
#define SLACK 16 /* the widest body's lanes: room to run past qi */

static size_t round16(size_t v)
{
    return (v + 15) & ~(size_t)15;
}

/* Tiles wanted per chunk: enough columns for the forward kernel's
 * 6-vector register tile, few enough for V and Yt to stay near L2. */
#define CHUNK_COLUMNS 96
/* The weight gradient sums over the columns: longer chains per call of
 * its kernel (each call ends with a store and an addition per weight). */
#define DW_CHUNK_COLUMNS 192

typedef struct {
    int C, M;           /* channels in and out                               */
    int ih, iw, oh, ow; /* input and output sizes                            */
    int pad;
    int th, tw;         /* 4x4 tiles per column and row                      */
    int hq, wq;         /* phase plane rows and columns                      */
    int qi;             /* wide positions per image: th*wq                   */
    int nb;             /* images per chunk                                  */
    int qp;             /* columns of V and Yt: nb*qi + SLACK, rounded to 16 */
    size_t sx;          /* floats per phase plane: hq*wq + wq + 2 + SLACK    */
    size_t ldt;         /* floats per plane of the output tiles: qi + SLACK  */
    /* Distances between the planes a loop walks across (phases, xi): the
     * size of the plane plus one cache line, so that the 16 or 36 streams
     * do not fall into one set of the L1 cache when the size is a multiple
     * of 4 KB (that made the transforms several times slower). */
    size_t pps;         /* phase planes (one channel's): sx + 16             */
    size_t ups;         /* U: round4(M)*C + 16                               */
    size_t vps;         /* V: C*qp + 16                                      */
    size_t yps;         /* Yt: round4(M)*qp + 16                             */
} wgeom;

static wgeom wgeom_of(int C, int M, int ih, int iw, int oh, int ow, int pad, int chunk_columns)
{
    wgeom g = {C, M, ih, iw, oh, ow, pad, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    g.th = (oh + 3) / 4;
    g.tw = (ow + 3) / 4;
    g.hq = g.th + 1;
    g.wq = g.tw + 1;
    g.qi = g.th * g.wq;
    g.nb = chunk_columns / g.qi > 1 ? chunk_columns / g.qi : 1;
    g.qp = (int)round16((size_t)g.nb * g.qi + SLACK);
    g.sx = (size_t)g.hq * g.wq + (size_t)g.wq + 2 + SLACK;
    g.ldt = round16((size_t)g.qi + SLACK);
    const size_t mp = (size_t)((M + 3) & ~3);
    g.pps = g.sx + 16;
    g.ups = mp * (size_t)C + 16;
    g.vps = (size_t)C * g.qp + 16;
    g.yps = mp * (size_t)g.qp + 16;
    return g;
}

static wgeom wgeom_fwd(const nn_conv_dims *d)
{
    return wgeom_of(d->in_c, d->out_c, d->in_h, d->in_w, d->out_h, d->out_w, d->pad,
                    CHUNK_COLUMNS);
}

static wgeom wgeom_din(const nn_conv_dims *d)
{
    return wgeom_of(d->out_c, d->in_c, d->out_h, d->out_w, d->in_h, d->in_w, 2 - d->pad,
                    CHUNK_COLUMNS);
}

static wgeom wgeom_dw(const nn_conv_dims *d)
{
    return wgeom_of(d->in_c, d->out_c, d->in_h, d->in_w, d->out_h, d->out_w, d->pad,
                    DW_CHUNK_COLUMNS);
}

static int shape_ok(const nn_conv_dims *d)
{
    return d->k == 3 && d->stride == 1 && d->pad >= 0 && d->pad <= 2 && d->out_h > 0 &&
           d->out_w > 0;
}

/* A pass from C channels of (ih, iw) to M of (oh, ow) gains when both
 * sides have channels enough for the products to outweigh the transforms
 * (they cost per channel what 36 products per output channel do: with 16
 * channels the gain was nothing on AVX-512, a loss on AVX2) and the rows
 * are wide enough that the dropped column of each tile row (1 in tw + 1)
 * stays small (8x8 maps, 2 tiles and 1 dropped per row: nothing). The
 * choice depends on the shape only, never on the CPU: a model trained on
 * an AVX2 machine keeps the same bits as on an AVX-512 one. */
static int pass_ok(int C, int M, int ow)
{
    return C >= NN_WINO_MIN_C && M >= NN_WINO_MIN_C && ow >= NN_WINO_MIN_W;
}

int nn_wino_fwd_ok(const nn_conv_dims *d)
{
    return shape_ok(d) && pass_ok(d->in_c, d->out_c, d->out_w);
}

int nn_wino_din_ok(const nn_conv_dims *d)
{
    return shape_ok(d) && pass_ok(d->out_c, d->in_c, d->in_w);
}

int nn_wino_dw_ok(const nn_conv_dims *d)
{
    return nn_wino_fwd_ok(d);
}

/* Scratch, each part a multiple of 16 floats:
 *   U (36 planes of ups) | wt (9, M, C) + 16 | planes (16 of pps) |
 *   V (36 of vps) | Yt (36 of yps) | T (16, ldt) | off (C rounded to 16,
 *   + 16) */
static size_t off_floats(int C)
{
    return (round16((size_t)C) + 16) * ((sizeof(ptrdiff_t) + sizeof(float) - 1) / sizeof(float));
}

static size_t scratch_of(const wgeom *g)
{
    return round16(XI * g->ups) + round16(9 * (size_t)g->M * g->C + 16) + round16(16 * g->pps) +
           round16(XI * g->vps) + round16(XI * g->yps) + 16 * g->ldt + off_floats(g->C);
}

/* The weight gradient's scratch, each part a multiple of 16 floats:
 *   dU (36 planes of dus) | planes (16 of pps) | V (36 of vps) |
 *   Z (36 of zps) | the gradient widened (erows, ldz) | off */
typedef struct {
    size_t ldz;   /* channels of Z and of the widened gradient: round16(M) */
    size_t dus;   /* dU: M*C + 16                                         */
    size_t zps;   /* Z: nb*qi rows of ldz, + 16                           */
    int ew;       /* widened gradient row: 4*wq pixels                    */
    size_t erows; /* its pixels: 4*th rows of ew, rounded to 16           */
} dwgeom;

static dwgeom dwgeom_of(const wgeom *g)
{
    dwgeom e;
    e.ldz = round16((size_t)g->M);
    e.dus = (size_t)g->M * g->C + 16;
    e.zps = (size_t)g->nb * g->qi * e.ldz + 16;
    e.ew = 4 * g->wq;
    e.erows = round16((size_t)4 * g->th * e.ew);
    return e;
}

static size_t scratch_dw(const wgeom *g)
{
    const dwgeom e = dwgeom_of(g);
    return round16(XI * e.dus) + round16(16 * g->pps) + round16(XI * g->vps) +
           round16(XI * e.zps) + e.erows * e.ldz + off_floats(g->C);
}

size_t nn_wino_scratch_floats(const nn_conv_dims *d)
{
    if (!shape_ok(d))
        return 0;
    const wgeom f = wgeom_fwd(d), t = wgeom_din(d), w = wgeom_dw(d);
    size_t most = scratch_of(&f);
    const size_t b = scratch_of(&t), c = scratch_dw(&w);
    most = b > most ? b : most;
    return c > most ? c : most;
}

/* ---- filter transform: U = G g G^T ------------------------------------ */

/* wt[t*M*C + m*C + c] = tap t of the filter of output m, input c: w's own
 * (w[m][c][t], sm = C*9, sc = 9) or, for the input gradient, the flipped
 * kernel of the transposed convolution (tap 8 - t, sm = 9, sc = C_w*9);
 * then the 16 floats past the end zeroed (the bodies read them). */
static void gather_taps(float *wt, const float *w, size_t sm, size_t sc, int M, int C, int flip)
{
    const size_t wps = (size_t)M * C;
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++) {
            const float *g = w + (size_t)m * sm + (size_t)c * sc;
            for (int t = 0; t < 9; t++)
                wt[(size_t)t * wps + (size_t)m * C + c] = g[flip ? 8 - t : t];
        }
    memset(wt + 9 * wps, 0, 16 * sizeof(float));
}

/* ---- phases in, tiles out ----------------------------------------------- */

/* Element x of the four phase rows, one padded pixel at a time. */
static inline void split_one(float *const dst[4], const float *src, int iw, int pad, int x)
{
    for (int px = 0; px < 4; px++) {
        const int X = 4 * x + px - pad;
        dst[px][x] = X >= 0 && X < iw ? src[X] : 0.0f;
    }
}

static inline float activate(float v, nn_act act)
{
    if (act == NN_ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    if (act == NN_ACT_RELU6)
        return v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
    return v;
}

/* Output pixel X of a row from the tiles' phase rows. */
static inline void merge_one(float *row, const float *const t[4], float bias, nn_act act,
                             int accumulate, int X)
{
    if (accumulate)
        row[X] += t[X % 4][X / 4];
    else
        row[X] = activate(bias + t[X % 4][X / 4], act);
}

/* The interior of a row, where whole groups of 4 pixels lie inside the
 * image, goes 4 x 4 at a time through SSE transposes (x86-64 always has
 * SSE2); the edges, and every pixel elsewhere, one at a time. Data
 * movement, one addition and max/min: the same bits either way (MAXPS
 * returns its second operand, 0, for NaN and for -0, as v > 0 ? v : 0). */
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* One padded input row into its four phase rows, dst[px][x] = P[4x + px]
 * for x < wq (P[X] = src[X - pad] inside the row, else 0). */
static void split_row(float *const dst[4], const float *src, int iw, int pad, int wq)
{
    /* x whose four pixels 4x - pad .. 4x + 3 - pad are all inside */
    int xa = (pad + 3) / 4, xb = iw - 4 + pad >= 0 ? (iw - 4 + pad) / 4 + 1 : 0;
    if (xb > wq)
        xb = wq;
    if (xa > xb)
        xa = xb;
    int x = 0;
    for (; x < xa; x++)
        split_one(dst, src, iw, pad, x);
#if defined(__SSE2__)
    for (; x + 4 <= xb; x += 4) {
        const float *p = src + 4 * x - pad;
        __m128 r0 = _mm_loadu_ps(p), r1 = _mm_loadu_ps(p + 4);
        __m128 r2 = _mm_loadu_ps(p + 8), r3 = _mm_loadu_ps(p + 12);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(dst[0] + x, r0);
        _mm_storeu_ps(dst[1] + x, r1);
        _mm_storeu_ps(dst[2] + x, r2);
        _mm_storeu_ps(dst[3] + x, r3);
    }
#endif
    for (; x < wq; x++)
        split_one(dst, src, iw, pad, x);
}

void nn_wino_merge_row_c(float *row, int ow, const float *const t[4], float bias, nn_act act,
                         int accumulate, const float *hi)
{
    (void)hi; /* stores stay inside the row */
    int X = 0;
#if defined(__SSE2__)
    const __m128 bv = _mm_set1_ps(bias), zero = _mm_setzero_ps(), six = _mm_set1_ps(6.0f);
    for (; X + 16 <= ow; X += 16) {
        const int x = X / 4;
        __m128 v[4] = {_mm_loadu_ps(t[0] + x), _mm_loadu_ps(t[1] + x), _mm_loadu_ps(t[2] + x),
                       _mm_loadu_ps(t[3] + x)};
        _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]); /* v[k]: pixels 4(x+k) .. 4(x+k)+3 */
        for (int k = 0; k < 4; k++) {
            float *o = row + X + 4 * k;
            __m128 r;
            if (accumulate) {
                r = _mm_add_ps(_mm_loadu_ps(o), v[k]);
            } else {
                r = _mm_add_ps(bv, v[k]);
                if (act != NN_ACT_NONE)
                    r = _mm_max_ps(r, zero);
                if (act == NN_ACT_RELU6)
                    r = _mm_min_ps(r, six);
            }
            _mm_storeu_ps(o, r);
        }
    }
#endif
    for (; X < ow; X++)
        merge_one(row, t, bias, act, accumulate, X);
}

typedef void (*merge_row_fn)(float *row, int ow, const float *const t[4], float bias, nn_act act,
                             int accumulate, const float *hi);
typedef void (*split_channel_fn)(float *planes, const float *src, const nn_wino_split_geom *s,
                                 const float *lo, const float *hi);

void nn_wino_split_channel_c(float *planes, const float *src, const nn_wino_split_geom *s,
                             const float *lo, const float *hi)
{
    (void)lo, (void)hi; /* every load stays inside the row */
    float *pl[16];
    for (int p = 0; p < 16; p++)
        pl[p] = planes + (size_t)p * s->pps;
    /* padded rows in order (py = Y % 4, y = Y / 4): the image is read
     * front to back, as the hardware prefetcher expects (every fourth
     * row first cost a miss per row) */
    for (int Y = 0; Y < 4 * s->hq; Y++) {
        const int py = Y % 4;
        const size_t at = (size_t)(Y / 4) * s->wq;
        float *const dst[4] = {pl[py * 4] + at, pl[py * 4 + 1] + at, pl[py * 4 + 2] + at,
                               pl[py * 4 + 3] + at};
        const int iy = Y - s->pad;
        if (iy >= 0 && iy < s->ih)
            split_row(dst, src + (size_t)iy * s->iw, s->iw, s->pad, s->wq);
        else
            for (int px = 0; px < 4; px++)
                memset(dst[px], 0, (size_t)s->wq * sizeof(float));
    }
}

/* The slack of the 16 phase planes past hq*wq (a split writes only zeros
 * there). */
static void zero_slack(float *planes, const wgeom *g)
{
    const size_t rows = (size_t)g->hq * g->wq;
    for (int p = 0; p < 16; p++)
        memset(planes + (size_t)p * g->pps + rows, 0, (g->sx - rows) * sizeof(float));
}

/* V's columns b*qi + [0, qi) (V[xi*vps + c*qp + ...]) for image img of
 * every channel: split into phase planes, then transform, a channel at a
 * time, so that the input transform finds the planes in L1 (all the
 * channels' planes, written first, came back from L2; 2026-12-05). The
 * planes' slack past hq*wq is zeroed once per call (zero_slack). */
static void transform_image(float *V, float *planes, const float *const tap[36], const float *img,
                            const wgeom *g, split_channel_fn split,
                            void (*in)(float *, size_t, size_t, const float *const[36], size_t,
                                       int, int))
{
    const size_t cs = (size_t)g->ih * g->iw;
    const float *end = img + (size_t)g->C * cs;
    const nn_wino_split_geom sg = {g->ih, g->iw, g->pad, g->hq, g->wq, g->pps};
    for (int c = 0; c < g->C; c++) {
        split(planes, img + (size_t)c * cs, &sg, img, end);
        in(V + (size_t)c * g->qp, g->vps, (size_t)g->qp, tap, 0, 1, g->qi);
    }
}

/* out (oh, ow) of one channel from its 4x4 tiles T[(a*4 + b)*ldt + q]:
 * = act(bias + tile), or += tile when accumulating; hi is the end of its
 * image (the channels after this one are merged later). */
static void interleave_tiles(float *out, const float *T, const wgeom *g, float bias, nn_act act,
                             int accumulate, merge_row_fn merge, const float *hi)
{
    for (int y = 0; y < g->oh; y++) {
        const float *t = T + (size_t)(y % 4) * 4 * g->ldt + (size_t)(y / 4) * g->wq;
        const float *const tb[4] = {t, t + g->ldt, t + 2 * g->ldt, t + 3 * g->ldt};
        merge(out + (size_t)y * g->ow, g->ow, tb, bias, act, accumulate, hi);
    }
}

/* ---- the whole convolution ---------------------------------------------- */

typedef struct {
    void (*filter)(float *U, size_t ups, size_t ldu, const float *wt, size_t wps, int M, int C);
    void (*in)(float *V, size_t vplane, size_t ldv, const float *const tap[36], size_t cstride,
               int C, int qi);
    void (*out)(float *T, size_t ldt, const float *Yt, size_t yplane, int qi);
    void (*gz)(float *Z, size_t zplane, size_t ldz, const float *ge, size_t rs, int nt);
    split_channel_fn split;
    merge_row_fn merge;
} wino_bodies;

static wino_bodies bodies_for(nn_isa isa)
{
    switch (isa) {
#if defined(__x86_64__) /* elsewhere nn_isa_best() is scalar: the portable body */
    case NN_ISA_AVX512:
        return (wino_bodies){nn_wino_filter_avx512, nn_wino_in_avx512, nn_wino_out_avx512,
                             nn_wino_gz_avx512, nn_wino_split_channel_avx512,
                             nn_wino_merge_row_avx512};
    case NN_ISA_AVX2:
        return (wino_bodies){nn_wino_filter_avx2, nn_wino_in_avx2, nn_wino_out_avx2,
                             nn_wino_gz_avx2, nn_wino_split_channel_c, nn_wino_merge_row_c};
#endif
    default:
        return (wino_bodies){nn_wino_filter_w4, nn_wino_in_w4,      nn_wino_out_w4,
                             nn_wino_gz_w4,      nn_wino_split_channel_c, nn_wino_merge_row_c};
    }
}

/* tap[r*6 + s]: element (r, s) of tile 0 of channel 0 in the phase
 * planes. */
static void tile_taps(const float *tap[36], const float *planes, const wgeom *g)
{
    for (int r = 0; r < 6; r++)
        for (int s = 0; s < 6; s++)
            tap[r * 6 + s] = planes + (size_t)((r % 4) * 4 + s % 4) * g->pps +
                             (size_t)(r / 4) * g->wq + (size_t)(s / 4);
}

/* off[c] = c*qp, then copies of the last up to what the kernels read. */
static void channel_offsets(ptrdiff_t *off, const wgeom *g)
{
    for (int c = 0; c < g->C; c++)
        off[c] = (ptrdiff_t)c * g->qp;
    for (size_t r = (size_t)g->C; r < round16((size_t)g->C) + 16; r++)
        off[r] = off[g->C - 1];
}

/* out (n, M, oh, ow) = act(bias + conv) or += conv, from in (n, C, ih, iw)
 * and U (scratch's first part, already made). */
static void wino_run(float *out, int accumulate, float *scratch, const float *in,
                     const float *bias, int n, const wgeom *g, nn_act act, nn_isa isa)
{
    const size_t in_size = (size_t)g->C * g->ih * g->iw;
    const size_t out_size = (size_t)g->M * g->oh * g->ow;
    float *U = scratch; /* made by the caller (make_filters) */
    float *planes = U + round16(XI * g->ups) + round16(9 * (size_t)g->M * g->C + 16);
    float *V = planes + round16(16 * g->pps);
    float *Yt = V + round16(XI * g->vps);
    float *T = Yt + round16(XI * g->yps);
    ptrdiff_t *off = (ptrdiff_t *)(T + 16 * g->ldt);
    const nn_cwk_fwd_fn gemm = nn_cwk_fwd_for(isa);
    const wino_bodies body = bodies_for(isa);
    channel_offsets(off, g);
    const float *tap[36];
    tile_taps(tap, planes, g);
    zero_slack(planes, g);
    /* Columns no image of a chunk writes stay finite (the kernels' whole
     * vectors meet them; their results are dropped). */
    memset(V, 0, XI * g->vps * sizeof(float));
    memset(Yt, 0, XI * g->yps * sizeof(float));
    for (int i0 = 0; i0 < n; i0 += g->nb) {
        const int nb = n - i0 < g->nb ? n - i0 : g->nb;
        for (int b = 0; b < nb; b++)
            transform_image(V + (size_t)b * g->qi, planes, tap, in + (size_t)(i0 + b) * in_size, g,
                            body.split, body.in);
        const int cols = (int)round16((size_t)nb * g->qi);
        for (int xi = 0; xi < XI; xi++)
            gemm(Yt + xi * g->yps, (size_t)g->qp, V + xi * g->vps, off, U + xi * g->ups,
                 (size_t)g->C, NULL, g->M, g->C, cols);
        for (int b = 0; b < nb; b++) {
            float *o = out + (size_t)(i0 + b) * out_size;
            for (int m = 0; m < g->M; m++) {
                body.out(T, g->ldt, Yt + (size_t)m * g->qp + (size_t)b * g->qi, g->yps, g->qi);
                interleave_tiles(o + (size_t)m * g->oh * g->ow, T, g, bias ? bias[m] : 0.0f, act,
                                 accumulate, body.merge, o + out_size);
            }
        }
    }
}

/* U (scratch's first part) from the taps of filter (m, c) at
 * w + m*sm + c*sc, flipped if asked. */
static void make_filters(float *scratch, const float *w, size_t sm, size_t sc, int flip,
                         const wgeom *g, nn_isa isa)
{
    float *wt = scratch + round16(XI * g->ups);
    gather_taps(wt, w, sm, sc, g->M, g->C, flip);
    bodies_for(isa).filter(scratch, g->ups, (size_t)g->C, wt, (size_t)g->M * g->C, g->M, g->C);
}

void nn_wino_forward(float *out, float *scratch, const float *in, const float *w, const float *b,
                     int n, const nn_conv_dims *d, nn_act act, nn_isa isa)
{
    if (n <= 0)
        return;
    const wgeom g = wgeom_fwd(d);
    /* filter of (m, c) at w + (m*C + c)*9 */
    make_filters(scratch, w, (size_t)d->in_c * 9, 9, 0, &g, isa);
    wino_run(out, 0, scratch, in, b, n, &g, act, isa);
}

static void input_grad(float *din, int accumulate, float *scratch, const float *dout,
                       const float *w, int n, const nn_conv_dims *d, nn_isa isa)
{
    if (n <= 0 || !din)
        return;
    const wgeom g = wgeom_din(d);
    /* output channel c of this pass, input m: w[m][c] flipped */
    make_filters(scratch, w, 9, (size_t)d->in_c * 9, 1, &g, isa);
    /* not accumulating: 0 (the bias) + the result */
    wino_run(din, accumulate, scratch, dout, NULL, n, &g, NN_ACT_NONE, isa);
}

void nn_wino_input_grad(float *din, float *scratch, const float *dout, const float *w, int n,
                        const nn_conv_dims *d, nn_isa isa)
{
    input_grad(din, 1, scratch, dout, w, n, d, isa);
}

void nn_wino_input_grad_set(float *din, float *scratch, const float *dout, const float *w, int n,
                            const nn_conv_dims *d, nn_isa isa)
{
    input_grad(din, 0, scratch, dout, w, n, d, isa);
}

/* ---- the weight gradient ------------------------------------------------- */

/* r = G^T x for one 6-vector (G of the filter transform, 6 x 3). */
static void gt6(float r[3], const float x[6])
{
    const float q = 0.25f, s6 = 1.0f / 6.0f, s12 = 1.0f / 12.0f, s24 = 1.0f / 24.0f;
    r[0] = ((x[0] * q - x[1] * s6) - x[2] * s6) + (x[3] + x[4]) * s24;
    r[1] = (x[2] - x[1]) * s6 + (x[3] - x[4]) * s12;
    r[2] = ((x[3] + x[4]) - (x[1] + x[2])) * s6 + x[5];
}

/* dw[m][c] += G^T dU[m][c] G for every filter (one portable body: it runs
 * once per call, M*C times). */
static void add_filter_grads(float *dw, const float *dU, size_t dus, int M, int C)
{
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++) {
            const size_t mc = (size_t)m * C + c;
            float h[6][3];
            for (int i = 0; i < 6; i++) { /* h = dU G */
                float row[6];
                for (int j = 0; j < 6; j++)
                    row[j] = dU[(size_t)(i * 6 + j) * dus + mc];
                gt6(h[i], row);
            }
            float *g = dw + mc * 9;
            for (int l = 0; l < 3; l++) { /* G^T h */
                float col[6], r[3];
                for (int i = 0; i < 6; i++)
                    col[i] = h[i][l];
                gt6(r, col);
                for (int k = 0; k < 3; k++)
                    g[k * 3 + l] += r[k];
            }
        }
}

void nn_wino_weight_grad(float *dw, float *scratch, const float *dout, const float *in, int n,
                         const nn_conv_dims *d, nn_isa isa)
{
    if (n <= 0 || !dw)
        return;
    const wgeom g = wgeom_dw(d);
    const dwgeom e = dwgeom_of(&g);
    const size_t in_size = (size_t)g.C * g.ih * g.iw;
    const size_t out_size = (size_t)g.M * g.oh * g.ow;
    float *dU = scratch;
    float *planes = dU + round16(XI * e.dus);
    float *V = planes + round16(16 * g.pps);
    float *Z = V + round16(XI * g.vps);
    float *ge = Z + round16(XI * e.zps);
    ptrdiff_t *off = (ptrdiff_t *)(ge + e.erows * e.ldz);
    const nn_cwk_bwdw_fn bwdw = nn_cwk_bwdw_for(isa);
    const nn_cwk_widen_fn widen = nn_cwk_widen_for(isa);
    const wino_bodies body = bodies_for(isa);
    channel_offsets(off, &g);
    const float *tap[36];
    tile_taps(tap, planes, &g);
    zero_slack(planes, &g);
    memset(dU, 0, XI * e.dus * sizeof(float));
    /* The dropped column of tiles (tx = tw) keeps Z = 0: it adds nothing. */
    memset(Z, 0, XI * e.zps * sizeof(float));
    for (int i0 = 0; i0 < n; i0 += g.nb) {
        const int nb = n - i0 < g.nb ? n - i0 : g.nb;
        for (int b = 0; b < nb; b++) {
            transform_image(V + (size_t)b * g.qi, planes, tap, in + (size_t)(i0 + b) * in_size,
                            &g, body.split, body.in);
            /* the gradient channels-last, zero past its edges, then Z */
            widen(ge, e.ldz, dout + (size_t)(i0 + b) * out_size, g.M, g.oh, g.ow, e.ew,
                  (int)e.erows);
            for (int ty = 0; ty < g.th; ty++)
                body.gz(Z + ((size_t)b * g.qi + (size_t)ty * g.wq) * e.ldz, e.zps, e.ldz,
                        ge + (size_t)4 * ty * e.ew * e.ldz, (size_t)e.ew * e.ldz, g.tw);
        }
        for (int xi = 0; xi < XI; xi++)
            bwdw(dU + xi * e.dus, Z + xi * e.zps, e.ldz, V + xi * g.vps, off, g.M, g.C,
                 nb * g.qi);
    }
    add_filter_grads(dw, dU, e.dus, g.M, g.C);
}
