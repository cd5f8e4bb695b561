/* SPDX-License-Identifier: MIT */
/*
 * test_k8s_yaml.c - the k8s target's manifests, parsed back with libyaml
 * and checked field by field; object names; the k8s configuration keys.
 * No cluster needed (suite unit).
 */
#define _GNU_SOURCE   /* mkstemp, strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "../unit/tl_check.h"
#include "tl_config.h"
#include "tl_k8s_yaml.h"

#define MAX_DOCS 8

static yaml_document_t docs[MAX_DOCS];
static int ndocs;

/* Parse every document of the stream into docs[]. */
static void parse_all(const char *text, size_t len)
{
    yaml_parser_t p;

    REQUIRE(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (ndocs = 0; ndocs < MAX_DOCS; ndocs++) {
        REQUIRE(yaml_parser_load(&p, &docs[ndocs]));
        if (yaml_document_get_root_node(&docs[ndocs]) == NULL) {
            yaml_document_delete(&docs[ndocs]);
            break;
        }
    }
    yaml_parser_delete(&p);
}

static void free_all(void)
{
    for (int i = 0; i < ndocs; i++)
        yaml_document_delete(&docs[i]);
    ndocs = 0;
}

/* The node at a dotted path ("spec.ports.0.port"); numbers index sequences. */
static yaml_node_t *at(yaml_document_t *d, const char *path)
{
    yaml_node_t *n = yaml_document_get_root_node(d);
    char *copy = strdup(path), *save = NULL;

    for (char *part = strtok_r(copy, ".", &save); part && n; part = strtok_r(NULL, ".", &save)) {
        yaml_node_t *next = NULL;

        /* Label keys contain dots: "labels" takes the rest of the path. */
        if (n->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
                 p < n->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(d, p->key);
                if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, part) == 0)
                    next = yaml_document_get_node(d, p->value);
            }
            if (next == NULL && save != NULL && *save != '\0') {
                /* try "part.rest..." as one key */
                char joined[256];
                snprintf(joined, sizeof joined, "%s.%s", part, save);
                for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
                     p < n->data.mapping.pairs.top; p++) {
                    yaml_node_t *k = yaml_document_get_node(d, p->key);
                    if (k->type == YAML_SCALAR_NODE &&
                        strcmp((char *)k->data.scalar.value, joined) == 0) {
                        next = yaml_document_get_node(d, p->value);
                        save += strlen(save);
                    }
                }
            }
        } else if (n->type == YAML_SEQUENCE_NODE) {
            long i = atol(part);
            if (i >= 0 && n->data.sequence.items.start + i < n->data.sequence.items.top)
                next = yaml_document_get_node(d, n->data.sequence.items.start[i]);
        }
        n = next;
    }
    free(copy);
    return n;
}

static const char *s_at(yaml_document_t *d, const char *path)
{
    yaml_node_t *n = at(d, path);

    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

#define CHECK_STR(doc, path, want) do {                                     \
        const char *got_ = s_at(doc, path);                                 \
        CHECK_MSG(got_ != NULL && strcmp(got_, want) == 0, "%s: '%s', want '%s'", \
                  path, got_ ? got_ : "(missing)", want);                   \
    } while (0)

/* A scalar a YAML 1.1 reader would take for a number or bool must be quoted. */
#define CHECK_QUOTED(doc, path) do {                                        \
        yaml_node_t *n_ = at(doc, path);                                    \
        CHECK_MSG(n_ != NULL && n_->type == YAML_SCALAR_NODE &&             \
                  n_->data.scalar.style != YAML_PLAIN_SCALAR_STYLE,         \
                  "%s should be a quoted string", path);                    \
    } while (0)

#define CHECK_PLAIN(doc, path) do {                                         \
        yaml_node_t *n_ = at(doc, path);                                    \
        CHECK_MSG(n_ != NULL && n_->type == YAML_SCALAR_NODE &&             \
                  n_->data.scalar.style == YAML_PLAIN_SCALAR_STYLE,         \
                  "%s should be a plain scalar (a number or bool)", path);  \
    } while (0)

static yaml_document_t *kind(const char *k)
{
    for (int i = 0; i < ndocs; i++) {
        const char *v = s_at(&docs[i], "kind");
        if (v && strcmp(v, k) == 0)
            return &docs[i];
    }
    return NULL;
}

static void check_labels(yaml_document_t *d, const char *prefix, const char *name)
{
    char path[256];

    snprintf(path, sizeof path, "%s.app.kubernetes.io/managed-by", prefix);
    CHECK_STR(d, path, "turbolift");
    snprintf(path, sizeof path, "%s.app.kubernetes.io/name", prefix);
    CHECK_STR(d, path, name);
    snprintf(path, sizeof path, "%s.turbolift.dev/function", prefix);
    CHECK_STR(d, path, "price_v2");
    snprintf(path, sizeof path, "%s.turbolift.dev/hash", prefix);
    CHECK_STR(d, path, "0123456789012345");
    CHECK_QUOTED(d, path);
}

static void test_manifests(void)
{
    struct tl_k8s_spec s = {
        .name = "tl-price-v2-0123456789012345",
        .k8s_namespace = "team-a",
        .function = "price_v2",
        .hash = "0123456789012345",          /* digits only: must stay a string */
        .image = "127.0.0.1:5000/turbolift/price_v2:0123456789012345",
        .token = "1234",                     /* likewise */
        .service_type = "NodePort",
        .min_replicas = 2,
        .max_replicas = 5,
        .cpu_request = "250m", .cpu_limit = "1",
        .memory_request = "64Mi", .memory_limit = "256Mi",
        .grace_seconds = 30,
        .drain_seconds = 25,
        .image_bytes = 10234567,             /* digits: must stay a string */
    };
    yaml_document_t *d;
    char *yaml = NULL, err[256];
    size_t len;

    REQUIRE(tl_k8s_objects_yaml(&s, &yaml, &len, err, sizeof err) == 0);
    CHECK(strlen(yaml) == len);
    parse_all(yaml, len);
    CHECK_MSG(ndocs == 4, "%d documents, want Secret, Deployment, Service, HPA", ndocs);

    REQUIRE((d = kind("Secret")) != NULL);
    CHECK_STR(d, "apiVersion", "v1");
    CHECK_STR(d, "metadata.name", s.name);
    CHECK_STR(d, "metadata.namespace", "team-a");
    check_labels(d, "metadata.labels", s.name);
    CHECK_STR(d, "type", "Opaque");
    CHECK_STR(d, "stringData.token", "1234");
    CHECK_QUOTED(d, "stringData.token");

    REQUIRE((d = kind("Deployment")) != NULL);
    CHECK_STR(d, "apiVersion", "apps/v1");
    CHECK_STR(d, "metadata.name", s.name);
    CHECK_STR(d, "metadata.namespace", "team-a");
    check_labels(d, "metadata.labels", s.name);
    check_labels(d, "spec.template.metadata.labels", s.name);
    CHECK_STR(d, "metadata.annotations.turbolift.dev/image-bytes", "10234567");
    CHECK_QUOTED(d, "metadata.annotations.turbolift.dev/image-bytes");
    CHECK_STR(d, "spec.replicas", "2");
    CHECK_PLAIN(d, "spec.replicas");
    CHECK_STR(d, "spec.selector.matchLabels.app.kubernetes.io/name", s.name);
    CHECK_STR(d, "spec.selector.matchLabels.turbolift.dev/hash", s.hash);
    CHECK_STR(d, "spec.template.spec.terminationGracePeriodSeconds", "30");
    CHECK_STR(d, "spec.template.spec.containers.0.name", "service");
    CHECK_STR(d, "spec.template.spec.containers.0.image", s.image);
    CHECK_STR(d, "spec.template.spec.containers.0.ports.0.containerPort", "8080");
    CHECK_STR(d, "spec.template.spec.containers.0.ports.0.name", "http");
    CHECK_STR(d, "spec.template.spec.containers.0.env.0.name", "TURBOLIFT_PORT");
    CHECK_STR(d, "spec.template.spec.containers.0.env.0.value", "8080");
    CHECK_QUOTED(d, "spec.template.spec.containers.0.env.0.value");  /* env values are strings */
    CHECK_STR(d, "spec.template.spec.containers.0.env.1.name", "TURBOLIFT_BIND");
    CHECK_STR(d, "spec.template.spec.containers.0.env.1.value", "0.0.0.0");
    CHECK_STR(d, "spec.template.spec.containers.0.env.2.name", "TURBOLIFT_DRAIN_TIMEOUT");
    CHECK_STR(d, "spec.template.spec.containers.0.env.2.value", "25");
    CHECK_STR(d, "spec.template.spec.containers.0.env.3.name", "TURBOLIFT_TOKEN");
    CHECK_STR(d, "spec.template.spec.containers.0.env.3.valueFrom.secretKeyRef.name", s.name);
    CHECK_STR(d, "spec.template.spec.containers.0.env.3.valueFrom.secretKeyRef.key", "token");
    CHECK(s_at(d, "spec.template.spec.containers.0.env.3.value") == NULL);
    /* The token is in the Secret and nowhere else. */
    CHECK(strstr(yaml, "\"1234\"") != NULL &&
          strstr(strstr(yaml, "\"1234\"") + 1, "\"1234\"") == NULL);
    CHECK_STR(d, "spec.template.spec.containers.0.resources.requests.cpu", "250m");
    CHECK_STR(d, "spec.template.spec.containers.0.resources.requests.memory", "64Mi");
    CHECK_STR(d, "spec.template.spec.containers.0.resources.limits.cpu", "1");
    CHECK_QUOTED(d, "spec.template.spec.containers.0.resources.limits.cpu");
    CHECK_STR(d, "spec.template.spec.containers.0.resources.limits.memory", "256Mi");
    CHECK_STR(d, "spec.template.spec.containers.0.readinessProbe.httpGet.path", "/readyz");
    CHECK_STR(d, "spec.template.spec.containers.0.readinessProbe.httpGet.port", "http");
    CHECK_STR(d, "spec.template.spec.containers.0.livenessProbe.httpGet.path", "/healthz");
    CHECK_STR(d, "spec.template.spec.containers.0.livenessProbe.httpGet.port", "http");
    CHECK_STR(d, "spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem", "true");
    CHECK_PLAIN(d, "spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem");
    /* a writable /tmp of the pod's own, the image staying read-only */
    CHECK_STR(d, "spec.template.spec.containers.0.volumeMounts.0.mountPath", "/tmp");
    CHECK_STR(d, "spec.template.spec.containers.0.volumeMounts.0.name", "tmp");
    CHECK_STR(d, "spec.template.spec.volumes.0.name", "tmp");
    CHECK_STR(d, "spec.template.spec.volumes.0.emptyDir.sizeLimit", "64Mi");

    REQUIRE((d = kind("Service")) != NULL);
    CHECK_STR(d, "apiVersion", "v1");
    CHECK_STR(d, "metadata.name", s.name);
    check_labels(d, "metadata.labels", s.name);
    CHECK_STR(d, "spec.type", "NodePort");
    CHECK_STR(d, "spec.selector.app.kubernetes.io/name", s.name);
    CHECK_STR(d, "spec.selector.turbolift.dev/hash", s.hash);
    CHECK_STR(d, "spec.ports.0.port", "80");
    CHECK_STR(d, "spec.ports.0.targetPort", "http");

    REQUIRE((d = kind("HorizontalPodAutoscaler")) != NULL);
    CHECK_STR(d, "apiVersion", "autoscaling/v2");
    check_labels(d, "metadata.labels", s.name);
    CHECK_STR(d, "spec.scaleTargetRef.kind", "Deployment");
    CHECK_STR(d, "spec.scaleTargetRef.name", s.name);
    CHECK_STR(d, "spec.minReplicas", "2");
    CHECK_STR(d, "spec.maxReplicas", "5");
    CHECK_STR(d, "spec.metrics.0.resource.name", "cpu");
    free_all();
    free(yaml);

    /* No autoscaler when the range is one number; other Service types. */
    s.max_replicas = 2;
    s.service_type = "ClusterIP";
    s.token = "yes";                      /* a YAML 1.1 bool if plain */
    REQUIRE(tl_k8s_objects_yaml(&s, &yaml, &len, err, sizeof err) == 0);
    parse_all(yaml, len);
    CHECK_MSG(ndocs == 3, "%d documents, want 3 without an HPA", ndocs);
    CHECK(kind("HorizontalPodAutoscaler") == NULL);
    REQUIRE((d = kind("Service")) != NULL);
    CHECK_STR(d, "spec.type", "ClusterIP");
    REQUIRE((d = kind("Secret")) != NULL);
    CHECK_STR(d, "stringData.token", "yes");
    CHECK_QUOTED(d, "stringData.token");
    free_all();
    free(yaml);

    /* TLS (issue 12): certificate and key in the Secret and nowhere else,
     * the pods read them from it, the probes speak HTTPS. */
    s.tls_cert = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";
    s.tls_key = "-----BEGIN PRIVATE KEY-----\nMIGTtest\n-----END PRIVATE KEY-----\n";
    REQUIRE(tl_k8s_objects_yaml(&s, &yaml, &len, err, sizeof err) == 0);
    parse_all(yaml, len);
    REQUIRE((d = kind("Secret")) != NULL);
    CHECK_STR(d, "stringData.tlscert", s.tls_cert);
    CHECK_STR(d, "stringData.tlskey", s.tls_key);
    REQUIRE((d = kind("Deployment")) != NULL);
    CHECK_STR(d, "spec.template.spec.containers.0.env.4.name", "TURBOLIFT_TLS_CERT");
    CHECK_STR(d, "spec.template.spec.containers.0.env.4.valueFrom.secretKeyRef.key", "tlscert");
    CHECK_STR(d, "spec.template.spec.containers.0.env.5.name", "TURBOLIFT_TLS_KEY");
    CHECK_STR(d, "spec.template.spec.containers.0.env.5.valueFrom.secretKeyRef.name", s.name);
    CHECK_STR(d, "spec.template.spec.containers.0.env.5.valueFrom.secretKeyRef.key", "tlskey");
    CHECK_STR(d, "spec.template.spec.containers.0.readinessProbe.httpGet.scheme", "HTTPS");
    CHECK_STR(d, "spec.template.spec.containers.0.livenessProbe.httpGet.scheme", "HTTPS");
    CHECK(strstr(yaml, "MIGTtest") != NULL &&
          strstr(strstr(yaml, "MIGTtest") + 1, "MIGTtest") == NULL);
    free_all();
    free(yaml);
}

static void test_names(void)
{
    char out[64], label[64];

    tl_k8s_name("price", "3f2a9c0d11e4b7a8", out);
    CHECK_MSG(strcmp(out, "tl-price-3f2a9c0d11e4b7a8") == 0, "%s", out);
    tl_k8s_name("Big_Name__x", "ABCDEF0123456789", out);
    CHECK_MSG(strcmp(out, "tl-big-name-x-abcdef0123456789") == 0, "%s", out);
    tl_k8s_name("a_very_long_function_name_that_goes_on_and_on_and_on_forever_more",
                "3f2a9c0d11e4b7a8", out);
    CHECK_MSG(strlen(out) <= 63, "%zu chars: %s", strlen(out), out);
    CHECK(strstr(out, "-3f2a9c0d11e4b7a8") != NULL);
    tl_k8s_label_value("trailing_", label);
    CHECK_MSG(strcmp(label, "trailing") == 0, "%s", label);
}

/* A configuration file with one line; the error must name file, line, key. */
static void config_error(const char *text, const char *want_key, const char *want_in)
{
    char path[] = "/tmp/tl-k8s-config-XXXXXX", err[512] = "";
    struct tl_config *cfg = NULL;
    int fd = mkstemp(path);
    FILE *f;

    REQUIRE(fd >= 0);
    f = fdopen(fd, "w");
    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
    CHECK_MSG(tl_config_load_file(path, &cfg, err, sizeof err) != 0, "accepted: %s", text);
    CHECK_MSG(strstr(err, path) != NULL && strstr(err, ":3:") != NULL &&
              strstr(err, want_key) != NULL && strstr(err, want_in) != NULL,
              "error '%s' should name %s line 3 and %s (%s)", err, path, want_key, want_in);
    tl_config_free(cfg);
    unlink(path);
}

static void test_config(void)
{
    char path[] = "/tmp/tl-k8s-config-XXXXXX", err[512] = "";
    struct tl_config *cfg = NULL;
    struct tl_fn_config fc;
    int fd = mkstemp(path);
    FILE *f;

    config_error("functions:\n  price:\n    keep: maybe\n", "keep", "true or false");
    config_error("functions:\n  price:\n    endpoint: ingress\n", "endpoint", "nodeport");
    config_error("functions:\n  price:\n    resources: { cpu: lots }\n", "resources.cpu", "500m");
    config_error("functions:\n  price:\n    resources: { memory: 12XB }\n", "resources.memory", "Mi");
    config_error("functions:\n  price:\n    min_replica: 2\n", "min_replica", "unknown key");
    config_error("functions:\n  price:\n    resources: { cpu_limit: 1x }\n", "resources.cpu_limit", "500m");

    REQUIRE(fd >= 0);
    f = fdopen(fd, "w");
    REQUIRE(f != NULL);
    fputs("defaults:\n  namespace: team-a\n  keep: true\n"
          "functions:\n  price:\n    min_replicas: 2\n    max_replicas: 4\n"
          "    endpoint: port-forward\n    registry: reg.example:5000\n"
          "    resources: { cpu: \"0.5\", memory: 128Mi, cpu_limit: 2, memory_limit: 1Gi }\n", f);
    fclose(f);
    unsetenv("TURBOLIFT_KEEP");
    unsetenv("TURBOLIFT_ENDPOINT");
    unsetenv("TURBOLIFT_NAMESPACE");
    unsetenv("TURBOLIFT_REGISTRY");
    REQUIRE(tl_config_load_file(path, &cfg, err, sizeof err) == 0);
    REQUIRE(tl_config_resolve(cfg, "price", &fc, err, sizeof err) == 0);
    CHECK(fc.keep == 1);
    CHECK(fc.min_replicas == 2 && fc.max_replicas == 4);
    CHECK(strcmp(fc.endpoint, "port-forward") == 0);
    CHECK(strcmp(fc.k8s_namespace, "team-a") == 0);
    CHECK(strcmp(fc.registry, "reg.example:5000") == 0);
    CHECK(strcmp(fc.cpu, "0.5") == 0 && strcmp(fc.memory, "128Mi") == 0);
    CHECK(strcmp(fc.cpu_limit, "2") == 0 && strcmp(fc.memory_limit, "1Gi") == 0);
    /* Defaults for another function; the environment wins over the file. */
    REQUIRE(tl_config_resolve(cfg, "other", &fc, err, sizeof err) == 0);
    CHECK(strcmp(fc.endpoint, "nodeport") == 0);
    CHECK(fc.keep == 1);
    setenv("TURBOLIFT_KEEP", "0", 1);
    setenv("TURBOLIFT_ENDPOINT", "loadbalancer", 1);
    REQUIRE(tl_config_resolve(cfg, "price", &fc, err, sizeof err) == 0);
    CHECK(fc.keep == 0);
    CHECK(strcmp(fc.endpoint, "loadbalancer") == 0);
    setenv("TURBOLIFT_ENDPOINT", "bogus", 1);
    CHECK(tl_config_resolve(cfg, "price", &fc, err, sizeof err) != 0);
    CHECK(strstr(err, "TURBOLIFT_ENDPOINT") != NULL);
    unsetenv("TURBOLIFT_ENDPOINT");
    unsetenv("TURBOLIFT_KEEP");
    /* Nothing configured: every k8s value has a default. */
    REQUIRE(tl_config_resolve(NULL, "price", &fc, err, sizeof err) == 0);
    CHECK(fc.keep == 0 && strcmp(fc.endpoint, "nodeport") == 0);
    CHECK(strcmp(fc.k8s_namespace, "default") == 0 && fc.min_replicas == 1);
    tl_config_free(cfg);
    unlink(path);
}

/* The one list of quantity suffixes: values for the k8s target's
 * request-versus-limit choice, -1 for what the config loader rejects. */
static void test_quantity(void)
{
    CHECK(tl_config_quantity("250m", 0) == 0.25);
    CHECK(tl_config_quantity("2", 0) == 2.0);
    CHECK(tl_config_quantity("1.5", 0) == 1.5);
    CHECK(tl_config_quantity("64Mi", 1) == 64.0 * 1048576);
    CHECK(tl_config_quantity("1Gi", 1) == 1073741824.0);
    CHECK(tl_config_quantity("5G", 1) == 5e9);
    CHECK(tl_config_quantity("300", 1) == 300.0);
    CHECK(tl_config_quantity("64Mi", 0) < 0);     /* no memory suffix on a cpu */
    CHECK(tl_config_quantity("250m", 1) < 0);     /* nor millis on memory      */
    CHECK(tl_config_quantity("lots", 0) < 0);
    CHECK(tl_config_quantity("1.", 1) < 0);
    CHECK(tl_config_quantity("", 1) < 0);
}

int main(void)
{
    test_quantity();
    test_manifests();
    test_names();
    test_config();
    return tl_check_failures ? 1 : 0;
}
