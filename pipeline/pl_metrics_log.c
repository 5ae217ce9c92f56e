#include "pl_metrics_log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Keeps the lines of text whose "epoch" is <= epochs_kept. */
static void keep_lines(nn_wbuf *w, const char *text, int epochs_kept)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        cJSON *j = cJSON_ParseWithLength(line, len);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "epoch");
        if (cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= epochs_kept) {
            nn_wbuf_bytes(w, line, len);
            nn_wbuf_u8(w, '\n');
        }
        cJSON_Delete(j);
        line += len + (end != NULL);
    }
}

nn_status pl_metrics_log_open(pl_metrics_log *l, const char *path, const char *from, int epochs_kept,
                           nn_error *err)
{
    l->path = path;
    nn_wbuf_init(&l->text);
    struct stat sb;
    if (!from || epochs_kept <= 0 || (stat(from, &sb) != 0 && errno == ENOENT))
        return NN_OK;
    uint8_t *data;
    size_t len;
    nn_status st = nn_read_file(from, &data, &len, 64u << 20, err);
    if (st != NN_OK)
        return st;
    keep_lines(&l->text, (const char *)data, epochs_kept);
    free(data);
    return nn_wbuf_status(&l->text, from, err);
}

/* printf into the buffer (lines are short; a longer one is cut). */
static void put(nn_wbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(nn_wbuf *w, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        nn_wbuf_bytes(w, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

nn_status pl_metrics_log_append(pl_metrics_log *l, const nn_epoch_report *r, nn_error *err)
{
    nn_wbuf *w = &l->text;
    put(w,
        "{\"epoch\":%d,\"epochs\":%d,\"step\":%llu,\"train_loss\":%.6f,"
        "\"train_accuracy\":%.6f,",
        r->epoch, r->epochs, (unsigned long long)r->step, r->train_loss, r->train_accuracy);
    if (r->has_val)
        put(w, "\"val_loss\":%.6f,\"val_accuracy\":%.6f,", r->val_loss, r->val_accuracy);
    put(w,
        "\"lr\":%.6g,\"loss_ratio_max\":%.4f,\"seconds\":%.3f,\"load_seconds\":%.3f,"
        "\"images_per_second\":%.1f,\"unix_time\":%lld}\n",
        r->lr, r->loss_ratio_max, r->seconds, r->load_seconds, r->images_per_second,
        (long long)time(NULL));
    nn_status st = nn_wbuf_status(w, l->path, err);
    if (st == NN_OK)
        st = nn_write_file_atomic(l->path, w->data, w->len, err);
    return st;
}

void pl_metrics_log_free(pl_metrics_log *l) { nn_wbuf_free(&l->text); }
