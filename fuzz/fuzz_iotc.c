/* fuzz_iotc.c - the .iotc loader (format/iotc_read.c: iotc_decode, the
 * section scanner, every weight decoder of wcodec.c / huff.c / rcoder.c,
 * qm_model_alloc / qm_model_validate, iotc_check_accumulators).
 *
 * Input: one control byte, then the file. Control bit 0: recompute the
 * section CRCs first (so mutations reach the payload decoders).
 * A file that loads must then
 *   - round-trip: iotc_encode -> iotc_decode gives the same model, and
 *     encoding that again the same bytes (iotc_write.c);
 *   - run identically on the reference interpreter and every int8 kernel
 *     ISA this CPU has, in the variant control bits 1..6 pick (when its
 *     cost is small: a valid model may be huge), on two images made from
 *     the input. */
#include <stdlib.h>
#include <string.h>

#include "format/iotc.h"
#include "fz_util.h"
#include "fz_qcheck.h"

#define RUN_BUDGET 300000 /* fzq_cost per image */

static void check_file(const uint8_t *buf, size_t n, uint8_t ctrl)
{
    iotc_model *f = malloc(sizeof *f);
    nn_error err;
    memset(&err, 0, sizeof err);
    if (iotc_decode(f, buf, n, "fuzz.iotc", &err) != NN_OK) {
        if (!err.msg[0] || f->m.n_ops != 0 || f->m.blob)
            fz_fail("a failed load must leave a message and an empty model");
    } else {
        fzq_check_roundtrip(f);
        const qm_model *m = &f->m;
        if (fzq_cost(m) <= RUN_BUDGET) {
            size_t in_size = (size_t)m->in_c * m->in_h * m->in_w;
            uint8_t *pix = malloc(2 * in_size);
            for (size_t i = 0; i < 2 * in_size; i++) /* the file's bytes, then extremes */
                pix[i] = i < n ? buf[i] : (i & 1 ? 255 : 0);
            fzq_check_engines(m, pix, 2, fzq_one_variant_per_isa(ctrl >> 1));
            free(pix);
        }
        iotc_free(f);
    }
    free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_framed_run(data, size, "model.iotc", check_file);
}
