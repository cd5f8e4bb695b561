/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_writes.c - after a service's link: warn at each write that code
 * of the program's other files makes in the service (docs/remote.md,
 * "Globals the function writes").
 *
 * A service runs in other processes: a variable its code writes changes in
 * that worker only, the program never sees it, and calls on different
 * workers see different values. The plugin warns at such writes in the
 * tagged function's own file (plugin/capture.cc), but compiling one file it
 * cannot know what code of other files the function reaches. The link
 * knows which files the service holds; each unit's vars.txt says what its
 * code writes, which C library functions with hidden state it calls, and
 * what it calls or refers to (plugin/unitvars.cc). So, here:
 *
 *   1. every unit's records are read; a symbol local to a file is told
 *      apart by its unit ("3#name"), one the link resolves by its name;
 *   2. from the tagged function, breadth first over the calls and
 *      references of all units: the service's code, each with a shortest
 *      call path; and once more over the tagged file's own edges only,
 *      which is what the plugin already looked at;
 *   3. each write (and hidden-state call) in code the service runs that
 *      the plugin did not look at is one line of one warning, with its
 *      place, its variable and the call path; under
 *      -fplugin-arg-turbolift-werror (in the tagged file or the writing
 *      one) it is an error instead, and the service is not used.
 *
 * Runs once per link, as a compile's warnings run once per compile: a
 * cached service is not linked again.
 */
#define _GNU_SOURCE
#include "tl_unit_writes.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_buf.h"
#include "tl_log.h"

#define MESSAGE_MAX ((size_t)1 << 20)
#define PATH_SHOWN 12               /* functions named in one call path  */
#define NONE SIZE_MAX

struct edge {
    char *from, *to;
    size_t from_id, to_id;
    size_t unit;
};

struct record {
    char kind;                      /* 'w' a write, 'c' a libc call      */
    size_t unit;
    char *fn;                       /* key of the function it is in      */
    char *var;                      /* 'w': key of the variable          */
    char *what;                     /* 'w': the name as written;
                                       'c': the C library function       */
    int public_var, thread_local;
    char *where;                    /* file:line:col                     */
    size_t fn_id;
};

struct public_var {
    char *name;
    int marked;                     /* TURBOLIFT_STATIC where defined    */
};

struct graph {
    struct edge *edges;
    size_t nedges;
    struct record *records;
    size_t nrecords;
    struct public_var *vars;
    size_t nvars;
    char **keys;                    /* sorted, unique                    */
    size_t nkeys;
    size_t *first;                  /* nkeys + 1: edges from key i are
                                       edges[first[i] .. first[i + 1])   */
    int *werror;                    /* per unit                          */
};

/* ------------------------------------------------------------------ */
/* 1. the units' records                                                */

static char *key_of(size_t unit, const char *name, char scope)
{
    char *key = NULL;

    if (scope == 'l')
        return asprintf(&key, "%zu#%s", unit, name) < 0 ? NULL : key;
    return strdup(name);
}

/* The name a key shows: "3#note" -> "note". */
static const char *shown(const char *key)
{
    const char *hash = strchr(key, '#');

    return hash != NULL ? hash + 1 : key;
}

static int grow(void **v, size_t n, size_t size)
{
    void *grown;

    if (n != 0 && (n < 16 || (n & (n - 1)) != 0))
        return 0;                   /* room left: 16, then doubled when full */
    grown = realloc(*v, (n == 0 ? 16 : n * 2) * size);
    if (grown == NULL)
        return -1;
    *v = grown;
    return 0;
}

struct unit_reader {
    struct graph *g;
    size_t unit;
};

static int parse_line(void *arg, char *line)
{
    struct unit_reader *reader = arg;
    struct graph *g = reader->g;
    size_t unit = reader->unit;
    char a[512], b[512], c[512], d[512], at[64];
    char sa, sb, flag;
    int n = 0;

    if (strcmp(line, "werror=1") == 0) {
        g->werror[unit] = 1;
        return 0;
    }
    if (sscanf(line, "ref=%511s %c %511s %c", a, &sa, b, &sb) == 4) {
        struct edge *e;

        if (grow((void **)&g->edges, g->nedges, sizeof *g->edges) != 0)
            return -1;
        e = &g->edges[g->nedges];
        *e = (struct edge){ key_of(unit, a, sa), key_of(unit, b, sb), 0, 0, unit };
        if (e->from == NULL || e->to == NULL) {
            free(e->from);
            free(e->to);
            return -1;
        }
        g->nedges++;
        return 0;
    }
    if (sscanf(line, "write=%511s %c %511s %c %c %63s %511s %n", a, &sa, b, &sb, &flag, at, c,
               &n) == 7 && n > 0) {
        struct record *r;

        if (grow((void **)&g->records, g->nrecords, sizeof *g->records) != 0)
            return -1;
        r = &g->records[g->nrecords];
        *r = (struct record){ .kind = 'w', .unit = unit, .fn = key_of(unit, b, sb),
                              .var = key_of(unit, a, sa), .what = strdup(c),
                              .public_var = sa == 'g', .thread_local = flag == 't' };
        if (asprintf(&r->where, "%s:%s", line + n, at) < 0)
            r->where = NULL;
        g->nrecords++;
        return r->fn && r->var && r->what && r->where ? 0 : -1;
    }
    if (sscanf(line, "libc=%511s %511s %c %63s %n", a, b, &sb, at, &n) == 4 && n > 0) {
        struct record *r;

        if (grow((void **)&g->records, g->nrecords, sizeof *g->records) != 0)
            return -1;
        r = &g->records[g->nrecords];
        *r = (struct record){ .kind = 'c', .unit = unit, .fn = key_of(unit, b, sb),
                              .what = strdup(a) };
        if (asprintf(&r->where, "%s:%s", line + n, at) < 0)
            r->where = NULL;
        g->nrecords++;
        return r->fn && r->what && r->where ? 0 : -1;
    }
    if (sscanf(line, "var=%511s %511s %511s", a, d, c) == 3 && strchr(c, 's') == NULL) {
        struct public_var *v;

        if (grow((void **)&g->vars, g->nvars, sizeof *g->vars) != 0)
            return -1;
        v = &g->vars[g->nvars];
        *v = (struct public_var){ strdup(a), strchr(c, 'k') != NULL };
        if (v->name == NULL)
            return -1;
        g->nvars++;
    }
    return 0;
}

/* 0, or -1 when out of memory; a unit without vars.txt (an older plugin's:
 * tl_unit_globals.c says so) adds nothing. */
static int read_unit(struct graph *g, size_t unit, const char *dir)
{
    struct unit_reader reader = { g, unit };

    return tl_unit_vars_lines(dir, parse_line, &reader) < 0 ? -1 : 0;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t id_of(const struct graph *g, const char *key)
{
    char **found = bsearch(&key, g->keys, g->nkeys, sizeof *g->keys, by_string);

    return found != NULL ? (size_t)(found - g->keys) : NONE;
}

static int by_from(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;

    return x->from_id < y->from_id ? -1 : x->from_id > y->from_id;
}

/* Every key once, sorted; edges by their origin. */
static int index_graph(struct graph *g, const char *root)
{
    size_t n = 0;

    g->keys = malloc((2 * g->nedges + g->nrecords + 1) * sizeof *g->keys);
    if (g->keys == NULL)
        return -1;
    for (size_t i = 0; i < g->nedges; i++) {
        g->keys[n++] = g->edges[i].from;
        g->keys[n++] = g->edges[i].to;
    }
    for (size_t i = 0; i < g->nrecords; i++)
        g->keys[n++] = g->records[i].fn;
    g->keys[n++] = (char *)root;
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

/* ------------------------------------------------------------------ */
/* 2. what the service runs, from the tagged function                   */

/* parent[i]: the key that reached i first (root: itself), NONE when not
 * reached; own_unit_only: only the edges of units[0]. */
static int walk(const struct graph *g, size_t root, int own_unit_only, size_t *parent)
{
    size_t *queue = malloc(g->nkeys * sizeof *queue), head = 0, tail = 0;

    if (queue == NULL)
        return -1;
    for (size_t i = 0; i < g->nkeys; i++)
        parent[i] = NONE;
    parent[root] = root;
    queue[tail++] = root;
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

/* " (f -> helper -> bump)" */
static int call_path(struct tl_buf *out, const struct graph *g, const size_t *parent, size_t at)
{
    size_t chain[PATH_SHOWN], n = 0, more = 0;

    for (;;) {
        if (n < PATH_SHOWN)
            chain[n++] = at;
        else
            more++;
        if (parent[at] == at)
            break;
        at = parent[at];
    }
    if (tl_buf_printf(out, MESSAGE_MAX, " (") != 0)
        return -1;
    /* the shown part starts at the tagged function when the path is long:
     * its first steps say where, its last one what */
    if (more > 0 && tl_buf_printf(out, MESSAGE_MAX, "%s -> ... -> ", shown(g->keys[at])) != 0)
        return -1;
    while (n-- > 0)
        if (tl_buf_printf(out, MESSAGE_MAX, "%s%s", shown(g->keys[chain[n]]),
                          n > 0 ? " -> " : ")") != 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* 3. the warning                                                       */

static int public_marked_or_unknown(const struct graph *g, const char *name)
{
    for (size_t i = 0; i < g->nvars; i++)
        if (strcmp(g->vars[i].name, name) == 0)
            return g->vars[i].marked;
    return 1;           /* not the program's (a library's): not ours to say */
}

static int describe(struct tl_buf *out, const struct graph *g, const struct record *r,
                    const size_t *parent)
{
    int rc;

    if (r->kind == 'w')
        rc = tl_buf_printf(out, MESSAGE_MAX, "  %s: %s%s, written in %s", r->where,
                           r->thread_local ? "thread-local " : "", r->what, shown(r->fn));
    else
        rc = tl_buf_printf(out, MESSAGE_MAX, "  %s: %s() keeps hidden state in the C library, "
                           "called in %s", r->where, r->what, shown(r->fn));
    if (rc != 0 || call_path(out, g, parent, r->fn_id) != 0)
        return -1;
    if (r->kind == 'c')
        rc = tl_buf_printf(out, MESSAGE_MAX, ": pass the state explicitly (rand_r, strtok_r) "
                           "or declare %s TURBOLIFT_STATIC", r->what);
    return rc == 0 ? tl_buf_printf(out, MESSAGE_MAX, "\n") : -1;
}

static void graph_free(struct graph *g, size_t nunits)
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
    for (size_t i = 0; i < g->nvars; i++)
        free(g->vars[i].name);
    free(g->edges);
    free(g->records);
    free(g->vars);
    free(g->keys);
    free(g->first);
    free(g->werror);
    (void)nunits;
}

int tl_unit_writes_check(const char *function, const struct tl_unit_ref *units, size_t nunits,
                         char *err, size_t errlen)
{
    struct graph g = { .edges = NULL };
    struct tl_buf lines = { 0 };
    size_t *everywhere = NULL, *own_file = NULL, root, count = 0;
    char *root_key = NULL;
    int werror, rc = -1;

    g.werror = calloc(nunits + 1, sizeof *g.werror);
    if (g.werror == NULL)
        goto oom;
    for (size_t i = 0; i < nunits; i++)
        if (read_unit(&g, i, units[i].dir) != 0)
            goto oom;
    /* the tagged function: a static of its own file, or a public one */
    if (asprintf(&root_key, "0#%s", function) < 0) {
        root_key = NULL;
        goto oom;
    }
    for (size_t i = 0; i < g.nedges; i++)
        if (strcmp(g.edges[i].from, root_key) == 0)
            break;
        else if (i + 1 == g.nedges)
            snprintf(root_key, strlen(root_key) + 1, "%s", function);
    if (index_graph(&g, root_key) != 0)
        goto oom;
    root = id_of(&g, root_key);
    everywhere = malloc((g.nkeys + 1) * sizeof *everywhere);
    own_file = malloc((g.nkeys + 1) * sizeof *own_file);
    if (everywhere == NULL || own_file == NULL || walk(&g, root, 0, everywhere) != 0 ||
        walk(&g, root, 1, own_file) != 0)
        goto oom;

    werror = g.werror[0];
    for (size_t i = 0; i < g.nrecords; i++) {
        const struct record *r = &g.records[i];

        if (r->fn_id == NONE || everywhere[r->fn_id] == NONE)
            continue;           /* not code the service runs */
        if (r->unit == 0 && own_file[r->fn_id] != NONE)
            continue;           /* the plugin warned at it (capture.cc) */
        if (r->kind == 'w' && r->public_var && public_marked_or_unknown(&g, r->var))
            continue;
        if (describe(&lines, &g, r, everywhere) != 0)
            goto oom;
        werror |= g.werror[r->unit];
        count++;
    }
    rc = 0;
    if (count == 0)
        goto cleanup;
    if (werror) {
        snprintf(err, errlen, "%s: the service writes variables of other files, or keeps hidden "
                 "C library state, an error under -fplugin-arg-turbolift-werror (docs/remote.md, "
                 "\"Globals the function writes\"):\n%.*s", function, (int)lines.len - 1, lines.data);
        rc = -1;
        goto cleanup;
    }
    tl_log_warn("%s: the service writes variables of other files: each worker has its own "
                "copy, so the program does not see the change and calls on different workers "
                "see different values; mark a variable TURBOLIFT_STATIC if that is intended "
                "(docs/remote.md, \"Globals the function writes\"):\n%.*s", function, (int)lines.len - 1, lines.data);
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    graph_free(&g, nunits);
    free(lines.data);
    free(everywhere);
    free(own_file);
    free(root_key);
    return rc;
}
