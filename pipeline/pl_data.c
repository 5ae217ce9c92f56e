#include "pl_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libnn/nn_rng.h"

static int is_dataset_name(const char *s)
{
    return strcmp(s, "mnist") == 0 || strcmp(s, "fashion") == 0 || strcmp(s, "cifar10") == 0;
}

nn_status pl_data_load_split(ds_dataset *d, const cfg_data *cd, int train, const int *shape,
                             nn_error *err)
{
    /* The loader's message names the missing file and the fetch command. */
    return ds_load_named_shaped(d, cd->dataset, cd->dir, train, shape ? shape[0] : 0,
                                shape ? shape[1] : 0, shape ? shape[2] : 0, err);
}

nn_status pl_data_load_eval(ds_dataset *d, const char *spec, const cfg_data *cd, int c, int h,
                            int w, nn_error *err)
{
    if (!spec)
        return pl_data_load_split(d, cd, 0, (int[3]){c, h, w}, err);
    if (is_dataset_name(spec)) {
        cfg_data named = *cd;
        if (strcmp(cd->dataset, spec) != 0) {
            snprintf(named.dataset, sizeof named.dataset, "%s", spec);
            snprintf(named.dir, sizeof named.dir, "data/%s", spec);
        }
        return pl_data_load_split(d, &named, 0, (int[3]){c, h, w}, err);
    }
    return ds_load_image_dir(d, spec, c, h, w, err);
}

void pl_data_store_dir(cJSON *data, const cfg_data *cd)
{
    if (!data || !cd->dir_given)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(data, "dir");
    cJSON_AddStringToObject(data, "dir", cd->dir);
}

nn_status pl_data_limit_test(ds_dataset *d, int n, const char *spec, const cfg_data *cd,
                             nn_error *err)
{
    int folder = spec ? !is_dataset_name(spec) || strcmp(spec, "png") == 0
                      : strcmp(cd->dataset, "png") == 0;
    if (folder)
        return ds_limit(d, n, err);
    ds_keep_first(d, n);
    return NN_OK;
}

nn_status pl_data_map_classes(ds_dataset *d, const cls_names *model, nn_error *err)
{
    if (!d->class_names || !model || model->n == 0)
        return NN_OK;
    int map[DS_MAX_CLASSES];
    for (int k = 0; k < d->num_classes; k++) {
        map[k] = -1;
        for (int j = 0; j < model->n && map[k] < 0; j++)
            if (d->class_names[k] && strcmp(d->class_names[k], model->name[j]) == 0)
                map[k] = j;
        if (map[k] < 0) {
            char known[600] = "";
            for (int j = 0; j < model->n && strlen(known) < sizeof known - 70; j++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s'%s'",
                         j ? ", " : "", model->name[j]);
            return nn_errorf(err, NN_ERR_ARG,
                             "class '%s' of the data is not one of the model's %d classes (%s%s)",
                             d->class_names[k] ? d->class_names[k] : "", model->n, known,
                             strlen(known) >= sizeof known - 70 ? ", ..." : "");
        }
    }
    for (int i = 0; i < d->n; i++)
        d->labels[i] = (uint8_t)map[d->labels[i]];
    char **names = calloc((size_t)model->n, sizeof *names);
    if (!names)
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory for class names");
    for (int j = 0; j < model->n; j++)
        if (!(names[j] = strdup(model->name[j]))) {
            while (j--)
                free(names[j]);
            free(names);
            return nn_errorf(err, NN_ERR_NOMEM, "out of memory for class names");
        }
    for (int k = 0; k < d->num_classes; k++)
        free(d->class_names[k]);
    free(d->class_names);
    d->class_names = names;
    d->num_classes = model->n;
    return NN_OK;
}

nn_status pl_data_check_fits(const ds_dataset *d, const nn_model *m, const char *what, nn_error *err)
{
    const nn_model_spec *s = &m->spec;
    if (d->c != s->in_c || d->h != s->in_h || d->w != s->in_w)
        return nn_errorf(err, NN_ERR_ARG, "%s images are %dx%dx%d but the model expects %dx%dx%d",
                         what, d->c, d->h, d->w, s->in_c, s->in_h, s->in_w);
    if (d->num_classes > s->num_classes)
        return nn_errorf(err, NN_ERR_ARG, "%s has %d classes but the model only %d", what,
                         d->num_classes, s->num_classes);
    return NN_OK;
}

void pl_augment_image(void *user, uint8_t *dst, const uint8_t *src, uint64_t epoch,
                        uint64_t index, int worker)
{
    const pl_augment *a = user;
    (void)worker; /* aug.h: aug_image needs no scratch for any config */
    nn_rng rng;
    nn_rng_seed_key(&rng, a->seed, NN_STREAM_AUGMENT, epoch, index);
    aug_image(dst, src, a->c, a->h, a->w, &a->cfg, &rng, NULL);
}

nn_status pl_data_fetch(void *user, const uint32_t *pos, int n, uint8_t *dst, nn_error *err)
{
    pl_fetch_src *f = user;
    const ds_dataset *d = f->set;
    size_t bytes = (size_t)d->c * d->h * d->w;
    uint32_t rec[256];
    for (int i0 = 0; i0 < n; i0 += 256) { /* records of up to 256 images at a time */
        int m = n - i0 < 256 ? n - i0 : 256;
        for (int i = 0; i < m; i++) {
            if (pos[i0 + i] >= (uint32_t)d->n)
                return nn_errorf(err, NN_ERR_ARG, "image %u of a set of %d", (unsigned)pos[i0 + i],
                                 d->n);
            rec[i] = d->index[pos[i0 + i]];
        }
        nn_status st = ds_shard_read(f->files, rec, m, dst + (size_t)i0 * bytes, err);
        if (st != NN_OK)
            return st;
        f->images_read += (unsigned long long)m;
    }
    return NN_OK;
}
