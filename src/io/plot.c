/* Cairo plots: helpers, line plots, labels.png and train_batch0.png (see
 * plot.h). Coordinates are pixels with y down; axes map data to pixels
 * with y up. */
#include "io/plot.h"

#include "io/file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT_FACE "sans-serif"

plot_rgb plot_palette(int k) {
    /* the Ultralytics box palette (ultralytics.utils.plotting.Colors) */
    static const uint32_t hex[20] = {0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231,
                                     0x48F90A, 0x92CC17, 0x3DDB86, 0x1A9334, 0x00D4BB,
                                     0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF, 0x0018EC,
                                     0x8438FF, 0x520085, 0xCB38FF, 0xFF95C8, 0xFF37C7};
    uint32_t v = hex[((k % 20) + 20) % 20];
    plot_rgb c = {((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0};
    return c;
}

plot_rgb plot_series_colour(int k) {
    static const uint32_t hex[10] = {0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD,
                                     0x8C564B, 0xE377C2, 0x7F7F7F, 0xBCBD22, 0x17BECF};
    uint32_t v = hex[((k % 10) + 10) % 10];
    plot_rgb c = {((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0};
    return c;
}

/* ---- canvas ------------------------------------------------------------- */

status plot_canvas_init(plot_canvas *c, int w, int h) {
    memset(c, 0, sizeof *c);
    if (w <= 0 || h <= 0 || w > 32767 || h > 32767)
        return err_set(YOLOC_ERR_INVALID, "plot: canvas size %dx%d out of range", w, h);
    c->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(c->surface) != CAIRO_STATUS_SUCCESS) {
        status st = err_set(YOLOC_ERR_NOMEM, "plot: cannot create a %dx%d surface: %s", w, h,
                            cairo_status_to_string(cairo_surface_status(c->surface)));
        cairo_surface_destroy(c->surface);
        c->surface = NULL;
        return st;
    }
    c->cr = cairo_create(c->surface);
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS) {
        status st = err_set(YOLOC_ERR_NOMEM, "plot: cannot create a cairo context: %s",
                            cairo_status_to_string(cairo_status(c->cr)));
        plot_canvas_free(c);
        return st;
    }
    c->w = w;
    c->h = h;
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    return YOLOC_OK;
}

void plot_canvas_free(plot_canvas *c) {
    if (c->cr) cairo_destroy(c->cr);
    if (c->surface) cairo_surface_destroy(c->surface);
    memset(c, 0, sizeof *c);
}

/* cairo's PNG stream callback: appends to the afile (a failed write has
 * already set the message and removed the tmp file). */
static cairo_status_t plot_write_afile(void *closure, const unsigned char *data, unsigned int n) {
    afile *a = closure;
    if (!a->fp || afile_write(a, data, n) < 0) return CAIRO_STATUS_WRITE_ERROR;
    return CAIRO_STATUS_SUCCESS;
}

status plot_canvas_save(plot_canvas *c, const char *path) {
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS)
        return err_set(YOLOC_ERR_INTERNAL, "plot '%s': drawing failed: %s", path,
                       cairo_status_to_string(cairo_status(c->cr)));
    afile a;
    TRY(afile_open(&a, path));
    cairo_surface_flush(c->surface);
    cairo_status_t cs = cairo_surface_write_to_png_stream(c->surface, plot_write_afile, &a);
    if (cs != CAIRO_STATUS_SUCCESS) {
        int write_failed = !a.fp; /* then afile_write's message stands */
        afile_abort(&a);
        if (write_failed) return YOLOC_ERR_IO;
        return err_set(YOLOC_ERR_IO, "%s: cannot write: %s", path, cairo_status_to_string(cs));
    }
    return afile_commit(&a);
}

/* ---- helpers -------------------------------------------------------------- */

void plot_text(cairo_t *cr, double x, double y, const char *s, double size, int halign,
               double angle) {
    if (!s || !*s) return;
    cairo_save(cr);
    cairo_select_font_face(cr, FONT_FACE, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -angle);
    double dx = halign < 0 ? 0 : halign == 0 ? -e.x_advance / 2 : -e.x_advance;
    cairo_move_to(cr, dx, 0);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

static double text_width(cairo_t *cr, const char *s, double size) {
    cairo_save(cr);
    cairo_select_font_face(cr, FONT_FACE, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_restore(cr);
    return e.x_advance;
}

/* Draws an RGB24 surface filled by the caller at (x, y) with scale. */
static void paint_surface(cairo_t *cr, cairo_surface_t *img, double x, double y, double scale) {
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, scale, scale);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr),
                             scale == 1.0 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    cairo_restore(cr);
}

static status surface_for(int w, int h, cairo_surface_t **out) {
    *out = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(*out) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(*out);
        *out = NULL;
        return err_set(YOLOC_ERR_NOMEM, "plot: cannot create a %dx%d image surface", w, h);
    }
    return YOLOC_OK;
}

status plot_draw_rgb(cairo_t *cr, const uint8_t *rgb, int w, int h, double x, double y,
                     double scale) {
    cairo_surface_t *img;
    TRY(surface_for(w, h, &img));
    cairo_surface_flush(img);
    unsigned char *d = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int r = 0; r < h; r++) {
        uint32_t *row = (uint32_t *)(d + (size_t)r * stride);
        const uint8_t *s = rgb + (size_t)r * w * 3;
        for (int c = 0; c < w; c++)
            row[c] = ((uint32_t)s[3 * c] << 16) | ((uint32_t)s[3 * c + 1] << 8) | s[3 * c + 2];
    }
    cairo_surface_mark_dirty(img);
    paint_surface(cr, img, x, y, scale);
    cairo_surface_destroy(img);
    return YOLOC_OK;
}

static inline uint32_t unit_to_u8(float v) {
    if (!(v > 0)) return 0;
    if (v >= 1) return 255;
    return (uint32_t)(v * 255.0f + 0.5f);
}

status plot_draw_chw(cairo_t *cr, const float *chw, int w, int h, double x, double y,
                     double scale) {
    cairo_surface_t *img;
    TRY(surface_for(w, h, &img));
    cairo_surface_flush(img);
    unsigned char *d = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    const size_t hw = (size_t)w * h;
    for (int r = 0; r < h; r++) {
        uint32_t *row = (uint32_t *)(d + (size_t)r * stride);
        for (int c = 0; c < w; c++) {
            size_t k = (size_t)r * w + c;
            row[c] = (unit_to_u8(chw[k]) << 16) | (unit_to_u8(chw[hw + k]) << 8) |
                     unit_to_u8(chw[2 * hw + k]);
        }
    }
    cairo_surface_mark_dirty(img);
    paint_surface(cr, img, x, y, scale);
    cairo_surface_destroy(img);
    return YOLOC_OK;
}

void plot_draw_box(cairo_t *cr, double x1, double y1, double x2, double y2, plot_rgb c,
                   double line_width, const char *label, double font_size) {
    cairo_save(cr);
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, line_width);
    cairo_rectangle(cr, x1, y1, x2 - x1, y2 - y1);
    cairo_stroke(cr);
    if (label && *label) {
        double tw = text_width(cr, label, font_size) + font_size * 0.4, th = font_size * 1.3;
        double ty = y1 - th >= 0 ? y1 - th : y1; /* above the box, or inside at the top */
        double tx = x1 - line_width / 2;
        cairo_rectangle(cr, tx, ty, tw, th);
        cairo_fill(cr);
        /* dark text on light colours, white on dark ones */
        double lum = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
        double tc = lum > 0.6 ? 0 : 1;
        cairo_set_source_rgb(cr, tc, tc, tc);
        plot_text(cr, tx + font_size * 0.2, ty + th - font_size * 0.3, label, font_size, -1, 0);
    }
    cairo_restore(cr);
}

int plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks) {
    if (!(hi > lo) || max_ticks < 1) {
        ticks[0] = lo;
        return 1;
    }
    double raw = (hi - lo) / max_ticks, mag = pow(10, floor(log10(raw))), res = raw / mag;
    double step = (res <= 1 ? 1 : res <= 2 ? 2 : res <= 5 ? 5 : 10) * mag;
    long k0 = (long)ceil(lo / step - 1e-9), k1 = (long)floor(hi / step + 1e-9);
    int n = 0;
    for (long k = k0; k <= k1 && n <= max_ticks; k++) {
        double v = k * step;
        ticks[n++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    }
    return n;
}

int plot_log_ticks(double lo, double hi, double *ticks, int cap) {
    if (!(lo > 0) || !(hi >= lo) || cap < 1) return 0;
    int n = 0;
    int k0 = (int)ceil(log10(lo) - 1e-9), k1 = (int)floor(log10(hi) + 1e-9);
    for (int k = k0; k <= k1 && n < cap; k++) ticks[n++] = pow(10, k);
    if (n >= 3) return n;
    n = 0;
    static const double m[3] = {1, 2, 5};
    for (int k = (int)floor(log10(lo)); k <= (int)ceil(log10(hi)); k++)
        for (int j = 0; j < 3; j++) {
            double v = m[j] * pow(10, k);
            if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) && n < cap) ticks[n++] = v;
        }
    return n;
}

/* ---- axes ----------------------------------------------------------------- */

typedef struct {
    double x, y, w, h;         /* plot area in pixels */
    double xlo, xhi, ylo, yhi; /* data range (log10 of y when log_y) */
    int log_y;
    int no_xticks; /* the caller labels the x axis itself (bar charts) */
    double font;
} axes_map;

static double map_x(const axes_map *a, double v) {
    return a->x + (v - a->xlo) / (a->xhi - a->xlo) * a->w;
}
static double map_y(const axes_map *a, double v) {
    if (a->log_y) v = log10(v);
    return a->y + a->h - (v - a->ylo) / (a->yhi - a->ylo) * a->h;
}

static void fmt_tick(char *buf, size_t cap, double v) {
    if (v != 0 && (fabs(v) < 1e-3 || fabs(v) >= 1e5))
        snprintf(buf, cap, "%.0e", v);
    else
        snprintf(buf, cap, "%g", v);
}

/* Frame, grid, ticks with values, axis labels and title around a. */
static void draw_axes(cairo_t *cr, const axes_map *a, const char *title, const char *xlabel,
                      const char *ylabel) {
    double t[64];
    char buf[32];
    cairo_save(cr);
    cairo_set_line_width(cr, 1);
    /* y grid and ticks */
    int ny = a->log_y ? plot_log_ticks(pow(10, a->ylo), pow(10, a->yhi), t, 40)
                      : plot_nice_ticks(a->ylo, a->yhi, 6, t);
    for (int i = 0; i < ny; i++) {
        double py = map_y(a, t[i]);
        if (py < a->y - 0.5 || py > a->y + a->h + 0.5) continue;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, a->x, py);
        cairo_line_to(cr, a->x + a->w, py);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        fmt_tick(buf, sizeof buf, t[i]);
        plot_text(cr, a->x - 5, py + a->font * 0.35, buf, a->font, 1, 0);
    }
    int nx = a->no_xticks ? 0 : plot_nice_ticks(a->xlo, a->xhi, 8, t);
    for (int i = 0; i < nx; i++) {
        double px = map_x(a, t[i]);
        if (px < a->x - 0.5 || px > a->x + a->w + 0.5) continue;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, px, a->y);
        cairo_line_to(cr, px, a->y + a->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        fmt_tick(buf, sizeof buf, t[i]);
        plot_text(cr, px, a->y + a->h + a->font * 1.3, buf, a->font, 0, 0);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_stroke(cr);
    if (title) plot_text(cr, a->x + a->w / 2, a->y - a->font * 0.6, title, a->font * 1.2, 0, 0);
    if (xlabel) plot_text(cr, a->x + a->w / 2, a->y + a->h + a->font * 2.8, xlabel, a->font, 0, 0);
    if (ylabel) plot_text(cr, a->x - a->font * 4.2, a->y + a->h / 2, ylabel, a->font, 0, M_PI / 2);
    cairo_restore(cr);
}

/* The plot area inside a rectangle, leaving room for ticks and labels. */
static axes_map axes_in(double x, double y, double w, double h, double font) {
    axes_map a;
    memset(&a, 0, sizeof a);
    a.font = font;
    a.x = x + font * 5.5;
    a.y = y + font * 2.2;
    a.w = w - font * 5.5 - font * 1.5;
    a.h = h - font * 2.2 - font * 3.8;
    if (a.w < 1) a.w = 1;
    if (a.h < 1) a.h = 1;
    return a;
}

void plot_lines(cairo_t *cr, double x, double y, double w, double h, const plot_series *s, int ns,
                const plot_axes *ax) {
    const plot_axes none = {0};
    if (!ax) ax = &none;
    double font = fmax(9, fmin(w, h) / 40);
    axes_map a = axes_in(x, y, w, h, font);
    a.log_y = ax->log_y;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double X = s[k].x ? s[k].x[i] : (double)i, Y = s[k].y[i];
            if (!isfinite(X) || !isfinite(Y) || (a.log_y && Y <= 0)) continue;
            if (a.log_y) Y = log10(Y);
            xlo = fmin(xlo, X);
            xhi = fmax(xhi, X);
            ylo = fmin(ylo, Y);
            yhi = fmax(yhi, Y);
        }
    if (!(xhi >= xlo)) xlo = 0, xhi = 1;
    if (!(yhi >= ylo)) ylo = 0, yhi = 1;
    if (xhi == xlo) xlo -= 0.5, xhi += 0.5;
    if (yhi == ylo) {
        double d = a.log_y ? 0.5 : fmax(fabs(ylo) * 0.1, 0.5);
        ylo -= d, yhi += d;
    }
    double pad = (yhi - ylo) * 0.05;
    a.xlo = xlo;
    a.xhi = xhi;
    a.ylo = ylo - pad;
    a.yhi = yhi + pad;
    draw_axes(cr, &a, ax->title, ax->xlabel, ax->ylabel);
    cairo_save(cr);
    cairo_rectangle(cr, a.x, a.y, a.w, a.h);
    cairo_clip(cr);
    cairo_set_line_width(cr, fmax(1.5, font / 8));
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int k = 0; k < ns; k++) {
        plot_rgb c = plot_series_colour(k);
        cairo_set_source_rgb(cr, c.r, c.g, c.b);
        int pen = 0;
        for (size_t i = 0; i < s[k].n; i++) {
            double X = s[k].x ? s[k].x[i] : (double)i, Y = s[k].y[i];
            if (!isfinite(X) || !isfinite(Y) || (a.log_y && Y <= 0)) {
                pen = 0;
                continue;
            }
            double px = map_x(&a, X), py = map_y(&a, Y);
            if (pen)
                cairo_line_to(cr, px, py);
            else
                cairo_move_to(cr, px, py);
            pen = 1;
            if (ax->markers) {
                cairo_stroke(cr);
                cairo_arc(cr, px, py, font / 4, 0, 2 * M_PI);
                cairo_fill(cr);
                cairo_move_to(cr, px, py);
            }
        }
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    if (ax->legend) {
        int rows = 0;
        double lw = 0;
        for (int k = 0; k < ns; k++)
            if (s[k].name) {
                rows++;
                lw = fmax(lw, text_width(cr, s[k].name, font));
            }
        if (rows) {
            double bw = lw + font * 3.5, bh = rows * font * 1.4 + font * 0.6;
            double bx = a.x + a.w - bw - font * 0.5, by = a.y + font * 0.5;
            cairo_save(cr);
            cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
            cairo_rectangle(cr, bx, by, bw, bh);
            cairo_fill_preserve(cr);
            cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
            cairo_set_line_width(cr, 1);
            cairo_stroke(cr);
            int r = 0;
            for (int k = 0; k < ns; k++) {
                if (!s[k].name) continue;
                double ly = by + font * 0.3 + (r + 0.5) * font * 1.4;
                plot_rgb c = plot_series_colour(k);
                cairo_set_source_rgb(cr, c.r, c.g, c.b);
                cairo_set_line_width(cr, 2);
                cairo_move_to(cr, bx + font * 0.5, ly);
                cairo_line_to(cr, bx + font * 2.3, ly);
                cairo_stroke(cr);
                cairo_set_source_rgb(cr, 0, 0, 0);
                plot_text(cr, bx + font * 2.8, ly + font * 0.35, s[k].name, font, -1, 0);
                r++;
            }
            cairo_restore(cr);
        }
    }
}

status plot_lines_png(const char *path, int w, int h, const plot_series *s, int ns,
                      const plot_axes *ax) {
    plot_canvas c;
    TRY(plot_canvas_init(&c, w, h));
    plot_lines(c.cr, 0, 0, w, h, s, ns, ax);
    status st = plot_canvas_save(&c, path);
    plot_canvas_free(&c);
    return st;
}

/* ---- labels.png ------------------------------------------------------------- */

/* A 2-D histogram of (u, v) in [0, 1]^2 (bins x bins), white to blue with
 * a square-root scale, v up. */
static status hist2d(cairo_t *cr, double x, double y, double w, double h, const float *labels,
                     size_t n, int cu, int cv, const char *title, const char *xl, const char *yl,
                     double font) {
    enum { BINS = 50 };
    size_t *cnt = calloc(BINS * BINS, sizeof *cnt);
    if (!cnt) return err_set(YOLOC_ERR_NOMEM, "out of memory for a histogram");
    size_t mx = 0;
    for (size_t i = 0; i < n; i++) {
        double u = labels[5 * i + cu], v = labels[5 * i + cv];
        if (!isfinite(u) || !isfinite(v)) continue;
        int bu = (int)floor(u * BINS), bv = (int)floor(v * BINS);
        bu = bu < 0 ? 0 : bu >= BINS ? BINS - 1 : bu;
        bv = bv < 0 ? 0 : bv >= BINS ? BINS - 1 : bv;
        size_t c = ++cnt[bv * BINS + bu];
        if (c > mx) mx = c;
    }
    axes_map a = axes_in(x, y, w, h, font);
    a.xlo = a.ylo = 0;
    a.xhi = a.yhi = 1;
    for (int bv = 0; bv < BINS; bv++)
        for (int bu = 0; bu < BINS; bu++) {
            size_t c = cnt[bv * BINS + bu];
            if (!c) continue;
            double t = sqrt((double)c / (double)mx); /* 0..1 */
            cairo_set_source_rgb(cr, 1 - 0.85 * t, 1 - 0.65 * t, 1 - 0.25 * t);
            double x0 = map_x(&a, (double)bu / BINS), x1 = map_x(&a, (double)(bu + 1) / BINS);
            double y0 = map_y(&a, (double)(bv + 1) / BINS), y1 = map_y(&a, (double)bv / BINS);
            cairo_rectangle(cr, x0, y0, x1 - x0 + 0.5, y1 - y0 + 0.5);
            cairo_fill(cr);
        }
    free(cnt);
    draw_axes(cr, &a, title, xl, yl);
    return YOLOC_OK;
}

status plot_labels(const char *path, const float *labels, size_t n, const char *const *names,
                   int nc) {
    if (nc < 1) return err_set(YOLOC_ERR_INVALID, "plot_labels: no classes");
    const int S = 1200, P = S / 2;
    const double font = 13;
    size_t *count = calloc((size_t)nc, sizeof *count);
    if (!count) return err_set(YOLOC_ERR_NOMEM, "out of memory for class counts");
    size_t mx = 0, outside = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (int)labels[5 * i];
        if (c < 0 || c >= nc) {
            outside++;
            continue;
        }
        if (++count[c] > mx) mx = count[c];
    }
    plot_canvas cv;
    status st = plot_canvas_init(&cv, S, S);
    if (st < 0) {
        free(count);
        return st;
    }
    cairo_t *cr = cv.cr;

    /* 1. instances per class: bars, names rotated under them (up to 100
     * classes, the font shrinking to the bar width), else every k-th id */
    axes_map a = axes_in(0, 0, P, P, font);
    const int rotate = nc <= 100;
    const double nfont = fmin(font * 0.85, fmax(5.0, a.w / nc * 0.9));
    if (rotate) { /* room for the names below */
        double longest = 0;
        for (int c = 0; c < nc; c++) {
            char id[16];
            snprintf(id, sizeof id, "%d", c);
            longest = fmax(longest, text_width(cr, names && names[c] ? names[c] : id, nfont));
        }
        double room = fmin(fmax(longest + font, font * 3.8), P * 0.4);
        a.h = P - font * 2.2 - room;
    }
    a.xlo = 0;
    a.xhi = nc;
    a.ylo = 0;
    a.yhi = mx ? mx * 1.05 : 1;
    a.no_xticks = 1;
    char title[96];
    snprintf(title, sizeof title, "%zu instances, %d classes%s", n - outside, nc,
             outside ? " (some out of range)" : "");
    draw_axes(cr, &a, title, rotate ? NULL : "classes", "instances");
    for (int c = 0; c < nc; c++) {
        plot_rgb col = plot_palette(c);
        cairo_set_source_rgb(cr, col.r, col.g, col.b);
        double x0 = map_x(&a, c + 0.1), x1 = map_x(&a, c + 0.9);
        double y0 = map_y(&a, (double)count[c]), y1 = map_y(&a, 0);
        cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    const int every = rotate ? 1 : (nc + 9) / 10;
    for (int c = 0; c < nc; c += every) {
        char id[16];
        snprintf(id, sizeof id, "%d", c);
        const char *label = rotate && names && names[c] ? names[c] : id;
        double px = map_x(&a, c + 0.5);
        if (rotate)
            plot_text(cr, px + nfont * 0.35, a.y + a.h + font * 0.4, label, nfont, 1, M_PI / 2);
        else
            plot_text(cr, px, a.y + a.h + font * 1.3, label, font * 0.85, 0, 0);
    }

    /* 2. box sizes: the first 1000 boxes centred */
    {
        axes_map b = axes_in(P, 0, P, P, font);
        double side = fmin(b.w, b.h);
        b.w = b.h = side;
        b.xlo = b.ylo = 0;
        b.xhi = b.yhi = 1;
        cairo_save(cr);
        cairo_rectangle(cr, b.x, b.y, b.w, b.h);
        cairo_clip(cr);
        cairo_set_line_width(cr, 1);
        for (size_t i = 0; i < n && i < 1000; i++) {
            int c = (int)labels[5 * i];
            double bw = labels[5 * i + 3], bh = labels[5 * i + 4];
            if (!isfinite(bw) || !isfinite(bh)) continue;
            plot_rgb col = plot_palette(c);
            cairo_set_source_rgba(cr, col.r, col.g, col.b, 0.6);
            cairo_rectangle(cr, b.x + (0.5 - bw / 2) * side, b.y + (0.5 - bh / 2) * side, bw * side,
                            bh * side);
            cairo_stroke(cr);
        }
        cairo_restore(cr);
        draw_axes(cr, &b, "box sizes (first 1000)", "width", "height");
    }

    /* 3-4. centres and sizes */
    st = hist2d(cr, 0, P, P, P, labels, n, 1, 2, "box centres", "x", "y", font);
    if (st >= 0) st = hist2d(cr, P, P, P, P, labels, n, 3, 4, "box sizes", "width", "height", font);
    if (st >= 0) st = plot_canvas_save(&cv, path);
    plot_canvas_free(&cv);
    free(count);
    return st;
}

/* ---- train_batch0.png --------------------------------------------------------- */

status plot_batch(const char *path, const float *images, int n, int h, int w, const float *targets,
                  size_t nt, const char *const *names, int nc, const char *const *paths) {
    if (n <= 0 || h <= 0 || w <= 0)
        return err_set(YOLOC_ERR_INVALID, "plot_batch: empty batch (%d x %d x %d)", n, h, w);
    const int bs = n < 16 ? n : 16;
    const int cols = (int)ceil(sqrt((double)bs)), rows = (bs + cols - 1) / cols;
    double scale = 1920.0 / cols / (h > w ? h : w);
    if (scale > 1) scale = 1;
    const int tw = (int)ceil(w * scale), th = (int)ceil(h * scale);
    plot_canvas cv;
    TRY(plot_canvas_init(&cv, cols * tw, rows * th));
    cairo_t *cr = cv.cr;
    const double lw = fmax(1.0, round(0.003 * (cv.w + cv.h) / 2));
    const double font = fmax(10, fmin(tw, th) / 28.0);
    status st = YOLOC_OK;
    for (int i = 0; i < bs && st >= 0; i++) {
        const double ox = (i % cols) * tw, oy = (i / cols) * th;
        st = plot_draw_chw(cr, images + (size_t)i * 3 * h * w, w, h, ox, oy, scale);
        if (st < 0) break;
        cairo_save(cr);
        cairo_rectangle(cr, ox, oy, tw, th);
        cairo_clip(cr);
        for (size_t t = 0; t < nt; t++) {
            const float *q = targets + 6 * t;
            if ((int)q[0] != i) continue;
            int c = (int)q[1];
            char id[16];
            const char *label = names && c >= 0 && c < nc && names[c]
                                    ? names[c]
                                    : (snprintf(id, sizeof id, "%d", c), id);
            double x1 = ox + (q[2] - q[4] / 2) * w * scale, x2 = ox + (q[2] + q[4] / 2) * w * scale;
            double y1 = oy + (q[3] - q[5] / 2) * h * scale, y2 = oy + (q[3] + q[5] / 2) * h * scale;
            plot_draw_box(cr, x1, y1, x2, y2, plot_palette(c), lw, label, font);
        }
        if (paths && paths[i] && paths[i][0]) {
            const char *base = strrchr(paths[i], '/');
            char name[48];
            snprintf(name, sizeof name, "%.40s", base ? base + 1 : paths[i]);
            cairo_set_source_rgb(cr, 0, 0, 0);
            plot_text(cr, ox + 5 + 1, oy + font + 4 + 1, name, font, -1, 0);
            cairo_set_source_rgb(cr, 0.86, 0.86, 0.86);
            plot_text(cr, ox + 5, oy + font + 4, name, font, -1, 0);
        }
        cairo_restore(cr);
        /* white tile border, as Ultralytics draws */
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_set_line_width(cr, 2);
        cairo_rectangle(cr, ox, oy, tw, th);
        cairo_stroke(cr);
    }
    if (st >= 0) st = plot_canvas_save(&cv, path);
    plot_canvas_free(&cv);
    return st;
}

/* ---- confusion matrix ------------------------------------------------------ */

status plot_confusion(const char *path, const uint64_t *m, int nc, const char *const *names) {
    if (nc < 1) return err_set(YOLOC_ERR_INVALID, "plot_confusion: no classes");
    const int n = nc + 1; /* + background */
    const double font = n <= 12 ? 13 : (n <= 40 ? 9 : 6);
    const int margin = 170, S = 900;
    const double cell = (double)(S - margin - 40) / n;
    plot_canvas cv;
    TRY(plot_canvas_init(&cv, S, S));
    cairo_t *cr = cv.cr;
    /* columns are the true classes: normalise each column */
    for (int t = 0; t < n; t++) {
        double col = 0;
        for (int p = 0; p < n; p++) col += (double)m[p * n + t];
        for (int p = 0; p < n; p++) {
            double v = col > 0 ? (double)m[p * n + t] / col : 0;
            double x = margin + t * cell, y = 40 + p * cell;
            cairo_set_source_rgb(cr, 1 - 0.85 * v, 1 - 0.6 * v, 1 - 0.1 * v); /* white -> blue */
            cairo_rectangle(cr, x, y, cell, cell);
            cairo_fill(cr);
            if (n <= 30 && v >= 0.005) {
                char txt[16];
                snprintf(txt, sizeof txt, "%.2f", v);
                cairo_set_source_rgb(cr, v > 0.5 ? 1 : 0, v > 0.5 ? 1 : 0, v > 0.5 ? 1 : 0);
                plot_text(cr, x + cell / 2, y + cell / 2 + font / 3, txt, font * 0.9, 0, 0);
            }
        }
    }
    cairo_set_source_rgb(cr, 0.75, 0.75, 0.75); /* cell borders */
    cairo_set_line_width(cr, 0.5);
    for (int k = 0; k <= n; k++) {
        cairo_move_to(cr, margin + k * cell, 40);
        cairo_line_to(cr, margin + k * cell, 40 + n * cell);
        cairo_move_to(cr, margin, 40 + k * cell);
        cairo_line_to(cr, margin + n * cell, 40 + k * cell);
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int k = 0; k < n; k++) {
        char id[16];
        snprintf(id, sizeof id, "%d", k);
        const char *label = k == nc ? "background" : (names && names[k] ? names[k] : id);
        plot_text(cr, margin - 6, 40 + (k + 0.5) * cell + font / 3, label, font, 1, 0);
        plot_text(cr, margin + (k + 0.5) * cell + font / 3, 40 + n * cell + 6, label, font, 1, M_PI / 2);
    }
    plot_text(cr, margin + n * cell / 2, 24, "confusion matrix (columns: true class, normalised)", 15, 0, 0);
    plot_text(cr, 16, 40 + n * cell / 2, "predicted", 14, 0, -M_PI / 2);
    status st = plot_canvas_save(&cv, path);
    plot_canvas_free(&cv);
    return st;
}
