#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv)
{
    *a = (cli_args){argc, 0, argv, cmd, NULL};
}

const char *cli_next(cli_args *a) { return a->i < a->argc ? a->argv[a->i++] : NULL; }

int cli_flag(const char *arg, const char *short_name, const char *long_name)
{
    return (short_name && strcmp(arg, short_name) == 0) || (long_name && strcmp(arg, long_name) == 0);
}

int cli_opt(cli_args *a, const char *arg, const char *short_name, const char *long_name)
{
    if (long_name) {
        size_t len = strlen(long_name);
        if (strncmp(arg, long_name, len) == 0 && arg[len] == '=') {
            a->value = arg + len + 1;
            return 1;
        }
    }
    if (!cli_flag(arg, short_name, long_name))
        return 0;
    if (a->i >= a->argc)
        cli_usage_error(a->cmd, "option %s needs a value", arg);
    a->value = a->argv[a->i++];
    return 1;
}

long long cli_int(const cli_args *a, const char *name, long long lo, long long hi)
{
    errno = 0;
    char *end = NULL;
    long long v = strtoll(a->value, &end, 10);
    if (errno || end == a->value || *end != '\0' || v < lo || v > hi)
        cli_usage_error(a->cmd, "%s: expected an integer in [%lld, %lld], got '%s'", name, lo, hi,
                        a->value);
    return v;
}

void cli_fail(const char *cmd, nn_status st, const nn_error *err)
{
    fflush(stdout);
    fprintf(stderr, "iotcnn %s: %s\n", cmd, err->msg[0] ? err->msg : nn_status_name(st));
    exit(nn_status_exit_code(st) ? nn_status_exit_code(st) : EXIT_RUNTIME);
}

void cli_usage_error(const char *cmd, const char *fmt, ...)
{
    fflush(stdout);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "iotcnn %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'iotcnn %s --help'.\n", cmd);
    exit(EXIT_USAGE);
}

int cli_close_stdout(int rc)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    int e = errno;
    fprintf(stderr, "iotcnn: cannot write standard output: %s\n", e ? strerror(e) : "write error");
    return rc ? rc : EXIT_RUNTIME;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t cli_peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

int cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}
