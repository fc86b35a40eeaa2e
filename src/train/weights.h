/* Model weights as safetensors files, named like PyTorch's state_dict
 * (PyTorch .pt checkpoints are read too, through io/ptfile.h).
 *
 * A weights file holds every parameter and BatchNorm running statistic as
 * F32, plus each BatchNorm's `num_batches_tracked` as an I64 scalar (so the
 * file loads into a PyTorch model with load_state_dict(strict=True)). The
 * `__metadata__` block carries: format "yoloc", yoloc_version, model (the
 * YAML name), model_yaml (its text), nc, names (a JSON list) and scale. */
#ifndef YOLOC_TRAIN_WEIGHTS_H
#define YOLOC_TRAIN_WEIGHTS_H

#include "core/status.h"
#include "io/safetensors.h"
#include "nn/model.h"

/* Writes the model's weights atomically (PATH.tmp + rename). names may be
 * NULL (then "class0", ... are stored). */
status weights_save(model *m, const char *path, const char *const *names, int nnames);

/* Writes the model's state dict (the same tensors as weights_save) as a
 * PyTorch .pt file (io/ptfile.h pt_write_state_dict): torch.load(PATH,
 * weights_only=True) and load_state_dict(strict=True) take it. */
status weights_save_pt(model *m, const char *path);

#define WEIGHTS_NAME_CAP 128

/* What a checkpoint adds to a weights file. */
typedef struct {
    const float *params, *bufs; /* stored as the model's tensors instead of the model's own
                                   (e.g. the EMA); NULL: the model's */
    int64_t bn_batches;         /* num_batches_tracked stored with params */
    const st_tensor *tensors;   /* more tensors, names as given */
    size_t ntensors;
    const char *const *meta_keys, *const *meta_vals; /* more metadata */
    size_t nmeta;
} weights_extra;
status weights_save_ex(model *m, const char *path, const char *const *names, int nnames,
                       const weights_extra *x);

/* Fills ts with every model tensor taken from params/bufs (the model's
 * layout), named prefix + state_dict name, and (nbt != NULL) an I64
 * num_batches_tracked after each running_var. ts and names need room for
 * 2 * model_num_tensors(m) entries. Returns the count. */
size_t weights_tensor_list(model *m, const float *params, const float *bufs, const int64_t *nbt,
                           const char *prefix, st_tensor *ts, char (*names)[WEIGHTS_NAME_CAP]);

/* Loads weights into a model: every model tensor must be in the file with
 * the same shape (F32; F16 and BF16 are converted), and the file must hold
 * no tensor the model lacks (num_batches_tracked entries are accepted and
 * set the BatchNorm counter). The first mismatch is the error, naming the
 * file and tensor; the model is unchanged on error. */
status weights_load(model *m, const char *path);

/* What weights_load_partial transferred. Items count like a PyTorch
 * state_dict (as Ultralytics' "Transferred 342/349 items"): every model
 * tensor plus one num_batches_tracked per BatchNorm. */
#define WEIGHTS_REPORT_LIST 4
typedef struct {
    size_t items, items_loaded;   /* state_dict entries of the model, and taken from the file */
    size_t params, params_loaded; /* parameter floats of the model, and taken from the file */
    size_t missing;               /* model tensors the file lacks */
    size_t shape_mismatch;        /* ... the file has with another shape */
    size_t dtype_mismatch;        /* ... the file has with a dtype that is not a float (or, for
                                     num_batches_tracked, not an integer scalar) */
    size_t unused;                /* file tensors the model has no use for */
    /* the first WEIGHTS_REPORT_LIST re-initialised tensors, with the reason */
    char skipped[WEIGHTS_REPORT_LIST][192];
    size_t nlisted;
} weights_report;

/* Loads every model tensor whose name and shape match a float tensor of the
 * file (F32; F16/BF16 converted) and every num_batches_tracked stored as an
 * integer scalar; the other tensors keep their values (the fresh
 * initialisation of a new model: fine-tuning with another nc). File tensors
 * the model lacks (and train.* entries) are ignored and counted. Errors:
 * what st_open reports (missing or corrupt file), and YOLOC_ERR_SHAPE when
 * no tensor at all matches (weights for another model; the model is then
 * unchanged). r (may be NULL) receives the counts. */
status weights_load_partial(model *m, const char *path, weights_report *r);
/* One line for the log: "Transferred 343/349 items (...) from PATH; ...". */
void weights_report_format(const weights_report *r, const char *path, char *buf, size_t cap);

/* The model a weights file describes: its spec from the metadata (model
 * YAML text, name, scale, nc) and its class names (*names: nc malloc'd
 * strings in one block, free with free(); NULL when absent). */
status weights_read_spec(const char *path, model_spec *spec, char ***names, int *nnames);

/* 1 when model= names a weights file (.safetensors or a PyTorch .pt)
 * rather than a model YAML. */
int weights_is_file(const char *model_arg);

/* The spec of a model argument: a model YAML (model_spec_load), or a
 * weights file's (weights_read_spec). nc > 0: the classes asked for (a
 * weights file must have them). */
status weights_model_spec(const char *model_arg, int nc, model_spec *spec);

/* A model ready to run: `model` is a model YAML (built-in or file) or a
 * weights file (weights_is_file: .safetensors, its YAML in the metadata;
 * .pt, an Ultralytics or YOLOv5 checkpoint whose model object holds its
 * YAML, io/ptfile.h); `weights`, if
 * not NULL/empty, is loaded into it. nc > 0: the number of classes the
 * caller's dataset has (a YAML model is built with it; a weights file must
 * agree). names/nnames (may be NULL): the class names stored in the weights
 * file (free() *names). */
status weights_open_model(const char *model_arg, const char *weights, int nc, const model_options *opt,
                          uint64_t seed, model **out, char ***names, int *nnames);

/* Training checkpoints carry extra tensors under this prefix (optimizer
 * state, the non-averaged weights); weights_load ignores them. */
#define WEIGHTS_TRAIN_PREFIX "train."

#endif
