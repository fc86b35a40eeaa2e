/* Logging: levelled lines to a stream (stderr by default).
 *
 * log_info() is for what a user wants to read during a run; log_warn() for
 * guard-rail findings and skipped inputs; log_error() for failures the CLI
 * reports; log_debug() only with YOLOC_LOG=debug or log_set_level(). */
#ifndef YOLOC_CORE_LOG_H
#define YOLOC_CORE_LOG_H

#include <stdio.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_QUIET } log_level;

void log_set_level(log_level lv);
log_level log_get_level(void);
void log_set_stream(FILE *f);
void log_msg(log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
