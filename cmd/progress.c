#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "cli.h"

#define BAR_WIDTH 24
#define REDRAW_SECONDS 0.1

void progress_init(progress *p, const char *cmd)
{
    p->cmd = cmd;
    p->tty = isatty(fileno(stderr));
    p->last_draw = 0;
    p->drawn = 0;
}

static void format_duration(char *buf, size_t size, double seconds)
{
    long s = seconds < 0 ? 0 : (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

void progress_batch(progress *p, const nn_progress *np)
{
    if (!p->tty)
        return;
    double now = cli_now();
    if (np->batch != np->batches && now - p->last_draw < REDRAW_SECONDS)
        return;
    p->last_draw = now;
    char bar[BAR_WIDTH + 1], eta[32];
    int filled = (int)((long long)BAR_WIDTH * np->batch / np->batches);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    double per_batch = np->batch ? np->seconds / np->batch : 0;
    /* ETA of the whole run, at this epoch's pace (evaluation not included). */
    long left = (long)(np->batches - np->batch) + (long)np->batches * (np->epochs - np->epoch);
    format_duration(eta, sizeof eta, per_batch * left);
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  %.0f img/s  ETA %s",
            np->epoch, np->epochs, bar, np->batch, np->batches, np->loss, 100.0 * np->accuracy,
            np->images_per_second, eta);
    fflush(stderr);
    p->drawn = 1;
}

void progress_clear(progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        p->drawn = 0;
    }
}

void progress_epoch(progress *p, const nn_epoch_report *r)
{
    progress_clear(p);
    char val[64] = "";
    if (r->has_val)
        snprintf(val, sizeof val, "  val %.2f%% (loss %.4f)", 100.0 * r->val_accuracy, r->val_loss);
    fprintf(stderr,
            "epoch %d/%d  loss %.4f  train %.2f%%%s  lr %.3g  %.1f s (images %.1f s)  %.0f img/s\n",
            r->epoch, r->epochs, r->train_loss, 100.0 * r->train_accuracy, val, r->lr, r->seconds,
            r->load_seconds, r->images_per_second);
    fflush(stderr);
}

static void on_event(void *user, const pl_event *ev)
{
    progress *p = user;
    if (ev->kind == PL_EV_BATCH) {
        progress_batch(p, ev->batch);
    } else if (ev->kind == PL_EV_EPOCH) {
        progress_epoch(p, ev->epoch);
    } else {
        progress_clear(p);
        fprintf(stderr, "iotcnn %s: %s\n", p->cmd, ev->note);
    }
}

pl_progress progress_reporter(progress *p) { return (pl_progress){on_event, p}; }

pl_progress progress_start(progress *p, const char *cmd)
{
    progress_init(p, cmd);
    return progress_reporter(p);
}

void progress_done(progress *p, nn_status st, const nn_error *err)
{
    progress_clear(p);
    if (st != NN_OK)
        cli_fail(p->cmd, st, err);
}
