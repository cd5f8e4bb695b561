/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_graph.c - the program's units as one graph of what they define,
 * call and refer to, walked from a tagged function.
 *
 * The plugin compiles one file at a time; each file's unit folder holds
 * what its code defines, writes, calls and refers to (vars.txt,
 * plugin/unitvars.cc; docs/abi.md). Read together at the first call, they
 * say what the tagged function reaches across files, before anything is
 * compiled:
 *
 *   1. every record is read; a symbol local to a file is keyed by its unit
 *      ("3#name"), one the link resolves by its name;
 *   2. every key once, sorted; the edges by their origin;
 *   3. breadth first from the tagged function: each key reached, with the
 *      key that reached it (a shortest call path).
 *
 * tl_build.c compiles and links only the units that define something
 * reached (a program of many files whose service needs a few compiles a
 * few); tl_unit_writes.c warns at the writes in reached code.
 */
#define _GNU_SOURCE
#include "tl_unit_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE TL_UNIT_GRAPH_NONE

/* ------------------------------------------------------------------ */
/* 1. the units' records                                                */

static char *key_of(size_t unit, const char *name, char scope)
{
    char *key = NULL;

    if (scope == 'l')
        return asprintf(&key, "%zu#%s", unit, name) < 0 ? NULL : key;
    return strdup(name);
}

const char *tl_unit_graph_shown(const char *key)
{
    const char *hash = strchr(key, '#');

    return hash != NULL ? hash + 1 : key;
}

/* Room for one more of n elements of size bytes: 16, then doubled. */
static int grow(void **v, size_t n, size_t size)
{
    void *grown;

    if (n != 0 && (n < 16 || (n & (n - 1)) != 0))
        return 0;
    grown = realloc(*v, (n == 0 ? 16 : n * 2) * size);
    if (grown == NULL)
        return -1;
    *v = grown;
    return 0;
}

struct unit_reader {
    struct tl_unit_graph *g;
    size_t unit;
};

static int read_ref(struct tl_unit_graph *g, size_t unit, const char *from, char from_scope,
                    const char *to, char to_scope)
{
    struct tl_unit_edge *e;

    if (grow((void **)&g->edges, g->nedges, sizeof *g->edges) != 0)
        return -1;
    e = &g->edges[g->nedges];
    *e = (struct tl_unit_edge){ key_of(unit, from, from_scope), key_of(unit, to, to_scope), 0,
                                0, unit };
    if (e->from == NULL || e->to == NULL) {
        free(e->from);
        free(e->to);
        return -1;
    }
    g->nedges++;
    return 0;
}

/* A record of a unit's function fn about what, at file:at ("LINE:COL");
 * NULL when out of memory (what was made is freed with the graph). */
static struct tl_unit_record *add_record(struct tl_unit_graph *g, char kind, size_t unit,
                                         const char *fn, char fn_scope, const char *what,
                                         const char *file, const char *at)
{
    struct tl_unit_record *r;

    if (grow((void **)&g->records, g->nrecords, sizeof *g->records) != 0)
        return NULL;
    r = &g->records[g->nrecords++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->unit = unit;
    r->fn = key_of(unit, fn, fn_scope);
    r->what = strdup(what);
    if (asprintf(&r->where, "%s:%s", file, at) < 0)
        r->where = NULL;
    return r->fn && r->what && r->where ? r : NULL;
}

static int parse_line(void *arg, char *line)
{
    struct unit_reader *reader = arg;
    struct tl_unit_graph *g = reader->g;
    size_t unit = reader->unit;
    char a[512], b[512], c[512], at[64];
    char sa, sb, flag;
    int n = 0;

    if (strcmp(line, "werror=1") == 0) {
        g->werror[unit] = 1;
        return 0;
    }
    if (sscanf(line, "def=%511s %c", a, &sa) == 2) {
        struct tl_unit_def *d;

        if (grow((void **)&g->defs, g->ndefs, sizeof *g->defs) != 0)
            return -1;
        d = &g->defs[g->ndefs];
        *d = (struct tl_unit_def){ key_of(unit, a, sa), unit, NONE };
        if (d->key == NULL)
            return -1;
        g->ndefs++;
        g->described[unit] = 1;
        return 0;
    }
    if (sscanf(line, "ref=%511s %c %511s %c", a, &sa, b, &sb) == 4)
        return read_ref(g, unit, a, sa, b, sb);
    if (sscanf(line, "write=%511s %c %511s %c %c %63s %511s %n", a, &sa, b, &sb, &flag, at, c,
               &n) == 7 && n > 0) {
        struct tl_unit_record *r = add_record(g, 'w', unit, b, sb, c, line + n, at);

        if (r == NULL || (r->var = key_of(unit, a, sa)) == NULL)
            return -1;
        r->public_var = sa == 'g';
        r->thread_local = flag == 't';
        return 0;
    }
    if (sscanf(line, "libc=%511s %511s %c %63s %n", a, b, &sb, at, &n) == 4 && n > 0)
        return add_record(g, 'c', unit, b, sb, a, line + n, at) != NULL ? 0 : -1;
    if (sscanf(line, "var=%511s %511s %511s", a, b, c) == 3 && strchr(c, 's') == NULL) {
        struct tl_unit_public_var *v;

        if (grow((void **)&g->vars, g->nvars, sizeof *g->vars) != 0)
            return -1;
        v = &g->vars[g->nvars];
        *v = (struct tl_unit_public_var){ strdup(a), strchr(c, 'k') != NULL };
        if (v->name == NULL)
            return -1;
        g->nvars++;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* 2. the index                                                         */

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t id_of(const struct tl_unit_graph *g, const char *key)
{
    char **found = bsearch(&key, g->keys, g->nkeys, sizeof *g->keys, by_string);

    return found != NULL ? (size_t)(found - g->keys) : NONE;
}

static int by_from(const void *a, const void *b)
{
    const struct tl_unit_edge *x = a, *y = b;

    return x->from_id < y->from_id ? -1 : x->from_id > y->from_id;
}

static int index_graph(struct tl_unit_graph *g, char *root)
{
    size_t n = 0;

    /* root may be NULL: nothing is reached */
    g->keys = malloc((2 * g->nedges + g->nrecords + g->ndefs + 1) * sizeof *g->keys);
    if (g->keys == NULL)
        return -1;
    for (size_t i = 0; i < g->nedges; i++) {
        g->keys[n++] = g->edges[i].from;
        g->keys[n++] = g->edges[i].to;
    }
    for (size_t i = 0; i < g->nrecords; i++)
        g->keys[n++] = g->records[i].fn;
    for (size_t i = 0; i < g->ndefs; i++)
        g->keys[n++] = g->defs[i].key;
    if (root != NULL)
        g->keys[n++] = root;
    qsort(g->keys, n, sizeof *g->keys, by_string);
    g->nkeys = 0;
    for (size_t i = 0; i < n; i++)
        if (g->nkeys == 0 || strcmp(g->keys[g->nkeys - 1], g->keys[i]) != 0)
            g->keys[g->nkeys++] = g->keys[i];
    for (size_t i = 0; i < g->nedges; i++) {
        g->edges[i].from_id = id_of(g, g->edges[i].from);
        g->edges[i].to_id = id_of(g, g->edges[i].to);
    }
    for (size_t i = 0; i < g->nrecords; i++)
        g->records[i].fn_id = id_of(g, g->records[i].fn);
    for (size_t i = 0; i < g->ndefs; i++)
        g->defs[i].id = id_of(g, g->defs[i].key);
    g->root = root != NULL ? id_of(g, root) : NONE;
    if (g->nedges > 0)
        qsort(g->edges, g->nedges, sizeof *g->edges, by_from);
    g->first = calloc(g->nkeys + 1, sizeof *g->first);
    if (g->first == NULL)
        return -1;
    for (size_t i = 0, e = 0; i <= g->nkeys; i++) {
        while (e < g->nedges && g->edges[e].from_id < i)
            e++;
        g->first[i] = e;
    }
    return 0;
}

int tl_unit_graph_read(struct tl_unit_graph *g, const char *function,
                       const struct tl_unit_ref *units, size_t nunits)
{
    char *root = NULL;

    memset(g, 0, sizeof *g);
    g->nunits = nunits;
    g->root = NONE;
    g->werror = calloc(nunits + 1, sizeof *g->werror);
    g->described = calloc(nunits + 1, sizeof *g->described);
    if (g->werror == NULL || g->described == NULL)
        return -1;
    for (size_t i = 0; i < nunits; i++) {
        struct unit_reader reader = { g, i };

        /* a folder without vars.txt adds nothing (and is not described) */
        if (tl_unit_vars_lines(units[i].dir, parse_line, &reader) < 0)
            return -1;
    }
    /* the tagged function, defined in its own file (a static or a public
     * one); a file an older plugin described says nothing of it, and
     * then nothing counts as reached */
    for (size_t i = 0; i < g->ndefs && root == NULL; i++)
        if (g->defs[i].unit == 0 && strcmp(tl_unit_graph_shown(g->defs[i].key), function) == 0)
            root = g->defs[i].key;
    return index_graph(g, root);
}

/* ------------------------------------------------------------------ */
/* 3. the walk                                                          */

int tl_unit_graph_walk(const struct tl_unit_graph *g, int own_unit_only, size_t *parent)
{
    size_t *queue, head = 0, tail = 0;

    for (size_t i = 0; i < g->nkeys; i++)
        parent[i] = NONE;
    if (g->root == NONE)
        return 0;
    queue = malloc(g->nkeys * sizeof *queue);
    if (queue == NULL)
        return -1;
    parent[g->root] = g->root;
    queue[tail++] = g->root;
    while (head < tail) {
        size_t at = queue[head++];

        for (size_t e = g->first[at]; e < g->first[at + 1]; e++) {
            size_t to = g->edges[e].to_id;

            if ((own_unit_only && g->edges[e].unit != 0) || parent[to] != NONE)
                continue;
            parent[to] = at;
            queue[tail++] = to;
        }
    }
    free(queue);
    return 0;
}

int tl_unit_graph_needed(const struct tl_unit_graph *g, int *needed)
{
    size_t *parent = malloc((g->nkeys + 1) * sizeof *parent);

    if (parent == NULL || tl_unit_graph_walk(g, 0, parent) != 0) {
        free(parent);
        return -1;
    }
    for (size_t i = 0; i < g->nunits; i++)
        needed[i] = i == 0 || !g->described[i] || g->root == NONE;
    for (size_t i = 0; i < g->ndefs; i++)
        if (g->defs[i].id != NONE && parent[g->defs[i].id] != NONE)
            needed[g->defs[i].unit] = 1;
    free(parent);
    return 0;
}

void tl_unit_graph_free(struct tl_unit_graph *g)
{
    for (size_t i = 0; i < g->nedges; i++) {
        free(g->edges[i].from);
        free(g->edges[i].to);
    }
    for (size_t i = 0; i < g->nrecords; i++) {
        free(g->records[i].fn);
        free(g->records[i].var);
        free(g->records[i].what);
        free(g->records[i].where);
    }
    for (size_t i = 0; i < g->ndefs; i++)
        free(g->defs[i].key);
    for (size_t i = 0; i < g->nvars; i++)
        free(g->vars[i].name);
    free(g->edges);
    free(g->records);
    free(g->defs);
    free(g->vars);
    free(g->keys);
    free(g->first);
    free(g->werror);
    free(g->described);
    memset(g, 0, sizeof *g);
}
