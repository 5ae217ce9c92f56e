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
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    int plen = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (plen < 0)
        return;
    if ((size_t)plen >= sizeof prefix)
        plen = (int)sizeof prefix - 1;
    /* Shift the old message right by "prefix: " and truncate what falls off. */
    size_t shift = (size_t)plen + 2, cap = sizeof err->msg - 1;
    size_t old_len = strnlen(err->msg, cap);
    if (shift >= cap)
        shift = cap;
    size_t keep = old_len + shift > cap ? cap - shift : old_len;
    memmove(err->msg + shift, err->msg, keep);
    err->msg[shift + keep] = '\0';
    memcpy(err->msg, prefix, shift - 2 < (size_t)plen ? shift - 2 : (size_t)plen);
    if (shift >= 2) {
        err->msg[shift - 2] = ':';
        err->msg[shift - 1] = ' ';
    }
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
