/* iotc_internal.h - what the .iotc writer and reader share (not public). */
#ifndef IOTC_INTERNAL_H
#define IOTC_INTERNAL_H

#include <stddef.h>

#include "qmodel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata keys: 1..31 of [a-z0-9_]; values: <= 255 bytes, none below
 * 0x20 or 0x7f; op names: 0..31 of [A-Za-z0-9_.-]. */
int iotc_valid_meta_key(const char *k, size_t n);
int iotc_valid_meta_value(const char *v, size_t n);
int iotc_valid_name(const char *s, size_t n);

/* Flags of an Lnnn section. */
#define IOTC_L_SCALES16 1u
#define IOTC_L_REQUANT 2u

/* INPT table modes. */
#define IOTC_LUT_STORED 0
#define IOTC_LUT_DERIVED 1

/* Field bounds the reader enforces before anything is allocated. */
#define IOTC_DIM_MAX (1 << 26)
#define IOTC_CLASSES_MAX (1 << 24)

static inline int iotc_is_weighted(qm_op_type t) { return qm_is_weighted(t); }
static inline int iotc_has_window(qm_op_type t)
{
    return t == QM_CONV2D || t == QM_DEPTHWISE || t == QM_MAXPOOL || t == QM_AVGPOOL;
}
static inline int iotc_is_pool(qm_op_type t)
{
    return t == QM_MAXPOOL || t == QM_AVGPOOL || t == QM_GLOBAL_AVGPOOL;
}

#ifdef __cplusplus
}
#endif

#endif
