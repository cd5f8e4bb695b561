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
 */
#define _GNU_SOURCE   /* asprintf, mkostemp */
#include "tl_target.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tl_build.h"
#include "tl_clock.h"
#include "tl_env.h"
#include "tl_image.h"
#include "tl_k8s_yaml.h"
#include "tl_kubectl.h"
#include "tl_log.h"
#include "tl_proc.h"

extern char **environ;

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
    int progress;                 /* stderr is a terminal: show every step     */
    int deployed;                 /* objects exist on the cluster (ours/reused) */
    int stopped;
    pid_t pf_pid;                 /* kubectl port-forward, 0 when none         */
    int pf_out;                   /* its stdout: an unlinked temp file         */
    unsigned pf_restarts;
    struct tl_endpoint *retired;  /* every endpoint published (never freed)    */
};

/* ------------------------------------------------------------------ */
/* kubectl                                                              */

/*
 * kubectl [--context C] [-n NS] ARGS... (NULL-terminated), input on stdin
 * when not NULL. 0 when kubectl exited 0. r is always filled: free it.
 */
static int kubectl(const char *ns, const char *input, long timeout_ms,
                   struct tl_proc_out *r, ...)
{
    const char *argv[40];
    size_t n = tl_kubectl_argv(argv);
    va_list ap;

    if (ns != NULL) {
        argv[n++] = "-n";
        argv[n++] = ns;
    }
    va_start(ap, r);
    for (const char *a = va_arg(ap, const char *); a != NULL && n < 39;
         a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return tl_proc_run((char *const *)argv, input, input ? strlen(input) : 0,
                       timeout_ms, r);
}

/* One value of `kubectl get KIND/NAME -o jsonpath=...` in out (may be
 * empty: the object or the field is missing). 0, or -1 with err. */
static int kget(struct k8s *k, const char *object, const char *jsonpath,
                char *out, size_t outlen, long timeout_ms, char *err, size_t errlen)
{
    struct tl_proc_out r;
    char *jp = NULL;
    int rc = -1;

    if (asprintf(&jp, "jsonpath=%s", jsonpath) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (kubectl(k->ns, NULL, timeout_ms, &r, "get", object, "--ignore-not-found",
                "-o", jp, (char *)NULL) != 0) {
        snprintf(err, errlen, "kubectl get %s: %s", object, r.err);
        goto cleanup;
    }
    snprintf(out, outlen, "%s", r.out);
    rc = 0;
cleanup:
    tl_proc_out_free(&r);
    free(jp);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Token                                                                */

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 (a Secret's .data); 0 on success. */
static int b64_decode(const char *in, char *out, size_t outlen)
{
    unsigned acc = 0, bits = 0;
    size_t n = 0;

    for (const char *p = in; *p && *p != '='; p++) {
        int v = b64_value((unsigned char)*p);

        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= outlen)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return 0;
}

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
    k->owner = getpid();
    k->ns = c->k8s_namespace;
    k->pf_out = -1;
    /* Deploying takes seconds to minutes: on a terminal the user sees each
     * step (tl_log_progress); elsewhere only at TURBOLIFT_LOG=info. */
    k->progress = isatty(STDERR_FILENO) && tl_log_enabled(TL_LOG_WARN);
    t->priv = k;               /* stop() frees what we made, even on failure */

    if (tl_build_service(t->manifest, image_timeout, &k->binary, &hit, err, errlen) != 0)
        return -1;
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
static int rollout_state(struct k8s *k, int *ready, int *wanted, int *deleting,
                         char *err, size_t errlen)
{
    char out[256], obj[80];

    snprintf(obj, sizeof obj, "deployment/%s", k->name);
    if (kget(k, obj, "{.status.readyReplicas} {.spec.replicas} "
             "{.metadata.deletionTimestamp}|", out, sizeof out,
             TL_K8S_KUBECTL_TIMEOUT_MS, err, errlen) != 0)
        return -1;
    *ready = *wanted = -1;
    *deleting = 0;
    if (out[0] == '\0')
        return 0;                     /* no such Deployment */
    /* "R W TS|": readyReplicas is absent (empty) while none is ready. */
    *ready = out[0] == ' ' ? 0 : atoi(out);
    {
        char *sp = strchr(out, ' ');
        char *bar = strchr(out, '|');

        if (sp != NULL) {
            *wanted = atoi(sp + 1);
            char *sp2 = strchr(sp + 1, ' ');
            *deleting = sp2 != NULL && bar != NULL && bar > sp2 + 1;
        }
    }
    return 0;
}

/* Why pods are not ready, for the message when the deadline passes. */
static void pod_trouble(struct k8s *k, char *out, size_t len)
{
    char sel[160];
    struct tl_proc_out r;

    snprintf(sel, sizeof sel, TL_K8S_LABEL_NAME "=%s", k->name);
    if (kubectl(k->ns, NULL, TL_K8S_KUBECTL_TIMEOUT_MS, &r, "get", "pods", "-l", sel, "-o",
                "jsonpath={range .items[*]}{.metadata.name}: {.status.phase} "
                "{.status.containerStatuses[0].state.waiting.reason} "
                "{.status.containerStatuses[0].state.waiting.message}; {end}",
                (char *)NULL) == 0)
        snprintf(out, len, "%s", r.out[0] ? r.out : "no pods");
    else
        snprintf(out, len, "(cannot list them: %.200s)", r.err);
    tl_proc_out_free(&r);
}

static int wait_rollout(struct tl_target *t, long deadline, char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    int last_ready = -2;

    for (;;) {                /* bounded by the deadline */
        int ready, wanted, deleting;

        if (rollout_state(k, &ready, &wanted, &deleting, err, errlen) != 0)
            return -1;
        if (wanted < 0) {
            snprintf(err, errlen, "deployment/%s disappeared during the rollout "
                     "(deleted by someone else?)", k->name);
            return -1;
        }
        if (ready != last_ready) {
            tl_log_progress(k->progress, "%s: rollout %d/%d ready", t->manifest->function,
                            ready, wanted);
            last_ready = ready;
        }
        if (ready >= wanted && wanted > 0)
            return 0;
        if (tl_now_ms() + TL_K8S_POLL_MS > deadline) {
            char why[1024];

            pod_trouble(k, why, sizeof why);
            snprintf(err, errlen, "deployment/%s in namespace %s: %d of %d replicas "
                     "ready after start_timeout_ms=%d; pods: %s", k->name, k->ns,
                     ready, wanted, t->config->start_timeout_ms, why);
            return -1;
        }
        tl_wait_ms(TL_K8S_POLL_MS);
    }
}

/* A Kubernetes quantity as a number (CPUs in millicores, memory in
 * bytes), to compare a request with a default limit. tl_config.c has
 * checked the syntax. */
static double quantity(const char *q)
{
    static const struct { const char *suffix; double factor; } units[] = {
        { "m", 1e-3 }, { "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 },
        { "Ti", 1099511627776.0 }, { "Pi", 1125899906842624.0 },
        { "Ei", 1152921504606846976.0 }, { "k", 1e3 }, { "M", 1e6 }, { "G", 1e9 },
        { "T", 1e12 }, { "P", 1e15 }, { "E", 1e18 },
    };
    char *end;
    double v = strtod(q, &end);

    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0)
            return v * units[i].factor;
    return v;
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
                : quantity(s.cpu_request) > quantity("1") ? s.cpu_request : "1";
    s.memory_limit = c->memory_limit ? c->memory_limit
                   : quantity(s.memory_request) > quantity("256Mi") ? s.memory_request : "256Mi";
    s.grace_seconds = 30;
    s.drain_seconds = 25;
    if (tl_k8s_manifests(&s, &yaml, &len, err, errlen) != 0)
        return -1;
    tl_log_progress(k->progress, "%s: applying deployment/%s (%d replica%s%s) in namespace %s",
                    t->manifest->function, k->name, s.min_replicas,
                    s.min_replicas == 1 ? "" : "s",
                    s.max_replicas > s.min_replicas ? ", autoscaled" : "", k->ns);
    for (int attempt = 0; attempt < 2; attempt++) {    /* 2nd: after creating the namespace */
        if (kubectl(k->ns, yaml, TL_K8S_KUBECTL_TIMEOUT_MS, &r, "apply", "-f", "-",
                    (char *)NULL) == 0) {
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
            if (kubectl(NULL, NULL, TL_K8S_KUBECTL_TIMEOUT_MS, &cr, "create", "namespace",
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

/* Start `kubectl port-forward svc/NAME :80`; its stdout (a temp file, so
 * that its per-connection lines never fill a pipe) says the local port. */
static int port_forward(struct tl_target *t, long deadline, char *base, size_t baselen,
                        char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    char svc[80], tmpl[] = "/tmp/turbolift-pf-XXXXXX", remote[16];
    const char *argv[TL_KUBECTL_PREFIX_MAX + 8];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    size_t n;
    int fd;

    snprintf(svc, sizeof svc, "svc/%s", k->name);
    snprintf(remote, sizeof remote, ":%d", TL_K8S_SERVICE_PORT);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmpl, strerror(errno));
        return -1;
    }
    unlink(tmpl);
    n = tl_kubectl_argv(argv);
    argv[n++] = "-n";
    argv[n++] = k->ns;
    argv[n++] = "port-forward";
    argv[n++] = "--address";
    argv[n++] = "127.0.0.1";
    argv[n++] = svc;
    argv[n++] = remote;
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    /* the caller's thread may block SIGTERM: port_forward_stop must be able
     * to end the child */
    posix_spawnattr_init(&attr);
    tl_proc_child_signals(&attr);
    errno = posix_spawnp(&k->pf_pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (errno != 0) {
        snprintf(err, errlen, "cannot run %s port-forward: %s", argv[0], strerror(errno));
        k->pf_pid = 0;
        close(fd);
        return -1;
    }
    k->pf_out = fd;
    for (;;) {               /* bounded by the deadline */
        char buf[512];
        ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
        const char *p;
        int status;

        if (got > 0) {
            buf[got] = '\0';
            p = strstr(buf, "Forwarding from 127.0.0.1:");
            if (p != NULL && strchr(p, '\n') != NULL) {
                snprintf(base, baselen, "http://127.0.0.1:%d", atoi(p + 26));
                return 0;
            }
        }
        if (waitpid(k->pf_pid, &status, WNOHANG) == k->pf_pid) {
            k->pf_pid = 0;
            snprintf(err, errlen, "kubectl port-forward %s exited (status %d)", svc,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return -1;
        }
        if (tl_now_ms() > deadline) {
            snprintf(err, errlen, "kubectl port-forward %s did not report a port in time", svc);
            return -1;
        }
        tl_wait_ms(50);
    }
}

static void port_forward_stop(struct k8s *k)
{
    int status;

    if (k->pf_pid > 0) {
        kill(k->pf_pid, SIGTERM);
        while (waitpid(k->pf_pid, &status, 0) < 0 && errno == EINTR)
            ;
        k->pf_pid = 0;
    }
    if (k->pf_out >= 0)
        close(k->pf_out);
    k->pf_out = -1;
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
            if (kget(k, obj, "{.status.loadBalancer.ingress[0].ip}"
                     "{.status.loadBalancer.ingress[0].hostname}", out, sizeof out,
                     TL_K8S_KUBECTL_TIMEOUT_MS, err, errlen) != 0)
                return -1;
            if (out[0] != '\0') {
                snprintf(base, baselen, strchr(out, ':') ? "http://[%s]:%d" : "http://%s:%d",
                         out, TL_K8S_SERVICE_PORT);
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
    if (kget(k, obj, "{.spec.ports[0].nodePort}", out, sizeof out,
             TL_K8S_KUBECTL_TIMEOUT_MS, err, errlen) != 0)
        return -1;
    if (atoi(out) <= 0) {
        snprintf(err, errlen, "service/%s has no nodePort (type is not NodePort? "
                 "it may have been made with another endpoint setting)", k->name);
        return -1;
    }
    {
        const char *host = tl_env("TURBOLIFT_NODE_ADDRESS", "127.0.0.1");

        snprintf(base, baselen, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d",
                 host, atoi(out));
    }
    return 0;
}

/* GET /readyz through the endpoint until 200: the path calls will take. */
static int wait_endpoint(struct tl_target *t, const char *base, long deadline,
                         char *err, size_t errlen)
{
    char url[300], last[256] = "no answer";
    long pause = 10;

    snprintf(url, sizeof url, "%s/readyz", base);
    for (;;) {              /* bounded by the deadline */
        long left = deadline - tl_now_ms();
        long status;

        if (left <= 0) {
            snprintf(err, errlen, "%s not ready in time: %s", url, last);
            return -1;
        }
        status = tl_client_get_status(url, left < 2000 ? left : 2000, last, sizeof last);
        if (status == 200)
            return 0;
        if (status != 0)
            snprintf(last, sizeof last, "answered %ld", status);
        tl_wait_ms(pause < left ? pause : left);
        pause = pause < 200 ? pause * 2 : 200;
    }
    (void)t;
}

static int publish(struct tl_target *t, const char *base, unsigned slot, char *err,
                   size_t errlen)
{
    struct k8s *k = t->priv;

    if (tl_endpoint_publish(&t->slots[slot], &k->retired, base,
                            t->manifest->function) == NULL) {
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

    if (kget(k, secret, "{.data.token}", data, datalen, TL_K8S_KUBECTL_TIMEOUT_MS,
             err, errlen) != 0)
        return -1;
    if (data[0] != '\0') {
        if (b64_decode(data, k->token, sizeof k->token) != 0 || k->token[0] == '\0') {
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

static int k8s_start(struct tl_target *t, char *err, size_t errlen)
{
    struct k8s *k = t->priv;
    long t0 = tl_now_ms(), deadline = t0 + t->config->start_timeout_ms;
    char secret[80], data[256], base[256];
    int ready, wanted, deleting;

    t->slots = calloc(1, sizeof *t->slots);
    if (t->slots == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    atomic_init(&t->slots[0], NULL);

    snprintf(secret, sizeof secret, "secret/%s", k->name);
    if (choose_token(t, secret, data, sizeof data, err, errlen) != 0)
        return -1;
    t->token = k->token;

    if (rollout_state(k, &ready, &wanted, &deleting, err, errlen) != 0)
        return -1;
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
        if (choose_token(t, secret, data, sizeof data, err, errlen) != 0)
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
        if (wait_rollout(t, deadline, err, errlen) != 0)
            return -1;
    }
    if (find_endpoint(t, deadline, base, sizeof base, err, errlen) != 0)
        return -1;
    if (wait_endpoint(t, base, deadline, err, errlen) != 0)
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

static void k8s_failed(struct tl_target *t, struct tl_endpoint *ep)
{
    struct k8s *k = t->priv;
    char base[256], err[512];
    int status;

    /* A Service outlives its pods: Kubernetes replaces a dead one and the
     * next connection goes to a ready pod. Only our own port-forward
     * process can be the thing that died. */
    if (k == NULL || getpid() != k->owner || strcmp(t->config->endpoint, "port-forward") != 0)
        return;
    pthread_mutex_lock(&k->lock);
    if (!k->stopped && atomic_load_explicit(&t->slots[0], memory_order_relaxed) == ep &&
        k->pf_pid > 0 && waitpid(k->pf_pid, &status, WNOHANG) == k->pf_pid) {
        k->pf_pid = 0;
        port_forward_stop(k);
        if (k->pf_restarts++ < TL_K8S_PF_RESTARTS &&
            port_forward(t, tl_now_ms() + t->config->start_timeout_ms, base, sizeof base,
                         err, sizeof err) == 0 &&
            publish(t, base, 0, err, sizeof err) == 0)
            tl_log_warn("%s: kubectl port-forward exited; restarted on %s",
                        t->manifest->function, base);
        else
            tl_log_warn("%s: kubectl port-forward exited and was not restarted: %s",
                        t->manifest->function, err);
    }
    pthread_mutex_unlock(&k->lock);
}

static void k8s_stop(struct tl_target *t)
{
    struct k8s *k = t->priv;
    struct tl_proc_out r;
    char sel[200];

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
    port_forward_stop(k);
    if (k->deployed && t->config->keep) {
        tl_log_progress(k->progress, "%s: keeping deployment/%s in namespace %s (keep); "
                        "`turbolift down` deletes it", t->manifest->function, k->name, k->ns);
    } else if (k->deployed) {
        snprintf(sel, sizeof sel, TL_K8S_LABEL_NAME "=%s," TL_K8S_LABEL_MANAGED "=turbolift",
                 k->name);
        tl_log_progress(k->progress, "%s: deleting deployment/%s", t->manifest->function,
                        k->name);
        /* Not waiting for the pods: they drain on SIGTERM by themselves
         * and the program's exit need not wait for it. But foreground
         * cascading: the Deployment stays visible (being deleted) until
         * its ReplicaSet and pods are gone, so that the next run of the
         * same hash waits for them instead of applying a Deployment whose
         * ReplicaSet (same name, same template) the garbage collector is
         * still deleting, which would take the new pods with it. */
        if (kubectl(k->ns, NULL, TL_K8S_KUBECTL_TIMEOUT_MS, &r, "delete",
                    "deployment,service,secret,horizontalpodautoscaler", "-l", sel,
                    "--ignore-not-found", "--wait=false", "--cascade=foreground",
                    (char *)NULL) != 0)
            tl_log_warn("%s: could not delete deployment/%s: %s (run `turbolift down`)",
                        t->manifest->function, k->name, r.err);
        tl_proc_out_free(&r);
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
