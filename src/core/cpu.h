/* Which x86-64 instructions yoloc's own hot loops run, and the macro that
 * makes them portable.
 *
 * YOLOC_HOT on a function compiles it three times, for x86-64-v4 (AVX-512
 * F/BW/CD/DQ/VL), x86-64-v3 (AVX2, FMA, BMI) and the x86-64 baseline
 * (SSE2), and the dynamic loader binds the best one the CPU has (GCC
 * target_clones, an ifunc). OpenMP regions inside the function are cloned
 * with it. A function that a YOLOC_HOT function calls without inlining runs
 * its own single build: mark it too. Static inline helpers (core/fastmath.h)
 * are inlined into each clone.
 *
 * The build decides (CMakeLists.txt): with YOLOC_NATIVE (-march=native) or
 * an -march in CMAKE_C_FLAGS the whole tree is built for one target and
 * YOLOC_HOT is empty; otherwise YOLOC_DISPATCH=1 is defined where the
 * compiler supports target_clones.
 *
 * Results of a YOLOC_HOT function may differ between clones in the last
 * bits where a loop reduces (omp simd reductions sum in vector-width
 * order); element-wise results are the same. Tests compare each build's
 * path with the reference implementation; CI builds the tree for each level
 * and runs the kernel tests of each (scripts/ci-isa-matrix.sh). */
#ifndef YOLOC_CORE_CPU_H
#define YOLOC_CORE_CPU_H

#if defined(YOLOC_DISPATCH) && YOLOC_DISPATCH && defined(__x86_64__)
#define YOLOC_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define YOLOC_HOT
#endif

/* The instruction set yoloc's YOLOC_HOT loops run on this CPU, e.g.
 * "avx512 (x86-64-v4, picked at run time)", "avx2 (x86-64-v3, native
 * build)". Static string. */
const char *cpu_kernel_isa(void);
/* Short form for logs and bench.json: "avx512", "avx2", "sse2", "other". */
const char *cpu_kernel_isa_short(void);
/* The CPU's model name (/proc/cpuinfo), or "unknown". Static buffer. */
const char *cpu_model_name(void);

#endif
