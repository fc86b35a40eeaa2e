/* Seeded random numbers with explicit state (xoshiro256**), never rand().
 *
 * Every random stream in yoloc is a state seeded from a tuple of keys such as
 * (seed, rank, epoch, image index), so a run is a pure function of its
 * configuration and an augmentation does not depend on which thread ran it. */
#ifndef YOLOC_CORE_RNG_H
#define YOLOC_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng;

/* Seeds from one value. */
void rng_seed(rng *r, uint64_t seed);
/* Seeds from a tuple of keys (order matters). */
void rng_seed_keys(rng *r, uint64_t seed, uint64_t k1, uint64_t k2, uint64_t k3);
uint64_t rng_u64(rng *r);
uint32_t rng_u32(rng *r);
/* Uniform integer in [0, n); n > 0. Unbiased. */
uint32_t rng_below(rng *r, uint32_t n);
/* Uniform double in [0, 1). */
double rng_uniform(rng *r);
/* Uniform double in [a, b). */
double rng_range(rng *r, double a, double b);
/* Standard normal (Box-Muller, one value per call). */
double rng_normal(rng *r);
/* Beta(a, b) for a, b >= 1 via two gamma draws (Marsaglia-Tsang). */
double rng_beta(rng *r, double a, double b);
/* Fills out[0..n) with a random permutation of 0..n-1 (Fisher-Yates). */
void rng_permutation(rng *r, uint32_t *out, size_t n);
/* splitmix64 step: a good 64-bit mixer, also used to hash keys. */
uint64_t rng_mix64(uint64_t x);

#endif
