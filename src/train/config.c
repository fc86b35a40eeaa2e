/* The option table and its parsing (see config.h). */
#include "train/config.h"

#include "data/dataset.h"

#include "io/yaml.h"
#include "ops/backend.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const opt_info OPTIONS[] = {
#define OPT(name, type, def, lo, hi, allowed, help) {#name, OPT_##type, def, lo, hi, allowed, help},
#include "train/options.def"
#undef OPT
};
#define NOPT (sizeof OPTIONS / sizeof OPTIONS[0])

static const size_t VALUE_OFF[] = {
#define OPT(name, type, def, lo, hi, allowed, help) offsetof(config, name),
#include "train/options.def"
#undef OPT
};
static const size_t GIVEN_OFF[] = {
#define OPT(name, type, def, lo, hi, allowed, help) offsetof(config, given.name),
#include "train/options.def"
#undef OPT
};

const opt_info *config_options(size_t *n) {
    *n = NOPT;
    return OPTIONS;
}

static int opt_index(const char *name) {
    for (size_t i = 0; i < NOPT; i++)
        if (strcmp(OPTIONS[i].name, name) == 0) return (int)i;
    return -1;
}

const opt_info *config_find(const char *name) {
    int i = opt_index(name);
    return i < 0 ? NULL : &OPTIONS[i];
}

/* Owned strings: a simple list freed with the config. */
typedef struct strnode {
    struct strnode *next;
    char s[];
} strnode;

static const char *keep_string(config *c, const char *s) {
    size_t n = strlen(s);
    strnode *k = malloc(sizeof *k + n + 1);
    if (!k) return NULL;
    memcpy(k->s, s, n + 1);
    k->next = c->strings;
    c->strings = k;
    return k->s;
}

void config_free(config *c) {
    strnode *k = c->strings;
    while (k) {
        strnode *next = k->next;
        free(k);
        k = next;
    }
    c->strings = NULL;
}

static int enum_allows(const char *allowed, const char *v, char *canon, size_t cap) {
    const char *p = allowed;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (strlen(v) == len && strncasecmp(p, v, len) == 0) {
            snprintf(canon, cap, "%.*s", (int)len, p);
            return 1;
        }
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

static status set_index(config *c, int i, const char *value, const char *where, int mark_given) {
    const opt_info *o = &OPTIONS[i];
    /* None (Python's, as Ultralytics' CLI and args.yaml write it): the default */
    if (strcasecmp(value, "None") == 0 || strcmp(value, "null") == 0) value = o->def;
    char *base = (char *)c;
    char pre[300] = "";
    if (where && *where) snprintf(pre, sizeof pre, "%s: ", where);
    /* the backend keys, each checked on its own before it is kept
     * (config_backend checks them together) */
    backend be;
    if (strcmp(o->name, "device") == 0 && backend_select(value, NULL, &be) < 0)
        return where && *where ? err_prefix(YOLOC_ERR_INVALID, "%s", where) : YOLOC_ERR_INVALID;
    if (strcmp(o->name, "backend") == 0 && !backend_find(value))
        return err_set(YOLOC_ERR_INVALID, "%skey 'backend': '%s' is not a backend built in (built in: %s)", pre, value,
                       backend_names());
    switch (o->type) {
    case OPT_INT: {
        long v;
        if (parse_long(value, &v) != 0 || v < o->lo || v > o->hi)
            return err_set(YOLOC_ERR_INVALID, "%skey '%s': expected an integer in [%g, %g], got '%s'", pre,
                           o->name, o->lo, o->hi, value);
        *(long *)(base + VALUE_OFF[i]) = v;
        break;
    }
    case OPT_FLOAT: {
        double v;
        if (parse_double(value, &v) != 0 || v < o->lo || v > o->hi)
            return err_set(YOLOC_ERR_INVALID, "%skey '%s': expected a number in [%g, %g], got '%s'", pre,
                           o->name, o->lo, o->hi, value);
        *(double *)(base + VALUE_OFF[i]) = v;
        break;
    }
    case OPT_BOOL: {
        int v;
        if (parse_bool(value, &v) != 0)
            return err_set(YOLOC_ERR_INVALID, "%skey '%s': expected True or False, got '%s'", pre, o->name, value);
        *(int *)(base + VALUE_OFF[i]) = v;
        break;
    }
    case OPT_ENUM: {
        char canon[64];
        if (!enum_allows(o->allowed, value, canon, sizeof canon)) {
            char list[256];
            snprintf(list, sizeof list, "%s", o->allowed);
            for (char *q = list; *q; q++)
                if (*q == '|') *q = ',';
            return err_set(YOLOC_ERR_INVALID, "%skey '%s': '%s' is not one of: %s", pre, o->name, value, list);
        }
        const char *s = keep_string(c, canon);
        if (!s) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        *(const char **)(base + VALUE_OFF[i]) = s;
        break;
    }
    case OPT_STR: {
        const char *s = keep_string(c, value);
        if (!s) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        *(const char **)(base + VALUE_OFF[i]) = s;
        break;
    }
    }
    if (mark_given) *(unsigned char *)(base + GIVEN_OFF[i]) = 1;
    return YOLOC_OK;
}

status config_backend(const config *c, backend *out) { return backend_select(c->device, c->backend, out); }

status config_init(config *c) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NOPT; i++) {
        status st = set_index(c, (int)i, OPTIONS[i].def, "default", 0);
        YOLOC_ASSERT(st == YOLOC_OK); /* the table's defaults are valid */
        if (st < 0) return st;
    }
    return YOLOC_OK;
}

/* The closest option name (for "did you mean"): smallest edit distance. */
static const char *closest(const char *key) {
    const char *best = NULL;
    int bestd = 4;
    for (size_t i = 0; i < NOPT; i++) {
        const char *a = key, *b = OPTIONS[i].name;
        size_t la = strlen(a), lb = strlen(b);
        if (la > 40 || lb > 40) continue;
        int d[41][41];
        for (size_t x = 0; x <= la; x++) d[x][0] = (int)x;
        for (size_t y = 0; y <= lb; y++) d[0][y] = (int)y;
        for (size_t x = 1; x <= la; x++)
            for (size_t y = 1; y <= lb; y++) {
                int s = d[x - 1][y - 1] + (a[x - 1] != b[y - 1]);
                int del = d[x - 1][y] + 1, ins = d[x][y - 1] + 1;
                d[x][y] = s < del ? (s < ins ? s : ins) : (del < ins ? del : ins);
            }
        if (d[la][lb] < bestd) {
            bestd = d[la][lb];
            best = b;
        }
    }
    return best;
}

status config_set(config *c, const char *key, const char *value, const char *where) {
    int i = opt_index(key);
    if (i < 0) {
        const char *near = closest(key);
        char pre[300] = "";
        if (where && *where) snprintf(pre, sizeof pre, "%s: ", where);
        if (near)
            return err_set(YOLOC_ERR_INVALID, "%sunknown key '%s' (did you mean '%s'? 'yoloc help' lists them all)",
                           pre, key, near);
        return err_set(YOLOC_ERR_INVALID, "%sunknown key '%s' ('yoloc help' lists the keys)", pre, key);
    }
    return set_index(c, i, value, where, 1);
}

status config_load_yaml(config *c, const char *path) {
    ydoc doc;
    TRY(ydoc_load_file(&doc, path));
    status st = YOLOC_OK;
    const ynode *root = doc.root;
    if (root && root->kind != YNODE_MAP) {
        st = ynode_error(&doc, root, YOLOC_ERR_PARSE, "expected a mapping of key: value");
        goto done;
    }
    for (size_t k = 0; root && k < root->n; k++) {
        const ynode *v = root->items[k];
        char where[512];
        snprintf(where, sizeof where, "%s:%d", path, root->key_lines[k]);
        if (strcmp(root->keys[k], "cfg") == 0) continue;     /* no nesting */
        if (strcmp(root->keys[k], "derived") == 0) continue; /* args.yaml's record of derived values */
        char list[512];
        const char *text;
        if (v->kind == YNODE_SEQ) { /* a flow list of scalars (classes: [0, 2]) as "0,2" */
            size_t len = 0;
            list[0] = 0;
            for (size_t j = 0; j < v->n && st == YOLOC_OK; j++) {
                if (v->items[j]->kind != YNODE_SCALAR) st = YOLOC_ERR_PARSE;
                else len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s",
                                             j ? "," : "", v->items[j]->str);
            }
            if (st < 0 || len >= sizeof list) {
                st = err_set(YOLOC_ERR_PARSE, "%s: key '%s': expected a value or a short list of values", where,
                             root->keys[k]);
                goto done;
            }
            text = list;
        } else if (v->kind != YNODE_SCALAR) {
            st = err_set(YOLOC_ERR_PARSE, "%s: key '%s': expected a single value", where, root->keys[k]);
            goto done;
        } else {
            text = v->str;
        }
        if (!v->quoted && (strcmp(text, "null") == 0 || strcmp(text, "~") == 0 || !*text)) continue;
        if ((st = config_set(c, root->keys[k], text, where)) < 0) goto done;
    }
done:
    ydoc_free(&doc);
    return st;
}

status config_apply_args(config *c, kv_args *a) {
    const char *cfg = kv_get(a, "cfg");
    if (cfg && *cfg) {
        TRY(config_load_yaml(c, cfg));
        TRY(config_set(c, "cfg", cfg, NULL));
    }
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->keys[i], "cfg") == 0) continue;
        a->used[i] = 1;
        TRY(config_set(c, a->keys[i], a->vals[i], "command line"));
    }
    /* pretrained=<file>: Ultralytics' other spelling of weights= */
    int pb;
    if (c->given.pretrained && parse_bool(c->pretrained, &pb) != 0 && !*c->weights) {
        const char *w = keep_string(c, c->pretrained);
        if (!w) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        c->weights = w;
        c->given.weights = 1;
    }
    int ncls;
    return config_classes(c, NULL, 0, &ncls); /* checks classes= */
}

status config_classes(const config *c, int *list, int cap, int *n) {
    *n = 0;
    const char *p = c->classes;
    while (*p == ' ' || *p == '[') p++;
    if (!*p || *p == ']') return YOLOC_OK;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000)
            return err_set(YOLOC_ERR_INVALID, "key 'classes': expected class indices like [0, 2] or 0,2, got '%s'",
                           c->classes);
        int dup = 0;
        for (int k = 0; k < *n; k++) dup |= list && list[k] == v;
        if (!dup) {
            if (list && *n >= cap)
                return err_set(YOLOC_ERR_INVALID, "key 'classes': more than %d classes listed", cap);
            if (list) list[*n] = (int)v;
            (*n)++;
        }
        p = end;
        while (*p == ' ' || *p == ']') p++;
        if (!*p) return YOLOC_OK;
        if (*p != ',')
            return err_set(YOLOC_ERR_INVALID, "key 'classes': expected class indices like [0, 2] or 0,2, got '%s'",
                           c->classes);
        p++;
        while (*p == ' ') p++;
    }
}

const char *config_project(const config *c) { return *c->project ? c->project : "runs/detect"; }

const char *config_run_name(const config *c, const char *mode) { return *c->name ? c->name : mode; }

status config_dataset_options(const config *c, const char *use, int *list, int cap, dataset_options *o) {
    o->train_fraction = strcmp(use, "train") == 0 ? c->fraction : 1.0;
    o->single_cls = c->single_cls;
    TRY(config_classes(c, list, cap, &o->nclasses));
    o->classes = o->nclasses ? list : NULL;
    return YOLOC_OK;
}

/* Keys accepted for Ultralytics' sake that change nothing in yoloc (or not
 * in this command): when one is given with another value than its default,
 * the command says why, once (config_notes). cmds: the commands the key
 * does work in (NULL: none). */
static const struct {
    const char *key, *cmds, *why;
} INERT[] = {
    {"save", NULL, "yoloc always saves checkpoints and results"},
    {"cache", NULL, "not implemented: the loader threads decode images each epoch"},
    {"verbose", NULL, "yoloc's output is the same either way"},
    {"rect", NULL, "training keeps square mosaics (not implemented); validation always uses rectangular batches"},
    {"profile", NULL, "yoloc bench profiles yoloc's own kernels, per layer"},
    {"multi_scale", NULL, "not implemented yet"},
    {"compile", NULL, "no torch.compile in C: yoloc's kernels are compiled ahead of time"},
    {"overlap_mask", NULL, "segmentation only (no effect on detection, as in Ultralytics)"},
    {"mask_ratio", NULL, "segmentation only (no effect on detection, as in Ultralytics)"},
    {"retina_masks", NULL, "segmentation only (no effect on detection, as in Ultralytics)"},
    {"dropout", NULL, "classification only (no effect on detection, as in Ultralytics)"},
    {"auto_augment", NULL, "classification only (no effect on detection, as in Ultralytics)"},
    {"erasing", NULL, "classification only (no effect on detection, as in Ultralytics)"},
    {"pose", NULL, "pose only (no effect on detection, as in Ultralytics)"},
    {"kobj", NULL, "pose only (no effect on detection, as in Ultralytics)"},
    {"copy_paste", NULL, "needs segmentation masks (no effect on detection labels, as in Ultralytics)"},
    {"copy_paste_mode", NULL, "needs segmentation masks (no effect on detection labels, as in Ultralytics)"},
    {"tracker", NULL, "track mode is not built"},
    {"save_json", "val", "only yoloc val writes predictions.json"},
    {"half", NULL, "on a CPU amp=True runs bf16 where the CPU has it; yoloc export half=True writes an fp16 ONNX"},
    {"dnn", NULL, "yoloc runs its own kernels, not OpenCV's DNN"},
    {"vid_stride", NULL, "video input is not implemented yet"},
    {"stream_buffer", NULL, "streams are not implemented"},
    {"visualize", NULL, "feature-map plots are not implemented"},
    {"augment", NULL, "test-time augmentation is not implemented yet"},
    {"embed", NULL, "feature-vector output is not implemented"},
    {"show", NULL, "no window: yoloc saves the annotated images (project/name)"},
    {"save_frames", NULL, "video input is not implemented yet"},
    {"save_crop", NULL, "not implemented yet"},
    {"show_labels", "predict", "only predict draws"},
    {"show_conf", "predict", "only predict draws"},
    {"show_boxes", "predict", "only predict draws"},
    {"line_width", "predict", "only predict draws"},
    {"agnostic_nms", "predict val", "only val and predict run NMS"},
    {"single_cls", "train val", "only train and val read labels"},
    {"fraction", "train", "only training uses it (the training images)"},
    {"format", NULL, "export formats are yoloc export's format= (onnx, pt, safetensors)"},
    {"keras", NULL, "no TF export"},
    {"optimize", NULL, "no TorchScript export"},
    {"int8", NULL, "no INT8 export"},
    {"dynamic", NULL, "yoloc export takes dynamic=True itself"},
    {"simplify", NULL, "yoloc writes the ONNX graph simple (no onnxslim pass)"},
    {"opset", NULL, "yoloc export takes opset= itself"},
    {"workspace", NULL, "no TensorRT export"},
    {"nms", NULL, "NMS inside the exported graph is not implemented yet"},
    {"save_dir", NULL, "the run directory is project/name"},
};

static int has_word(const char *list, const char *w) {
    size_t n = strlen(w);
    for (const char *p = list; p && (p = strstr(p, w)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return 1;
    return 0;
}

void config_notes(const config *c, const char *command, FILE *f) {
    const char *base = (const char *)c;
    char buf[512];
    if (c->given.mode && strcmp(c->mode, command) != 0 && !(strcmp(command, "bench") == 0 &&
                                                            strcmp(c->mode, "benchmark") == 0))
        fprintf(f, "note: mode=%s (from %s) is not applied: the command decides, yoloc %s\n", c->mode,
                *c->cfg ? c->cfg : "the command line", command);
    for (size_t k = 0; k < sizeof INERT / sizeof INERT[0]; k++) {
        int i = opt_index(INERT[k].key);
        if (i < 0 || !*(const unsigned char *)(base + GIVEN_OFF[i])) continue;
        if (INERT[k].cmds && has_word(INERT[k].cmds, command)) continue; /* it works here */
        const opt_info *o = &OPTIONS[i];
        config_value_str(c, o, buf, sizeof buf);
        char def[512]; /* the default, as the value prints */
        snprintf(def, sizeof def, "%s", o->def);
        if (o->type == OPT_BOOL) {
            int b;
            if (parse_bool(o->def, &b) == 0) snprintf(def, sizeof def, "%s", b ? "True" : "False");
        } else if (o->type == OPT_FLOAT || o->type == OPT_INT) {
            double v;
            if (parse_double(o->def, &v) == 0) snprintf(def, sizeof def, o->type == OPT_INT ? "%.0f" : "%.10g", v);
        }
        if (strcasecmp(buf, def) == 0) continue; /* the default: nothing to say */
        fprintf(f, "note: %s=%s is accepted and not applied: %s\n", o->name, buf, INERT[k].why);
    }
}

const char *config_value_str(const config *c, const opt_info *o, char *buf, size_t cap) {
    size_t i = (size_t)(o - OPTIONS);
    const char *base = (const char *)c;
    switch (o->type) {
    case OPT_INT: snprintf(buf, cap, "%ld", *(const long *)(base + VALUE_OFF[i])); break;
    case OPT_FLOAT: snprintf(buf, cap, "%.10g", *(const double *)(base + VALUE_OFF[i])); break;
    case OPT_BOOL: snprintf(buf, cap, "%s", *(const int *)(base + VALUE_OFF[i]) ? "True" : "False"); break;
    default: snprintf(buf, cap, "%s", *(const char *const *)(base + VALUE_OFF[i])); break;
    }
    return buf;
}

static void yaml_scalar(FILE *f, const char *s) {
    /* quote strings YAML would read as something else */
    int plain = *s && !strpbrk(s, ":#{}[],&*!|>'\"%@`") && s[0] != ' ' && s[0] != '-';
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

void config_write_yaml(const config *c, FILE *f) {
    char buf[512];
    for (size_t i = 0; i < NOPT; i++) {
        const opt_info *o = &OPTIONS[i];
        fprintf(f, "%s: ", o->name);
        config_value_str(c, o, buf, sizeof buf);
        if (o->type == OPT_STR || o->type == OPT_ENUM) yaml_scalar(f, buf);
        else fputs(buf, f);
        fputc('\n', f);
    }
}

static void help_one(FILE *f, const opt_info *o) {
    static const char *tn[] = {"int", "float", "bool", "str", "choice"};
    char range[128] = "";
    if (o->type == OPT_INT || o->type == OPT_FLOAT) snprintf(range, sizeof range, " in [%g, %g]", o->lo, o->hi);
    if (o->type == OPT_ENUM) snprintf(range, sizeof range, " of %s", o->allowed);
    fprintf(f, "%-20s %s (%s%s, default %s)\n", o->name, o->help, tn[o->type], range, *o->def ? o->def : "''");
}

status config_help(FILE *f, const char *key) {
    if (key) {
        const opt_info *o = config_find(key);
        if (!o) {
            const char *near = closest(key);
            return err_set(YOLOC_ERR_INVALID, "unknown key '%s'%s%s%s", key, near ? " (did you mean '" : "",
                           near ? near : "", near ? "'?)" : "");
        }
        help_one(f, o);
        return YOLOC_OK;
    }
    for (size_t i = 0; i < NOPT; i++) help_one(f, &OPTIONS[i]);
    return YOLOC_OK;
}
