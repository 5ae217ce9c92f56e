/* pngdir.c - a folder of class sub-folders of PNG or JPEG images.
 *
 *   dir/CLASS_A/x.png, dir/CLASS_B/y.jpg ...  (label = rank of CLASS by name)
 *
 * Names are sorted bytewise (strcmp), so labels do not depend on the locale
 * or on the order the file system lists entries in. Hidden entries (names
 * starting with '.') are skipped; anything else that is not a class folder
 * at the top, or not a PNG or JPEG file inside a class folder, is an error
 * naming it.
 *
 * Every image is converted to the set's shape with ds_image_fit (resized
 * and, for a requested shape, its channels converted). Without a requested
 * shape the first image (in name order) sets the size and images are decoded
 * into an RGB planar buffer (gray ones copied to all three planes); if every
 * image turned out gray, the buffer is compacted in place to one plane. */
#include "ds.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ds_io.h"
#include "ds_image.h"

#define PNGDIR_MAX_SIDE 4096   /* per image side; a forged header costs <= 48 MB */
#define PNGDIR_MAX_CLASSES 256 /* labels are bytes                              */

typedef struct {
    char **v;
    size_t n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int join(char *buf, size_t cap, const char *a, const char *b, nn_error *err)
{
    int k = snprintf(buf, cap, "%s/%s", a, b);
    if (k < 0 || (size_t)k >= cap)
        return nn_errorf(err, NN_ERR_ARG, "%s/%s: path too long", a, b);
    return NN_OK;
}

/* Lists dir's non-hidden entries, sorted; each must be a directory
 * (want_dir = 1) or a regular file (want_dir = 0). */
static int list_dir(name_list *out, const char *dir, int want_dir, nn_error *err)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return nn_errorf(err, NN_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = NN_OK;
    char path[PATH_MAX];
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                rc = nn_errorf(err, NN_ERR_IO, "%s: cannot list folder: %s", dir,
                               strerror(errno));
            break;
        }
        if (e->d_name[0] == '.')
            continue; /* ".", ".." and hidden files */
        rc = join(path, sizeof path, dir, e->d_name, err);
        if (rc != NN_OK)
            break;
        struct stat st;
        if (stat(path, &st) != 0) {
            rc = nn_errorf(err, NN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
            break;
        }
        if (want_dir && !S_ISDIR(st.st_mode)) {
            rc = nn_errorf(err, NN_ERR_FORMAT,
                           "%s: not a class folder (%s must hold only one sub-folder per class)",
                           path, dir);
            break;
        }
        if (!want_dir && !S_ISREG(st.st_mode)) {
            rc = nn_errorf(err, NN_ERR_FORMAT,
                           "%s: not an image file (a class folder holds only PNG and JPEG images)",
                           path);
            break;
        }
        if (out->n == out->cap) {
            size_t ncap = out->cap ? out->cap * 2 : 64;
            char **nv = realloc(out->v, ncap * sizeof *nv);
            if (!nv) {
                rc = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory listing the folder", dir);
                break;
            }
            out->v = nv;
            out->cap = ncap;
        }
        out->v[out->n] = ds_strdup(e->d_name);
        if (!out->v[out->n]) {
            rc = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory listing the folder", dir);
            break;
        }
        out->n++;
    }
    closedir(d);
    if (rc != NN_OK) {
        names_free(out);
        return rc;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_names);
    return NN_OK;
}

int ds_load_png_dir(ds_dataset *out, const char *dir, nn_error *err)
{
    return ds_load_image_dir(out, dir, 0, 0, 0, err);
}

int ds_load_image_dir(ds_dataset *out, const char *dir, int want_c, int want_h, int want_w,
                      nn_error *err)
{
    if (!out)
        return nn_errorf(err, NN_ERR_ARG, "ds_load_image_dir: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir)
        return nn_errorf(err, NN_ERR_ARG, "ds_load_image_dir: dir is NULL");
    const int want = want_c > 0;
    if (want && ((want_c != 1 && want_c != 3) || want_h < 1 || want_w < 1 ||
                 want_h > PNGDIR_MAX_SIDE || want_w > PNGDIR_MAX_SIDE))
        return nn_errorf(err, NN_ERR_ARG, "%s: bad image shape %dx%dx%d", dir, want_c, want_h,
                         want_w);

    name_list classes;
    int rc = list_dir(&classes, dir, 1, err);
    if (rc != NN_OK)
        return rc;
    name_list *files = NULL;
    char cdir[PATH_MAX], path[PATH_MAX];
    ds_image im = {0};
    uint8_t *images = NULL, *labels = NULL;
    size_t n = 0;

    if (classes.n == 0) {
        rc = nn_errorf(err, NN_ERR_FORMAT,
                       "%s: no class folders (expected one sub-folder of images per class)",
                       dir);
        goto done;
    }
    if (classes.n > PNGDIR_MAX_CLASSES) {
        rc = nn_errorf(err, NN_ERR_FORMAT, "%s: %zu class folders, at most %d are supported", dir,
                       classes.n, PNGDIR_MAX_CLASSES);
        goto done;
    }
    files = calloc(classes.n, sizeof *files);
    if (!files) {
        rc = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    /* (1) List every class folder first: n is known before decoding. */
    for (size_t k = 0; k < classes.n; k++) {
        if ((rc = join(cdir, sizeof cdir, dir, classes.v[k], err)) != NN_OK)
            goto done;
        if ((rc = list_dir(&files[k], cdir, 0, err)) != NN_OK)
            goto done;
        if (files[k].n == 0) {
            rc = nn_errorf(err, NN_ERR_FORMAT, "%s: class folder holds no images", cdir);
            goto done;
        }
        n += files[k].n;
        if (n > (size_t)INT_MAX) {
            rc = nn_errorf(err, NN_ERR_FORMAT, "%s: too many images", dir);
            goto done;
        }
    }

    /* (2) Decode in order; the requested shape, or the first image's size. */
    int h = want_h, w = want_w, all_gray = 1;
    const int planes = want ? want_c : 3;
    size_t hw = 0, i = 0;
    for (size_t k = 0; k < classes.n; k++) {
        for (size_t j = 0; j < files[k].n; j++, i++) {
            if ((rc = join(cdir, sizeof cdir, dir, classes.v[k], err)) != NN_OK ||
                (rc = join(path, sizeof path, cdir, files[k].v[j], err)) != NN_OK)
                goto done;
            if ((rc = ds_image_read(&im, path, PNGDIR_MAX_SIDE, err)) != NN_OK)
                goto done;
            if (i == 0) {
                if (!want)
                    h = im.h, w = im.w;
                hw = (size_t)h * (size_t)w;
                if ((uint64_t)n * (uint64_t)planes * hw > DS_MAX_FILE_BYTES) {
                    rc = nn_errorf(err, NN_ERR_FORMAT,
                                   "%s: %zu images of %dx%d need more than %llu bytes", dir, n,
                                   w, h, (unsigned long long)DS_MAX_FILE_BYTES);
                    goto done;
                }
                images = malloc(n * (size_t)planes * hw);
                labels = malloc(n);
                if (!images || !labels) {
                    rc = nn_errorf(err, NN_ERR_NOMEM, "%s: cannot allocate %zu images of %dx%d",
                                   dir, n, w, h);
                    goto done;
                }
            }
            all_gray &= im.ch == 1;
            if ((rc = ds_image_fit(&im, planes, h, w, images + i * (size_t)planes * hw, err)) !=
                NN_OK)
                goto done;
            labels[i] = (uint8_t)k;
            ds_image_free(&im);
        }
    }

    /* (3) All gray: keep plane 0 of each image (dst <= src, forward copy). */
    int c = planes;
    if (!want && all_gray) {
        for (size_t t = 1; t < n; t++)
            memmove(images + t * hw, images + t * 3 * hw, hw);
        uint8_t *shrunk = realloc(images, n * hw);
        if (shrunk)
            images = shrunk;
        c = 1;
    }

    out->class_names = calloc(classes.n, sizeof *out->class_names);
    if (!out->class_names) {
        rc = nn_errorf(err, NN_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    for (size_t k = 0; k < classes.n; k++) { /* hand the names over */
        out->class_names[k] = classes.v[k];
        classes.v[k] = NULL;
    }
    out->n = (int)n;
    out->c = c;
    out->h = h;
    out->w = w;
    out->num_classes = (int)classes.n;
    out->images = images;
    out->labels = labels;
    images = labels = NULL;

done:
    ds_image_free(&im);
    free(images);
    free(labels);
    if (files) {
        for (size_t k = 0; k < classes.n; k++)
            names_free(&files[k]);
        free(files);
    }
    names_free(&classes);
    return rc;
}
