/* pl_dist.h - training over several processes: `mpirun -np P iotcnn train`
 * (docs/distributed.md).
 *
 * Each of the P processes runs T threads; the P x T workers split every
 * batch as the T threads of one process split it, and sum batch-norm
 * statistics and gradients in worker order (nn_exec_group, nn_exec.h). So
 * a run depends only on P x T: `mpirun -np 2 ... --threads 1` writes the
 * same bytes as one process with --threads 2.
 *
 * Two builds, one interface: with `make MPI=1` pl_dist_mpi.c implements it
 * on MPI; the default build's pl_dist_none.c is one process alone (and
 * refuses to run as one of several mpirun processes). A NULL pl_dist is one
 * process alone: every call below accepts it.
 *
 * Every process must make the same calls in the same order (they are
 * collective): a failure on one process is shared with pl_dist_agree at
 * fixed points, never by returning early past one. */
#ifndef PL_DIST_H
#define PL_DIST_H

#include <stddef.h>

#include "libnn/nn_error.h"
#include "libnn/nn_exec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_dist pl_dist;

/* Joins the processes mpirun started: *out is NULL when this process runs
 * alone (not started by mpirun). Processes running different binaries are
 * refused (a hash of the executable). Errors: NN_ERR_ARG for a build
 * without MPI started as one of several processes, or for different
 * binaries; NN_ERR_IO when MPI fails to start. Then one process (process 0,
 * or the one that failed first) has the message, the others' err->msg is
 * empty; *out may be set even so: report, then pl_dist_close. */
nn_status pl_dist_open(pl_dist **out, nn_error *err);
/* Leaves MPI (every process, after its last collective call). */
void pl_dist_close(pl_dist *d);

int pl_dist_rank(const pl_dist *d);       /* this process: 0 .. size - 1     */
int pl_dist_size(const pl_dist *d);       /* processes                        */
int pl_dist_local_size(const pl_dist *d); /* processes on this machine        */

/* The executor group of this process's `threads` threads: workers
 * [rank * threads, (rank + 1) * threads) of size * threads. Every process
 * must run the same number of threads (pl_dist_same checks it). The group
 * points into d: valid while d is. */
nn_exec_group pl_dist_group(pl_dist *d, int threads);

/* NN_OK when every process holds the same len bytes at data; otherwise
 * NN_ERR_ARG on every process, naming `what` and the first process whose
 * bytes differ from process 0's (compared by a 64-bit hash). */
nn_status pl_dist_same(pl_dist *d, const void *data, size_t len, const char *what,
                       nn_error *err);

/* The largest of every process's v (v itself for a NULL d): how many
 * images the busiest process read (pl_train_result.images_read_max). */
unsigned long long pl_dist_max_u64(pl_dist *d, unsigned long long v);

/* Every process's st at one point of the run: returns on every process the
 * status of the lowest-numbered process that failed (NN_OK if none). That
 * process keeps its message and reports it (pl_dist_reports); the others
 * get "process R failed" and stay silent. */
nn_status pl_dist_agree(pl_dist *d, nn_status st, nn_error *err);

/* Marks the failure every process returned at the same point without
 * pl_dist_agree: one decided from numbers every process holds alike (the
 * parameters, the gathered logits: divergence, NN_ERR_NUMERIC), so no
 * process is left waiting for another. */
void pl_dist_failed_together(pl_dist *d);

/* Whether st is a failure this process may have seen alone: not NN_OK,
 * and not one every process returned together (from pl_dist_open,
 * pl_dist_same, pl_dist_agree or marked by pl_dist_failed_together). A
 * data error, no memory or a test's fault inside an epoch is one: the
 * other processes are in, or on their way to, the step's exchanges and
 * cannot be told. The caller prints its message, then pl_dist_abort. 0
 * for a NULL d (one process alone). */
int pl_dist_failed_alone(const pl_dist *d, nn_status st);

/* Ends every process of the job at once (MPI_Abort, exit status code),
 * after a failure pl_dist_failed_alone. Returns only for a NULL d, or in
 * the build without MPI. */
void pl_dist_abort(pl_dist *d, int code);

/* Whether this process prints the run's failure: the one whose error
 * pl_dist_agree kept, process 0 for a failure every process saw, and the
 * one process of a run alone. */
int pl_dist_reports(const pl_dist *d);

/* What mpirun told this process (the environment: Open MPI's
 * OMPI_COMM_WORLD_*, MPICH's and Slurm's PMI_*), in either build and
 * without starting MPI: the job's process count (1 when not started by
 * mpirun) and this process's place in it (0 alone). Only `train` runs over
 * several processes; the other commands refuse to run as one of several. */
int pl_dist_launched_size(void);
int pl_dist_launched_rank(void);

/* Writes "MPI: Open MPI v4.1.4" (the library's version string up to its
 * first comma), or "MPI: not built in (make MPI=1)". */
void pl_dist_describe(char *out, size_t size);

#ifdef __cplusplus
}
#endif

#endif
