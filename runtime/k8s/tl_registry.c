/* SPDX-License-Identifier: MIT */
/*
 * tl_registry.c - registry HTTP API v2 with libcurl: tag exists, list, delete.
 *
 * Each request uses its own easy handle: these are a handful of requests
 * per deployment, off the call path.
 */
#define _GNU_SOURCE   /* asprintf, strndup */
#include "tl_registry.h"
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

struct digest {
    char value[128];
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

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct digest *d = arg;
    size_t len = size * n;
    static const char key[] = "Docker-Content-Digest:";

    if (len > sizeof key - 1 && strncasecmp(p, key, sizeof key - 1) == 0) {
        const char *v = p + sizeof key - 1;
        size_t vl = len - (sizeof key - 1);

        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < sizeof d->value) {
            memcpy(d->value, v, vl);
            d->value[vl] = '\0';
        }
    }
    return len;
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

/* One request; returns the status or 0 with err set. */
static long request(const char *registry, const char *path, const char *method,
                    long timeout_ms, struct body *b, struct digest *d,
                    char *err, size_t errlen)
{
    struct curl_slist *headers = NULL;
    struct body sink = { 0 };
    char *url = NULL, curlerr[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURL *h;

    if (asprintf(&url, "%s://%s/v2/%s", tl_registry_plain_http(registry) ? "http" : "https",
                 registry, path) < 0) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    h = curl_easy_init();
    headers = curl_slist_append(NULL, TL_ACCEPT);
    if (h == NULL || headers == NULL) {
        snprintf(err, errlen, "cannot create an HTTP request");
        goto cleanup;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");   /* traffic stays on this machine's route */
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    /* A body nobody asked for (an error page) is read and dropped. */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b != NULL ? b : &sink);
    if (d != NULL) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, d);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", method, url,
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
    char *path = NULL;
    long status;

    if (asprintf(&path, "%s/manifests/%s", repo, tag) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    status = request(registry, path, "HEAD", timeout_ms, NULL, NULL, err, errlen);
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
    long status = request(registry, path, "GET", timeout_ms, &b, NULL, err, errlen);

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
    struct digest d = { "" };
    char *path = NULL;
    long status;
    int rc = -1;

    if (asprintf(&path, "%s/manifests/%s", repo, tag) < 0) {
        path = NULL;              /* undefined after a failure */
        goto oom;
    }
    status = request(registry, path, "HEAD", timeout_ms, NULL, &d, err, errlen);
    if (status == 0)
        goto cleanup;
    if (status != 200 || d.value[0] == '\0') {
        snprintf(err, errlen, "%s:%s: no manifest digest (HTTP %ld)", repo, tag, status);
        goto cleanup;
    }
    free(path);
    if (asprintf(&path, "%s/manifests/%s", repo, d.value) < 0) {
        path = NULL;
        goto oom;
    }
    status = request(registry, path, "DELETE", timeout_ms, NULL, NULL, err, errlen);
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

int tl_json_strings(const char *json, const char *key,
                    void (*fn)(const char *s, void *arg), void *arg)
{
    char quoted[128];
    const char *p;
    int count = 0;

    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    p = strstr(json, quoted);
    if (p == NULL)
        return -1;
    p += strlen(quoted);
    while (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (strncmp(p, "null", 4) == 0)
        return 0;               /* a repository whose tags were all deleted */
    if (*p != '[')
        return -1;
    p++;
    for (;;) {                  /* each round consumes one element or ends */
        char buf[512];
        size_t n = 0;

        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p != '"')
            break;
        p++;
        while (*p != '\0' && *p != '"') {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (n + 1 < sizeof buf)
                buf[n++] = *p;
            p++;
        }
        if (*p != '"')
            break;
        p++;
        buf[n] = '\0';
        fn(buf, arg);
        count++;
    }
    return count;
}
