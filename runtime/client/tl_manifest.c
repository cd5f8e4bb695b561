/* SPDX-License-Identifier: MIT */
/*
 * tl_manifest.c - read the manifest the plugin wrote for one tagged function.
 *
 * The manifest is YAML written with libyaml by the plugin; we read it with
 * libyaml's document API (never by hand) so quoting, flow and block styles
 * and comments all behave as YAML says. Every error names the file, the line
 * and the key, because the user will be looking at that file when it fails.
 */
#define _GNU_SOURCE   /* strndup, asprintf */
#include "tl_manifest.h"
#include "tl_build.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "tl_abi.h"
#include "tl_log.h"
#include "tl_yaml_read.h"

/* Reading one document; path only for messages. */
struct mctx {
    const char *path;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
};

static int fail(struct mctx *c, const yaml_node_t *node, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct mctx *c, const yaml_node_t *node, const char *key,
                const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tl_yaml_verror(c->err, c->errlen, c->path, node, key, fmt, ap);
    va_end(ap);
    return -1;
}

static int get_string(struct mctx *c, yaml_node_t *v, const char *key, char **out)
{
    if (v->type != YAML_SCALAR_NODE)
        return fail(c, v, key, "expected a string");
    free(*out);   /* a key given twice: the last one wins, as in YAML 1.1 loaders */
    *out = strndup((const char *)v->data.scalar.value, v->data.scalar.length);
    if (*out == NULL)
        return fail(c, v, key, "out of memory");
    return 0;
}

static int get_int(struct mctx *c, yaml_node_t *v, const char *key, int *out)
{
    const char *s;
    char *end;
    long n;

    if (v->type != YAML_SCALAR_NODE)
        return fail(c, v, key, "expected an integer");
    s = (const char *)v->data.scalar.value;
    errno = 0;
    n = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || n < INT_MIN || n > INT_MAX)
        return fail(c, v, key, "expected an integer, got '%s'", s);
    *out = (int)n;
    return 0;
}

static void strlist_clear(struct tl_strlist *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

/* The string value of `field` in the map node e, or NULL. */
static yaml_node_t *map_field(struct mctx *c, yaml_node_t *e, const char *field)
{
    for (yaml_node_pair_t *pair = e->data.mapping.pairs.start;
         pair < e->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
        yaml_node_t *val = yaml_document_get_node(c->doc, pair->value);

        if (k != NULL && val != NULL && k->type == YAML_SCALAR_NODE &&
            val->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, field) == 0)
            return val;
    }
    return NULL;
}

/* A list of strings; with field, a list of maps of which each one's
 * `field` is taken (captured: {name, type, source} gives the names, which
 * the stub sends itself; tl_unit_globals.c leaves them out of its list). */
static int get_strlist(struct mctx *c, yaml_node_t *v, const char *key, const char *field,
                       struct tl_strlist *out)
{
    yaml_node_item_t *it;
    size_t n, i = 0;

    if (v->type != YAML_SEQUENCE_NODE)
        return fail(c, v, key, field ? "expected a list of maps" : "expected a list of strings");
    strlist_clear(out);
    n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    out->items = calloc(n + 1, sizeof *out->items);
    if (out->items == NULL)
        return fail(c, v, key, "out of memory");
    for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++, i++) {
        yaml_node_t *e = yaml_document_get_node(c->doc, *it);

        if (e == NULL || e->type != (field ? YAML_MAPPING_NODE : YAML_SCALAR_NODE))
            return fail(c, e ? e : v, key, "item %zu is not a %s", i, field ? "map" : "string");
        if (field != NULL && (e = map_field(c, e, field)) == NULL)
            continue;
        out->items[out->count] = strndup((const char *)e->data.scalar.value,
                                         e->data.scalar.length);
        if (out->items[out->count] == NULL)
            return fail(c, e, key, "out of memory");
        out->count++;
    }
    return 0;
}

/* Make *p ("service.o") relative to the manifest's folder, in place;
 * absolute paths and absent keys (NULL) stay. -1 when out of memory. */
static int resolve(const char *dir, char **p)
{
    char *r;

    if (*p == NULL || (*p)[0] == '/')
        return 0;
    if (asprintf(&r, "%s/%s", dir, *p) < 0)
        return -1;
    free(*p);
    *p = r;
    return 0;
}

void tl_manifest_free(struct tl_manifest *m)
{
    if (m == NULL)
        return;
    free(m->path);
    free(m->dir);
    free(m->function);
    free(m->target);
    free(m->signature);
    free(m->hash);
    free(m->source);
    free(m->compiler);
    strlist_clear(&m->compile_flags);
    strlist_clear(&m->link_flags);
    free(m->service_source);
    free(m->service_object);
    free(m->unit);
    strlist_clear(&m->external_symbols);
    strlist_clear(&m->captured);
    free(m);
}

static int read_pairs(struct mctx *c, yaml_node_t *root, struct tl_manifest *m)
{
    yaml_node_pair_t *p;

    for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *key;
        int rc;

        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE)
            return fail(c, k, "?", "keys must be strings");
        key = (const char *)k->data.scalar.value;

        if (strcmp(key, TL_ABI_MAN_VERSION) == 0)               rc = get_int(c, v, key, &m->version);
        else if (strcmp(key, TL_ABI_MAN_FUNCTION) == 0)         rc = get_string(c, v, key, &m->function);
        else if (strcmp(key, TL_ABI_MAN_TARGET) == 0)           rc = get_string(c, v, key, &m->target);
        else if (strcmp(key, TL_ABI_MAN_SIGNATURE) == 0)        rc = get_string(c, v, key, &m->signature);
        else if (strcmp(key, TL_ABI_MAN_HASH) == 0)             rc = get_string(c, v, key, &m->hash);
        else if (strcmp(key, TL_ABI_MAN_SOURCE) == 0)           rc = get_string(c, v, key, &m->source);
        else if (strcmp(key, TL_ABI_MAN_LINE) == 0)             rc = get_int(c, v, key, &m->line);
        else if (strcmp(key, TL_ABI_MAN_COMPILER) == 0)         rc = get_string(c, v, key, &m->compiler);
        else if (strcmp(key, TL_ABI_MAN_COMPILE_FLAGS) == 0)    rc = get_strlist(c, v, key, NULL, &m->compile_flags);
        else if (strcmp(key, TL_ABI_MAN_LINK_FLAGS) == 0)       rc = get_strlist(c, v, key, NULL, &m->link_flags);
        else if (strcmp(key, TL_ABI_MAN_SERVICE_SOURCE) == 0)   rc = get_string(c, v, key, &m->service_source);
        else if (strcmp(key, TL_ABI_MAN_SERVICE_OBJECT) == 0)   rc = get_string(c, v, key, &m->service_object);
        else if (strcmp(key, TL_ABI_MAN_EXTERNAL_SYMBOLS) == 0) rc = get_strlist(c, v, key, NULL, &m->external_symbols);
        else if (strcmp(key, TL_ABI_MAN_UNIT) == 0)             rc = get_string(c, v, key, &m->unit);
        else if (strcmp(key, TL_ABI_MAN_CAPTURED) == 0)         rc = get_strlist(c, v, key, "name", &m->captured);
        else {
            /* The plugin may add keys in a later version 1 manifest; "turbolift:"
             * is what gates incompatible changes. So: tolerate, but say so. */
            tl_log_debug("%s:%lu: ignoring unknown manifest key '%s'", c->path,
                         (unsigned long)k->start_mark.line + 1, key);
            rc = 0;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int check_required(struct mctx *c, yaml_node_t *root, struct tl_manifest *m)
{
    static const struct { const char *key; size_t off; } req[] = {
        { TL_ABI_MAN_FUNCTION,       offsetof(struct tl_manifest, function) },
        { TL_ABI_MAN_TARGET,         offsetof(struct tl_manifest, target) },
        { TL_ABI_MAN_SIGNATURE,      offsetof(struct tl_manifest, signature) },
        { TL_ABI_MAN_HASH,           offsetof(struct tl_manifest, hash) },
        { TL_ABI_MAN_COMPILER,       offsetof(struct tl_manifest, compiler) },
        { TL_ABI_MAN_SERVICE_OBJECT, offsetof(struct tl_manifest, service_object) },
    };

    if (m->version == 0)
        return fail(c, root, TL_ABI_MAN_VERSION, "missing (expected '%s: %d')",
                    TL_ABI_MAN_VERSION, TL_ABI_MANIFEST_VERSION);
    if (m->version != TL_ABI_MANIFEST_VERSION)
        return fail(c, root, TL_ABI_MAN_VERSION, "version %d is not supported (this runtime "
                    "reads %d)", m->version, TL_ABI_MANIFEST_VERSION);
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        char *const *field = (char *const *)((const char *)m + req[i].off);
        if (*field == NULL || **field == '\0')
            return fail(c, root, req[i].key, "missing");
    }
    return 0;
}

int tl_manifest_load(const char *service_dir, struct tl_manifest **out,
                     char *err, size_t errlen)
{
    struct tl_manifest *m = NULL;
    yaml_document_t doc;
    int have_doc = 0, rc = -1;
    yaml_node_t *root;
    struct mctx c;

    *out = NULL;
    m = calloc(1, sizeof *m);
    if (m == NULL || asprintf(&m->path, "%s/" TL_ABI_MANIFEST_FILE, service_dir) < 0) {
        if (m) m->path = NULL;
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    m->dir = strdup(service_dir);
    if (m->dir == NULL) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    c.path = m->path;
    c.doc = &doc;
    c.err = err;
    c.errlen = errlen;

    if (access(service_dir, F_OK) != 0) {
        snprintf(err, errlen, "the service folder %s does not exist: " TL_BUILD_FOLDER_GONE,
                 service_dir);
        goto cleanup;
    }
    if (tl_yaml_load_file(m->path, "manifest", &doc, err, errlen) != 0)
        goto cleanup;
    have_doc = 1;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s:%lu: the manifest must be a mapping of keys", m->path,
                 root ? (unsigned long)root->start_mark.line + 1 : 1UL);
        goto cleanup;
    }
    if (read_pairs(&c, root, m) != 0 || check_required(&c, root, m) != 0)
        goto cleanup;

    if (resolve(m->dir, &m->service_object) != 0 ||
        resolve(m->dir, &m->service_source) != 0 || resolve(m->dir, &m->unit) != 0) {
        snprintf(err, errlen, "%s: out of memory", c.path);
        goto cleanup;
    }
    *out = m;
    m = NULL;
    rc = 0;
cleanup:
    if (have_doc)
        yaml_document_delete(&doc);
    tl_manifest_free(m);
    return rc;
}
