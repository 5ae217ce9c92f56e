/* rt_image.c - rt_image_check: everything rt_run relies on, checked before
 * the first inference, reading only inside [image, image + image_bytes).
 *
 * What it proves: the header and every op record are well formed; every
 * arena region an op reads or writes (input, second input, output, scratch)
 * lies inside arena_bytes and scratch is large enough and 8-aligned; every
 * image region (input table, quantization, weights) lies inside the image
 * and is 4-aligned; every quantization constant is in range; every sparse
 * weight stream parses exactly to its end and addresses only valid inputs
 * or panel taps (so no kernel can read outside its input or scratch). What
 * it cannot prove: that the builder wired the tensors as the model meant
 * (the ops name arena offsets, not tensor ids); a forged image with a valid
 * CRC can compute garbage, but not read or write out of bounds. */
#include "rt_internal.h"

/* The validator runs once, at start-up: GCC optimizes it for size (1.4 KB
 * less flash on a Cortex-M4 than -O2). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("Os")
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the runtime reads the image's u16 streams natively: little-endian targets only"
#endif

const char *rt_status_str(rt_status st)
{
    switch (st) {
    case RT_OK: return "ok";
    case RT_E_ARG: return "bad argument (NULL, misaligned or too small buffer)";
    case RT_E_MAGIC: return "not a deploy image (bad magic)";
    case RT_E_VERSION: return "unsupported image version";
    case RT_E_TRUNCATED: return "image truncated";
    case RT_E_CRC: return "image checksum mismatch";
    case RT_E_FORMAT: return "malformed image";
    case RT_E_UNSUPPORTED: return "image needs a kernel this runtime build leaves out";
    }
    return "unknown status";
}

/* CRC-32 (IEEE, reflected), four bits at a time from a 64-byte table. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, uint32_t n)
{
    static const uint32_t T[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
        0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
        0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu};
    crc = ~crc;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ T[crc & 15];
        crc = (crc >> 4) ^ T[crc & 15];
    }
    return ~crc;
}

typedef struct {
    const uint8_t *im;
    uint32_t n;     /* image_bytes                   */
    uint32_t arena; /* arena_bytes                   */
    rt_info *info;
    uint32_t base;  /* offset of the op record        */
    int op;
    uint32_t version;
} checker;

static rt_status fail(checker *k, rt_status st, uint32_t field)
{
    if (k->info) {
        k->info->bad_offset = k->base + field;
        k->info->bad_op = k->op;
    }
    return st;
}

/* [off, off + len) inside [0, limit). */
static int inside(uint64_t off, uint64_t len, uint64_t limit) { return off <= limit && len <= limit - off; }

/* The add block of a fused conv2d at image offset a (rt_image.h). */
static rt_status check_add_block(checker *k, uint32_t a)
{
    if ((a & 3) || a < RT_HDR_BYTES || !inside(a, RT_ADD_BLOCK_BYTES, k->n))
        return fail(k, RT_E_FORMAT, RT_O_AUX1);
    const uint8_t *b = k->im + a;
    k->base = a; /* the failing field's offset is in the block */
    if (rt_rd32(b + RT_A_MULT) > 0x7fffffffu)
        return fail(k, RT_E_FORMAT, RT_A_MULT);
    if (rt_rd32(b + RT_A_MULT2) > 0x7fffffffu)
        return fail(k, RT_E_FORMAT, RT_A_MULT2);
    if (b[RT_A_SHIFT] < 1 || b[RT_A_SHIFT] > 62)
        return fail(k, RT_E_FORMAT, RT_A_SHIFT);
    if ((int8_t)b[RT_A_LO] > (int8_t)b[RT_A_HI])
        return fail(k, RT_E_FORMAT, RT_A_LO);
    if (rt_rd32(b + RT_A_RESERVED))
        return fail(k, RT_E_FORMAT, RT_A_RESERVED);
    return RT_OK;
}


/* ---- weight streams ----------------------------------------------------------------- */

typedef struct {
    uint32_t k;                 /* kernel (conv) or 0 (dense)         */
    uint32_t s, wq, chan_b, slot_b;
    uint32_t limit;             /* dense: K                            */
} addr_space;

/* 1 when a is a tap address of the panel (conv) or an input index (dense). */
static int valid_addr(const addr_space *a, uint32_t addr)
{
    if (!a->k)
        return addr < a->limit;
    if (addr & 3 || addr / a->slot_b >= a->k)
        return 0;
    uint32_t r = addr % a->slot_b % a->chan_b;
    uint32_t f = r / (a->wq * 4), i = r % (a->wq * 4) / 4;
    return i * a->s + f < a->k;
}

/* SP4: returns RT_OK and the non-zero count, or the failure. */
static rt_status check_sp4(checker *k, const uint8_t *w, uint32_t bytes, uint32_t O,
                           const addr_space *as, uint32_t *nnz)
{
    uint32_t pos = 0, count = 0;
    const uint32_t maxd = as->k ? RT_SP4_MAX_DELTA_CONV : RT_SP4_MAX_DELTA_DENSE;
    for (uint32_t o = 0; o < O; o++) {
        if (pos + 2 > bytes)
            return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
        uint32_t nb = rt_rd16(w + pos), addr = 0, first = 1;
        pos += 2;
        if (nb == 0)
            return fail(k, RT_E_FORMAT, RT_O_W_OFF);
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t sum = 0;
            if (pos + 2 > bytes)
                return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
            const uint32_t m = rt_rd16(w + pos);
            pos += 2;
            if ((uint64_t)pos + 2ull * m > bytes)
                return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
            for (uint32_t q = 0; q < m; q++, pos += 2) {
                const uint32_t e = rt_rd16(w + pos), d = e >> 4;
                const int32_t wv = (int32_t)((e & 15) ^ 8) - 8;
                if (d > maxd || wv == -8 || (!first && d == 0))
                    return fail(k, RT_E_FORMAT, RT_O_W_OFF);
                addr += d, first = 0;
                if (!valid_addr(as, addr))
                    return fail(k, RT_E_FORMAT, RT_O_W_OFF);
                sum += (uint32_t)(wv < 0 ? -wv : wv);
                count += wv != 0;
                if (as->k && sum > RT_SP4_BLOCK_ABS_SUM)
                    return fail(k, RT_E_FORMAT, RT_O_W_OFF);
            }
        }
    }
    /* zero padding to the payload's end, at most 2 bytes */
    if (bytes - pos > 2 || (bytes - pos == 2 && rt_rd16(w + pos) != 0))
        return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
    *nnz = count;
    return RT_OK;
}

static rt_status check_sp8(checker *k, const uint8_t *w, uint32_t bytes, uint32_t O,
                           const addr_space *as, uint32_t *nnz)
{
    uint32_t pos = 0, count = 0;
    for (uint32_t o = 0; o < O; o++) {
        if (pos + 2 > bytes)
            return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
        uint32_t n = rt_rd16(w + pos), addr = 0;
        pos += 2;
        if ((uint64_t)pos + 3ull * n + (n & 1) > bytes)
            return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t d = rt_rd16(w + pos + 2 * i);
            if (i > 0 && d == 0)
                return fail(k, RT_E_FORMAT, RT_O_W_OFF);
            addr += d;
            if (!valid_addr(as, addr) || w[pos + 2 * n + i] == 0)
                return fail(k, RT_E_FORMAT, RT_O_W_OFF);
        }
        pos += 3 * n;
        if (n & 1) {
            if (w[pos] != 0)
                return fail(k, RT_E_FORMAT, RT_O_W_OFF);
            pos++;
        }
        count += n;
    }
    if (bytes - pos > 3)
        return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
    for (; pos < bytes; pos++)
        if (w[pos])
            return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
    *nnz = count;
    return RT_OK;
}

#if RT_WITH_X
/* X8/X4: padding weights (channels from oc, taps from `taps` in each
 * kernel row of kcp) zero, 4-bit weights in [-7, 7] (the AVX2 body's int16
 * partial sums rely on it), wsum[o] the sum of channel o's weights: then
 * every body computes the same bytes. */
static rt_status check_x(checker *k, const uint8_t *w, uint32_t op, uint32_t oc, uint32_t kx,
                         uint32_t kcp, uint32_t taps, int four)
{
    const int8_t *wb = (const int8_t *)(w + 4u * op);
    for (uint32_t o = 0; o < op; o++) {
        uint32_t sum = 0;
        const int8_t *wo = wb + (size_t)(o / RT_X_OCB) * kx * RT_X_OCB + (o % RT_X_OCB) * RT_X_KG;
        for (uint32_t kk = 0; kk < kx; kk++) {
            const int32_t v = wo[(size_t)(kk / RT_X_KG) * (RT_X_OCB * RT_X_KG) + kk % RT_X_KG];
            if ((v && (o >= oc || kk % kcp >= taps)) || (four && (v < -7 || v > 7)))
                return fail(k, RT_E_FORMAT, RT_O_W_OFF);
            sum += (uint32_t)v;
        }
        if (rt_rd32(w + 4u * o) != sum)
            return fail(k, RT_E_FORMAT, RT_O_W_OFF);
    }
    return RT_OK;
}
#endif

/* ---- one op -------------------------------------------------------------------------- */

static int fmt_built(uint32_t type, uint32_t fmt)
{
    if (type == RT_OP_CONV2D)
        return (fmt == RT_WF_S8 && RT_WITH_CONV_S8) ||
               (fmt == RT_WF_S4 && (RT_WITH_CONV_S4 || RT_WIDEN || RT_WINO_S4)) ||
               (fmt == RT_WF_SP4 && RT_WITH_CONV_SP4) || (fmt == RT_WF_SP8 && RT_WITH_CONV_SP8) ||
               (fmt == RT_WF_X8 && RT_WITH_CONV_X8) || (fmt == RT_WF_X4 && RT_WITH_CONV_X4);
    if (type == RT_OP_DENSE)
        return (fmt == RT_WF_S8 && RT_WITH_DENSE_S8) || (fmt == RT_WF_S4 && RT_WITH_DENSE_S4) ||
               (fmt == RT_WF_SP4 && RT_WITH_DENSE_SP4) || (fmt == RT_WF_SP8 && RT_WITH_DENSE_SP8) ||
               (fmt == RT_WF_X8 && RT_WITH_DENSE_X8) || (fmt == RT_WF_X4 && RT_WITH_DENSE_X4);
    if (type == RT_OP_DEPTHWISE)
        return fmt == RT_WF_S8 && RT_WITH_DEPTHWISE;
    return (type == RT_OP_MAXPOOL && RT_WITH_MAXPOOL) || (type == RT_OP_AVGPOOL && RT_WITH_AVGPOOL) ||
           (type == RT_OP_GLOBAL_AVGPOOL && RT_WITH_GLOBAL_AVGPOOL) || (type == RT_OP_ADD && RT_WITH_ADD);
}

static rt_status check_op(checker *k, const uint8_t *r, int last, uint32_t output_off,
                          uint32_t num_classes)
{
    const uint32_t type = r[RT_O_TYPE], fmt = r[RT_O_WFMT];
    const uint32_t kern = r[RT_O_KERNEL], s = r[RT_O_STRIDE], pad = r[RT_O_PAD];
    const uint32_t ih = rt_rd16(r + RT_O_IN_H), iw = rt_rd16(r + RT_O_IN_W), ic = rt_rd16(r + RT_O_IN_C);
    const uint32_t oh = rt_rd16(r + RT_O_OUT_H), ow = rt_rd16(r + RT_O_OUT_W), oc = rt_rd16(r + RT_O_OUT_C);
    const int dw = type == RT_OP_DEPTHWISE;
    const int weighted = type == RT_OP_CONV2D || type == RT_OP_DENSE || dw;
    const int windowed = type == RT_OP_CONV2D || type == RT_OP_MAXPOOL || type == RT_OP_AVGPOOL || dw;
    const int padded = type == RT_OP_CONV2D || dw;
    const int fused = (r[RT_O_FLAGS] & RT_OPF_ADD) != 0;

    if (type < RT_OP_CONV2D || type > RT_OP_DEPTHWISE)
        return fail(k, RT_E_FORMAT, RT_O_TYPE);
    if (weighted ? (fmt < RT_WF_S8 || fmt > RT_WF_X4 || (dw && fmt != RT_WF_S8)) : fmt != RT_WF_NONE)
        return fail(k, RT_E_FORMAT, RT_O_WFMT);
    if (r[RT_O_FLAGS] > (k->version >= 2 ? RT_OPF_RELU | RT_OPF_ADD : RT_OPF_RELU) ||
        (fused && type != RT_OP_CONV2D))
        return fail(k, RT_E_FORMAT, RT_O_FLAGS);
    if (r[RT_O_RESERVED] != 0)
        return fail(k, RT_E_FORMAT, RT_O_RESERVED);
    if ((int8_t)r[RT_O_LO] > (int8_t)r[RT_O_HI])
        return fail(k, RT_E_FORMAT, RT_O_LO);
    if (!ih || !iw || !ic || !oh || !ow || !oc)
        return fail(k, RT_E_FORMAT, RT_O_IN_H);
    if (type != RT_OP_ADD && !fused && (rt_rd32(r + RT_O_IN2_OFF) || r[RT_O_IN2_ZERO]))
        return fail(k, RT_E_FORMAT, RT_O_IN2_OFF);

    /* shapes */
    if (windowed) {
        if (kern < 1 || s < 1 || pad >= kern || (!padded && pad))
            return fail(k, RT_E_FORMAT, RT_O_KERNEL);
        if (ih + 2 * pad < kern || iw + 2 * pad < kern)
            return fail(k, RT_E_FORMAT, RT_O_KERNEL);
        if (oh != (ih + 2 * pad - kern) / s + 1 || ow != (iw + 2 * pad - kern) / s + 1 ||
            (type != RT_OP_CONV2D && oc != ic))
            return fail(k, RT_E_FORMAT, RT_O_OUT_H);
    } else {
        if (kern || s || pad)
            return fail(k, RT_E_FORMAT, RT_O_KERNEL);
        if (type == RT_OP_ADD ? (oh != ih || ow != iw || oc != ic)
                              : (oh != 1 || ow != 1 || (type == RT_OP_GLOBAL_AVGPOOL && oc != ic)))
            return fail(k, RT_E_FORMAT, RT_O_OUT_H);
    }
    if (!fmt_built(type, fmt))
        return fail(k, RT_E_UNSUPPORTED, weighted ? RT_O_WFMT : RT_O_TYPE);
    if (fused && !RT_WITH_ADD)
        return fail(k, RT_E_UNSUPPORTED, RT_O_FLAGS);

    /* arena regions */
    const uint64_t in_sz = (uint64_t)ih * iw * ic, out_sz = (uint64_t)oh * ow * oc;
    const uint32_t in_off = rt_rd32(r + RT_O_IN_OFF), out_off = rt_rd32(r + RT_O_OUT_OFF);
    const uint32_t sc_off = rt_rd32(r + RT_O_SCRATCH_OFF), sc_bytes = rt_rd32(r + RT_O_SCRATCH_BYTES);
    if (!inside(in_off, in_sz, k->arena))
        return fail(k, RT_E_FORMAT, RT_O_IN_OFF);
    if (!inside(out_off, out_sz, k->arena))
        return fail(k, RT_E_FORMAT, RT_O_OUT_OFF);
    const uint32_t in2_off = rt_rd32(r + RT_O_IN2_OFF);
    if (type == RT_OP_ADD && !inside(in2_off, in_sz, k->arena))
        return fail(k, RT_E_FORMAT, RT_O_IN2_OFF);
    if (fused && !inside(in2_off, out_sz, k->arena)) /* the residual has out's shape */
        return fail(k, RT_E_FORMAT, RT_O_IN2_OFF);
    if (last && (out_off != output_off || out_sz != num_classes))
        return fail(k, RT_E_FORMAT, RT_O_OUT_OFF);

    uint32_t need = 0;
    const rt_window win = {(uint8_t)kern, (uint8_t)s, (uint8_t)pad};
    const rt_dims din = {(uint16_t)ih, (uint16_t)iw, (uint16_t)ic};
    const rt_dims dout = {(uint16_t)oh, (uint16_t)ow, (uint16_t)oc};
    if (type == RT_OP_CONV2D) {
        /* panel and tap counts stay far below 2^32: u16 dims, u8 window */
        if ((uint64_t)kern * kern * ic > 0xffffffu)
            return fail(k, RT_E_FORMAT, RT_O_IN_C);
        need = fused ? rt_conv2d_add_scratch_bytes(&win, &din, &dout, (uint8_t)fmt)
                     : rt_conv2d_scratch_bytes(&win, &din, &dout, (uint8_t)fmt);
        /* an S4 conv that the DSP cores widen, or run by Winograd */
        int widened = 0;
#if RT_WIDEN
        widened = fmt == RT_WF_S4 && rt_conv_s4_widen_fits(&win, &din, &dout, fused, sc_bytes);
#endif
#if RT_WINO_S4
        widened |= fmt == RT_WF_S4 && rt_conv_wino_fits(&win, &din, &dout, RT_WF_S4, fused, sc_bytes);
#endif
        (void)widened; /* read only by the builds below */
#if RT_WITH_CONV_S4 && !RT_WITH_CONV_S4_PANEL
        /* a build with only the passes' S4 bodies (rt_config.h) */
        if (fmt == RT_WF_S4 && !widened &&
            !rt_conv_s4_passes_fit(&win, &din, &dout, fused, sc_bytes))
            return fail(k, RT_E_UNSUPPORTED, RT_O_WFMT);
#endif
#if !RT_WITH_CONV_S4 /* a build whose S4 convs are all widened or Winograd's (rt_config.h) */
        if (fmt == RT_WF_S4 && !widened)
            return fail(k, RT_E_UNSUPPORTED, RT_O_WFMT);
#endif
    }
#if RT_WITH_X
    if (fmt == RT_WF_X8 || fmt == RT_WF_X4) {
        if (in_sz > 0xffffffu) /* dense: every K below fits the kernels' u32 */
            return fail(k, RT_E_FORMAT, RT_O_IN_C);
        if (type == RT_OP_DENSE)
            need = rt_dense_scratch_bytes(&din, &dout, (uint8_t)fmt);
    }
#endif
    if (sc_bytes < need || (sc_bytes && (sc_off & 7)) || !inside(sc_off, sc_bytes, k->arena))
        return fail(k, RT_E_FORMAT, RT_O_SCRATCH_BYTES);
    if (!sc_bytes && sc_off)
        return fail(k, RT_E_FORMAT, RT_O_SCRATCH_OFF);
    if (sc_bytes && ((sc_off < in_off + in_sz && in_off < sc_off + sc_bytes) ||
                     (sc_off < out_off + out_sz && out_off < sc_off + sc_bytes) ||
                     (fused && sc_off < in2_off + out_sz && in2_off < sc_off + sc_bytes)))
        return fail(k, RT_E_FORMAT, RT_O_SCRATCH_OFF);

    if (type == RT_OP_ADD) {
        uint32_t sh = rt_rd32(r + RT_O_Q_OFF);
        if (sh < 1 || sh > 62)
            return fail(k, RT_E_FORMAT, RT_O_Q_OFF);
        if (rt_rd32(r + RT_O_AUX0) > 0x7fffffffu || rt_rd32(r + RT_O_AUX1) > 0x7fffffffu)
            return fail(k, RT_E_FORMAT, RT_O_AUX0);
        if (rt_rd32(r + RT_O_W_OFF) || rt_rd32(r + RT_O_W_BYTES))
            return fail(k, RT_E_FORMAT, RT_O_W_OFF);
        return RT_OK;
    }
    if (!weighted) {
        if (rt_rd32(r + RT_O_W_OFF) || rt_rd32(r + RT_O_W_BYTES) || rt_rd32(r + RT_O_Q_OFF) ||
            rt_rd32(r + RT_O_AUX0) || rt_rd32(r + RT_O_AUX1))
            return fail(k, RT_E_FORMAT, RT_O_W_OFF);
        if ((int8_t)r[RT_O_OUT_ZERO] != (int8_t)r[RT_O_IN_ZERO]) /* pools keep it */
            return fail(k, RT_E_FORMAT, RT_O_OUT_ZERO);
        if ((int8_t)r[RT_O_HI] != 127) /* pools clamp below only */
            return fail(k, RT_E_FORMAT, RT_O_HI);
        return RT_OK;
    }

    /* quantization */
    const uint32_t q_off = rt_rd32(r + RT_O_Q_OFF);
    if ((q_off & 3) || !inside(q_off, 8ull * oc + ((oc + 3) & ~3u), k->n) || q_off < RT_HDR_BYTES)
        return fail(k, RT_E_FORMAT, RT_O_Q_OFF);
    for (uint32_t o = 0; o < oc; o++) {
        uint32_t m = rt_rd32(k->im + q_off + 4 * (oc + o));
        uint32_t sh = k->im[q_off + 8 * oc + o];
        if (m < 0x40000000u || m > 0x7fffffffu || sh < 1 || sh > 62)
            return fail(k, RT_E_FORMAT, RT_O_Q_OFF);
    }
    for (uint32_t o = oc; o < ((oc + 3) & ~3u); o++)
        if (k->im[q_off + 8 * oc + o])
            return fail(k, RT_E_FORMAT, RT_O_Q_OFF);
    if (fused) {
        const uint32_t base = k->base;
        rt_status st = check_add_block(k, rt_rd32(r + RT_O_AUX1));
        if (st != RT_OK)
            return st;
        k->base = base;
    } else if (rt_rd32(r + RT_O_AUX1)) {
        return fail(k, RT_E_FORMAT, RT_O_AUX1);
    }

    /* weights */
    const uint32_t w_off = rt_rd32(r + RT_O_W_OFF), w_bytes = rt_rd32(r + RT_O_W_BYTES);
    if ((w_off & 3) || (w_bytes & 3) || w_off < RT_HDR_BYTES || !inside(w_off, w_bytes, k->n))
        return fail(k, RT_E_FORMAT, RT_O_W_OFF);
    const uint64_t K = type == RT_OP_CONV2D ? (uint64_t)kern * kern * ic : dw ? (uint64_t)kern * kern : in_sz;
    const uint8_t *w = k->im + w_off;
    uint32_t nnz = 0;
    addr_space as = {0, 1, 0, 0, 0, (uint32_t)K};
    if (type == RT_OP_CONV2D) {
        rt_panel_geom g = rt_panel(&win, &din);
        as.k = kern, as.s = s, as.wq = g.wq, as.chan_b = g.chan_b, as.slot_b = g.slot_b;
    }
    if (dw) /* tap-major, the channels contiguous, one padded block */
        return w_bytes == ((K * oc + 3) & ~3ull) ? RT_OK : fail(k, RT_E_FORMAT, RT_O_W_BYTES);
    switch (fmt) {
    case RT_WF_S8:
        if (w_bytes != (uint64_t)oc * ((K + 3) & ~3ull))
            return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
        break;
    case RT_WF_S4:
        if (w_bytes != (uint64_t)oc * ((K + 7) / 8) * 4)
            return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
        for (uint32_t o = 0; o < oc; o++) /* no -8: 4-bit weights are in [-7, 7] */
            for (uint64_t t = 0; t < K; t++)
                if (((w[o * ((K + 7) / 8) * 4 + t / 2] >> (4 * (t & 1))) & 15) == 8)
                    return fail(k, RT_E_FORMAT, RT_O_W_OFF);
        break;
    case RT_WF_SP4: {
        rt_status st = check_sp4(k, w, w_bytes, oc, &as, &nnz);
        if (st != RT_OK)
            return st;
        if (nnz != rt_rd32(r + RT_O_AUX0))
            return fail(k, RT_E_FORMAT, RT_O_AUX0);
        break;
    }
    case RT_WF_SP8: {
        rt_status st = check_sp8(k, w, w_bytes, oc, &as, &nnz);
        if (st != RT_OK)
            return st;
        if (nnz != rt_rd32(r + RT_O_AUX0))
            return fail(k, RT_E_FORMAT, RT_O_AUX0);
        break;
    }
#if RT_WITH_X
    case RT_WF_X8:
    case RT_WF_X4: {
        /* every body reads every weight of the layout, padding included */
        const uint32_t taps = type == RT_OP_CONV2D ? kern * ic : (uint32_t)K;
        const uint32_t kr = type == RT_OP_CONV2D ? kern : 1, kcp = rt_x_kcp(1, taps);
        const uint32_t op = rt_x_op(oc), kx = kr * kcp;
        if (w_bytes != 4ull * op + (uint64_t)op * kx)
            return fail(k, RT_E_FORMAT, RT_O_W_BYTES);
        if (rt_rd32(r + RT_O_AUX0))
            return fail(k, RT_E_FORMAT, RT_O_AUX0);
        return check_x(k, w, op, oc, kx, kcp, taps, fmt == RT_WF_X4);
    }
#endif
    }
    return RT_OK;
}

/* ---- the image ------------------------------------------------------------------------ */

rt_status rt_image_check(const void *image, size_t image_bytes, rt_info *info)
{
    checker k = {(const uint8_t *)image, 0, 0, info, 0, -1, 0};
    if (info) {
        memset(info, 0, sizeof *info);
        info->bad_op = -1;
    }
    if (!image || ((uintptr_t)image & 3))
        return RT_E_ARG;
    const uint8_t *im = (const uint8_t *)image;
    if (image_bytes < 8)
        return fail(&k, RT_E_TRUNCATED, 0);
    if (rt_rd32(im + RT_H_MAGIC) != RT_MAGIC)
        return fail(&k, RT_E_MAGIC, RT_H_MAGIC);
    k.version = rt_rd16(im + RT_H_VERSION);
    if (k.version < RT_VERSION_MIN || k.version > RT_VERSION)
        return fail(&k, RT_E_VERSION, RT_H_VERSION);
    if (image_bytes < RT_HDR_BYTES)
        return fail(&k, RT_E_TRUNCATED, 0);
    const uint32_t n = rt_rd32(im + RT_H_IMAGE_BYTES);
    if (rt_rd16(im + RT_H_HEADER_BYTES) != RT_HDR_BYTES)
        return fail(&k, RT_E_FORMAT, RT_H_HEADER_BYTES);
    if (n < RT_HDR_BYTES || (n & 7) || n > RT_MAX_IMAGE_BYTES)
        return fail(&k, RT_E_FORMAT, RT_H_IMAGE_BYTES);
    if (n > image_bytes)
        return fail(&k, RT_E_TRUNCATED, RT_H_IMAGE_BYTES);
    if (crc32_update(0, im + 16, n - 16) != rt_rd32(im + RT_H_CRC))
        return fail(&k, RT_E_CRC, RT_H_CRC);
    k.n = n;
    k.arena = rt_rd32(im + RT_H_ARENA_BYTES);

    rt_info tmp, *I = info ? info : &tmp;
    I->image_bytes = n, I->arena_bytes = k.arena;
    I->target = im[RT_H_TARGET];
    I->n_ops = (uint16_t)rt_rd16(im + RT_H_N_OPS);
    I->in_c = (uint16_t)rt_rd16(im + RT_H_IN_C), I->in_h = (uint16_t)rt_rd16(im + RT_H_IN_H);
    I->in_w = (uint16_t)rt_rd16(im + RT_H_IN_W);
    I->num_classes = (uint16_t)rt_rd16(im + RT_H_NUM_CLASSES);
    I->in_scale_bits = rt_rd32(im + RT_H_IN_SCALE), I->out_scale_bits = rt_rd32(im + RT_H_OUT_SCALE);
    I->in_zero = (int8_t)im[RT_H_IN_ZERO], I->out_zero = (int8_t)im[RT_H_OUT_ZERO];
    I->macs = rt_rd32(im + RT_H_MACS), I->nonzero_macs = rt_rd32(im + RT_H_NONZERO_MACS);
    I->weight_bytes = rt_rd32(im + RT_H_WEIGHT_BYTES);

    if (I->target > RT_TARGET_X86_64)
        return fail(&k, RT_E_FORMAT, RT_H_TARGET);
    if ((im[RT_H_FLAGS] & ~RT_HF_INPUT_RULE) || rt_rd16(im + RT_H_RESERVED0) ||
        rt_rd32(im + RT_H_RESERVED1) || rt_rd32(im + RT_H_RESERVED1 + 4))
        return fail(&k, RT_E_FORMAT, RT_H_FLAGS);
    if (I->n_ops < 1 || I->n_ops > RT_MAX_OPS)
        return fail(&k, RT_E_FORMAT, RT_H_N_OPS);
    if (!I->in_c || !I->in_h || !I->in_w || !I->num_classes)
        return fail(&k, RT_E_FORMAT, RT_H_IN_C);
    const uint32_t lut_off = rt_rd32(im + RT_H_LUT_OFF), ops_off = rt_rd32(im + RT_H_OPS_OFF);
    const int rule = im[RT_H_FLAGS] & RT_HF_INPUT_RULE;
    if ((lut_off & 3) || lut_off < RT_HDR_BYTES ||
        !inside(lut_off, (rule ? 8ull : 256ull) * I->in_c, n))
        return fail(&k, RT_E_FORMAT, RT_H_LUT_OFF);
    for (uint32_t c = 0; rule && c < I->in_c; c++) { /* a * 255 + b fits int32 */
        const int32_t a = (int32_t)rt_rd32(im + lut_off + 8 * c);
        const int32_t b = (int32_t)rt_rd32(im + lut_off + 8 * c + 4);
        if (a <= -(1 << 22) || a >= 1 << 22 || b <= -(1 << 30) || b >= 1 << 30)
            return fail(&k, RT_E_FORMAT, lut_off + 8 * c);
    }
    if ((ops_off & 3) || ops_off < RT_HDR_BYTES || !inside(ops_off, (uint64_t)RT_OP_BYTES * I->n_ops, n))
        return fail(&k, RT_E_FORMAT, RT_H_OPS_OFF);
    const uint64_t in_sz = (uint64_t)I->in_c * I->in_h * I->in_w;
    const uint32_t input_off = rt_rd32(im + RT_H_INPUT_OFF), output_off = rt_rd32(im + RT_H_OUTPUT_OFF);
    if (!inside(input_off, in_sz, k.arena))
        return fail(&k, RT_E_FORMAT, RT_H_INPUT_OFF);
    if (!inside(output_off, I->num_classes, k.arena))
        return fail(&k, RT_E_FORMAT, RT_H_OUTPUT_OFF);
    if (k.arena > 0x7ffffff8u)
        return fail(&k, RT_E_FORMAT, RT_H_ARENA_BYTES);

    for (int i = 0; i < I->n_ops; i++) {
        k.op = i;
        k.base = ops_off + (uint32_t)i * RT_OP_BYTES;
        rt_status st = check_op(&k, im + k.base, i == I->n_ops - 1, output_off, I->num_classes);
        if (st != RT_OK)
            return st;
    }
    return RT_OK;
}

uint32_t rt_arena_bytes(const void *image)
{
    return image ? rt_rd32((const uint8_t *)image + RT_H_ARENA_BYTES) : 0;
}
