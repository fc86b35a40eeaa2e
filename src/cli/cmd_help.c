/* yoloc help [key]: the options of train/val/predict with their defaults. */
#include "cli/commands.h"
#include "train/config.h"

#include <stdio.h>

int cmd_help(int argc, char **argv) {
    if (argc > 1) return cli_fail(err_set(YOLOC_ERR_INVALID, "usage: yoloc help [key]"));
    if (argc == 0)
        printf("yoloc train|val|predict key=value ...  (cfg=FILE.yaml loads many keys; the command line wins)\n\n");
    status st = config_help(stdout, argc ? argv[0] : NULL);
    return st < 0 ? cli_fail(st) : 0;
}
