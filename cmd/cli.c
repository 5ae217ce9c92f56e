/* cli.c - errors, JSON output and process facts shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void cli_report(const char *cmd, nn_status st, const nn_error *err)
{
    fflush(stdout);
    fprintf(stderr, "iotcnn %s: %s\n", cmd, err->msg[0] ? err->msg : nn_status_name(st));
}

int cli_exit_code(nn_status st)
{
    return nn_status_exit_code(st) ? nn_status_exit_code(st) : EXIT_RUNTIME;
}

void cli_fail(const char *cmd, nn_status st, const nn_error *err)
{
    cli_report(cmd, st, err);
    exit(cli_exit_code(st));
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

void cli_print_json(cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
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
