/* ctest-labels: tsan
 * The loader: batches are a pure function of (seed, epoch) whatever the
 * number of workers and the prefetch depth; epochs differ; the distributed
 * sampler's shards are disjoint (apart from the documented padding) and
 * cover the epoch; a sample is augmented the same whichever rank or batch it
 * lands in; drop_last and partial batches; rectangular validation batches
 * map back to the original boxes; close_mosaic through loader_set_aug;
 * worker errors (an unreadable file) reach loader_next naming the file;
 * restarting and closing mid-epoch. Runs under TSan/ASan (see the report).
 * With the synthetic dataset available, the determinism check also runs on
 * data=synth through dataset_open. */
#include "data/dataset.h"
#include "data/loader.h"
#include "harness.h"

#include <stdint.h>
#include <unistd.h>

/* ---- an in-memory source ------------------------------------------------ */

#define N_ITEMS 23
#define MAX_OBJ 3

typedef struct {
    size_t n;
    image imgs[N_ITEMS];
    ds_image items[N_ITEMS];
    ds_box boxes[N_ITEMS][MAX_OBJ];
    char paths[N_ITEMS][32];
    long fail_index; /* load of this index fails (-1: none) */
} mem_source;

static status mem_load(const aug_source *src, size_t i, image *img) {
    const mem_source *m = src->ctx;
    if ((long)i == m->fail_index) return err_set(YOLOC_ERR_IO, "cannot open: permission denied");
    const image *s = &m->imgs[i];
    img->w = s->w;
    img->h = s->h;
    img->data = malloc((size_t)s->w * s->h * 3);
    if (!img->data) return err_set(YOLOC_ERR_NOMEM, "oom");
    memcpy(img->data, s->data, (size_t)s->w * s->h * 3);
    return YOLOC_OK;
}

/* Images of varied sizes (long side `longest` when > 0) with 1-3 solid
 * rectangles on a gradient. */
static void mem_build(mem_source *m, size_t n, int longest) {
    memset(m, 0, sizeof *m);
    m->n = n;
    m->fail_index = -1;
    for (size_t i = 0; i < n; i++) {
        int w = 60 + (int)(i * 37) % 120, h = 60 + (int)(i * 53) % 110;
        if (longest > 0) {
            if (w >= h) {
                h = h * longest / w;
                w = longest;
            } else {
                w = w * longest / h;
                h = longest;
            }
        }
        image *im = &m->imgs[i];
        im->w = w;
        im->h = h;
        im->data = malloc((size_t)w * h * 3);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = im->data + ((size_t)y * w + x) * 3;
                p[0] = (uint8_t)(x * 255 / w);
                p[1] = (uint8_t)(y * 255 / h);
                p[2] = (uint8_t)(i * 11);
            }
        size_t nb = 1 + i % MAX_OBJ;
        for (size_t k = 0; k < nb; k++) {
            int x1 = 4 + (int)k * w / 3, x2 = x1 + w / 4, y1 = 4 + (int)((i + k) % 3) * h / 4,
                y2 = y1 + h / 3;
            for (int y = y1; y < y2; y++)
                for (int x = x1; x < x2; x++) {
                    uint8_t *p = im->data + ((size_t)y * w + x) * 3;
                    p[0] = (uint8_t)(40 * k);
                    p[1] = 200;
                    p[2] = (uint8_t)(255 - 60 * k);
                }
            m->boxes[i][k] = (ds_box){(int)k, (x1 + x2) * 0.5f / w, (y1 + y2) * 0.5f / h,
                                      (float)(x2 - x1) / w, (float)(y2 - y1) / h};
        }
        snprintf(m->paths[i], sizeof m->paths[i], "mem/img%zu.png", i);
        m->items[i] = (ds_image){m->paths[i], "", w, h, nb, m->boxes[i]};
    }
}

static void mem_free(mem_source *m) {
    for (size_t i = 0; i < m->n; i++) free(m->imgs[i].data);
}

static aug_source mem_as_source(mem_source *m) {
    aug_source s = {m->n, m->items, mem_load, m, NULL};
    return s;
}

/* ---- recording an epoch -------------------------------------------------- */

typedef struct {
    size_t nb;
    int n[64], h[64], w[64];
    float *images[64];
    size_t ntargets[64];
    float *targets[64];
    size_t index[64][16];
    double wait_ms;
} epoch_rec;

static void rec_free(epoch_rec *r) {
    for (size_t b = 0; b < r->nb; b++) {
        free(r->images[b]);
        free(r->targets[b]);
    }
    memset(r, 0, sizeof *r);
}

/* Runs one epoch (optionally only `limit` batches) and records it. */
static status run_epoch(const aug_source *src, const loader_options *o, int epoch, size_t limit,
                        epoch_rec *r) {
    memset(r, 0, sizeof *r);
    loader *L;
    TRY(loader_open(&L, src, o));
    status st = loader_start_epoch(L, epoch);
    while (st >= 0) {
        const loader_batch *b;
        st = loader_next(L, &b);
        if (st < 0 || !b || r->nb == limit) break;
        size_t k = r->nb++;
        YOLOC_ASSERT(k < 64 && b->n <= 16);
        CHECK_EQ_INT(b->index, k);
        CHECK_EQ_INT(b->epoch, epoch);
        r->n[k] = b->n;
        r->h[k] = b->h;
        r->w[k] = b->w;
        size_t ni = (size_t)b->n * 3 * b->h * b->w;
        r->images[k] = malloc(ni * sizeof(float));
        memcpy(r->images[k], b->images, ni * sizeof(float));
        r->ntargets[k] = b->ntargets;
        r->targets[k] = malloc((b->ntargets * 6 + 1) * sizeof(float));
        memcpy(r->targets[k], b->targets, b->ntargets * 6 * sizeof(float));
        for (int i = 0; i < b->n; i++) r->index[k][i] = b->items[i].index;
        CHECK(b->wait_ms >= 0 && b->wait_ms < 60e3);
        r->wait_ms += b->wait_ms;
    }
    loader_close(L);
    return st;
}

/* Compares two recorded epochs; prints the first difference. */
static int rec_equal(const char *what, const epoch_rec *a, const epoch_rec *b) {
    if (a->nb != b->nb) {
        fprintf(stderr, "  %s: %zu vs %zu batches\n", what, a->nb, b->nb);
        return 0;
    }
    for (size_t k = 0; k < a->nb; k++) {
        if (a->n[k] != b->n[k] || a->h[k] != b->h[k] || a->w[k] != b->w[k]) {
            fprintf(stderr, "  %s: batch %zu shape %dx%dx%d vs %dx%dx%d\n", what, k, a->n[k],
                    a->h[k], a->w[k], b->n[k], b->h[k], b->w[k]);
            return 0;
        }
        size_t ni = (size_t)a->n[k] * 3 * a->h[k] * a->w[k];
        for (size_t i = 0; i < ni; i++)
            if (memcmp(&a->images[k][i], &b->images[k][i], sizeof(float)) != 0) {
                fprintf(stderr, "  %s: batch %zu image float %zu differs: %.9g vs %.9g\n", what, k,
                        i, a->images[k][i], b->images[k][i]);
                return 0;
            }
        if (a->ntargets[k] != b->ntargets[k] ||
            memcmp(a->targets[k], b->targets[k], a->ntargets[k] * 6 * sizeof(float)) != 0) {
            fprintf(stderr, "  %s: batch %zu targets differ (%zu vs %zu rows)\n", what, k,
                    a->ntargets[k], b->ntargets[k]);
            return 0;
        }
        if (memcmp(a->index[k], b->index[k], sizeof a->index[k]) != 0) {
            fprintf(stderr, "  %s: batch %zu image indices differ\n", what, k);
            return 0;
        }
    }
    return 1;
}

static void train_options(loader_options *o) {
    loader_options_default(o);
    o->batch = 4;
    o->seed = 42;
    o->aug.imgsz = 128;
    o->aug.mixup = 0.3f;
    o->aug.cutmix = 0.3f;
    o->aug.degrees = 5;
    o->aug.threads = 1;
}

/* ---- tests --------------------------------------------------------------- */

static void test_determinism(const aug_source *src, const char *name) {
    loader_options o;
    train_options(&o);
    epoch_rec ref, r;
    o.workers = 1;
    CHECK(run_epoch(src, &o, 0, 64, &ref) == YOLOC_OK);
    CHECK_EQ_INT(ref.nb, (src->n + 3) / 4);
    const struct {
        int workers, prefetch, threads;
    } cfg[] = {{4, 2, 1}, {0, 2, 1}, {2, 1, 1}, {3, 5, 1}, {0, 2, 2}};
    size_t ncfg = sizeof cfg / sizeof cfg[0];
#ifdef __SANITIZE_THREAD__
    /* libgomp is not instrumented: TSan reports OpenMP's own synchronisation
     * as races, so skip the OpenMP case (test_augment covers its results) */
    ncfg--;
#endif
    for (size_t c = 0; c < ncfg; c++) {
        o.workers = cfg[c].workers;
        o.prefetch = cfg[c].prefetch;
        o.aug.threads = cfg[c].threads;
        CHECK(run_epoch(src, &o, 0, 64, &r) == YOLOC_OK);
        char what[128];
        snprintf(what, sizeof what, "%s: workers=%d prefetch=%d threads=%d vs workers=1", name,
                 cfg[c].workers, cfg[c].prefetch, cfg[c].threads);
        CHECK_MSG(rec_equal(what, &ref, &r), "%s", what);
        rec_free(&r);
    }
    /* another epoch: a new order and new augmentation in every batch */
    o.workers = 4;
    o.prefetch = 2;
    o.aug.threads = 1;
    CHECK(run_epoch(src, &o, 1, 64, &r) == YOLOC_OK);
    CHECK_EQ_INT(r.nb, ref.nb);
    int same_batches = 0, same_order = 1;
    for (size_t k = 0; k < r.nb && k < ref.nb; k++) {
        size_t ni = (size_t)r.n[k] * 3 * r.h[k] * r.w[k];
        same_batches +=
            r.n[k] == ref.n[k] && memcmp(r.images[k], ref.images[k], ni * sizeof(float)) == 0;
        same_order &= memcmp(r.index[k], ref.index[k], sizeof r.index[k]) == 0;
    }
    CHECK_EQ_INT(same_batches, 0);
    CHECK(!same_order);
    rec_free(&r);
    /* another seed: differs too */
    o.seed = 43;
    CHECK(run_epoch(src, &o, 0, 64, &r) == YOLOC_OK);
    CHECK(memcmp(r.images[0], ref.images[0], (size_t)4 * 3 * 128 * 128 * sizeof(float)) != 0);
    rec_free(&r);
    rec_free(&ref);
    printf("  %-30s determinism over workers 0-4, prefetch 1-5: ok\n", name);
}

static void test_sampler(const aug_source *src) {
    const size_t sizes[] = {23, 10, 7, 1};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        uint32_t order[32], idx[32], occ[32];
        loader_epoch_order(9, 3, 1, n, order);
        for (int w = 1; w <= 4; w++) {
            size_t len = loader_shard_len(n, w), pad = len * (size_t)w - n;
            int count[32] = {0}, repeats = 0;
            for (int r = 0; r < w; r++) {
                loader_shard(order, n, r, w, idx, occ);
                for (size_t j = 0; j < len; j++) {
                    count[idx[j]]++;
                    repeats += occ[j] > 0;
                }
            }
            /* each item exactly once, plus the first `pad` of the order once more */
            int bad = 0;
            for (size_t i = 0; i < n; i++) {
                int want = 1;
                for (size_t q = 0; q < pad; q++) want += order[q % n] == i;
                bad += count[i] != want;
            }
            CHECK_MSG(bad == 0, "n=%zu world=%d: %d items with a wrong count", n, w, bad);
            CHECK_EQ_INT(repeats, pad);
        }
    }
    /* the loader on each rank follows its shard, and a sample is augmented
     * the same on any rank / in any batch (RNG per image, not per batch) */
    loader_options o;
    train_options(&o);
    o.workers = 2;
    epoch_rec all, part;
    CHECK(run_epoch(src, &o, 5, 64, &all) == YOLOC_OK);
    uint32_t order[N_ITEMS], idx[N_ITEMS], occ[N_ITEMS];
    loader_epoch_order(o.seed, 5, 1, src->n, order);
    for (int w = 2; w <= 4; w++)
        for (int r = 0; r < w; r++) {
            o.world = w;
            o.rank = r;
            CHECK(run_epoch(src, &o, 5, 64, &part) == YOLOC_OK);
            loader_shard(order, src->n, r, w, idx, occ);
            size_t len = loader_shard_len(src->n, w), j = 0, matched = 0, compared = 0;
            for (size_t k = 0; k < part.nb; k++)
                for (int i = 0; i < part.n[k]; i++, j++) {
                    CHECK_EQ_INT(part.index[k][i], idx[j]);
                    if (occ[j] != 0) continue; /* a padding repeat is augmented differently */
                    /* find the same image in the world=1 run and compare pixels */
                    for (size_t K = 0; K < all.nb; K++)
                        for (int I = 0; I < all.n[K]; I++)
                            if (all.index[K][I] == idx[j]) {
                                size_t sz = (size_t)3 * 128 * 128;
                                compared++;
                                matched += memcmp(all.images[K] + I * sz, part.images[k] + i * sz,
                                                  sz * sizeof(float)) == 0;
                            }
                }
            CHECK_EQ_INT(j, len);
            CHECK_EQ_INT(matched, compared);
            rec_free(&part);
        }
    rec_free(&all);
}

static void test_batching(const aug_source *src) {
    loader_options o;
    train_options(&o);
    o.batch = 5; /* 23 = 4 x 5 + 3 */
    o.workers = 2;
    epoch_rec r;
    CHECK(run_epoch(src, &o, 0, 64, &r) == YOLOC_OK);
    CHECK_EQ_INT(r.nb, 5);
    CHECK_EQ_INT(r.n[4], 3);
    /* targets: image index in batch, class, normalised boxes inside [0, 1] */
    int bad = 0;
    for (size_t k = 0; k < r.nb; k++)
        for (size_t t = 0; t < r.ntargets[k]; t++) {
            const float *q = r.targets[k] + 6 * t;
            bad += q[0] < 0 || q[0] >= r.n[k] || q[1] < 0 || q[1] >= MAX_OBJ || q[4] <= 0 ||
                   q[5] <= 0 || q[2] - q[4] / 2 < -1e-5f || q[2] + q[4] / 2 > 1 + 1e-5f ||
                   q[3] - q[5] / 2 < -1e-5f || q[3] + q[5] / 2 > 1 + 1e-5f;
            if (t > 0) bad += q[0] < q[-6]; /* grouped by image */
        }
    CHECK_EQ_INT(bad, 0);
    /* pixel values are in [0, 1] */
    int out = 0;
    for (size_t i = 0; i < (size_t)5 * 3 * 128 * 128; i++)
        out += r.images[0][i] < 0 || r.images[0][i] > 1;
    CHECK_EQ_INT(out, 0);
    rec_free(&r);
    o.drop_last = 1;
    CHECK(run_epoch(src, &o, 0, 64, &r) == YOLOC_OK);
    CHECK_EQ_INT(r.nb, 4);
    CHECK_EQ_INT(r.n[3], 5);
    rec_free(&r);
}

static void test_rect_val(const aug_source *src) {
    loader_options o;
    loader_options_default(&o);
    o.batch = 4;
    o.workers = 2;
    o.augment = 0;
    o.shuffle = 0;
    o.rect = 1;
    o.aug.imgsz = 128;
    loader *L;
    CHECK(loader_open(&L, src, &o) == YOLOC_OK);
    CHECK(loader_start_epoch(L, 0) == YOLOC_OK);
    uint32_t order[N_ITEMS];
    CHECK(aug_rect_order(src->items, src->n, order) == YOLOC_OK);
    size_t seen = 0, bad_map = 0, bad_shape = 0, nt = 0;
    double worst = 0;
    for (;;) {
        const loader_batch *b;
        status st = loader_next(L, &b);
        CHECK(st == YOLOC_OK);
        if (st < 0 || !b) break;
        int eh, ew;
        aug_rect_shape(src->items, order + seen, (size_t)b->n, 128, 32, 0.5, &eh, &ew);
        bad_shape += b->h != eh || b->w != ew;
        for (size_t t = 0; t < b->ntargets; t++) {
            const float *q = b->targets + 6 * t;
            const loader_item *it = &b->items[(int)q[0]];
            const ds_image *di = &src->items[it->index];
            CHECK_EQ_INT(it->index, order[seen + (size_t)q[0]]);
            /* back to the original image, normalised */
            double cx = (q[2] * b->w - it->pad_w) / it->ratio_w / it->orig_w;
            double cy = (q[3] * b->h - it->pad_h) / it->ratio_h / it->orig_h;
            double w = q[4] * b->w / it->ratio_w / it->orig_w;
            int found = 0;
            for (size_t k = 0; k < di->nboxes; k++)
                if (di->boxes[k].cls == (int)q[1]) {
                    double d = fmax(fmax(fabs(cx - di->boxes[k].cx), fabs(cy - di->boxes[k].cy)),
                                    fabs(w - di->boxes[k].w));
                    if (d > worst) worst = d;
                    found += d < 1e-4;
                }
            bad_map += found != 1;
            nt++;
        }
        /* the padding is grey 114 where the letterbox left room */
        const loader_item *it0 = &b->items[0];
        if (it0->pad_w >= 1) CHECK_NEAR(b->images[0], 114 / 255.0f, 0);
        seen += (size_t)b->n;
    }
    CHECK_EQ_INT(seen, src->n);
    CHECK_EQ_INT(bad_shape, 0);
    CHECK_MSG(bad_map == 0, "%zu of %zu targets do not map back to their box (worst %.3g)", bad_map,
              nt, worst);
    loader_close(L);
    /* options that contradict each other are refused with the reason */
    o.augment = 1;
    CHECK(loader_open(&L, src, &o) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "rect");
    o.augment = 0;
    o.world = 2;
    o.rank = 2;
    CHECK(loader_open(&L, src, &o) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "rank");
}

/* close_mosaic: with every augmentation off, the training pipeline is the
 * letterbox (images already at imgsz: no resampling), so its batches equal
 * the validation loader's; the change applies from the next epoch. */
static void test_close_mosaic(void) {
    mem_source m;
    mem_build(&m, 9, 128);
    aug_source src = mem_as_source(&m);
    loader_options o;
    train_options(&o);
    o.workers = 2;
    epoch_rec ref, plain, val;
    CHECK(run_epoch(&src, &o, 1, 64, &ref) == YOLOC_OK);
    loader *L;
    CHECK(loader_open(&L, &src, &o) == YOLOC_OK);
    CHECK(loader_start_epoch(L, 1) == YOLOC_OK);
    aug_params off = o.aug;
    off.mosaic = off.mixup = off.cutmix = 0;
    off.scale = off.translate = off.degrees = 0;
    off.hsv_h = off.hsv_s = off.hsv_v = 0;
    off.fliplr = 0;
    CHECK(loader_set_aug(L, &off) == YOLOC_OK);
    const loader_batch *b;
    CHECK(loader_next(L, &b) == YOLOC_OK && b);
    if (b)
        CHECK_MSG(memcmp(b->images, ref.images[0], (size_t)4 * 3 * 128 * 128 * sizeof(float)) == 0,
                  "loader_set_aug changed the epoch in progress");
    CHECK(loader_start_epoch(L, 2) == YOLOC_OK);
    memset(&plain, 0, sizeof plain);
    for (;;) {
        CHECK(loader_next(L, &b) == YOLOC_OK);
        if (!b) break;
        size_t k = plain.nb++, ni = (size_t)b->n * 3 * 128 * 128;
        plain.n[k] = b->n;
        plain.h[k] = plain.w[k] = 128;
        plain.images[k] = malloc(ni * sizeof(float));
        memcpy(plain.images[k], b->images, ni * sizeof(float));
        plain.ntargets[k] = b->ntargets;
        plain.targets[k] = malloc((b->ntargets * 6 + 1) * sizeof(float));
        memcpy(plain.targets[k], b->targets, b->ntargets * 6 * sizeof(float));
        for (int i = 0; i < b->n; i++) plain.index[k][i] = b->items[i].index;
    }
    loader_close(L);
    loader_options v = o;
    v.augment = 0;
    CHECK(run_epoch(&src, &v, 2, 64, &val) == YOLOC_OK); /* same shuffle: same seed, epoch */
    CHECK_MSG(rec_equal("close_mosaic: train without augmentation vs letterbox", &plain, &val),
              "see above");
    CHECK(aug_params_check(&off) == YOLOC_OK);
    off.imgsz = 256;
    CHECK(loader_open(&L, &src, &o) == YOLOC_OK);
    CHECK(loader_set_aug(L, &off) == YOLOC_ERR_INVALID);
    loader_close(L);
    rec_free(&ref);
    rec_free(&plain);
    rec_free(&val);
    mem_free(&m);
}

static void test_errors_and_shutdown(mem_source *m) {
    aug_source src = mem_as_source(m);
    loader_options o;
    train_options(&o);
    o.augment = 0; /* image 7 is then only in batch 1 (no mosaic partners) */
    o.shuffle = 0;
    o.workers = 2;
    m->fail_index = 7;
    loader *L;
    CHECK(loader_open(&L, &src, &o) == YOLOC_OK);
    const loader_batch *b = NULL;
    CHECK(loader_next(L, &b) == YOLOC_ERR_INVALID); /* no epoch yet */
    CHECK(loader_start_epoch(L, 0) == YOLOC_OK);
    CHECK(loader_next(L, &b) == YOLOC_OK && b && b->index == 0);
    status st = loader_next(L, &b);
    CHECK_EQ_INT(st, YOLOC_ERR_IO);
    CHECK(b == NULL);
    CHECK_CONTAINS(yoloc_last_error(), "mem/img7.png");
    CHECK_CONTAINS(yoloc_last_error(), "permission denied");
    CHECK_EQ_INT(loader_next(L, &b), YOLOC_ERR_IO); /* sticky */
    /* restart: batch 0 is fine again */
    CHECK(loader_start_epoch(L, 0) == YOLOC_OK);
    CHECK(loader_next(L, &b) == YOLOC_OK && b && b->index == 0);
    loader_close(L); /* mid-epoch, workers busy with batches 1-2 */
    m->fail_index = -1;

    /* workers=0 reports the same */
    m->fail_index = 5;
    o.workers = 0;
    CHECK(loader_open(&L, &src, &o) == YOLOC_OK);
    CHECK(loader_start_epoch(L, 0) == YOLOC_OK);
    CHECK(loader_next(L, &b) == YOLOC_OK);
    CHECK_EQ_INT(loader_next(L, &b), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "mem/img5.png");
    loader_close(L);
    m->fail_index = -1;

    /* restart mid-epoch gives the same batches; close with a deep prefetch */
    train_options(&o);
    o.workers = 4;
    o.prefetch = 4;
    CHECK(loader_open(&L, &src, &o) == YOLOC_OK);
    float *first = malloc((size_t)4 * 3 * 128 * 128 * sizeof(float));
    CHECK(loader_start_epoch(L, 3) == YOLOC_OK);
    CHECK(loader_next(L, &b) == YOLOC_OK && b);
    memcpy(first, b->images, (size_t)4 * 3 * 128 * 128 * sizeof(float));
    CHECK(loader_next(L, &b) == YOLOC_OK && b);
    CHECK(loader_start_epoch(L, 3) == YOLOC_OK);
    CHECK(loader_next(L, &b) == YOLOC_OK && b && b->index == 0);
    if (b) CHECK(memcmp(first, b->images, (size_t)4 * 3 * 128 * 128 * sizeof(float)) == 0);
    free(first);
    loader_close(L);
    /* open and close without an epoch */
    CHECK(loader_open(&L, &src, &o) == YOLOC_OK);
    loader_close(L);
}

/* ---- a file that becomes unreadable ------------------------------------- */

static status file_load(const aug_source *src, size_t i, image *img) {
    return image_load(src->items[i].path, img);
}

static void test_unreadable_file(const mem_source *m) {
    char dir[] = "/tmp/yoloc_loader_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    enum { NF = 8 };
    char paths[NF][96];
    ds_image items[NF];
    for (int i = 0; i < NF; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/img%d.png", dir, i);
        CHECK(image_save(paths[i], &m->imgs[i], 90) == YOLOC_OK);
        items[i] = m->items[i];
        items[i].path = paths[i];
    }
    aug_source src = {NF, items, file_load, NULL, NULL};
    loader_options o;
    train_options(&o);
    o.workers = 2;
    o.shuffle = 0;
    o.augment = 0;
    o.batch = 2;
    loader *L;
    CHECK(loader_open(&L, &src, &o) == YOLOC_OK);
    CHECK(loader_start_epoch(L, 0) == YOLOC_OK);
    const loader_batch *b;
    CHECK(loader_next(L, &b) == YOLOC_OK && b);
    /* the prefetch window is batches 1-2: image 6 (batch 3) is read later */
    CHECK(unlink(paths[6]) == 0);
    status st = YOLOC_OK;
    size_t got = 1;
    while ((st = loader_next(L, &b)) == YOLOC_OK && b) got++;
    CHECK(st < 0);
    CHECK_EQ_INT(got, 3);
    CHECK_CONTAINS(yoloc_last_error(), paths[6]);
    printf("  unreadable file: \"%s\"\n", yoloc_last_error());
    loader_close(L);
    for (int i = 0; i < NF; i++) unlink(paths[i]);
    rmdir(dir);
}

/* ---- the synthetic dataset ---------------------------------------------- */

static void test_synth(void) {
    dataset ds;
    dataset_options dopt = {.use_cache = 0, .quiet = 1};
    status st = dataset_open(&ds, "synth:images=20,val=4,imgsz=96,seed=3", &dopt);
    CHECK_MSG(st == YOLOC_OK, "dataset_open(synth): %s", yoloc_last_error());
    if (st < 0) return;
    aug_source src;
    aug_source_from_split(&src, &ds, dataset_split(&ds, "train"));
    test_determinism(&src, "data=synth");
    dataset_close(&ds);
}

int main(void) {
    mem_source m;
    mem_build(&m, N_ITEMS, 0);
    aug_source src = mem_as_source(&m);
    test_determinism(&src, "in-memory source");
    test_sampler(&src);
    test_batching(&src);
    test_rect_val(&src);
    test_close_mosaic();
    test_errors_and_shutdown(&m);
    test_unreadable_file(&m);
    test_synth();
    mem_free(&m);
    return test_finish("test_loader");
}
