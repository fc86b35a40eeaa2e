/* Model YAMLs compiled into the library from models/ (every .yaml there; see
 * scripts/embed_models.cmake), so the stock models need no files. */
#ifndef YOLOC_NN_BUILTIN_H
#define YOLOC_NN_BUILTIN_H

typedef struct {
    const char *name; /* file name, e.g. "yolov8.yaml" */
    const char *text; /* its contents */
} builtin_model;

/* Terminated by {NULL, NULL}. */
extern const builtin_model builtin_models[];

#endif
