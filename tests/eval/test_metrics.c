/* Metrics: a 2-image, 3-class case whose AP is derived by hand for both
 * methods (Ultralytics trapezoid, COCO 101-point), the confusion matrix of
 * the same case, the match_predictions quirk, and the NumPy helpers. */
#include "eval/coco.h"
#include "eval/metrics.h"
#include "eval/npmath.h"
#include "harness.h"

#include <math.h>
#include <string.h>

/* The case (boxes x, y, w, h in a 100 x 100 image; classes 0, 1, 2):
 *   image 1: G1 class 0 (0,0,10,10), G2 class 1 (50,50,20,20)
 *            D1 class 0 (0,0,10,10)   0.9   IoU(G1) 1     -> TP at every threshold
 *            D2 class 0 (0,0,10,10)   0.8   duplicate     -> FP
 *            D3 class 1 (50,50,20,15.5) 0.7 IoU(G2) = 310/400 = 0.775
 *                                                         -> TP for t <= 0.75 (6 of 10), FP above
 *   image 2: G3 class 0 (20,20,10,10)
 *            D4 class 0 (20,20,10,10) 0.6   IoU 1         -> TP
 *            D5 class 2 (0,0,5,5)     0.5   class 2 has no ground truth
 *
 * Ultralytics method. Class 0: 2 labels; detections by confidence D1 TP,
 * D2 FP, D4 TP: recall (0.5, 0.5, 1), precision (1, 0.5, 2/3).
 *   mrec = (0, .5, .5, 1, 1), envelope mpre = (1, 1, 2/3, 2/3, 0);
 *   on x = 0, .01, ..., 1: y = 1 for x < .5, 2/3 for .5 <= x < 1, 0 at 1
 *   (interp takes the last equal xp at x = .5 and at x = 1);
 *   trapezoid: 49 * .01 + .01 (1 + 2/3)/2 + 49 * .01 * 2/3 + .01 (2/3)/2
 *            = .49 + .008333 + .326667 + .003333 = 0.828333 at every threshold.
 * Class 1: 1 label, D3 TP at 6 thresholds: recall 1, precision 1 ->
 *   y = 1 on [0, 1), 0 at 1 -> AP = .99 + .005 = 0.995; at the 4 others AP 0.
 *   AP50 = 0.995, AP50-95 = 6 * 0.995 / 10 = 0.597.
 * Class 2: no labels, not an AP class.
 *   mAP50 = (0.828333 + 0.995) / 2 = 0.911667
 *   mAP50-95 = (0.828333 + 0.597) / 2 = 0.712667
 * P/R: the mean F1 over the classes is 0.9 for confidences x <= 0.6 (class 0:
 * p 2/3, r 1, F1 0.8; class 1: F1 1) and lower above, so the smoothed curve
 * peaks first at x = 0: P = (2/3, 1), R = (1, 1), mP = 0.833333, mR = 1.
 *
 * COCO method (area all, maxDets 100). Class 0: merged D1 TP, D2 FP, D4 TP,
 * 2 ground truths: recall (.5, .5, 1), precision envelope (1, 2/3, 2/3);
 * recall points r = 0 .. 0.5 (51 of them) take precision 1, r = .51 .. 1
 * (50) take 2/3: AP = (51 + 50 * 2/3) / 101 = 0.834983 at every threshold.
 * Class 1: 1 at the 6 thresholds D3 matches, 0 at the other 4: AP 0.6, AP50 1.
 * Class 2: detections but no ground truth -> -1, left out.
 *   AP = (0.834983 + 0.6) / 2 = 0.717492; AP50 = AP75 = (0.834983 + 1)/2 = 0.917492
 *   every box is small (areas 100, 400, 100; detections <= 310): AP small =
 *   AP, medium and large -1; AR@1 = AR@10 = AR@100 = (10 * 1 + 6 * 1) / 20 = 0.8. */
static void hand_set(eval_set *s) {
    eval_gt g1[2] = {{0, 0, 10, 10, 100, 0, 0}, {50, 50, 20, 20, 400, 1, 0}};
    eval_det d1[3] = {{0, 0, 10, 10, 0.9, 0}, {0, 0, 10, 10, 0.8, 0}, {50, 50, 20, 15.5, 0.7, 1}};
    eval_gt g2[1] = {{20, 20, 10, 10, 100, 0, 0}};
    eval_det d2[2] = {{20, 20, 10, 10, 0.6, 0}, {0, 0, 5, 5, 0.5, 2}};
    CHECK_EQ_INT(eval_set_init(s, 3), YOLOC_OK);
    CHECK_EQ_INT(eval_set_add_image(s, 1, 100, 100, g1, 2, d1, 3), YOLOC_OK);
    CHECK_EQ_INT(eval_set_add_image(s, 2, 100, 100, g2, 1, d2, 2), YOLOC_OK);
}

static void hand_ultralytics(void) {
    eval_set s;
    hand_set(&s);
    ul_metrics m;
    CHECK_EQ_INT(eval_ultralytics(&s, &m), YOLOC_OK);
    double ap0 = 0.49 + 0.01 * (1 + 2.0 / 3) / 2 + 0.49 * 2.0 / 3 + 0.01 * (2.0 / 3) / 2;
    CHECK_NEAR(ap0, 0.8283333333, 1e-9);
    CHECK_EQ_INT(m.nap, 2);
    CHECK_EQ_INT(m.ap_class[0], 0);
    CHECK_EQ_INT(m.ap_class[1], 1);
    CHECK_EQ_INT(m.nt_per_class[0], 2);
    CHECK_EQ_INT(m.nt_per_image[0], 2);
    CHECK_EQ_INT(m.nt_per_class[2], 0);
    for (int t = 0; t < EVAL_NIOU; t++) CHECK_NEAR(m.ap[t], ap0, 1e-12);
    for (int t = 0; t < EVAL_NIOU; t++) CHECK_NEAR(m.ap[EVAL_NIOU + t], t < 6 ? 0.995 : 0.0, 1e-12);
    CHECK_NEAR(m.ap50[1], 0.995, 1e-12);
    CHECK_NEAR(m.ap5095[1], 0.597, 1e-12);
    CHECK_NEAR(m.map50, (ap0 + 0.995) / 2, 1e-12);
    CHECK_NEAR(m.map5095, (ap0 + 0.597) / 2, 1e-12);
    CHECK_NEAR(m.p[0], 2.0 / 3, 1e-12);
    CHECK_NEAR(m.r[0], 1.0, 1e-12);
    CHECK_NEAR(m.p[1], 1.0, 1e-12);
    CHECK_NEAR(m.mp, (2.0 / 3 + 1) / 2, 1e-12);
    CHECK_NEAR(m.mr, 1.0, 1e-12);
    CHECK_NEAR(m.conf_at, 0.0, 0);
    ul_metrics_free(&m);
    eval_set_free(&s);
}

static void hand_coco(void) {
    eval_set s;
    hand_set(&s);
    coco_result r;
    CHECK_EQ_INT(eval_coco(&s, &r), YOLOC_OK);
    double ap0 = (51 + 50 * 2.0 / 3) / 101;
    double want[12] = {(ap0 + 0.6) / 2,
                       (ap0 + 1) / 2,
                       (ap0 + 1) / 2,
                       (ap0 + 0.6) / 2,
                       -1,
                       -1,
                       0.8,
                       0.8,
                       0.8,
                       0.8,
                       -1,
                       -1};
    for (int i = 0; i < 12; i++) CHECK_NEAR(r.stats[i], want[i], 1e-12);
    CHECK_NEAR(r.ap[0], ap0, 1e-12);
    CHECK_NEAR(r.ap[1], 0.6, 1e-12);
    CHECK_NEAR(r.ap50[1], 1.0, 1e-12);
    CHECK_NEAR(r.ap[2], -1, 0);
    CHECK_NEAR(r.ar100[1], 0.6, 1e-12);
    coco_result_free(&r);

    /* the same set without detections: 0; a class that only has detections: -1 */
    eval_set e;
    eval_set_init(&e, 3);
    eval_gt g[1] = {{0, 0, 10, 10, 100, 0, 0}};
    eval_set_add_image(&e, 5, 50, 50, g, 1, NULL, 0);
    CHECK_EQ_INT(eval_coco(&e, &r), YOLOC_OK);
    CHECK_NEAR(r.stats[0], 0.0, 0);
    CHECK_NEAR(r.stats[1], 0.0, 0);
    coco_result_free(&r);
    ul_metrics m;
    CHECK_EQ_INT(eval_ultralytics(&e, &m), YOLOC_OK);
    CHECK_NEAR(m.map50, 0.0, 0);
    CHECK_NEAR(m.map5095, 0.0, 0);
    ul_metrics_free(&m);
    eval_set_free(&e);
    /* duplicate image ids are refused */
    eval_set d;
    eval_set_init(&d, 1);
    eval_set_add_image(&d, 7, 10, 10, NULL, 0, NULL, 0);
    eval_set_add_image(&d, 7, 10, 10, NULL, 0, NULL, 0);
    CHECK_EQ_INT(eval_coco(&d, &r), YOLOC_ERR_INVALID);
    eval_set_free(&d);
    eval_set_free(&s);
}

/* Confusion matrix of the hand case (conf 0.25, IoU 0.45):
 * image 1: pairs above 0.45 are (G1,D1) 1, (G1,D2) 1, (G2,D3) 0.775. Sorted
 * by IoU with ties reversed: (G1,D2), (G1,D1), (G2,D3); one per detection,
 * ordered by detection: D1, D2, D3; sorted again (ties reversed): (G1,D2)
 * first, so G1 pairs with D2: [0][0]++; G2 with D3: [1][1]++; D1 is left:
 * [0][bg]++. Image 2: G3-D4 [0][0]++, D5 (class 2) unmatched: [2][bg]++. */
static void confusion(void) {
    eval_set s;
    hand_set(&s);
    eval_confusion c;
    CHECK_EQ_INT(eval_confusion_init(&c, 3, EVAL_CONFUSION_CONF, EVAL_CONFUSION_IOU), YOLOC_OK);
    for (size_t i = 0; i < s.nimages; i++) {
        const eval_image *im = &s.images[i];
        CHECK_EQ_INT(eval_confusion_add(&c, s.gts + im->gt0, im->ngt, s.dets + im->det0, im->ndet),
                     YOLOC_OK);
    }
    uint64_t want[16] = {0};
    want[0 * 4 + 0] = 2, want[1 * 4 + 1] = 1, want[0 * 4 + 3] = 1, want[2 * 4 + 3] = 1;
    int same = 1;
    for (int i = 0; i < 16; i++) same &= c.m[i] == want[i];
    CHECK(same);
    /* an image without labels: every detection above conf is a background FP;
     * below conf ignored; labels without detections are background FN */
    eval_det d[2] = {{0, 0, 5, 5, 0.9, 1}, {0, 0, 5, 5, 0.2, 1}};
    eval_confusion_add(&c, NULL, 0, d, 2);
    CHECK_EQ_INT(c.m[1 * 4 + 3], 1);
    eval_gt g[1] = {{0, 0, 5, 5, 25, 2, 0}};
    eval_confusion_add(&c, g, 1, NULL, 0);
    CHECK_EQ_INT(c.m[3 * 4 + 2], 1);
    eval_confusion_free(&c);
    eval_set_free(&s);
}

/* match_predictions: each detection takes its best label, then each label
 * its lowest-index detection. L0 (0,0,10,10), L1 (2,0,10,10); d0
 * (1.5,0,10,10): IoU L1 95/105 = 0.905, L0 85/115 = 0.739; d1 = L1: IoU 1,
 * L0 80/120 = 0.667. Both detections' best label is L1; L1 goes to d0, so d1
 * is a false positive although L0 is free (COCO's greedy matching would give
 * d1 to L0 at t <= 0.65). d0 is correct up to t = 0.9 (0.905 >= 0.9); at
 * t = 0.95 only (L1, d1) qualifies and d1 is correct there. */
static void match_quirk(void) {
    eval_gt g[2] = {{0, 0, 10, 10, 100, 0, 0}, {2, 0, 10, 10, 100, 0, 0}};
    eval_det d[2] = {{1.5, 0, 10, 10, 0.9, 0}, {2, 0, 10, 10, 0.8, 0}};
    unsigned char c[2 * EVAL_NIOU];
    eval_match_image(g, 2, d, 2, c);
    for (int t = 0; t < EVAL_NIOU; t++) {
        CHECK_EQ_INT(c[t], t < 9);
        CHECK_EQ_INT(c[EVAL_NIOU + t], t == 9);
    }
    /* classes must agree */
    d[0].cls = 1;
    eval_match_image(g, 2, d, 1, c);
    CHECK_EQ_INT(c[0], 0);
}

static void numpy_helpers(void) {
    /* linspace(.5, .95, 10): the 9th is 0.8999999999999999 in NumPy */
    CHECK(np_linspace_at(0.5, 0.95, 10, 8) == 0.8999999999999999);
    CHECK(np_linspace_at(0.5, 0.95, 10, 9) == 0.95);
    CHECK(np_linspace_at(0, 1, 1000, 1) == 1.0 / 999);
    /* interp with repeated xp takes the last equal one; left/right */
    double xp[5] = {0, 0.5, 0.5, 1, 1}, fp[5] = {1, 1, 0.25, 0.25, 0};
    CHECK_NEAR(np_interp(0.5, xp, fp, 5, 9, 9), 0.25, 0);
    CHECK_NEAR(np_interp(1.0, xp, fp, 5, 9, 9), 0.0, 0);
    CHECK_NEAR(np_interp(0.25, xp, fp, 5, 9, 9), 1.0, 0);
    CHECK_NEAR(np_interp(-1, xp, fp, 5, 7, 9), 7, 0);
    CHECK_NEAR(np_interp(2, xp, fp, 5, 7, 9), 9, 0);
    double lin[2] = {0, 10}, lf[2] = {0, 1};
    CHECK_NEAR(np_interp(2.5, lin, lf, 2, 0, 0), 0.25, 1e-15);
    /* pairwise sum: np.sum of 100 x 0.1 is 9.999999999999998 with NumPy's
     * blocks of 8 (a plain loop gives 9.99999999999998) */
    double a[100];
    for (int i = 0; i < 100; i++) a[i] = 0.1;
    CHECK(np_sum(a, 100) == 9.999999999999998);
}

int main(void) {
    hand_ultralytics();
    hand_coco();
    confusion();
    match_quirk();
    numpy_helpers();
    return test_finish("test_metrics");
}
