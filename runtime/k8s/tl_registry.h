/* SPDX-License-Identifier: MIT */
/*
 * tl_registry.h - the few calls of the registry HTTP API (v2) we need:
 * does a tag exist (skip build and push), push blobs and a manifest (the
 * direct push, tl_oci.c), list repositories and tags, and delete a tag
 * (turbolift gc).
 *
 * A registry on 127.0.0.0/8, localhost or ::1 is spoken to over http
 * (as Docker allows without configuration); any other over https, unless
 * TURBOLIFT_REGISTRY_INSECURE=1.
 */
#ifndef TL_REGISTRY_H
#define TL_REGISTRY_H

#include <stddef.h>

/* 1: repo:tag exists; 0: it does not (404); -1: cannot tell (err says why). */
int tl_registry_has(const char *registry, const char *repo, const char *tag,
                    long timeout_ms, char *err, size_t errlen);

/*
 * GET http(s)://registry/v2/<path>; the body in *body (malloc'd, NUL-
 * terminated). Returns the HTTP status, 0 with err set on a transport error.
 */
long tl_registry_get(const char *registry, const char *path, long timeout_ms,
                     char **body, char *err, size_t errlen);

/* Delete repo:tag (by its manifest digest). 0 on success. The registry must
 * allow deletion (storage.delete.enabled); blobs go at its next GC. */
int tl_registry_delete(const char *registry, const char *repo, const char *tag,
                       long timeout_ms, char *err, size_t errlen);

/*
 * Upload a blob (a layer or an image config) under repo: nothing is sent
 * when the registry has digest there already (*skipped = 1); else POST for
 * an upload URL and PUT the whole blob with ?digest=. 0, or -1 with err
 * (a registry that wants credentials says so).
 */
int tl_registry_blob_put(const char *registry, const char *repo, const char *digest,
                         const void *data, size_t len, long timeout_ms,
                         int *skipped, char *err, size_t errlen);

/* PUT the manifest (of media_type) as repo:tag. 0, or -1 with err. */
int tl_registry_manifest_put(const char *registry, const char *repo, const char *tag,
                             const char *media_type, const void *data, size_t len,
                             long timeout_ms, char *err, size_t errlen);

/*
 * The strings of the JSON array under "key" in a registry answer such as
 * {"repositories":["a","b"]} or {"name":"x","tags":["1","2"]}, read with
 * libyaml (JSON is YAML's flow style): calls fn for each. Returns the
 * count (0 for null), or -1 when the answer is no JSON object or the key
 * is missing.
 */
int tl_json_strings(const char *json, const char *key,
                    void (*fn)(const char *s, void *arg), void *arg);

/* Whether the registry is spoken to over plain http: a loopback address,
 * or any registry when TURBOLIFT_REGISTRY_INSECURE=1. */
int tl_registry_plain_http(const char *registry);

/* "host[:port]/some/prefix": the HTTP API is at host, and "some/prefix/"
 * begins the name of every repository there ("" when there is no prefix). */
void tl_registry_split(const char *registry, char *host, size_t hostlen,
                       char *prefix, size_t prefixlen);

#endif /* TL_REGISTRY_H */
