/* Model weights as safetensors files, named like PyTorch's state_dict.
 *
 * A weights file holds every parameter and BatchNorm running statistic as
 * F32, plus each BatchNorm's `num_batches_tracked` as an I64 scalar (so the
 * file loads into a PyTorch model with load_state_dict(strict=True)). The
 * `__metadata__` block carries: format "yoloc", yoloc_version, model (the
 * YAML name), model_yaml (its text), nc, names (a JSON list) and scale. */
#ifndef YOLOC_TRAIN_WEIGHTS_H
#define YOLOC_TRAIN_WEIGHTS_H

#include "core/status.h"
#include "nn/model.h"

/* Writes the model's weights atomically (PATH.tmp + rename). names may be
 * NULL (then "class0", ... are stored). */
status weights_save(model *m, const char *path, const char *const *names, int nnames);

/* Loads weights into a model: every model tensor must be in the file with
 * the same shape (F32; F16 and BF16 are converted), and the file must hold
 * no tensor the model lacks (num_batches_tracked entries are accepted and
 * set the BatchNorm counter). The first mismatch is the error, naming the
 * file and tensor; the model is unchanged on error. */
status weights_load(model *m, const char *path);

#endif
