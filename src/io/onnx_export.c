/* ONNX export (see onnx_export.h): a small graph builder over the protobuf-c
 * messages generated from onnx.proto at build time, and the exporter that
 * walks the model spec layer by layer, reading each tensor by its
 * state_dict name.
 *
 * Memory: every message, string and array of one export comes from the
 * builder and is recorded in one list, freed together at the end (the
 * messages point into each other; protobuf-c's free_unpacked is only for
 * messages it unpacked itself). An allocation failure sets a sticky flag;
 * builder calls after it return NULL and do nothing else, and the export
 * reports YOLOC_ERR_NOMEM once the walk is over, before any file exists.
 *
 * Serialisation streams the packed message into the atomic file (no copy of
 * the whole model in memory besides the folded weights); tensors are stored
 * as little-endian raw_data whatever the host's byte order. */
#include "io/onnx_export.h"

#include "io/onnx_graph.h"
#include "nn/module.h"

#include "io/file.h"
#include "io/json.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_FLOAT   ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define T_FLOAT16 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16
#define T_INT64   ONNX__TENSOR_PROTO__DATA_TYPE__INT64

#define OX_MAX_ATTRS 8 /* attributes of one node (Resize has the most: 4) */

/* ------------------------------------------------------------------------ */
/* float16 */

uint16_t onnx_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0)); /* inf, NaN (quiet) */
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow: infinity */
    if (e <= 0) {                                   /* subnormal or zero */
        if (e < -10) return sign;                   /* below half the smallest subnormal */
        man |= 0x800000u;                           /* the implicit bit */
        int shift = 14 - e;                         /* 24-bit mantissa -> 10-bit subnormal */
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u)))
            h++; /* nearest even; may carry into the exponent */
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry may reach infinity: correct */
    return (uint16_t)(sign | h);
}

static void store_le16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void store_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void store_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ------------------------------------------------------------------------ */
/* The graph builder. */

typedef struct {
    void **allocs;
    size_t nallocs, cap_allocs;
    int oom;
    Onnx__GraphProto graph;
    Onnx__NodeProto **nodes; /* graph.node, grown by doubling (own allocation) */
    Onnx__TensorProto **inits;
    size_t cap_nodes, cap_inits;
    int elem; /* element type of float tensors: T_FLOAT or T_FLOAT16 */
} ox;

static void ox_init(ox *b, int elem) {
    memset(b, 0, sizeof *b);
    onnx__graph_proto__init(&b->graph);
    b->elem = elem;
}

static void ox_free(ox *b) {
    for (size_t i = 0; i < b->nallocs; i++) free(b->allocs[i]);
    free(b->allocs);
    free(b->nodes);
    free(b->inits);
    memset(b, 0, sizeof *b);
}

/* Zeroed memory owned by the builder; NULL (and the sticky flag) on failure. */
static void *ox_alloc(ox *b, size_t n) {
    if (b->oom) return NULL;
    if (b->nallocs == b->cap_allocs) {
        size_t cap = b->cap_allocs ? 2 * b->cap_allocs : 1024;
        void **a = realloc(b->allocs, cap * sizeof *a);
        if (!a) {
            b->oom = 1;
            return NULL;
        }
        b->allocs = a;
        b->cap_allocs = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        b->oom = 1;
        return NULL;
    }
    b->allocs[b->nallocs++] = p;
    return p;
}

static char *ox_printf(ox *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *ox_printf(ox *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) b->oom = 1; /* keeps "NULL only after a failure" true (no format here can fail) */
    char *s = ox_alloc(b, (size_t)(n < 0 ? 0 : n) + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static int ox_name_used(const ox *b, const char *name) {
    for (size_t i = 0; i < b->graph.n_node; i++)
        if (strcmp(b->nodes[i]->name, name) == 0) return 1;
    return 0;
}

/* Adds a node `op` named "<scope>/<op>" (then "_1", "_2", ... as PyTorch
 * names repeats) with the given inputs ("" = an omitted optional input).
 * Outputs are "<name>_output_<k>", or `outs` when not NULL (graph outputs).
 * Returns the node, NULL after an allocation failure. */
static Onnx__NodeProto *ox_node(ox *b, const char *op, const char *scope, int nin,
                                const char *const *ins, int nout, const char *const *outs) {
    if (b->oom) return NULL;
    for (int i = 0; i < nin; i++)
        YOLOC_ASSERT(ins[i] != NULL); /* NULL names come only after an allocation failure */
    char *name = ox_printf(b, "%s/%s", scope, op);
    for (int k = 1; name && ox_name_used(b, name); k++)
        name = ox_printf(b, "%s/%s_%d", scope, op, k);
    Onnx__NodeProto *n = ox_alloc(b, sizeof *n);
    char **in = ox_alloc(b, (size_t)nin * sizeof *in),
         **out = ox_alloc(b, (size_t)nout * sizeof *out);
    Onnx__AttributeProto **attrs = ox_alloc(b, OX_MAX_ATTRS * sizeof *attrs);
    if (b->graph.n_node == b->cap_nodes && !b->oom) {
        size_t cap = b->cap_nodes ? 2 * b->cap_nodes : 256;
        Onnx__NodeProto **a = realloc(b->nodes, cap * sizeof *a);
        if (!a)
            b->oom = 1;
        else {
            b->nodes = a;
            b->cap_nodes = cap;
        }
    }
    if (!name || !n || !in || !out || !attrs || b->oom) return NULL;
    onnx__node_proto__init(n);
    n->name = name;
    n->op_type = ox_printf(b, "%s", op);
    for (int i = 0; i < nin; i++) in[i] = ox_printf(b, "%s", ins[i]);
    for (int k = 0; k < nout; k++)
        out[k] = outs ? ox_printf(b, "%s", outs[k]) : ox_printf(b, "%s_output_%d", name, k);
    if (b->oom) return NULL;
    n->n_input = (size_t)nin;
    n->input = in;
    n->n_output = (size_t)nout;
    n->output = out;
    n->attribute = attrs;
    b->nodes[b->graph.n_node++] = n;
    b->graph.node = b->nodes;
    return n;
}

static const char *ox_out(const Onnx__NodeProto *n, int k) {
    return n ? n->output[k] : NULL;
}

/* One-output nodes: returns the output's name (NULL after a failure). */
static const char *ox_op(ox *b, const char *op, const char *scope, int nin,
                         const char *const *ins) {
    return ox_out(ox_node(b, op, scope, nin, ins, 1, NULL), 0);
}
static const char *ox_op1(ox *b, const char *op, const char *scope, const char *x) {
    return ox_op(b, op, scope, 1, &x);
}
static const char *ox_op2(ox *b, const char *op, const char *scope, const char *x, const char *y) {
    const char *in[2] = {x, y};
    return ox_op(b, op, scope, 2, in);
}

static Onnx__AttributeProto *ox_attr(ox *b, Onnx__NodeProto *n, const char *name,
                                     Onnx__AttributeProto__AttributeType type) {
    if (!n) return NULL;
    YOLOC_ASSERT(n->n_attribute < OX_MAX_ATTRS);
    Onnx__AttributeProto *a = ox_alloc(b, sizeof *a);
    char *nm = ox_printf(b, "%s", name);
    if (!a || !nm) return NULL;
    onnx__attribute_proto__init(a);
    a->name = nm;
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}
static void ox_attr_int(ox *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = ox_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (!a) return;
    a->has_i = 1;
    a->i = v;
}
static void ox_attr_float(ox *b, Onnx__NodeProto *n, const char *name, float v) {
    Onnx__AttributeProto *a = ox_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (!a) return;
    a->has_f = 1;
    a->f = v;
}
static void ox_attr_ints(ox *b, Onnx__NodeProto *n, const char *name, int k, const int64_t *v) {
    Onnx__AttributeProto *a = ox_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *c = ox_alloc(b, (size_t)k * sizeof *c);
    if (!a || !c) return;
    memcpy(c, v, (size_t)k * sizeof *c);
    a->n_ints = (size_t)k;
    a->ints = c;
}
static void ox_attr_str(ox *b, Onnx__NodeProto *n, const char *name, const char *s) {
    Onnx__AttributeProto *a = ox_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    char *c = ox_printf(b, "%s", s);
    if (!a || !c) return;
    a->has_s = 1;
    a->s.len = strlen(c);
    a->s.data = (uint8_t *)c;
}

static size_t dims_count(int ndim, const int64_t *dims) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)dims[d];
    return n;
}

/* An initializer of `dtype` with zeroed raw data of elem_size bytes per
 * element, to be filled by the caller. ndim 0 is a scalar. */
static Onnx__TensorProto *ox_tensor(ox *b, const char *name, int dtype, int ndim,
                                    const int64_t *dims, size_t elem_size) {
    if (b->oom) return NULL;
    size_t count = dims_count(ndim, dims);
    Onnx__TensorProto *t = ox_alloc(b, sizeof *t);
    int64_t *dd = ox_alloc(b, (size_t)ndim * sizeof *dd);
    uint8_t *raw = ox_alloc(b, count * elem_size);
    char *nm = ox_printf(b, "%s", name);
    if (b->graph.n_initializer == b->cap_inits && !b->oom) {
        size_t cap = b->cap_inits ? 2 * b->cap_inits : 256;
        Onnx__TensorProto **a = realloc(b->inits, cap * sizeof *a);
        if (!a)
            b->oom = 1;
        else {
            b->inits = a;
            b->cap_inits = cap;
        }
    }
    if (!t || !dd || !raw || !nm || b->oom) return NULL;
    onnx__tensor_proto__init(t);
    t->name = nm;
    t->n_dims = (size_t)ndim;
    if (ndim) memcpy(dd, dims, (size_t)ndim * sizeof *dd); /* a scalar has dims NULL */
    t->dims = dd;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->has_raw_data = 1;
    t->raw_data.len = count * elem_size;
    t->raw_data.data = raw;
    b->inits[b->graph.n_initializer++] = t;
    b->graph.initializer = b->inits;
    return t;
}

/* Float initializer in `dtype` (T_FLOAT or T_FLOAT16) from float values. */
static const char *ox_floats_as(ox *b, int dtype, const char *name, int ndim, const int64_t *dims,
                                const float *v) {
    size_t es = dtype == T_FLOAT16 ? 2 : 4, n = dims_count(ndim, dims);
    Onnx__TensorProto *t = ox_tensor(b, name, dtype, ndim, dims, es);
    if (!t) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (dtype == T_FLOAT16)
            store_le16(t->raw_data.data + 2 * i, onnx_f32_to_f16(v[i]));
        else {
            uint32_t u;
            memcpy(&u, &v[i], sizeof u);
            store_le32(t->raw_data.data + 4 * i, u);
        }
    }
    return t->name;
}
/* In the graph's float type (float16 with half). */
static const char *ox_floats(ox *b, const char *name, int ndim, const int64_t *dims,
                             const float *v) {
    return ox_floats_as(b, b->elem, name, ndim, dims, v);
}
static const char *ox_scalar(ox *b, const char *name, float v) {
    return ox_floats(b, name, 0, NULL, &v);
}
static const char *ox_ints(ox *b, const char *name, int ndim, const int64_t *dims,
                           const int64_t *v) {
    Onnx__TensorProto *t = ox_tensor(b, name, T_INT64, ndim, dims, 8);
    if (!t) return NULL;
    for (size_t i = 0, n = dims_count(ndim, dims); i < n; i++)
        store_le64(t->raw_data.data + 8 * i, (uint64_t)v[i]);
    return t->name;
}
/* A 1-D int64 initializer of k values. */
static const char *ox_ints1(ox *b, const char *name, int k, const int64_t *v) {
    int64_t d = k;
    return ox_ints(b, name, 1, &d, v);
}

/* A graph input or output: dims[i] < 0 takes the symbolic name params[i]. */
static Onnx__ValueInfoProto *ox_value_info(ox *b, const char *name, int elem, int ndim,
                                           const int64_t *dims, const char *const *params) {
    Onnx__ValueInfoProto *vi = ox_alloc(b, sizeof *vi);
    Onnx__TypeProto *tp = ox_alloc(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ox_alloc(b, sizeof *tt);
    Onnx__TensorShapeProto *sh = ox_alloc(b, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dd = ox_alloc(b, (size_t)ndim * sizeof *dd);
    char *nm = ox_printf(b, "%s", name);
    if (!vi || !tp || !tt || !sh || !dd || !nm) return NULL;
    for (int i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = ox_alloc(b, sizeof *d);
        if (!d) return NULL;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = ox_printf(b, "%s", params[i]);
            if (!d->dim_param) return NULL;
        }
        dd[i] = d;
    }
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)ndim;
    sh->dim = dd;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = nm;
    vi->type = tp;
    return vi;
}

/* ------------------------------------------------------------------------ */
/* The exporter. */

struct onnx_exporter {
    ox b;
    model *m;
    const onnx_export_options *o;
    const model_spec *sp;
    const char *out[SPEC_MAX_LAYERS]; /* each layer's output tensor */
    float *hp, *hb;                   /* host views of the model's parameters and buffers */
    int own_p, own_b;
};
typedef struct onnx_exporter exporter;

/* ---- io/onnx_graph.h: what the modules' export functions write with */

model *onnx_model(const onnx_exporter *e) { return e->m; }
int onnx_batch(const onnx_exporter *e) { return e->o->batch; }
int onnx_dynamic(const onnx_exporter *e) { return e->o->dynamic; }
int onnx_imgsz_h(const onnx_exporter *e) { return e->o->imgsz_h; }
int onnx_imgsz_w(const onnx_exporter *e) { return e->o->imgsz_w; }
const char **onnx_out_slot(onnx_exporter *e, int layer) { return &e->out[layer]; }

onnx_node *onnx_node_add(onnx_exporter *e, const char *op, const char *scope, int nin, const char *const *in,
                         int nout, const char *const *out_names) {
    return (onnx_node *)ox_node(&e->b, op, scope, nin, in, nout, out_names);
}
const char *onnx_node_out(const onnx_node *n, int k) {
    return n ? ox_out((const Onnx__NodeProto *)n, k) : NULL;
}
void onnx_attr_int(onnx_exporter *e, onnx_node *n, const char *name, int64_t v) {
    if (n) ox_attr_int(&e->b, (Onnx__NodeProto *)n, name, v);
}
void onnx_attr_ints(onnx_exporter *e, onnx_node *n, const char *name, int k, const int64_t *v) {
    if (n) ox_attr_ints(&e->b, (Onnx__NodeProto *)n, name, k, v);
}
void onnx_attr_float(onnx_exporter *e, onnx_node *n, const char *name, float v) {
    if (n) ox_attr_float(&e->b, (Onnx__NodeProto *)n, name, v);
}
void onnx_attr_str(onnx_exporter *e, onnx_node *n, const char *name, const char *v) {
    if (n) ox_attr_str(&e->b, (Onnx__NodeProto *)n, name, v);
}
const char *onnx_op(onnx_exporter *e, const char *op, const char *scope, int nin, const char *const *in) {
    return ox_op(&e->b, op, scope, nin, in);
}
const char *onnx_op1(onnx_exporter *e, const char *op, const char *scope, const char *x) {
    return ox_op1(&e->b, op, scope, x);
}
const char *onnx_op2(onnx_exporter *e, const char *op, const char *scope, const char *x, const char *y) {
    return ox_op2(&e->b, op, scope, x, y);
}
const char *onnx_floats(onnx_exporter *e, const char *name, int ndim, const int64_t *dims, const float *v) {
    return ox_floats(&e->b, name, ndim, dims, v);
}
const char *onnx_floats32(onnx_exporter *e, const char *name, int ndim, const int64_t *dims, const float *v) {
    return ox_floats_as(&e->b, T_FLOAT, name, ndim, dims, v);
}
const char *onnx_scalar(onnx_exporter *e, const char *name, float v) { return ox_scalar(&e->b, name, v); }
const char *onnx_ints(onnx_exporter *e, const char *name, int ndim, const int64_t *dims, const int64_t *v) {
    return ox_ints(&e->b, name, ndim, dims, v);
}
const char *onnx_ints1(onnx_exporter *e, const char *name, int k, const int64_t *v) {
    return ox_ints1(&e->b, name, k, v);
}
void onnx_fail_nomem(onnx_exporter *e) { e->b.oom = 1; }

static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *s) {
    int len = snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < (int)cap; d++)
        len += snprintf(buf + len, cap - (size_t)len, d ? ", %lld" : "%lld", (long long)s[d]);
    if (len < (int)cap) snprintf(buf + len, cap - (size_t)len, "]");
    return buf;
}

/* A model tensor by state_dict name, checked against the shape the graph
 * needs. */
status onnx_tensor(exporter *e, const char *name, int ndim, const int64_t *shape,
                         const float **data) {
    const param_info *p = model_find(e->m, name);
    if (!p) return err_set(YOLOC_ERR_NOT_FOUND, "ONNX export: the model has no tensor '%s'", name);
    int same = p->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = p->shape[d] == shape[d];
    if (!same) {
        char a[64], b[64];
        return err_set(YOLOC_ERR_SHAPE, "ONNX export: tensor '%s' has shape %s, the graph needs %s",
                       name, shape_str(a, sizeof a, p->ndim, p->shape),
                       shape_str(b, sizeof b, ndim, shape));
    }
    *data = (p->buffer ? e->hb : e->hp) + p->off;
    return YOLOC_OK;
}

/* Conv node with weight and bias initializers (already in graph order). */
const char *onnx_conv_node(exporter *e, const char *scope, const char *x, const char *w,
                                 const char *bias, int k, int s, int p, int g, int d) {
    const char *in[3] = {x, w, bias};
    Onnx__NodeProto *n = ox_node(&e->b, "Conv", scope, bias ? 3 : 2, in, 1, NULL);
    int64_t dil[2] = {d, d}, ks[2] = {k, k}, pads[4] = {p, p, p, p}, st[2] = {s, s};
    ox_attr_ints(&e->b, n, "dilations", 2, dil);
    ox_attr_int(&e->b, n, "group", g);
    ox_attr_ints(&e->b, n, "kernel_shape", 2, ks);
    ox_attr_ints(&e->b, n, "pads", 4, pads);
    ox_attr_ints(&e->b, n, "strides", 2, st);
    return ox_out(n, 0);
}

/* SiLU as x * sigmoid(x), PyTorch's export of nn.SiLU at these opsets. */
static const char *exp_silu(exporter *e, const char *scope, const char *x) {
    const char *s = ox_op1(&e->b, "Sigmoid", scope, x);
    return ox_op2(&e->b, "Mul", scope, x, s);
}

/* A Conv block (conv -> BatchNorm -> SiLU) under state_dict prefix `prefix`
 * ("model.2.m.0.cv1") and node scope `scope` ("/model.2/m.0/cv1"), with the
 * BatchNorm folded into the convolution. *y: the block's output. */
status onnx_convblock(exporter *e, int layer, const char *prefix, const char *scope,
                            const char *x, int c1, int c2, int k, int s, int p, int g, int d,
                            int act, const char **y) {
    char name[160], sc[160];
    const float *w, *gamma, *beta, *mean, *var;
    int64_t ws[4] = {c2, c1 / g, k, k}, cs[1] = {c2};
    snprintf(name, sizeof name, "%s.bn.running_mean", prefix);
    if (!model_find(e->m, name)) {
        snprintf(name, sizeof name, "%s.bn.weight", prefix);
        if (model_find(e->m, name))
            return err_set(YOLOC_ERR_UNSUPPORTED,
                           "ONNX export: layer %d (%s) has GroupNorm (norm=gn): only BatchNorm, "
                           "which folds into the convolution, can be exported",
                           layer, prefix);
    }
    snprintf(name, sizeof name, "%s.conv.weight", prefix);
    TRY(onnx_tensor(e, name, 4, ws, &w));
    snprintf(name, sizeof name, "%s.bn.weight", prefix);
    TRY(onnx_tensor(e, name, 1, cs, &gamma));
    snprintf(name, sizeof name, "%s.bn.bias", prefix);
    TRY(onnx_tensor(e, name, 1, cs, &beta));
    snprintf(name, sizeof name, "%s.bn.running_mean", prefix);
    TRY(onnx_tensor(e, name, 1, cs, &mean));
    snprintf(name, sizeof name, "%s.bn.running_var", prefix);
    TRY(onnx_tensor(e, name, 1, cs, &var));

    size_t per = (size_t)(c1 / g) * k * k;
    float *wf = malloc((size_t)c2 * per * sizeof *wf), *bf = malloc((size_t)c2 * sizeof *bf);
    if (!wf || !bf) {
        free(wf);
        free(bf);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    /* eval BatchNorm: y = (conv - mean) * g / sqrt(var + eps) + beta, eps 1e-3 (Ultralytics) */
    for (int o = 0; o < c2; o++) {
        double scale = gamma[o] / sqrt((double)var[o] + 1e-3);
        for (size_t i = 0; i < per; i++)
            wf[(size_t)o * per + i] = (float)(w[(size_t)o * per + i] * scale);
        bf[o] = (float)(beta[o] - mean[o] * scale);
    }
    snprintf(name, sizeof name, "%s.conv.weight", prefix);
    const char *wn = ox_floats(&e->b, name, 4, ws, wf);
    snprintf(name, sizeof name, "%s.conv.bias", prefix);
    const char *bn = ox_floats(&e->b, name, 1, cs, bf);
    free(wf);
    free(bf);
    snprintf(sc, sizeof sc, "%s/conv", scope);
    const char *out = onnx_conv_node(e, sc, x, wn, bn, k, s, p, g, d);
    if (act) {
        snprintf(sc, sizeof sc, "%s/act", scope);
        out = exp_silu(e, sc, out);
    }
    *y = out;
    return YOLOC_OK;
}

/* A plain convolution with bias (the last of each Detect branch). */
status onnx_plainconv(exporter *e, const char *prefix, const char *scope, const char *x,
                            int c1, int c2, int k, const char **y) {
    char name[160];
    const float *w, *bias;
    int64_t ws[4] = {c2, c1, k, k}, cs[1] = {c2};
    snprintf(name, sizeof name, "%s.weight", prefix);
    TRY(onnx_tensor(e, name, 4, ws, &w));
    const char *wn = ox_floats(&e->b, name, 4, ws, w);
    snprintf(name, sizeof name, "%s.bias", prefix);
    TRY(onnx_tensor(e, name, 1, cs, &bias));
    const char *bn = ox_floats(&e->b, name, 1, cs, bias);
    *y = onnx_conv_node(e, scope, x, wn, bn, k, 1, k / 2, 1, 1);
    return YOLOC_OK;
}

const char *onnx_concat(exporter *e, const char *scope, int n, const char *const *ins,
                              int axis) {
    Onnx__NodeProto *nd = ox_node(&e->b, "Concat", scope, n, ins, 1, NULL);
    ox_attr_int(&e->b, nd, "axis", axis);
    return ox_out(nd, 0);
}

/* Split along `axis` into parts of the given sizes (opset 13-17: the sizes
 * are the second input). */
void onnx_split(exporter *e, const char *scope, const char *x, int axis, int nparts,
                      const int64_t *sizes, const char **outs) {
    char name[160];
    snprintf(name, sizeof name, "%s/split_sizes_%zu", scope, e->b.graph.n_initializer);
    const char *in[2] = {x, ox_ints1(&e->b, name, nparts, sizes)};
    Onnx__NodeProto *n = ox_node(&e->b, "Split", scope, 2, in, nparts, NULL);
    ox_attr_int(&e->b, n, "axis", axis);
    for (int k = 0; k < nparts; k++) outs[k] = ox_out(n, k);
}

/* Slice [start, end) of `axis`: used instead of Split for unequal parts, as
 * OpenCV's DNN before 4.7 ignores Split's sizes input (opset 13+) and splits
 * into equal parts. */
const char *onnx_slice(exporter *e, const char *scope, const char *x, int axis, int64_t start,
                             int64_t end) {
    char name[160];
    int64_t ax = axis;
    snprintf(name, sizeof name, "%s/slice_start_%zu", scope, e->b.graph.n_initializer);
    const char *st = ox_ints1(&e->b, name, 1, &start);
    snprintf(name, sizeof name, "%s/slice_end_%zu", scope, e->b.graph.n_initializer);
    const char *en = ox_ints1(&e->b, name, 1, &end);
    snprintf(name, sizeof name, "%s/slice_axes_%zu", scope, e->b.graph.n_initializer);
    const char *in[4] = {x, st, en, ox_ints1(&e->b, name, 1, &ax)};
    return ox_op(&e->b, "Slice", scope, 4, in);
}

const char *onnx_reshape(exporter *e, const char *scope, const char *x, int k,
                               const int64_t *shape) {
    char name[160];
    snprintf(name, sizeof name, "%s/shape_%zu", scope, e->b.graph.n_initializer);
    return ox_op2(&e->b, "Reshape", scope, x, ox_ints1(&e->b, name, k, shape));
}

/* ---- modules ---- */

/* The integer constants of a dynamic grid (created in this order, once per
 * head) and the float zero the grids broadcast against. */

void onnx_grid_consts(exporter *e, const char *scope, onnx_grid *g) {
    ox *b = &e->b;
    char name[96];
    int64_t zero = 0, one = 1, two = 2, three = 3, ax0 = 0, ax1 = 1;
    snprintf(name, sizeof name, "%s/grid/i0", scope);
    g->i0 = ox_ints(b, name, 0, NULL, &zero);
    snprintf(name, sizeof name, "%s/grid/i1", scope);
    g->i1 = ox_ints(b, name, 0, NULL, &one);
    snprintf(name, sizeof name, "%s/grid/i2", scope);
    g->i2 = ox_ints(b, name, 0, NULL, &two);
    snprintf(name, sizeof name, "%s/grid/i3", scope);
    g->i3 = ox_ints(b, name, 0, NULL, &three);
    snprintf(name, sizeof name, "%s/grid/axes0", scope);
    g->axes0 = ox_ints1(b, name, 1, &ax0);
    snprintf(name, sizeof name, "%s/grid/axes1", scope);
    g->axes1 = ox_ints1(b, name, 1, &ax1);
    g->zero = NULL;
}

/* The cell coordinates of feature map `feat` [B, C, H, W] plus `off` (a
 * float scalar), computed from its shape: *gx = x + off and *gy = y + off
 * over the H x W grid, row-major, reshaped to `flat` (an int64 shape
 * constant with one -1). Integer Range (TensorRT's Range takes float bounds
 * only as constants), then Cast; the H x W grid is built by broadcasting an
 * Add against a zero made by Mul (no Expand or ConstantOfShape needed). */
void onnx_cell_grid(exporter *e, const char *gs, const onnx_grid *g, const char *feat,
                          const char *off, const char *flat, const char **gx, const char **gy) {
    ox *b = &e->b;
    const char *shape = ox_op1(b, "Shape", gs, feat);
    const char *g2[2] = {shape, g->i2}, *g3[2] = {shape, g->i3};
    Onnx__NodeProto *nh = ox_node(b, "Gather", gs, 2, g2, 1, NULL),
                    *nw = ox_node(b, "Gather", gs, 2, g3, 1, NULL);
    ox_attr_int(b, nh, "axis", 0);
    ox_attr_int(b, nw, "axis", 0);
    const char *rh[3] = {g->i0, ox_out(nh, 0), g->i1}, *rw[3] = {g->i0, ox_out(nw, 0), g->i1};
    const char *ry = ox_op(b, "Range", gs, 3, rh), *rx = ox_op(b, "Range", gs, 3, rw);
    Onnx__NodeProto *cy = ox_node(b, "Cast", gs, 1, &ry, 1, NULL),
                    *cx = ox_node(b, "Cast", gs, 1, &rx, 1, NULL);
    ox_attr_int(b, cy, "to", b->elem);
    ox_attr_int(b, cx, "to", b->elem);
    const char *fy = ox_op2(b, "Add", gs, ox_out(cy, 0), off); /* [H] */
    const char *fx = ox_op2(b, "Add", gs, ox_out(cx, 0), off); /* [W] */
    const char *ux = ox_op2(b, "Unsqueeze", gs, fx, g->axes0); /* [1, W] */
    const char *uy = ox_op2(b, "Unsqueeze", gs, fy, g->axes1); /* [H, 1] */
    const char *zy = ox_op2(b, "Mul", gs, uy, g->zero);
    const char *x2 = ox_op2(b, "Add", gs, ux, zy); /* [H, W] */
    const char *zx = ox_op2(b, "Mul", gs, ux, g->zero);
    const char *y2 = ox_op2(b, "Add", gs, uy, zx);
    *gx = ox_op2(b, "Reshape", gs, x2, flat);
    *gy = ox_op2(b, "Reshape", gs, y2, flat);
}

/* One layer: its module's export function (nn/module.h); a module without
 * one is refused with the layer named. */
static status exp_layer(exporter *e, const layer_spec *ls) {
    const char *x[SPEC_MAX_FROM];
    for (int k = 0; k < ls->nfrom; k++) x[k] = ls->from[k] < 0 ? "images" : e->out[ls->from[k]];
    const nn_module_desc *d = nn_module(ls->kind);
    if (d && d->onnx) return d->onnx(e, ls, x);
    return err_set(YOLOC_ERR_UNSUPPORTED, "ONNX export: layer %d: module %s cannot be exported yet",
                   ls->index, mod_kind_name(ls->kind));
}

/* ---- metadata ---- */

/* A Python string literal (what Ultralytics' AutoBackend parses with
 * ast.literal_eval): single quotes unless the text has one and no double
 * quote; backslash, the quote and control characters escaped. */
static void py_string(sbuf *s, const char *str) {
    char q = strchr(str, '\'') && !strchr(str, '"') ? '"' : '\'';
    sbuf_append(s, &q, 1);
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)q) {
            char esc[2] = {'\\', (char)*p};
            sbuf_append(s, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            sbuf_printf(s, "\\x%02x", *p);
        } else {
            sbuf_append(s, (const char *)p, 1);
        }
    }
    sbuf_append(s, &q, 1);
}

static status exp_metadata(exporter *e, Onnx__ModelProto *mp) {
    ox *b = &e->b;
    const onnx_export_options *o = e->o;
    int nc = model_nc(e->m), smax = model_stride(e->m, model_nlevels(e->m) - 1);
    sbuf names;
    sbuf_init(&names);
    sbuf_append(&names, "{", 1);
    for (int c = 0; c < nc; c++) {
        char tmp[32];
        const char *nm = o->names && c < o->nnames && o->names[c]
                             ? o->names[c]
                             : (snprintf(tmp, sizeof tmp, "class%d", c), tmp);
        sbuf_printf(&names, c ? ", %d: " : "%d: ", c);
        py_string(&names, nm);
    }
    sbuf_append(&names, "}", 1);
    sbuf_append(&names, "", 1); /* NUL */
    if (names.failed) {
        sbuf_free(&names);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    static const char *const keys[] = {"description", "author",  "yoloc_version", "stride",
                                       "task",        "batch",   "imgsz",         "names",
                                       "args",        "channels"};
    enum { NMETA = sizeof keys / sizeof keys[0] };
    const char *vals[NMETA] = {
        ox_printf(b, "yoloc %s model", e->sp->name),
        "yoloc",
        yoloc_version(),
        ox_printf(b, "%d", smax),
        "detect",
        ox_printf(b, "%d", o->batch),
        ox_printf(b, "[%d, %d]", o->imgsz_h, o->imgsz_w),
        ox_printf(b, "%s", names.buf),
        ox_printf(b, "{'batch': %d, 'dynamic': %s, 'half': %s, 'opset': %d, 'nms': False}",
                  o->batch, o->dynamic ? "True" : "False", o->half ? "True" : "False", o->opset),
        ox_printf(b, "%d", e->sp->in_ch),
    };
    sbuf_free(&names);
    Onnx__StringStringEntryProto **props = ox_alloc(b, NMETA * sizeof *props);
    for (size_t k = 0; k < NMETA && props; k++) {
        Onnx__StringStringEntryProto *p = ox_alloc(b, sizeof *p);
        char *key = ox_printf(b, "%s", keys[k]),
             *val = vals[k] ? ox_printf(b, "%s", vals[k]) : NULL;
        if (!p || !key || !val) {
            b->oom = 1; /* ox_printf fails only when memory does */
            break;
        }
        onnx__string_string_entry_proto__init(p);
        p->key = key;
        p->value = val;
        props[k] = p;
    }
    if (b->oom) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    mp->n_metadata_props = NMETA;
    mp->metadata_props = props;
    return YOLOC_OK;
}

/* ---- writing ---- */

typedef struct {
    ProtobufCBuffer base;
    afile *f;
    status st;
} afile_sink;

static void afile_sink_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data) {
    afile_sink *s = (afile_sink *)buf;
    if (s->st == YOLOC_OK) s->st = afile_write(s->f, data, len);
}

/* IR version of the ONNX release that introduced each opset (onnx/helper.py
 * VERSION_TABLE): runtimes refuse a model whose IR version is older than
 * its opset needs. */
static int ir_version_for(int opset) {
    return opset <= 14 ? 7 : 8;
}

status onnx_export(model *m, const onnx_export_options *opt, const char *path) {
    const model_spec *sp = model_get_spec(m);
    if (opt->opset < ONNX_OPSET_MIN || opt->opset > ONNX_OPSET_MAX)
        return err_set(YOLOC_ERR_INVALID,
                       "key 'opset': %d is not supported; the ONNX export writes opsets %d "
                       "to %d (what TensorRT and ONNX Runtime read)",
                       opt->opset, ONNX_OPSET_MIN, ONNX_OPSET_MAX);
    if (opt->batch < 1)
        return err_set(YOLOC_ERR_INVALID, "key 'batch': %d, expected at least 1", opt->batch);
    if (sp->nlayers < 1 || !mod_is_detect(sp->layers[sp->nlayers - 1].kind))
        return err_set(YOLOC_ERR_UNSUPPORTED,
                       "ONNX export: %s: the last layer is not a Detect head (YOLOv8's "
                       "anchor-free or YOLOv5's anchor-based), the heads the exporter writes",
                       sp->name);
    int v5 = sp->layers[sp->nlayers - 1].kind == MOD_DETECT_V5;
    int smax = model_stride(m, model_nlevels(m) - 1);
    if (opt->imgsz_h < smax || opt->imgsz_w < smax || opt->imgsz_h % smax || opt->imgsz_w % smax)
        return err_set(YOLOC_ERR_INVALID,
                       "key 'imgsz': %dx%d, expected multiples of the model's largest stride %d",
                       opt->imgsz_h, opt->imgsz_w, smax);

    exporter e;
    memset(&e, 0, sizeof e);
    ox_init(&e.b, opt->half ? T_FLOAT16 : T_FLOAT);
    e.m = m;
    e.o = opt;
    e.sp = sp;
    ox *b = &e.b;
    /* the weights, readable on the host */
    status st = model_host_view(m, model_params(m), model_num_params(m), &e.hp, &e.own_p);
    if (st == YOLOC_OK) st = model_host_view(m, model_bufs(m), model_num_bufs(m), &e.hb, &e.own_b);
    for (int i = 0; i < sp->nlayers && st == YOLOC_OK; i++) st = exp_layer(&e, &sp->layers[i]);
    if (st < 0) goto done;

    Onnx__ModelProto mp;
    onnx__model_proto__init(&mp);
    Onnx__OperatorSetIdProto ops;
    onnx__operator_set_id_proto__init(&ops);
    Onnx__OperatorSetIdProto *opsp = &ops;
    ops.domain = "";
    ops.has_version = 1;
    ops.version = opt->opset;
    mp.has_ir_version = 1;
    mp.ir_version = ir_version_for(opt->opset);
    mp.n_opset_import = 1;
    mp.opset_import = &opsp;
    mp.producer_name = "yoloc";
    mp.producer_version = (char *)yoloc_version();
    mp.graph = &b->graph;
    b->graph.name = "main_graph";

    int nc = model_nc(m), dyn = opt->dynamic;
    int64_t ind[4] = {dyn ? -1 : opt->batch, sp->in_ch, dyn ? -1 : opt->imgsz_h,
                      dyn ? -1 : opt->imgsz_w};
    const char *inp[4] = {"batch", NULL, "height", "width"};
    int A = 0;
    for (int l = 0; l < model_nlevels(m); l++) {
        int s = model_stride(m, l);
        A += (opt->imgsz_h / s) * (opt->imgsz_w / s);
    }
    /* v8 [batch, 4 + nc, anchors]; v5 [batch, anchors, 5 + nc] (na per cell) */
    int64_t outd[3] = {dyn ? -1 : opt->batch, 4 + nc, dyn ? -1 : A};
    const char *outp[3] = {"batch", NULL, "anchors"};
    if (v5) {
        outd[1] = dyn ? -1 : (int64_t)A * sp->layers[sp->nlayers - 1].na;
        outd[2] = 5 + nc;
        outp[1] = "anchors";
        outp[2] = NULL;
    }
    Onnx__ValueInfoProto *vin = ox_value_info(b, "images", b->elem, 4, ind, inp);
    Onnx__ValueInfoProto *vout = ox_value_info(b, "output0", b->elem, 3, outd, outp);
    b->graph.n_input = b->graph.n_output = 1;
    b->graph.input = &vin;
    b->graph.output = &vout;
    if ((st = exp_metadata(&e, &mp)) < 0) goto done;
    if (b->oom) {
        st = err_set(YOLOC_ERR_NOMEM, "out of memory building the ONNX graph");
        goto done;
    }
    size_t bytes = onnx__model_proto__get_packed_size(&mp);
    if (bytes > 0x7fffffffu) {
        st = err_set(YOLOC_ERR_UNSUPPORTED,
                     "%s: the model needs %zu bytes, over the 2 GB a single ONNX file "
                     "holds (external data files are not written)",
                     path, bytes);
        goto done;
    }
    afile f;
    if ((st = afile_open(&f, path)) < 0) goto done;
    afile_sink sink = {.base = {.append = afile_sink_append}, .f = &f, .st = YOLOC_OK};
    size_t packed = onnx__model_proto__pack_to_buffer(&mp, &sink.base);
    st = sink.st;
    if (st == YOLOC_OK && packed != bytes)
        st = err_set(YOLOC_ERR_INTERNAL, "%s: packed %zu of %zu bytes", path, packed, bytes);
    if (st == YOLOC_OK)
        st = afile_commit(&f);
    else
        afile_abort(&f); /* a failed afile_write already cleaned up; abort is then a no-op */
done:
    model_host_view_free(e.hp, e.own_p);
    model_host_view_free(e.hb, e.own_b);
    ox_free(b);
    return st;
}
