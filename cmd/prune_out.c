#include "prune_out.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *method_name(const cfg_prune *p)
{
    return p->method == CFG_PRUNE_STRUCTURED ? "structured" : "magnitude";
}

static double accuracy(const nn_eval_result *r) { return r->n ? (double)r->correct / r->n : 0.0; }

static void shape(char *buf, size_t cap, const pr_layer_stats *s)
{
    snprintf(buf, cap, "%dx%dx%d", s->c, s->h, s->w);
}

static void print_row(const char *label, const pr_layer_stats *a, const pr_layer_stats *b)
{
    char sa[40], sb[40];
    shape(sa, sizeof sa, a);
    shape(sb, sizeof sb, b);
    char sparsity[16] = "-";
    if (b->weights)
        snprintf(sparsity, sizeof sparsity, "%.2f%%", 100.0 * pr_stats_sparsity(b));
    printf("%-22s %12s %12s %11llu %11llu %11llu %8s %13llu %13llu %13.0f\n", label, sa, sb,
           (unsigned long long)a->params, (unsigned long long)b->params,
           (unsigned long long)b->nonzero, sparsity, (unsigned long long)a->macs,
           (unsigned long long)b->macs, b->effective_macs);
}

void prune_print_table(const prune_summary *s)
{
    const pr_report *r = s->report;
    printf("model %s -> %s (%llu bytes): %s pruning, %d fine-tuning epoch%s\n", s->in_path,
           s->out_path, (unsigned long long)s->out_bytes, method_name(s->cfg), s->epochs,
           s->epochs == 1 ? "" : "s");
    printf("%-22s %12s %12s %11s %11s %11s %8s %13s %13s %13s\n", "layer", "out before",
           "out after", "params", "params", "nonzero", "sparsity", "MACs", "MACs", "effective");
    printf("%-22s %12s %12s %11s %11s %11s %8s %13s %13s %13s\n", "", "", "", "before", "after",
           "after", "after", "before", "after", "MACs after");
    for (int i = 0; i < r->n_rows; i++) {
        const pr_report_row *row = &r->rows[i];
        char label[64];
        snprintf(label, sizeof label, "%3d %s%s%s%s", row->node, nn_layer_type_name(row->type),
                 row->name[0] ? " \"" : "", row->name, row->name[0] ? "\"" : "");
        print_row(label, &row->before, &row->after);
    }
    print_row("total", &r->total_before, &r->total_after);
    const pr_layer_stats *a = &r->total_before, *b = &r->total_after;
    printf("\nweights pruned %.2f%% (%llu of %llu)  parameters %llu -> %llu nonzero  "
           "MACs %.3gM -> %.3gM (effective)  x%.2f fewer\n",
           100.0 * pr_stats_sparsity(b), (unsigned long long)b->zeros,
           (unsigned long long)b->weights, (unsigned long long)a->nonzero,
           (unsigned long long)b->nonzero, a->effective_macs / 1e6, b->effective_macs / 1e6,
           b->effective_macs > 0 ? a->effective_macs / b->effective_macs : 0.0);
    printf("test accuracy %.2f%% (%d/%d) -> %.2f%% (%d/%d)  %.1f s\n", 100.0 * accuracy(s->before),
           s->before->correct, s->before->n, 100.0 * accuracy(s->after), s->after->correct,
           s->after->n, s->seconds);
}

static cJSON *stats_json(const pr_layer_stats *a, const pr_layer_stats *b, int with_shape)
{
    cJSON *j = cJSON_CreateObject();
    if (with_shape) {
        int sa[3] = {a->c, a->h, a->w}, sb[3] = {b->c, b->h, b->w};
        cJSON_AddItemToObject(j, "shape_before", cJSON_CreateIntArray(sa, 3));
        cJSON_AddItemToObject(j, "shape_after", cJSON_CreateIntArray(sb, 3));
    }
    cJSON_AddNumberToObject(j, "params_before", (double)a->params);
    cJSON_AddNumberToObject(j, "params_after", (double)b->params);
    cJSON_AddNumberToObject(j, "nonzero_before", (double)a->nonzero);
    cJSON_AddNumberToObject(j, "nonzero_after", (double)b->nonzero);
    cJSON_AddNumberToObject(j, "weights_before", (double)a->weights);
    cJSON_AddNumberToObject(j, "weights_after", (double)b->weights);
    cJSON_AddNumberToObject(j, "zero_weights_before", (double)a->zeros);
    cJSON_AddNumberToObject(j, "zero_weights_after", (double)b->zeros);
    cJSON_AddNumberToObject(j, "sparsity_before", pr_stats_sparsity(a));
    cJSON_AddNumberToObject(j, "sparsity_after", pr_stats_sparsity(b));
    cJSON_AddNumberToObject(j, "macs_before", (double)a->macs);
    cJSON_AddNumberToObject(j, "macs_after", (double)b->macs);
    cJSON_AddNumberToObject(j, "effective_macs_before", a->effective_macs);
    cJSON_AddNumberToObject(j, "effective_macs_after", b->effective_macs);
    return j;
}

void prune_print_json(const prune_summary *s)
{
    const pr_report *r = s->report;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", s->out_path);
    cJSON_AddStringToObject(j, "input_model", s->in_path);
    cJSON_AddStringToObject(j, "method", method_name(s->cfg));
    if (s->cfg->method == CFG_PRUNE_MAGNITUDE)
        cJSON_AddStringToObject(j, "scope", s->cfg->scope == PR_SCOPE_GLOBAL ? "global" : "layer");
    cJSON_AddStringToObject(j, "schedule", s->cfg->gradual ? "gradual" : "oneshot");
    cJSON_AddNumberToObject(j, "target_sparsity", s->cfg->sparsity);
    cJSON_AddNumberToObject(j, "finetune_epochs", s->epochs);
    if (s->cfg->distill && s->epochs > 0) {
        cJSON *d = cJSON_AddObjectToObject(j, "distill");
        cJSON_AddNumberToObject(d, "temperature", s->cfg->distill_loss.temperature);
        cJSON_AddNumberToObject(d, "weight", s->cfg->distill_loss.weight);
        cJSON_AddBoolToObject(d, "flip", s->cfg->distill_flip);
        cJSON_AddStringToObject(d, "teacher",
                                s->cfg->distill_teacher[0] ? s->cfg->distill_teacher : s->in_path);
    } else {
        cJSON_AddNullToObject(j, "distill");
    }
    cJSON_AddNumberToObject(j, "mask_updates", s->mask_updates);
    cJSON_AddNumberToObject(j, "accuracy_before", accuracy(s->before));
    cJSON_AddNumberToObject(j, "accuracy_after", accuracy(s->after));
    cJSON_AddNumberToObject(j, "loss_before", s->before->loss);
    cJSON_AddNumberToObject(j, "loss_after", s->after->loss);
    cJSON_AddNumberToObject(j, "test_images", s->after->n);
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < r->n_rows; i++) {
        const pr_report_row *row = &r->rows[i];
        cJSON *l = stats_json(&row->before, &row->after, 1);
        cJSON_AddNumberToObject(l, "index", row->node);
        cJSON_AddStringToObject(l, "type", nn_layer_type_name(row->type));
        if (row->name[0])
            cJSON_AddStringToObject(l, "name", row->name);
        cJSON_AddItemToArray(layers, l);
    }
    cJSON_AddItemToObject(j, "totals", stats_json(&r->total_before, &r->total_after, 0));
    cJSON_AddNumberToObject(j, "model_bytes", (double)s->out_bytes);
    cJSON_AddNumberToObject(j, "seconds", s->seconds);
    cJSON_AddNumberToObject(j, "threads", s->threads);
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)cli_peak_rss_bytes());
    char *text = cJSON_PrintUnformatted(j);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(j);
}
