/* Checking one image and its label file (see check.h). */
#include "data/check.h"

#include "data/labels.h"
#include "io/image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define LABEL_MAX_BYTES ((size_t)64 << 20)

static const char *ext_of(const char *path) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot + 1 : NULL;
}

int check_image_ext(const char *path) {
    static const char *ours[] = {"jpg", "jpeg", "png", "bmp"};
    static const char *theirs[] = {"webp", "tif", "tiff", "dng", "mpo", "pfm", "heic"};
    const char *e = ext_of(path);
    if (!e) return 0;
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (strcasecmp(e, ours[i]) == 0) return 1;
    for (size_t i = 0; i < sizeof theirs / sizeof theirs[0]; i++)
        if (strcasecmp(e, theirs[i]) == 0) return 2;
    return 0;
}

char *check_label_path(const char *image_path) {
    size_t n = strlen(image_path);
    char *out = malloc(n + 8);
    if (!out) return NULL;
    memcpy(out, image_path, n + 1);
    char *last = NULL;
    for (char *p = strstr(out, "/images/"); p; p = strstr(p + 1, "/images/")) last = p;
    if (last) memcpy(last, "/labels/", 8);
    char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
    if (dot && (!slash || dot > slash)) *dot = 0;
    strcat(out, ".txt");
    return out;
}

static void key_of(const char *path, file_key *k) {
    struct stat st;
    if (path && stat(path, &st) == 0) {
        k->size = (int64_t)st.st_size;
        k->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    } else {
        k->size = -1;
        k->mtime_ns = 0;
    }
}

void entry_stat(ds_entry *e) {
    key_of(e->path, &e->img);
    key_of(e->label_path, &e->lbl);
}

status entry_add_problem(ds_entry *e, int on_label, int line, const char *reason) {
    entry_problem *np = realloc(e->probs, (e->nprobs + 1) * sizeof *np);
    if (!np) return err_set(YOLOC_ERR_NOMEM, "out of memory checking %s", e->path);
    e->probs = np;
    char *r = strdup(reason);
    if (!r) return err_set(YOLOC_ERR_NOMEM, "out of memory checking %s", e->path);
    np[e->nprobs++] = (entry_problem){on_label, line, r};
    return YOLOC_OK;
}

void entry_clear_results(ds_entry *e) {
    free(e->boxes);
    for (size_t i = 0; i < e->nprobs; i++) free(e->probs[i].reason);
    free(e->probs);
    e->boxes = NULL;
    e->probs = NULL;
    e->nboxes = e->nprobs = e->ndropped = 0;
    e->checked = e->usable = e->w = e->h = e->from_cache = 0;
}

void entry_free(ds_entry *e) {
    entry_clear_results(e);
    free(e->path);
    free(e->label_path);
    e->path = e->label_path = NULL;
}

/* Reads the label file; *text NULL with *len 0 when it is empty. */
static status read_label(const char *path, char **text, size_t *len, char *why, size_t cap) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, cap, "cannot open the label file (%s)", strerror(errno));
        return YOLOC_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        snprintf(why, cap, "the label path is not a regular file");
        return YOLOC_ERR_IO;
    }
    if ((size_t)st.st_size > LABEL_MAX_BYTES) {
        fclose(f);
        snprintf(why, cap, "label file larger than 64 MiB");
        return YOLOC_ERR_IO;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return err_set(YOLOC_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    fclose(f);
    if (got != n) {
        free(buf);
        snprintf(why, cap, "read error on the label file");
        return YOLOC_ERR_IO;
    }
    *text = buf;
    *len = n;
    return YOLOC_OK;
}

status entry_check(ds_entry *e, int nc) {
    entry_clear_results(e);
    e->checked = 1;
    char why[320];
    const char *ext = strrchr(e->path, '.');
    if (check_image_ext(e->path) == 2) {
        snprintf(why, sizeof why, "unsupported image format '%s' (yoloc reads jpg, jpeg, png, bmp)",
                 ext ? ext + 1 : "");
        return entry_add_problem(e, 0, 0, why);
    }
    unsigned char *buf;
    size_t len;
    status st = image_read_file(e->path, &buf, &len);
    if (st == YOLOC_ERR_NOMEM) return st;
    if (st < 0) {
        /* the message is "<path>: <reason>"; keep the reason */
        const char *msg = yoloc_last_error();
        size_t pl = strlen(e->path);
        if (strncmp(msg, e->path, pl) == 0 && msg[pl] == ':') msg += pl + 2;
        return entry_add_problem(e, 0, 0, msg);
    }
    image img;
    image_notes notes;
    st = image_decode_ex(buf, len, NULL, &img, &notes);
    free(buf);
    if (st == YOLOC_ERR_NOMEM) return st;
    if (st < 0) return entry_add_problem(e, 0, 0, yoloc_last_error());
    int w = img.w, h = img.h;
    image_free(&img);
    if (notes.msg[0]) TRY(entry_add_problem(e, 0, 0, notes.msg));
    if (w < CHECK_MIN_SIDE || h < CHECK_MIN_SIDE) {
        snprintf(why, sizeof why, "image size %dx%d is under %d pixels", w, h, CHECK_MIN_SIDE);
        return entry_add_problem(e, 0, 0, why);
    }
    e->w = w;
    e->h = h;
    if (e->lbl.size < 0) { /* no label file: a background image */
        e->usable = 1;
        return YOLOC_OK;
    }
    char *text;
    size_t tlen;
    st = read_label(e->label_path, &text, &tlen, why, sizeof why);
    if (st == YOLOC_ERR_NOMEM) return st;
    if (st < 0) return entry_add_problem(e, 1, 0, why); /* image skipped, as Ultralytics does */
    label_result r;
    st = labels_parse(text, tlen, nc, &r);
    free(text);
    if (st < 0) {
        labels_free(&r);
        return st;
    }
    for (size_t i = 0; i < r.nissues && st == YOLOC_OK; i++)
        st = entry_add_problem(e, 1, r.issues[i].line, r.issues[i].reason);
    if (st < 0) {
        labels_free(&r);
        return st;
    }
    e->ndropped = r.nissues;
    e->boxes = r.boxes; /* ownership moves to the entry */
    e->nboxes = r.nboxes;
    r.boxes = NULL;
    labels_free(&r);
    e->usable = 1;
    return YOLOC_OK;
}
