/* One descriptor per module kind: all that the rest of yoloc needs to know
 * about a module lives in its file (nn/<module>.c) behind this table:
 *   parse:      its YAML arguments -> layer_spec (channels, the `args`
 *               string `yoloc info` prints, stride factors);
 *   vt:         build / plan / forward / backward (nn/nn.h);
 *   conv_input: the planner's memory model (plan/memory.c): the largest
 *               convolution input of one image, in floats;
 *   onnx:       its ONNX graph (io/onnx_graph.h).
 * NN_MODULES (nn/spec.h) lists the kinds once; adding a module is its file
 * and a line there. */
#ifndef YOLOC_NN_MODULE_H
#define YOLOC_NN_MODULE_H

#include "nn/spec.h"

#include <stddef.h>

typedef struct spec_args spec_args;         /* nn/spec_args.h */
typedef struct onnx_exporter onnx_exporter; /* io/onnx_graph.h */
typedef struct nn_module_vt nn_module_vt;   /* nn/nn.h */

typedef struct {
    const char *name, *alias; /* YAML names (a "torch." prefix is dropped); the first kind of a name is parsed */
    int repeats;   /* takes Ultralytics' repeat count as its own argument (C2f's n); else n > 1 is refused */
    int inputs;    /* 1: one input; 0: any number (Concat, Detect) */
    int list_args; /* arguments may be lists (Detect's anchors) */
    int v11_head;  /* a Detect after it is YOLO11's (Ultralytics turns its `legacy` flag off) */
    /* Arguments -> L. On entry: from, c1 (first input's channels), repeats 1,
     * stride = the first input's, down = up = 1. The parser then multiplies
     * the stride by down and divides it by up. */
    status (*parse)(spec_args *a, layer_spec *L);
    const nn_module_vt *vt;
    size_t (*conv_input)(const model_spec *s, const layer_spec *l, int imgsz); /* NULL: no convolution */
    status (*onnx)(onnx_exporter *e, const layer_spec *l, const char *const *x); /* NULL: not exportable */
} nn_module_desc;

/* The descriptor of a kind (NULL for an invalid kind). */
const nn_module_desc *nn_module(mod_kind k);

/* Grid cells of a feature map at `stride` for an imgsz x imgsz input, and
 * the input's stride of layer l's input k: the conv_input functions' help. */
size_t nn_cells(int imgsz, int stride);
int nn_input_stride(const model_spec *s, const layer_spec *l, int k);

#endif
