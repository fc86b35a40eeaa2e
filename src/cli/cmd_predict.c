/* yoloc predict model=W.safetensors source=IMAGE|DIR|LIST.txt [imgsz=640] [conf=0.25]
 *   [iou=0.7] [max_det=300] [save_txt=True] [project=runs/predict] [name=exp]
 * Writes each image with its detections drawn, and YOLO-format .txt files
 * (class cx cy w h, and conf with save_conf=True) with save_txt=True. */
#include "cli/commands.h"
#include "core/log.h"
#include "data/dataset.h"
#include "io/file.h"
#include "io/json.h"
#include "train/config.h"
#include "train/lrbatch.h"
#include "train/precision.h"
#include "train/predict.h"
#include "train/weights.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int is_image_name(const char *n) {
    const char *dot = strrchr(n, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png") ||
                   !strcasecmp(dot, ".bmp"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The images of source: one file, a folder (sorted) or a .txt list. */
static status list_sources(const char *src, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    struct stat st;
    if (stat(src, &st) != 0) return err_set(YOLOC_ERR_NOT_FOUND, "source=%s: %s", src, strerror(errno));
    size_t cap = 16;
    char **v = malloc(cap * sizeof *v);
    if (!v) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    size_t len = strlen(src);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(src);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.' || !is_image_name(de->d_name)) continue;
            if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
            size_t need = len + strlen(de->d_name) + 2;
            v[*n] = malloc(need);
            snprintf(v[(*n)++], need, "%s/%s", src, de->d_name);
        }
        if (d) closedir(d);
        qsort(v, *n, sizeof *v, cmp_str);
    } else if (len > 4 && !strcasecmp(src + len - 4, ".txt")) {
        char *text;
        size_t tl;
        status s2 = file_read_all(src, (size_t)1 << 28, &text, &tl);
        if (s2 < 0) {
            free(v);
            return s2;
        }
        for (char *line = strtok(text, "\r\n"); line; line = strtok(NULL, "\r\n")) {
            if (!*line) continue;
            if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
            v[(*n)++] = strdup(line);
        }
        free(text);
    } else {
        v[(*n)++] = strdup(src);
    }
    if (*n == 0) {
        free(v);
        return err_set(YOLOC_ERR_NOT_FOUND, "source=%s: no images (jpg, jpeg, png, bmp)", src);
    }
    *out = v;
    return YOLOC_OK;
}

/* Class names as one allocation (pointers, then the strings), as
 * weights_open_model returns them. */
static char **pack_names(const char *const *src, int n) {
    size_t bytes = (size_t)n * sizeof(char *);
    for (int i = 0; i < n; i++) bytes += strlen(src[i]) + 1;
    char **v = malloc(bytes ? bytes : 1);
    if (!v) return NULL;
    char *q = (char *)(v + n);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(src[i]) + 1;
        memcpy(q, src[i], l);
        v[i] = q;
        q += l;
    }
    return v;
}

/* 1: the names are the placeholders class0, class1, ... */
static int generic_names(const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "class%d", i);
        if (strcmp(names[i], want) != 0) return 0;
    }
    return n > 0;
}

/* Names for weights that do not carry them (e.g. converted official
 * checkpoints): the data.yaml given as data=, else a JSON file next to the
 * weights (W.json for W.safetensors) with a "names" list. */
static void fallback_names(const config *c, int nc, char ***names, int *nnames) {
    if (c->given.data && c->data && *c->data) {
        dataset ds;
        dataset_options dopt = {.use_cache = 1, .quiet = 1};
        if (dataset_open(&ds, c->data, &dopt) == YOLOC_OK) {
            if (ds.nc == nc && (*names = pack_names(ds.names, ds.nc))) *nnames = ds.nc;
            else log_warn("data=%s has %d classes, the model %d: class names not used", c->data, ds.nc, nc);
            dataset_close(&ds);
            if (*names) return;
        } else {
            log_warn("%s", yoloc_last_error());
        }
    }
    if (!c->weights || !*c->weights) return;
    char path[4096];
    snprintf(path, sizeof path, "%s", c->weights);
    char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return;
    snprintf(dot, sizeof path - (size_t)(dot - path), ".json");
    char *text = NULL;
    size_t len = 0;
    if (file_read_all(path, 1 << 24, &text, &len) != YOLOC_OK) {
        err_clear();
        return;
    }
    jdoc doc;
    if (jdoc_parse(&doc, text, len, path) == YOLOC_OK) {
        const jnode *nm = jnode_get(doc.root, "names");
        if (nm && nm->kind == JSON_ARRAY && (int)nm->n == nc) {
            const char **v = calloc(nm->n ? nm->n : 1, sizeof *v);
            int ok = v != NULL;
            for (size_t i = 0; ok && i < nm->n; i++) {
                if (nm->items[i]->kind != JSON_STRING) ok = 0;
                else v[i] = nm->items[i]->text;
            }
            if (ok && (*names = pack_names(v, nc))) *nnames = nc;
            free(v);
        }
        jdoc_free(&doc);
    }
    err_clear();
    free(text);
}

int cmd_predict(int argc, char **argv) {
    config c;
    kv_args a;
    model *m = NULL;
    char **names = NULL, **srcs = NULL;
    int nnames = 0;
    size_t nsrc = 0;
    predictor p;
    memset(&p, 0, sizeof p);
    status st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    if (st == YOLOC_OK) config_notes(&c, "predict", stdout);
    if (st < 0) goto fail;
    if (!c.source || !*c.source) {
        st = err_set(YOLOC_ERR_INVALID, "yoloc predict needs source=IMAGE|DIR|LIST.txt");
        goto fail;
    }
    if (c.threads > 0) ops_set_threads((int)c.threads);
    backend be;
    TRY_GOTO(st, config_backend(&c, &be));
    model_options mo = {.be = be, .norm = lrb_norm(&c, 1),
                        .gn_groups = (int)c.gn_groups,
                        .bf16 = precision_resolve(c.amp, c.given.amp, stdout)};
    TRY_GOTO(st, weights_open_model(c.model, c.weights, 0, &mo, (uint64_t)c.seed, &m, &names, &nnames));
    model_set_static_weights(m, 1); /* inference only: BatchNorm folded and weights reordered once */
    if (names && generic_names((const char *const *)names, nnames)) { /* placeholders: look for real ones */
        free(names);
        names = NULL;
        nnames = 0;
    }
    if (!names) fallback_names(&c, model_nc(m), &names, &nnames);
    TRY_GOTO(st, list_sources(c.source, &srcs, &nsrc));
    char dir[4096];
    TRY_GOTO(st, file_run_dir(config_project(&c), config_run_name(&c, "predict"), (int)c.exist_ok, dir, sizeof dir));
    if (c.save_txt) {
        char labels[4200];
        snprintf(labels, sizeof labels, "%s/labels", dir);
        TRY_GOTO(st, file_mkdirs(labels));
    }
    nms_cfg nc = NMS_CFG_PREDICT;
    nc.conf = c.given.conf ? (float)c.conf : 0.25f;
    nc.iou = (float)c.iou;
    nc.max_det = (int)c.max_det;
    nc.agnostic = (int)c.agnostic_nms;
    int keep_classes[256];
    TRY_GOTO(st, config_classes(&c, keep_classes, 256, &nc.nclasses));
    nc.classes = nc.nclasses ? keep_classes : NULL;
    for (int k = 0; k < nc.nclasses; k++)
        if (keep_classes[k] >= model_nc(m)) {
            st = err_set(YOLOC_ERR_INVALID, "key 'classes': class %d is not in the model (%d classes, 0..%d)",
                         keep_classes[k], model_nc(m), model_nc(m) - 1);
            goto fail;
        }
    const predict_style style = {.boxes = c.show_boxes, .labels = c.show_labels, .conf = c.show_conf,
                                 .line_width = (int)c.line_width};
    int ncls = model_nc(m);
    for (size_t i = 0; i < nsrc; i++) {
        image img;
        if ((st = image_load(srcs[i], &img)) < 0) {
            log_warn("%s", yoloc_last_error());
            st = YOLOC_OK;
            continue;
        }
        st = predict_image(&p, m, &img, (int)c.imgsz, &nc);
        const char *base = strrchr(srcs[i], '/');
        base = base ? base + 1 : srcs[i];
        char stem[1024], out[5200];
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot) *dot = 0;
        if (st == YOLOC_OK) {
            snprintf(out, sizeof out, "%s/%s.jpg", dir, stem);
            st = predict_draw(out, &img, p.dets, p.ndet, (const char *const *)names, nnames, &style);
        }
        if (st == YOLOC_OK && c.save_txt) {
            snprintf(out, sizeof out, "%s/labels/%s.txt", dir, stem);
            FILE *f = fopen(out, "w");
            for (size_t k = 0; f && k < p.ndet; k++) { /* as Ultralytics writes them: %g, conf with save_conf */
                const float *d = p.dets + k * 6;
                fprintf(f, "%d %g %g %g %g", (int)d[5], (double)((d[0] + d[2]) / 2 / (float)img.w),
                        (double)((d[1] + d[3]) / 2 / (float)img.h), (double)((d[2] - d[0]) / (float)img.w),
                        (double)((d[3] - d[1]) / (float)img.h));
                if (c.save_conf) fprintf(f, " %g", (double)d[4]);
                fputc('\n', f);
            }
            if (f) fclose(f);
            else st = err_set(YOLOC_ERR_IO, "%s: cannot write: %s", out, strerror(errno));
        }
        if (st == YOLOC_OK) {
            int count[1024] = {0};
            for (size_t k = 0; k < p.ndet; k++) {
                int cl = (int)p.dets[k * 6 + 5];
                if (cl >= 0 && cl < 1024) count[cl]++;
            }
            printf("image %zu/%zu %s: %dx%d, ", i + 1, nsrc, srcs[i], img.w, img.h);
            int any = 0;
            for (int cl = 0; cl < ncls && cl < 1024; cl++)
                if (count[cl]) {
                    printf("%s%d %s", any ? ", " : "", count[cl], names && cl < nnames ? names[cl] : "?");
                    any = 1;
                }
            printf("%s, %.1f ms\n", any ? "" : "(no detections)", p.ms);
        }
        image_free(&img);
        if (st < 0) goto fail;
    }
    printf("results saved to %s\n", dir);
fail: /* also the normal exit */
    for (size_t i = 0; i < nsrc; i++) free(srcs[i]);
    free(srcs);
    free(names);
    predictor_free(&p);
    model_free(m);
    config_free(&c);
    return st < 0 ? cli_fail(st) : 0;
}
