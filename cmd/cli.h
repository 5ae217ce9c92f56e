/* cli.h - what the iotcnn subcommands share: the option tables and their
 * one parser, error reporting, JSON output. Only cmd/ prints and chooses
 * exit codes, one contract for every command (CLI_EXIT_HELP,
 * nn_status_exit_code): 0 success, 1 bad data or I/O, 2 usage or config
 * error. */
#ifndef CLI_H
#define CLI_H

#include <cjson/cJSON.h>
#include <stddef.h>
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

/* ---- option tables ------------------------------------------------------ */

/* What an option takes. FLAG stores `set` (an int) and takes no value; INT
 * an int in [lo, hi]; INT64 a long long in [lo, hi]; FLOAT a double in
 * [flo, fhi]; STRING and PATH a const char * (the argv text). */
typedef enum { CLI_FLAG, CLI_INT, CLI_INT64, CLI_FLOAT, CLI_STRING, CLI_PATH } cli_kind;

typedef struct {
    const char *name;   /* long name without "--": "limit"                   */
    char short_name;    /* 'm' for -m, or 0                                  */
    cli_kind kind;
    size_t offset;      /* of the field in the command's options struct      */
    const char *arg;    /* the value's name in the help: "N", "MODEL"        */
    const char *help;   /* may hold '\n' for more lines                      */
    const char *def;    /* default, parsed into the field before the
                           arguments and shown in the help; NULL: none       */
    long long lo, hi;   /* INT, INT64: the range                             */
    double flo, fhi;    /* FLOAT: the range                                  */
    int set;            /* FLAG: the value stored (1, or 0 for --no-X)       */
    const char *alias;  /* an older long name still accepted, or NULL        */
} cli_option;

typedef struct {
    const char *name;       /* "eval"                                        */
    const char *summary;    /* one line for `iotcnn --help`                  */
    const char *synopsis;   /* after "Usage: iotcnn eval ": "-m MODEL ..."   */
    const char *about;      /* the paragraph(s) under the usage line         */
    const cli_option *opts;
    int n_opts;
    const char *operands;   /* NULL: none accepted; else their name ("MODEL...") */
    const char *notes;      /* printed after the options, or NULL            */
} cli_command;

/* The common options: the same name means the same thing on every command. */
#define CLI_OPT_JSON(T)                                                                     \
    {"json", 0, CLI_FLAG, offsetof(T, json), NULL,                                          \
     "print one JSON object as the last stdout line", NULL, 0, 0, 0, 0, 1, NULL}
#define CLI_OPT_THREADS(T)                                                                  \
    {"threads", 0, CLI_INT, offsetof(T, threads), "T",                                      \
     "worker threads (default: all CPUs)", NULL, 1, 256, 0, 0, 0, NULL}
#define CLI_OPT_LIMIT(T, WHAT)                                                              \
    {"limit", 0, CLI_INT, offsetof(T, limit), "N", WHAT, NULL, 1, 1000000000, 0, 0, 0, NULL}
#define CLI_OPT_MODEL(T, WHAT)                                                              \
    {"model", 'm', CLI_PATH, offsetof(T, model), "MODEL", WHAT, NULL, 0, 0, 0, 0, 0, NULL}
#define CLI_OPT_CONFIG(T, WHAT)                                                             \
    {"config", 'c', CLI_PATH, offsetof(T, config), "CONFIG", WHAT, NULL, 0, 0, 0, 0, 0, NULL}
#define CLI_OPT_OUTPUT(T, ARG, WHAT)                                                        \
    {"output", 'o', CLI_PATH, offsetof(T, output), ARG, WHAT, NULL, 0, 0, 0, 0, 0, NULL}
#define CLI_OPT_SEED(T)                                                                     \
    {"seed", 0, CLI_INT64, offsetof(T, seed), "S", "overrides train.seed", NULL, 0,         \
     (long long)1 << 62, 0, 0, 0, NULL}
#define CLI_N_OPTS(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* Parses argv (the words after the command's name) into opts as c's table
 * says: "-x VALUE", "--long VALUE", "--long=VALUE", flags. Defaults are
 * applied first. -h/--help prints the help and exits 0; an unknown option
 * ("did you mean"), a missing or malformed value, or an operand the
 * command does not take exits 2 naming it. Operands are stored in
 * operands[0..max) and counted in *n_operands (either may be NULL when
 * c->operands is). */
void cli_parse(const cli_command *c, void *opts, int argc, char **argv, const char **operands,
               int max_operands, int *n_operands);

/* The help of c, generated from its table. */
void cli_print_help(FILE *out, const cli_command *c);

/* The long option of c nearest to `word` (edit distance, at most a third
 * of its length and at least 1, at most 3), or NULL. */
const char *cli_did_you_mean(const cli_command *c, const char *word);

/* Levenshtein distance of a and b (each at most 63 characters counted). */
int cli_edit_distance(const char *a, const char *b);

/* ---- errors and output -------------------------------------------------- */

/* Prints "iotcnn CMD: message" to stderr and exits with the status's code. */
_Noreturn void cli_fail(const char *cmd, nn_status st, const nn_error *err);
/* cli_fail's two halves: the message, and the exit code of st. */
void cli_report(const char *cmd, nn_status st, const nn_error *err);
int cli_exit_code(nn_status st);
/* Prints "iotcnn CMD: <formatted>\nTry 'iotcnn CMD --help'." and exits 2. */
_Noreturn void cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints j unformatted as one stdout line and deletes it. */
void cli_print_json(cJSON *j);

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
