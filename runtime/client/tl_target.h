/* SPDX-License-Identifier: MIT */
/*
 * tl_target.h - where a function's service runs (docs/architecture.md,
 * "Targets").
 *
 * A target is one file (or folder) that fills a struct tl_target_ops and is
 * declared below: "local" (worker processes on 127.0.0.1,
 * client/tl_target_local.c) and "k8s" (k8s/tl_target_k8s.c). A new target is
 * one new file, one declaration here and one entry in tl_targets. The caller
 * (tl_call.c) drives every target the same way:
 *
 *   prepare  once, may be slow: build the binary, an image, push it
 *   start    once, may be slow: bring replicas up and wait until ready;
 *            afterwards slots[0..nslots) hold the endpoints
 *   failed   a call to an endpoint failed in transport; the target may
 *            check it and replace it (publishing a new endpoint)
 *   stop     at shutdown: release every replica; safe to call twice
 *
 * Endpoints are read on every call without a lock: a target publishes a
 * slot with an atomic store (release) and never frees an endpoint before
 * stop, so a reader holding an old pointer stays safe.
 */
#ifndef TL_TARGET_H
#define TL_TARGET_H

#include <stddef.h>

#include "tl_client.h"
#include "tl_config.h"
#include "tl_manifest.h"

struct tl_target;

struct tl_target_ops {
    const char *name;
    int  (*prepare)(struct tl_target *t, char *err, size_t errlen);
    int  (*start)(struct tl_target *t, char *err, size_t errlen);
    void (*failed)(struct tl_target *t, struct tl_endpoint *ep);
    void (*stop)(struct tl_target *t);
};

struct tl_target {
    const struct tl_target_ops *ops;
    const struct tl_manifest *manifest;    /* the function's manifest      */
    const struct tl_fn_config *config;     /* its resolved settings         */
    _Atomic(struct tl_endpoint *) *slots;  /* set by start                  */
    unsigned nslots;
    const char *token;                     /* set by start when the target
                                              made the services' token (k8s);
                                              NULL: config->token           */
    struct tl_unit_globals *globals;       /* set by prepare: the program's
                                              variables the service keeps
                                              (tl_unit_globals.h), or NULL   */
    void *priv;                            /* the target's own state        */
};

/* Every target. The plugin refuses a tag naming any other (plugin/attribute.cc
 * keeps the same list). */
extern const struct tl_target_ops tl_target_local;   /* client/tl_target_local.c */
extern const struct tl_target_ops tl_target_k8s;     /* k8s/tl_target_k8s.c      */

/* The targets by name, NULL-terminated (client/tl_call.c). */
extern const struct tl_target_ops *const tl_targets[];

#endif /* TL_TARGET_H */
