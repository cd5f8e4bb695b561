/* SPDX-License-Identifier: MIT */
/*
 * tl_buf.h - a growable byte buffer, for output collected piece by piece:
 * a child's stdout, an HTTP body, an emitted YAML stream.
 */
#ifndef TL_BUF_H
#define TL_BUF_H

#include <stddef.h>

struct tl_buf {
    char *data;             /* NULL until the first append; then always
                               NUL-terminated, so text can be read as is */
    size_t len, cap;
};

/* Append data[0..n), growing the buffer by doubling. Returns -1 and appends
 * nothing when the contents would reach max bytes (room for the NUL
 * included) or memory runs out. */
int tl_buf_append(struct tl_buf *b, const void *data, size_t n, size_t max);

/* Append printf-style text, of any length, up to max bytes in all. */
int tl_buf_printf(struct tl_buf *b, size_t max, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void tl_buf_free(struct tl_buf *b);

/* Whether name[0..len) is a whole line of b's text ("...\nname\n..."):
 * lists of symbol names are kept one per line. */
int tl_buf_has_line(const struct tl_buf *b, const char *name, size_t len);

#endif /* TL_BUF_H */
