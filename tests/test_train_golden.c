/* test_train_golden.c - nn_train against PyTorch, step by step.
 *
 * tests/train_golden.h holds what tests/golden/train_golden.py computed
 * with PyTorch from the same pixels, labels, normalization and initial
 * parameters: the parameters and batch-norm running statistics after 4
 * optimizer steps (2 epochs of 2 batches of 4, 2 images of 10 dropped per
 * epoch), the learning rate of every step, the mean training loss of each
 * epoch and the validation loss and hits after each. Two runs pin, between
 * them, what only the whole training step decides: the learning rate of
 * each step under a schedule with warm-up (the step index and the steps
 * per epoch that nn_train passes), which parameters get weight decay (conv
 * and dense weights; not biases, not batch norm), label smoothing, SGD
 * with Nesterov momentum and AdamW, batch-norm statistics in training and
 * in evaluation, and the test-time flip of the validation pass.
 *
 * The tolerance is a few float roundings (the two sides sum in different
 * orders); every effect pinned here is orders of magnitude larger (weight
 * decay on a bias moves it by lr * 0.05 * |b| ~ 1e-3 per step). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "libnn/nn_train.h"
#include "layer_specs.h"
#include "train_golden.h"

enum { TG_N = 10, TG_NV = 6, TG_B = 4, TG_SIZE = 2 * 6 * 6, TG_K = 4, TG_PARAMS = 172 };

/* conv2d 3 (3x3, pad 1, no bias) - batchnorm - relu - maxpool 2 - flatten - dense 4 */
static void golden_model(nn_model *m)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 2, s.in_h = 6, s.in_w = 6, s.num_classes = TG_K;
    s.layers[s.n_layers++] = ls_conv(3, 3, 1, 0);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_BATCHNORM);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_RELU);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_MAXPOOL);
    s.layers[s.n_layers++] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[s.n_layers++] = ls_dense(TG_K);
    nn_error err;
    cr_assert_eq(nn_model_build(m, &s, &err), NN_OK, "%s", err.msg);
    /* The generator writes the parameters in this layout. */
    cr_assert_eq(m->n_params, TG_PARAMS);
    const size_t offsets[6] = {m->nodes[0].w.off, m->nodes[0].b.n, m->nodes[1].w.off,
                               m->nodes[1].b.off, m->nodes[5].w.off, m->nodes[5].b.off};
    const size_t want[6] = {0, 0, 54, 57, 60, 168};
    cr_assert_arr_eq(offsets, want, sizeof want);
    memcpy(m->params, TG_INIT, sizeof TG_INIT);
    const float mean[2] = {0.25f, 0.4f}, std[2] = {0.5f, 0.3f};
    memcpy(m->mean, mean, sizeof mean), memcpy(m->std, std, sizeof std);
}

/* What the hooks saw: the images each batch loaded (through a copying
 * "augmentation"), each step's learning rate, each epoch's report. */
typedef struct {
    int loaded[TG_N], n_loaded; /* dataset indices since the last batch */
    int step;
    float lr[4];
    nn_epoch_report epochs[2];
} golden_log;

static void record_image(void *user, uint8_t *dst, const uint8_t *src, uint64_t epoch,
                         uint64_t index, int worker)
{
    (void)epoch, (void)worker;
    golden_log *g = user;
    memcpy(dst, src, TG_SIZE);
    g->loaded[__atomic_fetch_add(&g->n_loaded, 1, __ATOMIC_RELAXED)] = (int)index;
}

/* The batch held exactly the golden's images (their order within the
 * batch does not matter to the result). */
static void on_batch(void *user, const nn_progress *p)
{
    golden_log *g = user;
    const int *want = TG_BATCHES[p->epoch - 1][p->batch - 1];
    cr_assert_eq(g->n_loaded, TG_B, "batch %d.%d loaded %d images", p->epoch, p->batch,
                 g->n_loaded);
    for (int i = 0; i < TG_B; i++) {
        int found = 0;
        for (int j = 0; j < TG_B; j++)
            found |= g->loaded[j] == want[i];
        cr_assert(found, "epoch %d batch %d lacks image %d: the shuffle is not the golden's "
                  "(tests/golden/train_golden.py, BATCHES)", p->epoch, p->batch, want[i]);
    }
    g->n_loaded = 0;
    cr_assert_lt(g->step, 4);
    g->lr[g->step++] = p->lr;
}

static nn_status on_epoch(void *user, const nn_epoch_report *r, const nn_train_state *ts,
                          nn_error *err)
{
    (void)ts, (void)err;
    ((golden_log *)user)->epochs[r->epoch - 1] = *r;
    return NN_OK;
}

typedef struct {
    nn_optim_config opt;
    nn_schedule_config sched;
    float smoothing;
    int flip;
    const float *params, *state;
    const double *lr, *epoch_loss, *val_loss;
    const int *val_correct;
    const nn_distill_spec *distill; /* run C */
} golden_run;

static void assert_close(double got, double want, double tol, const char *what, int i)
{
    cr_assert(fabs(got - want) <= tol, "%s[%d]: %.9g, PyTorch %.9g (diff %.3g > %.3g)", what, i,
              got, want, fabs(got - want), tol);
}

static void check_run(const golden_run *g)
{
    nn_model m;
    golden_model(&m);
    nn_optim o;
    nn_error err;
    cr_assert_eq(nn_optim_init(&o, &g->opt, m.n_params, &err), NN_OK, "%s", err.msg);
    golden_log log = {{0}, 0, 0, {0}, {{0}}};
    nn_train_config tc = {.epochs = 2, .batch_size = TG_B, .eval_batch = 4, .threads = 2,
                          .seed = 7, .schedule = g->sched, .label_smoothing = g->smoothing,
                          .augment = record_image, .test_flip = g->flip, .augment_user = &log,
                          .distill = g->distill};
    nn_images train = {TG_IMAGES, TG_LABELS, TG_N}, val = {TG_VAL_IMAGES, TG_VAL_LABELS, TG_NV};
    nn_train_hooks hooks = {on_batch, on_epoch, &log, NULL, NULL};
    nn_train_state ts = {7, 0, 2, 0};
    cr_assert_eq(nn_train(&m, &o, &ts, &tc, &train, &val, &hooks, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ts.step, 4);
    cr_assert_eq(log.step, 4);
    for (int s = 0; s < 4; s++)
        assert_close(log.lr[s], g->lr[s], 1e-7 * g->lr[s], "learning rate of step", s);
    for (int e = 0; e < 2; e++) {
        const nn_epoch_report *r = &log.epochs[e];
        cr_assert_eq(r->epoch, e + 1);
        cr_assert_eq(r->step, 2 * (uint64_t)(e + 1));
        assert_close(r->lr, g->lr[2 * e + 1], 1e-7 * g->lr[2 * e + 1], "epoch lr", e);
        assert_close(r->train_loss, g->epoch_loss[e], 2e-6 * g->epoch_loss[e], "train loss", e);
        cr_assert(r->has_val);
        assert_close(r->val_loss, g->val_loss[e], 2e-6 * g->val_loss[e], "validation loss", e);
        assert_close(r->val_accuracy * TG_NV, g->val_correct[e], 1e-9, "validation hits", e);
    }
    for (size_t i = 0; i < m.n_params; i++)
        assert_close(m.params[i], g->params[i], 2e-6 + 2e-5 * fabs(g->params[i]), "parameter",
                     (int)i);
    for (size_t i = 0; i < m.n_state; i++)
        assert_close(m.state[i], g->state[i], 2e-6 + 2e-5 * fabs(g->state[i]),
                     "batch-norm mean, var", (int)i);
    nn_optim_free(&o);
    nn_model_free(&m);
}

/* SGD, Nesterov momentum 0.9, weight decay 0.05, label smoothing 0.1,
 * cosine 0.1 -> 0.001 after a 1-epoch warm-up: steps at 0, 0.05, 0.1,
 * 0.0505 (the first step only fills the momentum buffer). */
Test(train_golden, sgd_nesterov_decay_smoothing_cosine_with_warmup)
{
    golden_run g = {
        .opt = {.kind = NN_OPT_SGD, .momentum = 0.9f, .nesterov = 1, .weight_decay = 0.05f},
        .sched = {.kind = NN_SCHED_COSINE, .base_lr = 0.1f, .min_lr = 0.001f,
                  .warmup_epochs = 1.0f},
        .smoothing = 0.1f, .flip = 0,
        .params = TG_A_PARAMS, .state = TG_A_STATE, .lr = TG_A_LR,
        .epoch_loss = TG_A_EPOCH_LOSS, .val_loss = TG_A_VAL_LOSS,
        .val_correct = TG_A_VAL_CORRECT};
    check_run(&g);
}

/* AdamW (decoupled weight decay 0.1), one-cycle to 0.02 (pct_start 0.5),
 * no smoothing, test-time flip in the validation pass. */
Test(train_golden, adamw_onecycle_with_test_flip)
{
    golden_run g = {
        .opt = {.kind = NN_OPT_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                .weight_decay = 0.1f},
        .sched = {.kind = NN_SCHED_ONECYCLE, .base_lr = 0.02f, .pct_start = 0.5f},
        .smoothing = 0.0f, .flip = 1,
        .params = TG_B_PARAMS, .state = TG_B_STATE, .lr = TG_B_LR,
        .epoch_loss = TG_B_EPOCH_LOSS, .val_loss = TG_B_VAL_LOSS,
        .val_correct = TG_B_VAL_CORRECT};
    check_run(&g);
}

/* The teacher of runs C and D: its own parameters and running statistics. */
static void golden_teacher(nn_model *teacher)
{
    golden_model(teacher);
    memcpy(teacher->params, TG_TEACHER, sizeof TG_TEACHER);
    cr_assert_eq(teacher->n_state, sizeof TG_TEACHER_STATE / sizeof *TG_TEACHER_STATE);
    memcpy(teacher->state, TG_TEACHER_STATE, sizeof TG_TEACHER_STATE);
}

/* Run A's optimizer, schedule and smoothing, distilled from d. */
#define DISTILLED_RUN(tag, d)                                                                    \
    {.opt = {.kind = NN_OPT_SGD, .momentum = 0.9f, .nesterov = 1, .weight_decay = 0.05f},       \
     .sched = {.kind = NN_SCHED_COSINE, .base_lr = 0.1f, .min_lr = 0.001f,                       \
               .warmup_epochs = 1.0f},                                                           \
     .smoothing = 0.1f, .flip = 0, .params = TG_##tag##_PARAMS, .state = TG_##tag##_STATE,       \
     .lr = TG_##tag##_LR, .epoch_loss = TG_##tag##_EPOCH_LOSS, .val_loss = TG_##tag##_VAL_LOSS, \
     .val_correct = TG_##tag##_VAL_CORRECT, .distill = (d)}

/* Run A's optimizer and schedule, with distillation from a teacher of the
 * same shape (its own parameters and running statistics): pins the soft
 * term (temperature, weight, T^2 scale, KL direction), that the teacher
 * runs in evaluation mode on the very pixels of the batch, and that it is
 * never trained. */
Test(train_golden, sgd_with_distillation_from_a_teacher)
{
    nn_model teacher;
    golden_teacher(&teacher);
    nn_distill_spec d = {&teacher, {TG_DISTILL_T, TG_DISTILL_W}, 0};
    golden_run g = DISTILLED_RUN(C, &d);
    check_run(&g);
    cr_assert_arr_eq(teacher.params, TG_TEACHER, sizeof TG_TEACHER, "the teacher was changed");
    cr_assert_arr_eq(teacher.state, TG_TEACHER_STATE, sizeof TG_TEACHER_STATE,
                     "the teacher's running statistics were changed");
    nn_model_free(&teacher);
}

/* Run C with the teacher's logits the mean of each batch image's and its
 * mirror's (teacher_flip): pins that both passes run on the batch's pixels,
 * that the mirror is left-right, and that their mean (not sum) teaches. */
Test(train_golden, sgd_with_distillation_from_a_flip_averaging_teacher)
{
    nn_model teacher;
    golden_teacher(&teacher);
    nn_distill_spec d = {&teacher, {TG_DISTILL_T, TG_DISTILL_W}, 1};
    golden_run g = DISTILLED_RUN(D, &d);
    check_run(&g);
    /* The mirror matters here: run D ends elsewhere than run C. */
    double moved = 0;
    for (size_t i = 0; i < teacher.n_params; i++)
        moved = fmax(moved, fabs(TG_D_PARAMS[i] - TG_C_PARAMS[i]));
    cr_assert_gt(moved, 1e-3, "runs C and D differ by %g at most", moved);
    nn_model_free(&teacher);
}
