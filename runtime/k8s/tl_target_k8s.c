/* SPDX-License-Identifier: MIT */
/*
 * tl_target_k8s.c - the "k8s" target: the service as a Deployment on
 * Kubernetes, driven with kubectl (docs/architecture.md, "Targets").
 *
 *   prepare  link the service binary (tl_build.c), then make sure its
 *            image is in the registry (tl_image.c: skipped when the tag,
 *            a hash of the image's bytes, is there already)
 *   start    reuse a ready Deployment of the same hash, or apply Secret,
 *            Deployment, Service (and HPA) on stdin of `kubectl apply -f -`;
 *            poll the rollout until every replica is ready (deadline);
 *            find the endpoint (NodePort on 127.0.0.1 by default,
 *            `kubectl port-forward` or a LoadBalancer address); poll its
 *            /readyz; publish it as the one slot
 *   failed   nothing for a Service (Kubernetes replaces pods and the
 *            Service routes around them); a dead port-forward is restarted
 *   stop     delete this function's labelled objects, unless keep
 *
 * kubectl runs as a child process (tl_proc.c): it honours KUBECONFIG and
 * the current context like any kubectl the user runs; TURBOLIFT_KUBECTL
 * names another binary and TURBOLIFT_KUBE_CONTEXT another context.
 *
 * The call token: a ready Deployment of the same hash is reused with the
 * token read back from its Secret; otherwise the configured token, or 32
 * bytes of /dev/urandom. The
 * pods get it from the Secret (secretKeyRef), the client sends it as
 * "Authorization: Bearer" (tl_target.token).
 *
 * TLS (on unless TURBOLIFT_TLS=0): the Secret also holds a certificate and
 * key made for the Deployment (tl_tls.h; read back with the token when the
 * Deployment is reused), the pods read them from it and speak HTTPS only,
 * and the client accepts exactly that certificate's key (a pinned
 * endpoint), over a NodePort, a load balancer or a port-forward alike.
 */
#define _GNU_SOURCE   /* CLOCK_MONOTONIC, pthread_condattr_setclock */
#include "tl_target.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tl_build.h"
#include "tl_clock.h"
#include "tl_env.h"
#include "tl_image.h"
#include "tl_k8s_yaml.h"
#include "tl_kubectl.h"
#include "tl_lease.h"
#include "tl_log.h"
#include "tl_proc.h"
#include "tl_protocol.h"
#include "tl_tls.h"

#define TL_K8S_DEFAULT_REGISTRY "127.0.0.1:5000"  /* deploy/cluster's registry     */
#define TL_K8S_IMAGE_TIMEOUT_MS 300000            /* floor for ldd + build + push  */
#define TL_K8S_KUBECTL_TIMEOUT_MS 60000           /* one kubectl get/apply/delete  */
#define TL_K8S_POLL_MS 250                        /* rollout and address polling   */
#define TL_K8S_PF_RESTARTS 8                      /* port-forward restarts budget  */

struct k8s {
    pthread_mutex_t lock;         /* port-forward restarts vs stop             */
    pid_t owner;                  /* the process that deployed                 */
    char name[64];                /* Kubernetes object name                    */
    const char *ns;
    char *binary;
    struct tl_image img;
    char token[128];
    struct tl_tls_identity tls;   /* the pods' certificate and key, or none  */
    int progress;                 /* stderr is a terminal: show every step     */
    int deployed;                 /* objects exist on the cluster (ours/reused) */
    int stopped;
    int lease_s;                  /* TURBOLIFT_LEASE_SECONDS (tl_lease.h)      */
    pthread_t renewer;            /* renews our hold every lease_s / 3         */
    int renewing;                 /* renewer runs                              */
    int renew_stop;               /* under renew_lock: the renewer should end  */
    pthread_mutex_t renew_lock;
    pthread_cond_t renew_wake;
    struct tl_kubectl_pf pf;      /* kubectl port-forward (endpoint)           */
    int replicas;                 /* applied spec.replicas                     */
    int node_port;                /* the Service's, as apply returned it; 0    */
    unsigned pf_restarts;
    struct tl_endpoint *retired;  /* every endpoint published (never freed)    */
    long crashes_checked_ms;      /* under lock: last look at the pods' ends   */
    char crashes_told[1024];      /* "pod/restarts\n" already reported        */
};

/* ------------------------------------------------------------------ */
/* Token                                                                */

static int new_token(char *out, size_t outlen, char *err, size_t errlen)
{
    unsigned char raw[32];
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "/dev/urandom: %s", strerror(errno));
        return -1;
    }
    while (got < sizeof raw) {       /* urandom returns 32 bytes at once */
        ssize_t n = read(fd, raw + got, sizeof raw - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "/dev/urandom: %s", n < 0 ? strerror(errno) : "EOF");
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < outlen; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* ------------------------------------------------------------------ */
/* prepare                                                              */

static void repository_name(const char *function, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "turbolift/");

    /* Repository names are lowercase [a-z0-9._-]; C names map 1:1 except case. */
    for (const char *p = function; *p && n + 1 < len; p++)
        out[n++] = (char)tolower((unsigned char)*p);
    out[n] = '\0';
}

static int k8s_prepare(struct tl_target *t, char *err, size_t errlen)
{
    const struct tl_fn_config *c = t->config;
    struct tl_image_opts o = { 0 };
    char repo[128];
    long image_timeout = c->start_timeout_ms > TL_K8S_IMAGE_TIMEOUT_MS
                             ? c->start_timeout_ms : TL_K8S_IMAGE_TIMEOUT_MS;
    long t0 = tl_now_ms();
    struct k8s *k;
    int hit;

    k = calloc(1, sizeof *k);
    if (k == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&k->lock, NULL);
    pthread_mutex_init(&k->renew_lock, NULL);
    {
        /* the renewer sleeps on the monotonic clock: a clock step must
         * neither skip a renewal nor hold it back */
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&k->renew_wake, &ca);
        pthread_condattr_destroy(&ca);
    }
    k->owner = getpid();
    k->ns = c->k8s_namespace;
    k->pf.out = -1;
    /* Deploying takes seconds to minutes: on a terminal the user sees each
     * step (tl_log_progress); elsewhere only at TURBOLIFT_LOG=info. */
    k->progress = isatty(STDERR_FILENO) && tl_log_enabled(TL_LOG_WARN);
    t->priv = k;               /* stop() frees what we made, even on failure */

    if (tl_lease_seconds(&k->lease_s, err, errlen) != 0)
        return -1;
    if (tl_build_service(t->manifest, image_timeout, &k->binary, &hit, &t->globals,
                         err, errlen) != 0)
        return -1;
    tl_log_progress(k->progress, "%s: service %s (%.2f s)", t->manifest->function,
                    hit ? "linked already" : "linked", (double)(tl_now_ms() - t0) / 1000);
    repository_name(t->manifest->function, repo, sizeof repo);
    o.registry = c->registry ? c->registry : TL_K8S_DEFAULT_REGISTRY;
    o.pull_registry = tl_env("TURBOLIFT_REGISTRY_PULL", o.registry);
    o.repository = repo;
    o.base = c->image_base;
    o.timeout_ms = image_timeout;
    o.progress = k->progress;
    if (tl_image_ensure(k->binary, &o, &k->img, err, errlen) != 0)
        return -1;
    tl_k8s_name(t->manifest->function, k->img.tag, k->name);
    if (k->img.cached)
        tl_log_progress(k->progress, "%s: image %s is in the registry already",
                        t->manifest->function, k->img.ref);
    else
        tl_log_progress(k->progress, "%s: image %s pushed (%.1f MB, %.1f s)",
                        t->manifest->function, k->img.ref, (double)k->img.bytes / 1e6,
                        (double)(tl_now_ms() - t0) / 1000);
    return 0;
}

/* ------------------------------------------------------------------ */
/* start                                                                */

/* readyReplicas and spec.replicas of our Deployment; -1/-1 when absent. */
/* The jsonpath that state_parse() reads. */
#define TL_K8S_STATE "{.status.readyReplicas} {.spec.replicas} {.metadata.deletionTimestamp}|"

/* "R W TS|" into readyReplicas, spec.replicas and "being deleted";
 * -1/-1 when out is empty (no such Deployment). */
static void state_parse(const char *out, int *ready, int *wanted, int *deleting)
{
    const char *sp = strchr(out, ' '), *bar = strchr(out, '|');

    *ready = *wanted = -1;
    *deleting = 0;
    if (out[0] == '\0')
        return;
    /* readyReplicas is absent (empty) while none is ready */
    *ready = out[0] == ' ' ? 0 : atoi(out);
    if (sp != NULL) {
        const char *sp2 = strchr(sp + 1, ' ');

        *wanted = atoi(sp + 1);
        *deleting = sp2 != NULL && bar != NULL && bar > sp2 + 1;
    }
}

/* readyReplicas and spec.replicas of our Deployment; -1/-1 when absent. */
static int rollout_state(struct k8s *k, int *ready, int *wanted, int *deleting,
                         char *err, size_t errlen)
{
    char out[256], obj[80];

    snprintf(obj, sizeof obj, "deployment/%s", k->name);
    if (tl_kubectl_get(k->ns, obj, TL_K8S_STATE, out, sizeof out,
                       TL_K8S_KUBECTL_TIMEOUT_MS, err, errlen) != 0)
        return -1;
    state_parse(out, ready, wanted, deleting);
    return 0;
}

/* Why pods are not ready, for the message when the deadline passes. */
static void pod_trouble(struct k8s *k, char *out, size_t len)
{
    char sel[160];
    struct tl_proc_out r;

    snprintf(sel, sizeof sel, TL_K8S_LABEL_NAME "=%s", k->name);
    if (tl_kubectl(k->ns, NULL, TL_K8S_KUBECTL_TIMEOUT_MS, &r, "get", "pods", "-l", sel, "-o",
                "jsonpath={range .items[*]}{.metadata.name}: {.status.phase} "
                "{.status.containerStatuses[0].state.waiting.reason} "
                "{.status.containerStatuses[0].state.waiting.message}; {end}",
                (char *)NULL) == 0)
        snprintf(out, len, "%s", r.out[0] ? r.out : "no pods");
    else
        snprintf(out, len, "(cannot list them: %.200s)", r.err);
    tl_proc_out_free(&r);
}

/*
 * Until every replica is ready: `kubectl rollout status`, which watches the
 * Deployment and returns the moment it is (no polling, one kubectl start
 * instead of one per poll). A watch that breaks (the API server restarts)
 * is started again while the deadline allows.
 */
static int wait_rollout(struct tl_target *t, long deadline, char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    char obj[80], timeout[32], why[1024], last[512] = "";
    int ready = 0, wanted = k->replicas, deleting;

    snprintf(obj, sizeof obj, "deployment/%s", k->name);
    tl_log_progress(k->progress, "%s: rollout 0/%d ready", t->manifest->function, k->replicas);
    for (;;) {                /* bounded by the deadline */
        long left = deadline - tl_now_ms();
        struct tl_proc_out r;
        int rc;

        snprintf(timeout, sizeof timeout, "--timeout=%lds", left > 1000 ? left / 1000 : 1);
        rc = tl_kubectl(k->ns, NULL, left > 0 ? left + 5000 : 5000, &r, "rollout", "status",
                        obj, timeout, (char *)NULL);
        snprintf(last, sizeof last, "%.400s", rc == 0 ? "" : r.err);
        tl_proc_out_free(&r);
        if (rc == 0 || (rollout_state(k, &ready, &wanted, &deleting, err, errlen) == 0 &&
                        wanted > 0 && ready >= wanted && !deleting)) {
            tl_log_progress(k->progress, "%s: rollout %d/%d ready", t->manifest->function,
                            k->replicas, k->replicas);
            return 0;
        }
        if (wanted < 0 || deleting) {
            snprintf(err, errlen, "deployment/%s disappeared during the rollout "
                     "(deleted by someone else?)", k->name);
            return -1;
        }
        if (tl_now_ms() + TL_K8S_POLL_MS > deadline)
            break;
        tl_log_debug("%s: kubectl rollout status ended early (%s): watching again",
                     t->manifest->function, last);
        tl_wait_ms(TL_K8S_POLL_MS);
    }
    pod_trouble(k, why, sizeof why);
    snprintf(err, errlen, "deployment/%s in namespace %s: %d of %d replicas ready after "
             "start_timeout_ms=%d; pods: %s", k->name, k->ns, ready, wanted,
             t->config->start_timeout_ms, why);
    return -1;
}

static int apply(struct tl_target *t, char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    const struct tl_fn_config *c = t->config;
    struct tl_k8s_spec s = { 0 };
    struct tl_proc_out r;
    char *yaml = NULL, notfound[160];
    size_t len;
    int rc = -1;

    s.name = k->name;
    s.k8s_namespace = k->ns;
    s.function = t->manifest->function;
    s.hash = k->img.tag;
    s.image = k->img.ref;
    s.token = k->token;
    s.tls_cert = k->tls.cert_pem;
    s.tls_key = k->tls.key_pem;
    s.service_type = strcmp(c->endpoint, "loadbalancer") == 0 ? "LoadBalancer"
                   : strcmp(c->endpoint, "port-forward") == 0 ? "ClusterIP" : "NodePort";
    /* Nothing would serve calls with zero replicas. */
    s.min_replicas = c->min_replicas > 0 ? c->min_replicas : 1;
    s.max_replicas = c->max_replicas > s.min_replicas ? c->max_replicas : s.min_replicas;
    /* Requests are what the scheduler reserves; the limits default to a
     * whole CPU and 256Mi, or to the request when that is larger, so a
     * small request does not throttle the function. */
    s.cpu_request = c->cpu ? c->cpu : "100m";
    s.memory_request = c->memory ? c->memory : "64Mi";
    s.cpu_limit = c->cpu_limit ? c->cpu_limit
                : tl_config_quantity(s.cpu_request, 0) > 1 ? s.cpu_request : "1";
    s.memory_limit = c->memory_limit ? c->memory_limit
                   : tl_config_quantity(s.memory_request, 1) > 256.0 * 1048576
                         ? s.memory_request : "256Mi";
    s.grace_seconds = TL_PROTO_GRACE_SECONDS;
    s.drain_seconds = TL_PROTO_DRAIN_SECONDS;
    s.image_bytes = k->img.bytes;
    if (tl_k8s_objects_yaml(&s, &yaml, &len, err, errlen) != 0)
        return -1;
    tl_log_progress(k->progress, "%s: applying deployment/%s (%d replica%s%s) in namespace %s",
                    t->manifest->function, k->name, s.min_replicas,
                    s.min_replicas == 1 ? "" : "s",
                    s.max_replicas > s.min_replicas ? ", autoscaled" : "", k->ns);
    k->replicas = s.min_replicas;
    for (int attempt = 0; attempt < 2; attempt++) {    /* 2nd: after creating the namespace */
        /* The applied objects come back: the Service's with its nodePort,
         * which saves asking for it. */
        if (tl_kubectl(k->ns, yaml, TL_K8S_KUBECTL_TIMEOUT_MS, &r, "apply", "-f", "-", "-o",
                       "jsonpath={range .items[*]}{.kind}:{.spec.ports[0].nodePort}|{end}",
                       (char *)NULL) == 0) {
            const char *svc = strstr(r.out, "|Service:");

            k->node_port = svc != NULL ? atoi(svc + 9) : 0;
            k->deployed = 1;
            rc = 0;
            tl_proc_out_free(&r);
            break;
        }
        snprintf(notfound, sizeof notfound, "namespaces \"%s\" not found", k->ns);
        k->deployed = 1;      /* a part may have been created: stop() deletes it */
        if (attempt == 0 && strstr(r.err, notfound) != NULL) {
            struct tl_proc_out cr;

            tl_proc_out_free(&r);
            tl_log_progress(k->progress, "creating namespace %s", k->ns);
            if (tl_kubectl(NULL, NULL, TL_K8S_KUBECTL_TIMEOUT_MS, &cr, "create", "namespace",
                        k->ns, (char *)NULL) != 0 && strstr(cr.err, "AlreadyExists") == NULL) {
                snprintf(err, errlen, "kubectl create namespace %s: %s", k->ns, cr.err);
                tl_proc_out_free(&cr);
                break;
            }
            tl_proc_out_free(&cr);
            continue;
        }
        snprintf(err, errlen, "kubectl apply of deployment/%s failed: %s", k->name, r.err);
        tl_proc_out_free(&r);
        break;
    }
    free(yaml);
    return rc;
}

/* Start `kubectl port-forward svc/NAME :80`: base is its local address. */
static int port_forward(struct tl_target *t, long deadline, char *base, size_t baselen,
                        char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    char svc[80];
    int port;

    snprintf(svc, sizeof svc, "svc/%s", k->name);
    if (tl_kubectl_port_forward(k->ns, svc, TL_K8S_SERVICE_PORT, deadline, &k->pf, &port,
                                err, errlen) != 0)
        return -1;
    snprintf(base, baselen, "%s://127.0.0.1:%d", k->tls.cert_pem ? "https" : "http", port);
    return 0;
}

/* Where calls go: base URL in base. */
static int find_endpoint(struct tl_target *t, long deadline, char *base, size_t baselen,
                         char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    const char *mode = t->config->endpoint;
    char obj[80], out[256];

    snprintf(obj, sizeof obj, "service/%s", k->name);
    if (strcmp(mode, "port-forward") == 0)
        return port_forward(t, deadline, base, baselen, err, errlen);
    if (strcmp(mode, "loadbalancer") == 0) {
        for (;;) {         /* bounded by the deadline */
            if (tl_kubectl_get(k->ns, obj, "{.status.loadBalancer.ingress[0].ip}"
                     "{.status.loadBalancer.ingress[0].hostname}", out, sizeof out,
                     TL_K8S_KUBECTL_TIMEOUT_MS, err, errlen) != 0)
                return -1;
            if (out[0] != '\0') {
                snprintf(base, baselen, strchr(out, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
                         k->tls.cert_pem ? "https" : "http", out, TL_K8S_SERVICE_PORT);
                return 0;
            }
            if (tl_now_ms() + TL_K8S_POLL_MS > deadline) {
                snprintf(err, errlen, "service/%s got no load balancer address in time "
                         "(does the cluster have a load balancer? endpoint: nodeport "
                         "or port-forward may suit it)", k->name);
                return -1;
            }
            tl_wait_ms(TL_K8S_POLL_MS);
        }
    }
    if (k->node_port > 0)          /* from apply */
        snprintf(out, sizeof out, "%d", k->node_port);
    else if (tl_kubectl_get(k->ns, obj, "{.spec.ports[0].nodePort}", out, sizeof out,
                            TL_K8S_KUBECTL_TIMEOUT_MS, err, errlen) != 0)
        return -1;
    if (atoi(out) <= 0) {
        snprintf(err, errlen, "service/%s has no nodePort (type is not NodePort? "
                 "it may have been made with another endpoint setting)", k->name);
        return -1;
    }
    {
        const char *host = tl_env("TURBOLIFT_NODE_ADDRESS", "127.0.0.1");

        snprintf(base, baselen, strchr(host, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
                 k->tls.cert_pem ? "https" : "http", host, atoi(out));
    }
    return 0;
}

/*
 * Our kubectl port-forward, when it has exited: start another (base gets
 * its address), under k->lock. kubectl ends a whole port-forward when one
 * forwarded connection fails ("error: lost connection to pod", seen when a
 * pod closes a connection kubectl still writes to, as a pod that has just
 * become ready can): while the service is waited for (wait_endpoint) and
 * at the call that finds it gone (k8s_failed). 1 restarted, 0 still
 * running (or stopped with the run), -1 with err set when it could not be
 * (TL_K8S_PF_RESTARTS per run).
 */
static int restart_port_forward(struct tl_target *t, long deadline, char *base,
                                size_t baselen, char *err, size_t errlen)
{
    struct k8s *k = t->priv;

    if (k->stopped || k->pf.pid <= 0 || !tl_kubectl_pf_exited(&k->pf))
        return 0;
    tl_kubectl_pf_stop(&k->pf);
    if (k->pf_restarts++ >= TL_K8S_PF_RESTARTS) {
        snprintf(err, errlen, "kubectl port-forward of service/%s exited %d times in this run",
                 k->name, TL_K8S_PF_RESTARTS);
        return -1;
    }
    return port_forward(t, deadline, base, baselen, err, errlen) == 0 ? 1 : -1;
}

/* GET /readyz through the endpoint until 200: the path calls will take. */
static int wait_endpoint(struct tl_target *t, char *base, size_t baselen, long deadline,
                         char *err, size_t errlen)
{
    char url[300], last[256] = "no answer";
    long pause = 10;
    struct k8s *k = t->priv;
    const char *pin = k->tls.cert_pem ? k->tls.pin : NULL;   /* https */
    int forwarding = strcmp(t->config->endpoint, "port-forward") == 0;

    for (;;) {              /* bounded by the deadline */
        long left = deadline - tl_now_ms();
        long status;
        int restarted = 0;

        if (forwarding) {
            pthread_mutex_lock(&k->lock);
            restarted = restart_port_forward(t, deadline, base, baselen, err, errlen);
            pthread_mutex_unlock(&k->lock);
        }
        if (restarted < 0)
            return -1;
        if (restarted)
            tl_log_warn("%s: kubectl port-forward exited before the service answered; "
                        "restarted on %s", t->manifest->function, base);
        snprintf(url, sizeof url, "%s" TL_PROTO_PATH_READY, base);
        if (left <= 0) {
            snprintf(err, errlen, "%s not ready in time: %s", url, last);
            return -1;
        }
        status = tl_client_get_status_pinned(url, pin, left < 2000 ? left : 2000,
                                             last, sizeof last);
        if (status == 200)
            return 0;
        if (status != 0)
            snprintf(last, sizeof last, "answered %ld", status);
        tl_wait_ms(pause < left ? pause : left);
        pause = pause < 200 ? pause * 2 : 200;
    }
}

static int publish(struct tl_target *t, const char *base, unsigned slot, char *err,
                   size_t errlen)
{
    struct k8s *k = t->priv;

    if (tl_endpoint_publish_pinned(&t->slots[slot], &k->retired, base,
                                   t->manifest->function,
                                   k->tls.cert_pem ? k->tls.pin : NULL) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/*
 * The call token: the Secret's when there is one (pods already started
 * with it), else the configured one, else a new one. data receives the
 * Secret's base64 value (empty when there is no Secret).
 */
static int choose_token(struct tl_target *t, const char *secret, char *data, size_t datalen,
                        char *err, size_t errlen)
{
    struct k8s *k = t->priv;

    if (tl_kubectl_get(k->ns, secret, "{.data.token}", data, datalen, TL_K8S_KUBECTL_TIMEOUT_MS,
             err, errlen) != 0)
        return -1;
    if (data[0] != '\0') {
        if (tl_kubectl_b64_decode(data, k->token, sizeof k->token) != 0 || k->token[0] == '\0') {
            snprintf(err, errlen, "%s holds no usable token", secret);
            return -1;
        }
        return 0;
    }
    if (t->config->token != NULL) {
        snprintf(k->token, sizeof k->token, "%s", t->config->token);
        return 0;
    }
    return new_token(k->token, sizeof k->token, err, errlen);
}

/*
 * The pods' certificate and key: the Secret's when it has a token (pods
 * already started with them; none there means pods that speak plain
 * HTTP), else new ones unless TURBOLIFT_TLS=0. The pin follows.
 */
static int choose_tls(struct tl_target *t, const char *secret, int have_secret,
                      char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    unsigned long long on = 1;
    char b64[8192];

    tl_tls_identity_clear(&k->tls);
    if (have_secret) {
        const char *keys[2] = { "{.data.tlscert}", "{.data.tlskey}" };
        char **pem[2] = { &k->tls.cert_pem, &k->tls.key_pem };

        for (int i = 0; i < 2; i++) {
            if (tl_kubectl_get(k->ns, secret, keys[i], b64, sizeof b64,
                               TL_K8S_KUBECTL_TIMEOUT_MS, err, errlen) != 0)
                goto fail;
            if (b64[0] == '\0')
                break;          /* an older Secret: its pods speak HTTP */
            if ((*pem[i] = malloc(sizeof b64)) == NULL ||
                tl_kubectl_b64_decode(b64, *pem[i], sizeof b64) != 0) {
                snprintf(err, errlen, "%s holds no usable TLS %s", secret,
                         i ? "key" : "certificate");
                goto fail;
            }
        }
        if (k->tls.cert_pem == NULL || k->tls.key_pem == NULL) {
            tl_tls_identity_clear(&k->tls);
            return 0;
        }
        return tl_tls_pin(k->tls.cert_pem, k->tls.pin, sizeof k->tls.pin, err, errlen);
    }
    if (tl_env_number("TURBOLIFT_TLS", 0, 1, &on, err, errlen) != 0)
        return -1;
    return on ? tl_tls_make(&k->tls, err, errlen) : 0;
fail:
    tl_tls_identity_clear(&k->tls);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Holding the Deployment while the run lasts                           */

static void reclaimed(const char *ns, const char *name, void *arg)
{
    (void)arg;
    tl_log_info("reclaimed deployment/%s in namespace %s: the holds of its runs expired",
                name, ns);
}

/* The first run to start in a namespace reclaims what dead runs left there
 * (once per process and namespace: it lists every Deployment). */
static void reclaim_once(const char *ns)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char done[8][64];
    static unsigned ndone;
    char err[512];
    int first = 1;

    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < ndone; i++)
        if (strcmp(done[i], ns) == 0)
            first = 0;
    if (first && ndone < 8)
        snprintf(done[ndone++], sizeof done[0], "%s", ns);
    pthread_mutex_unlock(&lock);
    if (first && tl_lease_reclaim(ns, 0, reclaimed, NULL, err, sizeof err) < 0)
        tl_log_warn("cannot reclaim expired deployments in namespace %s: %s", ns, err);
}

static void *renewer_main(void *arg)
{
    struct tl_target *t = arg;
    struct k8s *k = t->priv;
    long period_ms = (long)k->lease_s * 1000 / 3;
    char err[512];

    reclaim_once(k->ns);
    pthread_mutex_lock(&k->renew_lock);
    while (!k->renew_stop) {      /* ends when stop() asks */
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += period_ms / 1000;
        ts.tv_nsec += (period_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!k->renew_stop &&
               pthread_cond_timedwait(&k->renew_wake, &k->renew_lock, &ts) == 0)
            ;                     /* woken early, not asked to stop: wait on */
        if (k->renew_stop)
            break;
        pthread_mutex_unlock(&k->renew_lock);
        if (tl_lease_hold(k->ns, k->name, k->lease_s, NULL, NULL, 0, err, sizeof err) != 1)
            tl_log_warn("%s: could not renew the hold on deployment/%s: %s",
                        t->manifest->function, k->name, err[0] ? err : "it is gone");
        err[0] = '\0';
        pthread_mutex_lock(&k->renew_lock);
    }
    pthread_mutex_unlock(&k->renew_lock);
    return NULL;
}

static void renewer_start(struct tl_target *t)
{
    struct k8s *k = t->priv;
    sigset_t all, old;

    /* Signals stay with the program's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    k->renewing = pthread_create(&k->renewer, NULL, renewer_main, t) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!k->renewing)
        tl_log_warn("%s: no thread to renew the hold on deployment/%s: another run may "
                    "reclaim it after %d s", t->manifest->function, k->name, k->lease_s);
}

static void renewer_stop(struct k8s *k)
{
    if (!k->renewing)
        return;
    pthread_mutex_lock(&k->renew_lock);
    k->renew_stop = 1;
    pthread_cond_signal(&k->renew_wake);
    pthread_mutex_unlock(&k->renew_lock);
    pthread_join(k->renewer, NULL);
    k->renewing = 0;
}

static int k8s_start(struct tl_target *t, char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    long t0 = tl_now_ms(), deadline = t0 + t->config->start_timeout_ms;
    char secret[80], data[256], base[256], state[256];
    int ready, wanted, deleting, held;

    t->slots = calloc(1, sizeof *t->slots);
    if (t->slots == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    atomic_init(&t->slots[0], NULL);

    snprintf(secret, sizeof secret, "secret/%s", k->name);
    if (choose_token(t, secret, data, sizeof data, err, errlen) != 0 ||
        choose_tls(t, secret, data[0] != '\0', err, errlen) != 0)
        return -1;
    t->token = k->token;
    /* Hold before looking: a run that ends from now on sees us and leaves
     * the Deployment (tl_lease.h). 0: nothing to hold yet. */
    if ((held = tl_lease_hold(k->ns, k->name, k->lease_s, TL_K8S_STATE, state,
                              sizeof state, err, errlen)) < 0)
        return -1;
    k->deployed = held;       /* held: stop() releases, whatever happens next */
    state_parse(held ? state : "", &ready, &wanted, &deleting);
    if (deleting) {
        /* An earlier run's cleanup is still under way: let it finish. */
        tl_log_progress(k->progress, "%s: waiting for the deletion of deployment/%s to finish",
                        t->manifest->function, k->name);
        while (deleting) {        /* bounded by the deadline */
            if (tl_now_ms() + TL_K8S_POLL_MS > deadline) {
                snprintf(err, errlen, "deployment/%s was still being deleted after "
                         "start_timeout_ms=%d", k->name, t->config->start_timeout_ms);
                return -1;
            }
            tl_wait_ms(TL_K8S_POLL_MS);
            if (rollout_state(k, &ready, &wanted, &deleting, err, errlen) != 0)
                return -1;
        }
        /* Its Secret went with it: the new pods get a new token. */
        if (choose_token(t, secret, data, sizeof data, err, errlen) != 0 ||
            choose_tls(t, secret, data[0] != '\0', err, errlen) != 0)
            return -1;
    }
    if (data[0] != '\0' && wanted > 0 && ready > 0) {
        /* Same hash, same image: running already (kept by an earlier run). */
        k->deployed = 1;
        tl_log_progress(k->progress, "%s: reusing deployment/%s (%d/%d ready)",
                        t->manifest->function, k->name, ready, wanted);
    } else {
        if (apply(t, err, errlen) != 0)
            return -1;
        /* again: the Deployment may be new */
        if ((held = tl_lease_hold(k->ns, k->name, k->lease_s, NULL, NULL, 0, err,
                                  errlen)) < 0)
            return -1;
        if (wait_rollout(t, deadline, err, errlen) != 0)
            return -1;
        /* the rollout may have outlasted the lease (a slow pull, a short
         * TURBOLIFT_LEASE_SECONDS): hold afresh before anyone looks */
        held = 0;
    }
    if (held != 1 && tl_lease_hold(k->ns, k->name, k->lease_s, NULL, NULL, 0, err,
                                   errlen) != 1) {
        if (err[0] == '\0')
            snprintf(err, errlen, "deployment/%s disappeared (deleted by someone else?)",
                     k->name);
        return -1;
    }
    renewer_start(t);
    if (find_endpoint(t, deadline, base, sizeof base, err, errlen) != 0)
        return -1;
    if (wait_endpoint(t, base, sizeof base, deadline, err, errlen) != 0)
        return -1;
    if (publish(t, base, 0, err, errlen) != 0)
        return -1;
    t->nslots = 1;
    tl_log_progress(k->progress, "%s: ready at %s (%s, %.1f s)", t->manifest->function, base,
                    t->config->endpoint, (double)(tl_now_ms() - t0) / 1000);
    return 0;
}

/* ------------------------------------------------------------------ */
/* failed, stop                                                         */

/* One pod's end as "kubectl get pods" tells it, in words: "killed by
 * signal 11 (Segmentation fault)", "exit code 3", with the reason the
 * kubelet gave (OOMKilled, Error). */
static void describe_end(const char *code, const char *reason, char *out, size_t len)
{
    int c = atoi(code);

    if (c > 128 && c < 128 + 65)
        snprintf(out, len, "killed by signal %d (%s)%s%s", c - 128, strsignal(c - 128),
                 reason[0] ? ", " : "", reason);
    else
        snprintf(out, len, "exit code %d%s%s", c, reason[0] ? ", " : "", reason);
}

/*
 * A call lost its connection: when a pod of the function ended meanwhile
 * (a crash in the function's code, the OOM killer), say so, as the local
 * target says a worker was killed by a signal; otherwise the caller sees
 * only "connection refused" or "empty reply". Once per pod restart, and at
 * most one kubectl a second: the call's retry goes on meanwhile.
 */
static void report_pod_ends(struct tl_target *t, struct k8s *k)
{
    long now = tl_now_ms();
    char sel[160];
    struct tl_proc_out r;

    pthread_mutex_lock(&k->lock);
    if (k->stopped || now - k->crashes_checked_ms < 1000) {
        pthread_mutex_unlock(&k->lock);
        return;
    }
    k->crashes_checked_ms = now;
    pthread_mutex_unlock(&k->lock);
    snprintf(sel, sizeof sel, TL_K8S_LABEL_NAME "=%s", k->name);
    /* the end of the running container, if it has ended, else the last
     * one's: "NAME RESTARTS CODE REASON CODE REASON" */
    if (tl_kubectl(k->ns, NULL, TL_K8S_KUBECTL_TIMEOUT_MS, &r, "get", "pods", "-l", sel, "-o",
                   "jsonpath={range .items[*]}{.metadata.name} "
                   "{.status.containerStatuses[0].restartCount} "
                   "{.status.containerStatuses[0].state.terminated.exitCode}/"
                   "{.status.containerStatuses[0].state.terminated.reason}/"
                   "{.status.containerStatuses[0].lastState.terminated.exitCode}/"
                   "{.status.containerStatuses[0].lastState.terminated.reason}{\"\\n\"}{end}",
                   (char *)NULL) != 0) {
        tl_proc_out_free(&r);
        return;
    }
    for (char *line = r.out, *next; line != NULL && *line != '\0'; line = next) {
        char pod[128], ends[256], told[160], how[160];
        char *f[4] = { NULL }, *p;
        int restarts = 0, n = 0, now_ended;

        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (sscanf(line, "%127s %d %255s", pod, &restarts, ends) < 3)
            continue;
        for (p = ends; n < 4; n++) {
            f[n] = p;
            p = strchr(p, '/');
            if (p == NULL)
                break;
            *p++ = '\0';
        }
        if (n < 3)
            continue;
        now_ended = f[0][0] != '\0';
        if (!now_ended && (restarts == 0 || f[2][0] == '\0'))
            continue;       /* running, and never ended before */
        /* the running container's end is restart N's; a last state, N-1's */
        snprintf(told, sizeof told, "%s/%d\n", pod, now_ended ? restarts + 1 : restarts);
        pthread_mutex_lock(&k->lock);
        if (strstr(k->crashes_told, told) != NULL) {
            pthread_mutex_unlock(&k->lock);
            continue;
        }
        if (strlen(k->crashes_told) + strlen(told) < sizeof k->crashes_told)
            strcat(k->crashes_told, told);
        pthread_mutex_unlock(&k->lock);
        describe_end(now_ended ? f[0] : f[2], now_ended ? f[1] : f[3], how, sizeof how);
        tl_log_warn("%s: pod %s ended while calls were under way: %s; Kubernetes starts it "
                    "again (what it printed before: kubectl logs -n %s %s --previous)",
                    t->manifest->function, pod, how, k->ns, pod);
    }
    tl_proc_out_free(&r);
}

static void k8s_failed(struct tl_target *t, struct tl_endpoint *ep)
{
    struct k8s *k = t->priv;
    char base[256], err[512];

    if (k == NULL || getpid() != k->owner)
        return;
    report_pod_ends(t, k);
    /* A Service outlives its pods: Kubernetes replaces a dead one and the
     * next connection goes to a ready pod. Only our own port-forward
     * process can be the thing that died. */
    if (strcmp(t->config->endpoint, "port-forward") != 0)
        return;
    pthread_mutex_lock(&k->lock);
    if (atomic_load_explicit(&t->slots[0], memory_order_relaxed) == ep) {
        int restarted = restart_port_forward(t, tl_now_ms() + t->config->start_timeout_ms,
                                             base, sizeof base, err, sizeof err);

        if (restarted > 0 && publish(t, base, 0, err, sizeof err) != 0)
            restarted = -1;
        if (restarted > 0)
            tl_log_warn("%s: kubectl port-forward exited; restarted on %s",
                        t->manifest->function, base);
        else if (restarted < 0)
            tl_log_warn("%s: kubectl port-forward exited and was not restarted: %s",
                        t->manifest->function, err);
    }
    pthread_mutex_unlock(&k->lock);
}

static void k8s_stop(struct tl_target *t)
{
    struct k8s *k = t->priv;

    if (k == NULL || getpid() != k->owner)
        return;            /* a forked child: the deployment is the parent's */
    pthread_mutex_lock(&k->lock);
    if (k->stopped) {
        pthread_mutex_unlock(&k->lock);
        return;
    }
    k->stopped = 1;
    if (t->slots != NULL)
        atomic_store_explicit(&t->slots[0], NULL, memory_order_release);
    tl_kubectl_pf_stop(&k->pf);
    if (k->deployed) {
        char why[600], err[1024];
        int rc;

        /* Not under k->lock: the renewer never takes it, and joining it
         * can wait for one kubectl. */
        pthread_mutex_unlock(&k->lock);
        renewer_stop(k);
        pthread_mutex_lock(&k->lock);
        rc = tl_lease_release(k->ns, k->name, t->config->keep, why, sizeof why,
                              err, sizeof err);
        if (rc < 0)
            tl_log_warn("%s: could not release deployment/%s: %s (run `turbolift down`, "
                        "or `turbolift gc` after %d s)", t->manifest->function, k->name,
                        err, k->lease_s);
        else if (rc == 1)
            tl_log_progress(k->progress, "%s: deleted deployment/%s", t->manifest->function,
                            k->name);
        else if (t->config->keep)
            tl_log_progress(k->progress, "%s: keeping deployment/%s in namespace %s (keep); "
                            "`turbolift down` deletes it", t->manifest->function, k->name,
                            k->ns);
        else
            tl_log_progress(k->progress, "%s: leaving deployment/%s to the runs that still "
                            "use it: %s", t->manifest->function, k->name, why);
    }
    pthread_mutex_unlock(&k->lock);
}

const struct tl_target_ops tl_target_k8s = {
    .name = "k8s",
    .prepare = k8s_prepare,
    .start = k8s_start,
    .failed = k8s_failed,
    .stop = k8s_stop,
};
