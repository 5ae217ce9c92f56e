/* conv_wino_body.h - the Winograd transforms of conv_wino.c, one body per
 * vector width: included by conv_wino.c (4 lanes, the portable build),
 * conv_wino_avx2.c (8) and conv_wino_avx512.c (16) with
 *     WINO_LANES   floats per vector
 *     WINO_NAME(f) the function's name for this width
 * Every lane is one tile and sees the same additions and multiplications
 * in the same order (element-wise vector + and * round like scalars), so
 * all widths give the same bits. */
#include <stddef.h>
#include <string.h>

#include "conv_wino.h"

/* clang contracts a*b + c into an FMA where the target has one unless told
 * not to (GCC does not in ISO C mode); that would change the bits. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

typedef float WINO_NAME(vec) __attribute__((vector_size(4 * WINO_LANES)));
#define VEC WINO_NAME(vec)

/* Whole unrolling of the small loops over a tile's rows and columns: left
 * as loops, GCC moved every vector through the stack (a copy per load
 * and per store; 2026-12-05). The same operations either way. */
#define WINO_UNROLL _Pragma("GCC unroll 6")

/* Unaligned load and store (macros: a function returning a wide vector
 * would depend on the calling convention of the ISA). */
#define VLD(v, p) memcpy(&(v), (p), sizeof(VEC))
#define VST(p, v) memcpy((p), &(v), sizeof(VEC))

/* t = B^T d for one 6-vector (Lavin and Gray's F(4, 3) points 0, +-1, +-2). */
#define BT6(t, d)                                                                                  \
    do {                                                                                           \
        const VEC d0 = (d)[0], d1 = (d)[1], d2 = (d)[2], d3 = (d)[3], d4 = (d)[4], d5 = (d)[5];    \
        (t)[0] = (d0 * 4.0f - d2 * 5.0f) + d4;                                                     \
        (t)[1] = (d3 + d4) - (d1 + d2) * 4.0f;                                                     \
        (t)[2] = (d4 - d3) + (d1 - d2) * 4.0f;                                                     \
        (t)[3] = (d4 - d2) + (d3 - d1) * 2.0f;                                                     \
        (t)[4] = (d4 - d2) - (d3 - d1) * 2.0f;                                                     \
        (t)[5] = (d1 * 4.0f - d3 * 5.0f) + d5;                                                     \
    } while (0)

/* o[0..3] = A^T y for one 6-vector. */
#define AT6(o, y)                                                                                  \
    do {                                                                                           \
        const VEC s12 = (y)[1] + (y)[2], d12 = (y)[1] - (y)[2];                                    \
        const VEC s34 = (y)[3] + (y)[4], d34 = (y)[3] - (y)[4];                                    \
        (o)[0] = ((y)[0] + s12) + s34;                                                             \
        (o)[1] = d12 + d34 * 2.0f;                                                                 \
        (o)[2] = s12 + s34 * 4.0f;                                                                 \
        (o)[3] = (d12 + d34 * 8.0f) + (y)[5];                                                      \
    } while (0)

/* z = A x for one 4-vector (A = (A^T)^T, 6 x 4): the transpose of AT6,
 * taking an output gradient tile back to the 6x6 products. */
#define A4(z, x)                                                                                   \
    do {                                                                                           \
        const VEC x0 = (x)[0], x1 = (x)[1], x2 = (x)[2], x3 = (x)[3];                              \
        (z)[0] = x0;                                                                               \
        (z)[1] = (x0 + x1) + (x2 + x3);                                                            \
        (z)[2] = (x0 - x1) + (x2 - x3);                                                            \
        (z)[3] = (x0 + x1 * 2.0f) + (x2 * 4.0f + x3 * 8.0f);                                       \
        (z)[4] = (x0 - x1 * 2.0f) + (x2 * 4.0f - x3 * 8.0f);                                       \
        (z)[5] = x3;                                                                               \
    } while (0)

/* U[xi*ups + m*ldu + c] = (G g G^T)[xi] of the filter g of output m and
 * input c, g[t] = wt[t*wps + m*C + c] (t = 3i + j), for c < C rounded up to
 * WINO_LANES (the writes past C land where a later m or the padding
 * goes). */
void WINO_NAME(nn_wino_filter)(float *U, size_t ups, size_t ldu, const float *wt, size_t wps,
                               int M, int C)
{
    const float q = 0.25f, s6 = 1.0f / 6.0f, s12 = 1.0f / 12.0f, s24 = 1.0f / 24.0f;
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c += WINO_LANES) {
            VEC g[9], t[6][3];
            for (int k = 0; k < 9; k++)
                VLD(g[k], wt + (size_t)k * wps + (size_t)m * C + c);
            for (int j = 0; j < 3; j++) { /* t = G g */
                const VEC a = g[j], b = g[3 + j], e = g[6 + j];
                t[0][j] = a * q;
                t[1][j] = -((a + b) + e) * s6;
                t[2][j] = -((a - b) + e) * s6;
                t[3][j] = (a * s24 + b * s12) + e * s6;
                t[4][j] = (a * s24 - b * s12) + e * s6;
                t[5][j] = e;
            }
            float *u = U + (size_t)m * ldu + c;
            for (int i = 0; i < 6; i++) { /* u = t G^T */
                const VEC a = t[i][0], b = t[i][1], e = t[i][2];
                VEC r[6];
                r[0] = a * q;
                r[1] = -((a + b) + e) * s6;
                r[2] = -((a - b) + e) * s6;
                r[3] = (a * s24 + b * s12) + e * s6;
                r[4] = (a * s24 - b * s12) + e * s6;
                r[5] = e;
                for (int j = 0; j < 6; j++)
                    VST(u + (size_t)(i * 6 + j) * ups, r[j]);
            }
        }
}

/* V[xi*vplane + c*ldv + q] = (B^T d B)[xi] of the tile at wide position q,
 * for q in [0, qi) rounded up to WINO_LANES; tap[r*6 + s] is element
 * (r, s) of tile 0 of channel 0, cstride the distance between channels. */
void WINO_NAME(nn_wino_in)(float *V, size_t vplane, size_t ldv, const float *const tap[36],
                           size_t cstride, int C, int qi)
{
    for (int c = 0; c < C; c++) {
        const size_t co = (size_t)c * cstride;
        float *vc = V + (size_t)c * ldv;
        for (int q = 0; q < qi; q += WINO_LANES) {
            VEC t[6][6];
            WINO_UNROLL
            for (int r = 0; r < 6; r++) {
                VEC d[6];
                WINO_UNROLL
                for (int s = 0; s < 6; s++)
                    VLD(d[s], tap[r * 6 + s] + co + q);
                BT6(t[r], d);
            }
            WINO_UNROLL
            for (int j = 0; j < 6; j++) {
                VEC col[6], o[6];
                WINO_UNROLL
                for (int r = 0; r < 6; r++)
                    col[r] = t[r][j];
                BT6(o, col);
                WINO_UNROLL
                for (int i = 0; i < 6; i++)
                    VST(vc + (size_t)(i * 6 + j) * vplane + q, o[i]);
            }
        }
    }
}

/* T[(a*4 + b)*ldt + q] = (A^T Yt A)[a][b] of the tile at wide position q,
 * for q in [0, qi) rounded up to WINO_LANES, from Yt[xi*yplane + q]. */
void WINO_NAME(nn_wino_out)(float *T, size_t ldt, const float *Yt, size_t yplane, int qi)
{
    for (int q = 0; q < qi; q += WINO_LANES) {
        VEC p[6][4];
        WINO_UNROLL
        for (int i = 0; i < 6; i++) {
            VEC y[6];
            WINO_UNROLL
            for (int j = 0; j < 6; j++)
                VLD(y[j], Yt + (size_t)(i * 6 + j) * yplane + q);
            AT6(p[i], y);
        }
        WINO_UNROLL
        for (int b = 0; b < 4; b++) {
            VEC col[6], o[4];
            WINO_UNROLL
            for (int i = 0; i < 6; i++)
                col[i] = p[i][b];
            AT6(o, col);
            WINO_UNROLL
            for (int a = 0; a < 4; a++)
                VST(T + (size_t)(a * 4 + b) * ldt + q, o[a]);
        }
    }
}

/* Z[xi*zplane + x*ldz + m] = (A e A^T)[xi] for the nt 4x4 tiles x of one
 * tile row of an output gradient laid out channels-last: element (a, b) of
 * tile x, channel m, at ge[a*rs + (4x + b)*ldz + m], for m in [0, ldz)
 * (ldz a multiple of WINO_LANES; the lanes are channels). */
void WINO_NAME(nn_wino_gz)(float *Z, size_t zplane, size_t ldz, const float *ge, size_t rs,
                           int nt)
{
    for (int x = 0; x < nt; x++)
        for (size_t m = 0; m < ldz; m += WINO_LANES) {
            const float *p = ge + (size_t)4 * x * ldz + m;
            VEC t[6][4]; /* A e */
            WINO_UNROLL
            for (int b = 0; b < 4; b++) {
                VEC col[4], z[6];
                WINO_UNROLL
                for (int a = 0; a < 4; a++)
                    VLD(col[a], p + (size_t)a * rs + (size_t)b * ldz);
                A4(z, col);
                WINO_UNROLL
                for (int i = 0; i < 6; i++)
                    t[i][b] = z[i];
            }
            float *zo = Z + (size_t)x * ldz + m;
            WINO_UNROLL
            for (int i = 0; i < 6; i++) { /* (A e) A^T */
                VEC z[6];
                A4(z, t[i]);
                WINO_UNROLL
                for (int j = 0; j < 6; j++)
                    VST(zo + (size_t)(i * 6 + j) * zplane, z[j]);
            }
        }
}

#undef VEC
#undef WINO_UNROLL
#undef VLD
#undef VST
#undef BT6
#undef AT6
#undef A4
