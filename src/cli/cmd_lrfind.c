/* yoloc lrfind model=... data=... [lr_start=0] [lr_end=0] [lr_steps=0]
 *   [every train key] (0: automatic, from the training's recipe)
 * The LR range test (src/plan/lrfind.h): trains with an exponentially
 * growing LR until the loss diverges, writes lrfind.csv and lrfind.png into
 * the run directory (default runs/lrfind/exp) and suggests lr0. */
#include "cli/commands.h"
#include "core/log.h"
#include "dist/dist.h"
#include "plan/lrfind.h"
#include "train/config.h"

#include <stdio.h>

int cmd_lrfind(int argc, char **argv) {
    config c;
    kv_args a;
    lrf_result r;
    int have_r = 0;
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
    if (st == YOLOC_OK) {
        st = lrf_run(&c, &d, &r);
        have_r = 1;
    }
    if (st == YOLOC_OK && !c.dry) {
        lrf_print(&r, stdout);
        if (r.dir[0])
            printf("curve: %s/lrfind.csv%s%s/lrfind.png\n", r.dir, c.plots ? ", plot: " : "", c.plots ? r.dir : "");
    }
    if (have_r) lrf_result_free(&r);
    config_free(&c);
    int rc = st < 0 ? cli_fail(st) : 0;
    if (opened) dist_close(&d, st < 0 && d.world > 1); /* a failed rank stops the whole job */
    return rc;
}
