/* yoloc eval data=data.yaml pred=DIR [split=val] [metric=ultralytics|coco]
 *            [out=metrics.json] [conf=T] [gt_json=FILE] [pred_json=FILE]
 * Scores YOLO-format prediction files against a dataset split and prints the
 * validator's table. Wiring only: the reading, matching and metrics live in
 * src/eval/ (yolo_eval.c, metrics.c, coco.c). The default metric is
 * ultralytics (the numbers the Ultralytics validator prints); metric=coco
 * gives pycocotools' numbers. gt_json / pred_json also write the ground truth
 * and the detections as COCO JSON files for pycocotools. Every detection of
 * the files is scored, as pycocotools does; conf=T drops those with a
 * confidence <= T (the files' own threshold is theirs to choose). */
#include "cli/commands.h"
#include "core/kv.h"
#include "core/log.h"
#include "data/dataset.h"
#include "eval/coco.h"
#include "eval/yolo_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_eval(int argc, char **argv) {
    static const char *const keys[] = {"data", "pred",    "split",     "metric", "out",
                                       "conf", "gt_json", "pred_json", NULL};
    static const char *const metrics[] = {"ultralytics", "coco", NULL};
    static const char *const splits[] = {"train", "val", "test", NULL};
    kv_args a;
    const char *data = NULL, *pred = NULL, *split = "val", *metric = "ultralytics", *out = NULL;
    const char *gt_json = NULL, *pred_json = NULL;
    double conf = EVAL_CONF_NONE; /* every detection, unless conf= is given */
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_str(&a, "data", NULL, &data);
    if (st == YOLOC_OK) st = kv_str(&a, "pred", NULL, &pred);
    if (st == YOLOC_OK) st = kv_str(&a, "split", splits, &split);
    if (st == YOLOC_OK) st = kv_str(&a, "metric", metrics, &metric);
    if (st == YOLOC_OK) st = kv_str(&a, "out", NULL, &out);
    if (st == YOLOC_OK) st = kv_double(&a, "conf", 0.0, 1.0, &conf);
    if (st == YOLOC_OK) st = kv_str(&a, "gt_json", NULL, &gt_json);
    if (st == YOLOC_OK) st = kv_str(&a, "pred_json", NULL, &pred_json);
    if (st == YOLOC_OK) st = kv_unused(&a, "eval", keys);
    if (st == YOLOC_OK && (!data || !pred))
        st = err_set(YOLOC_ERR_INVALID, "yoloc eval: data=<data.yaml> and pred=<folder of "
                                        "prediction .txt files> are required");
    if (st < 0) return cli_fail(st);

    dataset ds;
    st = dataset_open(&ds, data, NULL);
    if (st < 0) return cli_fail(st);
    const ds_split *sp = dataset_split(&ds, split);
    if (!sp || sp->nimages == 0) {
        st = err_set(YOLOC_ERR_INVALID, "%s: split '%s' has no usable images", data, split);
        dataset_close(&ds);
        return cli_fail(st);
    }
    eval_set set;
    eval_summary sum;
    pred_report rep;
    memset(&sum, 0, sizeof sum);
    st = eval_load_yolo(&set, sp->images, sp->nimages, ds.nc, pred, conf, &rep);
    if (st < 0) {
        dataset_close(&ds);
        return cli_fail(st);
    }
    char dropped[64] = "";
    if (conf != EVAL_CONF_NONE) snprintf(dropped, sizeof dropped, " (%zu at conf <= %g dropped)", rep.dets_below_conf, conf);
    log_info("eval: %zu images; prediction files %zu read, %zu skipped; lines %zu read, %zu "
             "skipped; %zu detections%s",
             sp->nimages, rep.files_read, rep.files_skipped, rep.lines_read, rep.lines_skipped,
             rep.dets_kept, dropped);
    if (rep.files_skipped || rep.lines_skipped)
        log_warn("eval: skipped %zu prediction files and %zu lines (reasons above)",
                 rep.files_skipped, rep.lines_skipped);
    if (gt_json || pred_json) {
        const char **files = malloc(sizeof(char *) * sp->nimages);
        if (!files) st = err_set(YOLOC_ERR_NOMEM, "eval: out of memory");
        for (size_t i = 0; st >= 0 && i < sp->nimages; i++) {
            const char *base = strrchr(sp->images[i].path, '/');
            files[i] = base ? base + 1 : sp->images[i].path;
        }
        if (st >= 0 && gt_json)
            st = coco_write_gt(&set, (const char *const *)ds.names, files, gt_json);
        if (st >= 0 && pred_json) st = coco_write_results(&set, pred_json);
        free(files);
    }
    if (st >= 0)
        st = eval_summarize(
            &set, strcmp(metric, "coco") == 0 ? EVAL_METRIC_COCO : EVAL_METRIC_ULTRALYTICS,
            (const char *const *)ds.names, &sum);
    if (st >= 0) {
        sum.preds = rep;
        eval_summary_print(&sum, stdout);
        fflush(stdout);
        if (out) st = eval_summary_write_json(&sum, out);
        if (st >= 0 && out) log_info("metrics written to %s", out);
    }
    eval_summary_free(&sum);
    eval_set_free(&set);
    dataset_close(&ds);
    return st < 0 ? cli_fail(st) : 0;
}
