#include "nn_spec.h"

#include <string.h>

static const struct {
    nn_layer_type type;
    const char *name;
} type_names[] = {
    {NN_LAYER_CONV2D, "conv2d"},       {NN_LAYER_MAXPOOL, "maxpool"},
    {NN_LAYER_AVGPOOL, "avgpool"},     {NN_LAYER_GLOBAL_AVGPOOL, "global_avgpool"},
    {NN_LAYER_DENSE, "dense"},         {NN_LAYER_RELU, "relu"},
    {NN_LAYER_DROPOUT, "dropout"},     {NN_LAYER_BATCHNORM, "batchnorm"},
    {NN_LAYER_FLATTEN, "flatten"},     {NN_LAYER_ADD, "add"},
    {NN_LAYER_DEPTHWISE_CONV2D, "depthwise_conv2d"},
    {NN_LAYER_RELU6, "relu6"},
};

void nn_layer_spec_defaults(nn_layer_spec *l, nn_layer_type type)
{
    memset(l, 0, sizeof *l);
    l->type = type;
    l->input = NN_INPUT_NODE - 1;
    l->input2 = NN_INPUT_NODE - 1;
    l->stride = 1;
    l->bias = 1;
    l->kernel = 3;
    if (type == NN_LAYER_MAXPOOL || type == NN_LAYER_AVGPOOL) {
        l->kernel = 2;
        l->stride = 2;
    }
    l->rate = 0.5f;
    l->momentum = 0.1f;
    l->eps = 1e-5f;
}

const char *nn_layer_type_name(nn_layer_type t)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (type_names[i].type == t)
            return type_names[i].name;
    return NULL;
}

nn_layer_type nn_layer_type_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcmp(type_names[i].name, name) == 0)
            return type_names[i].type;
    return (nn_layer_type)0;
}
