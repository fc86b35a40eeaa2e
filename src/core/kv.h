/* key=value arguments, the language of the command line (Ultralytics style:
 * `yoloc info model=yolov8n.yaml imgsz=640`).
 *
 * kv_parse() splits the tokens; typed getters convert a value and mark the
 * key used, with an error naming the key and what is allowed; kv_unused()
 * reports the first key no getter asked for ("unknown key"). */
#ifndef YOLOC_CORE_KV_H
#define YOLOC_CORE_KV_H

#include "core/status.h"

#include <stddef.h>

#define KV_MAX 128

typedef struct {
    int n;
    const char *keys[KV_MAX];
    const char *vals[KV_MAX];
    int used[KV_MAX];
} kv_args;

/* Parses argv tokens of the form key=value. A token without '=' or with an
 * empty key, or a key given twice, is YOLOC_ERR_INVALID naming the token.
 * The strings are not copied (argv must outlive args). */
status kv_parse(kv_args *a, int argc, char **argv);
/* Raw value or NULL (marks the key used). */
const char *kv_get(kv_args *a, const char *key);
/* Typed getters: leave *out untouched (the default) when the key is absent.
 * Errors: "key 'imgsz': expected an integer in [32, 8192], got 'abc'". */
status kv_int(kv_args *a, const char *key, long lo, long hi, long *out);
status kv_double(kv_args *a, const char *key, double lo, double hi, double *out);
/* True/False/true/false/1/0/yes/no. */
status kv_bool(kv_args *a, const char *key, int *out);
/* String value; optional list of allowed values (NULL-terminated) */
status kv_str(kv_args *a, const char *key, const char *const *allowed, const char **out);
/* YOLOC_ERR_INVALID "unknown key 'x' for 'yoloc info' (allowed: a, b, c)"
 * when some key was never asked for. `allowed` lists the command's keys. */
status kv_unused(const kv_args *a, const char *command, const char *const *allowed);

/* Parsing helpers shared with YAML configs. 0 on success, -1 otherwise. */
int parse_long(const char *s, long *out);
int parse_double(const char *s, double *out);
int parse_bool(const char *s, int *out);

#endif
