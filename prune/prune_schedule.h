/* prune_schedule.h - when to prune how much: the gradual schedule of Zhu &
 * Gupta ("To prune, or not to prune", 2017).
 *
 * The mask is updated at steps t = t0, t0 + dt, ..., t0 + n*dt (= end)
 * to the sparsity
 *     s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n*dt))^e        (e = 3)
 * so pruning is fast at first, while there are many redundant weights, and
 * slows down as the target s_f comes near. Between updates the last value
 * holds; after `end` it is s_f (the fine-tuning phase). Steps count
 * optimizer steps; step 0 is before the first one. If (end - begin) is not
 * a multiple of dt, there is one more update at `end` itself.
 *
 * One-shot pruning is the degenerate schedule begin = end = 0: s_f at step
 * 0 and nothing more (pr_schedule_oneshot). */
#ifndef PRUNE_SCHEDULE_H
#define PRUNE_SCHEDULE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t begin;     /* t0: step of the first update                  */
    uint64_t end;       /* t0 + n*dt: step of the last update, >= begin  */
    uint64_t frequency; /* dt: steps between updates, >= 1               */
    double exponent;    /* e > 0 (3)                                      */
    double initial;     /* s_i in [0, 1]: the sparsity of the first update */
} pr_schedule;

void pr_schedule_oneshot(pr_schedule *s);

/* 1 when the mask is updated after `step` steps. */
int pr_schedule_updates_at(const pr_schedule *s, uint64_t step);

/* The sparsity asked for after `step` steps, for the final target s_f:
 * 0 before begin (nothing pruned yet), the value of the latest update
 * otherwise. When s_f < s_i (a layer with a lower own target), s_i is
 * taken as s_f, so the layer's sparsity never overshoots its target. */
double pr_schedule_sparsity(const pr_schedule *s, double final, uint64_t step);

#ifdef __cplusplus
}
#endif

#endif
