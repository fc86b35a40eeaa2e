/* xoshiro256** (Blackman & Vigna) seeded through splitmix64. */
#include "core/rng.h"

#include <math.h>

uint64_t rng_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void rng_seed(rng *r, uint64_t seed) { rng_seed_keys(r, seed, 0, 0, 0); }

void rng_seed_keys(rng *r, uint64_t seed, uint64_t k1, uint64_t k2, uint64_t k3) {
    uint64_t h = rng_mix64(seed);
    h = rng_mix64(h ^ rng_mix64(k1 + 0x1111));
    h = rng_mix64(h ^ rng_mix64(k2 + 0x2222));
    h = rng_mix64(h ^ rng_mix64(k3 + 0x3333));
    for (int i = 0; i < 4; i++) {
        h = rng_mix64(h + (uint64_t)i);
        r->s[i] = h;
    }
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t rng_u32(rng *r) { return (uint32_t)(rng_u64(r) >> 32); }

uint32_t rng_below(rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection. */
    uint64_t m = (uint64_t)rng_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (uint64_t)rng_u32(r) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double rng_uniform(rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

double rng_range(rng *r, double a, double b) { return a + (b - a) * rng_uniform(r); }

double rng_normal(rng *r) {
    double u1 = 1.0 - rng_uniform(r); /* (0, 1] */
    double u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double rng_gamma(rng *r, double a) { /* a >= 1 */
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0);
        v = v * v * v;
        double u = rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double rng_beta(rng *r, double a, double b) {
    double x = rng_gamma(r, a), y = rng_gamma(r, b);
    return x / (x + y);
}

void rng_permutation(rng *r, uint32_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        uint32_t j = rng_below(r, (uint32_t)i);
        uint32_t t = out[i - 1];
        out[i - 1] = out[j];
        out[j] = t;
    }
}
