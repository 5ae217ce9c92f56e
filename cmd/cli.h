/* cli.h - what the iotcnn subcommands share: option parsing, error
 * reporting, JSON output. Only cmd/ prints and chooses exit codes, one
 * contract for every command (CLI_EXIT_HELP, nn_status_exit_code):
 * 0 success, 1 bad data or I/O, 2 usage or config error. */
#ifndef CLI_H
#define CLI_H

#include <stdint.h>
#include <stdio.h>

#include "libnn/nn_error.h"

#define IOTCNN_VERSION "0.1.0"

enum { EXIT_USAGE = 2, EXIT_RUNTIME = 1 };

/* The end of every --help text. */
#define CLI_EXIT_HELP                                                                  \
    "\n"                                                                               \
    "Exit status: 0 success; 1 bad data or I/O (a file that is unreadable,\n"           \
    "corrupt or holds non-finite values, or numbers that overflow a computation);\n"   \
    "2 usage or config error.\n"

/* A tiny option scanner: accepts "-x VALUE", "--long VALUE", "--long=VALUE"
 * and flags. */
typedef struct {
    int argc, i;
    char **argv;
    const char *cmd;      /* for messages: "train" */
    const char *value;    /* value of the option just matched */
} cli_args;

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv);
/* Next argument; NULL when done. */
const char *cli_next(cli_args *a);
/* 1 if arg is the option (short and/or long form); takes its value into
 * a->value (exit 2 when the value is missing). */
int cli_opt(cli_args *a, const char *arg, const char *short_name, const char *long_name);
int cli_flag(const char *arg, const char *short_name, const char *long_name);

/* Strict number parsing of a->value for option `name`; exit 2 when the
 * text is not an integer in [lo, hi]. */
long long cli_int(const cli_args *a, const char *name, long long lo, long long hi);

/* Prints "iotcnn CMD: message" to stderr and exits with the status's code. */
_Noreturn void cli_fail(const char *cmd, nn_status st, const nn_error *err);
/* Prints "iotcnn CMD: <formatted>\nTry 'iotcnn CMD --help'." and exits 2. */
_Noreturn void cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Flushes stdout; when that or any earlier write to it failed (a full
 * disk, a closed pipe), prints "iotcnn: cannot write standard output:
 * REASON" and turns a success rc into 1. Returns the exit status. */
int cli_close_stdout(int rc);

double cli_now(void);
/* Peak resident set size of this process in bytes. */
uint64_t cli_peak_rss_bytes(void);
/* Online CPUs, the default thread count. */
int cli_default_threads(void);

#endif
