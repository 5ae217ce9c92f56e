/* pl_export.c - a .iotc model -> a firmware folder (pl_export.h). */
#include "pl_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize/qref.h"
#include "export/rt_export.h"
#include "export/rt_host.h"
#include "libnn/nn_rng.h"
#include "runtime/rt.h"
#include "runtime/rt_image.h"
#include "pl_classes.h"

void pl_export_default_name(char *dst, size_t n, const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t i = 0;
    if (*b >= '0' && *b <= '9' && n > 2)
        dst[i++] = 'm', dst[i++] = '_';
    for (; *b && *b != '.' && i + 1 < n && i < 60; b++)
        dst[i++] = (char)(((*b >= 'a' && *b <= 'z') || (*b >= 'A' && *b <= 'Z') ||
                           (*b >= '0' && *b <= '9')) ? *b : '_');
    if (i == 0)
        dst[i++] = 'm';
    dst[i] = 0;
}

/* n random inputs through the image (rt_run, as a firmware runs it), the
 * host's image (its layouts and best ISA, rt_host.h) and the reference
 * interpreter (quantize/qref.c): the same bytes, or a builder bug. Returns
 * the number of differing images. */
static int verify(const rtb_image *img, const qm_model *m, int n, nn_error *err, nn_status *st)
{
    *st = NN_OK;
    if (n <= 0)
        return 0;
    rt_info info;
    rt_status rs = rt_image_check(img->data, img->bytes, &info);
    if (rs != RT_OK) {
        *st = nn_errorf(err, NN_ERR_FORMAT, "internal error: the built image fails its check: %s "
                        "(op %d, offset %u)", rt_status_str(rs), info.bad_op, info.bad_offset);
        return n;
    }
    rth_model host;
    if ((*st = rth_open(&host, m, RT_ISA_AUTO, err)) != NN_OK)
        return n;
    const size_t in_size = (size_t)m->in_c * m->in_h * m->in_w, K = (size_t)m->num_classes;
    uint8_t *px = malloc(in_size), *arena = aligned_alloc(8, (img->arena_bytes + 15) & ~(size_t)7);
    void *ha = aligned_alloc(8, (rth_arena_bytes(&host) + 15) & ~(size_t)7);
    int8_t *ref = malloc(qm_ref_scratch_bytes(m)), *a = malloc(K), *b = malloc(K);
    int bad = 0;
    if (!px || !arena || !ha || !ref || !a || !b) {
        *st = nn_errorf(err, NN_ERR_NOMEM, "out of memory checking the image");
        bad = n;
    }
    nn_rng r;
    nn_rng_seed(&r, 12345);
    for (int i = 0; i < n && *st == NN_OK; i++) {
        nn_rng_bytes(&r, px, in_size);
        qm_ref_run(m, px, ref);
        const int8_t *want = qm_ref_tensor(m, ref, m->n_ops - 1);
        if (rt_run(img->data, arena, img->arena_bytes, px, a) != RT_OK ||
            rth_run(&host, ha, px, 1, b) != NN_OK || memcmp(a, want, K) != 0 ||
            memcmp(b, want, K) != 0)
            bad++;
    }
    free(px), free(arena), free(ha), free(ref), free(a), free(b);
    rth_close(&host);
    return bad;
}

static nn_status build(const pl_export_opts *o, pl_export_result *r, nn_error *err)
{
    const rtb_options bo = {o->target, o->sparse, 0, RT_ISA_AUTO, 0, (uint64_t)o->arena_limit};
    nn_status st = rtb_build(&r->image, &r->file->m, &bo, err);
    if (st != NN_OK) {
        nn_error_prefix(err, "%s", o->model);
        return st;
    }
    int bad = verify(&r->image, &r->file->m, o->verify, err, &st);
    if (st != NN_OK)
        return st;
    if (bad)
        return nn_errorf(err, NN_ERR_FORMAT,
                         "internal error: %d of %d random inputs differ between the image, the "
                         "host's image and the reference interpreter; nothing written",
                         bad, o->verify);
    return NN_OK;
}

nn_status pl_export(const pl_export_opts *o, const pl_progress *p, pl_export_result *r,
                    nn_error *err)
{
    (void)p; /* no events: export is quick */
    memset(r, 0, sizeof *r);
    r->code_bytes = -1;
    if (o->name && !rtx_valid_name(o->name))
        return nn_errorf(err, NN_ERR_ARG, "--name: '%s' is not a C identifier", o->name);
    if (!(r->file = malloc(sizeof *r->file)))
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    iotc_init(r->file);
    nn_status st = iotc_load(r->file, o->model, err);
    if (st == NN_OK)
        st = build(o, r, err);
    if (st != NN_OK) {
        pl_export_result_free(r);
        return st;
    }
    if (o->name)
        snprintf(r->name, sizeof r->name, "%s", o->name);
    else
        pl_export_default_name(r->name, sizeof r->name, o->model);
    const qm_model *m = &r->file->m;
    cls_names classes;
    pl_iotc_classes(r->file, &classes);
    rtx_meta meta = {o->model, r->name, o->target, classes.n ? &classes : NULL, m->in_c, {0}, {0}};
    for (int c = 0; c < m->in_c && c < 4; c++)
        meta.mean[c] = r->file->mean[c], meta.std[c] = r->file->std[c];
    if ((st = rtx_write_folder(o->out, &r->image, m, &meta, err)) != NN_OK) {
        pl_export_result_free(r);
        return st;
    }
    r->code_bytes = rtx_code_bytes(o->out, o->target, r->code_how, sizeof r->code_how);
    return NN_OK;
}

void pl_export_result_free(pl_export_result *r)
{
    rtb_free(&r->image);
    iotc_delete(r->file);
    memset(r, 0, sizeof *r);
}
