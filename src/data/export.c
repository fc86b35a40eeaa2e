/* Dataset export in YOLO format (layout in export.h). */
#include "data/export.h"

#include "core/log.h"
#include "io/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir -p. */
static status make_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return err_set(YOLOC_ERR_INVALID, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return err_set(YOLOC_ERR_IO, "%s: cannot create (%s)", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(YOLOC_ERR_IO, "%s: not a folder", path);
    return YOLOC_OK;
}

/* Image k of a split and its label file. */
static status export_one(const dataset *ds, const ds_split *sp, size_t k, const char *dir) {
    char path[4200];
    image img;
    TRY(dataset_load_image(ds, sp, k, &img));
    snprintf(path, sizeof path, "%s/images/%s/%06zu.png", dir, sp->name, k);
    status st = image_save(path, &img, 0);
    image_free(&img);
    TRY(st);
    const ds_image *im = &sp->images[k];
    char *text = malloc(im->nboxes * 64 + 1);
    if (!text) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    size_t n = 0;
    text[0] = 0;
    for (size_t b = 0; b < im->nboxes; b++) {
        const ds_box *x = &im->boxes[b];
        n += (size_t)snprintf(text + n, 64, "%d %.6f %.6f %.6f %.6f\n", x->cls, (double)x->cx,
                              (double)x->cy, (double)x->w, (double)x->h);
    }
    snprintf(path, sizeof path, "%s/labels/%s/%06zu.txt", dir, sp->name, k);
    st = file_write_atomic(path, text, strlen(text));
    free(text);
    return st;
}

status dataset_export(const dataset *ds, const char *dir) {
    if (strlen(dir) > 3000) return err_set(YOLOC_ERR_INVALID, "dir=%s: path too long", dir);
    const ds_split *splits[3] = {&ds->train, &ds->val, &ds->test};
    char path[4200];
    for (int i = 0; i < 3; i++) {
        const ds_split *sp = splits[i];
        if (!sp->name || !sp->nimages) continue;
        snprintf(path, sizeof path, "%s/images/%s", dir, sp->name);
        TRY(make_dirs(path));
        snprintf(path, sizeof path, "%s/labels/%s", dir, sp->name);
        TRY(make_dirs(path));
        status first = YOLOC_OK;
        char msg[1024] = "";
        long n = (long)sp->nimages;
#pragma omp parallel for schedule(dynamic, 2)
        for (long k = 0; k < n; k++) {
            int stop;
#pragma omp atomic read
            stop = first;
            if (stop < 0) continue;
            status st = export_one(ds, sp, (size_t)k, dir);
            if (st < 0) {
#pragma omp critical(dataset_export_fail)
                if (first == YOLOC_OK) {
                    snprintf(msg, sizeof msg, "%s", yoloc_last_error());
#pragma omp atomic write
                    first = st;
                }
            }
        }
        if (first < 0) return err_set(first, "%s", msg);
        log_info("%s: wrote %zu images to %s/images/%s", sp->name, sp->nimages, dir, sp->name);
    }
    /* data.yaml, names single-quoted ('' escapes a quote) */
    size_t cap = 512;
    for (int k = 0; k < ds->nc; k++) cap += 2 * strlen(ds->names[k]) + 16;
    char *y = malloc(cap);
    if (!y) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    size_t n = (size_t)snprintf(
        y, cap, "# written by yoloc data export\npath: .  # relative to the folder of this file\n");
    for (int i = 0; i < 3; i++)
        if (splits[i]->name && splits[i]->nimages)
            n += (size_t)snprintf(y + n, cap - n, "%s: images/%s\n", splits[i]->name,
                                  splits[i]->name);
    n += (size_t)snprintf(y + n, cap - n, "nc: %d\nnames:\n", ds->nc);
    for (int k = 0; k < ds->nc; k++) {
        n += (size_t)snprintf(y + n, cap - n, "  - '");
        for (const char *c = ds->names[k]; *c; c++) {
            if (*c == '\'') y[n++] = '\'';
            y[n++] = *c;
        }
        n += (size_t)snprintf(y + n, cap - n, "'\n");
    }
    snprintf(path, sizeof path, "%s/data.yaml", dir);
    status st = file_write_atomic(path, y, strlen(y));
    free(y);
    return st;
}
