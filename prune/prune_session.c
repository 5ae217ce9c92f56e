#include "prune_session.h"

#include <stdlib.h>
#include <string.h>

nn_status pr_session_init(pr_session *s, const nn_model *m, const pr_magnitude_config *final,
                          const pr_schedule *sched, nn_error *err)
{
    memset(s, 0, sizeof *s);
    if (final) {
        nn_status st = pr_magnitude_check(final, m, err);
        if (st != NN_OK)
            return st;
        if (!sched || sched->end < sched->begin || sched->frequency < 1 ||
            !(sched->exponent > 0.0) || !(sched->initial >= 0.0 && sched->initial <= 1.0))
            return nn_errorf(err, NN_ERR_ARG,
                             "pruning: the schedule needs begin <= end, frequency >= 1, "
                             "exponent > 0 and an initial sparsity in [0, 1]");
        s->magnitude = 1;
        s->final = *final;
        s->schedule = *sched;
        s->scratch = malloc(pr_magnitude_scratch(m) * sizeof *s->scratch);
        if (!s->scratch)
            return nn_errorf(err, NN_ERR_NOMEM, "pruning: out of memory for %zu weights",
                             pr_magnitude_scratch(m));
    }
    nn_status st = pr_mask_init(&s->mask, m, err);
    if (st != NN_OK)
        pr_session_free(s);
    return st;
}

void pr_session_free(pr_session *s)
{
    pr_mask_free(&s->mask);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}

static double at(const pr_schedule *sc, double v, uint64_t step)
{
    if (v == PR_DEFAULT || v == PR_SKIP)
        return v;
    return pr_schedule_sparsity(sc, v, step);
}

void pr_session_targets_at(const pr_session *s, uint64_t step, pr_magnitude_config *out)
{
    *out = s->final;
    out->targets.sparsity = at(&s->schedule, s->final.targets.sparsity, step);
    for (int i = 0; i < NN_MAX_LAYERS; i++)
        out->targets.layer[i] = at(&s->schedule, s->final.targets.layer[i], step);
}

void pr_session_step(pr_session *s, nn_model *m, nn_optim *opt, uint64_t step)
{
    if (s->magnitude && pr_schedule_updates_at(&s->schedule, step)) {
        pr_magnitude_config now;
        pr_session_targets_at(s, step, &now);
        /* Checked in pr_session_init; the schedule keeps targets in [0, 1]. */
        (void)pr_magnitude_prune(&s->mask, m, &now, s->scratch, NULL);
        s->updates++;
        s->last_update = step;
    }
    pr_mask_apply(&s->mask, m->params);
    if (opt)
        pr_mask_apply_optim(&s->mask, opt);
}

void pr_session_after_step(void *session, nn_model *m, nn_optim *opt, uint64_t step)
{
    pr_session_step(session, m, opt, step);
}
