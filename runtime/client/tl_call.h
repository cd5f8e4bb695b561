/* SPDX-License-Identifier: MIT */
/*
 * tl_call.h - runtime internals of __turbolift_call exposed for tests.
 */
#ifndef TL_CALL_H
#define TL_CALL_H

#include <stddef.h>

/* The stub's descriptor (docs/abi.md, section 3), parsed. */
struct tl_descriptor {
    int version;
    char *function;
    char *target;
    char *signature;
    char *hash;
    char *service_dir;
    char *source;              /* "file:line"                              */
};

/* Parse "key=value" lines. Unknown keys are ignored (a newer plugin may
 * add some); version must be 1 and function, target, signature, hash and
 * service_dir must be present. */
int tl_descriptor_parse(const char *text, struct tl_descriptor *out,
                        char *err, size_t errlen);
void tl_descriptor_clear(struct tl_descriptor *d);

#endif /* TL_CALL_H */
