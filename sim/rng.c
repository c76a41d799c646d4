/* xoshiro256** with splitmix64 seeding; see rng.h. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t buyt_rng_hash(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ (a * 0xd6e8feb86659fd93ULL);
    h = splitmix64(&x);
    x = h ^ (b * 0xa0761d6478bd642fULL);
    return splitmix64(&x);
}

void buyt_rng_init(struct buyt_rng *r, uint64_t seed, uint64_t tag, uint64_t index)
{
    uint64_t x = buyt_rng_hash(seed, tag, index);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t buyt_rng_next(struct buyt_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double buyt_rng_uniform(struct buyt_rng *r) { return (double)(buyt_rng_next(r) >> 11) * 0x1.0p-53; }

double buyt_rng_range(struct buyt_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * buyt_rng_uniform(r);
}

uint32_t buyt_rng_below(struct buyt_rng *r, uint32_t n)
{
    return (uint32_t)(((buyt_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

double buyt_rng_normal(struct buyt_rng *r)
{
    double u1 = buyt_rng_uniform(r), u2 = buyt_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double buyt_rng_exp(struct buyt_rng *r, double mean)
{
    return -mean * log(1.0 - buyt_rng_uniform(r));
}

int buyt_rng_poisson(struct buyt_rng *r, double lambda)
{
    if (lambda <= 0)
        return 0;
    double l = exp(-lambda), p = 1.0;
    int k = 0;
    do {
        k++;
        p *= buyt_rng_uniform(r);
    } while (p > l && k < 1000);
    return k - 1;
}

double buyt_rng_hash01(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    return (double)(buyt_rng_hash(buyt_rng_hash(seed, a, b), c, 0x5eed) >> 11) * 0x1.0p-53;
}
