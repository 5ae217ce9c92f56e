/* evaluate.h - what `iotcnn eval` and `iotcnn compare` share: load a model
 * of either kind (float checkpoint or int8 .iotc file, told apart by its
 * magic), find its test data, evaluate it with the float or the integer
 * engine. Errors exit through cli_fail / cli_usage_error under req->cmd. */
#ifndef EVALUATE_H
#define EVALUATE_H

#include <stdint.h>

#include "libnn/nn_train.h"

typedef struct {
    const char *cmd;                 /* for messages: "eval"                 */
    const char *model;
    const char *config;              /* data block from here (may be NULL)   */
    const char *data;                /* --data SPEC (may be NULL)            */
    const char *isa;                 /* .iotc only: "c", "avx2"... or NULL   */
    int limit;                       /* 0: every test image                  */
    int threads, batch;
    int test_flip;                   /* -1: as the config or model records   */
} evaluate_request;

typedef struct {
    nn_eval_result r;
    uint64_t file_bytes;
    uint64_t deploy_bytes;           /* float: 4 bytes per parameter (what a
                                        device would store); .iotc: the file */
    uint64_t macs;                   /* per image                            */
    int test_flip;                   /* as resolved                          */
    char engine[32];                 /* "float" or "int8 ISA"                */
} evaluate_outcome;

void evaluate_model(const evaluate_request *req, evaluate_outcome *out);
void evaluate_outcome_free(evaluate_outcome *out);

#endif
