/* test_distill.c - the distillation loss (libnn/nn_distill.h) on its own:
 * its gradient against finite differences of its value, its two limits
 * (weight 0 is cross-entropy bit for bit; a student that matches the
 * teacher pays nothing for the soft term) and its independence from a
 * constant shift of either side's logits. The whole training step with a
 * teacher is pinned against PyTorch in test_train_golden.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "libnn/nn_distill.h"
#include "libnn/nn_layers.h"
#include "libnn/nn_rng.h"

enum { N = 3, K = 5 };

static void random_logits(float *z, int n, uint64_t key, float spread)
{
    nn_rng r;
    nn_rng_seed_key(&r, 11, key, 0, 0);
    for (int i = 0; i < n; i++)
        z[i] = spread * (2.0f * nn_rng_uniform(&r) - 1.0f);
}

static const uint8_t LABELS[N] = {1, 4, 0};

Test(distill, gradient_matches_finite_differences)
{
    float z[N * K], t[N * K], dz[N * K];
    random_logits(z, N * K, 1, 3.0f);
    random_logits(t, N * K, 2, 4.0f);
    const nn_distill_config d = {2.5f, 0.7f};
    const float scale = 1.0f / N;
    nn_distill_xent(dz, z, t, LABELS, N, K, 0.1f, &d, scale, NULL);
    for (int e = 0; e < N * K; e++) {
        const float h = 1e-2f, z0 = z[e];
        z[e] = z0 + h;
        double up = nn_distill_xent(NULL, z, t, LABELS, N, K, 0.1f, &d, scale, NULL);
        z[e] = z0 - h;
        double down = nn_distill_xent(NULL, z, t, LABELS, N, K, 0.1f, &d, scale, NULL);
        z[e] = z0;
        double want = scale * (up - down) / (2.0 * h);
        cr_assert(fabs(dz[e] - want) <= 1e-4 + 1e-3 * fabs(want),
                  "dloss/dz[%d] = %.7g, finite differences %.7g", e, dz[e], want);
    }
}

Test(distill, weight_zero_is_cross_entropy_bit_for_bit)
{
    float z[N * K], t[N * K], dz[N * K], dref[N * K];
    random_logits(z, N * K, 3, 5.0f);
    random_logits(t, N * K, 4, 5.0f);
    const nn_distill_config d = {4.0f, 0.0f};
    int hits = 0, hits_ref = 0;
    double loss = nn_distill_xent(dz, z, t, LABELS, N, K, 0.2f, &d, 0.25f, &hits);
    double ref = nn_softmax_xent(dref, z, LABELS, N, K, 0.2f, 0.25f, &hits_ref);
    cr_assert_eq(loss, ref);
    cr_assert_arr_eq(dz, dref, sizeof dz);
    cr_assert_eq(hits, hits_ref);
}

/* Weight 1, teacher == student: the loss is the KL of a distribution with
 * itself (0) and so is its gradient; a shift of all of one image's
 * teacher logits changes nothing (softmax is shift-invariant). */
Test(distill, a_student_that_matches_its_teacher_pays_nothing)
{
    float z[N * K], t[N * K], dz[N * K];
    random_logits(z, N * K, 5, 6.0f);
    for (int i = 0; i < N * K; i++)
        t[i] = z[i] + (float)(i / K); /* row i shifted by i */
    const nn_distill_config d = {3.0f, 1.0f};
    double loss = nn_distill_xent(dz, z, t, LABELS, N, K, 0.0f, &d, 1.0f, NULL);
    cr_assert(fabs(loss) < 1e-6, "loss %g", loss);
    for (int i = 0; i < N * K; i++)
        cr_assert(fabs(dz[i]) < 1e-6f, "dz[%d] = %g", i, dz[i]);
}

/* A teacher that disagrees pulls the student towards its own class: with
 * weight 1 the gradient is T * (q(z) - q(t)), negative (the logit must
 * grow) exactly where the teacher puts more mass than the student. */
Test(distill, the_soft_term_pulls_towards_the_teacher)
{
    const float z[K] = {2, 0, 0, 0, 0}, t[K] = {0, 0, 0, 3, 0};
    float dz[K];
    const nn_distill_config d = {2.0f, 1.0f};
    double loss = nn_distill_xent(dz, z, t, LABELS, 1, K, 0.0f, &d, 1.0f, NULL);
    cr_assert_gt(loss, 0.1);
    cr_assert_lt(dz[3], -0.1f, "the teacher's class must be pushed up");
    cr_assert_gt(dz[0], 0.1f, "the student's own favourite must be pushed down");
    double sum = 0;
    for (int j = 0; j < K; j++)
        sum += dz[j];
    cr_assert(fabs(sum) < 1e-6, "the gradient of a softmax loss sums to 0, got %g", sum);
}
