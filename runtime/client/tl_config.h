/* SPDX-License-Identifier: MIT */
/*
 * tl_config.h - the optional user configuration turbolift.yaml.
 *
 * Found through $TURBOLIFT_CONFIG, else ./turbolift.yaml; no file means
 * every value takes its default. Schema (docs/config.md):
 *
 *   defaults:            # applies to every function
 *     replicas: 4
 *   functions:
 *     price:             # one tagged function, by name
 *       timeout_ms: 5000
 *       on_failure: abort
 *
 * Precedence, strongest first: environment variables, the function's
 * section, the defaults section, the built-in defaults.
 */
#ifndef TL_CONFIG_H
#define TL_CONFIG_H

#include <stddef.h>

enum tl_on_failure {
    TL_ON_FAILURE_UNSET = -1,
    TL_ON_FAILURE_FALLBACK = 0,  /* warn once, run the body in-process */
    TL_ON_FAILURE_ABORT = 1,     /* say what failed, then abort()       */
};

/*
 * Settings of one function. In a loaded file, -1 and NULL mean "not given
 * here"; after tl_config_resolve every field is set. Strings point into the
 * loaded tl_config, which must outlive the resolved settings.
 */
struct tl_fn_config {
    /* every target */
    const char *target;        /* overrides the tagged target; NULL: keep it      */
    int timeout_ms;            /* deadline of one call, retries included          */
    int connect_timeout_ms;    /* TCP connect to one endpoint                     */
    int retries;               /* extra attempts after the first (transport/503)  */
    int backoff_ms;            /* base of the exponential backoff                 */
    int on_failure;            /* enum tl_on_failure                              */
    int start_timeout_ms;      /* workers or pods must be ready within this       */
    const char *token;         /* bearer token shared with the service            */
    const char *link;          /* extra service link inputs, words (multifile.md) */
    /* local target */
    int replicas;              /* worker processes                                */
    /* k8s target (parsed now, used by the k8s target) */
    int min_replicas;
    int max_replicas;
    const char *k8s_namespace;
    const char *registry;
    const char *image_base;
    const char *cpu;           /* resources: { cpu: "500m", memory: "256Mi" }     */
    const char *memory;        /*   (requests)                                    */
    const char *cpu_limit;     /* resources: { cpu_limit: "2", memory_limit: ... }*/
    const char *memory_limit;
    const char *endpoint;      /* nodeport | port-forward | loadbalancer          */
    int keep;                  /* 1: leave the deployment running at exit         */
};

struct tl_config;

/* Find and read the configuration; no file is not an error. */
int tl_config_load(struct tl_config **out, char *err, size_t errlen);
/* Read one file; errors are "FILE:LINE: key 'KEY': what is wrong". */
int tl_config_load_file(const char *path, struct tl_config **out,
                        char *err, size_t errlen);
/*
 * Settings for one function: built-in defaults, then the file's defaults,
 * then its section for this function, then the environment
 * (TURBOLIFT_TARGET, TURBOLIFT_TIMEOUT_MS, TURBOLIFT_ON_FAILURE, TURBOLIFT_REPLICAS,
 * TURBOLIFT_RETRIES, TURBOLIFT_TOKEN, TURBOLIFT_LINK; for k8s TURBOLIFT_NAMESPACE,
 * TURBOLIFT_REGISTRY, TURBOLIFT_ENDPOINT, TURBOLIFT_KEEP). cfg may be NULL. Fails only on a
 * malformed environment variable.
 */
int tl_config_resolve(const struct tl_config *cfg, const char *function,
                      struct tl_fn_config *out, char *err, size_t errlen);
void tl_config_free(struct tl_config *cfg);


/* Usable CPUs of this process (affinity-aware), at least 1. */
int tl_cpu_count(void);

/* A Kubernetes quantity (resources: cpu, memory) in CPUs (memory == 0) or
 * bytes; -1 when v is not one. */
double tl_config_quantity(const char *v, int memory);

#endif /* TL_CONFIG_H */
