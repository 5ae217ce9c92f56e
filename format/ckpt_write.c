/* ckpt_write.c - saving the float checkpoint (.ckpt): the sections of
 * ckpt.h in the container (container.h). Payloads (all little-endian):
 *   ARCH  i32 in_c, in_h, in_w, num_classes, n_layers
 *         per layer: u32 type (nn_layer_type code), 32 bytes name (NUL
 *         padded), i32 input, input2, out_channels, kernel, stride, pad,
 *         bias, units, f32 rate, momentum, eps
 *         f32 mean[NN_MAX_CHANNELS_NORM], f32 std[NN_MAX_CHANNELS_NORM]
 *   PARM  f32[n_params]          STAT  f32[n_state]
 *   OPTM  u32 kind, f32 momentum, i32 nesterov, f32 weight_decay, f32 beta1,
 *         f32 beta2, f32 eps, u64 t, u64 n_m, f32 m[n_m], u64 n_v, f32 v[n_v]
 *         (n_m = n_params; n_v = n_params for AdamW, 0 for SGD)
 *   TRAN  u64 seed, i32 epochs_done, i32 total_epochs, u64 step
 *   CONF  the config text, no NUL
 * Layer inputs are stored resolved (index of an earlier layer, or -1 for the
 * network input), exactly as nn_model_build leaves them in model->spec.
 * ckpt_read.c decodes them. */
#include <string.h>

#include "libnn/nn_io.h"
#include "libnn/nn_values.h"
#include "ckpt.h"

static void put_arch(nn_wbuf *w, const nn_model *m)
{
    const nn_model_spec *s = &m->spec;
    nn_wbuf_i32(w, s->in_c);
    nn_wbuf_i32(w, s->in_h);
    nn_wbuf_i32(w, s->in_w);
    nn_wbuf_i32(w, s->num_classes);
    nn_wbuf_i32(w, s->n_layers);
    for (int i = 0; i < s->n_layers; i++) {
        const nn_layer_spec *l = &s->layers[i];
        /* Only the name's bytes, then zeros: the file never depends on
         * whatever follows the NUL in memory. */
        char name[NN_NAME_MAX] = {0};
        size_t nl = strnlen(l->name, NN_NAME_MAX - 1);
        memcpy(name, l->name, nl);
        nn_wbuf_u32(w, (uint32_t)l->type);
        nn_wbuf_bytes(w, name, NN_NAME_MAX);
        nn_wbuf_i32(w, l->input);
        nn_wbuf_i32(w, l->input2);
        nn_wbuf_i32(w, l->out_channels);
        nn_wbuf_i32(w, l->kernel);
        nn_wbuf_i32(w, l->stride);
        nn_wbuf_i32(w, l->pad);
        nn_wbuf_i32(w, l->bias);
        nn_wbuf_i32(w, l->units);
        nn_wbuf_f32(w, l->rate);
        nn_wbuf_f32(w, l->momentum);
        nn_wbuf_f32(w, l->eps);
    }
    nn_wbuf_f32s(w, m->mean, NN_MAX_CHANNELS_NORM);
    nn_wbuf_f32s(w, m->std, NN_MAX_CHANNELS_NORM);
}

static void put_optim(nn_wbuf *w, const nn_optim *o)
{
    const nn_optim_config *c = &o->cfg;
    nn_wbuf_u32(w, (uint32_t)c->kind);
    nn_wbuf_f32(w, c->momentum);
    nn_wbuf_i32(w, c->nesterov ? 1 : 0);
    nn_wbuf_f32(w, c->weight_decay);
    nn_wbuf_f32(w, c->beta1);
    nn_wbuf_f32(w, c->beta2);
    nn_wbuf_f32(w, c->eps);
    nn_wbuf_u64(w, o->t);
    nn_wbuf_u64(w, (uint64_t)o->n);
    nn_wbuf_f32s(w, o->m, o->n);
    size_t nv = c->kind == NN_OPT_ADAMW ? o->n : 0;
    nn_wbuf_u64(w, (uint64_t)nv);
    nn_wbuf_f32s(w, o->v, nv);
}

nn_status ckpt_save(const char *path, const nn_model *m, const nn_optim *opt,
                    const nn_train_state *ts, const char *config_json, const cls_names *classes,
                    nn_error *err)
{
    if (!path || !m)
        return nn_errorf(err, NN_ERR_ARG, "checkpoint save: NULL path or model");
    if (m->spec.n_layers < 1 || m->spec.n_layers > NN_MAX_LAYERS || !m->params || !m->state)
        return nn_errorf(err, NN_ERR_ARG, "%s: cannot save a model that was not built", path);
    if (opt) {
        if (opt->n != m->n_params || !opt->m)
            return nn_errorf(err, NN_ERR_ARG,
                             "%s: optimizer state covers %zu parameters, the model has %zu",
                             path, opt->n, m->n_params);
        if (opt->cfg.kind != NN_OPT_SGD && opt->cfg.kind != NN_OPT_ADAMW)
            return nn_errorf(err, NN_ERR_ARG, "%s: unknown optimizer kind %d", path,
                             (int)opt->cfg.kind);
        if (opt->cfg.kind == NN_OPT_ADAMW && !opt->v)
            return nn_errorf(err, NN_ERR_ARG, "%s: AdamW state has no second moment", path);
    }
    /* Never write what the loader would refuse (nn_values.h). */
    int in_state;
    size_t bad;
    nn_status vst = nn_model_check_values(m, &in_state, &bad, err);
    if (vst == NN_OK && opt)
        vst = nn_optim_check_values(opt, m, NULL, NULL, err);
    if (vst != NN_OK) {
        nn_error_prefix(err, "%s: cannot save", path);
        return vst;
    }
    if (classes && classes->n == 0)
        classes = NULL;
    if (classes && classes->n != m->spec.num_classes)
        return nn_errorf(err, NN_ERR_ARG, "%s: %d class names for a model of %d classes", path,
                         classes->n, m->spec.num_classes);
    uint32_t n_sections =
        3 + (opt != NULL) + (ts != NULL) + (config_json != NULL) + (classes != NULL);

    nn_wbuf w;
    nn_wbuf_init(&w);
    ctr_put_header(&w, &CKPT_FORMAT, n_sections);

    size_t at = ctr_section_begin(&w, "ARCH");
    put_arch(&w, m);
    ctr_section_end(&w, at, NULL);

    at = ctr_section_begin(&w, "PARM");
    nn_wbuf_f32s(&w, m->params, m->n_params);
    ctr_section_end(&w, at, NULL);

    at = ctr_section_begin(&w, "STAT");
    nn_wbuf_f32s(&w, m->state, m->n_state);
    ctr_section_end(&w, at, NULL);

    if (opt) {
        at = ctr_section_begin(&w, "OPTM");
        put_optim(&w, opt);
        ctr_section_end(&w, at, NULL);
    }
    if (ts) {
        at = ctr_section_begin(&w, "TRAN");
        nn_wbuf_u64(&w, ts->seed);
        nn_wbuf_i32(&w, ts->epochs_done);
        nn_wbuf_i32(&w, ts->total_epochs);
        nn_wbuf_u64(&w, ts->step);
        ctr_section_end(&w, at, NULL);
    }
    if (config_json) {
        at = ctr_section_begin(&w, "CONF");
        nn_wbuf_bytes(&w, config_json, strlen(config_json));
        ctr_section_end(&w, at, NULL);
    }

    if (classes) {
        at = ctr_section_begin(&w, "CLSN");
        cls_put(&w, classes);
        ctr_section_end(&w, at, NULL);
    }

    nn_status st = ctr_write_file(path, &w, err);
    nn_wbuf_free(&w);
    return st;
}
