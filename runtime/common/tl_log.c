/* SPDX-License-Identifier: MIT */
/*
 * tl_log.c - see tl_log.h.
 */
#include "tl_log.h"
#include "tl_env.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static enum tl_log_level tl_log_threshold = TL_LOG_WARN;
static pthread_once_t tl_log_once = PTHREAD_ONCE_INIT;

static const char *const tl_log_names[] = { "error", "warn", "info", "debug" };

/* The level TURBOLIFT_LOG names, or -1 when it names none. */
static int tl_log_level_from(const char *value)
{
    for (unsigned i = 0; i < sizeof tl_log_names / sizeof tl_log_names[0]; i++)
        if (strcasecmp(value, tl_log_names[i]) == 0)
            return (int)i;
    return -1;
}

static void tl_log_read_env(void)
{
    const char *value = tl_env("TURBOLIFT_LOG", NULL);
    int level = value != NULL ? tl_log_level_from(value) : -1;

    /* A bad value is reported by tl_log_check_env, as an error of the
     * part that starts; the logger keeps warn meanwhile. */
    if (level >= 0)
        tl_log_threshold = (enum tl_log_level)level;
}

int tl_log_check_env(char *err, size_t errlen)
{
    const char *value = tl_env("TURBOLIFT_LOG", NULL);

    if (value == NULL || tl_log_level_from(value) >= 0)
        return 0;
    snprintf(err, errlen, "TURBOLIFT_LOG=%s is not one of error, warn, info, "
             "debug", value);
    return -1;
}

int tl_log_enabled(enum tl_log_level level)
{
    pthread_once(&tl_log_once, tl_log_read_env);
    return level <= tl_log_threshold;
}

static void tl_log_line(enum tl_log_level level, const char *fmt, va_list ap)
{
    static const char *const labels[] = { "error: ", "warning: ", "", "debug: " };
    char line[1024], *whole = NULL;
    va_list again;
    int n;

    va_copy(again, ap);
    n = vsnprintf(line, sizeof line, fmt, ap);
    /* A long message (every missing symbol of a link, every variable of
     * other files) is worth its length: never cut it. Only when memory runs
     * out does the first part stand for it. */
    if (n >= (int)sizeof line && (whole = malloc((size_t)n + 1)) != NULL)
        vsnprintf(whole, (size_t)n + 1, fmt, again);
    va_end(again);
    /* One fprintf per message so that lines from several threads or worker
     * processes sharing stderr do not interleave mid-line. */
    fprintf(stderr, "turbolift: %s%s\n", labels[level], whole != NULL ? whole : line);
    free(whole);
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
