/* pl_evaluate.h - evaluation as a library call: a model of either kind
 * (float checkpoint or int8 .iotc file, told apart by its magic), its test
 * data found (options, config, or what the model records), run by the
 * float engine or the integer one (export/rt_host.h). What `iotcnn eval`
 * and `iotcnn compare` run. */
#ifndef PL_EVALUATE_H
#define PL_EVALUATE_H

#include <stdint.h>

#include "format/classes.h"
#include "libnn/nn_train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *model;
    const char *config;              /* data block from here (may be NULL)   */
    const char *data;                /* a dataset name or a PNG folder (pl_data_load_eval),
                                        or NULL                              */
    const char *isa;                 /* .iotc only: "c", "avx2"... or NULL   */
    int limit;                       /* 0: every test image                  */
    int threads, batch;
    int test_flip;                   /* -1: as the config or model records   */
} pl_eval_request;

typedef struct {
    nn_eval_result r;
    uint64_t file_bytes;
    uint64_t deploy_bytes;           /* float: 4 bytes per parameter (what a
                                        device would store); .iotc: the file */
    uint64_t macs;                   /* per image                            */
    int test_flip;                   /* as resolved                          */
    char engine[32];                 /* "float" or "int8 ISA"                */
    cls_names classes;               /* the model's (n = 0: unnamed)         */
} pl_eval_outcome;

/* Errors the caller can fix by asking differently (an unknown or
 * unsupported --isa, no recorded data) are NN_ERR_ARG. */
nn_status pl_evaluate(const pl_eval_request *req, pl_eval_outcome *out, nn_error *err);
void pl_eval_outcome_free(pl_eval_outcome *out);

/* 1 when path starts with the .iotc magic. */
int pl_is_iotc_file(const char *path);

#ifdef __cplusplus
}
#endif

#endif
