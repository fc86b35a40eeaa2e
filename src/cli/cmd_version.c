/* yoloc version: the version, oneDNN's, the CPU paths that run here (the
 * instruction set oneDNN's kernels use, the one yoloc's own loops use, and
 * what amp=True would do), and the backends and devices built in. */
#include "cli/commands.h"
#include "core/cpu.h"
#include "ops/backend.h"
#include "ops/ops.h"
#include "yoloc.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>

int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    const dnnl_version_t *v = dnnl_version();
    printf("yoloc %s (oneDNN %d.%d.%d)\n", yoloc_version(), v->major, v->minor, v->patch);
    printf("cpu: %s\n", cpu_model_name());
    printf("oneDNN isa: %s\n", ops_dnnl_isa());
    printf("yoloc kernels: %s\n", cpu_kernel_isa());
    printf("backends (backend=):");
    for (const ops_backend *const *b = backend_list(); *b; b++)
        printf(" %s%s (%s)%s", (*b)->name, *b == backend_default() ? " [default]" : "", (*b)->about, b[1] ? "," : "");
    int gpu = 0;
    for (const ops_backend *const *b = backend_list(); *b; b++) gpu |= (*b)->gpu;
    printf("\ndevices (device=): cpu%s\n", gpu ? ", GPU indices (0, 0,1, ...)" : " (this build has no GPU backend)");
    char why[256];
    if (ops_amp_bf16(1, why, sizeof why))
        printf("amp=True: bf16 convolutions (native bf16 on this CPU)\n");
    else
        printf("amp=True: fp32 (%s)\n", why);
    return 0;
}
