/* Deterministic pseudo-random numbers for the simulator: xoshiro256** seeded through
 * splitmix64 (Vigna, https://prng.di.unimi.it/). Streams are derived from (seed, tag, index),
 * so one vehicle's or one route's draws never depend on how many draws another made: adding a
 * vehicle does not change the others, and the same seed gives the same city byte for byte. */
#ifndef BUYT_SIM_RNG_H
#define BUYT_SIM_RNG_H

#include <stdint.h>

struct buyt_rng {
    uint64_t s[4];
};

/** Seeds `r` from (seed, tag, index): independent streams for different tags/indices. */
void buyt_rng_init(struct buyt_rng *r, uint64_t seed, uint64_t tag, uint64_t index);

/** Next 64 random bits. */
uint64_t buyt_rng_next(struct buyt_rng *r);

/** Uniform in [0, 1). */
double buyt_rng_uniform(struct buyt_rng *r);

/** Uniform in [lo, hi). */
double buyt_rng_range(struct buyt_rng *r, double lo, double hi);

/** Uniform integer in [0, n) (n > 0). */
uint32_t buyt_rng_below(struct buyt_rng *r, uint32_t n);

/** Standard normal (Box-Muller). */
double buyt_rng_normal(struct buyt_rng *r);

/** Exponential with the given mean. */
double buyt_rng_exp(struct buyt_rng *r, double mean);

/** Poisson with mean `lambda` (Knuth; fine for the small means used here, lambda < 30). */
int buyt_rng_poisson(struct buyt_rng *r, double lambda);

/** A stateless hash of (seed, a, b, c) to [0, 1): the same inputs always give the same value. */
double buyt_rng_hash01(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

/** A stateless 64-bit mix of (seed, a, b). */
uint64_t buyt_rng_hash(uint64_t seed, uint64_t a, uint64_t b);

#endif
