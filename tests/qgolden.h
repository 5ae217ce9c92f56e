/* qgolden.h - a small hand-made quantized model that uses every op, with
 * its expected tensors, for the reference interpreter and format tests. */
#ifndef QGOLDEN_H
#define QGOLDEN_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "format/qmodel.h"

/* ---- the golden model ------------------------------------------------------ */

/* Input 2x4x4 (table: p / 4 - 32 + 5c, zero -3) ->
 *  0 conv 3x3 pad 1, 3 channels, ReLU      (4x4x3)
 *  1 maxpool 2 of 0                         (2x2x3)
 *  2 avgpool 2 stride 1 of 0                (3x3x3)
 *  3 global avgpool of 2, 4 global avgpool of 1
 *  5 add(3, 4)                              (1x1x3)
 *  6 dense 3 -> 2
 * The expected tensors below were computed from the rules of qmodel.h
 * with exact integer arithmetic (Python), independently of the C code. */
static const int8_t gold_input[] = {-32, 0,   -29, 4,   -25, 8,   -21, 12,  -24, 9,  -20,
                                    12,  -17, 16,  -13, 20,  -16, 17,  -12, 21,  -8, 24,
                                    -5,  28,  -8,  25,  -4,  29,  0,   33,  4,   36};
static const int8_t gold_t0[] = {17, 3, 5,  -2, 15, 4,  -1,  14, 5,  -9,  11, -3, 22,  -5, -5, 24,
                                 -1, 1, 22, 0,  2,  12, -4,  0,  22, -8,  -3, 19, 0,   3,  17, -1,
                                 4,  8, -1, 0,  18, 14, -10, 26, 16, -10, 24, 18, -10, 32, 4,  -1};
static const int8_t gold_t1[] = {24, 15, 5, 22, 14, 5, 26, 16, 3, 32, 18, 4};
static const int8_t gold_t2[] = {15, 3,  1,  11, 7,  3, 6,  5,  1, 22, -3, -1, 21, 0,
                                 3,  15, -1, 2,  21, 6, -5, 22, 8, -3, 20, 5,  -2};
static const int8_t gold_t3[] = {17, 3, 0}, gold_t4[] = {26, 16, 4}, gold_t5[] = {45, 30, 20};
static const int8_t gold_t6[] = {28, 2};

static inline void golden_pixels(uint8_t *px)
{
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                px[(c * 4 + y) * 4 + x] = (uint8_t)((37 * c + 11 * y + 5 * x) * 3 % 256);
}

static inline qm_op shape_op(qm_op_type t, int in, int in_c, int in_h, int in_w, int out_c,
                             int out_h, int out_w)
{
    qm_op op;
    memset(&op, 0, sizeof op);
    op.type = t, op.input = in, op.input2 = QM_INPUT;
    op.in_c = in_c, op.in_h = in_h, op.in_w = in_w;
    op.out_c = out_c, op.out_h = out_h, op.out_w = out_w;
    return op;
}

static inline void golden_model(qm_model *m)
{
    memset(m, 0, sizeof *m);
    m->in_c = 2, m->in_h = 4, m->in_w = 4, m->num_classes = 2, m->n_ops = 7;
    m->in = (qm_qparams){0.05f, -3};
    const qm_qparams q0 = {0.1f, -10};
    qm_op *o = m->ops;
    o[0] = shape_op(QM_CONV2D, QM_INPUT, 2, 4, 4, 3, 4, 4);
    o[0].kernel = 3, o[0].stride = 1, o[0].pad = 1, o[0].relu = 1, o[0].weight_bits = 8;
    o[0].out = q0;
    o[1] = shape_op(QM_MAXPOOL, 0, 3, 4, 4, 3, 2, 2);
    o[1].kernel = 2, o[1].stride = 2, o[1].out = q0;
    o[2] = shape_op(QM_AVGPOOL, 0, 3, 4, 4, 3, 3, 3);
    o[2].kernel = 2, o[2].stride = 1, o[2].out = q0;
    o[3] = shape_op(QM_GLOBAL_AVGPOOL, 2, 3, 3, 3, 3, 1, 1);
    o[3].out = q0;
    o[4] = shape_op(QM_GLOBAL_AVGPOOL, 1, 3, 2, 2, 3, 1, 1);
    o[4].out = q0;
    o[5] = shape_op(QM_ADD, 3, 3, 1, 1, 3, 1, 1);
    o[5].input2 = 4, o[5].add_mult[0] = 1 << 29, o[5].add_mult[1] = 3 << 28, o[5].add_shift = 30;
    o[5].out = (qm_qparams){0.2f, 4};
    o[6] = shape_op(QM_DENSE, 5, 3, 1, 1, 2, 1, 1);
    o[6].weight_bits = 8, o[6].out = (qm_qparams){0.5f, 0};
    nn_error err;
    cr_assert_eq(qm_model_alloc(m, &err), NN_OK, "%s", err.msg);
    for (int c = 0; c < 2; c++)
        for (int p = 0; p < 256; p++) {
            int v = p / 4 - 32 + 5 * c;
            m->input_lut[c * 256 + p] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
    for (int oc = 0; oc < 3; oc++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int c = 0; c < 2; c++)
                    o[0].weights[((oc * 3 + ky) * 3 + kx) * 2 + c] =
                        (int8_t)((oc * 7 + ky * 5 + kx * 3 + c * 2) % 11 - 5);
    const int32_t bias[3] = {100, 250, 7}, mult[3] = {1 << 30, 1518500250, 2147483647};
    const int8_t shift[3] = {33, 34, 35};
    for (int k = 0; k < 3; k++) {
        o[0].bias[k] = bias[k], o[0].mult[k] = mult[k], o[0].shift[k] = shift[k];
        o[0].w_scale[k] = 1.0f;
    }
    const int8_t dw[6] = {3, -5, 7, -2, 4, -6};
    memcpy(o[6].weights, dw, 6);
    o[6].bias[0] = -50, o[6].bias[1] = 80;
    o[6].mult[0] = o[6].mult[1] = 1 << 30;
    o[6].shift[0] = 31, o[6].shift[1] = 32;
    o[6].w_scale[0] = o[6].w_scale[1] = 1.0f;
    cr_assert_eq(qm_model_validate(m, &err), NN_OK, "%s", err.msg);
}

#endif
