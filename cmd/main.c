/* iotcnn - train, compress and evaluate small CNNs for IoT devices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/ckpt.h"
#include "libnn/nn_isa.h"
#include "pipeline/pl_dist.h"
#include "runtime/rt.h"
#include "cli.h"
#include "commands.h"

typedef struct {
    const cli_command *def;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {&cmd_train_def, cmd_train},       {&cmd_eval_def, cmd_eval},
    {&cmd_augment_def, cmd_augment},   {&cmd_prune_def, cmd_prune},
    {&cmd_quantize_def, cmd_quantize}, {&cmd_info_def, cmd_info},
    {&cmd_compare_def, cmd_compare},   {&cmd_export_def, cmd_export},
    {&cmd_predict_def, cmd_predict},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out)
{
    fputs("Usage: iotcnn COMMAND [OPTIONS]\n\nCommands:\n", out);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i].def->name, commands[i].def->summary);
    fputs("\niotcnn help COMMAND (or iotcnn COMMAND --help) describes a command;\n"
          "iotcnn --version the version.\n" CLI_EXIT_HELP,
          out);
}

static const command *find(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].def->name, name) == 0)
            return &commands[i];
    return NULL;
}

/* A command other than train started by mpirun as one of several
 * processes: each would be a copy of the same work into the same files.
 * Process 0 says so and exits 2; the others end at once without a word and
 * with status 0, so that mpirun reports process 0's status (and does not
 * end it, on another process's non-zero status, before it has printed). */
static int refuse_mpirun(const char *cmd)
{
    if (pl_dist_launched_rank() != 0)
        return 0;
    fprintf(stderr,
            "iotcnn %s: started as one of %d MPI processes, but only `iotcnn train` runs over "
            "several processes: run `iotcnn %s` alone, without mpirun\n",
            cmd, pl_dist_launched_size(), cmd);
    return EXIT_USAGE;
}

/* iotcnn help [COMMAND] */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        usage(stdout);
        return 0;
    }
    const command *c = find(argv[2]);
    if (!c) {
        fprintf(stderr, "iotcnn help: unknown command '%s'\n", argv[2]);
        usage(stderr);
        return EXIT_USAGE;
    }
    cli_print_help(stdout, c->def);
    return 0;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0)
        return help(argc, argv);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("iotcnn %s (checkpoint format %d)\n", IOTCNN_VERSION, CKPT_VERSION);
#ifdef IOTCNN_NATIVE
        const char *build = "for the CPU it was built on only (make NATIVE=1)";
#else
        const char *build = "portable (SIMD kernels chosen at run time)";
#endif
        printf("build: %s; int8 kernels on this CPU: %s\n", build, rt_isa_name(rt_isa_best()));
        char mpi[160];
        pl_dist_describe(mpi, sizeof mpi); /* train over mpirun, or not built in */
        printf("%s\n", mpi);
        return 0;
    }
    const command *c = find(cmd);
    if (c && c->run != cmd_train && pl_dist_launched_size() > 1)
        return refuse_mpirun(cmd);
    if (c)
        return c->run(argc - 2, argv + 2);
    fprintf(stderr, "iotcnn: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const char *cap = getenv(NN_ISA_ENV);
    nn_isa isa;
    if (cap && *cap && !nn_isa_parse(cap, &isa)) {
        fprintf(stderr, "iotcnn: %s='%s' is not one of scalar, avx2, avx512\n", NN_ISA_ENV, cap);
        return EXIT_USAGE;
    }
    return cli_close_stdout(run(argc, argv));
}
