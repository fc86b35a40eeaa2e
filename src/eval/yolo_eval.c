/* YOLO-format prediction files -> eval_set, and the eval summary (table and
 * JSON). Rules: yolo_eval.h. */
#include "eval/yolo_eval.h"
#include "core/log.h"
#include "io/json.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Appends a string literal (length from sizeof, so it cannot be miscounted). */
#define SB_LIT(b, lit) sbuf_append((b), (lit), sizeof(lit) - 1)
#include <sys/stat.h>

/* ---- image stems ---- */

typedef struct {
    const char *stem; /* points into a private copy */
    size_t len;
    size_t idx;
} stem_ref;

static int cmp_stem(const void *a, const void *b) {
    const stem_ref *p = a, *q = b;
    size_t n = p->len < q->len ? p->len : q->len;
    int c = memcmp(p->stem, q->stem, n);
    if (c) return c;
    if (p->len != q->len) return p->len < q->len ? -1 : 1;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

/* The file name without folder and last extension. */
static void path_stem(const char *path, const char **stem, size_t *len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    *stem = base;
    *len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
}

static long find_stem(const stem_ref *refs, size_t n, const char *stem, size_t len) {
    size_t lo = 0, hi = n;
    stem_ref key = {stem, len, 0};
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_stem(&refs[mid], &key);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && refs[lo].len == len && memcmp(refs[lo].stem, stem, len) == 0)
        return (long)refs[lo].idx;
    return -1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Image ids: integer stems when all are distinct numbers, else positions. */
static void image_ids(const ds_image *im, size_t n, int64_t *ids) {
    int numeric = 1;
    for (size_t i = 0; i < n && numeric; i++) {
        const char *s;
        size_t len;
        path_stem(im[i].path, &s, &len);
        if (len == 0 || len > 15) numeric = 0;
        int64_t v = 0;
        for (size_t k = 0; k < len && numeric; k++) {
            if (s[k] < '0' || s[k] > '9') numeric = 0;
            v = v * 10 + (s[k] - '0');
        }
        ids[i] = v;
    }
    /* distinct stems can still be equal numbers ("007" and "7") */
    if (numeric) {
        int64_t *tmp = malloc(sizeof(int64_t) * (n ? n : 1));
        if (!tmp) {
            numeric = 0;
        } else {
            memcpy(tmp, ids, sizeof(int64_t) * n);
            qsort(tmp, n, sizeof(int64_t), cmp_i64);
            for (size_t i = 1; i < n && numeric; i++)
                if (tmp[i] == tmp[i - 1]) numeric = 0;
            free(tmp);
        }
    }
    if (!numeric)
        for (size_t i = 0; i < n; i++) ids[i] = (int64_t)i;
}

/* ---- prediction files ---- */

typedef struct {
    eval_det *d;
    size_t n, cap;
} det_list;

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Parses one line; 0 ok, else a reason is written to why. */
static int parse_line(char *line, int nc, double v[6], char *why, size_t cap) {
    char *p = line, *end;
    int k = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (!*p) break;
        if (k == 6) {
            snprintf(why, cap, "more than 6 fields (expected 'class cx cy w h conf')");
            return -1;
        }
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || (*end && *end != ' ' && *end != '\t' && *end != '\r' && *end != '\n')) {
            snprintf(why, cap, "field %d is not a number (expected 'class cx cy w h conf')", k + 1);
            return -1;
        }
        v[k++] = x;
        p = end;
    }
    if (k != 6) {
        snprintf(why, cap, "%d fields (expected 'class cx cy w h conf')", k);
        return -1;
    }
    if (!(v[0] == floor(v[0]) && v[0] >= 0 && v[0] < nc)) {
        snprintf(why, cap, "unknown class id %g (dataset has %d classes)", v[0], nc);
        return -1;
    }
    for (int i = 1; i < 5; i++)
        if (!isfinite(v[i])) {
            snprintf(why, cap, "box value %d is not finite", i);
            return -1;
        }
    if (v[3] < 0 || v[4] < 0) {
        snprintf(why, cap, "negative box size %g x %g", v[3], v[4]);
        return -1;
    }
    if (!isfinite(v[5]) || v[5] < 0 || v[5] > 1) {
        snprintf(why, cap, "confidence %g is not in [0, 1]", v[5]);
        return -1;
    }
    return 0;
}

/* Reads one file into dl (pixels of a w x h image). Bad lines are warned and counted. */
static status read_pred_file(const char *path, int nc, int w, int h, double conf, det_list *dl,
                             pred_report *rep) {
    FILE *f = fopen(path, "r");
    if (!f) {
        log_warn("%s: cannot open (%s); file skipped", path, strerror(errno));
        rep->files_skipped++;
        return YOLOC_OK;
    }
    rep->files_read++;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0;
    status st = YOLOC_OK;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *q = line;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') q++;
        if (!*q) continue;
        rep->lines_read++;
        double v[6];
        char why[160];
        if (parse_line(line, nc, v, why, sizeof why) < 0) {
            log_warn("%s:%d: %s; line skipped", path, lineno, why);
            rep->lines_skipped++;
            continue;
        }
        if (conf != EVAL_CONF_NONE && !(v[5] > conf)) {
            rep->dets_below_conf++;
            continue;
        }
        if (dl->n == dl->cap) {
            size_t nc2 = dl->cap ? dl->cap * 2 : 64;
            eval_det *nd = realloc(dl->d, nc2 * sizeof(eval_det));
            if (!nd) {
                st = err_set(YOLOC_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            dl->d = nd;
            dl->cap = nc2;
        }
        double bw = v[3] * w, bh = v[4] * h;
        dl->d[dl->n++] = (eval_det){v[1] * w - bw / 2, v[2] * h - bh / 2, bw, bh, v[5], (int)v[0]};
        rep->dets_kept++;
    }
    if (ferror(f) && st >= 0) {
        log_warn("%s: read error after line %d; the rest of the file is skipped", path, lineno);
    }
    free(line);
    fclose(f);
    return st;
}

status eval_load_yolo(eval_set *s, const ds_image *images, size_t nimages, int nc,
                      const char *pred_dir, double conf, pred_report *rep) {
    memset(rep, 0, sizeof *rep);
    memset(s, 0, sizeof *s);
    if (!(conf <= 1) || (conf < 0 && conf != EVAL_CONF_NONE))
        return err_set(YOLOC_ERR_INVALID, "eval: conf %g is not in [0, 1]", conf);
    TRY(eval_set_init(s, nc));
    status st = YOLOC_OK;
    stem_ref *refs = malloc(sizeof(stem_ref) * (nimages ? nimages : 1));
    int64_t *ids = malloc(sizeof(int64_t) * (nimages ? nimages : 1));
    det_list *dets = calloc(nimages ? nimages : 1, sizeof(det_list));
    char **names = NULL;
    size_t nnames = 0, cap_names = 0;
    eval_gt *gt = NULL;
    char *path = NULL;
    DIR *dir = NULL;
    if (!refs || !ids || !dets) goto nomem;
    for (size_t i = 0; i < nimages; i++) {
        path_stem(images[i].path, &refs[i].stem, &refs[i].len);
        refs[i].idx = i;
    }
    qsort(refs, nimages, sizeof *refs, cmp_stem);
    for (size_t i = 1; i < nimages; i++)
        if (refs[i].len == refs[i - 1].len &&
            memcmp(refs[i].stem, refs[i - 1].stem, refs[i].len) == 0)
            log_warn("eval: images %s and %s share a name; predictions go to the first",
                     images[refs[i - 1].idx].path, images[refs[i].idx].path);
    image_ids(images, nimages, ids);

    /* the prediction files, in name order (deterministic warnings) */
    dir = opendir(pred_dir);
    if (!dir) {
        st = err_set(errno == ENOENT ? YOLOC_ERR_NOT_FOUND : YOLOC_ERR_IO,
                     "pred=%s: cannot open the folder: %s", pred_dir, strerror(errno));
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".txt") != 0) continue;
        if (nnames == cap_names) {
            size_t nc2 = cap_names ? cap_names * 2 : 256;
            char **nn = realloc(names, nc2 * sizeof(char *));
            if (!nn) goto nomem;
            names = nn;
            cap_names = nc2;
        }
        if (!(names[nnames] = strdup(de->d_name))) goto nomem;
        nnames++;
    }
    closedir(dir);
    dir = NULL;
    if (nnames) qsort(names, nnames, sizeof(char *), cmp_name);
    size_t plen = strlen(pred_dir);
    for (size_t k = 0; k < nnames; k++) {
        size_t len = strlen(names[k]);
        free(path);
        path = malloc(plen + len + 2);
        if (!path) goto nomem;
        snprintf(path, plen + len + 2, "%s/%s", pred_dir, names[k]);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        long i = find_stem(refs, nimages, names[k], len - 4);
        if (i < 0) {
            log_warn("%s: no image named %.*s in this split; file skipped", path, (int)(len - 4),
                     names[k]);
            rep->files_skipped++;
            continue;
        }
        TRY_GOTO(st,
                 read_pred_file(path, nc, images[i].width, images[i].height, conf, &dets[i], rep));
    }

    /* ground truth and detections per image, in split order */
    size_t maxg = 1;
    for (size_t i = 0; i < nimages; i++) maxg = images[i].nboxes > maxg ? images[i].nboxes : maxg;
    gt = malloc(sizeof(eval_gt) * maxg);
    if (!gt) goto nomem;
    for (size_t i = 0; i < nimages; i++) {
        const ds_image *im = &images[i];
        size_t ng = 0;
        for (size_t k = 0; k < im->nboxes; k++) {
            const ds_box *b = &im->boxes[k];
            if (b->cls < 0 || b->cls >= nc) continue; /* the dataset checker drops these */
            double w = (double)b->w * im->width, h = (double)b->h * im->height;
            gt[ng++] = (eval_gt){(double)b->cx * im->width - w / 2,
                                 (double)b->cy * im->height - h / 2,
                                 w,
                                 h,
                                 w * h,
                                 b->cls,
                                 0};
        }
        TRY_GOTO(
            st, eval_set_add_image(s, ids[i], im->width, im->height, gt, ng, dets[i].d, dets[i].n));
    }
    goto out;
nomem:
    st = err_set(YOLOC_ERR_NOMEM, "eval: out of memory");
fail:
    eval_set_free(s);
out:
    if (dir) closedir(dir);
    for (size_t k = 0; k < nnames; k++) free(names[k]);
    free(names);
    if (dets)
        for (size_t i = 0; i < nimages; i++) free(dets[i].d);
    free(dets), free(refs), free(ids), free(gt), free(path);
    if (st < 0) eval_set_free(s);
    return st;
}

/* ---- summary ---- */

void eval_summary_free(eval_summary *e) {
    free(e->p);
    free(e->r);
    free(e->ap50);
    free(e->ap5095);
    free(e->instances);
    free(e->images_with);
    ul_metrics_free(&e->ul);
    memset(e, 0, sizeof *e);
}

status eval_summarize(const eval_set *s, eval_metric metric, const char *const *names,
                      eval_summary *e) {
    memset(e, 0, sizeof *e);
    const int nc = s->nc;
    e->metric = metric;
    e->nc = nc;
    e->names = names;
    e->nimages = s->nimages;
    e->p = malloc(sizeof(double) * (size_t)nc);
    e->r = malloc(sizeof(double) * (size_t)nc);
    e->ap50 = malloc(sizeof(double) * (size_t)nc);
    e->ap5095 = malloc(sizeof(double) * (size_t)nc);
    e->instances = calloc((size_t)nc, sizeof(size_t));
    e->images_with = calloc((size_t)nc, sizeof(size_t));
    if (!e->p || !e->r || !e->ap50 || !e->ap5095 || !e->instances || !e->images_with) {
        eval_summary_free(e);
        return err_set(YOLOC_ERR_NOMEM, "eval: out of memory");
    }
    status st = eval_ultralytics(s, &e->ul);
    if (st < 0) {
        eval_summary_free(e);
        return st;
    }
    for (int c = 0; c < nc; c++) {
        e->p[c] = e->r[c] = e->ap50[c] = e->ap5095[c] = NAN;
        e->instances[c] = e->ul.nt_per_class[c];
        e->images_with[c] = e->ul.nt_per_image[c];
        e->ninstances += e->ul.nt_per_class[c];
    }
    for (size_t i = 0; i < e->ul.nap; i++) {
        int c = e->ul.ap_class[i];
        e->p[c] = e->ul.p[i];
        e->r[c] = e->ul.r[i];
        e->ap50[c] = e->ul.ap50[i];
        e->ap5095[c] = e->ul.ap5095[i];
    }
    e->mp = e->ul.mp;
    e->mr = e->ul.mr;
    e->map50 = e->ul.map50;
    e->map5095 = e->ul.map5095;
    if (metric == EVAL_METRIC_COCO) {
        coco_result cr;
        st = eval_coco(s, &cr);
        if (st < 0) {
            eval_summary_free(e);
            return st;
        }
        e->has_coco = 1;
        memcpy(e->coco_stats, cr.stats, sizeof cr.stats);
        /* -1 (undefined) stays -1; an all-undefined set reports 0 */
        e->map5095 = cr.stats[0] < 0 ? 0 : cr.stats[0];
        e->map50 = cr.stats[1] < 0 ? 0 : cr.stats[1];
        for (int c = 0; c < nc; c++)
            if (e->instances[c]) {
                e->ap50[c] = cr.ap50[c];
                e->ap5095[c] = cr.ap[c];
            }
        coco_result_free(&cr);
    }
    return YOLOC_OK;
}

static const char *class_name(const eval_summary *e, int c, char *buf, size_t cap) {
    if (e->names && e->names[c]) return e->names[c];
    snprintf(buf, cap, "%d", c);
    return buf;
}

void eval_summary_print(const eval_summary *e, FILE *f) {
    fprintf(f, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "Box(P", "R",
            "mAP50", "mAP50-95)");
    fprintf(f, "%22s%11zu%11zu%11.3g%11.3g%11.3g%11.3g\n", "all", e->nimages, e->ninstances, e->mp,
            e->mr, e->map50, e->map5095);
    if (e->ninstances == 0)
        fprintf(f,
                "WARNING no labels found in the split, can not compute metrics without labels\n");
    char buf[32];
    for (int c = 0; c < e->nc; c++) {
        if (!e->instances[c]) continue;
        fprintf(f, "%22s%11zu%11zu%11.3g%11.3g%11.3g%11.3g\n", class_name(e, c, buf, sizeof buf),
                e->images_with[c], e->instances[c], e->p[c], e->r[c], e->ap50[c], e->ap5095[c]);
    }
    if (e->has_coco) {
        static const char *fmt[12] = {
            "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
            "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]",
            "Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]",
            "Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
            "Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
            "Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
            "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]",
            "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
            "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
            "Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
            "Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
            "Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]"};
        for (int i = 0; i < 12; i++) fprintf(f, " %s = %0.3f\n", fmt[i], e->coco_stats[i]);
    }
}

static void json_row(sbuf *b, double p, double r, double m50, double m, size_t n) {
    SB_LIT(b, "{\"P\": ");
    sbuf_json_number(b, p);
    SB_LIT(b, ", \"R\": ");
    sbuf_json_number(b, r);
    SB_LIT(b, ", \"mAP50\": ");
    sbuf_json_number(b, m50);
    SB_LIT(b, ", \"mAP50-95\": ");
    sbuf_json_number(b, m);
    sbuf_printf(b, ", \"instances\": %zu}", n);
}

status eval_summary_write_json(const eval_summary *e, const char *path) {
    sbuf b;
    sbuf_init(&b);
    sbuf_printf(&b, "{\"metric\": \"%s\", \"images\": %zu,\n\"all\": ",
                e->metric == EVAL_METRIC_COCO ? "coco" : "ultralytics", e->nimages);
    json_row(&b, e->mp, e->mr, e->map50, e->map5095, e->ninstances);
    SB_LIT(&b, ",\n\"classes\": {");
    char buf[64];
    int first = 1;
    for (int c = 0; c < e->nc; c++) {
        if (!e->instances[c]) continue;
        const char *name = class_name(e, c, buf, sizeof buf);
        int dup = 0; /* JSON keys must be unique: a repeated name gets "#<id>" */
        for (int k = 0; k < c && !dup; k++)
            if (e->instances[k] && e->names && e->names[k] && strcmp(e->names[k], name) == 0)
                dup = 1;
        char key[300];
        if (dup)
            snprintf(key, sizeof key, "%s#%d", name, c);
        else
            snprintf(key, sizeof key, "%s", name);
        if (first)
            SB_LIT(&b, "\n");
        else
            SB_LIT(&b, ",\n");
        first = 0;
        sbuf_json_string(&b, key);
        SB_LIT(&b, ": ");
        json_row(&b, e->p[c], e->r[c], e->ap50[c], e->ap5095[c], e->instances[c]);
    }
    SB_LIT(&b, "}");
    if (e->has_coco) {
        static const char *k[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                    "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
        SB_LIT(&b, ",\n\"coco\": {");
        for (int i = 0; i < 12; i++) {
            sbuf_printf(&b, "%s\"%s\": ", i ? ", " : "", k[i]);
            sbuf_json_number(&b, e->coco_stats[i]);
        }
        SB_LIT(&b, "}");
    }
    sbuf_printf(&b, ",\n\"skipped\": {\"files\": %zu, \"lines\": %zu}}\n", e->preds.files_skipped,
                e->preds.lines_skipped);
    status st = YOLOC_OK;
    if (b.failed) {
        st = err_set(YOLOC_ERR_NOMEM, "%s: out of memory while formatting", path);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f) {
            st =
                err_set(YOLOC_ERR_IO, "out=%s: cannot open for writing: %s", path, strerror(errno));
        } else {
            size_t n = fwrite(b.buf, 1, b.len, f);
            if (fclose(f) != 0 || n != b.len)
                st = err_set(YOLOC_ERR_IO, "out=%s: write failed: %s", path, strerror(errno));
        }
    }
    sbuf_free(&b);
    return st;
}
