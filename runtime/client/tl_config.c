/* SPDX-License-Identifier: MIT */
/*
 * tl_config.c - the optional user configuration (turbolift.yaml).
 *
 * Read with libyaml's document API. Unlike the manifest, this file is
 * written by hand, so an unknown key is an error (a typo must not silently
 * become a default) and every error names the file, line and key.
 */
#define _GNU_SOURCE   /* strndup, CPU_COUNT */
#include "tl_config.h"
#include "tl_codec.h"
#include "tl_env.h"
#include "tl_log.h"
#include "tl_yaml_read.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

struct tl_section {
    char *name;
    struct tl_fn_config s;
};

struct tl_config {
    char *path;                 /* NULL: built-in defaults only              */
    struct tl_fn_config defaults;
    struct tl_section *fns;
    size_t nfns;
    char **strs;                /* every string the settings point to        */
    size_t nstrs;
};

enum kind { K_STR, K_INT, K_ON_FAILURE, K_RESOURCES, K_BOOL, K_ENDPOINT, K_CPU, K_MEMORY };

/* The schema of one section; new keys for new targets go here. */
static const struct key {
    const char *name;
    enum kind kind;
    size_t off;
    int min, max;
} keys[] = {
    { "target",             K_STR,        offsetof(struct tl_fn_config, target), 0, 0 },
    { "timeout_ms",         K_INT,        offsetof(struct tl_fn_config, timeout_ms), 1, INT_MAX },
    { "connect_timeout_ms", K_INT,        offsetof(struct tl_fn_config, connect_timeout_ms), 1, INT_MAX },
    { "retries",            K_INT,        offsetof(struct tl_fn_config, retries), 0, 100 },
    { "backoff_ms",         K_INT,        offsetof(struct tl_fn_config, backoff_ms), 0, 60000 },
    { "on_failure",         K_ON_FAILURE, offsetof(struct tl_fn_config, on_failure), 0, 0 },
    { "start_timeout_ms",   K_INT,        offsetof(struct tl_fn_config, start_timeout_ms), 1, INT_MAX },
    { "token",              K_STR,        offsetof(struct tl_fn_config, token), 0, 0 },
    { "link",               K_STR,        offsetof(struct tl_fn_config, link), 0, 0 },
    { "replicas",           K_INT,        offsetof(struct tl_fn_config, replicas), 1, 1024 },
    { "min_replicas",       K_INT,        offsetof(struct tl_fn_config, min_replicas), 0, 100000 },
    { "max_replicas",       K_INT,        offsetof(struct tl_fn_config, max_replicas), 1, 100000 },
    { "namespace",          K_STR,        offsetof(struct tl_fn_config, k8s_namespace), 0, 0 },
    { "registry",           K_STR,        offsetof(struct tl_fn_config, registry), 0, 0 },
    { "image_base",         K_STR,        offsetof(struct tl_fn_config, image_base), 0, 0 },
    { "resources",          K_RESOURCES,  0, 0, 0 },
    { "endpoint",           K_ENDPOINT,   offsetof(struct tl_fn_config, endpoint), 0, 0 },
    { "keep",               K_BOOL,       offsetof(struct tl_fn_config, keep), 0, 0 },
};

/* The keys of resources: Kubernetes quantities. */
static const struct key resource_keys[] = {
    { "cpu",                K_CPU,        offsetof(struct tl_fn_config, cpu), 0, 0 },
    { "memory",             K_MEMORY,     offsetof(struct tl_fn_config, memory), 0, 0 },
    { "cpu_limit",          K_CPU,        offsetof(struct tl_fn_config, cpu_limit), 0, 0 },
    { "memory_limit",       K_MEMORY,     offsetof(struct tl_fn_config, memory_limit), 0, 0 },
};

#define NKEYS(t) (sizeof (t) / sizeof (t)[0])

static const struct key *find_key(const struct key *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

/* "a, b, c" from a table, for the message about a key that is none of
 * them: a key added to the table is named there without more ado. */
static void key_names(const struct key *t, size_t n, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", t[i].name);
}

struct cctx {
    struct tl_config *cfg;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
};

static int fail(struct cctx *c, const yaml_node_t *node, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct cctx *c, const yaml_node_t *node, const char *key,
                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tl_yaml_verror(c->err, c->errlen, c->cfg->path, node, key, fmt, ap);
    va_end(ap);
    return -1;
}

/* Kinds whose field is an int, -1 when not given (TL_ON_FAILURE_UNSET is
 * -1 too); the others are strings, NULL when not given. */
static int int_kind(enum kind k)
{
    return k == K_INT || k == K_ON_FAILURE || k == K_BOOL;
}

static void unset(struct tl_fn_config *s)
{
    memset(s, 0, sizeof *s);   /* strings NULL */
    for (size_t i = 0; i < NKEYS(keys); i++)
        if (int_kind(keys[i].kind))
            *(int *)(void *)((char *)s + keys[i].off) = -1;
}

/* Keep a copy of a scalar alive as long as the configuration. */
static const char *keep(struct cctx *c, const yaml_node_t *v)
{
    char **grown, *s;

    s = strndup((const char *)v->data.scalar.value, v->data.scalar.length);
    if (s == NULL)
        return NULL;
    grown = realloc(c->cfg->strs, (c->cfg->nstrs + 1) * sizeof *grown);
    if (grown == NULL) {
        free(s);
        return NULL;
    }
    c->cfg->strs = grown;
    grown[c->cfg->nstrs++] = s;
    return s;
}

static int parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
        return -1;
    *out = (int)n;
    return 0;
}

static int parse_on_failure(const char *s, int *out)
{
    if (strcmp(s, "fallback") == 0)
        *out = TL_ON_FAILURE_FALLBACK;
    else if (strcmp(s, "abort") == 0)
        *out = TL_ON_FAILURE_ABORT;
    else
        return -1;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* How the k8s target reaches a Service (tl_target_k8s.c). */
static int endpoint_ok(const char *s)
{
    return strcmp(s, "nodeport") == 0 || strcmp(s, "port-forward") == 0 ||
           strcmp(s, "loadbalancer") == 0;
}

static int scalar_value(struct cctx *c, yaml_node_t *v, const char *key,
                        const char **out)
{
    if (v->type != YAML_SCALAR_NODE)
        return fail(c, v, key, "expected a single value, not a list or mapping");
    *out = (const char *)v->data.scalar.value;
    return 0;
}

static int set_string(struct cctx *c, yaml_node_t *v, const char *key,
                      const char **field)
{
    const char *s = NULL;

    if (scalar_value(c, v, key, &s) != 0)
        return -1;
    if (*s == '\0')
        return fail(c, v, key, "must not be empty");
    *field = keep(c, v);
    if (*field == NULL)
        return fail(c, v, key, "out of memory");
    return 0;
}

/*
 * A Kubernetes quantity as people write them: digits, an optional
 * fraction, then for cpu an optional "m", for memory an optional suffix
 * (Ki Mi Gi Ti Pi Ei, k M G T P E). Its value in CPUs or bytes, or -1 when
 * it is not one. The one list of suffixes: the k8s target compares
 * requests with limits through it too.
 */
double tl_config_quantity(const char *v, int memory)
{
    static const struct { const char *suffix; double factor; } mem[] = {
        { "", 1.0 }, { "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 },
        { "Ti", 1099511627776.0 }, { "Pi", 1125899906842624.0 },
        { "Ei", 1152921504606846976.0 }, { "k", 1e3 }, { "M", 1e6 }, { "G", 1e9 },
        { "T", 1e12 }, { "P", 1e15 }, { "E", 1e18 },
    };
    const char *p = v;

    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (!memory)
        return strcmp(p, "") == 0 ? strtod(v, NULL)
             : strcmp(p, "m") == 0 ? strtod(v, NULL) / 1000 : -1;
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++)
        if (strcmp(p, mem[i].suffix) == 0)
            return strtod(v, NULL) * mem[i].factor;
    return -1;
}

static int quantity_ok(const char *v, int memory)
{
    return tl_config_quantity(v, memory) >= 0;
}

static int read_resources(struct cctx *c, yaml_node_t *map, struct tl_fn_config *s)
{
    yaml_node_pair_t *p;
    char known[128];

    if (map->type != YAML_MAPPING_NODE)
        return fail(c, map, "resources", "expected a mapping with cpu and memory");
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *key = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
        const struct key *kd = find_key(resource_keys, NKEYS(resource_keys), key);
        const char **field;
        char name[32];

        if (kd == NULL) {
            key_names(resource_keys, NKEYS(resource_keys), known, sizeof known);
            return fail(c, k, key, "unknown key in resources (known: %s)", known);
        }
        snprintf(name, sizeof name, "resources.%s", kd->name);
        field = (const char **)(void *)((char *)s + kd->off);
        if (set_string(c, v, name, field) != 0)
            return -1;
        if (!quantity_ok(*field, kd->kind == K_MEMORY))
            return fail(c, v, name, "expected %s, got '%s'", kd->kind == K_MEMORY
                        ? "bytes such as 256Mi, 1Gi or 500M" : "CPUs such as 1, 0.5 or 500m",
                        *field);
    }
    return 0;
}

static int read_section(struct cctx *c, yaml_node_t *map, const char *where,
                        struct tl_fn_config *s)
{
    yaml_node_pair_t *p;

    if (map->type != YAML_MAPPING_NODE)
        return fail(c, map, where, "expected a mapping of settings");
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const struct key *kd;
        const char *key, *val = NULL;
        char *field, known[512];

        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
            return fail(c, k, where, "keys must be strings");
        key = (const char *)k->data.scalar.value;
        kd = find_key(keys, NKEYS(keys), key);
        if (kd == NULL) {
            key_names(keys, NKEYS(keys), known, sizeof known);
            return fail(c, k, key, "unknown key in %s (known: %s)", where, known);
        }
        field = (char *)s + kd->off;
        switch (kd->kind) {
        case K_STR:
            if (set_string(c, v, key, (const char **)(void *)field) != 0)
                return -1;
            break;
        case K_INT:
            if (scalar_value(c, v, key, &val) != 0)
                return -1;
            if (parse_int(val, kd->min, kd->max, (int *)(void *)field) != 0)
                return fail(c, v, key, "expected an integer from %d to %d, got '%s'",
                            kd->min, kd->max, val);
            break;
        case K_ON_FAILURE:
            if (scalar_value(c, v, key, &val) != 0)
                return -1;
            if (parse_on_failure(val, (int *)(void *)field) != 0)
                return fail(c, v, key, "expected 'fallback' or 'abort', got '%s'", val);
            break;
        case K_RESOURCES:
            if (read_resources(c, v, s) != 0)
                return -1;
            break;
        case K_BOOL:
            if (scalar_value(c, v, key, &val) != 0)
                return -1;
            if (parse_bool(val, (int *)(void *)field) != 0)
                return fail(c, v, key, "expected true or false, got '%s'", val);
            break;
        case K_ENDPOINT:
            if (set_string(c, v, key, (const char **)(void *)field) != 0)
                return -1;
            if (!endpoint_ok(*(const char **)(void *)field))
                return fail(c, v, key, "expected nodeport, port-forward or "
                            "loadbalancer, got '%s'", *(const char **)(void *)field);
            break;
        case K_CPU:
        case K_MEMORY:
            break;              /* only under resources */
        }
    }
    if (s->min_replicas > 0 && s->max_replicas > 0 && s->min_replicas > s->max_replicas)
        return fail(c, map, "min_replicas", "is larger than max_replicas in %s", where);
    return 0;
}

static int read_functions(struct cctx *c, yaml_node_t *map)
{
    yaml_node_pair_t *p;
    size_t n;

    if (map->type != YAML_MAPPING_NODE)
        return fail(c, map, "functions", "expected a mapping from function names to settings");
    n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    c->cfg->fns = calloc(n ? n : 1, sizeof *c->cfg->fns);
    if (c->cfg->fns == NULL)
        return fail(c, map, "functions", "out of memory");
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        struct tl_section *sec;
        const char *name;

        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
            return fail(c, k, "functions", "function names must be strings");
        name = (const char *)k->data.scalar.value;
        for (size_t i = 0; i < c->cfg->nfns; i++)
            if (strcmp(c->cfg->fns[i].name, name) == 0)
                return fail(c, k, name, "function given twice under functions");
        sec = &c->cfg->fns[c->cfg->nfns];
        unset(&sec->s);
        sec->name = strdup(name);
        if (sec->name == NULL)
            return fail(c, k, name, "out of memory");
        c->cfg->nfns++;
        if (read_section(c, v, name, &sec->s) != 0)
            return -1;
    }
    return 0;
}

void tl_config_free(struct tl_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->nfns; i++)
        free(cfg->fns[i].name);
    free(cfg->fns);
    for (size_t i = 0; i < cfg->nstrs; i++)
        free(cfg->strs[i]);
    free(cfg->strs);
    free(cfg->path);
    free(cfg);
}

static struct tl_config *config_new(const char *path)
{
    struct tl_config *cfg = calloc(1, sizeof *cfg);

    if (cfg == NULL)
        return NULL;
    unset(&cfg->defaults);
    if (path != NULL && (cfg->path = strdup(path)) == NULL) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

int tl_config_load_file(const char *path, struct tl_config **out,
                        char *err, size_t errlen)
{
    struct tl_config *cfg;
    yaml_document_t doc;
    int have_doc = 0, rc = -1;
    yaml_node_pair_t *p;
    yaml_node_t *root;
    struct cctx c;

    *out = NULL;
    cfg = config_new(path);
    if (cfg == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    c.cfg = cfg;
    c.doc = &doc;
    c.err = err;
    c.errlen = errlen;

    if (tl_yaml_load_file(path, "configuration", &doc, err, errlen) != 0)
        goto cleanup;
    have_doc = 1;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {          /* an empty file: all defaults */
        rc = 0;
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s:%lu: the configuration must be a mapping with "
                 "'defaults' and/or 'functions'", path,
                 (unsigned long)root->start_mark.line + 1);
        goto cleanup;
    }
    for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        const char *key;

        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
            fail(&c, k, "?", "keys must be strings");
            goto cleanup;
        }
        key = (const char *)k->data.scalar.value;
        if (strcmp(key, "defaults") == 0) {
            if (read_section(&c, v, "defaults", &cfg->defaults) != 0)
                goto cleanup;
        } else if (strcmp(key, "functions") == 0) {
            if (cfg->fns != NULL) {
                fail(&c, k, key, "given twice");
                goto cleanup;
            }
            if (read_functions(&c, v) != 0)
                goto cleanup;
        } else if (strcmp(key, "turbolift") == 0) {
            fail(&c, k, key, "this looks like a service manifest, not a configuration "
                 "(set TURBOLIFT_CONFIG to your configuration file)");
            goto cleanup;
        } else {
            fail(&c, k, key, "unknown top-level key (known: defaults, functions)");
            goto cleanup;
        }
    }
    rc = 0;
done:
    *out = cfg;
    cfg = NULL;
cleanup:
    if (have_doc)
        yaml_document_delete(&doc);
    tl_config_free(cfg);
    return rc;
}

int tl_config_load(struct tl_config **out, char *err, size_t errlen)
{
    const char *path = tl_env("TURBOLIFT_CONFIG", NULL);

    if (path != NULL)
        return tl_config_load_file(path, out, err, errlen);  /* named: must exist */
    if (access("turbolift.yaml", F_OK) == 0)
        return tl_config_load_file("turbolift.yaml", out, err, errlen);
    *out = config_new(NULL);
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int tl_cpu_count(void)
{
    cpu_set_t set;
    long n;

    /* Affinity first: under taskset or a container's cpuset, the online
     * count would overcommit the cores we may actually use. */
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Copy the fields that src sets over dst: every key of both tables. */
static void overlay_keys(struct tl_fn_config *dst, const struct tl_fn_config *src,
                         const struct key *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const void *from = (const char *)src + t[i].off;
        void *to = (char *)dst + t[i].off;

        if (t[i].kind == K_RESOURCES)
            continue;                     /* its keys: resource_keys */
        if (int_kind(t[i].kind)) {
            if (*(const int *)from >= 0)
                *(int *)to = *(const int *)from;
        } else if (*(const char *const *)from != NULL) {
            *(const char **)to = *(const char *const *)from;
        }
    }
}

static void overlay(struct tl_fn_config *dst, const struct tl_fn_config *src)
{
    overlay_keys(dst, src, keys, NKEYS(keys));
    overlay_keys(dst, src, resource_keys, NKEYS(resource_keys));
}

static int env_int(const char *name, long min, long max, int *field,
                   char *err, size_t errlen)
{
    const char *v = tl_env(name, NULL);

    if (v == NULL)
        return 0;
    if (parse_int(v, min, max, field) != 0) {
        snprintf(err, errlen, "environment variable %s: expected an integer from %ld "
                 "to %ld, got '%s'", name, min, max, v);
        return -1;
    }
    return 0;
}

int tl_config_resolve(const struct tl_config *cfg, const char *function,
                      struct tl_fn_config *out, char *err, size_t errlen)
{
    const char *v;

    /* Built-in defaults: each one works with nothing configured. */
    memset(out, 0, sizeof *out);
    out->timeout_ms = 30000;
    out->connect_timeout_ms = 2000;
    out->retries = 2;              /* 3 attempts in all */
    out->backoff_ms = 50;
    out->on_failure = TL_ON_FAILURE_FALLBACK;
    out->start_timeout_ms = 30000;
    out->replicas = tl_cpu_count();
    out->min_replicas = 1;
    out->max_replicas = out->replicas;
    out->k8s_namespace = "default";
    out->endpoint = "nodeport";    /* what the test cluster showed works */
    out->keep = 0;

    if (cfg != NULL) {
        overlay(out, &cfg->defaults);
        for (size_t i = 0; function != NULL && i < cfg->nfns; i++)
            if (strcmp(cfg->fns[i].name, function) == 0)
                overlay(out, &cfg->fns[i].s);
    }

    if (tl_log_check_env(err, errlen) != 0 || tl_codec_check_env(err, errlen) != 0)
        return -1;
    if (env_int("TURBOLIFT_TIMEOUT_MS", 1, INT_MAX, &out->timeout_ms, err, errlen) != 0 ||
        env_int("TURBOLIFT_REPLICAS", 1, 1024, &out->replicas, err, errlen) != 0 ||
        env_int("TURBOLIFT_RETRIES", 0, 100, &out->retries, err, errlen) != 0)
        return -1;
    v = tl_env("TURBOLIFT_ON_FAILURE", NULL);
    if (v != NULL && parse_on_failure(v, &out->on_failure) != 0) {
        snprintf(err, errlen, "environment variable TURBOLIFT_ON_FAILURE: expected "
                 "'fallback' or 'abort', got '%s'", v);
        return -1;
    }
    out->target = tl_env("TURBOLIFT_TARGET", out->target);
    out->token = tl_env("TURBOLIFT_TOKEN", out->token);
    out->link = tl_env("TURBOLIFT_LINK", out->link);
    /* The k8s target's settings. */
    out->k8s_namespace = tl_env("TURBOLIFT_NAMESPACE", out->k8s_namespace);
    out->registry = tl_env("TURBOLIFT_REGISTRY", out->registry);
    v = tl_env("TURBOLIFT_ENDPOINT", NULL);
    if (v != NULL) {
        if (!endpoint_ok(v)) {
            snprintf(err, errlen, "environment variable TURBOLIFT_ENDPOINT: expected "
                     "nodeport, port-forward or loadbalancer, got '%s'", v);
            return -1;
        }
        out->endpoint = v;
    }
    v = tl_env("TURBOLIFT_KEEP", NULL);
    if (v != NULL && parse_bool(v, &out->keep) != 0) {
        snprintf(err, errlen, "environment variable TURBOLIFT_KEEP: expected 1 or 0, "
                 "got '%s'", v);
        return -1;
    }
    if (out->connect_timeout_ms > out->timeout_ms)
        out->connect_timeout_ms = out->timeout_ms;
    return 0;
}
