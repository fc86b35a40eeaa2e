/* Status codes and the per-thread error message.
 *
 * Library code returns a status and sets a message with err_set(); callers
 * may add context in front of it with err_prefix(). Only src/cli/ turns a
 * status into an exit code. Broken invariants (programmer errors, never user
 * input) hit YOLOC_ASSERT, which is always on. */
#ifndef YOLOC_CORE_STATUS_H
#define YOLOC_CORE_STATUS_H

#include "yoloc.h"

#include <stdio.h>
#include <stdlib.h>

typedef int status; /* a yoloc_status value */

/* Sets this thread's error message (printf format) and returns st. */
status err_set(status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Puts "<context>: " in front of the current message; returns st. */
status err_prefix(status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the message. */
void err_clear(void);

/* Propagate a failing status. */
#define TRY(expr)                                                                \
    do {                                                                         \
        status try_st_ = (expr);                                                 \
        if (try_st_ < 0) return try_st_;                                         \
    } while (0)

/* Jump to the function's `fail:` label with st set. */
#define TRY_GOTO(st, expr)                                                       \
    do {                                                                         \
        (st) = (expr);                                                           \
        if ((st) < 0) goto fail;                                                 \
    } while (0)

#define YOLOC_ASSERT(expr)                                                       \
    do {                                                                         \
        if (!(expr)) {                                                           \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr); \
            abort();                                                             \
        }                                                                        \
    } while (0)

#endif
