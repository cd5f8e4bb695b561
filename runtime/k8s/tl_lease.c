/* SPDX-License-Identifier: MIT */
/*
 * tl_lease.c - holds on deployed functions: annotate, release, reclaim
 * (the rules are in tl_lease.h).
 *
 * Everything goes through kubectl: `annotate` for a hold (a merge patch:
 * holds of different runs never overwrite each other), `get` for the
 * holds, and `delete --raw` with a DeleteOptions body for the one delete
 * that must be conditional (kubectl's own delete sends no precondition).
 */
#define _GNU_SOURCE   /* asprintf, timegm */
#include "tl_lease.h"
#include "tl_yaml_read.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tl_env.h"
#include "tl_k8s_yaml.h"
#include "tl_kubectl.h"
#include "tl_log.h"

#define TL_LEASE_KUBECTL_MS 30000
#define TL_LEASE_TRIES 3            /* conditional deletes beaten by a new hold */

static pthread_once_t lease_once = PTHREAD_ONCE_INIT;
static char lease_id[64];

static void lease_make_id(void)
{
    char host[64] = "";
    unsigned char rnd[3] = { 0 };
    size_t n = 0;
    int fd;

    /* host, lowercased to [a-z0-9-], 20 at most: the id stays a valid
     * annotation name (63) and says where the run is. */
    gethostname(host, sizeof host - 1);
    for (const char *p = host; *p && n < 20; p++) {
        char c = (char)tolower((unsigned char)*p);

        if (isalnum((unsigned char)c))
            host[n++] = c;
        else if (n > 0 && host[n - 1] != '-')
            host[n++] = '-';
    }
    while (n > 0 && host[n - 1] == '-')
        n--;
    host[n] = '\0';
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
        long t = (long)time(NULL);   /* no urandom: the pid and time tell runs apart */

        memcpy(rnd, &t, sizeof rnd);
    }
    if (fd >= 0)
        close(fd);
    snprintf(lease_id, sizeof lease_id, "%s%s%ld-%02x%02x%02x", host, n ? "-" : "",
             (long)getpid(), rnd[0], rnd[1], rnd[2]);
}

const char *tl_lease_run_id(void)
{
    pthread_once(&lease_once, lease_make_id);
    return lease_id;
}

int tl_lease_seconds(int *seconds, char *err, size_t errlen)
{
    unsigned long long v = TL_LEASE_DEFAULT_SECONDS;

    if (tl_env_number("TURBOLIFT_LEASE_SECONDS", 3, 86400, &v, err, errlen) != 0)
        return -1;
    *seconds = (int)v;
    return 0;
}

void tl_lease_parse(const char *annotations, long now, const char *except,
                    struct tl_lease_info *li)
{
    static const char prefix[] = TL_LEASE_PREFIX;
    yaml_document_t doc;
    yaml_node_t *root, *keep;
    char why[256];
    size_t used = 0;

    memset(li, 0, sizeof *li);
    /* kubectl prints the annotations as a JSON object; a value that is not
     * one (nothing annotated yet) holds no lease */
    if (tl_yaml_load_string(annotations, &doc, why, sizeof why) != 0)
        return;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE)
        goto done;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        const char *key, *run;
        long expires;

        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
            continue;
        key = (const char *)k->data.scalar.value;
        if (strncmp(key, prefix, sizeof prefix - 1) != 0)
            continue;
        run = key + sizeof prefix - 1;
        expires = strtol((const char *)v->data.scalar.value, NULL, 10);
        if (except != NULL && strcmp(run, except) == 0) {
            li->excepted = 1;
            continue;
        }
        if (expires <= now) {
            li->expired++;
            continue;
        }
        li->live++;
        if (expires > li->next_expiry)
            li->next_expiry = expires;
        if (used < sizeof li->holders) {
            int w = snprintf(li->holders + used, sizeof li->holders - used, "%s%s (%lds)",
                             used ? ", " : "", run, expires - now);

            used += w > 0 ? (size_t)w : 0;
        }
    }
    keep = tl_yaml_lookup(&doc, root, TL_LEASE_KEEP);
    li->keep = keep != NULL && keep->type == YAML_SCALAR_NODE &&
               strcmp((const char *)keep->data.scalar.value, "true") == 0;
done:
    yaml_document_delete(&doc);
}

int tl_lease_hold(const char *ns, const char *name, int seconds, const char *jsonpath,
                  char *out, size_t outlen, char *err, size_t errlen)
{
    struct tl_proc_out r;
    char obj[128], kv[160], *jp = NULL;
    int rc;

    snprintf(obj, sizeof obj, "deployment/%s", name);
    snprintf(kv, sizeof kv, TL_LEASE_PREFIX "%s=%ld", tl_lease_run_id(),
             (long)time(NULL) + seconds);
    if (jsonpath != NULL && asprintf(&jp, "jsonpath=%s", jsonpath) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = jp != NULL ? tl_kubectl(ns, NULL, TL_LEASE_KUBECTL_MS, &r, "annotate", obj, kv,
                                 "--overwrite", "-o", jp, (char *)NULL)
                    : tl_kubectl(ns, NULL, TL_LEASE_KUBECTL_MS, &r, "annotate", obj, kv,
                                 "--overwrite", (char *)NULL);
    free(jp);
    if (rc == 0 && out != NULL)
        snprintf(out, outlen, "%s", r.out);
    if (rc == 0)
        rc = 1;
    else if (strstr(r.err, "NotFound") != NULL || strstr(r.err, "not found") != NULL)
        rc = 0;
    else
        snprintf(err, errlen, "kubectl annotate %s: %s", obj, r.err);
    tl_proc_out_free(&r);
    return rc;
}

/* resourceVersion, deletion, creation time (unix s) and annotations. */
struct state {
    char rv[32];
    int exists, deleting;
    long created;
    char *annotations;          /* malloc'd; "" when none */
};

static long k8s_time(const char *ts)
{
    struct tm tm = { 0 };

    if (sscanf(ts, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long)timegm(&tm);
}

/* One line "NS NAME RV CREATED DELETING-ANNOTATIONS" into st; the line is
 * cut in place. 0, or -1 when it is not such a line. */
static int parse_line(char *line, char **ns, char **name, struct state *st)
{
    char *f[4], *save = NULL, *rest;

    for (int i = 0; i < 4; i++)
        if ((f[i] = strtok_r(i ? NULL : line, " ", &save)) == NULL)
            return -1;
    rest = save;                /* "DELETING-ANNOTATIONS" */
    if (rest == NULL)
        return -1;
    *ns = f[0];
    *name = f[1];
    snprintf(st->rv, sizeof st->rv, "%s", f[2]);
    st->created = k8s_time(f[3]);
    st->exists = 1;
    /* "-{...}", or "2026-12-01T10:00:00Z-{...}" while being deleted */
    st->deleting = rest[0] != '-';
    if (st->deleting)
        rest = strstr(rest, "Z-") ? strstr(rest, "Z-") + 1 : rest;
    st->annotations = rest + 1;
    return 0;
}

#define TL_LEASE_FIELDS "{.metadata.namespace} {.metadata.name} {.metadata.resourceVersion} " \
    "{.metadata.creationTimestamp} {.metadata.deletionTimestamp}-{.metadata.annotations}"

static int read_state(const char *ns, const char *name, struct state *st, char **buf,
                      char *err, size_t errlen)
{
    struct tl_proc_out r;
    char obj[128], *ns_, *name_;
    int rc = -1;

    memset(st, 0, sizeof *st);
    *buf = NULL;
    snprintf(obj, sizeof obj, "deployment/%s", name);
    if (tl_kubectl(ns, NULL, TL_LEASE_KUBECTL_MS, &r, "get", obj, "--ignore-not-found",
                   "-o", "jsonpath=" TL_LEASE_FIELDS, (char *)NULL) != 0) {
        snprintf(err, errlen, "kubectl get %s: %s", obj, r.err);
        goto cleanup;
    }
    rc = 0;
    if (r.out[0] == '\0')
        goto cleanup;           /* gone */
    *buf = r.out;
    r.out = NULL;
    if (parse_line(*buf, &ns_, &name_, st) != 0) {
        snprintf(err, errlen, "kubectl get %s: unexpected answer", obj);
        rc = -1;
    }
cleanup:
    tl_proc_out_free(&r);
    return rc;
}

/*
 * Delete ns/name if its resourceVersion is still rv, then its other objects.
 * 1: deleted or gone; 0: changed meanwhile (read it again); -1 with err.
 */
static int delete_if_unchanged(const char *ns, const char *name, const char *rv,
                               char *err, size_t errlen)
{
    struct tl_proc_out r;
    char *url = NULL, *body = NULL, sel[200];
    int rc = -1;

    if (asprintf(&url, "/apis/apps/v1/namespaces/%s/deployments/%s", ns, name) < 0)
        url = NULL;
    /* Foreground: the Deployment stays visible, being deleted, until its
     * pods are gone, so that a run of the same hash starting meanwhile
     * waits for them instead of applying into the garbage collector. */
    if (asprintf(&body, "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\","
                 "\"propagationPolicy\":\"Foreground\","
                 "\"preconditions\":{\"resourceVersion\":\"%s\"}}", rv) < 0)
        body = NULL;
    if (url == NULL || body == NULL) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (tl_kubectl(NULL, body, TL_LEASE_KUBECTL_MS, &r, "delete", "--raw", url, "-f", "-",
                   (char *)NULL) != 0) {
        if (strstr(r.err, "NotFound") != NULL)
            rc = 1;
        else if (strstr(r.err, "Conflict") != NULL || strstr(r.err, "precondition") != NULL)
            rc = 0;
        else
            snprintf(err, errlen, "deleting deployment/%s: %s", name, r.err);
        tl_proc_out_free(&r);
        if (rc != 1)
            goto cleanup;
    } else {
        tl_proc_out_free(&r);
    }
    /* The Deployment is ours to delete, so are the rest. Not waiting: the
     * pods drain on SIGTERM by themselves. */
    snprintf(sel, sizeof sel, TL_K8S_LABEL_NAME "=%s," TL_K8S_LABEL_MANAGED "=turbolift", name);
    if (tl_kubectl(ns, NULL, TL_LEASE_KUBECTL_MS, &r, "delete",
                   "service,secret,horizontalpodautoscaler", "-l", sel, "--ignore-not-found",
                   "--wait=false", (char *)NULL) != 0) {
        snprintf(err, errlen, "deleting the objects of deployment/%s: %s", name, r.err);
        tl_proc_out_free(&r);
        goto cleanup;
    }
    tl_proc_out_free(&r);
    rc = 1;
cleanup:
    free(url);
    free(body);
    return rc;
}

int tl_lease_release(const char *ns, const char *name, int keep, char *why,
                     size_t whylen, char *err, size_t errlen)
{
    struct tl_proc_out r;
    char obj[128], drop[128];
    int rc;

    why[0] = '\0';
    snprintf(obj, sizeof obj, "deployment/%s", name);
    snprintf(drop, sizeof drop, TL_LEASE_PREFIX "%s-", tl_lease_run_id());
    rc = keep ? tl_kubectl(ns, NULL, TL_LEASE_KUBECTL_MS, &r, "annotate", obj, drop,
                           TL_LEASE_KEEP "=true", "--overwrite", (char *)NULL)
              : tl_kubectl(ns, NULL, TL_LEASE_KUBECTL_MS, &r, "annotate", obj, drop,
                           (char *)NULL);
    if (rc != 0 && strstr(r.err, "NotFound") == NULL && strstr(r.err, "not found") == NULL) {
        snprintf(err, errlen, "kubectl annotate %s: %s", obj, r.err);
        tl_proc_out_free(&r);
        return -1;
    }
    tl_proc_out_free(&r);
    if (keep) {
        snprintf(why, whylen, "keep");
        return 0;
    }
    for (int attempt = 0; attempt < TL_LEASE_TRIES; attempt++) {
        struct tl_lease_info li;
        struct state st;
        char *buf;

        if (read_state(ns, name, &st, &buf, err, errlen) != 0)
            return -1;
        if (!st.exists || st.deleting) {
            free(buf);
            return 1;
        }
        tl_lease_parse(st.annotations, (long)time(NULL), tl_lease_run_id(), &li);
        free(buf);
        if (li.keep) {
            snprintf(why, whylen, "kept (" TL_LEASE_KEEP ")");
            return 0;
        }
        if (li.live > 0) {
            snprintf(why, whylen, "held by %s", li.holders);
            return 0;
        }
        rc = delete_if_unchanged(ns, name, st.rv, err, errlen);
        if (rc != 0)
            return rc;
        /* someone took hold (or the Deployment changed) since we looked */
    }
    snprintf(why, whylen, "changed by others %d times while being released", TL_LEASE_TRIES);
    return 0;
}

int tl_lease_reclaim(const char *ns, int dry_run,
                     void (*fn)(const char *ns, const char *name, void *arg), void *arg,
                     char *err, size_t errlen)
{
    struct tl_proc_out r;
    char *save = NULL;
    long now = (long)time(NULL);
    int count = 0;

    if (tl_kubectl(ns, NULL, TL_LEASE_KUBECTL_MS, &r, "get", "deployments", "-l",
                   TL_K8S_LABEL_MANAGED "=turbolift", "-o",
                   "jsonpath={range .items[*]}" TL_LEASE_FIELDS "{\"\\n\"}{end}",
                   (char *)NULL) != 0) {
        snprintf(err, errlen, "kubectl get deployments: %s", r.err);
        tl_proc_out_free(&r);
        return -1;
    }
    for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        struct tl_lease_info li;
        struct state st = { .rv = "" };
        char *dns, *name;
        int rc;

        if (parse_line(l, &dns, &name, &st) != 0 || st.deleting)
            continue;
        /* never our own: a hold of this run that expired while its rollout
         * took longer than the lease is still this run's Deployment */
        tl_lease_parse(st.annotations, now, tl_lease_run_id(), &li);
        if (li.keep || li.live > 0 || li.excepted)
            continue;
        if (li.expired == 0 && now - st.created < TL_LEASE_ORPHAN_SECONDS)
            continue;           /* no hold yet: its run may be taking it now */
        if (dry_run) {
            if (fn != NULL)
                fn(dns, name, arg);
            count++;
            continue;
        }
        rc = delete_if_unchanged(dns, name, st.rv, err, errlen);
        if (rc < 0) {
            tl_log_warn("reclaiming deployment/%s in %s: %s", name, dns, err);
            continue;
        }
        if (rc == 1) {
            if (fn != NULL)
                fn(dns, name, arg);
            count++;
        }
    }
    tl_proc_out_free(&r);
    return count;
}
