/* rt_build.c - qm_model -> deploy image (rt_build.h, runtime/rt_image.h). */
#include "rt_build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "libnn/nn_arena.h"
#include "libnn/nn_io.h"
#include "runtime/rt.h"
#include "runtime/rt_config.h"
#include "runtime/rt_image.h"
#include "rt_plan.h"

static const char *const TARGETS[] = {"generic",   "cortex-m0plus", "cortex-m4", "cortex-m7",
                                      "cortex-m33", "cortex-m55",    "x86-64"};

const char *rtb_target_name(int t)
{
    return t >= 0 && t < (int)(sizeof TARGETS / sizeof *TARGETS) ? TARGETS[t] : NULL;
}

int rtb_target_parse(const char *name)
{
    for (int t = 0; name && t < (int)(sizeof TARGETS / sizeof *TARGETS); t++)
        if (strcmp(name, TARGETS[t]) == 0)
            return t;
    return -1;
}

int rtb_target_has_dsp(int t)
{
    return t == RT_TARGET_CORTEX_M4 || t == RT_TARGET_CORTEX_M7 || t == RT_TARGET_CORTEX_M33 ||
           t == RT_TARGET_CORTEX_M55;
}

/* ---- shapes and weights --------------------------------------------------------------- */

static int32_t zero_of(const qm_model *m, int t) { return t == QM_INPUT ? m->in.zero : m->ops[t].out.zero; }

/* Weights per output channel. */
static uint32_t op_k(const qm_op *op)
{
    if (op->type == QM_DEPTHWISE)
        return (uint32_t)(op->kernel * op->kernel);
    return op->type == QM_CONV2D ? (uint32_t)(op->kernel * op->kernel * op->in_c)
                                 : (uint32_t)(op->in_c * op->in_h * op->in_w);
}

static uint32_t count_nnz(const qm_op *op)
{
    uint32_t n = 0;
    for (size_t i = 0; i < op->n_weights; i++)
        n += op->weights[i] != 0;
    return n;
}

int rtb_host_target(void)
{
#if RT_WITH_CONV_X8 && RT_WITH_CONV_X4 && RT_WITH_DENSE_X8 && RT_WITH_DENSE_X4
    return RT_TARGET_X86_64;
#else
    return RT_TARGET_GENERIC;
#endif
}

/* x86-64: a dense layer goes sparse (the portable loop over its non-zero
 * weights) at or below this density, where that beats the ISA's dense
 * body streaming every weight once per image (docs/int8.md). */
static double x86_sparse_max(rt_isa isa, int four)
{
    switch (isa == RT_ISA_AUTO ? rt_isa_best() : isa) {
    case RT_ISA_AVX512_VNNI: return 0.005;
    case RT_ISA_AVX2: return four ? 0.012 : 0.025;
    default: return 0.2;
    }
}

int rtb_choose_format(const qm_op *op, int target, rtb_sparse sparse, rt_isa isa)
{
    if (op->type == QM_DEPTHWISE) /* one layout (4-bit weights a byte each too) */
        return RT_WF_S8;
    if (op->type != QM_CONV2D && op->type != QM_DENSE)
        return RT_WF_NONE;
    const int four = op->weight_bits == 4;
    /* X8/X4 hold dense layers of up to 2^24 inputs (rt_image.h) */
    const int x86 = target == RT_TARGET_X86_64 && (op->type == QM_CONV2D || op_k(op) <= 0xffffffu);
    const int dense_fmt = x86 ? (four ? RT_WF_X4 : RT_WF_X8) : (four ? RT_WF_S4 : RT_WF_S8);
    if (sparse == RTB_SPARSE_NEVER)
        return dense_fmt;
    if (sparse == RTB_SPARSE_ALWAYS)
        return four ? RT_WF_SP4 : RT_WF_SP8;
    double density = op->n_weights ? (double)count_nnz(op) / (double)op->n_weights : 1.0;
    /* x86-64: convs stay dense (a pruned conv at 30-40% density runs
     * several times faster in the AVX2 and VNNI bodies than sparse) */
    if (target == RT_TARGET_X86_64)
        return op->type == QM_DENSE && density <= x86_sparse_max(isa, four)
                   ? (four ? RT_WF_SP4 : RT_WF_SP8)
                   : dense_fmt;
    /* 4-bit conv: the sparse Cortex-M kernel costs ~1.1 instructions per
     * non-zero MAC against ~0.9 per MAC for the dense one, and 2 bytes per
     * non-zero against half a byte per weight: sparse up to half dense.
     * dense layers run the portable loops either way: the smaller one.
     * 8-bit: the DSP build has a dense SMLAD kernel and no sparse one. */
    if (four)
        return density <= (op->type == QM_CONV2D ? 0.5 : 0.25) ? RT_WF_SP4 : RT_WF_S4;
    return density <= (rtb_target_has_dsp(target) ? 0.15 : 0.3) ? RT_WF_SP8 : RT_WF_S8;
}

/* ---- payload encoders ------------------------------------------------------------------ */

typedef struct {
    uint32_t addr;
    int32_t w;
} tap;

static int cmp_tap(const void *a, const void *b)
{
    uint32_t x = ((const tap *)a)->addr, y = ((const tap *)b)->addr;
    return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int conv;
    uint32_t k, s, wq, chan_b, slot_b, K;
    uint32_t *valid; /* conv: sorted addresses of every tap (K of them) */
} space;

static uint32_t tap_addr(const space *sp, uint32_t t, uint32_t C)
{
    if (!sp->conv)
        return t;
    uint32_t c = t % C, kx = (t / C) % sp->k, ky = t / C / sp->k;
    return ky * sp->slot_b + c * sp->chan_b + (kx % sp->s) * sp->wq * 4 + (kx / sp->s) * 4;
}

static nn_status space_init(space *sp, const qm_op *op, nn_error *err)
{
    memset(sp, 0, sizeof *sp);
    sp->K = op_k(op);
    if (op->type != QM_CONV2D)
        return NN_OK;
    sp->conv = 1;
    sp->k = (uint32_t)op->kernel, sp->s = (uint32_t)op->stride;
    uint32_t wp = (uint32_t)(op->in_w + 2 * op->pad);
    sp->wq = (wp + sp->s - 1) / sp->s;
    sp->chan_b = sp->s * sp->wq * 4;
    sp->slot_b = (uint32_t)op->in_c * sp->chan_b;
    sp->valid = malloc(sizeof(uint32_t) * sp->K);
    if (!sp->valid)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory encoding weights");
    for (uint32_t t = 0; t < sp->K; t++)
        sp->valid[t] = tap_addr(sp, t, (uint32_t)op->in_c);
    qsort(sp->valid, sp->K, sizeof *sp->valid, cmp_u32);
    return NN_OK;
}

/* The largest address a with cur < a <= cur + maxd that a skip entry may
 * land on, or 0 when none. */
static uint32_t skip_to(const space *sp, uint32_t cur, uint32_t maxd)
{
    if (!sp->conv)
        return cur + maxd;
    uint32_t lo = 0, hi = sp->K; /* first index with valid[i] > cur + maxd */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (sp->valid[mid] <= cur + maxd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && sp->valid[lo - 1] > cur ? sp->valid[lo - 1] : 0;
}

static void put_u16(nn_wbuf *w, uint32_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    nn_wbuf_bytes(w, b, 2);
}

static void pad4(nn_wbuf *w)
{
    while (w->len % 4)
        nn_wbuf_u8(w, 0);
}

/* Channel o's non-zero taps sorted by address into t (returns the count). */
static uint32_t channel_taps(const qm_op *op, const space *sp, int o, tap *t)
{
    uint32_t n = 0;
    const int8_t *w = op->weights + (size_t)o * sp->K;
    for (uint32_t i = 0; i < sp->K; i++)
        if (w[i])
            t[n].addr = tap_addr(sp, i, (uint32_t)op->in_c), t[n].w = w[i], n++;
    qsort(t, n, sizeof *t, cmp_tap);
    return n;
}

/* Returns 0 when the format cannot express the layer. */
static int enc_sp4(nn_wbuf *out, const qm_op *op, const space *sp, tap *t, uint16_t *blk)
{
    const uint32_t maxd = sp->conv ? RT_SP4_MAX_DELTA_CONV : RT_SP4_MAX_DELTA_DENSE;
    for (int o = 0; o < op->out_c; o++) {
        uint32_t n = channel_taps(op, sp, o, t);
        /* blocks: each sum of |w| <= 255 (conv; dense: one block) */
        uint32_t nb = 1, sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t a = (uint32_t)abs(t[i].w);
            if (sp->conv && sum + a > RT_SP4_BLOCK_ABS_SUM)
                nb++, sum = 0;
            sum += a;
        }
        if (nb > 0xffff)
            return 0;
        put_u16(out, nb);
        uint32_t cur = 0, i = 0;
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t m = 0; /* entries of this block, skips included */
            for (sum = 0; i < n; i++) {
                uint32_t a = (uint32_t)abs(t[i].w);
                if (sp->conv && sum + a > RT_SP4_BLOCK_ABS_SUM)
                    break;
                sum += a;
                while (t[i].addr - cur > maxd) {
                    uint32_t v = skip_to(sp, cur, maxd);
                    if (!v || m >= 0xffff)
                        return 0;
                    blk[m++] = (uint16_t)((v - cur) << 4);
                    cur = v;
                }
                if (m >= 0xffff)
                    return 0;
                blk[m++] = (uint16_t)((t[i].addr - cur) << 4 | ((uint32_t)t[i].w & 15));
                cur = t[i].addr;
            }
            put_u16(out, m);
            for (uint32_t q = 0; q < m; q++)
                put_u16(out, blk[q]);
        }
    }
    pad4(out);
    return 1;
}

static int enc_sp8(nn_wbuf *out, const qm_op *op, const space *sp, tap *t)
{
    for (int o = 0; o < op->out_c; o++) {
        uint32_t n = channel_taps(op, sp, o, t);
        if (n > 0xffff)
            return 0;
        put_u16(out, n);
        uint32_t cur = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (t[i].addr - cur > 0xffff)
                return 0;
            put_u16(out, t[i].addr - cur);
            cur = t[i].addr;
        }
        for (uint32_t i = 0; i < n; i++)
            nn_wbuf_u8(out, (uint8_t)t[i].w);
        if (n & 1)
            nn_wbuf_u8(out, 0);
    }
    pad4(out);
    return 1;
}

static void enc_s8(nn_wbuf *out, const qm_op *op, uint32_t K)
{
    for (int o = 0; o < op->out_c; o++) {
        nn_wbuf_bytes(out, op->weights + (size_t)o * K, K);
        pad4(out);
    }
}

static void enc_s4(nn_wbuf *out, const qm_op *op, uint32_t K)
{
    for (int o = 0; o < op->out_c; o++) {
        const int8_t *w = op->weights + (size_t)o * K;
        for (uint32_t k0 = 0; k0 < K; k0 += 8) {
            uint32_t word = 0;
            for (uint32_t i = 0; i < 8 && k0 + i < K; i++)
                word |= ((uint32_t)w[k0 + i] & 15) << (4 * i);
            nn_wbuf_u32(out, word);
        }
    }
}

/* X8/X4 (rt_image.h): wsum[Op], then per block of 16 channels and group
 * of 4 k the 16 x 4 weights; kernel rows padded to kcp. */
static void enc_x(nn_wbuf *out, const qm_op *op, uint32_t K)
{
    const uint32_t taps = op->type == QM_CONV2D ? (uint32_t)(op->kernel * op->in_c) : K;
    const uint32_t rows = op->type == QM_CONV2D ? (uint32_t)op->kernel : 1;
    const uint32_t kcp = (taps + RT_X_KG - 1) / RT_X_KG * RT_X_KG, kx = rows * kcp;
    const uint32_t oc = (uint32_t)op->out_c, Op = (oc + RT_X_OCB - 1) / RT_X_OCB * RT_X_OCB;
    for (uint32_t o = 0; o < Op; o++) {
        uint32_t sum = 0;
        for (uint32_t k = 0; o < oc && k < K; k++)
            sum += (uint32_t)(int32_t)op->weights[(size_t)o * K + k];
        nn_wbuf_u32(out, sum);
    }
    for (uint32_t b = 0; b < Op / RT_X_OCB; b++)
        for (uint32_t g = 0; g < kx / RT_X_KG; g++)
            for (uint32_t i = 0; i < RT_X_OCB * RT_X_KG; i++) {
                const uint32_t o = b * RT_X_OCB + i / RT_X_KG, kk = g * RT_X_KG + i % RT_X_KG;
                const uint32_t r = kk / kcp, t = kk % kcp; /* kernel row, tap in it */
                const int8_t v = o < oc && t < taps ? op->weights[(size_t)o * K + r * taps + t] : 0;
                nn_wbuf_u8(out, (uint8_t)v);
            }
}

/* Depthwise (rt_image.h): qmodel's (c, k, k) to tap-major (k, k, c), the
 * channels of a tap contiguous, padded to a multiple of 4 bytes. */
static void enc_depthwise(nn_wbuf *out, const qm_op *op)
{
    const uint32_t taps = (uint32_t)(op->kernel * op->kernel), C = (uint32_t)op->out_c;
    for (uint32_t t = 0; t < taps; t++)
        for (uint32_t c = 0; c < C; c++)
            nn_wbuf_u8(out, (uint8_t)op->weights[(size_t)c * taps + t]);
    pad4(out);
}

/* Encodes op's weights in fmt (falling back to the dense format when the
 * sparse one cannot express the layer); returns the format used. */
static int encode(nn_wbuf *out, const qm_op *op, int fmt, nn_status *st, nn_error *err)
{
    if (op->type == QM_DEPTHWISE) {
        *st = NN_OK;
        enc_depthwise(out, op);
        return RT_WF_S8;
    }
    space sp;
    *st = space_init(&sp, op, err);
    if (*st != NN_OK)
        return fmt;
    const uint32_t K = sp.K;
    if (fmt == RT_WF_SP4 || fmt == RT_WF_SP8) {
        tap *t = malloc(sizeof(tap) * K);
        uint16_t *blk = malloc(sizeof(uint16_t) * 0x10000);
        if (!t || !blk) {
            free(t), free(blk);
            free(sp.valid);
            *st = nn_errorf(err, NN_ERR_NOMEM, "out of memory encoding weights");
            return fmt;
        }
        size_t mark = out->len;
        int ok = fmt == RT_WF_SP4 ? enc_sp4(out, op, &sp, t, blk) : enc_sp8(out, op, &sp, t);
        free(t), free(blk);
        if (!ok) {
            out->len = mark;
            fmt = fmt == RT_WF_SP4 ? RT_WF_S4 : RT_WF_S8; /* never on x86-64: its dense
                                                              layers have no panel limits */
        }
    }
    if (fmt == RT_WF_S8)
        enc_s8(out, op, K);
    else if (fmt == RT_WF_S4)
        enc_s4(out, op, K);
    else if (fmt == RT_WF_X8 || fmt == RT_WF_X4)
        enc_x(out, op, K);
    free(sp.valid);
    return fmt;
}

/* ---- the image -------------------------------------------------------------------------- */

static void set16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void set32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}
static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static uint32_t sat32(uint64_t v) { return v > 0xffffffffu ? 0xffffffffu : (uint32_t)v; }

static nn_status check_model(const qm_model *m, const rtb_options *opt, nn_error *err)
{
    nn_status st = qm_model_validate(m, err);
    if (st != NN_OK)
        return st;
    if (!opt->allow_overflow && (st = iotc_check_accumulators(m, err)) != NN_OK)
        return st;
    if (m->in_c > 0xffff || m->in_h > 0xffff || m->in_w > 0xffff || m->num_classes > 0xffff)
        return nn_errorf(err, NN_ERR_FORMAT, "input shape exceeds the image's 16-bit fields");
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        const char *name = qm_op_type_name(op->type);
        if (op->in_c > 0xffff || op->in_h > 0xffff || op->in_w > 0xffff || op->out_c > 0xffff ||
            op->out_h > 0xffff || op->out_w > 0xffff)
            return nn_errorf(err, NN_ERR_FORMAT, "op %d (%s): a dimension exceeds 65535", i, name);
        if ((op->type == QM_MAXPOOL || op->type == QM_AVGPOOL || op->type == QM_GLOBAL_AVGPOOL) &&
            op->out.zero != zero_of(m, op->input))
            return nn_errorf(err, NN_ERR_FORMAT,
                             "op %d (%s): output zero point %d differs from its input's %d (pools "
                             "keep the input's quantization)",
                             i, name, op->out.zero, zero_of(m, op->input));
    }
    return NN_OK;
}

/* Rules {a, b} (rt_image.h, RT_HF_INPUT_RULE) that give every entry of
 * the (in_c, 256) input table lut: 1 when every channel has one. Per
 * channel, slopes a near the table's (in 2^-16 steps) until the bounds that
 * its 256 entries put on b leave room. */
static int input_rules(const int8_t *lut, int in_c, int32_t *rules)
{
    const int64_t one = 1 << RT_INPUT_RULE_SHIFT;
    for (int c = 0; c < in_c; c++, lut += 256) {
        int up = 1, down = 1; /* an affine rule's table is monotone */
        for (int p = 1; p < 256; p++)
            up &= lut[p] >= lut[p - 1], down &= lut[p] <= lut[p - 1];
        if (!up && !down)
            return 0;
        int first = -1, last = -1;
        for (int p = 0; p < 256; p++)
            if (lut[p] > -128 && lut[p] < 127)
                first = first < 0 ? p : first, last = p;
        const int64_t a0 = last > first ? (lut[last] - lut[first]) * one / (last - first) : 0;
        int found = 0;
        for (int64_t d = 0; d < 8192 && !found; d++)
            for (int sg = 0; sg < 2 && !found; sg++) {
                const int64_t a = sg ? a0 - d : a0 + d;
                int64_t lo = INT64_MIN / 4, hi = INT64_MAX / 4; /* lo <= b < hi */
                for (int p = 0; p < 256; p++) {
                    const int64_t t = lut[p], ap = a * p;
                    if (t > -128 && lo < t * one - ap)
                        lo = t * one - ap;
                    if (t < 127 && hi > (t + 1) * one - ap)
                        hi = (t + 1) * one - ap;
                }
                if (lo < hi && a > -(1 << 22) && a < 1 << 22 && lo > -(1 << 30) && lo < 1 << 30)
                    rules[2 * c] = (int32_t)a, rules[2 * c + 1] = (int32_t)lo, found = 1;
            }
        if (!found)
            return 0;
    }
    return 1;
}

static int64_t op_delta(const qm_op *op, int fmt)
{
    uint64_t ri = (uint64_t)op->in_w * op->in_c, ro = (uint64_t)op->out_w * op->out_c;
    if (fmt == RT_WF_X8 || fmt == RT_WF_X4) /* the input is copied first: any overlap is */
        return 0;                           /* safe; 0 lets the output start anywhere below */
    switch (op->type) {
    case QM_CONV2D:
        return rt_plan_delta_rows(op->out_h, op->in_h, op->stride, op->pad,
                                  fmt == RT_WF_SP4 || fmt == RT_WF_SP8 ? 2 : 1, ri, ro);
    case QM_MAXPOOL:
    case QM_AVGPOOL: return rt_plan_delta_rows(op->out_h, op->in_h, op->stride, 0, 1, ri, ro);
    case QM_GLOBAL_AVGPOOL:
    case QM_ADD: return 0;
    default:
        return NN_ARENA_DISJOINT;
    }
}

/* Instructions per image on the M4, estimated from device/profile.sh of
 * ResNet-8's layers (within about 10%): the direct S8/S4 passes, and the
 * Winograd body with blocks of `bands` tile rows. Its parts: U per block,
 * output channel and channel pair (70 instructions; S4 rows widened first: 110), the
 * products per channel, group of four tiles and xi (5.5 per channel pair
 * plus 8), V per tile and pair (50), A^T and the stores per tile and
 * channel (69). */
static double direct_cost(const qm_op *op, int s4)
{
    const double outs = (double)op->out_h * op->out_w * op->out_c;
    return outs * (9.0 * op->in_c * (s4 ? 0.9 : 0.84) + 9.0);
}

static double wino_cost(const qm_op *op, int s4, uint32_t bands)
{
    const double P = op->in_c / 2, O = op->out_c, ntx = (op->out_w + 1) / 2;
    const uint32_t nty = ((uint32_t)op->out_h + 1) / 2;
    double groups = 0, blocks = 0;
    for (uint32_t t0 = 0; t0 < nty; t0 += bands, blocks++)
        groups += ceil((nty - t0 < bands ? nty - t0 : bands) * ntx / 4);
    const double tiles = nty * ntx;
    return blocks * O * P * (s4 ? 110 : 70) + O * groups * 16 * (5.5 * P + 8) + tiles * P * 50 +
           O * tiles * 69;
}

/* The targets whose kernels grow the arena when --arena-limit allows:
 * the DSP cores but the M55 (its Helium S8 body and S4 passes are faster
 * than widening and than Winograd's portable C there). */
static int dsp_plans(const rtb_options *opt)
{
    return rtb_target_has_dsp(opt->target) && opt->target != RT_TARGET_CORTEX_M55;
}

/* The M4's instructions per weight that rt_widen_s4 takes. */
#define WIDEN_COST 2.0

/* S4 convs that a DSP core (not the M55, whose Helium S4 passes are fast)
 * widens to S8 in its scratch (rt_conv_s4_widen_fits), each in turn, when
 * the arena stays within the limit (as plan_wino's) and the estimate says
 * the S8 body and the widening take fewer instructions than the S4 body.
 * The S4 bodies then compile out if every S4 conv is widened. */
static nn_status plan_widen(const qm_model *m, const rtb_options *opt, rtb_image *out,
                            nn_arena_buf *bufs, int nb, const nn_arena_op *pops, const int *scb,
                            uint64_t *arena, nn_error *err)
{
    if (!dsp_plans(opt))
        return NN_OK;
    const uint64_t limit = opt->arena_limit > *arena ? opt->arena_limit : *arena;
    out->s4_panel = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        rtb_op_info *oi = &out->ops[i];
        if (op->type != QM_CONV2D || oi->fmt != RT_WF_S4 || scb[i] < 0)
            continue;
        const rt_window win = {(uint8_t)op->kernel, (uint8_t)op->stride, (uint8_t)op->pad};
        const rt_dims din = {(uint16_t)op->in_h, (uint16_t)op->in_w, (uint16_t)op->in_c};
        const rt_dims dout = {(uint16_t)op->out_h, (uint16_t)op->out_w, (uint16_t)op->out_c};
        const uint32_t wb = rt_conv2d_widen_bytes(&win, &din, &dout);
        const uint32_t s8 = rt_conv2d_scratch_best(&win, &din, &dout, RT_WF_S8, oi->fused);
        const uint32_t had = bufs[scb[i]].bytes;
        /* Winograd's convs widen a row at a time (plan_wino), not the layer */
        const int wino = rt_conv2d_wino_bytes(&win, &din, &dout, RT_WF_S4, oi->fused, 1) != 0;
        /* at least what every runtime's S4 body needs: the image stays valid
         * for all (the host checks and runs it) */
        const uint32_t s4 = oi->fused ? rt_conv2d_add_scratch_bytes(&win, &din, &dout, RT_WF_S4)
                                      : rt_conv2d_scratch_bytes(&win, &din, &dout, RT_WF_S4);
        const double n_w = (double)op->out_c * op->kernel * op->kernel * op->in_c;
        if (!wino && wb != UINT32_MAX && s8 != UINT32_MAX && (uint64_t)wb + s8 <= 0x7ffffff8u &&
            direct_cost(op, 0) + WIDEN_COST * n_w < direct_cost(op, 1)) {
            uint64_t a;
            bufs[scb[i]].bytes = wb + s8 > s4 ? wb + s8 : s4;
            nn_status st = nn_arena_plan(bufs, nb, pops, m->n_ops, &a, err);
            if (st != NN_OK)
                return st;
            if (a <= limit)
                oi->widen = out->widen = 1, oi->scratch_bytes = bufs[scb[i]].bytes;
            else
                bufs[scb[i]].bytes = had;
        }
        if (!oi->widen && !rt_conv_s4_passes_fit(&win, &din, &dout, oi->fused, had))
            out->s4_panel = 1;
    }
    return nn_arena_plan(bufs, nb, pops, m->n_ops, arena, err);
}

/* The Winograd body's scratch (DSP cores) for the convs it takes, each in
 * turn, with as many bands per block as keep the arena within the limit
 * (opt->arena_limit, or the arena of the direct bodies), when that is
 * estimated to save a tenth of the direct body's instructions; the others
 * keep the direct bodies' scratch. Not on the M55: its S8 convs take the
 * Helium body, and its build has only the portable C of Winograd's loops
 * (slower than the S4 passes). Sets out->wino when a conv got it; *arena is
 * the final plan's. */
static nn_status plan_wino(const qm_model *m, const rtb_options *opt, rtb_image *out,
                           nn_arena_buf *bufs, int nb, const nn_arena_op *pops, const int *scb,
                           uint64_t *arena, nn_error *err)
{
    if (!dsp_plans(opt))
        return NN_OK;
    const uint64_t limit = opt->arena_limit > *arena ? opt->arena_limit : *arena;
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        const int widen = out->ops[i].widen;
        const uint8_t fmt = widen ? RT_WF_S8 : (uint8_t)out->ops[i].fmt;
        if (op->type != QM_CONV2D || scb[i] < 0)
            continue;
        const rt_window win = {(uint8_t)op->kernel, (uint8_t)op->stride, (uint8_t)op->pad};
        const rt_dims din = {(uint16_t)op->in_h, (uint16_t)op->in_w, (uint16_t)op->in_c};
        const rt_dims dout = {(uint16_t)op->out_h, (uint16_t)op->out_w, (uint16_t)op->out_c};
        const int fused = out->ops[i].fused;
        const uint32_t direct = bufs[scb[i]].bytes; /* widened: its weights first */
        const uint32_t wb = widen ? rt_conv2d_widen_bytes(&win, &din, &dout) : 0;
        for (uint32_t b = ((uint32_t)op->out_h + 1) / 2; b >= 1; b--) {
            const uint32_t w = rt_conv2d_wino_bytes(&win, &din, &dout, fmt, fused, b);
            if (!w || w == UINT32_MAX || (uint64_t)wb + w > 0x7ffffff8u)
                break;
            const uint32_t need = wb + w;
            uint64_t a;
            bufs[scb[i]].bytes = need > direct ? need : direct;
            nn_status st = nn_arena_plan(bufs, nb, pops, m->n_ops, &a, err);
            if (st != NN_OK)
                return st;
            if (a <= limit) {
                if (wino_cost(op, fmt == RT_WF_S4, b) > 0.9 * direct_cost(op, fmt == RT_WF_S4))
                    bufs[scb[i]].bytes = direct; /* fewer bands only cost more */
                else
                    out->wino = out->ops[i].wino = 1;
                break;
            }
            bufs[scb[i]].bytes = direct;
        }
        /* the runtime takes Winograd whenever the scratch holds a band: say
         * so should the direct scratch ever hold one (it is smaller for
         * every shape measured) */
        if (rt_conv_wino_fits(&win, &din, &dout, fmt, fused, bufs[scb[i]].bytes - wb))
            out->wino = out->ops[i].wino = 1;
        out->ops[i].scratch_bytes = bufs[scb[i]].bytes;
    }
    return nn_arena_plan(bufs, nb, pops, m->n_ops, arena, err);
}

/* Marks the adds fused into the conv right before them (rtb_op_info.fused):
 * the conv's output is one of the add's inputs and nothing else reads it.
 * The conv then writes the add's output, possibly over the other input
 * (the residual), which it reads element by element in the output's order. */
static void mark_fused(const qm_model *m, const rtb_options *opt, rtb_image *out)
{
    for (int j = 1; j < m->n_ops && !opt->no_fuse; j++) {
        const qm_op *a = &m->ops[j], *c = &m->ops[j - 1];
        if (a->type != QM_ADD || c->type != QM_CONV2D || (a->input == j - 1) == (a->input2 == j - 1))
            continue;
        int readers = 0;
        for (int i = 0; i < m->n_ops; i++)
            readers += (m->ops[i].input == j - 1) + (m->ops[i].type == QM_ADD && m->ops[i].input2 == j - 1);
        if (readers == 1 && !out->ops[j - 1].fused)
            out->ops[j].fused = out->ops[j - 1].fused = 1;
    }
}

/* The residual of the add fused into conv i (the add's other input). */
static int fused_residual(const qm_model *m, int i)
{
    const qm_op *a = &m->ops[i + 1];
    return a->input == i ? a->input2 : a->input;
}

/* The add block of the add fused into conv i (rt_image.h): the conv's
 * output is the add's first operand, whichever it was in the model. */
static void add_block(nn_wbuf *q, const qm_model *m, int i)
{
    const qm_op *a = &m->ops[i + 1];
    const int first = a->input == i;
    nn_wbuf_u32(q, (uint32_t)a->add_mult[first ? 0 : 1]);
    nn_wbuf_u32(q, (uint32_t)a->add_mult[first ? 1 : 0]);
    nn_wbuf_u8(q, (uint8_t)a->add_shift);
    nn_wbuf_u8(q, (uint8_t)a->out.zero);
    nn_wbuf_u8(q, (uint8_t)qm_op_lo(a));
    nn_wbuf_u8(q, (uint8_t)qm_op_hi(a));
    nn_wbuf_u32(q, 0);
}

nn_status rtb_build(rtb_image *out, const qm_model *m, const rtb_options *opt_in, nn_error *err)
{
    memset(out, 0, sizeof *out);
    const rtb_options defaults = {RT_TARGET_GENERIC, RTB_SPARSE_AUTO, 0, RT_ISA_AUTO, 0, 0};
    const rtb_options *opt = opt_in ? opt_in : &defaults;
    if (!rtb_target_name(opt->target))
        return nn_errorf(err, NN_ERR_ARG, "unknown target %d", opt->target);
    nn_status st = check_model(m, opt, err);
    if (st != NN_OK)
        return st;
    const int n = m->n_ops;
    out->n_ops = n;
    mark_fused(m, opt, out);
    uint32_t ablk[QM_MAX_OPS] = {0}; /* a fused conv's add block, from its q_off */

    /* weights and quantization of each op, in their own buffers */
    nn_wbuf *wb = calloc((size_t)n, sizeof *wb), *qb = calloc((size_t)n, sizeof *qb);
    nn_arena_buf *bufs = calloc((size_t)(2 * n + 1), sizeof *bufs);
    nn_arena_op *pops = calloc((size_t)n, sizeof *pops);
    uint8_t *img = NULL;
    int32_t *rules = malloc(8 * (size_t)m->in_c); /* the input table as rules, if exact */
    if (!wb || !qb || !bufs || !pops || !rules) {
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory building the image");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const qm_op *op = &m->ops[i];
        rtb_op_info *oi = &out->ops[i];
        oi->type = op->type;
        oi->macs = qm_op_macs(op);
        if (!qm_is_weighted(op->type))
            continue;
        const uint32_t K = op_k(op);
        oi->nnz = count_nnz(op);
        oi->n_weights = (uint32_t)op->n_weights;
        oi->nonzero_macs = (uint64_t)oi->nnz * op->out_h * op->out_w;
        oi->fmt = encode(&wb[i], op, rtb_choose_format(op, opt->target, opt->sparse, opt->isa), &st, err);
        if (st != NN_OK)
            goto done;
        const int32_t z = zero_of(m, op->input);
        for (int o = 0; o < op->out_c; o++) {
            uint32_t sw = 0;
            for (uint32_t k = 0; k < K; k++)
                sw += (uint32_t)(int32_t)op->weights[(size_t)o * K + k];
            nn_wbuf_u32(&qb[i], (uint32_t)op->bias[o] - (uint32_t)z * sw);
        }
        for (int o = 0; o < op->out_c; o++)
            nn_wbuf_u32(&qb[i], (uint32_t)op->mult[o]);
        for (int o = 0; o < op->out_c; o++)
            nn_wbuf_u8(&qb[i], (uint8_t)op->shift[o]);
        pad4(&qb[i]);
        if (oi->fused) {
            ablk[i] = (uint32_t)qb[i].len;
            add_block(&qb[i], m, i);
        }
        if ((st = nn_wbuf_status(&wb[i], "weights", err)) != NN_OK ||
            (st = nn_wbuf_status(&qb[i], "quantization", err)) != NN_OK)
            goto done;
        oi->w_bytes = (uint32_t)wb[i].len, oi->q_bytes = (uint32_t)qb[i].len;
        out->weight_bytes += wb[i].len;
    }

    int scb[QM_MAX_OPS]; /* op i's scratch buffer, or -1 */
    /* the arena: buffer 0 the input, 1 + i op i's output, then scratch */
    int nb = n + 1;
    bufs[0] = (nn_arena_buf){(uint32_t)(m->in_c * m->in_h * m->in_w), -1, -1, -1, 0};
    for (int i = 0; i < n; i++) {
        const qm_op *op = &m->ops[i];
        bufs[1 + i] = (nn_arena_buf){(uint32_t)(op->out_c * op->out_h * op->out_w), i, i, i, 0};
    }
    bufs[n].last = n - 1;
    for (int i = 0; i < n; i++) {
        const qm_op *op = &m->ops[i];
        const int fused = out->ops[i].fused;
        if (fused && op->type == QM_ADD) { /* done by conv i - 1 */
            pops[i] = (nn_arena_op){-1, {-1, -1}, NN_ARENA_DISJOINT, NN_ARENA_DISJOINT};
            continue;
        }
        int a = 1 + op->input, b = op->type == QM_ADD ? 1 + op->input2 : -1, o = 1 + i;
        if (fused) { /* writes the add's output, reads the residual */
            b = 1 + fused_residual(m, i), o = 2 + i;
            bufs[1 + i].bytes = 0;
            bufs[o].first = bufs[o].producer = i;
        }
        if (bufs[a].last < i)
            bufs[a].last = i;
        if (b >= 0 && bufs[b].last < i)
            bufs[b].last = i;
        /* in[1] (an add's second input, a fused conv's residual) is read
         * element by element in the output's order: in place is safe */
        pops[i] = (nn_arena_op){o, {a, b}, op_delta(op, out->ops[i].fmt), b >= 0 ? 0 : NN_ARENA_DISJOINT};
        uint32_t sc = 0;
        const rt_window win = {(uint8_t)op->kernel, (uint8_t)op->stride, (uint8_t)op->pad};
        const rt_dims din = {(uint16_t)op->in_h, (uint16_t)op->in_w, (uint16_t)op->in_c};
        const rt_dims dout = {(uint16_t)op->out_h, (uint16_t)op->out_w, (uint16_t)op->out_c};
        /* cores with the DSP extension get the scratch of the fastest bodies */
        if (op->type == QM_CONV2D && rtb_target_has_dsp(opt->target))
            sc = rt_conv2d_scratch_best(&win, &din, &dout, (uint8_t)out->ops[i].fmt, fused);
        else if (op->type == QM_CONV2D)
            sc = fused ? rt_conv2d_add_scratch_bytes(&win, &din, &dout, (uint8_t)out->ops[i].fmt)
                       : rt_conv2d_scratch_bytes(&win, &din, &dout, (uint8_t)out->ops[i].fmt);
        else if (op->type == QM_DENSE)
            sc = rt_dense_scratch_bytes(&din, &dout, (uint8_t)out->ops[i].fmt);
        if (sc == UINT32_MAX) {
            st = nn_errorf(err, NN_ERR_FORMAT, "op %d: its scratch exceeds the image's limit", i);
            goto done;
        }
        out->ops[i].scratch_bytes = sc;
        if (op->type == QM_CONV2D && out->ops[i].fmt == RT_WF_S4 &&
            !rt_conv_s4_passes_fit(&win, &din, &dout, fused, sc))
            out->s4_panel = 1;
        scb[i] = sc ? nb : -1;
        if (sc)
            bufs[nb++] = (nn_arena_buf){sc, i, i, -1, 0};
    }
    uint64_t arena;
    if ((st = nn_arena_plan(bufs, nb, pops, n, &arena, err)) != NN_OK)
        goto done;
    if ((st = plan_widen(m, opt, out, bufs, nb, pops, scb, &arena, err)) != NN_OK ||
        (st = plan_wino(m, opt, out, bufs, nb, pops, scb, &arena, err)) != NN_OK)
        goto done;
    if (!nn_arena_valid(bufs, nb, pops, n)) { /* a planner bug, never a model's fault */
        st = nn_errorf(err, NN_ERR_ARG, "internal error: invalid arena plan");
        goto done;
    }
    if (arena > 0x7ffffff8u) {
        st = nn_errorf(err, NN_ERR_FORMAT, "the arena (%llu bytes) exceeds the image's limit",
                       (unsigned long long)arena);
        goto done;
    }
    out->arena_bytes = arena;
    out->arena_lower_bound = nn_arena_lower_bound(bufs, nb, pops, n);

    /* layout: header, op table, input table, then per op q and w */
    int n_img = 0;
    for (int i = 0; i < n; i++)
        n_img += !(out->ops[i].fused && m->ops[i].type == QM_ADD);
    out->image_ops = n_img;
    size_t ops_off = RT_HDR_BYTES, lut_off = ops_off + (size_t)RT_OP_BYTES * n_img;
    const int rule = input_rules(m->input_lut, m->in_c, rules);
    size_t pos = lut_off + (size_t)m->in_c * (rule ? 8 : 256);
    pos = (pos + 3) & ~(size_t)3;
    size_t q_off[QM_MAX_OPS], w_off[QM_MAX_OPS];
    for (int i = 0; i < n; i++) {
        q_off[i] = pos, pos += qb[i].len;
        w_off[i] = pos, pos += wb[i].len;
    }
    size_t total = (pos + 7) & ~(size_t)7;
    if (total > RT_MAX_IMAGE_BYTES) {
        st = nn_errorf(err, NN_ERR_FORMAT, "the image would take %zu bytes (limit %u)", total,
                       RT_MAX_IMAGE_BYTES);
        goto done;
    }
    if (posix_memalign((void **)&img, 8, total) != 0) {
        img = NULL;
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory for a %zu-byte image", total);
        goto done;
    }
    memset(img, 0, total);
    uint64_t macs = 0, nzm = 0;
    int scratch_i = n + 1, ri = 0;
    for (int i = 0; i < n; i++) {
        const qm_op *op = &m->ops[i];
        const int fused = out->ops[i].fused;
        macs += out->ops[i].macs;
        if (fused && op->type == QM_ADD) {
            out->ops[i].in_off = out->ops[i].out_off = (uint32_t)bufs[1 + i].off;
            out->ops[i].out_bytes = bufs[1 + i].bytes;
            continue;
        }
        const int o = fused ? 2 + i : 1 + i; /* a fused conv writes the add's output */
        uint8_t *r = img + ops_off + (size_t)RT_OP_BYTES * ri++;
        const int weighted = qm_is_weighted(op->type);
        const int windowed = op->type == QM_CONV2D || op->type == QM_DEPTHWISE ||
                             op->type == QM_MAXPOOL || op->type == QM_AVGPOOL;
        r[RT_O_TYPE] = (uint8_t)op->type;
        r[RT_O_WFMT] = (uint8_t)(weighted ? out->ops[i].fmt : RT_WF_NONE);
        r[RT_O_FLAGS] = (uint8_t)((op->relu ? RT_OPF_RELU : 0) | (fused ? RT_OPF_ADD : 0));
        if (windowed)
            r[RT_O_KERNEL] = (uint8_t)op->kernel, r[RT_O_STRIDE] = (uint8_t)op->stride,
            r[RT_O_PAD] = (uint8_t)op->pad;
        r[RT_O_IN_ZERO] = (uint8_t)zero_of(m, op->input);
        if (op->type == QM_ADD)
            r[RT_O_IN2_ZERO] = (uint8_t)zero_of(m, op->input2);
        if (fused) {
            r[RT_O_IN2_ZERO] = (uint8_t)zero_of(m, fused_residual(m, i));
            set32(r + RT_O_IN2_OFF, (uint32_t)bufs[1 + fused_residual(m, i)].off);
        }
        r[RT_O_OUT_ZERO] = (uint8_t)op->out.zero;
        r[RT_O_LO] = (uint8_t)qm_op_lo(op);
        if (op->type == QM_CONV2D && qm_op_lo(op) > -128)
            out->conv_lo = 1;
        r[RT_O_HI] = (uint8_t)qm_op_hi(op);
        set16(r + RT_O_IN_H, (uint32_t)op->in_h), set16(r + RT_O_IN_W, (uint32_t)op->in_w);
        set16(r + RT_O_IN_C, (uint32_t)op->in_c), set16(r + RT_O_OUT_H, (uint32_t)op->out_h);
        set16(r + RT_O_OUT_W, (uint32_t)op->out_w), set16(r + RT_O_OUT_C, (uint32_t)op->out_c);
        set32(r + RT_O_IN_OFF, (uint32_t)bufs[1 + op->input].off);
        if (op->type == QM_ADD)
            set32(r + RT_O_IN2_OFF, (uint32_t)bufs[1 + op->input2].off);
        set32(r + RT_O_OUT_OFF, (uint32_t)bufs[o].off);
        if (out->ops[i].scratch_bytes) {
            set32(r + RT_O_SCRATCH_OFF, (uint32_t)bufs[scratch_i].off);
            set32(r + RT_O_SCRATCH_BYTES, out->ops[i].scratch_bytes);
            out->ops[i].scratch_off = (uint32_t)bufs[scratch_i++].off;
        }
        out->ops[i].in_off = (uint32_t)bufs[1 + op->input].off;
        out->ops[i].out_off = (uint32_t)bufs[o].off;
        out->ops[i].out_bytes = bufs[o].bytes;
        if (weighted) {
            set32(r + RT_O_W_OFF, (uint32_t)w_off[i]), set32(r + RT_O_W_BYTES, (uint32_t)wb[i].len);
            set32(r + RT_O_Q_OFF, (uint32_t)q_off[i]);
            if (out->ops[i].fmt == RT_WF_SP4 || out->ops[i].fmt == RT_WF_SP8)
                set32(r + RT_O_AUX0, out->ops[i].nnz);
            if (fused)
                set32(r + RT_O_AUX1, (uint32_t)(q_off[i] + ablk[i]));
            memcpy(img + q_off[i], qb[i].data, qb[i].len);
            memcpy(img + w_off[i], wb[i].data, wb[i].len);
        } else if (op->type == QM_ADD) {
            set32(r + RT_O_Q_OFF, (uint32_t)op->add_shift);
            set32(r + RT_O_AUX0, (uint32_t)op->add_mult[0]);
            set32(r + RT_O_AUX1, (uint32_t)op->add_mult[1]);
        }
        nzm += weighted ? out->ops[i].nonzero_macs : 0;
    }
    if (rule)
        for (int c = 0; c < 2 * m->in_c; c++)
            set32(img + lut_off + 4 * c, (uint32_t)rules[c]);
    else
        memcpy(img + lut_off, m->input_lut, (size_t)m->in_c * 256);
    img[RT_H_FLAGS] = rule ? RT_HF_INPUT_RULE : 0;
    const qm_op *last = &m->ops[n - 1];
    set32(img + RT_H_MAGIC, RT_MAGIC);
    set16(img + RT_H_VERSION, RT_VERSION);
    set16(img + RT_H_HEADER_BYTES, RT_HDR_BYTES);
    set32(img + RT_H_IMAGE_BYTES, (uint32_t)total);
    set32(img + RT_H_ARENA_BYTES, (uint32_t)arena);
    img[RT_H_TARGET] = (uint8_t)opt->target;
    set16(img + RT_H_N_OPS, (uint32_t)n_img);
    set16(img + RT_H_IN_C, (uint32_t)m->in_c), set16(img + RT_H_IN_H, (uint32_t)m->in_h);
    set16(img + RT_H_IN_W, (uint32_t)m->in_w), set16(img + RT_H_NUM_CLASSES, (uint32_t)m->num_classes);
    set32(img + RT_H_LUT_OFF, (uint32_t)lut_off), set32(img + RT_H_OPS_OFF, (uint32_t)ops_off);
    set32(img + RT_H_INPUT_OFF, (uint32_t)bufs[0].off);
    set32(img + RT_H_OUTPUT_OFF, (uint32_t)bufs[n].off);
    set32(img + RT_H_IN_SCALE, fbits(m->in.scale)), set32(img + RT_H_OUT_SCALE, fbits(last->out.scale));
    img[RT_H_IN_ZERO] = (uint8_t)m->in.zero, img[RT_H_OUT_ZERO] = (uint8_t)last->out.zero;
    set32(img + RT_H_MACS, sat32(macs)), set32(img + RT_H_NONZERO_MACS, sat32(nzm));
    set32(img + RT_H_WEIGHT_BYTES, sat32(out->weight_bytes));
    set32(img + RT_H_CRC, nn_crc32(img + 16, total - 16));
    out->data = img, out->bytes = total;
    out->macs = macs, out->nonzero_macs = nzm;
    img = NULL;
    st = NN_OK;
done:
    for (int i = 0; wb && i < n; i++)
        nn_wbuf_free(&wb[i]);
    for (int i = 0; qb && i < n; i++)
        nn_wbuf_free(&qb[i]);
    free(wb), free(qb), free(bufs), free(pops), free(img), free(rules);
    if (st != NN_OK)
        memset(out, 0, sizeof *out);
    return st;
}

void rtb_free(rtb_image *img)
{
    free(img->data);
    memset(img, 0, sizeof *img);
}
