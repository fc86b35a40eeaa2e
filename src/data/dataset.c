/* YOLO-format datasets: data.yaml, split discovery, checking with a cache,
 * and the synthetic dataset behind the same interface (contract in
 * dataset.h).
 *
 * Path rules (documented choices where Ultralytics differs or is silent):
 *  - `path` relative -> relative to the yaml's folder (Ultralytics: to its
 *    datasets_dir); absent or null -> the yaml's folder. It is resolved with
 *    realpath(), as Ultralytics resolves it, so messages show absolute paths.
 *  - a split entry relative -> relative to `path`; when that does not exist
 *    and the entry starts with "../", `path`/<entry without "../"> is tried
 *    (Ultralytics' fallback).
 *  - a split entry is a folder (searched recursively, hidden names skipped,
 *    like Python's glob "**" / "*.*"), a .txt list of image paths, or a YAML
 *    list of those. In a list file, "./x" is relative to the list file's
 *    folder (Ultralytics); other relative entries are tried relative to the
 *    list file's folder first, then to the working directory (where
 *    Ultralytics always looks). Non-image entries of a list are ignored.
 *  - all images of a split are sorted by path (byte order), duplicates kept.
 *  - image extensions: jpg jpeg png bmp (any case). Files with other
 *    extensions Ultralytics reads (webp, tif, ...) are counted corrupt with
 *    "unsupported image format", so they are not silently lost.
 *  - labels: the last "/images/" becomes "/labels/", the extension ".txt".
 *    A missing or empty label file makes a background image; an unreadable
 *    one makes the image corrupt (as in Ultralytics).
 *  - a split folder under ".../images/..." also has its label folder
 *    scanned: a .txt without an image is reported ("label file has no
 *    image"), nothing else happens to it.
 * A split with no image files is an error; a split whose files are all
 * corrupt opens with nimages 0 (the report then says why). */
#include "data/dataset.h"

#include "core/kv.h"
#include "core/log.h"
#include "data/cache.h"
#include "data/check.h"
#include "data/synth.h"
#include "io/yaml.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_MAX_DEPTH 32

/* Private state of one split. */
typedef struct {
    ds_entry *entries; /* every image file found, sorted by path */
    size_t nentries;
    char **owned; /* strings of problems not tied to an entry */
    size_t nowned;
    ds_box *synth_boxes; /* synthetic: all boxes of the split */
    char *cache_path;
} split_priv;

typedef struct {
    split_priv sp[3];
    char *yaml_path, *root;
    char **names; /* nc malloc'd names */
    int nc;
    int synth;
    synth_params sy;
} ds_priv;

static const char *const SPLIT_KEYS[3] = {"train", "val", "test"};

static ds_split *split_at(dataset *ds, int i) {
    return i == 0 ? &ds->train : i == 1 ? &ds->val : &ds->test;
}

/* -------------------------------------------------------------- paths -- */

/* malloc'd "a/b" (b as is when absolute). */
static char *path_join(const char *a, const char *b) {
    if (b[0] == '/' || !a || !a[0]) return strdup(b);
    size_t na = strlen(a), nb = strlen(b);
    char *out = malloc(na + nb + 2);
    if (!out) return NULL;
    memcpy(out, a, na);
    size_t k = na;
    if (k && out[k - 1] != '/') out[k++] = '/';
    memcpy(out + k, b, nb + 1);
    return out;
}

/* Lexical clean-up in place: "//" -> "/", "/./" -> "/", "x/../" -> "/"
 * (leading ".." kept). */
static void path_normalize(char *p) {
    int abs = p[0] == '/';
    char *segs[PATH_MAX / 2];
    size_t n = 0;
    char *copy = strdup(p);
    if (!copy) return;
    char *save = NULL;
    for (char *tok = strtok_r(copy, "/", &save); tok && n < sizeof segs / sizeof segs[0];
         tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0) continue;
        if (strcmp(tok, "..") == 0 && n > 0 && strcmp(segs[n - 1], "..") != 0) {
            n--;
            continue;
        }
        if (strcmp(tok, "..") == 0 && abs) continue;
        segs[n++] = tok;
    }
    char *w = p;
    if (abs) *w++ = '/';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(segs[i]);
        if (i) *w++ = '/';
        memmove(w, segs[i], l);
        w += l;
    }
    if (w == p) *w++ = '.';
    *w = 0;
    free(copy);
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ------------------------------------------------------ string lists -- */

typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static status strlist_push(strlist *l, char *s) {
    if (!s) return err_set(YOLOC_ERR_NOMEM, "out of memory listing images");
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            free(s);
            return err_set(YOLOC_ERR_NOMEM, "out of memory listing images");
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return YOLOC_OK;
}

static void strlist_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Recursively collects files of dir whose name ends with ".<ext>" (want_txt)
 * or has an image extension. */
static status walk_dir(const char *dir, int depth, int want_txt, strlist *out) {
    if (depth > WALK_MAX_DEPTH) return YOLOC_OK;
    DIR *d = opendir(dir);
    if (!d) return YOLOC_OK; /* unreadable sub-folder: nothing from it */
    status st = YOLOC_OK;
    struct dirent *de;
    while (st == YOLOC_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue; /* hidden, "." and ".." */
        char *p = path_join(dir, de->d_name);
        if (!p) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        struct stat sb;
        if (stat(p, &sb) != 0) {
            free(p);
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            st = walk_dir(p, depth + 1, want_txt, out);
            free(p);
        } else if (S_ISREG(sb.st_mode)) {
            const char *dot = strrchr(de->d_name, '.');
            int keep = want_txt ? (dot && strcmp(dot, ".txt") == 0) : check_image_ext(p) != 0;
            if (keep)
                st = strlist_push(out, p);
            else
                free(p);
        } else {
            free(p);
        }
    }
    closedir(d);
    return st;
}

/* Image paths listed in a .txt file (rules in the file comment). */
static status read_list_file(const char *txt, strlist *out) {
    FILE *f = fopen(txt, "rb");
    if (!f) return err_set(YOLOC_ERR_IO, "%s: cannot open (%s)", txt, strerror(errno));
    char *dir = dir_of(txt);
    if (!dir) {
        fclose(f);
        return err_set(YOLOC_ERR_NOMEM, "out of memory reading %s", txt);
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    status st = YOLOC_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (st == YOLOC_OK && (n = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + n;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) e--;
        *e = 0;
        if (!*s || !check_image_ext(s)) continue;
        char *p;
        if (s[0] == '/') {
            p = strdup(s);
        } else if (strncmp(s, "./", 2) == 0) {
            p = path_join(dir, s + 2);
        } else {
            p = path_join(dir, s);
            if (p && !exists(p)) {
                free(p);
                p = path_join(cwd, s);
            }
        }
        if (p) path_normalize(p);
        st = strlist_push(out, p);
    }
    free(line);
    free(dir);
    fclose(f);
    return st;
}

/* -------------------------------------------------------------- yaml -- */

typedef struct {
    const ydoc *doc;
    const ynode *node; /* the split's value node (for line numbers) */
    const char *key;
} split_src;

/* Resolves one split entry to an existing path under root (malloc'd). */
static status resolve_entry(const char *root, const split_src *src, const char *entry, char **out) {
    *out = NULL;
    char *p = path_join(root, entry);
    if (!p) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    if (!exists(p) && strncmp(entry, "../", 3) == 0) {
        char *q = path_join(root, entry + 3);
        if (q && exists(q)) {
            free(p);
            p = q;
        } else {
            free(q);
        }
    }
    if (!exists(p)) {
        status st =
            ynode_error(src->doc, src->node, YOLOC_ERR_NOT_FOUND,
                        "key '%s': '%s' does not exist (looked for %s)", src->key, entry, p);
        free(p);
        return st;
    }
    char *real = realpath(p, NULL);
    free(p);
    if (!real) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    *out = real;
    return YOLOC_OK;
}

/* Adds the images of one resolved entry (folder or list file); records
 * folders under /images/ for the orphan-label scan. */
static status collect_entry(const char *path, const split_src *src, strlist *images,
                            strlist *label_dirs) {
    if (is_dir(path)) {
        TRY(walk_dir(path, 0, 0, images));
        size_t n = strlen(path);
        char *withslash = malloc(n + 2);
        if (!withslash) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        memcpy(withslash, path, n);
        memcpy(withslash + n, "/", 2);
        char *last = NULL;
        for (char *p = strstr(withslash, "/images/"); p; p = strstr(p + 1, "/images/")) last = p;
        if (last) {
            memcpy(last, "/labels/", 8);
            return strlist_push(label_dirs, withslash);
        }
        free(withslash);
        return YOLOC_OK;
    }
    size_t n = strlen(path);
    if (n >= 4 && strcmp(path + n - 4, ".txt") == 0) return read_list_file(path, images);
    if (check_image_ext(path)) return strlist_push(images, strdup(path));
    return ynode_error(src->doc, src->node, YOLOC_ERR_INVALID,
                       "key '%s': %s is neither a folder, a .txt list nor an image", src->key,
                       path);
}

/* --------------------------------------------------------- the check -- */

static int entry_path_cmp(const void *a, const void *b) {
    return strcmp(((const ds_entry *)a)->path, ((const ds_entry *)b)->path);
}

/* Checks the split's entries, reusing the cache where the keys match;
 * rewrites the cache when anything was checked anew. */
static status check_entries(split_priv *sp, int nc, const dataset_options *opt,
                            const char *split_name, size_t *ncached) {
    ds_entry *cached = NULL;
    size_t ncache = 0;
    *ncached = 0;
    if (opt->use_cache && sp->nentries) {
        char *ld = dir_of(sp->entries[0].label_path);
        if (!ld) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        size_t n = strlen(ld);
        sp->cache_path = malloc(n + 16);
        if (!sp->cache_path) {
            free(ld);
            return err_set(YOLOC_ERR_NOMEM, "out of memory");
        }
        snprintf(sp->cache_path, n + 16, "%s.yoloc.cache", ld);
        free(ld);
        status st = cache_read(sp->cache_path, nc, &cached, &ncache);
        if (st == YOLOC_ERR_NOMEM) return st;
        if (st == YOLOC_ERR_PARSE) log_debug("%s: %s (rebuilding)", split_name, yoloc_last_error());
    }
    /* stat everything, take what the cache knows */
    size_t todo = 0;
    for (size_t i = 0; i < sp->nentries; i++) {
        ds_entry *e = &sp->entries[i];
        entry_stat(e);
        ds_entry *c = ncache ? bsearch(e, cached, ncache, sizeof *cached, entry_path_cmp) : NULL;
        if (c && c->checked && strcmp(c->label_path, e->label_path) == 0 &&
            c->img.size == e->img.size && c->img.mtime_ns == e->img.mtime_ns &&
            c->lbl.size == e->lbl.size && c->lbl.mtime_ns == e->lbl.mtime_ns) {
            /* move the results (duplicated paths each take a copy) */
            e->checked = 1;
            e->usable = c->usable, e->w = c->w, e->h = c->h, e->ndropped = c->ndropped;
            e->from_cache = 1;
            status st = YOLOC_OK;
            if (c->nboxes) {
                e->boxes = malloc(c->nboxes * sizeof *e->boxes);
                if (!e->boxes)
                    st = err_set(YOLOC_ERR_NOMEM, "out of memory");
                else
                    memcpy(e->boxes, c->boxes, c->nboxes * sizeof *e->boxes), e->nboxes = c->nboxes;
            }
            for (size_t k = 0; k < c->nprobs && st == YOLOC_OK; k++)
                st = entry_add_problem(e, c->probs[k].on_label, c->probs[k].line,
                                       c->probs[k].reason);
            if (st < 0) {
                for (size_t k = 0; k < ncache; k++) entry_free(&cached[k]);
                free(cached);
                return st;
            }
            (*ncached)++;
        } else {
            todo++;
        }
    }
    int stale = ncache != sp->nentries || todo > 0;
    for (size_t k = 0; k < ncache; k++) entry_free(&cached[k]);
    free(cached);
    /* check the rest in parallel (decoding dominates); only running out of
     * memory fails, and the message is set again on this thread */
    long failed_at = -1;
    if (todo) {
        long n = (long)sp->nentries;
#pragma omp parallel for schedule(dynamic, 4)
        for (long i = 0; i < n; i++) {
            ds_entry *e = &sp->entries[i];
            if (e->checked) continue;
            if (entry_check(e, nc) < 0) {
#pragma omp critical(dataset_check_fail)
                if (failed_at < 0) failed_at = i;
            }
        }
    }
    if (failed_at >= 0)
        return err_set(YOLOC_ERR_NOMEM, "out of memory checking %s", sp->entries[failed_at].path);
    if (opt->use_cache && sp->cache_path && stale) {
        status st = cache_write(sp->cache_path, nc, sp->entries, sp->nentries);
        if (st == YOLOC_ERR_NOMEM) return st;
        if (st < 0)
            log_warn(
                "%s: cannot write the check cache %s (%s); the checks will run again next time",
                split_name, sp->cache_path, yoloc_last_error());
    }
    return YOLOC_OK;
}

static status own_string(split_priv *sp, const char *s, const char **out) {
    char **nv = realloc(sp->owned, (sp->nowned + 1) * sizeof *nv);
    if (!nv) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    sp->owned = nv;
    char *c = strdup(s);
    if (!c) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    sp->owned[sp->nowned++] = c;
    *out = c;
    return YOLOC_OK;
}

/* Fills the public split from the checked entries (+ orphan labels). */
static status split_assemble(ds_split *s, split_priv *sp, strlist *orphans) {
    size_t nimg = 0, nprob = orphans->n;
    for (size_t i = 0; i < sp->nentries; i++) {
        nimg += sp->entries[i].usable;
        nprob += sp->entries[i].nprobs;
    }
    s->images = calloc(nimg ? nimg : 1, sizeof *s->images);
    s->problems = calloc(nprob ? nprob : 1, sizeof *s->problems);
    if (!s->images || !s->problems) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sp->nentries; i++) {
        ds_entry *e = &sp->entries[i];
        for (size_t k = 0; k < e->nprobs; k++)
            s->problems[s->nproblems++] =
                (ds_problem){e->probs[k].on_label ? e->label_path : e->path, e->probs[k].line,
                             e->probs[k].reason};
        s->ndropped += e->ndropped;
        if (!e->usable) {
            s->ncorrupt++;
            continue;
        }
        ds_image *im = &s->images[s->nimages++];
        im->path = e->path;
        im->label_path = e->label_path;
        im->width = e->w;
        im->height = e->h;
        im->nboxes = e->nboxes;
        im->boxes = e->boxes;
        s->nboxes += e->nboxes;
        s->nbackgrounds += e->nboxes == 0;
    }
    for (size_t i = 0; i < orphans->n; i++) {
        ds_problem *pr = &s->problems[s->nproblems++];
        TRY(own_string(sp, orphans->v[i], &pr->file));
        pr->line = 0;
        pr->reason = "label file has no image (ignored)";
    }
    return YOLOC_OK;
}

static void log_summary(const ds_split *s, size_t ncached, size_t nentries,
                        const dataset_options *opt) {
    if (!opt->quiet)
        for (size_t i = 0; i < s->nproblems; i++) {
            const ds_problem *p = &s->problems[i];
            if (p->line)
                log_warn("%s:%d: %s", p->file, p->line, p->reason);
            else
                log_warn("%s: %s", p->file, p->reason);
        }
    log_info(
        "%s: %zu images, %zu backgrounds, %zu corrupt (skipped), %zu boxes, %zu label lines dropped"
        " (%zu of %zu checks from the cache)",
        s->name, s->nimages, s->nbackgrounds, s->ncorrupt, s->nboxes, s->ndropped, ncached,
        nentries);
}

/* Discovers, checks and fills split i from its yaml node. */
static status split_open(dataset *ds, ds_priv *pv, int i, const ydoc *doc, const ynode *node,
                         const dataset_options *opt) {
    ds_split *s = split_at(ds, i);
    split_priv *sp = &pv->sp[i];
    split_src src = {doc, node, SPLIT_KEYS[i]};
    strlist images = {0}, label_dirs = {0}, labels = {0}, orphans = {0};
    status st = YOLOC_OK;
    size_t nitems = node->kind == YNODE_SEQ ? node->n : 1;
    char where[1024] = ""; /* the resolved paths, for the "no images" message */
    for (size_t k = 0; k < nitems && st == YOLOC_OK; k++) {
        const ynode *item = node->kind == YNODE_SEQ ? node->items[k] : node;
        const char *entry;
        src.node = item;
        st = ynode_str(doc, item, SPLIT_KEYS[i], &entry);
        char *resolved = NULL;
        if (st == YOLOC_OK) st = resolve_entry(pv->root, &src, entry, &resolved);
        if (st == YOLOC_OK) {
            size_t wl = strlen(where);
            snprintf(where + wl, sizeof where - wl, "%s%s", wl ? ", " : "", resolved);
            st = collect_entry(resolved, &src, &images, &label_dirs);
        }
        free(resolved);
    }
    if (st == YOLOC_OK && images.n == 0)
        st = ynode_error(doc, node, YOLOC_ERR_NOT_FOUND,
                         "key '%s': no images found (jpg, jpeg, png, bmp) in %s", SPLIT_KEYS[i],
                         where);
    if (st < 0) goto fail;
    qsort(images.v, images.n, sizeof *images.v, str_cmp);
    sp->entries = calloc(images.n, sizeof *sp->entries);
    if (!sp->entries) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < images.n; k++) {
        ds_entry *e = &sp->entries[k];
        e->path = images.v[k];
        images.v[k] = NULL;
        sp->nentries++;
        if (!(e->label_path = check_label_path(e->path))) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    size_t ncached;
    TRY_GOTO(st, check_entries(sp, pv->nc, opt, SPLIT_KEYS[i], &ncached));
    /* label files without an image, in the label folders of image folders */
    for (size_t k = 0; k < label_dirs.n; k++)
        TRY_GOTO(st, walk_dir(label_dirs.v[k], 0, 1, &labels));
    if (labels.n) {
        strlist known = {0};
        for (size_t k = 0; k < sp->nentries; k++) {
            char *c = strdup(sp->entries[k].label_path);
            if ((st = strlist_push(&known, c)) < 0) break;
        }
        if (st == YOLOC_OK) {
            qsort(known.v, known.n, sizeof *known.v, str_cmp);
            qsort(labels.v, labels.n, sizeof *labels.v, str_cmp);
            for (size_t k = 0; k < labels.n && st == YOLOC_OK; k++) {
                if (k && strcmp(labels.v[k], labels.v[k - 1]) == 0) continue;
                if (!bsearch(&labels.v[k], known.v, known.n, sizeof *known.v, str_cmp))
                    st = strlist_push(&orphans, strdup(labels.v[k]));
            }
        }
        strlist_free(&known);
        if (st < 0) goto fail;
    }
    s->name = SPLIT_KEYS[i];
    s->ncache_hits = ncached;
    s->cache_path = sp->cache_path;
    TRY_GOTO(st, split_assemble(s, sp, &orphans));
    log_summary(s, ncached, sp->nentries, opt);
fail: /* also the way out on success */
    strlist_free(&images);
    strlist_free(&label_dirs);
    strlist_free(&labels);
    strlist_free(&orphans);
    return st;
}

/* names (list or {id: name} map) and nc; they must agree when both given. */
static status read_names(ds_priv *pv, const ydoc *doc, const ynode *root) {
    const ynode *names = ynode_get(root, "names"), *ncn = ynode_get(root, "nc");
    long nc = -1;
    if (ncn && !ynode_is_null(ncn)) {
        TRY(ynode_int(doc, ncn, "nc", &nc));
        if (nc < 1 || nc > 100000)
            return ynode_error(doc, ncn, YOLOC_ERR_INVALID, "nc %ld is not in [1, 100000]", nc);
    }
    if (!names || ynode_is_null(names)) {
        if (nc < 0)
            return ynode_error(doc, root, YOLOC_ERR_INVALID, "key 'names' (or 'nc') is required");
        pv->names = calloc((size_t)nc, sizeof *pv->names);
        if (!pv->names) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        pv->nc = (int)nc;
        for (long k = 0; k < nc; k++) {
            char buf[32];
            snprintf(buf, sizeof buf, "class_%ld", k);
            if (!(pv->names[k] = strdup(buf))) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        }
        return YOLOC_OK;
    }
    if (names->kind == YNODE_SCALAR)
        return ynode_error(doc, names, YOLOC_ERR_INVALID,
                           "key 'names': expected a list or a {id: name} map");
    size_t n = names->n;
    if (n == 0) return ynode_error(doc, names, YOLOC_ERR_INVALID, "key 'names': no classes");
    if (nc >= 0 && (size_t)nc != n)
        return ynode_error(doc, ncn, YOLOC_ERR_INVALID, "nc %ld does not match the %zu names", nc,
                           n);
    pv->names = calloc(n, sizeof *pv->names);
    if (!pv->names) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    pv->nc = (int)n;
    for (size_t k = 0; k < n; k++) {
        const ynode *v = names->items[k];
        size_t id = k;
        if (names->kind == YNODE_MAP) {
            long key;
            if (parse_long(names->keys[k], &key) != 0 || key < 0 || (size_t)key >= n)
                return ynode_error(
                    doc, v, YOLOC_ERR_INVALID,
                    "key 'names': class id '%s' is not in 0..%zu (a %zu-class map needs ids 0-%zu)",
                    names->keys[k], n - 1, n, n - 1);
            id = (size_t)key;
            if (pv->names[id])
                return ynode_error(doc, v, YOLOC_ERR_INVALID,
                                   "key 'names': class id %ld is given twice", key);
        }
        const char *s;
        TRY(ynode_str(doc, v, "names", &s));
        if (!(pv->names[id] = strdup(s))) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    return YOLOC_OK;
}

/* ---------------------------------------------------------- synthetic -- */

static status synth_open(dataset *ds, ds_priv *pv, const char *spec) {
    TRY(synth_parse(spec, &pv->sy));
    pv->synth = 1;
    pv->nc = pv->sy.classes;
    pv->names = calloc((size_t)pv->nc, sizeof *pv->names);
    if (!pv->names) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    for (int k = 0; k < pv->nc; k++)
        if (!(pv->names[k] = strdup(synth_class_name(k))))
            return err_set(YOLOC_ERR_NOMEM, "out of memory");
    if (!(pv->root = strdup(spec))) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    size_t counts[3] = {pv->sy.ntrain, pv->sy.nval, pv->sy.ntest};
    for (int i = 0; i < 3; i++) {
        if (!counts[i]) continue;
        ds_split *s = split_at(ds, i);
        split_priv *sp = &pv->sp[i];
        s->name = SPLIT_KEYS[i];
        s->images = calloc(counts[i], sizeof *s->images);
        sp->synth_boxes = malloc(counts[i] * SYNTH_MAX_OBJECTS * sizeof *sp->synth_boxes);
        if (!s->images || !sp->synth_boxes) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        for (size_t k = 0; k < counts[i]; k++) {
            ds_image *im = &s->images[k];
            ds_box *b = sp->synth_boxes + k * SYNTH_MAX_OBJECTS;
            im->path = "";
            im->label_path = "";
            im->width = im->height = pv->sy.imgsz;
            im->nboxes = synth_boxes(&pv->sy, i, k, b);
            im->boxes = b;
            s->nboxes += im->nboxes;
            s->nbackgrounds += im->nboxes == 0;
        }
        s->nimages = counts[i];
    }
    return YOLOC_OK;
}

/* Ultralytics' selection keys (dataset_options): fraction of the training
 * images, the labels of some classes, one class. */
static status apply_selection(dataset *ds, ds_priv *pv, const dataset_options *opt) {
    for (int k = 0; k < opt->nclasses; k++)
        if (opt->classes[k] < 0 || opt->classes[k] >= pv->nc)
            return err_set(YOLOC_ERR_INVALID, "key 'classes': class %d is not in the dataset (%d classes, 0..%d)",
                           opt->classes[k], pv->nc, pv->nc - 1);
    double f = opt->train_fraction;
    int trim = f > 0 && f < 1;
    if (trim) {
        size_t n = (size_t)nearbyint((double)ds->train.nimages * f); /* Python round(): halves to even */
        if (n == 0)
            return err_set(YOLOC_ERR_INVALID, "key 'fraction': %g of %zu training images is none", f,
                           ds->train.nimages);
        log_info("fraction=%g: the first %zu of %zu training images", f, n, ds->train.nimages);
        ds->train.nimages = n;
    }
    if (opt->nclasses) log_info("classes=: the labels of %d of %d classes kept", opt->nclasses, pv->nc);
    if (opt->single_cls) log_info("single_cls=True: every label is class 0, 'item'");
    for (int i = 0; i < 3 && (opt->nclasses || opt->single_cls || trim); i++) { /* the counts follow */
        ds_split *s = split_at(ds, i);
        s->nboxes = s->nbackgrounds = 0;
        for (size_t j = 0; j < s->nimages; j++) {
            ds_image *im = &s->images[j];
            ds_box *b = (ds_box *)im->boxes; /* the dataset's own storage */
            size_t kept = 0;
            for (size_t k = 0; k < im->nboxes; k++) {
                int keep = opt->nclasses == 0;
                for (int c = 0; c < opt->nclasses && !keep; c++) keep = b[k].cls == opt->classes[c];
                if (!keep) continue;
                b[kept] = b[k];
                if (opt->single_cls) b[kept].cls = 0;
                kept++;
            }
            im->nboxes = kept;
            s->nboxes += kept;
            s->nbackgrounds += kept == 0;
        }
    }
    if (opt->single_cls) { /* Ultralytics' names {0: 'item'} */
        char *item = strdup("item");
        char **names = malloc(sizeof *names);
        if (!item || !names) {
            free(item);
            free(names);
            return err_set(YOLOC_ERR_NOMEM, "out of memory");
        }
        for (int k = 0; k < pv->nc; k++) free(pv->names[k]);
        free(pv->names);
        names[0] = item;
        pv->names = names;
        pv->nc = 1;
    }
    return YOLOC_OK;
}

/* ------------------------------------------------------------- public -- */

status dataset_open(dataset *ds, const char *data, const dataset_options *opt) {
    memset(ds, 0, sizeof *ds);
    dataset_options defaults = {.use_cache = 1};
    if (!opt) opt = &defaults;
    if (!data || !*data)
        return err_set(YOLOC_ERR_INVALID, "data: no dataset given (a data.yaml or synth)");
    ds_priv *pv = calloc(1, sizeof *pv);
    if (!pv) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    ds->priv = pv;
    status st = YOLOC_OK;
    ydoc doc;
    int have_doc = 0;
    if (synth_is_spec(data)) {
        TRY_GOTO(st, synth_open(ds, pv, data));
    } else {
        if (is_dir(data)) {
            st = err_set(YOLOC_ERR_INVALID, "data=%s is a folder; give its data.yaml", data);
            goto fail;
        }
        TRY_GOTO(st, ydoc_load_file(&doc, data));
        have_doc = 1;
        if (!(pv->yaml_path = strdup(data))) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        const ynode *root = doc.root;
        if (!root || root->kind != YNODE_MAP) {
            st = err_set(YOLOC_ERR_PARSE, "%s: expected a map with keys path, train, val, names",
                         data);
            goto fail;
        }
        /* root folder */
        char *ydir = dir_of(data);
        if (!ydir) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        const ynode *pn = ynode_get(root, "path");
        const char *pstr = NULL;
        if (pn && !ynode_is_null(pn) && (st = ynode_str(&doc, pn, "path", &pstr)) < 0) {
            free(ydir);
            goto fail;
        }
        char *joined = pstr ? path_join(ydir, pstr) : strdup(ydir);
        free(ydir);
        if (!joined) {
            st = err_set(YOLOC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        pv->root = realpath(joined, NULL);
        if (!pv->root || !is_dir(pv->root)) {
            st = pn ? ynode_error(&doc, pn, YOLOC_ERR_NOT_FOUND,
                                  "key 'path': folder %s does not exist", joined)
                    : err_set(YOLOC_ERR_NOT_FOUND, "%s: folder %s does not exist", data, joined);
            free(joined);
            goto fail;
        }
        free(joined);
        TRY_GOTO(st, read_names(pv, &doc, root));
        for (int i = 0; i < 3; i++) {
            const ynode *sn = ynode_get(root, SPLIT_KEYS[i]);
            if (!sn || ynode_is_null(sn)) {
                if (i < 2) {
                    st = ynode_error(&doc, root, YOLOC_ERR_INVALID, "key '%s' is required",
                                     SPLIT_KEYS[i]);
                    goto fail;
                }
                continue;
            }
            if (sn->kind == YNODE_MAP) {
                st = ynode_error(&doc, sn, YOLOC_ERR_INVALID,
                                 "key '%s': expected a path or a list of paths", SPLIT_KEYS[i]);
                goto fail;
            }
            TRY_GOTO(st, split_open(ds, pv, i, &doc, sn, opt));
        }
    }
    TRY_GOTO(st, apply_selection(ds, pv, opt));
    ds->yaml_path = pv->yaml_path;
    ds->root = pv->root;
    ds->nc = pv->nc;
    ds->names = (const char **)pv->names;
    if (have_doc) ydoc_free(&doc);
    return YOLOC_OK;
fail:
    if (have_doc) ydoc_free(&doc);
    dataset_close(ds);
    return st;
}

void dataset_close(dataset *ds) {
    if (!ds) return;
    ds_priv *pv = ds->priv;
    for (int i = 0; i < 3; i++) {
        ds_split *s = split_at(ds, i);
        free(s->images);
        free(s->problems);
        if (!pv) continue;
        split_priv *sp = &pv->sp[i];
        for (size_t k = 0; k < sp->nentries; k++) entry_free(&sp->entries[k]);
        free(sp->entries);
        for (size_t k = 0; k < sp->nowned; k++) free(sp->owned[k]);
        free(sp->owned);
        free(sp->synth_boxes);
        free(sp->cache_path);
    }
    if (pv) {
        for (int k = 0; pv->names && k < pv->nc; k++) free(pv->names[k]);
        free(pv->names);
        free(pv->yaml_path);
        free(pv->root);
        free(pv);
    }
    memset(ds, 0, sizeof *ds);
}

const ds_split *dataset_split(const dataset *ds, const char *name) {
    if (!ds || !name) return NULL;
    const ds_split *all[3] = {&ds->train, &ds->val, &ds->test};
    for (int i = 0; i < 3; i++)
        if (all[i]->name && strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

status dataset_load_image(const dataset *ds, const ds_split *sp, size_t i, image *img) {
    img->data = NULL;
    img->w = img->h = 0;
    const ds_priv *pv = ds->priv;
    int si = sp == &ds->train ? 0 : sp == &ds->val ? 1 : sp == &ds->test ? 2 : -1;
    if (si < 0 || !pv)
        return err_set(YOLOC_ERR_INVALID, "dataset_load_image: split not of this dataset");
    if (i >= sp->nimages)
        return err_set(YOLOC_ERR_INVALID, "%s: image index %zu out of range (%zu images)", sp->name,
                       i, sp->nimages);
    if (pv->synth) return synth_render(&pv->sy, si, i, img);
    const ds_image *im = &sp->images[i];
    TRY(image_load(im->path, img));
    if (img->w != im->width || img->h != im->height) {
        status st = err_set(YOLOC_ERR_INVALID,
                            "%s: image changed since it was checked (was %dx%d, now %dx%d)",
                            im->path, im->width, im->height, img->w, img->h);
        image_free(img);
        return st;
    }
    return YOLOC_OK;
}
