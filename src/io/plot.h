/* Plots with cairo: reusable drawing helpers (images, labelled boxes, text,
 * line plots with axes, ticks, legend and log-y), and the two dataset
 * figures Ultralytics writes into a run folder: labels.png (like its
 * labels.jpg) and train_batch0.png (an augmented batch with its boxes).
 *
 * Everything draws on a plot_canvas (an RGB cairo image surface with a
 * white background) in pixel units and is written as PNG through cairo,
 * atomically (a temporary file renamed over the path). Text uses cairo's toy
 * font API with a sans face. Plotting never changes its inputs. Leaves out:
 * anti-aliasing control, fonts other than the default sans, SVG/PDF. */
#ifndef YOLOC_IO_PLOT_H
#define YOLOC_IO_PLOT_H

#include "core/status.h"

#include <cairo.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double r, g, b; /* 0..1 */
} plot_rgb;

/* Colour of class (or series) k: the 20-colour palette Ultralytics uses for
 * boxes, cycled. */
plot_rgb plot_palette(int k);
/* Colour of line-plot series k: 10 well-separated colours (matplotlib's
 * tab10 values), cycled. */
plot_rgb plot_series_colour(int k);

typedef struct {
    cairo_surface_t *surface;
    cairo_t *cr;
    int w, h;
} plot_canvas;

/* A w x h canvas, filled white. Errors: bad size, cairo failure. */
status plot_canvas_init(plot_canvas *c, int w, int h);
void plot_canvas_free(plot_canvas *c);
/* Writes the canvas as PNG (atomically). Errors name the path. */
status plot_canvas_save(plot_canvas *c, const char *path);

/* ---- drawing helpers (on any cairo context, pixel units) ---------------- */

/* Text with its anchor at (x, y): halign -1 left, 0 centre, 1 right; the
 * baseline at y; angle in radians (counter-clockwise positive as seen). */
void plot_text(cairo_t *cr, double x, double y, const char *s, double size, int halign,
               double angle);
/* An 8-bit RGB HWC image drawn with its top-left at (x, y), scaled. */
status plot_draw_rgb(cairo_t *cr, const uint8_t *rgb, int w, int h, double x, double y,
                     double scale);
/* A float CHW image (values in [0, 1], clamped) drawn the same way. */
status plot_draw_chw(cairo_t *cr, const float *chw, int w, int h, double x, double y, double scale);
/* A box outline in colour c with an optional label on a filled tab above
 * its top-left corner (inside the box when there is no room above). */
void plot_draw_box(cairo_t *cr, double x1, double y1, double x2, double y2, plot_rgb c,
                   double line_width, const char *label, double font_size);

/* "Nice" tick positions (steps 1, 2, 5 x 10^k) covering [lo, hi] with at
 * most max_ticks inside it; returns the count (<= max_ticks + 1). */
int plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks);
/* Decade ticks 10^k in [lo, hi] (lo > 0), with 2 and 5 x 10^k added when
 * there are fewer than 3 decades; returns the count (<= cap). */
int plot_log_ticks(double lo, double hi, double *ticks, int cap);

/* ---- line plots ---------------------------------------------------------- */

typedef struct {
    const char *name; /* legend entry (NULL: not listed) */
    const double *x, *y;
    size_t n;
} plot_series;

typedef struct {
    const char *title, *xlabel, *ylabel; /* may be NULL */
    int log_y;   /* log10 y axis; points with y <= 0 are skipped (the line breaks) */
    int legend;  /* draw the legend (top right) */
    int markers; /* draw a dot at every point */
} plot_axes;

/* Draws series into the rectangle (x, y, w, h) of cr: frame, grid, ticks
 * with values, labels, title, legend. Non-finite points are skipped.
 * Series k has colour plot_series_colour(k). */
void plot_lines(cairo_t *cr, double x, double y, double w, double h, const plot_series *s, int ns,
                const plot_axes *ax);
/* The same on a w x h canvas written to path. */
status plot_lines_png(const char *path, int w, int h, const plot_series *s, int ns,
                      const plot_axes *ax);

/* ---- dataset figures ----------------------------------------------------- */

/* labels.png (1200 x 1200): instances per class (bars with class names),
 * the first 1000 boxes drawn centred to show their sizes, and 2-D histograms
 * of the box centres (x, y) and of the sizes (w, h). labels is [n, 5]:
 * class, cx, cy, w, h normalised; names has nc entries (NULL: class ids). */
status plot_labels(const char *path, const float *labels, size_t n, const char *const *names,
                   int nc);

/* train_batch0.png: up to 16 images of a batch ([n, 3, h, w] float CHW in
 * [0, 1]) in a grid of ceil(sqrt(n)) columns, scaled so the grid is at most
 * 1920 px, with targets ([nt, 6]: image, class, cx, cy, w, h normalised)
 * drawn as labelled boxes and each image's file name (paths may be NULL). */
status plot_batch(const char *path, const float *images, int n, int h, int w, const float *targets,
                  size_t nt, const char *const *names, int nc, const char *const *paths);

/* confusion_matrix.png: m is [(nc+1) x (nc+1)], m[pred * (nc+1) + true],
 * the last row/column the background; each true-class column normalised. */
status plot_confusion(const char *path, const uint64_t *m, int nc, const char *const *names);

#endif
