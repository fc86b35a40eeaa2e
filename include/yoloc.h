/* yoloc public C API.
 *
 * Status codes are shared by the whole library: every function that can fail
 * on user input returns a yoloc_status (0 = ok, negative = error) and leaves a
 * human-readable message naming the file, line or key at fault, readable with
 * yoloc_last_error() on the same thread. */
#ifndef YOLOC_H
#define YOLOC_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, default message). One list generates the enum, the name
 * strings and the default messages. */
#define YOLOC_STATUS_MAP(X)                                                      \
    X(OK, 0, "ok")                                                               \
    X(ERR_NOMEM, -1, "out of memory")                                            \
    X(ERR_IO, -2, "input/output error")                                          \
    X(ERR_PARSE, -3, "parse error")                                              \
    X(ERR_INVALID, -4, "invalid argument")                                       \
    X(ERR_SHAPE, -5, "shape mismatch")                                           \
    X(ERR_NOT_FOUND, -6, "not found")                                            \
    X(ERR_UNSUPPORTED, -7, "unsupported")                                        \
    X(ERR_BACKEND, -8, "backend failure")                                        \
    X(ERR_NUMERIC, -9, "non-finite value")                                       \
    X(ERR_INTERNAL, -10, "internal error")

typedef enum {
#define YOLOC_STATUS_ENUM(name, value, msg) YOLOC_##name = value,
    YOLOC_STATUS_MAP(YOLOC_STATUS_ENUM)
#undef YOLOC_STATUS_ENUM
} yoloc_status;

#define YOLOC_STATUS_COUNT 11

/* "ERR_IO" for YOLOC_ERR_IO; "UNKNOWN" for a value not in the list. */
const char *yoloc_status_name(int status);
/* The default message for a status ("input/output error"). */
const char *yoloc_status_message(int status);
/* The message of the last error set on this thread (never NULL). */
const char *yoloc_last_error(void);
/* The library version string, e.g. "0.1.0". */
const char *yoloc_version(void);

#ifdef __cplusplus
}
#endif
#endif /* YOLOC_H */
