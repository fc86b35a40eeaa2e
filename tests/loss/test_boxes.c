/* Box maths: hand-derived IoU/GIoU/DIoU/CIoU values, gradients of all four
 * against central finite differences (double), the anchor grid (count,
 * points, locate, cover superset) and the distance <-> box conversions. */
#include "core/rng.h"
#include "harness.h"
#include "ops/loss/boxes.h"

#include <math.h>
#include <string.h>

/* a = (0,0,4,4), b = (2,2,6,8):
 *  areas 16 and 24, intersection 2 x 2 = 4, union 36   -> IoU  = 1/9
 *  enclosing box 6 x 8 = 48                             -> GIoU = 1/9 - 12/48 = -5/36
 *  centres (2,2), (4,5): rho2 = 4 + 9 = 13; c2 = 36 + 64 = 100
 *                                                       -> DIoU = 1/9 - 0.13
 *  v = 4/pi^2 (atan(4/6) - atan(4/4))^2
 *    = 0.405284735 * (0.588002604 - 0.785398163)^2 = 0.0157919225
 *  alpha = v / (v - 1/9 + 1) = 0.0174557947
 *                                                       -> CIoU = DIoU - alpha v = -0.0191645494
 * eps = 1e-7 on heights and union moves these by < 1e-7. */
static void hand_values(void) {
    double a[4] = {0, 0, 4, 4}, b[4] = {2, 2, 6, 8};
    CHECK_NEAR(box_iou(a, b, BOX_IOU), 1.0 / 9.0, 1e-7);
    CHECK_NEAR(box_iou(a, b, BOX_GIOU), -5.0 / 36.0, 1e-7);
    CHECK_NEAR(box_iou(a, b, BOX_DIOU), 1.0 / 9.0 - 0.13, 1e-7);
    CHECK_NEAR(box_iou(a, b, BOX_CIOU), -0.0191645494, 2e-7);
    /* symmetric */
    CHECK_NEAR(box_iou(b, a, BOX_CIOU), box_iou(a, b, BOX_CIOU), 1e-12);
    /* identical boxes: IoU = 1 (up to eps), every penalty 0 */
    double c[4] = {10, 20, 30, 50};
    for (int k = 0; k < 4; k++) CHECK_NEAR(box_iou(c, c, (box_iou_kind)k), 1.0, 1e-8);
    /* disjoint: (0,0,1,1) and (3,0,4,1): IoU 0; enclosing 4 x 1 = 4, union 2
     * -> GIoU = -(4-2)/4 = -0.5; rho2 = 9, c2 = 16 + 1 = 17 -> DIoU = -9/17 */
    double d[4] = {0, 0, 1, 1}, e[4] = {3, 0, 4, 1};
    CHECK_NEAR(box_iou(d, e, BOX_IOU), 0.0, 1e-12);
    CHECK_NEAR(box_iou(d, e, BOX_GIOU), -0.5, 1e-7);
    CHECK_NEAR(box_iou(d, e, BOX_DIOU), -9.0 / 17.0, 1e-7);
    CHECK_NEAR(box_iou(d, e, BOX_CIOU), -9.0 / 17.0, 1e-7); /* same aspect: v = 0 */
}

/* CIoU's alpha is constant in the analytic gradient; the numeric check uses
 * a helper that freezes alpha at the unperturbed value. */
static double ciou_frozen(const double a[4], const double b[4], double alpha) {
    double eps = BOX_EPS;
    double w1 = a[2] - a[0], h1 = a[3] - a[1] + eps, w2 = b[2] - b[0], h2 = b[3] - b[1] + eps;
    double v = 4.0 / (M_PI * M_PI) * pow(atan(w2 / h2) - atan(w1 / h1), 2);
    return box_iou(a, b, BOX_DIOU) - alpha * v;
}
static double ciou_alpha(const double a[4], const double b[4]) {
    double eps = BOX_EPS;
    double w1 = a[2] - a[0], h1 = a[3] - a[1] + eps, w2 = b[2] - b[0], h2 = b[3] - b[1] + eps;
    double v = 4.0 / (M_PI * M_PI) * pow(atan(w2 / h2) - atan(w1 / h1), 2);
    return v / (v - box_iou(a, b, BOX_IOU) + 1.0 + eps);
}

static int grad_case(const double a0[4], const double b0[4], box_iou_kind kind, const char *name) {
    double ga[4] = {0}, gb[4] = {0};
    double gy = 1.7;
    box_iou_backward(a0, b0, kind, gy, ga, gb);
    double alpha = ciou_alpha(a0, b0);
    int ok = 1;
    for (int which = 0; which < 2; which++)
        for (int i = 0; i < 4; i++) {
            double a[4], b[4], h = 1e-6;
            for (int j = 0; j < 4; j++) a[j] = a0[j], b[j] = b0[j];
            double *x = which ? b : a;
            double keep = x[i];
            x[i] = keep + h;
            double fp = kind == BOX_CIOU ? ciou_frozen(a, b, alpha) : box_iou(a, b, kind);
            x[i] = keep - h;
            double fm = kind == BOX_CIOU ? ciou_frozen(a, b, alpha) : box_iou(a, b, kind);
            double num = gy * (fp - fm) / (2 * h), ana = which ? gb[i] : ga[i];
            if (!(fabs(num - ana) <= 1e-6 + 1e-5 * fabs(num))) {
                fprintf(stderr, "  %s d/d%c[%d]: numeric %.9g analytic %.9g\n", name,
                        which ? 'b' : 'a', i, num, ana);
                ok = 0;
            }
        }
    CHECK_MSG(ok, "%s gradient", name);
    return ok;
}

static void gradients(void) {
    static const char *kinds[4] = {"IoU", "GIoU", "DIoU", "CIoU"};
    double fixed[][8] = {
        {0, 0, 4, 4, 2, 2, 6, 8},                 /* partial overlap */
        {0, 0, 1, 1, 3, 0.2, 4, 1.5},             /* disjoint: only the penalties move */
        {1, 1, 9, 7, 2, 3, 5, 4},                 /* b inside a */
        {10.5, 3.25, 20.75, 40.5, 12, 1, 30, 35}, /* crossing */
    };
    char name[64];
    for (size_t c = 0; c < sizeof fixed / sizeof fixed[0]; c++)
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s fixed case %zu", kinds[k], c);
            grad_case(fixed[c], fixed[c] + 4, (box_iou_kind)k, name);
        }
    rng g;
    rng_seed(&g, 7);
    int bad = 0;
    for (int t = 0; t < 300; t++) {
        double a[4], b[4];
        a[0] = rng_range(&g, 0, 50), a[1] = rng_range(&g, 0, 50);
        a[2] = a[0] + rng_range(&g, 0.5, 40), a[3] = a[1] + rng_range(&g, 0.5, 40);
        b[0] = rng_range(&g, 0, 50), b[1] = rng_range(&g, 0, 50);
        b[2] = b[0] + rng_range(&g, 0.5, 40), b[3] = b[1] + rng_range(&g, 0.5, 40);
        snprintf(name, sizeof name, "%s random case %d", kinds[t % 4], t);
        if (!grad_case(a, b, (box_iou_kind)(t % 4), name)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* the cached-atan CIoU is the same value bit for bit */
    int differ = 0;
    for (int t = 0; t < 1000; t++) {
        double a[4], b[4];
        a[0] = rng_range(&g, 0, 50), a[1] = rng_range(&g, 0, 50);
        a[2] = a[0] + rng_range(&g, 0, 40), a[3] = a[1] + rng_range(&g, 0, 40);
        b[0] = rng_range(&g, 0, 50), b[1] = rng_range(&g, 0, 50);
        b[2] = b[0] + rng_range(&g, 0, 40), b[3] = b[1] + rng_range(&g, 0, 40);
        double u = box_iou(a, b, BOX_CIOU);
        double v = box_ciou_pre(a, b, box_aspect_atan(a), box_aspect_atan(b));
        differ += memcmp(&u, &v, sizeof u) != 0;
    }
    CHECK_EQ_INT(differ, 0);
    /* gradients accumulate (+=), and at a tie (a[2] == b[2]) the min/max
     * gradient is split so that moving both edges together matches the
     * numeric derivative of IoU((0,0,x,4), (2,0,x,4)) = 4(x-2) / (4x) at x = 4 */
    double a[4] = {0, 0, 4, 4}, b[4] = {2, 0, 4, 4}, ga[4] = {1, 1, 1, 1}, gb[4] = {0};
    box_iou_backward(a, b, BOX_IOU, 1.0, ga, gb);
    double num = (box_iou((double[]){0, 0, 4 + 1e-6, 4}, (double[]){2, 0, 4 + 1e-6, 4}, BOX_IOU) -
                  box_iou((double[]){0, 0, 4 - 1e-6, 4}, (double[]){2, 0, 4 - 1e-6, 4}, BOX_IOU)) /
                 2e-6;
    CHECK_NEAR(num, 2.0 / 16.0, 1e-6); /* d/dx (x-2)/x = 2/x^2 */
    CHECK_NEAR((ga[2] - 1) + gb[2], num, 1e-6);
}

static void grid(void) {
    int h[3] = {8, 4, 2}, w[3] = {10, 5, 3}, s[3] = {8, 16, 32};
    anchor_grid g;
    CHECK_EQ_INT(anchor_grid_init(&g, 3, h, w, s), YOLOC_OK);
    CHECK_EQ_INT(anchor_grid_count(&g), 80 + 20 + 6);
    float pts[2 * 106], st[106];
    anchor_grid_points(&g, pts, st);
    /* anchor 0: (0.5, 0.5) stride 8; anchor 11: level 0, y=1, x=1; anchor 80: level 1 (0,0);
     * anchor 105: level 2, y=1, x=2 */
    CHECK_NEAR(pts[0], 0.5, 0);
    CHECK_NEAR(pts[2 * 11], 1.5, 0);
    CHECK_NEAR(pts[2 * 11 + 1], 1.5, 0);
    CHECK_NEAR(st[80], 16, 0);
    CHECK_NEAR(pts[2 * 105], 2.5, 0);
    CHECK_NEAR(pts[2 * 105 + 1], 1.5, 0);
    CHECK_NEAR(st[105], 32, 0);
    int bad = 0;
    for (size_t a = 0; a < 106; a++) {
        int l, x, y;
        anchor_grid_locate(&g, a, &l, &x, &y);
        if (pts[2 * a] != x + 0.5f || pts[2 * a + 1] != y + 0.5f || st[a] != (float)s[l]) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* cover is a superset of the exact in-box test, on random and edge boxes */
    rng r;
    rng_seed(&r, 3);
    int missed = 0, tested = 0;
    for (int t = 0; t < 2000; t++) {
        float box[4];
        if (t % 4 == 0) { /* edges exactly on anchor centres */
            box[0] = (float)(8 * (int)rng_below(&r, 10) + 4),
            box[1] = (float)(8 * (int)rng_below(&r, 8) + 4);
            box[2] = box[0] + (float)(8 * (int)rng_below(&r, 6)), box[3] = box[1] + 8.0f;
        } else {
            box[0] = (float)rng_range(&r, -20, 90), box[1] = (float)rng_range(&r, -20, 70);
            box[2] = box[0] + (float)rng_range(&r, 0, 60),
            box[3] = box[1] + (float)rng_range(&r, 0, 60);
        }
        for (int l = 0; l < 3; l++) {
            int x0, x1, y0, y1;
            anchor_grid_cover(&g, l, box, &x0, &x1, &y0, &y1);
            for (int y = 0; y < h[l]; y++)
                for (int x = 0; x < w[l]; x++) {
                    int in = anchor_in_box((x + 0.5f) * s[l], (y + 0.5f) * s[l], box);
                    tested += in;
                    if (in && !(x >= x0 && x < x1 && y >= y0 && y < y1)) missed++;
                }
        }
    }
    CHECK_EQ_INT(missed, 0);
    CHECK(tested > 1000);
    /* strictness: a centre on the edge is outside */
    float edge[4] = {4, 4, 20, 20};
    CHECK(!anchor_in_box(4, 10, edge));
    CHECK(anchor_in_box(4.001f, 10, edge));
    /* bad grids */
    int z[1] = {0};
    CHECK_EQ_INT(anchor_grid_init(&g, 1, z, w, s), YOLOC_ERR_INVALID);
    CHECK_EQ_INT(anchor_grid_init(&g, 0, h, w, s), YOLOC_ERR_INVALID);
    CHECK_EQ_INT(anchor_grid_init(&g, ANCHOR_MAX_LEVELS + 1, h, w, s), YOLOC_ERR_INVALID);
    /* huge / NaN boxes give empty or clamped ranges, never a crash */
    float huge[4] = {-1e30f, -1e30f, 1e30f, 1e30f}, nanb[4] = {NAN, 0, 10, 10};
    int x0, x1, y0, y1;
    anchor_grid_cover(&g, 0, huge, &x0, &x1, &y0, &y1);
    CHECK(x0 == 0 && x1 == 10 && y0 == 0 && y1 == 8);
    anchor_grid_cover(&g, 0, nanb, &x0, &x1, &y0, &y1);
    CHECK(x0 >= 0 && x1 <= 10 && x0 <= x1);
}

static void dist(void) {
    double p[2] = {5.5, 3.5}, ltrb[4] = {1, 2, 3, 4}, xyxy[4], back[4];
    box_from_dist(p, ltrb, xyxy);
    CHECK_NEAR(xyxy[0], 4.5, 0);
    CHECK_NEAR(xyxy[1], 1.5, 0);
    CHECK_NEAR(xyxy[2], 8.5, 0);
    CHECK_NEAR(xyxy[3], 7.5, 0);
    box_to_dist(p, xyxy, 14.99, back);
    for (int i = 0; i < 4; i++) CHECK_NEAR(back[i], ltrb[i], 1e-12);
    /* clamping: a box far away / behind the point */
    double far[4] = {-100, 4, 0, 40};
    box_to_dist(p, far, 14.99, back);
    CHECK_NEAR(back[0], 14.99, 0); /* 105.5 clamped */
    CHECK_NEAR(back[1], 0, 0);     /* point above the box: -0.5 clamped to 0 */
    CHECK_NEAR(back[2], 0, 0);     /* -5.5 clamped */
    CHECK_NEAR(back[3], 14.99, 0); /* 36.5 clamped */
}

int main(void) {
    hand_values();
    gradients();
    grid();
    dist();
    return test_finish("test_boxes");
}
