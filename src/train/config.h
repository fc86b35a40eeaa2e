/* The configuration of a run: every option in one table (options.def),
 * parsed from key=value arguments and YAML files (cfg=hyp.yaml), validated
 * with messages that name the key and what is allowed, printed by
 * `yoloc help`, and written into every run directory as args.yaml.
 *
 * Later sources override earlier ones: defaults < cfg=FILE < command line.
 * None (null) as a value means the key's default; a YAML list (classes:
 * [0, 2]) is read as "0,2". pretrained=<file> sets weights= (Ultralytics'
 * spelling).
 * `config.given.<name>` says whether a key was set explicitly. */
#ifndef YOLOC_TRAIN_CONFIG_H
#define YOLOC_TRAIN_CONFIG_H

#include "core/kv.h"
#include "core/status.h"
#include "ops/ops.h"

#include <stdio.h>

typedef enum { OPT_INT, OPT_FLOAT, OPT_BOOL, OPT_STR, OPT_ENUM } opt_type;

#define OPT_FIELD_INT long
#define OPT_FIELD_FLOAT double
#define OPT_FIELD_BOOL int
#define OPT_FIELD_STR const char *
#define OPT_FIELD_ENUM const char *

typedef struct config_s {
#define OPT(name, type, def, lo, hi, allowed, help) OPT_FIELD_##type name;
#include "train/options.def"
#undef OPT
    struct {
#define OPT(name, type, def, lo, hi, allowed, help) unsigned char name;
#include "train/options.def"
#undef OPT
    } given;
    void *strings; /* private: owned copies of string values */
} config;

typedef struct {
    const char *name;
    opt_type type;
    const char *def;
    double lo, hi;
    const char *allowed; /* ENUM: "a|b|c" */
    const char *help;
} opt_info;

/* The table (in options.def order) and its size. */
const opt_info *config_options(size_t *n);
const opt_info *config_find(const char *name);

/* Sets every option to its default. */
status config_init(config *c);
void config_free(config *c);
/* Sets one option from text; `where` prefixes errors (e.g. "hyp.yaml:3"). */
status config_set(config *c, const char *key, const char *value, const char *where);
/* Applies key=value arguments; cfg=FILE is loaded first when present. */
status config_apply_args(config *c, kv_args *a);
/* Where runs go, as Ultralytics 8 lays them out: project (runs/detect when
 * not given) and name (the command's mode, "train", "val", "predict", when
 * not given); file_run_dir (io/file.h) then adds 2, 3, ... */
const char *config_project(const config *c);
const char *config_run_name(const config *c, const char *mode);
/* classes= as a list of distinct class indices (at most cap; *n 0: the key
 * is empty, every class). list NULL: only checks the syntax and counts.
 * YOLOC_ERR_INVALID naming the key for a bad list. Whether each class
 * exists is for the dataset (dataset_options) and NMS (nms_cfg) to say. */
status config_classes(const config *c, int *list, int cap, int *n);
/* The dataset selection keys (fraction of train, single_cls, classes) as
 * dataset_options for `use` "train" (the training's dataset) or "val";
 * classes go into list (cap entries). */
struct dataset_options;
status config_dataset_options(const config *c, const char *use, int *list, int cap,
                              struct dataset_options *o);
/* The notes of the Ultralytics keys given here that change nothing in
 * `command` ("train", "val", "predict", "bench", ...): one line each, and
 * mode= when it is not the command. */
void config_notes(const config *c, const char *command, FILE *f);
/* Applies a YAML mapping of key: value (errors name file:line and key). */
status config_load_yaml(config *c, const char *path);
/* The backend that device= and backend= select (ops/backend.h
 * backend_select); YOLOC_ERR_INVALID naming the key when the two do not go
 * together. */
status config_backend(const config *c, backend *out);
/* Writes every option as YAML (args.yaml). */
void config_write_yaml(const config *c, FILE *f);
/* `yoloc help [key]`: all options, or one with its default and range. */
status config_help(FILE *f, const char *key);
/* The value of an option as text (for printing); buf receives it. */
const char *config_value_str(const config *c, const opt_info *o, char *buf, size_t cap);

#endif
