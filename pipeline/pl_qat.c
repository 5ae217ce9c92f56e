/* pl_qat.c - quantization-aware fine-tuning (pl_qat.h). */
#include "pl_qat.h"

#include <stdlib.h>
#include <string.h>

#include "pl_data.h"
#include "pl_fit.h"
#include "pl_teacher.h"
#include "quantize/qz_fake.h"

typedef struct {
    nn_model *m;
    ds_dataset train, val;
    nn_model teacher; /* a copy of the model as it came */
    int have_teacher;
    pl_teacher named; /* or quantize.qat.distill.teacher */
    qz_fake fake;
    nn_optim opt;
    /* quantize.qat.activations: the int8 model's activation grids, taken
     * again at the start of every epoch from the current model */
    const cfg_config *cfg;
    int threads;
    nn_act_grid *grid;  /* (n_nodes), or NULL                     */
    float *input_values; /* (in_c * 256) the int8 input's values   */
    uint32_t *calib;    /* (n_calib) the quantizer's calibration images */
    int n_calib;
} qat_job;

static void after_step(void *user, nn_model *m, nn_optim *opt, uint64_t step)
{
    (void)opt, (void)step;
    qz_fake_step(&((qat_job *)user)->fake, m);
}

/* The activation grids the quantizer would give the model as it stands
 * (qz_quantize_model on the quantizer's calibration images, then
 * qz_act_grids). */
static nn_status take_grids(qat_job *j, nn_error *err)
{
    qz_data data = {j->train.images, NULL, j->calib, j->n_calib, NULL, NULL, NULL, 0};
    qm_model q;
    nn_status st = qz_quantize_model(&q, NULL, j->m, &j->cfg->quantize.qz, &data, j->threads, err);
    if (st != NN_OK)
        return st;
    st = qz_act_grids(j->grid, j->input_values, j->m, &q, err);
    qm_model_free(&q);
    return st;
}

/* The folding factors follow the running statistics; the activation grids
 * follow the model once per epoch, after the refresh. The first epoch's are
 * taken again here rather than reused from start_grids: skipping that take
 * changed the trained bytes (not yet explained), so it stays. */
static nn_status before_batch(void *user, int epoch, uint64_t batch, uint64_t step, nn_error *err)
{
    (void)epoch, (void)step;
    qat_job *j = user;
    nn_status st = qz_fake_refresh(&j->fake, j->m, err);
    if (st == NN_OK && j->grid && batch == 1)
        st = take_grids(j, err);
    return st;
}

/* quantize.qat.activations: the calibration images and the first grids. */
static nn_status start_grids(qat_job *j, nn_model *m, const pl_progress *p, nn_error *err)
{
    if (!j->train.images)
        return nn_errorf(err, NN_ERR_ARG,
                         "quantize.qat.activations needs the training images in memory (this "
                         "data set reads them from its files batch by batch)");
    j->n_calib = j->cfg->quantize.qz.calibration_images;
    if (j->n_calib > j->train.n)
        j->n_calib = j->train.n;
    j->calib = malloc((size_t)j->n_calib * sizeof *j->calib);
    j->grid = calloc((size_t)m->n_nodes, sizeof *j->grid);
    j->input_values = calloc((size_t)m->spec.in_c * 256, sizeof *j->input_values);
    if (!j->calib || !j->grid || !j->input_values)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for the activation grids");
    qz_pick_calibration(j->calib, j->n_calib, j->train.n, j->cfg->quantize.qz.seed);
    j->m = m;
    nn_status st = take_grids(j, err);
    if (st != NN_OK)
        return st;
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        n += j->grid[i].scale > 0.0f;
    pl_note(p, "qat",
            "activations on the int8 grids of the input and %d layer output%s, calibrated on %d "
            "images at the start of every epoch",
            n, n == 1 ? "" : "s", j->n_calib);
    m->act_grid = j->grid;
    m->input_values = j->input_values;
    return NN_OK;
}

static nn_status run(qat_job *j, nn_model *m, const cfg_config *cfg, const char *source,
                     int threads, const pl_progress *p, nn_error *err)
{
    const cfg_finetune *q = &cfg->quantize.qat;
    int shape[3], bits[NN_MAX_LAYERS];
    nn_status st = qz_layer_bits(bits, m, &cfg->quantize.qz, err);
    if (st == NN_OK)
        st = pl_fit_load(&j->train, &j->val, cfg, pl_model_shape(m, shape), source, err);
    if (st == NN_OK)
        st = pl_data_check_fits(&j->train, m, "the training set", err);
    nn_model *teacher = &j->teacher;
    if (st == NN_OK && q->distill && q->teacher[0]) {
        st = pl_teacher_load(&j->named, q->teacher, "quantize.qat.distill.teacher", m, p, err);
        teacher = &j->named.ck.model;
    } else if (st == NN_OK && q->distill && (st = nn_model_copy(&j->teacher, m, err)) == NN_OK) {
        j->have_teacher = 1;
    }
    if (st == NN_OK)
        st = nn_optim_init(&j->opt, &cfg->train.optim, m->n_params, err);
    if (st == NN_OK)
        st = qz_fake_init(&j->fake, m, bits, err);
    j->cfg = cfg, j->threads = threads;
    if (st == NN_OK && q->activations)
        st = start_grids(j, m, p, err);
    if (st != NN_OK)
        return st;
    int n8 = 0, n4 = 0;
    for (int i = 0; i < j->fake.n_spans; i++)
        j->fake.span[i].bits == 8 ? n8++ : n4++;
    pl_note(p, "qat",
            "quantization-aware fine-tuning: %d epoch%s on %d images, weights of %d layer%s at "
            "8 bits and %d at 4",
            q->epochs, q->epochs == 1 ? "" : "s", j->train.n, n8, n8 == 1 ? "" : "s", n4);
    nn_distill_spec distill = {teacher, q->distill_loss, q->distill_flip};
    if (q->distill)
        pl_note(p, "qat", "distilling from %s: temperature %g, weight %g%s",
                q->teacher[0] ? q->teacher : "the float model",
                (double)distill.loss.temperature, (double)distill.loss.weight,
                distill.teacher_flip ? ", each image averaged with its mirror" : "");
    pl_fit_spec spec = {.cfg = cfg,
                        .epochs = q->epochs,
                        .threads = threads,
                        .schedule = &q->schedule,
                        .lr_name = "quantize.qat.lr",
                        .stage = "qat",
                        .progress = p,
                        .after_step = after_step,
                        .user = j,
                        .before_batch = before_batch,
                        .distill = q->distill ? &distill : NULL};
    nn_train_state ts = {cfg->train.seed, 0, q->epochs, 0};
    j->m = m;
    st = pl_fit(m, &j->opt, &ts, &spec, &j->train, &j->val, err);
    return st == NN_OK ? qz_fake_refresh(&j->fake, m, err) : st; /* the final statistics */
}

nn_status pl_qat(nn_model *m, const cfg_config *cfg, const char *source, int threads,
                 const pl_progress *p, nn_error *err)
{
    qat_job j;
    memset(&j, 0, sizeof j);
    nn_status st = run(&j, m, cfg, source, threads, p, err);
    m->act_grid = NULL;
    m->input_values = NULL;
    free(j.grid), free(j.calib), free(j.input_values);
    nn_optim_free(&j.opt);
    qz_fake_free(&j.fake);
    if (j.have_teacher)
        nn_model_free(&j.teacher);
    pl_teacher_free(&j.named);
    ds_free(&j.train), ds_free(&j.val);
    return st;
}
