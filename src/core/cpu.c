/* See cpu.h. */
#include "core/cpu.h"

#include <stdio.h>
#include <string.h>

#if !(defined(YOLOC_DISPATCH) && YOLOC_DISPATCH && defined(__x86_64__))
/* The level a compile-time build targets (native or an explicit -march). */
static const char *cpu_compiled_level(void) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
    return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
    return "avx2";
#elif defined(__x86_64__)
    return "sse2";
#else
    return "other";
#endif
}
#endif

const char *cpu_kernel_isa_short(void) {
#if defined(YOLOC_DISPATCH) && YOLOC_DISPATCH && defined(__x86_64__)
    /* The same tests the target_clones resolver makes, in its order. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "avx512";
    if (__builtin_cpu_supports("x86-64-v3")) return "avx2";
    return "sse2";
#else
    return cpu_compiled_level();
#endif
}

const char *cpu_kernel_isa(void) {
    const char *s = cpu_kernel_isa_short();
#if defined(YOLOC_DISPATCH) && YOLOC_DISPATCH && defined(__x86_64__)
    if (!strcmp(s, "avx512")) return "avx512 (x86-64-v4, picked at run time)";
    if (!strcmp(s, "avx2")) return "avx2 (x86-64-v3, picked at run time)";
    return "sse2 (x86-64 baseline, picked at run time)";
#else
    if (!strcmp(s, "avx512")) return "avx512 (compiled for this CPU)";
    if (!strcmp(s, "avx2")) return "avx2 (compiled for this CPU)";
    if (!strcmp(s, "sse2")) return "sse2 (x86-64 baseline build)";
    return "generic C";
#endif
}

const char *cpu_model_name(void) {
    static char name[128];
    if (name[0]) return name;
    snprintf(name, sizeof name, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return name;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        const char *c = strchr(line, ':');
        if (!c) break;
        c++;
        while (*c == ' ' || *c == '\t') c++;
        snprintf(name, sizeof name, "%s", c);
        name[strcspn(name, "\n")] = 0;
        break;
    }
    fclose(f);
    return name;
}
