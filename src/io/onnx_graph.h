/* The graph-writing side of ONNX export (io/onnx_export.c), for the
 * modules' export functions (nn/<module>.c, reached through their
 * descriptors, nn/module.h): tensor names in, tensor names out, and no
 * protobuf type in sight.
 *
 * Names, nodes and initializers are owned by the export. After an
 * allocation failure the functions return NULL and do nothing else; the
 * export reports YOLOC_ERR_NOMEM once the walk is over. Scopes name the
 * nodes as PyTorch's exporter does ("/model.2/cv1/conv"); model tensors are
 * read by their state_dict names. */
#ifndef YOLOC_IO_ONNX_GRAPH_H
#define YOLOC_IO_ONNX_GRAPH_H

#include "core/status.h"

#include <stdint.h>

typedef struct onnx_exporter onnx_exporter;
typedef struct onnx_node onnx_node;
struct model;

/* ---- what is being exported */
struct model *onnx_model(const onnx_exporter *e);
int onnx_batch(const onnx_exporter *e); /* the static batch */
int onnx_dynamic(const onnx_exporter *e);
int onnx_imgsz_h(const onnx_exporter *e);
int onnx_imgsz_w(const onnx_exporter *e);
/* Where a layer's output tensor name goes (each export function sets its
 * layer's). */
const char **onnx_out_slot(onnx_exporter *e, int layer);
/* Marks the export as out of memory (a module's own allocation failed). */
void onnx_fail_nomem(onnx_exporter *e);

/* ---- nodes: op with nin inputs and nout outputs (out_names NULL: named
 * after the node), then its attributes */
onnx_node *onnx_node_add(onnx_exporter *e, const char *op, const char *scope, int nin, const char *const *in,
                         int nout, const char *const *out_names);
const char *onnx_node_out(const onnx_node *n, int k);
void onnx_attr_int(onnx_exporter *e, onnx_node *n, const char *name, int64_t v);
void onnx_attr_ints(onnx_exporter *e, onnx_node *n, const char *name, int k, const int64_t *v);
void onnx_attr_float(onnx_exporter *e, onnx_node *n, const char *name, float v);
void onnx_attr_str(onnx_exporter *e, onnx_node *n, const char *name, const char *v);
/* A node without attributes and one output: that output. */
const char *onnx_op(onnx_exporter *e, const char *op, const char *scope, int nin, const char *const *in);
const char *onnx_op1(onnx_exporter *e, const char *op, const char *scope, const char *x);
const char *onnx_op2(onnx_exporter *e, const char *op, const char *scope, const char *x, const char *y);

/* ---- initializers: floats in the graph's float type (float16 in a half
 * export), floats32 always float32, int64 */
const char *onnx_floats(onnx_exporter *e, const char *name, int ndim, const int64_t *dims, const float *v);
const char *onnx_floats32(onnx_exporter *e, const char *name, int ndim, const int64_t *dims, const float *v);
const char *onnx_scalar(onnx_exporter *e, const char *name, float v);
const char *onnx_ints(onnx_exporter *e, const char *name, int ndim, const int64_t *dims, const int64_t *v);
const char *onnx_ints1(onnx_exporter *e, const char *name, int k, const int64_t *v); /* 1-D, k values */

/* ---- the model's tensors and the building blocks */
/* A model tensor (host view) by state_dict name, checked against `shape`. */
status onnx_tensor(onnx_exporter *e, const char *name, int ndim, const int64_t *shape, const float **data);
/* Conv node with weight and bias initializer names. */
const char *onnx_conv_node(onnx_exporter *e, const char *scope, const char *x, const char *w, const char *bias,
                           int k, int s, int p, int g, int d);
/* A Conv block (conv -> BatchNorm -> SiLU when act) under state_dict prefix
 * `prefix`, the BatchNorm folded into the convolution; GroupNorm refused. */
status onnx_convblock(onnx_exporter *e, int layer, const char *prefix, const char *scope, const char *x, int c1,
                      int c2, int k, int s, int p, int g, int d, int act, const char **y);
/* A plain convolution with bias (prefix.weight, prefix.bias). */
status onnx_plainconv(onnx_exporter *e, const char *prefix, const char *scope, const char *x, int c1, int c2, int k,
                      const char **y);
const char *onnx_concat(onnx_exporter *e, const char *scope, int n, const char *const *ins, int axis);
/* Split along `axis` into parts of the given sizes. */
void onnx_split(onnx_exporter *e, const char *scope, const char *x, int axis, int nparts, const int64_t *sizes,
                const char **outs);
/* Slice [start, end) of `axis` (for unequal parts: OpenCV's DNN before 4.7
 * ignores Split's sizes input). */
const char *onnx_slice(onnx_exporter *e, const char *scope, const char *x, int axis, int64_t start, int64_t end);
const char *onnx_reshape(onnx_exporter *e, const char *scope, const char *x, int k, const int64_t *shape);

/* ---- the detection heads' cell grids, computed from a feature map's
 * shape (dynamic exports). onnx_grid_consts makes the integer constants
 * once per head (zero left NULL for the caller's float zero);
 * onnx_cell_grid gives *gx = x + off and *gy = y + off over feat's H x W
 * cells, row-major, reshaped to `flat` (an int64 shape with one -1). */
typedef struct {
    const char *i0, *i1, *i2, *i3, *axes0, *axes1, *zero;
} onnx_grid;
void onnx_grid_consts(onnx_exporter *e, const char *scope, onnx_grid *g);
void onnx_cell_grid(onnx_exporter *e, const char *gs, const onnx_grid *g, const char *feat, const char *off,
                    const char *flat, const char **gx, const char **gy);

#endif
