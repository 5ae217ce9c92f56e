/* iotc_write.c - serializing a quantized model into a .iotc file (the
 * layout is in iotc.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "iotc.h"
#include "iotc_internal.h"
#include "qio.h"
#include "qparams.h"
#include "wcodec.h"

/* Ends a section with the container, recording it in f->sections. */
static void section_end(iotc_model *f, nn_wbuf *w, size_t start)
{
    ctr_section s;
    s.bytes = 0;
    ctr_section_end(w, start, &s);
    if (s.bytes && f->n_sections < IOTC_MAX_SECTIONS)
        f->sections[f->n_sections++] = s;
}

static float tensor_scale(const qm_model *m, int t)
{
    return t == QM_INPUT ? m->in.scale : m->ops[t].out.scale;
}

static int same_qparams(qm_qparams a, qm_qparams b)
{
    return memcmp(&a.scale, &b.scale, sizeof a.scale) == 0 && a.zero == b.zero;
}

/* What the writer relies on beyond qm_model_validate. A model that breaks
 * it cannot be expressed in the format: NN_ERR_FORMAT, like the validator's
 * own errors (the model is bad data, whoever built it). */
static nn_status check_writable(const iotc_model *f, nn_error *err)
{
    const qm_model *m = &f->m;
    nn_status st = qm_model_validate(m, err);
    if (st == NN_OK)
        st = iotc_check_accumulators(m, err);
    if (st != NN_OK)
        return st;
    if (f->classes.n != 0 && f->classes.n != m->num_classes)
        return nn_errorf(err, NN_ERR_FORMAT, "%d class names for a model of %d classes",
                         f->classes.n, m->num_classes);
    uint64_t total = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        if (iotc_is_pool(op->type)) {
            qm_qparams in = op->input == QM_INPUT ? m->in : m->ops[op->input].out;
            if (!same_qparams(in, op->out))
                return nn_errorf(err, NN_ERR_FORMAT,
                                 "op %d (%s): a pool must keep its input's quantization", i,
                                 qm_op_type_name(op->type));
        }
        if (!iotc_valid_name(f->name[i], strnlen(f->name[i], IOTC_NAME_MAX)))
            return nn_errorf(err, NN_ERR_FORMAT,
                             "op %d: name \"%.31s\" is not 0 to %d of "
                             "[A-Za-z0-9_.-]",
                             i, f->name[i], IOTC_NAME_MAX - 1);
        if (f->src_layer[i] < -1 || f->src_layer[i] >= NN_MAX_LAYERS)
            return nn_errorf(err, NN_ERR_FORMAT, "op %d: source layer %d out of range", i,
                             f->src_layer[i]);
        total += op->n_weights;
        if (op->n_weights > WC_MAX_WEIGHTS || total > IOTC_MAX_TOTAL_WEIGHTS)
            return nn_errorf(err, NN_ERR_FORMAT, "op %d: more weights than a .iotc file holds", i);
    }
    for (int c = 0; c < m->in_c; c++)
        if (!(f->std[c] > 0) || !isfinite(f->std[c]) || !isfinite(f->mean[c]))
            return nn_errorf(err, NN_ERR_FORMAT, "channel %d: normalization mean %g, std %g", c,
                             (double)f->mean[c], (double)f->std[c]);
    return NN_OK;
}

static void put_meta(nn_wbuf *w, const iotc_model *f)
{
    qio_put_uvar(w, (uint64_t)f->n_meta);
    for (int i = 0; i < f->n_meta; i++) {
        size_t kl = strlen(f->meta_key[i]), vl = strlen(f->meta_value[i]);
        qio_put_uvar(w, kl);
        nn_wbuf_bytes(w, f->meta_key[i], kl);
        qio_put_uvar(w, vl);
        nn_wbuf_bytes(w, f->meta_value[i], vl);
    }
}

static void put_input(nn_wbuf *w, const iotc_model *f)
{
    const qm_model *m = &f->m;
    qio_put_uvar(w, (uint64_t)m->in_c);
    qio_put_uvar(w, (uint64_t)m->in_h);
    qio_put_uvar(w, (uint64_t)m->in_w);
    qio_put_uvar(w, (uint64_t)m->num_classes);
    nn_wbuf_f32(w, m->in.scale);
    qio_put_svar(w, m->in.zero);
    nn_wbuf_f32s(w, f->mean, (size_t)m->in_c);
    nn_wbuf_f32s(w, f->std, (size_t)m->in_c);
    int8_t lut[QM_MAX_CHANNELS_IN * 256];
    qp_input_lut(lut, m->in_c, f->mean, f->std, m->in);
    if (memcmp(lut, m->input_lut, (size_t)m->in_c * 256) == 0) {
        nn_wbuf_u8(w, IOTC_LUT_DERIVED);
    } else {
        nn_wbuf_u8(w, IOTC_LUT_STORED);
        nn_wbuf_bytes(w, m->input_lut, (size_t)m->in_c * 256);
    }
}

static void put_graph(nn_wbuf *w, const iotc_model *f)
{
    const qm_model *m = &f->m;
    qio_put_uvar(w, (uint64_t)m->n_ops);
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        nn_wbuf_u8(w, (uint8_t)op->type);
        qio_put_uvar(w, (uint64_t)(op->input + 1));
        if (op->type == QM_ADD)
            qio_put_uvar(w, (uint64_t)(op->input2 + 1));
        const int dims[6] = {op->in_c, op->in_h, op->in_w, op->out_c, op->out_h, op->out_w};
        for (int k = 0; k < 6; k++)
            qio_put_uvar(w, (uint64_t)dims[k]);
        if (iotc_has_window(op->type)) {
            qio_put_uvar(w, (uint64_t)op->kernel);
            qio_put_uvar(w, (uint64_t)op->stride);
            qio_put_uvar(w, (uint64_t)op->pad);
        }
        nn_wbuf_u8(w, (uint8_t)op->relu);
        nn_wbuf_f32(w, op->out.scale);
        qio_put_svar(w, op->out.zero);
        if (iotc_is_weighted(op->type))
            nn_wbuf_u8(w, (uint8_t)op->weight_bits);
        if (op->type == QM_ADD) {
            qio_put_uvar(w, (uint64_t)op->add_mult[0]);
            qio_put_uvar(w, (uint64_t)op->add_mult[1]);
            qio_put_uvar(w, (uint64_t)op->add_shift);
        }
        qio_put_svar(w, f->src_layer[i]);
        size_t nl = strnlen(f->name[i], IOTC_NAME_MAX - 1);
        nn_wbuf_u8(w, (uint8_t)nl);
        nn_wbuf_bytes(w, f->name[i], nl);
    }
}

/* The Lnnn payload of weighted op i; returns the weight encoding used. */
static int put_layer(nn_wbuf *w, const qm_model *m, int i)
{
    const qm_op *op = &m->ops[i];
    const float in_s = tensor_scale(m, op->input);
    unsigned flags = IOTC_L_SCALES16;
    for (int o = 0; o < op->out_c; o++) {
        uint32_t bits;
        memcpy(&bits, &op->w_scale[o], 4);
        if (bits & 0xffffu)
            flags &= ~IOTC_L_SCALES16;
        int32_t mult, shift;
        if (qp_requant(in_s, op->w_scale[o], op->out.scale, &mult, &shift) != NN_OK ||
            mult != op->mult[o] || shift != op->shift[o])
            flags |= IOTC_L_REQUANT;
    }
    nn_wbuf_u8(w, (uint8_t)flags);
    for (int o = 0; o < op->out_c; o++) {
        uint32_t bits;
        memcpy(&bits, &op->w_scale[o], 4);
        if (flags & IOTC_L_SCALES16) {
            uint8_t b[2] = {(uint8_t)(bits >> 16), (uint8_t)(bits >> 24)};
            nn_wbuf_bytes(w, b, 2);
        } else {
            nn_wbuf_u32(w, bits);
        }
    }
    for (int o = 0; o < op->out_c; o++)
        qio_put_svar(w, op->bias[o]);
    if (flags & IOTC_L_REQUANT) {
        for (int o = 0; o < op->out_c; o++)
            nn_wbuf_u32(w, (uint32_t)op->mult[o]);
        for (int o = 0; o < op->out_c; o++)
            nn_wbuf_u8(w, (uint8_t)op->shift[o]);
    }
    return (int)wc_encode_best(w, op->weights, op->n_weights, (size_t)op->out_c,
                               iotc_codec_kernel(op), op->weight_bits);
}

nn_status iotc_encode(iotc_model *f, nn_wbuf *out, nn_error *err)
{
    nn_status st = check_writable(f, err);
    if (st != NN_OK)
        return st;
    const qm_model *m = &f->m;
    f->n_sections = 0;
    for (int i = 0; i < QM_MAX_OPS; i++)
        f->encoding[i] = -1, f->op_bytes[i] = 0;
    int n_weighted = 0;
    for (int i = 0; i < m->n_ops; i++)
        n_weighted += iotc_is_weighted(m->ops[i].type);
    size_t start = out->len;
    ctr_put_header(out, &IOTC_FORMAT, (uint32_t)(3 + n_weighted + (f->classes.n > 0)));

    size_t at = ctr_section_begin(out, "META");
    put_meta(out, f);
    section_end(f, out, at);
    at = ctr_section_begin(out, "INPT");
    put_input(out, f);
    section_end(f, out, at);
    at = ctr_section_begin(out, "GRPH");
    put_graph(out, f);
    section_end(f, out, at);
    if (f->classes.n > 0) {
        at = ctr_section_begin(out, "CLSN");
        cls_put(out, &f->classes);
        section_end(f, out, at);
    }
    for (int i = 0; i < m->n_ops; i++) {
        if (!iotc_is_weighted(m->ops[i].type))
            continue;
        char tag[5] = {'L', (char)('0' + i / 100), (char)('0' + i / 10 % 10), (char)('0' + i % 10),
                       '\0'}; /* i < QM_MAX_OPS = 256 */
        at = ctr_section_begin(out, tag);
        f->encoding[i] = put_layer(out, m, i);
        section_end(f, out, at);
        f->op_bytes[i] = out->len - at + 12; /* header 12 before at, CRC 4 in len */
    }
    /* Offsets relative to the file, not to whatever out held before. */
    for (int s = 0; s < f->n_sections; s++)
        f->sections[s].offset -= start;
    f->file_bytes = out->len - start;
    return nn_wbuf_status(out, "the .iotc image", err);
}

nn_status iotc_save(const char *path, iotc_model *f, nn_error *err)
{
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_status st = iotc_encode(f, &w, err);
    if (st != NN_OK)
        nn_error_prefix(err, "%s", path);
    else
        st = ctr_write_file(path, &w, err);
    nn_wbuf_free(&w);
    return st;
}
