/* pycocotools parity: tests/eval/fixtures/coco_{gt,dt}.json evaluated by
 * yoloc must give the stats pycocotools' COCOeval gave
 * (coco_expected.json, made by tools/make_coco_fixture.py) to 1e-4 (the
 * differences are printed; they are expected to be ~1e-16), per-category
 * AP / AP50 / AR100 too, and the Ultralytics-method numbers of the NumPy
 * re-statement in the same script. Then a write/read round trip of both
 * JSON files, and bad JSON input. */
#include "eval/coco.h"
#include "eval/metrics.h"
#include "harness.h"
#include "io/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX YOLOC_SOURCE_DIR "/tests/eval/fixtures/"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    *len = (size_t)n;
    return b;
}

static double num(const jnode *o, const char *k) {
    const jnode *n = jnode_get(o, k);
    return n && n->kind == JSON_NUMBER ? n->number : NAN;
}

static double worst = 0;
static void near(const char *what, double got, double want, double tol) {
    double d = fabs(got - want);
    if (d > worst) worst = d;
    CHECK_MSG(d <= tol, "%s: yoloc %.17g, reference %.17g (diff %.3g, tol %g)", what, got, want, d,
              tol);
}

int main(void) {
    size_t len;
    char *text = slurp(FIX "coco_expected.json", &len);
    CHECK(text != NULL);
    if (!text) return test_finish("test_coco");
    jdoc exp;
    CHECK_EQ_INT(jdoc_parse(&exp, text, len, "coco_expected.json"), YOLOC_OK);
    const jnode *stats = jnode_get(exp.root, "stats"), *per = jnode_get(exp.root, "per_category");
    const jnode *ul = jnode_get(exp.root, "ultralytics");
    CHECK(stats && stats->n == 12 && per && ul);

    eval_set s;
    char **names = NULL;
    CHECK_EQ_INT(coco_load(&s, FIX "coco_gt.json", FIX "coco_dt.json", &names), YOLOC_OK);
    CHECK_EQ_INT(s.nc, 5);
    CHECK_EQ_INT(s.nimages, 9);
    CHECK(s.ndets > 200);
    CHECK_STR(names[0], "person");
    CHECK_EQ_INT(s.cat_ids[4], 8);

    /* COCO method */
    coco_result r;
    CHECK_EQ_INT(eval_coco(&s, &r), YOLOC_OK);
    static const char *sn[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                 "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
    for (int i = 0; i < 12; i++) near(sn[i], r.stats[i], stats->items[i]->number, 1e-4);
    for (int k = 0; k < s.nc; k++) {
        char key[32], what[64];
        snprintf(key, sizeof key, "%lld", (long long)s.cat_ids[k]);
        const jnode *c = jnode_get(per, key);
        CHECK(c != NULL);
        snprintf(what, sizeof what, "category %s AP", key);
        near(what, r.ap[k], num(c, "ap"), 1e-4);
        snprintf(what, sizeof what, "category %s AP50", key);
        near(what, r.ap50[k], num(c, "ap50"), 1e-4);
        snprintf(what, sizeof what, "category %s AR100", key);
        near(what, r.ar100[k], num(c, "ar100"), 1e-4);
    }
    printf("  pycocotools parity: max |diff| %.3g over 12 stats + %d x 3 per category\n", worst,
           s.nc);
    CHECK_NEAR(r.ap[3], -1, 0); /* category 5: nothing */
    CHECK_NEAR(r.ap[4], -1, 0); /* category 8: detections only */

    /* Ultralytics method on the same data (crowd boxes left out) */
    worst = 0;
    ul_metrics m;
    CHECK_EQ_INT(eval_ultralytics(&s, &m), YOLOC_OK);
    near("ultralytics mP", m.mp, num(ul, "mp"), 1e-9);
    near("ultralytics mR", m.mr, num(ul, "mr"), 1e-9);
    near("ultralytics mAP50", m.map50, num(ul, "map50"), 1e-9);
    near("ultralytics mAP50-95", m.map5095, num(ul, "map5095"), 1e-9);
    near("ultralytics conf", m.conf_at, num(ul, "conf_at"), 1e-12);
    const jnode *ucls = jnode_get(ul, "classes");
    CHECK_EQ_INT(m.nap, ucls ? ucls->n : 0);
    for (size_t i = 0; i < m.nap; i++) {
        char key[32], what[64];
        snprintf(key, sizeof key, "%lld", (long long)s.cat_ids[m.ap_class[i]]);
        const jnode *c = jnode_get(ucls, key);
        CHECK(c != NULL);
        snprintf(what, sizeof what, "ultralytics class %s P", key);
        near(what, m.p[i], num(c, "p"), 1e-9);
        snprintf(what, sizeof what, "ultralytics class %s R", key);
        near(what, m.r[i], num(c, "r"), 1e-9);
        snprintf(what, sizeof what, "ultralytics class %s AP50", key);
        near(what, m.ap50[i], num(c, "ap50"), 1e-9);
        snprintf(what, sizeof what, "ultralytics class %s AP50-95", key);
        near(what, m.ap5095[i], num(c, "ap5095"), 1e-9);
        CHECK_EQ_INT(m.nt_per_class[m.ap_class[i]], (long long)num(c, "instances"));
    }
    printf("  ultralytics re-statement parity: max |diff| %.3g\n", worst);
    ul_metrics_free(&m);

    /* round trip through yoloc's own JSON writers */
    char gt_path[] = "/tmp/yoloc_coco_gt_XXXXXX", dt_path[] = "/tmp/yoloc_coco_dt_XXXXXX";
    int f1 = mkstemp(gt_path), f2 = mkstemp(dt_path);
    CHECK(f1 >= 0 && f2 >= 0);
    close(f1), close(f2);
    CHECK_EQ_INT(coco_write_gt(&s, (const char *const *)names, NULL, gt_path), YOLOC_OK);
    CHECK_EQ_INT(coco_write_results(&s, dt_path), YOLOC_OK);
    eval_set s2;
    CHECK_EQ_INT(coco_load(&s2, gt_path, dt_path, NULL), YOLOC_OK);
    coco_result r2;
    CHECK_EQ_INT(eval_coco(&s2, &r2), YOLOC_OK);
    int same = 1;
    for (int i = 0; i < 12; i++) same &= r2.stats[i] == r.stats[i];
    CHECK_MSG(same, "stats after a JSON round trip differ");
    coco_result_free(&r2);
    eval_set_free(&s2);

    /* bad input: a result for an unknown image, a broken file, a missing file */
    FILE *f = fopen(dt_path, "w");
    fprintf(f, "[{\"image_id\": 999, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 0.5}]");
    fclose(f);
    CHECK_EQ_INT(coco_load(&s2, FIX "coco_gt.json", dt_path, NULL), YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "image_id 999");
    f = fopen(dt_path, "w");
    fprintf(f, "[{\"image_id\": 3, \"category_id\": 1, \"bbox\": [0,0,1], \"score\": 0.5}]");
    fclose(f);
    CHECK_EQ_INT(coco_load(&s2, FIX "coco_gt.json", dt_path, NULL), YOLOC_ERR_PARSE);
    CHECK_CONTAINS(yoloc_last_error(), "[0]");
    f = fopen(dt_path, "w");
    fprintf(f, "[{\"image_id\": 3,");
    fclose(f);
    CHECK(coco_load(&s2, FIX "coco_gt.json", dt_path, NULL) < 0);
    CHECK_EQ_INT(coco_load(&s2, "/nonexistent/gt.json", NULL, NULL), YOLOC_ERR_IO);
    unlink(gt_path);
    unlink(dt_path);

    coco_result_free(&r);
    coco_names_free(names, s.nc);
    eval_set_free(&s);
    jdoc_free(&exp);
    free(text);
    return test_finish("test_coco");
}
