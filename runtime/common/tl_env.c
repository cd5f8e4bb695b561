/* SPDX-License-Identifier: MIT */
/*
 * tl_env.c - see tl_env.h.
 */
#include "tl_env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

const char *tl_env(const char *name, const char *dflt)
{
    const char *value = getenv(name);

    return value != NULL && *value != '\0' ? value : dflt;
}

int tl_env_number(const char *name, unsigned long long min,
                  unsigned long long max, unsigned long long *value,
                  char *err, size_t errlen)
{
    const char *text = tl_env(name, NULL);
    unsigned long long parsed;
    char *end;

    if (text == NULL)
        return 0;
    errno = 0;
    parsed = strtoull(text, &end, 10);
    /* strtoull accepts "-1" and wraps it: a sign is refused here. */
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' ||
        text[0] == '+' || parsed < min || parsed > max) {
        snprintf(err, errlen, "%s=%s is not a number from %llu to %llu",
                 name, text, min, max);
        return -1;
    }
    *value = parsed;
    return 0;
}
