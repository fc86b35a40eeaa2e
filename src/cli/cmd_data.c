/* yoloc data check data=... [out=report.json]
 * yoloc data export data=... dir=OUT
 * Wiring only: the checks live in src/data/dataset.c, the report in
 * src/data/report.c, the export in src/data/export.c. */
#include "cli/commands.h"
#include "core/kv.h"
#include "core/log.h"
#include "data/dataset.h"
#include "data/export.h"
#include "data/report.h"

#include <stdio.h>

int cmd_data_check(int argc, char **argv) {
    static const char *const keys[] = {"data", "out", NULL};
    kv_args a;
    const char *data = NULL, *out = NULL;
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_str(&a, "data", NULL, &data);
    if (st == YOLOC_OK) st = kv_str(&a, "out", NULL, &out);
    if (st == YOLOC_OK) st = kv_unused(&a, "data check", keys);
    if (st == YOLOC_OK && !data)
        st = err_set(YOLOC_ERR_INVALID, "yoloc data check: data=<data.yaml or synth> is required");
    if (st < 0) return cli_fail(st);
    dataset ds;
    dataset_options opt = {.use_cache = 1, .quiet = 1}; /* the report lists every problem */
    st = dataset_open(&ds, data, &opt);
    if (st < 0) return cli_fail(st);
    report_write_text(stdout, &ds);
    fflush(stdout);
    if (out && (st = report_save_json(out, &ds)) < 0) {
        dataset_close(&ds);
        return cli_fail(st);
    }
    if (out) log_info("report written to %s", out);
    int ok = report_usable(&ds);
    dataset_close(&ds);
    return ok ? 0 : 1;
}

int cmd_data_export(int argc, char **argv) {
    static const char *const keys[] = {"data", "dir", NULL};
    kv_args a;
    const char *data = NULL, *dir = NULL;
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_str(&a, "data", NULL, &data);
    if (st == YOLOC_OK) st = kv_str(&a, "dir", NULL, &dir);
    if (st == YOLOC_OK) st = kv_unused(&a, "data export", keys);
    if (st == YOLOC_OK && (!data || !dir))
        st = err_set(YOLOC_ERR_INVALID, "yoloc data export: data=... and dir=OUT are required");
    if (st < 0) return cli_fail(st);
    dataset ds;
    st = dataset_open(&ds, data, NULL);
    if (st < 0) return cli_fail(st);
    st = dataset_export(&ds, dir);
    dataset_close(&ds);
    if (st < 0) return cli_fail(st);
    printf("wrote %s/data.yaml\n", dir);
    return 0;
}
