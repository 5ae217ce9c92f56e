/* qreport.c - per-layer reports of quantized models. */
#include "qreport.h"

#include "quantize/mstats.h"
#include "format/wcodec.h"

static int weighted(const qm_op *op) { return qm_is_weighted(op->type); }

static void source_text(char *buf, size_t cap, const iotc_model *f, int i)
{
    if (f->src_layer[i] < 0)
        snprintf(buf, cap, "-");
    else if (f->name[i][0])
        snprintf(buf, cap, "%d %s", f->src_layer[i], f->name[i]);
    else
        snprintf(buf, cap, "%d", f->src_layer[i]);
}

void qreport_print(FILE *out, const iotc_model *f)
{
    const qm_model *m = &f->m;
    fprintf(out, "%3s  %-16s %-10s %-24s %4s %9s %9s %8s %11s  %-14s %9s\n", "op", "type", "source",
            "shape (HWC in -> out)", "bits", "weights", "nonzero", "sparsity", "MACs", "encoding",
            "bytes");
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        char src[48], shape[64];
        source_text(src, sizeof src, f, i);
        snprintf(shape, sizeof shape, "%dx%dx%d -> %dx%dx%d", op->in_h, op->in_w, op->in_c,
                 op->out_h, op->out_w, op->out_c);
        if (weighted(op)) {
            uint64_t nz = qm_op_nonzero(op);
            const char *enc = wc_encoding_name(f->encoding[i]);
            fprintf(out, "%3d  %-16s %-10s %-24s %4d %9zu %9llu %7.2f%% %11llu  %-14s %9llu\n", i,
                    qm_op_type_name(op->type), src, shape, op->weight_bits, op->n_weights,
                    (unsigned long long)nz, 100.0 * (1.0 - (double)nz / (double)op->n_weights),
                    (unsigned long long)qm_op_macs(op), enc ? enc : "-",
                    (unsigned long long)f->op_bytes[i]);
        } else {
            fprintf(out, "%3d  %-16s %-10s %-24s %4s %9s %9s %8s %11s  %-14s %9s\n", i,
                    qm_op_type_name(op->type), src, shape, "-", "-", "-", "-", "-", "-", "-");
        }
    }
    fprintf(out, "sections:");
    for (int s = 0; s < f->n_sections; s++)
        fprintf(out, " %s %llu", f->sections[s].tag, (unsigned long long)f->sections[s].bytes);
    fprintf(out, " (+16 header) = %llu bytes\n", (unsigned long long)f->file_bytes);
}

cJSON *qreport_layers_json(const iotc_model *f)
{
    const qm_model *m = &f->m;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < m->n_ops; i++) {
        const qm_op *op = &m->ops[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "op", i);
        cJSON_AddStringToObject(o, "type", qm_op_type_name(op->type));
        cJSON_AddNumberToObject(o, "source_layer", f->src_layer[i]);
        cJSON_AddStringToObject(o, "name", f->name[i]);
        int in[3] = {op->in_h, op->in_w, op->in_c}, outs[3] = {op->out_h, op->out_w, op->out_c};
        cJSON_AddItemToObject(o, "input_shape_hwc", cJSON_CreateIntArray(in, 3));
        cJSON_AddItemToObject(o, "output_shape_hwc", cJSON_CreateIntArray(outs, 3));
        cJSON_AddBoolToObject(o, "relu", op->relu != QM_ACT_NONE);
        cJSON_AddStringToObject(o, "activation", op->relu == QM_ACT_RELU6 ? "relu6"
                                                 : op->relu              ? "relu"
                                                                         : "none");
        cJSON_AddNumberToObject(o, "output_scale", op->out.scale);
        cJSON_AddNumberToObject(o, "output_zero", op->out.zero);
        cJSON_AddNumberToObject(o, "macs", (double)qm_op_macs(op));
        if (weighted(op)) {
            uint64_t nz = qm_op_nonzero(op);
            cJSON_AddNumberToObject(o, "weight_bits", op->weight_bits);
            cJSON_AddNumberToObject(o, "weights", (double)op->n_weights);
            cJSON_AddNumberToObject(o, "nonzero_weights", (double)nz);
            cJSON_AddNumberToObject(o, "sparsity", 1.0 - (double)nz / (double)op->n_weights);
            const char *enc = wc_encoding_name(f->encoding[i]);
            cJSON_AddStringToObject(o, "encoding", enc ? enc : "");
            cJSON_AddNumberToObject(o, "bytes", (double)f->op_bytes[i]);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

cJSON *qreport_sections_json(const iotc_section *secs, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int s = 0; s < n; s++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tag", secs[s].tag);
        cJSON_AddNumberToObject(o, "offset", (double)secs[s].offset);
        cJSON_AddNumberToObject(o, "bytes", (double)secs[s].bytes);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

void qreport_add_totals(cJSON *j, const pl_iotc_totals *t)
{
    cJSON_AddNumberToObject(j, "parameters", (double)t->parameters);
    cJSON_AddNumberToObject(j, "nonzero_parameters", (double)t->nonzero);
    cJSON_AddNumberToObject(j, "file_bytes", (double)t->file_bytes);
    cJSON_AddNumberToObject(j, "macs", (double)t->macs);
    cJSON_AddNumberToObject(j, "arena_bytes", (double)t->arena_bytes);
    cJSON_AddStringToObject(j, "arena_isa", t->arena_isa);
    cJSON_AddStringToObject(j, "arena_target", t->arena_target);
}
