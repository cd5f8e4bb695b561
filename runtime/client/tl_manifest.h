/* SPDX-License-Identifier: MIT */
/*
 * tl_manifest.h - the manifest the plugin writes next to each service
 * translation unit (<service_dir>/service.yaml, docs/abi.md section 5).
 */
#ifndef TL_MANIFEST_H
#define TL_MANIFEST_H

#include <stddef.h>

struct tl_strlist {
    char **items;
    size_t count;
};

struct tl_manifest {
    char *path;             /* the file this was read from                  */
    char *dir;              /* its folder: relative paths are resolved here */
    int version;            /* "turbolift:"; only 1 is known                */
    char *function;
    char *target;
    char *signature;
    char *hash;
    char *source;
    int line;
    char *compiler;
    struct tl_strlist compile_flags;
    struct tl_strlist link_flags;
    char *service_source;   /* absolute (resolved against dir)              */
    char *service_object;   /* absolute (resolved against dir); compiled from
                               service_source at the first call when missing */
    char *unit;             /* the unit folder service.c was cut from, or NULL */
    struct tl_strlist external_symbols;
    struct tl_strlist captured;     /* names of the globals the stub sends  */
};

/*
 * Read <service_dir>/service.yaml. On failure returns -1 with a reason of
 * the form "FILE:LINE: key 'KEY': what is wrong" in err.
 */
int tl_manifest_load(const char *service_dir, struct tl_manifest **out,
                     char *err, size_t errlen);
void tl_manifest_free(struct tl_manifest *m);

#endif /* TL_MANIFEST_H */
