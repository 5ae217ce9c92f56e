/* pl_quantize.c - float checkpoint -> int8 .iotc model (pl_quantize.h). */
#include "pl_quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/rt_host.h"
#include "format/ckpt.h"
#include "libnn/nn_io.h"
#include "config/cfg.h"
#include "pl_data.h"
#include "pl_qat.h"

typedef struct {
    ckpt_file ck;
    cfg_config cfg;
    char config_name[CFG_PATH_MAX + 32];
    ds_dataset train, val; /* val: the images train held out */
    uint32_t *index;
} quant_job;

/* The config: -c, else the one stored in the checkpoint. */
static nn_status load_config(quant_job *j, const pl_quantize_opts *o, nn_error *err)
{
    if (o->config) {
        snprintf(j->config_name, sizeof j->config_name, "%s", o->config);
        return cfg_load(&j->cfg, NULL, o->config, err);
    }
    if (!j->ck.config_json)
        return nn_errorf(err, NN_ERR_ARG, "%s holds no config: give one with -c", o->model);
    snprintf(j->config_name, sizeof j->config_name, "%s (stored config)", o->model);
    return cfg_parse(&j->cfg, j->ck.config_json, j->config_name, err);
}

/* An override in the config must name the same layer in the model. */
static nn_status check_overrides(const quant_job *j, nn_error *err)
{
    const qz_config *qz = &j->cfg.quantize.qz;
    const nn_model *m = &j->ck.model;
    for (int k = 0; k < qz->n_overrides; k++) {
        int L = qz->override_layer[k];
        const nn_layer_spec *a = &j->cfg.model.layers[L];
        if (L >= m->n_nodes || m->nodes[L].spec.type != a->type ||
            strcmp(m->nodes[L].spec.name, a->name) != 0)
            return nn_errorf(err, NN_ERR_CONFIG,
                             "%s: quantize.layers[%d]: model.layers[%d] of the config is not "
                             "layer %d of the model (different architectures?)",
                             j->config_name, k, L, L);
    }
    return NN_OK;
}

/* The training images for calibration and, apart, the validation images
 * the config holds out (ds_limit_split: the same split as train's). */
static nn_status load_calibration(quant_job *j, pl_quantize_result *r, const pl_progress *p,
                                  nn_error *err)
{
    ds_dataset *train = &j->train;
    int shape[3];
    nn_status st = pl_data_load_split(train, &j->cfg.data, 1, pl_model_shape(&j->ck.model, shape),
                                      err);
    if (st != NN_OK)
        return st;
    if ((st = ds_limit_split(train, &j->val, j->cfg.data.limit, j->cfg.data.validation,
                             j->cfg.train.seed, err)) != NN_OK)
        return st;
    r->n_val = j->val.n;
    if ((st = pl_data_check_fits(train, &j->ck.model, "the calibration data", err)) != NN_OK)
        return st;
    r->n_cal = r->cfg.calibration_images;
    if (r->n_cal > train->n) {
        pl_note(p, "quantize", "only %d training images: calibrating on all of them", train->n);
        r->n_cal = train->n;
    }
    if (!(j->index = malloc((size_t)r->n_cal * sizeof *j->index)))
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    qz_pick_calibration(j->index, r->n_cal, train->n, r->cfg.seed);
    return NN_OK;
}

/* Lowers, calibrates and builds the int8 model into r->file. */
static nn_status quantize(quant_job *j, const pl_quantize_opts *o, pl_quantize_result *r,
                          nn_error *err)
{
    const ds_dataset *t = &j->train;
    qz_data data = {t->images, t->labels, j->index, r->n_cal, NULL, NULL, NULL, 0};
    if (r->n_val > 0) {
        /* auto_bits is judged on the validation split when the config holds
         * one out: training images, which the model may have memorized, hide
         * drops. */
        data.judge_images = j->val.images;
        data.judge_labels = j->val.labels;
        data.n_judge = r->n_val;
    }
    nn_status st = qz_quantize_model(&r->file->m, r->qz, &j->ck.model, &r->cfg, &data, o->threads,
                                     err);
    if (st != NN_OK) {
        nn_error_prefix(err, "%s", o->model);
        return st;
    }
    const nn_model *m = &j->ck.model;
    for (int c = 0; c < NN_MAX_CHANNELS_NORM; c++)
        r->file->mean[c] = m->mean[c], r->file->std[c] = m->std[c];
    for (int i = 0; i < r->file->m.n_ops; i++) {
        r->file->src_layer[i] = r->qz->src_layer[i];
        snprintf(r->file->name[i], IOTC_NAME_MAX, "%s", m->nodes[r->qz->src_layer[i]].spec.name);
    }
    return NN_OK;
}

static void set_meta(iotc_model *f, const pl_progress *p, const char *key, const char *value)
{
    nn_error err;
    if (iotc_set_meta(f, key, value, &err) != NN_OK)
        pl_note(p, "quantize", "metadata %s not stored: %s", key, err.msg);
}

static void set_meta_num(iotc_model *f, const pl_progress *p, const char *key, const char *fmt,
                         double v)
{
    char num[64];
    snprintf(num, sizeof num, fmt, v);
    set_meta(f, p, key, num);
}

/* What the file records about its making; eval reads the dataset. */
static void record(const quant_job *j, const pl_quantize_opts *o, const pl_quantize_result *r,
                   const pl_progress *p)
{
    iotc_model *f = r->file;
    const qz_config *qz = &r->cfg;
    f->classes = j->ck.classes; /* the names travel with the model */
    set_meta(f, p, "source", o->model);
    set_meta(f, p, "dataset", j->cfg.data.dataset); /* eval's default data */
    set_meta(f, p, "data_dir", j->cfg.data.dir);
    set_meta(f, p, "test_flip", j->cfg.test_flip ? "true" : "false");
    set_meta(f, p, "method", qz_method_name(qz->method));
    if (qz->method == QZ_PERCENTILE)
        set_meta_num(f, p, "percentile", "%.10g", qz->percentile);
    set_meta_num(f, p, "calibration_images", "%.0f", r->n_cal);
    char num[64];
    snprintf(num, sizeof num, "%llu", (unsigned long long)qz->seed);
    set_meta(f, p, "calibration_seed", num);
    snprintf(num, sizeof num, "%d", qz->weight_bits);
    set_meta(f, p, "weight_bits", qz->auto_bits ? "auto" : num);
    snprintf(num, sizeof num, "%d", r->qat_epochs);
    set_meta(f, p, "qat_epochs", num);
}

/* The float model with the activation grids of the int8 model built from
 * it (after QAT of activations: what that training saw). */
static nn_status evaluate_fake(quant_job *j, const nn_images *img, const nn_eval_config *ec,
                               pl_quantize_result *r, nn_error *err)
{
    nn_model *m = &j->ck.model;
    nn_act_grid *grid = calloc((size_t)m->n_nodes, sizeof *grid);
    float *values = calloc((size_t)m->spec.in_c * 256, sizeof *values);
    nn_eval_result res = {0};
    nn_status st = grid && values
                       ? qz_act_grids(grid, values, m, &r->file->m, err)
                       : nn_errorf(err, NN_ERR_NOMEM, "out of memory for the activation grids");
    if (st == NN_OK) {
        m->act_grid = grid;
        m->input_values = values;
        st = nn_evaluate(m, img, ec, &res, err);
        m->act_grid = NULL;
        m->input_values = NULL;
    }
    r->has_fake = st == NN_OK;
    r->fake_correct = res.correct;
    nn_eval_result_free(&res);
    free(grid), free(values);
    return st;
}

/* Float (the checkpoint, batch-norm statistics) and int8 (the integer
 * engine) accuracy on the test set, with the config's test-time flip as
 * train, prune and eval measure it; after QAT of activations, the float
 * model on the int8 grids too. */
static nn_status evaluate(quant_job *j, const pl_quantize_opts *o, pl_quantize_result *r,
                          nn_error *err)
{
    ds_dataset test = {0};
    int shape[3];
    nn_status st = pl_data_load_split(&test, &j->cfg.data, 0, pl_model_shape(&j->ck.model, shape),
                                      err);
    if (st == NN_OK) {
        st = pl_data_limit_test(&test, o->limit, NULL, &j->cfg.data, err);
        if (st == NN_OK)
            st = pl_data_check_fits(&test, &j->ck.model, "the test data", err);
    }
    nn_images img = pl_data_images(&test);
    const nn_eval_config ec = {.batch = 256, .threads = o->threads,
                                .test_flip = j->cfg.test_flip};
    nn_eval_result fr = {0}, qr = {0};
    rth_model host;
    int opened = 0;
    if (st == NN_OK && (st = nn_evaluate(&j->ck.model, &img, &ec, &fr, err)) != NN_OK)
        nn_error_prefix(err, "%s", o->model);
    if (st == NN_OK && r->qat_epochs > 0 && j->cfg.quantize.qat.activations)
        st = evaluate_fake(j, &img, &ec, r, err);
    if (st == NN_OK && (st = rth_open(&host, &r->file->m, RT_ISA_AUTO, err)) == NN_OK)
        opened = 1;
    if (st == NN_OK)
        st = rth_evaluate(&host, &img, &ec, &qr, err);
    r->test_images = test.n;
    r->test_flip = j->cfg.test_flip;
    r->float_correct = fr.correct;
    r->int8_correct = qr.correct;
    nn_eval_result_free(&fr);
    nn_eval_result_free(&qr);
    if (opened)
        rth_close(&host);
    ds_free(&test);
    return st;
}

static nn_status run(quant_job *j, const pl_quantize_opts *o, const pl_progress *p,
                     pl_quantize_result *r, nn_error *err)
{
    nn_status st = ckpt_load(&j->ck, o->model, err);
    if (st == NN_OK)
        st = load_config(j, o, err);
    if (st == NN_OK)
        st = check_overrides(j, err);
    if (st != NN_OK)
        return st;
    r->cfg = j->cfg.quantize.qz;
    r->float_bytes = (uint64_t)j->ck.model.n_params * 4u;
    if (o->qat_epochs != 0)
        j->cfg.quantize.qat.epochs = o->qat_epochs > 0 ? o->qat_epochs : 0;
    if ((r->qat_epochs = j->cfg.quantize.qat.epochs) > 0 &&
        (st = pl_qat(&j->ck.model, &j->cfg, j->config_name, o->threads, p, err)) != NN_OK) {
        if (st == NN_ERR_NUMERIC)
            nn_error_prefix(err, "quantization-aware fine-tuning stopped; %s was not written",
                            o->output);
        return st;
    }
    if ((st = load_calibration(j, r, p, err)) != NN_OK)
        return st;
    r->file = malloc(sizeof *r->file);
    r->qz = malloc(sizeof *r->qz);
    if (r->file)
        iotc_init(r->file);
    if (!r->file || !r->qz)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    if ((st = quantize(j, o, r, err)) != NN_OK)
        return st;
    if (r->cfg.auto_bits) {
        int n4 = 0;
        for (int i = 0; i < r->file->m.n_ops; i++)
            n4 += r->qz->bits[i] == 4;
        pl_note(p, "quantize",
                "weight_bits auto: %d layer%s at 4 bits; simulated accuracy on the %d %s images "
                "%.2f%% -> %.2f%% (allowed drop %g points)",
                n4, n4 == 1 ? "" : "s", r->n_val > 0 ? r->n_val : r->n_cal,
                r->n_val > 0 ? "validation" : "calibration", 100.0 * r->qz->acc8,
                100.0 * r->qz->acc_auto, r->cfg.max_drop);
    }
    record(j, o, r, p);
    if (o->eval) {
        if ((st = evaluate(j, o, r, err)) != NN_OK)
            return st;
        r->eval = 1;
        int n = r->test_images;
        set_meta_num(r->file, p, "float_accuracy", "%.6f", n ? (double)r->float_correct / n : 0.0);
        set_meta_num(r->file, p, "int8_accuracy", "%.6f", n ? (double)r->int8_correct / n : 0.0);
        set_meta_num(r->file, p, "test_images", "%.0f", n);
    }
    if ((st = iotc_save(o->output, r->file, err)) != NN_OK)
        return st;
    return pl_iotc_totals_of(r->file, &r->totals, err);
}

nn_status pl_quantize(const pl_quantize_opts *o, const pl_progress *p, pl_quantize_result *r,
                      nn_error *err)
{
    memset(r, 0, sizeof *r);
    quant_job *j = calloc(1, sizeof *j);
    if (!j)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    /* where it writes, checked before any work */
    nn_status st = o->output ? nn_check_writable(o->output, err) : NN_OK;
    if (st == NN_OK)
        st = run(j, o, p, r, err);
    free(j->index);
    ds_free(&j->train);
    ds_free(&j->val);
    ckpt_free(&j->ck);
    free(j);
    if (st != NN_OK)
        pl_quantize_result_free(r);
    return st;
}

void pl_quantize_result_free(pl_quantize_result *r)
{
    iotc_delete(r->file);
    free(r->qz);
    r->file = NULL;
    r->qz = NULL;
}
