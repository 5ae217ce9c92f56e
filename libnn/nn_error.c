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
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
}

int nn_status_exit_code(nn_status s)
{
    switch (s) {
    case NN_OK: return 0;
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
    }
    return "unknown error";
}
