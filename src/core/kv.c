/* key=value argument parsing with typed, range-checked getters. */
#include "core/kv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int parse_long(const char *s, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) {
        /* accept integral floats such as "640.0" */
        double d;
        if (parse_double(s, &d) == 0 && d == floor(d) && fabs(d) < 9e18) {
            *out = (long)d;
            return 0;
        }
        return -1;
    }
    *out = v;
    return 0;
}

int parse_double(const char *s, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || isnan(v)) return -1;
    *out = v;
    return 0;
}

int parse_bool(const char *s, int *out) {
    static const char *t[] = {"true", "1", "yes", "on"};
    static const char *f[] = {"false", "0", "no", "off"};
    if (!s) return -1;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) return *out = 1, 0;
        if (strcasecmp(s, f[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

status kv_parse(kv_args *a, int argc, char **argv) {
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *tok = argv[i];
        const char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            return err_set(YOLOC_ERR_INVALID, "argument '%s' is not of the form key=value", tok);
        if (a->n >= KV_MAX) return err_set(YOLOC_ERR_INVALID, "too many arguments (max %d)", KV_MAX);
        /* keys are compared up to '=': store the token and the value pointer */
        for (int j = 0; j < a->n; j++)
            if (strlen(a->keys[j]) == (size_t)(eq - tok) - 0 && strncmp(a->keys[j], tok, (size_t)(eq - tok)) == 0)
                return err_set(YOLOC_ERR_INVALID, "key '%.*s' is given twice", (int)(eq - tok), tok);
        char *key = argv[i];
        key[eq - tok] = '\0'; /* split in place: argv strings are writable */
        a->keys[a->n] = key;
        a->vals[a->n] = eq + 1;
        a->n++;
    }
    return YOLOC_OK;
}

static int kv_find(kv_args *a, const char *key) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->keys[i], key) == 0) {
            a->used[i] = 1;
            return i;
        }
    return -1;
}

const char *kv_get(kv_args *a, const char *key) {
    int i = kv_find(a, key);
    return i < 0 ? NULL : a->vals[i];
}

status kv_int(kv_args *a, const char *key, long lo, long hi, long *out) {
    const char *v = kv_get(a, key);
    if (!v) return YOLOC_OK;
    long x;
    if (parse_long(v, &x) != 0 || x < lo || x > hi)
        return err_set(YOLOC_ERR_INVALID, "key '%s': expected an integer in [%ld, %ld], got '%s'", key,
                       lo, hi, v);
    *out = x;
    return YOLOC_OK;
}

status kv_double(kv_args *a, const char *key, double lo, double hi, double *out) {
    const char *v = kv_get(a, key);
    if (!v) return YOLOC_OK;
    double x;
    if (parse_double(v, &x) != 0 || x < lo || x > hi)
        return err_set(YOLOC_ERR_INVALID, "key '%s': expected a number in [%g, %g], got '%s'", key, lo,
                       hi, v);
    *out = x;
    return YOLOC_OK;
}

status kv_bool(kv_args *a, const char *key, int *out) {
    const char *v = kv_get(a, key);
    if (!v) return YOLOC_OK;
    if (parse_bool(v, out) != 0)
        return err_set(YOLOC_ERR_INVALID, "key '%s': expected True or False, got '%s'", key, v);
    return YOLOC_OK;
}

status kv_str(kv_args *a, const char *key, const char *const *allowed, const char **out) {
    const char *v = kv_get(a, key);
    if (!v) return YOLOC_OK;
    if (allowed) {
        int ok = 0;
        char list[512] = "";
        for (int i = 0; allowed[i]; i++) {
            if (strcmp(allowed[i], v) == 0) ok = 1;
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, allowed[i], sizeof list - strlen(list) - 1);
        }
        if (!ok) return err_set(YOLOC_ERR_INVALID, "key '%s': '%s' is not one of: %s", key, v, list);
    }
    *out = v;
    return YOLOC_OK;
}

status kv_unused(const kv_args *a, const char *command, const char *const *allowed) {
    for (int i = 0; i < a->n; i++) {
        if (a->used[i]) continue;
        char list[1024] = "";
        for (int j = 0; allowed && allowed[j]; j++) {
            strncat(list, j ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, allowed[j], sizeof list - strlen(list) - 1);
        }
        return err_set(YOLOC_ERR_INVALID, "unknown key '%s' for 'yoloc %s' (allowed: %s)", a->keys[i],
                       command, list);
    }
    return YOLOC_OK;
}
