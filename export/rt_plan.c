/* rt_plan.c - the runtime kernels' overlap rule for the arena planner
 * (rt_plan.h). */
#include "rt_plan.h"

#include <stdint.h>

#define NO_LIMIT (INT64_MAX / 4)

int64_t rt_plan_delta_rows(int out_h, int in_h, int stride, int pad, int group, uint64_t in_row,
                           uint64_t out_row)
{
    (void)in_h;
    int64_t d = NO_LIMIT;
    for (int r = 1; r <= out_h; r++) {
        int64_t need;
        if (group == 1) {
            need = (int64_t)(r - 1) * stride - pad;
        } else {
            if (r % 2 || r >= out_h) /* pairs end at even rows; the last needs nothing after */
                continue;
            need = (int64_t)r * stride - pad;
        }
        if (need < 0)
            need = 0;
        int64_t v = need * (int64_t)in_row - (int64_t)r * (int64_t)out_row;
        if (v < d)
            d = v;
    }
    return d;
}
