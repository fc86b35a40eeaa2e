/* The option table and its parsing (see config.h). */
#include "train/config.h"

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
        if (v->kind != YNODE_SCALAR) {
            st = err_set(YOLOC_ERR_PARSE, "%s: key '%s': expected a single value", where, root->keys[k]);
            goto done;
        }
        const char *text = v->str;
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
    return YOLOC_OK;
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
