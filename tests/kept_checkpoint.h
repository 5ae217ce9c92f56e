/* kept_checkpoint.h - the check that a run stopped by divergence left the
 * checkpoint of its last good epoch: the file at path is byte for byte
 * the one saved then (good, good_len), loads, holds epochs_done epochs and
 * only finite parameters, statistics and optimizer state. */
#ifndef KEPT_CHECKPOINT_H
#define KEPT_CHECKPOINT_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "format/ckpt.h"
#include "libnn/nn_diverge.h"
#include "cli_helpers.h"

static inline void expect_kept_checkpoint(const char *path, const char *good, size_t good_len,
                                          int epochs_done)
{
    size_t now_len;
    char *now = ch_slurp(path, &now_len);
    cr_assert(now && now_len == good_len && memcmp(now, good, good_len) == 0,
              "%s: the checkpoint of the last good epoch was replaced", path);
    free(now);
    ckpt_file ck;
    nn_error err;
    cr_assert_eq(ckpt_load(&ck, path, &err), NN_OK, "%s", err.msg);
    cr_expect_eq(ck.train.epochs_done, epochs_done);
    nn_nonfinite at;
    cr_expect_eq(nn_find_nonfinite(&ck.model, ck.optim.m, ck.optim.v, &at), 0,
                 "non-finite %s [%zu] in layer %d", at.what, at.index, at.layer);
    ckpt_free(&ck);
}

#endif
