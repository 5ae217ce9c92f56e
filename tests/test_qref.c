/* Tests of the int8 reference interpreter (quantize/qref.h) on the golden
 * model of qgolden.h, and of the activation accounting. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "quantize/mstats.h"
#include "quantize/qref.h"
#include "qgolden.h"

static void expect_tensor(const qm_model *m, const int8_t *scratch, int t, const int8_t *want,
                          size_t n)
{
    const int8_t *got = qm_ref_tensor(m, scratch, t);
    for (size_t k = 0; k < n; k++)
        cr_expect_eq(got[k], want[k], "tensor %d [%zu]: %d, want %d", t, k, got[k], want[k]);
}

Test(qref, golden_tensors)
{
    qm_model m;
    golden_model(&m);
    uint8_t px[32];
    golden_pixels(px);
    cr_assert_eq(qm_ref_scratch_bytes(&m), 32u + 48 + 12 + 27 + 3 + 3 + 3 + 2);
    int8_t *scratch = malloc(qm_ref_scratch_bytes(&m));
    qm_ref_run(&m, px, scratch);
    expect_tensor(&m, scratch, QM_INPUT, gold_input, 32);
    expect_tensor(&m, scratch, 0, gold_t0, 48);
    expect_tensor(&m, scratch, 1, gold_t1, 12);
    expect_tensor(&m, scratch, 2, gold_t2, 27);
    expect_tensor(&m, scratch, 3, gold_t3, 3);
    expect_tensor(&m, scratch, 4, gold_t4, 3);
    expect_tensor(&m, scratch, 5, gold_t5, 3);
    expect_tensor(&m, scratch, 6, gold_t6, 2);
    cr_expect_eq(qm_ref_argmax(&m, scratch), 0);
    float lg[2];
    qm_ref_logits(&m, scratch, lg);
    cr_expect_float_eq(lg[0], 14.0f, 1e-6);
    cr_expect_float_eq(lg[1], 1.0f, 1e-6);
    int correct;
    uint8_t label = 0;
    nn_error err;
    cr_expect_eq(qm_ref_classify(&m, px, &label, 1, 2, NULL, &correct, &err), NN_OK);
    cr_expect_eq(correct, 1);
    free(scratch);
    qm_model_free(&m);
}

Test(qref, nonzero_weights)
{
    qm_model m;
    golden_model(&m);
    cr_expect_eq(qm_op_nonzero(&m.ops[0]), 54u - 6); /* six of the 54 weights are 0 */
    cr_expect_eq(qm_op_nonzero(&m.ops[1]), 0u);
    qm_model_free(&m);
}
