/* fuzz_idx.c - the IDX loader (datasets/idx.c: ds_load_idx) through the
 * checked plain/gzip reader (datasets/ds_io.c, zlib).
 *
 * Input: one control byte, then two parts (fz_split): the images file and
 * the labels file. Control bit 0 / bit 1: gzip the images / labels file
 * first (so valid gzip streams carry the mutated IDX bytes; inputs that are
 * gzip data themselves reach the corrupt-stream paths). A data set that
 * loads must be consistent, and splitting off a validation tail and the
 * channel statistics must work on it. */
#include <stdlib.h>
#include <string.h>

#include "datasets/ds.h"
#include "fz_util.h"

static fz_memfile files[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fz_memfile_open(&files[0]);
    fz_memfile_open(&files[1]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t ctrl = data[0];
    const uint8_t *part[2];
    size_t len[2];
    int np = fz_split(data + 1, size - 1, 2, part, len);
    if (np < 2)
        part[1] = part[0] + len[0], len[1] = 0;
    static const char *const names[2] = {"images-idx3-ubyte", "labels-idx1-ubyte"};
    for (int k = 0; k < 2; k++) {
        uint8_t *gz = NULL;
        size_t gl = 0;
        if (ctrl >> k & 1)
            gz = fz_gzip(part[k], len[k], &gl);
        fz_memfile_set(&files[k], gz ? gz : part[k], gz ? gl : len[k]);
        fz_dump(names[k], gz ? gz : part[k], gz ? gl : len[k]);
        free(gz);
    }
    ds_dataset ds, val;
    nn_error err;
    memset(&err, 0, sizeof err);
    if (ds_load_idx(&ds, files[0].path, files[1].path, &err) != NN_OK) {
        if (!err.msg[0] || ds.images || ds.labels)
            fz_fail("a failed load must leave a message and an empty data set");
        return 0;
    }
    if (ds.n < 1 || ds.c != 1 || ds.h < 1 || ds.w < 1 || ds.num_classes != 10)
        fz_fail("loaded a data set of impossible shape");
    for (int i = 0; i < ds.n; i++)
        if (ds.labels[i] >= ds.num_classes)
            fz_fail("label %d out of range", i);
    float mean[1], std[1];
    ds_channel_stats(&ds, mean, std);
    if (ds_split_validation(&ds, &val, ds.n / 2, 1, &err) == NN_OK)
        ds_free(&val);
    ds_free(&ds);
    return 0;
}
