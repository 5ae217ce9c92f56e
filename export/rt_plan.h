/* rt_plan.h - the arena planner of the deploy image: offsets for every
 * tensor and kernel scratch from their lifetimes, so that buffers never
 * live at the same time share bytes, and an op's output may overlap the
 * input it reads for the last time as far as the kernel's order of work
 * allows (the op's `delta`, below).
 *
 * Lifetimes are op indices, inclusive: a tensor lives from the op that
 * writes it (-1 for the network input) to the last op that reads it. A
 * scratch area lives during its op only. Two buffers whose lifetimes meet
 * must not overlap, except an op's output `out` and an input `in` that dies
 * at that op, which may when out.off <= in.off + delta: the kernel then
 * never writes a byte of the input it has still to read (rt_plan_delta).
 *
 * Placement is greedy: buffers in some order, each at the lowest feasible
 * 8-aligned offset. Several orders are tried and the smallest arena kept.
 * rt_plan_lower_bound gives the peak, over ops, of the bytes live at that
 * op (with the allowed overlap credited), which no placement can beat. */
#ifndef RT_PLAN_H
#define RT_PLAN_H

#include <stdint.h>

#include "libnn/nn_error.h"

#define RT_PLAN_DISJOINT INT64_MIN

typedef struct {
    uint32_t bytes;
    int first, last;   /* lifetime, op indices                               */
    int producer;      /* op that writes it, or -1 (input, scratch)          */
    uint64_t off;      /* result                                             */
} rt_plan_buf;

typedef struct {
    int out;           /* buffer index the op writes (-1: none)              */
    int in[2];         /* buffer indices it reads (-1: none)                 */
    int64_t delta;     /* allowed out.off - in.off for dying inputs, or
                          RT_PLAN_DISJOINT                                    */
} rt_plan_op;

/* Places bufs[0..n) (off filled); returns the arena size, 8-aligned.
 * NN_ERR_NOMEM only. */
nn_status rt_plan(rt_plan_buf *bufs, int n, const rt_plan_op *ops, int n_ops, uint64_t *arena,
                  nn_error *err);

uint64_t rt_plan_lower_bound(const rt_plan_buf *bufs, int n, const rt_plan_op *ops, int n_ops);

/* 1 when the placement obeys every rule above (tests, and a last check of
 * the builder). */
int rt_plan_valid(const rt_plan_buf *bufs, int n, const rt_plan_op *ops, int n_ops);

/* delta for a streaming op: output rows written in groups of `group` rows
 * (1 or 2); after writing rows [0, r) the kernel still reads input rows
 * from need(r) on, need(r) = max(0, r' * stride - pad) with r' = r - group
 * + 1 for group 1 and r' = r for group 2 (the next pair's first row), as
 * long as r < out_h. in_row / out_row are row bytes. */
int64_t rt_plan_delta_rows(int out_h, int in_h, int stride, int pad, int group, uint64_t in_row,
                           uint64_t out_row);

#endif
