/* yoloc train key=value ... (see `yoloc help` for the keys) */
#include "cli/commands.h"
#include "core/log.h"
#include "dist/dist.h"
#include "plan/doctor.h"
#include "plan/plan.h"
#include "train/config.h"
#include "train/trainer.h"

#include <math.h>

int cmd_train(int argc, char **argv) {
    config c;
    kv_args a;
    status st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    if (st == YOLOC_OK) config_notes(&c, "train", stdout);
    dist d;
    int opened = 0;
    if (st == YOLOC_OK && (st = dist_open(&d, c.dist_timeout)) == YOLOC_OK) opened = 1;
    if (opened && d.rank != 0) { /* rank 0 speaks for the job; the others only report problems */
        if (!freopen("/dev/null", "w", stdout)) st = err_set(YOLOC_ERR_IO, "cannot silence rank %d", d.rank);
        log_set_level(LOG_WARN);
    }
    /* batch=-1 or a fraction: the planner chooses batch and accumulate
     * before the trainer starts (the trainer never decides them) */
    if (st == YOLOC_OK && (c.batch < 1 || c.batch != floor(c.batch))) st = plan_trainer_batch(&c, &d, stdout);
    /* doctor=True: the live LR/batch checks ride on the trainer's hooks */
    doctor_live live;
    train_hooks h;
    doctor_live_hooks(&live, &h);
    if (st == YOLOC_OK) st = train_run_ex(&c, &d, c.doctor ? &h : NULL, NULL);
    doctor_live_free(&live);
    config_free(&c);
    int rc = st < 0 ? cli_fail(st) : 0;
    if (opened) dist_close(&d, st < 0 && d.world > 1); /* a failed rank stops the whole job */
    return rc;
}
