/* test_fuzz_regress.c - bugs the fuzz targets (fuzz/, docs/reliability.md)
 * found, each reproduced directly through the library. The input that found
 * each one is in fuzz/corpus/TARGET/ under the name given, so `make
 * fuzz-smoke` replays it too. */
#include <criterion/criterion.h>
#include <string.h>

#include "../compress/quantize.h"
#include "../libnn/nn_model.h"
#include "layer_specs.h"

/* fuzz/corpus/quantize/regress-lower-nothing: a network that only
 * flattens its 3x1x1 input is a valid float model, but lowers to no op at
 * all; qz_lower read the op before the first (index -1) instead of saying
 * so. */
Test(fuzz_regress, quantize_a_network_that_computes_nothing)
{
    nn_model_spec s;
    memset(&s, 0, sizeof s);
    s.in_c = 3, s.in_h = 1, s.in_w = 1, s.num_classes = 3;
    s.layers[0] = ls_layer(NN_LAYER_FLATTEN);
    s.layers[0].input = NN_INPUT_NODE;
    s.n_layers = 1;
    nn_model m;
    nn_error err;
    cr_assert_eq(nn_model_build(&m, &s, &err), NN_OK, "%s", err.msg);
    qz_net net;
    cr_assert_eq(qz_lower(&net, &m, &err), NN_ERR_ARG);
    cr_expect(strstr(err.msg, "computes nothing"), "%s", err.msg);
    nn_model_free(&m);
}
