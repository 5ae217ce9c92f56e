/* nn_rng.h - the one random number generator of iotcnn (xoshiro256**).
 *
 * Everything random (init, shuffling, dropout, augmentation) draws from an
 * nn_rng derived from the run's seed. Streams that must not depend on thread
 * count or batch order are derived from a key, e.g. (seed, epoch, image):
 *     nn_rng r; nn_rng_seed_key(&r, seed, NN_STREAM_DROPOUT, step, image);
 * so image i in step s always sees the same draws. The state is plain data
 * and can be stored in a checkpoint as four little-endian u64 words. */
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t s[4];
} nn_rng;

/* Stream identifiers for nn_rng_seed_key: fixed values, never reorder. */
enum {
    NN_STREAM_INIT = 1,
    NN_STREAM_SHUFFLE = 2,
    NN_STREAM_DROPOUT = 3,
    NN_STREAM_AUGMENT = 4,
    NN_STREAM_SPLIT = 5
};

void nn_rng_seed(nn_rng *r, uint64_t seed);
/* Independent stream for the key (seed, stream, a, b). */
void nn_rng_seed_key(nn_rng *r, uint64_t seed, uint64_t stream, uint64_t a, uint64_t b);

uint64_t nn_rng_u64(nn_rng *r);
#include <stddef.h> /* size_t, for nn_rng_bytes */
/* Fills b[0..n) with uniform bytes: nn_rng_below(r, 256) each, in order. */
void nn_rng_bytes(nn_rng *r, uint8_t *b, size_t n);
uint32_t nn_rng_u32(nn_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float nn_rng_uniform(nn_rng *r);
/* Standard normal (Box-Muller; deterministic for a given libm). */
float nn_rng_normal(nn_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint32_t nn_rng_below(nn_rng *r, uint32_t n);
/* Fisher-Yates shuffle of a[0..n). */
void nn_rng_shuffle_u32(nn_rng *r, uint32_t *a, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif
