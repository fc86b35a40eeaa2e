/* `yoloc train` on a backend whose memory the host cannot touch
 * (tests/backend_offhost.h: the reference kernels behind pointers no x86-64
 * process can dereference, host_memory = 0), registered at run time.
 *
 * The same small trainings (yolov8t, and yolov5n at 64x64, on synthetic
 * data: two epochs with validation, BatchNorm statistics recomputed,
 * checkpoints; then one epoch fine-tuned from the saved weights) run on the
 * reference backend and on offhost. A path of the trainer that reads or
 * writes the model's parameters, gradients, buffers, activations, the
 * optimizer's state or the EMA in place, instead of through the backend,
 * crashes the offhost run; the rest must give the reference's bits: the
 * saved weights and checkpoints, and results.csv's losses and metrics.
 * Then two processes (mpirun, when installed) on each: the collectives over
 * offhost's memory are staged through the host (train/bcomm.h) and must
 * give ref's bits too.
 * ctest-labels: train */
#include "backend_offhost.h"
#include "harness.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "train/config.h"
#include "train/trainer.h"
#include "train_inproc.h"

#include "core/kv.h"
#include "dist/dist.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char TMP[256];

/* toks0[0..n0) then the NULL-terminated extra tokens. */
static status train(char *dir, size_t cap, const char *const *toks0, int n0, ...) {
    const char *toks[64];
    int n = 0;
    for (int i = 0; i < n0 && n < 64; i++) toks[n++] = toks0[i];
    va_list ap;
    va_start(ap, n0);
    for (const char *s; (s = va_arg(ap, const char *)) && n < 64;) toks[n++] = s;
    va_end(ap);
    return train_tokens(dir, cap, n, toks);
}

/* Every tensor of two safetensors files equal, byte for byte. */
static int same_tensors(const char *pa, const char *pb) {
    safetensors a, b;
    if (st_open(&a, pa) < 0) return 0;
    if (st_open(&b, pb) < 0) {
        st_close(&a);
        return 0;
    }
    int same = a.n == b.n && a.n > 0;
    for (size_t i = 0; same && i < a.n; i++) {
        const st_entry *ea = &a.entries[i], *eb = st_find(&b, ea->name);
        uint64_t na = ea->end - ea->begin;
        same = eb && eb->end - eb->begin == na && memcmp(st_data(&a, ea), st_data(&b, eb), na) == 0;
        if (!same) fprintf(stderr, "  tensor %s differs\n", ea->name);
    }
    st_close(&a);
    st_close(&b);
    return same;
}

/* results.csv without its time columns. */
static char *results_without_time(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    char *text = NULL;
    size_t len = 0;
    if (file_read_all(path, 1 << 20, &text, &len) < 0) return NULL;
    /* the header names the columns; drop those with "time" in their name */
    char *out = calloc(len + 1, 1);
    int drop[64] = {0}, col = 0;
    const char *p = text;
    size_t o = 0;
    int header = 1;
    while (*p) {
        const char *e = p;
        while (*e && *e != ',' && *e != '\n') e++;
        if (header && col < 64) drop[col] = memmem(p, (size_t)(e - p), "time", 4) != NULL;
        if (col >= 64 || !drop[col]) {
            memcpy(out + o, p, (size_t)(e - p));
            o += (size_t)(e - p);
            out[o++] = *e ? *e : '\n';
        }
        col++;
        if (*e == '\n') {
            col = 0;
            header = 0;
        }
        p = *e ? e + 1 : e;
    }
    free(text);
    return out;
}

/* The noise_scale column of steps.csv (its 13th). */
static char *noise_column(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/steps.csv", dir);
    char *text = NULL;
    size_t len = 0;
    if (file_read_all(path, 1 << 22, &text, &len) < 0) return NULL;
    char *out = calloc(len + 1, 1);
    size_t o = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        char *f = line;
        for (int k = 0; k < 12 && f; k++) {
            f = strchr(f, ',');
            if (f) f++;
        }
        if (f) {
            size_t n = (size_t)((nl ? nl : f + strlen(f)) - f);
            memcpy(out + o, f, n);
            o += n;
            out[o++] = '\n';
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return out;
}

/* extra: NULL-terminated key=value tokens of this pair (batch among them). */
static void run_pair(const char *model_yaml, const char *tag, const char *const *extra) {
    char proj[300], modelarg[512];
    snprintf(proj, sizeof proj, "project=%s/runs", TMP);
    snprintf(modelarg, sizeof modelarg, "model=%s", model_yaml);
    const char *args[24] = {modelarg, "data=synth:classes=2,images=48,val=6,imgsz=64", "imgsz=64",
                          "optimizer=SGD", "workers=1", "plots=False", "close_mosaic=1", "seed=5",
                          "amp=False", "tensorboard=False", proj, "exist_ok=True", NULL};
    int na = 0;
    while (args[na]) na++;
    for (int k = 0; extra[k] && na < 23; k++) args[na++] = extra[k];
    char dref[512] = "", doff[512] = "", nref[64], noff[64];
    snprintf(nref, sizeof nref, "name=%s_ref", tag);
    snprintf(noff, sizeof noff, "name=%s_offhost", tag);
    status st = train(dref, sizeof dref, args, na, "epochs=2", "backend=ref", nref, (char *)NULL);
    CHECK_MSG(st == YOLOC_OK, "%s on ref: %s", tag, yoloc_last_error());
    st = train(doff, sizeof doff, args, na, "epochs=2", "backend=offhost", noff, (char *)NULL);
    CHECK_MSG(st == YOLOC_OK, "%s on offhost: %s", tag, yoloc_last_error());
    if (!*dref || !*doff) return;
    const char *files[] = {"weights/best.safetensors", "weights/last.safetensors"};
    for (int k = 0; k < 2; k++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/%s", dref, files[k]);
        snprintf(b, sizeof b, "%s/%s", doff, files[k]);
        CHECK_MSG(same_tensors(a, b), "%s: %s differs between ref and offhost", tag, files[k]);
    }
    char *ra = results_without_time(dref), *rb = results_without_time(doff);
    CHECK_MSG(ra && rb && strcmp(ra, rb) == 0, "%s: results.csv differs between ref and offhost:\n%s\nvs\n%s", tag,
              ra ? ra : "(none)", rb ? rb : "(none)");
    if (ra && rb && strcmp(ra, rb) == 0) printf("test_train_offhost: %s: ref and offhost trained to the same bits\n", tag);
    free(ra), free(rb);
    if (strcmp(tag, "v8ns") == 0) { /* the noise-scale probe: the same estimates */
        char *na_ = noise_column(dref), *nb_ = noise_column(doff);
        /* the estimates exist (not "nan" all along) and agree */
        CHECK_MSG(na_ && nb_ && strcmp(na_, nb_) == 0, "%s: the noise scale differs between ref and offhost", tag);
        CHECK_MSG(na_ && strspn(na_ + strcspn(na_, "\n") + 1, "0123456789.\n") > 8,
                  "%s: no noise-scale estimate in steps.csv:\n%s", tag, na_ ? na_ : "(none)");
        free(na_), free(nb_);
        return;
    }
    /* fine-tuning from the offhost run's weights (weights=: loaded by name
     * and shape), one epoch on each backend */
    char warg[700], dft[512] = "", dft2[512] = "", n1[64], n2[64];
    snprintf(warg, sizeof warg, "weights=%s/weights/last.safetensors", doff);
    snprintf(n1, sizeof n1, "name=%s_ft_offhost", tag);
    snprintf(n2, sizeof n2, "name=%s_ft_ref", tag);
    st = train(dft, sizeof dft, args, na, warg, "epochs=1", "backend=offhost", n1, (char *)NULL);
    CHECK_MSG(st == YOLOC_OK, "%s: fine-tuning on offhost: %s", tag, yoloc_last_error());
    st = train(dft2, sizeof dft2, args, na, warg, "epochs=1", "backend=ref", n2, (char *)NULL);
    CHECK_MSG(st == YOLOC_OK, "%s: fine-tuning on ref: %s", tag, yoloc_last_error());
    if (*dft && *dft2) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/weights/last.safetensors", dft);
        snprintf(b, sizeof b, "%s/weights/last.safetensors", dft2);
        CHECK_MSG(same_tensors(a, b), "%s: fine-tuned runs differ between ref and offhost", tag);
    }
}

/* Under mpirun (`--rank TOKENS...`): one rank of a data-parallel training
 * with offhost registered; rank 0 writes the run directory. */
static int rank_main(int argc, char **argv) {
    if (backend_register(&OPS_BACKEND_OFFHOST) < 0) return 2;
    config c;
    kv_args a;
    dist d;
    status st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    int opened = 0;
    if (st == YOLOC_OK && (st = dist_open(&d, 60)) == YOLOC_OK) opened = 1;
    char dir[512];
    if (st == YOLOC_OK) st = train_run(&c, &d, dir, sizeof dir);
    if (st < 0) fprintf(stderr, "rank: %s\n", yoloc_last_error());
    if (opened) dist_close(&d, st < 0 && d.world > 1);
    config_free(&c);
    return st < 0 ? 1 : 0;
}

/* Two processes with SyncBatchNorm (the gradient buckets, rank 0's state
 * broadcast, the SyncBN sums and the final weights staged through the host
 * for offhost) against the same on ref: the same bits. */
static void mpi_pair(void) {
    if (system("command -v mpirun > /dev/null 2>&1") != 0) {
        printf("test_train_offhost: two processes skipped: mpirun is not installed (apt-get install openmpi-bin)\n");
        return;
    }
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        CHECK_MSG(0, "cannot find the test's own binary");
        return;
    }
    self[n] = 0;
    /* Under AddressSanitizer (make asan): OpenMPI's plugins leave allocations
     * behind at exit that LeakSanitizer cannot suppress, so leak checking is
     * off in the processes mpirun launches, as in test_dist (the rest of ASan
     * stays on; this process's own leaks are still checked). */
    const char *ao = getenv("ASAN_OPTIONS");
    char *saved_ao = ao ? strdup(ao) : NULL;
    if (ao && *ao) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s:detect_leaks=0", ao);
        setenv("ASAN_OPTIONS", buf, 1);
    }
    const char *be[2] = {"ref", "offhost"};
    char dirs[2][700];
    int failed = 0;
    for (int k = 0; k < 2; k++) {
        char cmd[4096];
        snprintf(dirs[k], sizeof dirs[k], "%s/runs/mpi_%s", TMP, be[k]);
        snprintf(cmd, sizeof cmd,
                 "mpirun --allow-run-as-root --oversubscribe -np 2 %s --rank model=%s/tests/train/yolov8t.yaml "
                 "data=synth:classes=2,images=48,val=6,imgsz=64 imgsz=64 batch=4 nbs=8 epochs=2 optimizer=SGD "
                 "workers=1 threads=1 plots=False close_mosaic=1 seed=5 amp=False tensorboard=False project=%s/runs "
                 "name=mpi_%s exist_ok=True backend=%s > %s/mpi_%s.log 2>&1",
                 self, YOLOC_SOURCE_DIR, TMP, be[k], be[k], TMP, be[k]);
        int rc = system(cmd);
        CHECK_MSG(rc == 0, "two processes on %s failed (%d); its log:", be[k], rc);
        if (rc != 0) {
            snprintf(cmd, sizeof cmd, "tail -n 30 %s/mpi_%s.log >&2", TMP, be[k]);
            if (system(cmd) != 0) fprintf(stderr, "  (no log)\n");
            failed = 1;
            break;
        }
    }
    if (saved_ao) setenv("ASAN_OPTIONS", saved_ao, 1);
    free(saved_ao);
    if (failed) return;
    char a[800], b[800];
    snprintf(a, sizeof a, "%s/weights/last.safetensors", dirs[0]);
    snprintf(b, sizeof b, "%s/weights/last.safetensors", dirs[1]);
    CHECK_MSG(same_tensors(a, b), "two processes: last.safetensors differs between ref and offhost");
    char *ra = results_without_time(dirs[0]), *rb = results_without_time(dirs[1]);
    CHECK_MSG(ra && rb && strcmp(ra, rb) == 0, "two processes: results.csv differs between ref and offhost:\n%s\nvs\n%s",
              ra ? ra : "(none)", rb ? rb : "(none)");
    if (ra && rb && strcmp(ra, rb) == 0)
        printf("test_train_offhost: two processes with SyncBN: ref and offhost trained to the same bits\n");
    free(ra), free(rb);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--rank") == 0) return rank_main(argc - 2, argv + 2);
    snprintf(TMP, sizeof TMP, "/tmp/yoloc_offhost_%d", (int)getpid());
    if (file_mkdirs(TMP) < 0) return 2;
    CHECK(backend_register(&OPS_BACKEND_OFFHOST) == YOLOC_OK);
    CHECK(backend_register(&OPS_BACKEND_OFFHOST) == YOLOC_ERR_INVALID); /* one name, one backend */
    const char *const plain[] = {"batch=8", NULL};
    const char *const noise[] = {"batch=4", "nbs=8", "norm=gn", "noise_scale=True", NULL};
    run_pair(YOLOC_SOURCE_DIR "/tests/train/yolov8t.yaml", "v8", plain);
    run_pair("yolov5n.yaml", "v5", plain);
    /* the gradient-noise probe: accumulated batches, GroupNorm */
    run_pair(YOLOC_SOURCE_DIR "/tests/train/yolov8t.yaml", "v8ns", noise);
    mpi_pair();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", TMP);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", TMP);
    return test_finish("test_train_offhost");
}
