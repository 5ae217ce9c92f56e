/* fuzz_pngdir.c - the PNG folder loader (datasets/pngdir.c:
 * ds_load_png_dir, folder scanning, size and colour checks, gray
 * compaction) and the PNG decoder under it (datasets/png.c: ds_png_read
 * over libpng: every colour type and bit depth, palette, tRNS, 16-bit,
 * interlace, the size limit).
 *
 * Input: one control byte, then up to four parts (fz_split; an empty last
 * part is dropped), each written as one image file into a fresh folder tree
 * under a private directory (/dev/shm): part k goes to class folder "c(k mod C)" as "imgK.png",
 * C = 1 + (bits 1..2 mod 3) classes; a class that gets no part is an empty
 * folder. Control bit 0: recompute the PNG chunk CRCs of every part (so
 * mutations reach libpng's decoding and our checks after it); bit 3: add a
 * hidden file, which must be skipped. A data set that loads must be
 * consistent with the folders. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/ds.h"
#include "fz_util.h"

#define MAX_PARTS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t ctrl = data[0];
    const int n_classes = 1 + (ctrl >> 1 & 3) % 3;
    const uint8_t *part[MAX_PARTS];
    size_t len[MAX_PARTS];
    int np = fz_split(data + 1, size - 1, MAX_PARTS, part, len);
    if (np > 1 && len[np - 1] == 0)
        np--; /* an empty last part is no file (an empty one before it is) */

    char root[PATH_MAX], path[PATH_MAX + 32];
    snprintf(root, sizeof root, "%s/set", fz_private_dir());
    fz_rmtree(root);
    if (mkdir(root, 0700) != 0)
        fz_fail("mkdir %s", root);
    for (int k = 0; k < n_classes; k++) {
        snprintf(path, sizeof path, "%s/c%d", root, k);
        if (mkdir(path, 0700) != 0)
            fz_fail("mkdir %s", path);
    }
    for (int k = 0; k < np; k++) {
        uint8_t *buf = malloc(len[k] ? len[k] : 1);
        if (!buf)
            fz_fail("out of memory");
        memcpy(buf, part[k], len[k]);
        if (ctrl & 1)
            fz_fix_png_crcs(buf, len[k]);
        char name[32];
        snprintf(name, sizeof name, "c%d/img%d.png", k % n_classes, k);
        snprintf(path, sizeof path, "%s/%s", root, name);
        fz_write_file(path, buf, len[k]);
        fz_dump(name, buf, len[k]);
        free(buf);
    }
    if (ctrl & 8) {
        snprintf(path, sizeof path, "%s/c0/.hidden", root);
        fz_write_file(path, "x", 1);
    }

    ds_dataset ds;
    nn_error err;
    memset(&err, 0, sizeof err);
    if (ds_load_png_dir(&ds, root, &err) != NN_OK) {
        if (!err.msg[0] || ds.images || ds.labels || ds.class_names)
            fz_fail("a failed load must leave a message and an empty data set");
        return 0;
    }
    if (ds.n != np || ds.num_classes != n_classes || (ds.c != 1 && ds.c != 3) || ds.h < 1 ||
        ds.w < 1)
        fz_fail("loaded %d images of %d classes (%dx%dx%d) from %d files in %d folders", ds.n,
                ds.num_classes, ds.c, ds.h, ds.w, np, n_classes);
    for (int i = 0; i < ds.n; i++)
        if (ds.labels[i] >= ds.num_classes)
            fz_fail("label %d out of range", i);
    for (int k = 0; k < ds.num_classes; k++) {
        char want[8];
        snprintf(want, sizeof want, "c%d", k);
        if (strcmp(ds.class_names[k], want) != 0)
            fz_fail("class %d is named %s", k, ds.class_names[k]);
    }
    ds_free(&ds);
    return 0;
}
