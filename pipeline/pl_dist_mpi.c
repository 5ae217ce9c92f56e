/* pl_dist_mpi.c - pl_dist.h on MPI (`make MPI=1`).
 *
 * What a training step sends (docs/distributed.md): the batch-norm sums of
 * every worker, forward and backward (MPI_Allgather, 2 x channels doubles
 * per worker and layer), the logits of the batch (MPI_Allgatherv, batch x
 * classes floats), and the gradient sum: a chain in worker order, process
 * 0 -> 1 -> ... -> P-1 in chunks (each adds its workers' gradients to the
 * sum so far, as the threads of one process add theirs), then a broadcast
 * of the sum from the last process. A sum whose order depends on the
 * layout (MPI_Allreduce's) would give other bits with other P and T. */
#include "pl_dist.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libnn/nn_pool.h"

/* Floats per message of the gradient chain, at most: the next process adds
 * one chunk while this one sends the next. */
#define DIST_CHUNK (1 << 16)
#define DIST_CHUNK_MIN (1 << 12)
/* Chunks a process sends before it waits for the first of them to leave. */
#define DIST_SENDS 8
/* dist_wait: polls for 200 us, then sleeps 50 us between polls. */
#define DIST_POLL_NS 200000L
#define DIST_SLEEP_NS 50000L
#define DIST_TAG_GRADS 17

struct pl_dist {
    MPI_Comm comm;       /* a duplicate of MPI_COMM_WORLD: ours alone     */
    int rank, size, local_size;
    int threads;         /* per process, set by pl_dist_group             */
    int reports;         /* this process prints the run's failure         */
    int together;        /* the failure returned is every process's       */
    int *counts, *displs; /* (size) scratch for MPI_Allgatherv            */
    float *chunk;        /* (2, DIST_CHUNK) the gradient sum received: one
                            chunk added while the next one arrives         */
};

/* Waits for req without holding a core. MPI's own waits poll without a
 * pause: a waiting process keeps its core, which the process it waits for
 * may need on a machine shared with other work (or with more processes
 * than cores). So: poll for a while (a message in flight completes within
 * microseconds, and a large one progresses only while polled), then sleep
 * between polls, as nn_pool's threads do. */
static void dist_wait(MPI_Request *req)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int done = 0;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long waited_ns = (now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec);
        if (waited_ns > DIST_POLL_NS)
            nanosleep(&(struct timespec){0, DIST_SLEEP_NS}, NULL);
    }
}

/* FNV-1a, 64 bits: equal bytes give equal hashes on every process. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* This executable's bytes, hashed: processes must run the same build. */
static nn_status exe_hash(uint64_t *h, nn_error *err)
{
    FILE *f = fopen("/proc/self/exe", "rb");
    if (!f)
        return nn_errorf(err, NN_ERR_IO, "cannot read /proc/self/exe to compare the binaries");
    unsigned char buf[1 << 16];
    size_t n;
    *h = 0xcbf29ce484222325ULL;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        *h = hash_bytes(*h, buf, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? nn_errorf(err, NN_ERR_IO, "cannot read /proc/self/exe to compare the binaries")
               : NN_OK;
}

/* The first process whose 64-bit value differs from process 0's, or -1. */
static int first_differing(pl_dist *d, uint64_t v)
{
    uint64_t v0 = v;
    MPI_Bcast(&v0, 1, MPI_UINT64_T, 0, d->comm);
    int mine = v == v0 ? d->size : d->rank, first = d->size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->comm);
    return first == d->size ? -1 : first;
}

static int launched_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

nn_status pl_dist_open(pl_dist **out, nn_error *err)
{
    *out = NULL;
    if (!launched_by_mpirun())
        return NN_OK; /* one process alone: no MPI at all */
    int ok = 0;
    if (MPI_Initialized(&ok) != MPI_SUCCESS || (!ok && MPI_Init(NULL, NULL) != MPI_SUCCESS))
        return nn_errorf(err, NN_ERR_IO, "MPI did not start (MPI_Init failed)");
    pl_dist *d = calloc(1, sizeof *d);
    if (!d) {
        MPI_Finalize();
        return nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    MPI_Comm local;
    MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &d->local_size);
    MPI_Comm_free(&local);
    d->reports = d->rank == 0;
    d->counts = malloc((size_t)d->size * sizeof *d->counts);
    d->displs = malloc((size_t)d->size * sizeof *d->displs);
    d->chunk = malloc(2 * DIST_CHUNK * sizeof *d->chunk);
    nn_status st = d->counts && d->displs && d->chunk
                       ? NN_OK
                       : nn_errorf(err, NN_ERR_NOMEM, "out of memory");
    uint64_t h = 0;
    if (st == NN_OK)
        st = exe_hash(&h, err);
    if ((st = pl_dist_agree(d, st, err)) == NN_OK) {
        int at = first_differing(d, h);
        if (at >= 0)
            st = nn_errorf(err, NN_ERR_ARG,
                           "MPI process %d runs another iotcnn binary than process 0 (the "
                           "executables' hashes differ): run the same build everywhere",
                           at);
    }
    *out = d;
    d->together = st != NN_OK; /* agreed, or compared by every process */
    if (st != NN_OK && !d->reports)
        err->msg[0] = '\0';
    return st;
}

void pl_dist_close(pl_dist *d)
{
    if (!d)
        return;
    /* Together: a process that reports a failure has printed it before any
     * process exits (mpirun ends the others when the first one fails). */
    MPI_Barrier(d->comm);
    MPI_Comm_free(&d->comm);
    free(d->counts), free(d->displs), free(d->chunk);
    free(d);
    MPI_Finalize();
}

int pl_dist_rank(const pl_dist *d) { return d ? d->rank : 0; }
int pl_dist_size(const pl_dist *d) { return d ? d->size : 1; }
int pl_dist_local_size(const pl_dist *d) { return d ? d->local_size : 1; }

/* nn_exec_group.gather_sums: every process's `threads` rows of len. */
static void gather_sums(void *user, double *sums, size_t len)
{
    pl_dist *d = user;
    MPI_Request req;
    MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, sums, (int)(len * (size_t)d->threads),
                   MPI_DOUBLE, d->comm, &req);
    dist_wait(&req);
}

/* nn_exec_group.gather_rows: process r holds the rows of its workers'
 * slices of the batch, [slice(rT).begin, slice(rT + T - 1).end). */
static void gather_rows(void *user, float *rows, int n, size_t len)
{
    pl_dist *d = user;
    int T = d->threads, W = d->size * T;
    for (int r = 0; r < d->size; r++) {
        int b0, b1, e0, e1;
        nn_pool_slice(n, r * T, W, &b0, &e0);
        nn_pool_slice(n, r * T + T - 1, W, &e1, &b1);
        d->displs[r] = (int)((size_t)b0 * len);
        d->counts[r] = (int)((size_t)(b1 - b0) * len);
    }
    MPI_Request req;
    MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, rows, d->counts, d->displs, MPI_FLOAT,
                    d->comm, &req);
    dist_wait(&req);
}

/* nn_exec_group.sum_grads: the chain. Process 0's sum so far is its own
 * workers' (tgrads[0] + tgrads[1] + ...); each next process receives the
 * sum so far, adds its workers' in order and passes it on; the last one
 * holds the sum of all workers in worker order, and broadcasts it. */
static void sum_grads(void *user, float *grads, float *const *tgrads, int threads, size_t n)
{
    pl_dist *d = user;
    /* A chunk passes P - 1 links: with at least 8 P chunks the chain takes
     * about (1 + 1/8) times one message of all n floats. */
    size_t chunk = n / (8 * (size_t)d->size);
    chunk = chunk < DIST_CHUNK_MIN ? DIST_CHUNK_MIN : chunk > DIST_CHUNK ? DIST_CHUNK : chunk;
    int first = d->rank == 0, last = d->rank == d->size - 1;
    MPI_Request recv[2], send[DIST_SENDS];
    size_t k = 0; /* chunk number */
    if (!first) /* chunk 0 on its way while the loop waits for it */
        MPI_Irecv(d->chunk, (int)(n < chunk ? n : chunk), MPI_FLOAT, d->rank - 1,
                  DIST_TAG_GRADS, d->comm, &recv[0]);
    for (size_t c0 = 0; c0 < n; c0 += chunk, k++) {
        size_t len = n - c0 < chunk ? n - c0 : chunk, next = c0 + chunk;
        float *acc = grads + c0; /* tgrads[0] == grads */
        int from = 1;
        if (!first) { /* post the next chunk's receive, then take this one */
            if (next < n)
                MPI_Irecv(d->chunk + ((k + 1) % 2) * DIST_CHUNK,
                          (int)(n - next < chunk ? n - next : chunk), MPI_FLOAT, d->rank - 1,
                          DIST_TAG_GRADS, d->comm, &recv[(k + 1) % 2]);
            dist_wait(&recv[k % 2]);
            acc = d->chunk + (k % 2) * DIST_CHUNK;
            from = 0;
        }
        for (int t = from; t < threads; t++)
            for (size_t i = 0; i < len; i++)
                acc[i] += tgrads[t][c0 + i];
        if (acc != grads + c0)
            memcpy(grads + c0, acc, len * sizeof *acc);
        if (!last) { /* at most DIST_SENDS chunks in flight */
            if (k >= DIST_SENDS)
                dist_wait(&send[k % DIST_SENDS]);
            MPI_Isend(grads + c0, (int)len, MPI_FLOAT, d->rank + 1, DIST_TAG_GRADS, d->comm,
                      &send[k % DIST_SENDS]);
        }
    }
    for (size_t j = k > DIST_SENDS ? k - DIST_SENDS : 0; !last && j < k; j++)
        dist_wait(&send[j % DIST_SENDS]);
    MPI_Request req;
    MPI_Ibcast(grads, (int)n, MPI_FLOAT, d->size - 1, d->comm, &req);
    dist_wait(&req);
}

nn_exec_group pl_dist_group(pl_dist *d, int threads)
{
    if (!d)
        return (nn_exec_group){0, threads, NULL, NULL, NULL, NULL};
    d->threads = threads;
    return (nn_exec_group){d->rank * threads, d->size * threads, gather_sums, gather_rows,
                           sum_grads, d};
}

nn_status pl_dist_same(pl_dist *d, const void *data, size_t len, const char *what,
                       nn_error *err)
{
    if (!d)
        return NN_OK;
    int at = first_differing(d, hash_bytes(0xcbf29ce484222325ULL, data, len));
    if (at < 0)
        return NN_OK;
    d->reports = d->rank == 0;
    d->together = 1;
    return nn_errorf(err, NN_ERR_ARG,
                     "MPI process %d has another %s than process 0: every process must run the "
                     "same command on the same files",
                     at, what);
}

unsigned long long pl_dist_max_u64(pl_dist *d, unsigned long long v)
{
    unsigned long long max = v;
    if (d)
        MPI_Allreduce(&v, &max, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, d->comm);
    return max;
}

nn_status pl_dist_agree(pl_dist *d, nn_status st, nn_error *err)
{
    if (!d)
        return st;
    /* The lowest failing process, then its status from it. */
    int mine = st == NN_OK ? d->size : d->rank, first = d->size, code = (int)st;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->comm);
    if (first == d->size)
        return NN_OK;
    MPI_Bcast(&code, 1, MPI_INT, first, d->comm);
    d->reports = first == d->rank;
    d->together = 1;
    if (d->reports)
        return st;
    return nn_errorf(err, (nn_status)code, "MPI process %d failed", first);
}

void pl_dist_failed_together(pl_dist *d)
{
    if (d)
        d->together = 1;
}

int pl_dist_failed_alone(const pl_dist *d, nn_status st)
{
    return d && st != NN_OK && !d->together;
}

void pl_dist_abort(pl_dist *d, int code)
{
    if (!d)
        return;
    fflush(stdout);
    fflush(stderr);
    /* Open MPI's mpirun ends every process of the job, and exits with code. */
    MPI_Abort(d->comm, code);
}

int pl_dist_reports(const pl_dist *d) { return d ? d->reports : 1; }

void pl_dist_describe(char *out, size_t size)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS)
        snprintf(lib, sizeof lib, "unknown version");
    lib[strcspn(lib, ",\n")] = '\0';
    snprintf(out, size, "MPI: %s", lib);
}
