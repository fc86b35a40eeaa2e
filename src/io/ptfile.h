/* PyTorch checkpoint files (.pt, torch.save's zip format) read in C, with
 * nothing executed: the archive (io/zip.h), its pickle (io/pickle.h: a
 * restricted reader that refuses to call anything), and the tensors over
 * the archive's storages.
 *
 * Layout of such a file: one top folder (its name varies) holding data.pkl
 * (the pickled object), data/<key> (one entry per storage: the raw
 * little-endian elements), byteorder ("little") and version.
 *
 * What a checkpoint holds, as pt_to_safetensors reads it:
 *   - Ultralytics (8.x) and YOLOv5-repository checkpoints: a dict with
 *     'ema' and/or 'model' holding the model object (EMA preferred when
 *     present): its state dict is walked from the module tree
 *     (_parameters, persistent _buffers, _modules), its `yaml` dict gives
 *     the architecture, `names` the class names; 'train_args' / 'opt' the
 *     settings that produced it;
 *   - plain state dicts (torch.save(model.state_dict())), or a dict with a
 *     'state_dict' / 'model_state_dict' entry;
 *   - a whole model object (torch.save(model)).
 * Half-precision and bf16 tensors keep their dtype (the weight loaders
 * convert them). */
#ifndef YOLOC_IO_PTFILE_H
#define YOLOC_IO_PTFILE_H

#include "core/status.h"
#include "io/pickle.h"
#include "io/safetensors.h"
#include "io/zip.h"

typedef struct {
    char label[512];
    unsigned char *file; /* the whole file */
    size_t len;
    zip_archive z;
    char prefix[256]; /* the top folder, with its '/' */
    pk_doc doc;
    void *cache; /* private: extracted (deflated) storages */
} pt_file;

/* 1 when the first bytes are a zip archive's (PyTorch's format since 1.6). */
int pt_is_zip(const unsigned char *first, size_t len);

/* Opens a .pt file / memory image (copied); label names it in messages.
 * YOLOC_ERR_UNSUPPORTED for the legacy (pre-1.6, non-zip) format, a
 * big-endian file, or a pickle that calls anything not on the list
 * (pickle.h); YOLOC_ERR_PARSE for a damaged file. */
status pt_open(pt_file *f, const char *path);
status pt_open_memory(pt_file *f, const void *buf, size_t len, const char *label);
void pt_close(pt_file *f);

/* A tensor's elements, row-major and contiguous, in its stored dtype
 * (pk_tensor_numel(t) * dtype_size bytes into out). YOLOC_ERR_PARSE when
 * its storage is missing or shorter than its numel says;
 * YOLOC_ERR_UNSUPPORTED for a storage type yoloc does not read (named). */
status pt_tensor_read(pt_file *f, const pk_value *t, void *out);

/* The checkpoint's tensors (the state dict, as above) as an in-memory
 * safetensors handle, with metadata: format ("ultralytics", "yolov5",
 * "state_dict" or "module"), and where the checkpoint has them model_yaml
 * (the model's YAML dict as flow-style YAML: JSON, with the strings
 * Ultralytics evaluates, such as None and nc, left plain), model (its YAML file name), scale, nc,
 * names (a JSON list), train_args (JSON, what produced it: shown, never
 * applied), date, version. */
status pt_to_safetensors(pt_file *f, safetensors *out);
/* pt_open + pt_to_safetensors + pt_close. */
status pt_open_safetensors(safetensors *out, const char *path);

/* Writes tensors as a PyTorch state dict (torch.save of an OrderedDict of
 * tensors: the zip layout above, a protocol-2 pickle of
 * collections.OrderedDict and torch._utils._rebuild_tensor_v2 over typed
 * storages, each storage 64-byte aligned), which
 * torch.load(path, weights_only=True) reads and load_state_dict takes.
 * Atomic (PATH.tmp, then rename). */
status pt_write_state_dict(const char *path, const st_tensor *tensors, size_t n);

#endif
