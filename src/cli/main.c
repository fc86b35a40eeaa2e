/* yoloc <command> key=value ... : dispatch to the command table. */
#include "cli/commands.h"
#include "core/log.h"
#include "yoloc.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    const char *summary;
    int (*fn)(int, char **);
} COMMANDS[] = {
#define CMD_ROW(name, summary) {#name, summary, cmd_##name},
    YOLOC_COMMANDS(CMD_ROW)
#undef CMD_ROW
};

#define NCOMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

static void usage(FILE *f) {
    fprintf(f, "yoloc %s: YOLO object detectors, trained in C\n\n", yoloc_version());
    fprintf(f, "usage: yoloc <command> [key=value ...]\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) {
        char shown[64];
        snprintf(shown, sizeof shown, "%s", COMMANDS[i].name);
        char *us = strchr(shown, '_'); /* data_check is shown as "data check" */
        if (us) *us = ' ';
        fprintf(f, "  %-14s %s\n", shown, COMMANDS[i].summary);
    }
}

int cli_fail(int st) {
    log_error("%s", yoloc_last_error());
    (void)st;
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* "yoloc data check ..." runs the command registered as data_check. */
    if (argc >= 3) {
        char two[128];
        snprintf(two, sizeof two, "%s_%s", argv[1], argv[2]);
        for (int i = 0; i < NCOMMANDS; i++)
            if (strcmp(two, COMMANDS[i].name) == 0) return COMMANDS[i].fn(argc - 3, argv + 3);
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].fn(argc - 2, argv + 2);
    log_error("unknown command '%s' (run 'yoloc --help' for the list)", argv[1]);
    return 2;
}
