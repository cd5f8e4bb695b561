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
 * (malloc'd; NULL when none) and their number in *count. 0, or -1 with a
 * message when a symbol table could not be read. A program without a
 * symbol table (stripped) defines nothing that can be compared: 0, none. */
int tl_own_symbols_imported(const char *program, const char *service, long timeout_ms,
                            char **list, size_t *count, char *err, size_t errlen);

#endif /* TL_OWN_SYMBOLS_H */
