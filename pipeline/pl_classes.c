/* pl_classes.c - a model's class names, stored or standard (pl_classes.h). */
#include "pl_classes.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "datasets/ds.h"

/* The standard names of dataset, if it has them and they fit. */
static pl_classes_source standard(const char *dataset, int num_classes, cls_names *out)
{
    int n;
    const char *const *names = ds_standard_class_names(dataset, &n);
    nn_error err;
    if (!names || n != num_classes || cls_set(out, names, n, &err) != NN_OK)
        return PL_CLASSES_NONE;
    return PL_CLASSES_STANDARD;
}

pl_classes_source pl_ckpt_classes(const ckpt_file *ck, cls_names *out)
{
    out->n = 0;
    if (ck->classes.n > 0) {
        *out = ck->classes;
        return PL_CLASSES_STORED;
    }
    cJSON *root = ck->config_json ? cJSON_Parse(ck->config_json) : NULL;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(data, "dataset");
    pl_classes_source s = cJSON_IsString(name)
                              ? standard(name->valuestring, ck->model.spec.num_classes, out)
                              : PL_CLASSES_NONE;
    cJSON_Delete(root);
    return s;
}

pl_classes_source pl_iotc_classes(const iotc_model *f, cls_names *out)
{
    out->n = 0;
    if (f->classes.n > 0) {
        *out = f->classes;
        return PL_CLASSES_STORED;
    }
    return standard(iotc_get_meta(f, "dataset"), f->m.num_classes, out);
}
