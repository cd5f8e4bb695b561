/* SPDX-License-Identifier: MIT */
/*
 * tl_k8s_yaml.h - the Kubernetes objects of one deployed function, emitted
 * with libyaml as one multi-document stream for `kubectl apply -f -`.
 *
 *   Secret                  the call token (stringData.token)
 *   Deployment              the service image, probes, resources, labels
 *   Service                 NodePort, ClusterIP or LoadBalancer on port 80
 *   HorizontalPodAutoscaler only when max_replicas > min_replicas
 *
 * Every object carries the labels
 *   app.kubernetes.io/managed-by: turbolift
 *   app.kubernetes.io/name:       <name>
 *   turbolift.dev/function:       <function>
 *   turbolift.dev/hash:           <hash>
 * so that `turbolift status|down` and the runtime's cleanup find them. The
 * Deployment also carries the annotation turbolift.dev/image-bytes; the runs
 * that hold it annotate it at run time (tl_lease.h), never in this stream.
 */
#ifndef TL_K8S_YAML_H
#define TL_K8S_YAML_H

#include <stddef.h>

#define TL_K8S_LABEL_MANAGED  "app.kubernetes.io/managed-by"
#define TL_K8S_LABEL_NAME     "app.kubernetes.io/name"
#define TL_K8S_LABEL_FUNCTION "turbolift.dev/function"
#define TL_K8S_LABEL_HASH     "turbolift.dev/hash"
#define TL_K8S_IMAGE_BYTES    "turbolift.dev/image-bytes"  /* Deployment annotation */
#define TL_K8S_SERVICE_PORT   80   /* the Service's; the pods' is TL_PROTO_PORT */

struct tl_k8s_spec {
    const char *name;          /* object name (DNS label), tl_k8s_name()      */
    const char *k8s_namespace;
    const char *function;      /* C name; also a label value                  */
    const char *hash;          /* image tag / content hash                    */
    const char *image;         /* full reference the node pulls               */
    const char *token;         /* call token for the Secret                   */
    const char *tls_cert;      /* PEM certificate and key for the Secret and  */
    const char *tls_key;       /* the pods (HTTPS); NULL: plain HTTP          */
    const char *service_type;  /* "NodePort", "ClusterIP" or "LoadBalancer"   */
    int min_replicas;          /* Deployment replicas, HPA minimum (>= 1)     */
    int max_replicas;          /* HPA when larger than min_replicas           */
    const char *cpu_request, *cpu_limit;
    const char *memory_request, *memory_limit;
    int grace_seconds;         /* terminationGracePeriodSeconds               */
    int drain_seconds;         /* TURBOLIFT_DRAIN_TIMEOUT, below the grace    */
    unsigned long long image_bytes; /* the image's files, for `turbolift status`
                                       (annotation turbolift.dev/image-bytes) */
};

/*
 * The stream of objects for s, NUL-terminated, in *yaml (malloc'd). Returns
 * 0, or -1 with err set (a libyaml emitter error: never expected).
 */
int tl_k8s_objects_yaml(const struct tl_k8s_spec *s, char **yaml, size_t *len,
                     char *err, size_t errlen);

/*
 * A Kubernetes object name for function + hash: "tl-<function>-<hash>",
 * lowercased, '_' as '-', the function part cut so that the whole fits a
 * DNS label (63). out must hold 64 bytes.
 */
void tl_k8s_name(const char *function, const char *hash, char out[64]);

/* A label value for a C identifier (they are valid as they are, up to 63). */
void tl_k8s_label_value(const char *s, char out[64]);

#endif /* TL_K8S_YAML_H */
