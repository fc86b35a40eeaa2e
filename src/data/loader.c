/* The batch loader (see loader.h for the contract).
 *
 * Work unit: one sample t of the epoch's sequence (batch t / B, position
 * t % B). Batches live in a ring of prefetch + 1 slots: the trainer holds
 * the slot of the last batch returned, workers fill the slots of the next
 * `prefetch` batches. All shared state below the mutex; a worker writes only
 * its sample's slice of a slot (images, items[pos], boxes[pos]) outside it,
 * and the consumer reads a slot only after its `done` count (under the mutex)
 * reached n, so the mutex orders every write before the read. */
#include "data/loader.h"

#include "core/timer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ERRMSG_CAP 1024

typedef struct {
    long batch;    /* batch number this slot holds, -1 when none */
    int n, h, w;   /* batch geometry */
    int done;      /* samples finished (ok or not) */
    float *images; /* capacity: cap_images floats */
    size_t cap_images;
    loader_item *items; /* B */
    aug_box **boxes;    /* B: per-sample boxes (owned until assembled) */
    size_t *nboxes;     /* B */
    float *targets;
    size_t cap_targets; /* rows */
    status err;         /* first failure among the batch's samples */
    char errmsg[ERRMSG_CAP];
    loader_batch view; /* what loader_next hands out */
} slot;

struct loader {
    aug_source src;
    loader_options opt;
    aug_params aug;      /* in use this epoch (threads forced to 1 with workers) */
    aug_params aug_next; /* from loader_set_aug, applied at the next epoch */

    /* the epoch */
    int epoch;
    int started;
    size_t nsamples; /* this rank's samples per epoch */
    size_t ntasks;   /* samples actually produced (drop_last trims) */
    size_t nbatches;
    uint32_t *order;        /* n: dataset order */
    uint32_t *seq_idx;      /* nsamples: item of each sample */
    uint32_t *seq_occ;      /* nsamples: occurrence (sampler padding) */
    int *shape_h, *shape_w; /* nbatches */

    /* the ring */
    slot *slots;
    int nslots;
    size_t next_task;               /* next sample to claim */
    size_t next_consume;            /* next batch loader_next returns */
    status failed;                  /* sticky error once loader_next reported one */
    char failmsg[ERRMSG_CAP + 128]; /* "batch b of epoch e: " + a slot's message */

    /* threads */
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* workers: a task may be claimable */
    pthread_cond_t cv_done; /* consumer: a sample finished */
    int mu_ok, cv_work_ok, cv_done_ok;
    int stop;
    int paused;   /* start_epoch in progress: no claims */
    int inflight; /* samples being produced outside the mutex */
};

void loader_options_default(loader_options *o) {
    memset(o, 0, sizeof *o);
    o->batch = 16;
    o->workers = 2;
    o->prefetch = 2;
    o->shuffle = 1;
    o->drop_last = 0;
    o->augment = 1;
    o->rect = 0;
    o->stride = 32;
    o->rect_pad = 0.5;
    o->seed = 0;
    o->rank = 0;
    o->world = 1;
    aug_params_default(&o->aug);
}

/* ---- sampling ---------------------------------------------------------- */

void loader_epoch_order(uint64_t seed, int epoch, int shuffle, size_t n, uint32_t *order) {
    if (!shuffle) {
        for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
        return;
    }
    rng r;
    rng_seed_keys(&r, seed, (uint64_t)(int64_t)epoch, 0x5045524dull /* "PERM" */, ~0ull);
    rng_permutation(&r, order, n);
}

size_t loader_shard_len(size_t n, int world) {
    return world > 0 ? (n + (size_t)world - 1) / (size_t)world : 0;
}

void loader_shard(const uint32_t *order, size_t n, int rank, int world, uint32_t *out_idx,
                  uint32_t *out_occ) {
    size_t len = loader_shard_len(n, world);
    for (size_t j = 0; j < len; j++) {
        size_t g = (size_t)rank + j * (size_t)world;
        out_idx[j] = order[g % n];
        out_occ[j] = (uint32_t)(g / n);
    }
}

size_t loader_num_samples(const loader *L) {
    return L->nsamples;
}
size_t loader_num_batches(const loader *L) {
    return L->nbatches;
}

/* ---- producing one sample ---------------------------------------------- */

static size_t batch_size_of(const loader *L, size_t b) {
    size_t B = (size_t)L->opt.batch, first = b * B;
    return L->ntasks - first < B ? L->ntasks - first : B;
}

/* Sets up slot s for batch b (under the mutex, before any of its samples). */
static void slot_begin(loader *L, slot *s, size_t b) {
    for (int k = 0; k < L->opt.batch; k++) {
        free(s->boxes[k]);
        s->boxes[k] = NULL;
        s->nboxes[k] = 0;
    }
    s->batch = (long)b;
    s->n = (int)batch_size_of(L, b);
    s->h = L->shape_h[b];
    s->w = L->shape_w[b];
    s->done = 0;
    s->err = YOLOC_OK;
    s->errmsg[0] = '\0';
}

/* Produces sample t into its slot; runs outside the mutex. The error
 * message is returned through the thread-local err buffer. */
static status produce_sample(loader *L, slot *s, size_t t) {
    const size_t b = t / (size_t)L->opt.batch;
    const int pos = (int)(t % (size_t)L->opt.batch);
    const uint32_t idx = L->seq_idx[t];
    rng r;
    rng_seed_keys(&r, L->opt.seed, (uint64_t)(int64_t)L->epoch, idx, L->seq_occ[t]);
    aug_sample smp;
    if (L->opt.augment)
        TRY(aug_train_sample(&L->src, idx, &L->aug, &r, &smp));
    else
        TRY(aug_val_sample(&L->src, idx, L->aug.imgsz, s->w, s->h, L->aug.threads, &smp));
    if (smp.img.w != s->w || smp.img.h != s->h) {
        status st = err_set(YOLOC_ERR_INTERNAL,
                            "batch %zu: sample %dx%d does not match the batch shape %dx%d", b,
                            smp.img.w, smp.img.h, s->w, s->h);
        aug_sample_free(&smp);
        return st;
    }
    /* HWC uint8 -> CHW float in [0, 1] */
    const size_t hw = (size_t)s->h * s->w;
    float *dst = s->images + (size_t)pos * 3 * hw;
    const uint8_t *px = smp.img.data;
    for (size_t k = 0; k < hw; k++) {
        dst[k] = px[3 * k] / 255.0f;
        dst[hw + k] = px[3 * k + 1] / 255.0f;
        dst[2 * hw + k] = px[3 * k + 2] / 255.0f;
    }
    const ds_image *it = &L->src.items[idx];
    s->items[pos] = (loader_item){it->path,    idx,         smp.orig_w, smp.orig_h,
                                  smp.ratio_w, smp.ratio_h, smp.pad_w,  smp.pad_h};
    s->boxes[pos] = smp.boxes;
    s->nboxes[pos] = smp.nboxes;
    smp.boxes = NULL;
    aug_sample_free(&smp);
    return YOLOC_OK;
}

/* Records the result of a sample (under the mutex). */
static void slot_finish(slot *s, status st) {
    if (st < 0 && s->err >= 0) {
        s->err = st;
        snprintf(s->errmsg, sizeof s->errmsg, "%s", yoloc_last_error());
    }
    s->done++;
}

/* ---- workers ----------------------------------------------------------- */

static int claimable(const loader *L) {
    if (!L->started || L->paused || L->failed < 0 || L->next_task >= L->ntasks) return 0;
    size_t b = L->next_task / (size_t)L->opt.batch;
    return b < L->next_consume + (size_t)L->opt.prefetch;
}

static void *worker_main(void *arg) {
    loader *L = arg;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (!L->stop && !claimable(L)) pthread_cond_wait(&L->cv_work, &L->mu);
        if (L->stop) break;
        size_t t = L->next_task++;
        size_t b = t / (size_t)L->opt.batch;
        slot *s = &L->slots[b % (size_t)L->nslots];
        if (t % (size_t)L->opt.batch == 0) slot_begin(L, s, b);
        L->inflight++;
        pthread_mutex_unlock(&L->mu);
        status st = produce_sample(L, s, t);
        pthread_mutex_lock(&L->mu);
        L->inflight--;
        slot_finish(s, st);
        pthread_cond_broadcast(&L->cv_done);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

/* ---- open / close -------------------------------------------------------- */

static status check_options(const loader_options *o, size_t n) {
    if (o->batch < 1 || o->batch > 65536)
        return err_set(YOLOC_ERR_INVALID,
                       "loader key 'batch': expected an integer in [1, 65536], got %d", o->batch);
    if (o->workers < 0 || o->workers > 256)
        return err_set(YOLOC_ERR_INVALID,
                       "loader key 'workers': expected an integer in [0, 256], got %d", o->workers);
    if (o->prefetch < 1 || o->prefetch > 64)
        return err_set(YOLOC_ERR_INVALID,
                       "loader key 'prefetch': expected an integer in [1, 64], got %d",
                       o->prefetch);
    if (o->world < 1 || o->rank < 0 || o->rank >= o->world)
        return err_set(YOLOC_ERR_INVALID, "loader: rank %d of world %d is not valid", o->rank,
                       o->world);
    if (o->stride < 1 || o->aug.imgsz % o->stride != 0)
        return err_set(YOLOC_ERR_INVALID, "loader: imgsz %d is not a multiple of the stride %d",
                       o->aug.imgsz, o->stride);
    if (o->rect && o->augment)
        return err_set(
            YOLOC_ERR_INVALID,
            "loader: rect=True is for validation (augment=False); training uses square mosaics");
    if (o->rect && o->shuffle)
        return err_set(YOLOC_ERR_INVALID, "loader: rect=True is incompatible with shuffle=True");
    if (!(o->rect_pad >= 0 && o->rect_pad <= 4))
        return err_set(YOLOC_ERR_INVALID, "loader: rect_pad %g out of [0, 4]", o->rect_pad);
    if (n == 0) return err_set(YOLOC_ERR_INVALID, "loader: the dataset has no images");
    if (n >= ((size_t)1 << 32))
        return err_set(YOLOC_ERR_INVALID, "loader: too many images (%zu)", n);
    return aug_params_check(&o->aug);
}

static void free_slots(loader *L) {
    if (!L->slots) return;
    for (int i = 0; i < L->nslots; i++) {
        slot *s = &L->slots[i];
        if (s->boxes)
            for (int k = 0; k < L->opt.batch; k++) free(s->boxes[k]);
        free(s->boxes);
        free(s->nboxes);
        free(s->items);
        free(s->images);
        free(s->targets);
    }
    free(L->slots);
    L->slots = NULL;
}

void loader_close(loader *L) {
    if (!L) return;
    if (L->mu_ok) {
        pthread_mutex_lock(&L->mu);
        L->stop = 1;
        if (L->cv_work_ok) pthread_cond_broadcast(&L->cv_work);
        pthread_mutex_unlock(&L->mu);
    }
    for (int i = 0; i < L->nthreads; i++) pthread_join(L->threads[i], NULL);
    free(L->threads);
    free_slots(L);
    free(L->order);
    free(L->seq_idx);
    free(L->seq_occ);
    free(L->shape_h);
    free(L->shape_w);
    if (L->cv_done_ok) pthread_cond_destroy(&L->cv_done);
    if (L->cv_work_ok) pthread_cond_destroy(&L->cv_work);
    if (L->mu_ok) pthread_mutex_destroy(&L->mu);
    free(L);
}

status loader_open(loader **out, const aug_source *src, const loader_options *opt) {
    *out = NULL;
    TRY(check_options(opt, src->n));
    status st = YOLOC_OK;
    loader *L = calloc(1, sizeof *L);
    if (!L) return err_set(YOLOC_ERR_NOMEM, "out of memory for the loader");
    L->src = *src;
    L->opt = *opt;
    L->aug = opt->aug;
    if (opt->workers > 0) L->aug.threads = 1; /* workers already run in parallel */
    L->aug_next = L->aug;
    L->failed = YOLOC_OK;
    const size_t n = src->n, B = (size_t)opt->batch;
    L->nsamples = loader_shard_len(n, opt->world);
    L->nbatches = opt->drop_last ? L->nsamples / B : (L->nsamples + B - 1) / B;
    L->ntasks = opt->drop_last ? L->nbatches * B : L->nsamples;
    L->order = malloc(n * sizeof *L->order);
    L->seq_idx = malloc((L->nsamples + 1) * sizeof *L->seq_idx);
    L->seq_occ = malloc((L->nsamples + 1) * sizeof *L->seq_occ);
    L->shape_h = malloc((L->nbatches + 1) * sizeof(int));
    L->shape_w = malloc((L->nbatches + 1) * sizeof(int));
    L->nslots = opt->prefetch + 1;
    L->slots = calloc((size_t)L->nslots, sizeof *L->slots);
    if (!L->order || !L->seq_idx || !L->seq_occ || !L->shape_h || !L->shape_w || !L->slots) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory for the loader's tables");
        goto fail;
    }
    for (int i = 0; i < L->nslots; i++) {
        slot *s = &L->slots[i];
        s->batch = -1;
        s->items = calloc(B, sizeof *s->items);
        s->boxes = calloc(B, sizeof *s->boxes);
        s->nboxes = calloc(B, sizeof *s->nboxes);
        if (!s->items || !s->boxes || !s->nboxes) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory for the loader's slots");
            goto fail;
        }
    }
    if (pthread_mutex_init(&L->mu, NULL) != 0) {
        st = err_set(YOLOC_ERR_INTERNAL, "loader: cannot create a mutex");
        goto fail;
    }
    L->mu_ok = 1;
    if (pthread_cond_init(&L->cv_work, NULL) != 0) {
        st = err_set(YOLOC_ERR_INTERNAL, "loader: cannot create a condition variable");
        goto fail;
    }
    L->cv_work_ok = 1;
    if (pthread_cond_init(&L->cv_done, NULL) != 0) {
        st = err_set(YOLOC_ERR_INTERNAL, "loader: cannot create a condition variable");
        goto fail;
    }
    L->cv_done_ok = 1;
    if (opt->workers > 0) {
        L->threads = calloc((size_t)opt->workers, sizeof *L->threads);
        if (!L->threads) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory for the loader's threads");
            goto fail;
        }
        for (int i = 0; i < opt->workers; i++) {
            if (pthread_create(&L->threads[i], NULL, worker_main, L) != 0) {
                st = err_set(YOLOC_ERR_INTERNAL, "loader: cannot start worker thread %d of %d",
                             i + 1, opt->workers);
                goto fail;
            }
            L->nthreads++;
        }
    }
    *out = L;
    return YOLOC_OK;
fail:
    loader_close(L);
    return st;
}

status loader_set_aug(loader *L, const aug_params *aug) {
    TRY(aug_params_check(aug));
    if (aug->imgsz != L->opt.aug.imgsz)
        return err_set(YOLOC_ERR_INVALID, "loader_set_aug: imgsz cannot change (%d -> %d)",
                       L->opt.aug.imgsz, aug->imgsz);
    pthread_mutex_lock(&L->mu);
    L->aug_next = *aug;
    if (L->opt.workers > 0) L->aug_next.threads = 1;
    pthread_mutex_unlock(&L->mu);
    return YOLOC_OK;
}

/* Lays out the epoch's sequence and batch shapes and sizes the slots.
 * Called with the workers paused and nothing in flight. */
static status layout_epoch(loader *L, int epoch) {
    const loader_options *o = &L->opt;
    const size_t n = L->src.n, B = (size_t)o->batch;
    if (o->rect)
        TRY(aug_rect_order(L->src.items, n, L->order));
    else
        loader_epoch_order(o->seed, epoch, o->shuffle, n, L->order);
    loader_shard(L->order, n, o->rank, o->world, L->seq_idx, L->seq_occ);
    int maxh = o->aug.imgsz, maxw = o->aug.imgsz;
    for (size_t b = 0; b < L->nbatches; b++) {
        if (o->rect) {
            aug_rect_shape(L->src.items, L->seq_idx + b * B, batch_size_of(L, b), o->aug.imgsz,
                           o->stride, o->rect_pad, &L->shape_h[b], &L->shape_w[b]);
        } else {
            L->shape_h[b] = L->shape_w[b] = o->aug.imgsz;
        }
        if (L->shape_h[b] > maxh) maxh = L->shape_h[b];
        if (L->shape_w[b] > maxw) maxw = L->shape_w[b];
    }
    size_t need = B * 3 * (size_t)maxh * (size_t)maxw;
    for (int i = 0; i < L->nslots; i++) {
        slot *s = &L->slots[i];
        if (s->cap_images < need) {
            float *p = realloc(s->images, need * sizeof(float));
            if (!p)
                return err_set(YOLOC_ERR_NOMEM, "out of memory for a batch of %zu x 3 x %d x %d", B,
                               maxh, maxw);
            s->images = p;
            s->cap_images = need;
        }
        for (int k = 0; k < o->batch; k++) {
            free(s->boxes[k]);
            s->boxes[k] = NULL;
            s->nboxes[k] = 0;
        }
        s->batch = -1;
    }
    return YOLOC_OK;
}

status loader_start_epoch(loader *L, int epoch) {
    pthread_mutex_lock(&L->mu);
    L->paused = 1;
    while (L->inflight > 0) pthread_cond_wait(&L->cv_done, &L->mu);
    L->aug = L->aug_next;
    L->epoch = epoch;
    L->next_task = 0;
    L->next_consume = 0;
    L->failed = YOLOC_OK;
    L->failmsg[0] = '\0';
    status st = layout_epoch(L, epoch);
    L->started = st >= 0;
    L->paused = 0;
    if (st >= 0) pthread_cond_broadcast(&L->cv_work);
    pthread_mutex_unlock(&L->mu);
    return st;
}

/* Builds the targets of a finished slot and its view (consumer thread). */
static status slot_assemble(loader *L, slot *s) {
    size_t total = 0;
    for (int k = 0; k < s->n; k++) total += s->nboxes[k];
    if (total > s->cap_targets) {
        size_t cap = s->cap_targets ? s->cap_targets : 64;
        while (cap < total) cap *= 2;
        float *p = realloc(s->targets, cap * 6 * sizeof(float));
        if (!p) return err_set(YOLOC_ERR_NOMEM, "out of memory for %zu targets", total);
        s->targets = p;
        s->cap_targets = cap;
    }
    const float iw = 1.0f / s->w, ih = 1.0f / s->h;
    size_t j = 0;
    for (int k = 0; k < s->n; k++) {
        for (size_t q = 0; q < s->nboxes[k]; q++) {
            const aug_box *b = &s->boxes[k][q];
            float *t = s->targets + 6 * j++;
            t[0] = (float)k;
            t[1] = (float)b->cls;
            t[2] = (b->x1 + b->x2) * 0.5f * iw;
            t[3] = (b->y1 + b->y2) * 0.5f * ih;
            t[4] = (b->x2 - b->x1) * iw;
            t[5] = (b->y2 - b->y1) * ih;
        }
        free(s->boxes[k]);
        s->boxes[k] = NULL;
        s->nboxes[k] = 0;
    }
    s->view = (loader_batch){L->epoch, (size_t)s->batch, s->n,     s->h, s->w, s->images,
                             total,    s->targets,       s->items, 0.0};
    return YOLOC_OK;
}

status loader_next(loader *L, const loader_batch **out) {
    *out = NULL;
    const double t0 = time_now();
    pthread_mutex_lock(&L->mu);
    if (!L->started) {
        pthread_mutex_unlock(&L->mu);
        return err_set(YOLOC_ERR_INVALID,
                       "loader_next: no epoch started (call loader_start_epoch)");
    }
    if (L->failed < 0) {
        status st = L->failed;
        pthread_mutex_unlock(&L->mu);
        return err_set(st, "%s", L->failmsg);
    }
    if (L->next_consume >= L->nbatches) {
        pthread_mutex_unlock(&L->mu);
        return YOLOC_OK;
    }
    const size_t b = L->next_consume;
    slot *s = &L->slots[b % (size_t)L->nslots];
    if (L->nthreads == 0) {
        /* in the caller's thread: produce the batch now */
        const size_t B = (size_t)L->opt.batch;
        slot_begin(L, s, b);
        L->next_task = b * B + (size_t)s->n;
        pthread_mutex_unlock(&L->mu);
        for (int k = 0; k < s->n; k++) slot_finish(s, produce_sample(L, s, b * B + (size_t)k));
        pthread_mutex_lock(&L->mu);
    } else {
        while (!(s->batch == (long)b && s->done == s->n)) pthread_cond_wait(&L->cv_done, &L->mu);
    }
    status st = s->err;
    if (st < 0) {
        L->failed = st;
        snprintf(L->failmsg, sizeof L->failmsg, "batch %zu of epoch %d: %s", b, L->epoch,
                 s->errmsg);
        pthread_mutex_unlock(&L->mu);
        return err_set(st, "%s", L->failmsg);
    }
    st = slot_assemble(L, s);
    if (st < 0) {
        L->failed = st;
        snprintf(L->failmsg, sizeof L->failmsg, "%s", yoloc_last_error());
        pthread_mutex_unlock(&L->mu);
        return st;
    }
    L->next_consume++;
    pthread_cond_broadcast(&L->cv_work); /* the window moved: one more batch may start */
    pthread_mutex_unlock(&L->mu);
    s->view.wait_ms = (time_now() - t0) * 1e3;
    *out = &s->view;
    return YOLOC_OK;
}
