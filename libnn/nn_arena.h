/* nn_arena.h - the arena planner: offsets for buffers with known sizes and
 * lifetimes in one block of memory, so that buffers never live at the same
 * time share bytes, and an op's output may overlap the input it reads for
 * the last time as far as the kernel's order of work allows (the op's
 * `delta`, below). The deploy image's int8 arena (export/rt_build.c, with
 * the kernels' rules from export/rt_plan.h) is planned here; the float
 * activation memory of reports is its lower bound over nn_graph's buffers
 * (nn_graph.h).
 *
 * Lifetimes are op indices, inclusive: a buffer lives from the op that
 * writes it (-1 for the network input) to the last op that reads it. A
 * scratch area lives during its op only. Two buffers whose lifetimes meet
 * must not overlap, except an op's output `out` and an input `in` that dies
 * at that op, which may when out.off <= in.off + delta: the kernel then
 * never writes a byte of the input it has still to read. Each input has
 * its own delta (a conv with a fused residual add: the conv's row rule for
 * its input, 0 for the residual it reads element by element in the
 * output's order, i.e. in place).
 *
 * Placement is greedy: buffers in some order, each at the lowest feasible
 * 8-aligned offset. Several orders are tried and the smallest arena kept.
 * nn_arena_lower_bound gives the peak, over ops, of the bytes live at that
 * op (with the allowed overlap credited), which no placement can beat. */
#ifndef NN_ARENA_H
#define NN_ARENA_H

#include <stdint.h>

#include "nn_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NN_ARENA_DISJOINT INT64_MIN

typedef struct {
    uint64_t bytes;
    int first, last; /* lifetime, op indices                               */
    int producer;    /* op that writes it, or -1 (input, scratch)          */
    uint64_t off;    /* result                                             */
} nn_arena_buf;

typedef struct {
    int out;       /* buffer index the op writes (-1: none)              */
    int in[2];     /* buffer indices it reads (-1: none)                 */
    int64_t delta; /* allowed out.off - in[0].off when in[0] dies here,
                      or NN_ARENA_DISJOINT                               */
    int64_t delta2; /* the same for in[1] (set it: 0 allows in place)   */
} nn_arena_op;

/* Places bufs[0..n) (off filled); returns the arena size, 8-aligned.
 * NN_ERR_NOMEM only. */
nn_status nn_arena_plan(nn_arena_buf *bufs, int n, const nn_arena_op *ops, int n_ops,
                        uint64_t *arena, nn_error *err);

/* ops may be NULL: no overlap allowed anywhere. */
uint64_t nn_arena_lower_bound(const nn_arena_buf *bufs, int n, const nn_arena_op *ops, int n_ops);

/* 1 when the placement obeys every rule above (tests, and a last check of
 * the builder). */
int nn_arena_valid(const nn_arena_buf *bufs, int n, const nn_arena_op *ops, int n_ops);

#ifdef __cplusplus
}
#endif

#endif
