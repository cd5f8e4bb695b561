/* SPDX-License-Identifier: MIT */
/*
 * tl_protocol.h - the service's side of the wire that its callers and the
 * k8s target must agree on: its port, its paths, how long it drains.
 * Header only; the service, the client and the k8s target include it, so
 * each value is written once (docs/abi.md, section 2; docs/k8s.md).
 */
#ifndef TL_PROTOCOL_H
#define TL_PROTOCOL_H

/* The port a service listens on when TURBOLIFT_PORT does not say; also the
 * container port of every image and Deployment the k8s target makes. */
#define TL_PROTO_PORT 8080

/* How long a service lets accepted calls finish after SIGTERM when
 * TURBOLIFT_DRAIN_TIMEOUT does not say (seconds). */
#define TL_PROTO_DRAIN_SECONDS 25

/* What a supervisor gives a service between SIGTERM and SIGKILL: the drain
 * and a margin for the process to exit (Kubernetes'
 * terminationGracePeriodSeconds). */
#define TL_PROTO_GRACE_SECONDS (TL_PROTO_DRAIN_SECONDS + 5)

#define TL_PROTO_PATH_CALL    "/v1/call/"   /* + the function's name       */
#define TL_PROTO_PATH_HEALTH  "/healthz"    /* 200 while the process lives */
#define TL_PROTO_PATH_READY   "/readyz"     /* 200, or 503 once draining   */
#define TL_PROTO_PATH_METRICS "/metrics"    /* Prometheus text             */

#endif /* TL_PROTOCOL_H */
