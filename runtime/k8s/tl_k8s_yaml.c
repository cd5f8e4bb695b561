/* SPDX-License-Identifier: MIT */
/*
 * tl_k8s_yaml.c - emit a function's Kubernetes objects with libyaml.
 *
 * Never printf'd YAML: a value such as a hash made only of digits, or
 * "yes", would silently change type. Every string goes through str(),
 * which lets a scalar stay plain only when no YAML 1.1 resolver (kubectl
 * parses with go-yaml) could read it as anything but a string.
 */
#include "tl_k8s_yaml.h"
#include "tl_buf.h"
#include "tl_protocol.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct emit {
    yaml_emitter_t e;
    int failed;
    struct tl_buf out;
};


/* The pod's /tmp (an emptyDir on the node's disk): room for temporary
 * files, not for data; the kubelet evicts a pod that writes more. */
#define TL_K8S_TMP_SIZE "64Mi"

static int write_handler(void *data, unsigned char *bytes, size_t size)
{
    struct emit *m = data;

    return tl_buf_append(&m->out, bytes, size, SIZE_MAX) == 0;
}

static void event(struct emit *m, yaml_event_t *ev, int ok)
{
    if (m->failed)
        return;
    if (!ok || !yaml_emitter_emit(&m->e, ev))
        m->failed = 1;    /* yaml_emitter_emit frees the event either way */
}

/* Plain only for what reads back as a string under YAML 1.1 resolvers. */
static int plain_safe(const char *s)
{
    static const char *const words[] = { "y", "n", "yes", "no", "on", "off",
                                         "true", "false", "null" };

    if (!isalpha((unsigned char)s[0]) && s[0] != '/')
        return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("._/-", *p) == NULL)
            return 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return 0;
    return 1;
}

static void str(struct emit *m, const char *s)
{
    yaml_event_t ev;
    int plain = plain_safe(s);

    event(m, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL,
              (yaml_char_t *)(uintptr_t)s, (int)strlen(s), plain, 1,
              plain ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE));
}

/* A plain scalar that is meant to resolve to its type (number, boolean). */
static void typed(struct emit *m, const char *text)
{
    yaml_event_t ev;

    event(m, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL,
              (yaml_char_t *)(uintptr_t)text, (int)strlen(text), 1, 0,
              YAML_PLAIN_SCALAR_STYLE));
}

static void num(struct emit *m, long n)
{
    char text[32];

    snprintf(text, sizeof text, "%ld", n);
    typed(m, text);
}

static void boolean(struct emit *m, int b)
{
    typed(m, b ? "true" : "false");
}

static void map_begin(struct emit *m)
{
    yaml_event_t ev;

    event(m, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                      YAML_BLOCK_MAPPING_STYLE));
}

static void map_end(struct emit *m)
{
    yaml_event_t ev;

    event(m, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void seq_begin(struct emit *m)
{
    yaml_event_t ev;

    event(m, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                       YAML_BLOCK_SEQUENCE_STYLE));
}

static void seq_end(struct emit *m)
{
    yaml_event_t ev;

    event(m, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void kv(struct emit *m, const char *k, const char *v)
{
    str(m, k);
    str(m, v);
}

static void kvn(struct emit *m, const char *k, long v)
{
    str(m, k);
    num(m, v);
}

static void doc_begin(struct emit *m, const char *api, const char *kind)
{
    yaml_event_t ev;

    event(m, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0));
    map_begin(m);
    kv(m, "apiVersion", api);
    kv(m, "kind", kind);
}

static void doc_end(struct emit *m)
{
    yaml_event_t ev;

    map_end(m);
    event(m, &ev, yaml_document_end_event_initialize(&ev, 1));
}

/* The selector: what tells this function's pods from every other's. */
static void selector_labels(struct emit *m, const struct tl_k8s_spec *s)
{
    map_begin(m);
    kv(m, TL_K8S_LABEL_NAME, s->name);
    kv(m, TL_K8S_LABEL_HASH, s->hash);
    map_end(m);
}

static void labels(struct emit *m, const struct tl_k8s_spec *s)
{
    char fn[64];

    tl_k8s_label_value(s->function, fn);
    str(m, "labels");
    map_begin(m);
    kv(m, TL_K8S_LABEL_MANAGED, "turbolift");
    kv(m, TL_K8S_LABEL_NAME, s->name);
    kv(m, TL_K8S_LABEL_FUNCTION, fn);
    kv(m, TL_K8S_LABEL_HASH, s->hash);
    map_end(m);
}

static void metadata(struct emit *m, const struct tl_k8s_spec *s)
{
    str(m, "metadata");
    map_begin(m);
    kv(m, "name", s->name);
    kv(m, "namespace", s->k8s_namespace);
    labels(m, s);
    map_end(m);
}

static void secret(struct emit *m, const struct tl_k8s_spec *s)
{
    doc_begin(m, "v1", "Secret");
    metadata(m, s);
    kv(m, "type", "Opaque");
    str(m, "stringData");
    map_begin(m);
    kv(m, "token", s->token);
    if (s->tls_cert != NULL) {         /* the pods' HTTPS identity (tl_tls.h) */
        kv(m, "tlscert", s->tls_cert);
        kv(m, "tlskey", s->tls_key);
    }
    map_end(m);
    doc_end(m);
}

static void probe(struct emit *m, const char *key, const char *path, int period,
                  int failures, int https)
{
    str(m, key);
    map_begin(m);
    str(m, "httpGet");
    map_begin(m);
    kv(m, "path", path);
    kv(m, "port", "http");
    if (https)                         /* kubelet does not check the certificate */
        kv(m, "scheme", "HTTPS");
    map_end(m);
    kvn(m, "periodSeconds", period);
    kvn(m, "timeoutSeconds", 2);
    kvn(m, "failureThreshold", failures);
    map_end(m);
}

/* An environment variable from a key of the deployment's Secret. */
static void env_secret(struct emit *m, const char *name, const char *secret,
                       const char *key)
{
    map_begin(m);
    kv(m, "name", name);
    str(m, "valueFrom");
    map_begin(m);
    str(m, "secretKeyRef");
    map_begin(m);
    kv(m, "name", secret);
    kv(m, "key", key);
    map_end(m);
    map_end(m);
    map_end(m);
}

static void env_value(struct emit *m, const char *name, const char *value)
{
    map_begin(m);
    kv(m, "name", name);
    kv(m, "value", value);
    map_end(m);
}

static void container(struct emit *m, const struct tl_k8s_spec *s)
{
    char port[16], drain[16];

    snprintf(port, sizeof port, "%d", TL_PROTO_PORT);
    snprintf(drain, sizeof drain, "%d", s->drain_seconds);
    map_begin(m);
    kv(m, "name", "service");
    kv(m, "image", s->image);
    kv(m, "imagePullPolicy", "IfNotPresent");
    str(m, "ports");
    seq_begin(m);
    map_begin(m);
    kv(m, "name", "http");
    kvn(m, "containerPort", TL_PROTO_PORT);
    kv(m, "protocol", "TCP");
    map_end(m);
    seq_end(m);
    str(m, "env");
    seq_begin(m);
    env_value(m, "TURBOLIFT_PORT", port);
    env_value(m, "TURBOLIFT_BIND", "0.0.0.0");
    env_value(m, "TURBOLIFT_DRAIN_TIMEOUT", drain);
    map_begin(m);                      /* the token never appears in the spec */
    kv(m, "name", "TURBOLIFT_TOKEN");
    str(m, "valueFrom");
    map_begin(m);
    str(m, "secretKeyRef");
    map_begin(m);
    kv(m, "name", s->name);
    kv(m, "key", "token");
    map_end(m);
    map_end(m);
    map_end(m);
    if (s->tls_cert != NULL) {
        env_secret(m, "TURBOLIFT_TLS_CERT", s->name, "tlscert");
        env_secret(m, "TURBOLIFT_TLS_KEY", s->name, "tlskey");
    }
    seq_end(m);
    str(m, "resources");
    map_begin(m);
    str(m, "requests");
    map_begin(m);
    kv(m, "cpu", s->cpu_request);
    kv(m, "memory", s->memory_request);
    map_end(m);
    str(m, "limits");
    map_begin(m);
    kv(m, "cpu", s->cpu_limit);
    kv(m, "memory", s->memory_limit);
    map_end(m);
    map_end(m);
    /* Ready means "accepts calls": /readyz turns 503 while draining, so a
     * terminating pod leaves the Service before it stops answering. */
    probe(m, "readinessProbe", TL_PROTO_PATH_READY, 1, 1, s->tls_cert != NULL);
    probe(m, "livenessProbe", TL_PROTO_PATH_HEALTH, 10, 3, s->tls_cert != NULL);
    /* The image is read-only and has no /tmp; C libraries call tmpfile() and
     * mkstemp("/tmp/...") (libmatheval writes a number's text through one),
     * as they can on local workers: a small writable /tmp of the pod's own. */
    str(m, "volumeMounts");
    seq_begin(m);
    map_begin(m);
    kv(m, "name", "tmp");
    kv(m, "mountPath", "/tmp");
    map_end(m);
    seq_end(m);
    str(m, "securityContext");
    map_begin(m);
    str(m, "allowPrivilegeEscalation");
    boolean(m, 0);
    str(m, "readOnlyRootFilesystem");
    boolean(m, 1);
    str(m, "runAsNonRoot");
    boolean(m, 1);
    kvn(m, "runAsUser", 65532);
    str(m, "capabilities");
    map_begin(m);
    str(m, "drop");
    seq_begin(m);
    str(m, "ALL");
    seq_end(m);
    map_end(m);
    map_end(m);
    map_end(m);
}

static void deployment(struct emit *m, const struct tl_k8s_spec *s)
{
    char bytes[32];

    snprintf(bytes, sizeof bytes, "%llu", s->image_bytes);
    doc_begin(m, "apps/v1", "Deployment");
    str(m, "metadata");
    map_begin(m);
    kv(m, "name", s->name);
    kv(m, "namespace", s->k8s_namespace);
    labels(m, s);
    str(m, "annotations");
    map_begin(m);
    kv(m, TL_K8S_IMAGE_BYTES, bytes);    /* digits: str() quotes them */
    map_end(m);
    map_end(m);
    str(m, "spec");
    map_begin(m);
    kvn(m, "replicas", s->min_replicas);
    kvn(m, "revisionHistoryLimit", 1);
    str(m, "selector");
    map_begin(m);
    str(m, "matchLabels");
    selector_labels(m, s);
    map_end(m);
    str(m, "template");
    map_begin(m);
    str(m, "metadata");
    map_begin(m);
    labels(m, s);
    map_end(m);
    str(m, "spec");
    map_begin(m);
    /* The service drains on SIGTERM within drain_seconds, below this. */
    kvn(m, "terminationGracePeriodSeconds", s->grace_seconds);
    str(m, "automountServiceAccountToken");
    boolean(m, 0);
    str(m, "enableServiceLinks");
    boolean(m, 0);
    str(m, "containers");
    seq_begin(m);
    container(m, s);
    seq_end(m);
    str(m, "volumes");
    seq_begin(m);
    map_begin(m);
    kv(m, "name", "tmp");
    str(m, "emptyDir");
    map_begin(m);
    kv(m, "sizeLimit", TL_K8S_TMP_SIZE);
    map_end(m);
    map_end(m);
    seq_end(m);
    map_end(m);
    map_end(m);
    map_end(m);
    doc_end(m);
}

static void service(struct emit *m, const struct tl_k8s_spec *s)
{
    doc_begin(m, "v1", "Service");
    metadata(m, s);
    str(m, "spec");
    map_begin(m);
    kv(m, "type", s->service_type);
    str(m, "selector");
    selector_labels(m, s);
    str(m, "ports");
    seq_begin(m);
    map_begin(m);
    kv(m, "name", "http");
    kvn(m, "port", TL_K8S_SERVICE_PORT);
    kv(m, "targetPort", "http");
    kv(m, "protocol", "TCP");
    map_end(m);
    seq_end(m);
    map_end(m);
    doc_end(m);
}

static void autoscaler(struct emit *m, const struct tl_k8s_spec *s)
{
    doc_begin(m, "autoscaling/v2", "HorizontalPodAutoscaler");
    metadata(m, s);
    str(m, "spec");
    map_begin(m);
    str(m, "scaleTargetRef");
    map_begin(m);
    kv(m, "apiVersion", "apps/v1");
    kv(m, "kind", "Deployment");
    kv(m, "name", s->name);
    map_end(m);
    kvn(m, "minReplicas", s->min_replicas);
    kvn(m, "maxReplicas", s->max_replicas);
    str(m, "metrics");
    seq_begin(m);
    map_begin(m);
    kv(m, "type", "Resource");
    str(m, "resource");
    map_begin(m);
    kv(m, "name", "cpu");
    str(m, "target");
    map_begin(m);
    kv(m, "type", "Utilization");
    kvn(m, "averageUtilization", 70);
    map_end(m);
    map_end(m);
    map_end(m);
    seq_end(m);
    map_end(m);
    doc_end(m);
}

int tl_k8s_objects_yaml(const struct tl_k8s_spec *s, char **yaml, size_t *len,
                     char *err, size_t errlen)
{
    struct emit m = { .failed = 0 };
    yaml_event_t ev;
    int rc = -1;

    *yaml = NULL;
    *len = 0;
    if (!yaml_emitter_initialize(&m.e)) {
        snprintf(err, errlen, "cannot initialise the YAML emitter");
        return -1;
    }
    yaml_emitter_set_output(&m.e, write_handler, &m);
    yaml_emitter_set_unicode(&m.e, 1);
    yaml_emitter_set_width(&m.e, -1);     /* never fold a long image name */
    event(&m, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    secret(&m, s);
    deployment(&m, s);
    service(&m, s);
    if (s->max_replicas > s->min_replicas)
        autoscaler(&m, s);
    event(&m, &ev, yaml_stream_end_event_initialize(&ev));
    if (!m.failed && !yaml_emitter_flush(&m.e))
        m.failed = 1;
    if (m.failed) {
        snprintf(err, errlen, "emitting the Kubernetes objects: %s",
                 m.e.problem ? m.e.problem : "out of memory");
        goto cleanup;
    }
    *yaml = m.out.data;
    *len = m.out.len;
    m.out.data = NULL;
    rc = 0;
cleanup:
    yaml_emitter_delete(&m.e);
    tl_buf_free(&m.out);
    return rc;
}

void tl_k8s_label_value(const char *s, char out[64])
{
    size_t n = strlen(s);

    /* C identifiers are [A-Za-z0-9_], valid label characters; a label
     * value must also end in an alphanumeric, which '_' is not. */
    if (n > 63)
        n = 63;
    memcpy(out, s, n);
    out[n] = '\0';
    while (n > 0 && !isalnum((unsigned char)out[n - 1]))
        out[--n] = '\0';
    if (n == 0)
        snprintf(out, 64, "fn");
}

void tl_k8s_name(const char *function, const char *hash, char out[64])
{
    size_t used = 0, hl = strlen(hash), room;

    if (hl > 16)
        hl = 16;
    room = 63 - 3 - 1 - hl;          /* "tl-" + fn + "-" + hash */
    memcpy(out, "tl-", 3);
    used = 3;
    for (const char *p = function; *p && used - 3 < room; p++) {
        char c = (char)tolower((unsigned char)*p);
        if (c == '_')
            c = '-';
        if (!isalnum((unsigned char)c) && c != '-')
            continue;
        if (c == '-' && out[used - 1] == '-')
            continue;            /* no "--" runs: easier to read */
        out[used++] = c;
    }
    if (out[used - 1] != '-')
        out[used++] = '-';
    for (size_t i = 0; i < hl; i++)
        out[used++] = (char)tolower((unsigned char)hash[i]);
    out[used] = '\0';
}
