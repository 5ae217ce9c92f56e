/* pl_evaluate.c - one model, either kind, on its test data (pl_evaluate.h). */
#include "pl_evaluate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "export/rt_host.h"
#include "format/ckpt.h"
#include "pl_classes.h"
#include "pl_data.h"

/* 1 when path starts with the .iotc magic (a missing or short file is left
 * to the checkpoint loader, whose message names it). */
int pl_is_iotc_file(const char *path)
{
    char magic[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int yes = fread(magic, 1, sizeof magic, f) == sizeof magic &&
              memcmp(magic, IOTC_MAGIC, sizeof magic) == 0;
    fclose(f);
    return yes;
}

static nn_status parse_isa(rt_isa *isa, const char *name, nn_error *err)
{
    *isa = RT_ISA_AUTO;
    if (!name)
        return NN_OK;
    int i = rth_isa_parse(name);
    if (i < 0)
        return nn_errorf(err, NN_ERR_ARG,
                         "--isa: unknown instruction set '%s' (auto, c, avx2, avx512-vnni)", name);
    if (!rt_isa_supported((rt_isa)i))
        return nn_errorf(err, NN_ERR_ARG, "--isa %s: this CPU does not support it", name);
    *isa = (rt_isa)i;
    return NN_OK;
}

/* The .iotc file records the dataset the model was trained on (quantize
 * stores it): its test split is the default data. */
static nn_status data_of_iotc(cfg_data *cd, int *test_flip, const iotc_model *f,
                              const char *path, nn_error *err)
{
    const char *name = iotc_get_meta(f, "dataset"), *dir = iotc_get_meta(f, "data_dir");
    const char *flip = iotc_get_meta(f, "test_flip");
    if (!name)
        return nn_errorf(err, NN_ERR_ARG,
                         "%s does not record its dataset: say which data with --data or -c", path);
    snprintf(cd->dataset, sizeof cd->dataset, "%s", name);
    if (dir)
        snprintf(cd->dir, sizeof cd->dir, "%s", dir);
    else
        snprintf(cd->dir, sizeof cd->dir, "data/%s", name);
    *test_flip = flip && strcmp(flip, "true") == 0;
    return NN_OK;
}

/* The data block and the recorded flip: -c, else what the file records. */
static nn_status iotc_data(const pl_eval_request *q, const iotc_model *f, cfg_config *cfg,
                           int *recorded_flip, nn_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    *recorded_flip = 0;
    if (q->config) {
        nn_status st = cfg_load(cfg, NULL, q->config, err);
        *recorded_flip = cfg->test_flip;
        return st;
    }
    return q->data ? NN_OK : data_of_iotc(&cfg->data, recorded_flip, f, q->model, err);
}

static nn_status check_iotc_fits(const ds_dataset *test, const qm_model *m, const char *path,
                                 nn_error *err)
{
    if (test->c != m->in_c || test->h != m->in_h || test->w != m->in_w)
        return nn_errorf(err, NN_ERR_ARG,
                         "the evaluation data images are %dx%dx%d but %s expects %dx%dx%d",
                         test->c, test->h, test->w, path, m->in_c, m->in_h, m->in_w);
    if (test->num_classes > m->num_classes)
        return nn_errorf(err, NN_ERR_ARG, "the evaluation data has %d classes but %s only %d",
                         test->num_classes, path, m->num_classes);
    return NN_OK;
}

/* The test images at the model's input (c, h, w), labelled by the model's
 * class names where both have names. */
static nn_status load_test_data(const pl_eval_request *q, ds_dataset *test, const cfg_data *cd,
                                const int shape[3], const cls_names *classes, nn_error *err)
{
    nn_status st = pl_data_load_eval(test, q->data, cd, shape[0], shape[1], shape[2], err);
    if (st == NN_OK)
        st = pl_data_limit_test(test, q->limit, q->data, cd, err);
    if (st == NN_OK && (st = pl_data_map_classes(test, classes, err)) != NN_OK)
        nn_error_prefix(err, "%s", q->data ? q->data : cd->dir);
    return st;
}

static nn_status evaluate_iotc(const pl_eval_request *q, pl_eval_outcome *out, iotc_model *f,
                               nn_error *err)
{
    rt_isa isa;
    nn_status st = iotc_load(f, q->model, err);
    if (st == NN_OK)
        st = parse_isa(&isa, q->isa, err);
    if (st != NN_OK)
        return st;
    rth_model host;
    if ((st = rth_open(&host, &f->m, isa, err)) != NN_OK) {
        nn_error_prefix(err, "%s", q->model);
        return st;
    }
    cfg_config cfg;
    int recorded_flip;
    ds_dataset test = {0};
    st = iotc_data(q, f, &cfg, &recorded_flip, err);
    out->test_flip = q->test_flip < 0 ? recorded_flip : q->test_flip;
    if (st == NN_OK)
    {
        pl_iotc_classes(f, &out->classes);
        st = load_test_data(q, &test, &cfg.data, (int[3]){f->m.in_c, f->m.in_h, f->m.in_w},
                            &out->classes, err);
    }
    if (st == NN_OK)
        st = check_iotc_fits(&test, &f->m, q->model, err);
    nn_images img = pl_data_images(&test);
    if (st == NN_OK)
        st = rth_evaluate(&host, &img, &(nn_eval_config){.batch = q->batch, .threads = q->threads, .test_flip = out->test_flip},
                          &out->r, err);
    out->file_bytes = out->deploy_bytes = f->file_bytes;
    out->macs = qm_model_macs(&f->m);
    snprintf(out->engine, sizeof out->engine, "int8 %s", rt_isa_name(host.isa));
    rth_close(&host);
    ds_free(&test);
    return st;
}

/* Where the data block comes from: -c, else the stored config. */
static nn_status checkpoint_data(const pl_eval_request *q, const ckpt_file *ck,
                                 cfg_config *cfg, nn_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (q->config)
        return cfg_load(cfg, NULL, q->config, err);
    if (ck->config_json) {
        char source[CFG_PATH_MAX + 32];
        snprintf(source, sizeof source, "%s (stored config)", q->model);
        return cfg_parse(cfg, ck->config_json, source, err);
    }
    if (!q->data)
        return nn_errorf(err, NN_ERR_ARG, "%s holds no config: say which data with --data or -c",
                         q->model);
    return NN_OK;
}

static nn_status evaluate_checkpoint(const pl_eval_request *q, pl_eval_outcome *out,
                                     ckpt_file *ck, nn_error *err)
{
    if (q->isa)
        return nn_errorf(err, NN_ERR_ARG, "--isa applies to .iotc models only; %s is a checkpoint",
                         q->model);
    nn_status st = ckpt_load(ck, q->model, err);
    if (st != NN_OK)
        return st;
    cfg_config cfg;
    if ((st = checkpoint_data(q, ck, &cfg, err)) != NN_OK)
        return st;
    out->test_flip = q->test_flip < 0 ? cfg.test_flip : q->test_flip;
    ds_dataset test = {0};
    pl_ckpt_classes(ck, &out->classes);
    const nn_model_spec *sp = &ck->model.spec;
    st = load_test_data(q, &test, &cfg.data, (int[3]){sp->in_c, sp->in_h, sp->in_w},
                        &out->classes, err);
    if (st == NN_OK)
        st = pl_data_check_fits(&test, &ck->model, "the evaluation data", err);
    nn_images img = pl_data_images(&test);
    if (st == NN_OK &&
        (st = nn_evaluate(&ck->model, &img,
                          &(nn_eval_config){.batch = q->batch, .threads = q->threads, .test_flip = out->test_flip}, &out->r, err)))
        nn_error_prefix(err, "%s", q->model);
    out->file_bytes = ck->file_bytes;
    out->deploy_bytes = (uint64_t)ck->model.n_params * 4u;
    out->macs = nn_model_macs(&ck->model);
    snprintf(out->engine, sizeof out->engine, "float");
    ds_free(&test);
    return st;
}

nn_status pl_evaluate(const pl_eval_request *req, pl_eval_outcome *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    nn_status st;
    if (pl_is_iotc_file(req->model)) {
        iotc_model *f = malloc(sizeof *f);
        if (!f)
            return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
        iotc_init(f);
        st = evaluate_iotc(req, out, f, err);
        iotc_delete(f);
    } else {
        ckpt_file ck;
        memset(&ck, 0, sizeof ck);
        st = evaluate_checkpoint(req, out, &ck, err);
        ckpt_free(&ck);
    }
    if (st != NN_OK)
        pl_eval_outcome_free(out);
    return st;
}

void pl_eval_outcome_free(pl_eval_outcome *out) { nn_eval_result_free(&out->r); }
