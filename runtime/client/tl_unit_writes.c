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
 *   1. every unit's records are read into one graph (tl_unit_graph.c,
 *      read once by tl_build.c before the units are compiled); a symbol
 *      local to a file is told apart by its unit;
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
#include "tl_unit_graph.h"

#define MESSAGE_MAX ((size_t)1 << 20)
#define PATH_SHOWN 12               /* functions named in one call path  */
#define NONE TL_UNIT_GRAPH_NONE

/* " (f -> helper -> bump)" */
static int call_path(struct tl_buf *out, const struct tl_unit_graph *g, const size_t *parent,
                     size_t at)
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
    if (more > 0 &&
        tl_buf_printf(out, MESSAGE_MAX, "%s -> ... -> ", tl_unit_graph_shown(g->keys[at])) != 0)
        return -1;
    while (n-- > 0)
        if (tl_buf_printf(out, MESSAGE_MAX, "%s%s", tl_unit_graph_shown(g->keys[chain[n]]),
                          n > 0 ? " -> " : ")") != 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* 3. the warning's lines                                               */

static int public_marked_or_unknown(const struct tl_unit_graph *g, const char *name)
{
    for (size_t i = 0; i < g->nvars; i++)
        if (strcmp(g->vars[i].name, name) == 0)
            return g->vars[i].marked;
    return 1;           /* not the program's (a library's): not ours to say */
}

static int describe(struct tl_buf *out, const struct tl_unit_graph *g,
                    const struct tl_unit_record *r, const size_t *parent)
{
    int rc;

    if (r->kind == 'w')
        rc = tl_buf_printf(out, MESSAGE_MAX, "  %s: %s%s, written in %s", r->where,
                           r->thread_local ? "thread-local " : "", r->what,
                           tl_unit_graph_shown(r->fn));
    else
        rc = tl_buf_printf(out, MESSAGE_MAX, "  %s: %s() keeps hidden state in the C library, "
                           "called in %s", r->where, r->what, tl_unit_graph_shown(r->fn));
    if (rc != 0 || call_path(out, g, parent, r->fn_id) != 0)
        return -1;
    if (r->kind == 'c')
        rc = tl_buf_printf(out, MESSAGE_MAX, ": pass the state explicitly (rand_r, strtok_r) "
                           "or declare %s TURBOLIFT_STATIC", r->what);
    return rc == 0 ? tl_buf_printf(out, MESSAGE_MAX, "\n") : -1;
}

int tl_unit_writes_check(const char *function, const struct tl_unit_graph *g, char *err,
                         size_t errlen)
{
    struct tl_buf lines = { 0 };
    size_t *everywhere = NULL, *own_file = NULL, count = 0;
    int werror, rc = -1;

    everywhere = malloc((g->nkeys + 1) * sizeof *everywhere);
    own_file = malloc((g->nkeys + 1) * sizeof *own_file);
    if (everywhere == NULL || own_file == NULL || tl_unit_graph_walk(g, 0, everywhere) != 0 ||
        tl_unit_graph_walk(g, 1, own_file) != 0)
        goto oom;

    werror = g->nunits > 0 && g->werror[0];
    for (size_t i = 0; i < g->nrecords; i++) {
        const struct tl_unit_record *r = &g->records[i];

        if (r->fn_id == NONE || everywhere[r->fn_id] == NONE)
            continue;           /* not code the service runs */
        if (r->unit == 0 && own_file[r->fn_id] != NONE)
            continue;           /* the plugin warned at it (capture.cc) */
        if (r->kind == 'w' && r->public_var && public_marked_or_unknown(g, r->var))
            continue;
        if (describe(&lines, g, r, everywhere) != 0)
            goto oom;
        werror |= g->werror[r->unit];
        count++;
    }
    rc = 0;
    if (count == 0)
        goto cleanup;
    if (werror) {
        snprintf(err, errlen, "%s: the service writes variables of other files, or keeps hidden "
                 "C library state, an error under -fplugin-arg-turbolift-werror (docs/remote.md, "
                 "\"Globals the function writes\"):\n%.*s", function, (int)lines.len - 1,
                 lines.data);
        rc = -1;
        goto cleanup;
    }
    tl_log_warn("%s: the service writes variables of other files: each worker has its own "
                "copy, so the program does not see the change and calls on different workers "
                "see different values; mark a variable TURBOLIFT_STATIC if that is intended "
                "(docs/remote.md, \"Globals the function writes\"):\n%.*s", function,
                (int)lines.len - 1, lines.data);
    goto cleanup;
oom:
    snprintf(err, errlen, "out of memory");
cleanup:
    free(lines.data);
    free(everywhere);
    free(own_file);
    return rc;
}
