/* test_model_spec.c - nn_model_build's validation: every error branch of
 * libnn/nn_model.c with its exact message (the layer index, type and name,
 * and what is wrong), nn_model_count agreeing, and a failed build leaving
 * the model freed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "libnn/nn_model.h"
#include "layer_specs.h"

static void spec_begin(nn_model_spec *s, int c, int h, int w, int classes)
{
    memset(s, 0, sizeof *s);
    s->in_c = c, s->in_h = h, s->in_w = w, s->num_classes = classes;
}

static void spec_push(nn_model_spec *s, nn_layer_spec l) { s->layers[s->n_layers++] = l; }

static nn_layer_spec pool(nn_layer_type t, int k, int stride)
{
    nn_layer_spec l = ls_layer(t);
    l.kernel = k, l.stride = stride;
    return l;
}

static nn_layer_spec named(nn_layer_spec l, const char *name)
{
    snprintf(l.name, sizeof l.name, "%s", name);
    return l;
}

/* Both nn_model_build and nn_model_count refuse s with exactly `want`, and
 * the failed build leaves m freed. */
static void expect_error(const nn_model_spec *s, const char *want)
{
    nn_model m;
    memset(&m, 0x5a, sizeof m);
    nn_error err = {{0}};
    cr_assert_eq(nn_model_build(&m, s, &err), NN_ERR_ARG, "accepted, expected: %s", want);
    cr_assert_str_eq(err.msg, want);
    cr_assert(m.nodes == NULL && m.params == NULL && m.state == NULL && m.n_nodes == 0,
              "a failed build left the model allocated (%s)", want);
    size_t np = 7, ns = 7;
    nn_error err2 = {{0}};
    cr_assert_eq(nn_model_count(s, &np, &ns, &err2), NN_ERR_ARG);
    cr_assert_str_eq(err2.msg, want);
    cr_assert(np == 7 && ns == 7, "nn_model_count wrote counts on failure");
}

Test(model_spec, network_level_errors)
{
    nn_model_spec s;
    spec_begin(&s, 1, 8, 8, 10);
    expect_error(&s, "model needs 1 to 256 layers, has 0");
    s.n_layers = NN_MAX_LAYERS + 1;
    expect_error(&s, "model needs 1 to 256 layers, has 257");

    const int shapes[][3] = {{0, 8, 8}, {5, 8, 8}, {1, 0, 8}, {1, 8, -1}, {1, 65537, 8}};
    const char *msgs[] = {"model input shape 0x8x8 is invalid (1..4 channels)",
                          "model input shape 5x8x8 is invalid (1..4 channels)",
                          "model input shape 1x0x8 is invalid (1..4 channels)",
                          "model input shape 1x8x-1 is invalid (1..4 channels)",
                          "model input shape 1x65537x8 is invalid (1..4 channels)"};
    for (int i = 0; i < 5; i++) {
        spec_begin(&s, shapes[i][0], shapes[i][1], shapes[i][2], 10);
        spec_push(&s, ls_dense(10));
        expect_error(&s, msgs[i]);
    }

    /* 8x8x1 -> flatten: 64 values, not the 10 classes */
    spec_begin(&s, 1, 8, 8, 10);
    spec_push(&s, ls_layer(NN_LAYER_FLATTEN));
    expect_error(&s, "the last layer outputs 64 values but the data has 10 classes");
}

Test(model_spec, references_must_point_backwards)
{
    nn_model_spec s;
    spec_begin(&s, 1, 8, 8, 0);
    spec_push(&s, ls_conv(2, 3, 1, 1));
    nn_layer_spec r = named(ls_layer(NN_LAYER_RELU), "r");
    r.input = 1; /* itself */
    spec_push(&s, r);
    expect_error(&s, "layer 1 (relu \"r\"): input must be an earlier layer");
    s.layers[1].input = 5; /* a later layer */
    expect_error(&s, "layer 1 (relu \"r\"): input must be an earlier layer");

    /* add: the second operand missing (never resolved), itself, later */
    spec_begin(&s, 1, 8, 8, 0);
    spec_push(&s, ls_conv(2, 3, 1, 1));
    spec_push(&s, ls_layer(NN_LAYER_ADD));
    expect_error(&s, "layer 1 (add): add needs a second operand from an earlier layer");
    s.layers[1].input2 = 1;
    expect_error(&s, "layer 1 (add): add needs a second operand from an earlier layer");
    s.layers[1].input2 = 2;
    expect_error(&s, "layer 1 (add): add needs a second operand from an earlier layer");
    /* 2x8x8 + the 1x8x8 input */
    s.layers[1].input2 = NN_INPUT_NODE;
    expect_error(&s, "layer 1 (add): operands have different shapes");
    /* the same channels, other sizes: a stride-2 conv read with its input */
    spec_begin(&s, 2, 8, 8, 0);
    nn_layer_spec c = ls_conv(2, 3, 1, 1);
    c.stride = 2;
    spec_push(&s, c);
    nn_layer_spec a = named(ls_layer(NN_LAYER_ADD), "sum");
    a.input2 = NN_INPUT_NODE;
    spec_push(&s, a);
    expect_error(&s, "layer 1 (add \"sum\"): operands have different shapes");
    /* two earlier layers: 4x8x8 and, after a stride-2 conv, 4x4x4 */
    spec_begin(&s, 2, 8, 8, 0);
    spec_push(&s, named(ls_conv(4, 3, 1, 1), "a"));
    c.out_channels = 4;
    spec_push(&s, c);
    a = ls_layer(NN_LAYER_ADD);
    a.input2 = 0;
    spec_push(&s, a);
    expect_error(&s, "layer 2 (add): operands have different shapes");
}

Test(model_spec, conv_errors)
{
    const char *bad_window = "needs 1 <= kernel <= 1024, 1 <= stride <= 1024, 0 <= pad < kernel";
    const struct {
        int filters, kernel, stride, pad;
        const char *what;
    } cases[] = {
        {0, 3, 1, 1, "filters must be in [1, 65536]"},
        {65537, 3, 1, 1, "filters must be in [1, 65536]"},
        {4, 0, 1, 0, bad_window},
        {4, 1025, 1, 0, bad_window},
        {4, 3, 0, 1, bad_window},
        {4, 3, 1025, 1, bad_window},
        {4, 3, 1, -1, bad_window},
        {4, 3, 1, 3, bad_window},
        /* 8 + 2*1 - 11 < 0 */
        {4, 11, 1, 1, "kernel larger than the padded input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_model_spec s;
        spec_begin(&s, 1, 8, 8, 0);
        spec_push(&s, ls_layer(NN_LAYER_RELU));
        nn_layer_spec c = named(ls_conv(cases[i].filters, cases[i].kernel, cases[i].pad, 1), "c1");
        c.stride = cases[i].stride;
        spec_push(&s, c);
        char want[200];
        snprintf(want, sizeof want, "layer 1 (conv2d \"c1\"): %s", cases[i].what);
        expect_error(&s, want);
    }
    /* 65536 filters x 4 channels x 200x200 kernel = 10.5e9 weights */
    nn_model_spec s;
    spec_begin(&s, 4, 300, 300, 0);
    spec_push(&s, ls_conv(65536, 200, 0, 0));
    expect_error(&s, "layer 0 (conv2d): too many weights");
    /* 65536 filters 1x1 on 256x256: 2^32 outputs per image (> 2^30) */
    spec_begin(&s, 1, 256, 256, 0);
    spec_push(&s, ls_conv(65536, 1, 0, 0));
    expect_error(&s, "layer 0 (conv2d): too large");
}

/* Depthwise: the window checks of conv2d, out channels = in channels,
 * c*k*k weights + c biases, c*out_h*out_w*k*k MACs. */
Test(model_spec, depthwise_shapes_params_macs_and_errors)
{
    const char *bad_window = "needs 1 <= kernel <= 1024, 1 <= stride <= 1024, 0 <= pad < kernel";
    const int bad[][3] = {{0, 1, 0}, {1025, 1, 0}, {3, 0, 1}, {3, 1025, 1}, {3, 1, -1}, {3, 1, 3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_model_spec s;
        spec_begin(&s, 3, 8, 8, 0);
        nn_layer_spec d = ls_layer(NN_LAYER_DEPTHWISE_CONV2D);
        d.kernel = bad[i][0], d.stride = bad[i][1], d.pad = bad[i][2];
        spec_push(&s, named(d, "dw"));
        char want[200];
        snprintf(want, sizeof want, "layer 0 (depthwise_conv2d \"dw\"): %s", bad_window);
        expect_error(&s, want);
    }
    nn_model_spec s;
    spec_begin(&s, 3, 8, 8, 0);
    nn_layer_spec d = ls_layer(NN_LAYER_DEPTHWISE_CONV2D);
    d.kernel = 11, d.pad = 1;
    spec_push(&s, d);
    expect_error(&s, "layer 0 (depthwise_conv2d): kernel larger than the padded input");

    spec_begin(&s, 3, 9, 8, 0);
    d.kernel = 5, d.stride = 2, d.pad = 2;
    spec_push(&s, d);
    spec_push(&s, ls_layer(NN_LAYER_RELU6));
    d.kernel = 3, d.stride = 1, d.pad = 0, d.bias = 0;
    spec_push(&s, d);
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
    /* 9x8 -> 5x4 (k5 s2 p2) -> relu6 -> 3x2 (k3 s1 p0) */
    cr_assert(m.nodes[0].out_c == 3 && m.nodes[0].out_h == 5 && m.nodes[0].out_w == 4);
    cr_assert_eq(m.nodes[0].w.n, 3 * 25);
    cr_assert_eq(m.nodes[0].b.n, 3);
    cr_assert_eq(m.nodes[0].macs, 3 * 5 * 4 * 25);
    cr_assert(m.nodes[1].out_c == 3 && m.nodes[1].out_h == 5 && m.nodes[1].w.n == 0);
    cr_assert(m.nodes[2].out_c == 3 && m.nodes[2].out_h == 3 && m.nodes[2].out_w == 2);
    cr_assert(m.nodes[2].w.n == 27 && m.nodes[2].b.n == 0 && m.nodes[2].macs == 3 * 6 * 9);
    cr_assert_eq(m.n_params, 75 + 3 + 27);
    nn_model_free(&m);
}

Test(model_spec, pool_errors_and_windows_larger_than_the_input)
{
    const nn_layer_type types[] = {NN_LAYER_MAXPOOL, NN_LAYER_AVGPOOL};
    const char *names[] = {"maxpool", "avgpool"};
    for (int t = 0; t < 2; t++) {
        const struct {
            int k, stride;
            const char *what;
        } cases[] = {
            {0, 1, "needs size and stride in [1, 1024]"},
            {1025, 1, "needs size and stride in [1, 1024]"},
            {2, 0, "needs size and stride in [1, 1024]"},
            {2, 1025, "needs size and stride in [1, 1024]"},
            /* the conv leaves 6x6 (8 - 3 + 1): a 7x7 window does not fit */
            {7, 1, "window larger than the input"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            nn_model_spec s;
            spec_begin(&s, 1, 8, 8, 0);
            spec_push(&s, ls_conv(2, 3, 0, 1));
            spec_push(&s, pool(types[t], cases[i].k, cases[i].stride));
            char want[200];
            snprintf(want, sizeof want, "layer 1 (%s): %s", names[t], cases[i].what);
            expect_error(&s, want);
        }
        /* a 6x6 window on 6x6 fits: one output */
        nn_model_spec s;
        spec_begin(&s, 1, 8, 8, 2);
        spec_push(&s, ls_conv(2, 3, 0, 1));
        spec_push(&s, pool(types[t], 6, 6));
        nn_model m;
        nn_error err;
        cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
        cr_assert(m.nodes[1].out_c == 2 && m.nodes[1].out_h == 1 && m.nodes[1].out_w == 1);
        nn_model_free(&m);
    }
}

Test(model_spec, dense_dropout_batchnorm_and_type_errors)
{
    nn_model_spec s;
    const int units[] = {0, (1 << 24) + 1};
    for (int i = 0; i < 2; i++) {
        spec_begin(&s, 1, 8, 8, 0);
        spec_push(&s, named(ls_dense(units[i]), "fc"));
        expect_error(&s, "layer 0 (dense \"fc\"): units must be in [1, 16777216]");
    }
    /* 2^24 units x 2^8 inputs = 2^32 weights */
    spec_begin(&s, 4, 8, 8, 0);
    spec_push(&s, ls_dense(1 << 24));
    expect_error(&s, "layer 0 (dense): too many weights");
    /* Two layers of 2^30 (+ 2^24 bias) parameters each, both reading the
     * 64-value input: the total passes 2^31 at the second. */
    spec_begin(&s, 1, 8, 8, 0);
    spec_push(&s, ls_dense(1 << 24));
    nn_layer_spec second = ls_dense(1 << 24);
    second.input = NN_INPUT_NODE;
    spec_push(&s, second);
    expect_error(&s, "layer 1 (dense): too large");

    const float rates[] = {-0.1f, 1.0f, 1.5f, NAN};
    for (int i = 0; i < 4; i++) {
        spec_begin(&s, 1, 8, 8, 0);
        nn_layer_spec d = ls_layer(NN_LAYER_DROPOUT);
        d.rate = rates[i];
        spec_push(&s, d);
        expect_error(&s, "layer 0 (dropout): rate must be in [0, 1)");
    }

    const float bn[][2] = {{0.0f, 0.1f}, {-1e-5f, 0.1f}, {1e-5f, -0.1f}, {1e-5f, 1.5f},
                           {NAN, 0.1f}};
    for (int i = 0; i < 5; i++) {
        spec_begin(&s, 1, 8, 8, 0);
        nn_layer_spec b = named(ls_layer(NN_LAYER_BATCHNORM), "bn1");
        b.eps = bn[i][0], b.momentum = bn[i][1];
        spec_push(&s, b);
        expect_error(&s, "layer 0 (batchnorm \"bn1\"): needs eps > 0 and momentum in [0, 1]");
    }

    spec_begin(&s, 1, 8, 8, 0);
    spec_push(&s, ls_layer((nn_layer_type)42));
    expect_error(&s, "layer 0 (?): unknown layer type");
    s.layers[0].type = (nn_layer_type)0;
    expect_error(&s, "layer 0 (?): unknown layer type");
}

/* Errors past the first layer carry the right index, and a valid spec's
 * counts agree between nn_model_count and nn_model_build. */
Test(model_spec, counts_agree_and_later_layers_are_named)
{
    nn_model_spec s;
    spec_begin(&s, 3, 10, 10, 5);
    spec_push(&s, ls_conv(4, 3, 1, 0));
    spec_push(&s, ls_layer(NN_LAYER_BATCHNORM));
    spec_push(&s, ls_layer(NN_LAYER_RELU));
    spec_push(&s, pool(NN_LAYER_MAXPOOL, 2, 2));
    spec_push(&s, ls_layer(NN_LAYER_FLATTEN));
    spec_push(&s, ls_dense(5));
    size_t np = 0, ns = 0;
    nn_error err;
    cr_assert_eq(nn_model_count(&s, &np, &ns, &err), NN_OK, "%s", err.msg);
    /* conv 4*3*9 = 108, bn 4 + 4, dense 5 * 4*5*5 + 5 = 505; bn state 8 */
    cr_assert_eq(np, 108 + 8 + 505);
    cr_assert_eq(ns, 8);
    nn_model m;
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(m.n_params, np);
    cr_assert_eq(m.n_state, ns);
    nn_model_free(&m);
    s.num_classes = 4;
    expect_error(&s, "the last layer outputs 5 values but the data has 4 classes");
    s.layers[3].kernel = 11;
    expect_error(&s, "layer 3 (maxpool): window larger than the input");
}
