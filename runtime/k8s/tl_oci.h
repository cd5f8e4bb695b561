/* SPDX-License-Identifier: MIT */
/*
 * tl_oci.h - a FROM-scratch OCI image written in memory and pushed over the
 * registry HTTP API: no container tool, no daemon (as ko and Jib do).
 *
 * Each layer is a tar (libarchive) of known files, gzip'd (zlib); the
 * config and the manifest are small JSON documents; the digests are
 * SHA-256 (GnuTLS). Everything is reproducible: fixed owner, mode and
 * mtime, a gzip header without a time, so the same files give the same
 * digests and a second push sends nothing but HEADs.
 */
#ifndef TL_OCI_H
#define TL_OCI_H

#include <stddef.h>

struct tl_oci_file {
    const char *src;            /* read from here (symlinks followed)         */
    const char *dst;            /* absolute path in the image                 */
};

struct tl_oci_layer {
    const struct tl_oci_file *files;
    size_t n;
    const char *what;           /* the history's created_by                   */
    const char *cache;          /* a folder to keep the written layer in, for
                                   files that rarely change (the libraries):
                                   found again by their paths, sizes, mtimes
                                   and inodes, it is not written again. NULL:
                                   none */
};

struct tl_oci_config {
    const char *entrypoint;     /* one path, e.g. /service                    */
    const char *const *env;     /* "K=V" strings, NULL-terminated             */
    const char *user;           /* "uid:gid"                                  */
    int port;                   /* exposed TCP port, 0 for none               */
    const char *label_key;      /* one label, or NULL                         */
    const char *label_value;
};

struct tl_oci_stats {
    unsigned long long tar_bytes;   /* layers before compression              */
    unsigned long long gz_bytes;    /* layers as stored in the registry       */
    unsigned blobs_sent;            /* blobs uploaded (the others were there) */
    unsigned blobs_skipped;
    unsigned layers_cached;         /* read from a layer cache, not written   */
    long pack_ms;                   /* tar + gzip + digests                   */
    long push_ms;                   /* blob HEADs, uploads, manifest PUT      */
    char digest[72];                /* the manifest's, "sha256:<hex>"         */
};

/*
 * Write the image of layers (bottom first) and config, and push it as
 * repo:tag to the registry whose API is at host (tl_registry_split). Every
 * request is bounded by timeout_ms. 0, or -1 with err set.
 */
int tl_oci_push(const char *host, const char *repo, const char *tag,
                const struct tl_oci_layer *layers, size_t nlayers,
                const struct tl_oci_config *config, long timeout_ms,
                struct tl_oci_stats *st, char *err, size_t errlen);

/*
 * One layer: the tar.gz of l appended to gz, its digest and its diff_id
 * (the digest of the tar) as "sha256:<hex>", the tar's size in *tar_bytes.
 * Folders above each file come first (mode 0755), then the files in l's
 * order. 0, or -1 with err.
 */
struct tl_buf;
int tl_oci_layer_write(const struct tl_oci_layer *l, struct tl_buf *gz, char digest[72],
                       char diff_id[72], unsigned long long *tar_bytes, char *err,
                       size_t errlen);

/* "sha256:" + the hex SHA-256 of data into out (72 bytes). 0, or -1. */
int tl_oci_digest(const void *data, size_t len, char out[72]);

#endif /* TL_OCI_H */
