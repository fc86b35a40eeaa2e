/* The CPU paths yoloc reports and the amp rule, against /proc/cpuinfo:
 *   - ops_bf16_support: native exactly where the CPU flags have
 *     avx512_bf16 (AMX CPUs have it too), emulated on other AVX-512 CPUs,
 *     none without avx512f (unless ONEDNN_MAX_CPU_ISA caps oneDNN, in which
 *     case the test says so and checks only the order of the answers);
 *   - ops_amp_bf16: bf16 only at native, a reason naming oneDNN's isa
 *     otherwise, nothing without amp;
 *   - cpu_kernel_isa_short: in a dispatch build, avx512 exactly where the
 *     flags have avx512f/bw/cd/dq/vl, else avx2 where avx2+fma, else sse2;
 *     in a build for one target, the level that target was compiled for,
 *     which this CPU must then have;
 *   - the names are non-empty and the CPU model is read. */
#include "core/cpu.h"
#include "harness.h"
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char flags[16384];

static int has(const char *f) {
    size_t n = strlen(f);
    for (const char *p = strstr(flags, f); p; p = strstr(p + 1, f))
        if ((p == flags || p[-1] == ' ' || p[-1] == '\t') && (p[n] == ' ' || p[n] == '\n' || p[n] == 0)) return 1;
    return 0;
}

static int read_flags(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    int found = 0;
    while (fgets(flags, sizeof flags, f))
        if (strncmp(flags, "flags", 5) == 0) {
            found = 1;
            break;
        }
    fclose(f);
    return found;
}

int main(void) {
    CHECK(strlen(ops_dnnl_isa()) > 0);
    CHECK(strlen(cpu_kernel_isa()) > 0);
    CHECK(strlen(cpu_model_name()) > 0);
    printf("cpu: %s; oneDNN isa %s; yoloc kernels %s\n", cpu_model_name(), ops_dnnl_isa(), cpu_kernel_isa());

    char why[256];
    CHECK_EQ_INT(ops_amp_bf16(0, why, sizeof why), 0);
    CHECK_STR(why, "");
    int amp = ops_amp_bf16(1, why, sizeof why);
    CHECK_EQ_INT(amp, ops_bf16_support() == OPS_BF16_NATIVE);
    if (!amp) {
        CHECK_CONTAINS(why, "bf16");
        CHECK_CONTAINS(why, ops_dnnl_isa());
    } else {
        CHECK_STR(why, "");
    }
    CHECK_EQ_INT(ops_amp_bf16(1, NULL, 0), amp); /* why may be NULL */

    if (!read_flags()) {
        printf("test_cpu_isa: no flags line in /proc/cpuinfo: the checks against the CPU flags are skipped\n");
        return test_finish("test_cpu_isa");
    }
    const int avx512 = has("avx512f") && has("avx512bw") && has("avx512cd") && has("avx512dq") && has("avx512vl");
    const int avx2 = has("avx2") && has("fma");
    if (getenv("ONEDNN_MAX_CPU_ISA") || getenv("DNNL_MAX_CPU_ISA")) {
        printf("test_cpu_isa: oneDNN's ISA is capped by the environment: bf16 support not checked against the flags\n");
        CHECK(!(ops_bf16_support() >= OPS_BF16_EMULATED && !has("avx512f")));
    } else {
        ops_bf16_level want = has("avx512_bf16") ? OPS_BF16_NATIVE : has("avx512f") ? OPS_BF16_EMULATED : OPS_BF16_NONE;
        CHECK_MSG(ops_bf16_support() == want, "bf16 support %d, the CPU flags say %d", (int)ops_bf16_support(),
                  (int)want);
    }
    const char *k = cpu_kernel_isa_short();
#if defined(YOLOC_DISPATCH) && YOLOC_DISPATCH
    const char *want = avx512 ? "avx512" : avx2 ? "avx2" : "sse2";
    CHECK_STR(k, want);
    CHECK_CONTAINS(cpu_kernel_isa(), "picked at run time");
#else
    if (!strcmp(k, "avx512")) CHECK(avx512);
    if (!strcmp(k, "avx2")) CHECK(avx2);
#endif
    return test_finish("test_cpu_isa");
}
