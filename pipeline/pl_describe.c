/* pl_describe.c - what a model file holds (pl_describe.h). */
#include "pl_describe.h"

#include <stdlib.h>
#include <string.h>

#include "quantize/mstats.h"
#include "export/rt_build.h"
#include "export/rt_host.h"
#include "libnn/nn_io.h"

static int weighted(const qm_op *op) { return qm_is_weighted(op->type); }

nn_status pl_iotc_totals_of(const iotc_model *f, pl_iotc_totals *t, nn_error *err)
{
    const qm_model *m = &f->m;
    rth_model h;
    nn_status st = rth_open(&h, m, RT_ISA_AUTO, err);
    if (st != NN_OK)
        return st;
    *t = (pl_iotc_totals){0, 0, qm_model_macs(m), rth_arena_bytes(&h), rt_isa_name(h.isa),
                          rtb_target_name(rtb_host_target()), f->file_bytes};
    rth_close(&h);
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        if (!weighted(op))
            continue;
        t->parameters += op->n_weights + (uint64_t)op->out_c;
        t->nonzero += qm_op_nonzero(op);
        for (int o = 0; o < op->out_c; o++)
            t->nonzero += op->bias[o] != 0;
    }
    return NN_OK;
}

static nn_status describe_iotc(pl_description *d, const char *path, const uint8_t *data,
                               size_t len, nn_error *err)
{
    if (!(d->iotc = malloc(sizeof *d->iotc)))
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    iotc_init(d->iotc);
    nn_status st = iotc_decode(d->iotc, data, len, path, err);
    return st != NN_OK ? st : pl_iotc_totals_of(d->iotc, &d->totals, err);
}

static nn_status describe_ckpt(pl_description *d, const char *path, const uint8_t *data,
                               size_t len, nn_error *err)
{
    nn_status st = ckpt_decode(&d->ckpt, data, len, path, err);
    if (st != NN_OK)
        return st;
    d->version = CKPT_VERSION; /* the only one ckpt_decode reads */
    const nn_model *m = &d->ckpt.model;
    d->nonzero = ms_count_nonzero(m->params, m->n_params);
    d->macs = nn_model_macs(m);
    d->arena_bytes = ms_float_activation_bytes(m);
    if (!(d->layer_nonzero = calloc((size_t)m->n_nodes + 1, sizeof *d->layer_nonzero)))
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        d->layer_nonzero[i] = ms_count_nonzero(m->params + nd->w.off, nd->w.n) +
                              ms_count_nonzero(m->params + nd->b.off, nd->b.n);
    }
    return NN_OK;
}

nn_status pl_describe(const char *path, pl_description *d, nn_error *err)
{
    memset(d, 0, sizeof *d);
    uint8_t *data;
    size_t len;
    /* The format from the magic; each loader then validates the whole file. */
    nn_status st = nn_read_file(path, &data, &len, (uint64_t)1 << 36, err);
    if (st != NN_OK)
        return st;
    if (len >= 8 && memcmp(data, IOTC_MAGIC, 8) == 0) {
        d->kind = PL_MODEL_IOTC;
        st = describe_iotc(d, path, data, len, err);
        if (st == NN_OK)
            d->classes_source = pl_iotc_classes(d->iotc, &d->classes);
    } else if (len >= 8 && memcmp(data, CKPT_MAGIC, 8) == 0) {
        d->kind = PL_MODEL_CKPT;
        st = describe_ckpt(d, path, data, len, err);
        if (st == NN_OK)
            d->classes_source = pl_ckpt_classes(&d->ckpt, &d->classes);
    } else {
        st = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: offset 0: not an iotcnn model (expected the magic \"%s\" of a .iotc "
                       "file or \"%s\" of a checkpoint)",
                       path, IOTC_MAGIC, CKPT_MAGIC);
    }
    free(data);
    if (st != NN_OK)
        pl_description_free(d);
    return st;
}

void pl_description_free(pl_description *d)
{
    iotc_delete(d->iotc);
    ckpt_free(&d->ckpt);
    free(d->layer_nonzero);
    memset(d, 0, sizeof *d);
}
