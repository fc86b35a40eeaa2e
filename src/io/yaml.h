/* YAML documents as a small tree with line numbers (libyaml underneath).
 *
 * Every node remembers where it came from, so a consumer can report
 * "models/yolov8.yaml:12:5: unknown module 'Conf'". Anchors and aliases are
 * not supported (an error naming the line). Merge keys are not special. */
#ifndef YOLOC_IO_YAML_H
#define YOLOC_IO_YAML_H

#include "core/status.h"

#include <stddef.h>

typedef enum { YNODE_SCALAR = 0, YNODE_SEQ, YNODE_MAP } ynode_kind;

typedef struct ynode ynode;
struct ynode {
    ynode_kind kind;
    int line, col;   /* 1-based position of the node's start */
    const char *str; /* SCALAR: the text (never NULL; "" for an empty value) */
    int quoted;      /* SCALAR: was single- or double-quoted */
    size_t n;        /* SEQ: items; MAP: pairs */
    ynode **items;   /* SEQ: items; MAP: values */
    const char **keys; /* MAP: keys (scalars only; a non-scalar key is a parse error) */
    int *key_lines;    /* MAP: line of each key */
};

typedef struct {
    ynode *root;      /* NULL for an empty document */
    const char *name; /* file path or the name given for a string */
    void *pool;       /* private: owns all nodes and strings */
} ydoc;

/* Loads the first document of a file. YOLOC_ERR_IO when it cannot be read,
 * YOLOC_ERR_PARSE with "path:line:col: problem" for bad YAML. */
status ydoc_load_file(ydoc *doc, const char *path);
/* Same from memory; `name` is used in messages. */
status ydoc_load_string(ydoc *doc, const char *text, size_t len, const char *name);
void ydoc_free(ydoc *doc);

/* Map lookup (exact key); NULL when absent or `map` is not a map. */
const ynode *ynode_get(const ynode *map, const char *key);
/* Unquoted null, ~ or empty scalar. */
int ynode_is_null(const ynode *n);
/* Conversions with errors naming "<doc>:<line>:<col>: <what>: expected a
 * number, got 'abc'". `what` names the key for the message. */
status ynode_double(const ydoc *doc, const ynode *n, const char *what, double *out);
status ynode_int(const ydoc *doc, const ynode *n, const char *what, long *out);
/* true/false/True/False/yes/no/on/off/1/0. */
status ynode_bool(const ydoc *doc, const ynode *n, const char *what, int *out);
/* The scalar text or an error if n is not a scalar. */
status ynode_str(const ydoc *doc, const ynode *n, const char *what, const char **out);
/* Sets an error "<doc>:<line>:<col>: <message>" and returns st. */
status ynode_error(const ydoc *doc, const ynode *n, status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
