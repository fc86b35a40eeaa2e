/* The registry of backends built in (one line each), and what device= and
 * backend= select. A new backend is a folder under src/ops/ with its table
 * (ops/backend.h) and one line in BACKENDS below. */
#include "ops/backend.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BACKENDS_MAX 16

static size_t names_len; /* of backend_names(); 0: to be written */

/* The backends built in, then those registered at run time
 * (backend_register), NULL terminated. */
static const ops_backend *BACKENDS[BACKENDS_MAX + 1] = {
    &OPS_BACKEND_REF, /* ops/ref/: the oracle, first */
    &OPS_BACKEND_CPU, /* ops/cpu/: oneDNN + OpenMP */
    NULL,
};

const ops_backend *const *backend_list(void) { return BACKENDS; }

status backend_register(const ops_backend *be) {
    size_t n = 0;
    while (BACKENDS[n]) {
        if (strcmp(BACKENDS[n]->name, be->name) == 0)
            return err_set(YOLOC_ERR_INVALID, "backend_register: a backend named '%s' exists", be->name);
        n++;
    }
    if (n >= BACKENDS_MAX) return err_set(YOLOC_ERR_INVALID, "backend_register: %d backends at most", BACKENDS_MAX);
    BACKENDS[n] = be;
    BACKENDS[n + 1] = NULL;
    names_len = 0; /* backend_names() lists it from now on */
    return YOLOC_OK;
}

backend backend_default(void) { return &OPS_BACKEND_CPU; }

const char *backend_name(backend be) { return be ? be->name : "none"; }

backend backend_find(const char *name) {
    if (!name) return NULL;
    if (strcmp(name, "onednn") == 0) name = "cpu";
    for (const ops_backend *const *b = BACKENDS; *b; b++)
        if (strcmp((*b)->name, name) == 0) return *b;
    return NULL;
}

const char *backend_names(void) {
    static char names[256];
    if (!names_len) {
        names[0] = 0;
        for (const ops_backend *const *b = BACKENDS; *b && names_len < sizeof names; b++)
            names_len += (size_t)snprintf(names + names_len, sizeof names - names_len, "%s%s", names_len ? ", " : "",
                                          (*b)->name);
    }
    return names;
}

/* "0", "0,1", "cuda", "cuda:0", "cuda:0,1": Ultralytics' GPU spellings. */
static int is_gpu_device(const char *dev) {
    if (strncasecmp(dev, "cuda", 4) == 0) {
        dev += 4;
        if (!*dev) return 1;
        if (*dev++ != ':') return 0;
    }
    if (!isdigit((unsigned char)*dev)) return 0;
    for (; *dev; dev++)
        if (!isdigit((unsigned char)*dev) && !(*dev == ',' && isdigit((unsigned char)dev[1]))) return 0;
    return 1;
}

status backend_select(const char *device, const char *name, backend *out) {
    *out = NULL;
    const char *dev = device && *device ? device : "cpu";
    int gpu = strcasecmp(dev, "cpu") != 0;
    if (gpu && !is_gpu_device(dev))
        return err_set(YOLOC_ERR_INVALID,
                       "key 'device': '%s' is not a device: use cpu, or GPU indices as Ultralytics spells them (0, "
                       "0,1, cuda:0)",
                       dev);
    if (gpu) {
        for (const ops_backend *const *b = BACKENDS; *b; b++)
            if ((*b)->gpu && (!name || !*name || strcmp(name, "cpu") == 0 || strcmp(name, (*b)->name) == 0)) {
                *out = *b;
                return YOLOC_OK;
            }
        return err_set(YOLOC_ERR_INVALID,
                       "key 'device': device=%s asks for a GPU, and this build of yoloc has no GPU backend (built "
                       "in: %s); use device=cpu",
                       dev, backend_names());
    }
    backend be = name && *name ? backend_find(name) : backend_default();
    if (!be)
        return err_set(YOLOC_ERR_INVALID, "key 'backend': '%s' is not a backend built in (built in: %s)", name,
                       backend_names());
    if (be->gpu)
        return err_set(YOLOC_ERR_INVALID, "key 'backend': backend=%s runs on a GPU; give device=0 (or 0,1, ...) with it",
                       name);
    *out = be;
    return YOLOC_OK;
}
