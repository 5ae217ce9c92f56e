/* qengine.h - the int8 inference engine: runs a qm_model (qmodel.h) with
 * integer arithmetic only.
 *
 * Two steps, in the TensorFlow Lite Micro manner:
 *   1. Plan (qe_plan_create): validates the model (qm_model_validate), picks
 *      a kernel for every op, packs the weights into the kernels' layouts,
 *      folds the input zero point (and the kernels' activation offset) into
 *      the biases, and lays out every activation in one arena with
 *      liveness-based reuse. This is the only step that allocates. The plan
 *      copies all it needs: the model may be freed afterwards.
 *   2. Run (qe_run): raw uint8 pixels in, int8 logits out, inside a
 *      caller-supplied arena of qe_arena_bytes(plan) bytes. No allocation,
 *      no I/O, no global state.
 *
 * Threads. qe_run only reads the plan, so several threads may run one plan
 * at the same time, each with its own arena (and its own pixels and logits).
 * One arena must not be used by two runs at once.
 *
 * Instruction sets. The integer kernels exist in portable C and, on x86-64,
 * for AVX2 and for AVX-512 VNNI (selected at run time with
 * __builtin_cpu_supports; no special compiler flags are needed). Every ISA
 * gives bit-identical logits: all arithmetic is integer, accumulators are
 * int32 (wrapping modulo 2^32, which only matters for models whose
 * accumulator leaves the int32 range; qmodel.h calls it int32) and
 * requantization is qm_requantize's rule exactly. 4-bit layers run like
 * 8-bit ones, except on AVX2, where they get a faster exact kernel.
 *
 * Sparse dense layers. A dense layer whose weights are mostly zero runs as a
 * compressed-row kernel over the non-zero weights; it is chosen at plan time
 * from the measured density (qe_options.sparse), and its results are
 * bit-identical to the dense kernel's.
 *
 * Batches. qe_run takes n <= max_batch images. The ops up to the first dense
 * layer run image by image (their activations stay in cache); from the
 * first dense layer on, the ops run on the whole batch (a dense layer is one
 * GEMM over the n images). The logits of an image do not depend on the
 * other images of its batch nor on the arena's previous contents. */
#ifndef QENGINE_H
#define QENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "../libnn/nn_error.h"
#include "qmodel.h"

/* Instruction sets. Explicit values: they may appear in reports. */
typedef enum {
    QE_ISA_AUTO = 0,        /* the best one this CPU supports               */
    QE_ISA_C = 1,           /* portable C, every machine                    */
    QE_ISA_AVX2 = 2,        /* x86-64 AVX2                                  */
    QE_ISA_AVX512_VNNI = 3  /* x86-64 AVX-512 F/BW/VL + VNNI (vpdpbusd)     */
} qe_isa;

/* When a dense layer uses the sparse kernel. */
typedef enum {
    QE_SPARSE_AUTO = 0,   /* when its weight density is below the ISA's
                             threshold (see docs/int8.md)                   */
    QE_SPARSE_NEVER = 1,  /* always the dense GEMM                          */
    QE_SPARSE_ALWAYS = 2  /* every dense layer sparse (tests, experiments)  */
} qe_sparse_policy;

/* How a conv2d runs where the ISA has its own conv (AVX-512 VNNI: direct
 * from a padded copy of the input when kernel * in_c is a multiple of 4,
 * else A-panel tiles filled from that copy). Both give the same bits. */
typedef enum {
    QE_CONV_AUTO = 0,     /* the ISA's own conv, else im2col + GEMM         */
    QE_CONV_IM2COL = 1    /* always im2col + GEMM (tests, experiments)      */
} qe_conv_policy;

typedef struct {
    qe_isa isa;
    qe_sparse_policy sparse;
    qe_conv_policy conv;
} qe_options;

typedef struct qe_plan qe_plan;

/* "auto", "c", "avx2", "avx512-vnni"; NULL for an unknown value. */
const char *qe_isa_name(qe_isa isa);

/* 1 when this CPU (and OS) can run isa's kernels; AUTO and C always can. */
int qe_isa_supported(qe_isa isa);

/* The ISA that QE_ISA_AUTO resolves to on this CPU. */
qe_isa qe_isa_best(void);

/* Plans m for batches of up to max_batch (>= 1) images with the given ISA
 * (QE_ISA_AUTO: qe_isa_best()) and QE_SPARSE_AUTO. Errors: the model fails
 * qm_model_validate (NN_ERR_FORMAT, the validator's message), a pooling op
 * whose output zero point differs from its input's, a layer beyond the
 * engine's limits (more than 2^26 inputs per output, an arena size that
 * overflows) (NN_ERR_FORMAT), max_batch out of range or an ISA this CPU lacks (NN_ERR_ARG), out of
 * memory (NN_ERR_NOMEM). On error *out is NULL. */
nn_status qe_plan_create(qe_plan **out, const qm_model *m, int max_batch, qe_isa isa,
                         nn_error *err);

/* The same with every option; opt NULL means all AUTO. */
nn_status qe_plan_create_opts(qe_plan **out, const qm_model *m, int max_batch,
                              const qe_options *opt, nn_error *err);

void qe_plan_free(qe_plan *p);

/* Bytes of arena qe_run needs: the activations (tensors that are never live
 * at the same time share memory; tensors that feed the batched part hold
 * max_batch images) plus the largest kernel scratch, each 64-byte aligned,
 * plus 63 bytes so that any arena pointer can be aligned inside. */
size_t qe_arena_bytes(const qe_plan *p);

/* Runs n images, 1 <= n <= max_batch.
 *   pixels (n, in_c, in_h, in_w) raw uint8, as the datasets hold them
 *   logits (n, num_classes) int8, the last op's output quantization
 * arena: qe_arena_bytes(p) bytes, any alignment, contents irrelevant; only
 * [arena, arena + qe_arena_bytes(p)) and the logits are written.
 * Returns NN_ERR_ARG (and does nothing) when an argument is NULL or n is out
 * of range, NN_OK otherwise. Allocates nothing. */
nn_status qe_run(const qe_plan *p, void *arena, const uint8_t *pixels, int n, int8_t *logits);

qe_isa qe_plan_isa(const qe_plan *p);
int qe_plan_max_batch(const qe_plan *p);
int qe_plan_num_classes(const qe_plan *p);
/* Quantization of the logits: real = scale * (q - zero). */
qm_qparams qe_plan_output_qparams(const qe_plan *p);

/* What runs op i, e.g. "direct avx512-vnni conv 3x3/1 pad 1 K=288",
 * "gemm avx2 dense K=3136 rows 83" or "sparse csr K=3136 density 4.8%";
 * "" when i is out of range. For reports and tests. */
const char *qe_plan_op_kernel(const qe_plan *p, int i);

/* labels[i] = index of the largest of logits[i*num_classes ...], the first
 * one on ties. logits (n, num_classes), labels (n). */
void qe_argmax(const int8_t *logits, int n, int num_classes, int *labels);

/* out[i] = q.scale * (in[i] - q.zero) for i < count. */
void qe_dequantize(float *out, const int8_t *in, size_t count, qm_qparams q);

#endif
