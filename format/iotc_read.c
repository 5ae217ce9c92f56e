/* iotc_read.c - loading a .iotc file (layout in iotc.h).
 *
 * Order: framing of every section (lengths, CRCs, duplicate tags) first;
 * then INPT and GRPH, with every field range-checked as it is read; then
 * the allocation (qm_model_alloc re-checks the shapes chain); then each
 * Lnnn; finally the cross-checks, qm_model_validate and
 * iotc_check_accumulators. Any failure frees
 * everything and leaves "PATH: section TAG: offset N: what". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotc.h"
#include "iotc_internal.h"
#include "qio.h"
#include "qparams.h"
#include "wcodec.h"

static nn_status get_int(nn_rbuf *r, int *v, int lo, int hi, const char *field, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r), u;
    CTR_TRY(qio_get_uvar(r, &u, UINT64_MAX, field, err));
    CTR_CHECK(u >= (uint64_t)lo && u <= (uint64_t)hi, off, "%s = %llu, must be in [%d, %d]", field,
              (unsigned long long)u, lo, hi);
    *v = (int)u;
    return NN_OK;
}

static nn_status get_scale(nn_rbuf *r, float *v, const char *field, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r);
    CTR_TRY(nn_rbuf_f32(r, v, field, err));
    CTR_CHECK(isfinite(*v) && *v > 0, off, "%s = %g, must be finite and > 0", field, (double)*v);
    return NN_OK;
}

/* "op 2 (dense 'fc')", or "op 3 (add)" for an unnamed op: what messages
 * about one op's values start with. */
static const char *op_label(char *buf, size_t size, const iotc_model *f, int i)
{
    const char *type = qm_op_type_name(f->m.ops[i].type);
    if (f->name[i][0])
        snprintf(buf, size, "op %d (%s '%s')", i, type ? type : "?", f->name[i]);
    else
        snprintf(buf, size, "op %d (%s)", i, type ? type : "?");
    return buf;
}

static nn_status get_u8(nn_rbuf *r, int *v, int hi, const char *field, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r);
    uint8_t b;
    CTR_TRY(nn_rbuf_u8(r, &b, field, err));
    CTR_CHECK(b <= hi, off, "%s = %d, must be at most %d", field, b, hi);
    *v = b;
    return NN_OK;
}

static nn_status decode_meta(nn_rbuf *r, iotc_model *f, nn_error *err)
{
    int n;
    CTR_TRY(get_int(r, &n, 0, IOTC_MAX_META, "metadata count", err));
    for (int i = 0; i < n; i++) {
        int kl, vl;
        uint64_t off = nn_rbuf_offset(r);
        CTR_TRY(get_int(r, &kl, 1, IOTC_NAME_MAX - 1, "metadata key length", err));
        CTR_TRY(nn_rbuf_bytes(r, f->meta_key[i], (size_t)kl, "metadata key", err));
        f->meta_key[i][kl] = '\0';
        CTR_CHECK(iotc_valid_meta_key(f->meta_key[i], (size_t)kl), off,
                  "metadata key %d is not made of [a-z0-9_]", i);
        for (int k = 0; k < i; k++)
            CTR_CHECK(strcmp(f->meta_key[k], f->meta_key[i]) != 0, off, "duplicate metadata key %s",
                      f->meta_key[i]);
        off = nn_rbuf_offset(r);
        CTR_TRY(get_int(r, &vl, 0, 255, "metadata value length", err));
        CTR_TRY(nn_rbuf_bytes(r, f->meta_value[i], (size_t)vl, "metadata value", err));
        f->meta_value[i][vl] = '\0';
        CTR_CHECK(iotc_valid_meta_value(f->meta_value[i], (size_t)vl), off,
                  "metadata %s has control characters", f->meta_key[i]);
    }
    f->n_meta = n;
    return ctr_end_of_payload(r, err);
}

/* INPT up to the table; *lut_at receives the table's position (stored mode)
 * or NULL (derived). */
static nn_status decode_input(nn_rbuf *r, iotc_model *f, const uint8_t **lut, nn_error *err)
{
    qm_model *m = &f->m;
    CTR_TRY(get_int(r, &m->in_c, 1, QM_MAX_CHANNELS_IN, "in_c", err));
    CTR_TRY(get_int(r, &m->in_h, 1, IOTC_DIM_MAX, "in_h", err));
    CTR_TRY(get_int(r, &m->in_w, 1, IOTC_DIM_MAX, "in_w", err));
    CTR_TRY(get_int(r, &m->num_classes, 1, IOTC_CLASSES_MAX, "num_classes", err));
    CTR_TRY(get_scale(r, &m->in.scale, "input scale", err));
    int64_t z;
    CTR_TRY(qio_get_svar(r, &z, -128, 127, "input zero point", err));
    m->in.zero = (int32_t)z;
    for (int k = 0; k < 2; k++) {
        float *v = k ? f->std : f->mean;
        for (int c = 0; c < m->in_c; c++) {
            uint64_t off = nn_rbuf_offset(r);
            CTR_TRY(nn_rbuf_f32(r, &v[c], k ? "std" : "mean", err));
            CTR_CHECK(isfinite(v[c]) && (k == 0 || v[c] > 0), off,
                      "normalization %s[%d] = %g, must be %s", k ? "std" : "mean", c, (double)v[c],
                      k ? "finite and > 0" : "finite");
        }
    }
    int mode;
    CTR_TRY(get_u8(r, &mode, IOTC_LUT_DERIVED, "input table mode", err));
    *lut = NULL;
    if (mode == IOTC_LUT_STORED)
        CTR_TRY(nn_rbuf_view(r, lut, (size_t)m->in_c * 256, "input table", err));
    return ctr_end_of_payload(r, err);
}

static nn_status decode_op(nn_rbuf *r, iotc_model *f, int i, nn_error *err)
{
    qm_op *op = &f->m.ops[i];
    memset(op, 0, sizeof *op);
    uint64_t off = nn_rbuf_offset(r);
    int t;
    CTR_TRY(get_u8(r, &t, 255, "op type", err));
    CTR_CHECK(qm_op_type_name((qm_op_type)t) != NULL, off, "op %d: unknown op type code %d", i, t);
    op->type = (qm_op_type)t;
    int v;
    CTR_TRY(get_int(r, &v, 0, i, "op input", err));
    op->input = v - 1;
    op->input2 = QM_INPUT;
    if (op->type == QM_ADD) {
        CTR_TRY(get_int(r, &v, 0, i, "op input2", err));
        op->input2 = v - 1;
    }
    int *dims[6] = {&op->in_c, &op->in_h, &op->in_w, &op->out_c, &op->out_h, &op->out_w};
    for (int k = 0; k < 6; k++)
        CTR_TRY(get_int(r, dims[k], 1, IOTC_DIM_MAX, "op dimension", err));
    if (iotc_has_window(op->type)) {
        CTR_TRY(get_int(r, &op->kernel, 1, 64, "kernel", err));
        CTR_TRY(get_int(r, &op->stride, 1, 64, "stride", err));
        CTR_TRY(get_int(r, &op->pad, 0, 63, "pad", err));
    }
    CTR_TRY(get_u8(r, &op->relu, QM_ACT_RELU6, "activation (0 none, 1 relu, 2 relu6)", err));
    const uint64_t scale_off = nn_rbuf_offset(r); /* checked once the name is known */
    CTR_TRY(nn_rbuf_f32(r, &op->out.scale, "output scale", err));
    int64_t z;
    CTR_TRY(qio_get_svar(r, &z, -128, 127, "output zero point", err));
    op->out.zero = (int32_t)z;
    if (iotc_is_weighted(op->type)) {
        off = nn_rbuf_offset(r);
        CTR_TRY(get_u8(r, &op->weight_bits, 8, "weight bits", err));
        CTR_CHECK(op->weight_bits == 8 || op->weight_bits == 4, off, "op %d: weight bits %d", i,
                  op->weight_bits);
    }
    if (op->type == QM_ADD) {
        /* (the name comes later in the record: the index names the op) */
        char field[64];
        for (int k = 0; k < 2; k++) {
            snprintf(field, sizeof field, "op %d (add): multiplier[%d]", i, k);
            CTR_TRY(get_int(r, &op->add_mult[k], 0, INT32_MAX, field, err));
        }
        snprintf(field, sizeof field, "op %d (add): shift", i);
        CTR_TRY(get_int(r, &op->add_shift, 1, 62, field, err));
    }
    int64_t src;
    CTR_TRY(qio_get_svar(r, &src, -1, NN_MAX_LAYERS - 1, "source layer", err));
    f->src_layer[i] = (int)src;
    int nl;
    off = nn_rbuf_offset(r);
    CTR_TRY(get_u8(r, &nl, IOTC_NAME_MAX - 1, "name length", err));
    CTR_TRY(nn_rbuf_bytes(r, f->name[i], (size_t)nl, "name", err));
    f->name[i][nl] = '\0';
    CTR_CHECK(iotc_valid_name(f->name[i], (size_t)nl), off,
              "op %d: name is not made of [A-Za-z0-9_.-]", i);
    char label[80];
    CTR_CHECK(isfinite(op->out.scale) && op->out.scale > 0, scale_off,
              "%s: output scale = %g, must be finite and > 0", op_label(label, sizeof label, f, i),
              (double)op->out.scale);
    return NN_OK;
}

static nn_status decode_graph(nn_rbuf *r, iotc_model *f, nn_error *err)
{
    CTR_TRY(get_int(r, &f->m.n_ops, 1, QM_MAX_OPS, "op count", err));
    uint64_t total = 0;
    for (int i = 0; i < f->m.n_ops; i++) {
        uint64_t off = nn_rbuf_offset(r);
        CTR_TRY(decode_op(r, f, i, err));
        const qm_op *op = &f->m.ops[i];
        /* Bound the weights before qm_model_alloc sizes anything. */
        uint64_t n = 0;
        if (op->type == QM_CONV2D)
            n = (uint64_t)op->out_c * op->kernel * op->kernel * op->in_c;
        else if (op->type == QM_DENSE)
            n = (uint64_t)op->out_c * op->in_c * op->in_h * op->in_w;
        else if (op->type == QM_DEPTHWISE)
            n = (uint64_t)op->out_c * op->kernel * op->kernel;
        total += n;
        CTR_CHECK(n <= WC_MAX_WEIGHTS && total <= IOTC_MAX_TOTAL_WEIGHTS, off,
                  "op %d: %llu weights exceed what a .iotc file holds", i, (unsigned long long)n);
    }
    return ctr_end_of_payload(r, err);
}

static nn_status decode_layer(nn_rbuf *r, iotc_model *f, int i, nn_error *err)
{
    qm_model *m = &f->m;
    qm_op *op = &m->ops[i];
    const float in_s = op->input == QM_INPUT ? m->in.scale : m->ops[op->input].out.scale;
    char label[80];
    op_label(label, sizeof label, f, i);
    uint64_t off = nn_rbuf_offset(r);
    int flags;
    CTR_TRY(get_u8(r, &flags, 255, "flags", err));
    CTR_CHECK((flags & ~(int)(IOTC_L_SCALES16 | IOTC_L_REQUANT)) == 0, off, "unknown flags %02x",
              flags);
    for (int o = 0; o < op->out_c; o++) {
        off = nn_rbuf_offset(r);
        uint32_t bits;
        if (flags & IOTC_L_SCALES16) {
            uint8_t b[2];
            CTR_TRY(nn_rbuf_bytes(r, b, 2, "weight scale", err));
            bits = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 24;
        } else {
            CTR_TRY(nn_rbuf_u32(r, &bits, "weight scale", err));
        }
        memcpy(&op->w_scale[o], &bits, 4);
        CTR_CHECK(isfinite(op->w_scale[o]) && op->w_scale[o] > 0, off,
                  "%s: weight scale[%d] = %g, must be finite and > 0", label, o,
                  (double)op->w_scale[o]);
    }
    for (int o = 0; o < op->out_c; o++) {
        int64_t b;
        CTR_TRY(qio_get_svar(r, &b, INT32_MIN, INT32_MAX, "bias", err));
        op->bias[o] = (int32_t)b;
    }
    if (flags & IOTC_L_REQUANT) {
        for (int o = 0; o < op->out_c; o++) {
            off = nn_rbuf_offset(r);
            uint32_t u;
            CTR_TRY(nn_rbuf_u32(r, &u, "multiplier", err));
            CTR_CHECK(u >= (1u << 30) && u < (1u << 31), off,
                      "%s: multiplier[%d] = %lu, must be in [2^30, 2^31)", label, o,
                      (unsigned long)u);
            op->mult[o] = (int32_t)u;
        }
        for (int o = 0; o < op->out_c; o++) {
            int s;
            off = nn_rbuf_offset(r);
            CTR_TRY(get_u8(r, &s, 62, "shift", err));
            CTR_CHECK(s >= 1, off, "%s: shift[%d] = 0, must be in [1, 62]", label, o);
            op->shift[o] = (int8_t)s;
        }
    } else {
        for (int o = 0; o < op->out_c; o++) {
            int32_t mult, shift;
            CTR_CHECK(qp_requant(in_s, op->w_scale[o], op->out.scale, &mult, &shift) == NN_OK,
                      r->base,
                      "%s: multiplier[%d] = input scale %g * weight scale %g / output scale %g is "
                      "outside [2^-32, 2^30)",
                      label, o, (double)in_s, (double)op->w_scale[o], (double)op->out.scale);
            op->mult[o] = mult;
            op->shift[o] = (int8_t)shift;
        }
    }
    off = nn_rbuf_offset(r);
    int e;
    CTR_TRY(get_u8(r, &e, WC_COUNT - 1, "weight encoding", err));
    f->encoding[i] = e;
    CTR_TRY(wc_decode(r, (wc_encoding)e, op->weights, op->n_weights, (size_t)op->out_c,
                      iotc_codec_kernel(op), op->weight_bits, err));
    return ctr_end_of_payload(r, err);
}

/* "Lnnn" with nnn the decimal index of a weighted op -> that index, else -1
 * (a non-L tag) or -2 (an L tag that names no weighted op). */
static int layer_tag(const char *tag, const qm_model *m)
{
    if (tag[0] != 'L')
        return -1;
    int i = 0;
    for (int k = 1; k < 4; k++) {
        if (tag[k] < '0' || tag[k] > '9')
            return -1;
        i = i * 10 + (tag[k] - '0');
    }
    return i < m->n_ops && iotc_is_weighted(m->ops[i].type) ? i : -2;
}

static const ctr_section *find(const iotc_model *f, const char *tag)
{
    return ctr_find(f->sections, f->n_sections, tag);
}

/* Before anything is allocated: each conv2d / dense op has its Lnnn
 * section, long enough for the flags, a 2-byte scale and a varint bias per
 * channel and the encoding byte, so a channel count forged in GRPH cannot
 * make qm_model_alloc reserve memory the file does not pay for (weights,
 * which a sparse encoding stores in a few bytes, are bounded by
 * IOTC_MAX_TOTAL_WEIGHTS instead). */
static nn_status check_layer_sections(const iotc_model *f, const uint8_t *data, const char *path,
                                      const nn_rbuf *hr, nn_error *err)
{
    for (int i = 0; i < f->m.n_ops; i++) {
        const qm_op *op = &f->m.ops[i];
        if (!iotc_is_weighted(op->type))
            continue;
        char tag[16], what[48];
        snprintf(tag, sizeof tag, "L%03d", i);
        const ctr_section *p = find(f, tag);
        if (!p)
            return nn_rbuf_errorf(hr, 12, err, NN_ERR_FORMAT, "op %d (%s) has no weight section %s",
                                  i, qm_op_type_name(op->type), tag);
        const uint64_t need = 2 + 3 * (uint64_t)op->out_c;
        if (ctr_payload_bytes(p) < need) {
            nn_rbuf r;
            ctr_open(&r, data, p, path, what, sizeof what);
            return nn_rbuf_errorf(&r, r.base, err, NN_ERR_FORMAT,
                                  "%zu bytes cannot hold the %d channels of op %d (%s): at least "
                                  "%llu needed",
                                  r.len, op->out_c, i, qm_op_type_name(op->type),
                                  (unsigned long long)need);
        }
    }
    return NN_OK;
}

static nn_status decode_all(iotc_model *f, const uint8_t *data, size_t len, const char *path,
                            nn_error *err)
{
    CTR_TRY(ctr_scan(data, len, path, &IOTC_FORMAT, f->sections, IOTC_MAX_SECTIONS, &f->n_sections,
                     err));
    f->file_bytes = len;
    nn_rbuf hr;
    nn_rbuf_init(&hr, data, len, 0, path, "header");
    char what[48];
    nn_rbuf rb, *r = &rb;
    const ctr_section *p = find(f, "META");
    if (p) {
        ctr_open(r, data, p, path, what, sizeof what);
        CTR_TRY(decode_meta(r, f, err));
    }
    const uint8_t *lut = NULL;
    if (!(p = find(f, "INPT")))
        return ctr_missing(path, len, "INPT", err);
    ctr_open(r, data, p, path, what, sizeof what);
    CTR_TRY(decode_input(r, f, &lut, err));
    if (!(p = find(f, "GRPH")))
        return ctr_missing(path, len, "GRPH", err);
    ctr_open(r, data, p, path, what, sizeof what);
    CTR_TRY(decode_graph(r, f, err));
    if ((p = find(f, "CLSN"))) {
        ctr_open(r, data, p, path, what, sizeof what);
        CTR_TRY(cls_get(r, f->m.num_classes, &f->classes, err));
    }
    CTR_TRY(check_layer_sections(f, data, path, &hr, err));
    /* The shapes chain: qm_model_alloc checks it before allocating. */
    nn_error aerr = {{0}};
    nn_status st = qm_model_alloc(&f->m, &aerr);
    if (st != NN_OK)
        return nn_rbuf_errorf(r, r->base, err, st == NN_ERR_NOMEM ? st : NN_ERR_FORMAT, "%s",
                              aerr.msg);
    if (lut)
        memcpy(f->m.input_lut, lut, (size_t)f->m.in_c * 256);
    else
        qp_input_lut(f->m.input_lut, f->m.in_c, f->mean, f->std, f->m.in);
    /* Pools keep their input's quantization. */
    for (int i = 0; i < f->m.n_ops; i++) {
        const qm_op *op = &f->m.ops[i];
        qm_qparams in = op->input == QM_INPUT ? f->m.in : f->m.ops[op->input].out;
        if (iotc_is_pool(op->type) &&
            (memcmp(&in.scale, &op->out.scale, sizeof in.scale) != 0 || in.zero != op->out.zero))
            return nn_rbuf_errorf(r, r->base, err, NN_ERR_FORMAT,
                                  "op %d (%s): output quantization differs from its input's", i,
                                  qm_op_type_name(op->type));
    }
    /* Weights: every Lnnn (each weighted op has one: check_layer_sections),
     * each naming a weighted op. */
    for (int s = 0; s < f->n_sections; s++) {
        const char *tag = f->sections[s].tag;
        int i = layer_tag(tag, &f->m);
        if (i == -1)
            continue; /* META, INPT, GRPH, CLSN, or a newer writer's section */
        if (i == -2)
            return nn_rbuf_errorf(&hr, f->sections[s].offset, err, NN_ERR_FORMAT,
                                  "section %s names no conv2d or dense op", tag);
        ctr_open(r, data, &f->sections[s], path, what, sizeof what);
        CTR_TRY(decode_layer(r, f, i, err));
        f->op_bytes[i] = f->sections[s].bytes;
    }
    st = qm_model_validate(&f->m, &aerr);
    if (st == NN_OK)
        st = iotc_check_accumulators(&f->m, &aerr);
    if (st != NN_OK) {
        ctr_open(r, data, find(f, "GRPH"), path, what, sizeof what);
        return nn_rbuf_errorf(r, r->base, err, NN_ERR_FORMAT, "%s", aerr.msg);
    }
    return NN_OK;
}

nn_status iotc_decode(iotc_model *f, const uint8_t *data, size_t len, const char *path,
                      nn_error *err)
{
    iotc_init(f);
    nn_status st = decode_all(f, data, len, path, err);
    if (st != NN_OK) {
        iotc_free(f);
        iotc_init(f);
    }
    return st;
}

static nn_status decode_into(void *f, const uint8_t *data, size_t len, const char *path,
                             nn_error *err)
{
    return iotc_decode(f, data, len, path, err);
}

nn_status iotc_load(iotc_model *f, const char *path, nn_error *err)
{
    iotc_init(f);
    return ctr_load(f, decode_into, path, IOTC_MAX_FILE_BYTES, err);
}
