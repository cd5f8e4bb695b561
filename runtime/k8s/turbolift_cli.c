/* SPDX-License-Identifier: MIT */
/*
 * turbolift_cli.c - the `turbolift` command: what the k8s target deployed.
 *
 *   turbolift status [-n NS | -A] [--no-metrics]
 *                                          per deployed function: hash, ready/
 *                                          desired, HPA, calls and errors (each
 *                                          pod's /metrics), image size, age,
 *                                          endpoint, the runs that hold it
 *   turbolift logs FUNCTION [-n NS] [--tail N]   the service pods' logs
 *   turbolift down [-n NS | -A]            delete everything labelled
 *                                          app.kubernetes.io/managed-by=turbolift
 *   turbolift gc [--registry R] [--function F] [--dry-run]
 *                                          delete deployments whose runs' holds
 *                                          expired (tl_lease.h), then images no
 *                                          deployment uses: registry tags and
 *                                          local container images
 *
 * Everything goes through kubectl (KUBECONFIG, the current context or
 * TURBOLIFT_KUBE_CONTEXT) and the registry's HTTP API, as the runtime does.
 */
#define _GNU_SOURCE   /* strdup, timegm */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tl_buf.h"
#include "tl_clock.h"
#include "tl_config.h"
#include "tl_env.h"
#include "tl_image.h"
#include "tl_k8s_yaml.h"
#include "tl_kubectl.h"
#include "tl_lease.h"
#include "tl_paths.h"
#include "tl_proc.h"
#include "tl_protocol.h"
#include "tl_registry.h"
#include "tl_tls.h"
#include "tl_yaml_read.h"

#define KUBECTL_TIMEOUT_MS 120000
#define MANAGED TL_K8S_LABEL_MANAGED "=turbolift"

struct opts {
    const char *ns;            /* NULL with all */
    int all;
    const char *registry;
    int dry_run;
    const char *tail;
    const char *function;
    int metrics;               /* status: ask each pod's /metrics */
};

/* The namespace argument of tl_kubectl_run for these options. */
static const char *nsarg(const struct opts *o)
{
    return o->all ? TL_KUBECTL_ALL_NAMESPACES : o->ns;
}

static int kget(const struct opts *o, const char *const *args, struct tl_proc_out *r)
{
    if (tl_kubectl_run(nsarg(o), NULL, KUBECTL_TIMEOUT_MS, args, r) != 0) {
        fprintf(stderr, "turbolift: kubectl: %s\n", r->err);
        return -1;
    }
    return 0;
}

static void age(const char *ts, char *out, size_t len)
{
    struct tm tm = { 0 };
    long s;

    if (sscanf(ts, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
        snprintf(out, len, "?");
        return;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    s = (long)(time(NULL) - timegm(&tm));
    if (s < 120)
        snprintf(out, len, "%lds", s);
    else if (s < 7200)
        snprintf(out, len, "%ldm", s / 60);
    else if (s < 172800)
        snprintf(out, len, "%ldh", s / 3600);
    else
        snprintf(out, len, "%ldd", s / 86400);
}

/* The endpoint of service NAME in NS from the services listing. */
static void endpoint_of(const char *services, const char *ns, const char *name, int tls,
                        char *out, size_t len)
{
    const char *scheme = tls ? "https" : "http";

    char *copy = strdup(services), *save = NULL;

    snprintf(out, len, "-");
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char sns[128] = "", sname[128] = "", type[32] = "", port[16] = "", lb[128] = "";

        /* "ns name type nodePort- lb-": each of the last two ends in a '-'
         * so that an empty one still is a word. */
        if (sscanf(l, "%127s %127s %31s %15s %127s", sns, sname, type, port, lb) < 5)
            continue;
        if (strcmp(sns, ns) != 0 || strcmp(sname, name) != 0)
            continue;
        port[strlen(port) - 1] = '\0';
        lb[strlen(lb) - 1] = '\0';
        if (strcmp(type, "NodePort") == 0 && port[0] != '\0')
            snprintf(out, len, "%s://127.0.0.1:%s", scheme, port);
        else if (strcmp(type, "LoadBalancer") == 0 && lb[0] != '\0')
            snprintf(out, len, "%s://%s:%d", scheme, lb, TL_K8S_SERVICE_PORT);
        else
            snprintf(out, len, "%s (port-forward svc/%s)", type, name);
    }
    free(copy);
}

/* ---- status ------------------------------------------------------------ */

/* The line of listing whose first two words are ns and name, or NULL. */
static const char *line_of(const char *listing, const char *ns, const char *name)
{
    size_t nl = strlen(ns), ml = strlen(name);

    for (const char *l = listing; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, ns, nl) == 0 && l[nl] == ' ' && strncmp(l + nl + 1, name, ml) == 0 &&
            l[nl + 1 + ml] == ' ')
            return l + nl + ml + 2;
    return NULL;
}

/* The word number i (0: the first) of the line at l, into out. */
static void word(const char *l, int i, char *out, size_t len)
{
    size_t n = 0;

    out[0] = '\0';
    if (l == NULL)
        return;
    for (; i > 0; i--) {
        while (*l && *l != ' ' && *l != '\n')
            l++;
        if (*l != ' ')
            return;
        l++;
    }
    while (*l && *l != ' ' && *l != '\n' && n + 1 < len)
        out[n++] = *l++;
    out[n] = '\0';
}

static size_t on_metrics(char *p, size_t size, size_t n, void *arg)
{
    return tl_buf_append(arg, p, size * n, (size_t)4 << 20) == 0 ? size * n : 0;
}

/* The sum of every sample of metric (any labels) in Prometheus text. */
static unsigned long long metric_sum(const char *text, const char *metric)
{
    size_t ml = strlen(metric);
    unsigned long long sum = 0;

    for (const char *l = text; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *v;

        if (strncmp(l, metric, ml) != 0 || (l[ml] != '{' && l[ml] != ' '))
            continue;
        v = l[ml] == '{' ? strchr(l, '}') : l + ml;
        if (v != NULL)
            sum += strtoull(v + 1, NULL, 10);
    }
    return sum;
}

/*
 * Calls and errors one pod has answered, from its /metrics, reached through
 * `kubectl port-forward pod/NAME` (pods' addresses need not be reachable
 * from here) with the call token the Secret holds. 0, or -1 with err.
 */
static int pod_counts(const char *ns, const char *pod, const char *token, const char *pin,
                      unsigned long long *calls, unsigned long long *errors,
                      char *err, size_t errlen)
{
    struct tl_kubectl_pf pf = { 0, -1 };
    struct curl_slist *headers = NULL;
    struct tl_buf body = { 0 };
    char target[200], url[128], auth[300];
    long status = 0;
    int port, rc = -1;
    CURL *h = NULL;

    snprintf(target, sizeof target, "pod/%s", pod);
    if (tl_kubectl_port_forward(ns, target, TL_PROTO_PORT, tl_now_ms() + 20000, &pf, &port,
                                err, errlen) != 0)
        return -1;
    /* pin: the pods speak HTTPS with the Secret's certificate (tl_tls.h). */
    snprintf(url, sizeof url, "%s://127.0.0.1:%d" TL_PROTO_PATH_METRICS,
             pin ? "https" : "http", port);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    h = curl_easy_init();
    headers = curl_slist_append(NULL, auth);
    if (h == NULL || headers == NULL) {
        snprintf(err, errlen, "cannot create an HTTP request");
        goto cleanup;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_metrics);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    if (pin != NULL) {
        curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, pin);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_easy_perform(h) != CURLE_OK ||
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200 ||
        body.data == NULL) {
        snprintf(err, errlen, "GET %s of pod %s: %s", TL_PROTO_PATH_METRICS, pod,
                 status ? "not 200" : "no answer");
        if (status != 0)
            snprintf(err, errlen, "GET %s of pod %s answered HTTP %ld", TL_PROTO_PATH_METRICS,
                     pod, status);
        goto cleanup;
    }
    *calls += metric_sum(body.data, "turbolift_calls_total");
    *errors += metric_sum(body.data, "turbolift_call_errors_total");
    rc = 0;
cleanup:
    curl_slist_free_all(headers);
    if (h != NULL)
        curl_easy_cleanup(h);
    tl_buf_free(&body);
    tl_kubectl_pf_stop(&pf);
    return rc;
}

/* "CALLS ERRORS" of deployment name: summed over its running pods. */
static void counts(const char *pods, const char *secrets, const char *ns, const char *name,
                   char *calls_s, char *errors_s, size_t len)
{
    char data[512] = "", token[256], copy_ns[128];
    char cert_b64[4096] = "", cert[4096], pin[TL_TLS_PIN_MAX] = "", why[256];
    unsigned long long calls = 0, errors = 0;
    int scraped = 0, failed = 0;
    const char *l;

    snprintf(calls_s, len, "-");
    snprintf(errors_s, len, "-");
    word(line_of(secrets, ns, name), 0, data, sizeof data);
    if (data[0] == '\0' || tl_kubectl_b64_decode(data, token, sizeof token) != 0)
        return;
    word(line_of(secrets, ns, name), 1, cert_b64, sizeof cert_b64);
    if (cert_b64[0] != '\0' && (tl_kubectl_b64_decode(cert_b64, cert, sizeof cert) != 0 ||
                                tl_tls_pin(cert, pin, sizeof pin, why, sizeof why) != 0))
        return;
    /* pods: "ns deployment pod phase" */
    snprintf(copy_ns, sizeof copy_ns, "%s", ns);
    for (l = pods; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char pns[128], dep[128], pod[200], phase[32], err[512];

        word(l, 0, pns, sizeof pns);
        word(l, 1, dep, sizeof dep);
        word(l, 2, pod, sizeof pod);
        word(l, 3, phase, sizeof phase);
        if (strcmp(pns, copy_ns) != 0 || strcmp(dep, name) != 0 || strcmp(phase, "Running") != 0)
            continue;
        if (pod_counts(ns, pod, token, pin[0] ? pin : NULL, &calls, &errors, err,
                       sizeof err) == 0) {
            scraped++;
        } else {
            failed++;
            fprintf(stderr, "turbolift: %s\n", err);
        }
    }
    if (scraped == 0)
        return;
    /* "+" : a pod could not be asked, so there are more than shown */
    snprintf(calls_s, len, "%llu%s", calls, failed ? "+" : "");
    snprintf(errors_s, len, "%llu%s", errors, failed ? "+" : "");
}

/* "cur%/target%(min-max)" of the HPA of name, "-" when it has none. */
static void hpa_of(const char *hpas, const char *ns, const char *name, char *out, size_t len)
{
    const char *l = line_of(hpas, ns, name);
    char cur[16], target[16], min[16], max[16];

    if (l == NULL) {
        snprintf(out, len, "-");
        return;
    }
    /* "cur- target min max": current is empty until metrics arrive */
    word(l, 0, cur, sizeof cur);
    word(l, 1, target, sizeof target);
    word(l, 2, min, sizeof min);
    word(l, 3, max, sizeof max);
    cur[strlen(cur) ? strlen(cur) - 1 : 0] = '\0';
    snprintf(out, len, "%s%%/%s%%(%s-%s)", cur[0] ? cur : "?", target, min, max);
}

/* The image's size from the deployment's annotations (JSON, as kubectl
 * prints them; libyaml reads JSON as YAML's flow style). */
static void image_size(const char *annotations, char *out, size_t len)
{
    yaml_document_t doc;
    yaml_node_t *bytes;
    char why[128];

    snprintf(out, len, "-");
    if (tl_yaml_load_string(annotations, &doc, why, sizeof why) != 0)
        return;
    bytes = tl_yaml_lookup(&doc, yaml_document_get_root_node(&doc), TL_K8S_IMAGE_BYTES);
    if (bytes != NULL && bytes->type == YAML_SCALAR_NODE)
        snprintf(out, len, "%.1fMB",
                 (double)strtoull((const char *)bytes->data.scalar.value, NULL, 10) / 1e6);
    yaml_document_delete(&doc);
}

/* Whether the function's pods speak HTTPS: its Secret holds a certificate
 * (secrets: "ns name token tlscert" lines). */
static int tls_of(const char *secrets, const char *ns, const char *name)
{
    char cert[16] = "";

    word(line_of(secrets, ns, name), 1, cert, sizeof cert);
    return cert[0] != '\0';
}

static int cmd_status(const struct opts *o)
{
    static const char *const deps[] = { "get", "deployments", "-l", MANAGED, "-o",
        "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} "
        "{.metadata.labels.turbolift\\.dev/function} {.metadata.labels.turbolift\\.dev/hash} "
        "{.status.readyReplicas}/{.spec.replicas} {.metadata.creationTimestamp} "
        "{.metadata.deletionTimestamp}- {.metadata.annotations}\n{end}", NULL };
    static const char *const svcs[] = { "get", "services", "-l", MANAGED, "-o",
        "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} {.spec.type} "
        "{.spec.ports[0].nodePort}- {.status.loadBalancer.ingress[0].ip}-\n{end}", NULL };
    static const char *const hpas[] = { "get", "horizontalpodautoscalers", "-l", MANAGED, "-o",
        "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} "
        "{.status.currentMetrics[0].resource.current.averageUtilization}- "
        "{.spec.metrics[0].resource.target.averageUtilization} {.spec.minReplicas} "
        "{.spec.maxReplicas}\n{end}", NULL };
    static const char *const pods[] = { "get", "pods", "-l", MANAGED, "-o",
        "jsonpath={range .items[*]}{.metadata.namespace} "
        "{.metadata.labels.app\\.kubernetes\\.io/name} {.metadata.name} {.status.phase}\n{end}",
        NULL };
    static const char *const secrets[] = { "get", "secrets", "-l", MANAGED, "-o",
        "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} {.data.token} "
        "{.data.tlscert}\n{end}",
        NULL };
    struct tl_proc_out d, s = { 0 }, h = { 0 }, p = { 0 }, k = { 0 };
    char *save = NULL;
    int rows = 0, rc = 1;

    if (kget(o, deps, &d) != 0)
        return 1;
    /* the secrets tell the endpoints' scheme, so they are read without
     * --no-metrics too */
    if (kget(o, svcs, &s) != 0 || kget(o, hpas, &h) != 0 || kget(o, secrets, &k) != 0 ||
        (o->metrics && kget(o, pods, &p) != 0))
        goto cleanup;
    printf("%-16s %-16s %-5s %-16s %-7s %-6s %-7s %-4s %-16s %-26s %s\n", "FUNCTION", "HASH",
           "READY", "HPA", "CALLS", "ERRORS", "IMAGE", "AGE", "NAMESPACE", "ENDPOINT",
           "HELD BY");
    for (char *l = strtok_r(d.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char ns[128], name[128], fn[128], hash[64], ready[32], ts[64], a[32], ep[256];
        char gone[64], hpa[64], calls[32] = "-", errors[32] = "-", img[32];
        struct tl_lease_info li;
        const char *ann;

        /* the 7th word is "-" unless the deployment is being deleted; the
         * annotations (JSON, no spaces) follow */
        if (sscanf(l, "%127s %127s %127s %63s %31s %63s %63s", ns, name, fn, hash, ready, ts,
                   gone) != 7)
            continue;
        ann = l;
        for (int w = 0; w < 7 && ann != NULL; w++)
            ann = strchr(ann + (w ? 1 : 0), ' ');
        ann = ann != NULL ? ann + 1 : "";
        if (ready[0] == '/') {                 /* "/2": none ready yet */
            memmove(ready + 1, ready, strlen(ready) + 1);
            ready[0] = '0';
        }
        age(ts, a, sizeof a);
        endpoint_of(s.out, ns, name, tls_of(k.out, ns, name), ep, sizeof ep);
        if (strcmp(gone, "-") != 0)
            snprintf(ep, sizeof ep, "(being deleted)");
        hpa_of(h.out, ns, name, hpa, sizeof hpa);
        if (o->metrics)
            counts(p.out, k.out, ns, name, calls, errors, sizeof calls);
        image_size(ann, img, sizeof img);
        tl_lease_parse(ann, (long)time(NULL), NULL, &li);
        printf("%-16s %-16s %-5s %-16s %-7s %-6s %-7s %-4s %-16s %-26s %s%s%s\n", fn, hash,
               ready, hpa, calls, errors, img, a, ns, ep, li.live ? li.holders : "-",
               li.keep ? " (kept)" : "",
               !li.live && li.expired ? " (holds expired: gc reclaims it)" : "");
        rows++;
    }
    if (rows == 0)
        printf("(nothing deployed by turbolift in %s)\n", o->all ? "any namespace" : o->ns);
    rc = 0;
cleanup:
    tl_proc_out_free(&d);
    tl_proc_out_free(&s);
    tl_proc_out_free(&h);
    tl_proc_out_free(&p);
    tl_proc_out_free(&k);
    return rc;
}

static int cmd_logs(const struct opts *o)
{
    char sel[256], tail[32];
    const char *extra[] = { "logs", "-l", sel, "--prefix", "--all-containers",
                            "--max-log-requests=20", tail, NULL };
    int status;

    snprintf(sel, sizeof sel, MANAGED "," TL_K8S_LABEL_FUNCTION "=%s", o->function);
    snprintf(tail, sizeof tail, "--tail=%s", o->tail ? o->tail : "100");
    if (tl_kubectl_inherit(nsarg(o), KUBECTL_TIMEOUT_MS, extra, &status) != 0) {
        fprintf(stderr, "turbolift: kubectl logs for %s failed (status %d)\n", o->function,
                status);
        return 1;
    }
    return 0;
}

static int cmd_down(const struct opts *o)
{
    static const char *const del[] = { "delete",
        "deployments,services,secrets,horizontalpodautoscalers", "-l", MANAGED,
        "--ignore-not-found", NULL };
    struct tl_proc_out r;

    if (kget(o, del, &r) != 0)
        return 1;
    fputs(r.out[0] ? r.out : "nothing to delete\n", stdout);
    tl_proc_out_free(&r);
    return 0;
}

/* ---- gc ---------------------------------------------------------------- */

struct names {
    char **v;
    size_t n;
};

static void names_add(const char *s, void *arg)
{
    struct names *l = arg;
    char **grown = realloc(l->v, (l->n + 1) * sizeof *grown);

    if (grown == NULL)
        return;
    l->v = grown;
    if ((l->v[l->n] = strdup(s)) != NULL)
        l->n++;
}

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int in_use(const char *inuse, const char *tag)
{
    char word[80];

    snprintf(word, sizeof word, " %s ", tag);
    return strstr(inuse, word) != NULL;
}

/* Tags we make: 16 lowercase hex digits. Anything else is not ours. */
static int our_tag(const char *tag)
{
    size_t n = strlen(tag);

    if (n != 16)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((tag[i] >= '0' && tag[i] <= '9') || (tag[i] >= 'a' && tag[i] <= 'f')))
            return 0;
    return 1;
}

/* Is "HOST/turbolift/FN:TAG" (colon at the tag) the repository of fn? */
static int repo_is(const char *ref, const char *colon, const char *fn)
{
    size_t fl = strlen(fn);

    return (size_t)(colon - ref) > fl + 10 && colon[-(long)fl - 1] == '/' &&
           strncasecmp(colon - fl, fn, fl) == 0 && strncmp(colon - fl - 10, "turbolift/", 10) == 0;
}

static void would_reclaim(const char *ns, const char *name, void *arg)
{
    (void)arg;
    printf("would delete deployment/%s in %s (the holds of its runs expired)\n", name, ns);
}

static void did_reclaim(const char *ns, const char *name, void *arg)
{
    (void)arg;
    printf("deleted deployment/%s in %s (the holds of its runs expired)\n", name, ns);
}

static int cmd_gc(const struct opts *o)
{
    static const char *const hashes[] = { "get", "deployments", "-l", MANAGED, "-o",
        "jsonpath= {range .items[*]}{.metadata.labels.turbolift\\.dev/hash} {end}", NULL };
    struct opts all = *o;
    struct tl_proc_out r;
    struct names repos = { 0 };
    char *body = NULL, err[512], *inuse;
    char host[256], prefix[256], ours[300], pause[320];
    int failures = 0, removed = 0;
    long status;

    all.all = 1;
    /* 0. Deployments whose runs all died (their holds expired), in every
     *    namespace: first, so that their images count as unused below. */
    if (tl_lease_reclaim(TL_KUBECTL_ALL_NAMESPACES, o->dry_run, o->dry_run ? would_reclaim
                         : did_reclaim, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "turbolift: %s\n", err);
        failures++;
    }
    if (kget(&all, hashes, &r) != 0)
        return 1;     /* without the list of images in use, delete nothing */
    inuse = r.out;

    /* 1. The registry's [prefix/]turbolift/<function>:<hash> tags; the API
     *    is at the registry's host whatever the prefix. */
    tl_registry_split(o->registry, host, sizeof host, prefix, sizeof prefix);
    snprintf(ours, sizeof ours, "%sturbolift/", prefix);
    snprintf(pause, sizeof pause, "%spause", ours);
    /* 1000: the registry's default ceiling for one page (more is a 400). */
    status = tl_registry_get(host, "_catalog?n=1000", 30000, &body, err, sizeof err);
    if (status != 200) {
        if (status != 0)
            snprintf(err, sizeof err, "GET /v2/_catalog answered HTTP %ld: %.200s", status,
                     body ? body : "");
        fprintf(stderr, "turbolift: registry %s: %s\n", o->registry, err);
        failures++;
    } else {
        tl_json_strings(body, "repositories", names_add, &repos);
    }
    free(body);
    for (size_t i = 0; i < repos.n; i++) {
        struct names tags = { 0 };
        char path[600];

        if (strncmp(repos.v[i], ours, strlen(ours)) != 0 || strcmp(repos.v[i], pause) == 0)
            continue;
        if (o->function != NULL && strcasecmp(repos.v[i] + strlen(ours), o->function) != 0)
            continue;
        snprintf(path, sizeof path, "%s/tags/list", repos.v[i]);
        if (tl_registry_get(host, path, 30000, &body, err, sizeof err) == 200)
            tl_json_strings(body, "tags", names_add, &tags);
        free(body);
        for (size_t j = 0; j < tags.n; j++) {
            if (!our_tag(tags.v[j]) || in_use(inuse, tags.v[j]))
                continue;
            if (o->dry_run) {
                printf("would delete %s/%s:%s\n", host, repos.v[i], tags.v[j]);
            } else if (tl_registry_delete(host, repos.v[i], tags.v[j], 30000,
                                          err, sizeof err) == 0) {
                printf("deleted %s/%s:%s\n", host, repos.v[i], tags.v[j]);
                removed++;
            } else {
                fprintf(stderr, "turbolift: %s/%s:%s: %s\n", host, repos.v[i],
                        tags.v[j], err);
                failures++;
            }
        }
        names_free(&tags);
    }
    names_free(&repos);

    /* 2. Local images the container tool built for us. */
    const char *tool = tl_image_tool();
    if (tool != NULL) {
        const char *ls[] = { tool, "images", "--filter", "label=" MANAGED, "--format",
                             "{{.Repository}}:{{.Tag}}", NULL };
        struct tl_proc_out li;

        if (tl_proc_run((char *const *)ls, NULL, 0, 60000, &li) == 0) {
            char *save = NULL;

            for (char *l = strtok_r(li.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                const char *colon = strrchr(l, ':');
                const char *rmi[] = { tool, "rmi", l, NULL };
                struct tl_proc_out rr;

                if (colon == NULL || !our_tag(colon + 1) || in_use(inuse, colon + 1))
                    continue;
                if (o->function != NULL && !repo_is(l, colon, o->function))
                    continue;
                if (o->dry_run) {
                    printf("would remove local image %s\n", l);
                    continue;
                }
                if (tl_proc_run((char *const *)rmi, NULL, 0, 60000, &rr) == 0) {
                    printf("removed local image %s\n", l);
                    removed++;
                } else {
                    fprintf(stderr, "turbolift: %s rmi %s: %s\n", tool, l, rr.err);
                    failures++;
                }
                tl_proc_out_free(&rr);
            }
        }
        tl_proc_out_free(&li);
    }
    if (!o->dry_run)
        printf("%d image(s) removed; the registry frees their blobs at its next "
               "garbage collection\n", removed);
    tl_proc_out_free(&r);
    return failures ? 1 : 0;
}

static void usage(FILE *f)
{
    fputs("usage: turbolift --version\n"
          "       turbolift status [-n NAMESPACE | -A] [--no-metrics]\n"
          "       turbolift logs FUNCTION [-n NAMESPACE] [--tail N]\n"
          "       turbolift down [-n NAMESPACE | -A]\n"
          "       turbolift gc [--registry HOST:PORT] [--function FUNCTION] [--dry-run]\n"
          "kubectl comes from PATH (or TURBOLIFT_KUBECTL) and honours KUBECONFIG;\n"
          "the namespace defaults to $TURBOLIFT_NAMESPACE, else 'default'; the registry\n"
          "to $TURBOLIFT_REGISTRY, else 127.0.0.1:5000.\n", f);
}

int main(int argc, char **argv)
{
    struct opts o = { .metrics = 1 };
    const char *cmd;

    o.ns = tl_env("TURBOLIFT_NAMESPACE", "default");
    o.registry = tl_env("TURBOLIFT_REGISTRY", "127.0.0.1:5000");
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("turbolift %s\n", TL_VERSION);    /* meson's project version */
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];

        if ((strcmp(a, "-n") == 0 || strcmp(a, "--namespace") == 0) && i + 1 < argc)
            o.ns = argv[++i];
        else if (strcmp(a, "-A") == 0 || strcmp(a, "--all-namespaces") == 0)
            o.all = 1;
        else if (strcmp(a, "--registry") == 0 && i + 1 < argc)
            o.registry = argv[++i];
        else if (strcmp(a, "--no-metrics") == 0)
            o.metrics = 0;
        else if (strcmp(a, "--dry-run") == 0)
            o.dry_run = 1;
        else if (strcmp(a, "--function") == 0 && i + 1 < argc)
            o.function = argv[++i];
        else if (strcmp(a, "--tail") == 0 && i + 1 < argc)
            o.tail = argv[++i];
        else if (a[0] != '-' && o.function == NULL && strcmp(cmd, "logs") == 0)
            o.function = a;
        else {
            fprintf(stderr, "turbolift: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(&o);
    if (strcmp(cmd, "logs") == 0) {
        if (o.function == NULL) {
            usage(stderr);
            return 2;
        }
        return cmd_logs(&o);
    }
    if (strcmp(cmd, "down") == 0)
        return cmd_down(&o);
    if (strcmp(cmd, "gc") == 0)
        return cmd_gc(&o);
    fprintf(stderr, "turbolift: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
