/* test_graph.c - the graph analysis (libnn/nn_graph.h) on a residual
 * network and a dangling branch, and the arena planner (libnn/nn_arena.h)
 * on a hand-sized case. */
#include <criterion/criterion.h>
#include <string.h>

#include "libnn/nn_arena.h"
#include "libnn/nn_graph.h"
#include "quantize/mstats.h"
#include "prune_nets.h"

/* Builds the model of spec s and analyses it. */
static void analyze(nn_model *m, nn_graph *g, const nn_model_spec *s)
{
    pn_build(m, s);
    nn_graph_analyze(g, m);
}

/* pn_residual_spec: 23 layers, two adds, six ReLUs after bn/add, a flatten. */
Test(graph, residual_readers_inplace_relus_buffers_and_lifetimes)
{
    nn_model_spec s;
    nn_model m;
    nn_graph g;
    pn_residual_spec(&s);
    analyze(&m, &g, &s);
    cr_assert_eq(g.n, 23);
    for (int i = 0; i < g.n; i++) {
        int want = i == 6 || i == 13 ? 2 : i == 22 ? 0 : 1; /* 6 and 13 feed adds too */
        cr_expect_eq(g.readers[i], want, "layer %d", i);
        cr_expect_eq(g.live[i], 1, "layer %d", i);
    }
    const int relu[][2] = {{2, 1}, {6, 5}, {9, 8}, {13, 12}, {16, 15}, {19, 18}};
    for (int k = 0; k < 6; k++) {
        cr_expect_eq(g.relu_on[relu[k][0]], relu[k][1], "relu %d", relu[k][0]);
        cr_expect_eq(g.buffer[relu[k][0]], relu[k][1]);
    }
    cr_expect_eq(g.relu_on[0], -1);
    cr_expect_eq(g.buffer[21], 20); /* flatten: a view */
    cr_expect_eq(g.last[0], 0);     /* the input: read by layer 0 only */
    cr_expect_eq(g.last[5 + 1], 12); /* bn 5 (relu 6 in place): read by 7 and the add 12 */
    cr_expect_eq(g.last[12 + 1], 17); /* add 12 (relu 13 in place): read by 14 and 17 */
    cr_expect_eq(g.last[22 + 1], 23); /* the output lives to the end */
    nn_arena_buf bufs[NN_MAX_LAYERS + 1];
    cr_expect_eq(nn_graph_buffers(&g, &m, 4, bufs), 1 + 23 - 7); /* 6 relus, 1 flatten */
    cr_expect_eq(bufs[0].bytes, 3 * 8 * 8 * 4);
    nn_model_free(&m);
}

/* ReLU6 runs in place like ReLU, on a depthwise convolution too; a ReLU6
 * on a pool (or one whose producer has two readers) gets its own buffer. */
Test(graph, relu6_in_place_on_depthwise_and_batchnorm)
{
    nn_model_spec s = {.in_c = 2, .in_h = 6, .in_w = 6, .num_classes = 2, .n_layers = 8};
    s.layers[0] = ls_layer(NN_LAYER_DEPTHWISE_CONV2D);
    s.layers[0].pad = 1;
    s.layers[1] = ls_layer(NN_LAYER_RELU6);        /* on 0: in place */
    s.layers[2] = ls_layer(NN_LAYER_BATCHNORM);
    s.layers[3] = ls_layer(NN_LAYER_RELU6);        /* on 2: in place */
    s.layers[4] = ls_layer(NN_LAYER_MAXPOOL);
    s.layers[5] = ls_layer(NN_LAYER_RELU6);        /* on a pool: a copy */
    s.layers[6] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[7] = ls_dense(2);
    nn_model m;
    nn_graph g;
    analyze(&m, &g, &s);
    cr_expect_eq(g.relu_on[1], 0);
    cr_expect_eq(g.relu_on[3], 2);
    cr_expect_eq(g.relu_on[5], -1);
    cr_expect_eq(g.buffer[1], 0);
    cr_expect_eq(g.buffer[3], 2);
    cr_expect_eq(g.buffer[5], 5);
    nn_model_free(&m);
}

/* A layer the output does not depend on is not live, but its buffer still
 * counts while it is computed (the executor runs every layer). */
Test(graph, dangling_branch_is_not_live)
{
    nn_model_spec s = {.in_c = 1, .in_h = 4, .in_w = 4, .num_classes = 2, .n_layers = 4};
    s.layers[0] = ls_conv(2, 3, 1, 1);
    s.layers[1] = ls_conv(3, 3, 1, 1); /* reads 0, read by nothing */
    s.layers[2] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[2].input = 0;
    s.layers[3] = ls_dense(2);
    nn_model m;
    nn_graph g;
    analyze(&m, &g, &s);
    cr_expect(g.live[0] && !g.live[1] && g.live[2] && g.live[3]);
    cr_expect_eq(g.readers[0], 2);
    cr_expect_eq(g.buffer[2], 0);
    /* at layer 1: the conv 0 output (32 floats, kept alive by the flatten
     * read by the dense 3) and the dangling 48 floats: 80 floats */
    cr_expect_eq(ms_float_activation_bytes(&m), 80 * 4);
    nn_model_free(&m);
}

Test(arena, lower_bound_plan_and_validity)
{
    nn_arena_buf b[3] = {{100, -1, 0, -1, 0}, {200, 0, 1, 0, 0}, {50, 1, 1, 1, 0}};
    cr_expect_eq(nn_arena_lower_bound(b, 3, NULL, 2), 300);
    /* op 1 may write its output over the input dying there (delta 0) */
    nn_arena_op ops[2] = {{1, {0, -1}, NN_ARENA_DISJOINT, NN_ARENA_DISJOINT},
                          {2, {1, -1}, 0, NN_ARENA_DISJOINT}};
    cr_expect_eq(nn_arena_lower_bound(b, 3, ops, 2), 300);
    uint64_t arena;
    nn_error err;
    cr_assert_eq(nn_arena_plan(b, 3, ops, 2, &arena, &err), NN_OK);
    cr_expect(nn_arena_valid(b, 3, ops, 2));
    cr_expect_eq(arena, 304); /* 100 -> 104 (8-aligned), then 200 */
    cr_expect_eq(arena % 8, 0);
}

/* A conv with a fused residual add: op 0 reads x (buffer 0, its own row
 * rule: the output may start 24 bytes below x at most) and the residual r
 * (buffer 1, element order: in place or below) and writes y (buffer 2);
 * both inputs die there. Each input's own delta decides. */
Test(arena, per_input_delta_in_place_over_the_residual)
{
    nn_arena_buf b[3] = {{96, -1, 0, -1, 0}, {96, -1, 0, -1, 0}, {96, 0, 0, 0, 0}};
    nn_arena_op op = {2, {0, 1}, -24, 0};
    b[0].off = 304, b[1].off = 96, b[2].off = 96; /* y in place over r */
    cr_expect(nn_arena_valid(b, 3, &op, 1));
    b[2].off = 88; /* starts below r, overlapping it: still element order */
    cr_expect(nn_arena_valid(b, 3, &op, 1));
    b[2].off = 104; /* above r: would write r's elements before reading them */
    cr_expect_not(nn_arena_valid(b, 3, &op, 1));
    /* over x: only 24 bytes below it, not in place */
    b[0].off = 120, b[1].off = 0, b[2].off = 120;
    cr_expect_not(nn_arena_valid(b, 3, &op, 1));
    b[2].off = 88; /* 32 below x, but then over r's end: above r */
    cr_expect_not(nn_arena_valid(b, 3, &op, 1));
    b[0].off = 200, b[2].off = 104; /* 96 below x and disjoint from r */
    cr_expect(nn_arena_valid(b, 3, &op, 1));
    /* the residual disjoint (delta2 NN_ARENA_DISJOINT): in place is illegal */
    nn_arena_op strict = {2, {0, 1}, -24, NN_ARENA_DISJOINT};
    b[0].off = 200, b[1].off = 0, b[2].off = 0;
    cr_expect_not(nn_arena_valid(b, 3, &strict, 1));
    cr_expect(nn_arena_valid(b, 3, &op, 1));
    /* one buffer as both inputs: the stricter delta (x's) */
    nn_arena_op both = {2, {0, 0}, -24, 0};
    b[0].off = 120, b[2].off = 120;
    cr_expect_not(nn_arena_valid(b, 3, &both, 1));
    b[2].off = 96;
    cr_expect(nn_arena_valid(b, 3, &both, 1));

    /* the bound credits the larger overlap (y over r, 96 bytes), and the
     * planner reaches it: two buffers */
    cr_expect_eq(nn_arena_lower_bound(b, 3, &op, 1), 192);
    cr_expect_eq(nn_arena_lower_bound(b, 3, &strict, 1), 288 - 96 + 24);
    uint64_t arena;
    nn_error err;
    cr_assert_eq(nn_arena_plan(b, 3, &op, 1, &arena, &err), NN_OK);
    cr_expect(nn_arena_valid(b, 3, &op, 1));
    cr_expect_eq(arena, 192);
}
