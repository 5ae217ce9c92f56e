#include "prune_schedule.h"

#include <math.h>

void pr_schedule_oneshot(pr_schedule *s) { *s = (pr_schedule){0, 0, 1, 3.0, 0.0}; }

int pr_schedule_updates_at(const pr_schedule *s, uint64_t step)
{
    if (step < s->begin || step > s->end)
        return 0;
    uint64_t dt = s->frequency ? s->frequency : 1;
    return (step - s->begin) % dt == 0 || step == s->end;
}

double pr_schedule_sparsity(const pr_schedule *s, double final, uint64_t step)
{
    if (step >= s->end)
        return final;
    if (step < s->begin)
        return 0.0;
    uint64_t dt = s->frequency ? s->frequency : 1;
    uint64_t t = s->begin + (step - s->begin) / dt * dt; /* the latest update */
    double initial = s->initial < final ? s->initial : final;
    double p = (double)(t - s->begin) / (double)(s->end - s->begin);
    return final + (initial - final) * pow(1.0 - p, s->exponent);
}
