/* A restricted reader of Python pickles (protocols 2 to 5), for PyTorch
 * checkpoints: it builds a tree of values and runs nothing.
 *
 * What a pickle can do is call a function with arguments (REDUCE) or make
 * an object of a class (NEWOBJ, then BUILD sets its state). Here:
 *   - a few callables are interpreted as data: collections.OrderedDict (a
 *     dict), torch._utils._rebuild_tensor_v2 / _rebuild_tensor (a tensor
 *     over a storage: offset, shape, stride), _rebuild_parameter and
 *     _rebuild_parameter_with_state (the tensor), torch.Size and tuple (a
 *     tuple), builtins set/frozenset (a set), _codecs.encode (bytes),
 *     copyreg._reconstructor (an object);
 *   - other calls and objects of data-only modules (torch, numpy,
 *     collections, ultralytics, YOLOv5's models/utils, argparse, types,
 *     pathlib, datetime) are recorded by name with their arguments (an
 *     object is its class's name, its arguments and its BUILD state, a
 *     module's attributes in a dict) and never called;
 *   - a call or object of any other global (os.system, builtins.eval,
 *     subprocess, ...) is refused with YOLOC_ERR_UNSUPPORTED naming it.
 * Storages come through persistent ids ('storage', torch.<Type>Storage,
 * key, location, numel): the tree holds the key, dtype and size; the
 * caller maps keys to bytes (io/ptfile.h).
 *
 * The input is untrusted: every read is bounds-checked, integers wider
 * than 64 bits, protocol 0/1 object opcodes, extension codes and
 * out-of-band buffers are refused, and the tree's size is bounded by the
 * input's. The memo can make the tree a graph with cycles: walkers bound
 * their depth (PK_MAX_DEPTH). */
#ifndef YOLOC_IO_PICKLE_H
#define YOLOC_IO_PICKLE_H

#include "core/status.h"
#include "core/tensor.h"

#include <stddef.h>
#include <stdint.h>

#define PK_MAX_DEPTH 64
#define PK_MAX_DIMS 8

typedef enum {
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_FLOAT,
    PK_STR,     /* UTF-8 */
    PK_BYTES,
    PK_TUPLE,
    PK_LIST,
    PK_DICT,    /* items: key, value, key, value, ... (n pairs: 2n items) */
    PK_SET,
    PK_GLOBAL,  /* s: "module.name" */
    PK_OBJECT,  /* s: the class; items: the constructor's arguments; state: BUILD's */
    PK_CALL,    /* s: the callable; items: the arguments (recorded, never called) */
    PK_STORAGE,
    PK_TENSOR
} pk_kind;

typedef struct pk_value pk_value;
struct pk_value {
    pk_kind kind;
    int64_t i;      /* BOOL, INT */
    double f;       /* FLOAT */
    const char *s;  /* STR, BYTES (NUL-terminated too), GLOBAL, OBJECT, CALL names */
    size_t len;     /* STR, BYTES: bytes */
    pk_value **items;
    size_t n;       /* items (DICT: pairs) */
    size_t cap;
    pk_value *state; /* OBJECT: BUILD's state, or NULL */
    /* STORAGE */
    const char *key; /* the archive's data/<key> */
    int dt;          /* dtype, or -1 for a storage type yoloc does not read (s names it) */
    uint64_t numel;  /* elements */
    /* TENSOR (over a STORAGE) */
    pk_value *storage;
    int64_t offset;
    int ndim;
    int64_t shape[PK_MAX_DIMS], stride[PK_MAX_DIMS];
};

typedef struct {
    pk_value *root;
    void *priv; /* the arena holding every value */
} pk_doc;

/* Reads a pickle of len bytes; label names it in messages ("X.pt:
 * data.pkl"). On failure doc is empty. */
status pk_parse(pk_doc *doc, const unsigned char *data, size_t len, const char *label);
void pk_free(pk_doc *doc);

/* dict lookup by string key; NULL when d is not a dict or has no such key. */
pk_value *pk_get(const pk_value *d, const char *key);
/* 1 for a PK_STR equal to s. */
int pk_is_str(const pk_value *v, const char *s);
/* The attribute dict of an OBJECT (its BUILD state, or the first element
 * of a (dict, slots) state tuple); NULL otherwise. */
pk_value *pk_attrs(const pk_value *obj);
/* Elements a tensor spans in its storage (offset + sum (shape-1) stride + 1;
 * 0 for an empty tensor) and its element count. */
uint64_t pk_tensor_span(const pk_value *t);
uint64_t pk_tensor_numel(const pk_value *t);

#endif
