/* yoloc data plot data=... [dir=.] [imgsz=640] [batch=16] [seed=0]
 * yoloc data bench data=... [imgsz=640] [batch=16] [workers=2] [batches=N]
 *                  [prefetch=2] [seed=0] [step_ms=0]
 * Wiring only: the loader lives in src/data/loader.c, the figures in
 * src/io/plot.c. */
#include "cli/commands.h"
#include "core/kv.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "io/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The train split of a dataset, or an error naming the dataset. */
static status train_split(const dataset *ds, const char *data, const ds_split **sp) {
    *sp = dataset_split(ds, "train");
    if (!*sp || (*sp)->nimages == 0)
        return err_set(YOLOC_ERR_INVALID, "%s: the train split has no usable images", data);
    return YOLOC_OK;
}

static status make_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return err_set(YOLOC_ERR_IO, "cannot create folder '%s': %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(YOLOC_ERR_IO, "'%s' is not a folder", dir);
    return YOLOC_OK;
}

/* labels.png from every box of the split. */
static status write_labels_png(const dataset *ds, const ds_split *sp, const char *path) {
    float *lab = malloc((sp->nboxes + 1) * 5 * sizeof(float));
    if (!lab) return err_set(YOLOC_ERR_NOMEM, "out of memory for %zu labels", sp->nboxes);
    size_t n = 0;
    for (size_t i = 0; i < sp->nimages; i++)
        for (size_t k = 0; k < sp->images[i].nboxes && n < sp->nboxes; k++, n++) {
            const ds_box *b = &sp->images[i].boxes[k];
            float *q = lab + 5 * n;
            q[0] = (float)b->cls;
            q[1] = b->cx;
            q[2] = b->cy;
            q[3] = b->w;
            q[4] = b->h;
        }
    status st = plot_labels(path, lab, n, ds->names, ds->nc);
    free(lab);
    return st;
}

/* train_batch0.png: the first augmented batch of epoch 0. */
static status write_batch_png(const dataset *ds, const aug_source *src, const loader_options *o,
                              const char *path) {
    loader *L;
    TRY(loader_open(&L, src, o));
    status st = loader_start_epoch(L, 0);
    const loader_batch *b = NULL;
    if (st >= 0) st = loader_next(L, &b);
    if (st >= 0 && b) {
        const char *paths[16];
        for (int i = 0; i < b->n && i < 16; i++) paths[i] = b->items[i].path;
        st = plot_batch(path, b->images, b->n, b->h, b->w, b->targets, b->ntargets, ds->names,
                        ds->nc, paths);
    }
    loader_close(L);
    return st;
}

int cmd_data_plot(int argc, char **argv) {
    static const char *const keys[] = {"data", "dir", "imgsz", "batch", "seed", NULL};
    kv_args a;
    const char *data = NULL, *dir = ".";
    long imgsz = 640, batch = 16, seed = 0;
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_str(&a, "data", NULL, &data);
    if (st == YOLOC_OK) st = kv_str(&a, "dir", NULL, &dir);
    if (st == YOLOC_OK) st = kv_int(&a, "imgsz", 32, 8192, &imgsz);
    if (st == YOLOC_OK) st = kv_int(&a, "batch", 1, 1024, &batch);
    if (st == YOLOC_OK) st = kv_int(&a, "seed", 0, 0x7fffffffL, &seed);
    if (st == YOLOC_OK) st = kv_unused(&a, "data plot", keys);
    if (st == YOLOC_OK && !data)
        st = err_set(YOLOC_ERR_INVALID, "yoloc data plot: data=<data.yaml or synth> is required");
    if (st == YOLOC_OK && imgsz % 32)
        st = err_set(YOLOC_ERR_INVALID, "key 'imgsz': %ld is not a multiple of 32", imgsz);
    if (st < 0) return cli_fail(st);

    dataset ds;
    dataset_options dopt = {.use_cache = 1, .quiet = 1};
    if ((st = dataset_open(&ds, data, &dopt)) < 0) return cli_fail(st);
    const ds_split *sp;
    char lpath[4096], bpath[4096];
    snprintf(lpath, sizeof lpath, "%s/labels.png", dir);
    snprintf(bpath, sizeof bpath, "%s/train_batch0.png", dir);
    st = train_split(&ds, data, &sp);
    if (st >= 0) st = make_dir(dir);
    if (st >= 0) st = write_labels_png(&ds, sp, lpath);
    if (st >= 0) {
        aug_source src;
        aug_source_from_split(&src, &ds, sp);
        loader_options o;
        loader_options_default(&o);
        o.batch = (int)batch;
        o.workers = 0; /* one batch: OpenMP inside the augmentation is enough */
        o.seed = (uint64_t)seed;
        o.aug.imgsz = (int)imgsz;
        st = write_batch_png(&ds, &src, &o, bpath);
    }
    dataset_close(&ds);
    if (st < 0) return cli_fail(st);
    printf("wrote %s\nwrote %s\n", lpath, bpath);
    return 0;
}

static void sleep_ms(double ms) {
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000.0) * 1e6)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int cmd_data_bench(int argc, char **argv) {
    static const char *const keys[] = {"data", "imgsz",    "batch",   "workers", "batches",
                                       "seed", "prefetch", "step_ms", NULL};
    kv_args a;
    const char *data = NULL;
    long imgsz = 640, batch = 16, workers = 2, batches = 0, seed = 0, prefetch = 2;
    double step_ms = 0;
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_str(&a, "data", NULL, &data);
    if (st == YOLOC_OK) st = kv_int(&a, "imgsz", 32, 8192, &imgsz);
    if (st == YOLOC_OK) st = kv_int(&a, "batch", 1, 1024, &batch);
    if (st == YOLOC_OK) st = kv_int(&a, "workers", 0, 256, &workers);
    if (st == YOLOC_OK) st = kv_int(&a, "batches", 0, 1000000, &batches);
    if (st == YOLOC_OK) st = kv_int(&a, "seed", 0, 0x7fffffffL, &seed);
    if (st == YOLOC_OK) st = kv_int(&a, "prefetch", 1, 64, &prefetch);
    if (st == YOLOC_OK) st = kv_double(&a, "step_ms", 0, 60000, &step_ms);
    if (st == YOLOC_OK) st = kv_unused(&a, "data bench", keys);
    if (st == YOLOC_OK && !data)
        st = err_set(YOLOC_ERR_INVALID, "yoloc data bench: data=<data.yaml or synth> is required");
    if (st == YOLOC_OK && imgsz % 32)
        st = err_set(YOLOC_ERR_INVALID, "key 'imgsz': %ld is not a multiple of 32", imgsz);
    if (st < 0) return cli_fail(st);

    dataset ds;
    dataset_options dopt = {.use_cache = 1, .quiet = 1};
    if ((st = dataset_open(&ds, data, &dopt)) < 0) return cli_fail(st);
    const ds_split *sp;
    loader *L = NULL;
    st = train_split(&ds, data, &sp);
    aug_source src;
    loader_options o;
    loader_options_default(&o);
    o.batch = (int)batch;
    o.workers = (int)workers;
    o.prefetch = (int)prefetch;
    o.seed = (uint64_t)seed;
    o.aug.imgsz = (int)imgsz;
    if (st >= 0) {
        aug_source_from_split(&src, &ds, sp);
        st = loader_open(&L, &src, &o);
    }
    size_t nb = 0, nimg = 0, target = 0;
    double wait = 0, first = 0, t0 = 0, t1 = 0;
    if (st >= 0) {
        target = batches > 0 ? (size_t)batches : loader_num_batches(L);
        log_info("data bench: %zu train images, imgsz %ld, batch %ld, workers %ld, prefetch %ld, "
                 "%zu batches%s",
                 sp->nimages, imgsz, batch, workers, prefetch, target,
                 step_ms > 0 ? " (with a simulated training step)" : "");
        t0 = time_now();
        for (int epoch = 0; st >= 0 && nb < target; epoch++) {
            st = loader_start_epoch(L, epoch);
            while (st >= 0 && nb < target) {
                const loader_batch *b;
                st = loader_next(L, &b);
                if (st < 0 || !b) break;
                if (nb == 0) first = b->wait_ms;
                wait += b->wait_ms;
                nimg += (size_t)b->n;
                nb++;
                sleep_ms(step_ms);
            }
            if (epoch > 0 && nb == 0) break;
        }
        t1 = time_now();
    }
    loader_close(L);
    dataset_close(&ds);
    if (st < 0) return cli_fail(st);
    const double secs = t1 - t0;
    printf("data bench: %zu images in %zu batches, %.2f s: %.1f images/s (decode + augment, "
           "workers=%ld, imgsz=%ld)\n",
           nimg, nb, secs, secs > 0 ? nimg / secs : 0.0, workers, imgsz);
    printf("wait per batch: mean %.1f ms, first batch %.1f ms, mean after the first %.1f ms%s\n",
           nb ? wait / nb : 0.0, first, nb > 1 ? (wait - first) / (nb - 1) : 0.0,
           step_ms > 0 ? "" : " (no training step: the loop only waits)");
    return 0;
}
