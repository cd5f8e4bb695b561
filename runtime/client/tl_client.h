/* SPDX-License-Identifier: MIT */
/*
 * tl_client.h - the HTTP client that carries calls to services (libcurl).
 *
 * Thread-safe without a lock on the call path: each thread keeps its own
 * CURL easy handle per endpoint (so keep-alive connections are reused and
 * never shared), and threads spread over endpoints by least-in-flight with
 * an atomic round-robin start, so concurrent callers fan out over workers.
 */
#ifndef TL_CLIENT_H
#define TL_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One address a call can be sent to. Immutable once published, except for
 * the in-flight counter; a target that replaces a worker publishes a new
 * endpoint (new id) rather than editing this one, so a reader never sees
 * a half-written URL.
 */
struct tl_endpoint {
    char *base;                 /* "http://127.0.0.1:PORT" or "https://..."     */
    char *pin;                  /* https: the only public key accepted
                                   ("sha256//...", tl_tls.h); NULL: http       */
    char *url;                  /* base + "/v1/call/<function>"                 */
    uint64_t id;                /* unique in the process: keys cached handles   */
    atomic_uint inflight;       /* calls in progress: for least-in-flight       */
    atomic_uint slow_us;        /* recent slowest reply, decaying: sets when an
                                   attempt's worker is checked (tl_client_post) */
    struct tl_endpoint *next;   /* owner's list, for freeing at shutdown        */
};

struct tl_endpoint *tl_endpoint_new(const char *base, const char *function);

/*
 * A target's new endpoint for base: made, put on the target's *retired list
 * (which the target never frees: a caller may still hold an endpoint after
 * it was replaced) and published in *slot with a release store. NULL when
 * out of memory (nothing published).
 */
struct tl_endpoint *tl_endpoint_publish(_Atomic(struct tl_endpoint *) *slot,
                                        struct tl_endpoint **retired,
                                        const char *base, const char *function);
/* The same for an https base whose services present the key of pin. */
struct tl_endpoint *tl_endpoint_publish_pinned(_Atomic(struct tl_endpoint *) *slot,
                                               struct tl_endpoint **retired,
                                               const char *base, const char *function,
                                               const char *pin);

/* Per-call options. */
struct tl_client_opts {
    long connect_timeout_ms;
    long timeout_ms;            /* whole request; > 0                           */
    const char *token;          /* Authorization: Bearer, or NULL               */
};

/* A reply. body points into a per-thread buffer that the next request made
 * by the same thread overwrites. */
struct tl_response {
    long status;                /* HTTP status, 0 when no response              */
    const char *body;
    size_t len;
    char error[512];            /* transport failure, when status is 0          */
};

/* curl_global_init, once per process; safe from any thread. */
int tl_client_init(char *err, size_t errlen);

/*
 * POST body to ep->url with Content-Type application/msgpack. Returns 0
 * when an HTTP response arrived (whatever its status), -1 on a transport
 * failure (refused, reset, timeout), with the reason in resp->error.
 *
 * The attempt deadline: when no reply came within the attempt timeout
 * (TURBOLIFT_ATTEMPT_TIMEOUT ms, or by default 10 times the endpoint's
 * recent slowest reply, at least 250 ms), the worker is asked GET /healthz
 * on a fresh connection. A worker that answers is busy with a long call:
 * the wait goes on (the next check after twice the interval) up to
 * opts->timeout_ms. One that does not answer is stuck (stopped, hung,
 * partitioned): the attempt ends with -1 at once, so the caller moves the
 * call to another worker and the target replaces this one.
 */
int tl_client_post(struct tl_endpoint *ep, const char *body, size_t len,
                   const struct tl_client_opts *opts, struct tl_response *resp);
/* The same for a body in pieces (tl_codec.h, tl_encode_request_pieces):
 * the big blocks are read from the caller's memory as curl sends them. */
struct tl_pieces;
int tl_client_post_pieces(struct tl_endpoint *ep, const char *body, size_t len,
                          const struct tl_pieces *pieces,
                          const struct tl_client_opts *opts, struct tl_response *resp);

/* GET url with a fresh connection; returns the HTTP status or 0 when no
 * response came (reason in err). For readiness probes, not for calls. */
long tl_client_get_status(const char *url, long timeout_ms, char *err, size_t errlen);
/* The same for an https url whose server must present the key of pin. */
long tl_client_get_status_pinned(const char *url, const char *pin, long timeout_ms,
                                 char *err, size_t errlen);

/*
 * Pick the endpoint for the next attempt among slots[0..n): the one with
 * the fewest calls in flight; ties go to the first one scanned from
 * slots[home % n]. Each calling thread passes its own home (handed out
 * round robin, tl_call.c), so concurrent threads fan out over the workers
 * while a sequential caller keeps to one warm worker and connection
 * (alternating between idle workers measurably slows sequential calls).
 * Skips NULL slots and `avoid` (the endpoint that just failed) unless
 * nothing else is up. Returns NULL when all slots are empty.
 */
struct tl_endpoint *tl_client_pick(_Atomic(struct tl_endpoint *) *slots, unsigned n,
                                   const struct tl_endpoint *avoid, unsigned home);

#endif /* TL_CLIENT_H */
