/* test_config.c - the JSON run configuration (config/cfg.c).
 *
 * Three groups: the shipped configs parse into the networks they promise;
 * a golden parse of one config that uses every layer type and every key
 * (plus the defaults of a minimal one); and the error paths, where each
 * test checks the status AND that the message starts with the source name
 * followed by the exact JSON path, since naming the key is the point. The
 * binary runs from the repository root, so configs/ paths are relative. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_helpers.h"
#include "config/cfg.h"

/* A minimal valid config, assembled from blocks so tests can swap one. */
#define DATA "\"data\": {\"dataset\": \"mnist\"}"
#define MODEL "\"model\": {\"layers\": [{\"type\": \"flatten\"}, {\"type\": \"dense\", \"units\": 10}]}"
#define TRAIN "\"train\": {\"epochs\": 1, \"lr\": 0.1}"
/* A config whose model block has the given layers (a JSON list body). */
#define WITH_LAYERS(l) "{" DATA ", \"model\": {\"layers\": [" l "]}, " TRAIN "}"
/* A config whose train block has the given body. */
#define WITH_TRAIN(t) "{" DATA ", " MODEL ", \"train\": {" t "}}"

/* cfg_config is ~25 KB; one per test process is fine on the stack, but a
 * static keeps the frames small under the sanitizers. */
static cfg_config cfg;

static void parse_ok(const char *json) { cfgt_parse_ok(&cfg, json, "t.json"); }

static void load_ok(const char *path)
{
    nn_error e = {{0}};
    nn_status s = cfg_load(&cfg, NULL, path, &e);
    cr_assert_eq(s, NN_OK, "%s: %s", path, e.msg);
}

/* Expects NN_ERR_CONFIG with a message starting "t.json: <path>: " and, if
 * given, containing `also` (the reason). */
static void expect_config_error(const char *json, const char *path, const char *also)
{
    cfgt_expect_error(&cfg, json, "t.json", path, ": ,", also);
    /* A failed parse leaves nothing half-filled. */
    cr_assert_eq(cfg.model.n_layers, 0);
    cr_assert_eq(cfg.train.epochs, 0);
}

static void assert_layer(int i, nn_layer_type type, int input)
{
    const nn_layer_spec *l = &cfg.model.layers[i];
    cr_assert_eq(l->type, type, "layers[%d].type = %d, want %d", i, l->type, type);
    cr_assert_eq(l->input, input, "layers[%d].input = %d, want %d", i, l->input, input);
}

static void assert_conv(int i, int filters, int kernel, int stride, int pad, int bias)
{
    const nn_layer_spec *l = &cfg.model.layers[i];
    cr_assert_eq(l->type, NN_LAYER_CONV2D, "layers[%d] is not conv2d", i);
    cr_assert_eq(l->out_channels, filters, "layers[%d].filters", i);
    cr_assert_eq(l->kernel, kernel, "layers[%d].kernel", i);
    cr_assert_eq(l->stride, stride, "layers[%d].stride", i);
    cr_assert_eq(l->pad, pad, "layers[%d].pad", i);
    cr_assert_eq(l->bias, bias, "layers[%d].bias", i);
}

/* Layers first..first+4 are the reference network's block: conv 3x3 (pad 1,
 * bias), ReLU, conv 3x3, ReLU, 2x2 max-pool with stride 2. */
static void assert_conv_block(int first, int filters)
{
    for (int k = 0; k < 2; k++) {
        assert_conv(first + 2 * k, filters, 3, 1, 1, 1);
        assert_layer(first + 2 * k + 1, NN_LAYER_RELU, first + 2 * k);
    }
    assert_layer(first + 4, NN_LAYER_MAXPOOL, first + 3);
    cr_assert_eq(cfg.model.layers[first + 4].kernel, 2);
    cr_assert_eq(cfg.model.layers[first + 4].stride, 2);
}

/* Index of the layer named `name`, or -100. */
static int index_of(const char *name)
{
    for (int i = 0; i < cfg.model.n_layers; i++)
        if (strcmp(cfg.model.layers[i].name, name) == 0)
            return i;
    return -100;
}

/* ------------------------------------------------------------------------ */
/* Shipped configs                                                          */

Test(config_shipped, mnist_ref_is_exactly_the_reference_network)
{
    load_ok("configs/mnist_ref.json");
    cr_assert_str_eq(cfg.data.dataset, "mnist");
    cr_assert_str_eq(cfg.data.dir, "configs/../data/mnist"); /* the config's folder */
    cr_assert_eq(cfg.data.validation, 0);
    cr_assert_eq(cfg.init, NN_INIT_HE);

    const nn_model_spec *m = &cfg.model;
    cr_assert_eq(m->n_layers, 15);
    cr_assert_eq(m->in_c, 0, "the input shape comes from the dataset");
    assert_conv_block(0, 32);
    assert_conv_block(5, 64);
    assert_layer(10, NN_LAYER_FLATTEN, 9);
    assert_layer(11, NN_LAYER_DENSE, 10);
    cr_assert_eq(m->layers[11].units, 256);
    cr_assert_eq(m->layers[11].bias, 1);
    assert_layer(12, NN_LAYER_RELU, 11);
    assert_layer(13, NN_LAYER_DROPOUT, 12);
    cr_assert_float_eq(m->layers[13].rate, 0.5f, 1e-7);
    assert_layer(14, NN_LAYER_DENSE, 13);
    cr_assert_eq(m->layers[14].units, 10);
    cr_assert_eq(m->layers[0].input, NN_INPUT_NODE);

    const cfg_train *t = &cfg.train;
    cr_assert_eq(t->epochs, 12);
    cr_assert_eq(t->batch_size, 128);
    cr_assert_eq(t->seed, 1);
    cr_assert_float_eq(t->lr, 0.02f, 1e-9);
    cr_assert_eq(t->optim.kind, NN_OPT_SGD);
    cr_assert_float_eq(t->optim.momentum, 0.9f, 1e-9);
    cr_assert_eq(t->optim.nesterov, 1);
    cr_assert_float_eq(t->optim.weight_decay, 5e-4f, 1e-12);
    cr_assert_eq(t->schedule.kind, NN_SCHED_COSINE);
    cr_assert_float_eq(t->schedule.base_lr, 0.02f, 1e-9);
    cr_assert_float_eq(t->schedule.min_lr, 0.0f, 0);
    cr_assert_float_eq(t->schedule.warmup_epochs, 0.0f, 0);
    cr_assert_float_eq(t->label_smoothing, 0.0f, 0);
}

Test(config_shipped, mnist)
{
    load_ok("configs/mnist.json");
    cr_assert_str_eq(cfg.data.dataset, "mnist");
    const nn_model_spec *m = &cfg.model;
    cr_assert_eq(m->n_layers, 19);
    int convs = 0, bns = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].type == NN_LAYER_CONV2D) {
            convs++;
            cr_assert_eq(m->layers[i + 1].type, NN_LAYER_BATCHNORM, "conv %d without BN", i);
            cr_assert_eq(m->layers[i].bias, 0, "conv %d before BN needs no bias", i);
        }
        bns += m->layers[i].type == NN_LAYER_BATCHNORM;
    }
    cr_assert_eq(convs, 4);
    cr_assert_eq(bns, 4);
    cr_assert_eq(m->layers[m->n_layers - 1].type, NN_LAYER_DENSE);
    cr_assert_eq(m->layers[m->n_layers - 1].units, 10);
    cr_assert(cfg.train.epochs >= 10 && cfg.train.epochs <= 15);
    cr_assert_eq(cfg.train.optim.kind, NN_OPT_SGD);
    cr_assert_eq(cfg.train.optim.nesterov, 1);
    cr_assert_eq(cfg.train.schedule.kind, NN_SCHED_ONECYCLE);
    cr_assert_float_eq(cfg.train.schedule.base_lr, cfg.train.lr, 0);
    cr_assert_float_eq(cfg.train.label_smoothing, 0.1f, 1e-7);
}

Test(config_shipped, fashion)
{
    load_ok("configs/fashion.json");
    cr_assert_str_eq(cfg.data.dataset, "fashion");
    cr_assert_str_eq(cfg.data.dir, "data/fashion");
    cr_assert_eq(cfg.data.validation, 0);
    cr_assert_eq(cfg.model.n_layers, 19);
    assert_conv(0, 32, 3, 1, 1, 0);
    assert_conv(10, 64, 3, 1, 1, 0);
    cr_assert_eq(cfg.model.layers[18].units, 10);
    cr_assert_eq(cfg.train.epochs, 15);
    cr_assert_eq(cfg.train.batch_size, 64);
    cr_assert_eq(cfg.train.schedule.kind, NN_SCHED_ONECYCLE);
}

Test(config_shipped, cifar10_residual_blocks_resolve)
{
    load_ok("configs/cifar10.json");
    cr_assert_str_eq(cfg.data.dataset, "cifar10");
    cr_assert_eq(cfg.data.have_norm, 1);
    cr_assert_eq(cfg.data.norm_channels, 3);
    const nn_model_spec *m = &cfg.model;
    cr_assert_eq(m->n_layers, 29);
    int adds = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nn_layer_spec *l = &m->layers[i];
        if (l->type == NN_LAYER_ADD) {
            adds++;
            cr_assert_eq(l->input, i - 1);
            cr_assert(l->input2 >= 0 && l->input2 < i - 1, "add %d from %d", i, l->input2);
            cr_assert_eq(m->layers[l->input2].type, NN_LAYER_RELU);
        } else {
            cr_assert_eq(l->input2, NN_INPUT_NODE - 1, "layer %d has a second input", i);
        }
    }
    cr_assert_eq(adds, 2);
    cr_assert_eq(m->layers[index_of("s1")].type, NN_LAYER_RELU);
    cr_assert_eq(m->layers[12].input2, index_of("s1"));
    cr_assert_eq(m->layers[23].input2, index_of("s2"));
    cr_assert_eq(m->layers[25].type, NN_LAYER_GLOBAL_AVGPOOL);
    cr_assert_eq(m->layers[27].type, NN_LAYER_DROPOUT);
    cr_assert_eq(m->layers[28].type, NN_LAYER_DENSE);
    cr_assert_eq(m->layers[28].units, 10);
    cr_assert(cfg.augment.hflip && cfg.augment.crop_pad > 0, "CIFAR-10 trains with flips and crops");
    cr_assert(cfg.train.batch_size == 256 || cfg.train.batch_size == 512);
    cr_assert_eq(cfg.train.optim.nesterov, 1);
    cr_assert_float_eq(cfg.train.label_smoothing, 0.2f, 1e-7);
}

/* The MLPerf Tiny ResNet-8 (issue 14, docs/mlperf-tiny.md), and its open-division
 * variants (4-bit; pruned), which must describe the same network so prune and quantize accept
 * the closed-division checkpoint. The counts are the reference's: 77,360
 * weights + 10 dense biases + 480 BN gamma/beta (no conv biases), 12,501,632
 * conv and dense MACs. */
Test(config_shipped, cifar10_resnet8_is_the_mlperf_network)
{
    static const char *const paths[] = {"configs/cifar10_resnet8.json",
                                        "configs/cifar10_resnet8_open.json",
                                        "configs/cifar10_resnet8_pruned.json"};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        load_ok(paths[p]);
        cfg_set_input(&cfg, 3, 32, 32, 10);
        nn_model m;
        nn_error e = {{0}};
        cr_assert_eq(nn_model_build(&m, &cfg.model, &e), NN_OK, "%s: %s", paths[p], e.msg);
        cr_assert_eq(m.n_params, 77850, "%s: %zu parameters", paths[p], m.n_params);
        uint64_t conv_dense = 0;
        int convs = 0, adds = 0, projections = 0;
        for (int i = 0; i < m.n_nodes; i++) {
            const nn_node *n = &m.nodes[i];
            if (n->spec.type == NN_LAYER_CONV2D || n->spec.type == NN_LAYER_DENSE)
                conv_dense += n->macs;
            if (n->spec.type == NN_LAYER_CONV2D) {
                convs++;
                cr_assert_eq(n->spec.bias, 0, "%s: conv %d has a bias", paths[p], i);
                if (n->spec.kernel == 1) {
                    /* A 1x1 stride-2 shortcut reads the block input, not the layer before. */
                    projections++;
                    cr_assert_eq(n->spec.stride, 2);
                    cr_assert_eq(m.nodes[n->spec.input].spec.type, NN_LAYER_RELU);
                    cr_assert(n->spec.input < i - 1, "%s: projection %d", paths[p], i);
                }
            }
            if (n->spec.type == NN_LAYER_ADD)
                adds++;
        }
        cr_assert_eq(conv_dense, 12501632ULL, "%s: %llu MACs", paths[p],
                     (unsigned long long)conv_dense);
        cr_assert_eq(convs, 9);
        cr_assert_eq(projections, 2);
        cr_assert_eq(adds, 3);
        const nn_node *last = &m.nodes[m.n_nodes - 1];
        cr_assert_eq(last->spec.type, NN_LAYER_DENSE);
        cr_assert_eq(m.nodes[m.n_nodes - 3].spec.type, NN_LAYER_GLOBAL_AVGPOOL);
        cr_assert_eq(m.nodes[m.n_nodes - 3].in_c * m.nodes[m.n_nodes - 3].in_h, 64 * 8);
        nn_model_free(&m);
    }
}

/* The shapes are nn_model_build's business, but a shipped config whose
 * network does not fit its dataset should fail here, not an hour into a run. */
/* Issue 18's small MNIST network: 38,714 parameters, 4-bit weights but the
 * first conv's, quantization-aware fine-tuning with distillation. */
Test(config_shipped, mnist_small_quantizes_after_qat)
{
    load_ok("configs/mnist_small.json");
    cfg_set_input(&cfg, 1, 28, 28, 10);
    nn_model m;
    nn_error e = {{0}};
    cr_assert_eq(nn_model_build(&m, &cfg.model, &e), NN_OK, "%s", e.msg);
    cr_expect_eq(m.n_params, 38714u);
    nn_model_free(&m);
    const cfg_quantize *q = &cfg.quantize;
    cr_expect_eq(q->qz.weight_bits, 4);
    cr_expect(q->qz.n_overrides == 1 && q->qz.override_layer[0] == 0 && q->qz.override_bits[0] == 8);
    cr_expect_eq(q->qat.epochs, 2);
    cr_expect_float_eq(q->qat.lr, 0.002f, 1e-9);
    cr_expect_eq(q->qat.schedule.kind, NN_SCHED_COSINE);
    cr_expect_eq(q->qat.distill, 1);
}

Test(config_shipped, all_build_for_their_dataset)
{
    static const struct {
        const char *path;
        int c, hw;
    } shipped[] = {{"configs/mnist_ref.json", 1, 28},
                   {"configs/mnist.json", 1, 28},
                   {"configs/fashion.json", 1, 28},
                   {"configs/cifar10.json", 3, 32},
                   {"configs/cifar10_resnet8.json", 3, 32},
                   {"configs/cifar10_resnet8_open.json", 3, 32},
                   {"configs/cifar10_resnet8_pruned.json", 3, 32},
                   {"configs/mnist_tiny.json", 1, 28},
                   {"configs/mnist_small.json", 1, 28},
                   {"configs/mnist_dwsep.json", 1, 28},
                   {"configs/mnist_structured.json", 1, 28}};
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        load_ok(shipped[i].path);
        cfg_set_input(&cfg, shipped[i].c, shipped[i].hw, shipped[i].hw, 10);
        nn_model m;
        nn_error e = {{0}};
        cr_assert_eq(nn_model_build(&m, &cfg.model, &e), NN_OK, "%s: %s", shipped[i].path, e.msg);
        const nn_node *last = &m.nodes[m.n_nodes - 1];
        cr_assert_eq(last->out_c * last->out_h * last->out_w, 10, "%s", shipped[i].path);
        /* Cheap enough for a 2-core CPU (docs/config.md lists the costs). */
        cr_assert(nn_model_macs(&m) < 100000000ULL, "%s", shipped[i].path);
        nn_model_free(&m);
    }
}

/* ------------------------------------------------------------------------ */
/* Golden parses                                                            */

/* Every layer type, every key, every block; comments included. */
static const char *const golden =
    "{\n"
    "  \"comment\": \"golden\",\n"
    "  \"data\": {\"dataset\": \"cifar10\", \"dir\": \"/tmp/c10\", \"validation\": 5000,\n"
    "           \"limit\": 20000,\n"
    "           \"mean\": [0.5, 0.25, 0.125], \"std\": [0.2, 0.3, 0.4]},\n"
    "  \"model\": {\"init\": \"glorot\", \"layers\": [\n"
    "    {\"type\": \"conv2d\", \"name\": \"c1\", \"input\": \"input\", \"filters\": 16,\n"
    "     \"kernel\": 5, \"stride\": 2, \"pad\": 2, \"bias\": false, \"comment\": \"stem\"},\n"
    "    {\"type\": \"batchnorm\", \"name\": \"bn1\", \"momentum\": 0.05, \"eps\": 1e-3},\n"
    "    {\"type\": \"relu\", \"name\": \"r1\"},\n"
    "    {\"type\": \"maxpool\", \"size\": 3, \"stride\": 1},\n"
    "    {\"type\": \"avgpool\", \"size\": 2, \"input\": \"r1\"},\n"
    "    {\"type\": \"conv2d\", \"name\": \"proj\", \"input\": \"c1\", \"filters\": 16, \"kernel\": 1},\n"
    "    {\"type\": \"add\", \"name\": \"sum\", \"input\": \"proj\", \"from\": \"bn1\"},\n"
    "    {\"type\": \"add\", \"from\": \"input\"},\n"
    "    {\"type\": \"global_avgpool\"},\n"
    "    {\"type\": \"flatten\"},\n"
    "    {\"type\": \"dropout\", \"rate\": 0.25},\n"
    "    {\"type\": \"dense\", \"name\": \"out\", \"units\": 10, \"bias\": false}\n"
    "  ]},\n"
    "  \"train\": {\"epochs\": 30, \"batch_size\": 64, \"seed\": 12345678901, \"lr\": 0.003,\n"
    "    \"optimizer\": {\"type\": \"adamw\", \"beta1\": 0.8, \"beta2\": 0.99, \"eps\": 1e-7,\n"
    "                  \"weight_decay\": 0.05},\n"
    "    \"schedule\": {\"type\": \"step\", \"warmup_epochs\": 2, \"step_epochs\": 7.5,\n"
    "                 \"gamma\": 0.5},\n"
    "    \"label_smoothing\": 0.15, \"eval_batch\": 1000}\n"
    "}\n";

Test(config_golden, every_layer_type_and_key)
{
    parse_ok(golden);
    const cfg_data *d = &cfg.data;
    cr_assert_str_eq(d->dataset, "cifar10");
    cr_assert_str_eq(d->dir, "/tmp/c10");
    cr_assert_eq(d->validation, 5000);
    cr_assert_eq(d->limit, 20000);
    cr_assert_eq(d->have_norm, 1);
    cr_assert_eq(d->norm_channels, 3);
    cr_assert_float_eq(d->mean[2], 0.125f, 0);
    cr_assert_float_eq(d->std[1], 0.3f, 1e-7);
    cr_assert_eq(cfg.init, NN_INIT_GLOROT);

    const nn_model_spec *m = &cfg.model;
    cr_assert_eq(m->n_layers, 12);
    const nn_layer_spec *l = m->layers;
    cr_assert_str_eq(l[0].name, "c1");
    assert_layer(0, NN_LAYER_CONV2D, NN_INPUT_NODE);
    assert_conv(0, 16, 5, 2, 2, 0);

    assert_layer(1, NN_LAYER_BATCHNORM, 0);
    cr_assert_str_eq(l[1].name, "bn1");
    cr_assert_float_eq(l[1].momentum, 0.05f, 0);
    cr_assert_float_eq(l[1].eps, 1e-3f, 0);

    assert_layer(2, NN_LAYER_RELU, 1);
    assert_layer(3, NN_LAYER_MAXPOOL, 2);
    cr_assert_eq(l[3].kernel, 3);
    cr_assert_eq(l[3].stride, 1);
    assert_layer(4, NN_LAYER_AVGPOOL, 2);      /* "input": "r1"          */
    cr_assert_eq(l[4].kernel, 2);
    cr_assert_eq(l[4].stride, 2);              /* stride defaults to size */

    assert_layer(5, NN_LAYER_CONV2D, 0);       /* "input": "c1"          */
    assert_conv(5, 16, 1, 1, 0, 1);            /* pad 0, bias true       */
    assert_layer(6, NN_LAYER_ADD, 5);
    cr_assert_eq(l[6].input2, 1);              /* "from": "bn1"          */
    assert_layer(7, NN_LAYER_ADD, 6);
    cr_assert_eq(l[7].input2, NN_INPUT_NODE);  /* "from": "input"        */
    assert_layer(8, NN_LAYER_GLOBAL_AVGPOOL, 7);
    assert_layer(9, NN_LAYER_FLATTEN, 8);
    assert_layer(10, NN_LAYER_DROPOUT, 9);
    cr_assert_float_eq(l[10].rate, 0.25f, 0);
    assert_layer(11, NN_LAYER_DENSE, 10);
    cr_assert_eq(l[11].units, 10);
    cr_assert_eq(l[11].bias, 0);
    cr_assert_str_eq(l[11].name, "out");
    cr_assert_str_eq(l[10].name, "");

    const cfg_train *t = &cfg.train;
    cr_assert_eq(t->epochs, 30);
    cr_assert_eq(t->batch_size, 64);
    cr_assert_eq(t->seed, 12345678901ULL);
    cr_assert_float_eq(t->lr, 0.003f, 0);
    cr_assert_eq(t->optim.kind, NN_OPT_ADAMW);
    cr_assert_float_eq(t->optim.beta1, 0.8f, 0);
    cr_assert_float_eq(t->optim.beta2, 0.99f, 0);
    cr_assert_float_eq(t->optim.eps, 1e-7f, 0);
    cr_assert_float_eq(t->optim.weight_decay, 0.05f, 0);
    cr_assert_eq(t->schedule.kind, NN_SCHED_STEP);
    cr_assert_float_eq(t->schedule.base_lr, 0.003f, 0);
    cr_assert_float_eq(t->schedule.warmup_epochs, 2.0f, 0);
    cr_assert_float_eq(t->schedule.step_epochs, 7.5f, 0);
    cr_assert_float_eq(t->schedule.gamma, 0.5f, 0);
    cr_assert_float_eq(t->label_smoothing, 0.15f, 0);
    cr_assert_eq(t->eval_batch, 1000);
}

Test(config_golden, defaults_of_a_minimal_config)
{
    parse_ok(WITH_LAYERS("{\"type\": \"conv2d\", \"filters\": 4}, {\"type\": \"maxpool\"},"
                         "{\"type\": \"avgpool\", \"size\": 3}, {\"type\": \"batchnorm\"},"
                         "{\"type\": \"dropout\"}, {\"type\": \"flatten\"},"
                         "{\"type\": \"dense\", \"units\": 10}"));
    cr_assert_str_eq(cfg.data.dir, "data/mnist");
    cr_assert_eq(cfg.data.validation, 0);
    cr_assert_eq(cfg.data.limit, 0);
    cr_assert_eq(cfg.data.have_norm, 0);
    cr_assert_eq(cfg.init, NN_INIT_HE);
    const nn_layer_spec *l = cfg.model.layers;
    assert_conv(0, 4, 3, 1, 0, 1);
    cr_assert_eq(l[1].kernel, 2);
    cr_assert_eq(l[1].stride, 2);
    cr_assert_eq(l[2].kernel, 3);
    cr_assert_eq(l[2].stride, 3);
    cr_assert_float_eq(l[3].momentum, 0.1f, 0);
    cr_assert_float_eq(l[3].eps, 1e-5f, 0);
    cr_assert_float_eq(l[4].rate, 0.5f, 0);
    cr_assert_eq(l[6].bias, 1);
    for (int i = 0; i < cfg.model.n_layers; i++)
        assert_layer(i, l[i].type, i == 0 ? NN_INPUT_NODE : i - 1);

    const cfg_train *t = &cfg.train;
    cr_assert_eq(t->batch_size, 128);
    cr_assert_eq(t->eval_batch, 256);
    cr_assert_eq(t->seed, 1);
    cr_assert_float_eq(t->label_smoothing, 0.0f, 0);
    cr_assert_eq(t->optim.kind, NN_OPT_SGD);
    cr_assert_float_eq(t->optim.momentum, 0.9f, 0);
    cr_assert_eq(t->optim.nesterov, 0);
    cr_assert_float_eq(t->optim.weight_decay, 0.0f, 0);
    cr_assert_eq(t->schedule.kind, NN_SCHED_CONSTANT);
    cr_assert_float_eq(t->schedule.base_lr, 0.1f, 0);
    cr_assert_float_eq(t->schedule.warmup_epochs, 0.0f, 0);
}

Test(config_golden, optimizer_and_schedule_shorthand_and_other_schedules)
{
    parse_ok(WITH_TRAIN("\"epochs\": 5, \"lr\": 0.001, \"optimizer\": \"adamw\","
                        "\"schedule\": \"onecycle\""));
    cr_assert_eq(cfg.train.optim.kind, NN_OPT_ADAMW);
    cr_assert_float_eq(cfg.train.optim.beta1, 0.9f, 0);
    cr_assert_float_eq(cfg.train.optim.beta2, 0.999f, 0);
    cr_assert_float_eq(cfg.train.optim.eps, 1e-8f, 0);
    cr_assert_float_eq(cfg.train.optim.weight_decay, 0.01f, 0);
    cr_assert_eq(cfg.train.schedule.kind, NN_SCHED_ONECYCLE);
    cr_assert_float_eq(cfg.train.schedule.pct_start, 0.25f, 0);
    cr_assert_float_eq(cfg.train.schedule.div_factor, 25.0f, 0);
    cr_assert_float_eq(cfg.train.schedule.final_div_factor, 1e4f, 0);

    parse_ok(WITH_TRAIN("\"epochs\": 5, \"lr\": 0.1, \"schedule\": {\"type\": \"onecycle\","
                        "\"pct_start\": 0.3, \"div_factor\": 10, \"final_div_factor\": 100}"));
    cr_assert_float_eq(cfg.train.schedule.pct_start, 0.3f, 0);
    cr_assert_float_eq(cfg.train.schedule.div_factor, 10.0f, 0);
    cr_assert_float_eq(cfg.train.schedule.final_div_factor, 100.0f, 0);

    parse_ok(WITH_TRAIN("\"epochs\": 5, \"lr\": 0.1, \"schedule\": {\"type\": \"cosine\","
                        "\"warmup_epochs\": 0.5, \"min_lr\": 0.001}"));
    cr_assert_eq(cfg.train.schedule.kind, NN_SCHED_COSINE);
    cr_assert_float_eq(cfg.train.schedule.warmup_epochs, 0.5f, 0);
    cr_assert_float_eq(cfg.train.schedule.min_lr, 0.001f, 0);
}

Test(config_golden, load_returns_the_text_and_set_input)
{
    char *text = NULL;
    nn_error e = {{0}};
    cr_assert_eq(cfg_load(&cfg, &text, "configs/mnist_ref.json", &e), NN_OK, "%s", e.msg);
    cr_assert_not_null(text);
    cr_assert(strstr(text, "\"mnist\""));
    /* The text parses to the same config (what --resume relies on) but for
     * data.dir, which cfg_load resolved against the file's folder and the
     * stored config carries resolved (pipeline's pl_data_store_dir). */
    static cfg_config again;
    cr_assert_eq(cfg_parse(&again, text, "ckpt", &e), NN_OK, "%s", e.msg);
    cr_assert_str_eq(again.data.dir, "../data/mnist");
    cr_assert_str_eq(cfg.data.dir, "configs/../data/mnist");
    memcpy(again.data.dir, cfg.data.dir, sizeof again.data.dir);
    cr_assert_eq(memcmp(&again, &cfg, sizeof cfg), 0);
    free(text);

    cfg_set_input(&cfg, 1, 28, 28, 10);
    cr_assert_eq(cfg.model.in_c, 1);
    cr_assert_eq(cfg.model.in_h, 28);
    cr_assert_eq(cfg.model.in_w, 28);
    cr_assert_eq(cfg.model.num_classes, 10);
}

/* ------------------------------------------------------------------------ */
/* Errors: status and the exact JSON path                                   */

Test(config_errors, unknown_top_level_key)
{
    expect_config_error("{" DATA ", " MODEL ", " TRAIN ", \"trian\": {}}", "trian",
                        "unknown key");
    /* A block's key at the wrong level says where it belongs. */
    expect_config_error("{" DATA ", " MODEL ", " TRAIN ", \"lr\": 0.1}", "lr", "\"train\"");
}

Test(config_errors, missing_blocks_and_required_keys)
{
    expect_config_error("{" DATA ", " MODEL "}", "train", "missing");
    expect_config_error("{" MODEL ", " TRAIN "}", "data", "missing");
    expect_config_error("{\"data\": {}, " MODEL ", " TRAIN "}", "data.dataset", "missing");
    expect_config_error(WITH_TRAIN("\"lr\": 0.1"), "train.epochs", "missing");
    expect_config_error(WITH_TRAIN("\"epochs\": 3"), "train.lr", "missing");
    expect_config_error("{" DATA ", \"model\": {}, " TRAIN "}", "model.layers", "missing");
    expect_config_error(WITH_LAYERS(""), "model.layers", "non-empty");
    expect_config_error(WITH_LAYERS("{\"type\": \"dense\"}"), "model.layers[0].units",
                        "missing");
    expect_config_error(WITH_LAYERS("{\"filters\": 3}"), "model.layers[0].type", "missing");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\"}, {\"type\": \"add\"}"),
                        "model.layers[1].from", "missing");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": {\"momentum\": 0.9}"),
                        "train.optimizer.type", "missing");
}

Test(config_errors, unknown_key_in_optimizer)
{
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": {\"type\": \"sgd\","
                                   "\"nesterow\": true}"),
                        "train.optimizer.nesterow", "did you mean \"nesterov\"");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": {\"type\": \"sgd\","
                                   "\"foo\": 1}"),
                        "train.optimizer.foo", "unknown key");
}

Test(config_errors, key_of_the_other_variant)
{
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": {\"type\": \"sgd\","
                                   "\"beta1\": 0.9}"),
                        "train.optimizer.beta1", "not valid for optimizer \"sgd\"");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": {\"type\": \"adamw\","
                                   "\"momentum\": 0.9}"),
                        "train.optimizer.momentum", "not valid");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"onecycle\","
                                   "\"warmup_epochs\": 1}"),
                        "train.schedule.warmup_epochs", "not valid for schedule \"onecycle\"");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"cosine\","
                                   "\"gamma\": 0.1}"),
                        "train.schedule.gamma", "not valid");
}

Test(config_errors, unknown_key_in_layer)
{
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\"}, {\"type\": \"conv2d\", \"filters\": 8,"
                                    "\"kernal\": 3}"),
                        "model.layers[1].kernal", "did you mean \"kernel\"");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"zzz\": 1}"), "model.layers[0].zzz",
                        "unknown key");
}

Test(config_errors, key_not_valid_for_layer_type)
{
    expect_config_error(WITH_LAYERS("{\"type\": \"maxpool\", \"kernel\": 2}"),
                        "model.layers[0].kernel", "not valid for layer type \"maxpool\"");
    expect_config_error(WITH_LAYERS("{\"type\": \"conv2d\", \"filters\": 8, \"units\": 3}"),
                        "model.layers[0].units", "not valid");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"from\": \"input\"}"),
                        "model.layers[0].from", "not valid");
    expect_config_error(WITH_LAYERS("{\"type\": \"dense\", \"units\": 3, \"pad\": 1}"),
                        "model.layers[0].pad", "not valid");
    /* Depthwise: the filter count is the input's channel count. */
    expect_config_error(WITH_LAYERS("{\"type\": \"depthwise_conv2d\", \"filters\": 8}"),
                        "model.layers[0].filters", "not valid for layer type \"depthwise_conv2d\"");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu6\", \"kernel\": 3}"),
                        "model.layers[0].kernel", "not valid for layer type \"relu6\"");
}

/* depthwise_conv2d and relu6: their keys and defaults (pad 0, stride 1,
 * bias true, kernel 3), and the range checks of the convolution's keys. */
Test(config_golden, depthwise_and_relu6)
{
    parse_ok(WITH_LAYERS("{\"type\": \"depthwise_conv2d\"}, {\"type\": \"relu6\"},"
                         "{\"type\": \"depthwise_conv2d\", \"kernel\": 5, \"stride\": 2,"
                         " \"pad\": 2, \"bias\": false}"));
    const nn_layer_spec *l = cfg.model.layers;
    cr_assert_eq(cfg.model.n_layers, 3);
    assert_layer(0, NN_LAYER_DEPTHWISE_CONV2D, NN_INPUT_NODE);
    cr_assert(l[0].kernel == 3 && l[0].stride == 1 && l[0].pad == 0 && l[0].bias == 1);
    assert_layer(1, NN_LAYER_RELU6, 0);
    assert_layer(2, NN_LAYER_DEPTHWISE_CONV2D, 1);
    cr_assert(l[2].kernel == 5 && l[2].stride == 2 && l[2].pad == 2 && l[2].bias == 0);
    expect_config_error(WITH_LAYERS("{\"type\": \"depthwise_conv2d\", \"kernel\": 3,"
                                    " \"pad\": 3}"),
                        "model.layers[0].pad", "[0, 2]");
    expect_config_error(WITH_LAYERS("{\"type\": \"depthwise_conv2d\", \"kernel\": 0}"),
                        "model.layers[0].kernel", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"depthwise_conv2d\", \"stride\": 0}"),
                        "model.layers[0].stride", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"depthwise_conv2d\", \"bias\": 1}"),
                        "model.layers[0].bias", "expected true or false");
}

Test(config_errors, wrong_types)
{
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": {\"type\": \"sgd\","
                                   "\"momentum\": \"0.9\"}"),
                        "train.optimizer.momentum", "expected a number in [0, 1), got \"0.9\"");
    expect_config_error(WITH_TRAIN("\"epochs\": 3.5, \"lr\": 0.1"), "train.epochs",
                        "expected an integer");
    expect_config_error(WITH_TRAIN("\"epochs\": true, \"lr\": 0.1"), "train.epochs", "got true");
    expect_config_error(WITH_LAYERS("{\"type\": \"dense\", \"units\": 10, \"bias\": 1}"),
                        "model.layers[0].bias", "expected true or false");
    expect_config_error(WITH_LAYERS("{\"type\": \"conv2d\", \"filters\": [8]}"),
                        "model.layers[0].filters", "got an array");
    expect_config_error(WITH_LAYERS("\"relu\""), "model.layers[0]", "expected an object");
    expect_config_error("{\"data\": \"mnist\", " MODEL ", " TRAIN "}", "data",
                        "expected an object");
    expect_config_error("{\"data\": {\"dataset\": \"mnist\", \"dir\": 5}, " MODEL ", " TRAIN "}",
                        "data.dir", "expected a string");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"schedule\": 3"),
                        "train.schedule", "expected an object");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"name\": 7}"), "model.layers[0].name",
                        "expected a string");
    expect_config_error("[1, 2]", "expected a JSON object", NULL);
}

Test(config_errors, out_of_range)
{
    expect_config_error(WITH_TRAIN("\"epochs\": 0, \"lr\": 0.1"), "train.epochs", "got 0");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": -0.1"), "train.lr", "> 0");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0"), "train.lr", NULL);
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"batch_size\": 0"),
                        "train.batch_size", NULL);
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"label_smoothing\": 1"),
                        "train.label_smoothing", "[0, 1)");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"seed\": -1"), "train.seed", NULL);
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": {\"type\": \"sgd\","
                                   "\"momentum\": 1}"),
                        "train.optimizer.momentum", "[0, 1)");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": {\"type\": \"sgd\","
                                   "\"momentum\": 0, \"nesterov\": true}"),
                        "train.optimizer.nesterov", "momentum > 0");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"cosine\","
                                   "\"warmup_epochs\": 3}"),
                        "train.schedule.warmup_epochs", "train.epochs");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"cosine\","
                                   "\"min_lr\": 0.2}"),
                        "train.schedule.min_lr", "train.lr");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"onecycle\","
                                   "\"pct_start\": 0}"),
                        "train.schedule.pct_start", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"dropout\", \"rate\": 1.0}"),
                        "model.layers[0].rate", "[0, 1)");
    expect_config_error(WITH_LAYERS("{\"type\": \"conv2d\", \"filters\": 0}"),
                        "model.layers[0].filters", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 0}"),
                        "model.layers[0].kernel", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"conv2d\", \"filters\": 8, \"stride\": 0}"),
                        "model.layers[0].stride", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"conv2d\", \"filters\": 8, \"pad\": -1}"),
                        "model.layers[0].pad", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"conv2d\", \"filters\": 8, \"kernel\": 3,"
                                    "\"pad\": 3}"),
                        "model.layers[0].pad", "[0, 2]");
    expect_config_error(WITH_LAYERS("{\"type\": \"dense\", \"units\": 0}"),
                        "model.layers[0].units", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"maxpool\", \"size\": 0}"),
                        "model.layers[0].size", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"batchnorm\", \"eps\": 0}"),
                        "model.layers[0].eps", NULL);
    expect_config_error("{\"data\": {\"dataset\": \"mnist\", \"validation\": -5}, " MODEL ", " TRAIN
                        "}",
                        "data.validation", NULL);
    expect_config_error("{\"data\": {\"dataset\": \"mnist\", \"limit\": 1.5}, " MODEL ", " TRAIN "}",
                        "data.limit", "integer");
    /* 0..255 pixel statistics instead of 0..1 ones. */
    expect_config_error("{\"data\": {\"dataset\": \"mnist\", \"mean\": [33.3], \"std\": [78.6]}, "
                        MODEL ", " TRAIN "}",
                        "data.mean[0]", "[0, 1]");
}

Test(config_errors, normalization_must_match)
{
    expect_config_error("{\"data\": {\"dataset\": \"mnist\", \"mean\": [0.1]}, " MODEL ", " TRAIN
                        "}",
                        "data.std", "both");
    expect_config_error("{\"data\": {\"dataset\": \"cifar10\", \"mean\": [0.1, 0.2, 0.3],"
                        "\"std\": [0.1, 0.2]}, " MODEL ", " TRAIN "}",
                        "data.std", "has 2 values");
    expect_config_error("{\"data\": {\"dataset\": \"cifar10\", \"mean\": [0.1], \"std\": [0.1]}, "
                        MODEL ", " TRAIN "}",
                        "data.mean", "3 channels");
}

Test(config_errors, unknown_enum_values)
{
    expect_config_error(WITH_LAYERS("{\"type\": \"conv\", \"filters\": 8}"),
                        "model.layers[0].type", "did you mean \"conv2d\"");
    expect_config_error(WITH_LAYERS("{\"type\": \"softmax\"}"), "model.layers[0].type",
                        "expected one of");
    expect_config_error("{\"data\": {\"dataset\": \"imagenet\"}, " MODEL ", " TRAIN "}",
                        "data.dataset", "got \"imagenet\"");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"optimizer\": \"adam\""),
                        "train.optimizer", "did you mean \"adamw\"");
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"schedule\": {\"type\": \"linear\"}"),
                        "train.schedule.type", "expected one of");
    expect_config_error("{" DATA ", \"model\": {\"init\": \"xavier\", \"layers\": [{\"type\": "
                        "\"relu\"}]}, " TRAIN "}",
                        "model.init", NULL);
}

Test(config_errors, bad_references)
{
    /* Unknown name. */
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"name\": \"a\"},"
                                    "{\"type\": \"add\", \"from\": \"b\"}"),
                        "model.layers[1].from", "no earlier layer is named \"b\"");
    /* A later layer. */
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\"}, {\"type\": \"add\", \"from\": \"late\"},"
                                    "{\"type\": \"relu\", \"name\": \"late\"}"),
                        "model.layers[1].from", "comes later");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"input\": \"late\"},"
                                    "{\"type\": \"relu\", \"name\": \"late\"}"),
                        "model.layers[0].input", "comes later");
    /* Itself. */
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"name\": \"me\", \"input\": \"me\"}"),
                        "model.layers[0].input", "itself");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"input\": 0}"), "model.layers[0].input",
                        "expected a string");
}

Test(config_errors, names)
{
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"name\": \"b1\"},"
                                    "{\"type\": \"relu\"},"
                                    "{\"type\": \"relu\", \"name\": \"b1\"}"),
                        "model.layers[2].name", "duplicate name \"b1\"");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"name\": \"input\"}"),
                        "model.layers[0].name", "reserved");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"name\": \"has space\"}"),
                        "model.layers[0].name", NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"name\": \"\"}"), "model.layers[0].name",
                        NULL);
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", "
                                    "\"name\": \"abcdefghijklmnopqrstuvwxyz0123456789\"}"),
                        "model.layers[0].name", NULL);
}

Test(config_errors, duplicate_keys)
{
    expect_config_error(WITH_TRAIN("\"epochs\": 3, \"lr\": 0.1, \"epochs\": 4"), "train.epochs",
                        "duplicate key");
    expect_config_error(WITH_LAYERS("{\"type\": \"relu\", \"type\": \"relu\"}"),
                        "model.layers[0].type", "duplicate key");
}

Test(config_errors, too_many_layers)
{
    /* NN_MAX_LAYERS + 1 relus. */
    size_t cap = 64 + (NN_MAX_LAYERS + 1) * 20 + 256;
    char *json = malloc(cap), *p = json;
    p += sprintf(p, "{" DATA ", " TRAIN ", \"model\": {\"layers\": [");
    for (int i = 0; i <= NN_MAX_LAYERS; i++)
        p += sprintf(p, "%s{\"type\": \"relu\"}", i ? "," : "");
    sprintf(p, "]}}");
    expect_config_error(json, "model.layers", "at most 256");
    free(json);
}

Test(config_errors, malformed_json_reports_line)
{
    /* The trailing comma is on line 4. */
    expect_config_error("{\n  " DATA ",\n  " MODEL ",\n  \"train\": {\"epochs\": 1, \"lr\": 0.1,}\n}",
                        "line 4, column", "malformed JSON");
    expect_config_error("{\n" DATA ",\n\n  \"model\" {}\n}", "line 4, column", "malformed JSON");
    /* Comments are not JSON; the message says what to use instead. */
    expect_config_error("{\n  // note\n  " DATA "}", "line 2, column 3", "\"comment\" key");
    expect_config_error("{" DATA ", " MODEL ", " TRAIN, "line 1", "unexpected end");
    expect_config_error("{" DATA ", " MODEL ", " TRAIN "} trailing", "line 1", "malformed JSON");
    expect_config_error("", "empty", NULL);
}

Test(config_errors, malformed_file_names_the_file)
{
    char path[] = "/tmp/iotcnn_cfg_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char bad[] = "{\n\n  \"data\": {\"dataset\": \"mnist\",}\n}\n";
    cr_assert_eq(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
    close(fd);
    nn_error e = {{0}};
    char *text = (char *)1;
    nn_status s = cfg_load(&cfg, &text, path, &e);
    unlink(path);
    cr_assert_eq(s, NN_ERR_CONFIG);
    cr_assert_null(text);
    char want[128];
    snprintf(want, sizeof want, "%s: line 3, column", path);
    cr_assert(strncmp(e.msg, want, strlen(want)) == 0, "message \"%s\"", e.msg);
}

Test(config_errors, missing_file_is_an_io_error_naming_the_path)
{
    nn_error e = {{0}};
    char *text = (char *)1;
    nn_status s = cfg_load(&cfg, &text, "configs/no_such_config.json", &e);
    cr_assert_eq(s, NN_ERR_IO);
    cr_assert_null(text);
    cr_assert(strstr(e.msg, "configs/no_such_config.json"), "message \"%s\"", e.msg);
}

/* ---- augment ---------------------------------------------------------------- */

Test(config_augment, absent_block_means_no_augmentation)
{
    nn_error e = {{0}};
    cr_assert_eq(cfg_parse(&cfg, "{" DATA ", " MODEL ", " TRAIN "}", "t.json", &e), NN_OK, "%s",
                 e.msg);
    cr_assert_not(aug_enabled(&cfg.augment));
    cr_assert_eq(cfg.test_flip, 0);
}

Test(config_augment, every_key_parses)
{
    nn_error e = {{0}};
    const char *json = "{" DATA ", " MODEL ", " TRAIN ", \"augment\": {\"rotate\": 10, "
                       "\"shear\": 8.5, \"zoom\": 0.1, \"translate\": 0.08, \"fill\": 3, "
                       "\"hflip\": true, \"crop_pad\": 4, \"crop_mode\": \"reflect\", "
                       "\"cutout\": 8, \"test_flip\": true, \"affine_p\": 0.75, "
                       "\"hflip_p\": 0.25, \"crop_p\": 1, \"cutout_p\": 0.5}}";
    cr_assert_eq(cfg_parse(&cfg, json, "t.json", &e), NN_OK, "%s", e.msg);
    const aug_config *a = &cfg.augment;
    cr_assert_float_eq(a->rotate_deg, 10.0f, 0);
    cr_assert_float_eq(a->shear_deg, 8.5f, 0);
    cr_assert_float_eq(a->zoom, 0.1f, 0);
    cr_assert_float_eq(a->translate, 0.08f, 0);
    cr_assert_eq(a->fill, 3);
    cr_assert_eq(a->hflip, 1);
    cr_assert_eq(a->crop_pad, 4);
    cr_assert_eq(a->crop_reflect, 1);
    cr_assert_eq(a->cutout, 8);
    cr_assert_eq(cfg.test_flip, 1);
    cr_assert_float_eq(a->p_affine, 0.75f, 0);
    cr_assert_float_eq(a->p_hflip, 0.25f, 0);
    cr_assert_float_eq(a->p_crop, 1.0f, 0);
    cr_assert_float_eq(a->p_cutout, 0.5f, 0);
    cr_assert(aug_enabled(a));
}

#define WITH_AUGMENT(a) "{" DATA ", " MODEL ", " TRAIN ", \"augment\": " a "}"

static const cfgt_error_case bad_augment[] = {
    {WITH_AUGMENT("{\"rotate\": 400}"), "augment.rotate", NULL},
    {WITH_AUGMENT("{\"zoom\": 1.5}"), "augment.zoom", NULL},
    {WITH_AUGMENT("{\"translate\": -0.1}"), "augment.translate", NULL},
    {WITH_AUGMENT("{\"fill\": 256}"), "augment.fill", NULL},
    {WITH_AUGMENT("{\"hflip\": 1}"), "augment.hflip", NULL},
    {WITH_AUGMENT("{\"test_flip\": \"yes\"}"), "augment.test_flip", NULL},
    {WITH_AUGMENT("{\"crop_mode\": \"wrap\"}"), "augment.crop_mode", NULL},
    {WITH_AUGMENT("{\"rotation\": 10}"), "augment.rotation", NULL},
    {WITH_AUGMENT("[1]"), "augment", NULL},
    /* probabilities: in (0, 1], and only next to the transform they gate */
    {WITH_AUGMENT("{\"rotate\": 5, \"affine_p\": 0}"), "augment.affine_p", "(0, 1]"},
    {WITH_AUGMENT("{\"cutout\": 5, \"cutout_p\": 1.5}"), "augment.cutout_p", "(0, 1]"},
    {WITH_AUGMENT("{\"crop_pad\": 2, \"crop_p\": \"half\"}"), "augment.crop_p", NULL},
    {WITH_AUGMENT("{\"hflip_p\": 0.3}"), "augment.hflip_p", "needs hflip true"},
    {WITH_AUGMENT("{\"hflip\": true, \"affine_p\": 0.5}"), "augment.affine_p",
     "rotate, shear, zoom or translate"},
    {WITH_AUGMENT("{\"crop_p\": 0.5}"), "augment.crop_p", "crop_pad"},
};

Test(config_augment, bad_ranges_types_and_keys_name_the_path)
{
    for (size_t i = 0; i < sizeof bad_augment / sizeof bad_augment[0]; i++)
        expect_config_error(bad_augment[i].json, bad_augment[i].path, bad_augment[i].also);
}
