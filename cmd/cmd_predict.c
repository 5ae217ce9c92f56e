/* iotcnn predict: the classes of image files, by name, with probabilities
 * (pipeline/pl_predict.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/pl_predict.h"
#include "cli.h"
#include "commands.h"

typedef struct {
    const char *model;
    int top, json;
    int test_flip; /* -1: as the model records */
} predict_opts;

static const cli_option options[] = {
    CLI_OPT_MODEL(predict_opts, "checkpoint or .iotc model"),
    {"top", 'k', CLI_INT, offsetof(predict_opts, top), "K", "the K most likely classes", "3", 1,
     256, 0, 0, 0, NULL},
    {"test-flip", 0, CLI_FLAG, offsetof(predict_opts, test_flip), NULL,
     "average each image's logits with its mirror's (default: as\nthe model records)", NULL,
     0, 0, 0, 0, 1, NULL},
    {"no-test-flip", 0, CLI_FLAG, offsetof(predict_opts, test_flip), NULL,
     "one pass per image even if the model records the flip", NULL, 0, 0, 0, 0, 0, NULL},
    {"json", 0, CLI_FLAG, offsetof(predict_opts, json), NULL,
     "one JSON object per image, one per line", NULL, 0, 0, 0, 0, 1, NULL},
};

const cli_command cmd_predict_def = {
    "predict",
    "classify image files (PNG, JPEG) by class name",
    "-m MODEL [--top K] [--test-flip | --no-test-flip] [--json] IMAGE|DIR...",
    "Classifies each IMAGE (PNG or JPEG, any size: converted to the model's\n"
    "input by an antialiased bilinear resize, gray and RGB converted as\n"
    "needed) with MODEL, a float checkpoint or an int8 .iotc model, and prints\n"
    "one line per image: its path and the K most likely classes by name with\n"
    "their probabilities (a softmax of the logits). A DIR stands for every\n"
    "file below it, in name order. A file that cannot be read is reported on\n"
    "stderr and the others go on; the exit status is then 1.\n",
    options,
    CLI_N_OPTS(options),
    "IMAGE|DIR...",
    NULL,
};

typedef struct {
    const predict_opts *o;
    pl_predictor *p;
    float *probs; /* (num_classes) */
    int *order;   /* (num_classes): classes by probability */
    int failed, done;
} predict_run;

static void print_one(const predict_run *r, const char *path)
{
    const pl_predict_info *in = pl_predict_info_of(r->p);
    int *order = r->order, k = in->num_classes, top = r->o->top < k ? r->o->top : k;
    for (int c = 0; c < k; c++)
        order[c] = c;
    for (int i = 0; i < top; i++) /* the top ones by probability, ties to the lower class */
        for (int j = i + 1; j < k; j++)
            if (r->probs[order[j]] > r->probs[order[i]]) {
                int t = order[i];
                order[i] = order[j], order[j] = t;
            }
    char buf[32];
    if (!r->o->json) {
        printf("%s", path);
        for (int i = 0; i < top; i++)
            printf("  %s %.1f%%", cls_name(&in->classes, order[i], buf, sizeof buf),
                   100.0 * r->probs[order[i]]);
        printf("\n");
        return;
    }
    cJSON *j = cJSON_CreateObject(), *a;
    cJSON_AddStringToObject(j, "image", path);
    a = cJSON_AddArrayToObject(j, "top");
    for (int i = 0; i < top; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "class", order[i]);
        cJSON_AddStringToObject(e, "name", cls_name(&in->classes, order[i], buf, sizeof buf));
        cJSON_AddNumberToObject(e, "probability", r->probs[order[i]]);
        cJSON_AddItemToArray(a, e);
    }
    cli_print_json(j);
}

static void predict_path(predict_run *r, const char *path);

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of dir but the hidden ones, in name order (bytewise). */
static void predict_dir(predict_run *r, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "iotcnn predict: %s: cannot open folder\n", dir);
        r->failed++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int oom = 0;
    for (struct dirent *e; !oom && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char **grown = n < cap ? names : realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
        char *name = grown ? strdup(e->d_name) : NULL;
        if (grown)
            names = grown;
        if (!name)
            oom = 1;
        else
            names[n++] = name;
    }
    closedir(d);
    if (oom) {
        fprintf(stderr, "iotcnn predict: %s: out of memory listing the folder\n", dir);
        r->failed++;
    }
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        predict_path(r, path);
        free(names[i]);
    }
    free(names);
}

static void predict_path(predict_run *r, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        predict_dir(r, path);
        return;
    }
    nn_error err = {{0}};
    if (pl_predict_file(r->p, path, r->probs, &err) != NN_OK) {
        fprintf(stderr, "iotcnn predict: %s\n", err.msg);
        r->failed++;
        return;
    }
    print_one(r, path);
    r->done++;
}

int cmd_predict(int argc, char **argv)
{
    predict_opts o = {.test_flip = -1};
    const char **inputs = malloc(sizeof *inputs * (size_t)(argc > 0 ? argc : 1));
    int n_inputs = 0;
    if (!inputs) {
        fprintf(stderr, "iotcnn predict: out of memory\n");
        return 1;
    }
    cli_parse(&cmd_predict_def, &o, argc, argv, inputs, argc, &n_inputs);
    if (!o.model)
        cli_usage_error("predict", "a model is required (-m MODEL)");
    if (n_inputs == 0)
        cli_usage_error("predict", "no image given (IMAGE or DIR...)");
    nn_error err = {{0}};
    predict_run r = {&o, NULL, NULL, NULL, 0, 0};
    nn_status st = pl_predict_open(&r.p, o.model, o.test_flip, &err);
    if (st != NN_OK)
        cli_fail("predict", st, &err);
    const size_t k = (size_t)pl_predict_info_of(r.p)->num_classes;
    r.probs = malloc(sizeof *r.probs * k);
    r.order = malloc(sizeof *r.order * k);
    if (!r.order)
        free(r.probs), r.probs = NULL;
    for (int i = 0; r.probs && i < n_inputs; i++)
        predict_path(&r, inputs[i]);
    if (!r.probs)
        fprintf(stderr, "iotcnn predict: out of memory\n"), r.failed++;
    if (r.failed)
        fprintf(stderr, "iotcnn predict: %d of %d files failed\n", r.failed, r.failed + r.done);
    free(r.probs);
    free(r.order);
    free(inputs);
    pl_predict_close(r.p);
    return r.failed ? 1 : 0;
}
