/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_graph.h - what the program's units define, write, call and refer
 * to (their vars.txt, plugin/unitvars.cc; docs/abi.md), as one graph
 * walked from a tagged function: which units its service needs
 * (tl_build.c) and which writes it makes (tl_unit_writes.c).
 */
#ifndef TL_UNIT_GRAPH_H
#define TL_UNIT_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "tl_unit_globals.h"

#define TL_UNIT_GRAPH_NONE SIZE_MAX

/* A call or reference; a symbol local to a file is keyed "<unit>#<name>",
 * one the link resolves by its name. */
struct tl_unit_edge {
    char *from, *to;
    size_t from_id, to_id;
    size_t unit;                    /* whose record it is                */
};

/* A store to a global ('w') or a call of a C library function with hidden
 * state ('c') in a function of a unit. */
struct tl_unit_record {
    char kind;
    size_t unit;
    char *fn;                       /* key of the function it is in      */
    char *var;                      /* 'w': key of the variable          */
    char *what;                     /* 'w': the name as written;
                                       'c': the C library function       */
    int public_var, thread_local;
    char *where;                    /* file:line:col                     */
    size_t fn_id;
};

/* Something a unit defines. */
struct tl_unit_def {
    char *key;
    size_t unit, id;
};

/* A public variable a unit defines, and whether it is TURBOLIFT_STATIC. */
struct tl_unit_public_var {
    char *name;
    int marked;
};

struct tl_unit_graph {
    size_t nunits;
    struct tl_unit_edge *edges;
    size_t nedges;
    struct tl_unit_record *records;
    size_t nrecords;
    struct tl_unit_def *defs;
    size_t ndefs;
    struct tl_unit_public_var *vars;
    size_t nvars;
    char **keys;                    /* sorted, unique                    */
    size_t nkeys;
    size_t *first;                  /* nkeys + 1: edges from key i are
                                       edges[first[i] .. first[i + 1])   */
    int *werror;                    /* per unit: -fplugin-arg-turbolift-werror */
    int *described;                 /* per unit: it has def= records     */
    size_t root;                    /* the tagged function's key, or NONE  */
};

/* Read units[0..nunits) (units[0]: the tagged function's own file) and
 * index them, from `function`. 0, or -1 when out of memory. */
int tl_unit_graph_read(struct tl_unit_graph *g, const char *function,
                       const struct tl_unit_ref *units, size_t nunits);
/* Breadth first from the root: parent[i] is the key that reached key i
 * first (the root: itself), TL_UNIT_GRAPH_NONE when not reached;
 * own_unit_only follows the edges of units[0] only. 0, or -1 when out of
 * memory. */
int tl_unit_graph_walk(const struct tl_unit_graph *g, int own_unit_only, size_t *parent);
/* needed[i]: unit i defines something the root reaches, or is not
 * described (an older plugin's folder: it may), or is units[0]. 0, or -1
 * when out of memory. */
int tl_unit_graph_needed(const struct tl_unit_graph *g, int *needed);
/* The name a key shows: "3#note" -> "note". */
const char *tl_unit_graph_shown(const char *key);
void tl_unit_graph_free(struct tl_unit_graph *g);

#endif /* TL_UNIT_GRAPH_H */
