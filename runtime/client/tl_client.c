/* SPDX-License-Identifier: MIT */
/*
 * tl_client.c - libcurl client for calls to services.
 *
 * Why one easy handle per (thread, endpoint): an easy handle must never be
 * used by two threads at once, and a handle keeps its connection alive
 * between requests, so caching it per thread gives keep-alive with no
 * lock on the call path. The cache is small and bounded (least recently
 * used out), and a pthread key frees it when the thread exits.
 *
 * Calls run on a per-thread multi handle rather than curl_easy_perform:
 * the multi loop wakes at the attempt deadline (tl_client.h) to check the
 * worker, where easy_perform would only give control back once a second
 * at best. The multi handle owns the thread's connection cache, so
 * keep-alive is the same as before.
 */
#define _GNU_SOURCE   /* asprintf */
#include "tl_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_buf.h"
#include "tl_clock.h"
#include "tl_codec.h"
#include "tl_env.h"
#include "tl_log.h"

#define TL_CONN_CACHE 32                 /* handles per thread              */
#define TL_CONN_MAX_AGE_S 5              /* reconnect (and re-balance) after */
#define TL_MAX_REPLY ((size_t)1 << 30)   /* refuse replies above 1 GiB      */
/* A thread's reply buffer is kept for its next call up to this size; a
 * bigger one (a big read_write array) is given back at the next call, so
 * that one 64 MiB reply does not stay with the thread for its life. */
#define TL_REPLY_KEEP ((size_t)32 << 20)
/* The attempt deadline when derived: this many times the endpoint's recent
 * slowest reply, and never less than the floor (a scheduler hiccup on a
 * loaded machine must not look like a stuck worker). */
/* Bodies above this many bytes are sent with "Expect: 100-continue". */
#define TL_EXPECT_BODY ((size_t)1 << 20)
#define TL_ATTEMPT_FACTOR 10
#define TL_ATTEMPT_FLOOR_MS 250
#define TL_PROBE_MAX_MS 1000             /* how long /healthz may take      */
/* A body crosses at no less than this many bytes per millisecond (25 MB/s:
 * a port-forward under load, measured 64 MiB each way in 0.7-1 s here). */
#define TL_SLOW_PATH_BYTES_PER_MS 25000

struct tl_conn {
    uint64_t id;                /* endpoint id; 0 = free slot               */
    uint64_t used;              /* LRU stamp                                */
    CURL *h;
    struct curl_slist *headers;
    struct curl_slist *headers_big; /* bodies above TL_EXPECT_BODY          */
    char errbuf[CURL_ERROR_SIZE];
};

/* A body in pieces as curl reads it: the encoded bytes, with each piece's
 * bytes read from the caller's memory before encoded byte `at`. */
struct tl_send {
    const char *body;
    size_t len;
    const struct tl_pieces *pieces;
    size_t done;                /* encoded bytes sent                       */
    unsigned next;              /* the next piece                           */
    size_t into;                /* bytes of piece `next` sent               */
};

struct tl_thread {
    struct tl_send send;        /* the body in pieces being sent            */
    unsigned generation;        /* client_generation when the conns were made */
    struct tl_conn conns[TL_CONN_CACHE];
    uint64_t clock;
    struct tl_buf reply;        /* reused across calls: emptied, not freed  */
    int overflow;
    CURL *receiving;            /* the handle whose reply on_body collects  */
    CURLM *multi;               /* runs this thread's calls; owns the
                                   connection cache                          */
};

static pthread_once_t client_once = PTHREAD_ONCE_INIT;
static CURLcode client_init_rc = CURLE_FAILED_INIT;
static pthread_key_t client_key;
static atomic_uint_fast64_t endpoint_ids;
/* Bumped in a forked child: the handles it inherited share their sockets
 * with the parent's, and two processes writing requests on one connection
 * would interleave them. The child drops them and connects afresh. */
static atomic_uint client_generation;
static long attempt_timeout_ms;             /* 0: derived per endpoint     */
static char attempt_env_error[256];         /* TURBOLIFT_ATTEMPT_TIMEOUT bad */

static void conn_drop(struct tl_conn *c)
{
    if (c->h)
        curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
    curl_slist_free_all(c->headers_big);
    memset(c, 0, sizeof *c);
}

static void thread_free(void *p)
{
    struct tl_thread *t = p;

    if (t == NULL)
        return;
    for (unsigned i = 0; i < TL_CONN_CACHE; i++)
        conn_drop(&t->conns[i]);
    if (t->multi)
        curl_multi_cleanup(t->multi);
    tl_buf_free(&t->reply);
    free(t);
}

static void after_fork_child(void)
{
    atomic_fetch_add(&client_generation, 1);
}

static void client_init_once(void)
{
    unsigned long long ms = 0;

    if (tl_env_number("TURBOLIFT_ATTEMPT_TIMEOUT", 1, 24ULL * 3600 * 1000, &ms,
                      attempt_env_error, sizeof attempt_env_error) == 0)
        attempt_timeout_ms = (long)ms;
    /* curl_global_init is not thread-safe itself; pthread_once makes it so. */
    client_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (client_init_rc == CURLE_OK && pthread_key_create(&client_key, thread_free) != 0)
        client_init_rc = CURLE_FAILED_INIT;
    if (client_init_rc == CURLE_OK)
        pthread_atfork(NULL, NULL, after_fork_child);
}

int tl_client_init(char *err, size_t errlen)
{
    pthread_once(&client_once, client_init_once);
    if (client_init_rc != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl: %s",
                 curl_easy_strerror(client_init_rc));
        return -1;
    }
    return 0;
}

struct tl_endpoint *tl_endpoint_new(const char *base, const char *function)
{
    struct tl_endpoint *ep = calloc(1, sizeof *ep);

    if (ep == NULL)
        return NULL;
    ep->base = strdup(base);
    if (ep->base == NULL || asprintf(&ep->url, "%s/v1/call/%s", base, function) < 0) {
        free(ep->base);
        free(ep);
        return NULL;
    }
    ep->id = atomic_fetch_add(&endpoint_ids, 1) + 1;
    atomic_init(&ep->inflight, 0);
    atomic_init(&ep->slow_us, 0);
    return ep;
}

struct tl_endpoint *tl_endpoint_publish(_Atomic(struct tl_endpoint *) *slot,
                                        struct tl_endpoint **retired,
                                        const char *base, const char *function)
{
    return tl_endpoint_publish_pinned(slot, retired, base, function, NULL);
}

struct tl_endpoint *tl_endpoint_publish_pinned(_Atomic(struct tl_endpoint *) *slot,
                                               struct tl_endpoint **retired,
                                               const char *base, const char *function,
                                               const char *pin)
{
    struct tl_endpoint *ep = tl_endpoint_new(base, function);

    if (ep == NULL)
        return NULL;
    if (pin != NULL && (ep->pin = strdup(pin)) == NULL)
        return NULL;           /* the endpoint leaks: out of memory anyway */
    ep->next = *retired;       /* owned by the list, from the start */
    *retired = ep;
    atomic_store_explicit(slot, ep, memory_order_release);
    return ep;
}

static struct tl_thread *thread_state(void)
{
    struct tl_thread *t = pthread_getspecific(client_key);
    unsigned gen = atomic_load_explicit(&client_generation, memory_order_relaxed);

    if (t != NULL && t->generation != gen) {
        /* Forget, do not clean up: cleaning up could write on sockets
         * the parent still uses (a TLS close_notify). What leaks is the
         * memory of a few handles, once per fork. */
        memset(t->conns, 0, sizeof t->conns);
        t->multi = NULL;
        t->generation = gen;
    }
    if (t == NULL) {
        t = calloc(1, sizeof *t);
        if (t == NULL)
            return NULL;
        if (pthread_setspecific(client_key, t) != 0) {
            free(t);
            return NULL;
        }
        t->generation = gen;
    }
    return t;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct tl_thread *t = user;
    size_t n = size * nmemb;
    curl_off_t length = -1;

    if (n > TL_MAX_REPLY - t->reply.len) {
        t->overflow = 1;
        return 0;            /* makes curl fail the transfer */
    }
    /* A reply of known length goes into one buffer of that size, instead
     * of one grown by doubling (the buffer is the thread's, kept for the
     * next call). */
    if (t->reply.len == 0 && t->receiving != NULL &&
        curl_easy_getinfo(t->receiving, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                          &length) == CURLE_OK &&
        length > 0 && (size_t)length < TL_MAX_REPLY &&
        (size_t)length + 1 > t->reply.cap) {
        char *grown = realloc(t->reply.data, (size_t)length + 1);
        if (grown != NULL) {
            t->reply.data = grown;
            t->reply.cap = (size_t)length + 1;
        }
    }
    /* 0 makes curl fail the transfer too; the limit only caps growth. */
    return tl_buf_append(&t->reply, data, n, TL_MAX_REPLY + 1) == 0 ? n : 0;
}

/* curl asks for the next bytes of a body in pieces: at most size * nmemb,
 * copied once, from the encoded bytes or straight from the caller's
 * memory (curl copies into its upload buffer whatever the source). */
static size_t on_send(char *to, size_t size, size_t nmemb, void *user)
{
    struct tl_send *s = user;
    size_t room = size * nmemb, put = 0;

    while (put < room) {
        const struct tl_piece *pc = s->next < s->pieces->count ? &s->pieces->v[s->next] : NULL;
        size_t n;

        if (pc != NULL && s->done == pc->at) {          /* inside a piece */
            n = pc->len - s->into;
            if (n > room - put)
                n = room - put;
            memcpy(to + put, (const char *)pc->ptr + s->into, n);
            s->into += n;
            if (s->into == pc->len) {
                s->next++;
                s->into = 0;
            }
        } else {                                        /* encoded bytes */
            size_t end = pc != NULL ? pc->at : s->len;
            n = end - s->done;
            if (n == 0)
                break;                                  /* all sent */
            if (n > room - put)
                n = room - put;
            memcpy(to + put, s->body + s->done, n);
            s->done += n;
        }
        put += n;
    }
    return put;
}

/* curl rewinds a body to send it again (a kept-alive connection that the
 * server had closed): from the start, the only place it asks for. */
static int on_seek(void *user, curl_off_t offset, int origin)
{
    struct tl_send *s = user;

    if (offset != 0 || origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    s->done = 0;
    s->next = 0;
    s->into = 0;
    return CURL_SEEKFUNC_OK;
}

/* The headers of every call: content type, token, and the Expect line. */
static struct curl_slist *request_headers(const char *token, const char *expect)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/msgpack");
    struct curl_slist *next;

    if (h && token) {
        char auth[512];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        next = curl_slist_append(h, auth);
        if (next == NULL)
            curl_slist_free_all(h);
        h = next;
    }
    if (h) {
        next = curl_slist_append(h, expect);
        if (next == NULL)
            curl_slist_free_all(h);
        h = next;
    }
    return h;
}

/* TLS for an https endpoint: exactly the pinned key. The chain and the
 * name are not checked - the certificate is self-signed and the address
 * may be a tunnel's - the pin is: only the holder of the private key can
 * complete the handshake. */
static void conn_tls(CURL *h, const char *pin)
{
    if (pin == NULL)
        return;
    curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, pin);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
}

/* The handle for this endpoint in this thread, set up once. */
static struct tl_conn *conn_get(struct tl_thread *t, const struct tl_endpoint *ep,
                                const struct tl_client_opts *opts)
{
    struct tl_conn *c = NULL, *lru = &t->conns[0];

    for (unsigned i = 0; i < TL_CONN_CACHE; i++) {
        if (t->conns[i].id == ep->id) {
            c = &t->conns[i];
            c->used = ++t->clock;
            return c;
        }
        if (t->conns[i].used < lru->used)
            lru = &t->conns[i];
    }
    c = lru;
    conn_drop(c);
    c->h = curl_easy_init();
    if (c->h == NULL)
        return NULL;
    /* Without "Expect:", curl waits for "100 Continue" before sending a
     * body above 1 KiB: one extra round trip per call. A big body asks
     * first on purpose: a service that refuses it from its headers (413
     * too large, 503 no memory now) says so before the body is sent,
     * instead of resetting the connection under it; above TL_EXPECT_BODY
     * the round trip costs next to nothing. */
    c->headers = request_headers(opts->token, "Expect:");
    c->headers_big = request_headers(opts->token, "Expect: 100-continue");
    if (c->headers == NULL || c->headers_big == NULL) {
        conn_drop(c);
        return NULL;
    }
    curl_easy_setopt(c->h, CURLOPT_URL, ep->url);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->h, CURLOPT_POST, 1L);
    /* Threads: no SIGALRM-based DNS timeouts. */
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    /* A kept-alive connection stays on the pod that kube-proxy picked when
     * it was opened: without an age limit, replicas added later (HPA, a
     * replaced pod) would get no calls from a running program. After
     * TL_CONN_MAX_AGE_S a new connection is opened, and placed anew. */
    curl_easy_setopt(c->h, CURLOPT_MAXLIFETIME_CONN, (long)TL_CONN_MAX_AGE_S);
    curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* Service endpoints are direct: an http_proxy in the environment must
     * not route calls to 127.0.0.1 through a proxy. */
    curl_easy_setopt(c->h, CURLOPT_PROXY, "");
    /* Big bodies in big pieces: curl copies a body into its upload buffer
     * (64 KiB by default) and reads a reply in pieces of its receive
     * buffer (16 KiB), one system call and one callback per piece; for an
     * 8 MiB array that was hundreds of each, and the best 8 MiB read_only
     * call in bench_bulk went from about 7 to 4.5 ms with these sizes. The
     * upload buffer is allocated only for bodies above 64 KiB (smaller
     * ones go out with the headers), the receive buffer once per handle,
     * and their pages are touched only as far as data fills them. */
    curl_easy_setopt(c->h, CURLOPT_UPLOAD_BUFFERSIZE, 2L << 20);
    curl_easy_setopt(c->h, CURLOPT_BUFFERSIZE, 1L << 20);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, t);
    /* used only for a body in pieces (CURLOPT_POSTFIELDS NULL) */
    curl_easy_setopt(c->h, CURLOPT_READFUNCTION, on_send);
    curl_easy_setopt(c->h, CURLOPT_READDATA, &t->send);
    curl_easy_setopt(c->h, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c->h, CURLOPT_SEEKDATA, &t->send);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
    conn_tls(c->h, ep->pin);
    c->id = ep->id;
    c->used = ++t->clock;
    return c;
}

/* The attempt timeout for ep: configured, or derived from its replies. */
static long attempt_ms(const struct tl_endpoint *ep)
{
    long ms;

    if (attempt_timeout_ms > 0)
        return attempt_timeout_ms;
    ms = (long)(atomic_load_explicit(&ep->slow_us, memory_order_relaxed) / 1000u) *
         TL_ATTEMPT_FACTOR;
    return ms < TL_ATTEMPT_FLOOR_MS ? TL_ATTEMPT_FLOOR_MS : ms;
}

/* Remember a reply time: the slowest recent one, decaying by 1/8 per
 * reply so that one slow call does not stretch the deadline for good.
 * Racy between threads on purpose: an estimate, not a count. */
static void note_reply_time(struct tl_endpoint *ep, long ms)
{
    unsigned old = atomic_load_explicit(&ep->slow_us, memory_order_relaxed);
    unsigned decayed = old - old / 8;
    unsigned us = ms >= 4000000 ? 4000000000u : (unsigned)ms * 1000u;

    atomic_store_explicit(&ep->slow_us, us > decayed ? us : decayed,
                          memory_order_relaxed);
}

/* 1 when ep's worker answers GET /healthz within timeout_ms (on a
 * connection of its own: the call's is busy). */
static int worker_answers(const struct tl_endpoint *ep, long timeout_ms,
                          char *why, size_t whylen)
{
    char *url = NULL;
    long status;

    if (asprintf(&url, "%s/healthz", ep->base) < 0) {
        snprintf(why, whylen, "out of memory");
        return 1;           /* cannot check: do not condemn the worker */
    }
    status = tl_client_get_status_pinned(url, ep->pin, timeout_ms, why, whylen);
    free(url);
    if (status != 0 && status != 200)
        snprintf(why, whylen, "GET /healthz answered %ld", status);
    return status == 200;
}

/*
 * Run c's request on the thread's multi handle. 0 when it ended (curl's
 * code in *code); -1 when it was given up: the worker failed its health
 * check at an attempt deadline, or curl itself failed (why says which).
 */
static int run_transfer(struct tl_thread *t, struct tl_conn *c, struct tl_endpoint *ep,
                        size_t body_len, long timeout_ms, CURLcode *code,
                        char *why, size_t whylen)
{
    long start = tl_now_ms(), deadline = start + timeout_ms;
    long interval = attempt_ms(ep), check_at;
    curl_off_t sent = 0, received = 0;
    /* A big body is not looked at before it could have gone out and a
     * reply as big come back on a slow path: the deadline that the
     * endpoint's small calls set says nothing about a 100 MiB array, and
     * through a port-forward the body can sit in kubectl's buffers (curl
     * counts it sent) while the tunnel is too busy for the probe. */
    if ((long)(body_len / TL_SLOW_PATH_BYTES_PER_MS) * 2 > interval)
        interval = (long)(body_len / TL_SLOW_PATH_BYTES_PER_MS) * 2;
    check_at = start + interval;
    CURLMcode mc;
    int rc = -1;

    if (t->multi == NULL) {
        t->multi = curl_multi_init();
        if (t->multi == NULL) {
            snprintf(why, whylen, "cannot create a curl multi handle");
            return -1;
        }
        curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)TL_CONN_CACHE);
    }
    mc = curl_multi_add_handle(t->multi, c->h);
    if (mc != CURLM_OK) {
        snprintf(why, whylen, "curl: %s", curl_multi_strerror(mc));
        return -1;
    }
    for (;;) {                 /* ends: curl enforces timeout_ms itself */
        CURLMsg *msg;
        int running, queued;
        long now;

        mc = curl_multi_perform(t->multi, &running);
        if (mc != CURLM_OK) {
            snprintf(why, whylen, "curl: %s", curl_multi_strerror(mc));
            break;
        }
        while ((msg = curl_multi_info_read(t->multi, &queued)) != NULL) {
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->h) {
                *code = msg->data.result;
                rc = 0;
            }
        }
        if (rc == 0)
            break;
        now = tl_now_ms();
        if (now >= check_at) {
            curl_off_t up = 0, down = 0;

            /* A body still going out, or a reply coming in, since the last
             * look: the connection moves, nothing to check. (A big array
             * through a port-forward takes longer than the deadline a
             * small call set, and a health check on a fresh connection
             * through the same busy tunnel could then miss its time.) A
             * stopped worker takes no more than its socket buffers hold. */
            curl_easy_getinfo(c->h, CURLINFO_SIZE_UPLOAD_T, &up);
            curl_easy_getinfo(c->h, CURLINFO_SIZE_DOWNLOAD_T, &down);
            if ((up > sent && (size_t)up < body_len) || down > received) {
                sent = up;
                received = down;
                check_at = now + interval;
                continue;
            }
            sent = up;
            received = down;
        }
        if (now >= check_at) {
            long probe = interval < TL_PROBE_MAX_MS ? interval : TL_PROBE_MAX_MS;
            char reason[256] = "no answer";

            if (probe > deadline - now)
                probe = deadline - now > 1 ? deadline - now : 1;
            if (!worker_answers(ep, probe, reason, sizeof reason)) {
                snprintf(why, whylen, "%s: no reply after %ld ms and the worker failed "
                         "its health check (%s): it looks stuck", ep->base,
                         tl_now_ms() - start, reason);
                break;
            }
            /* Busy with a long call, not stuck: wait on, check less often. */
            interval *= 2;
            check_at = tl_now_ms() + interval;
            continue;
        }
        mc = curl_multi_poll(t->multi, NULL, 0, (int)(check_at - now), NULL);
        if (mc != CURLM_OK) {
            snprintf(why, whylen, "curl: %s", curl_multi_strerror(mc));
            break;
        }
    }
    /* Mid-transfer, this closes the connection; after it, the connection
     * stays in the multi handle's cache for the next call. */
    curl_multi_remove_handle(t->multi, c->h);
    return rc;
}

int tl_client_post(struct tl_endpoint *ep, const char *body, size_t len,
                   const struct tl_client_opts *opts, struct tl_response *resp)
{
    return tl_client_post_pieces(ep, body, len, NULL, opts, resp);
}

int tl_client_post_pieces(struct tl_endpoint *ep, const char *body, size_t len,
                          const struct tl_pieces *pieces,
                          const struct tl_client_opts *opts, struct tl_response *resp)
{
    struct tl_thread *t;
    struct tl_conn *c;
    CURLcode rc = CURLE_OK;
    char why[512];
    size_t total = len + (pieces != NULL ? pieces->total : 0);
    long start;

    resp->status = 0;
    resp->body = NULL;
    resp->len = 0;
    resp->error[0] = '\0';
    t = thread_state();
    if (t == NULL || (c = conn_get(t, ep, opts)) == NULL) {
        snprintf(resp->error, sizeof resp->error, "out of memory");
        return -1;
    }
    if (t->reply.cap > TL_REPLY_KEEP)
        tl_buf_free(&t->reply);     /* the last reply was read by now */
    t->reply.len = 0;
    t->overflow = 0;
    c->errbuf[0] = '\0';
    t->receiving = c->h;
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, total > TL_EXPECT_BODY ? c->headers_big
                                                                    : c->headers);
    if (pieces != NULL && pieces->count > 0) {
        /* NULL post fields: curl reads the body through on_send */
        t->send = (struct tl_send){ body, len, pieces, 0, 0, 0 };
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, NULL);
    } else {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)total);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, opts->connect_timeout_ms);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, opts->timeout_ms > 0 ? opts->timeout_ms : 1L);

    if (attempt_env_error[0] != '\0') {
        snprintf(resp->error, sizeof resp->error, "%s", attempt_env_error);
        return -1;
    }
    start = tl_now_ms();
    if (run_transfer(t, c, ep, total, opts->timeout_ms > 0 ? opts->timeout_ms : 1L, &rc,
                     why, sizeof why) != 0) {
        snprintf(resp->error, sizeof resp->error, "%s", why);
        conn_drop(c);
        return -1;
    }
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof resp->error, "%s: %s", ep->base,
                 t->overflow ? "reply larger than 1 GiB"
                 : c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        /* A broken connection stays broken: start afresh next time. */
        conn_drop(c);
        return -1;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &resp->status);
    note_reply_time(ep, tl_now_ms() - start);
    resp->body = t->reply.data ? t->reply.data : "";
    resp->len = t->reply.len;
    return 0;
}

static size_t discard(char *data, size_t size, size_t nmemb, void *user)
{
    (void)data;
    (void)user;
    return size * nmemb;
}

long tl_client_get_status(const char *url, long timeout_ms, char *err, size_t errlen)
{
    return tl_client_get_status_pinned(url, NULL, timeout_ms, err, errlen);
}

long tl_client_get_status_pinned(const char *url, const char *pin, long timeout_ms,
                                 char *err, size_t errlen)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode rc;
    CURL *h;

    if (tl_client_init(err, errlen) != 0)
        return 0;
    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "cannot create a curl handle");
        return 0;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    conn_tls(h, pin);
    rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    curl_easy_cleanup(h);
    return status;
}

struct tl_endpoint *tl_client_pick(_Atomic(struct tl_endpoint *) *slots, unsigned n,
                                   const struct tl_endpoint *avoid, unsigned home)
{
    struct tl_endpoint *best = NULL, *fallback = NULL;
    unsigned best_load = 0;

    if (n == 0)
        return NULL;
    for (unsigned k = 0; k < n; k++) {
        struct tl_endpoint *ep = atomic_load_explicit(&slots[(home + k) % n],
                                                      memory_order_acquire);
        unsigned load;

        if (ep == NULL)
            continue;
        if (ep == avoid) {
            fallback = ep;
            continue;
        }
        load = atomic_load_explicit(&ep->inflight, memory_order_relaxed);
        if (best == NULL || load < best_load) {
            best = ep;
            best_load = load;
        }
    }
    return best ? best : fallback;
}
