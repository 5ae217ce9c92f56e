/* fuzz_cifar.c - the CIFAR-10 binary loader (datasets/cifar.c:
 * ds_load_cifar10_bin, several batch files concatenated) through the
 * checked plain/gzip reader (datasets/ds_io.c).
 *
 * Input: one control byte, then up to three parts (fz_split), one batch
 * file each. Control bits 0..2: gzip batch file k first; bits 3..4: how
 * many files to pass (1..3; parts beyond the input are empty files). A data
 * set that loads must hold whole records with labels below 10. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ds.h"
#include "fz_util.h"

#define MAX_FILES 3
static fz_memfile files[MAX_FILES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    for (int k = 0; k < MAX_FILES; k++)
        fz_memfile_open(&files[k]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t ctrl = data[0];
    const int n_files = 1 + (ctrl >> 3 & 3) % MAX_FILES;
    const uint8_t *part[MAX_FILES];
    size_t len[MAX_FILES];
    int np = fz_split(data + 1, size - 1, n_files, part, len);
    const char *paths[MAX_FILES];
    for (int k = 0; k < n_files; k++) {
        if (k >= np)
            part[k] = data + size, len[k] = 0;
        uint8_t *gz = NULL;
        size_t gl = 0;
        if (ctrl >> k & 1)
            gz = fz_gzip(part[k], len[k], &gl);
        fz_memfile_set(&files[k], gz ? gz : part[k], gz ? gl : len[k]);
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", k + 1);
        fz_dump(name, gz ? gz : part[k], gz ? gl : len[k]);
        free(gz);
        paths[k] = files[k].path;
    }
    ds_dataset ds;
    nn_error err;
    memset(&err, 0, sizeof err);
    if (ds_load_cifar10_bin(&ds, paths, n_files, &err) != NN_OK) {
        if (!err.msg[0] || ds.images || ds.labels)
            fz_fail("a failed load must leave a message and an empty data set");
        return 0;
    }
    if (ds.n < 1 || ds.c != 3 || ds.h != 32 || ds.w != 32 || ds.num_classes != 10)
        fz_fail("loaded a data set of impossible shape");
    for (int i = 0; i < ds.n; i++)
        if (ds.labels[i] >= 10)
            fz_fail("label %d out of range", i);
    ds_free(&ds);
    return 0;
}
