/* SPDX-License-Identifier: MIT */
/*
 * test_service.c - the HTTP service for real: started in-process on an
 * ephemeral port with a hand-written service table, spoken to with libcurl.
 * Covers the probes, /metrics, real calls, every error status with its
 * message, the token, keep-alive clients on many threads, garbage on the
 * socket, callers with the token served while 600 connections without it
 * are open, and draining.
 */
#define _POSIX_C_SOURCE 200809L

#include "tl_check.h"
#include "tl_reply.h"
#include "tl_codec.h"
#include "tl_service.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the service table: service_table.c's, which test_main serves too ---- */

extern const struct tl_service_entry tl_service_entries[];
extern const unsigned tl_service_entry_count;

/* ---- a small libcurl client ---- */

static unsigned port;

/* One request on `curl` (reused for keep-alive when the caller passes its
 * own handle); NULL curl makes a fresh one. */
static int http_on(CURL *curl, const char *method, const char *path, const void *body,
                   size_t len, const char *authorization, struct reply *r)
{
    struct curl_slist *headers = NULL;
    char url[256], auth[256];
    const char *ctype = NULL;
    CURL *own = NULL;
    CURLcode rc;

    memset(r, 0, sizeof *r);
    if (curl == NULL)
        curl = own = curl_easy_init();
    else
        curl_easy_reset(curl);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    /* Like the runtime's client: a big body first asks whether it is wanted,
     * so a 413 arrives before the body is sent instead of resetting a
     * connection that is still sending it. */
    headers = curl_slist_append(headers, len > ((size_t)1 << 20) ? "Expect: 100-continue"
                                                                : "Expect:");
    headers = curl_slist_append(headers, "Content-Type: application/msgpack");
    if (authorization != NULL) {
        snprintf(auth, sizeof auth, "Authorization: %s", authorization);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
        if (ctype != NULL)
            snprintf(r->content_type, sizeof r->content_type, "%s", ctype);
    } else {
        fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
    }
    curl_slist_free_all(headers);
    if (own != NULL)
        curl_easy_cleanup(own);
    return rc == CURLE_OK ? 0 : -1;
}

static int http(const char *method, const char *path, const void *body, size_t len,
                const char *authorization, struct reply *r)
{
    return http_on(NULL, method, path, body, len, authorization, r);
}

static void reply_free(struct reply *r)
{
    free(r->body);
    r->body = NULL;
}

/* Expect status and a text/plain message containing needle. */
static void expect_error(int line, const char *method, const char *path,
                         const void *body, size_t len, const char *authorization,
                         long status, const char *needle)
{
    struct reply r;

    if (http(method, path, body, len, authorization, &r) < 0 || r.status != status ||
        strncmp(r.content_type, "text/plain", 10) != 0 || r.body == NULL ||
        strstr(r.body, needle) == NULL) {
        fprintf(stderr, "test_service.c:%d: CHECK failed: %s %s: got %ld (%s) \"%s\", "
                "wanted %ld with \"%s\"\n", line, method, path, r.status, r.content_type,
                r.body ? r.body : "", status, needle);
        tl_check_failures++;
    }
    reply_free(&r);
}

#define EXPECT_ERROR(method, path, body, len, auth, status, needle) \
    expect_error(__LINE__, method, path, body, len, auth, status, needle)

/* ---- calls through the codec ---- */

static struct tl_sig *sig_add, *sig_scale, *sig_greet, *sig_nap;

/* One call of `name` through the codec and HTTP: encode args, POST them
 * (on curl's keep-alive connection, or a fresh one when curl is NULL) and
 * decode a 200 msgpack reply into args and result. 0 when all of that
 * worked; *status, unless NULL, gets the HTTP status (0 without one). */
static int call_remote(CURL *curl, const char *name, const struct tl_sig *sig,
                       void *const *args, void *result, const char *authorization,
                       long *status)
{
    msgpack_sbuffer request;
    struct reply r = { 0 };
    char path[64], err[256] = "";
    int rc = -1;

    msgpack_sbuffer_init(&request);
    REQUIRE(tl_encode_request(sig, args, &request, err, sizeof err) == 0);
    snprintf(path, sizeof path, "/v1/call/%s", name);
    if (http_on(curl, "POST", path, request.data, request.size, authorization, &r) == 0) {
        if (r.status == 200 && strcmp(r.content_type, "application/msgpack") == 0 &&
            tl_decode_reply(sig, r.body, r.size, args, result, err, sizeof err) == 0)
            rc = 0;
        else
            fprintf(stderr, "%s: status %ld, %s\n", name, r.status,
                    r.status == 200 ? err : r.body ? r.body : "");
    }
    if (status != NULL)
        *status = r.status;
    reply_free(&r);
    msgpack_sbuffer_destroy(&request);
    return rc;
}

static int call_remote_add(CURL *curl, double a, double b, double *sum,
                           const char *authorization)
{
    void *args[] = { &a, &b };

    return call_remote(curl, "add", sig_add, args, sum, authorization, NULL);
}

static void test_calls(void)
{
    double sum = 0;
    CHECK(call_remote_add(NULL, 1.5, 2.25, &sum, NULL) == 0);
    CHECK(sum == 3.75);

    double xs[3] = { 1, -2, 0.5 }, *p = xs;
    uint64_t n = 3;
    void *scale_args[] = { &p, &n };
    CHECK(call_remote(NULL, "scale", sig_scale, scale_args, NULL, NULL, NULL) == 0);
    CHECK(xs[0] == 3 && xs[1] == -6 && xs[2] == 1.5);

    const char *name = "world";
    char *greeting = NULL;
    void *greet_args[] = { &name };
    CHECK(call_remote(NULL, "greet", sig_greet, greet_args, &greeting, NULL, NULL) == 0);
    CHECK(greeting != NULL && strcmp(greeting, "hello, world") == 0);
    free(greeting);
}

static void test_probes(void)
{
    struct reply r;

    CHECK(http("GET", "/healthz", NULL, 0, NULL, &r) == 0);
    CHECK(r.status == 200 && r.body && strcmp(r.body, "ok\n") == 0);
    reply_free(&r);
    CHECK(http("GET", "/readyz", NULL, 0, NULL, &r) == 0);
    CHECK(r.status == 200 && r.body && strcmp(r.body, "ready\n") == 0);
    reply_free(&r);
    CHECK(http("HEAD", "/healthz", NULL, 0, NULL, &r) == 0);
    CHECK(r.status == 200);
    reply_free(&r);
}

static void test_errors(void)
{
    static const char garbage[] = "\xc1 not msgpack";
    static const unsigned char wrong_arity[] = { 0x91, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0 };
    static const unsigned char wrong_type[] = { 0x92, 0xa1, 'x', 0x01 };

    EXPECT_ERROR("POST", "/v1/call/add", garbage, sizeof garbage - 1, NULL, 400,
                 "malformed msgpack");
    EXPECT_ERROR("POST", "/v1/call/add", wrong_arity, sizeof wrong_arity, NULL, 400,
                 "takes 2 arguments, the request has 1");
    EXPECT_ERROR("POST", "/v1/call/add", wrong_type, sizeof wrong_type, NULL, 400,
                 "argument 0: expected float, got str");
    EXPECT_ERROR("POST", "/v1/call/add", NULL, 0, NULL, 400, "empty request");
    EXPECT_ERROR("POST", "/v1/call/nothing", wrong_type, sizeof wrong_type, NULL, 404,
                 "no function \"nothing\"");
    EXPECT_ERROR("POST", "/v1/call/", NULL, 0, NULL, 404, "no function");
    EXPECT_ERROR("GET", "/elsewhere", NULL, 0, NULL, 404, "no such endpoint");
    EXPECT_ERROR("GET", "/v1/call/add", NULL, 0, NULL, 405, "calls take POST");
    EXPECT_ERROR("PUT", "/v1/call/add", wrong_type, sizeof wrong_type, NULL, 405,
                 "calls take POST");
    EXPECT_ERROR("POST", "/healthz", NULL, 0, NULL, 405, "takes GET");
    EXPECT_ERROR("DELETE", "/metrics", NULL, 0, NULL, 405, "takes GET");

    /* Over the 1 MiB limit of this test's service: 413 from Content-Length. */
    size_t big = (size_t)2 << 20;
    char *body = calloc(1, big);
    REQUIRE(body != NULL);
    EXPECT_ERROR("POST", "/v1/call/add", body, big, NULL, 413, "larger than the limit");
    free(body);

    /* A write-only buffer of 2^40 doubles asked for in a few bytes. */
    static const unsigned char huge_w[] = { 0x92, 0xc3, 0xcf, 0, 0, 1, 0, 0, 0, 0, 0 };
    EXPECT_ERROR("POST", "/v1/call/scale", huge_w, sizeof huge_w, NULL, 400,
                 "got bool");   /* scale is read_write: true is wrong */
    static const unsigned char huge_x[] = { 0x92, 0xdd, 0xff, 0xff, 0xff, 0xff,
                                            0xcf, 0, 0, 1, 0, 0, 0, 0, 0 };
    EXPECT_ERROR("POST", "/v1/call/scale", huge_x, sizeof huge_x, NULL, 400,
                 "truncated");
}

/* A chunked body has no Content-Length: the limit is enforced as it comes. */
struct chunk_source { size_t left; };

static size_t feed_zeros(char *buf, size_t size, size_t n, void *userdata)
{
    struct chunk_source *src = userdata;
    size_t len = size * n < src->left ? size * n : src->left;

    memset(buf, 0, len);
    src->left -= len;
    return len;
}

static void test_chunked_limit(void)
{
    struct chunk_source src = { (size_t)3 << 19 };   /* 1.5 MiB */
    struct curl_slist *headers = NULL;
    struct reply r;
    char url[128];
    CURL *curl = curl_easy_init();

    memset(&r, 0, sizeof r);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/call/add", port);
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, feed_zeros);
    curl_easy_setopt(curl, CURLOPT_READDATA, &src);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    CHECK(curl_easy_perform(curl) == CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    CHECK_MSG(r.status == 413 && r.body && strstr(r.body, "TURBOLIFT_MAX_REQUEST"),
              "%ld %s", r.status, r.body ? r.body : "");
    reply_free(&r);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

/* Bytes that are not HTTP at all, then a half request: the service lives. */
static void test_socket_garbage(void)
{
    static const char *const junk[] = {
        "GARBAGE\r\n\r\n",
        "POST /v1/call/add HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /v1/call/add HTTP/1.1\r\nContent-Length: 10\r\n\r\n\x92",
        "\x00\x01\x02\xff\xfe\r\n\r\n\r\n",
    };
    struct sockaddr_in addr;
    struct reply r;

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        char buf[512];
        REQUIRE(fd >= 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
            size_t len = i == 3 ? 9 : strlen(junk[i]);
            CHECK(write(fd, junk[i], len) == (ssize_t)len);
            shutdown(fd, SHUT_WR);
            while (read(fd, buf, sizeof buf) > 0)
                ;
        }
        close(fd);
    }
    CHECK(http("GET", "/healthz", NULL, 0, NULL, &r) == 0 && r.status == 200);
    reply_free(&r);
}

/* Many threads, each with its own keep-alive connection. */
#define CLIENT_THREADS 8
#define CALLS_PER_THREAD 40

static void *client_thread(void *arg)
{
    long id = (long)(intptr_t)arg, failures = 0;
    CURL *curl = curl_easy_init();

    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        double sum = 0;
        if (call_remote_add(curl, (double)id, (double)i, &sum, NULL) < 0 ||
            sum != (double)(id + i))
            failures++;
    }
    curl_easy_cleanup(curl);
    return (void *)(intptr_t)failures;
}

static void test_concurrency(void)
{
    pthread_t threads[CLIENT_THREADS];

    for (long i = 0; i < CLIENT_THREADS; i++)
        REQUIRE(pthread_create(&threads[i], NULL, client_thread, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < CLIENT_THREADS; i++) {
        void *failures;
        pthread_join(threads[i], &failures);
        CHECK((intptr_t)failures == 0);
    }
}

static void test_metrics(void)
{
    struct reply r;
    char expected[128];

    CHECK(http("GET", "/metrics", NULL, 0, NULL, &r) == 0);
    REQUIRE(r.status == 200 && r.body != NULL);
    CHECK(strncmp(r.content_type, "text/plain", 10) == 0);
    /* 1 from test_calls, the rest from test_concurrency */
    snprintf(expected, sizeof expected, "turbolift_calls_total{function=\"add\",code=\"200\"} %d\n",
             1 + CLIENT_THREADS * CALLS_PER_THREAD);
    CHECK_MSG(strstr(r.body, expected) != NULL, "no \"%s\" in\n%s", expected, r.body);
    CHECK(strstr(r.body, "turbolift_calls_total{function=\"add\",code=\"400\"} 4\n"));
    CHECK(strstr(r.body, "turbolift_calls_total{function=\"add\",code=\"413\"} 2\n"));
    CHECK(strstr(r.body, "turbolift_calls_total{function=\"scale\",code=\"200\"} 1\n"));
    CHECK(strstr(r.body, "# TYPE turbolift_call_duration_seconds histogram\n"));
    CHECK(strstr(r.body, "turbolift_call_duration_seconds_bucket{function=\"add\",le=\"+Inf\"}"));
    snprintf(expected, sizeof expected, "turbolift_call_duration_seconds_count{function=\"add\"} %d\n",
             1 + 4 + CLIENT_THREADS * CALLS_PER_THREAD);
    CHECK_MSG(strstr(r.body, expected) != NULL, "no \"%s\"", expected);
    CHECK(strstr(r.body, "turbolift_call_duration_seconds_sum{function=\"add\"} "));
    CHECK(strstr(r.body, "turbolift_calls_in_flight 0\n"));
    CHECK(strstr(r.body, "turbolift_request_bytes_total{function=\"add\"} "));
    CHECK(strstr(r.body, "turbolift_call_errors_total{function=\"add\"} 6\n"));
    CHECK(strstr(r.body, "turbolift_http_responses_total{code=\"404\"} "));
    CHECK(strstr(r.body, "turbolift_draining 0\n"));
    reply_free(&r);
}

/* ---- token ---- */

static void test_token(void)
{
    struct tl_service_options opts = { .bind_address = "127.0.0.1", .port = 0,
                                       .token = "s3cret-token" };
    struct tl_service *service;
    unsigned saved_port = port;
    struct reply r;
    char err[256];
    double sum = 0;

    REQUIRE(tl_service_start(tl_service_entries, tl_service_entry_count, &opts,
                             &service, err, sizeof err) == 0);
    port = tl_service_port(service);
    EXPECT_ERROR("POST", "/v1/call/add", "\x92\x01\x02", 3, NULL, 401, "bearer token");
    EXPECT_ERROR("POST", "/v1/call/add", "\x92\x01\x02", 3, "Bearer s3cret-tokeN", 401,
                 "bearer token");
    EXPECT_ERROR("POST", "/v1/call/add", "\x92\x01\x02", 3, "Bearer s3cret-token2", 401,
                 "bearer token");
    EXPECT_ERROR("POST", "/v1/call/add", "\x92\x01\x02", 3, "Basic s3cret-token", 401,
                 "bearer token");
    /* unknown functions are not revealed without the token */
    EXPECT_ERROR("POST", "/v1/call/secret", "\x90", 1, NULL, 401, "bearer token");
    CHECK(call_remote_add(NULL, 2, 3, &sum, "Bearer s3cret-token") == 0 && sum == 5);
    CHECK(call_remote_add(NULL, 2, 4, &sum, "bearer   s3cret-token") == 0 && sum == 6);
    /* probes need no token */
    CHECK(http("GET", "/readyz", NULL, 0, NULL, &r) == 0 && r.status == 200);
    reply_free(&r);
    tl_service_stop(service);
    port = saved_port;
}

/* ---- connections without the token (issue 12, item 3) ---- */

#define IDLE_CONNECTIONS 600

static int connect_port(unsigned p)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)p);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static double seconds_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The value of a metric line "name value" in text, or -1. */
static double metric(const char *text, const char *name)
{
    const char *at = strstr(text, name);
    size_t len = strlen(name);

    /* Not the "# HELP name ..." line: the one that starts with name. */
    while (at != NULL && (at == text || at[-1] != '\n' || at[len] != ' '))
        at = strstr(at + 1, name);
    return at != NULL ? strtod(at + len + 1, NULL) : -1;
}

/*
 * 600 connections that never show the token (more than the service's 512
 * slots): silent ones and ones that trickle header lines, while others
 * are refused 401. Callers with the token are answered all along: on a
 * keep-alive connection made before the flood (which stays the same
 * connection) and on new ones.
 */
static void test_idle_connections(void)
{
    struct tl_service_options opts = { .bind_address = "127.0.0.1", .port = 0,
                                       .token = "s3cret-token" };
    static const char partial[] = "POST /v1/call/add HTTP/1.1\r\nHost: x\r\n";
    static const char tokenless[] = "POST /v1/call/add HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 3\r\n\r\n\x92\x01\x02";
    struct tl_service *service;
    unsigned saved_port = port;
    struct rlimit nofile;
    int fds[IDLE_CONNECTIONS], opened = 0, answered = 0;
    long reused = -1;
    double sum = 0, t0, quiet, busy;
    struct reply r;
    char err[256];
    CURL *kept;

    /* Both ends of every connection live in this process. */
    REQUIRE(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
    if (nofile.rlim_cur < 4 * IDLE_CONNECTIONS) {
        nofile.rlim_cur = nofile.rlim_max < 4 * IDLE_CONNECTIONS ? nofile.rlim_max
                                                                 : 4 * IDLE_CONNECTIONS;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    REQUIRE(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
    REQUIRE(nofile.rlim_cur >= 2 * IDLE_CONNECTIONS + 100);

    REQUIRE(tl_service_start(tl_service_entries, tl_service_entry_count, &opts,
                             &service, err, sizeof err) == 0);
    port = tl_service_port(service);
    kept = curl_easy_init();
    REQUIRE(kept != NULL);
    CHECK(call_remote_add(kept, 1, 2, &sum, "Bearer s3cret-token") == 0 && sum == 3);
    t0 = seconds_now();
    for (int i = 0; i < 20; i++)
        CHECK(call_remote_add(kept, i, 1, &sum, "Bearer s3cret-token") == 0);
    quiet = seconds_now() - t0;

    for (int i = 0; i < IDLE_CONNECTIONS; i++) {
        fds[i] = connect_port(port);
        if (fds[i] < 0)
            break;
        opened++;
        if (i % 2 == 1 && write(fds[i], partial, sizeof partial - 1) < 0)
            CHECK(0);
    }
    /* And calls without the token, which the service answers 401 and
     * closes (their bodies are not read). */
    for (int i = 0; i < 50; i++) {
        int fd = connect_port(port);
        char buf[512];

        REQUIRE(fd >= 0);
        CHECK(write(fd, tokenless, sizeof tokenless - 1) == sizeof tokenless - 1);
        CHECK(read(fd, buf, sizeof buf) > 12 && memcmp(buf, "HTTP/1.1 401", 12) == 0);
        close(fd);
    }
    CHECK_MSG(opened == IDLE_CONNECTIONS, "only %d connections opened", opened);

    /* The keep-alive connection from before is still ours... */
    t0 = seconds_now();
    for (int i = 0; i < 20; i++)
        answered += call_remote_add(kept, i, 1, &sum, "Bearer s3cret-token") == 0 &&
                    sum == i + 1;
    busy = seconds_now() - t0;
    curl_easy_getinfo(kept, CURLINFO_NUM_CONNECTS, &reused);
    CHECK_MSG(reused == 0, "the caller's keep-alive connection was cut");
    /* ...and new callers get in. */
    for (int i = 0; i < 20; i++)
        answered += call_remote_add(NULL, i, 2, &sum, "Bearer s3cret-token") == 0 &&
                    sum == i + 2;
    CHECK_MSG(answered == 40, "%d of 40 calls with the token answered", answered);
    /* Printed, never asserted (docs/failures.md: no timed assertions). */
    printf("test_service: 20 calls on a kept-alive connection: %.0f us each with no "
           "other connection, %.0f us each with %d idle ones open\n",
           quiet / 20 * 1e6, busy / 20 * 1e6, IDLE_CONNECTIONS);

    /* Trickling headers keeps no connection past TL_UNTRUSTED_MS either,
     * but that takes 10 s; the cut counter shows room was made. */
    CHECK(http("GET", "/metrics", NULL, 0, "Bearer s3cret-token", &r) == 0 &&
          r.status == 200);
    CHECK_MSG(r.body && metric(r.body, "turbolift_connections_cut_total") >=
              IDLE_CONNECTIONS - TL_SERVICE_DEFAULT_CONNECTIONS,
              "cut: %g", r.body ? metric(r.body, "turbolift_connections_cut_total") : -1);
    reply_free(&r);

    for (int i = 0; i < opened; i++)
        close(fds[i]);
    curl_easy_cleanup(kept);
    tl_service_stop(service);
    port = saved_port;
}

/*
 * A connection that trickles header lines keeps no slot past the
 * untrusted limit (300 ms here, 10 s by default): the next connection to
 * arrive cuts it, however recently it sent a byte.
 */
static void test_untrusted_cut(void)
{
    struct tl_service_options opts = { .bind_address = "127.0.0.1", .port = 0,
                                       .token = "s3cret-token", .untrusted_ms = 300 };
    static const char line[] = "X-Trickle: 1\r\n";
    const struct timespec pause = { 0, 100 * 1000 * 1000 };
    struct tl_service *service;
    unsigned saved_port = port;
    struct pollfd p;
    double sum = 0;
    struct reply r;
    char err[256], buf[256];
    ssize_t n;
    int slow;

    REQUIRE(tl_service_start(tl_service_entries, tl_service_entry_count, &opts,
                             &service, err, sizeof err) == 0);
    port = tl_service_port(service);
    slow = connect_port(port);
    REQUIRE(slow >= 0);
    CHECK(write(slow, "POST /v1/call/add HTTP/1.1\r\n", 28) == 28);
    for (int i = 0; i < 6; i++) {            /* 600 ms, a line every 100 ms */
        nanosleep(&pause, NULL);
        CHECK(write(slow, line, sizeof line - 1) == sizeof line - 1);
    }
    /* A caller arrives: the trickler is cut, the caller answered. */
    CHECK(call_remote_add(NULL, 1, 2, &sum, "Bearer s3cret-token") == 0 && sum == 3);
    p.fd = slow;
    p.events = POLLIN;
    CHECK(poll(&p, 1, 10000) == 1);
    n = read(slow, buf, sizeof buf);
    CHECK_MSG(n <= 0, "the trickling connection is still served (%zd bytes)", n);
    close(slow);
    CHECK(http("GET", "/metrics", NULL, 0, "Bearer s3cret-token", &r) == 0 &&
          r.status == 200);
    CHECK(r.body && metric(r.body, "turbolift_connections_cut_total") == 1);
    reply_free(&r);
    tl_service_stop(service);
    port = saved_port;
}

/* ---- drain ---- */

static void *slow_call(void *arg)
{
    uint32_t ms = 1500;
    void *args[] = { &ms };
    long status = 0;

    (void)arg;
    call_remote(NULL, "nap", sig_nap, args, NULL, NULL, &status);
    return (void *)(intptr_t)status;
}

static void test_drain(struct tl_service *service)
{
    const struct timespec settle = { 0, 100 * 1000 * 1000 };
    pthread_t slow;
    void *status;
    double sum;
    struct reply r;

    REQUIRE(pthread_create(&slow, NULL, slow_call, NULL) == 0);
    nanosleep(&settle, NULL);
    CHECK(tl_service_in_flight(service) == 1);
    tl_service_begin_drain(service);
    tl_service_begin_drain(service);   /* twice is fine */
    EXPECT_ERROR("GET", "/readyz", NULL, 0, NULL, 503, "draining");
    CHECK(call_remote_add(NULL, 1, 2, &sum, NULL) == -1);
    EXPECT_ERROR("POST", "/v1/call/add", "\x92\x01\x02", 3, NULL, 503, "draining");
    CHECK(http("GET", "/healthz", NULL, 0, NULL, &r) == 0 && r.status == 200);
    reply_free(&r);
    CHECK(tl_service_wait_idle(service, 0) == -1);    /* the nap still runs */
    CHECK(tl_service_wait_idle(service, 5000) == 0);
    pthread_join(slow, &status);
    CHECK((intptr_t)status == 200);                   /* and it was answered */
    CHECK(tl_service_in_flight(service) == 0);
}

/* ---- startup checks ---- */

/* The call of the tables below, which never run. */
static void call_nothing(void *const *args, void *result)
{
    (void)args;
    (void)result;
}

static void test_bad_tables(void)
{
    static const struct tl_service_entry bad_sig[] = { { "f", "v(", call_nothing } };
    static const struct tl_service_entry bad_name[] = { { "a/b", "v()", call_nothing } };
    static const struct tl_service_entry twice[] = { { "f", "v()", call_nothing },
                                                     { "f", "v()", call_nothing } };
    static const struct tl_service_entry no_call[] = { { "f", "v()", NULL } };
    struct tl_service_options opts = { .bind_address = "127.0.0.1" };
    struct tl_service *service = NULL;
    char err[512];

    CHECK(tl_service_check_entries(tl_service_entries, tl_service_entry_count,
                                   err, sizeof err) == 0);
    CHECK(tl_service_check_entries(bad_sig, 1, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "service entry f: bad signature") != NULL, "%s", err);
    CHECK(tl_service_check_entries(bad_name, 1, err, sizeof err) == -1);
    CHECK(strstr(err, "not a C identifier") != NULL);
    CHECK(tl_service_check_entries(twice, 2, err, sizeof err) == -1);
    CHECK(strstr(err, "twice") != NULL);
    CHECK(tl_service_check_entries(no_call, 1, err, sizeof err) == -1);
    CHECK(tl_service_start(bad_sig, 1, &opts, &service, err, sizeof err) == -1);
    CHECK(service == NULL);
    opts.bind_address = "localhost-ish";
    CHECK(tl_service_start(tl_service_entries, tl_service_entry_count, &opts,
                           &service, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "not a numeric") != NULL, "%s", err);
    opts.bind_address = "::1";   /* IPv6 works where the host has it */
    {
        struct sockaddr_in6 v6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        int s6 = socket(AF_INET6, SOCK_STREAM, 0);
        int host_has_v6 = s6 >= 0 && bind(s6, (struct sockaddr *)&v6, sizeof v6) == 0;
        int started;

        if (s6 >= 0)
            close(s6);
        started = tl_service_start(tl_service_entries, tl_service_entry_count, &opts,
                                   &service, err, sizeof err);
        CHECK_MSG(started == (host_has_v6 ? 0 : -1), "bind ::1: %s", err);
        if (started == 0) {
            CHECK(tl_service_port(service) > 0);
            tl_service_stop(service);
        }
    }

    /* options from the environment */
    struct tl_service_options env_opts;
    setenv("TURBOLIFT_PORT", "70000", 1);
    CHECK(tl_service_options_from_env(&env_opts, err, sizeof err) == -1);
    CHECK(strstr(err, "TURBOLIFT_PORT") != NULL);
    setenv("TURBOLIFT_PORT", "9090", 1);
    setenv("TURBOLIFT_MAX_REQUEST", "1000", 1);
    setenv("TURBOLIFT_TOKEN", "t", 1);
    CHECK(tl_service_options_from_env(&env_opts, err, sizeof err) == 0);
    CHECK(env_opts.port == 9090 && env_opts.max_request_bytes == 1000);
    CHECK(env_opts.token && strcmp(env_opts.token, "t") == 0);
    CHECK(strcmp(env_opts.bind_address, "127.0.0.1") == 0);
    unsetenv("TURBOLIFT_PORT");
    unsetenv("TURBOLIFT_MAX_REQUEST");
    unsetenv("TURBOLIFT_TOKEN");
}

int main(void)
{
    struct tl_service_options opts = {
        .bind_address = "127.0.0.1", .port = 0,
        .max_request_bytes = (size_t)1 << 20,
    };
    struct tl_service *service;
    char err[512];

    REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
    REQUIRE(tl_sig_parse("f8(f8,f8)", &sig_add, err, sizeof err) == 0);
    REQUIRE(tl_sig_parse("v(*x1:f8,u8)", &sig_scale, err, sizeof err) == 0);
    REQUIRE(tl_sig_parse("s(s)", &sig_greet, err, sizeof err) == 0);
    REQUIRE(tl_sig_parse("v(u4)", &sig_nap, err, sizeof err) == 0);

    test_bad_tables();
    if (tl_service_start(tl_service_entries, tl_service_entry_count, &opts,
                         &service, err, sizeof err) < 0) {
        fprintf(stderr, "cannot start the service: %s\n", err);
        return 1;
    }
    port = tl_service_port(service);
    CHECK(port > 0);

    test_probes();
    test_calls();
    test_errors();
    test_chunked_limit();
    test_socket_garbage();
    test_concurrency();
    test_metrics();
    test_token();
    test_idle_connections();
    test_untrusted_cut();
    test_drain(service);
    tl_service_stop(service);

    tl_sig_free(sig_add);
    tl_sig_free(sig_scale);
    tl_sig_free(sig_greet);
    tl_sig_free(sig_nap);
    curl_global_cleanup();
    return tl_check_status("test_service");
}
