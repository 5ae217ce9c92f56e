/* fz_qcheck.c - see fz_qcheck.h. */
#include "fz_qcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize/qref.h"
#include "format/wcodec.h"
#include "export/rt_build.h"
#include "runtime/rt.h"
#include "runtime/rt_image.h"
#include "fz_util.h"

uint64_t fzq_cost(const qm_model *m)
{
    uint64_t s = (uint64_t)m->in_c * m->in_h * m->in_w;
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        uint64_t out = (uint64_t)op->out_c * op->out_h * op->out_w;
        uint64_t in = (uint64_t)op->in_c * op->in_h * op->in_w;
        switch (op->type) {
        case QM_CONV2D: s += out * op->kernel * op->kernel * op->in_c; break;
        case QM_DEPTHWISE: s += out * op->kernel * op->kernel; break;
        case QM_DENSE: s += out * in; break;
        case QM_MAXPOOL:
        case QM_AVGPOOL: s += out * op->kernel * op->kernel; break;
        default: s += in; break;
        }
        s += out;
    }
    return s;
}

static const rt_isa ISAS[] = {RT_ISA_C, RT_ISA_AVX2, RT_ISA_AVX512_VNNI};

/* Image variant v: the host's layouts with sparse policy AUTO / NEVER /
 * ALWAYS, or the generic (device) layouts. */
static rtb_options variant(int v, rt_isa isa)
{
    const rtb_options o = {v == 3 ? RT_TARGET_GENERIC : rtb_host_target(),
                           v == 3 ? RTB_SPARSE_AUTO : (rtb_sparse)v, 0, isa, 0, 0};
    return o;
}

void fzq_check_engines(const qm_model *m, const uint8_t *pixels, int n, unsigned variants)
{
    const size_t in_size = (size_t)m->in_c * m->in_h * m->in_w;
    const size_t nc = (size_t)m->num_classes;
    int8_t *scratch = malloc(qm_ref_scratch_bytes(m));
    int8_t *want = malloc((size_t)n * nc), *got = malloc((size_t)n * nc);
    if (!scratch || !want || !got)
        fz_fail("out of memory for the reference run");
    for (int i = 0; i < n; i++) {
        qm_ref_run(m, pixels + (size_t)i * in_size, scratch);
        memcpy(want + (size_t)i * nc, qm_ref_tensor(m, scratch, m->n_ops - 1), nc);
    }
    for (size_t k = 0; k < sizeof ISAS / sizeof ISAS[0]; k++) {
        if (!rt_isa_supported(ISAS[k]))
            continue;
        for (int v = 0; v < 4; v++) {
            if (!(variants >> (4 * k + v) & 1))
                continue;
            const rtb_options opt = variant(v, ISAS[k]);
            rtb_image img;
            nn_error err;
            nn_status st = rtb_build(&img, m, &opt, &err);
            /* the image's limits (16-bit shapes, 2 GB) are below qmodel.h's */
            if (st == NN_ERR_NOMEM || st == NN_ERR_FORMAT)
                continue;
            if (st != NN_OK)
                fz_fail("%s variant %d: rtb_build: %s", rt_isa_name(ISAS[k]), v, err.msg);
            rt_info info;
            rt_status rs = rt_image_check(img.data, img.bytes, &info);
            if (rs != RT_OK)
                fz_fail("%s variant %d: the built image fails its check: %s (op %d, offset %u)",
                        rt_isa_name(ISAS[k]), v, rt_status_str(rs), info.bad_op, info.bad_offset);
            const size_t ab = (img.arena_bytes + 7) & ~(size_t)7;
            uint8_t *arena = aligned_alloc(8, ab ? ab : 8);
            if (!arena)
                fz_fail("out of memory for a %zu-byte arena", ab);
            memset(arena, 0x5a + 17 * v, ab); /* stale contents must not matter */
            memset(got, 0x7f, (size_t)n * nc);
            for (int i = 0; i < n; i++)
                if (rt_run_isa(img.data, arena, ab, pixels + (size_t)i * in_size, got + i * nc,
                               ISAS[k]) != RT_OK)
                    fz_fail("rt_run_isa refused valid arguments");
            for (size_t j = 0; j < (size_t)n * nc; j++)
                if (got[j] != want[j])
                    fz_fail("%s variant %d (last op in format %d): image %zu logit %zu is %d, the "
                            "reference says %d",
                            rt_isa_name(ISAS[k]), v, img.ops[m->n_ops - 1].fmt, j / nc, j % nc,
                            got[j], want[j]);
            free(arena);
            rtb_free(&img);
        }
    }
    free(scratch);
    free(want);
    free(got);
}

#define DIFF(cond, ...)                                                                        \
    do {                                                                                       \
        if (cond) {                                                                            \
            snprintf(why, cap, __VA_ARGS__);                                                   \
            return 0;                                                                          \
        }                                                                                      \
    } while (0)

int fzq_models_equal(const qm_model *a, const qm_model *b, char *why, size_t cap)
{
    DIFF(a->in_c != b->in_c || a->in_h != b->in_h || a->in_w != b->in_w ||
             a->num_classes != b->num_classes || a->n_ops != b->n_ops,
         "model shapes or op counts differ");
    DIFF(memcmp(&a->in.scale, &b->in.scale, 4) || a->in.zero != b->in.zero,
         "input quantization differs");
    DIFF(memcmp(a->input_lut, b->input_lut, (size_t)a->in_c * 256), "input tables differ");
    for (int i = 0; i < a->n_ops; i++) {
        const qm_op *x = &a->ops[i], *y = &b->ops[i];
        DIFF(x->type != y->type || x->input != y->input ||
                 (x->type == QM_ADD && x->input2 != y->input2) || x->in_c != y->in_c ||
                 x->in_h != y->in_h || x->in_w != y->in_w || x->out_c != y->out_c ||
                 x->out_h != y->out_h || x->out_w != y->out_w || x->relu != y->relu,
             "op %d: type, inputs or shapes differ", i);
        DIFF((x->type == QM_CONV2D || x->type == QM_MAXPOOL || x->type == QM_AVGPOOL) &&
                 (x->kernel != y->kernel || x->stride != y->stride || x->pad != y->pad),
             "op %d: window differs", i);
        DIFF(memcmp(&x->out.scale, &y->out.scale, 4) || x->out.zero != y->out.zero,
             "op %d: output quantization differs", i);
        if (x->type == QM_ADD)
            DIFF(x->add_mult[0] != y->add_mult[0] || x->add_mult[1] != y->add_mult[1] ||
                     x->add_shift != y->add_shift,
                 "op %d: add parameters differ", i);
        if (x->type != QM_CONV2D && x->type != QM_DENSE)
            continue;
        size_t oc = (size_t)x->out_c;
        DIFF(x->weight_bits != y->weight_bits || x->n_weights != y->n_weights,
             "op %d: weight bits or counts differ", i);
        DIFF(memcmp(x->weights, y->weights, x->n_weights), "op %d: weights differ", i);
        DIFF(memcmp(x->bias, y->bias, oc * 4), "op %d: biases differ", i);
        DIFF(memcmp(x->w_scale, y->w_scale, oc * 4), "op %d: weight scales differ", i);
        DIFF(memcmp(x->mult, y->mult, oc * 4), "op %d: multipliers differ", i);
        DIFF(memcmp(x->shift, y->shift, oc), "op %d: shifts differ", i);
    }
    return 1;
}

static int files_equal(const iotc_model *a, const iotc_model *b, char *why, size_t cap)
{
    if (!fzq_models_equal(&a->m, &b->m, why, cap))
        return 0;
    /* the file keeps the input's channels only */
    DIFF(memcmp(a->mean, b->mean, (size_t)a->m.in_c * sizeof a->mean[0]) ||
             memcmp(a->std, b->std, (size_t)a->m.in_c * sizeof a->std[0]),
         "normalization differs");
    DIFF(a->n_meta != b->n_meta, "metadata counts differ");
    for (int k = 0; k < a->n_meta; k++)
        DIFF(strcmp(a->meta_key[k], b->meta_key[k]) || strcmp(a->meta_value[k], b->meta_value[k]),
             "metadata entry %d differs", k);
    for (int i = 0; i < a->m.n_ops; i++)
        DIFF(a->src_layer[i] != b->src_layer[i] || strcmp(a->name[i], b->name[i]),
             "op %d: source layer or name differs", i);
    return 1;
}

#undef DIFF

void fzq_check_roundtrip(iotc_model *f)
{
    nn_wbuf w;
    nn_wbuf_init(&w);
    nn_error err;
    if (iotc_encode(f, &w, &err) != NN_OK)
        fz_fail("iotc_encode refused a valid model: %s", err.msg);
    iotc_model *g = malloc(sizeof *g);
    if (!g)
        fz_fail("out of memory");
    if (iotc_decode(g, w.data, w.len, "roundtrip.iotc", &err) != NN_OK) {
        fz_dump("roundtrip.iotc", w.data, w.len);
        fz_fail("a file iotc_encode wrote does not load: %s", err.msg);
    }
    char why[160];
    if (!files_equal(f, g, why, sizeof why)) {
        fz_dump("roundtrip.iotc", w.data, w.len);
        fz_fail(".iotc round trip: %s", why);
    }
    if (g->file_bytes != w.len)
        fz_fail(".iotc round trip: the loader counts %llu bytes of %zu",
                (unsigned long long)g->file_bytes, w.len);
    iotc_free(g);
    free(g);
    nn_wbuf_free(&w);
}

void fzq_check_codecs(const qm_model *m, unsigned pick)
{
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        if (!qm_is_weighted(op->type))
            continue;
        const wc_encoding e = (wc_encoding)((pick + (unsigned)i) % WC_COUNT);
        nn_wbuf w;
        nn_wbuf_init(&w);
        wc_encode(&w, e, op->weights, op->n_weights, (size_t)op->out_c, iotc_codec_kernel(op),
                  op->weight_bits);
        int8_t *back = malloc(op->n_weights);
        if (w.failed || !back)
            fz_fail("out of memory encoding weights");
        nn_rbuf r;
        nn_rbuf_init(&r, w.data, w.len, 0, "codec", "weights");
        nn_error err;
        memset(back, 0x55, op->n_weights);
        if (wc_decode(&r, e, back, op->n_weights, (size_t)op->out_c, iotc_codec_kernel(op),
                      op->weight_bits, &err) != NN_OK)
            fz_fail("op %d: encoding %s does not decode: %s", i, wc_encoding_name(e), err.msg);
        if (nn_rbuf_left(&r) != 0 || memcmp(back, op->weights, op->n_weights))
            fz_fail("op %d: encoding %s does not round-trip", i, wc_encoding_name(e));
        nn_wbuf_free(&w);
        free(back);
    }
}
