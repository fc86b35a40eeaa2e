/* The synthetic shape-detection dataset (contract in synth.h).
 *
 * A scene is drawn from an RNG seeded with (seed, split, index) only, so
 * boxes (synth_boxes) and pixels (synth_render) agree and any thread can
 * render any image. Geometry is built in pixel coordinates: polygons as
 * vertex lists, ellipses and rings as centre + radii; the box of a shape is
 * the box of its path, widened by half the stroke for outlined shapes (a
 * round-joined stroke is the path swept by a disc of that radius). */
#include "data/synth.h"

#include "core/kv.h"
#include "core/rng.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    SHAPE_RECT = 0,
    SHAPE_ELLIPSE,
    SHAPE_TRIANGLE,
    SHAPE_CROSS,
    SHAPE_RING,
    SHAPE_STAR,
    SHAPE_HEXAGON,
    SHAPE_ARROW
};
enum { STYLE_FILLED = 0, STYLE_OUTLINED, STYLE_HOLLOW };
enum { BG_FLAT = 0, BG_GRADIENT, BG_STRIPES };

static const char *const SYNTH_NAMES[SYNTH_MAX_CLASSES] = {
    "rectangle", "ellipse", "triangle", "cross", "ring", "star", "hexagon", "arrow"};

#define MAX_VERTS   12
#define PLACE_TRIES 30

typedef struct {
    int cls, style;
    double fill[3], line[3]; /* colours in [0, 1] */
    double lw;               /* stroke width (STYLE_OUTLINED / STYLE_HOLLOW) */
    int nv;                  /* polygon vertices (0 for ellipse / ring) */
    double vx[MAX_VERTS], vy[MAX_VERTS];
    double cx, cy, rx, ry, inner; /* ellipse / ring: centre, radii, hole ratio */
    double x0, y0, x1, y1;        /* exact box in pixels, stroke included */
} synth_obj;

typedef struct {
    int bg;
    double c0[3], c1[3]; /* background colours in [0, 255] */
    double angle, period;
    double noise; /* standard deviation of the pixel noise, 0-255 scale */
    int nobj;
    synth_obj obj[SYNTH_MAX_OBJECTS];
} synth_scene;

int synth_is_spec(const char *data) {
    return data && strncmp(data, "synth", 5) == 0 && (data[5] == 0 || data[5] == ':');
}

const char *synth_class_name(int cls) {
    return cls >= 0 && cls < SYNTH_MAX_CLASSES ? SYNTH_NAMES[cls] : "?";
}

status synth_parse(const char *spec, synth_params *p) {
    memset(p, 0, sizeof *p);
    p->classes = 3;
    p->ntrain = 512;
    p->imgsz = 320;
    long val = -1;
    if (!synth_is_spec(spec))
        return err_set(YOLOC_ERR_INVALID, "data=%s: not a synthetic dataset spec (synth:k=v,...)",
                       spec);
    const char *s = spec[5] == ':' ? spec + 6 : "";
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        char item[128];
        if (n >= sizeof item) return err_set(YOLOC_ERR_INVALID, "data=%s: item too long", spec);
        memcpy(item, s, n);
        item[n] = 0;
        s += n + (comma ? 1 : 0);
        if (n == 0) continue;
        char *eq = strchr(item, '=');
        long v;
        if (!eq || parse_long(eq + 1, &v) != 0)
            return err_set(YOLOC_ERR_INVALID, "data=%s: '%s' is not key=integer", spec, item);
        *eq = 0;
        static const struct {
            const char *key;
            long lo, hi;
        } keys[] = {{"classes", 1, SYNTH_MAX_CLASSES},
                    {"images", 1, 10000000},
                    {"val", 1, 10000000},
                    {"test", 0, 10000000},
                    {"imgsz", 32, 4096},
                    {"seed", 0, 0x7fffffffL},
                    {"plain", 0, 1}};
        int k = -1;
        for (int i = 0; i < 7; i++)
            if (strcmp(item, keys[i].key) == 0) k = i;
        if (k < 0)
            return err_set(YOLOC_ERR_INVALID,
                           "data=%s: unknown key '%s' (allowed: classes, images, val, test, imgsz, "
                           "seed, plain)",
                           spec, item);
        if (v < keys[k].lo || v > keys[k].hi)
            return err_set(YOLOC_ERR_INVALID, "data=%s: %s=%ld is outside [%ld, %ld]", spec, item,
                           v, keys[k].lo, keys[k].hi);
        switch (k) {
        case 0:
            p->classes = (int)v;
            break;
        case 1:
            p->ntrain = (size_t)v;
            break;
        case 2:
            val = v;
            break;
        case 3:
            p->ntest = (size_t)v;
            break;
        case 4:
            p->imgsz = (int)v;
            break;
        case 5:
            p->seed = (uint64_t)v;
            break;
        default:
            p->plain = (int)v;
            break;
        }
    }
    p->nval = val > 0 ? (size_t)val : (p->ntrain / 4 ? p->ntrain / 4 : 1);
    return YOLOC_OK;
}

/* ------------------------------------------------------------- scenes -- */

static void random_colour(rng *r, double c[3]) {
    for (int i = 0; i < 3; i++) c[i] = rng_range(r, 0, 255);
}

static double colour_dist(const double a[3], const double b[3]) {
    double d = 0;
    for (int i = 0; i < 3; i++) d += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(d);
}

/* The first of 20 random colours at least `min_dist` away from both
 * colours to avoid (else the one farthest from the nearer of them). Always
 * draws 20, so the rest of the scene does not depend on the background
 * (plain=1 keeps the boxes). */
static void contrast_colour(rng *r, const double avoid1[3], const double avoid2[3], double min_dist,
                            double out[3]) {
    double best = -1;
    int found = 0;
    for (int t = 0; t < 20; t++) {
        double c[3];
        random_colour(r, c);
        double d = fmin(colour_dist(c, avoid1), colour_dist(c, avoid2));
        if (found) continue;
        if (d > best) best = d, memcpy(out, c, sizeof c);
        if (d >= min_dist) found = 1;
    }
}

/* Unit-size outline of a polygon class centred on 0 (before rotation). */
static int shape_polygon(int cls, rng *r, double *vx, double *vy) {
    int n = 0;
    switch (cls) {
    case SHAPE_RECT: {
        double a = rng_range(r, 0.35, 1.0);
        int swap = rng_below(r, 2);
        double hw = swap ? a : 1, hh = swap ? 1 : a;
        double xs[4] = {-hw, hw, hw, -hw}, ys[4] = {-hh, -hh, hh, hh};
        for (n = 0; n < 4; n++) vx[n] = xs[n], vy[n] = ys[n];
        break;
    }
    case SHAPE_TRIANGLE:
        for (n = 0; n < 3; n++) {
            double t = -M_PI / 2 + n * 2 * M_PI / 3 + rng_range(r, -0.15, 0.15);
            vx[n] = cos(t), vy[n] = sin(t);
        }
        break;
    case SHAPE_CROSS: {
        double t = rng_range(r, 0.22, 0.34);
        double xs[12] = {-t, t, t, 1, 1, t, t, -t, -t, -1, -1, -t};
        double ys[12] = {-1, -1, -t, -t, t, t, 1, 1, t, t, -t, -t};
        for (n = 0; n < 12; n++) vx[n] = xs[n], vy[n] = ys[n];
        break;
    }
    case SHAPE_STAR:
        for (n = 0; n < 10; n++) {
            double rad = n % 2 ? 0.42 : 1.0, t = -M_PI / 2 + n * M_PI / 5;
            vx[n] = rad * cos(t), vy[n] = rad * sin(t);
        }
        break;
    case SHAPE_HEXAGON:
        for (n = 0; n < 6; n++) vx[n] = cos(n * M_PI / 3), vy[n] = sin(n * M_PI / 3);
        break;
    default: { /* arrow pointing +x */
        double xs[7] = {-1, 0.1, 0.1, 1, 0.1, 0.1, -1};
        double ys[7] = {-0.2, -0.2, -0.55, 0, 0.55, 0.2, 0.2};
        for (n = 0; n < 7; n++) vx[n] = xs[n], vy[n] = ys[n];
        break;
    }
    }
    return n;
}

/* Builds object geometry of class cls and target size S (the longer box
 * side) centred on the origin; returns its half-extents via the box. */
static void shape_make(synth_obj *o, int cls, double S, rng *r) {
    o->cls = cls;
    o->nv = 0;
    if (cls == SHAPE_ELLIPSE || cls == SHAPE_RING) {
        double a = cls == SHAPE_RING ? rng_range(r, 0.8, 1.0) : rng_range(r, 0.45, 0.9);
        int swap = rng_below(r, 2);
        o->rx = S / 2 * (swap ? a : 1);
        o->ry = S / 2 * (swap ? 1 : a);
        o->inner = rng_range(r, 0.45, 0.65);
        o->cx = o->cy = 0;
        o->x0 = -o->rx, o->x1 = o->rx, o->y0 = -o->ry, o->y1 = o->ry;
        return;
    }
    double vx[MAX_VERTS], vy[MAX_VERTS];
    int n = shape_polygon(cls, r, vx, vy);
    double ang = 0;
    if (cls == SHAPE_CROSS)
        ang = rng_range(r, -0.35, 0.35);
    else if (cls != SHAPE_RECT)
        ang = rng_range(r, 0, 2 * M_PI);
    double ca = cos(ang), sa = sin(ang);
    double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
    for (int k = 0; k < n; k++) {
        double x = vx[k] * ca - vy[k] * sa, y = vx[k] * sa + vy[k] * ca;
        vx[k] = x, vy[k] = y;
        x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
    }
    double scale = S / fmax(x1 - x0, y1 - y0);
    double mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
    for (int k = 0; k < n; k++) o->vx[k] = (vx[k] - mx) * scale, o->vy[k] = (vy[k] - my) * scale;
    o->nv = n;
    o->x0 = (x0 - mx) * scale, o->x1 = (x1 - mx) * scale;
    o->y0 = (y0 - my) * scale, o->y1 = (y1 - my) * scale;
}

static void shape_move(synth_obj *o, double dx, double dy) {
    for (int k = 0; k < o->nv; k++) o->vx[k] += dx, o->vy[k] += dy;
    o->cx += dx, o->cy += dy;
    o->x0 += dx, o->x1 += dx, o->y0 += dy, o->y1 += dy;
}

static double box_inter(const synth_obj *a, const synth_obj *b) {
    double w = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), h = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
    return w > 0 && h > 0 ? w * h : 0;
}

static void scene_make(const synth_params *p, int split, size_t index, synth_scene *sc) {
    rng r;
    rng_seed_keys(&r, p->seed, 0x53594e5448ull + (uint64_t)split, (uint64_t)index, 0);
    memset(sc, 0, sizeof *sc);
    double N = p->imgsz;
    sc->bg = (int)rng_below(&r, 3);
    random_colour(&r, sc->c0);
    for (int i = 0; i < 3; i++) sc->c1[i] = fmin(255, fmax(0, sc->c0[i] + rng_range(&r, -70, 70)));
    sc->angle = rng_range(&r, 0, M_PI);
    sc->period = rng_range(&r, 6, 40);
    sc->noise = rng_range(&r, 0, 10);
    if (p->plain) {
        sc->bg = BG_FLAT;
        sc->noise = 0;
        memcpy(sc->c1, sc->c0, sizeof sc->c1);
    }
    double bg_mean[3];
    for (int i = 0; i < 3; i++) bg_mean[i] = (sc->c0[i] + sc->c1[i]) / 2;
    int want = rng_uniform(&r) < 0.03 ? 0 : 1 + (int)rng_below(&r, SYNTH_MAX_OBJECTS - 2);
    double smin = fmin(8, N / 4), smax = 0.6 * N;
    for (int k = 0; k < want; k++) {
        for (int t = 0; t < PLACE_TRIES; t++) {
            synth_obj o;
            memset(&o, 0, sizeof o);
            int cls = (int)rng_below(&r, (uint32_t)p->classes);
            double S = exp(rng_range(&r, log(smin), log(smax)));
            shape_make(&o, cls, S, &r);
            int hollow_ok = cls != SHAPE_ELLIPSE && cls != SHAPE_RING && S >= 16;
            double u = rng_uniform(&r);
            o.style = S < 16                     ? STYLE_FILLED
                      : u < 0.5                  ? STYLE_FILLED
                      : (u < 0.75 || !hollow_ok) ? STYLE_OUTLINED
                                                 : STYLE_HOLLOW;
            o.lw = o.style == STYLE_HOLLOW ? fmax(1.5, 0.1 * S) : fmax(1.0, 0.06 * S);
            if (o.style != STYLE_FILLED) {
                o.x0 -= o.lw / 2, o.y0 -= o.lw / 2, o.x1 += o.lw / 2, o.y1 += o.lw / 2;
            }
            double bw = o.x1 - o.x0, bh = o.y1 - o.y0;
            if (bw >= N - 2 || bh >= N - 2) continue;
            /* place the box inside the image with a 1-pixel margin */
            double px = rng_range(&r, 1, N - 1 - bw), py = rng_range(&r, 1, N - 1 - bh);
            shape_move(&o, px - o.x0, py - o.y0);
            int ok = 1;
            for (int j = 0; j < sc->nobj && ok; j++) {
                const synth_obj *q = &sc->obj[j];
                double aq = (q->x1 - q->x0) * (q->y1 - q->y0);
                if (box_inter(&o, q) > 0.25 * aq) ok = 0;
            }
            if (!ok) continue;
            contrast_colour(&r, bg_mean, bg_mean, 120, o.fill);
            contrast_colour(&r, o.fill, bg_mean, 100, o.line); /* the outline is part of the box */
            if (o.style == STYLE_HOLLOW) memcpy(o.line, o.fill, sizeof o.line);
            for (int i = 0; i < 3; i++) o.fill[i] /= 255, o.line[i] /= 255;
            sc->obj[sc->nobj++] = o;
            break;
        }
    }
}

size_t synth_boxes(const synth_params *p, int split, size_t index, ds_box *out) {
    synth_scene sc;
    scene_make(p, split, index, &sc);
    double N = p->imgsz;
    for (int k = 0; k < sc.nobj; k++) {
        const synth_obj *o = &sc.obj[k];
        double x0 = fmax(0, o->x0), y0 = fmax(0, o->y0), x1 = fmin(N, o->x1), y1 = fmin(N, o->y1);
        out[k].cls = o->cls;
        out[k].cx = (float)((x0 + x1) / 2 / N);
        out[k].cy = (float)((y0 + y1) / 2 / N);
        out[k].w = (float)((x1 - x0) / N);
        out[k].h = (float)((y1 - y0) / N);
    }
    return (size_t)sc.nobj;
}

/* ---------------------------------------------------------- rendering -- */

static void path_of(cairo_t *cr, const synth_obj *o) {
    if (o->nv) {
        cairo_move_to(cr, o->vx[0], o->vy[0]);
        for (int k = 1; k < o->nv; k++) cairo_line_to(cr, o->vx[k], o->vy[k]);
        cairo_close_path(cr);
        return;
    }
    /* ellipse (and the ring's outer edge, plus its hole drawn reversed) */
    cairo_save(cr);
    cairo_translate(cr, o->cx, o->cy);
    cairo_scale(cr, o->rx, o->ry);
    cairo_new_sub_path(cr);
    cairo_arc(cr, 0, 0, 1, 0, 2 * M_PI);
    if (o->cls == SHAPE_RING) {
        cairo_new_sub_path(cr);
        cairo_arc_negative(cr, 0, 0, o->inner, 2 * M_PI, 0);
    }
    cairo_restore(cr); /* the pen is not scaled: strokes keep their width */
}

static void draw_obj(cairo_t *cr, const synth_obj *o) {
    cairo_new_path(cr);
    path_of(cr, o);
    cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_width(cr, o->lw);
    if (o->style != STYLE_HOLLOW) {
        cairo_set_source_rgb(cr, o->fill[0], o->fill[1], o->fill[2]);
        if (o->style == STYLE_OUTLINED)
            cairo_fill_preserve(cr);
        else
            cairo_fill(cr);
    }
    if (o->style != STYLE_FILLED) {
        cairo_set_source_rgb(cr, o->line[0], o->line[1], o->line[2]);
        cairo_stroke(cr);
    }
}

static uint8_t clamp_u8(double v) {
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

status synth_render(const synth_params *p, int split, size_t index, image *img) {
    img->data = NULL;
    img->w = img->h = 0;
    synth_scene sc;
    scene_make(p, split, index, &sc);
    int N = p->imgsz;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, N, N);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return err_set(YOLOC_ERR_NOMEM, "synth: cannot create a %dx%d cairo surface", N, N);
    }
    /* background, written straight into the surface (xRGB, native endian) */
    cairo_surface_flush(surf);
    unsigned char *px = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    double ca = cos(sc.angle), sa = sin(sc.angle);
    for (int y = 0; y < N; y++) {
        uint32_t *row = (uint32_t *)(px + (size_t)y * stride);
        for (int x = 0; x < N; x++) {
            double t = 0;
            double proj = x * ca + y * sa;
            if (sc.bg == BG_GRADIENT)
                t = proj / (N * 1.42) + 0.5;
            else if (sc.bg == BG_STRIPES)
                t = 0.5 + 0.5 * sin(2 * M_PI * proj / sc.period);
            t = fmin(1, fmax(0, t));
            uint32_t c[3];
            for (int i = 0; i < 3; i++) c[i] = clamp_u8(sc.c0[i] + (sc.c1[i] - sc.c0[i]) * t);
            row[x] = 0xff000000u | c[0] << 16 | c[1] << 8 | c[2];
        }
    }
    cairo_surface_mark_dirty(surf);
    cairo_t *cr = cairo_create(surf);
    for (int k = 0; k < sc.nobj; k++) draw_obj(cr, &sc.obj[k]);
    status st = cairo_status(cr) == CAIRO_STATUS_SUCCESS
                    ? YOLOC_OK
                    : err_set(YOLOC_ERR_BACKEND, "synth: cairo: %s",
                              cairo_status_to_string(cairo_status(cr)));
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    if (st == YOLOC_OK && !(img->data = malloc((size_t)N * N * 3)))
        st = err_set(YOLOC_ERR_NOMEM, "synth: out of memory for a %dx%d image", N, N);
    if (st == YOLOC_OK) {
        /* sensor-like noise over everything, from its own stream */
        rng r;
        rng_seed_keys(&r, p->seed, 0x53594e5448ull + (uint64_t)split, (uint64_t)index, 1);
        double amp = sc.noise * 1.7320508; /* uniform noise with this standard deviation */
        for (int y = 0; y < N; y++) {
            const uint32_t *row = (const uint32_t *)(px + (size_t)y * stride);
            uint8_t *d = img->data + (size_t)y * N * 3;
            for (int x = 0; x < N; x++) {
                uint32_t v = row[x];
                double c[3] = {(double)(v >> 16 & 255), (double)(v >> 8 & 255), (double)(v & 255)};
                for (int i = 0; i < 3; i++)
                    d[3 * x + i] = clamp_u8(c[i] + (amp > 0 ? rng_range(&r, -amp, amp) : 0));
            }
        }
        img->w = img->h = N;
    }
    cairo_surface_destroy(surf);
    return st;
}
