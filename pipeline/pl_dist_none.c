/* pl_dist_none.c - pl_dist.h without MPI (the default build): one process
 * alone. Started by mpirun as one of several processes it refuses to run,
 * rather than train P independent copies into the same files. */
#include "pl_dist.h"

#include <stdio.h>

nn_status pl_dist_open(pl_dist **out, nn_error *err)
{
    *out = NULL;
    int size = pl_dist_launched_size();
    if (size > 1 && pl_dist_launched_rank() != 0) {
        err->msg[0] = '\0'; /* process 0 says why */
        return NN_ERR_ARG;
    }
    if (size > 1)
        return nn_errorf(err, NN_ERR_ARG,
                         "started as one of %d MPI processes, but this iotcnn was built without "
                         "MPI: build it with `make MPI=1` (scripts/deps.sh mpi installs Open MPI)",
                         size);
    return NN_OK;
}

void pl_dist_close(pl_dist *d) { (void)d; }
int pl_dist_rank(const pl_dist *d) { return (void)d, 0; }
int pl_dist_size(const pl_dist *d) { return (void)d, 1; }
int pl_dist_local_size(const pl_dist *d) { return (void)d, 1; }

nn_exec_group pl_dist_group(pl_dist *d, int threads)
{
    (void)d;
    return (nn_exec_group){0, threads, NULL, NULL, NULL, NULL, NULL};
}

nn_status pl_dist_same(pl_dist *d, const void *data, size_t len, const char *what,
                       nn_error *err)
{
    (void)d, (void)data, (void)len, (void)what, (void)err;
    return NN_OK;
}

unsigned long long pl_dist_max_u64(pl_dist *d, unsigned long long v) { return (void)d, v; }

nn_status pl_dist_agree(pl_dist *d, nn_status st, nn_error *err)
{
    (void)d, (void)err;
    return st;
}

void pl_dist_failed_together(pl_dist *d) { (void)d; }
int pl_dist_failed_alone(const pl_dist *d, nn_status st) { return (void)d, (void)st, 0; }
void pl_dist_abort(pl_dist *d, int code) { (void)d, (void)code; }

int pl_dist_reports(const pl_dist *d) { return (void)d, 1; }

void pl_dist_describe(char *out, size_t size)
{
    snprintf(out, size, "MPI: not built in (make MPI=1)");
}
