/* iotcnn augment: a PNG grid of augmented training images, to see what the
 * model is fed; the work is pipeline/pl_grid. */
#include <stdio.h>

#include "pipeline/pl_grid.h"
#include "cli.h"
#include "commands.h"

typedef struct {
    const char *config, *output;
    int n, epoch, json;
    long long seed;
} augment_opts;

static const cli_option options[] = {
    CLI_OPT_CONFIG(augment_opts, "JSON run configuration"),
    CLI_OPT_OUTPUT(augment_opts, "FILE", "PNG to write (atomically)"),
    {"n", 0, CLI_INT, offsetof(augment_opts, n), "N", "images in the grid", "64", 1, 4096, 0, 0, 0,
     NULL},
    CLI_OPT_SEED(augment_opts),
    {"epoch", 0, CLI_INT, offsetof(augment_opts, epoch), "E", "the epoch whose draws to show", "1",
     1, 100000, 0, 0, 0, NULL},
    CLI_OPT_JSON(augment_opts),
};

const cli_command cmd_augment_def = {
    "augment",
    "write a PNG grid of augmented training images",
    "-c CONFIG -o GRID.png [--n N] [--seed S] [--epoch E] [--json]",
    "Writes a grid of the first N training images of CONFIG's dataset as its\n"
    "augment block transforms them in epoch E (the same draws training makes\n"
    "with that seed), so a person can see what the model is fed.\n",
    options,
    CLI_N_OPTS(options),
    NULL,
    NULL,
};

int cmd_augment(int argc, char **argv)
{
    augment_opts o = {.seed = -1};
    cli_parse(&cmd_augment_def, &o, argc, argv, NULL, 0, NULL);
    if (!o.config || !o.output)
        cli_usage_error("augment", "a config (-c) and an output file (-o) are required");
    nn_error err = {{0}};
    cfg_config cfg;
    nn_status st = cfg_load(&cfg, NULL, o.config, &err);
    if (st != NN_OK)
        cli_fail("augment", st, &err);
    pl_grid_opts go = {o.n, o.seed >= 0 ? (uint64_t)o.seed : cfg.train.seed, o.epoch, o.output};
    pl_grid_result r;
    if ((st = pl_grid(&cfg, &go, &r, &err)) != NN_OK)
        cli_fail("augment", st, &err);
    if (!r.augmented)
        fprintf(stderr, "iotcnn augment: %s has no augment block: the grid shows the images as "
                        "they are\n", o.config);
    fprintf(stderr, "iotcnn augment: %d images of %s (epoch %d) -> %s (%dx%d)\n", r.n,
            cfg.data.dataset, o.epoch, o.output, r.width, r.height);
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "output", o.output);
        cJSON_AddStringToObject(j, "dataset", cfg.data.dataset);
        cJSON_AddNumberToObject(j, "images", r.n);
        cJSON_AddNumberToObject(j, "epoch", o.epoch);
        cJSON_AddNumberToObject(j, "seed", (double)go.seed);
        cJSON_AddNumberToObject(j, "width", r.width);
        cJSON_AddNumberToObject(j, "height", r.height);
        cJSON_AddBoolToObject(j, "augmented", r.augmented);
        cli_print_json(j);
    }
    return 0;
}
