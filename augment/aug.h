/* aug.h - image augmentation kernels: affine (rotate, shear, zoom, translate),
 * horizontal flip, random crop with padding, cutout.
 *
 * Images are planar uint8 (c, h, w). Kernels do no I/O and no allocation.
 *
 * Coordinates: pixel centres sit at integer positions (x, y), x to the right,
 * y DOWN; the image centre is ((w-1)/2, (h-1)/2).
 *
 * Affine convention. The forward map sends a source point q to
 *     p = A (q - centre) + centre + (tx, ty),   A = scale * R(angle) * Shx(shear)
 * with R = [[cos, -sin], [sin, cos]] and Shx = [[1, tan(shear)], [0, 1]].
 * Because y points down, a POSITIVE angle turns the picture CLOCKWISE as
 * displayed: rotating a square n x n image by +90 degrees gives
 *     out[y][x] = in[n-1-x][y]     (transpose, then mirror left-right).
 * A positive shear moves rows below the centre to the right; positive tx/ty
 * move the content right/down. Multiples of 90 degrees use exact sin/cos.
 *
 * Sampling rule. Each output pixel p is pulled from q = A^-1 (p - centre -
 * shift) + centre. q is INSIDE when -0.5 <= qx <= w-0.5 and -0.5 <= qy <=
 * h-0.5 (the union of the pixel squares); otherwise (or when q is NaN) the
 * pixel gets `fill`. An inside q is clamped to [0, w-1] x [0, h-1] (the half
 * pixel border replicates the edge), then sampled bilinearly from the pixels
 * floor(q) and floor(q)+1, the +1 neighbour clamped to the last row/column,
 * so no read leaves the image. The value is rounded half up and clamped to
 * 0..255. An integer q reproduces the source pixel exactly. */
#ifndef AUG_H
#define AUG_H

#include <stddef.h>
#include <stdint.h>

#include "libnn/nn_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float rotate_deg; /* angle uniform in [-rotate_deg, rotate_deg]; 0 = off            */
    float shear_deg;  /* x-shear angle uniform in [-shear_deg, shear_deg]; 0 = off      */
    float zoom;       /* scale uniform in [1 - zoom, 1 + zoom]; 0 = off (keep zoom < 1)  */
    float translate;  /* shift per axis uniform in [-t, t] * size (fraction); 0 = off    */
    uint8_t fill;     /* value for pixels sampled outside the image                      */
    int hflip;        /* 1: horizontal flip with probability 0.5                         */
    int crop_pad;     /* > 0: pad by crop_pad on each side, then a random crop to h x w  */
    int crop_reflect; /* padding mode for the crop: 1 reflect, 0 the fill value          */
    int cutout;       /* > 0: fill a cutout x cutout square at a random centre           */
    /* Probability that each enabled transform is applied to an image, in
     * (0, 1]. 0 (a zeroed config) is read as the default: 1 for the affine
     * part, the crop and the cutout, 0.5 for the flip. */
    float p_affine, p_hflip, p_crop, p_cutout;
} aug_config;

/* 1 when any transform is enabled. */
int aug_enabled(const aug_config *c);

/* Augments one image in (c, h, w) into out (c, h, w); out != in.
 *
 * Random draws, in this order, each only when its transform is enabled:
 *   gate   = nn_rng_uniform < p_affine, only when p_affine < 1; when it
 *            fails, no affine draws follow and the affine part is skipped
 *   angle  = rotate_deg * (2u - 1)          u = nn_rng_uniform
 *   shear  = shear_deg  * (2u - 1)
 *   scale  = 1 + zoom   * (2u - 1)
 *   tx     = translate * w * (2u - 1), then ty = translate * h * (2u - 1)
 *   flip   = nn_rng_uniform < p_hflip (0.5 by default)
 *   gate   = nn_rng_uniform < p_crop, only when p_crop < 1 (failing: no crop draws, no shift)
 *   crop   ox = nn_rng_below(2 * crop_pad + 1), then oy = nn_rng_below(2 * crop_pad + 1)
 *   gate   = nn_rng_uniform < p_cutout, only when p_cutout < 1 (failing: no cutout)
 *   cutout cx = nn_rng_below(w), then cy = nn_rng_below(h)
 * so the same rng state gives the same image, and probabilities left at 1
 * draw nothing extra.
 *
 * The result equals these steps in turn:
 *   1. affine (one map, sampling rule above); skipped - a plain copy - when
 *      rotate, shear, zoom and translate are all 0, so the identity config
 *      returns the input bit-exactly;
 *   2. flip: x -> w-1-x;
 *   3. crop: out[y][x] = padded[y + oy][x + ox] where padded is the image with
 *      crop_pad pixels added on each side, either `fill` or the reflection
 *      without edge repeat (numpy "reflect": index -1 reads 1, -2 reads 2;
 *      repeated for pads wider than the image; a size-1 axis reads index 0);
 *   4. cutout: the square x in [cx - cutout/2, cx - cutout/2 + cutout),
 *      likewise y, clipped to the image, is set to `fill`.
 * Steps 2-4 are folded into the one output pass (no scratch is used; scratch
 * may be NULL). */
void aug_image(uint8_t *out, const uint8_t *in, int c, int h, int w, const aug_config *cfg,
               nn_rng *rng, uint8_t *scratch);

/* The affine part with explicit parameters: degrees, scale (> 0; otherwise
 * every pixel gets fill), shifts in pixels. Output pixel centre p is sampled
 * at q = A^-1 (p - centre - (tx, ty)) + centre with the rule above.
 * out (c, h, w), in (c, h, w), out != in. */
void aug_affine(uint8_t *out, const uint8_t *in, int c, int h, int w, float rotate_deg,
                float shear_deg, float scale, float tx, float ty, uint8_t fill);

#ifdef __cplusplus
}
#endif

#endif
