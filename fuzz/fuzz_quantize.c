/* fuzz_quantize.c - the float and quantize paths on random small float
 * networks (fz_gen.h: conv2d, batchnorm, relu, pools, dense, dropout,
 * flatten, residual adds; random weights, batch-norm statistics and
 * normalization):
 *   - float: nn_exec (libnn/nn_exec.c and the layer kernels) forward in
 *     inference mode, then a training forward and backward;
 *   - quantize: qz_quantize_model (batch-norm / ReLU folding in
 *     qz_lower.c, calibration by min/max, percentile or MSE in qz_calib.c,
 *     4/8-bit weights, per-layer overrides and automatic bits in
 *     qz_quant.c / qz_auto.c) under a random config;
 *   - what the quantizer builds must pass qm_model_validate and
 *     iotc_check_accumulators, run bit-identically on the reference
 *     interpreter and every int8 kernel ISA (one variant each, picked by the
 *     input) and (a quarter of the inputs) round-trip through an .iotc file.
 * Nothing may crash or trip a sanitizer; a quantizer error is fine when it
 * explains itself.
 *
 * Input: the generator's choices (spec, parameters, images, config). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "quantize/quantize.h"
#include "libnn/nn_exec.h"
#include "fz_gen.h"
#include "fz_qcheck.h"
#include "fz_util.h"

static void float_path(nn_model *m, const uint8_t *pix, const uint8_t *labels, int n, fz_data *d)
{
    nn_exec *ex = NULL;
    nn_error err;
    if (nn_exec_create(&ex, m, n, 1, 1, &err) != NN_OK)
        fz_fail("nn_exec_create on a valid model: %s", err.msg);
    const int k = m->spec.num_classes;
    nn_exec_load_images(ex, pix, NULL, n, NULL, NULL, 0);
    nn_exec_forward(ex, n, 0, 0, 0);
    nn_exec_load_images(ex, pix, NULL, n, NULL, NULL, 0);
    const float *lg = nn_exec_forward(ex, n, 1, fz_u32(d), fz_u8(d));
    float *dl = malloc((size_t)n * k * sizeof *dl);
    if (!dl)
        fz_fail("out of memory");
    for (int i = 0; i < n; i++) /* d(loss)/d(logits) of a softmax cross-entropy, roughly */
        for (int j = 0; j < k; j++)
            dl[i * k + j] = (isfinite(lg[i * k + j]) ? 0.1f : 0.0f) - (j == labels[i]);
    nn_exec_backward(ex, dl, n);
    free(dl);
    nn_exec_free(ex);
}

static void pick_config(qz_config *c, const nn_model *m, fz_data *d)
{
    qz_config_defaults(c);
    c->method = (qz_method)(fz_u8(d) % 3);
    c->percentile = 50.0 + (double)fz_range(d, 1, 5000) / 100.0;
    c->weight_bits = fz_u8(d) & 1 ? 4 : 8;
    for (int i = 0; i < m->n_nodes && c->n_overrides < NN_MAX_LAYERS; i++) {
        nn_layer_type t = m->nodes[i].spec.type;
        if ((t == NN_LAYER_CONV2D || t == NN_LAYER_DENSE || t == NN_LAYER_DEPTHWISE_CONV2D) &&
            fz_chance(d, 48)) {
            c->override_layer[c->n_overrides] = i;
            c->override_bits[c->n_overrides++] = fz_u8(d) & 1 ? 4 : 8;
        }
    }
    if (fz_chance(d, 32)) {
        c->auto_bits = 1, c->weight_bits = 8;
        c->max_drop = (double)fz_range(d, 0, 100) / 10.0;
    }
}

static void quantize_path(const nn_model *m, const uint8_t *pix, const uint8_t *labels, int n,
                          fz_data *d)
{
    qz_config cfg;
    pick_config(&cfg, m, d);
    uint32_t index[4];
    for (int i = 0; i < n; i++)
        index[i] = (uint32_t)i;
    iotc_model *f = malloc(sizeof *f);
    if (!f)
        fz_fail("out of memory");
    iotc_init(f);
    nn_error err;
    memset(&err, 0, sizeof err);
    const qz_data data = {.images = pix, .labels = labels, .index = index, .n = n};
    nn_status st = qz_quantize_model(&f->m, NULL, m, &cfg, &data, 1, &err);
    if (st != NN_OK) {
        if (!err.msg[0])
            fz_fail("qz_quantize_model failed (%d) without a message", (int)st);
        free(f);
        return;
    }
    if (qm_model_validate(&f->m, &err) != NN_OK || iotc_check_accumulators(&f->m, &err) != NN_OK)
        fz_fail("the quantizer built an invalid model: %s", err.msg);
    fzq_check_engines(&f->m, pix, n, fzq_one_variant_per_isa(fz_u8(d)));
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        f->mean[c] = m->mean[c], f->std[c] = m->std[c];
    if (fz_chance(d, 64)) /* a quarter of the inputs, as in fuzz_qdiff.c */
        fzq_check_roundtrip(f);
    iotc_delete(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_data d;
    fz_init(&d, data, size);
    nn_model m;
    if (fzg_float_model(&m, &d) != 0)
        return 0;
    const int n = (int)fz_range(&d, 1, 4);
    uint8_t *pix = fzg_pixels(&d, n, m.spec.in_c, m.spec.in_h, m.spec.in_w);
    uint8_t labels[4];
    for (int i = 0; i < n; i++)
        labels[i] = (uint8_t)(fz_u8(&d) % m.spec.num_classes);
    float_path(&m, pix, labels, n, &d);
    quantize_path(&m, pix, labels, n, &d);
    free(pix);
    nn_model_free(&m);
    return 0;
}
