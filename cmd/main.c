/* iotcnn - train, compress and evaluate small CNNs for IoT devices. */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "format/ckpt.h"
#include "cli.h"
#include "commands.h"

static const char usage[] =
    "Usage: iotcnn COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  train     train a network described by a JSON config\n"
    "  eval      evaluate a model (.ckpt or .iotc): accuracy, confusion matrix\n"
    "  augment   write a PNG grid of augmented training images\n"
    "  prune     prune a model (magnitude or whole channels) and fine-tune it\n"
    "  quantize  convert a float checkpoint into an int8 .iotc model\n"
    "  info      describe a model file (.ckpt or .iotc): layers, sizes, MACs\n"
    "  compare   several models side by side: accuracy, bytes, latency\n"
    "  export    a .iotc model as C sources for a microcontroller firmware\n"
    "\n"
    "iotcnn COMMAND --help describes a command; iotcnn --version the version.\n" CLI_EXIT_HELP;

static int run(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("iotcnn %s (checkpoint format %d)\n", IOTCNN_VERSION, CKPT_VERSION);
        return 0;
    }
    if (strcmp(cmd, "train") == 0)
        return cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "augment") == 0)
        return cmd_augment(argc - 2, argv + 2);
    if (strcmp(cmd, "prune") == 0)
        return cmd_prune(argc - 2, argv + 2);
    if (strcmp(cmd, "quantize") == 0)
        return cmd_quantize(argc - 2, argv + 2);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 2, argv + 2);
    if (strcmp(cmd, "compare") == 0)
        return cmd_compare(argc - 2, argv + 2);
    if (strcmp(cmd, "export") == 0)
        return cmd_export(argc - 2, argv + 2);
    fprintf(stderr, "iotcnn: unknown command '%s'\n%s", cmd, usage);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    /* iotcnn runs its own threads (--threads), each calling sgemm: OpenBLAS's
     * pool stays at one thread, or the two pools fight for the cores. The
     * one process-wide setting, made here by the application, never by the
     * library (libnn/nn_exec.h). */
    openblas_set_num_threads(1);
    return cli_close_stdout(run(argc, argv));
}
