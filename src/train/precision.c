/* See precision.h. */
#include "train/precision.h"

#include "core/cpu.h"
#include "ops/ops.h"

int precision_resolve(int amp_requested, int amp_given, FILE *out) {
    char why[256];
    int bf16 = ops_amp_bf16(amp_requested, why, sizeof why);
    if (amp_requested && amp_given && !bf16 && out) {
        fprintf(out, "amp=True: running fp32: %s\n", why);
        fflush(out);
    }
    return bf16;
}

const char *precision_dtype(int bf16) { return bf16 ? "bf16" : "fp32"; }

void precision_describe(int bf16, char *buf, size_t cap) {
    snprintf(buf, cap, "cpu: %s; oneDNN isa %s; yoloc kernels %s; precision %s", cpu_model_name(), ops_dnnl_isa(),
             cpu_kernel_isa(),
             bf16 ? "bf16 convolutions with fp32 accumulation (amp), fp32 weights and everything else" : "fp32");
}
