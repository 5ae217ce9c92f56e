/* test_augment.c - augmentation kernels (augment/aug.h).
 *
 * Exact tests of the geometry (identity, quarter turns, integer shifts, zoom
 * about the centre, shear by 45 degrees), of flip / crop / cutout against
 * outcomes predicted from the documented draw order, and a parameter sweep
 * meant for ASan: inputs are allocated at their exact size so any read past
 * the image is reported, and every output pixel must be `fill` or lie within
 * the input's value range (bilinear sampling is a convex combination). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "augment/aug.h"
#include "libnn/nn_rng.h"

static uint8_t *alloc_img(int c, int h, int w)
{
    uint8_t *p = malloc((size_t)c * h * w);
    cr_assert_not_null(p);
    return p;
}

/* Random image with values in [lo, hi]. */
static uint8_t *rand_img(int c, int h, int w, uint64_t seed, int lo, int hi)
{
    uint8_t *p = alloc_img(c, h, w);
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)c * h * w; i++)
        p[i] = (uint8_t)(lo + (int)nn_rng_below(&r, (uint32_t)(hi - lo + 1)));
    return p;
}

#define PX(img, h, w, ch, y, x) (img)[((size_t)(ch) * (h) + (y)) * (w) + (x)]

Test(augment, enabled_flags)
{
    aug_config c = {0};
    cr_assert_eq(aug_enabled(&c), 0);
    c.fill = 9, c.crop_reflect = 1; /* modes alone enable nothing */
    cr_assert_eq(aug_enabled(&c), 0);
    aug_config on[7] = {{.rotate_deg = 1}, {.shear_deg = 1}, {.zoom = 0.1f}, {.translate = 0.1f},
                        {.hflip = 1},      {.crop_pad = 1},  {.cutout = 1}};
    for (int i = 0; i < 7; i++)
        cr_assert_eq(aug_enabled(&on[i]), 1, "transform %d", i);
}

Test(augment, identity_config_bit_exact)
{
    const int c = 3, h = 9, w = 11;
    uint8_t *in = rand_img(c, h, w, 1, 0, 255), *out = alloc_img(c, h, w);
    aug_config cfg = {.fill = 77, .crop_reflect = 1};
    nn_rng r, r0;
    nn_rng_seed(&r, 5);
    r0 = r;
    aug_image(out, in, c, h, w, &cfg, &r, NULL);
    cr_assert_arr_eq(out, in, (size_t)c * h * w);
    cr_assert_arr_eq(r.s, r0.s, sizeof r.s, "identity config must not draw");
    free(in), free(out);
}

Test(augment, affine_identity_bit_exact)
{
    const int sizes[][2] = {{1, 1}, {1, 5}, {5, 1}, {7, 7}, {8, 6}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int c = 2, h = sizes[k][0], w = sizes[k][1];
        uint8_t *in = rand_img(c, h, w, k, 0, 255), *out = alloc_img(c, h, w);
        aug_affine(out, in, c, h, w, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 3);
        cr_assert_arr_eq(out, in, (size_t)c * h * w, "%dx%d", h, w);
        aug_affine(out, in, c, h, w, 360.0f, 0.0f, 1.0f, 0.0f, 0.0f, 3);
        cr_assert_arr_eq(out, in, (size_t)c * h * w, "360 degrees, %dx%d", h, w);
        free(in), free(out);
    }
}

/* +90 degrees is clockwise on screen (y down): out[y][x] = in[n-1-x][y],
 * i.e. transpose then mirror left-right. -90 / 270: out[y][x] = in[x][n-1-y];
 * 180: out[y][x] = in[n-1-y][n-1-x]. */
static void check_quarter_turns(int n)
{
    const int c = 2;
    uint8_t *in = rand_img(c, n, n, (uint64_t)n, 0, 255), *out = alloc_img(c, n, n);
    const float angles[] = {90.0f, -90.0f, 270.0f, 180.0f, -180.0f, 450.0f};
    for (size_t a = 0; a < sizeof angles / sizeof angles[0]; a++) {
        aug_affine(out, in, c, n, n, angles[a], 0.0f, 1.0f, 0.0f, 0.0f, 0);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < n; y++)
                for (int x = 0; x < n; x++) {
                    uint8_t want;
                    if (angles[a] == 90.0f || angles[a] == 450.0f)
                        want = PX(in, n, n, ch, n - 1 - x, y);
                    else if (angles[a] == -90.0f || angles[a] == 270.0f)
                        want = PX(in, n, n, ch, x, n - 1 - y);
                    else
                        want = PX(in, n, n, ch, n - 1 - y, n - 1 - x);
                    cr_assert_eq(PX(out, n, n, ch, y, x), want, "n=%d angle %g at (%d,%d,%d)", n,
                                 angles[a], ch, y, x);
                }
    }
    free(in), free(out);
}

Test(augment, rotate_90_is_transpose_then_mirror_7x7) { check_quarter_turns(7); }
Test(augment, rotate_90_is_transpose_then_mirror_8x8) { check_quarter_turns(8); }

Test(augment, rotate_45_constant_image)
{
    const int n = 9;
    uint8_t in[81], out[81];
    memset(in, 100, sizeof in);
    aug_affine(out, in, 1, n, n, 45.0f, 0.0f, 1.0f, 0.0f, 0.0f, 7);
    cr_assert_eq(out[4 * n + 4], 100); /* centre */
    cr_assert_eq(out[4 * n + 0], 100); /* edge midpoints: source at distance 4 */
    cr_assert_eq(out[0], 7);           /* corners: source ~5.66 from the centre */
    cr_assert_eq(out[n * n - 1], 7);
}

Test(augment, zoom_2_keeps_centre_and_spreads_outward)
{
    const int n = 7, m = 3; /* centre (3, 3) */
    uint8_t in[49], out[49];
    for (int i = 0; i < 49; i++)
        in[i] = (uint8_t)(10 + 3 * i);
    aug_affine(out, in, 1, n, n, 0.0f, 0.0f, 2.0f, 0.0f, 0.0f, 0);
    cr_assert_eq(out[m * n + m], in[m * n + m]);
    /* output (x=5, y=3) is sampled at (4, 3); (x=3, y=1) at (3, 2) */
    cr_assert_eq(out[m * n + 5], in[m * n + 4]);
    cr_assert_eq(out[1 * n + m], in[2 * n + m]);
    /* output (x=4, y=3) at (3.5, 3): mean of 82 and 85 rounded half up = 84 */
    cr_assert_eq(in[m * n + 3], 82);
    cr_assert_eq(in[m * n + 4], 85);
    cr_assert_eq(out[m * n + 4], 84);
    /* corner (0, 0) at (1.5, 1.5): mean of 34, 37, 55, 58 = 46 */
    cr_assert_eq(out[0], 46);
}

Test(augment, translate_integer_shift_and_fill)
{
    const int c = 3, h = 6, w = 8, dx = 2, dy = -3;
    uint8_t *in = rand_img(c, h, w, 9, 0, 200), *out = alloc_img(c, h, w);
    aug_affine(out, in, c, h, w, 0.0f, 0.0f, 1.0f, (float)dx, (float)dy, 250);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const int sx = x - dx, sy = y - dy;
                const uint8_t want =
                    sx >= 0 && sx < w && sy >= 0 && sy < h ? PX(in, h, w, ch, sy, sx) : 250;
                cr_assert_eq(PX(out, h, w, ch, y, x), want, "(%d,%d,%d)", ch, y, x);
            }
    /* vacated: the two left columns and the three bottom rows */
    cr_assert_eq(out[0], 250);
    cr_assert_eq(out[(h - 1) * w + w - 1], 250);
    free(in), free(out);
}

/* Shear 45: out[y][x] = in[y][x - (y - cy)] (rows below the centre move right). */
Test(augment, shear_45_shifts_rows)
{
    const int h = 5, w = 9, cy = 2;
    uint8_t *in = rand_img(1, h, w, 4, 0, 200), *out = alloc_img(1, h, w);
    aug_affine(out, in, 1, h, w, 0.0f, 45.0f, 1.0f, 0.0f, 0.0f, 251);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int sx = x - (y - cy);
            const uint8_t want = sx >= 0 && sx < w ? in[y * w + sx] : 251;
            cr_assert_eq(out[y * w + x], want, "(%d,%d)", y, x);
        }
    free(in), free(out);
}

/* Half a pixel outside is inside (edge replicated); beyond is fill. */
Test(augment, border_rule)
{
    uint8_t in[3] = {10, 20, 30}, out[3];
    aug_affine(out, in, 1, 1, 3, 0.0f, 0.0f, 1.0f, 0.5f, 0.0f, 99);
    cr_assert_eq(out[0], 10); /* q = -0.5: inside, clamped to pixel 0 */
    cr_assert_eq(out[1], 15);
    cr_assert_eq(out[2], 25);
    aug_affine(out, in, 1, 1, 3, 0.0f, 0.0f, 1.0f, 0.75f, 0.0f, 99);
    cr_assert_eq(out[0], 99); /* q = -0.75: fill */
    aug_affine(out, in, 1, 1, 3, 0.0f, 0.0f, 1.0f, -0.5f, 0.0f, 99);
    cr_assert_eq(out[2], 30); /* q = 2.5: inside, clamped to pixel 2 */
    aug_affine(out, in, 1, 1, 3, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 99);
    cr_assert_eq(out[0] + out[1] + out[2], 3 * 99, "scale 0: all fill");
}

Test(augment, hflip_half_the_time)
{
    const int c = 2, h = 4, w = 5;
    uint8_t *in = rand_img(c, h, w, 3, 0, 255), *out = alloc_img(c, h, w);
    aug_config cfg = {.hflip = 1};
    int flipped = 0, kept = 0;
    for (uint64_t seed = 0; seed < 200; seed++) {
        nn_rng r, pred;
        nn_rng_seed(&r, seed);
        pred = r;
        const int want_flip = nn_rng_uniform(&pred) < 0.5f;
        aug_image(out, in, c, h, w, &cfg, &r, NULL);
        cr_assert_arr_eq(r.s, pred.s, sizeof r.s, "hflip draws exactly one uniform");
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    cr_assert_eq(PX(out, h, w, ch, y, x),
                                 PX(in, h, w, ch, y, want_flip ? w - 1 - x : x), "seed %d",
                                 (int)seed);
        flipped += want_flip, kept += !want_flip;
    }
    cr_assert(flipped > 70 && kept > 70, "flipped %d kept %d", flipped, kept);
    free(in), free(out);
}

/* Finds a seed whose crop offsets (ox, oy) are as wanted. */
static uint64_t seed_for_crop(int pad, int ox, int oy)
{
    for (uint64_t seed = 0; seed < 10000; seed++) {
        nn_rng r;
        nn_rng_seed(&r, seed);
        const int x = (int)nn_rng_below(&r, (uint32_t)(2 * pad + 1));
        const int y = (int)nn_rng_below(&r, (uint32_t)(2 * pad + 1));
        if (x == ox && y == oy)
            return seed;
    }
    cr_assert_fail("no seed for offsets (%d, %d)", ox, oy);
    return 0;
}

static void crop_run(uint8_t *out, const uint8_t *in, int reflect, int ox, int oy)
{
    aug_config cfg = {.crop_pad = 2, .crop_reflect = reflect, .fill = 0};
    nn_rng r;
    nn_rng_seed(&r, seed_for_crop(2, ox, oy));
    aug_image(out, in, 1, 4, 4, &cfg, &r, NULL);
}

Test(augment, crop_reflect_and_fill_golden)
{
    const uint8_t in[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    const struct {
        int reflect, ox, oy;
        uint8_t want[16];
    } cases[] = {
        /* offset (0, 0) = shift by +2: padded rows -2,-1 reflect to rows 2, 1 */
        {1, 0, 0, {11, 10, 9, 10, 7, 6, 5, 6, 3, 2, 1, 2, 7, 6, 5, 6}},
        {0, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 5, 6}},
        /* offset (4, 1): columns x+2 (4 -> 2, 5 -> 1), rows y-1 (-1 -> 1) */
        {1, 4, 1, {7, 8, 7, 6, 3, 4, 3, 2, 7, 8, 7, 6, 11, 12, 11, 10}},
        {0, 4, 1, {0, 0, 0, 0, 3, 4, 0, 0, 7, 8, 0, 0, 11, 12, 0, 0}},
        /* offset (2, 2): no shift */
        {0, 2, 2, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t out[16];
        crop_run(out, in, cases[i].reflect, cases[i].ox, cases[i].oy);
        cr_assert_arr_eq(out, cases[i].want, 16, "reflect %d offset (%d, %d)", cases[i].reflect,
                         cases[i].ox, cases[i].oy);
    }
}

Test(augment, crop_reflect_pad_wider_than_image)
{
    /* 1x3 row, pad 5: padded index i reads reflect(i - 5) over period 4:
     * x=0 with offset 0 -> -5 -> 1; x=1 -> -4 -> 0; x=2 -> -3 -> 1 */
    const uint8_t in[3] = {10, 20, 30};
    uint8_t out[3];
    aug_config cfg = {.crop_pad = 5, .crop_reflect = 1};
    for (uint64_t seed = 0;; seed++) {
        nn_rng r, p;
        nn_rng_seed(&r, seed);
        p = r;
        const uint32_t ox = nn_rng_below(&p, 11);
        (void)nn_rng_below(&p, 11);
        if (ox != 0)
            continue;
        aug_image(out, in, 1, 1, 3, &cfg, &r, NULL);
        cr_assert_eq(out[0], 20);
        cr_assert_eq(out[1], 10);
        cr_assert_eq(out[2], 20);
        break;
    }
}

Test(augment, cutout_square_of_fill)
{
    const int c = 2, h = 9, w = 10, k = 3;
    uint8_t *in = rand_img(c, h, w, 8, 0, 200), *out = alloc_img(c, h, w);
    aug_config cfg = {.cutout = k, .fill = 222};
    int clipped = 0;
    for (uint64_t seed = 0; seed < 100; seed++) {
        nn_rng r, p;
        nn_rng_seed(&r, seed);
        p = r;
        const int cx = (int)nn_rng_below(&p, (uint32_t)w), cy = (int)nn_rng_below(&p, (uint32_t)h);
        aug_image(out, in, c, h, w, &cfg, &r, NULL);
        int n_fill = 0;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    const int cut = x >= cx - 1 && x <= cx + 1 && y >= cy - 1 && y <= cy + 1;
                    n_fill += cut;
                    cr_assert_eq(PX(out, h, w, ch, y, x), cut ? 222 : PX(in, h, w, ch, y, x),
                                 "seed %d (%d,%d,%d)", (int)seed, ch, y, x);
                }
        clipped += n_fill < c * k * k;
    }
    cr_assert(clipped > 0, "some cutouts should extend past the border");
    free(in), free(out);
}

/* Every output pixel is fill or within [lo, hi] of the input; under ASan,
 * no read outside the exactly sized input and no write outside out. */
Test(augment, sweep_range_and_bounds)
{
    const int shapes[][3] = {{1, 1, 1}, {1, 1, 5}, {1, 5, 1}, {1, 28, 28}, {3, 32, 32}, {2, 3, 7}};
    const aug_config cfgs[] = {
        {.rotate_deg = 180, .shear_deg = 45, .zoom = 0.9f, .translate = 0.5f, .fill = 3},
        {.rotate_deg = 180, .shear_deg = 45, .zoom = 0.9f, .translate = 0.5f, .fill = 3, .hflip = 1,
         .crop_pad = 4, .crop_reflect = 1, .cutout = 8},
        {.zoom = 0.9f, .fill = 3, .hflip = 1, .crop_pad = 7, .crop_reflect = 0, .cutout = 40},
        {.rotate_deg = 30, .fill = 3, .crop_pad = 3, .crop_reflect = 1},
    };
    const int lo = 40, hi = 220;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const size_t n = (size_t)c * h * w;
        uint8_t *in = rand_img(c, h, w, s, lo, hi), *out = alloc_img(c, h, w);
        for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++)
            for (uint64_t seed = 0; seed < 50; seed++) {
                nn_rng r;
                nn_rng_seed_key(&r, 1, NN_STREAM_AUGMENT, seed, k);
                aug_image(out, in, c, h, w, &cfgs[k], &r, NULL);
                for (size_t i = 0; i < n; i++)
                    cr_assert(out[i] == 3 || (out[i] >= lo && out[i] <= hi),
                              "shape %zu cfg %zu seed %d: out[%zu] = %d", s, k, (int)seed, i,
                              out[i]);
            }
        /* explicit extremes straight through aug_affine */
        const float p[][5] = {{180, 45, 0.1f, 0.5f * w, -0.5f * h},
                              {-179.9f, -45, 1.9f, -0.5f * w, 0.5f * h},
                              {33, 89, 0.01f, 0, 0},
                              {0, 90, 1, 0, 0}};
        for (size_t k = 0; k < sizeof p / sizeof p[0]; k++) {
            aug_affine(out, in, c, h, w, p[k][0], p[k][1], p[k][2], p[k][3], p[k][4], 3);
            for (size_t i = 0; i < n; i++)
                cr_assert(out[i] == 3 || (out[i] >= lo && out[i] <= hi), "affine %zu", k);
        }
        free(in), free(out);
    }
}

Test(augment, same_state_same_image_different_seeds_differ)
{
    const int c = 3, h = 16, w = 16;
    uint8_t *in = rand_img(c, h, w, 2, 0, 255);
    uint8_t *a = alloc_img(c, h, w), *b = alloc_img(c, h, w);
    const aug_config cfg = {.rotate_deg = 20, .zoom = 0.2f, .translate = 0.1f, .hflip = 1,
                            .crop_pad = 2, .crop_reflect = 1, .cutout = 4};
    nn_rng r1, r2;
    nn_rng_seed_key(&r1, 42, NN_STREAM_AUGMENT, 3, 7);
    r2 = r1;
    aug_image(a, in, c, h, w, &cfg, &r1, NULL);
    aug_image(b, in, c, h, w, &cfg, &r2, NULL);
    cr_assert_arr_eq(a, b, (size_t)c * h * w);
    cr_assert_arr_eq(r1.s, r2.s, sizeof r1.s);
    int differ = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        nn_rng r;
        nn_rng_seed_key(&r, 43 + seed, NN_STREAM_AUGMENT, 3, 7);
        aug_image(b, in, c, h, w, &cfg, &r, NULL);
        differ += memcmp(a, b, (size_t)c * h * w) != 0;
    }
    cr_assert_eq(differ, 10, "every other seed should give another image");
    free(in), free(a), free(b);
}

/* Per-transform probabilities: the gate is one uniform drawn before the
 * transform's own draws, and only when p < 1; a failed gate leaves the image
 * as that transform would not touch it and skips its draws. Each outcome is
 * predicted from the documented draw order, image by image. */
Test(augment, probabilities_gate_each_transform)
{
    const int c = 1, h = 7, w = 9;
    uint8_t *in = rand_img(c, h, w, 21, 1, 255), *out = alloc_img(c, h, w),
            *full = alloc_img(c, h, w);
    /* p = 1 and p = 0 (the default) are the plain transform: no extra draw */
    const aug_config plain = {.rotate_deg = 30, .crop_pad = 2, .cutout = 3, .fill = 0};
    aug_config one = plain;
    one.p_affine = one.p_crop = one.p_cutout = 1.0f;
    for (uint64_t seed = 0; seed < 20; seed++) {
        nn_rng a, b;
        nn_rng_seed(&a, seed), nn_rng_seed(&b, seed);
        aug_image(full, in, c, h, w, &plain, &a, NULL);
        aug_image(out, in, c, h, w, &one, &b, NULL);
        cr_assert_arr_eq(out, full, (size_t)h * w, "p = 1 differs from the default");
        cr_assert_arr_eq(a.s, b.s, sizeof a.s, "p = 1 drew an extra number");
    }
    /* each gate alone, at p = 0.3: applied exactly when its uniform < 0.3 */
    const aug_config gated[4] = {
        {.rotate_deg = 30, .p_affine = 0.3f},
        {.hflip = 1, .p_hflip = 0.3f},
        {.crop_pad = 2, .p_crop = 0.3f},
        {.cutout = 3, .p_cutout = 0.3f},
    };
    for (int g = 0; g < 4; g++) {
        int applied = 0;
        for (uint64_t seed = 0; seed < 400; seed++) {
            nn_rng r, pred;
            nn_rng_seed(&r, seed);
            pred = r;
            const int want = nn_rng_uniform(&pred) < 0.3f;
            aug_image(out, in, c, h, w, &gated[g], &r, NULL);
            if (!want) { /* gate failed: the input as it is, one draw taken */
                cr_assert_arr_eq(out, in, (size_t)h * w, "transform %d applied at seed %d", g,
                                 (int)seed);
                cr_assert_arr_eq(r.s, pred.s, sizeof r.s, "a failed gate drew more");
            } else if (g != 1) { /* applied: the plain transform from the next draws */
                aug_config always = gated[g];
                always.p_affine = always.p_crop = always.p_cutout = 1.0f;
                aug_image(full, in, c, h, w, &always, &pred, NULL);
                cr_assert_arr_eq(out, full, (size_t)h * w, "transform %d at seed %d", g,
                                 (int)seed);
                cr_assert_arr_eq(r.s, pred.s, sizeof r.s);
            } else {
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        cr_assert_eq(PX(out, h, w, 0, y, x), PX(in, h, w, 0, y, w - 1 - x));
            }
            applied += want;
        }
        cr_assert(applied > 90 && applied < 150, "transform %d applied %d of 400", g, applied);
    }
    free(in), free(out), free(full);
}
