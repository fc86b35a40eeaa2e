/* PyTorch checkpoint files (see ptfile.h). */
#include "io/ptfile.h"
#include "io/file.h"
#include "io/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PT_MAX_FILE ((size_t)4 << 30)
#define PT_MAX_PICKLE ((size_t)256 << 20)
#define PT_NAME_CAP 256
#define PT_MAX_TENSORS 16384 /* in a state dict: far more than any detector holds */
#define PT_MAX_VISITS 100000 /* modules walked, values written as JSON (the memo can make cycles) */

/* Bytes a file may expand into (its storages' extracted sizes together):
 * PyTorch stores storages uncompressed, so a deflated one is rare; the
 * bound keeps a small hostile file from asking for gigabytes. */
static size_t expand_budget(const pt_file *f) { return 16 * f->len + ((size_t)256 << 20); }

typedef struct {
    const char *key;
    const unsigned char *bytes; /* in the file (stored, CRC checked once) or extracted */
    int owned;                  /* extracted: freed with the file */
} pt_cached;

typedef struct {
    pt_cached *items;
    size_t n, cap;
    size_t expanded; /* bytes extracted so far */
} pt_cache;

int pt_is_zip(const unsigned char *first, size_t len) {
    return len >= 4 && first[0] == 'P' && first[1] == 'K' &&
           ((first[2] == 3 && first[3] == 4) || (first[2] == 5 && first[3] == 6));
}

/* Opens the image held in f->file (owned by f). */
static status open_image(pt_file *f) {
    if (!pt_is_zip(f->file, f->len)) {
        if (f->len >= 2 && f->file[0] == 0x80)
            return err_set(YOLOC_ERR_UNSUPPORTED,
                           "%s: a legacy (pre-1.6) PyTorch file; load and save it again with a recent PyTorch "
                           "(torch.save writes the zip format)",
                           f->label);
        return err_set(YOLOC_ERR_PARSE, "%s: not a PyTorch checkpoint (no zip archive)", f->label);
    }
    TRY(zip_open_memory(&f->z, f->file, f->len, f->label));
    /* the pickle: <top>/data.pkl, exactly one top folder */
    const zip_entry *pkl = NULL;
    for (size_t i = 0; i < f->z.n; i++) {
        const char *nm = f->z.entries[i].name, *slash = strchr(nm, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0) {
            if (pkl) return err_set(YOLOC_ERR_PARSE, "%s: two pickles (%s, %s)", f->label, pkl->name, nm);
            if ((size_t)(slash - nm) + 1 >= sizeof f->prefix)
                return err_set(YOLOC_ERR_PARSE, "%s: a top folder name too long", f->label);
            pkl = &f->z.entries[i];
            memcpy(f->prefix, nm, (size_t)(slash - nm) + 1);
            f->prefix[slash - nm + 1] = 0;
        }
    }
    if (!pkl) return err_set(YOLOC_ERR_PARSE, "%s: no data.pkl in the archive (not a torch.save file)", f->label);
    char name[512];
    snprintf(name, sizeof name, "%sbyteorder", f->prefix);
    const zip_entry *bo = zip_find(&f->z, name);
    if (bo) {
        unsigned char *b;
        TRY(zip_extract(&f->z, bo, 64, &b));
        int big = strcmp((char *)b, "big") == 0;
        free(b);
        if (big) return err_set(YOLOC_ERR_UNSUPPORTED, "%s: written on a big-endian machine", f->label);
    }
    unsigned char *text;
    TRY(zip_extract(&f->z, pkl, PT_MAX_PICKLE, &text));
    char lbl[600];
    snprintf(lbl, sizeof lbl, "%s: %s", f->label, pkl->name);
    status st = pk_parse(&f->doc, text, (size_t)pkl->usize, lbl);
    free(text);
    if (st < 0) return st;
    f->cache = calloc(1, sizeof(pt_cache));
    if (!f->cache) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", f->label);
    return YOLOC_OK;
}

status pt_open_memory(pt_file *f, const void *buf, size_t len, const char *label) {
    memset(f, 0, sizeof *f);
    snprintf(f->label, sizeof f->label, "%s", label ? label : "<pt>");
    f->file = malloc(len ? len : 1);
    if (!f->file) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", f->label);
    if (len) memcpy(f->file, buf, len);
    f->len = len;
    status st = open_image(f);
    if (st < 0) pt_close(f);
    return st;
}

status pt_open(pt_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    snprintf(f->label, sizeof f->label, "%s", path);
    char *data;
    size_t len;
    TRY(file_read_all(path, PT_MAX_FILE, &data, &len));
    f->file = (unsigned char *)data;
    f->len = len;
    status st = open_image(f);
    if (st < 0) pt_close(f);
    return st;
}

void pt_close(pt_file *f) {
    pt_cache *c = f->cache;
    if (c) {
        for (size_t i = 0; i < c->n; i++)
            if (c->items[i].owned) free((void *)c->items[i].bytes);
        free(c->items);
        free(c);
    }
    pk_free(&f->doc);
    zip_close(&f->z);
    free(f->file);
    memset(f, 0, sizeof *f);
}

/* The bytes of a storage: in place for a stored entry, else extracted once. */
static status storage_bytes(pt_file *f, const pk_value *s, const unsigned char **out) {
    char name[600];
    snprintf(name, sizeof name, "%sdata/%s", f->prefix, s->key);
    const zip_entry *e = zip_find(&f->z, name);
    if (!e) return err_set(YOLOC_ERR_PARSE, "%s: storage '%s' is missing from the archive", f->label, s->key);
    if (s->dt < 0)
        return err_set(YOLOC_ERR_UNSUPPORTED, "%s: storage '%s' is a %s (yoloc reads float, half, bfloat16, long, int "
                                              "and byte storages)",
                       f->label, s->key, s->s);
    size_t need = (size_t)s->numel * dtype_size((dtype)s->dt);
    if (e->usize < need)
        return err_set(YOLOC_ERR_PARSE, "%s: storage '%s' holds %llu bytes, %zu needed", f->label, s->key,
                       (unsigned long long)e->usize, need);
    /* each storage once: views of one storage share its bytes and its check */
    pt_cache *c = f->cache;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].key, s->key) == 0) {
            *out = c->items[i].bytes;
            return YOLOC_OK;
        }
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 16;
        pt_cached *it = realloc(c->items, nc * sizeof *it);
        if (!it) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", f->label);
        c->items = it;
        c->cap = nc;
    }
    if (e->method == 0) {
        TRY(zip_stored(&f->z, e, out));
        c->items[c->n++] = (pt_cached){s->key, *out, 0};
        return YOLOC_OK;
    }
    size_t budget = expand_budget(f);
    if (e->usize > budget - c->expanded)
        return err_set(YOLOC_ERR_INVALID, "%s: storage '%s' would expand to %llu bytes, more than a file of %zu bytes "
                                          "may",
                       f->label, s->key, (unsigned long long)e->usize, f->len);
    unsigned char *b;
    TRY(zip_extract(&f->z, e, budget - c->expanded, &b));
    c->expanded += (size_t)e->usize;
    c->items[c->n++] = (pt_cached){s->key, b, 1};
    *out = b;
    return YOLOC_OK;
}

status pt_tensor_read(pt_file *f, const pk_value *t, void *out) {
    if (!t || t->kind != PK_TENSOR) return err_set(YOLOC_ERR_INVALID, "%s: not a tensor", f->label);
    const unsigned char *src = NULL;
    TRY(storage_bytes(f, t->storage, &src));
    const size_t es = dtype_size((dtype)t->storage->dt);
    const uint64_t n = pk_tensor_numel(t);
    if (n > t->storage->numel)
        return err_set(YOLOC_ERR_UNSUPPORTED, "%s: a tensor of %llu elements over a storage of %llu (an expanded view)",
                       f->label, (unsigned long long)n, (unsigned long long)t->storage->numel);
    unsigned char *dst = out;
    int64_t idx[PK_MAX_DIMS] = {0};
    for (uint64_t k = 0; k < n; k++) {
        uint64_t at = (uint64_t)t->offset;
        for (int d = 0; d < t->ndim; d++) at += (uint64_t)idx[d] * (uint64_t)t->stride[d];
        memcpy(dst + k * es, src + at * es, es); /* at < span <= numel (checked by the reader) */
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return YOLOC_OK;
}

/* ---- the state dict */

typedef struct {
    char (*names)[PT_NAME_CAP];
    const pk_value **tensors;
    size_t n, cap;
    size_t visits;
} tlist;

static status tl_add(tlist *l, const char *label, const char *prefix, const char *name, const pk_value *t) {
    if (l->n >= PT_MAX_TENSORS)
        return err_set(YOLOC_ERR_PARSE, "%s: more than %d tensors", label, PT_MAX_TENSORS);
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 256;
        char (*nn)[PT_NAME_CAP] = realloc(l->names, nc * sizeof *nn);
        if (!nn) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", label);
        l->names = nn;
        const pk_value **nt = realloc((void *)l->tensors, nc * sizeof *nt);
        if (!nt) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", label);
        l->tensors = nt;
        l->cap = nc;
    }
    if ((size_t)snprintf(l->names[l->n], PT_NAME_CAP, "%s%s", prefix, name) >= PT_NAME_CAP)
        return err_set(YOLOC_ERR_PARSE, "%s: a tensor name longer than %d bytes (%s%s)", label, PT_NAME_CAP - 1, prefix,
                       name);
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], l->names[l->n]) == 0)
            return err_set(YOLOC_ERR_PARSE, "%s: tensor '%s' appears twice", label, l->names[i]);
    l->tensors[l->n++] = t;
    return YOLOC_OK;
}

static int in_set(const pk_value *set, const char *s) {
    if (!set || (set->kind != PK_SET && set->kind != PK_LIST && set->kind != PK_TUPLE)) return 0;
    for (size_t i = 0; i < set->n; i++)
        if (pk_is_str(set->items[i], s)) return 1;
    return 0;
}

/* A module's parameters, persistent buffers, then its children. */
static status walk_module(const pt_file *f, const pk_value *obj, const char *prefix, int depth, tlist *l) {
    if (depth > PK_MAX_DEPTH || ++l->visits > PT_MAX_VISITS)
        return err_set(YOLOC_ERR_PARSE, "%s: modules nested deeper than %d or more than %d of them (a cycle?)", f->label,
                       PK_MAX_DEPTH, PT_MAX_VISITS);
    const pk_value *a = pk_attrs(obj);
    if (!a) return err_set(YOLOC_ERR_PARSE, "%s: module '%s' (%s) has no attributes", f->label, prefix, obj->s);
    const pk_value *params = pk_get(a, "_parameters"), *bufs = pk_get(a, "_buffers"), *mods = pk_get(a, "_modules");
    const pk_value *np = pk_get(a, "_non_persistent_buffers_set");
    const pk_value *groups[2] = {params, bufs};
    for (int g = 0; g < 2; g++) {
        const pk_value *d = groups[g];
        if (!d) continue;
        if (d->kind != PK_DICT)
            return err_set(YOLOC_ERR_PARSE, "%s: module '%s': %s is not a dict", f->label, prefix,
                           g ? "_buffers" : "_parameters");
        for (size_t i = 0; i < d->n; i++) {
            const pk_value *k = d->items[2 * i], *v = d->items[2 * i + 1];
            if (k->kind != PK_STR) return err_set(YOLOC_ERR_PARSE, "%s: module '%s': a non-string name", f->label, prefix);
            if (v->kind == PK_NONE || (g == 1 && in_set(np, k->s))) continue;
            if (v->kind != PK_TENSOR)
                return err_set(YOLOC_ERR_PARSE, "%s: '%s%s' is not a tensor", f->label, prefix, k->s);
            TRY(tl_add(l, f->label, prefix, k->s, v));
        }
    }
    if (!mods) return YOLOC_OK;
    if (mods->kind != PK_DICT) return err_set(YOLOC_ERR_PARSE, "%s: module '%s': _modules is not a dict", f->label, prefix);
    for (size_t i = 0; i < mods->n; i++) {
        const pk_value *k = mods->items[2 * i], *v = mods->items[2 * i + 1];
        if (k->kind != PK_STR) return err_set(YOLOC_ERR_PARSE, "%s: module '%s': a non-string child name", f->label, prefix);
        if (v->kind == PK_NONE) continue;
        if (v->kind != PK_OBJECT)
            return err_set(YOLOC_ERR_PARSE, "%s: module '%s%s' is not a module object", f->label, prefix, k->s);
        char child[PT_NAME_CAP];
        if ((size_t)snprintf(child, sizeof child, "%s%s.", prefix, k->s) >= sizeof child)
            return err_set(YOLOC_ERR_PARSE, "%s: a module path too long (%s%s)", f->label, prefix, k->s);
        TRY(walk_module(f, v, child, depth + 1, l));
    }
    return YOLOC_OK;
}

/* A string Ultralytics' parse_model would evaluate (it runs
 * ast.literal_eval on string arguments: "None", "nc", "1"), written as
 * a plain YAML scalar so that yoloc's spec parser sees what the model's
 * YAML file said; any other string is quoted. */
static int plain_ok(const char *t) {
    if (!*t) return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '.' || (p != t && (*p == '-' || *p == '+'))))
            return 0;
    return 1;
}

/* A value as JSON (names, train_args) or, plain = 1, as flow-style YAML
 * (the model's YAML dict: JSON with the plain strings above unquoted). */
static void to_json_p(sbuf *s, const pk_value *v, int depth, size_t *budget, int plain);
static void to_json(sbuf *s, const pk_value *v, int depth, size_t *budget) { to_json_p(s, v, depth, budget, 0); }
static void to_json_p(sbuf *s, const pk_value *v, int depth, size_t *budget, int plain) {
    if (!v || depth > PK_MAX_DEPTH || *budget == 0) {
        sbuf_append(s, "null", 4);
        return;
    }
    --*budget;
    switch (v->kind) {
    case PK_BOOL: sbuf_append(s, v->i ? "true" : "false", v->i ? 4 : 5); return;
    case PK_INT: sbuf_printf(s, "%lld", (long long)v->i); return;
    case PK_FLOAT:
        if (isfinite(v->f)) sbuf_json_number(s, v->f);
        else sbuf_append(s, "null", 4);
        return;
    case PK_STR:
        if (plain && plain_ok(v->s)) sbuf_append(s, v->s, v->len);
        else sbuf_json_string(s, v->s);
        return;
    case PK_TUPLE:
    case PK_LIST:
    case PK_SET:
        sbuf_append(s, "[", 1);
        for (size_t i = 0; i < v->n; i++) {
            if (i) sbuf_append(s, ", ", 2);
            to_json_p(s, v->items[i], depth + 1, budget, plain);
        }
        sbuf_append(s, "]", 1);
        return;
    case PK_DICT:
        sbuf_append(s, "{", 1);
        for (size_t i = 0; i < v->n; i++) {
            const pk_value *k = v->items[2 * i];
            if (i) sbuf_append(s, ", ", 2);
            if (k->kind == PK_STR) {
                sbuf_json_string(s, k->s);
            } else if (k->kind == PK_INT) {
                sbuf_printf(s, "\"%lld\"", (long long)k->i);
            } else {
                sbuf_json_string(s, "?");
            }
            sbuf_append(s, ": ", 2);
            to_json_p(s, v->items[2 * i + 1], depth + 1, budget, plain);
        }
        sbuf_append(s, "}", 1);
        return;
    case PK_OBJECT:
    case PK_CALL: /* a path-like object: its one string argument; else its type */
        if (v->n == 1 && v->items[0]->kind == PK_STR) sbuf_json_string(s, v->items[0]->s);
        else if (v->kind == PK_OBJECT && pk_attrs(v)) to_json_p(s, pk_attrs(v), depth + 1, budget, plain);
        else sbuf_json_string(s, v->s);
        return;
    default: sbuf_append(s, "null", 4); return;
    }
}

/* names: a dict {index: name} or a list of names, as a JSON list. */
static int names_json(sbuf *s, const pk_value *v) {
    if (!v) return 0;
    if (v->kind == PK_LIST || v->kind == PK_TUPLE) {
        for (size_t i = 0; i < v->n; i++)
            if (v->items[i]->kind != PK_STR) return 0;
        size_t budget = PT_MAX_VISITS;
        to_json(s, v, 0, &budget);
        return 1;
    }
    if (v->kind != PK_DICT || v->n == 0 || v->n > 100000) return 0;
    const pk_value **by = calloc(v->n, sizeof *by); /* by class index */
    if (!by) return 0;
    int ok = 1;
    for (size_t i = 0; i < v->n && ok; i++) {
        const pk_value *k = v->items[2 * i], *nm = v->items[2 * i + 1];
        ok = k->kind == PK_INT && k->i >= 0 && (uint64_t)k->i < v->n && nm->kind == PK_STR && !by[k->i];
        if (ok) by[k->i] = nm;
    }
    if (ok) { /* n distinct indices below n: 0..n-1 each once */
        sbuf_append(s, "[", 1);
        for (size_t c = 0; c < v->n; c++) {
            if (c) sbuf_append(s, ", ", 2);
            sbuf_json_string(s, by[c]->s);
        }
        sbuf_append(s, "]", 1);
    }
    free((void *)by);
    return ok;
}

static int all_tensors(const pk_value *d) {
    if (!d || d->kind != PK_DICT || d->n == 0) return 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->items[2 * i]->kind != PK_STR || d->items[2 * i + 1]->kind != PK_TENSOR) return 0;
    return 1;
}

status pt_to_safetensors(pt_file *f, safetensors *out) {
    memset(out, 0, sizeof *out);
    const pk_value *root = f->doc.root, *mobj = NULL, *sd = NULL;
    const char *format = NULL;
    if (root->kind == PK_DICT) {
        const pk_value *ema = pk_get(root, "ema"), *mdl = pk_get(root, "model");
        if (ema && ema->kind == PK_OBJECT) mobj = ema;
        else if (mdl && mdl->kind == PK_OBJECT) mobj = mdl;
        else if (all_tensors(root)) sd = root;
        else if (all_tensors(pk_get(root, "state_dict"))) sd = pk_get(root, "state_dict");
        else if (all_tensors(pk_get(root, "model_state_dict"))) sd = pk_get(root, "model_state_dict");
        else if (all_tensors(mdl)) sd = mdl;
    } else if (root->kind == PK_OBJECT) {
        mobj = root;
    }
    if (!mobj && !sd) {
        sbuf keys;
        sbuf_init(&keys);
        for (size_t i = 0; root->kind == PK_DICT && i < root->n && i < 12; i++)
            if (root->items[2 * i]->kind == PK_STR) sbuf_printf(&keys, "%s'%s'", i ? ", " : "", root->items[2 * i]->s);
        status st = err_set(YOLOC_ERR_PARSE,
                            "%s: holds neither a model ('model' or 'ema') nor a state dict of tensors%s%s%s", f->label,
                            keys.len ? " (keys: " : "", keys.len ? keys.buf : "", keys.len ? ")" : "");
        sbuf_free(&keys);
        return st;
    }
    tlist l = {0};
    status st = YOLOC_OK;
    if (mobj) {
        st = walk_module(f, mobj, "", 0, &l);
        format = strncmp(mobj->s, "ultralytics.", 12) == 0 ? "ultralytics"
                 : strncmp(mobj->s, "models.", 7) == 0     ? "yolov5"
                                                           : "module";
    } else {
        format = "state_dict";
        for (size_t i = 0; i < sd->n && st == YOLOC_OK; i++) st = tl_add(&l, f->label, "", sd->items[2 * i]->s, sd->items[2 * i + 1]);
    }
    st_tensor *ts = calloc(l.n ? l.n : 1, sizeof *ts);
    void **data = calloc(l.n ? l.n : 1, sizeof *data);
    if (st == YOLOC_OK && (!ts || !data)) st = err_set(YOLOC_ERR_NOMEM, "%s: out of memory", f->label);
    for (size_t i = 0; i < l.n && st == YOLOC_OK; i++) {
        const pk_value *t = l.tensors[i];
        if (t->storage->dt < 0) {
            st = err_set(YOLOC_ERR_UNSUPPORTED, "%s: tensor '%s' is stored as %s (float, half, bfloat16, long, int and "
                                                "byte are read)",
                         f->label, l.names[i], t->storage->s);
            break;
        }
        if (t->ndim > TENSOR_MAX_DIMS) {
            st = err_set(YOLOC_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions", f->label, l.names[i], t->ndim);
            break;
        }
        size_t bytes = (size_t)pk_tensor_numel(t) * dtype_size((dtype)t->storage->dt);
        data[i] = malloc(bytes ? bytes : 1);
        if (!data[i]) {
            st = err_set(YOLOC_ERR_NOMEM, "%s: out of memory for tensor '%s'", f->label, l.names[i]);
            break;
        }
        if ((st = pt_tensor_read(f, t, data[i])) < 0) {
            err_prefix(st, "tensor '%s'", l.names[i]);
            break;
        }
        ts[i].name = l.names[i];
        ts[i].dt = (dtype)t->storage->dt;
        ts[i].ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) ts[i].shape[d] = t->shape[d];
        ts[i].data = data[i];
    }
    /* metadata */
    sbuf yaml, names, args;
    sbuf_init(&yaml), sbuf_init(&names), sbuf_init(&args);
    const char *keys[12], *vals[12];
    char ncs[32] = "", scale[8] = "";
    size_t nm = 0;
    keys[nm] = "format", vals[nm++] = format;
    const pk_value *attrs = mobj ? pk_attrs(mobj) : NULL, *y = pk_get(attrs, "yaml");
    if (y && y->kind == PK_DICT) {
        size_t budget = PT_MAX_VISITS;
        to_json_p(&yaml, y, 0, &budget, 1);
        keys[nm] = "model_yaml", vals[nm++] = yaml.buf;
        const pk_value *file = pk_get(y, "yaml_file"), *nc = pk_get(y, "nc"), *sc = pk_get(y, "scale");
        if (file && file->kind == PK_STR) { /* its file name: where it was trained is of no use here */
            const char *base = strrchr(file->s, '/');
            keys[nm] = "model", vals[nm++] = base ? base + 1 : file->s;
        }
        if (nc && nc->kind == PK_INT) {
            snprintf(ncs, sizeof ncs, "%lld", (long long)nc->i);
            keys[nm] = "nc", vals[nm++] = ncs;
        }
        if (sc && sc->kind == PK_STR && sc->len == 1) {
            snprintf(scale, sizeof scale, "%s", sc->s);
            keys[nm] = "scale", vals[nm++] = scale;
        }
    }
    if (names_json(&names, pk_get(attrs, "names"))) keys[nm] = "names", vals[nm++] = names.buf;
    const pk_value *ta = pk_get(root, "train_args");
    if (!ta) ta = pk_get(root, "opt");
    if (ta && (ta->kind == PK_DICT || ta->kind == PK_OBJECT)) {
        size_t budget = PT_MAX_VISITS;
        to_json(&args, ta, 0, &budget);
        keys[nm] = "train_args", vals[nm++] = args.buf;
    }
    const pk_value *date = pk_get(root, "date"), *ver = pk_get(root, "version");
    if (date && date->kind == PK_STR) keys[nm] = "date", vals[nm++] = date->s;
    if (ver && ver->kind == PK_STR) keys[nm] = "version", vals[nm++] = ver->s;
    if (st == YOLOC_OK && (yaml.failed || names.failed || args.failed)) st = err_set(YOLOC_ERR_NOMEM, "%s: out of memory", f->label);
    if (st == YOLOC_OK) st = st_open_tensors(out, ts, l.n, keys, vals, nm, f->label);
    sbuf_free(&yaml), sbuf_free(&names), sbuf_free(&args);
    for (size_t i = 0; data && i < l.n; i++) free(data[i]);
    free(data);
    free(ts);
    free(l.names);
    free((void *)l.tensors);
    return st;
}

status pt_open_safetensors(safetensors *out, const char *path) {
    memset(out, 0, sizeof *out);
    pt_file f;
    TRY(pt_open(&f, path));
    status st = pt_to_safetensors(&f, out);
    pt_close(&f);
    return st;
}

/* ---- writing a state dict */

static void pk_int(sbuf *p, int64_t v) {
    if (v >= 0 && v < 256) {
        unsigned char b[2] = {'K', (unsigned char)v};
        sbuf_append(p, (const char *)b, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        uint32_t u = (uint32_t)(int32_t)v;
        unsigned char b[5] = {'J', (unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        sbuf_append(p, (const char *)b, 5);
    } else { /* LONG1, 8 bytes two's complement */
        unsigned char b[10] = {0x8a, 8};
        for (int i = 0; i < 8; i++) b[2 + i] = (unsigned char)((uint64_t)v >> (8 * i));
        sbuf_append(p, (const char *)b, 10);
    }
}

static void pk_str(sbuf *p, const char *s) {
    size_t n = strlen(s);
    unsigned char b[5] = {'X', (unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 24)};
    sbuf_append(p, (const char *)b, 5);
    sbuf_append(p, s, n);
}

static void pk_global(sbuf *p, const char *mod, const char *name) {
    sbuf_append(p, "c", 1);
    sbuf_append(p, mod, strlen(mod));
    sbuf_append(p, "\n", 1);
    sbuf_append(p, name, strlen(name));
    sbuf_append(p, "\n", 1);
}

static const char *storage_name(dtype dt) {
    switch (dt) {
    case DT_F32: return "FloatStorage";
    case DT_F16: return "HalfStorage";
    case DT_BF16: return "BFloat16Storage";
    case DT_I64: return "LongStorage";
    case DT_I32: return "IntStorage";
    case DT_U8: return "ByteStorage";
    default: return NULL;
    }
}

status pt_write_state_dict(const char *path, const st_tensor *ts, size_t n) {
    sbuf p;
    sbuf_init(&p);
    sbuf_append(&p, "\x80\x02", 2);              /* PROTO 2 */
    pk_global(&p, "collections", "OrderedDict"); /* OrderedDict() */
    sbuf_append(&p, ")R(", 3);                    /* EMPTY_TUPLE REDUCE MARK */
    for (size_t i = 0; i < n; i++) {
        const st_tensor *t = &ts[i];
        const char *sn = storage_name(t->dt);
        if (!sn) {
            sbuf_free(&p);
            return err_set(YOLOC_ERR_UNSUPPORTED, "%s: tensor '%s': no PyTorch storage for its dtype", path, t->name);
        }
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        int64_t numel = shape_numel(t->ndim, t->shape);
        pk_str(&p, t->name);
        pk_global(&p, "torch._utils", "_rebuild_tensor_v2");
        sbuf_append(&p, "((", 2); /* args tuple, then the persistent id tuple */
        pk_str(&p, "storage");
        pk_global(&p, "torch", sn);
        pk_str(&p, key);
        pk_str(&p, "cpu");
        pk_int(&p, numel);
        sbuf_append(&p, "tQ", 2); /* TUPLE BINPERSID */
        pk_int(&p, 0);            /* storage offset */
        sbuf_append(&p, "(", 1);
        for (int d = 0; d < t->ndim; d++) pk_int(&p, t->shape[d]);
        sbuf_append(&p, "t(", 2);
        int64_t stride = 1;
        int64_t strides[TENSOR_MAX_DIMS];
        for (int d = t->ndim - 1; d >= 0; d--) {
            strides[d] = stride;
            stride *= t->shape[d] > 0 ? t->shape[d] : 1;
        }
        for (int d = 0; d < t->ndim; d++) pk_int(&p, strides[d]);
        sbuf_append(&p, "t\x89", 2); /* TUPLE, requires_grad False */
        pk_global(&p, "collections", "OrderedDict");
        sbuf_append(&p, ")RtR", 4); /* backward hooks OrderedDict(); the args TUPLE; REDUCE */
    }
    sbuf_append(&p, "u.", 2); /* SETITEMS STOP */
    if (p.failed) {
        sbuf_free(&p);
        return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", path);
    }
    zip_writer z;
    zip_writer_init(&z);
    zip_writer_add(&z, "archive/data.pkl", p.buf, p.len, 1);
    zip_writer_add(&z, "archive/byteorder", "little", 6, 1);
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "archive/data/%zu", i);
        size_t bytes = dtype_size(ts[i].dt) * (size_t)shape_numel(ts[i].ndim, ts[i].shape);
        zip_writer_add(&z, name, ts[i].data, bytes, 64);
    }
    zip_writer_add(&z, "archive/version", "3\n", 2, 1);
    sbuf_free(&p);
    status st = zip_writer_finish(&z, path);
    if (st == YOLOC_OK) {
        afile a;
        st = afile_open(&a, path);
        if (st == YOLOC_OK) st = afile_write(&a, z.buf, z.len);
        if (st == YOLOC_OK) st = afile_commit(&a);
    }
    zip_writer_free(&z);
    return st;
}
