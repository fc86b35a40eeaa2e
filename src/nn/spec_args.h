/* What a module's parse function (nn/module.h) gets from the model-YAML
 * parser (nn/spec.c): the layer's row and its arguments, resolved and
 * checked with errors that name the file, line and layer. Internal to nn/. */
#ifndef YOLOC_NN_SPEC_ARGS_H
#define YOLOC_NN_SPEC_ARGS_H

#include "io/yaml.h"
#include "nn/spec.h"

struct spec_args {
    const ydoc *doc;
    const ynode *row, *args, *from, *num;
    const ynode *anchors; /* the YAML's top-level anchors: list (NULL: none) */
    model_spec *sp;
    int i;          /* the layer's index */
    long n;         /* repeats after depth scaling */
    const int *ch;  /* output channels of the layers before */
    int nf;         /* inputs */
};

/* A resolved argument: None, a number (also `nc`), a bool, a string, a list. */
typedef enum { SPEC_NONE, SPEC_NUM, SPEC_BOOL, SPEC_STR, SPEC_LIST } spec_vkind;
typedef struct {
    spec_vkind kind;
    double num;
    const char *str;
} spec_val;

/* Argument k (0-based) resolved; a missing argument is None. */
status spec_value(const spec_args *a, size_t k, spec_val *v);
const ynode *spec_arg(const spec_args *a, size_t k); /* NULL when absent */
/* "<mod> takes <usage>, got N arguments" unless lo <= count <= hi. */
status spec_argc(const spec_args *a, const char *mod, size_t lo, size_t hi, const char *usage);
/* Argument k as an integer in [lo, hi] / a bool / a number in (0, hi]
 * (absent or None: def; an integer whose def is outside [lo, hi] is
 * required), errors naming it `what`. */
status spec_int(const spec_args *a, size_t k, int def, int lo, int hi, const char *what, int *out);
status spec_bool(const spec_args *a, size_t k, int def, const char *what, int *out);
status spec_ratio(const spec_args *a, size_t k, float def, float hi, const char *what, float *out);
/* An error at the layer's row (node NULL) or at a node. */
status spec_error(const spec_args *a, const ynode *node, status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Ultralytics' channel scaling: make_divisible(min(c2, max_channels) * width, 8), c2 == nc kept. */
int spec_channels(const spec_args *a, int c2);
/* Channels and stride of input k (the image: its channels, stride 1). */
int spec_in_channels(const spec_args *a, int k);
int spec_in_stride(const spec_args *a, int k);
/* YOLOv5's anchors for a Detect with nlevels inputs: `arg` is its second
 * argument (the top-level key's name or an inline list); sets sp->na and
 * sp->anchors. */
status spec_anchors(spec_args *a, const ynode *arg, int nlevels);

#endif
