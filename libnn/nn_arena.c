/* nn_arena.c - the arena planner (nn_arena.h). */
#include "nn_arena.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN 8

static uint64_t align_up(int64_t v)
{
    return v <= 0 ? 0 : ((uint64_t)v + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
}

/* The rule between buffers a and b (both live at some op): NN_ARENA_DISJOINT,
 * or *delta with a the output and b the dying input (*a_is_out = 1) or the
 * other way round. */
/* The delta op allows its output against input buffer i (both inputs
 * when they are one buffer: the stricter), or NN_ARENA_DISJOINT. */
static int64_t op_delta_for(const nn_arena_op *op, int i)
{
    int64_t d = NN_ARENA_DISJOINT;
    if (op->in[0] == i)
        d = op->delta;
    if (op->in[1] == i) {
        const int64_t d2 = op->delta2;
        if (op->in[0] != i)
            d = d2;
        else if (d == NN_ARENA_DISJOINT || d2 == NN_ARENA_DISJOINT)
            d = NN_ARENA_DISJOINT;
        else
            d = d < d2 ? d : d2;
    }
    return d;
}

static int rule(const nn_arena_buf *bufs, const nn_arena_op *ops, int a, int b, int64_t *delta,
                int *a_is_out)
{
    for (int pass = 0; pass < 2; pass++) {
        int o = pass ? b : a, i = pass ? a : b;
        int p = bufs[o].producer;
        if (p < 0)
            continue;
        const nn_arena_op *op = &ops[p];
        if (op->out != o || bufs[i].last != p)
            continue;
        const int64_t d = op_delta_for(op, i);
        if (d != NN_ARENA_DISJOINT) {
            *delta = d;
            *a_is_out = !pass;
            return 1;
        }
    }
    return 0;
}

static int meet(const nn_arena_buf *a, const nn_arena_buf *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* May a sit at x given b placed at b->off? */
static int fits(const nn_arena_buf *bufs, const nn_arena_op *ops, int a, uint64_t x, int b)
{
    const nn_arena_buf *A = &bufs[a], *B = &bufs[b];
    if (!meet(A, B) || !A->bytes || !B->bytes)
        return 1;
    if (x + A->bytes <= B->off || x >= B->off + B->bytes)
        return 1;
    int64_t d;
    int a_out;
    if (!rule(bufs, ops, a, b, &d, &a_out))
        return 0;
    return a_out ? (int64_t)x <= (int64_t)B->off + d : (int64_t)B->off <= (int64_t)x + d;
}

static uint64_t place_all(nn_arena_buf *bufs, int n, const nn_arena_op *ops, const int *order,
                          int *placed, uint64_t *cand)
{
    uint64_t top = 0;
    for (int i = 0; i < n; i++)
        placed[i] = 0;
    for (int oi = 0; oi < n; oi++) {
        int a = order[oi];
        int nc = 0;
        cand[nc++] = 0;
        for (int b = 0; b < n; b++) {
            if (!placed[b] || !meet(&bufs[a], &bufs[b]))
                continue;
            cand[nc++] = align_up((int64_t)(bufs[b].off + bufs[b].bytes));
            int64_t d;
            int a_out;
            if (rule(bufs, ops, a, b, &d, &a_out) && !a_out)
                cand[nc++] = align_up((int64_t)bufs[b].off - d);
        }
        uint64_t best = UINT64_MAX;
        for (int c = 0; c < nc; c++) {
            if (cand[c] >= best)
                continue;
            int ok = 1;
            for (int b = 0; b < n && ok; b++)
                if (placed[b])
                    ok = fits(bufs, ops, a, cand[c], b);
            if (ok)
                best = cand[c];
        }
        bufs[a].off = best; /* the highest end is always feasible */
        placed[a] = 1;
        if (best + bufs[a].bytes > top)
            top = best + bufs[a].bytes;
    }
    return align_up((int64_t)top);
}

/* Sort key of buffer i for placement order `key` (smaller first). */
static int64_t order_key(const nn_arena_buf *b, int key)
{
    switch (key) {
    case 0:
        return -(int64_t)b->bytes; /* largest first     */
    case 1:
        return b->first; /* execution order   */
    case 2:
        return -b->first; /* reverse order     */
    default:
        return -(int64_t)b->bytes * (b->last - b->first + 1); /* bytes x lifetime  */
    }
}

/* Stable insertion sort of order[0..n) by order_key (n is a few hundred). */
static void sort_order(int *order, int n, const nn_arena_buf *bufs, int key)
{
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i;
        int64_t kv = order_key(&bufs[v], key);
        while (j > 0 && order_key(&bufs[order[j - 1]], key) > kv) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

/* Span-minimizing placement: offsets may go negative (normalized at the
 * end); each buffer goes where the span of the placed ones grows least.
 * Placing in execution order, an output slides below the input it
 * overwrites, then the next one below that, and so on: the zig-zag a chain
 * of overlapping convs needs, which lowest-offset placement cannot find
 * (it never looks ahead to leave room below). */
static int64_t floor8(int64_t v)
{
    return v >= 0 ? v / ALIGN * ALIGN : -((-v + ALIGN - 1) / ALIGN * ALIGN);
}
static int64_t ceil8(int64_t v) { return -floor8(-v); }

static int fits_signed(const nn_arena_buf *bufs, const nn_arena_op *ops, int a, int64_t x, int b,
                       const int64_t *off)
{
    const nn_arena_buf *A = &bufs[a], *B = &bufs[b];
    if (!meet(A, B) || !A->bytes || !B->bytes)
        return 1;
    if (x + (int64_t)A->bytes <= off[b] || x >= off[b] + (int64_t)B->bytes)
        return 1;
    int64_t d;
    int a_out;
    if (!rule(bufs, ops, a, b, &d, &a_out))
        return 0;
    return a_out ? x <= off[b] + d : off[b] <= x + d;
}

static uint64_t place_span(nn_arena_buf *bufs, int n, const nn_arena_op *ops, const int *order,
                           int *placed, int64_t *cand, int64_t *off)
{
    int64_t lo = 0, hi = 0;
    int any = 0;
    for (int i = 0; i < n; i++)
        placed[i] = 0;
    for (int oi = 0; oi < n; oi++) {
        int a = order[oi];
        const int64_t sz = bufs[a].bytes;
        int nc = 0;
        cand[nc++] = 0;
        if (any) {
            cand[nc++] = floor8(lo), cand[nc++] = floor8(hi - sz), cand[nc++] = ceil8(hi);
            cand[nc++] = floor8(lo - sz);
        }
        for (int b = 0; b < n; b++) {
            if (!placed[b] || !meet(&bufs[a], &bufs[b]))
                continue;
            cand[nc++] = ceil8(off[b] + (int64_t)bufs[b].bytes);
            cand[nc++] = floor8(off[b] - sz);
            int64_t d;
            int a_out;
            if (rule(bufs, ops, a, b, &d, &a_out))
                cand[nc++] = a_out ? floor8(off[b] + d) : ceil8(off[b] - d);
        }
        int64_t best = 0, best_span = INT64_MAX;
        for (int c = 0; c < nc; c++) {
            int64_t x = cand[c];
            int64_t nlo = any && lo < x ? lo : x, nhi = any && hi > x + sz ? hi : x + sz;
            int64_t span = nhi - nlo;
            if (span > best_span || (span == best_span && llabs(x) >= llabs(best)))
                continue;
            int ok = 1;
            for (int b = 0; b < n && ok; b++)
                if (placed[b])
                    ok = fits_signed(bufs, ops, a, x, b, off);
            if (ok)
                best = x, best_span = span;
        }
        off[a] = best;
        placed[a] = 1;
        if (sz) {
            if (!any || best < lo)
                lo = best;
            if (!any || best + sz > hi)
                hi = best + sz;
            any = 1;
        }
    }
    for (int i = 0; i < n; i++)
        bufs[i].off = (uint64_t)(bufs[i].bytes ? off[i] - lo : 0);
    return align_up(hi - lo);
}

nn_status nn_arena_plan(nn_arena_buf *bufs, int n, const nn_arena_op *ops, int n_ops,
                        uint64_t *arena, nn_error *err)
{
    (void)n_ops;
    int *order = malloc(sizeof(int) * (size_t)(n + 1)),
        *placed = malloc(sizeof(int) * (size_t)(n + 1));
    uint64_t *cand = malloc(sizeof(uint64_t) * (size_t)(2 * n + 2));
    uint64_t *best_off = malloc(sizeof(uint64_t) * (size_t)(n + 1));
    int64_t *scand = malloc(sizeof(int64_t) * (size_t)(3 * n + 8));
    int64_t *soff = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!order || !placed || !cand || !best_off || !scand || !soff) {
        free(order), free(placed), free(cand), free(best_off), free(scand), free(soff);
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory planning the arena");
    }
    uint64_t best = UINT64_MAX;
    for (int key = 0; key < 8; key++) {
        for (int i = 0; i < n; i++)
            order[i] = i;
        sort_order(order, n, bufs, key % 4);
        uint64_t a = key < 4 ? place_all(bufs, n, ops, order, placed, cand)
                             : place_span(bufs, n, ops, order, placed, scand, soff);
        if (a < best) {
            best = a;
            for (int i = 0; i < n; i++)
                best_off[i] = bufs[i].off;
        }
    }
    for (int i = 0; i < n; i++)
        bufs[i].off = best_off[i];
    *arena = n ? best : 0;
    free(order), free(placed), free(cand), free(best_off), free(scand), free(soff);
    return NN_OK;
}

uint64_t nn_arena_lower_bound(const nn_arena_buf *bufs, int n, const nn_arena_op *ops, int n_ops)
{
    uint64_t lb = 0;
    for (int i = 0; i < n_ops; i++) {
        uint64_t live = 0;
        for (int b = 0; b < n; b++)
            if (bufs[b].first <= i && i <= bufs[b].last)
                live += bufs[b].bytes;
        const nn_arena_op *op = ops ? &ops[i] : NULL;
        if (op && op->out >= 0) {
            uint64_t credit = 0;
            for (int k = 0; k < 2; k++) {
                int in = op->in[k];
                if (in < 0 || bufs[in].last != i || (k == 1 && in == op->in[0]))
                    continue;
                const int64_t d = op_delta_for(op, in);
                if (d == NN_ARENA_DISJOINT)
                    continue;
                int64_t o = d >= 0 ? (int64_t)bufs[in].bytes - d : (int64_t)bufs[op->out].bytes + d;
                int64_t cap =
                    bufs[in].bytes < bufs[op->out].bytes ? bufs[in].bytes : bufs[op->out].bytes;
                if (o > cap)
                    o = cap;
                if (o > 0 && (uint64_t)o > credit)
                    credit = (uint64_t)o;
            }
            live -= credit;
        }
        if (live > lb)
            lb = live;
    }
    return lb;
}

int nn_arena_valid(const nn_arena_buf *bufs, int n, const nn_arena_op *ops, int n_ops)
{
    (void)n_ops;
    for (int a = 0; a < n; a++) {
        if (bufs[a].bytes && bufs[a].off % ALIGN)
            return 0;
        for (int b = a + 1; b < n; b++)
            if (!fits(bufs, ops, a, bufs[a].off, b))
                return 0;
    }
    return 1;
}
