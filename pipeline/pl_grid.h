/* pl_grid.h - a PNG grid of augmented training images, to see what the
 * model is fed: the first N training images of a config's dataset as its
 * augment block transforms them in a given epoch (the same draws training
 * makes with that seed). What `iotcnn augment` runs. */
#ifndef PL_GRID_H
#define PL_GRID_H

#include <stdint.h>

#include "config/cfg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n;          /* images wanted (fewer if the split is smaller) */
    uint64_t seed;  /* augmentation seed (train.seed by default)     */
    int epoch;      /* whose draws to show, >= 1                     */
    const char *output; /* PNG to write (atomically)                 */
} pl_grid_opts;

typedef struct {
    int n;              /* images in the grid                        */
    int width, height;  /* of the PNG                                */
    int augmented;      /* 0: the config has no augment block        */
} pl_grid_result;

nn_status pl_grid(const cfg_config *cfg, const pl_grid_opts *o, pl_grid_result *r,
                  nn_error *err);

#ifdef __cplusplus
}
#endif

#endif
