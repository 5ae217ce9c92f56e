/* evaluate.c - one model, either kind, on its test data (evaluate.h). */
#include "evaluate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/rt_host.h"
#include "format/ckpt.h"
#include "format/iotc.h"
#include "cli.h"
#include "data.h"

/* 1 when path starts with the .iotc magic (a missing or short file is left
 * to the checkpoint loader, whose message names it). */
static int is_iotc_file(const char *path)
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

static rt_isa parse_isa(const char *cmd, const char *name)
{
    if (!name)
        return RT_ISA_AUTO;
    int i = rth_isa_parse(name);
    if (i < 0)
        cli_usage_error(cmd, "--isa: unknown instruction set '%s' (auto, c, avx2, avx512-vnni)",
                        name);
    if (!rt_isa_supported((rt_isa)i))
        cli_usage_error(cmd, "--isa %s: this CPU does not support it", name);
    return (rt_isa)i;
}

/* The .iotc file records the dataset the model was trained on (quantize
 * stores it): its test split is the default data. */
static void data_of_iotc(const char *cmd, cfg_data *cd, int *test_flip, const iotc_model *f,
                         const char *path)
{
    const char *name = iotc_get_meta(f, "dataset"), *dir = iotc_get_meta(f, "data_dir");
    const char *flip = iotc_get_meta(f, "test_flip");
    if (!name)
        cli_usage_error(cmd, "%s does not record its dataset: say which data with --data or -c",
                        path);
    snprintf(cd->dataset, sizeof cd->dataset, "%s", name);
    if (dir)
        snprintf(cd->dir, sizeof cd->dir, "%s", dir);
    else
        snprintf(cd->dir, sizeof cd->dir, "data/%s", name);
    *test_flip = flip && strcmp(flip, "true") == 0;
}

static void load_test_data(const evaluate_request *q, ds_dataset *test, const cfg_data *cd)
{
    nn_error err = {{0}};
    nn_status st = data_load_eval(test, q->data, cd, &err);
    if (st != NN_OK)
        cli_fail(q->cmd, st, &err);
    ds_limit(test, q->limit);
}

static void evaluate_iotc(const evaluate_request *q, evaluate_outcome *out)
{
    nn_error err = {{0}};
    iotc_model *f = malloc(sizeof *f);
    if (!f) {
        nn_errorf(&err, NN_ERR_NOMEM, "out of memory");
        cli_fail(q->cmd, NN_ERR_NOMEM, &err);
    }
    nn_status st = iotc_load(f, q->model, &err);
    if (st != NN_OK)
        cli_fail(q->cmd, st, &err);
    rth_model host;
    if ((st = rth_open(&host, &f->m, parse_isa(q->cmd, q->isa), &err)) != NN_OK) {
        nn_error_prefix(&err, "%s", q->model);
        cli_fail(q->cmd, st, &err);
    }
    cfg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int recorded_flip = 0;
    if (q->config) {
        if ((st = cfg_load(&cfg, NULL, q->config, &err)) != NN_OK)
            cli_fail(q->cmd, st, &err);
        recorded_flip = cfg.test_flip;
    } else if (!q->data) {
        data_of_iotc(q->cmd, &cfg.data, &recorded_flip, f, q->model);
    }
    out->test_flip = q->test_flip < 0 ? recorded_flip : q->test_flip;

    ds_dataset test = {0};
    load_test_data(q, &test, &cfg.data);
    const qm_model *m = &f->m;
    if (test.c != m->in_c || test.h != m->in_h || test.w != m->in_w) {
        nn_errorf(&err, NN_ERR_ARG,
                  "the evaluation data images are %dx%dx%d but %s expects %dx%dx%d", test.c,
                  test.h, test.w, q->model, m->in_c, m->in_h, m->in_w);
        cli_fail(q->cmd, NN_ERR_ARG, &err);
    }
    if (test.num_classes > m->num_classes) {
        nn_errorf(&err, NN_ERR_ARG, "the evaluation data has %d classes but %s only %d",
                  test.num_classes, q->model, m->num_classes);
        cli_fail(q->cmd, NN_ERR_ARG, &err);
    }
    nn_images img = data_images(&test);
    st = rth_evaluate(&host, &img, &(nn_eval_config){q->batch, q->threads, out->test_flip},
                      &out->r, &err);
    if (st != NN_OK)
        cli_fail(q->cmd, st, &err);
    out->file_bytes = out->deploy_bytes = f->file_bytes;
    out->macs = qm_model_macs(m);
    snprintf(out->engine, sizeof out->engine, "int8 %s", rt_isa_name(host.isa));
    rth_close(&host);
    iotc_free(f);
    free(f);
    ds_free(&test);
}

static void evaluate_checkpoint(const evaluate_request *q, evaluate_outcome *out)
{
    if (q->isa)
        cli_usage_error(q->cmd, "--isa applies to .iotc models only; %s is a checkpoint",
                        q->model);
    nn_error err = {{0}};
    ckpt_file ck;
    nn_status st = ckpt_load(&ck, q->model, &err);
    if (st != NN_OK)
        cli_fail(q->cmd, st, &err);

    /* Where the data block comes from: -c, else the stored config. */
    cfg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (q->config) {
        st = cfg_load(&cfg, NULL, q->config, &err);
    } else if (ck.config_json) {
        char source[CFG_PATH_MAX + 32];
        snprintf(source, sizeof source, "%s (stored config)", q->model);
        st = cfg_parse(&cfg, ck.config_json, source, &err);
    } else if (!q->data) {
        cli_usage_error(q->cmd, "%s holds no config: say which data with --data or -c", q->model);
    }
    if (st != NN_OK)
        cli_fail(q->cmd, st, &err);
    out->test_flip = q->test_flip < 0 ? cfg.test_flip : q->test_flip;

    ds_dataset test = {0};
    load_test_data(q, &test, &cfg.data);
    if ((st = data_check_fits(&test, &ck.model, "the evaluation data", &err)) != NN_OK)
        cli_fail(q->cmd, st, &err);
    nn_images img = data_images(&test);
    st = nn_evaluate(&ck.model, &img, &(nn_eval_config){q->batch, q->threads, out->test_flip},
                     &out->r, &err);
    if (st != NN_OK) {
        nn_error_prefix(&err, "%s", q->model);
        cli_fail(q->cmd, st, &err);
    }
    out->file_bytes = ck.file_bytes;
    out->deploy_bytes = (uint64_t)ck.model.n_params * 4u;
    out->macs = nn_model_macs(&ck.model);
    snprintf(out->engine, sizeof out->engine, "float");
    ckpt_free(&ck);
    ds_free(&test);
}

void evaluate_model(const evaluate_request *req, evaluate_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (is_iotc_file(req->model))
        evaluate_iotc(req, out);
    else
        evaluate_checkpoint(req, out);
}

void evaluate_outcome_free(evaluate_outcome *out) { nn_eval_result_free(&out->r); }
