/* nn_error.h - status codes and error messages for every iotcnn library.
 *
 * Library functions never print and never exit. They return an nn_status and,
 * on failure, leave a one-line human-readable message in an nn_error that
 * names the file, JSON key or byte offset involved. Only cmd/ prints it and
 * chooses the exit code (see nn_status_exit_code). */
#ifndef NN_ERROR_H
#define NN_ERROR_H

typedef enum {
    NN_OK = 0,
    NN_ERR_ARG = 1,     /* invalid argument or shape: a caller/config bug   */
    NN_ERR_CONFIG = 2,  /* bad configuration (unknown key, wrong type, ...) */
    NN_ERR_IO = 3,      /* open/read/write/rename failed                     */
    NN_ERR_FORMAT = 4,  /* corrupt, truncated or unsupported file contents   */
    NN_ERR_NOMEM = 5,   /* allocation failed                                  */
    NN_ERR_NUMERIC = 6, /* non-finite loss or values                          */
    NN_STOP = 7         /* not an error: a callback asks to stop early       */
} nn_status;

typedef struct {
    char msg[512];
} nn_error;

/* Formats a message into err (when err is non-NULL) and returns code, so a
 * failing path can read `return nn_errorf(err, NN_ERR_IO, "%s: ...", path);`. */
nn_status nn_errorf(nn_error *err, nn_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (adds context on the way up). */
void nn_error_prefix(nn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* CLI convention: 2 for usage/config errors, 1 for runtime errors, 0 for OK. */
int nn_status_exit_code(nn_status s);

const char *nn_status_name(nn_status s);

#endif
