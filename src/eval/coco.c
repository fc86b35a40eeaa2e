/* COCO bbox evaluation (pycocotools COCOeval semantics, see coco.h) and
 * COCO JSON reading/writing.
 *
 * Layout of the work: detections and ground truths are sorted once by
 * (class, image rank by id, original order); each category is then
 * evaluated image by image (evaluateImg for the 4 area ranges and 10
 * thresholds, flags kept per (area, threshold) in one buffer) and
 * accumulated at once (3 maxDets x 4 areas), keeping only what the summary
 * needs: precision samples at maxDets 100 and recalls. */
#include "eval/coco.h"
#include "eval/npmath.h"
#include "io/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a string literal (length from sizeof, so it cannot be miscounted). */
#define SB_LIT(b, lit) sbuf_append((b), (lit), sizeof(lit) - 1)

#define CT 10  /* IoU thresholds */
#define CR 101 /* recall points */
#define CA 4   /* area ranges */
#define CM 3   /* maxDets */

static const int MAXDETS[CM] = {1, 10, 100};
static const double AREA_LO[CA] = {0, 0, 32 * 32, 96 * 96};
static const double AREA_HI[CA] = {1e10, 32 * 32, 96 * 96, 1e10};

void coco_result_free(coco_result *r) {
    free(r->ap);
    free(r->ap50);
    free(r->ar100);
    memset(r, 0, sizeof *r);
}

typedef struct {
    int cls;
    size_t rank; /* image position in ascending id */
    size_t idx;  /* index into gts / dets */
    double score;
} item;

static int cmp_item(const void *a, const void *b) {
    const item *p = a, *q = b;
    if (p->cls != q->cls) return p->cls < q->cls ? -1 : 1;
    if (p->rank != q->rank) return p->rank < q->rank ? -1 : 1;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

typedef struct {
    size_t i;
    int64_t id;
} id_rank;

static int cmp_id(const void *a, const void *b) {
    const id_rank *p = a, *q = b;
    if (p->id != q->id) return p->id < q->id ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

typedef struct {
    double score;
    size_t pos;
} scored;

/* Score descending, ties by position: a stable (mergesort) order. */
static int cmp_scored(const void *a, const void *b) {
    const scored *p = a, *q = b;
    if (p->score != q->score) return p->score < q->score ? 1 : -1;
    return (p->pos > q->pos) - (p->pos < q->pos);
}

/* maskApi bbIou for one pair: boxes as (x, y, w, h), crowd: union = dt area. */
static double bb_iou(const eval_det *d, const eval_gt *g) {
    double w = fmin(d->w + d->x, g->w + g->x) - fmax(d->x, g->x);
    if (w <= 0) return 0;
    double h = fmin(d->h + d->y, g->h + g->y) - fmax(d->y, g->y);
    if (h <= 0) return 0;
    double i = w * h, da = d->w * d->h, ga = g->w * g->h;
    double u = g->crowd ? da : da + ga - i;
    return i / u;
}

/* Per-category scratch: one entry per image with ground truth or detections. */
typedef struct {
    size_t cap;           /* detections (<= 100 per image) the buffers hold */
    double *score;        /* [cap] per entry, descending */
    unsigned char *flags; /* [CA*CT][cap]: bit 0 matched, bit 1 ignored */
    size_t nent, cap_ent;
    size_t *off, *nd; /* per entry: first position and count */
    size_t *npig;     /* [entry * CA] non-ignored ground truths */
} cat_work;

status eval_coco(const eval_set *s, coco_result *r) {
    memset(r, 0, sizeof *r);
    const int nc = s->nc;
    const size_t NI = s->nimages;
    status st = YOLOC_OK;
    id_rank *ids = NULL;
    size_t *rank = NULL;
    item *gi = NULL, *di = NULL;
    double *qbuf = NULL, *recbuf = NULL, *ious = NULL, *rc = NULL, *pr = NULL, *flat = NULL;
    unsigned char *valid = NULL;
    scored *sc = NULL, *merge = NULL;
    size_t *gord = NULL, *gtm = NULL;
    unsigned char *gig = NULL;
    cat_work w;
    memset(&w, 0, sizeof w);

    r->nc = nc;
    r->ap = malloc(sizeof(double) * (size_t)nc);
    r->ap50 = malloc(sizeof(double) * (size_t)nc);
    r->ar100 = malloc(sizeof(double) * (size_t)nc);
    ids = malloc(sizeof(id_rank) * (NI ? NI : 1));
    rank = malloc(sizeof(size_t) * (NI ? NI : 1));
    gi = malloc(sizeof(item) * (s->ngts ? s->ngts : 1));
    di = malloc(sizeof(item) * (s->ndets ? s->ndets : 1));
    /* q at maxDets 100: [area][t][r][k]; recall: [area][m][t][k]; valid: [area][m][k] */
    qbuf = malloc(sizeof(double) * CA * CT * CR * (size_t)nc);
    recbuf = malloc(sizeof(double) * CA * CM * CT * (size_t)nc);
    valid = calloc((size_t)CA * CM * (size_t)nc, 1);
    flat = malloc(sizeof(double) * CT * CR * (size_t)nc);
    if (!r->ap || !r->ap50 || !r->ar100 || !ids || !rank || !gi || !di || !qbuf || !recbuf ||
        !valid || !flat)
        goto nomem;

    /* image ranks by ascending id */
    for (size_t i = 0; i < NI; i++) ids[i] = (id_rank){i, s->images[i].id};
    qsort(ids, NI, sizeof *ids, cmp_id);
    for (size_t i = 0; i < NI; i++) {
        if (i && ids[i].id == ids[i - 1].id) {
            st = err_set(YOLOC_ERR_INVALID, "coco eval: two images with id %lld",
                         (long long)ids[i].id);
            goto done;
        }
        rank[ids[i].i] = i;
    }
    size_t ng = 0, nd = 0;
    for (size_t i = 0; i < NI; i++) {
        const eval_image *im = &s->images[i];
        for (size_t k = 0; k < im->ngt; k++)
            gi[ng++] = (item){s->gts[im->gt0 + k].cls, rank[i], im->gt0 + k, 0};
        for (size_t k = 0; k < im->ndet; k++)
            di[nd++] = (item){s->dets[im->det0 + k].cls, rank[i], im->det0 + k,
                              s->dets[im->det0 + k].score};
    }
    qsort(gi, ng, sizeof *gi, cmp_item);
    qsort(di, nd, sizeof *di, cmp_item);

    /* largest per-(image, category) counts, for the scratch */
    size_t maxg = 1, maxd = 1, maxcat = 1;
    for (size_t a = 0, b; a < ng; a = b) {
        for (b = a; b < ng && gi[b].cls == gi[a].cls && gi[b].rank == gi[a].rank; b++) continue;
        maxg = b - a > maxg ? b - a : maxg;
    }
    {
        size_t cat_total = 0;
        for (size_t a = 0, b; a < nd; a = b) {
            for (b = a; b < nd && di[b].cls == di[a].cls && di[b].rank == di[a].rank; b++) continue;
            maxd = b - a > maxd ? b - a : maxd;
            if (a && di[a].cls != di[a - 1].cls) cat_total = 0;
            cat_total += b - a < 100 ? b - a : 100;
            maxcat = cat_total > maxcat ? cat_total : maxcat;
        }
    }
    w.cap = maxcat;
    w.score = malloc(sizeof(double) * w.cap);
    w.flags = malloc((size_t)CA * CT * w.cap);
    w.cap_ent = NI + 1;
    w.off = malloc(sizeof(size_t) * w.cap_ent);
    w.nd = malloc(sizeof(size_t) * w.cap_ent);
    w.npig = malloc(sizeof(size_t) * w.cap_ent * CA);
    sc = malloc(sizeof(scored) * maxd);
    merge = malloc(sizeof(scored) * w.cap);
    ious = malloc(sizeof(double) * (maxd < 100 ? maxd : 100) * maxg);
    rc = malloc(sizeof(double) * w.cap);
    pr = malloc(sizeof(double) * w.cap);
    gord = malloc(sizeof(size_t) * maxg);
    gtm = malloc(sizeof(size_t) * maxg);
    gig = malloc(maxg);
    if (!w.score || !w.flags || !w.off || !w.nd || !w.npig || !sc || !merge || !ious || !rc ||
        !pr || !gord || !gtm || !gig)
        goto nomem;

    size_t pg = 0, pd = 0; /* cursors into gi / di */
    for (int k = 0; k < nc; k++) {
        /* ---- evaluateImg for every image of category k ---- */
        w.nent = 0;
        size_t used = 0;
        while ((pg < ng && gi[pg].cls == k) || (pd < nd && di[pd].cls == k)) {
            size_t rg = (pg < ng && gi[pg].cls == k) ? gi[pg].rank : (size_t)-1;
            size_t rd = (pd < nd && di[pd].cls == k) ? di[pd].rank : (size_t)-1;
            size_t rk = rg < rd ? rg : rd;
            size_t g0 = pg, d0 = pd;
            while (pg < ng && gi[pg].cls == k && gi[pg].rank == rk) pg++;
            while (pd < nd && di[pd].cls == k && di[pd].rank == rk) pd++;
            size_t G = pg - g0, D = pd - d0;
            /* detections by score, cut to maxDets[-1] */
            for (size_t j = 0; j < D; j++) sc[j] = (scored){di[d0 + j].score, di[d0 + j].idx};
            qsort(sc, D, sizeof *sc, cmp_scored);
            if (D > 100) D = 100;
            for (size_t j = 0; j < D; j++)
                for (size_t g = 0; g < G; g++)
                    ious[j * G + g] = bb_iou(&s->dets[sc[j].pos], &s->gts[gi[g0 + g].idx]);
            size_t e = w.nent++;
            w.off[e] = used;
            w.nd[e] = D;
            for (size_t j = 0; j < D; j++) w.score[used + j] = sc[j].score;
            for (int a = 0; a < CA; a++) {
                /* ignore flags; ground truths ordered non-ignored first (stable) */
                size_t no = 0, npig = 0;
                for (size_t g = 0; g < G; g++) {
                    const eval_gt *gt = &s->gts[gi[g0 + g].idx];
                    int ig = gt->crowd || gt->area < AREA_LO[a] || gt->area > AREA_HI[a];
                    if (!ig) gord[no++] = g;
                    npig += !ig;
                }
                for (size_t g = 0; g < G; g++) {
                    const eval_gt *gt = &s->gts[gi[g0 + g].idx];
                    if (gt->crowd || gt->area < AREA_LO[a] || gt->area > AREA_HI[a]) gord[no++] = g;
                }
                for (size_t g = 0; g < G; g++) gig[g] = g >= npig;
                w.npig[e * CA + (size_t)a] = npig;
                for (int t = 0; t < CT; t++) {
                    unsigned char *fl = w.flags + ((size_t)a * CT + (size_t)t) * w.cap + used;
                    double thr = np_linspace_at(0.5, 0.95, CT, (size_t)t);
                    for (size_t g = 0; g < G; g++) gtm[g] = 0;
                    for (size_t j = 0; j < D; j++) {
                        double iou = thr < 1 - 1e-10 ? thr : 1 - 1e-10;
                        long m = -1;
                        for (size_t q = 0; q < G; q++) {
                            const eval_gt *gt = &s->gts[gi[g0 + gord[q]].idx];
                            if (gtm[q] && !gt->crowd) continue;
                            if (m > -1 && gig[m] == 0 && gig[q] == 1) break;
                            double v = ious[j * G + gord[q]];
                            if (v < iou) continue;
                            iou = v;
                            m = (long)q;
                        }
                        unsigned char f = 0;
                        if (m >= 0) {
                            f = 1 | (unsigned char)(gig[m] << 1);
                            gtm[m] = j + 1;
                        } else {
                            const eval_det *dt = &s->dets[sc[j].pos];
                            double area = dt->w * dt->h;
                            if (area < AREA_LO[a] || area > AREA_HI[a]) f = 2;
                        }
                        fl[j] = f;
                    }
                }
            }
            used += D;
        }

        /* ---- accumulate: areas x maxDets ---- */
        for (int a = 0; a < CA; a++)
            for (int mi = 0; mi < CM; mi++) {
                size_t vi = ((size_t)a * CM + (size_t)mi) * (size_t)nc + (size_t)k;
                if (w.nent == 0) continue;
                size_t npig = 0, n = 0;
                for (size_t e = 0; e < w.nent; e++) {
                    npig += w.npig[e * CA + (size_t)a];
                    size_t take = w.nd[e] < (size_t)MAXDETS[mi] ? w.nd[e] : (size_t)MAXDETS[mi];
                    for (size_t j = 0; j < take; j++)
                        merge[n++] = (scored){w.score[w.off[e] + j], w.off[e] + j};
                }
                if (npig == 0) continue;
                valid[vi] = 1;
                qsort(merge, n, sizeof *merge, cmp_scored);
                for (int t = 0; t < CT; t++) {
                    const unsigned char *fl = w.flags + ((size_t)a * CT + (size_t)t) * w.cap;
                    double tp = 0, fp = 0;
                    for (size_t i = 0; i < n; i++) {
                        unsigned char f = fl[merge[i].pos];
                        int ign = (f >> 1) & 1, mt = f & 1;
                        tp += mt && !ign;
                        fp += !mt && !ign;
                        rc[i] = tp / (double)npig;
                        pr[i] = tp / (fp + tp + 2.220446049250313e-16);
                    }
                    recbuf[(((size_t)a * CM + (size_t)mi) * CT + (size_t)t) * (size_t)nc +
                           (size_t)k] = n ? rc[n - 1] : 0.0;
                    if (mi != CM - 1) continue;
                    for (size_t i = n; i-- > 1;)
                        if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
                    size_t i = 0;
                    double *q = qbuf + (((size_t)a * CT + (size_t)t) * CR) * (size_t)nc + (size_t)k;
                    for (int ri = 0; ri < CR; ri++) {
                        double thr = np_linspace_at(0.0, 1.0, CR, (size_t)ri);
                        while (i < n && rc[i] < thr) i++; /* searchsorted, side left */
                        q[(size_t)ri * (size_t)nc] = i < n ? pr[i] : 0.0;
                        if (i >= n) { /* pycocotools stops at the first index error */
                            for (int rj = ri; rj < CR; rj++) q[(size_t)rj * (size_t)nc] = 0.0;
                            break;
                        }
                    }
                }
            }
    }

    /* ---- summarize ---- */
    for (int stat = 0; stat < 12; stat++) {
        int a, mi = CM - 1, t0 = 0, t1 = CT, is_ap = stat < 6;
        switch (stat) {
        case 0:
            a = 0;
            break;
        case 1:
            a = 0, t1 = 1;
            break;
        case 2:
            a = 0, t0 = 5, t1 = 6;
            break;
        case 3:
        case 4:
        case 5:
            a = stat - 2;
            break;
        case 6:
        case 7:
        case 8:
            a = 0, mi = stat - 6;
            break;
        default:
            a = stat - 8;
            break;
        }
        size_t n = 0;
        for (int t = t0; t < t1; t++) {
            if (is_ap) {
                for (int ri = 0; ri < CR; ri++)
                    for (int k = 0; k < nc; k++)
                        if (valid[((size_t)a * CM + (size_t)mi) * (size_t)nc + (size_t)k])
                            flat[n++] =
                                qbuf[(((size_t)a * CT + (size_t)t) * CR + (size_t)ri) * (size_t)nc +
                                     (size_t)k];
            } else {
                for (int k = 0; k < nc; k++)
                    if (valid[((size_t)a * CM + (size_t)mi) * (size_t)nc + (size_t)k])
                        flat[n++] =
                            recbuf[(((size_t)a * CM + (size_t)mi) * CT + (size_t)t) * (size_t)nc +
                                   (size_t)k];
            }
        }
        r->stats[stat] = n ? np_sum(flat, n) / (double)n : -1.0;
    }
    /* per class: area all, maxDets 100 */
    for (int k = 0; k < nc; k++) {
        if (!valid[(size_t)(CM - 1) * (size_t)nc + (size_t)k]) {
            r->ap[k] = r->ap50[k] = r->ar100[k] = -1.0;
            continue;
        }
        size_t n = 0;
        for (int t = 0; t < CT; t++)
            for (int ri = 0; ri < CR; ri++)
                flat[n++] = qbuf[(((size_t)t) * CR + (size_t)ri) * (size_t)nc + (size_t)k];
        r->ap[k] = np_sum(flat, n) / (double)n;
        r->ap50[k] = np_sum(flat, CR) / (double)CR;
        for (int t = 0; t < CT; t++)
            flat[t] = recbuf[(((size_t)(CM - 1)) * CT + (size_t)t) * (size_t)nc + (size_t)k];
        r->ar100[k] = np_sum(flat, CT) / (double)CT;
    }
    goto done;
nomem:
    st = err_set(YOLOC_ERR_NOMEM, "coco eval: out of memory");
done:
    if (st < 0) coco_result_free(r);
    free(ids), free(rank), free(gi), free(di), free(qbuf), free(recbuf), free(valid), free(flat);
    free(w.score), free(w.flags), free(w.off), free(w.nd), free(w.npig);
    free(sc), free(merge), free(ious), free(rc), free(pr), free(gord), free(gtm), free(gig);
    return st;
}

/* ---- JSON output ---- */

static status write_file(const char *path, const sbuf *b) {
    if (b->failed) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory while formatting", path);
    FILE *f = fopen(path, "wb");
    if (!f) return err_set(YOLOC_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    size_t n = fwrite(b->buf ? b->buf : "", 1, b->len, f);
    int bad = n != b->len;
    if (fclose(f) != 0) bad = 1;
    if (bad) return err_set(YOLOC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return YOLOC_OK;
}

static void json_box(sbuf *b, double x, double y, double w, double h) {
    SB_LIT(b, "[");
    sbuf_json_number(b, x);
    SB_LIT(b, ", ");
    sbuf_json_number(b, y);
    SB_LIT(b, ", ");
    sbuf_json_number(b, w);
    SB_LIT(b, ", ");
    sbuf_json_number(b, h);
    SB_LIT(b, "]");
}

status coco_write_results(const eval_set *s, const char *path) {
    sbuf b;
    sbuf_init(&b);
    SB_LIT(&b, "[");
    size_t n = 0;
    for (size_t i = 0; i < s->nimages; i++) {
        const eval_image *im = &s->images[i];
        for (size_t k = 0; k < im->ndet; k++) {
            const eval_det *d = &s->dets[im->det0 + k];
            sbuf_printf(&b, "%s\n{\"image_id\": %lld, \"category_id\": %lld, \"bbox\": ",
                        n++ ? "," : "", (long long)im->id, (long long)s->cat_ids[d->cls]);
            json_box(&b, d->x, d->y, d->w, d->h);
            SB_LIT(&b, ", \"score\": ");
            sbuf_json_number(&b, d->score);
            SB_LIT(&b, "}");
        }
    }
    SB_LIT(&b, "\n]\n");
    status st = write_file(path, &b);
    sbuf_free(&b);
    return st;
}

static double round_to(double v, double scale) { return nearbyint(v * scale) / scale; } /* Python round() */

status coco_write_predictions(const eval_set *s, const char *const *file_names, const char *path) {
    sbuf b;
    sbuf_init(&b);
    SB_LIT(&b, "[");
    size_t n = 0;
    for (size_t i = 0; i < s->nimages; i++) {
        const eval_image *im = &s->images[i];
        const char *fn = file_names[i], *base = strrchr(fn, '/');
        base = base ? base + 1 : fn;
        char stem[512];
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem) *dot = 0;
        int numeric = *stem != 0;
        for (const char *p = stem; *p; p++) numeric &= *p >= '0' && *p <= '9';
        for (size_t k = 0; k < im->ndet; k++) {
            const eval_det *d = &s->dets[im->det0 + k];
            /* xyxy clipped to the image, back to top-left + size (Ultralytics' scale_boxes clips) */
            double x1 = fmin(fmax(d->x, 0), im->width), y1 = fmin(fmax(d->y, 0), im->height);
            double x2 = fmin(fmax(d->x + d->w, 0), im->width), y2 = fmin(fmax(d->y + d->h, 0), im->height);
            sbuf_printf(&b, "%s\n{\"image_id\": ", n++ ? "," : "");
            if (!*stem) sbuf_printf(&b, "%lld", (long long)im->id); /* an image without a file (synthetic) */
            else if (numeric) sbuf_printf(&b, "%s", stem[strspn(stem, "0")] ? stem + strspn(stem, "0") : "0");
            else sbuf_json_string(&b, stem);
            SB_LIT(&b, ", \"file_name\": ");
            sbuf_json_string(&b, base);
            sbuf_printf(&b, ", \"category_id\": %lld, \"bbox\": [%.10g, %.10g, %.10g, %.10g], \"score\": %.10g}",
                        (long long)s->cat_ids[d->cls], round_to(x1, 1e3), round_to(y1, 1e3), round_to(x2 - x1, 1e3),
                        round_to(y2 - y1, 1e3), round_to(d->score, 1e5));
        }
    }
    SB_LIT(&b, "\n]\n");
    status st = write_file(path, &b);
    sbuf_free(&b);
    return st;
}

status coco_write_gt(const eval_set *s, const char *const *names, const char *const *file_names,
                     const char *path) {
    sbuf b;
    sbuf_init(&b);
    SB_LIT(&b, "{\"images\": [");
    for (size_t i = 0; i < s->nimages; i++) {
        const eval_image *im = &s->images[i];
        sbuf_printf(&b, "%s\n{\"id\": %lld, \"width\": %d, \"height\": %d", i ? "," : "",
                    (long long)im->id, im->width, im->height);
        if (file_names) {
            SB_LIT(&b, ", \"file_name\": ");
            sbuf_json_string(&b, file_names[i]);
        }
        SB_LIT(&b, "}");
    }
    SB_LIT(&b, "\n], \"annotations\": [");
    size_t n = 0;
    for (size_t i = 0; i < s->nimages; i++) {
        const eval_image *im = &s->images[i];
        for (size_t k = 0; k < im->ngt; k++) {
            const eval_gt *g = &s->gts[im->gt0 + k];
            sbuf_printf(&b,
                        "%s\n{\"id\": %zu, \"image_id\": %lld, \"category_id\": %lld, \"bbox\": ",
                        n ? "," : "", n + 1, (long long)im->id, (long long)s->cat_ids[g->cls]);
            n++;
            json_box(&b, g->x, g->y, g->w, g->h);
            SB_LIT(&b, ", \"area\": ");
            sbuf_json_number(&b, g->area);
            sbuf_printf(&b, ", \"iscrowd\": %d}", g->crowd ? 1 : 0);
        }
    }
    SB_LIT(&b, "\n], \"categories\": [");
    for (int c = 0; c < s->nc; c++) {
        sbuf_printf(&b, "%s\n{\"id\": %lld, \"name\": ", c ? "," : "", (long long)s->cat_ids[c]);
        if (names) {
            sbuf_json_string(&b, names[c]);
        } else {
            sbuf_printf(&b, "\"%d\"", c);
        }
        SB_LIT(&b, "}");
    }
    SB_LIT(&b, "\n]}\n");
    status st = write_file(path, &b);
    sbuf_free(&b);
    return st;
}

/* ---- JSON input ---- */

static status read_text(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(YOLOC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", path);
    if (err) {
        free(buf);
        return err_set(YOLOC_ERR_IO, "%s: read error", path);
    }
    *out = buf;
    *len = n;
    return YOLOC_OK;
}

static int get_i64(const jnode *n, int64_t *out) {
    if (!n || n->kind != JSON_NUMBER || !isfinite(n->number) || n->number != floor(n->number) ||
        fabs(n->number) > 9.0e15)
        return -1;
    *out = (int64_t)n->number;
    return 0;
}

static int get_box(const jnode *n, double v[4]) {
    if (!n || n->kind != JSON_ARRAY || n->n != 4) return -1;
    for (int i = 0; i < 4; i++) {
        if (n->items[i]->kind != JSON_NUMBER || !isfinite(n->items[i]->number)) return -1;
        v[i] = n->items[i]->number;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Index of id in the sorted array, or -1. */
static long find_id(const int64_t *sorted, size_t n, int64_t id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && sorted[lo] == id ? (long)lo : -1;
}

void coco_names_free(char **names, int nc) {
    if (!names) return;
    for (int i = 0; i < nc; i++) free(names[i]);
    free(names);
}

typedef struct {
    size_t img;   /* image index (sorted) */
    size_t order; /* position in the file */
    eval_gt g;
    eval_det d;
} loaded;

static int cmp_loaded(const void *a, const void *b) {
    const loaded *p = a, *q = b;
    if (p->img != q->img) return p->img < q->img ? -1 : 1;
    return (p->order > q->order) - (p->order < q->order);
}

status coco_load(eval_set *s, const char *gt_path, const char *dt_path, char ***names_out) {
    memset(s, 0, sizeof *s);
    if (names_out) *names_out = NULL;
    char *text = NULL, *dtext = NULL;
    size_t len = 0, dlen = 0;
    jdoc doc = {0}, ddoc = {0};
    int64_t *img_ids = NULL, *cat_ids = NULL;
    int *img_w = NULL, *img_h = NULL;
    loaded *ann = NULL, *res = NULL;
    char **names = NULL;
    size_t nimg = 0, ncat = 0, nann = 0, nres = 0;
    eval_gt *gbuf = NULL;
    eval_det *dbuf = NULL;
    status st;

    TRY_GOTO(st, read_text(gt_path, &text, &len));
    TRY_GOTO(st, jdoc_parse(&doc, text, len, gt_path));
    const jnode *root = doc.root;
    const jnode *images = jnode_get(root, "images"), *anns = jnode_get(root, "annotations");
    const jnode *cats = jnode_get(root, "categories");
    if (root->kind != JSON_OBJECT || !images || images->kind != JSON_ARRAY || !anns ||
        anns->kind != JSON_ARRAY || !cats || cats->kind != JSON_ARRAY || cats->n == 0) {
        st = err_set(YOLOC_ERR_PARSE,
                     "%s: need an object with arrays \"images\", \"annotations\" "
                     "and a non-empty \"categories\"",
                     gt_path);
        goto fail;
    }
    nimg = images->n;
    ncat = cats->n;
    img_ids = malloc(sizeof(int64_t) * (nimg ? nimg : 1));
    img_w = malloc(sizeof(int) * (nimg ? nimg : 1));
    img_h = malloc(sizeof(int) * (nimg ? nimg : 1));
    cat_ids = malloc(sizeof(int64_t) * ncat);
    names = calloc(ncat, sizeof(char *));
    if (!img_ids || !img_w || !img_h || !cat_ids || !names) goto nomem;
    for (size_t i = 0; i < nimg; i++)
        if (get_i64(jnode_get(images->items[i], "id"), &img_ids[i]) < 0) {
            st = err_set(YOLOC_ERR_PARSE, "%s: images[%zu]: \"id\" must be an integer", gt_path, i);
            goto fail;
        }
    qsort(img_ids, nimg, sizeof(int64_t), cmp_i64);
    for (size_t i = 1; i < nimg; i++)
        if (img_ids[i] == img_ids[i - 1]) {
            st = err_set(YOLOC_ERR_PARSE, "%s: image id %lld appears twice", gt_path,
                         (long long)img_ids[i]);
            goto fail;
        }
    for (size_t i = 0; i < nimg; i++) {
        int64_t id = 0, wv = 0, hv = 0;
        get_i64(jnode_get(images->items[i], "id"), &id);
        long at = find_id(img_ids, nimg, id);
        get_i64(jnode_get(images->items[i], "width"), &wv);
        get_i64(jnode_get(images->items[i], "height"), &hv);
        img_w[at] = (int)wv;
        img_h[at] = (int)hv;
    }
    for (size_t i = 0; i < ncat; i++)
        if (get_i64(jnode_get(cats->items[i], "id"), &cat_ids[i]) < 0) {
            st = err_set(YOLOC_ERR_PARSE, "%s: categories[%zu]: \"id\" must be an integer", gt_path,
                         i);
            goto fail;
        }
    qsort(cat_ids, ncat, sizeof(int64_t), cmp_i64);
    for (size_t i = 1; i < ncat; i++)
        if (cat_ids[i] == cat_ids[i - 1]) {
            st = err_set(YOLOC_ERR_PARSE, "%s: category id %lld appears twice", gt_path,
                         (long long)cat_ids[i]);
            goto fail;
        }
    for (size_t i = 0; i < ncat; i++) {
        int64_t id = 0;
        get_i64(jnode_get(cats->items[i], "id"), &id);
        long at = find_id(cat_ids, ncat, id);
        const jnode *nm = jnode_get(cats->items[i], "name");
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%lld", (long long)id);
        names[at] = strdup(nm && nm->kind == JSON_STRING ? nm->text : tmp);
        if (!names[at]) goto nomem;
    }

    ann = malloc(sizeof(loaded) * (anns->n ? anns->n : 1));
    if (!ann) goto nomem;
    for (size_t i = 0; i < anns->n; i++) {
        const jnode *a = anns->items[i];
        int64_t iid, cid, crowd = 0;
        double box[4];
        if (get_i64(jnode_get(a, "image_id"), &iid) < 0 ||
            get_i64(jnode_get(a, "category_id"), &cid) < 0 ||
            get_box(jnode_get(a, "bbox"), box) < 0) {
            st = err_set(YOLOC_ERR_PARSE,
                         "%s: annotations[%zu]: need integer image_id, category_id "
                         "and a bbox of 4 finite numbers",
                         gt_path, i);
            goto fail;
        }
        const jnode *cr = jnode_get(a, "iscrowd"), *ar = jnode_get(a, "area");
        if (cr && get_i64(cr, &crowd) < 0 && cr->kind != JSON_BOOL) {
            st = err_set(YOLOC_ERR_PARSE, "%s: annotations[%zu]: bad iscrowd", gt_path, i);
            goto fail;
        }
        if (cr && cr->kind == JSON_BOOL) crowd = cr->boolean;
        long im = find_id(img_ids, nimg, iid), ca = find_id(cat_ids, ncat, cid);
        if (im < 0 || ca < 0) continue; /* not evaluated by pycocotools either */
        double area = box[2] * box[3];
        if (ar) {
            if (ar->kind != JSON_NUMBER || !isfinite(ar->number)) {
                st = err_set(YOLOC_ERR_PARSE, "%s: annotations[%zu]: bad area", gt_path, i);
                goto fail;
            }
            area = ar->number;
        }
        loaded *l = &ann[nann++];
        l->img = (size_t)im;
        l->order = i;
        l->g = (eval_gt){box[0], box[1], box[2], box[3], area, (int)ca, crowd != 0};
    }
    qsort(ann, nann, sizeof *ann, cmp_loaded);

    if (dt_path) {
        TRY_GOTO(st, read_text(dt_path, &dtext, &dlen));
        TRY_GOTO(st, jdoc_parse(&ddoc, dtext, dlen, dt_path));
        const jnode *arr = ddoc.root;
        if (arr->kind != JSON_ARRAY) {
            st = err_set(YOLOC_ERR_PARSE, "%s: a results file is a JSON array", dt_path);
            goto fail;
        }
        res = malloc(sizeof(loaded) * (arr->n ? arr->n : 1));
        if (!res) goto nomem;
        for (size_t i = 0; i < arr->n; i++) {
            const jnode *a = arr->items[i];
            int64_t iid, cid;
            double box[4];
            const jnode *scn = jnode_get(a, "score");
            if (get_i64(jnode_get(a, "image_id"), &iid) < 0 ||
                get_i64(jnode_get(a, "category_id"), &cid) < 0 ||
                get_box(jnode_get(a, "bbox"), box) < 0 || !scn || scn->kind != JSON_NUMBER ||
                !isfinite(scn->number)) {
                st = err_set(YOLOC_ERR_PARSE,
                             "%s: [%zu]: need integer image_id, category_id, a "
                             "bbox of 4 finite numbers and a finite score",
                             dt_path, i);
                goto fail;
            }
            long im = find_id(img_ids, nimg, iid), ca = find_id(cat_ids, ncat, cid);
            if (im < 0) {
                st = err_set(YOLOC_ERR_INVALID, "%s: [%zu]: image_id %lld is not in %s", dt_path, i,
                             (long long)iid, gt_path);
                goto fail;
            }
            if (ca < 0) continue;
            loaded *l = &res[nres++];
            l->img = (size_t)im;
            l->order = i;
            l->d = (eval_det){box[0], box[1], box[2], box[3], scn->number, (int)ca};
        }
        qsort(res, nres, sizeof *res, cmp_loaded);
    }

    TRY_GOTO(st, eval_set_init(s, (int)ncat));
    for (size_t i = 0; i < ncat; i++) s->cat_ids[i] = cat_ids[i];
    gbuf = malloc(sizeof(eval_gt) * (nann ? nann : 1));
    dbuf = malloc(sizeof(eval_det) * (nres ? nres : 1));
    if (!gbuf || !dbuf) goto nomem;
    size_t pa = 0, pr = 0;
    for (size_t i = 0; i < nimg; i++) {
        size_t ng = 0, nd = 0;
        while (pa < nann && ann[pa].img == i) gbuf[ng++] = ann[pa++].g;
        while (pr < nres && res[pr].img == i) dbuf[nd++] = res[pr++].d;
        TRY_GOTO(st, eval_set_add_image(s, img_ids[i], img_w[i], img_h[i], gbuf, ng, dbuf, nd));
    }
    if (names_out) {
        *names_out = names;
        names = NULL;
    }
    st = YOLOC_OK;
    goto out;
nomem:
    st = err_set(YOLOC_ERR_NOMEM, "%s: out of memory", gt_path);
fail:
    eval_set_free(s);
out:
    coco_names_free(names, (int)ncat);
    jdoc_free(&doc);
    jdoc_free(&ddoc);
    free(text), free(dtext), free(img_ids), free(img_w), free(img_h), free(cat_ids);
    free(ann), free(res), free(gbuf), free(dbuf);
    return st;
}
