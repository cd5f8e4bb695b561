/* SPDX-License-Identifier: MIT */
/*
 * tl_reply.h - an HTTP reply collected by libcurl, for the unit tests that
 * talk to a real service (test_service, test_hostile_body).
 */
#ifndef TL_TEST_REPLY_H
#define TL_TEST_REPLY_H

#include <stdlib.h>
#include <string.h>

struct reply {
    long status;
    char *body;             /* NUL-terminated; malloc'd */
    size_t size;
    char content_type[128];
};

/* CURLOPT_WRITEFUNCTION with a struct reply as CURLOPT_WRITEDATA. */
static inline size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    struct reply *r = userdata;
    char *grown = realloc(r->body, r->size + size * n + 1);

    if (grown == NULL)
        return 0;
    r->body = grown;
    memcpy(r->body + r->size, data, size * n);
    r->size += size * n;
    r->body[r->size] = '\0';
    return size * n;
}

#endif /* TL_TEST_REPLY_H */
