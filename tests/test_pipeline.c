/* test_pipeline.c - the pipeline as a C program calls it, without the CLI:
 * pl_train on a tiny generated dataset with a callback that counts batches
 * and epochs and checks that the metrics it is handed are the ones the
 * checkpoint and the metrics log hold; fine-tuning through pl_prune runs
 * the same loop (its events say "finetune"); pl_quantize, pl_evaluate,
 * pl_describe and pl_export on the result; errors come back as statuses. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pl_describe.h"
#include "pipeline/pl_evaluate.h"
#include "pipeline/pl_export.h"
#include "pipeline/pl_prune.h"
#include "pipeline/pl_quantize.h"
#include "pipeline/pl_train.h"
#include "runtime/rt_image.h"
#include "cli_helpers.h"
#include "fixtures.h"

#define MAX_EPOCHS 8

typedef struct {
    int batches, epochs, notes;
    char stage[16];
    nn_epoch_report reports[MAX_EPOCHS];
} counter;

static void count(void *user, const pl_event *ev)
{
    counter *c = user;
    snprintf(c->stage, sizeof c->stage, "%s", ev->stage);
    if (ev->kind == PL_EV_BATCH) {
        cr_assert(ev->batch->batch >= 1 && ev->batch->batch <= ev->batch->batches);
        c->batches++;
    } else if (ev->kind == PL_EV_EPOCH) {
        cr_assert_lt(c->epochs, MAX_EPOCHS);
        c->reports[c->epochs++] = *ev->epoch;
    } else {
        cr_assert_not_null(ev->note);
        c->notes++;
    }
}

/* A temp dir with data/ (600 train, 200 test 12x12 images) and cfg.json
 * reading it by its absolute path, with a prune block. */
static void setup(char *dir, size_t size)
{
    ch_data_dir(dir, size);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"data\": {\"dataset\": \"mnist\", \"dir\": \"%s/data\", \"mean\": [0.2],"
             " \"std\": [0.3], \"validation\": 100},\n"
             " \"model\": {\"layers\": [{\"type\": \"conv2d\", \"filters\": 4, \"kernel\": 3,"
             " \"pad\": 1}, {\"type\": \"relu\"}, {\"type\": \"maxpool\", \"size\": 2},"
             " {\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]},\n"
             " \"train\": {\"epochs\": 2, \"batch_size\": 50, \"seed\": 3, \"lr\": 0.05},\n"
             " \"prune\": {\"sparsity\": 0.5, \"finetune\": {\"epochs\": 1}},\n"
             " \"quantize\": {\"calibration_images\": 64}}\n",
             dir);
    ch_write_text(dir, "cfg.json", text);
}

/* The metrics log's lines, parsed. */
static int read_metrics(const char *path, cJSON **lines, int max)
{
    char *text = ch_slurp(path, NULL);
    cr_assert_not_null(text, "%s missing", path);
    int n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < max;
         l = strtok_r(NULL, "\n", &save))
        cr_assert_not_null(lines[n++] = cJSON_Parse(l), "%s: %s", path, l);
    free(text);
    return n;
}

Test(pipeline, train_from_c_reports_what_the_checkpoint_holds, .timeout = 120)
{
    char dir[64], cfg[600], out[600];
    setup(dir, sizeof dir);
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    snprintf(out, sizeof out, "%s/m.ckpt", dir);
    counter c = {0};
    pl_progress p = {count, &c};
    pl_train_opts o = {cfg, out, NULL, 0, 0, 2, 0, -1, NULL, 0};
    pl_train_result r;
    nn_error err = {{0}};
    cr_assert_eq(pl_train(&o, &p, &r, &err), NN_OK, "%s", err.msg);
    cr_assert_str_eq(c.stage, "train");
    cr_assert_eq(c.epochs, 2);
    cr_assert_eq(r.epochs_run, 2);
    cr_assert_eq(r.epochs_done, 2);
    cr_assert_eq(c.batches, 2 * (500 / 50), "every batch reported");
    cr_assert_eq(r.train_images, 500);
    cr_assert_geq(c.notes, 1, "the run is announced");

    /* The checkpoint holds the state of the last reported epoch. */
    ckpt_file ck;
    cr_assert_eq(ckpt_load(&ck, out, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ck.train.epochs_done, c.reports[1].epoch);
    cr_assert_eq(ck.train.step, c.reports[1].step);
    cr_assert(c.reports[1].has_val, "validation was held out");
    /* The metrics log holds the reported numbers. */
    cJSON *lines[4];
    int n = read_metrics(r.metrics, lines, 4);
    cr_assert_eq(n, 2);
    for (int e = 0; e < 2; e++) {
        cr_expect_float_eq(ch_num(lines[e], "train_loss"), c.reports[e].train_loss, 1e-6);
        cr_expect_float_eq(ch_num(lines[e], "val_accuracy"), c.reports[e].val_accuracy, 1e-6);
        cr_expect_eq((int)ch_num(lines[e], "epoch"), c.reports[e].epoch);
        cJSON_Delete(lines[e]);
    }
    /* The test result is the checkpoint's: evaluate it through the pipeline. */
    pl_eval_outcome ev;
    pl_eval_request q = {out, NULL, NULL, NULL, 0, 2, 256, -1}; /* as trained */
    cr_assert_eq(pl_evaluate(&q, &ev, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(ev.r.n, r.test.n);
    cr_assert_eq(ev.r.correct, r.test.correct);
    cr_assert_float_eq(ev.r.loss, r.test.loss, 1e-9);
    pl_eval_outcome_free(&ev);
    ckpt_free(&ck);
    pl_train_result_free(&r);
    fx_rmtree(dir);
}

Test(pipeline, prune_quantize_export_from_c, .timeout = 120)
{
    char dir[64], cfg[600], m[600], pruned[600], q[600], fw[600];
    setup(dir, sizeof dir);
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    snprintf(m, sizeof m, "%s/m.ckpt", dir);
    snprintf(pruned, sizeof pruned, "%s/p.ckpt", dir);
    snprintf(q, sizeof q, "%s/q.iotc", dir);
    snprintf(fw, sizeof fw, "%s/fw", dir);
    nn_error err = {{0}};
    pl_train_result tr;
    cr_assert_eq(pl_train(&(pl_train_opts){cfg, m, NULL, 1, 0, 1, 0, -1, NULL, 0}, NULL, &tr, &err),
                 NN_OK, "%s", err.msg);
    pl_train_result_free(&tr);

    /* Fine-tuning runs the training loop: its events are "finetune" ones. */
    counter c = {0};
    pl_progress p = {count, &c};
    pl_prune_result pr;
    cr_assert_eq(pl_prune(&(pl_prune_opts){cfg, m, pruned, -1, 0, 1}, &p, &pr, &err), NN_OK,
                 "%s", err.msg);
    cr_assert_str_eq(c.stage, "finetune");
    cr_assert_eq(c.epochs, 1);
    cr_assert_eq(pr.epochs, 1);
    cr_assert_gt(pr.report->total_after.zeros, 0);
    pl_prune_result_free(&pr);

    pl_quantize_result qr;
    cr_assert_eq(pl_quantize(&(pl_quantize_opts){pruned, q, NULL, 1, 100, 1, 0}, NULL, &qr, &err),
                 NN_OK, "%s", err.msg);
    cr_assert_eq(qr.eval, 1);
    cr_assert_eq(qr.test_images, 100);
    cr_assert_eq(qr.n_cal, 64);
    pl_quantize_result_free(&qr);

    pl_eval_outcome ev;
    cr_assert_eq(pl_evaluate(&(pl_eval_request){q, NULL, NULL, NULL, 100, 1, 256, -1}, &ev, &err),
                 NN_OK, "%s", err.msg);
    cr_assert_eq(ev.r.n, 100);
    cr_assert(strncmp(ev.engine, "int8", 4) == 0, "%s", ev.engine);
    pl_eval_outcome_free(&ev);

    /* What info prints: the file's kind told by content, its totals. */
    pl_description *d = malloc(sizeof *d);
    cr_assert_eq(pl_describe(q, d, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d->kind, PL_MODEL_IOTC);
    cr_assert_eq(d->totals.file_bytes, ch_file_size(dir, "q.iotc"));
    cr_assert_lt(d->totals.nonzero, d->totals.parameters, "pruned weights are zero");
    pl_description_free(d);
    cr_assert_eq(pl_describe(pruned, d, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(d->kind, PL_MODEL_CKPT);
    cr_assert_lt(d->layer_nonzero[0], d->ckpt.model.nodes[0].w.n + d->ckpt.model.nodes[0].b.n);
    pl_description_free(d);
    cr_assert_eq(pl_describe(cfg, d, &err), NN_ERR_FORMAT, "a JSON file is no model");
    free(d);

    pl_export_result xr;
    pl_export_opts xo = {q, fw, "tiny", RT_TARGET_GENERIC, RTB_SPARSE_AUTO, 4, 0};
    cr_assert_eq(pl_export(&xo, NULL, &xr, &err), NN_OK, "%s", err.msg);
    cr_assert_gt(xr.image.bytes, 0);
    cr_assert_str_eq(xr.name, "tiny");
    pl_export_result_free(&xr);
    cr_assert_gt(ch_file_size(dir, "fw/tiny.c"), 0);
    fx_rmtree(dir);
}

/* Failures come back as statuses with a message: nothing exits. */
Test(pipeline, errors_are_statuses)
{
    nn_error err = {{0}};
    pl_train_result tr;
    cr_assert_eq(
        pl_train(&(pl_train_opts){NULL, NULL, NULL, 0, 0, 1, 0, -1, NULL, 0}, NULL, &tr, &err),
        NN_ERR_ARG);
    cr_assert(strstr(err.msg, "config"), "%s", err.msg);
    cr_assert_eq(pl_train(&(pl_train_opts){"/nonexistent/c.json", NULL, NULL, 0, 0, 1, 0, -1, NULL, 0},
                          NULL, &tr, &err),
                 NN_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/c.json"), "%s", err.msg);
    pl_eval_outcome ev;
    cr_assert_neq(pl_evaluate(&(pl_eval_request){"/nonexistent/m.ckpt", NULL, NULL, NULL, 0, 1,
                                                 256, -1},
                              &ev, &err),
                  NN_OK);
    cr_assert(strstr(err.msg, "/nonexistent/m.ckpt"), "%s", err.msg);
    pl_quantize_result qr;
    cr_assert_neq(pl_quantize(&(pl_quantize_opts){"/nonexistent/m.ckpt", "/nonexistent/q.iotc",
                                                   NULL, 0, 0, 1, 0},
                              NULL, &qr, &err),
                  NN_OK);
    pl_export_result xr;
    cr_assert_eq(pl_export(&(pl_export_opts){"x.iotc", "out", "9lives", 0, RTB_SPARSE_AUTO, 0, 0},
                           NULL, &xr, &err),
                 NN_ERR_ARG);
}
