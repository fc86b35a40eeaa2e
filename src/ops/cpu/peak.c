/* The FP32 FMA peak of this CPU, measured (ops.h ops_fp32_peak_gflops):
 * every thread runs independent chains of vector FMAs (12 accumulators,
 * enough to cover the FMA latency on two ports) on registers only, with the
 * widest FMA the CPU has (AVX-512, AVX2+FMA, else scalar fmaf). The best of
 * several timed rounds is the peak convolution throughput is compared
 * with. */
#include "core/timer.h"
#include "ops/ops.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PEAK_X86 1
#endif

#define CHAINS 12 /* the accumulators a0..a11 of PEAK_CHAINS */

/* Twelve named accumulators (an array would live in memory: one FMA and a
 * load/store per iteration instead of twelve register FMAs). */
#define PEAK_CHAINS(T, FMA, SET)                                                                                       \
    T a0 = SET(1.00f), a1 = SET(1.01f), a2 = SET(1.02f), a3 = SET(1.03f), a4 = SET(1.04f), a5 = SET(1.05f);          \
    T a6 = SET(1.06f), a7 = SET(1.07f), a8 = SET(1.08f), a9 = SET(1.09f), a10 = SET(1.10f), a11 = SET(1.11f);        \
    const T m = SET(0.999999f), c = SET(1e-7f);                                                                        \
    for (long i = 0; i < iters; i++) {                                                                                 \
        a0 = FMA(a0, m, c), a1 = FMA(a1, m, c), a2 = FMA(a2, m, c), a3 = FMA(a3, m, c);                                \
        a4 = FMA(a4, m, c), a5 = FMA(a5, m, c), a6 = FMA(a6, m, c), a7 = FMA(a7, m, c);                                \
        a8 = FMA(a8, m, c), a9 = FMA(a9, m, c), a10 = FMA(a10, m, c), a11 = FMA(a11, m, c);                            \
    }

#ifdef PEAK_X86
__attribute__((target("avx512f"))) static float run_avx512(long iters) {
    PEAK_CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps)
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float run_avx2(long iters) {
    PEAK_CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps)
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#endif

static inline float set1_f(float v) { return v; }
static float run_scalar(long iters) {
    PEAK_CHAINS(float, fmaf, set1_f)
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
}

/* Vector width in floats of the FMA used, and its name. */
static int pick(const char **name) {
#ifdef PEAK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return *name = "avx512", 16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return *name = "avx2+fma", 8;
#endif
    *name = "scalar fmaf";
    return 1;
}

static float run(int width, long iters) {
#ifdef PEAK_X86
    if (width == 16) return run_avx512(iters);
    if (width == 8) return run_avx2(iters);
#endif
    return run_scalar(iters);
}

double ops_fp32_peak_gflops(int threads, double seconds, const char **isa) {
    const char *name;
    int width = pick(&name);
    if (isa) *isa = name;
    if (threads <= 0) threads = omp_get_max_threads();
    if (!(seconds > 0)) seconds = 1.0;
    /* calibrate one thread: iterations for ~1/8 of the time per round */
    long iters = 1 << 16;
    volatile float sink = 0;
    for (;;) {
        double t0 = time_now();
        sink += run(width, iters);
        double dt = time_now() - t0;
        if (dt > 0.02 || iters > (1L << 40)) {
            iters = (long)(iters * (seconds / 8) / (dt > 0 ? dt : 1e-3)) + 1;
            break;
        }
        iters *= 4;
    }
    double best = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = time_now();
        float acc = 0;
#pragma omp parallel num_threads(threads) reduction(+ : acc)
        acc += run(width, iters);
        double dt = time_now() - t0;
        sink += acc;
        double g = 2.0 * width * CHAINS * (double)iters * threads / dt / 1e9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}
