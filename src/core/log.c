/* Levelled logging. The level starts from $YOLOC_LOG (debug|info|warn|error|quiet). */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static log_level g_level = LOG_INFO;
static int g_level_init = 0;
static FILE *g_stream = NULL;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void level_from_env(void) {
    if (g_level_init) return;
    g_level_init = 1;
    const char *e = getenv("YOLOC_LOG");
    if (!e) return;
    static const char *names[] = {"debug", "info", "warn", "error", "quiet"};
    for (int i = 0; i < 5; i++)
        if (strcmp(e, names[i]) == 0) g_level = (log_level)i;
}

void log_set_level(log_level lv) {
    g_level_init = 1;
    g_level = lv;
}

log_level log_get_level(void) {
    level_from_env();
    return g_level;
}

void log_set_stream(FILE *f) { g_stream = f; }

void log_msg(log_level lv, const char *fmt, ...) {
    level_from_env();
    if (lv < g_level) return;
    FILE *f = g_stream ? g_stream : stderr;
    static const char *prefix[] = {"debug: ", "", "warning: ", "error: ", ""};
    pthread_mutex_lock(&g_lock);
    fputs(prefix[lv], f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    size_t n = strlen(fmt);
    if (n == 0 || fmt[n - 1] != '\n') fputc('\n', f);
    fflush(f);
    pthread_mutex_unlock(&g_lock);
}
