/* Model YAML -> model_spec (see spec.h). Implements the scaling rules of
 * Ultralytics' parse_model (and YOLOv5's, which are the same without
 * max_channels) for the modules in NN_MODULES: repeats
 * n' = max(round(n*depth), 1) for n > 1, channels
 * c2' = make_divisible(min(c2, max_ch) * width, 8) (not for c2 == nc),
 * C2f, C3, C3k2 and C2PSA get n' as their own argument and repeats 1; C3k2
 * gets c3k for the m, l and x scales; a Detect after a C3k2 is YOLO11's
 * (depthwise class branch). A module repeated with n' > 1 other than
 * those (an nn.Sequential in Ultralytics) is not
 * supported. YOLOv5's Detect takes its anchors from the top-level
 * `anchors:` key (or inline); an anchor count (AutoAnchor) is not
 * supported. */
#include "nn/spec.h"

#include "core/kv.h"
#include "io/file.h"
#include "io/yaml.h"
#include "nn/builtin.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SPEC_MAX_YAML_BYTES ((size_t)1 << 26) /* a model YAML is a few KiB */

static const char *MOD_NAMES[MOD_COUNT] = {
#define NN_MOD_NAME(e, name, alias) name,
    NN_MODULES(NN_MOD_NAME)
#undef NN_MOD_NAME
};
static const char *MOD_ALIASES[MOD_COUNT] = {
#define NN_MOD_ALIAS(e, name, alias) alias,
    NN_MODULES(NN_MOD_ALIAS)
#undef NN_MOD_ALIAS
};

const char *mod_kind_name(mod_kind k) { return (k >= 0 && k < MOD_COUNT) ? MOD_NAMES[k] : "?"; }

int spec_make_divisible(double x, int divisor) { return (int)(ceil(x / divisor) * divisor); }

void model_spec_free(model_spec *spec) {
    free(spec->yaml_text);
    spec->yaml_text = NULL;
}

/* One resolved argument value. */
typedef enum { ARG_NONE, ARG_NUM, ARG_BOOL, ARG_STR, ARG_LIST } arg_kind;
typedef struct {
    arg_kind kind;
    double num;
    const char *str;
} arg_val;

static status arg_resolve(const ydoc *doc, const ynode *n, int nc, arg_val *out) {
    memset(out, 0, sizeof *out);
    if (n->kind != YNODE_SCALAR) {
        out->kind = ARG_LIST;
        return YOLOC_OK;
    }
    const char *s = n->str;
    if (!n->quoted) {
        if (strcmp(s, "None") == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0 || !*s) {
            out->kind = ARG_NONE;
            return YOLOC_OK;
        }
        if (strcmp(s, "True") == 0 || strcmp(s, "true") == 0) {
            out->kind = ARG_BOOL;
            out->num = 1;
            return YOLOC_OK;
        }
        if (strcmp(s, "False") == 0 || strcmp(s, "false") == 0) {
            out->kind = ARG_BOOL;
            return YOLOC_OK;
        }
        if (strcmp(s, "nc") == 0) {
            out->kind = ARG_NUM;
            out->num = nc;
            return YOLOC_OK;
        }
        double v;
        if (parse_double(s, &v) == 0) {
            out->kind = ARG_NUM;
            out->num = v;
            return YOLOC_OK;
        }
    }
    out->kind = ARG_STR;
    out->str = s;
    (void)doc;
    return YOLOC_OK;
}

/* Integer argument i (or the default when absent / None). */
static status arg_int(const ydoc *doc, const ynode *args, size_t i, int nc, int def, int lo, int hi,
                      const char *what, int *out) {
    if (i >= args->n) {
        *out = def;
        return YOLOC_OK;
    }
    arg_val v;
    TRY(arg_resolve(doc, args->items[i], nc, &v));
    if (v.kind == ARG_NONE) {
        *out = def;
        return YOLOC_OK;
    }
    if ((v.kind != ARG_NUM && v.kind != ARG_BOOL) || v.num != floor(v.num) || v.num < lo || v.num > hi)
        return ynode_error(doc, args->items[i], YOLOC_ERR_PARSE,
                           "argument %zu (%s): expected an integer in [%d, %d], got '%s'", i + 1, what,
                           lo, hi, args->items[i]->kind == YNODE_SCALAR ? args->items[i]->str : "a list");
    *out = (int)v.num;
    return YOLOC_OK;
}

static status arg_bool(const ydoc *doc, const ynode *args, size_t i, int def, const char *what, int *out) {
    if (i >= args->n) {
        *out = def;
        return YOLOC_OK;
    }
    arg_val v;
    TRY(arg_resolve(doc, args->items[i], 0, &v));
    if (v.kind == ARG_NONE) {
        *out = def;
        return YOLOC_OK;
    }
    if (v.kind != ARG_BOOL && !(v.kind == ARG_NUM && (v.num == 0 || v.num == 1)))
        return ynode_error(doc, args->items[i], YOLOC_ERR_PARSE,
                           "argument %zu (%s): expected True or False, got '%s'", i + 1, what,
                           args->items[i]->kind == YNODE_SCALAR ? args->items[i]->str : "a list");
    *out = v.num != 0;
    return YOLOC_OK;
}

static status check_argc(const ydoc *doc, const ynode *args, const ynode *where, const char *mod,
                         size_t lo, size_t hi, const char *usage) {
    if (args->n < lo || args->n > hi)
        return ynode_error(doc, where, YOLOC_ERR_PARSE, "%s takes %s, got %zu argument%s", mod, usage,
                           args->n, args->n == 1 ? "" : "s");
    return YOLOC_OK;
}

static int scale_channels(const model_spec *sp, int c2) {
    if (c2 == sp->nc) return c2;
    double c = c2 < sp->max_channels ? c2 : sp->max_channels;
    return spec_make_divisible(c * sp->width, 8);
}

/* The anchors of a YOLOv5 Detect: `arg` is the Detect argument (the name
 * of the top-level key, normally "anchors", or an inline list); top is the
 * top-level `anchors:` node (may be NULL). One list of 2*na pixel sizes per
 * level, na the same on every level. */
static status parse_anchors(model_spec *sp, const ydoc *doc, const ynode *arg, const ynode *top, int nlevels,
                            int i) {
    const ynode *list = arg;
    if (arg->kind == YNODE_SCALAR) {
        double v;
        if (parse_double(arg->str, &v) == 0)
            return ynode_error(doc, arg, YOLOC_ERR_UNSUPPORTED,
                               "layer %d: Detect anchors given as a count (%s, YOLOv5's AutoAnchor) are not "
                               "supported; list the anchor sizes per level",
                               i, arg->str);
        if (strcmp(arg->str, "anchors") != 0)
            return ynode_error(doc, arg, YOLOC_ERR_PARSE,
                               "layer %d: Detect argument 2 must be 'anchors' (the top-level key) or a list, "
                               "got '%s'",
                               i, arg->str);
        if (!top)
            return ynode_error(doc, arg, YOLOC_ERR_PARSE,
                               "layer %d: Detect refers to 'anchors' but the YAML has no top-level anchors: list", i);
        list = top;
    }
    if (list->kind != YNODE_SEQ || (int)list->n != nlevels)
        return ynode_error(doc, list, YOLOC_ERR_PARSE,
                           "layer %d: anchors must be a list of %d per-level lists [w0, h0, w1, h1, ...] (one per "
                           "Detect input)",
                           i, nlevels);
    int na = 0;
    for (int l = 0; l < nlevels; l++) {
        const ynode *lv = list->items[l];
        if (lv->kind != YNODE_SEQ || lv->n < 2 || lv->n % 2 || lv->n > 2 * SPEC_MAX_ANCHORS)
            return ynode_error(doc, lv, YOLOC_ERR_PARSE,
                               "layer %d: anchors of level %d must be a list of 2 to %d numbers (w, h pairs)", i,
                               l, 2 * SPEC_MAX_ANCHORS);
        if (l == 0) na = (int)lv->n / 2;
        if ((int)lv->n != 2 * na)
            return ynode_error(doc, lv, YOLOC_ERR_PARSE,
                               "layer %d: level %d has %zu anchors, level 0 has %d (must be the same)", i, l,
                               lv->n / 2, na);
        for (int k = 0; k < 2 * na; k++) {
            double v;
            TRY(ynode_double(doc, lv->items[k], "anchor size", &v));
            if (!(v > 0 && v < 1e6))
                return ynode_error(doc, lv->items[k], YOLOC_ERR_PARSE,
                                   "layer %d: anchor sizes must be positive pixels, got %g", i, v);
            sp->anchors[l][k / 2][k % 2] = (float)v;
        }
    }
    sp->na = na;
    return YOLOC_OK;
}

static status parse_layer(model_spec *sp, const ydoc *doc, const ynode *row, int *ch, const ynode *anchors) {
    int i = sp->nlayers;
    layer_spec *L = &sp->layers[i];
    memset(L, 0, sizeof *L);
    L->index = i;
    L->line = row->line;
    L->col = row->col;
    if (row->kind != YNODE_SEQ || row->n != 4)
        return ynode_error(doc, row, YOLOC_ERR_PARSE,
                           "layer %d: expected [from, repeats, module, args], got %s", i,
                           row->kind == YNODE_SEQ ? "a list of the wrong length" : "something else");
    const ynode *from = row->items[0], *num = row->items[1], *mod = row->items[2],
                *args = row->items[3];

    /* from: an int or a list of ints; negative values count back from i. */
    const ynode *fl[SPEC_MAX_FROM];
    size_t nf;
    if (from->kind == YNODE_SCALAR) {
        fl[0] = from;
        nf = 1;
    } else if (from->kind == YNODE_SEQ && from->n >= 1 && from->n <= SPEC_MAX_FROM) {
        nf = from->n;
        for (size_t k = 0; k < nf; k++) fl[k] = from->items[k];
    } else {
        return ynode_error(doc, from, YOLOC_ERR_PARSE, "layer %d: 'from' must be an index or a list of 1-%d indices", i,
                           SPEC_MAX_FROM);
    }
    L->nfrom = (int)nf;
    for (size_t k = 0; k < nf; k++) {
        long f;
        if (fl[k]->kind != YNODE_SCALAR || parse_long(fl[k]->str, &f) != 0)
            return ynode_error(doc, fl[k], YOLOC_ERR_PARSE, "layer %d: 'from' index must be an integer", i);
        long a = f < 0 ? i + f : f;
        if (f == -1 && i == 0) a = -1; /* the input image */
        else if (a < 0 || a >= i)
            return ynode_error(doc, fl[k], YOLOC_ERR_PARSE,
                               "layer %d: bad 'from' index %ld (must refer to an earlier layer, 0..%d, or -1)", i,
                               f, i - 1);
        L->from[k] = (int)a;
        L->from_raw[k] = (int)f;
    }

    long n;
    if (num->kind != YNODE_SCALAR || parse_long(num->str, &n) != 0 || n < 1 || n > 100)
        return ynode_error(doc, num, YOLOC_ERR_PARSE, "layer %d: repeats must be an integer in [1, 100]", i);
    if (n > 1) {
        double r = nearbyint((double)n * sp->depth); /* Python round(): halves to even */
        n = r < 1 ? 1 : (long)r;
    }

    if (mod->kind != YNODE_SCALAR)
        return ynode_error(doc, mod, YOLOC_ERR_PARSE, "layer %d: module must be a name", i);
    const char *mname = mod->str;
    if (strncmp(mname, "torch.", 6) == 0) mname += 6;
    int kind = -1;
    for (int k = 0; k < MOD_COUNT && kind < 0; k++) /* the first entry of a shared name */
        if (strcmp(mname, MOD_NAMES[k]) == 0 || strcmp(mname, MOD_ALIASES[k]) == 0) kind = k;
    if (kind < 0) {
        char known[256] = "";
        for (int k = 0; k < MOD_COUNT; k++) {
            int dup = 0;
            for (int j = 0; j < k; j++) dup |= strcmp(MOD_NAMES[j], MOD_NAMES[k]) == 0;
            if (dup) continue;
            strncat(known, k ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, MOD_NAMES[k], sizeof known - strlen(known) - 1);
        }
        return ynode_error(doc, mod, YOLOC_ERR_PARSE, "layer %d: unknown module '%s' (known: %s)", i,
                           mod->str, known);
    }
    L->kind = (mod_kind)kind;
    if (args->kind != YNODE_SEQ)
        return ynode_error(doc, args, YOLOC_ERR_PARSE, "layer %d: args must be a list", i);
    for (size_t k = 0; k < args->n; k++)
        if (args->items[k]->kind != YNODE_SCALAR && !mod_is_detect(L->kind))
            return ynode_error(doc, args->items[k], YOLOC_ERR_PARSE, "layer %d: argument %zu must be a scalar", i, k + 1);
    if (n > 1 && L->kind != MOD_C2F && L->kind != MOD_C3 && L->kind != MOD_C3K2 && L->kind != MOD_C2PSA)
        return ynode_error(doc, num, YOLOC_ERR_PARSE,
                           "layer %d: %s repeated %ld times is not supported (only C2f, C3, C3k2 and C2PSA take repeats)", i,
                           MOD_NAMES[kind], n);

    int c1 = L->from[0] < 0 ? sp->in_ch : ch[L->from[0]];
    if (L->kind != MOD_CONCAT && !mod_is_detect(L->kind) && nf != 1)
        return ynode_error(doc, from, YOLOC_ERR_PARSE, "layer %d: %s takes one input, got %zu", i,
                           MOD_NAMES[kind], nf);
    L->c1 = c1;
    L->repeats = 1;
    switch (L->kind) {
    case MOD_CONV: {
        TRY(check_argc(doc, args, row, "Conv", 1, 7, "[c2, k=1, s=1, p=None, g=1, d=1, act=True]"));
        int c2;
        TRY(arg_int(doc, args, 0, sp->nc, 0, 1, 65536, "c2", &c2));
        TRY(arg_int(doc, args, 1, sp->nc, 1, 1, 15, "k", &L->k));
        TRY(arg_int(doc, args, 2, sp->nc, 1, 1, 8, "s", &L->s));
        TRY(arg_int(doc, args, 4, sp->nc, 1, 1, 65536, "g", &L->g));
        TRY(arg_int(doc, args, 5, sp->nc, 1, 1, 8, "d", &L->d));
        TRY(arg_int(doc, args, 3, sp->nc, L->d * (L->k - 1) / 2, 0, 16, "p", &L->p));
        TRY(arg_bool(doc, args, 6, 1, "act", &L->act));
        L->c2 = scale_channels(sp, c2);
        if (c1 % L->g || L->c2 % L->g)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: groups %d do not divide channels %d -> %d",
                               i, L->g, c1, L->c2);
        snprintf(L->args, sizeof L->args, "[%d, %d, %d, %d]", c1, L->c2, L->k, L->s);
        break;
    }
    case MOD_C2F: {
        TRY(check_argc(doc, args, row, "C2f", 1, 4, "[c2, shortcut=False, g=1, e=0.5]"));
        int c2;
        TRY(arg_int(doc, args, 0, sp->nc, 0, 1, 65536, "c2", &c2));
        TRY(arg_bool(doc, args, 1, 0, "shortcut", &L->shortcut));
        TRY(arg_int(doc, args, 2, sp->nc, 1, 1, 65536, "g", &L->g));
        L->e = 0.5f;
        if (args->n > 3) {
            arg_val v;
            TRY(arg_resolve(doc, args->items[3], sp->nc, &v));
            if (v.kind != ARG_NUM || v.num <= 0 || v.num > 4)
                return ynode_error(doc, args->items[3], YOLOC_ERR_PARSE, "layer %d: C2f e must be a number in (0, 4]", i);
            L->e = (float)v.num;
        }
        L->c2 = scale_channels(sp, c2);
        L->repeats = (int)n;
        if ((int)(L->c2 * L->e) < 1)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: C2f hidden channels are 0", i);
        snprintf(L->args, sizeof L->args, "[%d, %d, %d%s]", c1, L->c2, L->repeats,
                 L->shortcut ? ", True" : "");
        break;
    }
    case MOD_C3: { /* YOLOv5: C3(c1, c2, n, shortcut=True, g=1, e=0.5) */
        TRY(check_argc(doc, args, row, "C3", 1, 4, "[c2, shortcut=True, g=1, e=0.5]"));
        int c2;
        TRY(arg_int(doc, args, 0, sp->nc, 0, 1, 65536, "c2", &c2));
        TRY(arg_bool(doc, args, 1, 1, "shortcut", &L->shortcut));
        TRY(arg_int(doc, args, 2, sp->nc, 1, 1, 65536, "g", &L->g));
        L->e = 0.5f;
        if (args->n > 3) {
            arg_val v;
            TRY(arg_resolve(doc, args->items[3], sp->nc, &v));
            if (v.kind != ARG_NUM || v.num <= 0 || v.num > 4)
                return ynode_error(doc, args->items[3], YOLOC_ERR_PARSE, "layer %d: C3 e must be a number in (0, 4]", i);
            L->e = (float)v.num;
        }
        L->c2 = scale_channels(sp, c2);
        L->repeats = (int)n;
        int c_ = (int)(L->c2 * L->e);
        if (c_ < 1)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: C3 hidden channels are 0", i);
        if (c_ % L->g)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: C3 groups %d do not divide its hidden channels %d",
                               i, L->g, c_);
        snprintf(L->args, sizeof L->args, "[%d, %d, %d%s]", c1, L->c2, L->repeats,
                 L->shortcut ? "" : ", False");
        break;
    }
    case MOD_C3K2: { /* YOLO11: C3k2(c1, c2, n, c3k=False, e=0.5, g=1, shortcut=True) */
        TRY(check_argc(doc, args, row, "C3k2", 1, 5, "[c2, c3k=False, e=0.5, g=1, shortcut=True]"));
        int c2;
        TRY(arg_int(doc, args, 0, sp->nc, 0, 1, 65536, "c2", &c2));
        TRY(arg_bool(doc, args, 1, 0, "c3k", &L->c3k));
        L->e = 0.5f;
        if (args->n > 2) {
            arg_val v;
            TRY(arg_resolve(doc, args->items[2], sp->nc, &v));
            if (v.kind != ARG_NUM || v.num <= 0 || v.num > 4)
                return ynode_error(doc, args->items[2], YOLOC_ERR_PARSE, "layer %d: C3k2 e must be a number in (0, 4]", i);
            L->e = (float)v.num;
        }
        TRY(arg_int(doc, args, 3, sp->nc, 1, 1, 65536, "g", &L->g));
        TRY(arg_bool(doc, args, 4, 1, "shortcut", &L->shortcut));
        /* Ultralytics' parse_model: C3k blocks for the m, l and x scales */
        if (sp->scale == 'm' || sp->scale == 'l' || sp->scale == 'x') L->c3k = 1;
        L->c2 = scale_channels(sp, c2);
        L->repeats = (int)n;
        int c = (int)(L->c2 * L->e), hid = c / 2; /* C3k's c_ and the Bottleneck's (e 0.5) alike */
        if (c < 1 || hid < 1)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: C3k2 hidden channels are 0", i);
        if (c % L->g || hid % L->g)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: C3k2 groups %d do not divide its hidden channels", i,
                               L->g);
        snprintf(L->args, sizeof L->args, "[%d, %d, %d, %s, %g]", c1, L->c2, L->repeats, L->c3k ? "True" : "False",
                 (double)L->e);
        break;
    }
    case MOD_C2PSA: { /* YOLO11: C2PSA(c1, c2, n, e=0.5), c2 == c1 */
        TRY(check_argc(doc, args, row, "C2PSA", 1, 2, "[c2, e=0.5]"));
        int c2;
        TRY(arg_int(doc, args, 0, sp->nc, 0, 1, 65536, "c2", &c2));
        L->e = 0.5f;
        if (args->n > 1) {
            arg_val v;
            TRY(arg_resolve(doc, args->items[1], sp->nc, &v));
            if (v.kind != ARG_NUM || v.num <= 0 || v.num > 4)
                return ynode_error(doc, args->items[1], YOLOC_ERR_PARSE, "layer %d: C2PSA e must be a number in (0, 4]", i);
            L->e = (float)v.num;
        }
        L->c2 = scale_channels(sp, c2);
        L->repeats = (int)n;
        if (L->c2 != c1)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: C2PSA keeps its channels: input %d, output %d", i,
                               c1, L->c2);
        if ((int)(c1 * L->e) < 64)
            return ynode_error(doc, row, YOLOC_ERR_PARSE,
                               "layer %d: C2PSA needs at least 64 hidden channels (one attention head of 64), got %d", i,
                               (int)(c1 * L->e));
        snprintf(L->args, sizeof L->args, "[%d, %d, %d]", c1, L->c2, L->repeats);
        break;
    }
    case MOD_SPPF: {
        TRY(check_argc(doc, args, row, "SPPF", 1, 2, "[c2, k=5]"));
        int c2;
        TRY(arg_int(doc, args, 0, sp->nc, 0, 1, 65536, "c2", &c2));
        TRY(arg_int(doc, args, 1, sp->nc, 5, 1, 15, "k", &L->k));
        if (L->k % 2 == 0)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: SPPF kernel must be odd, got %d", i, L->k);
        if (c1 < 2)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: SPPF needs at least 2 input channels", i);
        L->c2 = scale_channels(sp, c2);
        snprintf(L->args, sizeof L->args, "[%d, %d, %d]", c1, L->c2, L->k);
        break;
    }
    case MOD_UPSAMPLE: {
        TRY(check_argc(doc, args, row, "nn.Upsample", 1, 3, "[size=None, scale_factor, mode='nearest']"));
        arg_val v;
        TRY(arg_resolve(doc, args->items[0], sp->nc, &v));
        if (v.kind != ARG_NONE)
            return ynode_error(doc, args->items[0], YOLOC_ERR_UNSUPPORTED, "layer %d: Upsample with a fixed size is not supported (use None)", i);
        TRY(arg_int(doc, args, 1, sp->nc, 2, 1, 16, "scale_factor", &L->scale));
        if (args->n > 2) {
            TRY(arg_resolve(doc, args->items[2], sp->nc, &v));
            if (v.kind != ARG_STR || strcmp(v.str, "nearest") != 0)
                return ynode_error(doc, args->items[2], YOLOC_ERR_UNSUPPORTED, "layer %d: only 'nearest' upsampling is supported", i);
        }
        L->c2 = c1;
        snprintf(L->args, sizeof L->args, "[None, %d, 'nearest']", L->scale);
        break;
    }
    case MOD_CONCAT: {
        TRY(check_argc(doc, args, row, "Concat", 0, 1, "[dimension=1]"));
        int dim;
        TRY(arg_int(doc, args, 0, sp->nc, 1, -4, 4, "dimension", &dim));
        if (dim != 1)
            return ynode_error(doc, row, YOLOC_ERR_UNSUPPORTED, "layer %d: Concat only along channels (dimension 1)", i);
        int c = 0;
        for (size_t k = 0; k < nf; k++) c += L->from[k] < 0 ? sp->in_ch : ch[L->from[k]];
        L->c1 = L->c2 = c;
        snprintf(L->args, sizeof L->args, "[1]");
        break;
    }
    case MOD_DETECT: {
        TRY(check_argc(doc, args, row, "Detect", 1, 2, "[nc] (YOLOv8) or [nc, anchors] (YOLOv5)"));
        if (args->items[0]->kind != YNODE_SCALAR)
            return ynode_error(doc, args->items[0], YOLOC_ERR_PARSE, "layer %d: Detect nc must be a number", i);
        TRY(arg_int(doc, args, 0, sp->nc, sp->nc, 1, 100000, "nc", &L->nc));
        if (nf > SPEC_MAX_LEVELS)
            return ynode_error(doc, from, YOLOC_ERR_PARSE, "layer %d: Detect takes at most %d inputs", i, SPEC_MAX_LEVELS);
        L->nlevels = (int)nf;
        for (size_t k = 0; k < nf; k++) L->ch[k] = L->from[k] < 0 ? sp->in_ch : ch[L->from[k]];
        int len;
        if (args->n == 2) { /* YOLOv5: per level na*(5+nc) outputs */
            L->kind = MOD_DETECT_V5;
            TRY(parse_anchors(sp, doc, args->items[1], anchors, (int)nf, i));
            L->na = sp->na;
            L->c2 = 5 + L->nc;
            len = snprintf(L->args, sizeof L->args, "[%d, %d anchors, [", L->nc, L->na);
        } else {
            L->reg_max = 16;
            L->c2 = 4 * L->reg_max + L->nc;
            for (int k = 0; k < i; k++) L->dw_cls |= sp->layers[k].kind == MOD_C3K2;
            len = snprintf(L->args, sizeof L->args, "[%d, [", L->nc);
        }
        for (size_t k = 0; k < nf && len < (int)sizeof L->args; k++)
            len += snprintf(L->args + len, sizeof L->args - (size_t)len, k ? ", %d" : "%d", L->ch[k]);
        if (len < (int)sizeof L->args) snprintf(L->args + len, sizeof L->args - (size_t)len, "]]");
        break;
    }
    default: return ynode_error(doc, mod, YOLOC_ERR_INTERNAL, "layer %d: unhandled module", i);
    }
    /* Strides: Conv multiplies, Upsample divides, Concat/Detect inputs must
     * line up (Detect: increasing). */
    int s0 = L->from[0] < 0 ? 1 : sp->layers[L->from[0]].stride;
    L->stride = s0;
    if (L->kind == MOD_CONV) L->stride = s0 * L->s;
    if (L->kind == MOD_UPSAMPLE) {
        if (s0 % L->scale)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: upsampling by %d goes below stride 1", i, L->scale);
        L->stride = s0 / L->scale;
    }
    for (int k = 1; k < L->nfrom; k++) {
        int sk = L->from[k] < 0 ? 1 : sp->layers[L->from[k]].stride;
        if (L->kind == MOD_CONCAT && sk != s0)
            return ynode_error(doc, row, YOLOC_ERR_PARSE,
                               "layer %d: Concat inputs have different strides (%d and %d)", i, s0, sk);
        int sprev = L->from[k - 1] < 0 ? 1 : sp->layers[L->from[k - 1]].stride;
        if (mod_is_detect(L->kind) && sk <= sprev)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: Detect inputs must have increasing strides", i);
        if (mod_is_detect(L->kind)) L->stride = sk;
    }
    if (L->kind == MOD_DETECT_V5 && L->nlevels > 1) {
        /* YOLOv5's check_anchor_order: the mean anchor area must grow with
         * the stride, else the levels' anchors are reversed. */
        double a0 = 0, a1 = 0;
        for (int k = 0; k < sp->na; k++) {
            a0 += (double)sp->anchors[0][k][0] * sp->anchors[0][k][1];
            a1 += (double)sp->anchors[L->nlevels - 1][k][0] * sp->anchors[L->nlevels - 1][k][1];
        }
        if ((a1 - a0 > 0) != (L->stride - s0 > 0))
            for (int l = 0; l < L->nlevels / 2; l++)
                for (int k = 0; k < sp->na; k++)
                    for (int d = 0; d < 2; d++) {
                        float t = sp->anchors[l][k][d];
                        sp->anchors[l][k][d] = sp->anchors[L->nlevels - 1 - l][k][d];
                        sp->anchors[L->nlevels - 1 - l][k][d] = t;
                    }
    }
    ch[i] = L->c2;
    sp->nlayers++;
    return YOLOC_OK;
}

status model_spec_parse(model_spec *sp, const char *text, size_t len, const char *name, char scale,
                        int nc) {
    memset(sp, 0, sizeof *sp);
    snprintf(sp->name, sizeof sp->name, "%s", name);
    ydoc doc;
    TRY(ydoc_load_string(&doc, text, len, name));
    status st = YOLOC_OK;
    const ynode *root = doc.root;
    if (!root || root->kind != YNODE_MAP) {
        st = err_set(YOLOC_ERR_PARSE, "%s: a model YAML must be a mapping with nc, backbone and head", name);
        goto fail;
    }
    sp->in_ch = 3;
    const ynode *n;
    if ((n = ynode_get(root, "ch"))) {
        long c;
        TRY_GOTO(st, ynode_int(&doc, n, "ch", &c));
        if (c < 1 || c > 64) { st = ynode_error(&doc, n, YOLOC_ERR_PARSE, "ch must be in [1, 64]"); goto fail; }
        sp->in_ch = (int)c;
    }
    if (!(n = ynode_get(root, "nc"))) {
        st = err_set(YOLOC_ERR_PARSE, "%s: missing key 'nc'", name);
        goto fail;
    }
    long ync;
    TRY_GOTO(st, ynode_int(&doc, n, "nc", &ync));
    if (ync < 1 || ync > 100000) { st = ynode_error(&doc, n, YOLOC_ERR_PARSE, "nc must be in [1, 100000]"); goto fail; }
    sp->nc = nc > 0 ? nc : (int)ync;
    if ((n = ynode_get(root, "activation")) && !ynode_is_null(n)) {
        st = ynode_error(&doc, n, YOLOC_ERR_UNSUPPORTED, "custom activations are not supported (SiLU only)");
        goto fail;
    }

    sp->depth = sp->width = 1.0f;
    sp->max_channels = 1 << 30;
    const ynode *scales = ynode_get(root, "scales");
    if (scales) {
        if (scales->kind != YNODE_MAP || scales->n == 0) {
            st = ynode_error(&doc, scales, YOLOC_ERR_PARSE, "scales must map a letter to [depth, width, max_channels]");
            goto fail;
        }
        size_t pick = 0;
        if (scale) {
            pick = scales->n;
            for (size_t k = 0; k < scales->n; k++)
                if (scales->keys[k][0] == scale && !scales->keys[k][1]) pick = k;
            if (pick == scales->n) {
                st = ynode_error(&doc, scales, YOLOC_ERR_NOT_FOUND, "scale '%c' is not in scales", scale);
                goto fail;
            }
        }
        const ynode *v = scales->items[pick];
        if (v->kind != YNODE_SEQ || v->n != 3) {
            st = ynode_error(&doc, v, YOLOC_ERR_PARSE, "scale '%s' must be [depth, width, max_channels]", scales->keys[pick]);
            goto fail;
        }
        double dd, ww;
        long mc;
        TRY_GOTO(st, ynode_double(&doc, v->items[0], "depth", &dd));
        TRY_GOTO(st, ynode_double(&doc, v->items[1], "width", &ww));
        TRY_GOTO(st, ynode_int(&doc, v->items[2], "max_channels", &mc));
        if (dd <= 0 || ww <= 0 || mc < 8) {
            st = ynode_error(&doc, v, YOLOC_ERR_PARSE, "scale '%s': depth and width must be > 0, max_channels >= 8", scales->keys[pick]);
            goto fail;
        }
        sp->scale = scales->keys[pick][0];
        sp->depth = (float)dd;
        sp->width = (float)ww;
        sp->max_channels = (int)mc;
    } else {
        double dd = 1, ww = 1;
        if ((n = ynode_get(root, "depth_multiple"))) TRY_GOTO(st, ynode_double(&doc, n, "depth_multiple", &dd));
        if ((n = ynode_get(root, "width_multiple"))) TRY_GOTO(st, ynode_double(&doc, n, "width_multiple", &ww));
        if (dd <= 0 || ww <= 0) { st = err_set(YOLOC_ERR_PARSE, "%s: depth/width_multiple must be > 0", name); goto fail; }
        sp->depth = (float)dd;
        sp->width = (float)ww;
    }

    const ynode *anchors = ynode_get(root, "anchors");
    int ch[SPEC_MAX_LAYERS];
    const char *parts[2] = {"backbone", "head"};
    for (int p = 0; p < 2; p++) {
        const ynode *list = ynode_get(root, parts[p]);
        if (!list) {
            st = err_set(YOLOC_ERR_PARSE, "%s: missing key '%s'", name, parts[p]);
            goto fail;
        }
        if (list->kind != YNODE_SEQ) {
            st = ynode_error(&doc, list, YOLOC_ERR_PARSE, "'%s' must be a list of layers", parts[p]);
            goto fail;
        }
        for (size_t k = 0; k < list->n; k++) {
            if (sp->nlayers >= SPEC_MAX_LAYERS) {
                st = ynode_error(&doc, list->items[k], YOLOC_ERR_PARSE, "too many layers (max %d)", SPEC_MAX_LAYERS);
                goto fail;
            }
            TRY_GOTO(st, parse_layer(sp, &doc, list->items[k], ch, anchors));
        }
    }
    if (sp->nlayers == 0 || !mod_is_detect(sp->layers[sp->nlayers - 1].kind)) {
        st = err_set(YOLOC_ERR_PARSE, "%s: the last layer must be Detect", name);
        goto fail;
    }
    for (int k = 0; k < sp->nlayers - 1; k++)
        if (mod_is_detect(sp->layers[k].kind)) {
            st = err_set(YOLOC_ERR_PARSE, "%s:%d: only the last layer may be Detect", name, sp->layers[k].line);
            goto fail;
        }
    sp->yaml_text = malloc(len + 1);
    if (!sp->yaml_text) { st = err_set(YOLOC_ERR_NOMEM, "out of memory"); goto fail; }
    memcpy(sp->yaml_text, text, len);
    sp->yaml_text[len] = 0;
    ydoc_free(&doc);
    return YOLOC_OK;
fail:
    ydoc_free(&doc);
    return st;
}

/* "yolov8n.yaml" -> unified name "yolov8.yaml" and scale 'n' (Ultralytics'
 * guess_model_scale rule: a letter of nslmx right after the version digits). */
static void split_scale(const char *base, char *unified, size_t cap, char *scale) {
    *scale = 0;
    snprintf(unified, cap, "%s", base);
    const char *dot = strrchr(base, '.');
    size_t stem = dot ? (size_t)(dot - base) : strlen(base);
    for (size_t k = 1; k < stem; k++) {
        if (isdigit((unsigned char)base[k - 1]) && strchr("nslmx", base[k]) &&
            (k + 1 == stem || !isalpha((unsigned char)base[k + 1]))) {
            *scale = base[k];
            snprintf(unified, cap, "%.*s%s", (int)k, base, base + k + 1);
            return;
        }
    }
}

status model_spec_load(model_spec *spec, const char *model, int nc) {
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    char unified[256];
    char scale;
    split_scale(base, unified, sizeof unified, &scale);
    struct stat stt;
    if (stat(model, &stt) == 0) {
        char *text;
        size_t len;
        TRY(file_read_all(model, SPEC_MAX_YAML_BYTES, &text, &len));
        status st = model_spec_parse(spec, text, len, model, scale, nc);
        free(text);
        return st;
    }
    for (const builtin_model *b = builtin_models; b->name; b++) {
        if (strcmp(b->name, unified) == 0 || strcmp(b->name, base) == 0) {
            char shown[300];
            snprintf(shown, sizeof shown, "models/%s", b->name);
            TRY(model_spec_parse(spec, b->text, strlen(b->text), shown, strcmp(b->name, base) == 0 ? 0 : scale, nc));
            snprintf(spec->name, sizeof spec->name, "%s", base);
            return YOLOC_OK;
        }
    }
    char known[512] = "";
    for (const builtin_model *b = builtin_models; b->name; b++) {
        strncat(known, b == builtin_models ? "" : ", ", sizeof known - strlen(known) - 1);
        strncat(known, b->name, sizeof known - strlen(known) - 1);
    }
    return err_set(YOLOC_ERR_NOT_FOUND,
                   "model '%s': no such file, and not a built-in model (built-in: %s, with a scale letter "
                   "n/s/m/l/x after the version, e.g. yolov8n.yaml)",
                   model, known);
}
