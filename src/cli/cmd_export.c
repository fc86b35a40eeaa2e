/* yoloc export model=... [weights=W.safetensors] format=onnx|pt|safetensors [imgsz=640]
 *   [batch=1] [opset=13..17] [dynamic=False] [half=False] [file=OUT.onnx] [nc=N]
 * format=pt writes the weights as a PyTorch state dict (torch.load with
 * weights_only=True, then Ultralytics' model.load_state_dict(strict=True)),
 * format=safetensors as yoloc's weights file, both next to the weights
 * (never over the file read: model=best.pt format=pt wants file=).
 * format=onnx writes the model's inference graph as ONNX (io/onnx_export.h), by default
 * next to the weights with the suffix .onnx (model=runs/x/best.safetensors
 * -> runs/x/best.onnx), or as <yaml name>.onnx in the current folder for a
 * model YAML without weights. Class names come from the weights file; for
 * weights without them (converted official checkpoints) or with only the
 * placeholders class0, class1, ... (weights saved without a dataset) from a
 * JSON file next to the weights (W.json for W.safetensors) with a "names"
 * list of nc strings, else class0, class1, ... */
#include "cli/commands.h"
#include "core/kv.h"
#include "core/log.h"
#include "io/file.h"
#include "io/json.h"
#include "io/onnx_export.h"
#include "train/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PATH with its extension (after the last '.' of the last component)
 * replaced by .SUFFIX; `here`: the file name only, in the current folder. */
static char *out_path_for(const char *path, int here, const char *suffix) {
    const char *base = strrchr(path, '/');
    const char *start = here && base ? base + 1 : path;
    const char *dot = strrchr(base ? base + 1 : path, '.');
    size_t n = dot && dot > start ? (size_t)(dot - start) : strlen(start);
    size_t cap = n + strlen(suffix) + 2;
    char *out = malloc(cap);
    if (out) snprintf(out, cap, "%.*s.%s", (int)n, start, suffix);
    return out;
}

/* Names from W.json next to the weights `wpath` (a "names" list of nc
 * strings), packed into one allocation as weights_open_model returns them;
 * NULL when there is no such file or it does not fit (a warning says why
 * when the file exists). */
static char **sidecar_names(const char *wpath, int nc, int *nnames) {
    char path[4096];
    snprintf(path, sizeof path, "%s", wpath);
    char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return NULL;
    snprintf(dot, sizeof path - (size_t)(dot - path), ".json");
    char *text = NULL, **out = NULL;
    size_t len = 0;
    if (file_read_all(path, 1 << 24, &text, &len) != YOLOC_OK) {
        err_clear();
        return NULL;
    }
    jdoc doc;
    if (jdoc_parse(&doc, text, len, path) != YOLOC_OK) {
        log_warn("class names not used: %s", yoloc_last_error());
        err_clear();
        free(text);
        return NULL;
    }
    const jnode *nm = jnode_get(doc.root, "names");
    int ok = nm && nm->kind == JSON_ARRAY && (int)nm->n == nc;
    size_t bytes = (size_t)nc * sizeof(char *);
    for (size_t i = 0; ok && i < nm->n; i++) {
        if (nm->items[i]->kind != JSON_STRING)
            ok = 0;
        else
            bytes += strlen(nm->items[i]->text) + 1;
    }
    if (!ok)
        log_warn("%s: class names not used: no \"names\" list of %d strings", path, nc);
    else if ((out = malloc(bytes))) {
        char *q = (char *)(out + nc);
        for (int i = 0; i < nc; i++) {
            size_t l = strlen(nm->items[i]->text) + 1;
            memcpy(q, nm->items[i]->text, l);
            out[i] = q;
            q += l;
        }
        *nnames = nc;
    }
    jdoc_free(&doc);
    free(text);
    return out;
}

/* 1 when there are no names or they are the placeholders class0, class1, ... */
static int placeholder_names(char **names, int n) {
    for (int i = 0; names && i < n; i++) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "class%d", i);
        if (!names[i] || strcmp(names[i], tmp) != 0) return 0;
    }
    return 1;
}

int cmd_export(int argc, char **argv) {
    static const char *const keys[] = {"model",   "weights", "format", "imgsz", "batch", "opset",
                                       "dynamic", "half",    "file",   "nc",    NULL};
    static const char *const formats[] = {"onnx", "pt", "safetensors", NULL};
    kv_args a;
    const char *mname = "yolov8n.yaml", *wpath = NULL, *format = NULL, *file = NULL;
    long imgsz = 640, batch = 1, opset = ONNX_OPSET_DEFAULT, nc = 0;
    int dynamic = 0, half = 0;
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_str(&a, "model", NULL, &mname);
    if (st == YOLOC_OK) st = kv_str(&a, "weights", NULL, &wpath);
    if (st == YOLOC_OK) st = kv_str(&a, "format", formats, &format);
    if (st == YOLOC_OK) st = kv_int(&a, "imgsz", 32, 8192, &imgsz);
    if (st == YOLOC_OK) st = kv_int(&a, "batch", 1, 1024, &batch);
    if (st == YOLOC_OK) st = kv_int(&a, "opset", ONNX_OPSET_MIN, ONNX_OPSET_MAX, &opset);
    if (st == YOLOC_OK) st = kv_bool(&a, "dynamic", &dynamic);
    if (st == YOLOC_OK) st = kv_bool(&a, "half", &half);
    if (st == YOLOC_OK) st = kv_str(&a, "file", NULL, &file);
    if (st == YOLOC_OK) st = kv_int(&a, "nc", 1, 100000, &nc);
    if (st == YOLOC_OK) st = kv_unused(&a, "export", keys);
    if (st == YOLOC_OK && !format)
        st =
            err_set(YOLOC_ERR_INVALID, "yoloc export needs format=onnx, pt or safetensors");
    if (st < 0) return cli_fail(st);

    model *m = NULL;
    char **names = NULL, *out = NULL;
    int nnames = 0;
    model_options mo = {.be = NULL /* the default: export copies weights only */, .norm = NORM_BN, .gn_groups = 32};
    TRY_GOTO(st, weights_open_model(mname, wpath, (int)nc, &mo, 0, &m, &names, &nnames));
    int from_weights = weights_is_file(mname);
    if (placeholder_names(names, nnames) && ((wpath && *wpath) || from_weights)) {
        int ns = 0;
        char **side = sidecar_names(wpath && *wpath ? wpath : mname, model_nc(m), &ns);
        if (side) {
            free(names);
            names = side;
            nnames = ns;
        }
    }
    if (!from_weights && !(wpath && *wpath))
        log_warn(
            "no weights given: exporting an untrained model (weights=... or model=W.safetensors)");
    if (file && *file)
        out = strdup(file);
    else if (wpath && *wpath)
        out = out_path_for(wpath, 0, format);
    else
        out = out_path_for(mname, !from_weights, format);
    if (!out) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (strcmp(format, "onnx") != 0) { /* the weights themselves */
        const char *src = wpath && *wpath ? wpath : mname;
        if (strcmp(out, src) == 0) {
            st = err_set(YOLOC_ERR_INVALID, "export format=%s would write over %s; give file=OUT.%s", format, src,
                         format);
            goto fail;
        }
        TRY_GOTO(st, strcmp(format, "pt") == 0 ? weights_save_pt(m, out)
                                               : weights_save(m, out, (const char *const *)names, nnames));
        printf("exported %s -> %s: the state dict as %s\n", src, out,
               strcmp(format, "pt") == 0 ? "a PyTorch .pt (torch.load, weights_only=True)" : "safetensors");
        goto fail; /* done */
    }
    onnx_export_options eo = {.imgsz_h = (int)imgsz,
                              .imgsz_w = (int)imgsz,
                              .batch = (int)batch,
                              .opset = (int)opset,
                              .dynamic = dynamic,
                              .half = half,
                              .names = (const char *const *)names,
                              .nnames = nnames};
    TRY_GOTO(st, onnx_export(m, &eo, out));
    char b[16], h[16], w[16], an[16];
    int A = 0, na = model_na(m); /* na: anchors per cell of a v5 head, 0 for v8 */
    for (int l = 0; l < model_nlevels(m); l++) {
        int s = model_stride(m, l);
        A += ((int)imgsz / s) * ((int)imgsz / s) * (na ? na : 1);
    }
    snprintf(b, sizeof b, "%ld", batch);
    snprintf(h, sizeof h, "%ld", imgsz);
    snprintf(w, sizeof w, "%ld", imgsz);
    snprintf(an, sizeof an, "%d", A);
    if (dynamic) { /* symbolic dimensions, named as in the file */
        snprintf(b, sizeof b, "batch");
        snprintf(h, sizeof h, "height");
        snprintf(w, sizeof w, "width");
        snprintf(an, sizeof an, "anchors");
    }
    printf("exported %s -> %s: ONNX opset %ld, %s, images [%s, 3, %s, %s] -> output0 ",
           wpath && *wpath ? wpath : mname, out, opset, half ? "float16" : "float32", b, h, w);
    if (na)
        printf("[%s, %s, %d]\n", b, an, 5 + model_nc(m)); /* v5: rows are anchors */
    else
        printf("[%s, %d, %s]\n", b, 4 + model_nc(m), an);
fail:
    free(out);
    free(names);
    model_free(m);
    return st < 0 ? cli_fail(st) : 0;
}
