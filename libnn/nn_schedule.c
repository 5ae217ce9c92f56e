/* nn_schedule.c - learning rate as a function of the optimizer step.
 *
 * All schedules are evaluated per step in double (fractional epochs), so the
 * rate changes smoothly and a resumed run sees exactly the same rates.
 *
 * Definitions (S = steps_per_epoch, T = S * total_epochs, s = step):
 *   warm-up (constant, step, cosine), W = warmup_epochs * S steps:
 *       s < W:  lr = base * s / W            (0 at s = 0, -> base at s = W)
 *   constant:   lr = base
 *   step:       lr = base * gamma ^ floor(s / (step_epochs * S))
 *               (absolute epochs, so "decay every 30 epochs" decays at
 *               epochs 30, 60, ... whether or not there is a warm-up; with
 *               an integer step_epochs this equals torch StepLR stepped once
 *               per epoch)
 *   cosine:     lr = min + (base - min) * (1 + cos(pi * (s - W) / (T - W))) / 2
 *               (torch CosineAnnealingLR with T_max = T - W, eta_min = min,
 *               started after the warm-up; s >= T gives min)
 *   onecycle:   torch OneCycleLR(max_lr=base, total_steps=T, pct_start,
 *               div_factor, final_div_factor, anneal_strategy='cos',
 *               three_phase=False, cycle_momentum=False); lr for step s is
 *               the scheduler's value when last_epoch == s. Its phase
 *               boundary is at step pct_start*T - 1 and the second phase
 *               starts counting from there, exactly as in PyTorch. No
 *               warm-up (the first phase is one). */
#include "nn_optim.h"

#include <math.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Number of steps in `epochs` epochs. Epoch counts come from float configs
 * (0.1f is 0.100000001...), so a product within 1e-6 of an integer is
 * snapped to it: otherwise a boundary meant to fall on step 1 would land at
 * 1.0000000149 and happen one step late. */
static double epochs_to_steps(double epochs, double spe)
{
    double x = epochs * spe;
    double r = nearbyint(x);
    if (fabs(x - r) <= 1e-6 * fmax(1.0, fabs(x)))
        return r;
    return x;
}

/* PyTorch's OneCycleLR._annealing_cos. */
static double anneal_cos(double start, double end, double pct)
{
    return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

static double onecycle_lr(const nn_schedule_config *s, double step, double total)
{
    double max_lr = s->base_lr;
    double div = s->div_factor > 0.0f ? (double)s->div_factor : 25.0;
    double fdiv = s->final_div_factor > 0.0f ? (double)s->final_div_factor : 1e4;
    double initial = max_lr / div;
    double min_lr = initial / fdiv;
    /* torch: end_step of phase 1 = float(pct_start * total_steps) - 1 */
    double end1 = (double)s->pct_start * total - 1.0;
    double end2 = total - 1.0;
    double start, end, lo, hi;
    if (step <= end1) {
        start = 0.0, end = end1, lo = initial, hi = max_lr;
    } else {
        start = end1, end = end2, lo = max_lr, hi = min_lr;
    }
    /* Degenerate phases (PyTorch divides by zero): treat as finished. */
    double pct = end - start > 0.0 ? (step - start) / (end - start) : 1.0;
    if (pct > 1.0)
        pct = 1.0;
    if (pct < 0.0)
        pct = 0.0;
    return anneal_cos(lo, hi, pct);
}

float nn_schedule_lr(const nn_schedule_config *s, uint64_t step, uint64_t steps_per_epoch,
                     int total_epochs)
{
    const double base = s->base_lr;
    const double spe = steps_per_epoch ? (double)steps_per_epoch : 1.0;
    const double total = spe * (total_epochs > 0 ? (double)total_epochs : 1.0);
    const double x = (double)step;

    if (s->kind == NN_SCHED_ONECYCLE)
        return (float)onecycle_lr(s, x, total);

    double warm = s->warmup_epochs > 0.0f ? epochs_to_steps(s->warmup_epochs, spe) : 0.0;
    if (x < warm)
        return (float)(base * x / warm);

    switch (s->kind) {
    case NN_SCHED_STEP: {
        double every = epochs_to_steps(s->step_epochs, spe);
        if (!(every > 0.0))
            return (float)base;
        double k = floor(x / every);
        return (float)(base * pow((double)s->gamma, k));
    }
    case NN_SCHED_COSINE: {
        double min_lr = s->min_lr;
        double span = total - warm;
        double pct = span > 0.0 ? (x - warm) / span : 1.0;
        if (pct > 1.0)
            pct = 1.0;
        return (float)(min_lr + (base - min_lr) * (1.0 + cos(M_PI * pct)) / 2.0);
    }
    case NN_SCHED_CONSTANT:
    default:
        return (float)base;
    }
}
