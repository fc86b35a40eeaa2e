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

#include <math.h>
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
    if (st == YOLOC_OK) config_notes(&c, "train", stdout);
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
        /* a critical batch below the planned effective batch decides it:
         * plan again with it (the batch per process and so the memory
         * check stay; accumulate follows), keeping the measurement */
        int acc_given = c.given.accumulate && c.accumulate > 0;
        if (ns == YOLOC_OK && isfinite(p->b_simple) && p->b_simple > 0 && p->b_simple < (double)p->r.lp.b_eff &&
            !acc_given) {
            plan *q = calloc(1, sizeof *q);
            if (!q) {
                st = err_set(YOLOC_ERR_NOMEM, "out of memory");
                goto done;
            }
            printf("noise scale: B_simple %.0f is below the planned effective batch %ld: planning again with it\n",
                   p->b_simple, p->r.lp.b_eff);
            status qs = plan_make_ex(&c, p->b_simple, q);
            if (qs == YOLOC_OK) {
                q->noise_done = p->noise_done;
                q->b_simple = p->b_simple;
                q->noise_steps = p->noise_steps;
                snprintf(q->noise_dir, sizeof q->noise_dir, "%s", p->noise_dir);
                q->checked = p->checked && p->check_batch == q->batch;
                q->check_batch = p->check_batch;
                q->check_pred = p->check_pred;
                q->check = p->check;
                plan_free(p);
                free(p);
                p = q;
            } else {
                log_warn("noise scale: planning with the critical batch: %s; the plan without it stands",
                         yoloc_last_error());
                err_clear();
                plan_free(q);
                free(q);
            }
        }
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
