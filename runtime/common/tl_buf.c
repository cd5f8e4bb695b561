/* SPDX-License-Identifier: MIT */
/*
 * tl_buf.c - a growable byte buffer.
 */
#include "tl_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tl_buf_append(struct tl_buf *b, const void *data, size_t n, size_t max)
{
    if (n >= max || b->len >= max - n)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *grown;

        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > max)
            cap = max;          /* len + n + 1 <= max: still enough */
        grown = realloc(b->data, cap);
        if (grown == NULL)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tl_buf_printf(struct tl_buf *b, size_t max, const char *fmt, ...)
{
    char small[512], *text = small;
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof small) {
        text = malloc((size_t)n + 1);
        if (text == NULL)
            return -1;
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    rc = tl_buf_append(b, text, (size_t)n, max);
    if (text != small)
        free(text);
    return rc;
}

void tl_buf_free(struct tl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int tl_buf_has_line(const struct tl_buf *b, const char *name, size_t len)
{
    for (const char *p = b->data; p != NULL && p < b->data + b->len;) {
        const char *end = memchr(p, '\n', (size_t)(b->data + b->len - p));

        if (end == NULL)
            break;
        if ((size_t)(end - p) == len && memcmp(p, name, len) == 0)
            return 1;
        p = end + 1;
    }
    return 0;
}
