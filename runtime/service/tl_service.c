/* SPDX-License-Identifier: MIT */
/*
 * tl_service.c - the HTTP side of a service binary: routing, limits, the
 * token check, metrics and draining, around the codec (tl_codec.h).
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION,
 * each thread polling only its own socket), and the extracted function runs
 * on the thread that read its request. Why not MHD's thread pool: a pool
 * thread owns its connections for their whole life, and the calls we run are
 * CPU-bound and of uneven length, so one long call on a pool thread stalls
 * every keep-alive connection that thread owns while the other core may sit
 * idle. With a thread per connection the kernel runs every ready call on
 * whichever of the (typically two) cores is free, an idle keep-alive
 * connection costs one thread blocked in poll(), and a request costs no
 * extra wake-up or hand-off. The client keeps one keep-alive connection per
 * calling thread, so the thread count follows the caller's parallelism;
 * MHD_OPTION_CONNECTION_LIMIT bounds it. Measured on 2 cores, client on the
 * same machine, 16 keep-alive clients: calls of uneven length (one in eight
 * 100 times longer) ran at about 1000/s this way against 520-700/s with a
 * 2-thread epoll pool; trivial calls ran at 32-35k/s against 24-34k/s.
 *
 * Connections that have not shown the token cannot lock callers out
 * (issue 12): every connection is tracked from accept to close, and one
 * that has carried a request with the right token is "trusted". Untrusted
 * ones (idle, slow to send their headers, refused with 401) are cut -
 * shutdown() on their socket, which MHD's thread for it then sees as the
 * peer closing - when they are older than TL_UNTRUSTED_MS, or, oldest
 * first, when a new connection would pass max_connections. MHD's own
 * limit sits TL_CONNECTION_HEADROOM above ours, so that it still accepts
 * the connection that makes room. Trusted connections are never cut: a
 * caller's keep-alive connection stays its own.
 *
 * The service never trusts a request: bodies are bounded (413), the codec
 * bounds every allocation a body can cause, and every failure is answered
 * with a status and a text/plain message.
 */
#define _POSIX_C_SOURCE 200809L    /* open_memstream, getaddrinfo, clock_gettime */

#include "tl_service.h"

#include "tl_capture.h"
#include "tl_clock.h"
#include "tl_codec.h"
#include "tl_env.h"
#include "tl_log.h"
#include "tl_sig.h"

/* The service part sees only common and wire (docs/architecture.md, "Parts
 * and what each may use"): a service binary must never pull in curl, YAML
 * or kubectl code. Should runtime/meson.build ever hand this library the
 * client's or the k8s part's include directories, the build stops here. */
#if __has_include("tl_config.h") || __has_include("tl_target.h") || \
    __has_include("tl_k8s_yaml.h") || __has_include("tl_kubectl.h")
#error "runtime/service is compiled with client or k8s include directories"
#endif

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TL_CALL_PREFIX "/v1/call/"
#define TL_MAX_NAME 256
/* First allocation for a body; it grows as bytes arrive, so a
 * Content-Length that promises more than is sent costs nothing. */
#define TL_INITIAL_BODY ((size_t)64 << 10)
/* A body of known size gets this many bytes more, so that its first
 * argument's block can start 16-byte aligned with at least TL_REPLY_ROOM
 * bytes before it (tl_body_skew): a block that lies aligned is used in
 * place by the codec, not copied, and a read_write one's reply is written
 * around it (its header in the room before it). */
#define TL_REPLY_ROOM ((size_t)48)
#define TL_BODY_SLACK (TL_REPLY_ROOM + 16)
/* Per-connection memory for headers and MHD's read buffer: a larger read
 * buffer means fewer reads and handler calls while a big body arrives
 * (bench_bulk, 8 MiB read_only: 128 KiB -> 256 KiB took the best call from
 * about 4.5 to 3.5-4 ms on 2 loaded cores). It is touched only as far as a
 * body fills it, and only calls whose body the budget admitted read one. */
#define TL_CONNECTION_MEMORY ((size_t)256 << 10)
#define TL_IDLE_TIMEOUT_S 300u
/* How long a connection may go without a request that carries the token
 * (headers trickled a byte at a time included), unless the options say;
 * measured from the accept, so activity does not extend it. */
#define TL_UNTRUSTED_MS 10000
#define TL_CONNECTION_HEADROOM 64u

/* HTTP statuses the metrics distinguish; anything else counts as "other". */
static const unsigned tl_statuses[] = { 200, 400, 401, 404, 405, 413, 500, 503 };
#define TL_STATUS_COUNT (sizeof tl_statuses / sizeof tl_statuses[0])

/* Histogram bucket upper bounds for call durations, in seconds. */
static const double tl_buckets[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};
#define TL_BUCKET_COUNT (sizeof tl_buckets / sizeof tl_buckets[0])

struct tl_service_function {
    const struct tl_service_entry *entry;
    struct tl_sig *sig;         /* the entry's, plus the block of the
                                   program's variables when it has one  */
    unsigned first_extra;       /* that block's argument (then strings) */
    int has_extra;
    _Atomic uint64_t calls[TL_STATUS_COUNT + 1];     /* by status          */
    _Atomic uint64_t request_bytes;
    _Atomic uint64_t response_bytes;
    _Atomic uint64_t bucket_hits[TL_BUCKET_COUNT + 1]; /* not cumulative;
                                                       * last is +Inf      */
    _Atomic uint64_t duration_ns;
    _Atomic uint64_t duration_count;
};

/* One open connection, from MHD's notify-connection callback; a list
 * ordered by age, under tl_service.connections_lock. */
struct tl_connection {
    int fd;
    long since_ms;
    atomic_int trusted;         /* carried the right token once            */
    int cut;                    /* shutdown() done, close pending          */
    struct tl_connection *prev, *next;
};

struct tl_service {
    struct MHD_Daemon *daemon;
    pthread_mutex_t connections_lock;
    struct tl_connection *oldest, *newest;
    unsigned open_connections;  /* in the list and not cut                 */
    unsigned max_connections;
    long untrusted_ms;
    _Atomic uint64_t connections_cut;
    struct tl_service_function *functions;
    unsigned function_count;
    char *token;                /* NULL: no check                          */
    size_t max_request_bytes;
    struct tl_budget budget;    /* memory of all calls in flight (WIRE)   */
    unsigned port;
    atomic_int draining;
    _Atomic unsigned in_flight;
    _Atomic uint64_t responses[TL_STATUS_COUNT + 1]; /* every endpoint     */
};

/* One POST /v1/call request while its body arrives. */
struct tl_request {
    struct tl_service *service;
    struct tl_service_function *function;
    char *body;                 /* the allocation; the bytes start at skew */
    size_t skew;                /* 0..TL_BODY_SLACK, set at the first bytes */
    size_t slack;               /* TL_BODY_SLACK for a sized body, else 0  */
    size_t size;
    size_t capacity;            /* bytes after skew                        */
    int too_large;              /* the body passed the limit: discard it   */
    size_t discarded;
    unsigned refusal;           /* 413/503 from the memory budget: the body
                                 * is discarded and this is the answer     */
    size_t body_held;           /* budget bytes held for the body          */
    size_t reply_held;          /* budget bytes held for the reply, until
                                 * MHD is done with it                     */
};

/* request_slot value for GET endpoints: answered on MHD's second call, once
 * the (empty) body is in, so that the connection stays usable. */
static char tl_get_marker;

/* ------------------------------------------------------------------ */
/* Options                                                            */
/* ------------------------------------------------------------------ */

int tl_service_options_from_env(struct tl_service_options *opts,
                                char *err, size_t errlen)
{
    unsigned long long port = TL_SERVICE_DEFAULT_PORT;
    unsigned long long max_request = TL_SERVICE_DEFAULT_MAX_REQUEST;
    unsigned long long drain_s = TL_SERVICE_DEFAULT_DRAIN_MS / 1000;
    unsigned long long connections = TL_SERVICE_DEFAULT_CONNECTIONS;
    unsigned long long max_memory = 0;     /* unset: tl_service_start decides */
    const char *bind = tl_env("TURBOLIFT_BIND", "127.0.0.1");

    if (tl_env_number("TURBOLIFT_PORT", 0, 65535, &port, err, errlen) < 0 ||
        tl_env_number("TURBOLIFT_MAX_REQUEST", 1, SIZE_MAX / 2, &max_request,
                      err, errlen) < 0 ||
        tl_env_number("TURBOLIFT_DRAIN_TIMEOUT", 0, 3600, &drain_s, err, errlen) < 0 ||
        tl_env_number("TURBOLIFT_MAX_CONNECTIONS", 1, 65536, &connections,
                      err, errlen) < 0)
        return -1;
    if (tl_log_check_env(err, errlen) != 0 || tl_codec_check_env(err, errlen) != 0)
        return -1;
    if (tl_env_number("TURBOLIFT_MAX_MEMORY", tl_codec_alloc_limit(), SIZE_MAX,
                      &max_memory, err, errlen) < 0)
        return -1;
    opts->max_memory_bytes = (size_t)max_memory;
    opts->bind_address = bind;
    opts->port = (unsigned)port;
    opts->max_request_bytes = (size_t)max_request;
    opts->token = tl_env("TURBOLIFT_TOKEN", NULL);
    opts->drain_timeout_ms = (unsigned)drain_s * 1000;
    opts->max_connections = (unsigned)connections;
    opts->tls_cert = tl_env("TURBOLIFT_TLS_CERT", NULL);
    opts->tls_key = tl_env("TURBOLIFT_TLS_KEY", NULL);
    if ((opts->tls_cert == NULL) != (opts->tls_key == NULL)) {
        snprintf(err, errlen, "TURBOLIFT_TLS_CERT and TURBOLIFT_TLS_KEY go together: "
                 "%s is set, %s is not", opts->tls_cert ? "the certificate" : "the key",
                 opts->tls_cert ? "the key" : "the certificate");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Entries                                                            */
/* ------------------------------------------------------------------ */

static int tl_name_is_identifier(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > TL_MAX_NAME || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* The program's variables of other files that this binary keeps arrive
 * as one more captured value after the entry's own (tl_capture.c): the
 * signature the client sends by. */
static int tl_with_globals(struct tl_service_function *fn, char *err, size_t errlen)
{
    size_t block = tl_capture_block_size(), strings = tl_capture_strings();
    char reason[384];
    struct tl_sig *sig;

    if (tl_sig_parse_with_globals(fn->entry->signature, fn->sig->capture_count, block,
                                  strings, &sig, reason, sizeof reason) < 0) {
        snprintf(err, errlen, "service entry %s with the program's variables: %s",
                 fn->entry->name, reason);
        return -1;
    }
    tl_sig_free(fn->sig);
    fn->sig = sig;
    fn->first_extra = sig->param_count - (unsigned)strings - (block > 0);
    fn->has_extra = 1;
    return 0;
}

/* tl_service_check_entries(); with functions != NULL, each parsed
 * signature is kept in functions[i] (with its entry) instead of freed, so
 * that a starting service parses every signature once. */
static int tl_load_entries(const struct tl_service_entry *entries, unsigned count,
                           struct tl_service_function *functions,
                           char *err, size_t errlen)
{
    char reason[384];

    if (count > 0 && entries == NULL) {
        snprintf(err, errlen, "the service table is NULL");
        return -1;
    }
    for (unsigned i = 0; i < count; i++) {
        const struct tl_service_entry *e = &entries[i];
        struct tl_sig *sig;

        if (e->name == NULL || !tl_name_is_identifier(e->name)) {
            snprintf(err, errlen, "service entry %u: name \"%.64s\" is not a C "
                     "identifier", i, e->name ? e->name : "(null)");
            return -1;
        }
        if (e->call == NULL) {
            snprintf(err, errlen, "service entry %s: no call function", e->name);
            return -1;
        }
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(entries[j].name, e->name) == 0) {
                snprintf(err, errlen, "service entry %s appears twice", e->name);
                return -1;
            }
        }
        if (tl_sig_parse(e->signature, &sig, reason, sizeof reason) < 0) {
            snprintf(err, errlen, "service entry %s: %s", e->name, reason);
            return -1;
        }
        if (functions == NULL) {
            tl_sig_free(sig);
            continue;
        }
        functions[i].entry = e;
        functions[i].sig = sig;
        if ((tl_capture_block_size() > 0 || tl_capture_strings() > 0) &&
            tl_with_globals(&functions[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

int tl_service_check_entries(const struct tl_service_entry *entries,
                             unsigned count, char *err, size_t errlen)
{
    return tl_load_entries(entries, count, NULL, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Responses and metrics                                              */
/* ------------------------------------------------------------------ */

static unsigned tl_status_index(unsigned status)
{
    for (unsigned i = 0; i < TL_STATUS_COUNT; i++) {
        if (tl_statuses[i] == status)
            return i;
    }
    return TL_STATUS_COUNT;
}

static uint64_t tl_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Count one answered call; duration_ns 0 means it was refused before
 * decoding (413, 503), which the duration histogram leaves out. */
static void tl_count_call(struct tl_service_function *fn, unsigned status,
                          size_t request_bytes, size_t response_bytes,
                          uint64_t duration_ns)
{
    double seconds = (double)duration_ns / 1e9;
    unsigned bucket = 0;

    atomic_fetch_add(&fn->calls[tl_status_index(status)], 1);
    atomic_fetch_add(&fn->request_bytes, request_bytes);
    atomic_fetch_add(&fn->response_bytes, response_bytes);
    if (duration_ns == 0)
        return;
    while (bucket < TL_BUCKET_COUNT && seconds > tl_buckets[bucket])
        bucket++;
    atomic_fetch_add(&fn->bucket_hits[bucket], 1);
    atomic_fetch_add(&fn->duration_ns, duration_ns);
    atomic_fetch_add(&fn->duration_count, 1);
}

/* Queue a response and count it; takes ownership of response. */
static enum MHD_Result tl_send(struct tl_service *service,
                               struct MHD_Connection *connection,
                               unsigned status, struct MHD_Response *response)
{
    enum MHD_Result queued;

    if (response == NULL)
        return MHD_NO;          /* out of memory: MHD closes the connection */
    /* While draining, make keep-alive clients reconnect (elsewhere). */
    if (atomic_load(&service->draining) &&
        MHD_get_response_header(response, MHD_HTTP_HEADER_CONNECTION) == NULL)
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    queued = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    atomic_fetch_add(&service->responses[tl_status_index(status)], 1);
    return queued;
}

/* A text/plain response, with one optional extra header. */
static enum MHD_Result tl_send_text(struct tl_service *service,
                                    struct MHD_Connection *connection,
                                    unsigned status, const char *header,
                                    const char *value, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result tl_send_text(struct tl_service *service,
                                    struct MHD_Connection *connection,
                                    unsigned status, const char *header,
                                    const char *value, const char *fmt, ...)
{
    struct MHD_Response *response;
    char text[1024];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(text, sizeof text - 1, fmt, ap);
    va_end(ap);
    if (len < 0)
        len = 0;
    if ((size_t)len > sizeof text - 2)
        len = (int)sizeof text - 2;
    text[len] = '\0';
    if (status >= 400)
        tl_log_debug("answered %u: %s", status, text);
    text[len++] = '\n';
    text[len] = '\0';
    response = MHD_create_response_from_buffer((size_t)len, text, MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
    if (header != NULL)
        MHD_add_response_header(response, header, value);
    return tl_send(service, connection, status, response);
}

static void tl_write_metrics(const struct tl_service *service, FILE *out)
{
    fprintf(out, "# HELP turbolift_calls_total Calls answered, by function and "
            "HTTP status.\n# TYPE turbolift_calls_total counter\n");
    for (unsigned f = 0; f < service->function_count; f++) {
        const struct tl_service_function *fn = &service->functions[f];
        for (unsigned s = 0; s <= TL_STATUS_COUNT; s++) {
            uint64_t n = atomic_load(&fn->calls[s]);
            if (n == 0 && s != 0)
                continue;
            if (s < TL_STATUS_COUNT)
                fprintf(out, "turbolift_calls_total{function=\"%s\",code=\"%u\"} %llu\n",
                        fn->entry->name, tl_statuses[s], (unsigned long long)n);
            else
                fprintf(out, "turbolift_calls_total{function=\"%s\",code=\"other\"} %llu\n",
                        fn->entry->name, (unsigned long long)n);
        }
    }

    fprintf(out, "# HELP turbolift_call_errors_total Calls answered with a status "
            "other than 200.\n# TYPE turbolift_call_errors_total counter\n");
    for (unsigned f = 0; f < service->function_count; f++) {
        const struct tl_service_function *fn = &service->functions[f];
        uint64_t errors = 0;
        for (unsigned s = 1; s <= TL_STATUS_COUNT; s++)
            errors += atomic_load(&fn->calls[s]);
        fprintf(out, "turbolift_call_errors_total{function=\"%s\"} %llu\n",
                fn->entry->name, (unsigned long long)errors);
    }

    fprintf(out, "# HELP turbolift_request_bytes_total Request body bytes received "
            "by function.\n# TYPE turbolift_request_bytes_total counter\n");
    for (unsigned f = 0; f < service->function_count; f++)
        fprintf(out, "turbolift_request_bytes_total{function=\"%s\"} %llu\n",
                service->functions[f].entry->name,
                (unsigned long long)atomic_load(&service->functions[f].request_bytes));
    fprintf(out, "# HELP turbolift_response_bytes_total Reply body bytes sent by "
            "function.\n# TYPE turbolift_response_bytes_total counter\n");
    for (unsigned f = 0; f < service->function_count; f++)
        fprintf(out, "turbolift_response_bytes_total{function=\"%s\"} %llu\n",
                service->functions[f].entry->name,
                (unsigned long long)atomic_load(&service->functions[f].response_bytes));

    fprintf(out, "# HELP turbolift_call_duration_seconds Time to decode, run and "
            "encode a call.\n# TYPE turbolift_call_duration_seconds histogram\n");
    for (unsigned f = 0; f < service->function_count; f++) {
        const struct tl_service_function *fn = &service->functions[f];
        uint64_t cumulative = 0;
        for (unsigned b = 0; b < TL_BUCKET_COUNT; b++) {
            cumulative += atomic_load(&fn->bucket_hits[b]);
            fprintf(out, "turbolift_call_duration_seconds_bucket{function=\"%s\","
                    "le=\"%g\"} %llu\n", fn->entry->name, tl_buckets[b],
                    (unsigned long long)cumulative);
        }
        cumulative += atomic_load(&fn->bucket_hits[TL_BUCKET_COUNT]);
        fprintf(out, "turbolift_call_duration_seconds_bucket{function=\"%s\","
                "le=\"+Inf\"} %llu\n", fn->entry->name, (unsigned long long)cumulative);
        fprintf(out, "turbolift_call_duration_seconds_sum{function=\"%s\"} %.9f\n",
                fn->entry->name, (double)atomic_load(&fn->duration_ns) / 1e9);
        fprintf(out, "turbolift_call_duration_seconds_count{function=\"%s\"} %llu\n",
                fn->entry->name, (unsigned long long)atomic_load(&fn->duration_count));
    }

    fprintf(out, "# HELP turbolift_calls_in_flight Calls accepted and not yet "
            "answered.\n# TYPE turbolift_calls_in_flight gauge\n"
            "turbolift_calls_in_flight %u\n", atomic_load(&service->in_flight));
    fprintf(out, "# HELP turbolift_http_responses_total Responses on every endpoint, "
            "by status.\n# TYPE turbolift_http_responses_total counter\n");
    for (unsigned s = 0; s <= TL_STATUS_COUNT; s++) {
        uint64_t n = atomic_load(&service->responses[s]);
        if (s < TL_STATUS_COUNT)
            fprintf(out, "turbolift_http_responses_total{code=\"%u\"} %llu\n",
                    tl_statuses[s], (unsigned long long)n);
        else
            fprintf(out, "turbolift_http_responses_total{code=\"other\"} %llu\n",
                    (unsigned long long)n);
    }
    fprintf(out, "# HELP turbolift_connections_cut_total Connections closed because "
            "they went without the token too long or made room for another.\n"
            "# TYPE turbolift_connections_cut_total counter\n"
            "turbolift_connections_cut_total %llu\n",
            (unsigned long long)atomic_load(&service->connections_cut));
    fprintf(out, "# HELP turbolift_draining 1 once the service stopped taking calls."
            "\n# TYPE turbolift_draining gauge\nturbolift_draining %d\n",
            atomic_load(&service->draining) ? 1 : 0);
}

static enum MHD_Result tl_send_metrics(struct tl_service *service,
                                       struct MHD_Connection *connection)
{
    struct MHD_Response *response;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    if (out == NULL)
        return tl_send_text(service, connection, 500, NULL, NULL, "out of memory");
    tl_write_metrics(service, out);
    if (fclose(out) != 0) {
        free(text);
        return tl_send_text(service, connection, 500, NULL, NULL, "out of memory");
    }
    response = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (response == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    return tl_send(service, connection, 200, response);
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */
/* ------------------------------------------------------------------ */

/* Compare in time that depends only on the lengths, not on where the
 * first difference is, so that a wrong guess reveals nothing. */
static int tl_token_matches(const char *expected, const char *given, size_t given_len)
{
    size_t expected_len = strlen(expected);
    unsigned char diff = expected_len != given_len;

    for (size_t i = 0; i < expected_len; i++)
        diff |= (unsigned char)expected[i] ^
                (unsigned char)(i < given_len ? given[i] : 0);
    return diff == 0;
}

static int tl_authorized(const struct tl_service *service,
                         struct MHD_Connection *connection)
{
    const char *header;

    if (service->token == NULL)
        return 1;
    header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_AUTHORIZATION);
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return 0;
    header += 7;
    while (*header == ' ')
        header++;
    return tl_token_matches(service->token, header, strlen(header));
}

/* The connection showed the token: it is never cut from now on. */
static void tl_trust(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct tl_connection *c = info != NULL ? info->socket_context : NULL;

    if (c != NULL)
        atomic_store(&c->trusted, 1);
}

/* Cut c: MHD's thread for it reads end-of-file and closes it. The fd is
 * still open: MHD closes it only after telling us (tl_notify_connection),
 * and we hold the lock. */
static void tl_cut(struct tl_service *service, struct tl_connection *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->cut = 1;
    service->open_connections--;
    atomic_fetch_add(&service->connections_cut, 1);
}

/* Cut untrusted connections: every one older than TL_UNTRUSTED_MS, then
 * the oldest ones while more than max_connections are open. Called with
 * the lock held when a connection arrives. */
static void tl_make_room(struct tl_service *service)
{
    long old = tl_now_ms() - service->untrusted_ms;

    for (struct tl_connection *c = service->oldest; c != NULL; c = c->next) {
        int full = service->open_connections > service->max_connections;

        if (c->since_ms > old && !full)
            break;             /* younger ones follow, and there is room */
        if (!c->cut && !atomic_load(&c->trusted))
            tl_cut(service, c);
    }
}

static void tl_notify_connection(void *cls, struct MHD_Connection *connection,
                                 void **socket_context,
                                 enum MHD_ConnectionNotificationCode code)
{
    struct tl_service *service = cls;
    struct tl_connection *c;

    /* *socket_context is ours to set at STARTED; before that MHD may leave
     * it unset, so it is read only afterwards (valgrind saw the read) */
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);

        c = calloc(1, sizeof *c);
        *socket_context = NULL;
        if (c == NULL || info == NULL) {
            free(c);           /* untracked: MHD's own limits still hold */
            return;
        }
        c->fd = info->connect_fd;
        c->since_ms = tl_now_ms();
        pthread_mutex_lock(&service->connections_lock);
        c->prev = service->newest;
        if (service->newest != NULL)
            service->newest->next = c;
        else
            service->oldest = c;
        service->newest = c;
        service->open_connections++;
        tl_make_room(service);
        pthread_mutex_unlock(&service->connections_lock);
        *socket_context = c;
        return;
    }
    c = *socket_context;
    if (c == NULL)
        return;
    pthread_mutex_lock(&service->connections_lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        service->oldest = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        service->newest = c->prev;
    if (!c->cut)
        service->open_connections--;
    pthread_mutex_unlock(&service->connections_lock);
    free(c);
    *socket_context = NULL;
}

static struct tl_service_function *tl_find_function(struct tl_service *service,
                                                    const char *name)
{
    for (unsigned i = 0; i < service->function_count; i++) {
        if (strcmp(service->functions[i].entry->name, name) == 0)
            return &service->functions[i];
    }
    return NULL;
}

static int tl_method_is(const char *method, const char *wanted)
{
    return strcmp(method, wanted) == 0;
}

static enum MHD_Result tl_answer_get(struct tl_service *service,
                                     struct MHD_Connection *connection,
                                     const char *url)
{
    if (strcmp(url, "/healthz") == 0)
        return tl_send_text(service, connection, 200, NULL, NULL, "ok");
    if (strcmp(url, "/readyz") == 0) {
        if (atomic_load(&service->draining))
            return tl_send_text(service, connection, 503, NULL, NULL, "draining");
        return tl_send_text(service, connection, 200, NULL, NULL, "ready");
    }
    /* Metrics name every function and count its calls: the token guards
     * them like the calls themselves. The probes stay open for kubelet. */
    if (!tl_authorized(service, connection))
        return tl_send_text(service, connection, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Bearer", "missing or wrong bearer token "
                            "(Authorization: Bearer <TURBOLIFT_TOKEN>)");
    if (service->token != NULL)
        tl_trust(connection);
    return tl_send_metrics(service, connection);
}

/* The first call for a request: headers are in, the body is not. Answer
 * everything but a well-formed call right away. */
static enum MHD_Result tl_begin(struct tl_service *service,
                                struct MHD_Connection *connection,
                                const char *url, const char *method,
                                void **request_slot)
{
    struct tl_service_function *fn;
    struct tl_request *request;
    const char *length;
    const char *name;
    size_t body_size = 0;
    int sized = 0;

    if (strncmp(url, TL_CALL_PREFIX, strlen(TL_CALL_PREFIX)) != 0) {
        int get = tl_method_is(method, MHD_HTTP_METHOD_GET) ||
                  tl_method_is(method, MHD_HTTP_METHOD_HEAD);
        int known = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
                    strcmp(url, "/metrics") == 0;
        if (!known)
            return tl_send_text(service, connection, 404, NULL, NULL,
                                "no such endpoint: %.200s (calls go to "
                                TL_CALL_PREFIX "<function>)", url);
        if (!get)
            return tl_send_text(service, connection, 405, MHD_HTTP_HEADER_ALLOW,
                                "GET, HEAD", "%s takes GET, not %.20s", url, method);
        *request_slot = &tl_get_marker;
        return MHD_YES;
    }

    name = url + strlen(TL_CALL_PREFIX);
    if (!tl_method_is(method, MHD_HTTP_METHOD_POST))
        return tl_send_text(service, connection, 405, MHD_HTTP_HEADER_ALLOW, "POST",
                            "calls take POST, not %.20s", method);
    /* The token before the function name: without it, nothing is revealed,
     * not even which functions exist. */
    if (!tl_authorized(service, connection))
        return tl_send_text(service, connection, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Bearer", "missing or wrong bearer token "
                            "(Authorization: Bearer <TURBOLIFT_TOKEN>)");
    /* Without a token every caller is equal: a call earns the trust. */
    tl_trust(connection);
    fn = tl_find_function(service, name);
    if (fn == NULL)
        return tl_send_text(service, connection, 404, NULL, NULL,
                            "this service has no function \"%.200s\"", name);
    length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length != NULL) {
        char *end;
        unsigned long long declared;
        errno = 0;
        declared = strtoull(length, &end, 10);
        if (errno == 0 && end != length && declared > service->max_request_bytes) {
            tl_count_call(fn, 413, 0, 0, 0);
            return tl_send_text(service, connection, 413, MHD_HTTP_HEADER_CONNECTION,
                                "close", "request body of %llu bytes is larger than "
                                "the limit of %zu bytes (TURBOLIFT_MAX_REQUEST)",
                                declared, service->max_request_bytes);
        }
        if (errno == 0 && end != length && declared >= tl_codec_alloc_limit()) {
            tl_count_call(fn, 413, 0, 0, 0);
            return tl_send_text(service, connection, 413, MHD_HTTP_HEADER_CONNECTION,
                                "close", "request body of %llu bytes leaves no memory "
                                "for the call within the limit of %zu bytes per call "
                                "(TURBOLIFT_MAX_ALLOC)", declared,
                                tl_codec_alloc_limit());
        }
        if (errno == 0 && end != length) {
            body_size = (size_t)declared;
            sized = 1;
        }
    }

    /* Count the call before looking at the drain flag: a drain sets the
     * flag and then waits for the count, so either we see the flag or the
     * drain sees us, never neither. */
    atomic_fetch_add(&service->in_flight, 1);
    if (atomic_load(&service->draining)) {
        atomic_fetch_sub(&service->in_flight, 1);
        tl_count_call(fn, 503, 0, 0, 0);
        return tl_send_text(service, connection, 503, NULL, NULL,
                            "draining: the service is shutting down, retry elsewhere");
    }
    request = calloc(1, sizeof *request);
    if (request == NULL) {
        atomic_fetch_sub(&service->in_flight, 1);
        return tl_send_text(service, connection, 500, NULL, NULL, "out of memory");
    }
    request->service = service;
    request->function = fn;
    /* A body of known size is read into one buffer of that size, taken
     * from the memory budget before a byte of it is read. */
    if (sized && tl_budget_take(&service->budget, body_size + TL_BODY_SLACK) < 0) {
        atomic_fetch_sub(&service->in_flight, 1);
        free(request);
        tl_count_call(fn, 503, 0, 0, 0);
        return tl_send_text(service, connection, 503, MHD_HTTP_HEADER_CONNECTION,
                            "close", "the service's memory budget of %zu bytes "
                            "(TURBOLIFT_MAX_MEMORY) is taken by the calls in "
                            "flight; a body of %zu bytes does not fit now, retry",
                            service->budget.limit, body_size);
    }
    if (sized) {
        request->body_held = body_size + TL_BODY_SLACK;
        request->body = malloc(body_size + TL_BODY_SLACK);
        request->capacity = body_size;
        request->slack = TL_BODY_SLACK;
        if (request->body == NULL) {
            tl_budget_give(&service->budget, body_size + TL_BODY_SLACK);
            atomic_fetch_sub(&service->in_flight, 1);
            free(request);
            return tl_send_text(service, connection, 503, MHD_HTTP_HEADER_CONNECTION,
                                "close", "out of memory for a body of %zu bytes",
                                body_size);
        }
    }
    *request_slot = request;
    return MHD_YES;
}

/* Where a sized body's bytes start in its buffer (below TL_BODY_SLACK):
 * so that the first argument's bin data, if it is one, is 16-byte aligned
 * with TL_REPLY_ROOM bytes or more before it, judged from the body's first
 * bytes (an array header, then a bin header; anything else, or too few
 * bytes: 0). */
static size_t tl_body_skew(const char *body, const unsigned char *p, size_t n)
{
    size_t at, skew;

    if (n < 1)
        return 0;
    if ((p[0] & 0xf0) == 0x90)
        at = 1;                                 /* fixarray */
    else if (p[0] == 0xdc)
        at = 3;                                 /* array 16 */
    else if (p[0] == 0xdd)
        at = 5;                                 /* array 32 */
    else
        return 0;
    if (n <= at)
        return 0;
    if (p[at] == 0xc4)
        at += 2;                                /* bin 8 */
    else if (p[at] == 0xc5)
        at += 3;                                /* bin 16 */
    else if (p[at] == 0xc6)
        at += 5;                                /* bin 32 */
    else
        return 0;
    skew = at < TL_REPLY_ROOM ? TL_REPLY_ROOM - at : 0;
    return skew + (16 - ((uintptr_t)body + skew + at) % 16) % 16;
}

/* More body bytes. A body sent chunked has no Content-Length, so its size
 * is enforced here. MHD accepts no response in the middle of a body, so an
 * oversized one is read and dropped and answered 413 at its end; one more
 * limit's worth at most, then the connection is simply closed. */
/* Drop the body read so far and its budget; the rest is discarded. */
static void tl_drop_body(struct tl_request *request, unsigned refusal)
{
    request->too_large = 1;
    request->refusal = refusal;
    free(request->body);
    request->body = NULL;
    request->capacity = 0;
    tl_budget_give(&request->service->budget, request->body_held);
    request->body_held = 0;
}

static enum MHD_Result tl_append(struct tl_request *request,
                                 const char *data, size_t size)
{
    struct tl_service *service = request->service;

    if (!request->too_large && size > service->max_request_bytes - request->size)
        tl_drop_body(request, 0);
    if (request->too_large) {
        request->discarded += size;
        if (request->discarded > service->max_request_bytes) {
            tl_count_call(request->function, 413, request->size, 0, 0);
            tl_log_debug("%s: closing a connection that sent more than twice the "
                         "body limit", request->function->entry->name);
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (request->size + size > request->capacity) {
        size_t grown = request->capacity ? request->capacity : TL_INITIAL_BODY;
        char *body;
        while (grown < request->size + size)
            grown = grown > service->max_request_bytes / 2 ? service->max_request_bytes
                                                           : grown * 2;
        /* A chunked body takes its memory from the budget as it grows. */
        if (grown >= tl_codec_alloc_limit()) {
            tl_drop_body(request, 413);
            request->discarded += size;
            return MHD_YES;
        }
        if (grown > request->body_held &&
            tl_budget_take(&service->budget, grown - request->body_held) < 0) {
            tl_drop_body(request, 503);
            request->discarded += size;
            return MHD_YES;
        }
        if (grown > request->body_held)
            request->body_held = grown;
        body = realloc(request->body, grown);
        if (body == NULL) {
            tl_log_error("out of memory for a body of %zu bytes", grown);
            return MHD_NO;
        }
        request->body = body;
        request->capacity = grown;
    }
    if (request->size == 0 && request->slack != 0)
        request->skew = tl_body_skew(request->body, (const unsigned char *)data, size);
    memcpy(request->body + request->skew + request->size, data, size);
    request->size += size;
    return MHD_YES;
}

/* Take the reply's bound (tl_reply_bound) from the call's limit and the
 * service's budget, on top of what the request already holds; called
 * before the function runs and again after it (strings it set may have
 * grown the bound). 413 when one call may not have that much, 503 when
 * the budget is taken by other calls. */
static int tl_reserve_reply(struct tl_request *request, const struct tl_frame *frame,
                            char *err, size_t errlen, unsigned *status)
{
    struct tl_service *service = request->service;
    size_t bound = tl_reply_bound(request->function->sig, frame);
    size_t held = tl_frame_memory(frame), limit = tl_codec_alloc_limit();

    if (bound <= request->reply_held)
        return 0;
    if (held > limit || bound > limit - held) {
        *status = 413;
        snprintf(err, errlen, "the call holds %zu bytes and its reply would take "
                 "up to %zu more, over the limit of %zu bytes per call "
                 "(TURBOLIFT_MAX_ALLOC)", held, bound, limit);
        return -1;
    }
    if (tl_budget_take(&service->budget, bound - request->reply_held) < 0) {
        *status = 503;
        snprintf(err, errlen, "the service's memory budget of %zu bytes "
                 "(TURBOLIFT_MAX_MEMORY) is taken by the calls in flight; "
                 "a reply of up to %zu bytes does not fit now, retry",
                 service->budget.limit, bound);
        return -1;
    }
    request->reply_held = bound;
    return 0;
}

/* The whole body is in: decode, run the function, encode the reply. */
static enum MHD_Result tl_finish(struct tl_request *request,
                                 struct MHD_Connection *connection)
{
    struct tl_service *service = request->service;
    struct tl_service_function *fn = request->function;
    struct tl_frame *frame = NULL;
    struct MHD_Response *response;
    msgpack_sbuffer reply;
    uint64_t start = tl_now_ns();
    char err[512];
    char *reply_data;
    size_t reply_size;
    unsigned status = 400;
    enum MHD_Result queued;

    if (request->too_large && request->refusal != 0) {
        tl_count_call(fn, request->refusal, request->size + request->discarded, 0, 0);
        return tl_send_text(service, connection, request->refusal,
                            MHD_HTTP_HEADER_CONNECTION, "close", "%s",
                            request->refusal == 413
                            ? "the request body leaves no memory for the call "
                              "within the limit per call (TURBOLIFT_MAX_ALLOC)"
                            : "the service's memory budget (TURBOLIFT_MAX_MEMORY) "
                              "is taken by the calls in flight; retry");
    }
    if (request->too_large) {
        tl_count_call(fn, 413, request->size + request->discarded, 0, 0);
        return tl_send_text(service, connection, 413, MHD_HTTP_HEADER_CONNECTION,
                            "close", "request body is larger than the limit of "
                            "%zu bytes (TURBOLIFT_MAX_REQUEST)",
                            service->max_request_bytes);
    }
    msgpack_sbuffer_init(&reply);
    if (tl_decode_request_lent(fn->sig, request->body + request->skew, request->size,
                               request->size, &service->budget, &frame, &status,
                               err, sizeof err) < 0) {
        tl_count_call(fn, status, request->size, 0, tl_now_ns() - start + 1);
        return tl_send_text(service, connection, status, NULL, NULL,
                            "%s for %s(%s): %s", status == 400 ? "bad request"
                            : status == 413 ? "too much memory" : "no memory now",
                            fn->entry->name, fn->entry->signature, err);
    }
    /* The frame holds its own copy of everything it sends back (only a
     * read-only block may still point into the body, and the reply is
     * encoded after the call), so the body's buffer becomes the reply's: a
     * call of a P-byte array holds about 2 x P at any moment (P for a
     * read-only one, used where it lies), and a read_write reply of the
     * same size fits where its request was, instead of in a new block
     * beside a freed one (which the heap, kept for reuse, showed as up to
     * 4 x P resident). */
    reply.data = request->body;
    reply.alloc = request->body != NULL ? request->capacity + request->slack : 0;
    reply.size = 0;
    request->body = NULL;
    request->reply_held = request->body_held;   /* the same bytes, charged once */
    request->body_held = 0;
    /* The reply's size is bounded before the call runs, from the buffers
     * it will send back: a call whose reply cannot fit is refused unrun. */
    if (tl_reserve_reply(request, frame, err, sizeof err, &status) < 0) {
        tl_frame_free(frame);
        msgpack_sbuffer_destroy(&reply);
        tl_count_call(fn, status, request->size, 0, tl_now_ns() - start + 1);
        return tl_send_text(service, connection, status, NULL, NULL, "%s: %s",
                            fn->entry->name, err);
    }
    if (!fn->has_extra)
        fn->entry->call(tl_frame_args(frame), tl_frame_result(frame));
    else if (tl_capture_call(fn->entry, tl_frame_args(frame), fn->first_extra,
                             tl_frame_result(frame)) != 0) {
        tl_frame_free(frame);
        msgpack_sbuffer_destroy(&reply);
        tl_count_call(fn, 503, request->size, 0, tl_now_ns() - start + 1);
        return tl_send_text(service, connection, 503, NULL, NULL, "%s: no memory now for "
                            "the program's strings; retry", fn->entry->name);
    }
    if (tl_reserve_reply(request, frame, err, sizeof err, &status) < 0) {
        tl_frame_free(frame);
        msgpack_sbuffer_destroy(&reply);
        tl_count_call(fn, status, request->size, 0, tl_now_ns() - start + 1);
        return tl_send_text(service, connection, status, NULL, NULL, "%s: after "
                            "the call: %s", fn->entry->name, err);
    }
    int encoded;

    if (tl_frame_lent_out(frame)) {
        /* The array was changed where it lay in the body: the reply's
         * other bytes go in front of it, and that is the answer (no copy;
         * the call held its body and nothing else). */
        char *head;
        size_t len;
        int rc = tl_encode_reply_in_place(fn->sig, frame, reply.data, reply.alloc,
                                          &head, &len, err, sizeof err);
        if (rc == 0) {
            tl_frame_free(frame);
            response = MHD_create_response_from_buffer_with_free_callback_cls(
                len, head, free, reply.data);
            if (response == NULL) {
                msgpack_sbuffer_destroy(&reply);
                tl_count_call(fn, 500, request->size, 0, tl_now_ns() - start + 1);
                return MHD_NO;
            }
            reply.data = NULL;          /* MHD frees it when sent */
            reply_size = len;
            goto send;
        }
        if (rc == 1) {
            /* No room in front of it: a reply buffer of its own (this
             * call then holds about 2 x the array, as without lending;
             * not the usual case: the body is placed to leave room). */
            msgpack_sbuffer own;
            msgpack_sbuffer_init(&own);
            rc = tl_encode_reply(fn->sig, frame, &own, err, sizeof err);
            msgpack_sbuffer_destroy(&reply);
            reply = own;
        }
        encoded = rc;
    } else {
        encoded = tl_encode_reply(fn->sig, frame, &reply, err, sizeof err);
    }
    if (encoded < 0) {
        tl_frame_free(frame);
        msgpack_sbuffer_destroy(&reply);
        tl_count_call(fn, 500, request->size, 0, tl_now_ns() - start + 1);
        tl_log_error("%s: cannot encode the reply: %s", fn->entry->name, err);
        return tl_send_text(service, connection, 500, NULL, NULL,
                            "%s: cannot encode the reply: %s", fn->entry->name, err);
    }
    tl_frame_free(frame);
    reply_size = reply.size;
    if (reply.alloc > ((size_t)64 << 10) && reply_size < reply.alloc / 2) {
        /* a small reply in a big request's buffer: give the rest back now */
        char *smaller = realloc(reply.data, reply_size ? reply_size : 1);
        if (smaller != NULL) {
            reply.data = smaller;
            reply.alloc = reply_size ? reply_size : 1;
        }
    }
    reply_data = msgpack_sbuffer_release(&reply);   /* MHD frees it when sent */
    response = MHD_create_response_from_buffer(reply_size, reply_data,
                                               MHD_RESPMEM_MUST_FREE);
    if (response == NULL) {
        free(reply_data);
        tl_count_call(fn, 500, request->size, 0, tl_now_ns() - start + 1);
        return MHD_NO;
    }
send:
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/msgpack");
    tl_count_call(fn, 200, request->size, reply_size, tl_now_ns() - start + 1);
    /* Which process answered: tests/e2e matches this pid with the client's
     * "worker N listening" line. */
    tl_log_debug("%s: answered 200 in pid %ld", fn->entry->name, (long)getpid());
    queued = tl_send(service, connection, 200, response);
    return queued;
}

static enum MHD_Result tl_handle(void *cls, struct MHD_Connection *connection,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **request_slot)
{
    struct tl_service *service = cls;
    struct tl_request *request = *request_slot;
    size_t size = *upload_data_size;

    (void)version;
    if (request == NULL)
        return tl_begin(service, connection, url, method, request_slot);
    if (*request_slot == &tl_get_marker) {
        *upload_data_size = 0;  /* a GET with a body: ignore the body */
        if (size > 0)
            return MHD_YES;
        *request_slot = NULL;
        return tl_answer_get(service, connection, url);
    }
    if (size > 0) {
        *upload_data_size = 0;
        return tl_append(request, upload_data, size);
    }
    return tl_finish(request, connection);
}

/* MHD calls this once per request it handed us, whatever happened. */
static void tl_completed(void *cls, struct MHD_Connection *connection,
                         void **request_slot, enum MHD_RequestTerminationCode why)
{
    struct tl_request *request = *request_slot;

    (void)cls;
    (void)connection;
    if (request == NULL || *request_slot == &tl_get_marker)
        return;
    if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        tl_log_debug("%s: request ended early (MHD code %d)",
                     request->function->entry->name, (int)why);
    atomic_fetch_sub(&request->service->in_flight, 1);
    free(request->body);
    /* The reply buffer goes with MHD's response, which is done with it. */
    tl_budget_give(&request->service->budget, request->body_held + request->reply_held);
    free(request);
    *request_slot = NULL;
}

static void tl_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t len;

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    len = strlen(line);
    while (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
    tl_log_warn("http: %s", line);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                         */
/* ------------------------------------------------------------------ */

static void tl_service_free(struct tl_service *service)
{
    if (service == NULL)
        return;
    for (unsigned i = 0; i < service->function_count; i++)
        tl_sig_free(service->functions[i].sig);
    free(service->functions);
    free(service->token);
    pthread_mutex_destroy(&service->connections_lock);
    free(service);
}

/*
 * Keep freed memory for the next call instead of handing it back to the
 * kernel (WIRE). A call of an 8 MiB array allocates its body, its buffer
 * and its reply; with glibc's defaults those are mmap'd or trimmed away
 * again after every call, so each call touches 6000 fresh pages, and in a
 * virtual machine those page faults cost more than the bytes moved
 * (measured: 126 ms for an 8 MiB call against 6 ms for the same bytes on
 * raw TCP). Blocks up to 32 MiB (glibc's largest threshold) come from the
 * heap, and an arena keeps up to 64 MiB free before it trims; larger ones
 * are still mmap'd and given back at once.
 */
/* The memory limit of our cgroup (v2, else v1) in bytes; 0 when there is
 * none (or it is too large to mean one). */
static size_t tl_cgroup_memory_limit(void)
{
    static const char *const files[] = {
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    };

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        unsigned long long bytes;
        FILE *f = fopen(files[i], "r");
        int got;

        if (f == NULL)
            continue;
        got = fscanf(f, "%llu", &bytes);
        fclose(f);
        if (got == 1 && bytes > 0 && bytes < (1ull << 50))
            return (size_t)bytes;
        return 0;       /* "max", or the v1 "no limit" value */
    }
    return 0;
}

/*
 * The budget when TURBOLIFT_MAX_MEMORY is not set: 1 GiB, or less inside a
 * memory-limited cgroup (a pod's resources.limits.memory, 256Mi by
 * default), so that calls get 503/413 before the kernel's OOM killer
 * comes: three quarters of the limit, and at least 32 MiB left for the
 * process itself. Unless TURBOLIFT_MAX_ALLOC is set, one call may then
 * have no more than the whole budget either.
 */
static size_t tl_default_budget(void)
{
    size_t budget = TL_SERVICE_DEFAULT_MAX_MEMORY, cgroup = tl_cgroup_memory_limit();
    size_t room;

    if (cgroup == 0)
        return budget;
    room = cgroup / 4 * 3;
    if (cgroup > ((size_t)64 << 20) && room > cgroup - ((size_t)32 << 20))
        room = cgroup - ((size_t)32 << 20);
    if (room < budget)
        budget = room;
    if (tl_env("TURBOLIFT_MAX_ALLOC", NULL) == NULL && tl_codec_alloc_limit() > budget)
        tl_codec_set_alloc_limit(budget);
    return budget;
}

static void tl_keep_heap(void)
{
#ifdef M_TRIM_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

int tl_service_start(const struct tl_service_entry *entries, unsigned count,
                     const struct tl_service_options *opts,
                     struct tl_service **out, char *err, size_t errlen)
{
    tl_keep_heap();
    struct tl_service *service = NULL;
    struct addrinfo hints, *address = NULL;
    const union MHD_DaemonInfo *info;
    struct MHD_OptionItem tls[3] = { { MHD_OPTION_END, 0, NULL },
                                     { MHD_OPTION_END, 0, NULL },
                                     { MHD_OPTION_END, 0, NULL } };
    char port_text[16];
    unsigned flags;
    int rc;

    *out = NULL;
    service = calloc(1, sizeof *service);
    if (service == NULL)
        goto out_of_memory;
    pthread_mutex_init(&service->connections_lock, NULL);
    service->max_connections = opts->max_connections ? opts->max_connections
                                                     : TL_SERVICE_DEFAULT_CONNECTIONS;
    service->untrusted_ms = opts->untrusted_ms ? (long)opts->untrusted_ms : TL_UNTRUSTED_MS;
    service->functions = calloc(count ? count : 1, sizeof *service->functions);
    if (service->functions == NULL)
        goto out_of_memory;
    service->function_count = count;    /* slots not loaded stay NULL */
    if (tl_capture_load(err, errlen) < 0 ||
        tl_load_entries(entries, count, service->functions, err, errlen) < 0)
        goto fail;
    if (opts->port > 65535) {
        snprintf(err, errlen, "port %u is not a TCP port", opts->port);
        goto fail;
    }
    if (opts->token != NULL && opts->token[0] != '\0') {
        service->token = strdup(opts->token);
        if (service->token == NULL)
            goto out_of_memory;
    }
    service->max_request_bytes = opts->max_request_bytes ? opts->max_request_bytes
                                                         : TL_SERVICE_DEFAULT_MAX_REQUEST;
    service->budget.limit = opts->max_memory_bytes ? opts->max_memory_bytes
                                                   : tl_default_budget();
    if (service->budget.limit < tl_codec_alloc_limit())
        service->budget.limit = tl_codec_alloc_limit();
    tl_log_info("memory: %zu MiB for all calls in flight, %zu MiB per call",
                service->budget.limit >> 20, tl_codec_alloc_limit() >> 20);

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    snprintf(port_text, sizeof port_text, "%u", opts->port);
    rc = getaddrinfo(opts->bind_address ? opts->bind_address : "127.0.0.1",
                     port_text, &hints, &address);
    if (rc != 0) {
        snprintf(err, errlen, "bind address \"%.64s\" is not a numeric IPv4 or IPv6 "
                 "address: %s", opts->bind_address, gai_strerror(rc));
        goto fail;
    }

    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* HTTPS: libmicrohttpd with GnuTLS, from the PEM texts in memory. */
    if (opts->tls_cert != NULL && opts->tls_key != NULL) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
                                          (void *)opts->tls_cert };
        tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
                                          (void *)opts->tls_key };
    }
    if (address->ai_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)address->ai_addr;
        /* "::" means every address: take IPv4 clients too, as 0.0.0.0
         * users would expect of it. */
        flags |= IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ? MHD_USE_DUAL_STACK
                                                          : MHD_USE_IPv6;
    }
    service->daemon = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL,
        tl_handle, service,
        MHD_OPTION_EXTERNAL_LOGGER, tl_mhd_log, NULL,   /* must come first */
        MHD_OPTION_SOCK_ADDR, address->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, tl_completed, service,
        MHD_OPTION_NOTIFY_CONNECTION, tl_notify_connection, service,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_CONNECTION_LIMIT, service->max_connections + TL_CONNECTION_HEADROOM,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, TL_CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, TL_IDLE_TIMEOUT_S,
        MHD_OPTION_END);
    freeaddrinfo(address);
    if (service->daemon == NULL) {
        snprintf(err, errlen, "cannot listen on %s port %u (in use, or no such "
                 "local address?%s)", opts->bind_address, opts->port,
                 opts->tls_cert ? " or a TLS certificate or key GnuTLS refused" : "");
        goto fail;
    }
    info = MHD_get_daemon_info(service->daemon, MHD_DAEMON_INFO_BIND_PORT);
    service->port = info != NULL ? info->port : opts->port;
    tl_log_info("serving %u function(s) on %s port %u (%s)", count, opts->bind_address,
                service->port, opts->tls_cert ? "https" : "http");
    *out = service;
    return 0;

out_of_memory:
    snprintf(err, errlen, "out of memory");
fail:
    tl_service_free(service);
    return -1;
}

unsigned tl_service_port(const struct tl_service *service)
{
    return service->port;
}

void tl_service_begin_drain(struct tl_service *service)
{
    if (atomic_exchange(&service->draining, 1) == 0)
        tl_log_info("draining: %u call(s) in flight", atomic_load(&service->in_flight));
}

unsigned tl_service_in_flight(const struct tl_service *service)
{
    return atomic_load(&service->in_flight);
}

int tl_service_wait_idle(const struct tl_service *service, unsigned timeout_ms)
{
    long deadline = tl_now_ms() + (long)timeout_ms;

    while (atomic_load(&service->in_flight) > 0) {
        if (tl_now_ms() >= deadline)
            return -1;
        tl_wait_ms(5);
    }
    return 0;
}

void tl_service_stop(struct tl_service *service)
{
    if (service == NULL)
        return;
    MHD_stop_daemon(service->daemon);
    tl_service_free(service);
}
