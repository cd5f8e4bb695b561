/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_writes.h - the writes a linked service makes to variables of the
 * program's other files, warned at once per link (see tl_unit_writes.c).
 */
#ifndef TL_UNIT_WRITES_H
#define TL_UNIT_WRITES_H

#include <stddef.h>

#include "tl_unit_graph.h"

/*
 * After the link of the service for `function`, from the graph of its
 * program's units (tl_unit_graph_read: units[0] its own file's): one
 * warning that lists each write, and each call of a C library function
 * with hidden state, in code of the units that the function reaches and
 * the plugin did not already warn about, with its place and call path. 0;
 * -1 with err set when a unit was built with -fplugin-arg-turbolift-werror
 * and there is such a write (err lists them), or when out of memory.
 */
int tl_unit_writes_check(const char *function, const struct tl_unit_graph *g, char *err,
                         size_t errlen);

#endif /* TL_UNIT_WRITES_H */
