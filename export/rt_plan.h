/* rt_plan.h - the runtime kernels' rule for the arena planner
 * (libnn/nn_arena.h): how far an op's output may overlap the input it
 * reads for the last time. */
#ifndef RT_PLAN_H
#define RT_PLAN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* delta for a streaming op: output rows written in groups of `group` rows
 * (1 or 2); after writing rows [0, r) the kernel still reads input rows
 * from need(r) on, need(r) = max(0, r' * stride - pad) with r' = r - group
 * + 1 for group 1 and r' = r for group 2 (the next pair's first row), as
 * long as r < out_h. in_row / out_row are row bytes. */
int64_t rt_plan_delta_rows(int out_h, int in_h, int stride, int pad, int group, uint64_t in_row,
                           uint64_t out_row);

#ifdef __cplusplus
}
#endif

#endif
