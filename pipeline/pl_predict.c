/* pl_predict.c - image files through either engine (pl_predict.h). */
#include "pl_predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "datasets/ds_image.h"
#include "export/rt_host.h"
#include "format/ckpt.h"
#include "format/iotc.h"
#include "libnn/nn_exec.h"
#include "pl_evaluate.h"

#define PREDICT_MAX_SIDE 16384 /* per image side; a forged header costs <= 768 MB */

struct pl_predictor {
    pl_predict_info info;
    /* float: the checkpoint and an executor for two images (the flip) */
    ckpt_file *ck;
    nn_exec *ex;
    /* int8: the model file, its host image, an arena */
    iotc_model *iotc;
    rth_model host;
    int have_host;
    void *arena;
    uint8_t *pixels;  /* (2, c, h, w): the image, then its mirror */
    float *logits;    /* (num_classes)                            */
    int8_t *q;        /* (2, num_classes): the int8 engine's logits */
};

/* The recorded test-time flip of a checkpoint: its stored config's. */
static int ckpt_flip(const ckpt_file *ck)
{
    cfg_config cfg;
    nn_error err;
    return ck->config_json && cfg_parse(&cfg, ck->config_json, "stored config", &err) == NN_OK &&
           cfg.test_flip;
}

static nn_status open_ckpt(pl_predictor *p, const char *model, int flip, nn_error *err)
{
    if (!(p->ck = calloc(1, sizeof *p->ck)))
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    nn_status st = ckpt_load(p->ck, model, err);
    if (st != NN_OK)
        return st;
    const nn_model_spec *s = &p->ck->model.spec;
    p->info = (pl_predict_info){s->in_c, s->in_h, s->in_w, s->num_classes, {0}, 0,
                                flip < 0 ? ckpt_flip(p->ck) : flip, "float"};
    p->info.classes_source = pl_ckpt_classes(p->ck, &p->info.classes);
    return nn_exec_create(&p->ex, &p->ck->model, 2, 1, 0, err);
}

static nn_status open_iotc(pl_predictor *p, const char *model, int flip, nn_error *err)
{
    if (!(p->iotc = malloc(sizeof *p->iotc)))
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    iotc_init(p->iotc);
    nn_status st = iotc_load(p->iotc, model, err);
    if (st == NN_OK && (st = rth_open(&p->host, &p->iotc->m, RT_ISA_AUTO, err)) == NN_OK)
        p->have_host = 1;
    if (st != NN_OK)
        return st;
    const qm_model *m = &p->iotc->m;
    const char *rec = iotc_get_meta(p->iotc, "test_flip");
    p->info = (pl_predict_info){m->in_c, m->in_h, m->in_w, m->num_classes, {0}, 0,
                                flip < 0 ? rec && strcmp(rec, "true") == 0 : flip, ""};
    snprintf(p->info.engine, sizeof p->info.engine, "int8 %s", rt_isa_name(p->host.isa));
    p->info.classes_source = pl_iotc_classes(p->iotc, &p->info.classes);
    size_t bytes = (rth_arena_bytes(&p->host) + 63) / 64 * 64;
    if (!(p->arena = aligned_alloc(64, bytes ? bytes : 64)))
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for the runtime's arena");
    return NN_OK;
}

nn_status pl_predict_open(pl_predictor **out, const char *model, int test_flip, nn_error *err)
{
    *out = NULL;
    pl_predictor *p = calloc(1, sizeof *p);
    if (!p)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    /* the format from the magic (pl_evaluate's test); ckpt_load names a
     * file that is neither */
    nn_status st = pl_is_iotc_file(model) ? open_iotc(p, model, test_flip, err)
                                          : open_ckpt(p, model, test_flip, err);
    const pl_predict_info *in = &p->info;
    if (st == NN_OK) {
        p->pixels = malloc((size_t)2 * in->c * in->h * in->w);
        p->logits = malloc(sizeof *p->logits * 2 * (size_t)in->num_classes);
        p->q = malloc(2 * (size_t)in->num_classes);
        if (!p->pixels || !p->logits || !p->q)
            st = nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    }
    if (st != NN_OK) {
        pl_predict_close(p);
        return st;
    }
    *out = p;
    return NN_OK;
}

const pl_predict_info *pl_predict_info_of(const pl_predictor *p) { return &p->info; }

/* The second image of p->pixels: the first, each row reversed. */
static void mirror(pl_predictor *p)
{
    const int w = p->info.w, rows = p->info.c * p->info.h;
    const uint8_t *src = p->pixels;
    uint8_t *dst = p->pixels + (size_t)rows * w;
    for (int r = 0; r < rows; r++)
        for (int x = 0; x < w; x++)
            dst[(size_t)r * w + x] = src[(size_t)r * w + (w - 1 - x)];
}

/* logits[0..k) of the image (and, with the flip, of its mirror averaged in
 * as eval averages them). */
static nn_status run(pl_predictor *p, nn_error *err)
{
    const int k = p->info.num_classes, n = p->info.test_flip ? 2 : 1;
    if (p->ex) {
        nn_exec_load_images(p->ex, p->pixels, NULL, n, NULL, NULL, 0);
        const float *l = nn_exec_forward(p->ex, n, 0, 0, 0);
        for (int c = 0; c < k; c++)
            p->logits[c] = n == 2 ? 0.5f * (l[c] + l[k + c]) : l[c];
        return NN_OK;
    }
    int8_t *q = p->q;
    for (int i = 0; i < n; i++) {
        nn_status st = rth_run(&p->host, p->arena, p->pixels + (size_t)i * p->info.c *
                                                                   p->info.h * p->info.w,
                               1, q + i * k);
        if (st != NN_OK)
            return nn_errorf(err, st, "the runtime refused the image");
    }
    const qm_qparams oq = p->host.out_q;
    for (int c = 0; c < k; c++) {
        float a = oq.scale * (float)(q[c] - oq.zero);
        p->logits[c] = n == 2 ? 0.5f * (a + oq.scale * (float)(q[k + c] - oq.zero)) : a;
    }
    return NN_OK;
}

nn_status pl_predict_file(pl_predictor *p, const char *path, float *probs, nn_error *err)
{
    ds_image im;
    nn_status st = ds_image_read(&im, path, PREDICT_MAX_SIDE, err);
    if (st == NN_OK)
        st = ds_image_fit(&im, p->info.c, p->info.h, p->info.w, p->pixels, err);
    ds_image_free(&im);
    if (st == NN_OK && p->info.test_flip)
        mirror(p);
    if (st == NN_OK && (st = run(p, err)) != NN_OK)
        nn_error_prefix(err, "%s", path);
    if (st != NN_OK)
        return st;
    const int k = p->info.num_classes;
    double top = -INFINITY, sum = 0;
    for (int c = 0; c < k; c++)
        top = p->logits[c] > top ? p->logits[c] : top;
    if (!isfinite(top))
        return nn_errorf(err, NN_ERR_NUMERIC, "%s: the model gave a non-finite logit", path);
    for (int c = 0; c < k; c++)
        sum += exp((double)p->logits[c] - top);
    for (int c = 0; c < k; c++)
        probs[c] = (float)(exp((double)p->logits[c] - top) / sum);
    return NN_OK;
}

void pl_predict_close(pl_predictor *p)
{
    if (!p)
        return;
    if (p->ex)
        nn_exec_free(p->ex);
    if (p->ck)
        ckpt_free(p->ck);
    free(p->ck);
    if (p->have_host)
        rth_close(&p->host);
    iotc_delete(p->iotc);
    free(p->arena);
    free(p->pixels);
    free(p->logits);
    free(p->q);
    free(p);
}
