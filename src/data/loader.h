/* The batch loader: worker threads decode and augment ahead of the trainer.
 *
 * A loader walks one epoch at a time over an aug_source. The epoch's sample
 * sequence is a pure function of (seed, epoch, rank, world): the dataset
 * order (a permutation seeded by (seed, epoch) when shuffling, the
 * aspect-ratio order for rectangular batches, else 0..n-1), then this rank's
 * share of it (the distributed sampler below), cut into batches. Every random
 * choice for a sample comes from an RNG seeded with (seed, epoch, image
 * index, occurrence), so the bytes of every batch are the same for any
 * number of workers, any prefetch depth and any timing.
 *
 * Threads: `workers` pthreads claim samples in order (one sample at a time,
 * so a batch is spread over all workers) for batches in a window of
 * `prefetch` batches after the one the trainer holds; each writes its own
 * slice of the batch buffer. workers = 0 produces each batch inside
 * loader_next (with OpenMP inside the augmentation); with workers > 0 the
 * augmentation runs serially in each worker. A failing sample (an unreadable
 * file) makes loader_next return that status, naming the file, when the
 * trainer reaches its batch; the batches before it are delivered normally.
 *
 * Leaves out: caching decoded images in RAM, multi-scale training, and the
 * Ultralytics mosaic "recent image buffer" (mosaic partners are drawn from the
 * whole dataset). */
#ifndef YOLOC_DATA_LOADER_H
#define YOLOC_DATA_LOADER_H

#include "core/status.h"
#include "data/augment.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int batch;       /* images per batch on this rank (16) */
    int workers;     /* worker threads; 0 = in the caller's thread (2) */
    int prefetch;    /* batches prepared ahead of the one the trainer holds, >= 1 (2) */
    int shuffle;     /* permute the dataset each epoch (1) */
    int drop_last;   /* drop a partial last batch (0: it is returned, smaller) */
    int augment;     /* 1: training pipeline (aug_train_sample); 0: letterbox only */
    int rect;        /* rectangular batches (validation): requires augment=0, no shuffle */
    int stride;      /* model stride for rect shapes (32) */
    double rect_pad; /* rect shape padding in strides (0.5) */
    uint64_t seed;   /* (0) */
    int rank, world; /* distributed sampler: this process's share (0 of 1) */
    aug_params aug;  /* strengths and imgsz; aug.imgsz is the square size for augment/val */
} loader_options;

void loader_options_default(loader_options *o);

/* Per image of a batch: where it came from and how to map boxes back. */
typedef struct {
    const char *path;   /* owned by the source */
    size_t index;       /* item index in the source */
    int orig_w, orig_h; /* decoded original size */
    float ratio_w, ratio_h, pad_w,
        pad_h; /* x_batch = x_orig * ratio + pad (val only; 0 in training) */
} loader_item;

/* One batch, owned by the loader; valid until the next loader_next,
 * loader_start_epoch or loader_close. */
typedef struct {
    int epoch;
    size_t index;  /* batch number within the epoch */
    int n, h, w;   /* images is [n, 3, h, w] */
    float *images; /* RGB, CHW per image, values in [0, 1] */
    size_t ntargets;
    float *targets; /* [ntargets, 6]: image in batch, class, cx, cy, w, h (normalised by w, h) */
    loader_item *items; /* n */
    double wait_ms;     /* how long loader_next blocked (or produced, workers=0) for this batch */
} loader_batch;

typedef struct loader loader;

/* Opens a loader over src (which must outlive it) and starts the workers;
 * nothing is produced before loader_start_epoch. Errors: bad options (the
 * message names the key), empty source, out of memory, thread creation. */
status loader_open(loader **out, const aug_source *src, const loader_options *opt);
/* Stops the workers (a sample in progress is finished, then discarded),
 * joins them and frees everything. Safe at any point, also mid-epoch. */
void loader_close(loader *L);

/* Samples of this rank per epoch, and batches per epoch. */
size_t loader_num_samples(const loader *L);
size_t loader_num_batches(const loader *L);

/* Augmentation strengths from the next loader_start_epoch on (close_mosaic:
 * the caller sets mosaic = mixup = cutmix = 0 for the last epochs). */
status loader_set_aug(loader *L, const aug_params *aug);

/* Starts (or restarts) an epoch: an epoch in progress is abandoned (waiting
 * for samples in flight), the sequence for `epoch` is laid out and the
 * workers start on it. The batch buffers ((prefetch + 1) x batch x 3 x H x
 * W floats) are allocated here. Errors: out of memory. */
status loader_start_epoch(loader *L, int epoch);

/* The next batch of the epoch in order, or *out = NULL at the end of the
 * epoch. Errors: a sample that failed (message names the file), no epoch
 * started. After an error, the same error is returned until the next
 * loader_start_epoch. */
status loader_next(loader *L, const loader_batch **out);

/* ---- sampling (pure functions, also used by tests) ---------------------- */

/* The dataset order of an epoch: a permutation of 0..n-1 seeded by (seed,
 * epoch) when shuffle, else the identity. n < 2^32. */
void loader_epoch_order(uint64_t seed, int epoch, int shuffle, size_t n, uint32_t *order);

/* Distributed sampler (PyTorch DistributedSampler with drop_last=False):
 * the order is padded to world * ceil(n / world) entries by wrapping around
 * (position g holds order[g mod n]) and rank r takes positions r, r + world,
 * r + 2 world, ... So every rank gets exactly ceil(n / world) samples, the
 * shards are disjoint apart from the (world * ceil(n/world) - n) padding
 * samples, which repeat the first entries of the order, and together they
 * cover the epoch. out_idx[j] is the item, out_occ[j] = g / n tells a padding
 * repeat (1) from the first visit (0) and keys its augmentation RNG. */
size_t loader_shard_len(size_t n, int world);
void loader_shard(const uint32_t *order, size_t n, int rank, int world, uint32_t *out_idx,
                  uint32_t *out_occ);

#endif
