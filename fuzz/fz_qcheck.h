/* fz_qcheck.h - the checks the quantized-model fuzz targets share: the
 * runtime's kernel bodies (every ISA, every weight layout) against the
 * reference interpreter, .iotc round trips, every weight encoding. Each
 * aborts (fz_fail) with what differed. */
#ifndef FZ_QCHECK_H
#define FZ_QCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "format/iotc.h"
#include "format/qmodel.h"

/* Rough count of the elementary steps one image costs in the reference
 * interpreter (MACs, pool windows, element-wise work); targets skip running
 * models above their budget (a valid model may be huge). */
uint64_t fzq_cost(const qm_model *m);

/* Runs the n images (n, in_c, in_h, in_w) through qm_ref_run and through
 * the runtime (a deploy image built by rtb_build, rt_image_check, then
 * rt_run_isa per image in an arena of stale bytes) on every ISA this CPU
 * supports (C, AVX2, AVX-512 VNNI), in the variants whose bit is set in
 * `variants`: bit 4 * isa + v, isa 0..2 in that order, v 0..2 the host's
 * layouts (x86-64: X8/X4 and sparse) with the sparse policy AUTO / NEVER /
 * ALWAYS, v 3 the generic (device) layouts (FZQ_ALL: all twelve). Every
 * logit must be identical. Models beyond the image's limits (16-bit
 * shapes) are skipped. m must have passed qm_model_validate and
 * iotc_check_accumulators. */
#define FZQ_ALL 0xfffu
void fzq_check_engines(const qm_model *m, const uint8_t *pixels, int n, unsigned variants);

/* One variant per ISA, picked by the two low bits of each nibble of
 * `choice`, for targets that cannot afford all twelve on every input. */
static inline unsigned fzq_one_variant_per_isa(unsigned choice)
{
    return 1u << (choice & 3) | 1u << (4 + (choice >> 2 & 3)) | 1u << (8 + (choice >> 4 & 3));
}

/* iotc_encode f (which tries every weight encoding and keeps the
 * smallest), decode it and compare every field with f. */
void fzq_check_roundtrip(iotc_model *f);

/* Weight encoding (pick + i) % WC_COUNT of each weighted op i
 * (iotc_encode decodes only the smallest one; over many inputs pick covers
 * all eight) decodes back to the same weights. */
void fzq_check_codecs(const qm_model *m, unsigned pick);

/* 1 when the two models hold the same ops, shapes, quantization, weights,
 * biases, scales (bitwise), requantization and input table. */
int fzq_models_equal(const qm_model *a, const qm_model *b, char *why, size_t cap);

#endif
