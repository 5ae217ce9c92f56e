/* nn_diverge.h - telling that training has gone wrong: the loss rule and
 * the scan for non-finite parameters.
 *
 * The loss rule. The reference is the larger of
 *   - ln(k) for k classes: the loss of a model that predicts the uniform
 *     distribution, i.e. chance level (with or without label smoothing:
 *     the cross-entropy of the uniform prediction is ln k for any target);
 *   - the first batch's loss, computed before any update, so no learning
 *     rate, warm-up or schedule has touched it yet (a badly scaled
 *     initialization can start above chance).
 * The watched value is an exponential moving average of the batch losses,
 *     smoothed += (loss - smoothed) / 8,   starting at the first loss,
 * so one unlucky batch cannot stop a run but an explosion (losses 10^3 and
 * up) trips it on the step it happens. Training has diverged when a batch
 * loss is not finite, or when smoothed > factor * reference.
 *
 * Why chance level: a run resumed from a good checkpoint, or the
 * fine-tuning of `prune`, starts at a low loss (0.05) that then rises for
 * good reasons (pruning, a warm-up); measured against chance level such a
 * rise is no alarm, while a model whose loss is far above chance is worse
 * than useless whatever its start. */
#ifndef NN_DIVERGE_H
#define NN_DIVERGE_H

#include <stddef.h>
#include <stdint.h>

#include "nn_error.h"
#include "nn_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default factor of the config key train.divergence_factor. */
#define NN_DIVERGE_DEFAULT_FACTOR 10.0

typedef struct {
    double factor;    /* > 1; 0: the loss rule is off (non-finite still stops) */
    double chance;    /* ln(k)                                                 */
    double reference; /* max(ln k, first loss); 0 before the first loss        */
    double smoothed;  /* moving average of the batch losses                    */
    double max_ratio; /* largest smoothed / reference since the last reset     */
    uint64_t seen;    /* losses fed                                            */
} nn_diverge;

void nn_diverge_init(nn_diverge *d, double factor, int num_classes);

/* Feeds one batch's mean loss. Returns 0 while healthy, 1 when training
 * has diverged (loss not finite, or smoothed > factor * reference). */
int nn_diverge_update(nn_diverge *d, double loss);

/* Index of the first value of p[0..n) that is NaN or infinite, or n when
 * all are finite. One vectorized pass; reads every value. */
size_t nn_first_nonfinite(const float *p, size_t n);

/* Where a non-finite value is: layer, which of its values (e.g. "weights",
 * "running variance", "optimizer state of the bias"), the index within
 * them, and the value. */
typedef struct {
    int layer;
    const char *what;
    size_t index;
    float value;
} nn_nonfinite;

/* Scans every parameter and running statistic of m, and, when opt_m /
 * opt_v are non-NULL, every optimizer state value (n_params each), layer
 * by layer. Returns 1 and fills *at for the first NaN or infinity; 0 when
 * all are finite. */
int nn_find_nonfinite(const nn_model *m, const float *opt_m, const float *opt_v,
                      nn_nonfinite *at);

#ifdef __cplusplus
}
#endif

#endif
