/* yoloc version */
#include "cli/commands.h"
#include "yoloc.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>

int cmd_version(int argc, char **argv) {
    (void)argv;
    const dnnl_version_t *v = dnnl_version();
    printf("yoloc %s (oneDNN %d.%d.%d, cpu isa %s)\n", yoloc_version(), v->major, v->minor, v->patch,
           argc >= 0 ? "auto" : "");
    return 0;
}
