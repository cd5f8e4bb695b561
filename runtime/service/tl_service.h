/* SPDX-License-Identifier: MIT */
/*
 * tl_service.h - the HTTP service that answers calls of extracted functions
 * (docs/abi.md, section 2), on libmicrohttpd.
 *
 *   POST /v1/call/<function>   msgpack request -> msgpack reply
 *   GET  /healthz              200 while the process lives
 *   GET  /readyz               200, or 503 once draining
 *   GET  /metrics              Prometheus text
 *
 * Every service binary's main() (tl_service_main.c) uses this; tests start
 * it in-process with a table of their own.
 */
#ifndef TL_SERVICE_H
#define TL_SERVICE_H

#include <stddef.h>

/* struct tl_service_entry: one extracted function, as the generated
 * dispatcher defines it (docs/abi.md, section 4); the plugin spells it into
 * service.c from the same macro. */
#include "tl_abi.h"

/* Port and drain: the values the k8s target writes into every Deployment
 * too (tl_protocol.h, shared with it). */
#include "tl_protocol.h"

#define TL_SERVICE_DEFAULT_PORT ((unsigned)TL_PROTO_PORT)
#define TL_SERVICE_DEFAULT_MAX_REQUEST ((size_t)128 << 20)
/* What all calls in flight may hold together (docs/abi.md, "Limits"). */
#define TL_SERVICE_DEFAULT_MAX_MEMORY ((size_t)1 << 30)
#define TL_SERVICE_DEFAULT_DRAIN_MS ((unsigned)TL_PROTO_DRAIN_SECONDS * 1000u)
#define TL_SERVICE_DEFAULT_CONNECTIONS 512u

struct tl_service_options {
    const char *bind_address;   /* numeric IPv4 or IPv6 address            */
    unsigned port;              /* 0: any free port, see tl_service_port() */
    size_t max_request_bytes;   /* larger bodies get 413                   */
    size_t max_memory_bytes;    /* all calls in flight; over it 503; 0: 1 GiB,
                                 * or 3/4 of a cgroup memory limit         */
    const char *token;          /* NULL or "": no Authorization check      */
    unsigned drain_timeout_ms;  /* how long main() lets calls finish       */
    unsigned max_connections;   /* concurrent connections (and threads)    */
    const char *tls_cert;       /* PEM: speak HTTPS with it; NULL: HTTP    */
    const char *tls_key;        /* PEM, the certificate's key              */
    unsigned untrusted_ms;      /* a connection that has not shown the token
                                 * is cut after this; 0: 10 s              */
};

/*
 * Fill opts with the defaults, overridden by the environment:
 *   TURBOLIFT_BIND           bind address        (127.0.0.1)
 *   TURBOLIFT_PORT           port                (8080)
 *   TURBOLIFT_MAX_REQUEST    bytes               (134217728)
 *   TURBOLIFT_MAX_MEMORY     bytes, all calls    (unset: 0, see above;
 *                                                 at least TURBOLIFT_MAX_ALLOC)
 *   TURBOLIFT_TOKEN          bearer token        (none)
 *   TURBOLIFT_DRAIN_TIMEOUT  seconds             (25)
 *   TURBOLIFT_MAX_CONNECTIONS                    (512)
 *   TURBOLIFT_TLS_CERT, TURBOLIFT_TLS_KEY  PEM text: HTTPS (both or neither)
 * Returns -1 (with a message in err) when a variable holds a bad value.
 * The strings in opts point into the environment.
 */
int tl_service_options_from_env(struct tl_service_options *opts,
                                char *err, size_t errlen);

/* Check every entry: a name usable in a URL, no duplicates, a call
 * function, and a signature that tl_sig_parse() accepts. */
int tl_service_check_entries(const struct tl_service_entry *entries,
                             unsigned count, char *err, size_t errlen);

struct tl_service;

/* Check the entries, bind, and start answering on background threads. */
int tl_service_start(const struct tl_service_entry *entries, unsigned count,
                     const struct tl_service_options *opts,
                     struct tl_service **out, char *err, size_t errlen);

/* The port actually bound (useful after asking for port 0). */
unsigned tl_service_port(const struct tl_service *service);

/* Stop taking calls: /readyz and new calls answer 503 (with Connection:
 * close, so that clients reconnect to another replica); calls already
 * accepted run to the end. Safe to call from any thread, more than once. */
void tl_service_begin_drain(struct tl_service *service);

/* Calls accepted and not yet answered. */
unsigned tl_service_in_flight(const struct tl_service *service);

/* Wait until no call is in flight: 0, or -1 after timeout_ms. */
int tl_service_wait_idle(const struct tl_service *service, unsigned timeout_ms);

/* Close the listening socket and every connection, and free the service.
 * Blocks until running calls return: call it when tl_service_wait_idle()
 * succeeded, or accept the wait. */
void tl_service_stop(struct tl_service *service);

#endif /* TL_SERVICE_H */
