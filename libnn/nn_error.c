#include "nn_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

nn_status nn_errorf(nn_error *err, nn_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void nn_error_prefix(nn_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char old[sizeof err->msg], prefix[256];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* "prefix: old", the old message cut to what fits. */
    size_t n = strlen(prefix); /* < 256 */
    size_t len = strnlen(old, sizeof err->msg - n - 3);
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    memcpy(err->msg + n + 2, old, len);
    err->msg[n + 2 + len] = '\0';
}

int nn_status_exit_code(nn_status s)
{
    switch (s) {
    case NN_OK:
    case NN_STOP: return 0;
    case NN_ERR_ARG:
    case NN_ERR_CONFIG: return 2;
    default: return 1;
    }
}

const char *nn_status_name(nn_status s)
{
    switch (s) {
    case NN_OK: return "ok";
    case NN_ERR_ARG: return "invalid argument";
    case NN_ERR_CONFIG: return "config error";
    case NN_ERR_IO: return "I/O error";
    case NN_ERR_FORMAT: return "format error";
    case NN_ERR_NOMEM: return "out of memory";
    case NN_ERR_NUMERIC: return "numeric error";
    case NN_STOP: return "stopped";
    }
    return "unknown error";
}
