/* YOLO label-file parser and line checker (rules in labels.h). */
#include "data/labels.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN 64 /* longer tokens cannot be numbers we accept */

typedef struct {
    label_result *r;
    size_t box_cap, issue_cap;
    int *box_lines; /* line of each kept box (for "duplicate of line N") */
    /* open-addressing hash set of kept boxes: slot = index + 1, 0 = empty */
    size_t *slots;
    size_t nslots;
} parser;

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Printable-ASCII copy of a token for messages (at most 24 characters). */
static void token_show(const char *t, size_t n, char *out, size_t cap) {
    size_t k = 0, lim = n < 24 ? n : 24;
    for (size_t i = 0; i < lim && k + 1 < cap; i++)
        out[k++] = (t[i] >= 0x20 && t[i] < 0x7f && t[i] != '\'') ? t[i] : '?';
    if (n > lim && k + 4 < cap) out[k++] = '.', out[k++] = '.', out[k++] = '.';
    out[k] = 0;
}

/* 0 and *v on success; -1 when the token is not a decimal number. */
static int token_number(const char *t, size_t n, double *v) {
    if (n == 0 || n >= MAX_TOKEN) return -1;
    char buf[MAX_TOKEN];
    memcpy(buf, t, n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++) /* strtod would accept hex floats and nan(...) */
        if (buf[i] == 'x' || buf[i] == 'X' || buf[i] == '(' || buf[i] == 0) return -1;
    char *end;
    *v = strtod(buf, &end);
    return end == buf + n ? 0 : -1;
}

static status add_issue(parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static status add_issue(parser *p, int line, const char *fmt, ...) {
    label_result *r = p->r;
    if (r->nissues == p->issue_cap) {
        size_t cap = p->issue_cap ? p->issue_cap * 2 : 8;
        label_issue *ni = realloc(r->issues, cap * sizeof *ni);
        if (!ni) return err_set(YOLOC_ERR_NOMEM, "out of memory parsing labels");
        r->issues = ni;
        p->issue_cap = cap;
    }
    label_issue *is = &r->issues[r->nissues++];
    is->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(is->reason, sizeof is->reason, fmt, ap);
    va_end(ap);
    return YOLOC_OK;
}

static uint64_t box_hash(const ds_box *b) {
    uint32_t u[4];
    memcpy(&u[0], &b->cx, 4), memcpy(&u[1], &b->cy, 4), memcpy(&u[2], &b->w, 4),
        memcpy(&u[3], &b->h, 4);
    uint64_t h = (uint64_t)(uint32_t)b->cls * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 4; i++) h = (h ^ u[i]) * 0x100000001b3ull + (h >> 29);
    return h;
}

static int box_same(const ds_box *a, const ds_box *b) {
    return a->cls == b->cls && a->cx == b->cx && a->cy == b->cy && a->w == b->w && a->h == b->h;
}

/* Index+1 of a kept box equal to b, or 0. */
static size_t set_find(const parser *p, const ds_box *b) {
    if (!p->nslots) return 0;
    for (size_t i = box_hash(b) & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
        size_t s = p->slots[i];
        if (!s) return 0;
        if (box_same(&p->r->boxes[s - 1], b)) return s;
    }
}

static status set_rebuild(parser *p, size_t nslots) {
    size_t *ns = calloc(nslots, sizeof *ns);
    if (!ns) return err_set(YOLOC_ERR_NOMEM, "out of memory parsing labels");
    free(p->slots);
    p->slots = ns;
    p->nslots = nslots;
    for (size_t k = 0; k < p->r->nboxes; k++) {
        size_t i = box_hash(&p->r->boxes[k]) & (nslots - 1);
        while (ns[i]) i = (i + 1) & (nslots - 1);
        ns[i] = k + 1;
    }
    return YOLOC_OK;
}

static status keep_box(parser *p, const ds_box *b, int line) {
    label_result *r = p->r;
    if (r->nboxes == p->box_cap) {
        size_t cap = p->box_cap ? p->box_cap * 2 : 16;
        ds_box *nb = realloc(r->boxes, cap * sizeof *nb);
        if (!nb) return err_set(YOLOC_ERR_NOMEM, "out of memory parsing labels");
        r->boxes = nb;
        int *nl = realloc(p->box_lines, cap * sizeof *nl);
        if (!nl) return err_set(YOLOC_ERR_NOMEM, "out of memory parsing labels");
        p->box_lines = nl;
        p->box_cap = cap;
    }
    r->boxes[r->nboxes] = *b;
    p->box_lines[r->nboxes] = line;
    r->nboxes++;
    if (r->nboxes * 2 > p->nslots) return set_rebuild(p, p->nslots ? p->nslots * 2 : 64);
    size_t i = box_hash(b) & (p->nslots - 1);
    while (p->slots[i]) i = (i + 1) & (p->nslots - 1);
    p->slots[i] = r->nboxes;
    return YOLOC_OK;
}

static float clip01(double v) {
    float f = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    return f + 0.0f; /* -0 -> +0, so duplicates compare equal bit for bit */
}

/* Checks one line's fields (nf numbers in v, nf >= 5); keeps the box or
 * records why the line is dropped. */
static status check_line(parser *p, int line, const double *v, size_t nf, int nc) {
    double c = v[0];
    if (c != floor(c)) return add_issue(p, line, "class id %g is not an integer", c);
    if (c < 0 || c >= nc) return add_issue(p, line, "class id %g is out of range [0, %d)", c, nc);
    const double lo = -LABELS_TOLERANCE, hi = 1 + LABELS_TOLERANCE;
    ds_box b = {(int)c, 0, 0, 0, 0};
    if (nf == 5) {
        static const char *names[4] = {"cx", "cy", "w", "h"};
        for (int k = 1; k < 5; k++)
            if (v[k] < lo || v[k] > hi)
                return add_issue(p, line, "%s %g is outside [0, 1]", names[k - 1], v[k]);
        double cx = clip01(v[1]), cy = clip01(v[2]), w = clip01(v[3]), h = clip01(v[4]);
        double x1 = cx - w / 2, x2 = cx + w / 2, y1 = cy - h / 2, y2 = cy + h / 2;
        if (x1 < 0 || x2 > 1) { /* corners outside the image: clip the box to it */
            x1 = x1 < 0 ? 0 : x1, x2 = x2 > 1 ? 1 : x2;
            cx = (x1 + x2) / 2, w = x2 - x1;
        }
        if (y1 < 0 || y2 > 1) {
            y1 = y1 < 0 ? 0 : y1, y2 = y2 > 1 ? 1 : y2;
            cy = (y1 + y2) / 2, h = y2 - y1;
        }
        b.cx = clip01(cx), b.cy = clip01(cy), b.w = clip01(w), b.h = clip01(h);
    } else { /* polygon */
        double x1 = 1, y1 = 1, x2 = 0, y2 = 0;
        for (size_t k = 1; k < nf; k++) {
            if (v[k] < lo || v[k] > hi)
                return add_issue(p, line, "%s%zu %g is outside [0, 1]", k % 2 ? "x" : "y",
                                 (k + 1) / 2, v[k]);
            double q = clip01(v[k]);
            if (k % 2)
                x1 = q < x1 ? q : x1, x2 = q > x2 ? q : x2;
            else
                y1 = q < y1 ? q : y1, y2 = q > y2 ? q : y2;
        }
        b.cx = clip01((x1 + x2) / 2), b.cy = clip01((y1 + y2) / 2);
        b.w = clip01(x2 - x1 > 0 ? x2 - x1 : 0), b.h = clip01(y2 - y1 > 0 ? y2 - y1 : 0);
    }
    if (!(b.w > 0) || !(b.h > 0))
        return add_issue(p, line, "zero-size box (w %g, h %g)", (double)b.w, (double)b.h);
    size_t dup = set_find(p, &b);
    if (dup) return add_issue(p, line, "duplicate of line %d", p->box_lines[dup - 1]);
    return keep_box(p, &b, line);
}

status labels_parse(const char *text, size_t len, int nc, label_result *out) {
    memset(out, 0, sizeof *out);
    parser p = {out, 0, 0, NULL, NULL, 0};
    double *vals = NULL;
    size_t vcap = 0;
    status st = YOLOC_OK;
    int line = 0;
    size_t pos = 0;
    while (pos < len && st == YOLOC_OK) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line++;
        /* tokenise [pos, end) */
        size_t nf = 0, i = pos;
        int bad = 0;
        while (i < end && !bad) {
            while (i < end && is_space(text[i])) i++;
            if (i >= end) break;
            size_t t0 = i;
            while (i < end && !is_space(text[i])) i++;
            if (nf == vcap) {
                size_t cap = vcap ? vcap * 2 : 16;
                double *nv = realloc(vals, cap * sizeof *nv);
                if (!nv) {
                    st = err_set(YOLOC_ERR_NOMEM, "out of memory parsing labels");
                    break;
                }
                vals = nv, vcap = cap;
            }
            char shown[32];
            if (token_number(text + t0, i - t0, &vals[nf]) != 0) {
                token_show(text + t0, i - t0, shown, sizeof shown);
                st = add_issue(&p, line, "field %zu ('%s') is not a number", nf + 1, shown);
                bad = 1;
            } else if (!isfinite(vals[nf])) {
                token_show(text + t0, i - t0, shown, sizeof shown);
                st = add_issue(&p, line, "field %zu ('%s') is not finite", nf + 1, shown);
                bad = 1;
            }
            nf++;
        }
        if (st == YOLOC_OK && !bad && nf > 0) {
            if (nf == 5 || (nf >= 7 && nf % 2 == 1))
                st = check_line(&p, line, vals, nf, nc);
            else
                st = add_issue(&p, line, "expected 5 fields (class cx cy w h), got %zu", nf);
        }
        pos = end + 1;
    }
    free(vals);
    free(p.box_lines);
    free(p.slots);
    return st;
}

void labels_free(label_result *r) {
    if (!r) return;
    free(r->boxes);
    free(r->issues);
    memset(r, 0, sizeof *r);
}
