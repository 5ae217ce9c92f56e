/* nn_error.h - status codes and error messages for every iotcnn library.
 *
 * Library functions never print and never exit. They return an nn_status and,
 * on failure, leave a one-line human-readable message in an nn_error that
 * names the file, JSON key or byte offset involved. Only cmd/ prints it and
 * chooses the exit code (see nn_status_exit_code). */
#ifndef NN_ERROR_H
#define NN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Which status a failure gets decides the exit status (nn_status_exit_code):
 * a problem of the data (a file, a model, the numbers in them) is never
 * NN_ERR_ARG or NN_ERR_CONFIG, which mean the caller or the user asked for
 * something wrong. */
typedef enum {
    NN_OK = 0,
    NN_ERR_ARG = 1,     /* invalid argument or shape: a caller/config bug,
                           or data that does not fit what the user chose   */
    NN_ERR_CONFIG = 2,  /* bad configuration (unknown key, wrong type, ...) */
    NN_ERR_IO = 3,      /* open/read/write/rename failed                     */
    NN_ERR_FORMAT = 4,  /* corrupt, truncated or unsupported file contents,
                           or a model the operation cannot express         */
    NN_ERR_NOMEM = 5,   /* allocation failed                                  */
    NN_ERR_NUMERIC = 6, /* non-finite values (loss, parameters, activations)
                           or values beyond what a computation represents  */
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

/* The CLI's exit status: 0 for OK (and NN_STOP), 2 for usage and config
 * errors (NN_ERR_ARG, NN_ERR_CONFIG), 1 for bad data or I/O (every other
 * status: I/O, format, numeric, out of memory). */
int nn_status_exit_code(nn_status s);

const char *nn_status_name(nn_status s);

#ifdef __cplusplus
}
#endif

#endif
