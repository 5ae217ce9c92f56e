/* pl_dist_mpi.c - pl_dist.h on MPI (`make MPI=1`).
 *
 * What a training step sends (docs/distributed.md): the batch-norm sums of
 * every worker, forward and backward (MPI_Allgather, 2 x channels doubles
 * per worker and layer), the logits of the batch (MPI_Allgatherv, batch x
 * classes floats), and the gradient sum: a chain in worker order, process
 * 0 -> 1 -> ... -> P-1 in pieces (each adds its workers' gradients to the
 * sum so far, as the threads of one process add theirs), then a broadcast
 * of the sum from the last process. A layer's pieces start along the chain
 * as soon as the backward pass has finished that layer, so the exchange
 * overlaps the backward pass of the layers before it. A sum whose order
 * depends on the layout (MPI_Allreduce's) would give other bits with other
 * P and T. */
#include "pl_dist.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libnn/nn_pool.h"

/* Floats per message of the gradient chain, at most: the next process adds
 * one piece while this one sends the next. */
#define DIST_CHUNK (1 << 16)
/* dist_wait: polls for 200 us, then sleeps 50 us between polls. */
#define DIST_POLL_NS 200000L
#define DIST_SLEEP_NS 50000L
#define DIST_TAG_GRADS 17

typedef struct {
    size_t off, len; /* floats of the parameters' gradients */
} dist_piece;

struct pl_dist {
    MPI_Comm comm;       /* a duplicate of MPI_COMM_WORLD: ours alone     */
    int rank, size, local_size;
    int threads;         /* per process, set by pl_dist_group             */
    int reports;         /* this process prints the run's failure         */
    int together;        /* the failure returned is every process's       */
    int *counts, *displs; /* (size) scratch for MPI_Allgatherv            */
    MPI_Comm gcomm;      /* another duplicate: the gradients' broadcasts  */
    dist_piece *piece;   /* the gradient pieces of this step, in order    */
    MPI_Request *req;    /* (3, cap_pieces): receive, send, broadcast     */
    int n_pieces, cap_pieces;
    int next;            /* the first piece not yet summed and passed on  */
    float *sum;          /* (sum_n) the sums received and broadcast       */
    size_t sum_n;
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
    MPI_Comm_dup(d->comm, &d->gcomm);
    nn_status st = d->counts && d->displs
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
    MPI_Comm_free(&d->gcomm);
    MPI_Comm_free(&d->comm);
    free(d->counts), free(d->displs);
    free(d->piece), free(d->req), free(d->sum);
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

/* The gradient sum: a chain in worker order, piece by piece. Process 0's
 * sum of a piece is its own workers' (tgrads[0] + tgrads[1] + ...); each
 * next process receives the sum so far, adds its workers' in order and
 * passes it on; the last one holds the sum of all workers in worker order
 * and broadcasts it (on gcomm, where only these broadcasts run, in piece
 * order on every process). A piece is posted as soon as the backward pass
 * has finished its layer (nn_exec_group.grads_ready): process 0 sends it
 * at once, the others post its receive, and every later layer boundary
 * moves the chain on (dist_progress) while the earlier layers compute.
 * Each float is still summed in worker order, whatever the pieces: the
 * bits are those of one process. */
static nn_status dist_pieces(pl_dist *d, size_t n)
{
    if (d->n_pieces == d->cap_pieces) {
        int cap = d->cap_pieces ? 2 * d->cap_pieces : 64;
        dist_piece *p = realloc(d->piece, (size_t)cap * sizeof *p);
        if (p)
            d->piece = p;
        MPI_Request *r = p ? realloc(d->req, 3 * (size_t)cap * sizeof *r) : NULL;
        if (!r)
            return NN_ERR_NOMEM;
        d->req = r;
        d->cap_pieces = cap;
    }
    if (d->n_pieces == 0 && d->sum_n < n) { /* nothing in flight between steps */
        float *s = realloc(d->sum, n * sizeof *s);
        if (!s)
            return NN_ERR_NOMEM;
        d->sum = s, d->sum_n = n;
    }
    return NN_OK;
}

/* The requests of piece k: the chain's receive, its send, the broadcast. */
#define RECV_REQ(d, k) (&(d)->req[3 * (size_t)(k)])
#define SEND_REQ(d, k) (&(d)->req[3 * (size_t)(k) + 1])
#define BCAST_REQ(d, k) (&(d)->req[3 * (size_t)(k) + 2])

/* The piece's sum so far (in acc) plus this process's workers', in order,
 * into grads; then on along the chain, and the broadcast posted. */
static void dist_pass_on(pl_dist *d, int k, float *const *tgrads, int threads, int from,
                         const float *acc)
{
    const dist_piece *pc = &d->piece[k];
    float *g = tgrads[0] + pc->off;
    for (int t = from; t < threads; t++) {
        const float *src = tgrads[t] + pc->off;
        float *dst = from ? g : (float *)acc;
        for (size_t i = 0; i < pc->len; i++)
            dst[i] += src[i];
    }
    if (!from)
        memcpy(g, acc, pc->len * sizeof *g);
    int last = d->rank == d->size - 1;
    *SEND_REQ(d, k) = MPI_REQUEST_NULL;
    if (!last)
        MPI_Isend(g, (int)pc->len, MPI_FLOAT, d->rank + 1, DIST_TAG_GRADS, d->comm, SEND_REQ(d, k));
    MPI_Ibcast(last ? g : d->sum + pc->off, (int)pc->len, MPI_FLOAT, d->size - 1, d->gcomm,
               BCAST_REQ(d, k));
    d->next = k + 1;
}

/* Moves the chain on: every piece received so far, in order (all of them
 * with wait). */
static void dist_progress(pl_dist *d, float *const *tgrads, int threads, int wait)
{
    while (d->next < d->n_pieces) {
        int k = d->next, done = 1;
        if (wait)
            dist_wait(RECV_REQ(d, k));
        else
            MPI_Test(RECV_REQ(d, k), &done, MPI_STATUS_IGNORE);
        if (!done)
            return;
        dist_pass_on(d, k, tgrads, threads, 0, d->sum + d->piece[k].off);
    }
}

static void grads_ready(void *user, float *const *tgrads, int threads, size_t off, size_t len,
                        size_t n)
{
    pl_dist *d = user;
    for (size_t c0 = 0; c0 < len; c0 += DIST_CHUNK) {
        if (dist_pieces(d, n) != NN_OK) { /* no memory mid-step: nothing to recover */
            fprintf(stderr, "iotcnn train: MPI process %d of %d: out of memory for the gradient "
                            "exchange\n", d->rank, d->size);
            MPI_Abort(d->comm, 1);
        }
        int k = d->n_pieces++;
        d->piece[k] = (dist_piece){off + c0, len - c0 < DIST_CHUNK ? len - c0 : DIST_CHUNK};
        *RECV_REQ(d, k) = MPI_REQUEST_NULL;
        if (d->rank == 0 && d->next == k) /* the chain starts here */
            dist_pass_on(d, k, tgrads, threads, 1, NULL);
        else if (d->rank > 0)
            MPI_Irecv(d->sum + d->piece[k].off, (int)d->piece[k].len, MPI_FLOAT, d->rank - 1,
                      DIST_TAG_GRADS, d->comm, RECV_REQ(d, k));
    }
    dist_progress(d, tgrads, threads, 0);
}

/* nn_exec_group.sum_grads: the pieces not posted yet (all of them when
 * grads_ready was not called), the chain to its end, the broadcasts. */
static void sum_grads(void *user, float *grads, float *const *tgrads, int threads, size_t n)
{
    pl_dist *d = user;
    if (d->n_pieces == 0)
        grads_ready(d, tgrads, threads, 0, n, n);
    dist_progress(d, tgrads, threads, 1);
    for (int k = 0; k < d->n_pieces; k++) {
        dist_wait(SEND_REQ(d, k));
        dist_wait(BCAST_REQ(d, k));
    }
    for (int k = 0; k < d->n_pieces && d->rank != d->size - 1; k++)
        memcpy(grads + d->piece[k].off, d->sum + d->piece[k].off, d->piece[k].len * sizeof *grads);
    d->n_pieces = d->next = 0;
}

nn_exec_group pl_dist_group(pl_dist *d, int threads)
{
    if (!d)
        return (nn_exec_group){0, threads, NULL, NULL, NULL, NULL, NULL};
    d->threads = threads;
    return (nn_exec_group){d->rank * threads, d->size * threads, gather_sums, gather_rows,
                           sum_grads, d, grads_ready};
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
