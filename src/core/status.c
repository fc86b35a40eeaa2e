/* Status names/messages (from the X-macro list) and the per-thread error
 * message buffer. */
#include "core/status.h"

#include <stdarg.h>
#include <string.h>

#define ERR_CAP 2048
static _Thread_local char err_buf[ERR_CAP];

#define COUNT_ONE(name, value, msg) +1
_Static_assert((0 YOLOC_STATUS_MAP(COUNT_ONE)) == YOLOC_STATUS_COUNT,
               "YOLOC_STATUS_COUNT does not match the status list");
#undef COUNT_ONE

const char *yoloc_status_name(int st) {
    switch (st) {
#define NAME_CASE(name, value, msg)                                              \
    case value: return #name;
        YOLOC_STATUS_MAP(NAME_CASE)
#undef NAME_CASE
    }
    return "UNKNOWN";
}

const char *yoloc_status_message(int st) {
    switch (st) {
#define MSG_CASE(name, value, msg)                                               \
    case value: return msg;
        YOLOC_STATUS_MAP(MSG_CASE)
#undef MSG_CASE
    }
    return "unknown status";
}

const char *yoloc_last_error(void) { return err_buf[0] ? err_buf : "no error message"; }

const char *yoloc_version(void) { return YOLOC_VERSION; }

status err_set(status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, ERR_CAP, fmt, ap);
    va_end(ap);
    return st;
}

status err_prefix(status st, const char *fmt, ...) {
    char ctx[ERR_CAP], old[ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, ERR_CAP, fmt, ap);
    va_end(ap);
    memcpy(old, err_buf, ERR_CAP);
    const char *tail = old[0] ? old : yoloc_status_message(st);
    size_t n = strnlen(ctx, ERR_CAP - 3);
    memcpy(err_buf, ctx, n);
    memcpy(err_buf + n, ": ", 2);
    size_t room = ERR_CAP - n - 3, m = strnlen(tail, room);
    memcpy(err_buf + n + 2, tail, m);
    err_buf[n + 2 + m] = 0;
    return st;
}

void err_clear(void) { err_buf[0] = 0; }
