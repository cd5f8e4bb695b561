/* SPDX-License-Identifier: MIT */
/*
 * turbolift_cli.c - the `turbolift` command: what the k8s target deployed.
 *
 *   turbolift status [-n NS | -A]          labelled deployments: function, hash,
 *                                          ready/replicas, age, endpoint
 *   turbolift logs FUNCTION [-n NS] [--tail N]   the service pods' logs
 *   turbolift down [-n NS | -A]            delete everything labelled
 *                                          app.kubernetes.io/managed-by=turbolift
 *   turbolift gc [--registry R] [--function F] [--dry-run]
 *                                          delete images no deployment uses:
 *                                          registry tags and local container images
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

#include "tl_config.h"
#include "tl_env.h"
#include "tl_image.h"
#include "tl_k8s_yaml.h"
#include "tl_kubectl.h"
#include "tl_proc.h"
#include "tl_registry.h"

#define KUBECTL_TIMEOUT_MS 120000
#define MANAGED TL_K8S_LABEL_MANAGED "=turbolift"

struct opts {
    const char *ns;            /* NULL with all */
    int all;
    const char *registry;
    int dry_run;
    const char *tail;
    const char *function;
};

/* argv for kubectl with context and namespace flags, then extra (NULL-ended). */
static void kargs(const struct opts *o, const char **argv, size_t cap, const char *const *extra)
{
    size_t n = tl_kubectl_argv(argv);

    for (size_t i = 0; extra[i] != NULL && n + 3 < cap; i++)
        argv[n++] = extra[i];
    /* After the subcommand: kubectl takes a flag it does not know as
     * global (such as --all-namespaces) before it for a plugin's name. */
    if (o->all) {
        argv[n++] = "--all-namespaces";
    } else {
        argv[n++] = "-n";
        argv[n++] = o->ns;
    }
    argv[n] = NULL;
}

static int kget(const struct opts *o, const char *const *extra, struct tl_proc_out *r)
{
    const char *argv[32];

    kargs(o, argv, 32, extra);
    if (tl_proc_run((char *const *)argv, NULL, 0, KUBECTL_TIMEOUT_MS, r) != 0) {
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
static void endpoint_of(const char *services, const char *ns, const char *name,
                        char *out, size_t len)
{
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
            snprintf(out, len, "http://127.0.0.1:%s", port);
        else if (strcmp(type, "LoadBalancer") == 0 && lb[0] != '\0')
            snprintf(out, len, "http://%s:%d", lb, TL_K8S_SERVICE_PORT);
        else
            snprintf(out, len, "%s (port-forward svc/%s)", type, name);
    }
    free(copy);
}

static int cmd_status(const struct opts *o)
{
    static const char *const deps[] = { "get", "deployments", "-l", MANAGED, "-o",
        "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} "
        "{.metadata.labels.turbolift\\.dev/function} {.metadata.labels.turbolift\\.dev/hash} "
        "{.status.readyReplicas}/{.spec.replicas} {.metadata.creationTimestamp} "
        "{.metadata.deletionTimestamp}-\n{end}", NULL };
    static const char *const svcs[] = { "get", "services", "-l", MANAGED, "-o",
        "jsonpath={range .items[*]}{.metadata.namespace} {.metadata.name} {.spec.type} "
        "{.spec.ports[0].nodePort}- {.status.loadBalancer.ingress[0].ip}-\n{end}", NULL };
    struct tl_proc_out d, s;
    char *save = NULL;
    int rows = 0;

    if (kget(o, deps, &d) != 0)
        return 1;
    if (kget(o, svcs, &s) != 0) {
        tl_proc_out_free(&d);
        return 1;
    }
    printf("%-20s %-16s %-7s %-5s %-16s %s\n", "FUNCTION", "HASH", "READY", "AGE",
           "NAMESPACE", "ENDPOINT");
    for (char *l = strtok_r(d.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char ns[128], name[128], fn[128], hash[64], ready[32], ts[64], a[32], ep[256];
        char gone[64];

        /* the last word is "-" unless the deployment is being deleted */
        if (sscanf(l, "%127s %127s %127s %63s %31s %63s %63s", ns, name, fn, hash, ready, ts,
                   gone) != 7)
            continue;
        if (ready[0] == '/') {                 /* "/2": none ready yet */
            memmove(ready + 1, ready, strlen(ready) + 1);
            ready[0] = '0';
        }
        age(ts, a, sizeof a);
        endpoint_of(s.out, ns, name, ep, sizeof ep);
        if (strcmp(gone, "-") != 0)
            snprintf(ep, sizeof ep, "(being deleted)");
        printf("%-20s %-16s %-7s %-5s %-16s %s\n", fn, hash, ready, a, ns, ep);
        rows++;
    }
    if (rows == 0)
        printf("(nothing deployed by turbolift in %s)\n", o->all ? "any namespace" : o->ns);
    tl_proc_out_free(&d);
    tl_proc_out_free(&s);
    return 0;
}

static int cmd_logs(const struct opts *o)
{
    char sel[256], tail[32];
    const char *extra[] = { "logs", "-l", sel, "--prefix", "--all-containers",
                            "--max-log-requests=20", tail, NULL };
    const char *argv[32];
    int status;

    snprintf(sel, sizeof sel, MANAGED "," TL_K8S_LABEL_FUNCTION "=%s", o->function);
    snprintf(tail, sizeof tail, "--tail=%s", o->tail ? o->tail : "100");
    kargs(o, argv, 32, extra);
    if (tl_proc_run_inherit((char *const *)argv, KUBECTL_TIMEOUT_MS, &status) != 0) {
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
    fputs("usage: turbolift status [-n NAMESPACE | -A]\n"
          "       turbolift logs FUNCTION [-n NAMESPACE] [--tail N]\n"
          "       turbolift down [-n NAMESPACE | -A]\n"
          "       turbolift gc [--registry HOST:PORT] [--function FUNCTION] [--dry-run]\n"
          "kubectl comes from PATH (or TURBOLIFT_KUBECTL) and honours KUBECONFIG;\n"
          "the namespace defaults to $TURBOLIFT_NAMESPACE, else 'default'; the registry\n"
          "to $TURBOLIFT_REGISTRY, else 127.0.0.1:5000.\n", f);
}

int main(int argc, char **argv)
{
    struct opts o = { 0 };
    const char *cmd;

    o.ns = tl_env("TURBOLIFT_NAMESPACE", "default");
    o.registry = tl_env("TURBOLIFT_REGISTRY", "127.0.0.1:5000");
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
