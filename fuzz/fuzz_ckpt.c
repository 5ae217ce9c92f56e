/* fuzz_ckpt.c - the float checkpoint loader (format/ckpt_read.c, container.c:
 * ckpt_decode: framing, ARCH / PARM / STAT / OPTM / TRAN / CONF,
 * nn_model_count / nn_model_build on the stored architecture, the
 * optimizer's own validation).
 *
 * Input: one control byte, then the file. Control bit 0: recompute the
 * section CRCs first. A checkpoint that loads must then
 *   - have consistent shapes (every size positive and the product of its
 *     dimensions);
 *   - save and load again (ckpt_save, atomic write to a private
 *     folder) with every parameter, state value, moment, counter and the
 *     config text identical (bitwise: NaN payloads too);
 *   - run forward in inference mode through nn_exec on one image (when its
 *     size is small: a valid architecture may be huge). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/ckpt.h"
#include "libnn/nn_exec.h"
#include "fz_util.h"

#define RUN_MACS 1000000     /* forward pass worth running            */
#define RUN_FLOATS 1000000   /* activations of one image              */

static int same_floats(const float *a, const float *b, size_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

static void check_roundtrip(const ckpt_file *ck)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/roundtrip.ckpt", fz_private_dir());
    nn_error err;
    if (ckpt_save(path, &ck->model, ck->has_optim ? &ck->optim : NULL,
                  ck->has_train ? &ck->train : NULL, ck->config_json, &ck->classes, &err) != NN_OK)
        fz_fail("saving a loaded checkpoint failed: %s", err.msg);
    ckpt_file back;
    if (ckpt_load(&back, path, &err) != NN_OK)
        fz_fail("a saved checkpoint does not load: %s", err.msg);
    const nn_model *a = &ck->model, *b = &back.model;
    if (a->n_params != b->n_params || a->n_state != b->n_state ||
        !same_floats(a->params, b->params, a->n_params) ||
        !same_floats(a->state, b->state, a->n_state) || memcmp(a->mean, b->mean, sizeof a->mean) ||
        memcmp(a->std, b->std, sizeof a->std) || a->spec.n_layers != b->spec.n_layers ||
        memcmp(a->spec.layers, b->spec.layers, (size_t)a->spec.n_layers * sizeof a->spec.layers[0]))
        fz_fail("checkpoint round trip: the model differs");
    const nn_optim *o = &ck->optim, *ob = &back.optim;
    if (ck->has_optim != back.has_optim || ck->has_train != back.has_train ||
        (ck->has_optim && (o->t != ob->t || !same_floats(o->m, ob->m, o->n) ||
                           (o->v && !same_floats(o->v, ob->v, o->n)))) ||
        (ck->has_train && memcmp(&ck->train, &back.train, sizeof ck->train)) ||
        (!ck->config_json) != (!back.config_json) ||
        (ck->config_json && strcmp(ck->config_json, back.config_json)))
        fz_fail("checkpoint round trip: optimizer, counters or config differ");
    ckpt_free(&back);
}

/* What every user of a built model relies on: positive shapes whose
 * products are the sizes, inputs that point backwards. */
static void check_shapes(const nn_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (nd->in_c < 1 || nd->in_h < 1 || nd->in_w < 1 || nd->out_c < 1 || nd->out_h < 1 ||
            nd->out_w < 1 || nd->in_size != (size_t)nd->in_c * nd->in_h * nd->in_w ||
            nd->out_size != (size_t)nd->out_c * nd->out_h * nd->out_w ||
            nd->spec.input < NN_INPUT_NODE || nd->spec.input >= i)
            fz_fail("layer %d: inconsistent shape %dx%dx%d -> %dx%dx%d (sizes %zu, %zu)", i,
                    nd->in_c, nd->in_h, nd->in_w, nd->out_c, nd->out_h, nd->out_w, nd->in_size,
                    nd->out_size);
    }
}

static void run_forward(nn_model *m, const uint8_t *bytes, size_t n)
{
    uint64_t floats = 0;
    for (int i = 0; i < m->n_nodes; i++)
        floats += m->nodes[i].out_size;
    if (nn_model_macs(m) > RUN_MACS || floats > RUN_FLOATS)
        return;
    size_t in = (size_t)m->spec.in_c * m->spec.in_h * m->spec.in_w;
    uint8_t *pix = malloc(in);
    if (!pix)
        fz_fail("out of memory");
    for (size_t k = 0; k < in; k++)
        pix[k] = n ? bytes[k % n] : 0;
    nn_exec *ex;
    nn_error err;
    if (nn_exec_create(&ex, m, 1, 1, 0, &err) == NN_OK) {
        nn_exec_load_images(ex, pix, NULL, 1, NULL, NULL, 0);
        nn_exec_forward(ex, 1, 0, 0, 0);
        nn_exec_free(ex);
    } else if (!err.msg[0]) {
        fz_fail("nn_exec_create failed without a message");
    }
    free(pix);
}

static void check_file(const uint8_t *buf, size_t n, uint8_t ctrl)
{
    (void)ctrl; /* bit 0 (CRCs recomputed) is all a checkpoint uses */
    ckpt_file ck;
    nn_error err;
    memset(&err, 0, sizeof err);
    if (ckpt_decode(&ck, buf, n, "fuzz.ckpt", &err) != NN_OK) {
        if (!err.msg[0] || ck.model.params || ck.config_json)
            fz_fail("a failed load must leave a message and an empty checkpoint");
    } else {
        check_shapes(&ck.model);
        check_roundtrip(&ck);
        run_forward(&ck.model, buf, n);
        ckpt_free(&ck);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_framed_run(data, size, "model.ckpt", check_file);
}
