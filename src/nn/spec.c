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
#include "nn/module.h"
#include "nn/spec_args.h"

#include <ctype.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SPEC_MAX_YAML_BYTES ((size_t)1 << 26) /* a model YAML is a few KiB */

const char *mod_kind_name(mod_kind k) {
    const nn_module_desc *d = nn_module(k);
    return d ? d->name : "?";
}

int spec_make_divisible(double x, int divisor) { return (int)(ceil(x / divisor) * divisor); }

void model_spec_free(model_spec *spec) {
    free(spec->yaml_text);
    spec->yaml_text = NULL;
}

/* ---- nn/spec_args.h: the modules' argument helpers */

status spec_error(const spec_args *a, const ynode *node, status code, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ynode_error(a->doc, node ? node : a->row, code, "%s", msg);
}

const ynode *spec_arg(const spec_args *a, size_t k) { return k < a->args->n ? a->args->items[k] : NULL; }

status spec_value(const spec_args *a, size_t k, spec_val *out) {
    memset(out, 0, sizeof *out);
    const ynode *n = spec_arg(a, k);
    if (!n) return YOLOC_OK; /* None */
    if (n->kind != YNODE_SCALAR) {
        out->kind = SPEC_LIST;
        return YOLOC_OK;
    }
    const char *s = n->str;
    if (!n->quoted) {
        if (strcmp(s, "None") == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0 || !*s) return YOLOC_OK;
        if (strcmp(s, "True") == 0 || strcmp(s, "true") == 0) {
            out->kind = SPEC_BOOL;
            out->num = 1;
            return YOLOC_OK;
        }
        if (strcmp(s, "False") == 0 || strcmp(s, "false") == 0) {
            out->kind = SPEC_BOOL;
            return YOLOC_OK;
        }
        if (strcmp(s, "nc") == 0) {
            out->kind = SPEC_NUM;
            out->num = a->sp->nc;
            return YOLOC_OK;
        }
        double v;
        if (parse_double(s, &v) == 0) {
            out->kind = SPEC_NUM;
            out->num = v;
            return YOLOC_OK;
        }
    }
    out->kind = SPEC_STR;
    out->str = s;
    return YOLOC_OK;
}

status spec_int(const spec_args *a, size_t k, int def, int lo, int hi, const char *what, int *out) {
    spec_val v;
    TRY(spec_value(a, k, &v));
    if (v.kind == SPEC_NONE) { /* a default outside [lo, hi] makes the argument required */
        if (def < lo || def > hi)
            return spec_error(a, spec_arg(a, k), YOLOC_ERR_PARSE, "argument %zu (%s): required, an integer in [%d, %d]",
                              k + 1, what, lo, hi);
        *out = def;
        return YOLOC_OK;
    }
    const ynode *n = spec_arg(a, k);
    if ((v.kind != SPEC_NUM && v.kind != SPEC_BOOL) || v.num != floor(v.num) || v.num < lo || v.num > hi)
        return spec_error(a, n, YOLOC_ERR_PARSE, "argument %zu (%s): expected an integer in [%d, %d], got '%s'",
                          k + 1, what, lo, hi, n->kind == YNODE_SCALAR ? n->str : "a list");
    *out = (int)v.num;
    return YOLOC_OK;
}

status spec_bool(const spec_args *a, size_t k, int def, const char *what, int *out) {
    spec_val v;
    TRY(spec_value(a, k, &v));
    if (v.kind == SPEC_NONE) {
        *out = def;
        return YOLOC_OK;
    }
    const ynode *n = spec_arg(a, k);
    if (v.kind != SPEC_BOOL && !(v.kind == SPEC_NUM && (v.num == 0 || v.num == 1)))
        return spec_error(a, n, YOLOC_ERR_PARSE, "argument %zu (%s): expected True or False, got '%s'", k + 1, what,
                          n->kind == YNODE_SCALAR ? n->str : "a list");
    *out = v.num != 0;
    return YOLOC_OK;
}

status spec_ratio(const spec_args *a, size_t k, float def, float hi, const char *what, float *out) {
    spec_val v;
    TRY(spec_value(a, k, &v));
    if (v.kind == SPEC_NONE) {
        *out = def;
        return YOLOC_OK;
    }
    if (v.kind != SPEC_NUM || v.num <= 0 || v.num > hi)
        return spec_error(a, spec_arg(a, k), YOLOC_ERR_PARSE, "layer %d: %s must be a number in (0, %g]", a->i, what,
                          (double)hi);
    *out = (float)v.num;
    return YOLOC_OK;
}

status spec_argc(const spec_args *a, const char *mod, size_t lo, size_t hi, const char *usage) {
    size_t n = a->args->n;
    if (n < lo || n > hi)
        return spec_error(a, NULL, YOLOC_ERR_PARSE, "%s takes %s, got %zu argument%s", mod, usage, n,
                          n == 1 ? "" : "s");
    return YOLOC_OK;
}

int spec_channels(const spec_args *a, int c2) {
    const model_spec *sp = a->sp;
    if (c2 == sp->nc) return c2;
    double c = c2 < sp->max_channels ? c2 : sp->max_channels;
    return spec_make_divisible(c * sp->width, 8);
}

int spec_in_channels(const spec_args *a, int k) {
    int f = a->sp->layers[a->i].from[k];
    return f < 0 ? a->sp->in_ch : a->ch[f];
}

int spec_in_stride(const spec_args *a, int k) {
    int f = a->sp->layers[a->i].from[k];
    return f < 0 ? 1 : a->sp->layers[f].stride;
}

status spec_anchors(spec_args *a, const ynode *arg, int nlevels) {
    model_spec *sp = a->sp;
    int i = a->i;
    const ynode *list = arg;
    if (arg->kind == YNODE_SCALAR) {
        double v;
        if (parse_double(arg->str, &v) == 0)
            return spec_error(a, arg, YOLOC_ERR_UNSUPPORTED,
                              "layer %d: Detect anchors given as a count (%s, YOLOv5's AutoAnchor) are not "
                              "supported; list the anchor sizes per level",
                              i, arg->str);
        if (strcmp(arg->str, "anchors") != 0)
            return spec_error(a, arg, YOLOC_ERR_PARSE,
                              "layer %d: Detect argument 2 must be 'anchors' (the top-level key) or a list, got '%s'",
                              i, arg->str);
        if (!a->anchors)
            return spec_error(a, arg, YOLOC_ERR_PARSE,
                              "layer %d: Detect refers to 'anchors' but the YAML has no top-level anchors: list", i);
        list = a->anchors;
    }
    if (list->kind != YNODE_SEQ || (int)list->n != nlevels)
        return spec_error(a, list, YOLOC_ERR_PARSE,
                          "layer %d: anchors must be a list of %d per-level lists [w0, h0, w1, h1, ...] (one per "
                          "Detect input)",
                          i, nlevels);
    int na = 0;
    for (int l = 0; l < nlevels; l++) {
        const ynode *lv = list->items[l];
        if (lv->kind != YNODE_SEQ || lv->n < 2 || lv->n % 2 || lv->n > 2 * SPEC_MAX_ANCHORS)
            return spec_error(a, lv, YOLOC_ERR_PARSE,
                              "layer %d: anchors of level %d must be a list of 2 to %d numbers (w, h pairs)", i, l,
                              2 * SPEC_MAX_ANCHORS);
        if (l == 0) na = (int)lv->n / 2;
        if ((int)lv->n != 2 * na)
            return spec_error(a, lv, YOLOC_ERR_PARSE,
                              "layer %d: level %d has %zu anchors, level 0 has %d (must be the same)", i, l,
                              lv->n / 2, na);
        for (int k = 0; k < 2 * na; k++) {
            double v;
            TRY(ynode_double(a->doc, lv->items[k], "anchor size", &v));
            if (!(v > 0 && v < 1e6))
                return spec_error(a, lv->items[k], YOLOC_ERR_PARSE,
                                  "layer %d: anchor sizes must be positive pixels, got %g", i, v);
            sp->anchors[l][k / 2][k % 2] = (float)v;
        }
    }
    sp->na = na;
    return YOLOC_OK;
}

/* ---- one layer: from, repeats, the module's descriptor, its arguments */

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
    const nn_module_desc *D = NULL;
    for (int k = 0; k < MOD_COUNT && !D; k++) { /* the first kind of a shared name */
        const nn_module_desc *d = nn_module((mod_kind)k);
        if (strcmp(mname, d->name) == 0 || strcmp(mname, d->alias) == 0) {
            D = d;
            L->kind = (mod_kind)k;
        }
    }
    if (!D) {
        char known[256] = "";
        for (int k = 0; k < MOD_COUNT; k++) {
            int dup = 0;
            for (int j = 0; j < k; j++) dup |= strcmp(nn_module((mod_kind)j)->name, nn_module((mod_kind)k)->name) == 0;
            if (dup) continue;
            strncat(known, k ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, nn_module((mod_kind)k)->name, sizeof known - strlen(known) - 1);
        }
        return ynode_error(doc, mod, YOLOC_ERR_PARSE, "layer %d: unknown module '%s' (known: %s)", i,
                           mod->str, known);
    }
    if (args->kind != YNODE_SEQ)
        return ynode_error(doc, args, YOLOC_ERR_PARSE, "layer %d: args must be a list", i);
    for (size_t k = 0; k < args->n; k++)
        if (args->items[k]->kind != YNODE_SCALAR && !D->list_args)
            return ynode_error(doc, args->items[k], YOLOC_ERR_PARSE, "layer %d: argument %zu must be a scalar", i, k + 1);
    if (n > 1 && !D->repeats) {
        char takers[128] = "";
        for (int k = 0; k < MOD_COUNT; k++)
            if (nn_module((mod_kind)k)->repeats) {
                strncat(takers, *takers ? ", " : "", sizeof takers - strlen(takers) - 1);
                strncat(takers, nn_module((mod_kind)k)->name, sizeof takers - strlen(takers) - 1);
            }
        return ynode_error(doc, num, YOLOC_ERR_PARSE,
                           "layer %d: %s repeated %ld times is not supported (only %s take repeats)", i, D->name, n,
                           takers);
    }
    if (D->inputs == 1 && nf != 1)
        return ynode_error(doc, from, YOLOC_ERR_PARSE, "layer %d: %s takes one input, got %zu", i, D->name, nf);

    L->c1 = L->from[0] < 0 ? sp->in_ch : ch[L->from[0]];
    L->repeats = 1;
    L->down = L->up = 1;
    int s0 = L->from[0] < 0 ? 1 : sp->layers[L->from[0]].stride;
    L->stride = s0;
    spec_args A = {.doc = doc, .row = row, .args = args, .from = from, .num = num, .anchors = anchors, .sp = sp,
                   .i = i, .n = n, .ch = ch, .nf = (int)nf};
    TRY(D->parse(&A, L));
    /* the module's stride factors */
    L->stride *= L->down;
    if (L->up > 1) {
        if (L->stride % L->up)
            return ynode_error(doc, row, YOLOC_ERR_PARSE, "layer %d: upsampling by %d goes below stride 1", i, L->up);
        L->stride /= L->up;
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
