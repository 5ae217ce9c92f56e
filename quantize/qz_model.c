/* qz_model.c - the whole quantizer (quantize.h): lower, calibrate, pick the
 * weight bits, build. The one entry point `iotcnn quantize` and the tests
 * use; it sits above qz_quant.c and qz_auto.c, which do not call it. */
#include <stdlib.h>
#include <string.h>

#include "quantize.h"

nn_status qz_quantize_model(qm_model *q, qz_result *res, const nn_model *m, const qz_config *cfg,
                            const qz_data *d, int threads, nn_error *err)
{
    memset(q, 0, sizeof *q);
    if (res)
        memset(res, 0, sizeof *res);
    qz_net *net = malloc(sizeof *net);
    double *lo = malloc(QM_MAX_OPS * sizeof *lo), *hi = malloc(QM_MAX_OPS * sizeof *hi);
    int *bits = malloc(QM_MAX_OPS * sizeof *bits), *fixed = malloc(QM_MAX_OPS * sizeof *fixed);
    nn_status st = NN_OK;
    if (!net || !lo || !hi || !bits || !fixed) {
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory quantizing");
    } else if ((st = qz_lower(net, m, err)) == NN_OK) {
        st = qz_calibrate(lo, hi, net, d->images, d->index, d->n, cfg->method, cfg->percentile,
                          threads, err);
        if (st == NN_OK)
            st = qz_op_bits_fixed(bits, fixed, net, m, cfg, err);
        double a0 = 0, a1 = 0;
        if (st == NN_OK && cfg->auto_bits && (d->judge_images ? d->judge_labels : d->labels)) {
            if (d->judge_images)
                st = qz_auto_bits(bits, fixed, net, lo, hi, d->judge_images, d->judge_labels,
                                  d->judge_index, d->n_judge, cfg->max_drop, threads, &a0, &a1,
                                  err);
            else
                st = qz_auto_bits(bits, fixed, net, lo, hi, d->images, d->labels, d->index, d->n,
                                  cfg->max_drop, threads, &a0, &a1, err);
        }
        if (st == NN_OK)
            st = qz_build(q, net, lo, hi, bits, err);
        if (st == NN_OK && res) {
            for (int i = 0; i < net->n_ops; i++)
                res->src_layer[i] = net->ops[i].src_layer, res->bits[i] = bits[i];
            res->acc8 = a0, res->acc_auto = a1;
        }
        qz_net_free(net);
    }
    free(net), free(lo), free(hi), free(bits), free(fixed);
    return st;
}
