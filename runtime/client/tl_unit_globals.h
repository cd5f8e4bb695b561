/* SPDX-License-Identifier: MIT */
/*
 * tl_unit_globals.h - writable variables of the program's other files that
 * a linked service keeps (see tl_unit_globals.c for why).
 */
#ifndef TL_UNIT_GLOBALS_H
#define TL_UNIT_GLOBALS_H

#include <stddef.h>

struct tl_unit_ref {
    const char *object;     /* the unit's unit.o                  */
    const char *source;     /* the file it came from, for messages */
};

/* Every writable variable (data or bss) that one of units defines, the
 * tagged file's service_object neither defines nor names (a name it uses
 * the plugin has captured or refused), and the linked binary keeps, as
 * "  NAME (FILE)\n" lines in *list (malloc'd; NULL when none) and their
 * number in *count. 0, or -1 with a message when a symbol table could not
 * be read. */
int tl_unit_globals(const char *binary, const char *service_object,
                    const struct tl_unit_ref *units, size_t nunits, long timeout_ms,
                    char **list, size_t *count, char *err, size_t errlen);

#endif /* TL_UNIT_GLOBALS_H */
