/* yoloc plan model=... data=... [imgsz=640] [batch=-1|0.6|N] [processes=N] [nodes=N] [mem=GiB]
 *   [target_batch_min=32] [target_batch_max=128] [nbs] [optimizer] [lr0] ... [check=True] [check_batch=N]
 *   [noise=True] [noise_steps=30] [plan_file=plan.yaml]
 * Prints the batch/LR recommendation with a reason per decision and writes
 * it as plan.yaml for `yoloc train cfg=plan.yaml` (see src/plan/plan.h). */
#include "cli/commands.h"
#include "core/log.h"
#include "ops/ops.h"
#include "plan/plan.h"
#include "train/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_plan(int argc, char **argv) {
    config c;
    kv_args a;
    plan *p = calloc(1, sizeof *p);
    if (!p) return cli_fail(err_set(YOLOC_ERR_NOMEM, "out of memory"));
    status st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    if (st < 0) goto done;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ops_set_threads(c.threads > 0 ? (int)c.threads : (cores > 0 ? (int)cores : 1));
    st = plan_make(&c, p);
    int made = st == YOLOC_OK;
    if (made && c.check) {
        printf("memory check: one real training step at batch %d ...\n", c.check_batch > 0 ? (int)c.check_batch : p->batch);
        fflush(stdout);
        status cs = plan_check(p, (int)c.check_batch);
        if (cs < 0) log_warn("memory check: %s", yoloc_last_error());
    }
    if (made && c.noise) {
        const char *project = c.given.project ? c.project : "runs/plan";
        status ns = plan_noise(p, c.noise_steps, project, "noise");
        if (ns < 0) log_warn("noise scale: %s", yoloc_last_error());
    }
    if (made || p->refused) plan_print(p, stdout); /* a refused plan is printed too: it says why */
    if (made && c.plan_file && *c.plan_file) {
        st = plan_write_yaml(p, c.plan_file);
        if (st == YOLOC_OK && p->processes > 1)
            printf("plan written to %s: mpirun -np %d yoloc train cfg=%s\n", c.plan_file, p->processes, c.plan_file);
        else if (st == YOLOC_OK)
            printf("plan written to %s: yoloc train cfg=%s\n", c.plan_file, c.plan_file);
    }
done:
    fflush(stdout); /* the plan before the error line */
    plan_free(p);
    free(p);
    config_free(&c);
    return st < 0 ? cli_fail(st) : 0;
}
