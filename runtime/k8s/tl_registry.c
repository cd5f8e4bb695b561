/* SPDX-License-Identifier: MIT */
/*
 * tl_registry.c - registry HTTP API v2 with libcurl: tag exists, list,
 * delete, and the three steps of a push (blob HEAD, upload, manifest PUT).
 *
 * Each request uses its own easy handle: these are a handful of requests
 * per deployment, off the call path.
 */
#define _GNU_SOURCE   /* asprintf, strndup */
#include "tl_registry.h"
#include "tl_yaml_read.h"
#include "tl_buf.h"
#include "tl_env.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every manifest media type a pushed image may have. */
#define TL_ACCEPT "Accept: application/vnd.docker.distribution.manifest.v2+json, " \
    "application/vnd.oci.image.manifest.v1+json, " \
    "application/vnd.docker.distribution.manifest.list.v2+json, " \
    "application/vnd.oci.image.index.v1+json"

struct body {
    struct tl_buf b;
    int oom;                    /* too large, or out of memory: incomplete */
};

/* What one request sends and what it wants back. */
struct req {
    const char *method;         /* GET, HEAD, POST, PUT, DELETE             */
    const void *data;           /* body to send (POST, PUT), or NULL        */
    size_t len;
    const char *content_type;   /* of data                                  */
    struct body *b;             /* the answer's body, or NULL: dropped      */
    char digest[128];           /* out: Docker-Content-Digest               */
    char location[2048];        /* out: Location (an upload's URL)          */
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;

    /* At most 16 MiB (and its NUL): a catalog page is far smaller. */
    if (tl_buf_append(&b->b, p, size * n, ((size_t)16 << 20) + 1) != 0) {
        b->oom = 1;
        return 0;
    }
    return size * n;
}

/* The value of header key (with its colon) in the line p[0..len), into out. */
static void header_value(const char *p, size_t len, const char *key, char *out,
                         size_t outlen)
{
    size_t kl = strlen(key);
    const char *v = p + kl;
    size_t vl = len - kl;

    if (len <= kl || strncasecmp(p, key, kl) != 0)
        return;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (vl < outlen) {
        memcpy(out, v, vl);
        out[vl] = '\0';
    }
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct req *q = arg;

    header_value(p, size * n, "Docker-Content-Digest:", q->digest, sizeof q->digest);
    header_value(p, size * n, "Location:", q->location, sizeof q->location);
    return size * n;
}

int tl_registry_plain_http(const char *registry)
{
    const char *insecure = tl_env("TURBOLIFT_REGISTRY_INSECURE", "0");

    if (strcmp(insecure, "1") == 0)
        return 1;
    return strncmp(registry, "127.", 4) == 0 || strncmp(registry, "localhost", 9) == 0 ||
           strncmp(registry, "[::1]", 5) == 0;
}

void tl_registry_split(const char *registry, char *host, size_t hostlen,
                       char *prefix, size_t prefixlen)
{
    const char *slash = strchr(registry, '/');

    snprintf(host, hostlen, "%.*s", slash ? (int)(slash - registry) : (int)strlen(registry),
             registry);
    snprintf(prefix, prefixlen, "%s%s", slash ? slash + 1 : "", slash ? "/" : "");
}

/*
 * One request to url, or to http(s)://registry/v2/path when url is NULL;
 * returns the status, or 0 with err set.
 */
static long request(const char *registry, const char *path, const char *url_in,
                    long timeout_ms, struct req *q, char *err, size_t errlen)
{
    struct curl_slist *headers = NULL;
    struct body sink = { 0 };
    char *url = NULL, curlerr[CURL_ERROR_SIZE] = "", ctype[160];
    long status = 0;
    CURL *h;

    if (url_in != NULL)
        url = strdup(url_in);
    else if (asprintf(&url, "%s://%s/v2/%s",
                      tl_registry_plain_http(registry) ? "http" : "https", registry, path) < 0)
        url = NULL;
    if (url == NULL) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    h = curl_easy_init();
    headers = curl_slist_append(NULL, TL_ACCEPT);
    if (q->content_type != NULL && headers != NULL) {
        snprintf(ctype, sizeof ctype, "Content-Type: %s", q->content_type);
        if (curl_slist_append(headers, ctype) == NULL) {
            curl_slist_free_all(headers);
            headers = NULL;
        }
    }
    if (h == NULL || headers == NULL) {
        snprintf(err, errlen, "cannot create an HTTP request");
        goto cleanup;
    }
    q->digest[0] = q->location[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");   /* traffic stays on this machine's route */
    if (strcmp(q->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (q->data != NULL || strcmp(q->method, "POST") == 0) {
        /* POSTFIELDS sends the bytes as they are (no form encoding), and
         * with CUSTOMREQUEST the same for PUT. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->data != NULL ? q->data : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
        if (strcmp(q->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    } else if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    }
    /* A body nobody asked for (an error page) is read and dropped. */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, q->b != NULL ? q->b : &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, q);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", q->method, url,
                 curlerr[0] ? curlerr : curl_easy_strerror(rc));
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
cleanup:
    curl_slist_free_all(headers);
    if (h != NULL)
        curl_easy_cleanup(h);
    tl_buf_free(&sink.b);
    free(url);
    return status;
}

int tl_registry_has(const char *registry, const char *repo, const char *tag,
                    long timeout_ms, char *err, size_t errlen)
{
    struct req q = { .method = "HEAD" };
    char *path = NULL;
    long status;

    if (asprintf(&path, "%s/manifests/%s", repo, tag) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    status = request(registry, path, NULL, timeout_ms, &q, err, errlen);
    free(path);
    if (status == 200)
        return 1;
    if (status == 404)
        return 0;
    if (status != 0)
        snprintf(err, errlen, "registry %s answered HTTP %ld for %s:%s", registry,
                 status, repo, tag);
    return -1;
}

long tl_registry_get(const char *registry, const char *path, long timeout_ms,
                     char **body, char *err, size_t errlen)
{
    struct body b = { 0 };
    struct req q = { .method = "GET", .b = &b };
    long status = request(registry, path, NULL, timeout_ms, &q, err, errlen);

    if (b.oom) {
        tl_buf_free(&b.b);
        snprintf(err, errlen, "answer too large");
        return 0;
    }
    *body = b.b.data != NULL ? b.b.data : calloc(1, 1);
    return status;
}

int tl_registry_delete(const char *registry, const char *repo, const char *tag,
                       long timeout_ms, char *err, size_t errlen)
{
    struct req q = { .method = "HEAD" };
    char *path = NULL;
    long status;
    int rc = -1;

    if (asprintf(&path, "%s/manifests/%s", repo, tag) < 0) {
        path = NULL;              /* undefined after a failure */
        goto oom;
    }
    status = request(registry, path, NULL, timeout_ms, &q, err, errlen);
    if (status == 0)
        goto cleanup;
    if (status != 200 || q.digest[0] == '\0') {
        snprintf(err, errlen, "%s:%s: no manifest digest (HTTP %ld)", repo, tag, status);
        goto cleanup;
    }
    free(path);
    if (asprintf(&path, "%s/manifests/%s", repo, q.digest) < 0) {
        path = NULL;
        goto oom;
    }
    q.method = "DELETE";
    status = request(registry, path, NULL, timeout_ms, &q, err, errlen);
    if (status == 202 || status == 200)
        rc = 0;
    else if (status == 405)
        snprintf(err, errlen, "registry %s refuses deletion (HTTP 405): enable "
                 "storage.delete.enabled in its configuration", registry);
    else if (status != 0)
        snprintf(err, errlen, "DELETE %s:%s answered HTTP %ld", repo, tag, status);
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    free(path);
    return rc;
}

/* "401 ... for X": what to do when the registry wants credentials. */
static void refused(char *err, size_t errlen, const char *registry, const char *what,
                    long status, const struct body *b)
{
    if (status == 401 || status == 403)
        snprintf(err, errlen, "registry %s wants credentials for %s (HTTP %ld); the "
                 "direct push sends none: set TURBOLIFT_CONTAINER_TOOL=docker (or podman) "
                 "to push with the tool's login", registry, what, status);
    else
        snprintf(err, errlen, "registry %s answered HTTP %ld for %s: %.200s", registry,
                 status, what, b != NULL && b->b.data != NULL ? b->b.data : "");
}

int tl_registry_blob_put(const char *registry, const char *repo, const char *digest,
                         const void *data, size_t len, long timeout_ms,
                         int *skipped, char *err, size_t errlen)
{
    struct body b = { 0 };
    struct req q = { .method = "HEAD" };
    char *path = NULL, *url = NULL, what[300];
    long status;
    int rc = -1;

    *skipped = 0;
    snprintf(what, sizeof what, "%s@%s", repo, digest);
    if (asprintf(&path, "%s/blobs/%s", repo, digest) < 0) {
        path = NULL;              /* undefined after a failure */
        goto oom;
    }
    status = request(registry, path, NULL, timeout_ms, &q, err, errlen);
    if (status == 200) {          /* the registry has it: nothing to send */
        *skipped = 1;
        rc = 0;
        goto cleanup;
    }
    if (status == 0)
        goto cleanup;
    free(path);
    /* Two steps (POST for an upload URL, PUT of the whole blob to it with
     * its digest): the monolithic upload every registry implements. */
    if (asprintf(&path, "%s/blobs/uploads/", repo) < 0) {
        path = NULL;
        goto oom;
    }
    q = (struct req){ .method = "POST", .b = &b };
    status = request(registry, path, NULL, timeout_ms, &q, err, errlen);
    if (status == 0)
        goto cleanup;
    if (status != 202 || q.location[0] == '\0') {
        refused(err, errlen, registry, what, status, &b);
        goto cleanup;
    }
    /* Location is absolute, or a path on the registry's host; it may carry
     * a query (the upload's state) already. */
    {
        const char *scheme = tl_registry_plain_http(registry) ? "http://" : "https://";
        int relative = q.location[0] == '/';

        if (asprintf(&url, "%s%s%s%sdigest=%s", relative ? scheme : "",
                     relative ? registry : "", q.location,
                     strchr(q.location, '?') ? "&" : "?", digest) < 0)
            url = NULL;
    }
    if (url == NULL) {
        goto oom;
    }
    tl_buf_free(&b.b);
    q = (struct req){ .method = "PUT", .data = data, .len = len,
                      .content_type = "application/octet-stream", .b = &b };
    status = request(registry, NULL, url, timeout_ms, &q, err, errlen);
    if (status == 0)
        goto cleanup;
    if (status != 201) {
        refused(err, errlen, registry, what, status, &b);
        goto cleanup;
    }
    rc = 0;
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    tl_buf_free(&b.b);
    free(path);
    free(url);
    return rc;
}

int tl_registry_manifest_put(const char *registry, const char *repo, const char *tag,
                             const char *media_type, const void *data, size_t len,
                             long timeout_ms, char *err, size_t errlen)
{
    struct body b = { 0 };
    struct req q = { .method = "PUT", .data = data, .len = len, .content_type = media_type,
                     .b = &b };
    char *path = NULL, what[300];
    long status;
    int rc = -1;

    snprintf(what, sizeof what, "%s:%s", repo, tag);
    if (asprintf(&path, "%s/manifests/%s", repo, tag) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    status = request(registry, path, NULL, timeout_ms, &q, err, errlen);
    if (status == 201)
        rc = 0;
    else if (status != 0)
        refused(err, errlen, registry, what, status, &b);
    tl_buf_free(&b.b);
    free(path);
    return rc;
}

int tl_json_strings(const char *json, const char *key,
                    void (*fn)(const char *s, void *arg), void *arg)
{
    yaml_document_t doc;
    yaml_node_t *list;
    char why[256];
    int count = -1;

    if (tl_yaml_load_string(json, &doc, why, sizeof why) != 0)
        return -1;
    list = tl_yaml_lookup(&doc, yaml_document_get_root_node(&doc), key);
    if (list == NULL)
        goto done;
    /* null: a repository whose tags were all deleted */
    if (list->type == YAML_SCALAR_NODE && strcmp((const char *)list->data.scalar.value, "null") == 0) {
        count = 0;
        goto done;
    }
    if (list->type != YAML_SEQUENCE_NODE)
        goto done;
    count = 0;
    for (yaml_node_item_t *i = list->data.sequence.items.start; i < list->data.sequence.items.top;
         i++) {
        yaml_node_t *item = yaml_document_get_node(&doc, *i);

        if (item != NULL && item->type == YAML_SCALAR_NODE) {
            fn((const char *)item->data.scalar.value, arg);
            count++;
        }
    }
done:
    yaml_document_delete(&doc);
    return count;
}
