/* SPDX-License-Identifier: MIT */
/*
 * tl_oci.c - write a FROM-scratch image (layers, config, manifest) and push
 * it over the registry HTTP API (docs/k8s.md, "Images without Docker").
 *
 *   for each layer:  libarchive writes a tar into layer_write(), which
 *                    hashes it (the diff_id) and deflates it (zlib, gzip
 *                    framing) into memory; the gzip bytes' hash is the
 *                    blob's digest
 *   config:          JSON naming the diff_ids, entrypoint, env, user
 *   push:            each blob HEAD -> (POST + PUT) unless present, then
 *                    PUT the manifest under the tag (tl_registry.c)
 *
 * The image is a few MB, so it stays in memory: no temporary files.
 */
#define _GNU_SOURCE   /* vasprintf */
#include "tl_oci.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tl_buf.h"
#include "tl_clock.h"
#include "tl_files.h"
#include "tl_log.h"
#include "tl_registry.h"

#define TL_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define TL_OCI_CONFIG   "application/vnd.oci.image.config.v1+json"
#define TL_OCI_LAYER    "application/vnd.oci.image.layer.v1.tar+gzip"
#define TL_OCI_MAX_LAYERS 4
#define TL_OCI_MAX_BLOB ((size_t)1 << 30)   /* far above any service image */

/* The platform the runtime was compiled for is the one the binary runs on. */
#if defined(__x86_64__)
#define TL_OCI_ARCH "amd64"
#elif defined(__aarch64__)
#define TL_OCI_ARCH "arm64"
#elif defined(__i386__)
#define TL_OCI_ARCH "386"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TL_OCI_ARCH "ppc64le"
#elif defined(__s390x__)
#define TL_OCI_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define TL_OCI_ARCH "riscv64"
#else
#error "tl_oci.c: name this platform's OCI architecture"
#endif

struct blob {
    struct tl_buf gz;            /* the compressed layer                       */
    char digest[72];             /* of gz                                      */
    char diff_id[72];            /* of the tar                                 */
    unsigned long long tar_bytes;
};

/* What layer_write() feeds: a running hash and a deflate stream. */
struct sink {
    gnutls_hash_hd_t tar_hash;
    z_stream z;
    struct tl_buf *out;
    unsigned long long tar_bytes;
    int failed;                  /* out of memory or a zlib error            */
};

int tl_oci_digest(const void *data, size_t len, char out[72])
{
    unsigned char md[32];

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, md) != 0)
        return -1;
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static void hex_digest(gnutls_hash_hd_t h, char out[72])
{
    unsigned char md[32];

    gnutls_hash_deinit(h, md);
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Deflate what is in s->z into s->out, until zlib wants more input (or,
 * with Z_FINISH, until the stream's end). */
static int sink_deflate(struct sink *s, int flush)
{
    unsigned char chunk[65536];
    int zr;

    do {
        s->z.next_out = chunk;
        s->z.avail_out = sizeof chunk;
        zr = deflate(&s->z, flush);
        if (zr == Z_STREAM_ERROR)
            return -1;
        if (tl_buf_append(s->out, chunk, sizeof chunk - s->z.avail_out,
                          TL_OCI_MAX_BLOB) != 0)
            return -1;
    } while (s->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    return 0;
}

static la_ssize_t layer_write(struct archive *a, void *arg, const void *buf, size_t n)
{
    struct sink *s = arg;

    if (s->failed || gnutls_hash(s->tar_hash, buf, n) != 0)
        goto fail;
    s->tar_bytes += n;
    s->z.next_in = (Bytef *)(uintptr_t)buf;
    s->z.avail_in = (uInt)n;      /* libarchive writes blocks of 10 KiB */
    if (sink_deflate(s, Z_NO_FLUSH) != 0)
        goto fail;
    return (la_ssize_t)n;
fail:
    s->failed = 1;
    archive_set_error(a, ENOMEM, "compressing the layer failed");
    return -1;
}

/* Every folder above dst ("/a/b/c" -> "a", "a/b") that seen ("\na\n...")
 * does not hold yet, as an entry; seen grows by each. */
static int add_parents(struct archive *a, const char *dst, struct tl_buf *seen)
{
    size_t len = strlen(dst);
    char key[4096];

    if (len + 2 >= sizeof key || (seen->len == 0 && tl_buf_append(seen, "\n", 1, SIZE_MAX)))
        return -1;
    for (size_t i = 1; i < len; i++) {
        struct archive_entry *e;

        if (dst[i] != '/')
            continue;
        snprintf(key, sizeof key, "\n%.*s\n", (int)(i - 1), dst + 1);
        if (strstr(seen->data, key) != NULL)
            continue;
        if (tl_buf_append(seen, key + 1, strlen(key) - 1, SIZE_MAX) != 0)
            return -1;
        key[i] = '\0';               /* the path alone: "\na/b" + 1 */
        e = archive_entry_new();
        if (e == NULL)
            return -1;
        archive_entry_set_pathname(e, key + 1);
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        archive_entry_set_mtime(e, 0, 0);
        if (archive_write_header(a, e) != ARCHIVE_OK) {
            archive_entry_free(e);
            return -1;
        }
        archive_entry_free(e);
    }
    return 0;
}

/* One file, read from src, as dst: mode 0755, owner 0:0, mtime 0. */
static int add_file(struct archive *a, const struct tl_oci_file *f, char *err, size_t errlen)
{
    struct archive_entry *e = NULL;
    char buf[65536];
    struct stat st;
    int fd, rc = -1;
    ssize_t n;

    fd = open(f->src, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", f->src, strerror(errno));
        goto cleanup;
    }
    e = archive_entry_new();
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    archive_entry_set_pathname(e, f->dst + 1);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_mtime(e, 0, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        snprintf(err, errlen, "layer entry %s: %s", f->dst, archive_error_string(a));
        goto cleanup;
    }
    for (off_t left = st.st_size; left > 0; left -= n) {   /* the size in the header */
        n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", f->src, n < 0 ? strerror(errno)
                                                          : "shorter than it was");
            goto cleanup;
        }
        if (n > left)
            n = (ssize_t)left;           /* grew meanwhile: the header rules */
        if (archive_write_data(a, buf, (size_t)n) != n) {
            snprintf(err, errlen, "layer entry %s: %s", f->dst, archive_error_string(a));
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    if (e != NULL)
        archive_entry_free(e);
    if (fd >= 0)
        close(fd);
    return rc;
}

int tl_oci_layer_write(const struct tl_oci_layer *l, struct tl_buf *gz, char digest[72],
                       char diff_id[72], unsigned long long *tar_bytes, char *err,
                       size_t errlen)
{
    struct sink s = { .out = gz };
    struct tl_buf seen = { 0 };
    struct archive *a = NULL;
    int zinit = 0, hinit = 0, rc = -1;

    if (gnutls_hash_init(&s.tar_hash, GNUTLS_DIG_SHA256) != 0)
        goto oom;
    hinit = 1;
    /* 15 + 16: gzip framing, whose header zlib writes with no time and no
     * name. Level 1: a few MB of binaries go to a registry next door, where
     * level 6 would cost a second for 10% fewer bytes. */
    if (deflateInit2(&s.z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        goto oom;
    zinit = 1;
    a = archive_write_new();
    if (a == NULL || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open(a, &s, NULL, layer_write, NULL) != ARCHIVE_OK) {
        snprintf(err, errlen, "cannot start the layer's tar: %s",
                 a ? archive_error_string(a) : "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < l->n; i++)
        if (l->files[i].dst[0] != '/' || add_parents(a, l->files[i].dst, &seen) != 0) {
            snprintf(err, errlen, "layer folder of %s: %s", l->files[i].dst,
                     archive_error_string(a) ? archive_error_string(a) : "bad path");
            goto cleanup;
        }
    for (size_t i = 0; i < l->n; i++)
        if (add_file(a, &l->files[i], err, errlen) != 0)
            goto cleanup;
    /* close pads the tar with its end blocks, through layer_write */
    if (archive_write_close(a) != ARCHIVE_OK || s.failed) {
        snprintf(err, errlen, "finishing the layer: %s", archive_error_string(a));
        goto cleanup;
    }
    s.z.avail_in = 0;
    if (sink_deflate(&s, Z_FINISH) != 0)
        goto oom;
    hex_digest(s.tar_hash, diff_id);
    hinit = 0;
    if (tl_oci_digest(gz->data, gz->len, digest) != 0)
        goto oom;
    *tar_bytes = s.tar_bytes;
    rc = 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory (writing a layer)");
cleanup:
    if (a != NULL)
        archive_write_free(a);
    if (zinit)
        deflateEnd(&s.z);
    if (hinit)
        gnutls_hash_deinit(s.tar_hash, NULL);
    tl_buf_free(&seen);
    return rc;
}

/* ---- the layer cache -------------------------------------------------- */

/* What names a cached layer: the format, and each file's image path and
 * identity on disk (no byte is read: a package upgrade changes size, mtime
 * or inode). -1 when a file cannot be looked at. */
static int cache_key(const struct tl_oci_layer *l, char key[17])
{
    static const char format[] = "tl_oci layer 1, gzip 1";
    uint64_t h = tl_fnv1a(TL_FNV_OFFSET, format, sizeof format);

    for (size_t i = 0; i < l->n; i++) {
        struct stat st;
        long long id[5];

        if (stat(l->files[i].src, &st) != 0)
            return -1;
        id[0] = (long long)st.st_size;
        id[1] = (long long)st.st_mtim.tv_sec;
        id[2] = (long long)st.st_mtim.tv_nsec;
        id[3] = (long long)st.st_ino;
        id[4] = (long long)st.st_dev;
        h = tl_fnv1a(h, l->files[i].dst, strlen(l->files[i].dst) + 1);
        h = tl_fnv1a(h, l->files[i].src, strlen(l->files[i].src) + 1);
        h = tl_fnv1a(h, id, sizeof id);
    }
    snprintf(key, 17, "%016llx", (unsigned long long)h);
    return 0;
}

static int read_all(const char *path, struct tl_buf *b)
{
    char chunk[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    ssize_t n;

    if (fd < 0)
        return -1;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || tl_buf_append(b, chunk, (size_t)n, TL_OCI_MAX_BLOB) != 0) {
            rc = -1;
            break;
        }
    }
    close(fd);
    return rc;
}

/* The layer from the cache: its bytes, and digests that the bytes are
 * checked against (a torn file is written anew, never pushed). */
static int cache_load(const struct tl_oci_layer *l, const char *key, struct blob *b)
{
    char path[4096], meta[512];
    struct tl_buf m = { 0 };
    unsigned long long gz_len = 0;
    int rc = -1;

    snprintf(path, sizeof path, "%s/%s.meta", l->cache, key);
    if (read_all(path, &m) != 0 || m.data == NULL ||
        sscanf(m.data, "%71s %71s %llu %llu", b->digest, b->diff_id, &b->tar_bytes,
               &gz_len) != 4)
        goto cleanup;
    snprintf(path, sizeof path, "%s/%s.tar.gz", l->cache, key);
    if (read_all(path, &b->gz) != 0 || b->gz.len != gz_len ||
        tl_oci_digest(b->gz.data, b->gz.len, meta) != 0 || strcmp(meta, b->digest) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc != 0)
        tl_buf_free(&b->gz);
    tl_buf_free(&m);
    return rc;
}

/* Write path from data by a temporary file and a rename: a reader sees the
 * whole file or none. */
static void write_whole(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    int fd;

    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return;
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0)
        unlink(tmp);
}

/* Keep the layer for the next image of the same libraries. Best effort: a
 * cache that cannot be written costs only time. */
static void cache_save(const struct tl_oci_layer *l, const char *key, const struct blob *b)
{
    char path[4096], meta[512];

    if (mkdir(l->cache, 0755) != 0 && errno != EEXIST) {
        tl_log_debug("layer cache %s: %s", l->cache, strerror(errno));
        return;
    }
    /* the data first, the meta that names it last */
    snprintf(path, sizeof path, "%s/%s.tar.gz", l->cache, key);
    write_whole(path, b->gz.data, b->gz.len);
    snprintf(meta, sizeof meta, "%s %s %llu %zu\n", b->digest, b->diff_id, b->tar_bytes,
             b->gz.len);
    snprintf(path, sizeof path, "%s/%s.meta", l->cache, key);
    write_whole(path, meta, strlen(meta));
}

/* ---- config and manifest ----------------------------------------------- */

/* printf onto the end of b; -1 when memory runs out. */
static int appendf(struct tl_buf *b, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    rc = tl_buf_append(b, s, (size_t)n, SIZE_MAX);
    free(s);
    return rc;
}

/* A JSON string literal of s. */
static int json_str(struct tl_buf *b, const char *s)
{
    int rc = tl_buf_append(b, "\"", 1, SIZE_MAX);

    for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++)
        if (*p == '"' || *p == '\\')
            rc = appendf(b, "\\%c", *p);
        else if (*p < 0x20)
            rc = appendf(b, "\\u%04x", *p);
        else
            rc = tl_buf_append(b, p, 1, SIZE_MAX);
    return rc == 0 ? tl_buf_append(b, "\"", 1, SIZE_MAX) : -1;
}

/* The image config (OCI image spec, "config.json"): no time stamps, so
 * that it is as reproducible as the layers. */
static int make_config(const struct tl_oci_config *c, const struct tl_oci_layer *layers,
                       const struct blob *blobs, size_t n, struct tl_buf *out)
{
    int rc = appendf(out, "{\"architecture\":\"" TL_OCI_ARCH "\",\"os\":\"linux\",\"config\":{");

    if (rc == 0 && c->user != NULL) {
        rc = appendf(out, "\"User\":");
        rc = rc ? rc : json_str(out, c->user);
        rc = rc ? rc : appendf(out, ",");
    }
    rc = rc ? rc : appendf(out, "\"Env\":[");
    for (size_t i = 0; c->env != NULL && c->env[i] != NULL && rc == 0; i++) {
        rc = i ? appendf(out, ",") : 0;
        rc = rc ? rc : json_str(out, c->env[i]);
    }
    rc = rc ? rc : appendf(out, "],\"Entrypoint\":[");
    rc = rc ? rc : json_str(out, c->entrypoint);
    rc = rc ? rc : appendf(out, "],\"WorkingDir\":\"/\"");
    if (rc == 0 && c->port > 0)
        rc = appendf(out, ",\"ExposedPorts\":{\"%d/tcp\":{}}", c->port);
    if (rc == 0 && c->label_key != NULL) {
        rc = appendf(out, ",\"Labels\":{");
        rc = rc ? rc : json_str(out, c->label_key);
        rc = rc ? rc : appendf(out, ":");
        rc = rc ? rc : json_str(out, c->label_value);
        rc = rc ? rc : appendf(out, "}");
    }
    rc = rc ? rc : appendf(out, "},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = appendf(out, "%s\"%s\"", i ? "," : "", blobs[i].diff_id);
    rc = rc ? rc : appendf(out, "]},\"history\":[");
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = appendf(out, "%s{\"created_by\":", i ? "," : "");
        rc = rc ? rc : json_str(out, layers[i].what ? layers[i].what : "turbolift");
        rc = rc ? rc : appendf(out, "}");
    }
    return rc ? rc : appendf(out, "]}");
}

static int make_manifest(const char *config_digest, size_t config_len,
                         const struct blob *blobs, size_t n, struct tl_buf *out)
{
    int rc = appendf(out, "{\"schemaVersion\":2,\"mediaType\":\"" TL_OCI_MANIFEST "\","
                     "\"config\":{\"mediaType\":\"" TL_OCI_CONFIG "\",\"digest\":\"%s\","
                     "\"size\":%zu},\"layers\":[", config_digest, config_len);

    for (size_t i = 0; i < n && rc == 0; i++)
        rc = appendf(out, "%s{\"mediaType\":\"" TL_OCI_LAYER "\",\"digest\":\"%s\","
                     "\"size\":%zu}", i ? "," : "", blobs[i].digest, blobs[i].gz.len);
    return rc ? rc : appendf(out, "]}");
}

int tl_oci_push(const char *host, const char *repo, const char *tag,
                const struct tl_oci_layer *layers, size_t nlayers,
                const struct tl_oci_config *config, long timeout_ms,
                struct tl_oci_stats *st, char *err, size_t errlen)
{
    struct blob blobs[TL_OCI_MAX_LAYERS];
    struct tl_buf cfg = { 0 }, man = { 0 };
    char cfg_digest[72];
    long t0 = tl_now_ms();
    int rc = -1, skipped;

    memset(st, 0, sizeof *st);
    memset(blobs, 0, sizeof blobs);
    if (nlayers == 0 || nlayers > TL_OCI_MAX_LAYERS) {
        snprintf(err, errlen, "an image of %zu layers (1 to %d)", nlayers, TL_OCI_MAX_LAYERS);
        return -1;
    }
    for (size_t i = 0; i < nlayers; i++) {
        char key[17];
        int keyed = layers[i].cache != NULL && cache_key(&layers[i], key) == 0;

        if (keyed && cache_load(&layers[i], key, &blobs[i]) == 0) {
            st->layers_cached++;
        } else {
            if (tl_oci_layer_write(&layers[i], &blobs[i].gz, blobs[i].digest,
                                   blobs[i].diff_id, &blobs[i].tar_bytes, err, errlen) != 0)
                goto cleanup;
            if (keyed)
                cache_save(&layers[i], key, &blobs[i]);
        }
        st->tar_bytes += blobs[i].tar_bytes;
        st->gz_bytes += blobs[i].gz.len;
    }
    if (make_config(config, layers, blobs, nlayers, &cfg) != 0 ||
        tl_oci_digest(cfg.data, cfg.len, cfg_digest) != 0 ||
        make_manifest(cfg_digest, cfg.len, blobs, nlayers, &man) != 0 ||
        tl_oci_digest(man.data, man.len, st->digest) != 0) {
        snprintf(err, errlen, "out of memory (writing the image config)");
        goto cleanup;
    }
    st->pack_ms = tl_now_ms() - t0;
    t0 = tl_now_ms();
    /* The manifest names the blobs: they go first. */
    for (size_t i = 0; i < nlayers; i++) {
        if (tl_registry_blob_put(host, repo, blobs[i].digest, blobs[i].gz.data,
                                 blobs[i].gz.len, timeout_ms, &skipped, err, errlen) != 0)
            goto cleanup;
        skipped ? st->blobs_skipped++ : st->blobs_sent++;
    }
    if (tl_registry_blob_put(host, repo, cfg_digest, cfg.data, cfg.len, timeout_ms,
                             &skipped, err, errlen) != 0)
        goto cleanup;
    skipped ? st->blobs_skipped++ : st->blobs_sent++;
    if (tl_registry_manifest_put(host, repo, tag, TL_OCI_MANIFEST, man.data, man.len,
                                 timeout_ms, err, errlen) != 0)
        goto cleanup;
    st->push_ms = tl_now_ms() - t0;
    rc = 0;
cleanup:
    for (size_t i = 0; i < nlayers && i < TL_OCI_MAX_LAYERS; i++)
        tl_buf_free(&blobs[i].gz);
    tl_buf_free(&cfg);
    tl_buf_free(&man);
    return rc;
}
