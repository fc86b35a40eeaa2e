/* Validation over a dataset split (see validate.h). */
#include "train/validate.h"

#include "train/config.h"

#include "core/log.h"
#include "core/timer.h"
#include "data/loader.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A shard of a split as a loader source: item i is the split's image
 * rank + i * world. */
typedef struct {
    const dataset *ds;
    const ds_split *sp;
    int rank, world;
} shard_ctx;

static status shard_load(const aug_source *src, size_t i, image *img) {
    const shard_ctx *s = src->ctx;
    return dataset_load_image(s->ds, s->sp, (size_t)s->rank + i * (size_t)s->world, img);
}

void val_options_default(val_options *o) {
    memset(o, 0, sizeof *o);
    o->batch = 32;
    o->imgsz = 640;
    o->rect = 1;
    o->workers = 2;
    o->nms = NMS_CFG_VAL;
    o->metric = EVAL_METRIC_ULTRALYTICS;
    o->shard_world = 1;
}

void val_options_from_config(val_options *o, const config *c) {
    o->nms.conf = (float)c->conf;
    o->nms.iou = (float)c->iou;
    o->nms.max_det = (int)c->max_det;
    o->nms.agnostic = c->agnostic_nms || c->single_cls;
    o->metric = strcmp(c->metric, "coco") == 0 ? EVAL_METRIC_COCO : EVAL_METRIC_ULTRALYTICS;
}

void val_result_free(val_result *r) {
    eval_summary_free(&r->sum);
    eval_set_free(&r->set);
    eval_confusion_free(&r->cm);
    memset(r, 0, sizeof *r);
}

status validate_run(model *m, const dataset *ds, const ds_split *sp, const val_options *o, val_result *r) {
    memset(r, 0, sizeof *r);
    if (!sp || sp->nimages == 0) return err_set(YOLOC_ERR_INVALID, "validation: the split has no images");
    int nc = model_nc(m);
    if (nc != ds->nc)
        return err_set(YOLOC_ERR_SHAPE, "validation: the model has %d classes, the dataset %d", nc, ds->nc);
    TRY(eval_set_init(&r->set, nc));
    TRY(eval_confusion_init(&r->cm, nc, EVAL_CONFUSION_CONF, EVAL_CONFUSION_IOU));
    aug_source src;
    aug_source_from_split(&src, ds, sp);
    shard_ctx sh = {ds, sp, o->shard_rank, o->shard_world > 0 ? o->shard_world : 1};
    ds_image *shard_items = NULL;
    if (sh.world > 1) {
        size_t n = sp->nimages > (size_t)sh.rank ? (sp->nimages - (size_t)sh.rank + (size_t)sh.world - 1) / (size_t)sh.world : 0;
        if (n == 0) return eval_summarize(&r->set, o->metric, ds->names, &r->sum); /* nothing to validate here */
        if (!(shard_items = malloc(n * sizeof *shard_items))) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) shard_items[i] = sp->images[(size_t)sh.rank + i * (size_t)sh.world];
        src.n = n;
        src.items = shard_items;
        src.load = shard_load;
        src.ctx = &sh;
    }
    loader_options lo;
    loader_options_default(&lo);
    lo.batch = o->batch;
    lo.workers = o->workers;
    lo.shuffle = 0;
    lo.augment = 0;
    lo.rect = o->rect;
    lo.stride = model_stride(m, model_nlevels(m) - 1);
    lo.aug.imgsz = o->imgsz;
    loader *L = NULL;
    detloss loss;
    int have_loss = 0;
    void *ws = NULL;
    size_t ws_bytes = 0;
    float *dets = malloc((size_t)o->nms.max_det * 6 * sizeof(float));
    eval_gt *gts = NULL;
    eval_det *eds = malloc((size_t)o->nms.max_det * sizeof(eval_det));
    size_t gt_cap = 0, nbatches = 0;
    double t0 = time_now(), t_model = 0;
    status st = YOLOC_OK;
    if (!dets || !eds) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (o->compute_loss) {
        TRY_GOTO(st, detloss_init(&loss, m, &o->loss_cfg));
        have_loss = 1;
    }
    model_set_static_weights(m, 1); /* no parameter changes during validation: fold and reorder once per plan */
    TRY_GOTO(st, loader_open(&L, &src, &lo));
    TRY_GOTO(st, loader_start_epoch(L, 0));
    for (;;) {
        const loader_batch *b;
        TRY_GOTO(st, loader_next(L, &b));
        if (!b) break;
        double tm = time_now();
        TRY_GOTO(st, model_plan(m, b->n, b->h, b->w, 0));
        const float *out;
        TRY_GOTO(st, model_forward(m, b->images, &out));
        TRY_GOTO(st, model_output_host(m, &out)); /* NMS runs on the host */
        int A = model_anchors(m), C = model_out_channels(m);
        size_t need = nms_workspace_size((size_t)A, nc, &o->nms);
        if (need > ws_bytes) {
            free(ws);
            ws = malloc(need);
            ws_bytes = ws ? need : 0;
            if (!ws) {
                st = err_set(YOLOC_ERR_NOMEM, "out of memory (NMS workspace)");
                goto fail;
            }
        }
        if (have_loss) {
            float terms[3];
            st = detloss_compute(&loss, m, b->targets, b->ntargets, terms, NULL);
            if (st < 0 && st != YOLOC_ERR_NUMERIC) goto fail;
            st = YOLOC_OK;
            for (int k = 0; k < 3; k++) r->loss[k] += terms[k];
        }
        for (int i = 0; i < b->n; i++) {
            const loader_item *it = &b->items[i];
            size_t nd;
            TRY_GOTO(st, nms_image(&o->nms, out + (size_t)i * A * C, (size_t)A, nc, ws, ws_bytes, dets, &nd));
            /* Input pixels -> original pixels. Ultralytics 8.3 matches boxes in
             * the letterboxed input, predictions unclipped (they may reach into
             * the padding); the map to original pixels is axis-aligned and
             * affine, so IoUs are the same once the boxes are mapped, as long
             * as they are not clipped. Its COCO JSON (and so pycocotools)
             * clips them to the image. */
            const int clip = o->metric == EVAL_METRIC_COCO;
            for (size_t k = 0; k < nd; k++) {
                float *d = dets + k * 6;
                double x1 = (d[0] - it->pad_w) / it->ratio_w, y1 = (d[1] - it->pad_h) / it->ratio_h;
                double x2 = (d[2] - it->pad_w) / it->ratio_w, y2 = (d[3] - it->pad_h) / it->ratio_h;
                if (clip) {
                    x1 = fmin(fmax(x1, 0), it->orig_w);
                    x2 = fmin(fmax(x2, 0), it->orig_w);
                    y1 = fmin(fmax(y1, 0), it->orig_h);
                    y2 = fmin(fmax(y2, 0), it->orig_h);
                }
                eds[k] = (eval_det){x1, y1, x2 - x1, y2 - y1, d[4], (int)d[5]};
            }
            const ds_image *im = &src.items[it->index];
            if (im->nboxes > gt_cap) {
                free(gts);
                gt_cap = im->nboxes * 2;
                gts = malloc(gt_cap * sizeof *gts);
                if (!gts) {
                    st = err_set(YOLOC_ERR_NOMEM, "out of memory");
                    goto fail;
                }
            }
            for (size_t k = 0; k < im->nboxes; k++) {
                const ds_box *bx = &im->boxes[k];
                double w = bx->w * it->orig_w, h = bx->h * it->orig_h;
                gts[k] = (eval_gt){bx->cx * it->orig_w - w / 2, bx->cy * it->orig_h - h / 2, w, h, w * h, bx->cls, 0};
            }
            TRY_GOTO(st, eval_set_add_image(&r->set, (int64_t)it->index, it->orig_w, it->orig_h, gts, im->nboxes,
                                            eds, nd));
            TRY_GOTO(st, eval_confusion_add(&r->cm, gts, im->nboxes, eds, nd));
        }
        t_model += time_now() - tm;
        r->images += (size_t)b->n;
        nbatches++;
    }
    if (have_loss && nbatches)
        for (int k = 0; k < 3; k++) r->loss[k] /= (double)nbatches; /* Ultralytics: mean over batches */
    r->nbatches = nbatches;
    TRY_GOTO(st, eval_summarize(&r->set, o->metric, ds->names, &r->sum));
    r->seconds = time_now() - t0;
    r->ms_per_image = r->images ? t_model * 1e3 / (double)r->images : 0;
    if (o->verbose) eval_summary_print(&r->sum, stdout);
fail: /* also the normal exit */
    model_set_static_weights(m, 0);
    loader_close(L);
    if (have_loss) detloss_free(&loss);
    free(ws);
    free(dets);
    free(eds);
    free(gts);
    free(shard_items);
    if (st < 0) {
        eval_set_free(&r->set);
        eval_confusion_free(&r->cm);
    }
    return st;
}

/* ---- several processes ---- */

typedef struct {
    uint64_t nimages, ngts, ndets;
} set_header;

status validate_gather(val_result *r, dist *d, const char *const *names, eval_metric metric) {
    if (d->world == 1) return YOLOC_OK;
    /* losses: means over batches -> sums, reduced, means again */
    double lsum[4] = {r->loss[0] * (double)r->nbatches, r->loss[1] * (double)r->nbatches,
                      r->loss[2] * (double)r->nbatches, (double)r->nbatches};
    TRY(dist_allreduce_sum_f64(d, lsum, 4));
    for (int k = 0; k < 3; k++) r->loss[k] = lsum[3] > 0 ? lsum[k] / lsum[3] : 0;
    r->nbatches = (size_t)lsum[3];
    /* the confusion matrix, summed */
    int nc = r->set.nc;
    size_t ncm = (size_t)(nc + 1) * (nc + 1);
    double *cm = malloc(ncm * sizeof(double));
    if (!cm) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ncm; i++) cm[i] = r->cm.m ? (double)r->cm.m[i] : 0;
    status st = dist_allreduce_sum_f64(d, cm, ncm);
    for (size_t i = 0; st == YOLOC_OK && r->cm.m && i < ncm; i++) r->cm.m[i] = (uint64_t)cm[i];
    free(cm);
    TRY(st);
    /* ground truth and detections to rank 0 */
    const eval_set *s = &r->set;
    set_header h = {s->nimages, s->ngts, s->ndets};
    size_t bytes = sizeof h + s->nimages * sizeof(eval_image) + s->ngts * sizeof(eval_gt) + s->ndets * sizeof(eval_det);
    unsigned char *blob = malloc(bytes), *all = NULL;
    size_t *sizes = calloc((size_t)d->world, sizeof(size_t));
    if (!blob || !sizes) {
        free(blob), free(sizes);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    unsigned char *q = blob;
    memcpy(q, &h, sizeof h), q += sizeof h;
    if (s->nimages) memcpy(q, s->images, s->nimages * sizeof(eval_image)), q += s->nimages * sizeof(eval_image);
    if (s->ngts) memcpy(q, s->gts, s->ngts * sizeof(eval_gt)), q += s->ngts * sizeof(eval_gt);
    if (s->ndets) memcpy(q, s->dets, s->ndets * sizeof(eval_det));
    st = dist_gather(d, blob, bytes, 0, (void **)&all, sizes);
    free(blob);
    if (st == YOLOC_OK && d->rank == 0) {
        eval_set merged;
        st = eval_set_init(&merged, nc);
        size_t off = 0;
        for (int rk = 0; st == YOLOC_OK && rk < d->world; rk++) {
            const unsigned char *b = all + off;
            set_header rh;
            memcpy(&rh, b, sizeof rh);
            const eval_image *im = (const eval_image *)(b + sizeof rh);
            const eval_gt *g = (const eval_gt *)(im + rh.nimages);
            const eval_det *dt = (const eval_det *)(g + rh.ngts);
            for (uint64_t i = 0; st == YOLOC_OK && i < rh.nimages; i++) /* shard index -> split index */
                st = eval_set_add_image(&merged, im[i].id * d->world + rk, im[i].width, im[i].height, g + im[i].gt0,
                                        im[i].ngt, dt + im[i].det0, im[i].ndet);
            off += sizes[rk];
        }
        if (st == YOLOC_OK) {
            eval_summary_free(&r->sum);
            eval_set_free(&r->set);
            r->set = merged;
            r->images = merged.nimages;
            st = eval_summarize(&r->set, metric, names, &r->sum);
        } else {
            eval_set_free(&merged);
        }
    }
    free(all);
    free(sizes);
    return st;
}
