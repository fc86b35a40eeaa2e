/* Prediction files -> eval set, without ../shared/data: a split made in
 * memory (ds_image records) and a temporary folder of prediction files.
 * Checks the pixel conversion by hand, the image-id rule, the confidence
 * threshold, bad lines and stray files reported by file and line and
 * counted, the summary table's format and the metrics JSON (parsed back). */
#include "core/log.h"
#include "eval/yolo_eval.h"
#include "harness.h"
#include "io/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/yoloc_preds_XXXXXX";

static void put(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

int main(void) {
    CHECK(mkdtemp(dir) != NULL);
    /* two images: 100 x 50 with one box of class 1, 200 x 100 with none */
    ds_box b1[1] = {{1, 0.5f, 0.5f, 0.2f, 0.4f}};
    ds_image im[2] = {{"/data/images/val/000012.jpg", "", 100, 50, 1, b1},
                      {"/data/images/val/000345.png", "", 200, 100, 0, NULL}};
    /* image 12: the box exactly (cx 50, cy 25, 20 x 20 px -> x 40, y 15) and
     * one below the threshold; then 5 bad lines (line numbers 3..7) and a blank */
    put("000012.txt", "1 0.5 0.5 0.2 0.4 0.9\n"
                      "1 0.5 0.5 0.2 0.4 0.0005\n"
                      "1 0.5 0.5 0.2\n"
                      "7 0.5 0.5 0.2 0.4 0.9\n"
                      "0 0.5 0.5 0.2 0.4 nan\n"
                      "0 0.5 0.5 0.2 0.4 1.5\n"
                      "0 0.5 inf 0.2 0.4 0.5\n"
                      "   \n");
    put("000345.txt", "0 0.25 0.5 0.1 0.2 0.4\n");
    put("999.txt", "0 0.5 0.5 0.1 0.1 0.5\n");
    put("readme.md", "not a prediction file\n");

    char logbuf[8192] = {0};
    FILE *lf = fmemopen(logbuf, sizeof logbuf - 1, "w");
    log_set_stream(lf);
    eval_set s;
    pred_report rep;
    CHECK_EQ_INT(eval_load_yolo(&s, im, 2, 2, dir, 0.001, &rep), YOLOC_OK);
    fflush(lf);
    log_set_stream(stderr);
    fclose(lf);
    CHECK_EQ_INT(rep.files_read, 2);
    CHECK_EQ_INT(rep.files_skipped, 1);
    CHECK_EQ_INT(rep.lines_read, 8);
    CHECK_EQ_INT(rep.lines_skipped, 5);
    CHECK_EQ_INT(rep.dets_below_conf, 1);
    CHECK_EQ_INT(rep.dets_kept, 2);
    for (int line = 3; line <= 7; line++) {
        char want[64];
        snprintf(want, sizeof want, "000012.txt:%d:", line);
        CHECK_CONTAINS(logbuf, want);
    }
    CHECK_CONTAINS(logbuf, "000012.txt:4: unknown class id 7");
    CHECK_CONTAINS(logbuf, "000012.txt:5: confidence nan");
    CHECK_CONTAINS(logbuf, "000012.txt:6: confidence 1.5");
    CHECK_CONTAINS(logbuf, "999.txt: no image named 999");
    CHECK(strstr(logbuf, "readme") == NULL);

    /* no threshold (yoloc eval's default): the 0.0005 detection is scored too */
    {
        eval_set s0;
        pred_report r0;
        FILE *nf = fopen("/dev/null", "w");
        log_set_stream(nf);
        CHECK_EQ_INT(eval_load_yolo(&s0, im, 2, 2, dir, EVAL_CONF_NONE, &r0), YOLOC_OK);
        log_set_stream(stderr);
        if (nf) fclose(nf);
        CHECK_EQ_INT(r0.dets_below_conf, 0);
        CHECK_EQ_INT(r0.dets_kept, 3);
        CHECK_EQ_INT(s0.images[0].ndet, 2);
        eval_set_free(&s0);
        CHECK_EQ_INT(eval_load_yolo(&s0, im, 2, 2, dir, -0.5, &r0), YOLOC_ERR_INVALID); /* only the "none" value */
    }
    CHECK_EQ_INT(s.nimages, 2);
    CHECK_EQ_INT(s.images[0].id, 12); /* numeric stems are the ids */
    CHECK_EQ_INT(s.images[1].id, 345);
    CHECK_EQ_INT(s.images[0].ngt, 1);
    CHECK_EQ_INT(s.images[0].ndet, 1);
    const eval_det *d = &s.dets[s.images[0].det0];
    CHECK_NEAR(d->x, 40, 1e-9);
    CHECK_NEAR(d->y, 15, 1e-9);
    CHECK_NEAR(d->w, 20, 1e-9);
    CHECK_NEAR(d->h, 20, 1e-9);
    CHECK_NEAR(s.gts[0].area, 400, 1e-3);
    const eval_det *d2 = &s.dets[s.images[1].det0]; /* 0.25*200 - 10, 0.5*100 - 10 */
    CHECK_NEAR(d2->x, 40, 1e-9);
    CHECK_NEAR(d2->y, 40, 1e-9);

    /* summary: class 1 found exactly (P = R = 1, COCO AP 1); class 0 has a
     * false positive but no instances (not a row) */
    eval_summary e;
    static const char *const names[2] = {"cat", "dog"};
    CHECK_EQ_INT(eval_summarize(&s, EVAL_METRIC_COCO, names, &e), YOLOC_OK);
    e.preds = rep;
    /* pycocotools' precision of a single true positive is 1 / (1 + eps) with
     * eps = np.spacing(1): 1 - 2.2e-16, as yoloc reproduces */
    CHECK_NEAR(e.map50, 1.0, 1e-15);
    CHECK_NEAR(e.map5095, 1.0, 1e-15);
    CHECK_NEAR(e.mp, 1.0, 0);
    CHECK_EQ_INT(e.ninstances, 1);
    char table[4096] = {0};
    FILE *tf = fmemopen(table, sizeof table - 1, "w");
    eval_summary_print(&e, tf);
    fclose(tf);
    CHECK_CONTAINS(table, "                 Class     Images  Instances      Box(P          R"
                          "      mAP50  mAP50-95)\n");
    CHECK_CONTAINS(table, "                   all          2          1          1          1"
                          "          1          1\n");
    CHECK_CONTAINS(table, "                   dog          1          1          1          1");
    CHECK(strstr(table, "   cat ") == NULL);
    CHECK_CONTAINS(table, "area=   all | maxDets=100 ] = 1.000");

    char json[] = "/tmp/yoloc_metrics_XXXXXX";
    int fd = mkstemp(json);
    close(fd);
    CHECK_EQ_INT(eval_summary_write_json(&e, json), YOLOC_OK);
    FILE *jf = fopen(json, "rb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, jf);
    fclose(jf);
    jdoc doc;
    CHECK_EQ_INT(jdoc_parse(&doc, buf, n, json), YOLOC_OK);
    const jnode *all = jnode_get(doc.root, "all"), *cls = jnode_get(doc.root, "classes");
    CHECK(all && cls);
    CHECK_NEAR(jnode_get(all, "mAP50-95")->number, e.map5095, 0);
    CHECK_NEAR(jnode_get(all, "instances")->number, 1, 0);
    CHECK(jnode_get(cls, "dog") != NULL && jnode_get(cls, "cat") == NULL);
    const jnode *sk = jnode_get(doc.root, "skipped");
    CHECK_NEAR(jnode_get(sk, "files")->number, 1, 0);
    CHECK_NEAR(jnode_get(sk, "lines")->number, 5, 0);
    CHECK_STR(jnode_get(doc.root, "metric")->text, "coco");
    jdoc_free(&doc);
    unlink(json);
    eval_summary_free(&e);
    eval_set_free(&s);

    /* non-numeric stems: ids are positions; a missing folder is an error */
    ds_image im2[2] = {{"/x/a.jpg", "", 10, 10, 0, NULL}, {"/x/b.jpg", "", 10, 10, 0, NULL}};
    log_set_level(LOG_ERROR);
    CHECK_EQ_INT(eval_load_yolo(&s, im2, 2, 2, dir, 0.001, &rep), YOLOC_OK);
    CHECK_EQ_INT(s.images[1].id, 1);
    CHECK_EQ_INT(rep.files_skipped, 3); /* none of the files match a or b */
    eval_set_free(&s);
    CHECK_EQ_INT(eval_load_yolo(&s, im2, 2, 2, "/nonexistent/preds", 0.001, &rep),
                 YOLOC_ERR_NOT_FOUND);
    CHECK_CONTAINS(yoloc_last_error(), "pred=/nonexistent/preds");
    CHECK_EQ_INT(eval_load_yolo(&s, im2, 2, 2, dir, 2.0, &rep), YOLOC_ERR_INVALID);

    const char *files[] = {"000012.txt", "000345.txt", "999.txt", "readme.md"};
    for (int i = 0; i < 4; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    return test_finish("test_yolo_eval");
}
