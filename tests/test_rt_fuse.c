/* test_rt_fuse.c - the residual add fused into the conv that produces one
 * of its inputs (export/rt_build.c, runtime/rt_conv.c, rt_dsp.c):
 * bit-identical to the separate add (the image built with no_fuse) and to
 * the reference interpreter on every target, sparse policy, weight format
 * and ISA; in place over the residual; which adds are fused and which are
 * not; the validator's checks of the fused record and its add block. */
#include <criterion/criterion.h>

#include "libnn/nn_io.h"
#include "rt_models.h"

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

static const int TARGETS[] = {RT_TARGET_GENERIC, RT_TARGET_CORTEX_M4, RT_TARGET_CORTEX_M0PLUS, -1};
static const rtb_sparse POLICIES[] = {RTB_SPARSE_AUTO, RTB_SPARSE_NEVER, RTB_SPARSE_ALWAYS};
static const rt_isa ISAS[] = {RT_ISA_C, RT_ISA_AVX2, RT_ISA_AVX512_VNNI};

/* The image's records fused with an add. */
static int fused_records(const uint8_t *im)
{
    int n = 0;
    const uint8_t *r = im + rd32(im + RT_H_OPS_OFF);
    for (uint32_t i = 0; i < rd16(im + RT_H_N_OPS); i++, r += RT_OP_BYTES)
        n += (r[RT_O_FLAGS] & RT_OPF_ADD) != 0;
    return n;
}

/* The logits of image im on n inputs with the given ISA. */
static int8_t *run_isa(const uint8_t *im, size_t bytes, const uint8_t *pix, int n, rt_isa isa)
{
    rt_info info;
    cr_assert_eq(rt_image_check(im, bytes, &info), RT_OK);
    uint8_t *arena = aligned_alloc(8, (info.arena_bytes + 15) & ~(size_t)7);
    int8_t *l = malloc((size_t)n * info.num_classes);
    cr_assert(arena && l);
    const size_t in_size = (size_t)info.in_c * info.in_h * info.in_w;
    for (int i = 0; i < n; i++) {
        memset(arena, 0x5a ^ i, info.arena_bytes);
        cr_assert_eq(rt_run_isa(im, arena, info.arena_bytes, pix + i * in_size,
                                l + (size_t)i * info.num_classes, isa),
                     RT_OK);
    }
    free(arena);
    return l;
}

/* m built fused and unfused for every target and policy (and every ISA
 * this CPU has): the logits equal qref's; `expect` adds fused. */
static void check_fused(const qm_model *m, int expect, uint64_t seed, const char *what)
{
    const int n = 3;
    uint8_t *pix = rtm_pixels(m, n, seed);
    int8_t *want = rtm_qref(m, pix, n);
    for (size_t t = 0; t < sizeof TARGETS / sizeof *TARGETS; t++)
        for (size_t p = 0; p < sizeof POLICIES / sizeof *POLICIES; p++)
            for (int no_fuse = 0; no_fuse < 2; no_fuse++) {
                const int target = TARGETS[t] < 0 ? rtb_host_target() : TARGETS[t];
                const rtb_options opt = {target, POLICIES[p], 0, RT_ISA_AUTO, no_fuse, 0};
                size_t bytes;
                rtb_image info;
                uint8_t *im = rtm_image(m, &opt, &bytes, &info);
                char msg[200];
                snprintf(msg, sizeof msg, "%s, target %s, policy %d, %s", what,
                         rtb_target_name(target), (int)POLICIES[p], no_fuse ? "unfused" : "fused");
                cr_assert_eq(fused_records(im), no_fuse ? 0 : expect, "%s", msg);
                cr_assert_eq(info.image_ops, m->n_ops - (no_fuse ? 0 : expect), "%s", msg);
                cr_assert_eq((int)rd16(im + RT_H_N_OPS), info.image_ops, "%s", msg);
                rtb_free(&info);
                for (size_t k = 0; k < sizeof ISAS / sizeof *ISAS; k++) {
                    if (!rt_isa_supported(ISAS[k]))
                        continue;
                    int8_t *got = run_isa(im, bytes, pix, n, ISAS[k]);
                    rtm_same(got, want, (size_t)n * m->num_classes, msg);
                    free(got);
                }
                free(im);
            }
    free(pix);
    free(want);
}

/* A residual block: stem conv s (in_c -> c), conv a, conv b, then
 * add(b, s) (or add(s, b) when swap) with the add's ReLU; bits and
 * sparsity of a and b. */
static rtm *block(int in_c, int side, int c, int bits, double sp, int swap, int conv_relu)
{
    rtm *t = rtm_new(in_c, side, side);
    int s = rtm_conv(t, QM_INPUT, c, 3, 1, 1, 1, 8, 0);
    int a = rtm_conv(t, s, c, 3, 1, 1, 1, bits, sp);
    int b = rtm_conv(t, a, c, 3, 1, 1, conv_relu, bits, sp);
    int d = swap ? rtm_add(t, s, b, 1) : rtm_add(t, b, s, 1);
    rtm_dense(t, d, 7, 0, 8, 0);
    return t;
}

Test(rt_fuse, residual_block_every_format)
{
    static const struct {
        int bits;
        double sp;
    } F[] = {{8, 0}, {8, 0.92}, {4, 0}, {4, 0.7}};
    int k = 0;
    for (size_t f = 0; f < sizeof F / sizeof *F; f++)
        for (int swap = 0; swap < 2; swap++, k++) {
            /* in_c 4k (the S8 ring) or not (the flat rows); odd widths */
            rtm *t = block(k % 2 ? 3 : 4, 5 + k % 4, k % 3 ? 8 : 5, F[f].bits, F[f].sp, swap, k % 2);
            rtm_finish(t, 100 + (uint64_t)k);
            char what[64];
            snprintf(what, sizeof what, "block %d-bit %.2f swap %d", F[f].bits, F[f].sp, swap);
            check_fused(&t->m, 1, 7 + (uint64_t)k, what);
            rtm_free(t);
        }
}

Test(rt_fuse, projection_shortcut_and_own_input)
{
    /* ResNet's stack 2 shape: conv /2 -> conv, a 1x1 /2 projection of
     * the block input last, then add(projection, main): fused into the
     * projection, the main path the residual */
    rtm *t = rtm_new(4, 9, 9);
    int s = rtm_conv(t, QM_INPUT, 8, 3, 1, 1, 1, 8, 0);
    int a = rtm_conv(t, s, 12, 3, 2, 1, 1, 8, 0);
    int b = rtm_conv(t, a, 12, 3, 1, 1, 0, 8, 0);
    int p = rtm_conv(t, s, 12, 1, 2, 0, 0, 8, 0);
    int d = rtm_add(t, p, b, 1);
    /* add(conv(x), x): the residual is the conv's own input */
    int e = rtm_conv(t, d, 12, 3, 1, 1, 0, 8, 0);
    int g = rtm_add(t, e, d, 0);
    /* a conv whose output is read twice: not fused */
    int h = rtm_conv(t, g, 12, 1, 1, 0, 1, 4, 0);
    int i = rtm_add(t, h, h, 1);
    (void)i;
    rtm_finish(t, 42);
    check_fused(&t->m, 2, 9, "projection, own input, read twice");
    rtm_free(t);

    t = rtm_new(4, 7, 5);
    int c = rtm_conv(t, QM_INPUT, 4, 3, 1, 1, 0, 8, 0);
    rtm_add(t, QM_INPUT, c, 0); /* the last op: its output is the logits */
    rtm_finish(t, 43);
    check_fused(&t->m, 1, 10, "input residual, last op");
    rtm_free(t);
}

Test(rt_fuse, in_place_over_the_residual)
{
    /* ResNet-8's stack 1, shrunk: s0, conv, conv, add(., s0). Unfused the
     * second conv's op holds s0, its input and its output (overlapping the
     * input but for two rows) and then the add; fused the add's output is
     * written over s0: two tensors and the scratch at every op */
    rtm *t = block(3, 16, 16, 8, 0, 0, 0);
    const int a = 1, b = 2, d = 3;
    rtm_finish(t, 5);
    const uint32_t tensor = 16 * 16 * 16;
    rtb_image f, u;
    nn_error err;
    const rtb_options of = {RT_TARGET_CORTEX_M4, RTB_SPARSE_NEVER, 0, RT_ISA_AUTO, 0, 0};
    const rtb_options ou = {RT_TARGET_CORTEX_M4, RTB_SPARSE_NEVER, 0, RT_ISA_AUTO, 1, 0};
    cr_assert_eq(rtb_build(&f, &t->m, &of, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(rtb_build(&u, &t->m, &ou, &err), NN_OK, "%s", err.msg);
    cr_log_info("stack-1 shaped: arena fused %llu (bound %llu), unfused %llu (bound %llu)",
                (unsigned long long)f.arena_bytes, (unsigned long long)f.arena_lower_bound,
                (unsigned long long)u.arena_bytes, (unsigned long long)u.arena_lower_bound);
    const uint32_t sa = f.ops[a].scratch_bytes, sb = f.ops[b].scratch_bytes;
    cr_assert_eq(f.arena_bytes, 2 * tensor + (sa > sb ? sa : sb));
    cr_assert_eq(f.arena_bytes, f.arena_lower_bound);
    cr_assert_leq(f.arena_lower_bound, u.arena_lower_bound);
    cr_assert_leq(f.arena_bytes, u.arena_bytes);
    /* the fused conv writes where s0 lies (at most a few rows below) */
    const uint8_t *r = f.data + rd32(f.data + RT_H_OPS_OFF) + (size_t)b * RT_OP_BYTES;
    cr_assert(r[RT_O_FLAGS] & RT_OPF_ADD);
    const uint32_t out = rd32(r + RT_O_OUT_OFF), res = rd32(r + RT_O_IN2_OFF);
    cr_assert(out <= res && out + tensor > res, "output %u, residual %u", out, res);
    cr_assert(f.ops[d].fused && f.ops[b].fused && !u.ops[d].fused);
    rtb_free(&f), rtb_free(&u);
    check_fused(&t->m, 1, 11, "stack-1 shaped");
    rtm_free(t);
}

/* ---- the validator ------------------------------------------------------------------------ */

static void set_crc(uint8_t *im, size_t n)
{
    uint32_t c = nn_crc32(im + 16, n - 16);
    memcpy(im + RT_H_CRC, &c, 4);
}

/* im with one change (CRC repaired) must fail with st at offset off. */
static void expect_bad(const uint8_t *im, size_t n, size_t at, const void *v, size_t len,
                       rt_status st, uint32_t off, const char *what)
{
    uint8_t *m = aligned_alloc(8, n);
    cr_assert_not_null(m);
    memcpy(m, im, n);
    memcpy(m + at, v, len);
    set_crc(m, n);
    rt_info info;
    const rt_status got = rt_image_check(m, n, &info);
    cr_assert_eq(got, st, "%s: status %d (%s), expected %d", what, got, rt_status_str(got), st);
    cr_assert_eq(info.bad_offset, off, "%s: offset %u, expected %u", what, info.bad_offset, off);
    free(m);
}

Test(rt_fuse, validator_fused_record)
{
    rtm *t = rtm_new(4, 6, 6);
    int s = rtm_conv(t, QM_INPUT, 4, 3, 1, 1, 1, 8, 0);
    int b = rtm_conv(t, s, 4, 3, 1, 1, 0, 8, 0);
    int d = rtm_add(t, b, s, 1);
    rtm_pool(t, QM_GLOBAL_AVGPOOL, d, 0, 0, 0);
    rtm_finish(t, 77);
    const rtb_options opt = {RT_TARGET_CORTEX_M4, RTB_SPARSE_NEVER, 0, RT_ISA_AUTO, 0, 0};
    size_t n;
    uint8_t *im = rtm_image(&t->m, &opt, &n, NULL);
    cr_assert_eq(rt_image_check(im, n, NULL), RT_OK);
    const uint32_t ops = rd32(im + RT_H_OPS_OFF), r = ops + RT_OP_BYTES * 1; /* conv b */
    const uint32_t pool = ops + RT_OP_BYTES * 2;
    cr_assert(im[r + RT_O_FLAGS] & RT_OPF_ADD);
    const uint32_t ab = rd32(im + r + RT_O_AUX1);
    const uint8_t f3 = RT_OPF_ADD | RT_OPF_RELU, bad8 = 0xff, zero8 = 0, v1[2] = {1, 0};
    const uint32_t big = 0x80000000u, odd = ab + 2, past = (uint32_t)n, far = 0x7fffff00u;

    /* the flag: on an op that is not a conv, an unknown bit, a version 1 image */
    expect_bad(im, n, pool + RT_O_FLAGS, &f3, 1, RT_E_FORMAT, pool + RT_O_FLAGS, "pool fused");
    expect_bad(im, n, r + RT_O_FLAGS, &bad8, 1, RT_E_FORMAT, r + RT_O_FLAGS, "flag bits");
    expect_bad(im, n, RT_H_VERSION, v1, 2, RT_E_FORMAT, r + RT_O_FLAGS, "fused in version 1");
    /* the add block: where it is, then each field */
    expect_bad(im, n, r + RT_O_AUX1, &odd, 4, RT_E_FORMAT, r + RT_O_AUX1, "block misaligned");
    expect_bad(im, n, r + RT_O_AUX1, &past, 4, RT_E_FORMAT, r + RT_O_AUX1, "block outside");
    expect_bad(im, n, ab + RT_A_MULT, &big, 4, RT_E_FORMAT, ab + RT_A_MULT, "mult");
    expect_bad(im, n, ab + RT_A_MULT2, &big, 4, RT_E_FORMAT, ab + RT_A_MULT2, "mult2");
    expect_bad(im, n, ab + RT_A_SHIFT, &zero8, 1, RT_E_FORMAT, ab + RT_A_SHIFT, "shift 0");
    const uint8_t s63 = 63, lo = 100, hi = 99;
    expect_bad(im, n, ab + RT_A_SHIFT, &s63, 1, RT_E_FORMAT, ab + RT_A_SHIFT, "shift 63");
    {
        uint8_t lohi[2] = {lo, hi};
        expect_bad(im, n, ab + RT_A_LO, lohi, 2, RT_E_FORMAT, ab + RT_A_LO, "lo > hi");
    }
    expect_bad(im, n, ab + RT_A_RESERVED, &big, 4, RT_E_FORMAT, ab + RT_A_RESERVED, "reserved");
    /* the residual outside the arena; the scratch of the unfused conv */
    expect_bad(im, n, r + RT_O_IN2_OFF, &far, 4, RT_E_FORMAT, r + RT_O_IN2_OFF, "residual");
    const rt_window win = {3, 1, 1};
    const rt_dims dd = {6, 6, 4};
    const uint32_t plain = rt_conv2d_scratch_bytes(&win, &dd, &dd, RT_WF_S8);
    cr_assert_lt(plain, rt_conv2d_add_scratch_bytes(&win, &dd, &dd, RT_WF_S8));
    expect_bad(im, n, r + RT_O_SCRATCH_BYTES, &plain, 4, RT_E_FORMAT, r + RT_O_SCRATCH_BYTES,
               "scratch");
    /* an unfused conv with a block offset or a residual */
    expect_bad(im, n, ops + RT_O_AUX1, &ab, 4, RT_E_FORMAT, ops + RT_O_AUX1, "unfused aux1");
    expect_bad(im, n, ops + RT_O_IN2_ZERO, &lo, 1, RT_E_FORMAT, ops + RT_O_IN2_OFF, "unfused in2");
    free(im);
    rtm_free(t);
}

/* The kernel's own entry: rt_conv2d_add equals rt_conv2d then rt_add, in
 * place over the residual or not, and refuses short scratch. */
Test(rt_fuse, kernel_entry)
{
    rtm *t = rtm_new(4, 7, 6);
    rtm_conv(t, QM_INPUT, 9, 3, 2, 1, 0, 8, 0);
    rtm_finish(t, 3);
    const rtb_options opt = {RT_TARGET_GENERIC, RTB_SPARSE_NEVER, 0, RT_ISA_AUTO, 0, 0};
    rtb_image img;
    nn_error err;
    cr_assert_eq(rtb_build(&img, &t->m, &opt, &err), NN_OK, "%s", err.msg);
    const uint8_t *r = img.data + rd32(img.data + RT_H_OPS_OFF);
    const uint32_t O = 9, q_off = rd32(r + RT_O_Q_OFF);
    const rt_quant q = {(const int32_t *)(const void *)(img.data + q_off),
                        (const int32_t *)(const void *)(img.data + q_off + 4 * O),
                        img.data + q_off + 8 * O, (int8_t)r[RT_O_OUT_ZERO], (int8_t)r[RT_O_LO],
                        (int8_t)r[RT_O_HI]};
    const rt_weights w = {img.data + rd32(r + RT_O_W_OFF), rd32(r + RT_O_W_BYTES), RT_WF_S8};
    const rt_window win = {3, 2, 1};
    const rt_dims in = {7, 6, 4}, out = {4, 3, 9};
    enum { NX = 7 * 6 * 4, NY = 4 * 3 * 9 };
    nn_rng g;
    nn_rng_seed(&g, 8);
    int8_t x[NX], res[NY], conv[NY], want[NY], got[NY];
    for (int i = 0; i < NX; i++)
        x[i] = (int8_t)(nn_rng_below(&g, 256) - 128);
    for (int i = 0; i < NY; i++)
        res[i] = (int8_t)(nn_rng_below(&g, 256) - 128);
    const uint32_t sc = rt_conv2d_add_scratch_bytes(&win, &in, &out, RT_WF_S8);
    void *buf = aligned_alloc(8, sc + 8);
    cr_assert_not_null(buf);
    const rt_context ctx = {buf, sc, RT_ISA_AUTO};
    const int8_t in_zero = (int8_t)r[RT_O_IN_ZERO];
    cr_assert_eq(rt_conv2d(&ctx, &win, in_zero, &q, &in, x, &w, &out, conv), RT_OK);
    for (int shift = 16; shift <= 40; shift += 3) {
        const rt_add_params p = {q.out_zero, -7, 11, (int8_t)(shift & 1 ? -128 : 11), 127,
                                 0x5a5a5a5a - shift * 99991, 0x31234567 + shift, (uint8_t)shift};
        cr_assert_eq(rt_add(&p, conv, res, want, NY), RT_OK);
        cr_assert_eq(rt_conv2d_add(&ctx, &win, in_zero, &q, &in, x, &w, &out, &p, res, got), RT_OK);
        rtm_same(got, want, NY, "rt_conv2d_add");
        memcpy(got, res, NY); /* in place */
        cr_assert_eq(rt_conv2d_add(&ctx, &win, in_zero, &q, &in, x, &w, &out, &p, got, got), RT_OK);
        rtm_same(got, want, NY, "rt_conv2d_add in place");
        const rt_context short_ctx = {buf, sc - 1, RT_ISA_AUTO};
        cr_assert_eq(rt_conv2d_add(&short_ctx, &win, in_zero, &q, &in, x, &w, &out, &p, res, got),
                     RT_E_ARG);
        cr_assert_eq(rt_conv2d_add(&ctx, &win, in_zero, &q, &in, x, &w, &out, NULL, res, got),
                     RT_E_ARG);
    }
    free(buf);
    rtb_free(&img);
    rtm_free(t);
}
