/* aug.c - augmentation kernels (see aug.h for the conventions).
 *
 * Every output pixel is produced in one pass: undo cutout, crop and flip on
 * its integer coordinates to find the point of the affine-transformed image
 * it shows, then pull that point from the input through the inverse affine
 * map with bilinear sampling. Each pixel's source position and weights are
 * computed once and reused for all channels. */
#include "aug.h"

#include <math.h>

/* Inverse affine map: source q = M p + o for output pixel centre p. */
typedef struct {
    float m00, m01, m10, m11; /* M = A^-1 */
    float ox, oy;             /* o = centre - M (centre + shift) */
} aug_map;

/* Bilinear tap inside one plane: four pixel indices and the fractions. */
typedef struct {
    int i00, i01, i10, i11; /* (y0,x0) (y0,x1) (y1,x0) (y1,x1), index y * w + x */
    float fx, fy;           /* weight of x1 and of y1 */
} aug_tap;

/* sin and cos of an angle in degrees; exact for multiples of 90 so that a
 * quarter turn is a pure permutation of pixels. */
static void sincos_deg(float deg, float *s, float *c)
{
    double r = fmod((double)deg, 360.0);
    if (r < 0.0)
        r += 360.0;
    if (r == 0.0)
        *s = 0.0f, *c = 1.0f;
    else if (r == 90.0)
        *s = 1.0f, *c = 0.0f;
    else if (r == 180.0)
        *s = 0.0f, *c = -1.0f;
    else if (r == 270.0)
        *s = -1.0f, *c = 0.0f;
    else {
        const double rad = r * (3.14159265358979323846 / 180.0);
        *s = (float)sin(rad), *c = (float)cos(rad);
    }
}

/* A = scale * R * Shx, so A^-1 = Shx^-1 R^-1 / scale
 *     = [[c + k s, s - k c], [-s, c]] / scale   (k = tan(shear)). */
static aug_map map_make(int h, int w, float rotate_deg, float shear_deg, float scale, float tx,
                        float ty)
{
    float s, c, ss, sc;
    sincos_deg(rotate_deg, &s, &c);
    sincos_deg(shear_deg, &ss, &sc);
    const float k = ss / sc; /* inf or NaN at +-90: the map then sends points outside */
    const float inv = 1.0f / scale;
    aug_map m;
    m.m00 = (c + k * s) * inv, m.m01 = (s - k * c) * inv;
    m.m10 = -s * inv, m.m11 = c * inv;
    const float cx = 0.5f * (float)(w - 1), cy = 0.5f * (float)(h - 1);
    const float px = cx + tx, py = cy + ty;
    m.ox = cx - (m.m00 * px + m.m01 * py);
    m.oy = cy - (m.m10 * px + m.m11 * py);
    return m;
}

/* Sampling rule of aug.h: 0 when q is outside (or NaN), else 1 and the tap. */
static int tap_make(aug_tap *t, float qx, float qy, int h, int w)
{
    if (!(qx >= -0.5f && qx <= (float)w - 0.5f && qy >= -0.5f && qy <= (float)h - 0.5f))
        return 0;
    qx = qx < 0.0f ? 0.0f : qx > (float)(w - 1) ? (float)(w - 1) : qx;
    qy = qy < 0.0f ? 0.0f : qy > (float)(h - 1) ? (float)(h - 1) : qy;
    const int x0 = (int)qx, y0 = (int)qy; /* q >= 0: truncation is floor */
    const int x1 = x0 < w - 1 ? x0 + 1 : x0, y1 = y0 < h - 1 ? y0 + 1 : y0;
    t->fx = qx - (float)x0, t->fy = qy - (float)y0;
    t->i00 = y0 * w + x0, t->i01 = y0 * w + x1;
    t->i10 = y1 * w + x0, t->i11 = y1 * w + x1;
    return 1;
}

/* A tap that reads pixel (x, y) as it is. */
static void tap_exact(aug_tap *t, int x, int y, int w)
{
    t->i00 = t->i01 = t->i10 = t->i11 = y * w + x;
    t->fx = t->fy = 0.0f;
}

static uint8_t tap_read(const aug_tap *t, const uint8_t *plane)
{
    if (t->fx == 0.0f && t->fy == 0.0f)
        return plane[t->i00];
    const float a = plane[t->i00], b = plane[t->i01], c = plane[t->i10], d = plane[t->i11];
    const float top = a + t->fx * (b - a), bottom = c + t->fx * (d - c);
    const float v = top + t->fy * (bottom - top) + 0.5f;
    return (uint8_t)(v <= 0.0f ? 0 : v >= 255.0f ? 255 : (int)v);
}

void aug_affine(uint8_t *out, const uint8_t *in, int c, int h, int w, float rotate_deg,
                float shear_deg, float scale, float tx, float ty, uint8_t fill)
{
    const size_t hw = (size_t)h * w;
    const int ok = scale > 0.0f; /* also false for NaN */
    const aug_map m = map_make(h, w, rotate_deg, shear_deg, ok ? scale : 1.0f, tx, ty);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const float qx = m.m00 * (float)x + m.m01 * (float)y + m.ox;
            const float qy = m.m10 * (float)x + m.m11 * (float)y + m.oy;
            aug_tap t;
            const int inside = ok && tap_make(&t, qx, qy, h, w);
            for (int ch = 0; ch < c; ch++)
                out[ch * hw + (size_t)y * w + x] = inside ? tap_read(&t, in + ch * hw) : fill;
        }
}

int aug_enabled(const aug_config *c)
{
    return c->rotate_deg > 0.0f || c->shear_deg > 0.0f || c->zoom > 0.0f ||
           c->translate > 0.0f || c->hflip || c->crop_pad > 0 || c->cutout > 0;
}

/* Index i of an axis of n pixels reflected without repeating the edge. */
static int reflect_index(int i, int n)
{
    if (n == 1)
        return 0;
    const int period = 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

/* u in [0, 1) -> uniform in [-r, r). */
static float symmetric(nn_rng *rng, float r)
{
    return r * (2.0f * nn_rng_uniform(rng) - 1.0f);
}

/* Whether a transform applied with probability p (0 read as 1) is applied:
 * one draw, and only when p < 1. */
static int gate(nn_rng *rng, float p)
{
    return p <= 0.0f || p >= 1.0f || nn_rng_uniform(rng) < p;
}

void aug_image(uint8_t *out, const uint8_t *in, int c, int h, int w, const aug_config *cfg,
               nn_rng *rng, uint8_t *scratch)
{
    (void)scratch;
    /* Draws: fixed order, each only when its transform is on (aug.h). */
    float angle = 0.0f, shear = 0.0f, scale = 1.0f, tx = 0.0f, ty = 0.0f;
    int affine = (cfg->rotate_deg > 0.0f || cfg->shear_deg > 0.0f || cfg->zoom > 0.0f ||
                  cfg->translate > 0.0f) &&
                 gate(rng, cfg->p_affine);
    if (affine && cfg->rotate_deg > 0.0f)
        angle = symmetric(rng, cfg->rotate_deg);
    if (affine && cfg->shear_deg > 0.0f)
        shear = symmetric(rng, cfg->shear_deg);
    if (affine && cfg->zoom > 0.0f)
        scale = 1.0f + symmetric(rng, cfg->zoom);
    if (affine && cfg->translate > 0.0f) {
        tx = symmetric(rng, cfg->translate * (float)w);
        ty = symmetric(rng, cfg->translate * (float)h);
    }
    const float p_flip = cfg->p_hflip > 0.0f ? cfg->p_hflip : 0.5f;
    const int flip = cfg->hflip && nn_rng_uniform(rng) < p_flip;
    const int pad = cfg->crop_pad > 0 ? cfg->crop_pad : 0;
    int crop_x = pad, crop_y = pad; /* offsets into the padded image; pad = no shift */
    if (pad > 0 && gate(rng, cfg->p_crop)) {
        crop_x = (int)nn_rng_below(rng, (uint32_t)(2 * pad + 1));
        crop_y = (int)nn_rng_below(rng, (uint32_t)(2 * pad + 1));
    }
    long long cut_x0 = 0, cut_y0 = 0, cut_x1 = 0, cut_y1 = 0; /* [x0, x1) x [y0, y1) */
    if (cfg->cutout > 0 && gate(rng, cfg->p_cutout)) {
        cut_x0 = (long long)nn_rng_below(rng, (uint32_t)w) - cfg->cutout / 2;
        cut_y0 = (long long)nn_rng_below(rng, (uint32_t)h) - cfg->cutout / 2;
        cut_x1 = cut_x0 + cfg->cutout, cut_y1 = cut_y0 + cfg->cutout;
    }

    const int ok = !affine || scale > 0.0f; /* zoom >= 1 can draw scale <= 0: all fill */
    const aug_map m = map_make(h, w, angle, shear, ok ? scale : 1.0f, tx, ty);
    const size_t hw = (size_t)h * w;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            aug_tap t;
            int inside = ok && !(x >= cut_x0 && x < cut_x1 && y >= cut_y0 && y < cut_y1);
            /* Undo the crop: position in the (flipped, affine) image. */
            int sx = x + crop_x - pad, sy = y + crop_y - pad;
            if (sx < 0 || sx >= w || sy < 0 || sy >= h) {
                if (cfg->crop_reflect)
                    sx = reflect_index(sx, w), sy = reflect_index(sy, h);
                else
                    inside = 0;
            }
            if (flip)
                sx = w - 1 - sx;
            if (inside) {
                if (affine)
                    inside = tap_make(&t, m.m00 * (float)sx + m.m01 * (float)sy + m.ox,
                                      m.m10 * (float)sx + m.m11 * (float)sy + m.oy, h, w);
                else
                    tap_exact(&t, sx, sy, w);
            }
            for (int ch = 0; ch < c; ch++)
                out[ch * hw + (size_t)y * w + x] = inside ? tap_read(&t, in + ch * hw) : cfg->fill;
        }
}
