/* SPDX-License-Identifier: MIT */
/*
 * tl_log.c - see tl_log.h.
 */
#include "tl_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static enum tl_log_level tl_log_threshold = TL_LOG_WARN;
static pthread_once_t tl_log_once = PTHREAD_ONCE_INIT;

static void tl_log_read_env(void)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    const char *value = getenv("TURBOLIFT_LOG");

    if (value == NULL || *value == '\0')
        return;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            tl_log_threshold = (enum tl_log_level)i;
            return;
        }
    }
    /* Say so once rather than silently ignore a typo. */
    fprintf(stderr, "turbolift: warning: TURBOLIFT_LOG=%s is not one of "
            "error, warn, info, debug; using warn\n", value);
}

int tl_log_enabled(enum tl_log_level level)
{
    pthread_once(&tl_log_once, tl_log_read_env);
    return level <= tl_log_threshold;
}

static void tl_log_line(enum tl_log_level level, const char *fmt, va_list ap)
{
    static const char *const labels[] = { "error: ", "warning: ", "", "debug: " };
    char line[1024];

    vsnprintf(line, sizeof line, fmt, ap);
    /* One fprintf per line so that lines from several threads or worker
     * processes sharing stderr do not interleave mid-line. */
    fprintf(stderr, "turbolift: %s%s\n", labels[level], line);
}

void tl_log(enum tl_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!tl_log_enabled(level))
        return;
    va_start(ap, fmt);
    tl_log_line(level, fmt, ap);
    va_end(ap);
}

void tl_log_progress(int shown, const char *fmt, ...)
{
    va_list ap;

    if (!shown && !tl_log_enabled(TL_LOG_INFO))
        return;
    va_start(ap, fmt);
    tl_log_line(TL_LOG_INFO, fmt, ap);
    va_end(ap);
}
