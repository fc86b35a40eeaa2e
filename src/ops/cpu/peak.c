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

#define CHAINS 12

#ifdef PEAK_X86
__attribute__((target("avx512f"))) static float run_avx512(long iters) {
    __m512 a[CHAINS], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) a[k] = _mm512_set1_ps(1.0f + 0.01f * k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) a[k] = _mm512_fmadd_ps(a[k], m, c);
    __m512 s = a[0];
    for (int k = 1; k < CHAINS; k++) s = _mm512_add_ps(s, a[k]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float run_avx2(long iters) {
    __m256 a[CHAINS], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) a[k] = _mm256_set1_ps(1.0f + 0.01f * k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) a[k] = _mm256_fmadd_ps(a[k], m, c);
    __m256 s = a[0];
    for (int k = 1; k < CHAINS; k++) s = _mm256_add_ps(s, a[k]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#endif

static float run_scalar(long iters) {
    float a[CHAINS];
    for (int k = 0; k < CHAINS; k++) a[k] = 1.0f + 0.01f * k;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) a[k] = fmaf(a[k], 0.999999f, 1e-7f);
    float s = 0;
    for (int k = 0; k < CHAINS; k++) s += a[k];
    return s;
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
