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

typedef struct {
    ox b;
    model *m;
    const onnx_export_options *o;
    const model_spec *sp;
    const char *out[SPEC_MAX_LAYERS]; /* each layer's output tensor */
    float *hp, *hb;                   /* host views of the model's parameters and buffers */
    int own_p, own_b;
} exporter;

static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *s) {
    int len = snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < (int)cap; d++)
        len += snprintf(buf + len, cap - (size_t)len, d ? ", %lld" : "%lld", (long long)s[d]);
    if (len < (int)cap) snprintf(buf + len, cap - (size_t)len, "]");
    return buf;
}

/* A model tensor by state_dict name, checked against the shape the graph
 * needs. */
static status exp_tensor(exporter *e, const char *name, int ndim, const int64_t *shape,
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
static const char *exp_conv_node(exporter *e, const char *scope, const char *x, const char *w,
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
static status exp_convblock(exporter *e, int layer, const char *prefix, const char *scope,
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
    TRY(exp_tensor(e, name, 4, ws, &w));
    snprintf(name, sizeof name, "%s.bn.weight", prefix);
    TRY(exp_tensor(e, name, 1, cs, &gamma));
    snprintf(name, sizeof name, "%s.bn.bias", prefix);
    TRY(exp_tensor(e, name, 1, cs, &beta));
    snprintf(name, sizeof name, "%s.bn.running_mean", prefix);
    TRY(exp_tensor(e, name, 1, cs, &mean));
    snprintf(name, sizeof name, "%s.bn.running_var", prefix);
    TRY(exp_tensor(e, name, 1, cs, &var));

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
    const char *out = exp_conv_node(e, sc, x, wn, bn, k, s, p, g, d);
    if (act) {
        snprintf(sc, sizeof sc, "%s/act", scope);
        out = exp_silu(e, sc, out);
    }
    *y = out;
    return YOLOC_OK;
}

/* A plain convolution with bias (the last of each Detect branch). */
static status exp_plainconv(exporter *e, const char *prefix, const char *scope, const char *x,
                            int c1, int c2, int k, const char **y) {
    char name[160];
    const float *w, *bias;
    int64_t ws[4] = {c2, c1, k, k}, cs[1] = {c2};
    snprintf(name, sizeof name, "%s.weight", prefix);
    TRY(exp_tensor(e, name, 4, ws, &w));
    const char *wn = ox_floats(&e->b, name, 4, ws, w);
    snprintf(name, sizeof name, "%s.bias", prefix);
    TRY(exp_tensor(e, name, 1, cs, &bias));
    const char *bn = ox_floats(&e->b, name, 1, cs, bias);
    *y = exp_conv_node(e, scope, x, wn, bn, k, 1, k / 2, 1, 1);
    return YOLOC_OK;
}

static const char *exp_concat(exporter *e, const char *scope, int n, const char *const *ins,
                              int axis) {
    Onnx__NodeProto *nd = ox_node(&e->b, "Concat", scope, n, ins, 1, NULL);
    ox_attr_int(&e->b, nd, "axis", axis);
    return ox_out(nd, 0);
}

/* Split along `axis` into parts of the given sizes (opset 13-17: the sizes
 * are the second input). */
static void exp_split(exporter *e, const char *scope, const char *x, int axis, int nparts,
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
static const char *exp_slice(exporter *e, const char *scope, const char *x, int axis, int64_t start,
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

static const char *exp_reshape(exporter *e, const char *scope, const char *x, int k,
                               const int64_t *shape) {
    char name[160];
    snprintf(name, sizeof name, "%s/shape_%zu", scope, e->b.graph.n_initializer);
    return ox_op2(&e->b, "Reshape", scope, x, ox_ints1(&e->b, name, k, shape));
}

/* ---- modules ---- */

static status exp_conv(exporter *e, const layer_spec *ls, const char *const *x) {
    char prefix[32], scope[32];
    snprintf(prefix, sizeof prefix, "model.%d", ls->index);
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    return exp_convblock(e, ls->index, prefix, scope, x[0], ls->c1, ls->c2, ls->k, ls->s, ls->p,
                         ls->g, ls->d, ls->act, &e->out[ls->index]);
}

/* Bottleneck (nn/blocks.c) under prefix/scope: cv1 (k1) -> cv2 (k2, g),
 * plus the input when shortcut and c1 == c2. */
static status exp_bottleneck(exporter *e, int i, const char *prefix, const char *scope, const char *x, int c1,
                             int c2, int shortcut, int g, int k1, int k2, float ex, const char **y) {
    char p[96], sc[96];
    int c_ = (int)(c2 * ex);
    const char *t;
    snprintf(p, sizeof p, "%s.cv1", prefix);
    snprintf(sc, sizeof sc, "%s/cv1", scope);
    TRY(exp_convblock(e, i, p, sc, x, c1, c_, k1, 1, k1 / 2, 1, 1, 1, &t));
    snprintf(p, sizeof p, "%s.cv2", prefix);
    snprintf(sc, sizeof sc, "%s/cv2", scope);
    TRY(exp_convblock(e, i, p, sc, t, c_, c2, k2, 1, k2 / 2, g, 1, 1, &t));
    *y = shortcut && c1 == c2 ? ox_op2(&e->b, "Add", scope, x, t) : t; /* x + cv2(cv1(x)) */
    return YOLOC_OK;
}

/* The C3 core (nn/blocks.c csp3): cv1 -> n Bottlenecks (k1, 3), cv2 ->
 * Concat -> cv3. */
static status exp_csp3(exporter *e, int i, const char *prefix, const char *scope, const char *x, int c1, int c2,
                       int n, int shortcut, int g, float ex, int k1, const char **y) {
    int c = (int)(c2 * ex);
    char p[96], sc[96];
    const char *t, *y2;
    snprintf(p, sizeof p, "%s.cv1", prefix);
    snprintf(sc, sizeof sc, "%s/cv1", scope);
    TRY(exp_convblock(e, i, p, sc, x, c1, c, 1, 1, 0, 1, 1, 1, &t));
    snprintf(p, sizeof p, "%s.cv2", prefix);
    snprintf(sc, sizeof sc, "%s/cv2", scope);
    TRY(exp_convblock(e, i, p, sc, x, c1, c, 1, 1, 0, 1, 1, 1, &y2));
    for (int j = 0; j < n; j++) {
        snprintf(p, sizeof p, "%s.m.%d", prefix, j);
        snprintf(sc, sizeof sc, "%s/m.%d", scope, j);
        TRY(exp_bottleneck(e, i, p, sc, t, c, c, shortcut, g, k1, 3, 1.0f, &t));
    }
    const char *parts[2] = {t, y2};
    const char *cat = exp_concat(e, scope, 2, parts, 1);
    snprintf(p, sizeof p, "%s.cv3", prefix);
    snprintf(sc, sizeof sc, "%s/cv3", scope);
    return exp_convblock(e, i, p, sc, cat, 2 * c, c2, 1, 1, 0, 1, 1, 1, y);
}

/* C2f and C3k2: cv1 -> Split(c, c) -> n inner blocks on the last part
 * (C2f: Bottleneck k (3, 3) e 1; C3k2: Bottleneck e 0.5, or C3k) ->
 * Concat -> cv2. */
static status exp_c2f(exporter *e, const layer_spec *ls, const char *const *x) {
    int i = ls->index, c = (int)(ls->c2 * ls->e), n = ls->repeats, k2 = ls->kind == MOD_C3K2;
    char prefix[64], scope[64], top[32];
    snprintf(top, sizeof top, "/model.%d", i);
    const char *y1;
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    snprintf(scope, sizeof scope, "/model.%d/cv1", i);
    TRY(exp_convblock(e, i, prefix, scope, x[0], ls->c1, 2 * c, 1, 1, 0, 1, 1, 1, &y1));
    const char **parts = calloc((size_t)n + 2, sizeof *parts);
    if (!parts) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    int64_t sizes[2] = {c, c};
    exp_split(e, top, y1, 1, 2, sizes, parts);
    status st = YOLOC_OK;
    for (int j = 0; j < n && st == YOLOC_OK; j++) {
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", i, j);
        snprintf(scope, sizeof scope, "/model.%d/m.%d", i, j);
        if (k2 && ls->c3k)
            st = exp_csp3(e, i, prefix, scope, parts[j + 1], c, c, 2, ls->shortcut, ls->g, 0.5f, 3, &parts[j + 2]);
        else
            st = exp_bottleneck(e, i, prefix, scope, parts[j + 1], c, c, ls->shortcut, ls->g, 3, 3,
                                k2 ? 0.5f : 1.0f, &parts[j + 2]);
    }
    const char *cat = st == YOLOC_OK ? exp_concat(e, top, n + 2, parts, 1) : NULL;
    free(parts);
    TRY(st);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    snprintf(scope, sizeof scope, "/model.%d/cv2", i);
    return exp_convblock(e, i, prefix, scope, cat, (2 + n) * c, ls->c2, 1, 1, 0, 1, 1, 1,
                         &e->out[i]);
}

static status exp_c3(exporter *e, const layer_spec *ls, const char *const *x) {
    char prefix[32], scope[32];
    snprintf(prefix, sizeof prefix, "model.%d", ls->index);
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    return exp_csp3(e, ls->index, prefix, scope, x[0], ls->c1, ls->c2, ls->repeats, ls->shortcut, ls->g, ls->e, 1,
                    &e->out[ls->index]);
}

/* C2PSA (nn/c2psa.c) as Ultralytics exports it: cv1 -> Split(c, c); on the
 * second part n PSABlocks; Concat -> cv2. A PSABlock's attention:
 * qkv -> Reshape [B, heads, 2kd + hd, H*W] -> Slice q, k, v ->
 * MatMul(q^T, k) x scale -> Softmax(-1) -> MatMul(v, attn^T) -> Reshape to
 * the input's shape, plus pe(v reshaped) -> proj; then x + attn, and
 * x + ffn(x). The reshapes back take the block input's Shape, so the graph
 * holds for dynamic sizes too. */
static status exp_c2psa(exporter *e, const layer_spec *ls, const char *const *x) {
    ox *b = &e->b;
    int i = ls->index, c = (int)(ls->c1 * ls->e), n = ls->repeats;
    int heads = c / 64, hd = c / heads, kd = hd / 2, hs = 2 * kd + hd, ct = c + 2 * kd * heads;
    float scale = (float)pow((double)kd, -0.5);
    int64_t B = e->o->dynamic ? 0 : e->o->batch;
    char prefix[96], scope[96], top[32], name[128];
    snprintf(top, sizeof top, "/model.%d", i);
    const char *y1, *parts[2];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    snprintf(scope, sizeof scope, "/model.%d/cv1", i);
    TRY(exp_convblock(e, i, prefix, scope, x[0], ls->c1, 2 * c, 1, 1, 0, 1, 1, 1, &y1));
    int64_t sizes[2] = {c, c};
    exp_split(e, top, y1, 1, 2, sizes, parts);
    const char *t = parts[1];
    for (int j = 0; j < n; j++) {
        char bs[64], as[80];
        snprintf(bs, sizeof bs, "/model.%d/m/m.%d", i, j);
        snprintf(as, sizeof as, "%s/attn", bs);
        const char *qkv, *pe, *pr, *f;
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.attn.qkv", i, j);
        snprintf(scope, sizeof scope, "%s/qkv", as);
        TRY(exp_convblock(e, i, prefix, scope, t, c, ct, 1, 1, 0, 1, 1, 0, &qkv));
        int64_t s4[4] = {B, heads, hs, -1}, perm[4] = {0, 1, 3, 2};
        const char *r = exp_reshape(e, as, qkv, 4, s4);
        const char *q = exp_slice(e, as, r, 2, 0, kd), *k = exp_slice(e, as, r, 2, kd, 2 * kd),
                   *v = exp_slice(e, as, r, 2, 2 * kd, hs);
        Onnx__NodeProto *qt = ox_node(b, "Transpose", as, 1, &q, 1, NULL);
        ox_attr_ints(b, qt, "perm", 4, perm);
        const char *att = ox_op2(b, "MatMul", as, ox_out(qt, 0), k);
        snprintf(name, sizeof name, "%s/scale", as);
        att = ox_op2(b, "Mul", as, att, ox_scalar(b, name, scale));
        Onnx__NodeProto *sm = ox_node(b, "Softmax", as, 1, &att, 1, NULL);
        ox_attr_int(b, sm, "axis", -1);
        att = ox_out(sm, 0);
        Onnx__NodeProto *at = ox_node(b, "Transpose", as, 1, &att, 1, NULL);
        ox_attr_ints(b, at, "perm", 4, perm);
        const char *o = ox_op2(b, "MatMul", as, v, ox_out(at, 0)); /* [B, heads, hd, N] */
        const char *shp = ox_op1(b, "Shape", as, t);                /* [B, c, H, W] */
        o = ox_op2(b, "Reshape", as, o, shp);
        const char *vr = ox_op2(b, "Reshape", as, v, shp);
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.attn.pe", i, j);
        snprintf(scope, sizeof scope, "%s/pe", as);
        TRY(exp_convblock(e, i, prefix, scope, vr, c, c, 3, 1, 1, c, 1, 0, &pe));
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.attn.proj", i, j);
        snprintf(scope, sizeof scope, "%s/proj", as);
        TRY(exp_convblock(e, i, prefix, scope, ox_op2(b, "Add", as, o, pe), c, c, 1, 1, 0, 1, 1, 0, &pr));
        t = ox_op2(b, "Add", bs, t, pr);
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.ffn.0", i, j);
        snprintf(scope, sizeof scope, "%s/ffn/ffn.0", bs);
        TRY(exp_convblock(e, i, prefix, scope, t, c, 2 * c, 1, 1, 0, 1, 1, 1, &f));
        snprintf(prefix, sizeof prefix, "model.%d.m.%d.ffn.1", i, j);
        snprintf(scope, sizeof scope, "%s/ffn/ffn.1", bs);
        TRY(exp_convblock(e, i, prefix, scope, f, 2 * c, c, 1, 1, 0, 1, 1, 0, &f));
        t = ox_op2(b, "Add", bs, t, f);
    }
    const char *cp[2] = {parts[0], t};
    const char *cat = exp_concat(e, top, 2, cp, 1);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    snprintf(scope, sizeof scope, "/model.%d/cv2", i);
    return exp_convblock(e, i, prefix, scope, cat, 2 * c, ls->c2, 1, 1, 0, 1, 1, 1, &e->out[i]);
}

/* SPPF: cv1 -> three chained MaxPool(k, 1, k/2) -> Concat -> cv2. */
static status exp_sppf(exporter *e, const layer_spec *ls, const char *const *x) {
    int i = ls->index, c = ls->c1 / 2, k = ls->k;
    char prefix[64], scope[64], top[32];
    snprintf(top, sizeof top, "/model.%d", i);
    const char *y[4];
    snprintf(prefix, sizeof prefix, "model.%d.cv1", i);
    snprintf(scope, sizeof scope, "/model.%d/cv1", i);
    TRY(exp_convblock(e, i, prefix, scope, x[0], ls->c1, c, 1, 1, 0, 1, 1, 1, &y[0]));
    snprintf(scope, sizeof scope, "/model.%d/m", i);
    for (int j = 0; j < 3; j++) {
        Onnx__NodeProto *n = ox_node(&e->b, "MaxPool", scope, 1, &y[j], 1, NULL);
        int64_t ks[2] = {k, k}, pads[4] = {k / 2, k / 2, k / 2, k / 2}, st[2] = {1, 1};
        ox_attr_int(&e->b, n, "ceil_mode", 0);
        ox_attr_ints(&e->b, n, "kernel_shape", 2, ks);
        ox_attr_ints(&e->b, n, "pads", 4, pads);
        ox_attr_ints(&e->b, n, "strides", 2, st);
        y[j + 1] = ox_out(n, 0);
    }
    const char *cat = exp_concat(e, top, 4, y, 1);
    snprintf(prefix, sizeof prefix, "model.%d.cv2", i);
    snprintf(scope, sizeof scope, "/model.%d/cv2", i);
    return exp_convblock(e, i, prefix, scope, cat, 4 * c, ls->c2, 1, 1, 0, 1, 1, 1, &e->out[i]);
}

/* nn.Upsample(scale, 'nearest') as PyTorch exports it: Resize with scales,
 * asymmetric coordinates, floor rounding (out[y] = in[floor(y / scale)]). */
static status exp_upsample(exporter *e, const layer_spec *ls, const char *const *x) {
    char scope[32], name[64];
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    snprintf(name, sizeof name, "/model.%d/scales", ls->index);
    float sc[4] = {1.0f, 1.0f, (float)ls->scale, (float)ls->scale};
    int64_t four = 4;
    /* inputs X, roi (omitted), scales (float32 also in half exports: the operator's type) */
    const char *in[3] = {x[0], "", ox_floats_as(&e->b, T_FLOAT, name, 1, &four, sc)};
    Onnx__NodeProto *n = ox_node(&e->b, "Resize", scope, 3, in, 1, NULL);
    ox_attr_str(&e->b, n, "coordinate_transformation_mode", "asymmetric");
    ox_attr_float(&e->b, n, "cubic_coeff_a", -0.75f);
    ox_attr_str(&e->b, n, "mode", "nearest");
    ox_attr_str(&e->b, n, "nearest_mode", "floor");
    e->out[ls->index] = ox_out(n, 0);
    return YOLOC_OK;
}

static status exp_concat_layer(exporter *e, const layer_spec *ls, const char *const *x) {
    char scope[32];
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    e->out[ls->index] = exp_concat(e, scope, ls->nfrom, x, 1);
    return YOLOC_OK;
}

/* The integer constants of a dynamic grid (created in this order, once per
 * head) and the float zero the grids broadcast against. */
typedef struct {
    const char *i0, *i1, *i2, *i3, *axes0, *axes1, *zero;
} grid_consts;

static void exp_grid_consts(exporter *e, const char *scope, grid_consts *g) {
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
static void exp_cell_grid(exporter *e, const char *gs, const grid_consts *g, const char *feat,
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

/* Anchors (cell centres, x row then y row) and strides of the Detect
 * levels, as Ultralytics' make_anchors(feats, strides, 0.5) transposed.
 * Static: constants for the export size, anchors [B, 2, A] and strides
 * [1, 4, A] (each row repeated). Ultralytics' [1, 2, A] and [1, A] broadcast
 * the same in ONNX Runtime and TensorRT, but OpenCV's DNN (4.6) turns
 * Sub/Add with a constant into an element-wise layer that needs the full
 * shape, and Mul with a constant into a scale layer that broadcasts over the
 * batch only, so these are the shapes all three accept. Dynamic: anchors
 * [1, 2, A] and strides [1, 1, A], computed from each level's feature-map
 * size (exp_cell_grid). */
static void exp_anchors(exporter *e, const layer_spec *ls, const char *const *x,
                        const char **anchors, const char **strides) {
    ox *b = &e->b;
    char scope[32], name[96];
    int nl = ls->nlevels;
    snprintf(scope, sizeof scope, "/model.%d", ls->index);
    if (!e->o->dynamic) {
        int A = 0, hs[SPEC_MAX_LEVELS], wsz[SPEC_MAX_LEVELS];
        for (int l = 0; l < nl; l++) {
            int st = model_stride(e->m, l);
            hs[l] = e->o->imgsz_h / st;
            wsz[l] = e->o->imgsz_w / st;
            A += hs[l] * wsz[l];
        }
        /* B x 2 anchor rows, then the 4 stride rows */
        size_t Bn = (size_t)e->o->batch;
        float *an = malloc((Bn * 2 + 4) * (size_t)A * sizeof *an);
        if (!an) {
            b->oom = 1;
            *anchors = *strides = NULL;
            return;
        }
        float *sv = an + Bn * 2 * (size_t)A;
        int a = 0;
        for (int l = 0; l < nl; l++)
            for (int y = 0; y < hs[l]; y++)
                for (int xx = 0; xx < wsz[l]; xx++, a++) {
                    an[a] = (float)xx + 0.5f;
                    an[A + a] = (float)y + 0.5f;
                    for (int r = 0; r < 4; r++)
                        sv[(size_t)r * A + a] = (float)model_stride(e->m, l);
                }
        for (size_t n = 1; n < Bn; n++)
            memcpy(an + n * 2 * A, an, (size_t)2 * A * sizeof *an); /* every image */
        int64_t ad[3] = {(int64_t)Bn, 2, A}, sd[3] = {1, 4, A};
        snprintf(name, sizeof name, "%s/anchors", scope);
        *anchors = ox_floats(b, name, 3, ad, an);
        snprintf(name, sizeof name, "%s/strides", scope);
        *strides = ox_floats(b, name, 3, sd, sv);
        free(an);
        return;
    }
    int64_t flat[3] = {1, 1, -1};
    grid_consts gc;
    exp_grid_consts(e, scope, &gc);
    snprintf(name, sizeof name, "%s/grid/flat", scope);
    const char *flatn = ox_ints1(b, name, 3, flat);
    snprintf(name, sizeof name, "%s/grid/half", scope);
    const char *halfc = ox_scalar(b, name, 0.5f);
    snprintf(name, sizeof name, "%s/grid/zero", scope);
    gc.zero = ox_scalar(b, name, 0.0f);
    const char *al[SPEC_MAX_LEVELS], *sl[SPEC_MAX_LEVELS];
    char gs[48];
    snprintf(gs, sizeof gs, "%s/grid", scope);
    for (int l = 0; l < nl; l++) {
        const char *gx, *gy;
        exp_cell_grid(e, gs, &gc, x[l], halfc, flatn, &gx, &gy); /* [1, 1, H*W] each */
        const char *xy[2] = {gx, gy};
        al[l] = exp_concat(e, gs, 2, xy, 1); /* [1, 2, H*W] */
        snprintf(name, sizeof name, "%s/grid/stride%d", scope, l);
        sl[l] = ox_op2(b, "Add", gs, ox_op2(b, "Mul", gs, gx, gc.zero),
                       ox_scalar(b, name, (float)model_stride(e->m, l)));
    }
    *anchors = exp_concat(e, gs, nl, al, 2);
    *strides = exp_concat(e, gs, nl, sl, 2);
}

/* YOLOv8 Detect: per level the box branch (cv2: Conv, Conv, Conv2d(4R)) and
 * the class branch (cv3: Conv, Conv, Conv2d(nc)), concatenated and
 * flattened to [B, no, H*W]; the levels concatenated to [B, no, A]; then
 * Ultralytics' _inference: split box/cls, DFL, dist2bbox (xywh) x stride,
 * sigmoid, concat -> output0 [B, 4 + nc, A]. */
static status exp_detect_v8(exporter *e, const layer_spec *ls, const char *const *x) {
    ox *b = &e->b;
    int i = ls->index, nl = ls->nlevels, nc = ls->nc, R = ls->reg_max, no = 4 * R + nc,
        ch0 = ls->ch[0];
    /* branch widths as nn/detect.c builds them; exp_tensor checks them against the tensors */
    int c2 = ch0 / 4 > 16 ? ch0 / 4 : 16, c3 = nc < 100 ? nc : 100;
    if (c2 < 4 * R) c2 = 4 * R;
    if (c3 < ch0) c3 = ch0;
    int64_t B = e->o->dynamic ? 0 : e->o->batch; /* Reshape: 0 copies the input's batch */
    char prefix[64], scope[64], top[32];
    snprintf(top, sizeof top, "/model.%d", i);
    const char *lv[SPEC_MAX_LEVELS];
    for (int l = 0; l < nl; l++) {
        const char *br[2];
        for (int k = 0; k < 2; k++) { /* k 0: cv2 (box), 1: cv3 (class) */
            int cv = 2 + k, cm = k ? c3 : c2, co = k ? nc : 4 * R;
            const char *t = x[l];
            for (int j = 0; j < 2; j++) {
                int cin = j ? cm : ls->ch[l];
                if (k && ls->dw_cls) { /* YOLO11: DWConv(cin, cin, 3) -> Conv(cin, cm, 1) */
                    snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.%d.0", i, l, j);
                    snprintf(scope, sizeof scope, "/model.%d/cv3.%d/cv3.%d.%d/cv3.%d.%d.0", i, l, l, j, l, j);
                    TRY(exp_convblock(e, i, prefix, scope, t, cin, cin, 3, 1, 1, cin, 1, 1, &t));
                    snprintf(prefix, sizeof prefix, "model.%d.cv3.%d.%d.1", i, l, j);
                    snprintf(scope, sizeof scope, "/model.%d/cv3.%d/cv3.%d.%d/cv3.%d.%d.1", i, l, l, j, l, j);
                    TRY(exp_convblock(e, i, prefix, scope, t, cin, cm, 1, 1, 0, 1, 1, 1, &t));
                    continue;
                }
                snprintf(prefix, sizeof prefix, "model.%d.cv%d.%d.%d", i, cv, l, j);
                snprintf(scope, sizeof scope, "/model.%d/cv%d.%d/cv%d.%d.%d", i, cv, l, cv, l, j);
                TRY(exp_convblock(e, i, prefix, scope, t, cin, cm, 3, 1, 1, 1, 1, 1, &t));
            }
            snprintf(prefix, sizeof prefix, "model.%d.cv%d.%d.2", i, cv, l);
            snprintf(scope, sizeof scope, "/model.%d/cv%d.%d/cv%d.%d.2", i, cv, l, cv, l);
            TRY(exp_plainconv(e, prefix, scope, t, cm, co, 1, &br[k]));
        }
        int64_t shp[3] = {B, no, -1};
        lv[l] = exp_reshape(e, top, exp_concat(e, top, 2, br, 1), 3, shp);
    }
    const char *xcat = exp_concat(e, top, nl, lv, 2);
    const char *bc[2] = {exp_slice(e, top, xcat, 1, 0, 4 * R),
                         exp_slice(e, top, xcat, 1, 4 * R, no)};

    /* DFL: [B, 4R, A] -> [B, 4, R, A] -> [B, R, 4, A] -> softmax over R ->
     * 1x1 conv with weights 0..R-1 -> [B, 1, 4, A] -> [B, 4, A] */
    snprintf(scope, sizeof scope, "/model.%d/dfl", i);
    int64_t s4[4] = {B, 4, R, -1}, s3[3] = {B, 4, -1}, perm[4] = {0, 2, 1, 3};
    const char *t = exp_reshape(e, scope, bc[0], 4, s4);
    Onnx__NodeProto *tr = ox_node(b, "Transpose", scope, 1, &t, 1, NULL);
    ox_attr_ints(b, tr, "perm", 4, perm);
    t = ox_out(tr, 0);
    Onnx__NodeProto *sm = ox_node(b, "Softmax", scope, 1, &t, 1, NULL);
    ox_attr_int(b, sm, "axis", 1);
    t = ox_out(sm, 0);
    const float *dw;
    int64_t dws[4] = {1, R, 1, 1};
    snprintf(prefix, sizeof prefix, "model.%d.dfl.conv.weight", i);
    TRY(exp_tensor(e, prefix, 4, dws, &dw));
    snprintf(scope, sizeof scope, "/model.%d/dfl/conv", i);
    t = exp_conv_node(e, scope, t, ox_floats(b, prefix, 4, dws, dw), NULL, 1, 1, 0, 1, 1);
    snprintf(scope, sizeof scope, "/model.%d/dfl", i);
    const char *dist = exp_reshape(e, scope, t, 3, s3);

    /* dist2bbox(xywh): x1y1 = anchor - lt, x2y2 = anchor + rb, then
     * ((x1y1 + x2y2) / 2, x2y2 - x1y1) x stride */
    const char *anchors, *strides, *lr[2];
    exp_anchors(e, ls, x, &anchors, &strides);
    lr[0] = exp_slice(e, top, dist, 1, 0, 2);
    lr[1] = exp_slice(e, top, dist, 1, 2, 4);
    const char *x1y1 = ox_op2(b, "Sub", top, anchors, lr[0]);
    const char *x2y2 = ox_op2(b, "Add", top, anchors, lr[1]);
    snprintf(prefix, sizeof prefix, "%s/two", top);
    const char *cxy =
        ox_op2(b, "Div", top, ox_op2(b, "Add", top, x1y1, x2y2), ox_scalar(b, prefix, 2.0f));
    const char *wh = ox_op2(b, "Sub", top, x2y2, x1y1);
    const char *xywh[2] = {cxy, wh};
    const char *dbox = ox_op2(b, "Mul", top, exp_concat(e, top, 2, xywh, 1), strides);
    const char *fin[2] = {dbox, ox_op1(b, "Sigmoid", top, bc[1])}, *outname = "output0";
    Onnx__NodeProto *cat = ox_node(b, "Concat", top, 2, fin, 1, &outname);
    ox_attr_int(b, cat, "axis", 1);
    e->out[i] = ox_out(cat, 0);
    return YOLOC_OK;
}

/* YOLOv5 Detect (nn/detect_v5.c; YOLOv5's Detect.forward as its exporter
 * writes it), per level l with H x W cells and na anchors:
 *   1x1 Conv (bias) -> [B, na*no, H, W] -> Reshape [B, na, no, H*W] ->
 *   Transpose [B, no, na, H*W] -> Sigmoid s; xy = (2 s - 0.5 + cell) * stride,
 *   wh = (2 s)^2 * anchor (pixels: the model.N.anchors buffer, in grid units,
 *   times the stride), then objectness and class probabilities as they are
 *   -> Concat -> Reshape [B, no, na*H*W];
 * the levels concatenated to [B, no, A] and transposed to output0
 * [B, A, 5 + nc] (rows level by level, anchor by anchor, then y, x: the
 * order of YOLOv5's output and of `yoloc forward`). The decode works in a
 * channel-first layout with the per-level constants in the shapes OpenCV's
 * DNN (4.6) accepts (see exp_anchors): static, the cell offsets (Add) are
 * [B, 2, na, H*W] and the anchor sizes (Mul) [1, 2, na, H*W]; dynamic, the
 * cell offsets [1, 2, 1, H*W] come from the feature map's shape
 * (exp_cell_grid) and the anchor sizes are [1, 2, na, 1]. Multiplying 2 s
 * by itself instead of Pow keeps to the operators the v8 graph uses. */
static status exp_detect_v5(exporter *e, const layer_spec *ls, const char *const *x) {
    ox *b = &e->b;
    int i = ls->index, nl = ls->nlevels, nc = ls->nc, na = ls->na, no = 5 + nc;
    int dyn = e->o->dynamic;
    int64_t B = dyn ? 0 : e->o->batch; /* Reshape: 0 copies the input's batch */
    char prefix[64], scope[64], top[32], name[96];
    snprintf(top, sizeof top, "/model.%d", i);
    const float *anc;
    int64_t ashape[3] = {nl, na, 2};
    snprintf(name, sizeof name, "model.%d.anchors", i);
    TRY(exp_tensor(e, name, 3, ashape, &anc));

    grid_consts gc;
    const char *flatn = NULL, *offc = NULL;
    if (dyn) {
        int64_t flat[4] = {1, 1, 1, -1};
        exp_grid_consts(e, top, &gc);
        snprintf(name, sizeof name, "%s/grid/flat", top);
        flatn = ox_ints1(b, name, 4, flat);
        snprintf(name, sizeof name, "%s/grid/offset", top);
        offc = ox_scalar(b, name, -0.5f);
        snprintf(name, sizeof name, "%s/grid/zero", top);
        gc.zero = ox_scalar(b, name, 0.0f);
    }
    snprintf(name, sizeof name, "%s/two", top);
    const char *twoc = ox_scalar(b, name, 2.0f);
    const char *lv[SPEC_MAX_LEVELS];
    for (int l = 0; l < nl; l++) {
        int st = model_stride(e->m, l);
        const char *t;
        snprintf(prefix, sizeof prefix, "model.%d.m.%d", i, l);
        snprintf(scope, sizeof scope, "/model.%d/m.%d", i, l);
        TRY(exp_plainconv(e, prefix, scope, x[l], ls->ch[l], na * no, 1, &t));
        int64_t s4[4] = {B, na, no, -1}, perm[4] = {0, 2, 1, 3};
        t = exp_reshape(e, top, t, 4, s4);
        Onnx__NodeProto *tr = ox_node(b, "Transpose", top, 1, &t, 1, NULL);
        ox_attr_ints(b, tr, "perm", 4, perm);
        t = ox_op1(b, "Sigmoid", top, ox_out(tr, 0)); /* [B, no, na, H*W] */

        /* the cell offsets (x - 0.5, y - 0.5) and the anchor sizes in pixels */
        const char *cell, *anchor;
        if (!dyn) {
            int h = e->o->imgsz_h / st, w = e->o->imgsz_w / st;
            size_t hw = (size_t)h * w, Bn = (size_t)e->o->batch, per = 2 * (size_t)na * hw;
            float *cv = malloc((Bn + 1) * per * sizeof *cv);
            if (!cv) return err_set(YOLOC_ERR_NOMEM, "out of memory");
            float *av = cv + Bn * per;
            for (int a = 0; a < na; a++)
                for (size_t p = 0; p < hw; p++) {
                    size_t o = (size_t)a * hw + p, o2 = (size_t)na * hw + o;
                    cv[o] = (float)(int)(p % (size_t)w) - 0.5f;
                    cv[o2] = (float)(int)(p / (size_t)w) - 0.5f;
                    av[o] = anc[(l * na + a) * 2] * (float)st; /* YOLOv5's anchor_grid */
                    av[o2] = anc[(l * na + a) * 2 + 1] * (float)st;
                }
            for (size_t n = 1; n < Bn; n++) memcpy(cv + n * per, cv, per * sizeof *cv);
            int64_t cd[4] = {(int64_t)Bn, 2, na, (int64_t)hw}, ad[4] = {1, 2, na, (int64_t)hw};
            snprintf(name, sizeof name, "%s/grid%d", top, l);
            cell = ox_floats(b, name, 4, cd, cv);
            snprintf(name, sizeof name, "%s/anchor_grid%d", top, l);
            anchor = ox_floats(b, name, 4, ad, av);
            free(cv);
        } else {
            const char *gx, *gy;
            char gs[48];
            snprintf(gs, sizeof gs, "%s/grid", top);
            exp_cell_grid(e, gs, &gc, x[l], offc, flatn, &gx, &gy); /* [1, 1, 1, H*W] each */
            const char *xy[2] = {gx, gy};
            cell = exp_concat(e, gs, 2, xy, 1); /* [1, 2, 1, H*W] */
            float av[2 * SPEC_MAX_ANCHORS];
            for (int a = 0; a < na; a++) {
                av[a] = anc[(l * na + a) * 2] * (float)st;
                av[na + a] = anc[(l * na + a) * 2 + 1] * (float)st;
            }
            int64_t ad[4] = {1, 2, na, 1};
            snprintf(name, sizeof name, "%s/anchor_grid%d", top, l);
            anchor = ox_floats(b, name, 4, ad, av);
        }
        snprintf(name, sizeof name, "%s/stride%d", top, l);
        const char *stc = ox_scalar(b, name, (float)st);
        const char *xy = exp_slice(e, top, t, 1, 0, 2), *wh = exp_slice(e, top, t, 1, 2, 4),
                   *rest = exp_slice(e, top, t, 1, 4, no);
        xy = ox_op2(b, "Mul", top, ox_op2(b, "Add", top, ox_op2(b, "Mul", top, xy, twoc), cell),
                    stc);
        wh = ox_op2(b, "Mul", top, wh, twoc);
        wh = ox_op2(b, "Mul", top, ox_op2(b, "Mul", top, wh, wh), anchor);
        const char *parts[3] = {xy, wh, rest};
        int64_t s3[3] = {B, no, -1};
        lv[l] = exp_reshape(e, top, exp_concat(e, top, 3, parts, 1), 3, s3);
    }
    const char *all = exp_concat(e, top, nl, lv, 2), *outname = "output0";
    int64_t perm[3] = {0, 2, 1};
    Onnx__NodeProto *tr = ox_node(b, "Transpose", top, 1, &all, 1, &outname);
    ox_attr_ints(b, tr, "perm", 3, perm);
    e->out[i] = ox_out(tr, 0);
    return YOLOC_OK;
}

/* The module switch: one case per module kind the exporter writes. A new
 * kind is refused with the layer named until it gets its case. */
static status exp_layer(exporter *e, const layer_spec *ls) {
    const char *x[SPEC_MAX_FROM];
    for (int k = 0; k < ls->nfrom; k++) x[k] = ls->from[k] < 0 ? "images" : e->out[ls->from[k]];
    switch (ls->kind) {
    case MOD_CONV:
        return exp_conv(e, ls, x);
    case MOD_C2F:
        return exp_c2f(e, ls, x);
    case MOD_C3K2:
        return exp_c2f(e, ls, x);
    case MOD_C3:
        return exp_c3(e, ls, x);
    case MOD_C2PSA:
        return exp_c2psa(e, ls, x);
    case MOD_SPPF:
        return exp_sppf(e, ls, x);
    case MOD_UPSAMPLE:
        return exp_upsample(e, ls, x);
    case MOD_CONCAT:
        return exp_concat_layer(e, ls, x);
    case MOD_DETECT:
        return exp_detect_v8(e, ls, x);
    case MOD_DETECT_V5:
        return exp_detect_v5(e, ls, x);
    default:
        break;
    }
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
