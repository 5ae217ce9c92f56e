/* nn_exec.h - runs a model on batches: forward, backward, gradients.
 *
 * An executor is planned once for a model, a maximum batch size and a thread
 * count (all buffers are allocated by nn_exec_create; nothing is allocated
 * per batch). Each layer is computed by all threads at once, each on a
 * contiguous slice of the batch; batch-norm statistics and parameter
 * gradients are reduced in thread order, so results are bitwise identical
 * run after run for the same thread count.
 *
 * A ReLU or ReLU6 that is the only reader of a conv, depthwise conv, dense,
 * batch-norm or add layer runs in place inside that layer's pass (per image,
 * while it is in cache).
 *
 * A model with activation grids (nn_model.act_grid, nn_act_grid.h) has the
 * output of each such node rounded to its grid, after any fused
 * activation, in every forward pass; backward passes the gradient through
 * where the grid's clamp did not cut (the straight-through estimator).
 * With nn_model.input_values, loading maps raw pixels through that table. 
 *
 * The executor's arithmetic is libnn's own (no BLAS): the convolution
 * kernels and the fixed-order product (nn_gemm.h) give the same bits on
 * every CPU, and the executor's threads are the only thread pool. */
#ifndef NN_EXEC_H
#define NN_EXEC_H

#include <stdint.h>

#include "nn_error.h"
#include "nn_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_exec nn_exec;

/* Workers beyond this process (data-parallel training over MPI ranks,
 * pipeline/pl_dist.h). Every batch is split over all `workers` workers
 * with nn_pool_slice, worker by worker; this executor's threads are
 * workers [first, first + threads), and it computes only their slices (its
 * buffers keep the whole batch's layout). Batch-norm sums and parameter
 * gradients are summed over all workers in worker order, as the threads of
 * one executor sum them, so the result depends only on the number of
 * workers, never on how they are split into processes and threads. The
 * callbacks move the data; they are called by every process at the same
 * points, in the same order. */
typedef struct {
    int first;   /* this executor's first worker                          */
    int workers; /* all workers                                           */
    /* sums holds (workers, len) doubles; this executor's workers' rows are
     * filled: fill the others'. */
    void (*gather_sums)(void *user, double *sums, size_t len);
    /* rows holds (n, len) floats of a batch of n; this executor's workers'
     * rows are filled: fill the others'. */
    void (*gather_rows)(void *user, float *rows, int n, size_t len);
    /* grads = the (n) parameter gradients of every worker, summed in worker
     * order: acc = worker 0's, then acc += worker 1's, ... tgrads holds this
     * executor's workers' `threads` partial gradients (tgrads[0] is grads). */
    void (*sum_grads)(void *user, float *grads, float *const *tgrads, int threads, size_t n);
    void *user;
    /* NULL, or called during the backward pass for every span [off, off +
     * len) of parameters as soon as its gradients are final in this
     * executor's tgrads (after the span's layer, in the order the backward
     * pass reaches them: the last layer's first), so the sum of a span can
     * start while earlier layers still compute; sum_grads follows at the
     * end, once, and must leave in grads the same sums in worker order. */
    void (*grads_ready)(void *user, float *const *tgrads, int threads, size_t off, size_t len,
                        size_t n);
} nn_exec_group;

/* training = 1 also allocates gradient buffers and caches for backward. */
nn_status nn_exec_create(nn_exec **out, nn_model *m, int max_batch, int threads, int training,
                         nn_error *err);
void nn_exec_free(nn_exec *ex);

/* Makes ex one part of a group of workers (NULL: back to the executor's
 * own threads alone). With a group, load_images, forward and backward take
 * the whole batch's n and compute this executor's slices of it;
 * nn_exec_forward returns the logits of the whole batch (gathered). */
nn_status nn_exec_set_group(nn_exec *ex, const nn_exec_group *g, nn_error *err);

/* A per-image transform of raw pixels (augmentation): writes the image
 * `index` of epoch `epoch` into dst (same shape as src). It runs on worker
 * `worker` of the executor's threads, in parallel with other images, and
 * must depend only on (user's fixed state, epoch, index), never on which
 * worker or batch it runs in. */
typedef void (*nn_image_fn)(void *user, uint8_t *dst, const uint8_t *src, uint64_t epoch,
                            uint64_t index, int worker);

/* Gathers images[index[i]] (raw pixels, the model's input shape) for i in
 * [0, n) into the input buffer, normalized with the model's mean/std. A NULL
 * index means images 0..n-1 in order. When fn is non-NULL each image first
 * goes through fn(user, ..., epoch, index[i], worker). */
void nn_exec_load_images(nn_exec *ex, const uint8_t *images, const uint32_t *index, int n,
                         nn_image_fn fn, void *user, uint64_t epoch);

/* nn_exec_load_images for a batch whose pixels are already in batch order:
 * image b is read from batch + b * (c * h * w), and fn (may be NULL) gets
 * key[b] as the image's index (the number of the image in its set, which
 * seeds its augmentation). Only this executor's slices (nn_exec_own_range)
 * of batch are read: a process of a group fills only those. */
void nn_exec_load_batch(nn_exec *ex, const uint8_t *batch, const uint32_t *key, int n,
                        nn_image_fn fn, void *user, uint64_t epoch);

/* The images [*b0, *b1) of a batch of n that this executor computes: all
 * of them alone, its workers' slices (contiguous) in a group. */
void nn_exec_own_range(const nn_exec *ex, int n, int *b0, int *b1);

/* The input buffer (max_batch, c, h, w): callers may fill it themselves. */
float *nn_exec_input(nn_exec *ex);

/* dst's input = the first n images of src's input (n <= both max_batch),
 * normalized as dst's model normalizes pixels instead of as src's: per
 * channel x * std_src / std_dst + (mean_src - mean_dst) / std_dst, an exact
 * copy when the two normalizations are the same. For a teacher that sees
 * the student's (augmented) batch. The two models take the same input
 * shape. */
void nn_exec_input_from(nn_exec *dst, const nn_exec *src, int n);

/* Forward pass over n <= max_batch images of the input buffer. training = 1:
 * batch-norm uses (and updates the running values of) batch statistics and
 * dropout draws masks keyed by (seed, step, layer, image). Returns the
 * logits (n, num_classes), valid until the next call. */
const float *nn_exec_forward(nn_exec *ex, int n, int training, uint64_t seed, uint64_t step);

/* Backward pass after a training forward of the same n images: given
 * dlogits (n, num_classes), computes the parameter gradients (overwritten,
 * not accumulated across calls) in nn_exec_grads. */
void nn_exec_backward(nn_exec *ex, const float *dlogits, int n);

/* (n_params) gradients in the model's parameter layout. */
float *nn_exec_grads(nn_exec *ex);

/* The activations (max_batch, out_size) of layer `node` after the last
 * forward pass. A ReLU or ReLU6 fused into its producer shares the
 * producer's buffer, so both return the values after the activation. */
const float *nn_exec_output(const nn_exec *ex, int node);

#ifdef __cplusplus
}
#endif

#endif
