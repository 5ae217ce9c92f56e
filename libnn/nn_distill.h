/* nn_distill.h - knowledge distillation: the loss of a student trained to
 * match a teacher's softened outputs as well as the labels (Hinton et al.,
 * "Distilling the Knowledge in a Neural Network", 2015).
 *
 * Per image, with q(z) = softmax(z / T):
 *   loss = (1 - w) * CE(z, label; smoothing) + w * T^2 * KL(q(t) || q(z))
 *   dloss/dz_j = (1 - w) * (p_j - target_j) + w * T * (q(z)_j - q(t)_j)
 * where z are the student's logits, t the teacher's, CE is
 * nn_softmax_xent's smoothed cross-entropy and KL the Kullback-Leibler
 * divergence (0 when the student matches the teacher). The T^2 factor keeps
 * the soft term's gradient on the scale of the hard one's as T grows; w = 0
 * is plain cross-entropy, exactly. */
#ifndef NN_DISTILL_H
#define NN_DISTILL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float temperature; /* T > 0; softens both distributions (typically 2-8) */
    float weight;      /* w in [0, 1]: the soft term's share of the loss    */
} nn_distill_config;

/* Writes dlogits = scale * dloss/dz (may be NULL) and returns the SUM of
 * the n per-image losses; *correct (may be NULL) += images whose student
 * arg-max equals the label. As nn_softmax_xent otherwise. */
double nn_distill_xent(float *dlogits,         /* (n, k) written, or NULL */
                       const float *logits,    /* (n, k) the student's    */
                       const float *teacher,   /* (n, k) the teacher's    */
                       const uint8_t *labels,  /* (n)                     */
                       int n, int k, float smoothing, const nn_distill_config *d, float scale,
                       int *correct);

#ifdef __cplusplus
}
#endif

#endif
