/* SPDX-License-Identifier: MIT */
/*
 * tl_lease.h - runs that share a cluster: which runs hold a deployed
 * function, so that none deletes it under another (docs/k8s.md, "Runs
 * that share a cluster").
 *
 * A run (one process using the k8s target) holds each Deployment it uses
 * with an annotation on it,
 *
 *     holder.turbolift.dev/<run id>: "<unix time at which the hold expires>"
 *
 * written before it looks at the Deployment and renewed every third of the
 * lease (TURBOLIFT_LEASE_SECONDS, default 60). At its end a run removes its
 * annotation and deletes the objects only when no other hold is live; the
 * delete carries the Deployment's resourceVersion as a precondition, so a
 * run that took hold in between (which changes the version) wins and the
 * objects stay. The holds of runs that died without ending (SIGKILL, a lost
 * machine) expire: a Deployment whose holds all expired is reclaimed by the
 * next run in its namespace and by `turbolift gc`. A run with keep marks the
 * Deployment turbolift.dev/keep: such objects go only with `turbolift down`.
 * Clocks of the machines that share a cluster must agree to well within the
 * lease.
 */
#ifndef TL_LEASE_H
#define TL_LEASE_H

#include <stddef.h>

#define TL_LEASE_PREFIX "holder.turbolift.dev/"
#define TL_LEASE_KEEP "turbolift.dev/keep"
#define TL_LEASE_DEFAULT_SECONDS 60
/* A Deployment with no hold at all (its run died between applying and
 * holding it, milliseconds) is reclaimed once it is this old. */
#define TL_LEASE_ORPHAN_SECONDS 600

/* This process's run id: "<host>-<pid>-<random>", a valid annotation name. */
const char *tl_lease_run_id(void);

/* TURBOLIFT_LEASE_SECONDS (3 to 86400), TL_LEASE_DEFAULT_SECONDS when unset.
 * 0, or -1 with err for a bad value (docs/config.md, "Environment"). */
int tl_lease_seconds(int *seconds, char *err, size_t errlen);

/* The holds read from a Deployment's annotations (kubectl's JSON map). */
struct tl_lease_info {
    int live, expired;          /* holds not yet expired / expired           */
    int keep;                   /* turbolift.dev/keep is "true"              */
    long next_expiry;           /* the latest live expiry (unix s), 0: none  */
    char holders[512];          /* "run (42s), run (12s)", live only         */
    int excepted;               /* the except run holds it (live or not)     */
};
void tl_lease_parse(const char *annotations, long now, const char *except,
                    struct tl_lease_info *li);

/* Hold ns/deployment NAME for this run until now + seconds; with jsonpath,
 * out receives those fields of the Deployment as the hold left it (one
 * kubectl for both). 1: held; 0: there is no such Deployment; -1 with err. */
int tl_lease_hold(const char *ns, const char *name, int seconds, const char *jsonpath,
                  char *out, size_t outlen, char *err, size_t errlen);

/*
 * This run's end: drop its hold; with keep, mark the Deployment kept. Then,
 * unless kept or held by another live run, delete the Deployment
 * (conditionally, see above) and its Service, Secret and HPA. 1: deleted
 * (or gone already); 0: left to others (who in why); -1 with err.
 */
int tl_lease_release(const char *ns, const char *name, int keep, char *why,
                     size_t whylen, char *err, size_t errlen);

/*
 * Delete every turbolift Deployment in ns (TL_KUBECTL_ALL_NAMESPACES: all)
 * whose holds all expired, with its objects; fn (may be NULL) hears of each
 * ("would delete" when dry_run). Returns the count, or -1 with err.
 */
int tl_lease_reclaim(const char *ns, int dry_run,
                     void (*fn)(const char *ns, const char *name, void *arg), void *arg,
                     char *err, size_t errlen);

#endif /* TL_LEASE_H */
