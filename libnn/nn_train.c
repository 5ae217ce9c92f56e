#include "nn_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn_diverge.h"
#include "nn_exec.h"
#include "nn_layers.h"
#include "nn_rng.h"
#include "nn_values.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Spans of the parameter buffer with their weight-decay flag. */
static int param_spans(const nn_model *m, nn_param_span *spans)
{
    int k = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *nd = &m->nodes[i];
        int decays = nd->spec.type == NN_LAYER_CONV2D || nd->spec.type == NN_LAYER_DENSE;
        if (nd->w.n)
            spans[k++] = (nn_param_span){nd->w.off, nd->w.n, decays};
        if (nd->b.n)
            spans[k++] = (nn_param_span){nd->b.off, nd->b.n, 0};
    }
    return k;
}

static nn_status check_labels(const nn_images *d, int k, const char *what, nn_error *err)
{
    for (int i = 0; i < d->n; i++)
        if (d->labels[i] >= k)
            return nn_errorf(err, NN_ERR_ARG, "%s image %d has label %d but the model has %d classes",
                             what, i, d->labels[i], k);
    return NN_OK;
}

/* Mirrors every row of n images (c, h, w) in place: the input of a
 * test-time flip. */
static void flip_rows(float *x, int n, int c, int h, int w)
{
    for (size_t r = 0; r < (size_t)n * c * h; r++) {
        float *row = x + r * w;
        for (int i = 0, j = w - 1; i < j; i++, j--) {
            float t = row[i];
            row[i] = row[j], row[j] = t;
        }
    }
}

/* Images whose logits are not all finite: how many, and the first one. */
typedef struct {
    int count, image, logit;
    float value;
} nonfinite_logits;

/* Evaluation with an existing executor (its batch bounds the chunk size).
 * With flip, each image's logits are the mean of the image's and its
 * mirror's; sum (batch, k) is scratch for that. bad (may be NULL) counts
 * the images with a non-finite logit (their argmax is the first index not
 * below a NaN: deterministic, but meaningless). */
/* Where the pixels of a set without images come from (nn_fetch_fn), and
 * the scratch they are read into: px (max_batch, c, h, w), pos (max_batch). */
typedef struct {
    nn_fetch_fn fetch;
    void *user;
    uint8_t *px;
    uint32_t *pos;
} fetch_src;

/* Images [b0, b0 + n) of d into the executor's input: this executor's
 * slices only, fetched when d has no images. */
static nn_status load_range(nn_exec *ex, const nn_images *d, int b0, int n, const fetch_src *f,
                            size_t in_size, nn_error *err)
{
    if (d->images) {
        nn_exec_load_images(ex, d->images + (size_t)b0 * in_size, NULL, n, NULL, NULL, 0);
        return NN_OK;
    }
    int lo, hi;
    nn_exec_own_range(ex, n, &lo, &hi);
    for (int i = lo; i < hi; i++)
        f->pos[i - lo] = (uint32_t)(b0 + i);
    nn_status st = hi > lo ? f->fetch(f->user, f->pos, hi - lo, f->px + (size_t)lo * in_size, err)
                           : NN_OK;
    if (st == NN_OK)
        nn_exec_load_images(ex, f->px, NULL, n, NULL, NULL, 0);
    return st;
}

static nn_status evaluate_with(nn_exec *ex, nn_model *m, const nn_images *d, int batch, int flip,
                               float *sum, int *correct, double *loss, int *confusion,
                               nonfinite_logits *bad, const fetch_src *f, nn_error *err)
{
    int k = m->spec.num_classes;
    const nn_model_spec *s = &m->spec;
    size_t in_size = (size_t)s->in_c * s->in_h * s->in_w;
    *correct = 0;
    double total = 0.0;
    for (int b0 = 0; b0 < d->n; b0 += batch) {
        int n = d->n - b0 < batch ? d->n - b0 : batch;
        nn_status st = load_range(ex, d, b0, n, f, in_size, err);
        if (st != NN_OK)
            return st;
        const float *logits = nn_exec_forward(ex, n, 0, 0, 0);
        if (flip) {
            size_t nk = (size_t)n * k;
            memcpy(sum, logits, nk * sizeof *sum);
            flip_rows(nn_exec_input(ex), n, s->in_c, s->in_h, s->in_w);
            logits = nn_exec_forward(ex, n, 0, 0, 0);
            for (size_t i = 0; i < nk; i++)
                sum[i] = 0.5f * (sum[i] + logits[i]);
            logits = sum;
        }
        for (int i = 0; bad && i < n; i++)
            for (int c = 0; c < k; c++) {
                float v = logits[(size_t)i * k + c];
                if (isfinite(v))
                    continue;
                if (bad->count++ == 0)
                    bad->image = b0 + i, bad->logit = c, bad->value = v;
                break;
            }
        total += nn_softmax_xent(NULL, logits, d->labels + b0, n, k, 0.0f, 1.0f, correct);
        if (confusion) {
            for (int i = 0; i < n; i++)
                confusion[d->labels[b0 + i] * k + nn_argmax(logits + (size_t)i * k, k)]++;
        }
    }
    *loss = d->n ? total / d->n : 0.0;
    return NN_OK;
}

/* The NN_ERR_NUMERIC of a loss that the rule says diverged. */
static nn_status loss_diverged(const nn_diverge *dv, double loss, int epoch, uint64_t batch,
                               uint64_t step, const char *lr_name, nn_error *err)
{
    const char *lr = lr_name ? lr_name : "learning rate";
    if (!isfinite(loss))
        return nn_errorf(err, NN_ERR_NUMERIC,
                         "non-finite loss (%g) at epoch %d, batch %llu (step %llu): training "
                         "diverged; try a lower %s",
                         loss, epoch, (unsigned long long)batch, (unsigned long long)step, lr);
    return nn_errorf(err, NN_ERR_NUMERIC,
                     "loss exploded at epoch %d, batch %llu (step %llu): smoothed loss %.4g (this "
                     "batch %.4g) is more than the divergence factor %g times %s %.4g: training "
                     "diverged; try a lower %s",
                     epoch, (unsigned long long)batch, (unsigned long long)step, dv->smoothed,
                     loss, dv->factor,
                     dv->reference > dv->chance ? "the starting loss" : "chance level, ln(classes) =",
                     dv->reference, lr);
}

/* NN_ERR_NUMERIC naming the first non-finite value of m (and of the
 * optimizer state when opt is given), or NN_OK. `when` says at which point
 * of training the check ran. */
static nn_status check_finite(const nn_model *m, const nn_optim *opt, const char *when,
                              const char *lr_name, nn_error *err)
{
    nn_nonfinite at;
    if (!nn_find_nonfinite(m, opt ? opt->m : NULL, opt ? opt->v : NULL, &at))
        return NN_OK;
    return nn_errorf(err, NN_ERR_NUMERIC,
                     "non-finite value %s: layer %d (%s) %s [%zu] is %g: training diverged; try "
                     "a lower %s",
                     when, at.layer, nn_layer_type_name(m->nodes[at.layer].spec.type), at.what,
                     at.index, (double)at.value, lr_name ? lr_name : "learning rate");
}

/* After every step: the parameters and running statistics, in one
 * vectorized pass each (the optimizer state waits for the epoch's end). */
static nn_status check_step(const nn_model *m, int epoch, uint64_t batch, uint64_t step,
                            const char *lr_name, nn_error *err)
{
    if (nn_first_nonfinite(m->params, m->n_params) == m->n_params &&
        nn_first_nonfinite(m->state, m->n_state) == m->n_state)
        return NN_OK;
    char when[96];
    snprintf(when, sizeof when, "after step %llu (epoch %d, batch %llu)",
             (unsigned long long)step, epoch, (unsigned long long)batch);
    return check_finite(m, NULL, when, lr_name, err);
}

/* ---- the teacher of a distillation ------------------------------------- */

typedef struct {
    nn_exec *ex;           /* NULL: no distillation */
    float *mean;           /* (batch, k) with teacher_flip: the two passes' mean */
    const nn_model_spec *spec; /* the teacher's */
} teacher_run;

static void teacher_close(teacher_run *t)
{
    nn_exec_free(t->ex);
    free(t->mean);
    t->ex = NULL, t->mean = NULL;
}

static nn_status teacher_open(teacher_run *t, const nn_model *m, const nn_train_config *cfg,
                              nn_error *err)
{
    memset(t, 0, sizeof *t);
    if (!cfg->distill)
        return NN_OK;
    const nn_model *tm = cfg->distill->teacher;
    const nn_model_spec *s = &m->spec, *ts = &tm->spec;
    if (ts->in_c != s->in_c || ts->in_h != s->in_h || ts->in_w != s->in_w ||
        ts->num_classes != s->num_classes)
        return nn_errorf(err, NN_ERR_ARG,
                         "the teacher takes %dx%dx%d inputs to %d classes, the student "
                         "%dx%dx%d to %d: distillation needs the same",
                         ts->in_c, ts->in_h, ts->in_w, ts->num_classes, s->in_c, s->in_h,
                         s->in_w, s->num_classes);
    t->spec = ts;
    nn_status st = nn_exec_create(&t->ex, cfg->distill->teacher, cfg->batch_size,
                                  cfg->threads, 0, err);
    if (st == NN_OK && cfg->group)
        st = nn_exec_set_group(t->ex, cfg->group, err);
    if (st == NN_OK && cfg->distill->teacher_flip &&
        !(t->mean = malloc((size_t)cfg->batch_size * ts->num_classes * sizeof *t->mean)))
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory for the teacher's logits");
    if (st != NN_OK) {
        nn_error_prefix(err, "the teacher");
        teacher_close(t);
    }
    return st;
}

/* The teacher's logits for the batch the student's executor holds; with
 * teacher_flip, the mean of each image's and its mirror's, as test-time
 * flip scores them. */
static const float *teacher_logits(teacher_run *t, nn_exec *student, int n, int k)
{
    nn_exec_input_from(t->ex, student, n);
    const float *logits = nn_exec_forward(t->ex, n, 0, 0, 0);
    if (!t->mean)
        return logits;
    const nn_model_spec *s = t->spec;
    size_t nk = (size_t)n * k;
    memcpy(t->mean, logits, nk * sizeof *t->mean);
    flip_rows(nn_exec_input(t->ex), n, s->in_c, s->in_h, s->in_w);
    logits = nn_exec_forward(t->ex, n, 0, 0, 0);
    for (size_t i = 0; i < nk; i++)
        t->mean[i] = 0.5f * (t->mean[i] + logits[i]);
    return t->mean;
}

/* The loss of a training batch (its sum over images) and dlogits. */
static double batch_loss(teacher_run *t, nn_exec *ex, const nn_train_config *cfg, float *dlogits,
                         const float *logits, const uint8_t *labels, int k, int *correct)
{
    const int B = cfg->batch_size;
    if (!t->ex)
        return nn_softmax_xent(dlogits, logits, labels, B, k, cfg->label_smoothing,
                               1.0f / (float)B, correct);
    return nn_distill_xent(dlogits, logits, teacher_logits(t, ex, B, k), labels, B, k,
                           cfg->label_smoothing, &cfg->distill->loss, 1.0f / (float)B, correct);
}

nn_status nn_train(nn_model *m, nn_optim *opt, nn_train_state *ts, const nn_train_config *cfg,
                   const nn_images *train, const nn_images *val, const nn_train_hooks *hooks,
                   nn_error *err)
{
    int k = m->spec.num_classes, B = cfg->batch_size;
    if (B < 1 || train->n < B)
        return nn_errorf(err, NN_ERR_ARG, "the training set (%d images) is smaller than one batch (%d)",
                         train->n, B);
    nn_status st = check_labels(train, k, "training", err);
    if (st == NN_OK && val)
        st = check_labels(val, k, "validation", err);
    if (st != NN_OK)
        return st;

    int eval_batch = cfg->eval_batch > 0 ? cfg->eval_batch : B;
    int max_batch = B > eval_batch ? B : eval_batch;
    nn_exec *ex = NULL;
    uint8_t *labels = NULL;
    teacher_run teacher = {NULL, NULL, NULL};
    st = nn_exec_create(&ex, m, max_batch, cfg->threads, 1, err);
    if (st == NN_OK && cfg->group)
        st = nn_exec_set_group(ex, cfg->group, err);
    if (st == NN_OK)
        st = teacher_open(&teacher, m, cfg, err);
    if (st != NN_OK) {
        teacher_close(&teacher);
        nn_exec_free(ex);
        return st;
    }
    const nn_model_spec *ms = &m->spec;
    size_t in_size = (size_t)ms->in_c * ms->in_h * ms->in_w;
    int fetching = !train->images || (val && !val->images);
    fetch_src ftrain = {cfg->fetch, cfg->fetch_train, NULL, NULL};
    fetch_src fval = {cfg->fetch, cfg->fetch_val, NULL, NULL};
    if (fetching && !cfg->fetch) {
        st = nn_errorf(err, NN_ERR_ARG, "a data set without images needs nn_train_config.fetch");
        teacher_close(&teacher);
        nn_exec_free(ex);
        return st;
    }
    nn_param_span *spans = malloc(2 * (size_t)m->n_nodes * sizeof *spans);
    uint32_t *order = malloc((size_t)train->n * sizeof *order);
    float *dlogits = malloc((size_t)B * k * sizeof *dlogits);
    float *flip_sum = malloc((size_t)eval_batch * k * sizeof *flip_sum);
    labels = malloc((size_t)B);
    if (fetching) {
        ftrain.px = fval.px = malloc((size_t)max_batch * in_size);
        ftrain.pos = fval.pos = malloc((size_t)max_batch * sizeof *ftrain.pos);
    }
    if (!spans || !order || !dlogits || !labels || !flip_sum ||
        (fetching && (!ftrain.px || !ftrain.pos))) {
        st = nn_errorf(err, NN_ERR_NOMEM, "out of memory for training buffers");
        goto done;
    }
    int n_spans = param_spans(m, spans);
    uint64_t steps_per_epoch = (uint64_t)(train->n / B);
    nn_diverge dv;
    nn_diverge_init(&dv, cfg->divergence_factor, k);

    for (int epoch = ts->epochs_done + 1; epoch <= cfg->epochs; epoch++) {
        nn_rng rng;
        nn_rng_seed_key(&rng, cfg->seed, NN_STREAM_SHUFFLE, (uint64_t)epoch, 0);
        for (int i = 0; i < train->n; i++)
            order[i] = (uint32_t)i;
        nn_rng_shuffle_u32(&rng, order, (uint32_t)train->n);

        double t0 = now_seconds(), loss_sum = 0.0, load_seconds = 0.0;
        int correct = 0;
        float lr = 0.0f;
        dv.max_ratio = 0;
        nn_progress p = {epoch, cfg->epochs, 0, (int)steps_per_epoch, 0, 0, 0, 0, 0};
        for (uint64_t s = 0; s < steps_per_epoch; s++) {
            const uint32_t *idx = order + s * B;
            if (hooks && hooks->before_batch &&
                (st = hooks->before_batch(hooks->user, epoch, s + 1, ts->step, err)) != NN_OK)
                goto done;
            double tl = now_seconds();
            if (train->images) {
                nn_exec_load_images(ex, train->images, idx, B, cfg->augment, cfg->augment_user,
                                    (uint64_t)epoch);
            } else { /* this process's slices of the batch, read from the files */
                int lo, hi;
                nn_exec_own_range(ex, B, &lo, &hi);
                if (hi > lo && (st = cfg->fetch(cfg->fetch_train, idx + lo, hi - lo,
                                                ftrain.px + (size_t)lo * in_size, err)) != NN_OK)
                    goto done;
                nn_exec_load_batch(ex, ftrain.px, idx, B, cfg->augment, cfg->augment_user,
                                   (uint64_t)epoch);
            }
            load_seconds += now_seconds() - tl;
            const float *logits = nn_exec_forward(ex, B, 1, cfg->seed, ts->step);
            for (int i = 0; i < B; i++)
                labels[i] = train->labels[idx[i]];
            double loss = batch_loss(&teacher, ex, cfg, dlogits, logits, labels, k, &correct);
            if (nn_diverge_update(&dv, loss / B)) { /* the batch's mean loss */
                st = loss_diverged(&dv, loss / B, epoch, s + 1, ts->step + 1, cfg->lr_name, err);
                goto done;
            }
            loss_sum += loss;
            nn_exec_backward(ex, dlogits, B);
            lr = nn_schedule_lr(&cfg->schedule, ts->step, steps_per_epoch, cfg->epochs);
            nn_optim_step(opt, m->params, nn_exec_grads(ex), spans, n_spans, lr);
            ts->step++;
            if (hooks && hooks->after_step)
                hooks->after_step(hooks->user, m, opt, ts->step);
            if ((st = check_step(m, epoch, s + 1, ts->step, cfg->lr_name, err)) != NN_OK)
                goto done;
            if (hooks && hooks->on_batch) {
                double el = now_seconds() - t0;
                int seen = (int)(s + 1) * B;
                p.batch = (int)s + 1;
                p.loss = loss_sum / seen;
                p.accuracy = (double)correct / seen;
                p.seconds = el;
                p.images_per_second = el > 0 ? seen / el : 0;
                p.lr = lr;
                hooks->on_batch(hooks->user, &p);
            }
        }
        double seconds = now_seconds() - t0;
        int seen = (int)steps_per_epoch * B;
        nn_epoch_report r = {epoch, cfg->epochs, ts->step, loss_sum / seen, (double)correct / seen,
                             0, 0, 0, seconds, load_seconds, seconds > 0 ? seen / seconds : 0, lr,
                             dv.max_ratio};
        char when[64];
        snprintf(when, sizeof when, "at the end of epoch %d (step %llu)", epoch,
                 (unsigned long long)ts->step);
        if ((st = check_finite(m, opt, when, cfg->lr_name, err)) != NN_OK)
            goto done;
        if (val && val->n > 0) {
            int vc;
            if ((st = evaluate_with(ex, m, val, eval_batch, cfg->test_flip, flip_sum, &vc,
                                    &r.val_loss, NULL, NULL, &fval, err)) != NN_OK)
                goto done;
            r.has_val = 1;
            r.val_accuracy = (double)vc / val->n;
        }
        ts->epochs_done = epoch;
        ts->total_epochs = cfg->epochs;
        ts->seed = cfg->seed;
        if (hooks && hooks->on_epoch) {
            st = hooks->on_epoch(hooks->user, &r, ts, err);
            if (st == NN_STOP) { /* a clean early end, not an error */
                st = NN_OK;
                goto done;
            }
            if (st != NN_OK)
                goto done;
        }
    }
done:
    free(spans);
    free(order);
    free(dlogits);
    free(flip_sum);
    free(labels);
    free(ftrain.px);
    free(ftrain.pos);
    teacher_close(&teacher);
    nn_exec_free(ex);
    return st;
}

/* The first layer whose output for image 0 of the last forward pass holds
 * a non-finite value (-1 if none), that element and its value. */
static int first_nonfinite_layer(const nn_exec *ex, const nn_model *m, size_t *elem, float *value)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const float *y = nn_exec_output(ex, i);
        for (size_t e = 0; e < m->nodes[i].out_size; e++)
            if (!isfinite(y[e])) {
                *elem = e, *value = y[e];
                return i;
            }
    }
    return -1;
}

/* NN_ERR_NUMERIC for logits that are not finite, saying where they come
 * from: image bad->image runs again alone (and mirrored, with flip) to
 * find the first layer whose output overflows, and the largest parameter
 * up to that layer. Evaluation results would be meaningless (the argmax of
 * NaN logits is arbitrary), so there are none. */
static nn_status nonfinite_error(nn_exec *ex, const nn_model *m, const nn_images *d, int flip,
                                 const nonfinite_logits *bad, const fetch_src *f, nn_error *err)
{
    const nn_model_spec *s = &m->spec;
    size_t in_size = (size_t)s->in_c * s->in_h * s->in_w, elem = 0;
    float value = 0.0f;
    nn_exec_set_group(ex, NULL, NULL); /* this process alone: the image is one slice */
    nn_status st = load_range(ex, d, bad->image, 1, f, in_size, err);
    if (st != NN_OK)
        return st;
    nn_exec_forward(ex, 1, 0, 0, 0);
    int layer = first_nonfinite_layer(ex, m, &elem, &value);
    if (layer < 0 && flip) {
        flip_rows(nn_exec_input(ex), 1, s->in_c, s->in_h, s->in_w);
        nn_exec_forward(ex, 1, 0, 0, 0);
        layer = first_nonfinite_layer(ex, m, &elem, &value);
    }
    char where[512];
    if (layer >= 0) {
        char label[80], hint[256];
        nn_layer_label(label, sizeof label, m, layer);
        nn_largest_hint(hint, sizeof hint, m, layer);
        snprintf(where, sizeof where,
                 "%s is the first layer whose output is not finite (element %zu = %g)%s", label,
                 elem, (double)value, hint);
    } else {
        snprintf(where, sizeof where,
                 "the mean of the logits of the image and of its mirror overflows");
    }
    return nn_errorf(err, NN_ERR_NUMERIC,
                     "the float model's logits are not finite for %d of %d images (first: image "
                     "%d, logit[%d] = %g): %s",
                     bad->count, d->n, bad->image, bad->logit, (double)bad->value, where);
}

nn_status nn_evaluate(nn_model *m, const nn_images *data, const nn_eval_config *cfg,
                      nn_eval_result *res, nn_error *err)
{
    return nn_evaluate_group(m, data, cfg, NULL, res, err);
}

nn_status nn_evaluate_group(nn_model *m, const nn_images *data, const nn_eval_config *cfg,
                            const nn_exec_group *group, nn_eval_result *res, nn_error *err)
{
    memset(res, 0, sizeof *res);
    int k = m->spec.num_classes, batch = cfg->batch;
    nn_status st = check_labels(data, k, "evaluation", err);
    if (st != NN_OK)
        return st;
    if (batch < 1)
        return nn_errorf(err, NN_ERR_ARG, "batch size must be >= 1, got %d", batch);
    if (batch > data->n && data->n > 0)
        batch = data->n;
    res->confusion = calloc((size_t)k * k, sizeof *res->confusion);
    float *flip_sum = cfg->test_flip ? malloc((size_t)batch * k * sizeof *flip_sum) : NULL;
    size_t in_size = (size_t)m->spec.in_c * m->spec.in_h * m->spec.in_w;
    fetch_src f = {cfg->fetch, cfg->fetch_user, NULL, NULL};
    if (!data->images && data->n > 0) {
        if (!cfg->fetch) {
            free(flip_sum);
            nn_eval_result_free(res);
            return nn_errorf(err, NN_ERR_ARG, "a data set without images needs nn_eval_config.fetch");
        }
        f.px = malloc((size_t)batch * in_size);
        f.pos = malloc((size_t)batch * sizeof *f.pos);
    }
    if (!res->confusion || (cfg->test_flip && !flip_sum) ||
        (!data->images && data->n > 0 && (!f.px || !f.pos))) {
        free(f.px), free(f.pos);
        free(flip_sum);
        nn_eval_result_free(res);
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for evaluation buffers");
    }
    nn_exec *ex = NULL;
    st = nn_exec_create(&ex, m, batch, cfg->threads, 0, err);
    if (st == NN_OK && group)
        st = nn_exec_set_group(ex, group, err);
    double t0 = now_seconds();
    nonfinite_logits bad = {0, 0, 0, 0.0f};
    if (st == NN_OK)
        st = evaluate_with(ex, m, data, batch, cfg->test_flip, flip_sum, &res->correct,
                           &res->loss, res->confusion, &bad, &f, err);
    res->seconds = now_seconds() - t0;
    res->n = data->n;
    res->num_classes = k;
    if (st == NN_OK && bad.count > 0)
        st = nonfinite_error(ex, m, data, cfg->test_flip, &bad, &f, err);
    if (st != NN_OK)
        nn_eval_result_free(res);
    free(f.px), free(f.pos);
    free(flip_sum);
    nn_exec_free(ex);
    return st;
}

void nn_eval_result_free(nn_eval_result *res)
{
    free(res->confusion);
    res->confusion = NULL;
}
