/* fuzz_qdiff.c - differential: random VALID quantized models (fz_gen.h)
 * run on the reference interpreter (quantize/qref.c) and on the runtime
 * with every kernel ISA this CPU has (rt_isa_supported: C, AVX2, AVX-512
 * VNNI), each on an image variant the input picks (the host's layouts
 * with sparse policy AUTO / NEVER / ALWAYS, or the generic ones), for 1..3
 * images;
 * every logit must be bit-for-bit identical. The same model must also
 * survive a weight encoding the input picks (wcodec.c) and, for a quarter
 * of the inputs (the input's choice: iotc_encode tries all eight weight
 * encodings, which costs more than everything else together), an .iotc
 * write -> read with every field equal (iotc_write.c / iotc_read.c).
 *
 * Input: the choices of the generator (fz_gen.h), then the images. */
#include <stdlib.h>

#include "format/iotc.h"
#include "fz_gen.h"
#include "fz_qcheck.h"
#include "fz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_data d;
    fz_init(&d, data, size);
    iotc_model *f = malloc(sizeof *f);
    if (!f)
        return 0;
    fzg_qmodel(f, &d);
    const qm_model *m = &f->m;
    int n = (int)fz_range(&d, 1, 3);
    uint8_t *pix = fzg_pixels(&d, n, m->in_c, m->in_h, m->in_w);
    fzq_check_engines(m, pix, n, fzq_one_variant_per_isa(fz_u8(&d)));
    fzq_check_codecs(m, fz_u8(&d));
    if (fz_chance(&d, 64)) /* a quarter of the inputs: it costs two thirds of a run */
        fzq_check_roundtrip(f);
    free(pix);
    iotc_delete(f);
    return 0;
}
