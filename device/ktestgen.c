/* ktestgen.c - the host half of the on-device kernel test: random models
 * (every op and weight format, awkward shapes, extreme quantization
 * parameters) built as deploy images for a target, with random inputs and
 * the host's logits (the same model built as the host's image, run by the
 * runtime with the best ISA here), one file per case:
 *     kt.bin = u32 count, then per case: u32 image_bytes, u32 in_bytes,
 *              u32 classes, u32 inputs, image (padded to 8), inputs,
 *              expected logits (each padded to 4)
 *   ktestgen TARGET OUT.bin [SEED]                                       */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/rt_build.h"
#include "runtime/rt.h"
#include "runtime/rt_image.h"
#include "libnn/nn_rng.h"

static nn_rng R;
static int rnd(int n) { return (int)nn_rng_below(&R, (uint64_t)n); }

typedef struct {
    qm_model m;
    double sp[QM_MAX_OPS];
} tm;

static void shape_of(const qm_model *m, int id, int *c, int *h, int *w)
{
    if (id == QM_INPUT)
        *c = m->in_c, *h = m->in_h, *w = m->in_w;
    else
        *c = m->ops[id].out_c, *h = m->ops[id].out_h, *w = m->ops[id].out_w;
}

static qm_op *add_op(tm *t, qm_op_type type, int in)
{
    qm_op *op = &t->m.ops[t->m.n_ops++];
    memset(op, 0, sizeof *op);
    op->type = type, op->input = in, op->input2 = QM_INPUT, op->weight_bits = 8;
    shape_of(&t->m, in, &op->in_c, &op->in_h, &op->in_w);
    op->out.scale = 0.05f;
    return op;
}

static int conv(tm *t, int in, int oc, int k, int s, int pad, int relu, int bits, double sp)
{
    int c, h, w;
    shape_of(&t->m, in, &c, &h, &w);
    if (pad >= k)
        pad = k - 1;
    while (k > 1 && (h + 2 * pad < k || w + 2 * pad < k)) /* keep the window inside */
        k--, pad = pad >= k ? k - 1 : pad;
    qm_op *op = add_op(t, QM_CONV2D, in);
    op->kernel = k, op->stride = s, op->pad = pad, op->relu = relu, op->weight_bits = bits;
    op->out_c = oc;
    op->out_h = (op->in_h + 2 * pad - k) / s + 1, op->out_w = (op->in_w + 2 * pad - k) / s + 1;
    t->sp[t->m.n_ops - 1] = sp;
    return t->m.n_ops - 1;
}

/* A depthwise conv (out_c = in_c); relu a QM_ACT_* (a ReLU6 with an output
 * scale that puts its clamp inside the int8 range). */
static int depthwise(tm *t, int in, int k, int s, int pad, int relu, int bits)
{
    int c, h, w;
    shape_of(&t->m, in, &c, &h, &w);
    if (pad >= k)
        pad = k - 1;
    while (k > 1 && (h + 2 * pad < k || w + 2 * pad < k))
        k--, pad = pad >= k ? k - 1 : pad;
    qm_op *op = add_op(t, QM_DEPTHWISE, in);
    op->kernel = k, op->stride = s, op->pad = pad, op->relu = relu, op->weight_bits = bits;
    op->out_c = c;
    op->out_h = (h + 2 * pad - k) / s + 1, op->out_w = (w + 2 * pad - k) / s + 1;
    if (relu == QM_ACT_RELU6)
        op->out.scale = 0.08f;
    return t->m.n_ops - 1;
}

static int dense(tm *t, int in, int oc, int relu, int bits, double sp)
{
    qm_op *op = add_op(t, QM_DENSE, in);
    op->out_c = oc, op->out_h = op->out_w = 1, op->relu = relu, op->weight_bits = bits;
    t->sp[t->m.n_ops - 1] = sp;
    return t->m.n_ops - 1;
}

static int pool(tm *t, qm_op_type type, int in, int k, int s, int relu)
{
    qm_op *op = add_op(t, type, in);
    op->relu = relu, op->out_c = op->in_c;
    if (type == QM_GLOBAL_AVGPOOL) {
        op->out_h = op->out_w = 1;
    } else {
        op->kernel = k, op->stride = s;
        op->out_h = (op->in_h - k) / s + 1, op->out_w = (op->in_w - k) / s + 1;
    }
    return t->m.n_ops - 1;
}

static int add2(tm *t, int a, int b, int relu)
{
    qm_op *op = add_op(t, QM_ADD, a);
    op->input2 = b, op->relu = relu;
    op->out_c = op->in_c, op->out_h = op->in_h, op->out_w = op->in_w;
    return t->m.n_ops - 1;
}

static int32_t zero_of(const qm_model *m, int id) { return id == QM_INPUT ? m->in.zero : m->ops[id].out.zero; }

/* Random parameters; extreme = 1: zero points at the ends and shifts all
 * over [1, 62] (outputs mostly clamp, but every path of the requantization
 * runs). */
static int finish(tm *t, int extreme)
{
    qm_model *m = &t->m;
    const qm_op *last = &m->ops[m->n_ops - 1];
    m->num_classes = last->out_c * last->out_h * last->out_w;
    m->in.scale = 0.02f;
    m->in.zero = extreme ? (rnd(2) ? -128 : 127) : rnd(256) - 128;
    for (int i = 0; i < m->n_ops; i++) {
        qm_op *op = &m->ops[i];
        op->out.zero = extreme ? (rnd(3) == 0 ? -128 : rnd(3) == 0 ? 127 : rnd(256) - 128) : rnd(200) - 100;
        if (op->type == QM_MAXPOOL || op->type == QM_AVGPOOL || op->type == QM_GLOBAL_AVGPOOL)
            op->out.zero = zero_of(m, op->input);
    }
    nn_error err;
    if (qm_model_alloc(m, &err) != NN_OK) {
        fprintf(stderr, "ktestgen: %s\n", err.msg);
        return 1;
    }
    /* a random table, or (every other model) a normalization's: an
     * affine, clamped one, which the image holds as rules (RT_HF_INPUT_RULE) */
    const int affine = rnd(2);
    for (int c = 0; c < m->in_c; c++) {
        const double slope = 0.5 + 1.5 * nn_rng_uniform(&R), off = -200.0 + 150.0 * nn_rng_uniform(&R);
        for (int p = 0; p < 256; p++) {
            const double v = floor(slope * p + off + 0.5);
            m->input_lut[c * 256 + p] = (int8_t)(affine ? (v < -128 ? -128 : v > 127 ? 127 : v)
                                                        : rnd(256) - 128);
        }
    }
    for (int i = 0; i < m->n_ops; i++) {
        qm_op *op = &m->ops[i];
        if (op->type == QM_ADD) {
            op->add_shift = extreme ? 1 + rnd(62) : 31 + rnd(3);
            op->add_mult[0] = (int32_t)((0.3 + 0.4 * nn_rng_uniform(&R)) * 2147483648.0);
            op->add_mult[1] = (int32_t)((0.3 + 0.4 * nn_rng_uniform(&R)) * 2147483648.0);
            continue;
        }
        if (!qm_is_weighted(op->type))
            continue;
        const int wmax = op->weight_bits == 8 ? 127 : 7;
        const size_t K = op->n_weights / (size_t)op->out_c;
        for (size_t k = 0; k < op->n_weights; k++)
            op->weights[k] = nn_rng_uniform(&R) < t->sp[i] ? 0 : (int8_t)(rnd(2 * wmax + 1) - wmax);
        const double wstd = wmax * 0.58 * sqrt(1.0 - t->sp[i]) + 0.1;
        for (int o = 0; o < op->out_c; o++) {
            op->bias[o] = rnd(20001) - 10000;
            op->w_scale[o] = 0.01f;
            if (extreme) {
                op->mult[o] = rnd(2) ? 0x7fffffff : (1 << 30) + rnd(1 << 30);
                op->shift[o] = (int8_t)(1 + rnd(62));
            } else {
                double real = 40.0 / (sqrt((double)K) * wstd * 70.0) * (0.5 + nn_rng_uniform(&R));
                int32_t mu, sh;
                qm_quantize_multiplier(real, &mu, &sh);
                op->mult[o] = mu, op->shift[o] = (int8_t)sh;
            }
        }
    }
    return qm_model_validate(m, &err) != NN_OK;
}

static void put_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void pad(FILE *f, size_t n, size_t a)
{
    static const uint8_t z[8];
    if (n % a)
        fwrite(z, 1, a - n % a, f);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ktestgen TARGET OUT.bin [SEED]\n");
        return 2;
    }
    const int target = rtb_target_parse(argv[1]);
    if (target < 0) {
        fprintf(stderr, "ktestgen: unknown target %s\n", argv[1]);
        return 2;
    }
    nn_rng_seed(&R, argc > 3 ? strtoull(argv[3], NULL, 10) : 1);
    FILE *f = fopen(argv[2], "wb");
    if (!f)
        return 1;
    const int n_cases = 60, n_inputs = 3;
    put_u32(f, (uint32_t)n_cases);
    int written = 0, wino = 0, wino_s4 = 0, widened = 0, rules = 0; /* the convs the DSP cores run so */
    for (int ci = 0, tries = 0; ci < n_cases; ci++) {
        static tm t;
        memset(&t, 0, sizeof t);
        const int kind = ci % 10, extreme = ci / 10 % 3 == 2; /* each kind twice */
        const rtb_sparse policy = (rtb_sparse)(ci % 3);
        qm_model *m = &t.m;
        m->in_c = 1 + rnd(3), m->in_h = 3 + rnd(14), m->in_w = 3 + rnd(14);
        int x = QM_INPUT;
        switch (kind) {
        case 0: /* first layer 8-bit, small K (the pixel-major path) */
            x = conv(&t, x, 1 + rnd(40), 1 + rnd(3), 1 + rnd(2), rnd(2), rnd(2), 8, 0);
            break;
        case 1: /* 8-bit, larger K (the pass-buffer path; channels in whole
                   groups of four or not); the first two: a dense 4x4 with
                   ReLU (K % 16 == 0, the clamped pass, rt_config.h's
                   RT_WITH_CONV_LO) */
            if (ci < 20) /* rows of whole passes */
                m->in_h = m->in_w = 8 + rnd(6);
            x = conv(&t, x, rnd(2) ? 4 * (1 + rnd(6)) : 3 + rnd(12), 1, 1, 0, 1, 8, 0);
            if (ci < 20)
                x = conv(&t, x, 1 + rnd(20), 4, 1, rnd(2), 1, 8, 0);
            else
                x = conv(&t, x, 1 + rnd(20), 2 + rnd(3), 1 + rnd(2), rnd(2), rnd(2), 8, 0.3 * rnd(2));
            break;
        case 2: /* sparse 4-bit, the MNIST shape family */
            x = conv(&t, x, 4 + rnd(40), 1, 1, 0, 1, 8, 0);
            x = conv(&t, x, 1 + rnd(40), 3, 1, 1, 1, 4, 0.5 + 0.45 * nn_rng_uniform(&R));
            break;
        case 3: /* sparse 4-bit, strides, 5x5, wide rows */
            m->in_w = 10 + rnd(60);
            x = conv(&t, x, 2 + rnd(30), 1, 1, 0, 1, 8, 0);
            x = conv(&t, x, 1 + rnd(12), 1 + 2 * rnd(3), 1 + rnd(3), rnd(3) % (1 + 2 * rnd(3)), rnd(2), 4, 0.6);
            break;
        case 4: /* dense 4-bit conv (S4) */
            x = conv(&t, x, 2 + rnd(30), 1, 1, 0, 1, 8, 0);
            x = conv(&t, x, 1 + rnd(20), 1 + rnd(3), 1 + rnd(2), rnd(2), rnd(2), 4, 0.05);
            break;
        case 5: /* pools, and an add fused into the conv before it: 8-bit (S8's
                   epilogue, by rows on DSP cores) or 4-bit (the staged
                   output), either operand, the conv's own input as the
                   residual */
            x = conv(&t, x, 1 + rnd(17), 3, 1, 1, 1, 8, 0);
            {
                const int b8 = rnd(3) > 0, k = 1 + 2 * rnd(2);
                int y = conv(&t, x, m->ops[x].out_c, k, 1, k / 2, rnd(2), b8 ? 8 : 4,
                             b8 ? 0.2 * rnd(2) : 0.5);
                x = rnd(2) ? add2(&t, x, y, rnd(2)) : add2(&t, y, x, rnd(2));
            }
            if (m->ops[x].out_h >= 2 && m->ops[x].out_w >= 2)
                x = pool(&t, QM_MAXPOOL, x, 2, 1 + rnd(2), rnd(2));
            if (m->ops[x].out_h >= 2 && m->ops[x].out_w >= 2)
                x = pool(&t, QM_AVGPOOL, x, 2, 1, rnd(2));
            x = pool(&t, QM_GLOBAL_AVGPOOL, x, 0, 0, rnd(2));
            break;
        case 6: /* dense layers of every format */
            x = dense(&t, x, 1 + rnd(60), 1, rnd(2) ? 8 : 4, 0.9 * nn_rng_uniform(&R));
            x = dense(&t, x, 1 + rnd(60), rnd(2), rnd(2) ? 8 : 4, 0.9 * nn_rng_uniform(&R));
            break;
        case 8: /* depthwise: 3x3 or 5x5, stride 1 or 2, padding, none / ReLU /
                   ReLU6 (a clamp inside the range), 8- or 4-bit, channels
                   around the host's 16-wide body, then a MobileNet-like
                   1x1 conv with ReLU6 */
            x = conv(&t, x, 1 + rnd(36), 1, 1, 0, 1, 8, 0);
            x = depthwise(&t, x, 3 + 2 * rnd(2), 1 + rnd(2), rnd(3), rnd(3), rnd(3) ? 8 : 4);
            x = conv(&t, x, 1 + rnd(20), 1, 1, 0, QM_ACT_RELU6, 8, 0);
            m->ops[x].out.scale = 0.08f;
            break;
        case 9: /* a colour ResNet stage: the 3x3x3 first layer (its window
                   read as unaligned words), a 3x3 conv of whole groups of
                   four or eight channels, stride 1 or 2 (8- or 4-bit: the
                   passes' three-tap copies), added to its input or to a
                   1x1 stride-2 projection of it. The first three end
                   there (every value of the add compared); the last three
                   in a global average pooling over mostly more than 256
                   pixels (its 16-bit lanes flushed: sums that overflow an
                   unflushed lane are the host test's, test_runtime_dsp.c),
                   whose averages hide small errors before it. Stride 1 and
                   2 three times each, 4-bit in two of them. */
            {
                const int gap = ci / 30 == 1, s2 = 1 + ci / 10 % 2;
                const int c = 4 * (1 + rnd(4));
                const int c2 = s2 == 1 ? c : 8 * (1 + rnd(3));
                const int b8 = c2 % 8 || ci / 20 % 2 == 0;
                m->in_c = 3;
                m->in_h = gap ? 14 + rnd(27) : 5 + rnd(5);
                m->in_w = gap ? 14 + rnd(27) : 5 + rnd(5);
                x = conv(&t, x, c, 3, gap ? 1 + rnd(2) : 1, 1, 1, 8, 0);
                const int y = conv(&t, x, c2, 3, s2, 1, rnd(2), b8 ? 8 : 4, 0);
                const int res = s2 == 1 ? x : conv(&t, x, c2, 1, 2, 0, 0, 8, 0);
                x = rnd(2) ? add2(&t, res, y, rnd(2)) : add2(&t, y, res, rnd(2));
                if (gap)
                    x = pool(&t, QM_GLOBAL_AVGPOOL, x, 0, 0, rnd(2));
            }
            break;
        default: /* a small MNIST-like chain */
            m->in_c = 1, m->in_h = m->in_w = 8 + 2 * rnd(6);
            x = conv(&t, x, 8, 3, 1, 1, 1, 8, 0);
            x = conv(&t, x, 8, 3, 1, 1, 1, 4, 0.6);
            x = pool(&t, QM_MAXPOOL, x, 2, 2, 0);
            x = conv(&t, x, 16, 3, 1, 1, 1, 4, 0.7);
            x = dense(&t, x, 20, 1, 4, 0.9);
            x = dense(&t, x, 10, 0, 4, 0.5);
            break;
        }
        if (kind != 6 && kind != 5 && kind != 9 && rnd(2))
            x = dense(&t, x, 1 + rnd(12), 0, 8, 0);
        if (finish(&t, extreme)) {
            fprintf(stderr, "ktestgen: case %d: invalid model\n", ci);
            return 1;
        }
        /* every other case lets the Winograd body grow the arena (its
         * blocks of several bands); the rest get it only where it fits */
        const rtb_options opt = {target, policy, 1, RT_ISA_AUTO, 0, ci % 2 ? 100000u : 0u};
        rtb_image img;
        nn_error err;
        if (rtb_build(&img, m, &opt, &err) != NN_OK) {
            fprintf(stderr, "ktestgen: case %d: %s\n", ci, err.msg);
            return 1;
        }
        const size_t in_bytes = (size_t)m->in_c * m->in_h * m->in_w;
        /* what the firmware's buffers take (ktest_main.c): else draw again */
        if (img.bytes > 60000 || img.arena_bytes > 120000 || in_bytes * n_inputs > 16000 ||
            (size_t)m->num_classes * n_inputs > 4000) {
            rtb_free(&img);
            qm_model_free(m);
            if (++tries > 1000)
                return 1;
            ci--;
            continue;
        }
        uint8_t *px = malloc(in_bytes * n_inputs);
        int8_t *lg = malloc((size_t)m->num_classes * n_inputs);
        for (size_t i = 0; i < in_bytes * n_inputs; i++)
            px[i] = (uint8_t)rnd(256);
        /* the host's image keeps every add a separate op: a fused add on
         * the device must give the unfused bytes */
        const rtb_options hopt = {rtb_host_target(), policy, 1, RT_ISA_AUTO, 1, 0};
        rtb_image host;
        if (rtb_build(&host, m, &hopt, &err) != NN_OK) {
            fprintf(stderr, "ktestgen: case %d: %s\n", ci, err.msg);
            return 1;
        }
        void *arena = aligned_alloc(8, (host.arena_bytes + 7) & ~(size_t)7);
        for (int i = 0; i < n_inputs; i++)
            if (rt_image_check(host.data, host.bytes, NULL) != RT_OK ||
                rt_run(host.data, arena, host.arena_bytes, px + i * in_bytes,
                       lg + (size_t)i * m->num_classes) != RT_OK) {
                fprintf(stderr, "ktestgen: case %d: the host image fails\n", ci);
                return 1;
            }
        for (int i = 0; i < img.n_ops; i++)
            wino += img.ops[i].wino, widened += img.ops[i].widen,
                wino_s4 += img.ops[i].wino && img.ops[i].fmt == RT_WF_S4 && !img.ops[i].widen;
        rules += (img.data[RT_H_FLAGS] & RT_HF_INPUT_RULE) != 0;
        put_u32(f, (uint32_t)img.bytes), put_u32(f, (uint32_t)in_bytes);
        put_u32(f, (uint32_t)m->num_classes), put_u32(f, (uint32_t)n_inputs);
        fwrite(img.data, 1, img.bytes, f);
        fwrite(px, 1, in_bytes * n_inputs, f);
        pad(f, in_bytes * n_inputs, 4);
        fwrite(lg, 1, (size_t)m->num_classes * n_inputs, f);
        pad(f, (size_t)m->num_classes * n_inputs, 4);
        written++;
        rtb_free(&host);
        free(arena), free(px), free(lg);
        rtb_free(&img);
        qm_model_free(m);
    }
    fclose(f);
    printf("{\"cases\":%d,\"inputs_per_case\":%d,\"winograd_convs\":%d,\"winograd_s4_convs\":%d,"
           "\"widened_convs\":%d,\"input_rules\":%d}\n",
           written, n_inputs, wino, wino_s4, widened, rules);
    return 0;
}
