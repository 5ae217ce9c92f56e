/* commands.h - the iotcnn subcommands: each returns the process exit code,
 * and each declares its options in a table (cli.h) that `iotcnn help CMD`
 * and `iotcnn CMD --help` print. */
#ifndef COMMANDS_H
#define COMMANDS_H

#include "cli.h"

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_augment(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_predict(int argc, char **argv);

extern const cli_command cmd_train_def, cmd_eval_def, cmd_augment_def, cmd_prune_def,
    cmd_quantize_def, cmd_info_def, cmd_compare_def, cmd_export_def, cmd_predict_def;

#endif
