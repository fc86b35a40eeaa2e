/* yoloc tune model=... data=... [space=tune.yaml] [budget=8] [epochs=E] [eta=3]
 *   [seed=0] [project=runs/tune] [name=exp] [resume=True] [dry=True] ...
 * A small-range hyper-parameter search with successive halving; every train
 * key applies to all trials (src/plan/tune.h). */
#include "cli/commands.h"
#include "core/log.h"
#include "dist/dist.h"
#include "plan/tune.h"
#include "train/config.h"

int cmd_tune(int argc, char **argv) {
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
    if (st == YOLOC_OK) st = tune_run(&c, &d, NULL);
    config_free(&c);
    int rc = st < 0 ? cli_fail(st) : 0;
    if (opened) dist_close(&d, st < 0 && d.world > 1); /* a failed rank stops the whole job */
    return rc;
}
