/* SPDX-License-Identifier: MIT */
/*
 * tl_own_symbols.h - code the program defines itself that a linked service
 * would take from a shared library instead (see tl_own_symbols.c).
 */
#ifndef TL_OWN_SYMBOLS_H
#define TL_OWN_SYMBOLS_H

#include <stddef.h>

/* Every name the linked service imports from a shared library while the
 * program's ELF file (program: the executable or shared library that lists
 * the service's unit) defines it itself, as "  NAME\n" lines in *list
 * (malloc'd; NULL when none) and their number in *count. When the program
 * has no symbol table (stripped), *stripped is set and the names are those
 * the service's objects (service.o and the units) leave undefined and the
 * program does not import. 0, or -1 with a message when a symbol table
 * could not be read. */
int tl_own_symbols_imported(const char *program, const char *service,
                            const char *const *objects, size_t nobjects, long timeout_ms,
                            char **list, size_t *count, int *stripped, char *err, size_t errlen);

#endif /* TL_OWN_SYMBOLS_H */
