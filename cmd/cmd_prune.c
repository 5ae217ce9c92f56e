/* iotcnn prune: a trained checkpoint -> a pruned (and fine-tuned) one; the
 * work is pipeline/pl_prune, the printing prune_out. */
#include <stdio.h>

#include "pipeline/pl_prune.h"
#include "cli.h"
#include "commands.h"
#include "progress.h"
#include "prune_out.h"

typedef struct {
    const char *config, *model, *output;
    int epochs, limit, threads, json; /* epochs -1: from the config */
} prune_opts;

static const cli_option options[] = {
    CLI_OPT_CONFIG(prune_opts, "the config the model was trained with, plus a\nprune block"),
    CLI_OPT_MODEL(prune_opts, "checkpoint to prune"),
    CLI_OPT_OUTPUT(prune_opts, "OUTPUT", "pruned checkpoint to write"),
    {"epochs", 0, CLI_INT, offsetof(prune_opts, epochs), "N",
     "fine-tuning epochs (overrides prune.finetune.epochs;\n0: none)", NULL, 0, 100000, 0, 0, 0,
     NULL},
    CLI_OPT_LIMIT(prune_opts, "fine-tune on N training images only, each class in proportion"),
    CLI_OPT_THREADS(prune_opts),
    CLI_OPT_JSON(prune_opts),
};

const cli_command cmd_prune_def = {
    "prune",
    "prune a model (magnitude or whole channels) and fine-tune it",
    "-c CONFIG -m MODEL -o OUTPUT [--epochs N] [--limit N]\n"
    "                    [--threads T] [--json]",
    "Prunes MODEL as the prune block of CONFIG says (see docs/config.md):\n"
    "unstructured magnitude pruning (per layer or global, one-shot or gradual)\n"
    "or structured pruning (whole channels removed: a smaller, faster model),\n"
    "then fine-tunes with the config's data, augment and train blocks when\n"
    "prune.finetune is given. Reports test accuracy before and after and, per\n"
    "layer, parameters, sparsity and MACs before and after. OUTPUT is an\n"
    "ordinary checkpoint (written atomically) that eval reads as it is.\n",
    options,
    CLI_N_OPTS(options),
    NULL,
    NULL,
};

int cmd_prune(int argc, char **argv)
{
    prune_opts o = {.epochs = -1, .threads = cli_default_threads()};
    cli_parse(&cmd_prune_def, &o, argc, argv, NULL, 0, NULL);
    if (!o.config || !o.model || !o.output)
        cli_usage_error("prune", "-c CONFIG, -m MODEL and -o OUTPUT are required");
    double t0 = cli_now();
    progress prog;
    pl_progress rep = progress_start(&prog, "prune");
    pl_prune_opts po = {o.config, o.model, o.output, o.epochs, o.limit, o.threads};
    pl_prune_result r;
    nn_error err = {{0}};
    nn_status st = pl_prune(&po, &rep, &r, &err);
    progress_done(&prog, st, &err);
    prune_summary sum = {o.model,        o.output,  &r.prune, r.epochs,       o.threads,
                         r.mask_updates, &r.before, &r.after, r.report,       cli_now() - t0,
                         r.out_bytes};
    if (o.json)
        prune_print_json(&sum);
    else
        prune_print_table(&sum);
    pl_prune_result_free(&r);
    return 0;
}
