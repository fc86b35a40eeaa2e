/* yoloc doctor RUN_DIR [out=findings.json]   (or run=RUN_DIR)
 * Reads a run's args.yaml, steps.csv and results.csv and names what went
 * wrong with its learning-rate / batch-size settings (plan/doctor.h), each
 * finding with its evidence and a next setting. Exit 0 when nothing worse
 * than a note was found ("no LR/batch problems found"), 3 when there are
 * findings, 1 on errors (an unreadable run directory). */
#include "cli/commands.h"
#include "plan/doctor.h"
#include "train/config.h"

#include <stdio.h>
#include <string.h>

#define DOCTOR_EXIT_FINDINGS 3

int cmd_doctor(int argc, char **argv) {
    static const char *const keys[] = {"run", "out", NULL};
    config c;
    kv_args a;
    doctor *d = NULL;
    const char *positional = NULL;
    char *kvs[KV_MAX];
    int nkv = 0;
    status st = config_init(&c);
    if (st < 0) return cli_fail(st);
    /* the run directory may come first without a key */
    for (int i = 0; i < argc && st == YOLOC_OK; i++) {
        if (strchr(argv[i], '=')) {
            if (nkv < KV_MAX) kvs[nkv++] = argv[i];
        } else if (!positional) {
            positional = argv[i];
        } else {
            st = err_set(YOLOC_ERR_INVALID, "'%s': one run directory at a time (already given: '%s')", argv[i],
                         positional);
        }
    }
    if (st == YOLOC_OK) st = kv_parse(&a, nkv, kvs);
    for (int i = 0; st == YOLOC_OK && i < a.n; i++) {
        int ok = 0;
        for (int k = 0; keys[k]; k++) ok |= strcmp(a.keys[i], keys[k]) == 0;
        if (!ok) st = err_set(YOLOC_ERR_INVALID, "unknown key '%s' for 'yoloc doctor' (allowed: run, out)", a.keys[i]);
    }
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    if (st < 0) goto fail;
    if (positional && c.given.run) {
        st = err_set(YOLOC_ERR_INVALID, "the run directory is given twice: '%s' and run=%s", positional, c.run);
        goto fail;
    }
    const char *dir = positional ? positional : c.run;
    if (!dir || !*dir) {
        st = err_set(YOLOC_ERR_INVALID, "which run? yoloc doctor RUN_DIR (e.g. runs/train/exp) [out=findings.json]");
        goto fail;
    }
    char notes[512];
    TRY_GOTO(st, doctor_read_run(dir, &d, notes, sizeof notes));
    if (notes[0]) printf("note: %s\n", notes);
    doctor_print_report(d, dir, stdout);
    if (c.out && *c.out) {
        TRY_GOTO(st, doctor_write_json(d, dir, c.out));
        printf("findings written to %s\n", c.out);
    }
    int warnings, errors;
    doctor_tally(d, NULL, &warnings, &errors);
    doctor_free(d);
    config_free(&c);
    return warnings + errors ? DOCTOR_EXIT_FINDINGS : 0;
fail:
    doctor_free(d);
    config_free(&c);
    return cli_fail(st);
}
