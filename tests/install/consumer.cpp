// consumer.cpp - a C++ program built against an installed iotcnn with
// `pkg-config --cflags --libs iotcnn` (scripts/check_install.sh): it
// describes a model through the library's pipeline API and prints what
// `iotcnn info --json` prints for the same numbers.
#include <cstdio>

#include "pipeline/pl_describe.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: consumer MODEL\n");
        return 2;
    }
    pl_description d;
    nn_error err = {};
    if (pl_describe(argv[1], &d, &err) != NN_OK) {
        std::fprintf(stderr, "consumer: %s\n", err.msg);
        return 1;
    }
    unsigned long long params = d.kind == PL_MODEL_IOTC ? d.totals.parameters
                                                        : (unsigned long long)d.ckpt.model.n_params;
    unsigned long long macs = d.kind == PL_MODEL_IOTC ? d.totals.macs : d.macs;
    std::printf("parameters %llu macs %llu classes %d first %s\n", params, macs, d.classes.n,
                d.classes.n ? d.classes.name[0] : "-");
    pl_description_free(&d);
    return 0;
}
